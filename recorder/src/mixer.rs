//! The meeting's mixed audio: every speaker decoded, summed on the meeting's timeline, and
//! encoded again as one mono Opus stream, for listeners who want one file rather than a track
//! per participant.
//!
//! Time is an input: packets carry their position on the meeting timeline (48 kHz samples),
//! and `mix_until(now)` mixes whatever is complete up to `now` minus a delay that leaves late
//! packets time to arrive. Everything after that is dropped as late; nothing waits for a
//! source that went quiet. Output frames are contiguous 20 ms frames from 0, silence included,
//! so the mixed file's timeline is the meeting's.
//!
//! Memory stays bounded: a source cannot buffer more than `MAX_AHEAD` beyond the mix position,
//! and sources that stopped sending are forgotten after a minute.

use crate::ogg_opus::opus_packet_samples;
use std::collections::{BTreeMap, VecDeque};
use thiserror::Error;

/// 20 ms at 48 kHz: the mix's frame.
const FRAME: usize = 960;
const SAMPLES_PER_MS: u64 = 48;
/// How far ahead of the mix position a source may buffer (10 s); `mix_until` must be called
/// more often than this or packets are dropped.
const MAX_AHEAD: u64 = 10 * 48_000;
/// Gaps up to this long (60 ms, a few lost packets) are concealed by the decoder; longer ones
/// are a speaker who stopped sending, and stay silent.
const MAX_CONCEALED: u64 = 2_880;
/// A source silent this long (60 s) behind the mix position loses its decoder.
const FORGET_AFTER: u64 = 60 * 48_000;
/// Enough for speech from several people at once in one mono stream.
const BITRATE: i32 = 32_000;
/// Far above what 20 ms at 32 kbit/s can produce.
const MAX_PACKET: usize = 1_500;
/// The longest Opus packet, in samples.
const MAX_PACKET_SAMPLES: usize = 5_760;

#[derive(Debug, Error)]
pub enum MixError {
    #[error("cannot create the mix's opus encoder")]
    Encoder(#[source] opus::Error),
}

/// One speaker: their decoder and what they said that is not mixed yet.
struct Source {
    decoder: opus::Decoder,
    /// Timeline position of `samples[0]`.
    start: u64,
    samples: VecDeque<f32>,
    /// Where the last decoded packet ended: a packet starting later follows a gap.
    decoded_until: u64,
}

impl Source {
    /// Puts decoded samples at `at` on the timeline, leaving out what is already mixed
    /// (before `mixed`) and padding with silence after what the buffer holds.
    fn write(&mut self, at: u64, pcm: &[f32], mixed: u64) {
        let skip = usize::try_from(mixed.saturating_sub(at)).unwrap_or(usize::MAX);
        let Some(pcm) = pcm.get(skip..).filter(|pcm| !pcm.is_empty()) else {
            return;
        };
        let at = at.max(mixed);
        if self.samples.is_empty() {
            self.start = at;
        }
        let end = self.start + self.samples.len() as u64;
        let overlap = usize::try_from(end.saturating_sub(at)).unwrap_or(usize::MAX);
        self.samples
            .extend(std::iter::repeat_n(0.0, (at.saturating_sub(end)) as usize));
        self.samples.extend(pcm.iter().skip(overlap));
    }

    /// Adds the samples for the frame at `frame_start` into `frame` and forgets them.
    fn take_into(&mut self, frame_start: u64, frame: &mut [f32; FRAME]) {
        let stale = usize::try_from(frame_start.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.samples.len());
        self.samples.drain(..stale);
        self.start += stale as u64;
        let frame_end = frame_start + FRAME as u64;
        if self.samples.is_empty() || self.start >= frame_end {
            return;
        }
        let offset = (self.start - frame_start) as usize;
        let n = (FRAME - offset).min(self.samples.len());
        for (out, sample) in frame[offset..offset + n]
            .iter_mut()
            .zip(self.samples.drain(..n))
        {
            *out += sample;
        }
        self.start += n as u64;
    }

