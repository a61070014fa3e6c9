//! What a subscriber measures on each track it receives, packet by packet: first packet and
//! first whole keyframe, loss from RTP sequence gaps, interarrival jitter (RFC 3550 §6.4.1),
//! forwarding latency from the publisher's stamp, and per-second figures for the timeline.

use super::stamp;
use hdrhistogram::Histogram;
use parley_proto::TrackKind;
use std::sync::Mutex;
use std::time::Instant;
use str0m::rtp::{RtpPacket, Vp8Descriptor};

/// Latencies in microseconds up to a minute, two significant figures: small enough to keep
/// one per track for hundreds of subscribers.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds")
}

/// Which sequence numbers arrived, over the last `WINDOW`: tells a late packet (a gap
/// filled, by a retransmission or reordering) from a duplicate.
const WINDOW: u64 = 1024;

#[derive(Default)]
struct SeqWindow {
    highest: Option<u64>,
    first: u64,
    bits: Vec<u64>,
    /// Distinct packets received.
    unique: u64,
    duplicates: u64,
}

impl SeqWindow {
    fn bit(&mut self, seq: u64) -> (&mut u64, u64) {
        let i = (seq % WINDOW) as usize;
        (&mut self.bits[i / 64], 1 << (i % 64))
    }

    /// Record `seq`; how the count of missing packets changed (+gap, -1 for a late one).
    fn record(&mut self, seq: u64) -> i64 {
        if self.bits.is_empty() {
            self.bits = vec![0; (WINDOW / 64) as usize];
        }
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.first = seq;
            self.unique = 1;
            let (word, mask) = self.bit(seq);
            *word |= mask;
            return 0;
        };
        if seq > highest {
            for s in (highest + 1).max(seq.saturating_sub(WINDOW - 1))..seq {
                let (word, mask) = self.bit(s);
                *word &= !mask;
            }
            let (word, mask) = self.bit(seq);
            *word |= mask;
            self.highest = Some(seq);
            self.unique += 1;
            (seq - highest - 1) as i64
        } else if highest - seq < WINDOW && seq >= self.first {
            let (word, mask) = self.bit(seq);
            if *word & mask != 0 {
                self.duplicates += 1;
                0
            } else {
                *word |= mask;
                self.unique += 1;
                -1
            }
        } else {
            // Older than the window: cannot be told apart; count it as arrived late.
            self.unique += 1;
            -1
        }
    }

    /// Packets between the first and the highest that never arrived.
    fn lost(&self) -> u64 {
        match self.highest {
            Some(h) => (h - self.first + 1).saturating_sub(self.unique),
            None => 0,
        }
    }
}

/// One received track (an m-line of the subscriber connection).
pub struct RecvTrack {
    /// The track's sid (or a bridge slot, `slot:0`).
    pub id: String,
    pub kind: TrackKind,
    pub first_packet: Option<Instant>,
    pub first_frame: Option<Instant>,
    pub last_packet: Option<Instant>,
    pub packets: u64,
    pub bytes: u64,
    seqs: SeqWindow,
    /// RFC 3550 jitter, in RTP clock units (scaled by 16 as the RFC's integer form).
    jitter16: u64,
    last_transit: Option<i64>,
    clock_rate: u32,
    /// Sequence number of the packet that started the keyframe being put together.
    keyframe_from: Option<u64>,
    next_seq: Option<u64>,
    pub latency: Histogram<u64>,
    /// NACKs and PLIs this subscriber sent for the track (str0m's running totals).
    pub nacks_sent: u64,
    pub plis_sent: u64,
}

impl RecvTrack {
    pub fn new(id: String, kind: TrackKind) -> RecvTrack {
        RecvTrack {
            id,
            kind,
            first_packet: None,
            first_frame: None,
            last_packet: None,
            packets: 0,
            bytes: 0,
            seqs: SeqWindow::default(),
            jitter16: 0,
            last_transit: None,
            clock_rate: 0,
            keyframe_from: None,
            next_seq: None,
            latency: histogram(),
            nacks_sent: 0,
            plis_sent: 0,
        }
    }

    pub fn lost(&self) -> u64 {
        self.seqs.lost()
    }

    pub fn duplicates(&self) -> u64 {
        self.seqs.duplicates
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        if self.clock_rate == 0 {
            return 0.0;
        }
        (self.jitter16 as f64 / 16.0) / self.clock_rate as f64 * 1000.0
    }

