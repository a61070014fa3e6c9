//! Simulcast: which layer of a publisher's video each subscriber receives. A subscriber asks
//! for the most it wants (`set_quality`); what its connection can carry (TWCC, str0m's
//! bandwidth estimate) lowers that while bandwidth is short, audio being reserved first; a
//! switch waits for a keyframe of the new layer so no frame is ever decoded against the wrong
//! reference. Layers nobody receives are paused at the publisher (dynacast).

use super::*;
use parley_proto::{SubscribedQuality, TrackSource, VideoLayer, VideoQuality};
use std::collections::VecDeque;
use str0m::bwe::Bitrate;
use str0m::media::Rid;
use str0m::rtp::{Vp8Descriptor, Vp8Patch};

/// How often layer choices, keyframe retries and dynacast are revisited.
pub(super) const LAYER_CHECK: Duration = Duration::from_millis(250);
/// A layer nobody receives keeps being sent this long before the publisher is told to pause
/// it, so a subscriber stepping down and up again does not wait for a resume.
const PAUSE_AFTER: Duration = Duration::from_secs(3);
/// A layer the publisher should be sending counts as arriving if a packet came this recently
/// (or it was resumed this recently).
const LAYER_STALE: Duration = Duration::from_secs(2);
/// A layer the publisher was asked for and never sent is not asked for again this long (no
/// pause/resume round every few seconds for a layer its encoder will not produce).
const STALL_BACKOFF: Duration = Duration::from_secs(15);
/// A new track's layers are not judged stalled this long: browsers add their upper layers as
/// their own bandwidth estimate grows.
const STARTUP_GRACE: Duration = Duration::from_secs(10);
/// After a subscription is lowered for bandwidth, none of the subscriber's is raised for this
/// long: the estimate settles first.
const RAISE_HOLD: Duration = Duration::from_secs(4);
/// A raise the link could not carry (lowered again within `RAISE_TRIAL`) doubles the hold
/// before the next, up to this: a link just short of a layer does not flap to it and back.
const RAISE_HOLD_MAX: Duration = Duration::from_secs(32);
/// A raise that lasts this long was carried: the next lowering holds raises for `RAISE_HOLD`
/// again.
const RAISE_TRIAL: Duration = Duration::from_secs(15);
/// A raise needs this much headroom over the layer's bitrate.
const RAISE_HEADROOM: f64 = 1.25;
/// A raise may count on this much more than the link was seen to carry (`Delivery`): str0m
/// pads toward the next layer only up to about nine tenths of its estimate, so a clean link
/// shows a little less than a raise needs.
const CARRIED_SLACK: f64 = 1.2;
/// A subscription is lowered only when the bandwidth estimate stayed too low this long: an
/// estimate's jitter moves no layer.
pub(super) const BANDWIDTH_WINDOW: Duration = Duration::from_secs(1);
/// A subscription is raised only when the estimate stayed high enough this long: a delay-based
/// estimate overshoots a tight link for a moment when its queue drains.
pub(super) const RAISE_WINDOW: Duration = Duration::from_secs(3);
/// An encoder ramps a layer up over its first seconds (a new track, or one resumed after a
/// dynacast pause): its rate meanwhile (and while it is being paused) says little of what it
/// costs once up to speed, so it only raises the layer's measured bitrate, never lowers it.
const RAMP_UP: Duration = Duration::from_secs(6);
/// An estimate this far below the window's best lowers layers at once.
const STEEP_FALL: f64 = 0.7;
/// The least a subscriber connection probes beyond what its subscriptions need.
const PROBE_MARGIN: u64 = 300_000;
/// Kept back for each audio subscription before video gets anything: Opus at its usual rate
/// with RTP/SRTP overhead.
const AUDIO_RESERVE: u64 = 64_000;

/// One simulcast layer of a published track.
pub(super) struct UpLayer {
    pub(super) rid: Rid,
    pub(super) info: VideoLayer,
    /// Measured bits per second (from the ingress stats), smoothed.
    pub(super) bitrate: Option<u64>,
    pub(super) bytes_seen: Option<(u64, Instant)>,
    pub(super) last_packet: Option<Instant>,
    /// As last told to the publisher (`subscribed_qualities`); a new track sends them all.
    pub(super) enabled: bool,
    pub(super) enabled_at: Instant,
    pub(super) unused_since: Option<Instant>,
    /// A publisher that was asked for this layer and sent none (its encoder or uplink cannot):
    /// not asked again before then, unless its packets come after all.
    pub(super) stalled_until: Option<Instant>,
    /// Since when a subscription has it as its target (or receives it), while one does.
    pub(super) wanted_since: Option<Instant>,
    /// When the track was published: a browser ramps its layers up in its first seconds.
    pub(super) published_at: Instant,
    pub(super) last_keyframe_request: Option<Instant>,
    /// A keyframe request the throttle held back, sent when the interval has passed unless a
    /// keyframe of this layer comes first.
    pub(super) keyframe_owed: bool,
}

impl UpLayer {
    pub(super) fn new(index: usize, layer: &parley_proto::PublishLayer, now: Instant) -> UpLayer {
        UpLayer {
            rid: Rid::from(layer.rid.as_str()),
            info: VideoLayer {
                quality: VideoQuality::from_index(index).unwrap_or(VideoQuality::High),
                rid: layer.rid.clone(),
                width: layer.width,
                height: layer.height,
            },
            bitrate: None,
            bytes_seen: None,
            last_packet: None,
            enabled: true,
            enabled_at: now,
            unused_since: None,
            stalled_until: None,
            wanted_since: None,
            published_at: now,
            last_keyframe_request: None,
            keyframe_owed: false,
        }
    }

