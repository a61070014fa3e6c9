//! A synthetic voice, encoded with Opus once per run and looped by every publisher: harmonics
//! of a pitch that wanders (intonation), shaped by a few formants, cut into syllables of 120 to
//! 320 ms grouped into phrases, with pauses of silence between phrases. Each 20 ms frame comes
//! with its level for the audio-level header extension (RFC 6464), so the server's speaker
//! detection and the voice bridge's loudest-speaker slots have something real to choose from.
//!
//! Encoding a clip up front rather than live keeps the bots' CPU for the network: the two cores
//! of a test machine are shared with the server under test.

use anyhow::{Context, Result};
use std::sync::Arc;

pub const SAMPLE_RATE: u32 = 48_000;
/// 20 ms at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;

/// One encoded 20 ms frame.
pub struct AudioFrame {
    /// Opus, padded to take a send-time stamp (see `stamp`).
    pub padded: Arc<[u8]>,
    /// -dBov, 0 loudest, -127 silence (as str0m writes the extension).
    pub level: i8,
    pub voiced: bool,
}

/// A looped voice.
pub struct AudioClip {
    pub frames: Vec<AudioFrame>,
}

/// A small deterministic generator (xorshift64*), so every run speaks the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }

    fn between(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

/// What the voice is doing now.
enum Segment {
    Syllable { len: usize, f0: f32, glide: f32 },
    Gap { len: usize },
}

/// A voice-like signal, 48 kHz mono.
pub struct Voice {
    rng: Rng,
    base: f32,
    phase: f32,
    segment: Segment,
    at: usize,
    syllables_left: u32,
}

impl Voice {
    /// Voice number `n`: each speaks at its own pitch, with its own rhythm.
    pub fn new(n: u64) -> Voice {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let base = rng.between(95.0, 230.0);
        Voice {
            rng,
            base,
            phase: 0.0,
            segment: Segment::Gap { len: 0 },
            at: 0,
            syllables_left: 0,
        }
    }

    fn next_segment(&mut self) {
        let ms = |ms: f32| (ms * SAMPLE_RATE as f32 / 1000.0) as usize;
        self.segment = if self.syllables_left == 0 {
            // A phrase ends: breathe, then say 3 to 12 syllables.
            self.syllables_left = self.rng.between(3.0, 12.0) as u32;
            Segment::Gap {
                len: ms(self.rng.between(250.0, 1200.0)),
            }
        } else if self.rng.next() < 0.2 {
            Segment::Gap {
                len: ms(self.rng.between(30.0, 90.0)),
            }
        } else {
            self.syllables_left -= 1;
            Segment::Syllable {
                len: ms(self.rng.between(120.0, 320.0)),
                f0: self.base * self.rng.between(0.85, 1.25),
                glide: self.rng.between(-0.25, 0.2),
            }
        };
        self.at = 0;
    }

    /// The next sample, -1.0 to 1.0.
    fn sample(&mut self) -> f32 {
        loop {
            let len = match self.segment {
                Segment::Syllable { len, .. } | Segment::Gap { len } => len,
            };
            if self.at < len {
                break;
            }
            self.next_segment();
        }
        let Segment::Syllable { len, f0, glide } = self.segment else {
            self.at += 1;
            return 0.0;
        };
        let x = self.at as f32 / len as f32;
        self.at += 1;
        // Pitch glides over the syllable; the envelope rises fast and decays.
        let f = f0 * (1.0 + glide * x);
        self.phase = (self.phase + f / SAMPLE_RATE as f32).fract();
        let envelope = (x * 8.0).min(1.0) * (1.0 - x).powf(0.7);
        let mut s = 0.0;
        for k in 1..=14 {
            let hz = f * k as f32;
            // Vowel-like formants near 700 and 1200 Hz lift their harmonics.
            let formant = 1.0
                + 2.0 / (1.0 + ((hz - 700.0) / 150.0).powi(2))
                + 1.5 / (1.0 + ((hz - 1200.0) / 200.0).powi(2));
            s += formant / k as f32 * (std::f32::consts::TAU * self.phase * k as f32).sin();
        }
        s * envelope * 0.12 + (self.rng.next() - 0.5) * 0.004 * envelope
    }

    /// The next 20 ms.
    pub fn frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) {
        for o in out.iter_mut() {
            *o = (self.sample().clamp(-1.0, 1.0) * 32767.0) as i16;
        }
    }
}

/// The level of a frame in -dBov (RFC 6464): 0 is full scale, -127 silence.
pub fn level(frame: &[i16]) -> i8 {
    let energy: f64 = frame
        .iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum::<f64>()
        / frame.len().max(1) as f64;
    if energy <= 0.0 {
        return -127;
    }
    let dbov = 10.0 * energy.log10();
    dbov.round().clamp(-127.0, 0.0) as i8
}

/// `secs` of voice `n`, Opus at 32 kbit/s in 20 ms frames, each padded for a stamp.
pub fn encode_clip(n: u64, secs: u32) -> Result<AudioClip> {
    let mut encoder =
        opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
            .context("opus encoder")?;
    encoder.set_bitrate(opus::Bitrate::Bits(32_000))?;
    let mut voice = Voice::new(n);
    let mut pcm = [0i16; FRAME_SAMPLES];
    let mut frames = Vec::new();
    for _ in 0..secs * 50 {
        voice.frame(&mut pcm);
        let packet = encoder.encode_vec(&pcm, 1500)?;
        let padded = crate::media::stamp::pad_opus(&packet)
            .context("libopus could not pad a packet for its stamp")?;
        let level = level(&pcm);
        frames.push(AudioFrame {
            padded: padded.into(),
            level,
            voiced: level > -50,
        });
    }
    Ok(AudioClip { frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_voice_speaks_in_phrases_with_pauses() {
        let mut voice = Voice::new(3);
        let mut pcm = [0i16; FRAME_SAMPLES];
        let levels: Vec<i8> = (0..1500)
            .map(|_| {
                voice.frame(&mut pcm);
                level(&pcm)
            })
            .collect();
        let loud = levels.iter().filter(|l| **l > -30).count();
        let silent = levels.iter().filter(|l| **l <= -100).count();
        // About half speech, with real silences between phrases, over 30 s.
        assert!(loud > 300 && loud < 1300, "loud frames {loud}");
        assert!(silent > 100, "silent frames {silent}");
    }

    #[test]
    fn levels_follow_rfc_6464() {
        assert_eq!(level(&[0; 960]), -127);
        assert_eq!(level(&[32767; 960]), 0);
        assert_eq!(level(&[3277; 960]), -20);
    }

    #[test]
    fn a_clip_is_padded_opus_with_levels() {
        let clip = encode_clip(1, 2).unwrap();
        assert_eq!(clip.frames.len(), 100);
        assert!(clip.frames.iter().any(|f| f.voiced));
        assert!(clip.frames.iter().all(|f| f.padded.len() > 12));
    }
}
