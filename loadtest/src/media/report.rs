//! A media run's report: joins, what publishers sent, what subscribers received (loss,
//! jitter, NACKs, PLIs, bitrate, forwarding latency), the server's cost per forwarded packet,
//! and a per-second timeline; as a table for people and JSON for comparisons and charts.

use super::peer::{PeerReport, Shared};
use super::recv::{histogram, Second};
use super::scenario::{Kind, MediaConfig};
use crate::chart::{Chart, Panel, Series};
use crate::cost::{self, ServerCost};
use crate::report::{percentile_row, table, Latency, Percentiles};
use anyhow::Result;
use hdrhistogram::Histogram;
use parley_proto::TrackKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Publishes (a meeting's publisher or a bridge's speaker), and subscribes too.
    Publisher,
    /// Only subscribes (a meeting's viewer or a bridge's listener).
    Subscriber,
}

#[derive(Debug, Serialize)]
pub struct MediaReport {
    pub scenario: &'static str,
    /// The server loaded: `parley` or `janus`.
    pub target: &'static str,
    pub config: MediaConfig,
    pub joins: Joins,
    pub publishers: Publishers,
    pub subscribers: Subscribers,
    /// Publisher's send to subscriber's receive, from the stamps in the media.
    pub forwarding_latency: Percentiles,
    pub server: Option<ServerSide>,
    pub timeline: Vec<TimelineSecond>,
}