    /// The bits per second this layer needs as measured, or a guess from its size.
    fn own_cost(&self, index: usize) -> (u64, bool) {
        if let Some(rate) = self.bitrate.filter(|r| *r > 0) {
            return (rate, true);
        }
        let guess = match self.info.height {
            Some(h) if h <= 120 => 80_000,
            Some(h) if h <= 240 => 200_000,
            Some(h) if h <= 400 => 450_000,
            Some(h) if h <= 600 => 800_000,
            Some(_) => 1_500_000,
            None => [100_000, 300_000, 900_000][index.min(2)],
        };
        (guess, false)
    }

    /// Can be forwarded: packets arrive, or it was paused here (and can be resumed, unless
    /// the last resume brought nothing).
    fn available(&self, now: Instant) -> bool {
        let recent = |at: Instant| now.saturating_duration_since(at) < LAYER_STALE;
        if self.last_packet.is_some_and(recent) {
            return true;
        }
        if self.stalled_until.is_some_and(|until| now < until) {
            return false;
        }
        !self.enabled || recent(self.enabled_at)
    }

    /// Take a new ingress byte count (a running total) and smooth the rate it shows.
    pub(super) fn measure(&mut self, bytes: u64, at: Instant) {
        if let Some((before, then)) = self.bytes_seen {
            let secs = at.saturating_duration_since(then).as_secs_f64();
            if secs > 0.2 && bytes >= before {
                let rate = ((bytes - before) as f64 * 8.0 / secs) as u64;
                // A paused layer's last rate is still the best guess of what it costs.
                if rate > 0 {
                    // Pausing, or ramping up after a resume: the rate falls short of what the
                    // layer costs once sent in full.
                    let partial =
                        !self.enabled || then.saturating_duration_since(self.enabled_at) < RAMP_UP;
                    self.bitrate = Some(match self.bitrate {
                        Some(old) if partial => old.max((old + rate) / 2),
                        Some(old) => (old + rate) / 2,
                        None => rate,
                    });
                }
            }
        }
        self.bytes_seen = Some((bytes, at));
    }
}

/// What layer `index` of `layers` needs, in bits per second: as measured; else twice the
/// nearest measured layer below it for each step up (four times the pixels, about twice the
/// bits); else a guess from its size.
pub(super) fn layer_cost(layers: &[UpLayer], index: usize) -> u64 {
    let (own, measured) = layers[index].own_cost(index);
    if measured {
        return own;
    }
    (0..index)
        .rev()
        .find_map(|below| {
            let (cost, measured) = layers[below].own_cost(below);
            measured.then(|| cost << (index - below))
        })
        .unwrap_or(own)
}

/// A subscription to a simulcast track: the layer it carries and the one it moves to.
pub struct SimDown {
    /// The highest layer the subscriber asked for.
    pub(super) wanted: usize,
    /// The layer chosen for it now (what it asked, lowered for bandwidth).
    pub target: usize,
    /// The layer being forwarded; switches to `target` on that layer's next keyframe.
    pub current: Option<usize>,
    vp8: Vp8Numbers,
}

impl SimDown {
    pub fn new(layers: usize) -> SimDown {
        let top = layers.saturating_sub(1);
        SimDown {
            wanted: top,
            target: top,
            current: None,
            vp8: Vp8Numbers::default(),
        }
    }

    /// Whether a packet of `layer` is forwarded to this subscription; a keyframe of the target
    /// layer switches to it.
    pub fn accept(&mut self, layer: usize, keyframe: bool, vp8: Option<&Vp8Descriptor>) -> bool {
        if self.current == Some(layer) {
            return true;
        }
        if layer != self.target || !keyframe {
            return false;
        }
        self.current = Some(layer);
        if let Some(d) = vp8 {
            self.vp8.switch(d);
        }
        true
    }

    /// The VP8 descriptor rewrite that keeps picture ids continuous across switches.
    pub fn vp8_patch(&mut self, d: &Vp8Descriptor) -> Option<Vp8Patch> {
        self.vp8.patch(d)
    }
}

/// VP8 picture ids and TL0PICIDX differ between layers; a subscriber sees them continue across
/// a switch, as a decoder tracking references expects.
#[derive(Debug, Default, Clone, Copy)]
struct Vp8Numbers {
    picture_offset: u16,
    tl0_offset: u8,
    last_picture: Option<u16>,
    last_tl0: Option<u8>,
}

const PICTURE_MASK: u16 = 0x7fff;

impl Vp8Numbers {
    fn switch(&mut self, d: &Vp8Descriptor) {
        if let (Some(last), Some(picture)) = (self.last_picture, d.picture_id()) {
            self.picture_offset = last.wrapping_add(1).wrapping_sub(picture) & PICTURE_MASK;
        }
        if let (Some(last), Some(tl0)) = (self.last_tl0, d.tl0_pic_idx()) {
            self.tl0_offset = last.wrapping_add(1).wrapping_sub(tl0);
        }
    }

