//! The media thread: owns the UDP socket, every room and every peer connection. Nothing here is
//! shared with another thread, so forwarding takes no lock.

use crate::rewrite::Rewriter;
use crate::speaker::SpeakerDetector;
use crate::{
    sdp, Command, Departure, JoinRequest, Joined, ParticipantKey, PublisherAnswer, RoomEvent,
    RoomSettings, SfuConfig, SfuError, SfuMetrics, SfuResult,
};
use parley_proto::{
    ErrorCode, ParticipantGrants, ParticipantInfo, PeerTarget, PublishTrack, RemovedReason,
    RoomDetail, RoomInfo, RtcServerMessage, Speaker, TrackInfo, TrackKind, TrackMid,
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
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How often peers' timers are checked; str0m asks for its own, this is the coarsest step.
const TICK: Duration = Duration::from_millis(10);
/// Datagrams read per wake-up before the peers they touched are polled.
const READ_BATCH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Publisher,
    Subscriber,
}

struct Peer {
    rtc: Rtc,
    timeout: Instant,
    /// Already queued for polling.
    dirty: bool,
}

impl Peer {
    fn new(now: Instant, candidates: &[SocketAddr]) -> Peer {
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        for addr in candidates {
            match Candidate::host(*addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(err) => tracing::warn!(%addr, error = ?err, "unusable host candidate"),
            }
        }
        Peer {
            rtc,
            timeout: now,
            dirty: false,
        }
    }
}

/// A track a participant publishes.
struct UpTrack {
    info: TrackInfo,
    mid: Mid,
    admin_muted: bool,
    clock_rate: u32,
    last_keyframe_request: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

impl DownState {
    fn mid(self) -> Option<Mid> {
        match self {
            DownState::ToOpen => None,
            DownState::Negotiating(m)
            | DownState::Open(m)
            | DownState::ToStop(m)
            | DownState::NegotiatingStop(m) => Some(m),
        }
    }
}

/// One subscriber's copy of a published track: its m-line and its own numbering.
struct DownTrack {
    info: TrackInfo,
    publisher: ParticipantKey,
    up_mid: Mid,
    state: DownState,
    rewriter: Option<Rewriter>,
    /// Publisher payload type -> this subscriber's payload type for the same codec.
    pt: Option<(str0m::media::Pt, str0m::media::Pt)>,
}

impl DownTrack {
    fn active(&self) -> bool {
        !matches!(
            self.state,
            DownState::ToStop(_) | DownState::NegotiatingStop(_)
        )
    }
}

struct Participant {
    sid: String,
    identity: String,
    name: String,
    room: Arc<str>,
    grants: ParticipantGrants,
    joined_at: i64,
    auto_subscribe: bool,
    signal: mpsc::Sender<RtcServerMessage>,
    publisher: Peer,
    subscriber: Peer,
    tracks: Vec<UpTrack>,
    ssrc_mids: Vec<(Ssrc, Mid)>,
    down: Vec<DownTrack>,
    sub_pending: Option<SdpPendingOffer>,
    /// Egress NACK counts last seen, per subscriber m-line, for the NACK counter.
    nacks_seen: HashMap<Mid, u64>,
}

impl Participant {
    fn peer(&mut self, side: Side) -> &mut Peer {
        match side {
            Side::Publisher => &mut self.publisher,
            Side::Subscriber => &mut self.subscriber,
        }
    }

    fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            sid: self.sid.clone(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            joined_at: self.joined_at,
            tracks: self.tracks.iter().map(|t| t.info.clone()).collect(),
            grants: self.grants.clone(),
        }
    }
}

struct Room {
    sid: String,
    name: Arc<str>,
    channel_id: Option<parley_proto::ChannelId>,
    created_at: i64,
    empty_timeout: Duration,
    max_participants: u32,
    members: Vec<ParticipantKey>,
    empty_since: Option<Instant>,
    speakers: SpeakerDetector<String>,
    last_speakers: Vec<String>,
}

pub(crate) struct Engine {
    config: SfuConfig,
    socket: UdpSocket,
    /// The address datagrams are taken to have arrived on (the first advertised one).
    destination: SocketAddr,
    candidates: Vec<SocketAddr>,
    metrics: SfuMetrics,
    events: mpsc::Sender<RoomEvent>,
    rooms: HashMap<Arc<str>, Room>,
    participants: HashMap<ParticipantKey, Participant>,
    routes: HashMap<SocketAddr, (ParticipantKey, Side)>,
    next_key: u64,
    dirty: Vec<(ParticipantKey, Side)>,
    pending: Vec<(ParticipantKey, Side, Event)>,
    doomed: Vec<(ParticipantKey, Departure)>,
    last_speaker_check: Instant,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn sid(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

fn not_found(what: impl Into<String>) -> SfuError {
    SfuError::new(ErrorCode::NotFound, what)
}

fn not_in_room() -> SfuError {
    not_found("this participant is no longer in the room")
}

/// Queue a signaling message for a participant. A full queue means the client stopped reading:
/// it is removed rather than allowed to hold anything up.
fn signal(
    key: ParticipantKey,
    p: &Participant,
    msg: RtcServerMessage,
    doomed: &mut Vec<(ParticipantKey, Departure)>,
) {
    match p.signal.try_send(msg) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            doomed.push((key, Departure::Removed(RemovedReason::SlowConsumer)))
        }
        Err(TrySendError::Closed(_)) => doomed.push((key, Departure::Left)),
    }
}

