//! Per-subscriber RTP header rewriting: a subscriber sees one continuous stream of sequence
//! numbers and timestamps on each of its tracks, whatever happens upstream (the publisher
//! restarts its encoder with a new SSRC, or a later issue switches simulcast layers).

use std::collections::VecDeque;
use std::time::Instant;

/// Maps a source's (SSRC, extended sequence number, RTP time) onto one outgoing stream.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    source: Option<Source>,
    /// The last sequence number and time written out, and when.
    last_out: Option<(u64, u32, Instant)>,
}

#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    /// Packets of this source with a lower sequence number belong before the switch (or before
    /// a forgotten skip) and are dropped: their outgoing numbers would collide.
    first_seq: u64,
    seq_offset: u64,
    ts_offset: u32,
    /// Incoming sequence numbers not forwarded (padding), ascending: later packets are numbered
    /// as if they never existed, so the subscriber sees no loss.
    skipped: VecDeque<u64>,
    /// The highest sequence number seen of this source, forwarded or skipped.
    highest: u64,
}

/// Skips this far (in sequence numbers) behind the newest are folded into the offset; a
/// packet that late is dropped anyway.
const SKIP_WINDOW: u64 = 1000;
/// At most this many skips are remembered (a source sending nothing but padding).
const MAX_SKIPS: usize = 4096;

/// The first outgoing sequence number. Small, so the SRTP rollover counter starts at 0 as every
/// receiver assumes.
const FIRST_SEQ: u64 = 1;

impl Rewriter {
    pub fn new(clock_rate: u32) -> Rewriter {
        Rewriter {
            clock_rate: clock_rate.max(1),
            source: None,
            last_out: None,
        }
    }

    /// The outgoing sequence number and RTP time for an incoming packet, or `None` for a late
    /// packet from before the current source began.
    pub fn rewrite(&mut self, ssrc: u32, seq: u64, time: u32, now: Instant) -> Option<(u64, u32)> {
        if self.source.as_ref().is_none_or(|s| s.ssrc != ssrc) {
            {
                let (out_seq, out_time) = match self.last_out {
                    None => (FIRST_SEQ, time),
                    Some((last_seq, last_time, at)) => {
                        // Continue where the previous source stopped, advanced by the wall time
                        // in between so the receiver's jitter buffer sees real time pass.
                        let elapsed = now.saturating_duration_since(at);
                        let ticks = (elapsed.as_secs_f64() * f64::from(self.clock_rate)) as u64;
                        (last_seq + 1, last_time.wrapping_add(ticks.max(1) as u32))
                    }
                };
                self.source = Some(Source {
                    ssrc,
                    first_seq: seq,
                    seq_offset: out_seq.wrapping_sub(seq),
                    ts_offset: out_time.wrapping_sub(time),
                    skipped: VecDeque::new(),
                    highest: seq,
                });
            }
        }
        let source = self.source.as_ref()?;
        if seq < source.first_seq || source.skipped.contains(&seq) {
            return None;
        }
        let before = source.skipped.iter().take_while(|&&s| s < seq).count() as u64;
        let out_seq = seq.wrapping_add(source.seq_offset).wrapping_sub(before);
        let out_time = time.wrapping_add(source.ts_offset);
        if let Some(source) = self.source.as_mut() {
            source.highest = source.highest.max(seq);
        }
        match self.last_out {
            Some((last, _, _)) if out_seq <= last => {}
            _ => self.last_out = Some((out_seq, out_time, now)),
        }
        Some((out_seq, out_time))
    }

    /// A packet of the current source that is not forwarded (padding): close the gap it
    /// would leave in the outgoing numbers.
    pub fn skip(&mut self, ssrc: u32, seq: u64) {
        let Some(source) = self.source.as_mut().filter(|s| s.ssrc == ssrc) else {
            return;
        };
        // Late padding (behind what was already numbered) cannot be closed up without
        // renumbering packets already sent; it leaves its hole.
        if seq <= source.highest {
            return;
        }
        source.highest = seq;
        source.skipped.push_back(seq);
        while let Some(&oldest) = source.skipped.front() {
            if oldest + SKIP_WINDOW >= seq && source.skipped.len() <= MAX_SKIPS {
                break;
            }
            source.skipped.pop_front();
            source.seq_offset = source.seq_offset.wrapping_sub(1);
            source.first_seq = source.first_seq.max(oldest + 1);
        }
    }

