//! Per-subscriber RTP header rewriting: a subscriber sees one continuous stream of sequence
//! numbers and timestamps on each of its tracks, whatever happens upstream (the publisher
//! restarts its encoder with a new SSRC, or a later issue switches simulcast layers).

use std::time::Instant;

/// Maps a source's (SSRC, extended sequence number, RTP time) onto one outgoing stream.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    source: Option<Source>,
    /// The last sequence number and time written out, and when.
    last_out: Option<(u64, u32, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    /// Packets of this source with a lower sequence number belong before the switch and are
    /// dropped: their outgoing numbers would collide with the previous source's.
    first_seq: u64,
    seq_offset: u64,
    ts_offset: u32,
}

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
        let source = match self.source {
            Some(s) if s.ssrc == ssrc => s,
            _ => {
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
                let s = Source {
                    ssrc,
                    first_seq: seq,
                    seq_offset: out_seq.wrapping_sub(seq),
                    ts_offset: out_time.wrapping_sub(time),
                };
                self.source = Some(s);
                s
            }
        };
        if seq < source.first_seq {
            return None;
        }
        let out_seq = seq.wrapping_add(source.seq_offset);
        let out_time = time.wrapping_add(source.ts_offset);
        match self.last_out {
            Some((last, _, _)) if out_seq <= last => {}
            _ => self.last_out = Some((out_seq, out_time, now)),
        }
        Some((out_seq, out_time))
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
