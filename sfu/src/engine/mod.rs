//! A media worker: owns its rooms and every peer connection in them. Nothing here is shared
//! with another thread, so forwarding takes no lock. Datagrams come from the I/O task
//! (`io::Front`), which routes each to the worker that owns its connection.

use crate::rewrite::Rewriter;
use crate::speaker::SpeakerDetector;
use crate::{
    ChannelRule, Command, Departure, JoinRequest, Joined, ParticipantKey, PublisherAnswer,
    RoomEvent, RoomSettings, SfuConfig, SfuError, SfuMetrics, SfuResult,
};
use parley_proto::{
    ErrorCode, GrantsUpdate, ParticipantGrants, ParticipantInfo, PeerTarget, PublishTrack,
    RemovedReason, RoomDetail, RoomInfo, RtcServerMessage, Speaker, TrackInfo, TrackKind, TrackMid,
};
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How often peers' timers are checked; str0m asks for its own, this is the coarsest step.
const TICK: Duration = Duration::from_millis(10);
/// Datagrams taken per wake-up before the peers they touched are polled.
const READ_BATCH: usize = 64;
/// How often at most the ICE username index is rebuilt when a check names a fragment it lacks.
const UFRAG_REBUILD: Duration = Duration::from_secs(1);

#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod fuzz;
mod guard;
pub(crate) mod io;
mod media;
mod moderation;
mod overload;
mod quality;
mod rooms;
mod simulcast;
mod state;
pub(crate) mod tcp;
#[cfg(test)]
mod tests;
mod tracks;

#[cfg(test)]
pub(crate) use guard::PanicStep;
use moderation::raised_hands;
use simulcast::{SimDown, UpLayer};
pub(crate) use state::Engine;
use state::*;

