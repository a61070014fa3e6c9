//! The media workers' Prometheus figures. Every field is a cheap handle; incrementing one is an
//! atomic add, so the forwarding path can afford it.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

#[derive(Clone, Debug)]
pub struct SfuMetrics {
    pub rooms: IntGauge,
    pub participants: IntGauge,
    /// By `kind` (audio, video) and `source`.
    pub tracks: IntGaugeVec,
    /// By `direction`: `in` from publishers, `out` to subscribers.
    pub packets: IntCounterVec,
    pub bytes: IntCounterVec,
    /// By `direction`: `received` from subscribers, `sent` to publishers.
    pub nacks: IntCounterVec,
    /// Keyframe requests (PLI/FIR) sent to publishers, by `cause`: `subscriber` (a
    /// subscriber lost its picture), `new_subscription`, `unmute`, `layer_switch`, `reconnected`
    /// (a subscriber connection heard again after a cut), `backlog` (a subscription dropped
    /// packets for a full send queue), `shedding` (video withheld under load flows again), `held_back` (one the throttle held back, sent when its
    /// interval passed).
    pub keyframe_requests: IntCounterVec,
    /// Keyframe requests held back by the per-track throttle.
    pub keyframe_requests_throttled: IntCounter,
    /// Datagrams dropped on the media port, by `reason`.
    pub dropped_datagrams: IntCounterVec,
    /// From a packet's arrival to its hand-over to every subscriber's stream.
    pub forward_seconds: Histogram,
    /// Room events not delivered to webhooks because their queue was full.
    pub dropped_room_events: IntCounter,
    /// Simulcast layer choices changed, by `direction`: `down` for bandwidth, `up` (asked for
    /// or bandwidth recovered).
    pub layer_switches: IntCounterVec,
    /// Subscriber connections' bandwidth estimates (TWCC), bits per second.
    pub bandwidth_estimate: Histogram,
    /// Panics the media workers caught, by `step`: `datagram`, `poll`, `event`, `command`,
    /// `remove` (each removed the participant whose step it was, with `internal_error`) and
    /// `tick` (a room-wide check; nobody removed).
    pub peer_panics: IntCounterVec,
    /// The labelled counters the forwarding path bumps, resolved once so a packet costs an
    /// atomic add and no label lookup.
    pub packets_in: IntCounter,
    pub packets_out: IntCounter,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    /// Packets not forwarded to a subscriber because its send queue was full
    /// (`SUBSCRIBER_QUEUE_LIMIT`): its link or its worker could not keep up.
    pub backlog_dropped: IntCounter,
    /// Participants on each media worker, by `worker`; where new rooms go.
    pub worker_participants_by: IntGaugeVec,
    /// Rooms open on each media worker, by `worker`.
    pub worker_rooms_by: IntGaugeVec,
    /// The longest a datagram waited for each media worker in the last second, by `worker`.
    pub worker_lag: GaugeVec,
    /// What each media worker sheds, by `worker`: 0 nothing, 1 simulcast video above its
    /// lowest layer, 2 all video, 3 video and all but the loudest speakers' audio.
    pub worker_shedding: IntGaugeVec,
    /// Packets not forwarded to a subscriber because its worker shed them, by `kind`.
    pub shed_packets: IntCounterVec,
}

