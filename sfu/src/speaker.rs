//! Active speaker detection from the audio-level header extension (RFC 6464), without decoding
//! any audio.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Louder than this (in -dBov, so smaller is louder) counts as speech.
const SPEECH_DBOV: f32 = 50.0;
/// How much each packet moves the smoothed level (packets arrive every 20 ms).
const SMOOTHING: f32 = 0.25;
/// A source with no packet for this long (DTX silence, muted, gone) is not speaking.
const QUIET_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Smoothed -dBov, 0 (loudest) to 127 (silence).
    dbov: f32,
    heard: Instant,
}

/// Smoothed levels of the room's audio sources, keyed by participant.
#[derive(Debug)]
pub struct SpeakerDetector<K> {
    levels: HashMap<K, Level>,
}

impl<K: Eq + Hash + Clone + Ord> SpeakerDetector<K> {
    pub fn new() -> Self {
        SpeakerDetector {
            levels: HashMap::new(),
        }
    }

    /// One packet's audio level in dBov, as str0m reads the extension: 0 loudest, -127
    /// silence. (The RFC's unsigned 0..127, meaning the same negated, is taken too.)
    pub fn observe(&mut self, key: &K, audio_level: i8, now: Instant) {
        let sample = f32::from(audio_level.unsigned_abs().min(127));
        match self.levels.get_mut(key) {
            Some(level) => {
                level.dbov += (sample - level.dbov) * SMOOTHING;
                level.heard = now;
            }
            None => {
                self.levels.insert(
                    key.clone(),
                    Level {
                        dbov: sample,
                        heard: now,
                    },
                );
            }
        }
    }

    pub fn forget(&mut self, key: &K) {
        self.levels.remove(key);
    }

    /// Who is speaking now, loudest first, with a level from 0.0 to 1.0 (linear amplitude).
    pub fn speakers(&mut self, now: Instant) -> Vec<(K, f32)> {
        self.levels
            .retain(|_, l| now.saturating_duration_since(l.heard) < QUIET_AFTER * 10);
        let mut speaking: Vec<(K, f32)> = self
            .levels
            .iter()
            .filter(|(_, l)| {
                now.saturating_duration_since(l.heard) < QUIET_AFTER && l.dbov < SPEECH_DBOV
            })
            .map(|(k, l)| (k.clone(), 10f32.powf(-l.dbov / 20.0)))
            .collect();
        speaking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        speaking
    }
}

impl<K: Eq + Hash + Clone + Ord> Default for SpeakerDetector<K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudest_first_and_silence_is_not_speech() {
        let mut d = SpeakerDetector::new();
        let t = Instant::now();
        for _ in 0..20 {
            d.observe(&"quiet", -40, t);
            d.observe(&"loud", -10, t);
            d.observe(&"silent", -127, t);
        }
        let s = d.speakers(t);
        let names: Vec<_> = s.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["loud", "quiet"]);
        assert!(s[0].1 > s[1].1 && s[0].1 <= 1.0);
    }

    #[test]
    fn levels_read_either_way_mean_the_same() {
        let mut d = SpeakerDetector::new();
        let t = Instant::now();
        for _ in 0..20 {
            d.observe(&"negative", -37, t);
            d.observe(&"rfc", 37, t);
        }
        let s = d.speakers(t);
        assert!((s[0].1 - s[1].1).abs() < 1e-6, "{s:?}");
        assert!((s[0].1 - 10f32.powf(-37.0 / 20.0)).abs() < 1e-3, "{s:?}");
    }

    #[test]
    fn a_source_that_stops_sending_stops_speaking() {
        let mut d = SpeakerDetector::new();
        let t = Instant::now();
        d.observe(&1, -20, t);
        assert_eq!(d.speakers(t).len(), 1);
        assert!(d.speakers(t + Duration::from_millis(600)).is_empty());
    }

    #[test]
    fn one_loud_packet_does_not_make_a_speaker() {
        let mut d = SpeakerDetector::new();
        let t = Instant::now();
        for _ in 0..20 {
            d.observe(&1, -120, t);
        }
        d.observe(&1, 0, t);
        assert!(d.speakers(t).is_empty());
    }
}