impl Engine {
    pub(crate) fn new(
        config: SfuConfig,
        io: io::Io,
        placement: Arc<crate::placement::Placement>,
        metrics: SfuMetrics,
        events: mpsc::Sender<RoomEvent>,
    ) -> Engine {
        let worker = io.worker.to_string();
        metrics
            .worker_shedding
            .with_label_values(&[&worker])
            .set(config.shed_floor.rank());
        metrics.worker_lag.with_label_values(&[&worker]).set(0.0);
        Engine {
            overload: overload::Overload::new(config.shed_floor, config.overload_lag),
            config,
            // Keys say which worker holds the participant (`ParticipantKey::worker`).
            next_key: ParticipantKey::first(io.worker),
            io,
            placement,
            metrics,
            events,
            rooms: HashMap::new(),
            participants: HashMap::new(),
            routes: HashMap::new(),
            ufrags: HashMap::new(),
            ufrags_rebuilt: Instant::now(),
            dirty: Vec::new(),
            pending: Vec::new(),
            doomed: Vec::new(),
            last_speaker_check: Instant::now(),
            last_layer_check: Instant::now(),
            last_quality_check: Instant::now(),
            last_overload_check: Instant::now(),
            revoked_keys: Default::default(),
            #[cfg(test)]
            inject: Vec::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<io::Inbound>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        let all: Vec<ParticipantKey> = self.participants.keys().copied().collect();
                        for key in all {
                            self.doomed.push((key, Departure::Removed(RemovedReason::ServerShutdown)));
                        }
                        self.flush();
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.contained_command(command),
                },
                n = inbound.recv_many(&mut batch, READ_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for item in batch.drain(..) {
                        self.inbound(item);
                    }
                }
                _ = tick.tick() => self.tick(),
            }
            self.flush();
        }
        tracing::info!(worker = self.io.worker, "media worker stopped");
    }

    /// What the I/O task handed over.
    pub(super) fn inbound(&mut self, item: io::Inbound) {
        match item {
            io::Inbound::Data {
                proto,
                source,
                data,
                link,
                read_at,
            } => {
                let now = Instant::now();
                self.overload.waited(now.saturating_duration_since(read_at));
                if let Some(link) = link {
                    self.io.tcp_opened(source, link);
                }
                self.receive(proto, source, &data, now);
            }
            io::Inbound::TcpClosed { source } => {
                self.io.tcp_closed(source);
                self.routes.remove(&(Protocol::Tcp, source));
            }
        }
    }

    /// The connection an ICE check from a new address is for, by the local username fragment
    /// it names (`USERNAME` is `<ours>:<theirs>`), and only if that connection takes it. A
    /// fragment not indexed (credentials changed somewhere the index missed) rebuilds the index
    /// once, at most every `UFRAG_REBUILD`, so checks with made-up names cannot make every
    /// datagram a scan of every participant.
    fn stun_target(&mut self, data: &[u8], input: &Input) -> Option<(ParticipantKey, Side)> {
        let ours = stun_username(data)?.split(':').next()?;
        let accepts = |engine: &mut Engine, (key, side): (ParticipantKey, Side)| {
            engine
                .participants
                .get_mut(&key)
                .is_some_and(|p| p.peer(side).rtc.accepts(input))
        };
        if let Some(target) = self.ufrags.get(ours).copied() {
            if accepts(self, target) {
                return Some(target);
            }
        }
        let now = Instant::now();
        if now.saturating_duration_since(self.ufrags_rebuilt) < UFRAG_REBUILD {
            return None;
        }
        self.ufrags_rebuilt = now;
        let keys: Vec<ParticipantKey> = self.participants.keys().copied().collect();
        self.ufrags.clear();
        for key in keys {
            self.index_ice(key);
        }
        let target = self.ufrags.get(ours).copied()?;
        accepts(self, target).then_some(target)
    }

    /// Index both connections of `key` by their local ICE username fragments (after they are
    /// made, and after an SDP exchange that may have restarted ICE).
    pub(super) fn index_ice(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        for side in [Side::Publisher, Side::Subscriber] {
            let peer = p.peer(side);
            let ufrag = peer.rtc.direct_api().local_ice_credentials().ufrag;
            if peer.ufrag != ufrag {
                // Credentials changed (an ICE restart): the old fragment names nobody now,
                // and the I/O task routes checks naming the new one here.
                if !peer.ufrag.is_empty() {
                    self.ufrags.remove(&peer.ufrag);
                    self.io
                        .notify(io::Notice::ForgetUfrag(peer.ufrag.clone(), self.io.worker));
                }
                self.io
                    .notify(io::Notice::Ufrag(ufrag.clone(), self.io.worker));
            }
            self.ufrags.insert(ufrag.clone(), (key, side));
            peer.ufrag = ufrag;
        }
    }

    /// Drop every route and ICE fragment that leads to `key`, here and in the I/O task.
    pub(super) fn forget_connections(&mut self, key: ParticipantKey) {
        let Engine {
            routes, ufrags, io, ..
        } = self;
        routes.retain(|(proto, source), (k, _)| {
            let keep = *k != key;
            if !keep {
                io.notify(io::Notice::ForgetRoute(*proto, *source, io.worker));
                if *proto == Protocol::Tcp {
                    // Its connection's writer goes too, whether or not a close is reported.
                    io.tcp_closed(*source);
                }
            }
            keep
        });
        ufrags.retain(|ufrag, (k, _)| {
            let keep = *k != key;
            if !keep {
                io.notify(io::Notice::ForgetUfrag(ufrag.clone(), io.worker));
            }
            keep
        });
    }

    fn drop_datagram(&self, reason: &str) {
        self.metrics
            .dropped_datagrams
            .with_label_values(&[reason])
            .inc();
    }

    /// One datagram, or one frame of an ICE-TCP connection, from `source`.
    fn receive(&mut self, proto: Protocol, source: SocketAddr, data: &[u8], now: Instant) {
        let Ok(contents) = DatagramRecv::try_from(data) else {
            self.drop_datagram("unrecognised");
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination: self.io.local_of(proto, source),
                contents,
            },
        );
        let route = (proto, source);
        let known = self.routes.get(&route).copied().filter(|(key, side)| {
            self.participants
                .get_mut(key)
                .is_some_and(|p| p.peer(*side).rtc.accepts(&input))
        });
        // A new address gets in only with an ICE check (STUN: first byte 0 to 3, RFC 7983)
        // naming one of our peers' credentials; DTLS or RTP from it is dropped unread.
        let stun = data.first().is_some_and(|b| *b < 4);
        let target = known.or_else(|| stun.then(|| self.stun_target(data, &input)).flatten());
        let Some((key, side)) = target else {
            self.drop_datagram("unknown_source");
            if proto == Protocol::Tcp && known.is_none() {
                // A connection that names none of our peers is closed, not kept open.
                self.io.tcp_closed(source);
                self.io.notify(io::Notice::CloseTcp(source));
            }
            return;
        };
        if known.is_none() {
            self.routes.insert(route, (key, side));
            // The I/O task routes this address here for good now (until it is forgotten).
            self.io
                .notify(io::Notice::Route(proto, source, self.io.worker));
        }
        self.contain(Some(key), "datagram", |engine| {
            let Some(p) = engine.participants.get_mut(&key) else {
                return;
            };
            let peer = p.peer(side);
            let back = side == Side::Subscriber
                && peer.connected
                && now.saturating_duration_since(peer.last_heard) >= TRANSPORT_GAP;
            peer.last_heard = now;
            if let Err(err) = peer.rtc.handle_input(input) {
                tracing::debug!(participant = %p.sid, error = %err, "datagram refused");
                engine
                    .metrics
                    .dropped_datagrams
                    .with_label_values(&["refused"])
                    .inc();
            }
            if back {
                engine.subscriber_back(key);
            }
        });
        // Poll at once: in RTP mode str0m holds one received packet until the next poll, so a
        // second datagram handled before it would overwrite the first.
        self.poll(key, side);
        self.handle_pending();
    }

    fn handle_pending(&mut self) {
        let mut events = std::mem::take(&mut self.pending);
        for (key, side, event) in events.drain(..) {
            // What one participant's connection reported is that participant's step.
            self.contain(Some(key), "event", |engine| engine.event(key, side, event));
        }
        self.pending = events;
    }

    fn mark_dirty(&mut self, key: ParticipantKey, side: Side) {
        if let Some(p) = self.participants.get_mut(&key) {
            let peer = p.peer(side);
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push((key, side));
            }
        }
    }

    /// Poll every peer that was touched until it has nothing more to say, act on its events,
    /// and remove the participants that have to go, until all is quiet.
    fn flush(&mut self) {
        loop {
            if let Some((key, side)) = self.dirty.pop() {
                self.poll(key, side);
                self.handle_pending();
            } else if let Some((key, departure)) = self.doomed.pop() {
                self.contain(Some(key), "remove", |engine| engine.remove(key, departure));
            } else {
                // What the wake-up made goes out together.
                self.io.flush();
                return;
            }
        }
    }

    /// Poll one connection, contained: a panic in it removes its participant only.
    fn poll(&mut self, key: ParticipantKey, side: Side) {
        self.contain(Some(key), "poll", |engine| engine.poll_peer(key, side));
    }

    fn poll_peer(&mut self, key: ParticipantKey, side: Side) {
        #[cfg(test)]
        self.inject_here(key, PanicStep::Poll);
        let now = Instant::now();
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        let peer = p.peer(side);
        peer.dirty = false;
        if let Err(err) = peer.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %err, "peer timeout handling failed");
        }
        let mut immediate = 0;
        loop {
            if !peer.rtc.is_alive() {
                self.doomed
                    .push((key, Departure::Removed(RemovedReason::ConnectionLost)));
                return;
            }
            match peer.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    self.io.send(t.proto, t.destination, t.contents.into());
                }
                Ok(Output::Timeout(at)) => {
                    // str0m's pacer releases one packet, then asks for an immediate timeout
                    // before the next: serve it now rather than on the next tick.
                    let now = Instant::now();
                    if at <= now && immediate < 256 {
                        immediate += 1;
                        if let Err(err) = peer.rtc.handle_input(Input::Timeout(now)) {
                            tracing::debug!(error = %err, "peer timeout handling failed");
                        }
                        continue;
                    }
                    peer.timeout = at;
                    return;
                }
                Ok(Output::Event(event)) => self.pending.push((key, side, event)),
                Err(err) => {
                    tracing::info!(participant = %p.sid, error = %err, "peer connection failed");
                    self.doomed
                        .push((key, Departure::Removed(RemovedReason::ConnectionLost)));
                    return;
                }
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let window = self.config.resume_window;
        let due: Vec<(ParticipantKey, Side)> = self
            .participants
            .iter_mut()
            .flat_map(|(key, p)| {
                let mut v = Vec::new();
                if p.publisher.timeout <= now && !p.publisher.dirty {
                    v.push((*key, Side::Publisher));
                }
                if p.subscriber.timeout <= now && !p.subscriber.dirty {
                    v.push((*key, Side::Subscriber));
                }
                // A media connection down and silent for the whole resume window is gone.
                if p.publisher.lost_for(window, now) || p.subscriber.lost_for(window, now) {
                    self.doomed
                        .push((*key, Departure::Removed(RemovedReason::ConnectionLost)));
                }
                // A dropped signaling connection: wait out the resume window, then leave.
                if p.signal.is_closed() {
                    match p.detached_since {
                        None => p.detached_since = Some(now),
                        Some(at) if now.saturating_duration_since(at) >= window => {
                            self.doomed.push((*key, Departure::Left));
                        }
                        Some(_) => {}
                    }
                }
                v
            })
            .collect();
        for (key, side) in due {
            self.mark_dirty(key, side);
        }
        // Room-wide checks belong to no one participant: a panic in one is logged and counted,
        // and the next tick tries again.
        self.contain(None, "tick", |engine| {
            engine.send_owed_keyframe_requests(now)
        });
        if now.saturating_duration_since(self.last_layer_check) >= simulcast::LAYER_CHECK {
            self.last_layer_check = now;
            self.contain(None, "tick", |engine| engine.check_layers(now));
        }
        if now.saturating_duration_since(self.last_quality_check) >= quality::QUALITY_CHECK {
            self.last_quality_check = now;
            self.contain(None, "tick", |engine| engine.check_quality(now));
        }
        if now.saturating_duration_since(self.last_overload_check) >= overload::OVERLOAD_CHECK {
            self.last_overload_check = now;
            self.contain(None, "tick", |engine| engine.check_overload(now));
        }
        if now.saturating_duration_since(self.last_speaker_check) >= self.config.speaker_interval {
            self.last_speaker_check = now;
            self.contain(None, "tick", |engine| engine.announce_speakers(now));
        }
        let expired: Vec<Arc<str>> = self
            .rooms
            .values()
            .filter(|r| {
                r.empty_since
                    .is_some_and(|at| now.saturating_duration_since(at) >= r.empty_timeout)
            })
            .map(|r| r.name.clone())
            .collect();
        for name in expired {
            self.close_room(&name);
        }
    }

    fn announce_speakers(&mut self, now: Instant) {
        let Engine {
            rooms,
            participants,
            doomed,
            ..
        } = self;
        for room in rooms.values_mut() {
            let speakers = room.speakers.speakers(now);
            room.current_speakers = speakers.iter().map(|(sid, _)| sid.clone()).collect();
            if let Some(slots) = room.bridge.as_mut() {
                let before = slots.clone();
                fill_slots(slots, &speakers, &room.members, participants);
                let changed = (0..slots.len()).filter(|&i| before[i] != slots[i]);
                for i in changed {
                    pause_slot(i, &room.members, participants);
                }
            }
            let mut ids: Vec<String> = speakers.iter().map(|(sid, _)| sid.clone()).collect();
            let slot_of = |sid: &str| -> Option<u32> {
                let slots = room.bridge.as_ref()?;
                let key = room
                    .members
                    .iter()
                    .copied()
                    .find(|k| participants.get(k).is_some_and(|p| p.sid == sid))?;
                slots
                    .iter()
                    .position(|s| s.is_some_and(|(k, _)| k == key))
                    .map(|i| i as u32)
            };
            // In a bridge, a change of slots is news too.
            let slots_now: Vec<Option<u32>> = ids.iter().map(|sid| slot_of(sid)).collect();
            ids.extend(slots_now.iter().map(|s| format!("{s:?}")));
            if ids == room.last_speakers {
                continue;
            }
            room.last_speakers = ids;
            let msg = RtcServerMessage::ActiveSpeakers {
                speakers: speakers
                    .into_iter()
                    .zip(slots_now)
                    .map(|((participant, level), slot)| Speaker {
                        participant,
                        level,
                        slot,
                    })
                    .collect(),
            };
            for key in &room.members {
                if let Some(p) = participants.get(key) {
                    signal(*key, p, msg.clone(), doomed);
                }
            }
        }
    }
}

