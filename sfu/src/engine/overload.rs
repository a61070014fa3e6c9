//! Overload: a worker that falls behind sheds load rather than delay everything. How far
//! behind it is shows in how long datagrams waited between the I/O task reading them and the
//! worker taking them (its lag). Once the worst lag of a second has exceeded
//! `rtc.overload_lag_ms` two seconds in a row (one slow second is a hiccup, not overload), or
//! four times that in one second, the worker sheds one step more each second it stays over:
//! simulcast video at its lowest layer, then no video, then only the loudest speakers' audio
//! (straight to that without video to shed). After a calm spell (every datagram within half
//! the limit) it takes one step back; a step back that overloads it again makes the next calm
//! spell twice as long, so a worker at the edge does not swing between the two every few
//! seconds.

use super::*;
use parley_proto::Shedding;

/// How often the worst lag is judged.
pub(super) const OVERLOAD_CHECK: Duration = Duration::from_secs(1);
/// Seconds in a row over the limit before the first step (and each further second steps).
const OVERLOADED_SECONDS: u32 = 2;
/// A second this many times over the limit is overload at once, not a hiccup.
const CLEARLY_OVER: u32 = 4;
/// A second whose worst lag stays under this fraction of the limit is calm (the worst datagram
/// of a busy second easily waits a good part of the limit; half of it is well clear).
const CALM_FRACTION: u32 = 2;
/// Calm needed before the first step back.
const CALM_SPELL: Duration = Duration::from_secs(10);
/// The longest calm spell asked for.
const LONGEST_CALM_SPELL: Duration = Duration::from_secs(160);
/// Overloaded again this soon after a step back: the step back was too early.
const RELAPSE: Duration = Duration::from_secs(30);

/// A worker's shedding state.
#[derive(Debug)]
pub(super) struct Overload {
    /// At least this much is shed whatever the lag (`rtc.shed_floor`).
    floor: Shedding,
    /// A worst lag above this sheds more; `None` never sheds for lag.
    limit: Option<Duration>,
    /// What the lag made the worker shed (the floor aside).
    measured: Shedding,
    /// The worst lag since the last check.
    worst: Duration,
    /// Checks in a row whose worst lag was over the limit.
    over: u32,
    /// Since when every check was calm.
    calm_since: Option<Instant>,
    /// When the last step back was taken.
    stepped_back: Option<Instant>,
    /// The calm needed before the next step back.
    calm_spell: Duration,
}

impl Overload {
    pub(super) fn new(floor: Shedding, limit: Option<Duration>) -> Overload {
        Overload {
            floor,
            limit,
            measured: Shedding::None,
            worst: Duration::ZERO,
            over: 0,
            calm_since: None,
            stepped_back: None,
            calm_spell: CALM_SPELL,
        }
    }

    /// What is shed now.
    pub(super) fn level(&self) -> Shedding {
        self.floor.max(self.measured)
    }

    /// A datagram waited this long before the worker took it.
    pub(super) fn waited(&mut self, lag: Duration) {
        self.worst = self.worst.max(lag);
    }

    /// Judge the worst lag since the last check; the worst lag, and the new level if it changed.
    /// Without `video` to shed (no video subscription on the worker) the video steps would
    /// shed nothing, and are passed over both ways.
    pub(super) fn check(&mut self, now: Instant, video: bool) -> (Duration, Option<Shedding>) {
        let worst = std::mem::take(&mut self.worst);
        let Some(limit) = self.limit else {
            return (worst, None);
        };
        let before = self.level();
        if worst > limit {
            self.calm_since = None;
            self.over = self.over.saturating_add(1);
        } else {
            self.over = 0;
        }
        if self.over >= OVERLOADED_SECONDS || worst > limit.saturating_mul(CLEARLY_OVER) {
            if self
                .stepped_back
                .is_some_and(|at| now.saturating_duration_since(at) < RELAPSE)
            {
                self.calm_spell = (self.calm_spell * 2).min(LONGEST_CALM_SPELL);
                self.stepped_back = None;
            }
            self.measured = match self.level().more() {
                Shedding::VideoLayers | Shedding::Video if !video => Shedding::Audio,
                more => more,
            };
        } else if worst < limit / CALM_FRACTION {
            let since = *self.calm_since.get_or_insert(now);
            if self.measured != Shedding::None
                && now.saturating_duration_since(since) >= self.calm_spell
            {
                let shown = self.level();
                self.measured = match self.measured.less() {
                    Shedding::VideoLayers | Shedding::Video if !video => Shedding::None,
                    // Below the floor a step back would show nowhere.
                    less if less <= self.floor => Shedding::None,
                    less => less,
                };
                if self.level() != shown {
                    self.stepped_back = Some(now);
                }
                // The next step back needs a calm spell of its own.
                self.calm_since = Some(now);
            }
        } else {
            self.calm_since = None;
        }
        // A long calm forgives earlier relapses.
        if self
            .calm_since
            .is_some_and(|at| now.saturating_duration_since(at) >= LONGEST_CALM_SPELL)
        {
            self.calm_spell = CALM_SPELL;
        }
        let after = self.level();
        (worst, (after != before).then_some(after))
    }
}

