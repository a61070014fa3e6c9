//! Ogg Opus (RFC 7845) for one audio track, written as the packets arrive.
//!
//! Opus arrives from RTP without re-encoding, so the file is just the packets in Ogg pages. What
//! this writer adds is an exact timeline: a packet's position in the decoded audio is its `pts`.
//! Gaps (loss, DTX, mute, a participant who left and came back) are filled with Opus packets that
//! decode to silence, and packets that would overlap what is already written are dropped, so the
//! file never drifts against the other tracks of the meeting.
//!
//! The last accepted packet is held back until the next one arrives or the stream is finished:
//! that way the final page always ends on a packet carrying the end-of-stream flag, which the
//! `ogg` crate only sets on the page that a packet closes.

use crate::TrackMuxer;
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Opus timestamps and granule positions always count at 48 kHz, whatever rate was encoded.
pub const SAMPLE_RATE: u64 = 48_000;

/// The longest packet RFC 6716 allows: 120 ms.
const MAX_PACKET_SAMPLES: u32 = 5_760;
/// A page is closed once it holds this much audio (half a second), so the uploader always has
/// data at most that old: what a recorder that dies loses is the open page and what waited
/// for the next upload.
const PAGE_MAX_SAMPLES: u64 = SAMPLE_RATE / 2;
/// ... or this many packets, or this many bytes, whichever comes first.
const PAGE_MAX_PACKETS: usize = 25;
const PAGE_MAX_BYTES: usize = 4_096;

/// The number of 48 kHz samples in an Opus packet, from its TOC byte (RFC 6716 §3.1), or `None`
/// when the packet is malformed (empty, missing frame count, longer than 120 ms).
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame: u32 = match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1_920, 2_880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames: u32 = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= MAX_PACKET_SAMPLES).then_some(samples)
}

/// The range-coded payload of a CELT frame that decodes to silence: its first symbol is the
/// silence flag (RFC 6716 §4.3, "silence" with probability 1/32768), which these bytes set.
const CELT_SILENCE: [u8; 2] = [0xff, 0xfe];

/// CELT-only fullband configurations (RFC 6716 table 2) and their frame sizes, longest first.
const CELT_CONFIGS: [(u8, u32); 4] = [(31, 960), (30, 480), (29, 240), (28, 120)];

/// An Opus packet of `frames` CELT silence frames of one configuration. More than one frame
/// uses code 3 with constant-size frames, so a long gap costs 14 bytes per 120 ms.
fn silence_packet(config: u8, frames: u8, stereo: bool) -> Vec<u8> {
    let toc = (config << 3) | (u8::from(stereo) << 2);
    if frames == 1 {
        let mut packet = vec![toc];
        packet.extend_from_slice(&CELT_SILENCE);
        return packet;
    }
    let mut packet = vec![toc | 0b11, frames];
    for _ in 0..frames {
        packet.extend_from_slice(&CELT_SILENCE);
    }
    packet
}

/// Silence packets covering as much of `gap` samples as Opus frame sizes allow, i.e. all of it
/// but the remainder below 2.5 ms (120 samples), which no Opus frame can express.
fn silence_packets(gap: u64, stereo: bool) -> Vec<(Vec<u8>, u32)> {
    let mut packets = Vec::new();
    let mut left = gap;
    let (config, frame) = CELT_CONFIGS[0];
    let max_frames = u64::from(MAX_PACKET_SAMPLES / frame);
    while left >= u64::from(frame) {
        let frames = (left / u64::from(frame)).min(max_frames);
        let frames_u8 = u8::try_from(frames).unwrap_or(1);
        packets.push((
            silence_packet(config, frames_u8, stereo),
            u32::from(frames_u8) * frame,
        ));
        left -= u64::from(frames_u8) * u64::from(frame);
    }
    for &(config, frame) in &CELT_CONFIGS[1..] {
        if left >= u64::from(frame) {
            packets.push((silence_packet(config, 1, stereo), frame));
            left -= u64::from(frame);
        }
    }
    packets
}

