//! The recorder's WebM/Matroska writer fed with hostile frames: VP8 (flag bit 2 clear) or
//! H.264 Annex-B (set), any timestamps placed on the track's timeline as the recording job
//! places them (`job::track_position` at 90 kHz; flag bits 3-7 move the clock by 0 to 620 ms),
//! any keyframe flag (bit 0) and payload. Flag bit 1 takes the ready clusters out. The header, once there, keeps its length when finished.

use parley_fuzz::{frames, Extender};
use parley_recorder::job::track_position;
use parley_recorder::webm::{VideoCodec, WebmWriter};
use parley_recorder::TrackMuxer;
use std::time::Duration;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let codec = if data.first().is_some_and(|f| f & 4 != 0) {
            VideoCodec::H264
        } else {
            VideoCodec::Vp8
        };
        let mut writer = WebmWriter::new(codec);
        let mut extender = Extender::default();
        let mut first = None;
        let mut elapsed = Duration::ZERO;
        let mut written = 0;
        for frame in frames(data, 256) {
            let rtp_time = extender.extend(frame.rtp_timestamp);
            let first = *first.get_or_insert(rtp_time);
            elapsed += Duration::from_millis(20 * u64::from(frame.flags >> 3));
            if let Some(ts_ms) = track_position(rtp_time, first, 90_000, 1_000, elapsed) {
                writer.push_frame(frame.payload, ts_ms, frame.keyframe);
            }
            if frame.flags & 2 != 0 {
                written += writer.take_ready().len();
            }
        }
        let live = writer.header(false);
        written += writer.finish().len();
        let done = writer.header(true);
        assert_eq!(
            live.map(|h| h.len()),
            done.map(|h| h.len()),
            "the finished header takes the place of the live one"
        );
        if writer.header(true).is_none() {
            assert_eq!(written, 0, "no cluster without a header");
        }
    });
}
