//! The recorder's mixer fed with hostile Opus from several sources: any timestamps placed on
//! the meeting timeline as the recording job places them (the source's start plus
//! `job::track_position`), any payloads (libopus decodes them), mixed as the job mixes (up to
//! the wall clock, which the fuzzer moves forward). Flag bits 1-2 pick one of four sources, bits
//! 3-7 move the clock by 0 to 155 ms. The mix comes out in whole 20 ms frames, in order and
//! without gaps.

use parley_fuzz::{frames, Extender};
use parley_recorder::job::track_position;
use parley_recorder::mixer::Mixer;
use std::time::Duration;

/// 20 ms at 48 kHz: the mixer's frame.
const FRAME: u64 = 960;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let mut mixer = Mixer::new(200).expect("the Opus encoder starts");
        let mut sources: [(Extender, Option<(u64, u64)>); 4] = Default::default();
        let mut now = 0u64;
        let mut next = None;
        let mut check = |out: Vec<(u64, Vec<u8>)>| {
            for (pts, packet) in out {
                assert!(!packet.is_empty(), "an encoded frame has bytes");
                if let Some(expected) = next {
                    assert_eq!(pts, expected, "the mix goes on without a gap");
                }
                next = Some(pts + FRAME);
            }
        };
        for frame in frames(data, 64) {
            let source = usize::from((frame.flags >> 1) & 3);
            now += u64::from(frame.flags >> 3) * FRAME / 4;
            let (extender, start) = &mut sources[source];
            let rtp_time = extender.extend(frame.rtp_timestamp);
            let (first, mix_start) = *start.get_or_insert((rtp_time, now));
            let elapsed = Duration::from_micros((now - mix_start) * 1_000 / 48);
            if let Some(pts) = track_position(rtp_time, first, 48_000, 48_000, elapsed) {
                mixer.push(source as u64, mix_start + pts, frame.payload);
            }
            check(mixer.mix_until(now));
        }
        check(mixer.finish());
    });
}