impl SfuMetrics {
    pub fn register(registry: &Registry) -> Result<SfuMetrics, prometheus::Error> {
        let packets = IntCounterVec::new(
            Opts::new(
                "rtc_packets_total",
                "RTP packets in from publishers and out to subscribers.",
            ),
            &["direction"],
        )?;
        let bytes = IntCounterVec::new(
            Opts::new("rtc_bytes_total", "RTP payload bytes in and out."),
            &["direction"],
        )?;
        let m = SfuMetrics {
            backlog_dropped: IntCounter::new(
                "rtc_backlog_dropped_packets_total",
                "Packets not forwarded to a subscriber because its send queue was full.",
            )?,
            worker_participants_by: IntGaugeVec::new(
                Opts::new(
                    "rtc_worker_participants",
                    "Participants on each media worker (hidden ones included).",
                ),
                &["worker"],
            )?,
            worker_rooms_by: IntGaugeVec::new(
                Opts::new("rtc_worker_rooms", "Rooms open on each media worker."),
                &["worker"],
            )?,
            worker_lag: GaugeVec::new(
                Opts::new(
                    "rtc_worker_lag_seconds",
                    "The longest a datagram waited for each media worker in the last second.",
                ),
                &["worker"],
            )?,
            worker_shedding: IntGaugeVec::new(
                Opts::new(
                    "rtc_worker_shedding",
                    "What each media worker sheds: 0 nothing, 1 video layers, 2 video, 3 video and non-speakers' audio.",
                ),
                &["worker"],
            )?,
            shed_packets: IntCounterVec::new(
                Opts::new(
                    "rtc_shed_packets_total",
                    "Packets not forwarded to a subscriber because its media worker shed them, by kind.",
                ),
                &["kind"],
            )?,
            packets_in: packets.with_label_values(&["in"]),
            packets_out: packets.with_label_values(&["out"]),
            bytes_in: bytes.with_label_values(&["in"]),
            bytes_out: bytes.with_label_values(&["out"]),
            packets,
            bytes,
            rooms: IntGauge::new("rtc_rooms", "Open meeting rooms.")?,
            participants: IntGauge::new(
                "rtc_participants",
                "Participants in meeting rooms (hidden ones included).",
            )?,
            tracks: IntGaugeVec::new(
                Opts::new("rtc_tracks", "Published tracks by kind and source."),
                &["kind", "source"],
            )?,
            nacks: IntCounterVec::new(
                Opts::new(
                    "rtc_nacks_total",
                    "NACKs received from subscribers and sent to publishers.",
                ),
                &["direction"],
            )?,
            keyframe_requests: IntCounterVec::new(
                Opts::new(
                    "rtc_keyframe_requests_total",
                    "Keyframe requests (PLI/FIR) sent to publishers, by cause.",
                ),
                &["cause"],
            )?,
            keyframe_requests_throttled: IntCounter::new(
                "rtc_keyframe_requests_throttled_total",
                "Keyframe requests held back by the per-track throttle.",
            )?,
            dropped_datagrams: IntCounterVec::new(
                Opts::new(
                    "rtc_dropped_datagrams_total",
                    "Datagrams dropped on the media port.",
                ),
                &["reason"],
            )?,
            forward_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "rtc_forward_seconds",
                    "Time from an RTP packet's arrival to its hand-over to every subscriber.",
                )
                .buckets(vec![
                    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
                    0.005, 0.01, 0.025,
                ]),
            )?,
            dropped_room_events: IntCounter::new(
                "rtc_dropped_room_events_total",
                "Room events not delivered to webhooks because their queue was full.",
            )?,
            layer_switches: IntCounterVec::new(
                Opts::new(
                    "rtc_layer_switches_total",
                    "Simulcast layer choices changed, by direction.",
                ),
                &["direction"],
            )?,
            bandwidth_estimate: Histogram::with_opts(
                HistogramOpts::new(
                    "rtc_bandwidth_estimate_bps",
                    "Subscriber connections' bandwidth estimates (TWCC), bits per second.",
                )
                .buckets(vec![100e3, 250e3, 500e3, 1e6, 2e6, 4e6, 8e6, 16e6, 32e6]),
            )?,
            peer_panics: IntCounterVec::new(
                Opts::new(
                    "rtc_peer_panics_total",
                    "Panics the media workers caught, by step; each in a participant's step removed that participant only.",
                ),
                &["step"],
            )?,
        };
        // Every step shows, at 0 until something panics, so an alert can watch the series.
        for step in ["datagram", "poll", "event", "command", "remove", "tick"] {
            m.peer_panics.with_label_values(&[step]);
        }
        for kind in ["audio", "video"] {
            m.shed_packets.with_label_values(&[kind]);
        }
        registry.register(Box::new(m.rooms.clone()))?;
        registry.register(Box::new(m.participants.clone()))?;
        registry.register(Box::new(m.tracks.clone()))?;
        registry.register(Box::new(m.packets.clone()))?;
        registry.register(Box::new(m.bytes.clone()))?;
        registry.register(Box::new(m.nacks.clone()))?;
        registry.register(Box::new(m.keyframe_requests.clone()))?;
        registry.register(Box::new(m.keyframe_requests_throttled.clone()))?;
        registry.register(Box::new(m.dropped_datagrams.clone()))?;
        registry.register(Box::new(m.forward_seconds.clone()))?;
        registry.register(Box::new(m.dropped_room_events.clone()))?;
        registry.register(Box::new(m.layer_switches.clone()))?;
        registry.register(Box::new(m.bandwidth_estimate.clone()))?;
        registry.register(Box::new(m.peer_panics.clone()))?;
        registry.register(Box::new(m.backlog_dropped.clone()))?;
        registry.register(Box::new(m.worker_participants_by.clone()))?;
        registry.register(Box::new(m.worker_rooms_by.clone()))?;
        registry.register(Box::new(m.worker_lag.clone()))?;
        registry.register(Box::new(m.worker_shedding.clone()))?;
        registry.register(Box::new(m.shed_packets.clone()))?;
        Ok(m)
    }

    pub(crate) fn worker_participants(&self, worker: usize) -> IntGauge {
        self.worker_participants_by
            .with_label_values(&[&worker.to_string()])
    }

    pub(crate) fn worker_rooms(&self, worker: usize) -> IntGauge {
        self.worker_rooms_by
            .with_label_values(&[&worker.to_string()])
    }
}