    /// The picture id and TL0PICIDX a subscriber sees for this packet.
    fn numbers(&mut self, d: &Vp8Descriptor) -> (Option<u16>, Option<u8>) {
        let picture = d
            .picture_id()
            .map(|p| p.wrapping_add(self.picture_offset) & PICTURE_MASK);
        let tl0 = d.tl0_pic_idx().map(|t| t.wrapping_add(self.tl0_offset));
        if let Some(p) = picture {
            // Keep the newest (a retransmission is older).
            if self
                .last_picture
                .is_none_or(|last| p.wrapping_sub(last) & PICTURE_MASK < 0x4000)
            {
                self.last_picture = Some(p);
            }
        }
        if let Some(t) = tl0 {
            if self.last_tl0.is_none_or(|last| t.wrapping_sub(last) < 0x80) {
                self.last_tl0 = Some(t);
            }
        }
        (picture, tl0)
    }

    fn patch(&mut self, d: &Vp8Descriptor) -> Option<Vp8Patch> {
        let (picture, tl0) = self.numbers(d);
        if self.picture_offset == 0 && self.tl0_offset == 0 {
            return None;
        }
        let build = |picture_mask: u16| {
            let mut patch = d.patch();
            if let Some(p) = picture {
                patch = patch.picture_id(p & picture_mask);
            }
            if let Some(t) = tl0 {
                patch = patch.tl0_pic_idx(t);
            }
            patch.build()
        };
        // A 7-bit picture id wraps there.
        build(PICTURE_MASK).or_else(|_| build(0x7f)).ok()
    }
}

/// The first packet of a keyframe, where a subscriber can start decoding a layer.
pub fn starts_keyframe(codec: Option<&str>, payload: &[u8], vp8: Option<&Vp8Descriptor>) -> bool {
    match codec {
        Some("vp8") => vp8.is_some_and(|d| d.starts_keyframe(payload)),
        Some("h264") => h264_starts_keyframe(payload),
        _ => false,
    }
}

/// An H.264 payload that begins a keyframe: an SPS or IDR NAL unit, alone, aggregated
/// (STAP-A) or as the first fragment (FU-A).
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    const IDR: u8 = 5;
    let key = |nal: u8| matches!(nal & 0x1f, SPS | IDR);
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        24 => {
            let mut offset = 1;
            while offset + 2 < payload.len() {
                let size = usize::from(payload[offset]) << 8 | usize::from(payload[offset + 1]);
                offset += 2;
                if payload.get(offset).is_some_and(|&b| key(b)) {
                    return true;
                }
                offset += size;
            }
            false
        }
        28 => payload
            .get(1)
            .is_some_and(|&b| b & 0x80 != 0 && b & 0x1f == IDR),
        nal => key(nal),
    }
}

/// Whether estimate `i` was in force at some time within the last `window`: it is the
/// newest, or the one after it came within the window.
fn in_force(
    estimates: &VecDeque<(Instant, u64)>,
    i: usize,
    now: Instant,
    window: Duration,
) -> bool {
    estimates
        .get(i + 1)
        .is_none_or(|(next, _)| now.saturating_duration_since(*next) < window)
}

/// The bandwidth estimates in force during the last `window`.
fn in_window(
    estimates: &VecDeque<(Instant, u64)>,
    now: Instant,
    window: Duration,
) -> impl Iterator<Item = u64> + Clone + '_ {
    (0..estimates.len())
        .filter(move |&i| in_force(estimates, i, now, window))
        .map(move |i| estimates[i].1)
}

/// What a subscriber connection has shown it carries: the rate str0m sent on it (media and
/// padding) less the share its receiver reported lost, per stats interval, over the last
/// `RAISE_WINDOW`. A delay-based estimate can overshoot a tight link several times over (a
/// probe's burst passes a token bucket's depth at line rate); a raise also needs the link to
/// have carried about what the raised layers will cost, which the padding toward the next layer
/// tries before the raise.
#[derive(Debug, Default)]
pub(super) struct Delivery {
    sent: Option<(u64, Instant)>,
    carried: VecDeque<(Instant, u64)>,
}

impl Delivery {
    /// Take the connection's running total of bytes sent and the loss fraction reported since
    /// the last figures.
    pub(super) fn record(&mut self, bytes_sent: u64, loss: f32, at: Instant) {
        if let Some((before, then)) = self.sent {
            let secs = at.saturating_duration_since(then).as_secs_f64();
            if secs > 0.2 && bytes_sent >= before {
                let rate = (bytes_sent - before) as f64 * 8.0 / secs;
                let carried = rate * f64::from(1.0 - loss.clamp(0.0, 1.0));
                while self
                    .carried
                    .front()
                    .is_some_and(|(t, _)| at.saturating_duration_since(*t) > RAISE_WINDOW)
                {
                    self.carried.pop_front();
                }
                self.carried.push_back((at, carried as u64));
            }
        }
        self.sent = Some((bytes_sent, at));
    }

    /// The most the connection carried in one interval of the last `RAISE_WINDOW`, if known.
    pub(super) fn carried(&self, now: Instant) -> Option<u64> {
        self.carried
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= RAISE_WINDOW)
            .map(|(_, rate)| *rate)
            .max()
    }
}