/// A bridge slot changed hands (or fell silent): each listener's next packet on it continues
/// the numbers and clock where the slot left off, as if from a new source. Without this a
/// speaker who leaves a slot and later takes it back would jump its sequence numbers by every
/// packet not forwarded meanwhile, which listeners count as loss and NACK.
fn pause_slot(
    slot: usize,
    members: &[ParticipantKey],
    participants: &mut HashMap<ParticipantKey, Participant>,
) {
    for key in members {
        let Some(p) = participants.get_mut(key) else {
            continue;
        };
        for down in p.down.iter_mut().filter(|d| d.slot == Some(slot)) {
            if let Some(rewriter) = down.rewriter.as_mut() {
                rewriter.pause();
            }
        }
    }
}

/// Give a voice bridge's slots to the loudest speakers: those already in a slot keep it while
/// they stay among the loudest, newcomers take the slots that are free or whose speaker fell
/// silent. A speaker is heard through its first unmuted audio track.
fn fill_slots(
    slots: &mut [Option<(ParticipantKey, Mid)>],
    speakers: &[(String, f32)],
    members: &[ParticipantKey],
    participants: &HashMap<ParticipantKey, Participant>,
) {
    let loudest: Vec<(ParticipantKey, Mid)> = speakers
        .iter()
        .filter_map(|(sid, _)| {
            let key = members
                .iter()
                .copied()
                .find(|k| participants.get(k).is_some_and(|p| p.sid == *sid))?;
            let p = participants.get(&key)?;
            let track = p
                .tracks
                .iter()
                .find(|t| t.info.kind == TrackKind::Audio && !t.info.muted && !t.admin_muted)?;
            Some((key, track.mid))
        })
        .take(slots.len())
        .collect();
    for slot in slots.iter_mut() {
        if slot.is_some_and(|s| !loudest.contains(&s)) {
            *slot = None;
        }
    }
    for speaker in loudest {
        if slots.contains(&Some(speaker)) {
            continue;
        }
        if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
            *free = Some(speaker);
        }
    }
}

/// The `USERNAME` attribute of a STUN message (RFC 8489 §14.3), if it has one that is UTF-8.
/// Bounds are checked at every step: the message comes from anyone.
pub(crate) fn stun_username(data: &[u8]) -> Option<&str> {
    const USERNAME: u16 = 0x0006;
    let length = usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]));
    let body = data.get(20..20 + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == USERNAME {
            return std::str::from_utf8(value).ok();
        }
        // Values are padded to a multiple of four bytes.
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}