impl Engine {
    /// Judge the worker's lag, and when what it sheds changes, apply it and tell every room.
    pub(super) fn check_overload(&mut self, now: Instant) {
        let video = self.participants.values().any(|p| {
            p.down
                .iter()
                .any(|d| d.info.kind == TrackKind::Video && d.active())
        });
        let (worst, changed) = self.overload.check(now, video);
        let worker = self.io.worker.to_string();
        self.metrics
            .worker_lag
            .with_label_values(&[&worker])
            .set(worst.as_secs_f64());
        let Some(level) = changed else {
            return;
        };
        tracing::warn!(
            worker = self.io.worker,
            shedding = level.as_str(),
            lag_ms = worst.as_millis() as u64,
            "media worker shedding changed"
        );
        self.metrics
            .worker_shedding
            .with_label_values(&[&worker])
            .set(level.rank());
        // Simulcast subscriptions take their lowest layer, or what they asked for again. (Video
        // that flows again waits for a keyframe: see `Engine::forward`.)
        let keys: Vec<ParticipantKey> = self.participants.keys().copied().collect();
        for key in keys {
            self.allocate(key, now);
        }
        let rooms: Vec<Arc<str>> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let msg = RtcServerMessage::ConnectionQuality {
                updates: Vec::new(),
                shedding: level,
            };
            self.broadcast(&room, None, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(50);

    /// Check once a second from `start` with these worst lags (ms), with video to shed; the
    /// levels after each.
    fn run(overload: &mut Overload, start: Instant, lags: &[u64]) -> Vec<Shedding> {
        run_with(overload, start, lags, true)
    }

    fn run_with(
        overload: &mut Overload,
        start: Instant,
        lags: &[u64],
        video: bool,
    ) -> Vec<Shedding> {
        lags.iter()
            .enumerate()
            .map(|(i, ms)| {
                overload.waited(Duration::from_millis(*ms));
                overload.check(start + Duration::from_secs(i as u64 + 1), video);
                overload.level()
            })
            .collect()
    }

    #[test]
    fn lag_sheds_a_step_a_second_and_calm_steps_back_slowly() {
        let mut o = Overload::new(Shedding::None, Some(LIMIT));
        let t = Instant::now();
        let levels = run(&mut o, t, &[1, 80, 80, 80, 80, 30]);
        assert_eq!(
            levels,
            [
                Shedding::None,
                // One slow second is a hiccup.
                Shedding::None,
                Shedding::VideoLayers,
                Shedding::Video,
                Shedding::Audio,
                Shedding::Audio
            ]
        );
        // Between calm and overloaded (30 ms) holds; ten calm seconds step back once.
        let t = t + Duration::from_secs(6);
        let levels = run(&mut o, t, &[5; 11]);
        assert_eq!(levels[..10], [Shedding::Audio; 10]);
        assert_eq!(levels[10], Shedding::Video);
    }

    #[test]
    fn a_relapse_soon_after_a_step_back_doubles_the_calm_needed() {
        let mut o = Overload::new(Shedding::None, Some(LIMIT));
        let t = Instant::now();
        // Overloaded, then calm (the first calm check starts the spell): back after 10 s.
        let mut lags = vec![80, 80];
        lags.extend([5; 11]);
        let levels = run(&mut o, t, &lags);
        assert_eq!(levels[1], Shedding::VideoLayers);
        assert_eq!(levels[12], Shedding::None);
        // Overloaded again at once: the next step back takes 20 calm seconds.
        let t = t + Duration::from_secs(13);
        let mut lags = vec![80, 80];
        lags.extend([5; 21]);
        let levels = run(&mut o, t, &lags);
        assert_eq!(levels[1..22], [Shedding::VideoLayers; 21]);
        assert_eq!(levels[22], Shedding::None);
    }

    #[test]
    fn the_floor_holds_whatever_the_lag_and_no_limit_never_sheds_for_lag() {
        let mut o = Overload::new(Shedding::Video, Some(LIMIT));
        let t = Instant::now();
        assert_eq!(run(&mut o, t, &[1, 1]), [Shedding::Video; 2]);
        assert_eq!(
            run(&mut o, t + Duration::from_secs(2), &[80, 80]),
            [Shedding::Video, Shedding::Audio]
        );
        let mut o = Overload::new(Shedding::None, None);
        assert_eq!(run(&mut o, t, &[5_000, 5_000]), [Shedding::None; 2]);
    }

    #[test]
    fn a_clear_overload_sheds_at_once_and_without_video_the_video_steps_are_passed_over() {
        let mut o = Overload::new(Shedding::None, Some(LIMIT));
        let t = Instant::now();
        // 250 ms is five times the limit: no second second is waited for.
        assert_eq!(run(&mut o, t, &[250]), [Shedding::VideoLayers]);
        let mut o = Overload::new(Shedding::None, Some(LIMIT));
        let mut lags = vec![80, 80];
        lags.extend([5; 11]);
        let levels = run_with(&mut o, t, &lags, false);
        assert_eq!(levels[..2], [Shedding::None, Shedding::Audio]);
        assert_eq!(levels[11], Shedding::Audio);
        assert_eq!(levels[12], Shedding::None, "straight back: {levels:?}");
    }
}