    fn buffered_until(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// Mixes any number of Opus sources into one mono 48 kHz Opus stream.
pub struct Mixer {
    delay: u64,
    encoder: opus::Encoder,
    pre_skip: u16,
    clip: opus::SoftClip,
    sources: BTreeMap<u64, Source>,
    /// Everything before this timeline position is mixed and encoded: the next frame's start.
    mixed: u64,
    dropped_late: u64,
    dropped_ahead: u64,
}

impl Mixer {
    /// A mixer that waits `delay_ms` for late packets before mixing a moment.
    pub fn new(delay_ms: u32) -> Result<Mixer, MixError> {
        let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(MixError::Encoder)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(BITRATE))
            .map_err(MixError::Encoder)?;
        let lookahead = encoder.get_lookahead().map_err(MixError::Encoder)?;
        Ok(Mixer {
            delay: u64::from(delay_ms) * SAMPLES_PER_MS,
            encoder,
            pre_skip: u16::try_from(lookahead).unwrap_or(0),
            clip: opus::SoftClip::new(opus::Channels::Mono),
            sources: BTreeMap::new(),
            mixed: 0,
            dropped_late: 0,
            dropped_ahead: 0,
        })
    }

    /// The encoder's lookahead in samples: the OpusHead pre-skip of the mixed file, so that
    /// the decoded mix starts exactly at the first frame's position.
    pub fn pre_skip(&self) -> u16 {
        self.pre_skip
    }

    /// Packets dropped because they came after their moment was mixed, or were duplicates.
    pub fn dropped_late(&self) -> u64 {
        self.dropped_late
    }

    /// Packets dropped because they were too far ahead of the mix to buffer.
    pub fn dropped_ahead(&self) -> u64 {
        self.dropped_ahead
    }

    /// Adds `source`'s Opus packet (mono or stereo, any frame size) whose first sample is at
    /// `pts` on the meeting timeline (48 kHz). Malformed packets are ignored; one that does
    /// not decode counts as lost.
    pub fn push(&mut self, source: u64, pts: u64, packet: &[u8]) {
        let Some(length) = opus_packet_samples(packet) else {
            return;
        };
        let end = pts + u64::from(length);
        if end <= self.mixed {
            self.dropped_late += 1;
            return;
        }
        if end > self.mixed + MAX_AHEAD {
            self.dropped_ahead += 1;
            return;
        }
        let source = match self.sources.entry(source) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                // Mono output: libopus downmixes stereo packets itself.
                let Ok(decoder) = opus::Decoder::new(48_000, opus::Channels::Mono) else {
                    return;
                };
                entry.insert(Source {
                    decoder,
                    start: pts,
                    samples: VecDeque::new(),
                    decoded_until: pts,
                })
            }
        };
        if pts < source.decoded_until {
            self.dropped_late += 1;
            return;
        }
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        let gap = pts - source.decoded_until;
        if gap <= MAX_CONCEALED {
            // Whole 2.5 ms steps, as the decoder's concealment requires.
            let mut at = source.decoded_until;
            let mut left = (gap as usize / 120) * 120;
            while left > 0 {
                let n = left.min(FRAME);
                let decoded = source
                    .decoder
                    .decode_float(&[], &mut pcm[..n], false)
                    .unwrap_or(0);
                source.write(at, &pcm[..decoded], self.mixed);
                at += n as u64;
                left -= n;
            }
        }
        let decoded = source
            .decoder
            .decode_float(packet, &mut pcm, false)
            .unwrap_or(0);
        if decoded == length as usize {
            source.write(pts, &pcm[..decoded], self.mixed);
        }
        source.decoded_until = end;
    }

    /// Encodes every whole 20 ms frame that ends by `pts - delay` and returns them as
    /// (frame position, Opus packet), contiguous from the last call on.
    pub fn mix_until(&mut self, pts: u64) -> Vec<(u64, Vec<u8>)> {
        let until = pts.saturating_sub(self.delay);
        let mut out = Vec::new();
        while self.mixed + FRAME as u64 <= until {
            out.extend(self.encode_next());
        }
        let mixed = self.mixed;
        self.sources.retain(|_, source| {
            !source.samples.is_empty() || source.decoded_until + FORGET_AFTER > mixed
        });
        out
    }

    /// Mixes and encodes everything pushed so far, the last frame padded with silence.
    pub fn finish(&mut self) -> Vec<(u64, Vec<u8>)> {
        let end = self
            .sources
            .values()
            .map(Source::buffered_until)
            .max()
            .unwrap_or(0);
        let mut out = Vec::new();
        while self.mixed < end {
            out.extend(self.encode_next());
        }
        out
    }

    /// The next frame's samples from every source, summed and softly clipped into [-1, 1].
    fn mix_next(&mut self) -> [f32; FRAME] {
        let mut frame = [0.0f32; FRAME];
        for source in self.sources.values_mut() {
            source.take_into(self.mixed, &mut frame);
        }
        self.clip.apply(&mut frame);
        frame
    }