fn room_info(room: &Room, participants: &HashMap<ParticipantKey, Participant>) -> RoomInfo {
    let visible = room
        .members
        .iter()
        .filter_map(|k| participants.get(k))
        .filter(|p| !p.grants.hidden);
    let (mut n, mut publishers) = (0, 0);
    for p in visible {
        n += 1;
        if !p.tracks.is_empty() {
            publishers += 1;
        }
    }
    RoomInfo {
        sid: room.sid.clone(),
        name: room.name.to_string(),
        channel_id: room.channel_id,
        created_at: room.created_at,
        empty_timeout_secs: room.empty_timeout.as_secs(),
        max_participants: room.max_participants,
        num_participants: n,
        num_publishers: publishers,
    }
}

fn codec_name(codec: str0m::format::Codec) -> Option<&'static str> {
    use str0m::format::Codec;
    match codec {
        Codec::Opus => Some("opus"),
        Codec::Vp8 => Some("vp8"),
        Codec::H264 => Some("h264"),
        _ => None,
    }
}

fn media_kind(kind: TrackKind) -> MediaKind {
    match kind {
        TrackKind::Audio => MediaKind::Audio,
        TrackKind::Video => MediaKind::Video,
    }
}

impl Engine {
    pub(crate) fn new(
        config: SfuConfig,
        socket: UdpSocket,
        local_addr: SocketAddr,
        candidates: Vec<SocketAddr>,
        metrics: SfuMetrics,
        events: mpsc::Sender<RoomEvent>,
    ) -> Engine {
        Engine {
            config,
            socket,
            destination: candidates.first().copied().unwrap_or(local_addr),
            candidates,
            metrics,
            events,
            rooms: HashMap::new(),
            participants: HashMap::new(),
            routes: HashMap::new(),
            next_key: 1,
            dirty: Vec::new(),
            pending: Vec::new(),
            doomed: Vec::new(),
            last_speaker_check: Instant::now(),
        }
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buf = vec![0u8; 2000];
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
                    Some(command) => self.command(command),
                },
                ready = self.socket.readable() => {
                    if ready.is_ok() {
                        self.read_datagrams(&mut buf);
                    }
                }
                _ = tick.tick() => self.tick(),
            }
            self.flush();
        }
        tracing::info!("media thread stopped");
    }

    // ---- network ---------------------------------------------------------------------------

    fn read_datagrams(&mut self, buf: &mut [u8]) {
        for _ in 0..READ_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, source)) => self.datagram(source, &buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    // ICMP errors from a peer that went away surface here on some systems.
                    tracing::debug!(error = %err, "media socket read failed");
                    return;
                }
            }
        }
    }

    fn drop_datagram(&self, reason: &str) {
        self.metrics
            .dropped_datagrams
            .with_label_values(&[reason])
            .inc();
    }

    fn datagram(&mut self, source: SocketAddr, data: &[u8]) {
        let now = Instant::now();
        let Ok(contents) = DatagramRecv::try_from(data) else {
            self.drop_datagram("unrecognised");
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.destination,
                contents,
            },
        );
        let known = self.routes.get(&source).copied().filter(|(key, side)| {
            self.participants
                .get_mut(key)
                .is_some_and(|p| p.peer(*side).rtc.accepts(&input))
        });
        // A new address gets in only with an ICE check (STUN: first byte 0 to 3, RFC 7983)
        // naming one of our peers' credentials; DTLS or RTP from it is dropped unread.
        let stun = data.first().is_some_and(|b| *b < 4);
        let target = known.or_else(|| {
            if !stun {
                return None;
            }
            self.participants.iter_mut().find_map(|(key, p)| {
                if p.publisher.rtc.accepts(&input) {
                    Some((*key, Side::Publisher))
                } else if p.subscriber.rtc.accepts(&input) {
                    Some((*key, Side::Subscriber))
                } else {
                    None
                }
            })
        });
        let Some((key, side)) = target else {
            self.drop_datagram("unknown_source");
            return;
        };
        if known.is_none() {
            self.routes.insert(source, (key, side));
        }
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        let peer = p.peer(side);
        if let Err(err) = peer.rtc.handle_input(input) {
            tracing::debug!(participant = %p.sid, error = %err, "datagram refused");
            self.metrics
                .dropped_datagrams
                .with_label_values(&["refused"])
                .inc();
        }
        // Poll at once: in RTP mode str0m holds one received packet until the next poll, so a
        // second datagram handled before it would overwrite the first.
        self.poll(key, side);
        self.handle_pending();
    }

    fn handle_pending(&mut self) {
        let mut events = std::mem::take(&mut self.pending);
        for (key, side, event) in events.drain(..) {
            self.event(key, side, event);
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
                self.remove(key, departure);
            } else {
                return;
            }
        }
    }

    fn poll(&mut self, key: ParticipantKey, side: Side) {
        let now = Instant::now();
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        let peer = p.peer(side);
        peer.dirty = false;
        if let Err(err) = peer.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %err, "peer timeout handling failed");
        }
        loop {
            if !peer.rtc.is_alive() {
                self.doomed
                    .push((key, Departure::Removed(RemovedReason::ConnectionLost)));
                return;
            }
            match peer.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    if self.socket.try_send_to(&t.contents, t.destination).is_err() {
                        self.metrics
                            .dropped_datagrams
                            .with_label_values(&["send_failed"])
                            .inc();
                    }
                }
                Ok(Output::Timeout(at)) => {
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
        let due: Vec<(ParticipantKey, Side)> = self
            .participants
            .iter()
            .flat_map(|(key, p)| {
                let mut v = Vec::new();
                if p.publisher.timeout <= now && !p.publisher.dirty {
                    v.push((*key, Side::Publisher));
                }
                if p.subscriber.timeout <= now && !p.subscriber.dirty {
                    v.push((*key, Side::Subscriber));
                }
                if p.signal.is_closed() {
                    self.doomed.push((*key, Departure::Left));
                }
                v
            })
            .collect();
        for (key, side) in due {
            self.mark_dirty(key, side);
        }
        if now.saturating_duration_since(self.last_speaker_check) >= self.config.speaker_interval {
            self.last_speaker_check = now;
            self.announce_speakers(now);
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
            let ids: Vec<String> = speakers.iter().map(|(sid, _)| sid.clone()).collect();
            if ids == room.last_speakers {
                continue;
            }
            room.last_speakers = ids;
            let msg = RtcServerMessage::ActiveSpeakers {
                speakers: speakers
                    .into_iter()
                    .map(|(participant, level)| Speaker { participant, level })
                    .collect(),
            };
            for key in &room.members {
                if let Some(p) = participants.get(key) {
                    signal(*key, p, msg.clone(), doomed);
                }
            }
        }
    }

    // ---- media events ----------------------------------------------------------------------

    fn event(&mut self, key: ParticipantKey, side: Side, event: Event) {
        match (side, event) {
            (_, Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                self.doomed
                    .push((key, Departure::Removed(RemovedReason::ConnectionLost)));
            }
            (Side::Publisher, Event::RtpPacket(packet)) => self.forward(key, packet),
            (Side::Subscriber, Event::KeyframeRequest(req)) => self.keyframe_wanted(key, req),
            (Side::Publisher, Event::MediaIngressStats(stats)) => {
                // Cumulative per stream; count what is new since the last report.
                if let Some(p) = self.participants.get_mut(&key) {
                    let seen = p.nacks_seen.entry(stats.mid).or_insert(0);
                    if stats.nacks > *seen {
                        self.metrics
                            .nacks
                            .with_label_values(&["sent"])
                            .inc_by(stats.nacks - *seen);
                        *seen = stats.nacks;
                    }
                }
            }
            (Side::Subscriber, Event::MediaEgressStats(stats)) => {
                if let Some(p) = self.participants.get_mut(&key) {
                    let seen = p.nacks_seen.entry(stats.mid).or_insert(0);
                    if stats.nacks > *seen {
                        self.metrics
                            .nacks
                            .with_label_values(&["received"])
                            .inc_by(stats.nacks - *seen);
                        *seen = stats.nacks;
                    }
                }
            }
            _ => {}
        }
    }

    /// Hand a publisher's packet to every subscriber of its track.
    fn forward(&mut self, key: ParticipantKey, packet: RtpPacket) {
        let now = Instant::now();
        let Engine {
            rooms,
            participants,
            metrics,
            dirty,
            ..
        } = self;
        let Some(publisher) = participants.get_mut(&key) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let mid = match publisher.ssrc_mids.iter().find(|(s, _)| *s == ssrc) {
            Some((_, mid)) => *mid,
            None => {
                let Some(mid) = publisher
                    .publisher
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| s.mid())
                else {
                    return;
                };
                publisher.ssrc_mids.push((ssrc, mid));
                mid
            }
        };
        metrics.packets.with_label_values(&["in"]).inc();
        metrics
            .bytes
            .with_label_values(&["in"])
            .inc_by(packet.payload.len() as u64);
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
        if track.info.muted || track.admin_muted {
            return;
        }
        // Padding (bandwidth probes) is not forwarded; its sequence numbers are closed up.
        let padding = packet.payload.is_empty();
        let clock_rate = track.clock_rate;
        let video = track.info.kind == TrackKind::Video;
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
        let mut out = 0u64;
        for member in &room.members {
            if *member == key {
                continue;
            }
            let Some(sub) = participants.get_mut(member) else {
                continue;
            };
            let mut wrote = false;
            for down in sub
                .down
                .iter_mut()
                .filter(|d| d.publisher == key && d.up_mid == mid)
            {
                let DownState::Open(out_mid) = down.state else {
                    continue;
                };
                let rewriter = down
                    .rewriter
                    .get_or_insert_with(|| Rewriter::new(clock_rate));
                if padding {
                    rewriter.skip(ssrc_value, *packet.seq_no);
                    continue;
                }
                let Some((seq, time)) =
                    rewriter.rewrite(ssrc_value, *packet.seq_no, packet.header.timestamp, now)
                else {
                    continue;
                };
                if down.pt.map(|(i, _)| i) != Some(in_pt) {
                    down.pt = sub
                        .subscriber
                        .rtc
                        .codec_config()
                        .match_params(params)
                        .map(|p| (in_pt, p.pt()));
                }
                let Some((_, out_pt)) = down.pt else {
                    continue;
                };
                let mut api = sub.subscriber.rtc.direct_api();
                let Some(tx) = api.stream_tx_by_mid(out_mid, None) else {
                    continue;
                };
                tx.write_rtp(
                    RtpWrite::new(
                        out_pt,
                        seq.into(),
                        time,
                        packet.timestamp,
                        packet.payload.clone(),
                    )
                    .marker(packet.header.marker)
                    .ext_vals(forwarded_ext.clone())
                    .nackable(video),
                );
                wrote = true;
                out += 1;
            }
            if wrote && !sub.subscriber.dirty {
                sub.subscriber.dirty = true;
                dirty.push((*member, Side::Subscriber));
            }
        }
        if out > 0 {
            metrics.packets.with_label_values(&["out"]).inc_by(out);
            metrics
                .bytes
                .with_label_values(&["out"])
                .inc_by(out * packet.payload.len() as u64);
        }
        metrics.forward_seconds.observe(
            now.saturating_duration_since(packet.timestamp)
                .as_secs_f64(),
        );
    }

    /// A subscriber lost a picture: ask the publisher for a keyframe, at most once per
    /// `keyframe_interval` per track.
    fn keyframe_wanted(&mut self, key: ParticipantKey, req: KeyframeRequest) {
        let Some(sub) = self.participants.get(&key) else {
            return;
        };
        let Some(down) = sub.down.iter().find(|d| d.state.mid() == Some(req.mid)) else {
            return;
        };
        let (publisher, mid) = (down.publisher, down.up_mid);
        self.request_keyframe(publisher, mid, req.kind);
    }

    fn request_keyframe(&mut self, publisher: ParticipantKey, mid: Mid, kind: KeyframeRequestKind) {
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
        if track
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < self.config.keyframe_interval)
        {
            self.metrics.keyframe_requests_throttled.inc();
            return;
        }
        track.last_keyframe_request = Some(now);
        let mut api = p.publisher.rtc.direct_api();
        if let Some(rx) = api.stream_rx_by_mid(mid, None) {
            rx.request_keyframe(kind);
            self.metrics.keyframe_requests.inc();
        }
        self.mark_dirty(publisher, Side::Publisher);
    }

    // ---- commands --------------------------------------------------------------------------

    fn command(&mut self, command: Command) {
        match command {
            Command::Join {
                request,
                signal,
                reply,
            } => {
                let _ = reply.send(self.join(request, signal));
            }
            Command::Offer {
                key,
                sdp,
                tracks,
                reply,
            } => {
                let _ = reply.send(self.offer(key, &sdp, tracks));
            }
            Command::Answer { key, sdp, reply } => {
                let _ = reply.send(self.answer(key, &sdp));
            }
            Command::Candidate {
                key,
                target,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.candidate(key, target, &candidate));
            }
            Command::Subscribe {
                key,
                tracks,
                subscribe,
                reply,
            } => {
                let _ = reply.send(self.subscribe(key, &tracks, subscribe));
            }
            Command::Mute {
                key,
                track,
                muted,
                reply,
            } => {
                let _ = reply.send(self.mute(key, &track, muted, false).map(|_| ()));
            }
            Command::Unpublish { key, track, reply } => {
                let _ = reply.send(self.unpublish(key, &track));
            }
            Command::Leave { key } => self.doomed.push((key, Departure::Left)),
            Command::CreateRoom { settings, reply } => {
                let _ = reply.send(Ok(self.create_room(settings)));
            }
            Command::ListRooms { reply } => {
                let mut rooms: Vec<RoomInfo> = self
                    .rooms
                    .values()
                    .map(|r| room_info(r, &self.participants))
                    .collect();
                rooms.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(Ok(rooms));
            }
            Command::GetRoom { name, reply } => {
                let _ = reply.send(self.room_detail(&name));
            }
            Command::EndRoom { name, reply } => {
                let _ = reply.send(self.end_room(&name));
            }
            Command::RemoveParticipant {
                room,
                identity,
                reply,
            } => {
                let result = self.by_identity(&room, &identity).map(|key| {
                    self.doomed
                        .push((key, Departure::Removed(RemovedReason::RemovedByAdmin)));
                });
                let _ = reply.send(result);
            }
            Command::AdminMute {
                room,
                identity,
                track,
                muted,
                reply,
            } => {
                let result = self
                    .by_identity(&room, &identity)
                    .and_then(|key| self.mute(key, &track, muted, true));
                let _ = reply.send(result);
            }
            Command::UpdateGrants {
                room,
                identity,
                grants,
                reply,
            } => {
                let result = self
                    .by_identity(&room, &identity)
                    .and_then(|key| self.update_grants(key, grants));
                let _ = reply.send(result);
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn by_identity(&self, room: &str, identity: &str) -> SfuResult<ParticipantKey> {
        let room = self
            .rooms
            .get(room)
            .ok_or_else(|| not_found(format!("no room `{room}` is open")))?;
        room.members
            .iter()
            .copied()
            .find(|k| {
                self.participants
                    .get(k)
                    .is_some_and(|p| p.identity == identity)
            })
            .ok_or_else(|| not_found(format!("no participant `{identity}` in this room")))
    }

    fn emit(
        &self,
        event: &'static str,
        room: &Room,
        participant: Option<ParticipantInfo>,
        track: Option<TrackInfo>,
    ) {
        let event = RoomEvent {
            event,
            room: room_info(room, &self.participants),
            participant,
            track,
        };
        if self.events.try_send(event).is_err() {
            self.metrics.dropped_room_events.inc();
        }
    }

    fn create_room(&mut self, settings: RoomSettings) -> RoomInfo {
        if let Some(room) = self.rooms.get(settings.name.as_str()) {
            return room_info(room, &self.participants);
        }
        let name: Arc<str> = settings.name.into();
        let room = Room {
            sid: sid("RM"),
            name: name.clone(),
            channel_id: settings.channel_id,
            created_at: now_ms(),
            empty_timeout: settings.empty_timeout.unwrap_or(self.config.empty_timeout),
            max_participants: settings
                .max_participants
                .unwrap_or(self.config.max_participants),
            members: Vec::new(),
            empty_since: Some(Instant::now()),
            speakers: SpeakerDetector::new(),
            last_speakers: Vec::new(),
        };
        self.metrics.rooms.inc();
        self.emit("room_started", &room, None, None);
        let info = room_info(&room, &self.participants);
        tracing::info!(room = %name, sid = %room.sid, "room opened");
        self.rooms.insert(name, room);
        info
    }

    fn close_room(&mut self, name: &str) {
        if let Some(room) = self.rooms.remove(name) {
            self.metrics.rooms.dec();
            self.emit("room_finished", &room, None, None);
            tracing::info!(room = %name, sid = %room.sid, "room closed");
        }
    }

    fn room_detail(&self, name: &str) -> SfuResult<RoomDetail> {
        let room = self
            .rooms
            .get(name)
            .ok_or_else(|| not_found(format!("no room `{name}` is open")))?;
        Ok(RoomDetail {
            room: room_info(room, &self.participants),
            participants: room
                .members
                .iter()
                .filter_map(|k| self.participants.get(k))
                .filter(|p| !p.grants.hidden)
                .map(Participant::info)
                .collect(),
        })
    }

    fn end_room(&mut self, name: &str) -> SfuResult<()> {
        let room = self
            .rooms
            .get(name)
            .ok_or_else(|| not_found(format!("no room `{name}` is open")))?;
        let members = room.members.clone();
        for key in members {
            self.remove(key, Departure::Removed(RemovedReason::RoomEnded));
        }
        self.close_room(name);
        Ok(())
    }

    fn join(
        &mut self,
        request: JoinRequest,
        signal_tx: mpsc::Sender<RtcServerMessage>,
    ) -> SfuResult<Joined> {
        if !self.rooms.contains_key(request.room.as_str()) {
            if !request.may_create {
                return Err(not_found(format!(
                    "no room `{}` is open, and this token may not create one",
                    request.room
                )));
            }
            self.create_room(RoomSettings {
                name: request.room.clone(),
                channel_id: None,
                empty_timeout: None,
                max_participants: None,
            });
        }
        // The same identity joining again replaces the earlier connection.
        if let Ok(previous) = self.by_identity(&request.room, &request.identity) {
            self.remove(
                previous,
                Departure::Removed(RemovedReason::DuplicateIdentity),
            );
        }
        let room = self
            .rooms
            .get(request.room.as_str())
            .ok_or_else(|| not_found("the room closed"))?;
        let visible = room_info(room, &self.participants).num_participants;
        if !request.grants.hidden && room.max_participants > 0 && visible >= room.max_participants {
            return Err(SfuError::new(
                ErrorCode::RoomFull,
                format!("room `{}` has its {} participants", request.room, visible),
            ));
        }
        let now = Instant::now();
        let key = ParticipantKey(self.next_key);
        self.next_key += 1;
        let participant = Participant {
            sid: sid("PA"),
            identity: request.identity,
            name: request.name,
            room: room.name.clone(),
            grants: request.grants,
            joined_at: now_ms(),
            auto_subscribe: request.auto_subscribe,
            signal: signal_tx,
            publisher: Peer::new(now, &self.candidates),
            subscriber: Peer::new(now, &self.candidates),
            tracks: Vec::new(),
            ssrc_mids: Vec::new(),
            down: Vec::new(),
            sub_pending: None,
            nacks_seen: HashMap::new(),
        };
        let info = participant.info();
        let hidden = participant.grants.hidden;
        let subscribe_all = participant.auto_subscribe && participant.grants.can_subscribe;
        let room_name = participant.room.clone();
        tracing::info!(room = %room_name, participant = %info.sid, identity = %info.identity, "participant joined");
        self.participants.insert(key, participant);
        self.metrics.participants.inc();

        let room = self
            .rooms
            .get_mut(&room_name)
            .ok_or_else(|| not_found("the room closed"))?;
        let others: Vec<ParticipantKey> = room.members.clone();
        room.members.push(key);
        room.empty_since = None;

        let mut existing = Vec::new();
        let mut downs = Vec::new();
        for other in &others {
            let Some(p) = self.participants.get(other) else {
                continue;
            };
            if !p.grants.hidden {
                existing.push(p.info());
            }
            // Hidden participants (recorders) are announced to nobody.
            if !hidden {
                signal(
                    *other,
                    p,
                    RtcServerMessage::ParticipantJoined {
                        participant: info.clone(),
                    },
                    &mut self.doomed,
                );
            }
            if subscribe_all {
                for t in &p.tracks {
                    downs.push(DownTrack {
                        info: t.info.clone(),
                        publisher: *other,
                        up_mid: t.mid,
                        state: DownState::ToOpen,
                        rewriter: None,
                        pt: None,
                    });
                }
            }
        }
        if let Some(p) = self.participants.get_mut(&key) {
            p.down = downs;
        }
        let room = self
            .rooms
            .get(&room_name)
            .ok_or_else(|| not_found("the room closed"))?;
        if !hidden {
            self.emit("participant_joined", room, Some(info.clone()), None);
        }
        let room_info = room_info(room, &self.participants);
        self.negotiate(key);
        Ok(Joined {
            key,
            room: room_info,
            participant: info,
            participants: existing,
        })
    }

    /// Send the subscriber connection an offer for every track added or removed since the last
    /// one, unless an offer is still waiting for its answer.
    fn negotiate(&mut self, key: ParticipantKey) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if p.sub_pending.is_some() {
            return;
        }
        let mut api = p.subscriber.rtc.sdp_api();
        let mut added = Vec::new();
        for down in &mut p.down {
            match down.state {
                DownState::ToOpen => {
                    let mid = api.add_media(
                        media_kind(down.info.kind),
                        Direction::SendOnly,
                        Some(down.info.participant.clone()),
                        Some(down.info.sid.clone()),
                        None,
                    );
                    down.state = DownState::Negotiating(mid);
                    added.push(TrackMid {
                        mid: mid.to_string(),
                        track: down.info.clone(),
                    });
                }
                DownState::ToStop(mid) => {
                    api.stop_media(mid);
                    down.state = DownState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        if !api.has_changes() {
            return;
        }
        let Some((offer, pending)) = api.apply() else {
            return;
        };
        p.sub_pending = Some(pending);
        let msg = RtcServerMessage::Offer {
            sdp: offer.to_sdp_string(),
            tracks: added,
        };
        signal(key, p, msg, &mut self.doomed);
        self.mark_dirty(key, Side::Subscriber);
    }

    fn offer(
        &mut self,
        key: ParticipantKey,
        sdp_text: &str,
        tracks: Vec<PublishTrack>,
    ) -> SfuResult<PublisherAnswer> {
        let max_tracks = self.config.max_tracks_per_participant;
        let sections =
            sdp::sections(sdp_text).map_err(|e| SfuError::new(ErrorCode::InvalidSdp, e))?;
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        for (i, t) in tracks.iter().enumerate() {
            if tracks[..i].iter().any(|o| o.mid == t.mid) {
                return Err(SfuError::new(
                    ErrorCode::InvalidInput,
                    format!("`tracks` names mid `{}` twice", t.mid),
                ));
            }
            let section = sections.iter().find(|s| s.mid == t.mid).ok_or_else(|| {
                SfuError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "`tracks` names mid `{}`, which the offer does not have",
                        t.mid
                    ),
                )
            })?;
            if section.kind != Some(t.source.kind()) {
                return Err(SfuError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "mid `{}` is not {} but `{}` is an {} source",
                        t.mid,
                        t.source.kind().as_str(),
                        t.source.as_str(),
                        t.source.kind().as_str()
                    ),
                ));
            }
            if !p.grants.may_publish(t.source) {
                return Err(SfuError::new(
                    ErrorCode::InsufficientGrant,
                    format!("this token may not publish `{}`", t.source.as_str()),
                ));
            }
        }
        let sending: Vec<&sdp::Section> = sections
            .iter()
            .filter(|s| s.kind.is_some() && s.sends)
            .collect();
        for s in &sending {
            if !tracks.iter().any(|t| t.mid == s.mid) {
                return Err(SfuError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "m-line `{}` sends media but `tracks` does not say its source",
                        s.mid
                    ),
                ));
            }
            if !s.has_forwarded_codec() {
                return Err(SfuError::new(
                    ErrorCode::NoUsableCodec,
                    format!(
                        "m-line `{}` offers only [{}]; Parley forwards Opus, VP8 and H.264",
                        s.mid,
                        s.codecs.join(", ")
                    ),
                ));
            }
        }
        if sending.len() > max_tracks {
            return Err(SfuError::new(
                ErrorCode::TooManyTracks,
                format!(
                    "the offer sends {} tracks; a participant may publish {max_tracks}",
                    sending.len()
                ),
            ));
        }
        let offer = SdpOffer::from_sdp_string(sdp_text).map_err(|e| {
            SfuError::new(ErrorCode::InvalidSdp, format!("SDP not understood: {e}"))
        })?;
        let answer = p
            .publisher
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::new(ErrorCode::InvalidSdp, format!("offer refused: {e}")))?;

        // Tracks whose m-line stopped sending are unpublished; new ones are published.
        let gone: Vec<String> = p
            .tracks
            .iter()
            .filter(|t| !tracks.iter().any(|n| n.mid == t.mid.to_string()))
            .map(|t| t.info.sid.clone())
            .collect();
        let mut added = Vec::new();
        for t in &tracks {
            let mid: Mid = t.mid.as_str().into();
            if p.tracks.iter().any(|u| u.mid == mid) {
                continue;
            }
            let info = TrackInfo {
                sid: sid("TR"),
                participant: p.sid.clone(),
                kind: t.source.kind(),
                source: t.source,
                name: t.name.clone(),
                muted: t.muted,
                codec: None,
            };
            p.tracks.push(UpTrack {
                info: info.clone(),
                mid,
                admin_muted: false,
                clock_rate: match t.source.kind() {
                    TrackKind::Audio => 48_000,
                    TrackKind::Video => 90_000,
                },
                last_keyframe_request: None,
            });
            added.push(info);
        }
        let reply = PublisherAnswer {
            sdp: answer.to_sdp_string(),
            tracks: p
                .tracks
                .iter()
                .filter(|t| !gone.contains(&t.info.sid))
                .map(|t| TrackMid {
                    mid: t.mid.to_string(),
                    track: t.info.clone(),
                })
                .collect(),
        };
        self.mark_dirty(key, Side::Publisher);
        for sid in gone {
            self.unpublish(key, &sid)?;
        }
        for info in added {
            self.published(key, info);
        }
        Ok(reply)
    }

    /// Tell the room about a new track and open it to every auto-subscriber.
    fn published(&mut self, key: ParticipantKey, info: TrackInfo) {
        self.metrics
            .tracks
            .with_label_values(&[info.kind.as_str(), info.source.as_str()])
            .inc();
        let Some(p) = self.participants.get(&key) else {
            return;
        };
        let (room_name, hidden) = (p.room.clone(), p.grants.hidden);
        let mid = p
            .tracks
            .iter()
            .find(|t| t.info.sid == info.sid)
            .map(|t| t.mid);
        let Some(mid) = mid else {
            return;
        };
        let members = self
            .rooms
            .get(&room_name)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        let mut to_negotiate = Vec::new();
        for member in members {
            if member == key {
                continue;
            }
            let Some(sub) = self.participants.get_mut(&member) else {
                continue;
            };
            if !hidden {
                signal(
                    member,
                    sub,
                    RtcServerMessage::TrackPublished {
                        track: info.clone(),
                    },
                    &mut self.doomed,
                );
            }
            if sub.auto_subscribe && sub.grants.can_subscribe {
                sub.down.push(DownTrack {
                    info: info.clone(),
                    publisher: key,
                    up_mid: mid,
                    state: DownState::ToOpen,
                    rewriter: None,
                    pt: None,
                });
                to_negotiate.push(member);
            }
        }
        for member in to_negotiate {
            self.negotiate(member);
        }
        if let Some(room) = self.rooms.get(&room_name) {
            let participant = self.participants.get(&key).map(Participant::info);
            self.emit("track_published", room, participant, Some(info));
        }
    }

    fn unpublish(&mut self, key: ParticipantKey, track_sid: &str) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let index = p
            .tracks
            .iter()
            .position(|t| t.info.sid == track_sid)
            .ok_or_else(|| not_found(format!("no track `{track_sid}` of yours")))?;
        let track = p.tracks.remove(index);
        let room_name = p.room.clone();
        let participant = p.info();
        self.metrics
            .tracks
            .with_label_values(&[track.info.kind.as_str(), track.info.source.as_str()])
            .dec();
        self.stop_down_tracks(&room_name, key, Some(track.mid));
        self.broadcast(
            &room_name,
            Some(key),
            RtcServerMessage::TrackUnpublished {
                participant: participant.sid.clone(),
                track: track.info.sid.clone(),
            },
        );
        if let Some(room) = self.rooms.get(&room_name) {
            self.emit(
                "track_unpublished",
                room,
                Some(participant),
                Some(track.info),
            );
        }
        Ok(())
    }

    /// Close every subscriber's copy of a publisher's track (all its tracks with `None`).
    fn stop_down_tracks(&mut self, room: &str, publisher: ParticipantKey, mid: Option<Mid>) {
        let members = self
            .rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members {
            let Some(sub) = self.participants.get_mut(&member) else {
                continue;
            };
            let mut changed = false;
            sub.down.retain_mut(|d| {
                if d.publisher != publisher || mid.is_some_and(|m| m != d.up_mid) {
                    return true;
                }
                match d.state {
                    DownState::ToOpen => {
                        changed = true;
                        false
                    }
                    DownState::Open(m) => {
                        d.state = DownState::ToStop(m);
                        changed = true;
                        true
                    }
                    DownState::Negotiating(m) => {
                        // Stopped once the pending offer is answered.
                        d.state = DownState::ToStop(m);
                        changed = true;
                        true
                    }
                    _ => true,
                }
            });
            if changed {
                self.negotiate(member);
            }
        }
    }

    /// Send a message to every member of a room except one.
    fn broadcast(&mut self, room: &str, except: Option<ParticipantKey>, msg: RtcServerMessage) {
        let Engine {
            rooms,
            participants,
            doomed,
            ..
        } = self;
        let Some(room) = rooms.get(room) else {
            return;
        };
        for member in &room.members {
            if Some(*member) == except {
                continue;
            }
            if let Some(p) = participants.get(member) {
                signal(*member, p, msg.clone(), doomed);
            }
        }
    }

    fn answer(&mut self, key: ParticipantKey, sdp_text: &str) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let Some(pending) = p.sub_pending.take() else {
            return Err(SfuError::new(
                ErrorCode::InvalidInput,
                "no subscriber offer is waiting for an answer",
            ));
        };
        let answer = match SdpAnswer::from_sdp_string(sdp_text) {
            Ok(a) => a,
            Err(e) => {
                p.sub_pending = Some(pending);
                return Err(SfuError::new(
                    ErrorCode::InvalidSdp,
                    format!("SDP not understood: {e}"),
                ));
            }
        };
        if let Err(e) = p.subscriber.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is spent; offer its tracks again.
            for d in &mut p.down {
                match d.state {
                    DownState::Negotiating(_) => d.state = DownState::ToOpen,
                    DownState::NegotiatingStop(m) => d.state = DownState::ToStop(m),
                    _ => {}
                }
            }
            self.negotiate(key);
            return Err(SfuError::new(
                ErrorCode::InvalidSdp,
                format!("answer refused: {e}; a new offer follows"),
            ));
        }
        let mut wants_keyframe = Vec::new();
        p.down.retain_mut(|d| match d.state {
            DownState::Negotiating(m) => {
                d.state = DownState::Open(m);
                if d.info.kind == TrackKind::Video {
                    wants_keyframe.push((d.publisher, d.up_mid));
                }
                true
            }
            DownState::NegotiatingStop(_) => false,
            _ => true,
        });
        self.mark_dirty(key, Side::Subscriber);
        for (publisher, mid) in wants_keyframe {
            self.request_keyframe(publisher, mid, KeyframeRequestKind::Pli);
        }
        self.negotiate(key);
        Ok(())
    }

    fn candidate(&mut self, key: ParticipantKey, target: PeerTarget, line: &str) -> SfuResult<()> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let candidate = Candidate::from_sdp_string(line.strip_prefix("a=").unwrap_or(line))
            .map_err(|e| {
                SfuError::new(
                    ErrorCode::InvalidInput,
                    format!("candidate not understood: {e}"),
                )
            })?;
        let side = match target {
            PeerTarget::Publisher => Side::Publisher,
            PeerTarget::Subscriber => Side::Subscriber,
        };
        p.peer(side).rtc.add_remote_candidate(candidate);
        self.mark_dirty(key, side);
        Ok(())
    }

    fn subscribe(
        &mut self,
        key: ParticipantKey,
        tracks: &[String],
        subscribe: bool,
    ) -> SfuResult<()> {
        let p = self.participants.get(&key).ok_or_else(not_in_room)?;
        if subscribe && !p.grants.can_subscribe {
            return Err(SfuError::new(
                ErrorCode::InsufficientGrant,
                "this token may not subscribe",
            ));
        }
        let room = self.rooms.get(&p.room).ok_or_else(not_in_room)?;
        let mut found = Vec::new();
        for sid in tracks {
            let hit = room.members.iter().filter(|m| **m != key).find_map(|m| {
                let other = self.participants.get(m)?;
                let t = other.tracks.iter().find(|t| &t.info.sid == sid)?;
                Some((*m, t.mid, t.info.clone()))
            });
            found.push(hit.ok_or_else(|| not_found(format!("no track `{sid}` in this room")))?);
        }
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        for (publisher, mid, info) in found {
            let existing = p
                .down
                .iter_mut()
                .find(|d| d.publisher == publisher && d.up_mid == mid && d.active());
            match (subscribe, existing) {
                (true, Some(_)) => {}
                (true, None) => p.down.push(DownTrack {
                    info,
                    publisher,
                    up_mid: mid,
                    state: DownState::ToOpen,
                    rewriter: None,
                    pt: None,
                }),
                (false, Some(d)) => match d.state {
                    DownState::Open(m) | DownState::Negotiating(m) => {
                        d.state = DownState::ToStop(m)
                    }
                    _ => {}
                },
                (false, None) => {}
            }
            if !subscribe {
                p.down.retain(|d| {
                    !(d.publisher == publisher && d.up_mid == mid && d.state == DownState::ToOpen)
                });
            }
        }
        self.negotiate(key);
        Ok(())
    }

    fn mute(
        &mut self,
        key: ParticipantKey,
        track_sid: &str,
        muted: bool,
        by_admin: bool,
    ) -> SfuResult<TrackInfo> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        let track = p
            .tracks
            .iter_mut()
            .find(|t| t.info.sid == track_sid)
            .ok_or_else(|| not_found(format!("no track `{track_sid}`")))?;
        track.info.muted = muted;
        if by_admin || !muted {
            // A participant may unmute itself after an admin muted it; only a grant change
            // keeps it from publishing.
            track.admin_muted = by_admin && muted;
        }
        let info = track.info.clone();
        let up_mid = track.mid;
        let (room, sid) = (p.room.clone(), p.sid.clone());
        // Subscribers' numbering resumes without a gap after the silence.
        let members = self
            .rooms
            .get(&room)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members {
            if let Some(sub) = self.participants.get_mut(&member) {
                for d in sub
                    .down
                    .iter_mut()
                    .filter(|d| d.publisher == key && d.up_mid == up_mid)
                {
                    if let Some(r) = d.rewriter.as_mut() {
                        r.pause();
                    }
                }
            }
        }
        if !muted {
            self.request_keyframe(key, up_mid, KeyframeRequestKind::Pli);
        }
        let msg = RtcServerMessage::TrackMuted {
            participant: sid,
            track: info.sid.clone(),
            muted,
            by_admin,
        };
        self.broadcast(&room, if by_admin { None } else { Some(key) }, msg);
        if muted {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.speakers.forget(&info.participant);
            }
        }
        Ok(info)
    }

    fn update_grants(
        &mut self,
        key: ParticipantKey,
        grants: ParticipantGrants,
    ) -> SfuResult<ParticipantInfo> {
        let p = self.participants.get_mut(&key).ok_or_else(not_in_room)?;
        p.grants = grants;
        let not_allowed: Vec<String> = p
            .tracks
            .iter()
            .filter(|t| !p.grants.may_publish(t.info.source))
            .map(|t| t.info.sid.clone())
            .collect();
        let stop_subscriptions = !p.grants.can_subscribe;
        if stop_subscriptions {
            for d in &mut p.down {
                if let DownState::Open(m) | DownState::Negotiating(m) = d.state {
                    d.state = DownState::ToStop(m);
                }
            }
            p.down.retain(|d| d.state != DownState::ToOpen);
        }
        for sid in not_allowed {
            self.unpublish(key, &sid)?;
        }
        if stop_subscriptions {
            self.negotiate(key);
        }
        let p = self.participants.get(&key).ok_or_else(not_in_room)?;
        let info = p.info();
        let room = p.room.clone();
        self.broadcast(
            &room,
            None,
            RtcServerMessage::ParticipantUpdated {
                participant: info.clone(),
            },
        );
        Ok(info)
    }

    /// Take a participant out of its room, telling it why (unless it left by itself) and
    /// telling the others it is gone.
    fn remove(&mut self, key: ParticipantKey, departure: Departure) {
        let Some(mut p) = self.participants.remove(&key) else {
            return;
        };
        if let Departure::Removed(reason) = departure {
            let message = match reason {
                RemovedReason::RemovedByAdmin => "a room admin removed you from the meeting",
                RemovedReason::RoomEnded => "the meeting was ended",
                RemovedReason::DuplicateIdentity => "you joined this meeting again elsewhere",
                RemovedReason::ConnectionLost => "the media connection was lost",
                RemovedReason::ServerShutdown => "the server is shutting down",
                RemovedReason::SlowConsumer => "signaling messages were not read in time",
            };
            let _ = p.signal.try_send(RtcServerMessage::Removed {
                reason,
                message: message.into(),
            });
        }
        tracing::info!(room = %p.room, participant = %p.sid, ?departure, "participant left");
        p.publisher.rtc.disconnect();
        p.subscriber.rtc.disconnect();
        self.metrics.participants.dec();
        for t in &p.tracks {
            self.metrics
                .tracks
                .with_label_values(&[t.info.kind.as_str(), t.info.source.as_str()])
                .dec();
        }
        self.routes.retain(|_, (k, _)| *k != key);
        self.dirty.retain(|(k, _)| *k != key);
        let room_name = p.room.clone();
        if let Some(room) = self.rooms.get_mut(&room_name) {
            room.members.retain(|k| *k != key);
            room.speakers.forget(&p.sid);
            if room.members.is_empty() {
                room.empty_since = Some(Instant::now());
            }
        }
        self.stop_down_tracks(&room_name, key, None);
        let info = p.info();
        if !p.grants.hidden {
            self.broadcast(
                &room_name,
                None,
                RtcServerMessage::ParticipantLeft {
                    participant: info.sid.clone(),
                    identity: info.identity.clone(),
                },
            );
        }
        if let Some(room) = self.rooms.get(&room_name) {
            for t in &p.tracks {
                self.emit(
                    "track_unpublished",
                    room,
                    Some(info.clone()),
                    Some(t.info.clone()),
                );
            }
            if !p.grants.hidden {
                self.emit("participant_left", room, Some(info), None);
            }
        }
    }
}