#[derive(Debug, Serialize)]
pub struct Joins {
    pub attempted: usize,
    pub joined: usize,
    pub failed: usize,
    pub errors: Vec<String>,
    /// WebSocket connect to `joined`.
    pub join_time: Percentiles,
    /// Subscribe-only bots: starting to join to the first audio packet received.
    pub join_to_first_audio: Percentiles,
    /// Subscribe-only bots: starting to join to the first whole video keyframe received.
    pub join_to_first_frame: Percentiles,
    /// `error` replies from the server to bots that stayed.
    pub server_errors: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Publishers {
    pub count: usize,
    pub audio_packets: u64,
    pub video_frames: u64,
    pub bytes: u64,
    pub nacks_received: u64,
    pub plis_received: u64,
    pub firs_received: u64,
    pub keyframes_on_request: u64,
}

#[derive(Debug, Serialize)]
pub struct Subscribers {
    /// Bots that received (publishers subscribe to each other too).
    pub count: usize,
    /// Tracks the bots should have received media on, and did.
    pub tracks_expected: usize,
    pub tracks_with_media: usize,
    pub tracks_missing: usize,
    pub missing: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    /// RTP sequence numbers that never arrived (RFC 3550's cumulative loss, as a browser
    /// would count it): network loss and gaps the server left in what it forwarded.
    pub lost: u64,
    pub duplicates: u64,
    pub loss_percent: f64,
    /// Interarrival jitter of the tracks (RFC 3550), in ms.
    pub jitter_ms: Spread,
    pub nacks_sent: u64,
    pub plis_sent: u64,
    /// What each subscribing bot received, in kbit/s.
    pub bitrate_kbps: Spread,
    pub packets_per_sec: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Spread {
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            min: values[0],
            p50: at(0.5),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ServerSide {
    #[serde(flatten)]
    pub cost: ServerCost,
    /// RTP packets the server sent to subscribers (its `/metrics`), if it says.
    pub forwarded_packets: Option<u64>,
    /// Forwarded packets (the server's count, else what subscribers received) per CPU-second.
    pub forwarded_per_cpu_sec: Option<f64>,
    /// Packets the server says it sent that no subscriber received: the network's (and the
    /// bots') loss, as opposed to sequence gaps the server left in what it forwarded.
    pub sent_not_received: Option<i64>,
    /// CPU seconds each of the server's media threads used in the measured window
    /// (`parley-media-<n>`, the workers; worker 0's thread also reads the media port).
    pub media_thread_cpu_secs: BTreeMap<String, f64>,
}

impl ServerSide {
    /// `forwarded` counts the measured window (for the rate per CPU-second), `sent` the whole
    /// run until every bot left (to compare with what the bots received).
    pub fn new(
        pid: u32,
        (before, after): (cost::Sample, cost::Sample),
        connections: usize,
        forwarded: Option<u64>,
        sent: Option<u64>,
        media_threads: BTreeMap<String, f64>,
    ) -> ServerSide {
        ServerSide {
            // Memory per connection is not separated from the media's here: `after` twice.
            cost: ServerCost::between(pid, before, after, after, connections),
            forwarded_packets: forwarded,
            forwarded_per_cpu_sec: None,
            sent_not_received: sent.map(|s| s as i64),
            media_thread_cpu_secs: media_threads,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TimelineSecond {
    pub t: usize,
    pub packets: u64,
    pub bytes: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub lost: i64,
}

/// A bot that never ran.
pub fn failed(error: String) -> super::bot::BotResult {
    super::bot::BotResult {
        error: Some(error),
        ..super::bot::BotResult::starting()
    }
}

/// The server's count of RTP packets sent to subscribers, from its `/metrics`.
pub async fn server_packets_out(server: &str) -> Option<u64> {
    let url = format!("{}/metrics", server.trim_end_matches('/'));
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("parley_rtc_packets_total{direction=\"out\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// The live line on stderr, once a second.
pub async fn progress(shared: Arc<Shared>, bots: usize, epoch: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (mut last_packets, mut last_bytes) = (0, 0);
    loop {
        tick.tick().await;
        let c = &shared.counters;
        let packets = c.packets_received.load(Relaxed);
        let bytes = c.bytes_received.load(Relaxed);
        eprintln!(
            "[{:>4.0}s] {bots} bots, {} peer connections up ({} publishing)  received {} pkt/s {:.2} Mbit/s",
            epoch.elapsed().as_secs_f64(),
            c.connected.load(Relaxed),
            c.publishing.load(Relaxed),
            packets - last_packets,
            (bytes - last_bytes) as f64 * 8.0 / 1e6,
        );
        (last_packets, last_bytes) = (packets, bytes);
    }
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
    }
}

fn since(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_micros() as u64
}

/// How many tracks bot `role` must receive media on, of the `expected` it subscribed to.
fn needed(kind: &Kind, role: Role, expected: usize) -> usize {
    match kind {
        Kind::Meeting { .. } => expected,
        // A bridge's slots carry the loudest speakers; nobody hears themselves.
        Kind::Bridge {
            speakers, slots, ..
        } => {
            let others = speakers - usize::from(role == Role::Publisher);
            expected.min(others).min(*slots as usize)
        }
    }
}

pub fn assemble(
    config: MediaConfig,
    target: &'static str,
    results: Vec<(Role, super::bot::BotResult)>,
    seconds: Vec<Second>,
    mut server: Option<ServerSide>,
    active: Duration,
) -> Result<MediaReport> {
    let (mut join_time, mut first_audio, mut first_frame) =
        (Latency::default(), Latency::default(), Latency::default());
    let mut errors = Vec::new();
    let mut publishers = Publishers::default();
    let mut latency = histogram();
    let mut missing = Vec::new();
    let (mut expected_total, mut with_media_total) = (0, 0);
    let (mut packets, mut bytes, mut lost, mut duplicates, mut nacks, mut plis) =
        (0, 0, 0, 0, 0, 0);
    let (mut jitters, mut bitrates) = (Vec::new(), Vec::new());
    let mut receiving = 0;
    let mut server_errors = 0;
    for (i, (role, r)) in results.iter().enumerate() {
        if let Some(e) = &r.error {
            errors.push(e.clone());
        }
        server_errors += r.server_errors.len();
        errors.extend(r.server_errors.iter().cloned());
        if let Some(joined) = r.joined {
            join_time.record(since(r.started, joined));
        }
        if let Some(p) = &r.publisher {
            publishers.count += 1;
            let s = &p.sent;
            publishers.audio_packets += s.audio_packets;
            publishers.video_frames += s.video_frames;
            publishers.bytes += s.bytes;
            publishers.nacks_received += s.nacks_received;
            publishers.plis_received += s.plis_received;
            publishers.firs_received += s.firs_received;
            publishers.keyframes_on_request += s.keyframes_on_request;
            if let Some(e) = &p.error {
                errors.push(format!("publisher: {e}"));
            }
        }
        let empty = PeerReport {
            connected: None,
            sent: Default::default(),
            received: Vec::new(),
            error: None,
        };
        let sub = r.subscriber.as_ref().unwrap_or(&empty);
        let need = needed(&config.kind, *role, r.expected.len());
        let with_media = sub
            .received
            .iter()
            .filter(|t| t.packets > 0 && r.expected.contains(&t.id))
            .count();
        if r.joined.is_some() {
            expected_total += need;
            with_media_total += with_media.min(need);
            if with_media < need && missing.len() < 10 {
                missing.push(format!(
                    "bot {i} ({role:?}): media on {with_media} of {need} tracks"
                ));
            }
        }
        if sub.received.is_empty() {
            continue;
        }
        receiving += 1;
        let (mut first, mut last, mut bot_bytes) = (None::<Instant>, None::<Instant>, 0);
        for t in &sub.received {
            packets += t.packets;
            bytes += t.bytes;
            bot_bytes += t.bytes;
            lost += t.lost();
            duplicates += t.duplicates();
            nacks += t.nacks_sent;
            plis += t.plis_sent;
            latency.add(&t.latency).ok();
            if t.packets > 1 {
                jitters.push(t.jitter_ms());
            }
            first = match (first, t.first_packet) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last = last.max(t.last_packet);
        }
        if let (Some(first), Some(last)) = (first, last) {
            let secs = last.saturating_duration_since(first).as_secs_f64();
            if secs > 1.0 {
                bitrates.push(bot_bytes as f64 * 8.0 / secs / 1000.0);
            }
        }
        if *role == Role::Subscriber {
            let earliest = |kind: TrackKind, frame: bool| {
                sub.received
                    .iter()
                    .filter(|t| t.kind == kind)
                    .filter_map(|t| if frame { t.first_frame } else { t.first_packet })
                    .min()
            };
            if let Some(at) = earliest(TrackKind::Audio, false) {
                first_audio.record(since(r.started, at));
            }
            if let Some(at) = earliest(TrackKind::Video, true) {
                first_frame.record(since(r.started, at));
            }
        }
        if let Some(e) = &sub.error {
            errors.push(format!("subscriber: {e}"));
        }
    }
    let joined = results.iter().filter(|(_, r)| r.joined.is_some()).count();
    if let Some(s) = &mut server {
        let forwarded = s.forwarded_packets.unwrap_or(packets);
        s.forwarded_per_cpu_sec =
            (s.cost.cpu_secs > 0.0).then(|| forwarded as f64 / s.cost.cpu_secs);
        s.sent_not_received = s.sent_not_received.map(|sent| sent - packets as i64);
    }
    errors.sort();
    errors.dedup();
    errors.truncate(10);
    let timeline = seconds
        .iter()
        .enumerate()
        .map(|(t, s)| TimelineSecond {
            t,
            packets: s.packets,
            bytes: s.bytes,
            latency_p50_ms: s.latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency_p99_ms: s.latency.value_at_quantile(0.99) as f64 / 1000.0,
            lost: s.lost,
        })
        .collect();
    let scenario = match config.kind {
        Kind::Meeting { .. } => "media",
        Kind::Bridge { .. } => "bridge",
    };
    Ok(MediaReport {
        scenario,
        target,
        joins: Joins {
            attempted: results.len(),
            joined,
            failed: results.len() - joined,
            errors,
            join_time: join_time.summary(),
            join_to_first_audio: first_audio.summary(),
            join_to_first_frame: first_frame.summary(),
            server_errors,
        },
        publishers,
        subscribers: Subscribers {
            count: receiving,
            tracks_expected: expected_total,
            tracks_with_media: with_media_total,
            tracks_missing: expected_total - with_media_total,
            missing,
            packets,
            bytes,
            lost,
            duplicates,
            loss_percent: if packets + lost > 0 {
                lost as f64 * 100.0 / (packets + lost) as f64
            } else {
                0.0
            },
            jitter_ms: Spread::of(jitters),
            nacks_sent: nacks,
            plis_sent: plis,
            bitrate_kbps: Spread::of(bitrates),
            packets_per_sec: packets as f64 / active.as_secs_f64().max(0.001),
        },
        forwarding_latency: percentiles(&latency),
        server,
        timeline,
        config,
    })
}

impl MediaReport {
    /// Every bot joined, and every subscriber received media on every track it should.
    pub fn clean(&self) -> bool {
        self.joins.failed == 0
            && self.subscribers.tracks_missing == 0
            && self.subscribers.packets > 0
    }

    /// The scenario in one line.
    fn what(&self) -> String {
        match &self.config.kind {
        Kind::Meeting {
            rooms,
            publishers,
            subscribers,
            video,
            simulcast,
            layout,
        } => format!(
            "media: {rooms} rooms x ({publishers} publishers{} + {subscribers} subscribers), {layout:?} layout",
            match (video, simulcast) {
                (false, _) => " of audio",
                (true, false) => " of audio+video",
                (true, true) => " of audio+simulcast video",
            }
        ),
        Kind::Bridge {
            speakers,
            listeners,
            slots,
        } => format!("bridge: {speakers} speakers, {listeners} listeners, {slots} slots"),
        }
    }

    /// Forwarding latency, packets received and sequence numbers lost per second, for
    /// `--chart`.
    pub fn chart(&self) -> Chart {
        let series = |name: &str, f: &dyn Fn(&TimelineSecond) -> Option<f64>| Series {
            name: name.into(),
            points: self.timeline.iter().map(|s| (s.t as f64, f(s))).collect(),
        };
        // A second in which nothing arrived has no latency to draw.
        let latency =
            |q: fn(&TimelineSecond) -> f64| move |s: &TimelineSecond| (s.packets > 0).then(|| q(s));
        Chart {
            title: format!("{} against {}", self.what(), self.target),
            x_label: "seconds since the first bot started joining".into(),
            panels: vec![
                Panel {
                    title: "publisher to subscriber (ms)".into(),
                    series: vec![
                        series("p50", &latency(|s| s.latency_p50_ms)),
                        series("p99", &latency(|s| s.latency_p99_ms)),
                    ],
                },
                Panel {
                    title: "packets received per second".into(),
                    series: vec![series("received", &|s| Some(s.packets as f64))],
                },
                Panel {
                    title: "sequence numbers lost per second".into(),
                    series: vec![series("lost", &|s| Some(s.lost as f64))],
                },
            ],
        }
    }

    pub fn table(&self) -> String {
        let c = &self.config;
        let what = self.what();
        let j = &self.joins;
        let p = &self.publishers;
        let s = &self.subscribers;
        let mut rows = vec![
            ("scenario".into(), format!("{what} against {}, {:?} after a {:?} ramp-up", self.target, c.duration, c.ramp_up)),
            (
                "joins".into(),
                format!("{} of {} ({} failed, {} server errors)", j.joined, j.attempted, j.failed, j.server_errors),
            ),
            ("join time".into(), percentile_row(&j.join_time)),
            ("join to first audio".into(), percentile_row(&j.join_to_first_audio)),
            ("join to first frame".into(), percentile_row(&j.join_to_first_frame)),
            (
                "published".into(),
                format!(
                    "{} publishers: {} audio packets, {} video frames, {:.1} MB; {} NACKs, {} PLIs, {} FIRs received",
                    p.count, p.audio_packets, p.video_frames, p.bytes as f64 / 1e6,
                    p.nacks_received, p.plis_received, p.firs_received
                ),
            ),
            (
                "received".into(),
                format!(
                    "{} bots: {} packets ({:.0}/s), {:.1} MB; media on {} of {} tracks",
                    s.count, s.packets, s.packets_per_sec, s.bytes as f64 / 1e6,
                    s.tracks_with_media, s.tracks_expected
                ),
            ),
            (
                "loss".into(),
                format!(
                    "{} lost ({:.3}%), {} duplicated; {} NACKs, {} PLIs sent",
                    s.lost, s.loss_percent, s.duplicates, s.nacks_sent, s.plis_sent
                ),
            ),
            (
                "jitter".into(),
                format!("p50 {:.2}  p99 {:.2}  max {:.2} ms", s.jitter_ms.p50, s.jitter_ms.p99, s.jitter_ms.max),
            ),
            (
                "bitrate per bot".into(),
                format!(
                    "min {:.0}  p50 {:.0}  max {:.0} kbit/s",
                    s.bitrate_kbps.min, s.bitrate_kbps.p50, s.bitrate_kbps.max
                ),
            ),
            ("forwarding latency".into(), percentile_row(&self.forwarding_latency)),
        ];
        if let Some(sv) = &self.server {
            rows.push((
                "server".into(),
                format!(
                    "pid {}: {:.2} CPU s, peak RSS {:.1} MiB, {} forwarded ({} not received), {} forwarded packets per CPU s",
                    sv.cost.pid,
                    sv.cost.cpu_secs,
                    sv.cost.peak_rss_bytes as f64 / 1048576.0,
                    sv.forwarded_packets.map_or("?".into(), |n| n.to_string()),
                    sv.sent_not_received.map_or("?".into(), |n| n.to_string()),
                    sv.forwarded_per_cpu_sec.map_or("?".into(), |d| format!("{d:.0}")),
                ),
            ));
            if !sv.media_thread_cpu_secs.is_empty() {
                let threads: Vec<String> = sv
                    .media_thread_cpu_secs
                    .iter()
                    .map(|(name, secs)| format!("{name} {secs:.2}"))
                    .collect();
                rows.push(("media threads CPU s".into(), threads.join(", ")));
            }
        }
        for (n, e) in j.errors.iter().chain(&s.missing).enumerate() {
            rows.push((
                if n == 0 {
                    "problems".into()
                } else {
                    String::new()
                },
                e.clone(),
            ));
        }
        rows.push((
            "verdict".into(),
            if self.clean() {
                "every bot joined and received media on every track it should".into()
            } else {
                "FAILED: see the counts above".into()
            },
        ));
        table(&rows)
    }
}
