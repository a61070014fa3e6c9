//! Percentiles from an HDR histogram, and the run's report: a table for people and JSON for
//! comparing runs.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Latencies in microseconds, from 1 µs to an hour, at three significant figures.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Latency {
        Latency(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        self.0.add(&other.0).expect("same bounds");
    }

    pub fn summary(&self) -> Percentiles {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// A table of `(label, value)` rows, aligned.
pub fn table(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// A percentile row for the table.
pub fn percentile_row(p: &Percentiles) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms  ({} samples)",
        p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms, p.count
    )
}

/// One second of a run: what was sent and delivered in it, and how long those deliveries took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since sending started (this second is `t .. t + 1`).
    pub t: u64,
    pub sent: u64,
    pub delivered: u64,
    /// None for a second without deliveries.
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A second's counts; its latencies at two significant figures (a timeline needs no more).
struct Second {
    sent: u64,
    delivered: u64,
    latency: Histogram<u32>,
}

impl Second {
    fn new() -> Second {
        Second {
            sent: 0,
            delivered: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds"),
        }
    }
}

#[derive(Default)]
struct Shard {
    latency: Latency,
    connect: Latency,
    seconds: Vec<Second>,
}

impl Shard {
    fn second(&mut self, index: usize) -> &mut Second {
        while self.seconds.len() <= index {
            self.seconds.push(Second::new());
        }
        &mut self.seconds[index]
    }
}

/// What every client of a run measured, in one place: connect times, send-to-deliver
/// latencies and a per-second timeline. Clients share a few locked shards (client `key` picks
/// one) rather than each keeping histograms of its own, so 50,000 clients cost a few
/// histograms, not 50,000.
pub struct Recorder {
    start: Instant,
    shards: Vec<Mutex<Shard>>,
}

impl Recorder {
    /// Seconds of the timeline count from now.
    pub fn new(shards: usize) -> Recorder {
        Recorder {
            start: Instant::now(),
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, key: usize) -> MutexGuard<'_, Shard> {
        self.shards[key % self.shards.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> usize {
        self.at(Instant::now())
    }

    fn at(&self, when: Instant) -> usize {
        when.saturating_duration_since(self.start).as_secs() as usize
    }

    pub fn connected(&self, key: usize, took: Duration) {
        self.shard(key).connect.record(took.as_micros() as u64);
    }

    pub fn sent(&self, key: usize) {
        let now = self.now();
        self.shard(key).second(now).sent += 1;
    }

    /// A delivery, with its send-to-deliver latency when it counts toward the percentiles
    /// (not for events replayed after a reconnect).
    pub fn delivered(&self, key: usize, latency_micros: Option<u64>) {
        let now = self.now();
        let mut shard = self.shard(key);
        let second = shard.second(now);
        second.delivered += 1;
        if let Some(us) = latency_micros {
            second.latency.saturating_record(us.max(1));
            shard.latency.record(us);
        }
    }

    pub fn latency(&self) -> Latency {
        let mut all = Latency::default();
        for s in 0..self.shards.len() {
            all.merge(&self.shard(s).latency);
        }
        all
    }

    pub fn connect_time(&self) -> Latency {
        let mut all = Latency::default();
        for s in 0..self.shards.len() {
            all.merge(&self.shard(s).connect);
        }
        all
    }

    /// The seconds from `from` (an instant after `new`) on, merged across shards.
    pub fn timeline(&self, from: Instant) -> Vec<TimelinePoint> {
        let first = self.at(from);
        let mut merged: Vec<Second> = Vec::new();
        for s in 0..self.shards.len() {
            let shard = self.shard(s);
            for (i, second) in shard.seconds.iter().enumerate().skip(first) {
                let i = i - first;
                while merged.len() <= i {
                    merged.push(Second::new());
                }
                merged[i].sent += second.sent;
                merged[i].delivered += second.delivered;
                merged[i].latency.add(&second.latency).expect("same bounds");
            }
        }
        merged
            .iter()
            .enumerate()
            .map(|(t, s)| {
                let q = |q: f64| {
                    (!s.latency.is_empty()).then(|| s.latency.value_at_quantile(q) as f64 / 1000.0)
                };
                TimelinePoint {
                    t: t as u64,
                    sent: s.sent,
                    delivered: s.delivered,
                    p50_ms: q(0.5),
                    p90_ms: q(0.9),
                    p99_ms: q(0.99),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_merges_its_shards_second_by_second() {
        let r = Recorder::new(3);
        for key in 0..6 {
            r.sent(key);
            r.delivered(key, Some(2000 + key as u64 * 1000));
        }
        r.delivered(7, None);
        r.connected(1, Duration::from_millis(3));
        let timeline = r.timeline(r.start);
        assert_eq!(timeline.len(), 1, "{timeline:?}");
        let p = &timeline[0];
        assert_eq!((p.t, p.sent, p.delivered), (0, 6, 7));
        // Six latencies 2..7 ms (one replay not counted): the median is 4 ms.
        assert!((p.p50_ms.unwrap() - 4.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms.unwrap() - 7.0).abs() < 0.1, "{p:?}");
        assert_eq!(r.latency().summary().count, 6);
        assert_eq!(r.connect_time().summary().count, 1);
        // Seconds before `from` are left out.
        assert!(r.timeline(r.start + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn percentiles_come_from_what_was_recorded() {
        let mut l = Latency::default();
        for us in 1..=1000 {
            l.record(us * 1000);
        }
        let p = l.summary();
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max_ms - 1000.0).abs() < 1.0, "{p:?}");
        let mut merged = Latency::default();
        merged.merge(&l);
        merged.merge(&l);
        assert_eq!(merged.summary().count, 2000);
    }
}
