//! The forwarding path: a publisher's RTP packets to its subscribers, keyframe requests back,
//! and the NACK figures.

use super::simulcast::starts_keyframe;
use super::*;
use parley_proto::{Shedding, VideoQuality};
use str0m::bwe::BweKind;
use str0m::rtp::Vp8Descriptor;

impl Engine {
    pub(super) fn event(&mut self, key: ParticipantKey, side: Side, event: Event) {
        match (side, event) {
            // A disconnect is often brief (a check lost, a network blip): the participant is
            // given the resume window to come back before it is removed.
            (_, Event::IceConnectionStateChange(state)) => {
                let mut back = false;
                if let Some(p) = self.participants.get_mut(&key) {
                    let peer = p.peer(side);
                    match state {
                        IceConnectionState::Disconnected => peer.ice_down = true,
                        IceConnectionState::Connected | IceConnectionState::Completed => {
                            back = std::mem::take(&mut peer.ice_down);
                            peer.connected = true;
                        }
                        _ => {}
                    }
                }
                if back && side == Side::Subscriber {
                    self.subscriber_back(key);
                }
            }
            // Media flows from now on; pictures that started before need a keyframe.
            (_, Event::Connected) => {
                if let Some(p) = self.participants.get_mut(&key) {
                    p.peer(side).media_ready = true;
                }
                if side == Side::Subscriber {
                    self.subscriber_back(key);
                }
            }
            (Side::Publisher, Event::RtpPacket(packet)) => self.forward(key, packet),
            (Side::Subscriber, Event::KeyframeRequest(req)) => self.keyframe_wanted(key, req),
            (Side::Publisher, Event::MediaIngressStats(stats)) => {
                self.count_nacks(key, side, (stats.mid, stats.rid), stats.nacks, "sent");
                if let Some(rid) = stats.rid {
                    self.layer_stats(key, stats.mid, rid, stats.bytes);
                }
            }
            (Side::Subscriber, Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. })) => {
                self.bandwidth(key, estimate.as_u64())
            }
            (_, Event::PeerStats(stats)) => self.peer_stats(key, side, &stats),
            (Side::Subscriber, Event::MediaEgressStats(stats)) => {
                self.count_nacks(key, side, (stats.mid, stats.rid), stats.nacks, "received")
            }
            _ => {}
        }
    }

    /// str0m reports NACKs as a running total per stream; count what is new since the last
    /// report.
    fn count_nacks(
        &mut self,
        key: ParticipantKey,
        side: Side,
        (mid, rid): (Mid, Option<str0m::media::Rid>),
        total: u64,
        label: &str,
    ) {
        if let Some(p) = self.participants.get_mut(&key) {
            let seen = p.nacks_seen.entry((side, mid, rid)).or_insert(0);
            if total > *seen {
                self.metrics
                    .nacks
                    .with_label_values(&[label])
                    .inc_by(total - *seen);
                *seen = total;
            }
        }
    }

    /// Hand a publisher's packet to every subscriber of its track.
    pub(super) fn forward(&mut self, key: ParticipantKey, packet: RtpPacket) {
        let now = Instant::now();
        let Engine {
            rooms,
            participants,
            metrics,
            dirty,
            doomed,
            overload,
            config,
            ..
        } = self;
        let Some(publisher) = participants.get_mut(&key) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let (mid, layer) = match publisher.ssrc_mids.iter().find(|(s, _, _)| *s == ssrc) {
            Some((_, mid, layer)) => (*mid, *layer),
            None => {
                let Some((mid, rid)) = publisher
                    .publisher
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| (s.mid(), s.rid()))
                else {
                    return;
                };
                let layer = rid.and_then(|rid| {
                    publisher
                        .tracks
                        .iter()
                        .find(|t| t.mid == mid)?
                        .layers
                        .iter()
                        .position(|l| l.rid == rid)
                });
                publisher.ssrc_mids.push((ssrc, mid, layer));
                (mid, layer)
            }
        };
        metrics.packets_in.inc();
        metrics.bytes_in.inc_by(packet.payload.len() as u64);
        let in_pt = packet.header.payload_type;
        let Some(params) = publisher
            .publisher
            .rtc
            .codec_config()
            .find(|p| p.pt() == in_pt)
            .cloned()
        else {
            return;
        };
        let Some(track) = publisher.tracks.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.info.codec.is_none() {
            track.info.codec = codec_name(params.spec().codec).map(str::to_string);
            track.clock_rate = params.spec().clock_rate.get();
        }
        if !track.layers.is_empty() && layer.is_none() {
            // A simulcast track's packet whose layer is not known (yet): forwarding it
            // would mix layers.
            return;
        }
        if let Some(l) = layer.and_then(|i| track.layers.get_mut(i)) {
            l.last_packet = Some(now);
        }
        publisher.last_media = Some(now);
        if track.info.muted || track.admin_muted {
            return;
        }
        // Padding (bandwidth probes) is not forwarded; its sequence numbers are closed up.
        let padding = packet.payload.is_empty();
        // A simulcast layer's packets go to the subscriptions on that layer; a keyframe lets
        // a subscription waiting for the layer switch to it.
        let video = track.info.kind == TrackKind::Video;
        let vp8 = match (video, track.info.codec.as_deref(), padding) {
            (true, Some("vp8"), false) => Vp8Descriptor::parse(&packet.payload).ok(),
            _ => None,
        };
        let keyframe = video
            && !padding
            && starts_keyframe(track.info.codec.as_deref(), &packet.payload, vp8.as_ref());
        // A keyframe answers a request the throttle still owes: whoever asked receives it.
        if keyframe {
            match layer.and_then(|i| track.layers.get_mut(i)) {
                Some(l) => l.keyframe_owed = false,
                None => track.keyframe_owed = None,
            }
        }
        let mut switched = Vec::new();
        let mut reshed = Vec::new();
        let clock_rate = track.clock_rate;
        let Some(room) = rooms.get_mut(&publisher.room) else {
            return;
        };
        let ext = packet.header.ext_vals.clone();
        if let (false, Some(level)) = (video, ext.audio_level) {
            room.speakers.observe(&publisher.sid, level, now);
        }
        let forwarded_ext = ExtensionValues {
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            ..Default::default()
        };
        let ssrc_value: u32 = *ssrc;
        // In a voice bridge only the speakers in a slot are heard, through that slot.
        let slot = match &room.bridge {
            None => None,
            Some(slots) => match slots.iter().position(|s| *s == Some((key, mid))) {
                Some(i) => Some(i),
                None => return,
            },
        };
        // A worker that cannot keep up withholds video, then the audio of all but the loudest
        // speakers (`overload`). A bridge's slots already carry only its loudest speakers.
        let shed = !padding
            && match overload.level() {
                Shedding::Video | Shedding::Audio if video => true,
                Shedding::Audio => {
                    room.bridge.is_none()
                        && !room
                            .current_speakers
                            .iter()
                            .take(config.bridge_speakers)
                            .any(|sid| *sid == publisher.sid)
                }
                _ => false,
            };
        let mut out = 0u64;
        let mut withheld = 0u64;
        for member in &room.members {
            if *member == key {
                continue;
            }
            let Some(sub) = participants.get_mut(member) else {
                continue;
            };
            // Nothing is written before the connection can send (str0m would hold it).
            if !sub.subscriber.media_ready {
                continue;
            }
            let mut wrote = false;
            for down in sub.down.iter_mut().filter(|d| match slot {
                Some(i) => d.slot == Some(i),
                None => d.publisher == key && d.up_mid == mid,
            }) {
                let DownState::Open(out_mid) = down.state else {
                    continue;
                };
                if shed {
                    // Forwarding pauses: the next packet forwarded continues the numbers and
                    // clock, so the subscriber sees a pause, not loss (and no per-packet skip
                    // list grows). Video that flows again starts with a keyframe: a simulcast
                    // subscription waits for one of its target layer, any other for the next.
                    if let Some(rewriter) = down.rewriter.as_mut() {
                        rewriter.pause();
                    }
                    // Counted as what this subscription would have received.
                    let would = match (layer, down.sim.as_mut()) {
                        (Some(l), Some(sim)) => {
                            let wanted = l == sim.current.unwrap_or(sim.target);
                            sim.current = None;
                            wanted
                        }
                        _ => true,
                    };
                    down.awaits_keyframe |= video;
                    withheld += u64::from(would);
                    continue;
                }
                let mut vp8_patch = None;
                if let Some(layer) = layer {
                    let Some(sim) = down.sim.as_mut() else {
                        continue;
                    };
                    let before = sim.current;
                    if !sim.accept(layer, keyframe, vp8.as_ref()) {
                        continue;
                    }
                    if before != sim.current {
                        switched.push((*member, down.info.sid.clone(), layer, sim.wanted));
                    }
                    vp8_patch = vp8.as_ref().and_then(|d| sim.vp8_patch(d));
                }
                if down.awaits_keyframe {
                    if !keyframe {
                        // A picture started before the pause cannot be decoded: ask for a
                        // keyframe (within the per-track throttle) and forward from it. (The
                        // rewriter stays paused: nothing was numbered since.)
                        let entry = (key, mid, layer, "shedding");
                        if !reshed.contains(&entry) {
                            reshed.push(entry);
                        }
                        continue;
                    }
                    down.awaits_keyframe = false;
                }
                if down.pt.map(|(i, _)| i) != Some(in_pt) {
                    down.pt = sub
                        .subscriber
                        .rtc
                        .codec_config()
                        .match_params(params)
                        .map(|p| (in_pt, p.pt()));
                }
                // One lookup of the outgoing stream: for its queue, then for the write.
                let mut api = sub.subscriber.rtc.direct_api();
                let tx = api.stream_tx_by_mid(out_mid, None);
                let backlogged = tx
                    .as_ref()
                    .and_then(|tx| tx.queue_info().map(|q| q.packet_count()))
                    .is_some_and(|queued| queued >= SUBSCRIBER_QUEUE_LIMIT);
                let rewriter = down
                    .rewriter
                    .get_or_insert_with(|| Rewriter::new(clock_rate));
                if padding || backlogged {
                    // Closed up in the numbering: the subscriber sees no loss to NACK.
                    rewriter.skip(ssrc_value, *packet.seq_no);
                    if backlogged {
                        down.shed = true;
                        metrics.backlog_dropped.inc();
                    }
                    continue;
                }
                let Some((seq, time)) =
                    rewriter.rewrite(ssrc_value, *packet.seq_no, packet.header.timestamp, now)
                else {
                    continue;
                };
                let (Some((_, out_pt)), Some(tx)) = (down.pt, tx) else {
                    continue;
                };
                let mut write = RtpWrite::new(
                    out_pt,
                    seq.into(),
                    time,
                    packet.timestamp,
                    packet.payload.clone(),
                )
                .marker(packet.header.marker)
                .ext_vals(forwarded_ext.clone())
                .nackable(video);
                if let Some(patch) = vp8_patch {
                    write = write.vp8_patch(patch);
                }
                tx.write_rtp(write);
                wrote = true;
                out += 1;
                if std::mem::take(&mut down.shed) && video {
                    let layer = down.sim.as_ref().map(|s| s.current.unwrap_or(s.target));
                    reshed.push((key, mid, layer, "backlog"));
                }
            }
            if wrote && !sub.subscriber.dirty {
                sub.subscriber.dirty = true;
                dirty.push((*member, Side::Subscriber));
            }
        }
        for (member, track, layer, wanted) in switched {
            let (Some(sub), Some(quality), Some(wanted)) = (
                participants.get(&member),
                VideoQuality::from_index(layer),
                VideoQuality::from_index(wanted),
            ) else {
                continue;
            };
            let msg = RtcServerMessage::TrackQuality {
                track,
                quality,
                wanted,
            };
            signal(member, sub, msg, doomed);
        }
        if withheld > 0 {
            let kind = if video { "video" } else { "audio" };
            metrics
                .shed_packets
                .with_label_values(&[kind])
                .inc_by(withheld);
        }
        if out > 0 {
            metrics.packets_out.inc_by(out);
            metrics.bytes_out.inc_by(out * packet.payload.len() as u64);
        }
        metrics.forward_seconds.observe(
            now.saturating_duration_since(packet.timestamp)
                .as_secs_f64(),
        );
        // A picture broken by dropped packets needs a keyframe now that packets flow again:
        // of the layer that subscription receives, within the per-track throttle.
        for (publisher, mid, layer, cause) in reshed {
            match layer {
                Some(layer) => self.request_keyframe_of_layer(publisher, mid, layer, now),
                None => self.request_keyframe(publisher, mid, KeyframeRequestKind::Pli, cause),
            }
        }
    }

    /// A subscriber lost a picture: ask the publisher for a keyframe, at most once per
    /// `keyframe_interval` per track.
    pub(super) fn keyframe_wanted(&mut self, key: ParticipantKey, req: KeyframeRequest) {
        let Some(sub) = self.participants.get(&key) else {
            return;
        };
        let Some(down) = sub.down.iter().find(|d| d.state.mid() == Some(req.mid)) else {
            return;
        };
        let (publisher, mid) = (down.publisher, down.up_mid);
        // A simulcast subscription asks the layer it receives (or waits for).
        if let Some(sim) = &down.sim {
            let layer = sim.current.unwrap_or(sim.target);
            self.request_keyframe_of_layer(publisher, mid, layer, Instant::now());
            return;
        }
        self.request_keyframe(publisher, mid, req.kind, "subscriber");
    }

    /// Send the keyframe requests the throttle held back whose interval has passed.
    pub(super) fn send_owed_keyframe_requests(&mut self, now: Instant) {
        let interval = self.config.keyframe_interval;
        let due = |last: Option<Instant>| {
            last.is_none_or(|at| now.saturating_duration_since(at) >= interval)
        };
        let mut owed = Vec::new();
        let mut owed_layers = Vec::new();
        for (key, p) in &self.participants {
            for t in &p.tracks {
                if let Some(kind) = t.keyframe_owed.filter(|_| due(t.last_keyframe_request)) {
                    owed.push((*key, t.mid, kind));
                }
                for l in &t.layers {
                    if l.keyframe_owed && due(l.last_keyframe_request) {
                        owed_layers.push((*key, t.mid, l.rid));
                    }
                }
            }
        }
        for (publisher, mid, kind) in owed {
            self.request_keyframe(publisher, mid, kind, "held_back");
        }
        for (publisher, mid, rid) in owed_layers {
            self.request_layer_keyframe(publisher, mid, rid, now);
        }
    }

    /// A subscriber connection that went quiet (ICE down, or nothing heard for
    /// `TRANSPORT_GAP`) is heard again: what it missed is older than str0m's send buffer, so
    /// its pictures wait for keyframes; ask for them now rather than when its decoders give up
    /// on the losses (seconds later).
    pub(super) fn subscriber_back(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let videos: Vec<(ParticipantKey, Mid)> = p
            .down
            .iter()
            .filter(|d| matches!(d.state, DownState::Open(_)) && d.info.kind == TrackKind::Video)
            .map(|d| (d.publisher, d.up_mid))
            .collect();
        for (publisher, mid) in videos {
            self.request_keyframe(publisher, mid, KeyframeRequestKind::Pli, "reconnected");
        }
    }

    /// Ask a publisher for a keyframe on one of its video tracks, at most once per
    /// `keyframe_interval` (a request held back is sent when the interval has passed);
    /// `cause` labels the metric.
    pub(super) fn request_keyframe(
        &mut self,
        publisher: ParticipantKey,
        mid: Mid,
        kind: KeyframeRequestKind,
        cause: &str,
    ) {
        let now = Instant::now();
        let Some(p) = self.participants.get_mut(&publisher) else {
            return;
        };
        let Some(track) = p.tracks.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.info.kind != TrackKind::Video {
            return;
        }
        if !track.layers.is_empty() {
            // Every layer someone may switch to: each has its own keyframes.
            let rids: Vec<_> = track
                .layers
                .iter()
                .filter(|l| l.enabled)
                .map(|l| l.rid)
                .collect();
            for rid in rids {
                self.request_layer_keyframe(publisher, mid, rid, now);
            }
            return;
        }
        if track
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < self.config.keyframe_interval)
        {
            self.metrics.keyframe_requests_throttled.inc();
            track.keyframe_owed = Some(kind);
            return;
        }
        track.last_keyframe_request = Some(now);
        track.keyframe_owed = None;
        let mut api = p.publisher.rtc.direct_api();
        if let Some(rx) = api.stream_rx_by_mid(mid, None) {
            rx.request_keyframe(kind);
            self.metrics
                .keyframe_requests
                .with_label_values(&[cause])
                .inc();
        }
        self.mark_dirty(publisher, Side::Publisher);
    }
}