/// The OpusHead identification header (RFC 7845 §5.1), channel mapping family 0.
fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// The OpusTags comment header (RFC 7845 §5.2): vendor "parley", no comments.
fn opus_tags() -> Vec<u8> {
    let vendor = b"parley";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

/// A packet accepted but not yet handed to the page writer.
struct Held {
    packet: Vec<u8>,
    /// Timeline position just past the packet, in samples.
    end: u64,
}

/// What the page being filled holds so far, to decide when to close it.
#[derive(Default)]
struct OpenPage {
    packets: usize,
    bytes: usize,
    /// Timeline position where the page's audio starts.
    start: u64,
}

/// One Opus track in an Ogg file: `push` packets at their timeline position, upload the header,
/// then whatever `take_ready` returns, then `finish`.
pub struct OggOpusWriter {
    serial: u32,
    stereo: bool,
    pre_skip: u16,
    header: Vec<u8>,
    pages: PacketWriter<'static, Vec<u8>>,
    held: Option<Held>,
    page: OpenPage,
    /// Timeline position just past the last accepted packet, in samples.
    end: u64,
    /// Set by `finish`: nothing more is accepted.
    finished: bool,
}

impl OggOpusWriter {
    /// A writer for one logical stream. `channels` is 1 or 2 (mapping family 0 allows no
    /// more; other values are clamped), `pre_skip` the encoder's lookahead in 48 kHz samples.
    pub fn new(serial: u32, channels: u8, pre_skip: u16) -> Self {
        let channels = channels.clamp(1, 2);
        let mut pages = PacketWriter::new(Vec::new());
        // RFC 7845 §3: each header packet alone on its page, both with granule position 0.
        for packet in [opus_head(channels, pre_skip), opus_tags()] {
            pages
                .write_packet(packet, serial, PacketWriteEndInfo::EndPage, 0)
                .expect("writing to a Vec cannot fail");
        }
        let header = std::mem::take(pages.inner_mut());
        Self {
            serial,
            stereo: channels == 2,
            pre_skip,
            header,
            pages,
            held: None,
            page: OpenPage::default(),
            end: 0,
            finished: false,
        }
    }

    /// Add one Opus packet whose first sample is at `pts` (48 kHz samples from the file's
    /// start). Any gap before it becomes silence. Returns `false` when the packet is dropped:
    /// malformed, or starting before the end of what is already written (a duplicate, a late
    /// or reordered packet, or timestamp jitter), or pushed after `finish`.
    pub fn push(&mut self, packet: &[u8], pts: u64) -> bool {
        if self.finished || pts < self.end {
            return false;
        }
        let Some(samples) = opus_packet_samples(packet) else {
            return false;
        };
        for (silence, length) in silence_packets(pts - self.end, self.stereo) {
            self.accept(silence, length);
        }
        self.accept(packet.to_vec(), samples);
        true
    }

    /// The position just past the last accepted packet, in 48 kHz samples from the start.
    pub fn end_pts(&self) -> u64 {
        self.end
    }

    fn accept(&mut self, packet: Vec<u8>, samples: u32) {
        if let Some(previous) = self.held.take() {
            self.write(previous, false);
        }
        self.end += u64::from(samples);
        self.held = Some(Held {
            packet,
            end: self.end,
        });
    }

    /// Hand a packet to the page writer, closing the page when it is full or `last`.
    fn write(&mut self, held: Held, last: bool) {
        self.page.packets += 1;
        self.page.bytes += held.packet.len();
        let full = self.page.packets >= PAGE_MAX_PACKETS
            || self.page.bytes >= PAGE_MAX_BYTES
            || held.end - self.page.start >= PAGE_MAX_SAMPLES;
        let end_info = if last {
            PacketWriteEndInfo::EndStream
        } else if full {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        if last || full {
            self.page = OpenPage {
                start: held.end,
                ..OpenPage::default()
            };
        }
        let granule = u64::from(self.pre_skip) + held.end;
        self.pages
            .write_packet(held.packet, self.serial, end_info, granule)
            .expect("writing to a Vec cannot fail");
    }
}

impl TrackMuxer for OggOpusWriter {
    /// The two header pages. Ogg needs no duration up front, so `finished` changes nothing.
    fn header(&self, _finished: bool) -> Option<Vec<u8>> {
        Some(self.header.clone())
    }

    fn take_ready(&mut self) -> Vec<u8> {
        std::mem::take(self.pages.inner_mut())
    }

    fn finish(&mut self) -> Vec<u8> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        // ffmpeg cannot open an Ogg Opus stream without an audio packet: one that never got
        // any ends with the shortest silence, all of it cut by the granule position (RFC 7845
        // §4.5 end trimming), so the file opens and holds no audio.
        let last = self.held.take().unwrap_or_else(|| Held {
            packet: silence_packet(CELT_CONFIGS[3].0, 1, self.stereo),
            end: 0,
        });
        self.write(last, true);
        self.take_ready()
    }

    fn duration_ms(&self) -> u64 {
        self.end * 1_000 / SAMPLE_RATE
    }
}

/// Helpers for tests that check written files with the real tools (`ffprobe`, `ffmpeg`), shared
/// by the writers' and the mixer's tests.
#[cfg(test)]
pub(crate) mod test_tools {
    use std::path::Path;
    use std::process::Command;

    /// Whether ffprobe and ffmpeg are installed; tests that need them say so and skip if not.
    pub(crate) fn have_ffmpeg(test: &str) -> bool {
        let found = ["ffprobe", "ffmpeg"].iter().all(|tool| {
            Command::new("which")
                .arg(tool)
                .output()
                .is_ok_and(|out| out.status.success())
        });
        if !found {
            eprintln!("{test}: skipped, ffprobe/ffmpeg are not installed");
        }
        found
    }

    /// What ffprobe says of a file's first stream, and what it complained about.
    #[derive(Debug)]
    pub(crate) struct Probe {
        pub codec: String,
        pub width: Option<u64>,
        pub height: Option<u64>,
        pub duration: Option<f64>,
        pub stderr: String,
    }

    pub(crate) fn ffprobe(path: &Path) -> Probe {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_name,width,height:format=duration")
            .args(["-of", "json"])
            .arg(path)
            .output()
            .expect("ffprobe runs");
        assert!(out.status.success(), "ffprobe failed: {out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
        let stream = &json["streams"][0];
        Probe {
            codec: stream["codec_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            width: stream["width"].as_u64(),
            height: stream["height"].as_u64(),
            duration: json["format"]["duration"]
                .as_str()
                .and_then(|d| d.parse().ok()),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs ffmpeg with `args` (split at whitespace) writing `out` in `dir`; the file's bytes.
    pub(crate) fn ffmpeg(dir: &Path, args: &str, out: &str) -> Vec<u8> {
        let path = dir.join(out);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args.split_whitespace())
            .arg(&path)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg {args} failed");
        std::fs::read(path).expect("ffmpeg output")
    }

    /// How many video frames ffprobe decodes from the file, without complaint.
    pub(crate) fn frame_count(path: &Path) -> u64 {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe runs");
        assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
        let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
        count.parse().expect("frame count")
    }

    /// The file decoded by ffmpeg to mono 48 kHz samples in [-1, 1], and ffmpeg's complaints.
    pub(crate) fn decode_audio(path: &Path) -> (Vec<f32>, String) {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(out.status.success(), "ffmpeg failed: {out:?}");
        let samples = out
            .stdout
            .chunks_exact(2)
            .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32_768.0)
            .collect();
        (samples, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// The amplitude of `freq` Hz in 48 kHz samples (Goertzel).
    pub(crate) fn amplitude(samples: &[f32], freq: f64) -> f64 {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 48_000.0).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        2.0 * power.max(0.0).sqrt() / samples.len() as f64
    }

    /// Samples `[from, to)` seconds.
    pub(crate) fn span(samples: &[f32], from: f64, to: f64) -> &[f32] {
        let at = |t: f64| ((t * 48_000.0) as usize).min(samples.len());
        &samples[at(from)..at(to)]
    }

    pub(crate) fn peak(samples: &[f32]) -> f32 {
        samples.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    /// Which of `candidates` (Hz) is loudest in `samples`.
    pub(crate) fn dominant(samples: &[f32], candidates: &[f64]) -> f64 {
        candidates
            .iter()
            .copied()
            .max_by(|a, b| amplitude(samples, *a).total_cmp(&amplitude(samples, *b)))
            .expect("candidates")
    }

    /// 20 ms Opus packets of a sine at `freq` Hz (amplitude 0.5) during the `[on, off)`
    /// second ranges of `playing`, silent elsewhere, for `seconds` in all; and the encoder's
    /// lookahead.
    pub(crate) fn tone_packets(
        freq: f64,
        seconds: f64,
        playing: &[(f64, f64)],
    ) -> (Vec<Vec<u8>>, u16) {
        let mut encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio)
                .expect("encoder");
        encoder
            .set_bitrate(opus::Bitrate::Bits(64_000))
            .expect("bitrate");
        let lookahead = u16::try_from(encoder.get_lookahead().expect("lookahead")).expect("u16");
        let frames = (seconds * 50.0).round() as usize;
        let packets = (0..frames)
            .map(|frame| {
                let pcm: Vec<f32> = (0..960)
                    .map(|i| {
                        let t = (frame * 960 + i) as f64 / 48_000.0;
                        if playing.iter().any(|&(on, off)| t >= on && t < off) {
                            (0.5 * (2.0 * std::f64::consts::PI * freq * t).sin()) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                encoder.encode_vec_float(&pcm, 4_000).expect("encode")
            })
            .collect();
        (packets, lookahead)
    }
}

#[cfg(test)]
mod tests {
    use super::test_tools::*;
    use super::*;
    use ogg::PacketReader;
    use std::io::Cursor;

    fn check_samples(packet: &[u8], expected: Option<u32>) {
        assert_eq!(opus_packet_samples(packet), expected, "{packet:02x?}");
    }

    #[test]
    fn packet_length_comes_from_the_toc_byte() {
        check_samples(&[0x00], Some(480)); // SILK 10 ms
        check_samples(&[0x18], Some(2_880)); // SILK 60 ms
        check_samples(&[0x19, 1, 2], Some(5_760)); // two SILK 60 ms frames
        check_samples(&[0x70], Some(480)); // hybrid fullband 10 ms
        check_samples(&[0x78], Some(960)); // hybrid fullband 20 ms
        check_samples(&[0x80], Some(120)); // CELT 2.5 ms
        check_samples(&[0xfa, 0, 0], Some(1_920)); // code 2: two 20 ms frames
        check_samples(&[0xfb, 0x06], Some(5_760)); // code 3: six 20 ms frames
        check_samples(&[0xfb, 0x07], None); // 140 ms is too long
        check_samples(&[0xfb, 0x00], None); // no frames
        check_samples(&[0xfb], None); // frame count missing
        check_samples(&[], None);
    }

    #[test]
    fn packet_length_agrees_with_libopus_for_every_toc_and_frame_count() {
        for toc in 0..=255u8 {
            for count in 0..64u8 {
                let packet = [toc, count, 0, 0];
                let libopus = opus::packet::get_nb_samples(&packet, 48_000)
                    .ok()
                    .filter(|&n| n > 0)
                    .map(|n| n as u32);
                check_samples(&packet, libopus);
            }
        }
    }

    #[test]
    fn silence_packets_decode_to_silence_of_the_gap_length() {
        for stereo in [false, true] {
            let channels = if stereo {
                opus::Channels::Stereo
            } else {
                opus::Channels::Mono
            };
            for gap in [
                119, 120, 240, 360, 480, 840, 959, 960, 5_760, 6_000, 100_000,
            ] {
                let mut decoder = opus::Decoder::new(48_000, channels).expect("decoder");
                let mut decoded = 0u64;
                for (packet, samples) in silence_packets(gap, stereo) {
                    assert_eq!(opus_packet_samples(&packet), Some(samples));
                    let mut pcm = vec![1.0f32; 5_760 * 2];
                    let n = decoder
                        .decode_float(&packet, &mut pcm, false)
                        .expect("decodes");
                    assert_eq!(n as u32, samples, "gap {gap}: {packet:02x?}");
                    let width = if stereo { 2 } else { 1 };
                    // libopus adds ~1e-34 against denormals: silent means below a 24-bit LSB.
                    assert!(peak(&pcm[..n * width]) < 1e-7, "gap {gap}: not silent");
                    decoded += n as u64;
                }
                assert_eq!(decoded, gap / 120 * 120, "gap {gap}");
            }
        }
    }

    #[test]
    fn silence_after_a_tone_ends_the_tone() {
        let (packets, _) = tone_packets(440.0, 1.0, &[(0.0, 1.0)]);
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut pcm = vec![0.0f32; 5_760];
        for packet in &packets {
            decoder.decode_float(packet, &mut pcm, false).expect("tone");
        }
        let mut after = Vec::new();
        for (packet, _) in silence_packets(48_000, false) {
            let n = decoder
                .decode_float(&packet, &mut pcm, false)
                .expect("silence");
            after.extend_from_slice(&pcm[..n]);
        }
        // The first frame completes the tone's last overlap window; then nothing.
        assert!(peak(&after[960..]) < 1e-3, "peak {}", peak(&after[960..]));
    }

    /// Every packet of an Ogg stream: its data, the granule of the page it ends, whether it
    /// ends that page, and whether it ends the stream.
    fn read_packets(bytes: &[u8]) -> Vec<(Vec<u8>, u64, bool, bool)> {
        let mut reader = PacketReader::new(Cursor::new(bytes));
        let mut packets = Vec::new();
        while let Some(packet) = reader.read_packet().expect("valid ogg") {
            let end = (packet.last_in_page(), packet.last_in_stream());
            packets.push((packet.absgp_page(), end, packet.data));
        }
        packets
            .into_iter()
            .map(|(granule, (page_end, eos), data)| (data, granule, page_end, eos))
            .collect()
    }

    /// A made-up 20 ms hybrid packet numbered `n` so that it can be found again.
    fn marked(n: u8) -> Vec<u8> {
        vec![0x78, n, n]
    }

    #[test]
    fn header_pages_are_opus_head_and_opus_tags() {
        let writer = OggOpusWriter::new(7, 2, 312);
        let header = writer.header(false).expect("header");
        assert_eq!(writer.header(true), Some(header.clone()));
        let packets = read_packets(&header);
        assert_eq!(packets.len(), 2);
        let head = &packets[0].0;
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!(head[9], 2);
        assert_eq!(u16::from_le_bytes([head[10], head[11]]), 312);
        assert_eq!(&packets[1].0[..8], b"OpusTags");
        assert!(packets[1].0.windows(6).any(|w| w == b"parley"));
        assert!(packets.iter().all(|p| p.1 == 0 && p.2));
    }

    #[test]
    fn gaps_are_filled_so_each_packet_plays_at_its_pts() {
        let mut writer = OggOpusWriter::new(1, 1, 100);
        // Leading silence, a lost packet, a long absence, and a gap that is not a whole
        // number of 2.5 ms frames (its remainder is lost, never overshot).
        let pushes = [
            (1, 4_800),
            (2, 5_760),
            (3, 7_680),
            (4, 8_640),
            (5, 200_040),
            (6, 201_050),
        ];
        for (n, pts) in pushes {
            assert!(writer.push(&marked(n), pts), "packet {n}");
        }
        let mut bytes = writer.header(false).expect("header");
        bytes.extend(writer.take_ready());
        bytes.extend(writer.finish());
        let packets = read_packets(&bytes);
        let mut position = 0u64;
        let mut placed = Vec::new();
        for (data, granule, page_end, _) in &packets[2..] {
            if data[0] == 0x78 {
                placed.push((data[1], position));
            }
            position += u64::from(opus_packet_samples(data).expect("valid packet"));
            if *page_end {
                assert_eq!(
                    *granule,
                    100 + position,
                    "granule = pre-skip + samples so far"
                );
            }
        }
        // 201_050 - 201_000 = 50 samples: less than the smallest Opus frame.
        let expected = [
            (1, 4_800),
            (2, 5_760),
            (3, 7_680),
            (4, 8_640),
            (5, 200_040),
            (6, 201_000),
        ];
        assert_eq!(placed, expected);
        assert_eq!(writer.end_pts(), 201_000 + 960);
        assert_eq!(writer.duration_ms(), 201_960 / 48);
        let last = packets.last().expect("packets");
        assert!(last.3, "the last packet ends the stream");
        assert_eq!(last.0, marked(6));
    }

    #[test]
    fn packets_overlapping_what_is_written_are_dropped() {
        let mut writer = OggOpusWriter::new(1, 1, 0);
        assert!(writer.push(&marked(1), 0));
        assert!(!writer.push(&marked(2), 0), "duplicate");
        assert!(!writer.push(&marked(3), 500), "overlaps by 460 samples");
        assert!(
            !writer.push(&marked(4), 950),
            "jitter: overlaps by 10 samples"
        );
        assert!(!writer.push(&[], 960), "empty packet");
        assert!(writer.push(&marked(5), 960));
        assert!(!writer.push(&marked(6), 0), "late");
        assert_eq!(writer.end_pts(), 1_920);
        writer.finish();
        assert!(!writer.push(&marked(7), 1_920), "after finish");
    }

    #[test]
    fn pages_close_every_half_second_and_the_last_carries_eos() {
        let mut writer = OggOpusWriter::new(9, 1, 0);
        let mut chunks = Vec::new();
        for n in 0..250u64 {
            assert!(writer.push(&marked(n as u8), n * 960));
            let ready = writer.take_ready();
            if !ready.is_empty() {
                chunks.push((n, ready));
            }
        }
        // 250 packets of 20 ms: a page per 25, the last one held back for the EOS flag.
        let at: Vec<u64> = chunks.iter().map(|c| c.0).collect();
        assert_eq!(at, [25, 50, 75, 100, 125, 150, 175, 200, 225]);
        let mut bytes = writer.header(false).expect("header");
        for (_, chunk) in &chunks {
            bytes.extend(chunk);
        }
        // Every chunk is whole pages: a prefix parses cleanly.
        assert_eq!(read_packets(&bytes).len(), 2 + 225);
        bytes.extend(writer.finish());
        let packets = read_packets(&bytes);
        assert_eq!(packets.len(), 2 + 250);
        assert_eq!(packets.iter().filter(|p| p.3).count(), 1);
        assert!(packets.last().expect("last").3);
        assert_eq!(packets.last().expect("last").1, 250 * 960);
        assert!(writer.finish().is_empty(), "finishing twice adds nothing");
    }

    #[test]
    fn big_packets_close_pages_by_size() {
        let mut writer = OggOpusWriter::new(9, 1, 0);
        let mut big = vec![0xf8];
        big.resize(1_000, 7);
        // Eleven pushes write ten packets (the last is held back); five of 1 KB pass 4 KB.
        for n in 0..11u64 {
            assert!(writer.push(&big, n * 960));
        }
        let mut bytes = writer.header(false).expect("header");
        bytes.extend(writer.take_ready());
        let packets = read_packets(&bytes);
        assert_eq!(packets.len(), 2 + 10);
        let page_ends: Vec<usize> = (2..12).filter(|&i| packets[i].2).map(|i| i - 2).collect();
        assert_eq!(page_ends, [4, 9]);
    }

    #[test]
    fn a_stream_without_packets_ends_with_a_packet_trimmed_to_nothing() {
        let mut writer = OggOpusWriter::new(3, 1, 312);
        let mut bytes = writer.header(false).expect("header");
        bytes.extend(writer.finish());
        let packets = read_packets(&bytes);
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[2].0, [0xe0, 0xff, 0xfe], "2.5 ms of silence");
        assert_eq!(
            (packets[2].1, packets[2].3),
            (312, true),
            "granule: none of it plays"
        );
        assert_eq!(writer.duration_ms(), 0);
        if have_ffmpeg("a_stream_without_packets_ends_with_a_packet_trimmed_to_nothing") {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("empty.ogg");
            std::fs::write(&path, &bytes).expect("write");
            let probe = ffprobe(&path);
            assert_eq!(probe.codec, "opus");
            assert!(probe.stderr.is_empty(), "{}", probe.stderr);
            let (audio, stderr) = decode_audio(&path);
            assert!(stderr.is_empty(), "{stderr}");
            assert!(audio.len() < 120, "{} samples", audio.len());
        }
    }

    #[test]
    fn ffmpeg_plays_a_tone_a_gap_and_the_tone_again_on_time() {
        if !have_ffmpeg("ffmpeg_plays_a_tone_a_gap_and_the_tone_again_on_time") {
            return;
        }
        // Three seconds encoded, the silent middle second never delivered (as with DTX).
        let (packets, lookahead) = tone_packets(440.0, 3.0, &[(0.0, 1.0), (2.0, 3.0)]);
        let mut writer = OggOpusWriter::new(5, 1, lookahead);
        let mut bytes = writer.header(false).expect("header");
        for (n, packet) in packets.iter().enumerate() {
            if !(50..100).contains(&n) {
                assert!(writer.push(packet, n as u64 * 960));
            }
            bytes.extend(writer.take_ready());
        }
        bytes.extend(writer.finish());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("track.ogg");
        std::fs::write(&path, &bytes).expect("write");

        let probe = ffprobe(&path);
        assert_eq!(probe.codec, "opus", "{probe:?}");
        let duration = probe.duration.expect("duration");
        assert!((duration - 3.0).abs() < 0.15, "duration {duration}");
        assert_eq!(writer.duration_ms(), 3_000);

        let (audio, stderr) = decode_audio(&path);
        assert!(stderr.is_empty(), "{stderr}");
        assert!(
            (audio.len() as i64 - 144_000).abs() < 960,
            "{} samples",
            audio.len()
        );
        let candidates = [220.0, 330.0, 440.0, 550.0, 660.0, 880.0];
        for (from, to) in [(0.1, 0.95), (2.05, 2.9)] {
            let tone = span(&audio, from, to);
            assert_eq!(dominant(tone, &candidates), 440.0);
            assert!(amplitude(tone, 440.0) > 0.3, "tone at {from}s");
        }
        let gap = span(&audio, 1.01, 1.99);
        assert!(peak(gap) < 0.01, "gap peak {}", peak(gap));
        // The tone comes back at 2 s, to within a few milliseconds.
        let onset = audio[72_000..]
            .iter()
            .position(|x| x.abs() > 0.05)
            .map(|i| (72_000 + i) as f64 / 48.0)
            .expect("tone resumes");
        assert!((onset - 2_000.0).abs() < 5.0, "onset at {onset} ms");
    }

    #[test]
    fn header_and_ready_pages_without_finish_are_a_playable_file() {
        if !have_ffmpeg("header_and_ready_pages_without_finish_are_a_playable_file") {
            return;
        }
        let (packets, lookahead) = tone_packets(440.0, 3.0, &[(0.0, 3.0)]);
        let mut writer = OggOpusWriter::new(5, 1, lookahead);
        let mut bytes = writer.header(false).expect("header");
        for (n, packet) in packets.iter().enumerate() {
            writer.push(packet, n as u64 * 960);
            bytes.extend(writer.take_ready());
        }
        // The recorder "crashes" here: no finish, no EOS page.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crashed.ogg");
        std::fs::write(&path, &bytes).expect("write");
        let probe = ffprobe(&path);
        assert_eq!(probe.codec, "opus");
        assert!(probe.stderr.is_empty(), "{}", probe.stderr);
        let (audio, stderr) = decode_audio(&path);
        assert!(stderr.is_empty(), "{stderr}");
        // Pages close every second; the last second is still open.
        assert!(audio.len() >= 96_000 - 960, "{} samples", audio.len());
        assert_eq!(
            dominant(span(&audio, 0.1, 1.9), &[330.0, 440.0, 550.0]),
            440.0
        );
    }
}
