//! The recorder's Ogg Opus writer fed with hostile RTP: any timestamps (jumps, wraps,
//! reordering, duplicates), any payloads, placed on the track's timeline as the recording job
//! places them (`job::track_position` after extending the 32-bit RTP time, with the time since
//! the first frame: flag bits 3-7 move the clock by 0 to 620 ms). Flag bit 1 takes the ready
//! pages out after the frame. Whatever it writes must read back as an Ogg stream.

use parley_fuzz::{frames, Extender};
use parley_recorder::job::track_position;
use parley_recorder::ogg_opus::OggOpusWriter;
use parley_recorder::TrackMuxer;
use std::time::Duration;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let mut writer = OggOpusWriter::new(0x5eed, 2, 312);
        let mut file = writer.header(false).expect("Ogg has its header at once");
        let mut extender = Extender::default();
        let mut first = None;
        let mut elapsed = Duration::ZERO;
        for frame in frames(data, 256) {
            let rtp_time = extender.extend(frame.rtp_timestamp);
            let first = *first.get_or_insert(rtp_time);
            elapsed += Duration::from_millis(20 * u64::from(frame.flags >> 3));
            if let Some(pts) = track_position(rtp_time, first, 48_000, 48_000, elapsed) {
                writer.push(frame.payload, pts);
            }
            if frame.flags & 2 != 0 {
                file.extend(writer.take_ready());
            }
        }
        file.extend(writer.finish());
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(&file));
        let mut packets = 0;
        while let Some(packet) = reader
            .read_packet()
            .expect("the writer's output reads back as Ogg")
        {
            assert_eq!(packet.stream_serial(), 0x5eed);
            packets += 1;
        }
        assert!(
            packets >= 3,
            "OpusHead, OpusTags and at least one audio packet"
        );
    });
}