    /// One packet, received at `now` (`now_us` on the wall clock); what it adds to the second.
    pub fn on_packet(
        &mut self,
        packet: &RtpPacket,
        epoch: Instant,
        now: Instant,
        now_us: u64,
    ) -> PacketFacts {
        let seq = *packet.seq_no;
        self.first_packet.get_or_insert(now);
        self.last_packet = Some(now);
        self.packets += 1;
        let len = packet.payload.len() as u64;
        self.bytes += len;
        let missing = self.seqs.record(seq);

        // RFC 3550: transit = arrival - timestamp, in the media clock; J += (|D| - J) / 16.
        let rate = packet.time.denom();
        self.clock_rate = rate;
        let arrival = (now.saturating_duration_since(epoch).as_secs_f64() * rate as f64) as i64;
        let transit = arrival - packet.time.numer() as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            // The integer form of the RFC: jitter16 holds 16 J.
            self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);

        let mut latency = None;
        let last_of_frame = self.kind == TrackKind::Audio || packet.header.marker;
        if last_of_frame {
            latency = stamp::read(&packet.payload).map(|sent| now_us.saturating_sub(sent));
            if let Some(us) = latency {
                self.latency.saturating_record(us.max(1));
            }
        }
        if self.kind == TrackKind::Video && self.first_frame.is_none() {
            self.whole_keyframe(packet, seq, now);
        }
        PacketFacts {
            bytes: len,
            missing,
            latency_us: latency,
        }
    }

    /// A first frame counts once a keyframe arrived whole: its first packet, then every
    /// packet in sequence up to the one with the marker bit.
    fn whole_keyframe(&mut self, packet: &RtpPacket, seq: u64, now: Instant) {
        let starts =
            Vp8Descriptor::parse(&packet.payload).is_ok_and(|d| d.starts_keyframe(&packet.payload));
        if starts {
            self.keyframe_from = Some(seq);
        } else if self.next_seq != Some(seq) {
            self.keyframe_from = None;
        }
        self.next_seq = Some(seq + 1);
        if self.keyframe_from.is_some() && packet.header.marker {
            self.first_frame = Some(now);
        }
    }
}

/// What one packet adds to the timeline.
pub struct PacketFacts {
    pub bytes: u64,
    pub missing: i64,
    pub latency_us: Option<u64>,
}

/// One second of the run, all subscribers together.
pub struct Second {
    pub packets: u64,
    pub bytes: u64,
    /// Packets found missing this second, less gaps filled late.
    pub lost: i64,
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second {
            packets: 0,
            bytes: 0,
            lost: 0,
            latency: histogram(),
        }
    }

    fn add(&mut self, other: &Second) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.lost += other.lost;
        self.latency.add(&other.latency).ok();
    }
}

/// The run's per-second figures, shared by every subscriber. Each peer adds up its own
/// second and merges it here once the second is over, so the lock is taken about once a
/// second per peer, never per packet.
pub struct Timeline {
    pub epoch: Instant,
    seconds: Mutex<Vec<Second>>,
}

impl Timeline {
    pub fn new(epoch: Instant) -> Timeline {
        Timeline {
            epoch,
            seconds: Mutex::new(Vec::new()),
        }
    }

    fn merge(&self, index: usize, second: &Second) {
        let mut seconds = self.seconds.lock().expect("timeline lock");
        while seconds.len() <= index {
            seconds.push(Second::new());
        }
        seconds[index].add(second);
    }

    /// Take the seconds gathered so far.
    pub fn take(&self) -> Vec<Second> {
        std::mem::take(&mut *self.seconds.lock().expect("timeline lock"))
    }
}

/// A peer's current second, before it goes into the shared timeline.
pub struct SecondTally {
    index: usize,
    second: Second,
}

impl Default for SecondTally {
    fn default() -> SecondTally {
        SecondTally {
            index: 0,
            second: Second::new(),
        }
    }
}

impl SecondTally {
    pub fn add(&mut self, timeline: &Timeline, now: Instant, facts: &PacketFacts) {
        let index = now.saturating_duration_since(timeline.epoch).as_secs() as usize;
        if index != self.index {
            self.flush(timeline);
            self.index = index;
        }
        let s = &mut self.second;
        s.packets += 1;
        s.bytes += facts.bytes;
        s.lost += facts.missing;
        if let Some(us) = facts.latency_us {
            s.latency.saturating_record(us.max(1));
        }
    }

    pub fn flush(&mut self, timeline: &Timeline) {
        if self.second.packets > 0 || self.second.lost != 0 {
            timeline.merge(self.index, &self.second);
            self.second = Second::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_late_packets_and_duplicates_are_told_apart() {
        let mut w = SeqWindow::default();
        assert_eq!(w.record(100), 0);
        assert_eq!(w.record(101), 0);
        assert_eq!(w.record(104), 2, "102 and 103 missing");
        assert_eq!(w.lost(), 2);
        assert_eq!(w.record(102), -1, "a retransmission fills a gap");
        assert_eq!(w.record(102), 0);
        assert_eq!(w.duplicates, 1);
        assert_eq!(w.lost(), 1);
        // A jump past the window forgets what it held but counts the gap.
        assert_eq!(w.record(104 + 3000), 2999);
        assert_eq!(w.lost(), 1 + 2999);
    }
}