/// When a subscriber's simulcast layers may be raised. A lowering for bandwidth holds raises
/// back while the estimate settles; a raise the link could not carry (lowered again within
/// `RAISE_TRIAL`) doubles that hold, up to `RAISE_HOLD_MAX`, so a link just short of the next
/// layer does not flap between two; a raise that lasted brings the hold back to `RAISE_HOLD`.
#[derive(Debug, Clone, Copy)]
pub(super) struct RaisePacing {
    hold: Duration,
    lowered: Option<Instant>,
    raised: Option<Instant>,
}

impl Default for RaisePacing {
    fn default() -> RaisePacing {
        RaisePacing {
            hold: RAISE_HOLD,
            lowered: None,
            raised: None,
        }
    }
}

impl RaisePacing {
    pub(super) fn may_raise(&self, now: Instant) -> bool {
        self.lowered
            .is_none_or(|at| now.saturating_duration_since(at) >= self.hold)
    }

    pub(super) fn lowered(&mut self, now: Instant) {
        // A second lowering with no raise between keeps the hold it had.
        if let Some(at) = self.raised {
            self.hold = if now.saturating_duration_since(at) < RAISE_TRIAL {
                (self.hold * 2).min(RAISE_HOLD_MAX)
            } else {
                RAISE_HOLD
            };
        }
        self.lowered = Some(now);
        self.raised = None;
    }

    pub(super) fn raised(&mut self, now: Instant) {
        self.raised = Some(now);
    }

    /// The subscriber asked for a quality itself: no hold from earlier lowerings (what the
    /// link has carried still bounds the raise).
    pub(super) fn asked(&mut self) {
        self.lowered = None;
    }
}

/// The `subscribed_qualities` message for a publisher's simulcast track: which layers to send.
pub(super) fn subscribed_qualities(track: &UpTrack) -> RtcServerMessage {
    RtcServerMessage::SubscribedQualities {
        track: track.info.sid.clone(),
        qualities: track
            .layers
            .iter()
            .map(|l| SubscribedQuality {
                quality: l.info.quality,
                rid: l.info.rid.clone(),
                enabled: l.enabled,
            })
            .collect(),
    }
}