    /// Mixes and encodes the next frame. A frame the encoder refuses (it should not) is left
    /// out; the Ogg writer fills its place with silence.
    fn encode_next(&mut self) -> Option<(u64, Vec<u8>)> {
        let frame = self.mix_next();
        let pts = self.mixed;
        self.mixed += FRAME as u64;
        let packet = self.encoder.encode_vec_float(&frame, MAX_PACKET).ok()?;
        Some((pts, packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg_opus::test_tools::*;
    use crate::ogg_opus::OggOpusWriter;
    use crate::TrackMuxer;

    /// Decodes the mix's packets as a player would: contiguous, pre-skip trimmed.
    fn decode(packets: &[(u64, Vec<u8>)], pre_skip: u16) -> Vec<f32> {
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut audio = Vec::new();
        let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
        for (n, (pts, packet)) in packets.iter().enumerate() {
            assert_eq!(*pts, n as u64 * 960, "frames are contiguous from 0");
            let decoded = decoder
                .decode_float(packet, &mut pcm, false)
                .expect("decodes");
            audio.extend_from_slice(&pcm[..decoded]);
        }
        audio.split_off(usize::from(pre_skip))
    }

    #[test]
    fn frames_wait_for_the_delay_and_cover_the_timeline_from_zero() {
        let mut mixer = Mixer::new(100).expect("mixer");
        assert!(mixer.mix_until(4_800 + 959).is_empty());
        let first = mixer.mix_until(4_800 + 960);
        assert_eq!(first.iter().map(|f| f.0).collect::<Vec<_>>(), [0]);
        let more = mixer.mix_until(4_800 + 4 * 960 + 10);
        assert_eq!(
            more.iter().map(|f| f.0).collect::<Vec<_>>(),
            [960, 1_920, 2_880]
        );
        assert!(mixer.finish().is_empty(), "nothing pushed beyond the mix");
        assert!(mixer.pre_skip() > 0);
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped_and_counted() {
        let (packets, _) = tone_packets(440.0, 0.2, &[(0.0, 0.2)]);
        let mut mixer = Mixer::new(0).expect("mixer");
        mixer.push(1, 0, &packets[0]);
        assert_eq!(mixer.mix_until(1_920).len(), 2);
        mixer.push(1, 960, &packets[1]); // its moment is mixed
        mixer.push(2, 0, &packets[0]); // a new source, but as late
        assert_eq!(mixer.dropped_late(), 2);
        mixer.push(1, 1_920, &packets[2]);
        mixer.push(1, 1_920, &packets[2]); // duplicate
        mixer.push(1, 2_400, &packets[3]); // overlaps the one before
        assert_eq!(mixer.dropped_late(), 4);
        mixer.push(1, 2_880, &packets[3]);
        assert_eq!(mixer.dropped_late(), 4);
        assert_eq!(mixer.finish().len(), 2);
    }

    #[test]
    fn a_source_far_ahead_is_dropped_not_buffered() {
        let (packets, _) = tone_packets(440.0, 0.02, &[(0.0, 0.02)]);
        let mut mixer = Mixer::new(0).expect("mixer");
        mixer.push(1, MAX_AHEAD, &packets[0]);
        assert_eq!(mixer.dropped_ahead(), 1);
        assert!(mixer.sources.is_empty());
        mixer.push(1, MAX_AHEAD - 960, &packets[0]);
        assert_eq!(mixer.dropped_ahead(), 1);
        assert_eq!(
            mixer.sources[&1].samples.len(),
            960,
            "placed at its time, nothing before"
        );
        // Once the mix moves on, the limit moves with it.
        mixer.mix_until(48_000);
        mixer.push(2, MAX_AHEAD + 47_040, &packets[0]);
        assert_eq!(mixer.dropped_ahead(), 1);
        let buffered: usize = mixer.sources.values().map(|s| s.samples.len()).sum();
        assert!(buffered as u64 <= 2 * MAX_AHEAD, "{buffered}");
    }

    #[test]
    fn loud_speakers_together_are_clipped_softly() {
        let mut encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio)
                .expect("encoder");
        let full_scale: Vec<f32> = (0..960)
            .map(|i| {
                (0.95 * (2.0 * std::f64::consts::PI * 400.0 * i as f64 / 48_000.0).sin()) as f32
            })
            .collect();
        let packets: Vec<Vec<u8>> = (0..10)
            .map(|_| {
                encoder
                    .encode_vec_float(&full_scale, 4_000)
                    .expect("encode")
            })
            .collect();
        let mut mixer = Mixer::new(0).expect("mixer");
        for source in 1..=3 {
            for (n, packet) in packets.iter().enumerate() {
                mixer.push(source, n as u64 * 960, packet);
            }
        }
        let mut loudest = 0.0f32;
        for _ in 0..10 {
            let frame = mixer.mix_next();
            loudest = loudest.max(peak(&frame));
            mixer.mixed += 960;
        }
        assert!(loudest <= 1.0, "peak {loudest}");
        assert!(loudest > 0.9, "still loud: {loudest}");
    }

    #[test]
    fn a_silent_stretch_in_one_source_is_silent_in_the_mix() {
        let (packets, _) = tone_packets(440.0, 3.0, &[(0.0, 1.0), (2.0, 3.0)]);
        let mut mixer = Mixer::new(0).expect("mixer");
        let mut out = Vec::new();
        for (n, packet) in packets.iter().enumerate() {
            // The middle second never arrives, and one packet is lost at 0.5 s.
            if !(50..100).contains(&n) && n != 25 {
                mixer.push(7, n as u64 * 960, packet);
            }
            out.extend(mixer.mix_until(n as u64 * 960));
        }
        out.extend(mixer.finish());
        assert_eq!(out.len(), 150);
        let audio = decode(&out, mixer.pre_skip());
        assert!(peak(span(&audio, 1.05, 1.95)) < 0.01, "gap is silent");
        for (from, to) in [(0.1, 0.45), (0.55, 0.95), (2.05, 2.9)] {
            assert!(
                amplitude(span(&audio, from, to), 440.0) > 0.3,
                "tone at {from} s"
            );
        }
        // The lost packet was concealed, not left as a hole.
        assert!(peak(span(&audio, 0.503, 0.517)) > 0.2);
    }

    #[test]
    fn two_speakers_are_heard_together_in_the_mixed_file() {
        if !have_ffmpeg("two_speakers_are_heard_together_in_the_mixed_file") {
            return;
        }
        // Speaker A: 440 Hz for 3 s from the start. Speaker B: 660 Hz, joining at 1 s, in
        // stereo packets; both arrive in time order, and the mix runs 200 ms behind.
        let (a, _) = tone_packets(440.0, 3.0, &[(0.0, 3.0)]);
        let mut stereo =
            opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio)
                .expect("encoder");
        let b: Vec<Vec<u8>> = (0..100)
            .map(|frame| {
                let pcm: Vec<f32> = (0..960 * 2)
                    .map(|i| {
                        let t = (frame * 960 + i / 2) as f64 / 48_000.0;
                        (0.5 * (2.0 * std::f64::consts::PI * 660.0 * t).sin()) as f32
                    })
                    .collect();
                stereo.encode_vec_float(&pcm, 4_000).expect("encode")
            })
            .collect();
        let mut mixer = Mixer::new(200).expect("mixer");
        let mut writer = OggOpusWriter::new(11, 1, mixer.pre_skip());
        let mut bytes = writer.header(false).expect("header");
        for n in 0..150u64 {
            mixer.push(1, n * 960, &a[n as usize]);
            if n >= 50 {
                mixer.push(2, n * 960, &b[n as usize - 50]);
            }
            for (pts, packet) in mixer.mix_until((n + 1) * 960) {
                assert!(writer.push(&packet, pts));
            }
            bytes.extend(writer.take_ready());
        }
        for (pts, packet) in mixer.finish() {
            assert!(writer.push(&packet, pts));
        }
        bytes.extend(writer.finish());
        assert_eq!((mixer.dropped_late(), mixer.dropped_ahead()), (0, 0));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mixed.ogg");
        std::fs::write(&path, &bytes).expect("write");
        let probe = ffprobe(&path);
        assert_eq!(probe.codec, "opus");
        let duration = probe.duration.expect("duration");
        assert!((duration - 3.0).abs() < 0.15, "duration {duration}");
        let (audio, stderr) = decode_audio(&path);
        assert!(stderr.is_empty(), "{stderr}");

        let alone = span(&audio, 0.1, 0.95);
        assert!(amplitude(alone, 440.0) > 0.3);
        assert!(
            amplitude(alone, 660.0) < 0.02,
            "B is not heard before it joins"
        );
        let together = span(&audio, 1.1, 2.9);
        assert!(
            amplitude(together, 440.0) > 0.25,
            "{}",
            amplitude(together, 440.0)
        );
        assert!(
            amplitude(together, 660.0) > 0.25,
            "{}",
            amplitude(together, 660.0)
        );
        assert!(amplitude(together, 550.0) < 0.02);
        // B comes in at 1 s on the mix's timeline, to within a few milliseconds.
        let b_at = |t: f64| amplitude(span(&audio, t, t + 0.01), 660.0);
        assert!(
            b_at(0.98) < 0.1 && b_at(1.005) > 0.2,
            "{} {}",
            b_at(0.98),
            b_at(1.005)
        );
    }
}
