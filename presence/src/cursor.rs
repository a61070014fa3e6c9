use parley_proto::ChannelId;
use std::collections::HashMap;

/// What to do with an event arriving at a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It is the next one: send it.
    Deliver,
    /// Already sent (a replay overlapped the live stream): drop it.
    Stale,
    /// Events `after + 1 ..= up_to` were not seen yet: fetch and send them first, then this one.
    Gap { after: i64, up_to: i64 },
}

/// Per channel, the next sequence a connection expects. Sequences are gap-free in storage, so
/// a jump means events in between were missed on the way (a replay racing the live stream, a
/// lost bus message) and must be read back from storage.
#[derive(Debug, Default)]
pub struct Cursors {
    next: HashMap<ChannelId, i64>,
}

impl Cursors {
    /// Start `channel` after `seen` (the last sequence the client has).
    pub fn start(&mut self, channel: ChannelId, seen: i64) {
        self.next.insert(channel, seen.max(0) + 1);
    }

    /// The last sequence sent on `channel`, if the connection follows it.
    pub fn seen(&self, channel: ChannelId) -> Option<i64> {
        self.next.get(&channel).map(|n| n - 1)
    }

    pub fn check(&self, channel: ChannelId, seq: i64) -> Step {
        match self.next.get(&channel) {
            // A channel joined while connected: follow it from here.
            None => Step::Deliver,
            Some(&next) if seq < next => Step::Stale,
            Some(&next) if seq == next => Step::Deliver,
            Some(&next) => Step::Gap {
                after: next - 1,
                up_to: seq - 1,
            },
        }
    }

    /// Stop following `channel` (the user left it): if it is joined again, it is followed from
    /// the first event after that, and nothing from the time away is filled in.
    pub fn forget(&mut self, channel: ChannelId) {
        self.next.remove(&channel);
    }

    /// `seq` was sent.
    pub fn advance(&mut self, channel: ChannelId, seq: i64) {
        let next = self.next.entry(channel).or_insert(seq + 1);
        *next = (*next).max(seq + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ChannelId = ChannelId(1);

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut cursors = Cursors::default();
        cursors.start(C, 4);
        for (seq, expected) in [
            (5, Step::Deliver),
            (4, Step::Stale),
            (9, Step::Gap { after: 5, up_to: 8 }),
        ] {
            assert_eq!(cursors.check(C, seq), expected, "seq {seq}");
            if expected == Step::Deliver {
                cursors.advance(C, seq);
            }
        }
        assert_eq!(cursors.check(C, 5), Step::Stale, "5 was delivered");
        // After the gap is filled, the jumping event is next.
        for seq in 6..=8 {
            cursors.advance(C, seq);
        }
        assert_eq!(cursors.check(C, 9), Step::Deliver);
        assert_eq!(cursors.seen(C), Some(8));
    }

    #[test]
    fn a_channel_left_and_joined_again_starts_afresh() {
        let mut cursors = Cursors::default();
        cursors.start(C, 3);
        cursors.forget(C);
        assert_eq!(
            cursors.check(C, 9),
            Step::Deliver,
            "no gap filled from the time away"
        );
    }

    #[test]
    fn unknown_channels_start_where_they_are_met() {
        let mut cursors = Cursors::default();
        assert_eq!(cursors.check(C, 12), Step::Deliver);
        cursors.advance(C, 12);
        assert_eq!(cursors.check(C, 12), Step::Stale);
        assert_eq!(cursors.check(C, 13), Step::Deliver);
    }
}