impl Engine {
    /// A subscriber's `set_quality`.
    pub(super) fn set_quality(
        &mut self,
        key: ParticipantKey,
        track_sid: &str,
        quality: VideoQuality,
    ) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let down = p
            .down
            .iter_mut()
            .find(|d| d.info.sid == track_sid && d.active())
            .ok_or_else(|| not_found(format!("you are not subscribed to track `{track_sid}`")))?;
        let layers = down.info.layers.len();
        let sim = down.sim.as_mut().ok_or_else(|| {
            SfuError::new(
                ErrorCode::InvalidInput,
                format!("track `{track_sid}` has one encoding; there is no quality to choose"),
            )
        })?;
        sim.wanted = quality.index().min(layers.saturating_sub(1));
        // A subscriber's own request is not held back by an earlier lowering.
        p.raises.asked();
        self.allocate(key, Instant::now());
        Ok(())
    }

    /// The subscriber connection's bandwidth estimate changed.
    pub(super) fn bandwidth(&mut self, key: ParticipantKey, bps: u64) {
        let now = Instant::now();
        if let Some(p) = self.participants.get_mut(&key) {
            tracing::debug!(participant = %p.sid, bps, "subscriber bandwidth estimate");
            let kept = BANDWIDTH_WINDOW.max(RAISE_WINDOW);
            while p.bandwidth.len() > 1 && !in_force(&p.bandwidth, 0, now, kept) {
                p.bandwidth.pop_front();
            }
            p.bandwidth.push_back((now, bps));
        }
        self.allocate(key, Instant::now());
    }

    /// Choose the layer of each of a subscriber's simulcast subscriptions: screen shares first,
    /// then cameras, each the best it asked for that fits in what is left of its bandwidth
    /// after audio. Tell str0m what to probe for, so a connection that recovers is noticed.
    pub(super) fn allocate(&mut self, key: ParticipantKey, now: Instant) {
        let Engine {
            participants,
            metrics,
            overload,
            ..
        } = self;
        let Some(sub) = participants.get(&key) else {
            return;
        };
        // A worker shedding load forwards the lowest layers only (`overload`).
        let lowest_only = overload.level() >= parley_proto::Shedding::VideoLayers;
        let audio = sub
            .down
            .iter()
            .filter(|d| d.active() && d.info.kind == TrackKind::Audio)
            .count() as u64;
        // Keeping a layer needs the best estimate of the last `BANDWIDTH_WINDOW` to carry it;
        // raising one needs the worst of the longer `RAISE_WINDOW`.
        let reserve = audio * AUDIO_RESERVE;
        // A steep fall (below `STEEP_FALL` of the window's best) is congestion, not jitter,
        // and acts at once.
        let latest = sub.bandwidth.back().map(|(_, b)| *b);
        let best = in_window(&sub.bandwidth, now, BANDWIDTH_WINDOW).max();
        let keep = match (latest, best) {
            (Some(l), Some(b)) if (l as f64) < b as f64 * STEEP_FALL => Some(l),
            _ => best,
        };
        let mut keep_budget = keep.map(|b| b.saturating_sub(reserve));
        // Raising also needs the link to have carried about that much (with slack for the
        // measure's own jitter): an estimate the link never showed is not trusted.
        let carried = sub
            .delivery
            .carried(now)
            .map(|c| (c as f64 * CARRIED_SLACK) as u64);
        let mut raise_budget = in_window(&sub.bandwidth, now, RAISE_WINDOW)
            .min()
            .map(|b| carried.map_or(b, |c| b.min(c)))
            .map(|b| b.saturating_sub(reserve));
        let may_raise = sub.raises.may_raise(now);
        let mut order: Vec<usize> = (0..sub.down.len())
            .filter(|&i| sub.down[i].sim.is_some() && sub.down[i].active())
            .collect();
        order.sort_by_key(|&i| sub.down[i].info.source != TrackSource::ScreenShare);
        let (mut used, mut desired, mut next_step) = (audio * AUDIO_RESERVE, 0u64, None);
        let mut plan = Vec::new();
        for i in order {
            let d = &sub.down[i];
            let Some(sim) = d.sim.as_ref() else {
                continue;
            };
            let Some(track) = participants
                .get(&d.publisher)
                .and_then(|p| p.tracks.iter().find(|t| t.mid == d.up_mid))
            else {
                continue;
            };
            let layers = &track.layers;
            if layers.is_empty() {
                continue;
            }
            let top = if lowest_only {
                0
            } else {
                sim.wanted.min(layers.len() - 1)
            };
            let fits = |l: usize| {
                let cost = layer_cost(layers, l) as f64;
                if l > sim.target {
                    may_raise && raise_budget.is_none_or(|r| cost * RAISE_HEADROOM <= r as f64)
                } else {
                    keep_budget.is_none_or(|r| cost <= r as f64)
                }
            };
            let chosen = (0..=top)
                .rev()
                .filter(|&l| layers[l].available(now))
                .find(|&l| fits(l))
                .or_else(|| (0..=top).find(|&l| layers[l].available(now)))
                .unwrap_or(sim.target.min(top));
            let cost = layer_cost(layers, chosen);
            keep_budget = keep_budget.map(|r| r.saturating_sub(cost));
            raise_budget = raise_budget.map(|r| r.saturating_sub(cost));
            used += cost;
            desired += layer_cost(layers, top);
            if chosen < top && next_step.is_none() {
                // Padding up to what a raise needs, headroom included, shows whether the link
                // carries it.
                let next = layer_cost(layers, chosen + 1) as f64 * RAISE_HEADROOM;
                next_step = Some((next as u64).saturating_sub(cost));
            }
            // Lowered because the bandwidth cannot carry the target (not because it was asked
            // for less, or the target stopped arriving).
            let for_bandwidth =
                chosen < sim.target && sim.target <= top && layers[sim.target].available(now);
            if chosen != sim.target {
                tracing::debug!(
                    track = %d.info.sid,
                    from = sim.target,
                    to = chosen,
                    bandwidth = ?sub.bandwidth.back(),
                    costs = ?(0..layers.len()).map(|i| layer_cost(layers, i)).collect::<Vec<_>>(),
                    "simulcast layer chosen"
                );
                plan.push((
                    i,
                    chosen,
                    for_bandwidth,
                    d.publisher,
                    d.up_mid,
                    layers[chosen].rid,
                ));
            }
        }
        let Some(sub) = participants.get_mut(&key) else {
            return;
        };
        let mut keyframes = Vec::new();
        for (i, chosen, for_bandwidth, publisher, mid, rid) in plan {
            let Some(sim) = sub.down[i].sim.as_mut() else {
                continue;
            };
            if for_bandwidth {
                sub.raises.lowered(now);
            } else if chosen > sim.target {
                sub.raises.raised(now);
            }
            let direction = if chosen < sim.target { "down" } else { "up" };
            metrics.layer_switches.with_label_values(&[direction]).inc();
            sim.target = chosen;
            if sim.current != Some(chosen) {
                keyframes.push((publisher, mid, rid));
            }
        }
        if desired == 0 && sub.probing {
            // No simulcast subscription left: stop padding for one.
            sub.probing = false;
            sub.subscriber
                .rtc
                .bwe()
                .set_bitrate(Bitrate::bps(0), Bitrate::bps(0));
            if !sub.subscriber.dirty {
                sub.subscriber.dirty = true;
                self.dirty.push((key, Side::Subscriber));
            }
        }
        if !sub.bandwidth.is_empty() && desired > 0 {
            sub.probing = true;
            // Probe for what was asked with room to spare, so a clean link's estimate stays
            // clear of the need and its jitter does not lower a layer; pad up to the next
            // layer so the estimate can grow before that layer is switched on.
            let need = desired + audio * AUDIO_RESERVE;
            let minimum = used + next_step.unwrap_or(0);
            let wanted = (need * 3 / 2).max(need + PROBE_MARGIN).max(minimum);
            sub.subscriber
                .rtc
                .bwe()
                .set_bitrate(Bitrate::bps(minimum), Bitrate::bps(wanted));
            if !sub.subscriber.dirty {
                sub.subscriber.dirty = true;
                self.dirty.push((key, Side::Subscriber));
            }
        }
        for (publisher, mid, rid) in keyframes {
            self.request_layer_keyframe(publisher, mid, rid, now);
        }
    }

    /// Ask for a keyframe on the layer at `index` (lowest first) of a publisher's track.
    pub(super) fn request_keyframe_of_layer(
        &mut self,
        publisher: ParticipantKey,
        mid: Mid,
        index: usize,
        now: Instant,
    ) {
        let rid = self
            .participants
            .get(&publisher)
            .and_then(|p| p.tracks.iter().find(|t| t.mid == mid))
            .and_then(|t| t.layers.get(index))
            .map(|l| l.rid);
        if let Some(rid) = rid {
            self.request_layer_keyframe(publisher, mid, rid, now);
        }
    }

    /// Ask for a keyframe on one layer, at most once per `keyframe_interval` per layer (a
    /// request held back is sent when the interval has passed).
    pub(super) fn request_layer_keyframe(
        &mut self,
        publisher: ParticipantKey,
        mid: Mid,
        rid: Rid,
        now: Instant,
    ) {
        let interval = self.config.keyframe_interval;
        let Some(p) = self.participants.get_mut(&publisher) else {
            return;
        };
        let Some(layer) = p
            .tracks
            .iter_mut()
            .find(|t| t.mid == mid)
            .and_then(|t| t.layers.iter_mut().find(|l| l.rid == rid))
        else {
            return;
        };
        if layer
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < interval)
        {
            self.metrics.keyframe_requests_throttled.inc();
            layer.keyframe_owed = true;
            return;
        }
        layer.last_keyframe_request = Some(now);
        layer.keyframe_owed = false;
        if let Some(rx) = p
            .publisher
            .rtc
            .direct_api()
            .stream_rx_by_mid(mid, Some(rid))
        {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.metrics
                .keyframe_requests
                .with_label_values(&["layer_switch"])
                .inc();
        }
        self.mark_dirty(publisher, Side::Publisher);
    }

    /// Every `LAYER_CHECK`: revisit layer choices (a layer stopped or came back), ask again for
    /// keyframes a pending switch waits on, and tell publishers which layers are wanted.
    pub(super) fn check_layers(&mut self, now: Instant) {
        self.mark_stalled_layers(now);
        let subscribers: Vec<ParticipantKey> = self
            .participants
            .iter()
            .filter(|(_, p)| p.probing || p.down.iter().any(|d| d.sim.is_some()))
            .map(|(k, _)| *k)
            .collect();
        // While all video is shed nobody waits for a keyframe.
        let shedding_video = self.overload.level() >= parley_proto::Shedding::Video;
        for key in subscribers {
            self.allocate(key, now);
            if shedding_video {
                continue;
            }
            let waiting: Vec<(ParticipantKey, Mid, usize)> = self
                .participants
                .get(&key)
                .map(|p| {
                    p.down
                        .iter()
                        .filter(|d| d.active())
                        .filter_map(|d| {
                            let sim = d.sim.as_ref()?;
                            (sim.current != Some(sim.target)).then_some((
                                d.publisher,
                                d.up_mid,
                                sim.target,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            for (publisher, mid, layer) in waiting {
                self.request_keyframe_of_layer(publisher, mid, layer, now);
            }
        }
        self.dynacast(now);
    }

    /// A layer that is enabled and wanted but has sent nothing for `LAYER_STALE` since (past
    /// a new track's first `STARTUP_GRACE`, while a browser ramps up) is one its publisher
    /// cannot send: not asked for again for `STALL_BACKOFF`.
    fn mark_stalled_layers(&mut self, now: Instant) {
        for p in self.participants.values_mut() {
            for layer in p.tracks.iter_mut().flat_map(|t| t.layers.iter_mut()) {
                let Some(wanted) = layer.wanted_since else {
                    continue;
                };
                let asked = wanted.max(layer.enabled_at);
                let silent = layer.last_packet.is_none_or(|at| at < asked);
                if layer.enabled
                    && silent
                    && now.saturating_duration_since(asked) >= LAYER_STALE
                    && now.saturating_duration_since(layer.published_at) >= STARTUP_GRACE
                    && layer.stalled_until.is_none_or(|until| until <= now)
                {
                    layer.stalled_until = Some(now + STALL_BACKOFF);
                }
            }
        }
    }

    /// Tell each publisher of a simulcast track which layers someone receives or is about to:
    /// the others pause after `PAUSE_AFTER` unused, and resume as soon as they are wanted.
    fn dynacast(&mut self, now: Instant) {
        let Engine {
            rooms,
            participants,
            doomed,
            overload,
            ..
        } = self;
        let mut needed: HashMap<(ParticipantKey, Mid), [bool; crate::sdp::MAX_LAYERS]> =
            HashMap::new();
        // A worker shedding all video needs no layer: its publishers stop encoding them.
        let shedding_video = overload.level() >= parley_proto::Shedding::Video;
        for room in rooms.values().filter(|_| !shedding_video) {
            for member in &room.members {
                let Some(p) = participants.get(member) else {
                    continue;
                };
                for d in p.down.iter().filter(|d| d.active()) {
                    if let Some(sim) = &d.sim {
                        let wanted = needed.entry((d.publisher, d.up_mid)).or_default();
                        if let Some(w) = wanted.get_mut(sim.target) {
                            *w = true;
                        }
                        if let Some(w) = sim.current.and_then(|c| wanted.get_mut(c)) {
                            *w = true;
                        }
                    }
                }
            }
        }
        for (key, p) in participants.iter_mut() {
            let mut messages = Vec::new();
            for track in p.tracks.iter_mut().filter(|t| !t.layers.is_empty()) {
                let wanted = needed.get(&(*key, track.mid)).copied().unwrap_or_default();
                let mut changed = false;
                for (i, layer) in track.layers.iter_mut().enumerate() {
                    if wanted.get(i).copied().unwrap_or(false) {
                        layer.wanted_since.get_or_insert(now);
                        layer.unused_since = None;
                        if !layer.enabled {
                            layer.enabled = true;
                            layer.enabled_at = now;
                            changed = true;
                        }
                    } else if layer.enabled {
                        layer.wanted_since = None;
                        let since = *layer.unused_since.get_or_insert(now);
                        if now.saturating_duration_since(since) >= PAUSE_AFTER {
                            layer.enabled = false;
                            changed = true;
                        }
                    }
                }
                if changed {
                    messages.push(subscribed_qualities(track));
                }
            }
            for msg in messages {
                signal(*key, p, msg, doomed);
            }
        }
    }

    /// A publisher's per-layer byte counts (ingress stats) give each layer's bitrate.
    pub(super) fn layer_stats(&mut self, key: ParticipantKey, mid: Mid, rid: Rid, bytes: u64) {
        let now = Instant::now();
        if let Some(layer) = self
            .participants
            .get_mut(&key)
            .and_then(|p| p.tracks.iter_mut().find(|t| t.mid == mid))
            .and_then(|t| t.layers.iter_mut().find(|l| l.rid == rid))
        {
            layer.measure(bytes, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8_payload(picture: u16, tl0: u8, key: bool) -> Vec<u8> {
        // X=1, S=1, PID=0; I=1, L=1, T=1; 15-bit picture id; TL0PICIDX; TID byte; VP8 header.
        vec![
            0x90,
            0xe0,
            0x80 | (picture >> 8) as u8,
            picture as u8,
            tl0,
            0x00,
            if key { 0x00 } else { 0x01 },
            0,
            0,
        ]
    }

    /// What a subscriber sees of a packet: the rewritten picture id and TL0PICIDX.
    fn seen(sim: &mut SimDown, payload: &[u8]) -> (u16, u8) {
        let d = Vp8Descriptor::parse(payload).unwrap();
        let (p, t) = sim.vp8.numbers(&d);
        // Whenever the numbers change, a patch that fits the descriptor exists.
        if (p, t) != (d.picture_id(), d.tl0_pic_idx()) {
            assert!(sim.vp8_patch(&d).is_some());
        }
        (p.unwrap(), t.unwrap())
    }

    #[test]
    fn a_switch_waits_for_a_keyframe_of_the_target_layer() {
        let mut sim = SimDown::new(3);
        assert_eq!((sim.target, sim.current), (2, None));
        // Nothing until the target's keyframe; other layers' keyframes do not count.
        assert!(!sim.accept(2, false, None));
        assert!(!sim.accept(0, true, None));
        assert!(sim.accept(2, true, None));
        assert!(sim.accept(2, false, None));
        // Lowered: the old layer carries on until the new one's keyframe.
        sim.target = 0;
        assert!(sim.accept(2, false, None));
        assert!(!sim.accept(0, false, None));
        assert!(sim.accept(0, true, None));
        assert!(!sim.accept(2, false, None));
        assert_eq!(sim.current, Some(0));
    }

    #[test]
    fn h264_keyframes_are_found_alone_aggregated_and_fragmented() {
        assert!(h264_starts_keyframe(&[0x67, 1, 2]), "SPS");
        assert!(h264_starts_keyframe(&[0x65, 1, 2]), "IDR");
        assert!(!h264_starts_keyframe(&[0x41, 1, 2]), "P slice");
        // STAP-A with SPS then PPS.
        assert!(h264_starts_keyframe(&[0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1]));
        assert!(!h264_starts_keyframe(&[0x78, 0, 2, 0x68, 1]));
        // FU-A: start of an IDR, middle of an IDR.
        assert!(h264_starts_keyframe(&[0x7c, 0x85, 1]));
        assert!(!h264_starts_keyframe(&[0x7c, 0x05, 1]));
        assert!(!h264_starts_keyframe(&[]));
    }

    #[test]
    fn vp8_picture_ids_continue_across_a_switch() {
        let mut sim = SimDown::new(2);
        // Layer 1 runs at picture 1000.., layer 0 at 20000...
        let accept = |sim: &mut SimDown, layer, payload: &[u8], key| {
            let d = Vp8Descriptor::parse(payload).unwrap();
            sim.accept(layer, key, Some(&d))
        };
        let high = vp8_payload(1000, 50, true);
        assert!(accept(&mut sim, 1, &high, true));
        assert_eq!(seen(&mut sim, &high), (1000, 50));
        let next = vp8_payload(1001, 51, false);
        assert!(accept(&mut sim, 1, &next, false));
        assert_eq!(seen(&mut sim, &next), (1001, 51));
        sim.target = 0;
        let low = vp8_payload(20_000, 200, true);
        assert!(accept(&mut sim, 0, &low, true));
        assert_eq!(seen(&mut sim, &low), (1002, 52));
        let low = vp8_payload(20_001, 201, false);
        assert!(accept(&mut sim, 0, &low, false));
        assert_eq!(seen(&mut sim, &low), (1003, 53));
        // A late retransmission keeps its own (older) number and does not move the newest.
        assert_eq!(seen(&mut sim, &vp8_payload(20_000, 200, true)), (1002, 52));
        assert_eq!(seen(&mut sim, &vp8_payload(20_002, 202, false)), (1004, 54));
        // Picture ids wrap at 15 bits.
        sim.target = 1;
        let wrap = vp8_payload(0x7fff, 9, true);
        assert!(accept(&mut sim, 1, &wrap, true));
        assert_eq!(seen(&mut sim, &wrap), (1005, 55));
        assert_eq!(seen(&mut sim, &vp8_payload(0, 10, false)), (1006, 56));
    }

    #[test]
    fn the_bandwidth_window_holds_what_was_in_force_during_it() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let estimates: VecDeque<(Instant, u64)> =
            [(at(0), 900), (at(100), 300), (at(500), 250)].into();
        let seen = |ms| in_window(&estimates, at(ms), BANDWIDTH_WINDOW).collect::<Vec<_>>();
        // 900 gave way at 100 ms: out of the window from 1.1 s on, with no new estimate.
        assert_eq!(seen(1000), [900, 300, 250]);
        assert_eq!(seen(1200), [300, 250]);
        assert_eq!(seen(1600), [250]);
    }

    #[test]
    fn raises_the_link_could_not_carry_hold_the_next_back_longer() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut pacing = RaisePacing::default();
        assert!(pacing.may_raise(t0));
        // Lowered with no raise before it: the usual hold.
        pacing.lowered(at(0));
        assert!(!pacing.may_raise(at(3)));
        assert!(pacing.may_raise(at(4)));
        // Raised, and lowered again a second later, again and again: 8 s, 16 s, 32 s, 32 s.
        let mut now = 4;
        for hold in [8, 16, 32, 32] {
            pacing.raised(at(now));
            pacing.lowered(at(now + 1));
            assert!(!pacing.may_raise(at(now + hold)), "held {hold} s");
            assert!(pacing.may_raise(at(now + 1 + hold)), "after {hold} s");
            now += 1 + hold;
        }
        // A raise that lasted: the next lowering holds for the usual time again.
        pacing.raised(at(now));
        pacing.lowered(at(now + 20));
        assert!(pacing.may_raise(at(now + 24)));
        // The subscriber's own request is not held back.
        pacing.raised(at(now + 24));
        pacing.lowered(at(now + 25));
        assert!(!pacing.may_raise(at(now + 26)));
        pacing.asked();
        assert!(pacing.may_raise(at(now + 26)));
    }

    #[test]
    fn what_a_link_carried_is_what_was_sent_less_what_was_lost() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut delivery = Delivery::default();
        assert_eq!(delivery.carried(t0), None);
        // 37,500 bytes a second is 300 kbit/s; a quarter of the second interval lost.
        delivery.record(0, 0.0, at(0));
        delivery.record(37_500, 0.0, at(1000));
        delivery.record(75_000, 0.25, at(2000));
        assert_eq!(delivery.carried(at(2000)), Some(300_000));
        // The clean interval leaves the window; the lossy one is what is left.
        assert_eq!(delivery.carried(at(4500)), Some(225_000));
        assert_eq!(delivery.carried(at(5500)), None);
    }

    #[test]
    fn a_resumed_layer_ramping_up_keeps_the_rate_it_had() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut layer = UpLayer::new(
            2,
            &parley_proto::PublishLayer {
                rid: "f".into(),
                width: None,
                height: Some(360),
            },
            t0,
        );
        // Up to speed at 560 kbit/s (70,000 bytes a second).
        let mut bytes = 0;
        for s in 0..=10 {
            layer.measure(bytes, at(s * 1000));
            bytes += 70_000;
        }
        assert_eq!(layer.bitrate, Some(560_000));
        // Paused, then resumed: its first seconds at 150 kbit/s leave its cost alone.
        layer.enabled_at = at(30_000);
        layer.measure(bytes, at(30_000));
        for s in 1..=6 {
            bytes += 18_750;
            layer.measure(bytes, at(30_000 + s * 1000));
        }
        assert_eq!(layer.bitrate, Some(560_000));
        // Past the ramp-up a lower rate counts.
        bytes += 18_750;
        layer.measure(bytes, at(37_000));
        assert_eq!(layer.bitrate, Some(355_000));
        // Paused: the last second's few bytes leave its cost alone too.
        layer.enabled = false;
        bytes += 1_000;
        layer.measure(bytes, at(38_000));
        assert_eq!(layer.bitrate, Some(355_000));
    }

    #[test]
    fn layer_costs_are_measured_or_guessed_from_below() {
        let now = Instant::now();
        let layer = |i: usize, rid: &str, height| {
            UpLayer::new(
                i,
                &parley_proto::PublishLayer {
                    rid: rid.into(),
                    width: None,
                    height: Some(height),
                },
                now,
            )
        };
        let mut layers = vec![layer(0, "q", 90), layer(1, "h", 180), layer(2, "f", 360)];
        assert_eq!(
            (0..3).map(|i| layer_cost(&layers, i)).collect::<Vec<_>>(),
            [80_000, 200_000, 450_000]
        );
        layers[1].measure(0, now);
        layers[1].measure(15_000, now + Duration::from_secs(1));
        assert_eq!(layer_cost(&layers, 1), 120_000);
        // The top layer never sent yet: about twice the one below.
        assert_eq!(layer_cost(&layers, 2), 240_000);
        assert_eq!(layer_cost(&layers, 0), 80_000);
    }
}
