//! Send times embedded in the media itself, so a subscriber measures how long the server took to
//! forward each packet (publisher and subscriber share this machine's clock).
//!
//! Why in the payload: the SFU forwards payloads unchanged (a shared `Arc<[u8]>`), but rewrites
//! RTP sequence numbers and timestamps and forwards only a few header extensions (audio level,
//! voice activity, orientation), so the payload is the one place a stamp survives. It must keep
//! the media valid, for real decoders behind the server (the recorder, browsers):
//!
//! - **Opus**: in the packet's padding (RFC 6716 §3.2.5). libopus itself pads the packet
//!   (`opus_packet_pad`, which turns it into a code-3 packet with padding bytes at its end), and
//!   the stamp overwrites those padding bytes, whose value "the decoder MUST accept"; the
//!   decoded audio is the same sample for sample (tested below).
//! - **VP8**: after the frame's last partition. A VP8 frame's last partition has no size field
//!   (it runs to the end of the frame), its boolean decoder reads no further than the encoder
//!   flushed, and libvpx decodes a frame with trailing bytes to the same picture; the stamp thus
//!   travels in the frame's last RTP packet (the one with the marker bit).
//!
//! A stamp is 12 bytes at the very end: a 4-byte magic and the send time in microseconds since
//! the Unix epoch (big-endian).

use std::time::{SystemTime, UNIX_EPOCH};

pub const STAMP_LEN: usize = 12;
const MAGIC: [u8; 4] = *b"PLT1";
/// What Opus padding costs beyond the stamp: code 3's frame-count byte and the padding length.
const OPUS_PAD_OVERHEAD: usize = 2;

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn write(tail: &mut [u8], micros: u64) {
    tail[..4].copy_from_slice(&MAGIC);
    tail[4..STAMP_LEN].copy_from_slice(&micros.to_be_bytes());
}

/// The send time a payload (or a frame's last packet) ends with, if it carries one.
pub fn read(payload: &[u8]) -> Option<u64> {
    let tail = payload.get(payload.len().checked_sub(STAMP_LEN)?..)?;
    if tail[..4] != MAGIC {
        return None;
    }
    Some(u64::from_be_bytes(tail[4..].try_into().ok()?))
}

/// A VP8 frame with the send time appended.
pub fn vp8(frame: &[u8], micros: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + STAMP_LEN);
    out.extend_from_slice(frame);
    out.resize(frame.len() + STAMP_LEN, 0);
    write(&mut out[frame.len()..], micros);
    out
}

/// An Opus packet padded by libopus to hold a stamp; `None` if libopus cannot pad it.
pub fn pad_opus(packet: &[u8]) -> Option<Vec<u8>> {
    let mut out = packet.to_vec();
    out.resize(packet.len() + STAMP_LEN + OPUS_PAD_OVERHEAD, 0);
    // libopus answers OPUS_OK (0), not a length: the packet fills the whole buffer.
    opus::packet::pad(&mut out, packet.len()).ok()?;
    // Padding is zeroes at the very end: the stamp goes there and nowhere else.
    let padded = out.len() >= STAMP_LEN && out[out.len() - STAMP_LEN..].iter().all(|b| *b == 0);
    padded.then_some(out)
}

/// A copy of a packet from `pad_opus` with the send time in its padding.
pub fn opus(padded: &[u8], micros: u64) -> Vec<u8> {
    let mut out = padded.to_vec();
    let at = out.len() - STAMP_LEN;
    write(&mut out[at..], micros);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_opus_packet_decodes_to_the_same_audio() {
        let mut encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let pcm: Vec<i16> = (0..960)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let plain = encoder.encode_vec(&pcm, 1500).unwrap();
        let stamped = opus(&pad_opus(&plain).expect("padded"), 1_234_567_890);
        assert_eq!(read(&stamped), Some(1_234_567_890));
        assert_eq!(read(&plain), None);
        let decode = |p: &[u8]| {
            let mut d = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
            let mut out = vec![0i16; 960];
            let n = d.decode(p, &mut out, false).unwrap();
            out.truncate(n);
            out
        };
        assert_eq!(decode(&plain), decode(&stamped));
    }

    #[test]
    fn a_vp8_frame_keeps_its_bytes_and_gains_a_stamp() {
        let frame = [0x10u8, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        let stamped = vp8(&frame, 42);
        assert_eq!(&stamped[..frame.len()], &frame);
        assert_eq!(read(&stamped), Some(42));
        assert_eq!(read(&frame), None);
    }
}