    /// Forwarding stops for a while (muted): the next packet continues the outgoing numbers
    /// and clock as if it came from a new source, so the subscriber sees no loss.
    pub fn pause(&mut self) {
        self.source = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_source_keeps_its_spacing_from_a_small_start() {
        let mut r = Rewriter::new(48_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(7, 70_000, 1000, t0), Some((1, 1000)));
        assert_eq!(r.rewrite(7, 70_001, 1960, t0), Some((2, 1960)));
        // Reordered and retransmitted packets keep their own numbers.
        assert_eq!(r.rewrite(7, 70_005, 5800, t0), Some((6, 5800)));
        assert_eq!(r.rewrite(7, 70_003, 3880, t0), Some((4, 3880)));
    }

    #[test]
    fn a_new_source_continues_the_numbers_and_the_clock() {
        let mut r = Rewriter::new(90_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(1, 500, 90_000, t0), Some((1, 90_000)));
        assert_eq!(r.rewrite(1, 501, 93_000, t0), Some((2, 93_000)));
        // The publisher restarts 100 ms later with a new SSRC and random numbering.
        let later = t0 + Duration::from_millis(100);
        assert_eq!(r.rewrite(2, 40_000, 7, later), Some((3, 102_000)));
        assert_eq!(r.rewrite(2, 40_001, 3007, later), Some((4, 105_000)));
        // A late packet of the new source from before its first one is dropped.
        assert_eq!(r.rewrite(2, 39_999, 1, later), None);
    }

    #[test]
    fn skipped_padding_leaves_no_gap_even_with_reordering() {
        let mut r = Rewriter::new(90_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(1, 100, 0, t0), Some((1, 0)));
        // 101 is late; 102 is padding; 103 arrives; then 101.
        r.skip(1, 102);
        assert_eq!(r.rewrite(1, 103, 3000, t0).map(|o| o.0), Some(3));
        assert_eq!(r.rewrite(1, 101, 0, t0).map(|o| o.0), Some(2));
        // A retransmission of the padding packet is not forwarded either.
        assert_eq!(r.rewrite(1, 102, 0, t0), None);
        // Many skips later the numbering is still contiguous.
        let mut expected = 4;
        for seq in 104..400u64 {
            if seq % 3 == 0 {
                r.skip(1, seq);
            } else {
                assert_eq!(r.rewrite(1, seq, 0, t0).map(|o| o.0), Some(expected));
                expected += 1;
            }
        }
    }

    #[test]
    fn late_padding_never_duplicates_a_number() {
        let mut r = Rewriter::new(90_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(1, 100, 0, t0).map(|o| o.0), Some(1));
        assert_eq!(r.rewrite(1, 102, 0, t0).map(|o| o.0), Some(3));
        // Padding 101 arrives after 102 was sent: its number stays a hole.
        r.skip(1, 101);
        assert_eq!(r.rewrite(1, 103, 0, t0).map(|o| o.0), Some(4));
    }

    #[test]
    fn long_padding_bursts_keep_retransmissions() {
        let mut r = Rewriter::new(90_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(1, 10, 0, t0).map(|o| o.0), Some(1));
        assert_eq!(r.rewrite(1, 12, 0, t0).map(|o| o.0), Some(3));
        for seq in 13..213 {
            r.skip(1, seq);
        }
        // A retransmission of 11 after 200 padding packets still finds its number.
        assert_eq!(r.rewrite(1, 11, 0, t0).map(|o| o.0), Some(2));
        assert_eq!(r.rewrite(1, 213, 0, t0).map(|o| o.0), Some(4));
        // Far beyond the window the old skips are folded in and numbering stays contiguous.
        for seq in 214..1500 {
            r.skip(1, seq);
        }
        assert_eq!(r.rewrite(1, 1500, 0, t0).map(|o| o.0), Some(5));
        assert_eq!(r.rewrite(1, 1501, 0, t0).map(|o| o.0), Some(6));
    }

    #[test]
    fn a_pause_resumes_without_a_gap() {
        let mut r = Rewriter::new(48_000);
        let t0 = Instant::now();
        assert_eq!(r.rewrite(9, 10, 960, t0), Some((1, 960)));
        r.pause();
        // 50 packets (one second) were not forwarded while muted.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(r.rewrite(9, 61, 49_920, later), Some((2, 960 + 48_000)));
    }

    #[test]
    fn timestamps_wrap_without_a_jump() {
        let mut r = Rewriter::new(90_000);
        let t0 = Instant::now();
        assert_eq!(
            r.rewrite(1, 10, u32::MAX - 10, t0),
            Some((1, u32::MAX - 10))
        );
        assert_eq!(r.rewrite(1, 11, 20, t0), Some((2, 20)));
    }
}
