//! What a media worker keeps: peers, tracks, participants, rooms, and small helpers.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Side {
    Publisher,
    Subscriber,
}

pub(super) struct Peer {
    pub(super) rtc: Rtc,
    pub(super) timeout: Instant,
    /// Already queued for polling.
    pub(super) dirty: bool,
    /// ICE reports the connection disconnected. It may come back; until then the connection
    /// counts as lost once the client has not been heard for a while (see `Peer::lost_for`).
    pub(super) ice_down: bool,
    /// When a datagram last came from the client on this connection.
    pub(super) last_heard: Instant,
    /// ICE connected at least once (a connection never used stays quiet).
    pub(super) connected: bool,
    /// DTLS is done and SRTP keyed (str0m's `Event::Connected`): until then nothing is written
    /// to the connection, since str0m would queue it without bound until it can send.
    pub(super) media_ready: bool,
    /// The local ICE username fragment this connection is indexed by in `Engine::ufrags`.
    pub(super) ufrag: String,
}

impl Peer {
    pub(super) fn new(
        now: Instant,
        candidates: &[SocketAddr],
        tcp_candidates: &[SocketAddr],
        side: Side,
    ) -> Peer {
        let mut builder = Rtc::builder()
            .set_rtp_mode(true)
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_stats_interval(Some(Duration::from_secs(1)));
        if side == Side::Subscriber {
            // What the subscriber can receive decides which simulcast layers it gets.
            builder = builder.enable_bwe(Some(str0m::bwe::Bitrate::bps(INITIAL_BANDWIDTH)));
        }
        let mut rtc = builder.build(now);
        for addr in candidates {
            match Candidate::host(*addr, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(err) => tracing::warn!(%addr, error = ?err, "unusable host candidate"),
            }
        }
        // ICE-TCP: clients connect to us (RFC 6544 passive), for networks that block UDP.
        for addr in tcp_candidates {
            match Candidate::builder()
                .tcp()
                .host(*addr)
                .tcptype(str0m::net::TcpType::Passive)
                .build()
            {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(err) => tracing::warn!(%addr, error = ?err, "unusable TCP host candidate"),
            }
        }
        Peer {
            rtc,
            timeout: now,
            dirty: false,
            ice_down: false,
            last_heard: now,
            connected: false,
            media_ready: false,
            ufrag: String::new(),
        }
    }
}

/// A subscriber connection silent this long was cut off (a browser receiving video sends
/// feedback many times a second, and ICE checks every few seconds): when it is heard again, its
/// pictures need keyframes (`Engine::subscriber_back`).
pub(super) const TRANSPORT_GAP: Duration = Duration::from_secs(2);

/// The bandwidth a subscriber connection is assumed to have until TWCC feedback says more.
pub(super) const INITIAL_BANDWIDTH: u64 = 1_000_000;

impl Peer {
    /// Whether this connection is lost and has been for at least `how_long`: ICE gave it up
    /// and nothing came from the client since. Datagrams still arriving (a client that keeps
    /// sending over a pair ICE-lite pruned) keep it alive.
    pub(super) fn lost_for(&self, how_long: Duration, now: Instant) -> bool {
        self.ice_down && now.saturating_duration_since(self.last_heard) >= how_long
    }
}

/// A track a participant publishes.
pub(super) struct UpTrack {
    pub(super) info: TrackInfo,
    pub(super) mid: Mid,
    pub(super) admin_muted: bool,
    pub(super) clock_rate: u32,
    pub(super) last_keyframe_request: Option<Instant>,
    /// A keyframe request the throttle held back: sent once the interval has passed, unless a
    /// keyframe comes first. A subscriber that joins just after another waits at most one
    /// interval for its first picture instead of until it asks again.
    pub(super) keyframe_owed: Option<KeyframeRequestKind>,
    /// A simulcast track's layers, lowest first; empty for one encoding.
    pub(super) layers: Vec<UpLayer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DownState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

impl DownState {
    pub(super) fn mid(self) -> Option<Mid> {
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
pub(super) struct DownTrack {
    pub(super) info: TrackInfo,
    pub(super) publisher: ParticipantKey,
    pub(super) up_mid: Mid,
    pub(super) state: DownState,
    pub(super) rewriter: Option<Rewriter>,
    /// Publisher payload type -> this subscriber's payload type for the same codec.
    pub(super) pt: Option<(str0m::media::Pt, str0m::media::Pt)>,
    /// In a voice bridge: the speaker slot this m-line carries (then `publisher` is
    /// `NO_PUBLISHER`: whoever fills the slot).
    pub(super) slot: Option<usize>,
    /// Which layer of a simulcast track this subscription carries.
    pub(super) sim: Option<SimDown>,
    /// Packets were dropped (a backlog in the subscriber's send queue, or a worker shedding
    /// load): a video picture needs a keyframe once they flow again.
    pub(super) shed: bool,
    /// Video withheld while its worker shed load: nothing is forwarded before a keyframe.
    pub(super) awaits_keyframe: bool,
}

/// Packets waiting in one subscription's send queue in str0m (as its pacer last saw it) beyond
/// which new ones are dropped rather than queued: about 5 s of audio, or 1 s of 720p video. A
/// subscriber whose link or worker cannot keep up loses packets instead of the server growing
/// without bound.
pub(super) const SUBSCRIBER_QUEUE_LIMIT: usize = 256;

/// Never a participant's key (they start at 1): the publisher of a bridge slot.
pub(super) const NO_PUBLISHER: ParticipantKey = ParticipantKey(0);

impl DownTrack {
    /// A subscription to one publisher's track.
    pub(super) fn of(info: TrackInfo, publisher: ParticipantKey, up_mid: Mid) -> DownTrack {
        DownTrack {
            sim: (!info.layers.is_empty()).then(|| SimDown::new(info.layers.len())),
            info,
            publisher,
            up_mid,
            state: DownState::ToOpen,
            rewriter: None,
            pt: None,
            slot: None,
            shed: false,
            awaits_keyframe: false,
        }
    }

    /// A voice bridge's speaker slot.
    pub(super) fn slot(index: usize) -> DownTrack {
        let info = TrackInfo {
            sid: format!("slot:{index}"),
            participant: String::new(),
            kind: TrackKind::Audio,
            source: parley_proto::TrackSource::Microphone,
            name: format!("speaker {}", index + 1),
            muted: false,
            codec: Some("opus".into()),
            layers: Vec::new(),
        };
        DownTrack {
            slot: Some(index),
            ..DownTrack::of(info, NO_PUBLISHER, Mid::from("slot"))
        }
    }

    pub(super) fn active(&self) -> bool {
        !matches!(
            self.state,
            DownState::ToStop(_) | DownState::NegotiatingStop(_)
        )
    }
}

pub(super) struct Participant {
    pub(super) sid: String,
    pub(super) identity: String,
    pub(super) name: String,
    pub(super) room: Arc<str>,
    pub(super) grants: ParticipantGrants,
    pub(super) joined_at: i64,
    pub(super) auto_subscribe: bool,
    pub(super) signal: mpsc::Sender<RtcServerMessage>,
    pub(super) publisher: Peer,
    pub(super) subscriber: Peer,
    pub(super) tracks: Vec<UpTrack>,
    /// Each incoming SSRC's m-line and, for simulcast, layer index.
    pub(super) ssrc_mids: Vec<(Ssrc, Mid, Option<usize>)>,
    pub(super) down: Vec<DownTrack>,
    pub(super) sub_pending: Option<SdpPendingOffer>,
    /// The subscriber offer waiting for its answer, to send again after a resume.
    pub(super) pending_offer: Option<RtcServerMessage>,
    /// The secret that lets a new signaling connection take this participant over.
    pub(super) resume_token: String,
    /// Since when its signaling connection is gone (media keeps flowing meanwhile).
    pub(super) detached_since: Option<Instant>,
    /// Egress NACK counts last seen, per subscriber m-line, for the NACK counter.
    pub(super) nacks_seen: HashMap<(Side, Mid, Option<str0m::media::Rid>), u64>,
    /// What the subscriber connection can carry (TWCC), bits per second, as estimated over
    /// the last `simulcast::RAISE_WINDOW`, oldest first; empty until known.
    pub(super) bandwidth: std::collections::VecDeque<(Instant, u64)>,
    /// When its simulcast subscriptions may be raised (not soon after a lowering for
    /// bandwidth, and later still after raises its link could not carry).
    pub(super) raises: super::simulcast::RaisePacing,
    /// What its subscriber connection was seen to carry, which bounds a raise.
    pub(super) delivery: super::simulcast::Delivery,
    /// Loss fraction and round trip last reported on each connection.
    pub(super) link: [LinkStats; 2],
    /// Connection quality as last announced.
    pub(super) quality: parley_proto::ConnectionQuality,
    /// When the last RTP packet of one of its tracks arrived.
    pub(super) last_media: Option<Instant>,
    /// str0m was told to probe for bandwidth for this subscriber's simulcast subscriptions.
    pub(super) probing: bool,
    /// When it raised its hand (ms since the epoch), while it is up.
    pub(super) hand_raised_at: Option<i64>,
    /// The next subscriber offer restarts ICE.
    pub(super) ice_restart: bool,
    /// The subscriber connection's BUNDLE tag: the first m-line of its group, known once an
    /// offer is answered. It is never stopped, only parked (inactive, and offered without its
    /// `msid`, so a later subscription to the same track does not repeat it): a browser offered
    /// a BUNDLE group whose tag changed, or only rejected m-lines, opens a new transport, and
    /// the server would see the connection die.
    pub(super) sub_tag: Option<Mid>,
    /// The offer waiting for its answer restarts ICE: if its answer is refused, so does the
    /// next one.
    pub(super) sub_pending_restart: bool,
    /// The API key that signed its token; none for a user's own token.
    pub(super) api_key: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LinkStats {
    pub(super) loss: f32,
    pub(super) rtt: Option<Duration>,
}

impl Participant {
    pub(super) fn peer(&mut self, side: Side) -> &mut Peer {
        match side {
            Side::Publisher => &mut self.publisher,
            Side::Subscriber => &mut self.subscriber,
        }
    }

    pub(super) fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            sid: self.sid.clone(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            joined_at: self.joined_at,
            tracks: self.tracks.iter().map(|t| t.info.clone()).collect(),
            grants: self.grants.clone(),
            hand_raised_at: self.hand_raised_at,
        }
    }
}

pub(super) struct Room {
    pub(super) sid: String,
    pub(super) name: Arc<str>,
    pub(super) channel_id: Option<parley_proto::ChannelId>,
    pub(super) created_at: i64,
    pub(super) empty_timeout: Duration,
    pub(super) max_participants: u32,
    pub(super) members: Vec<ParticipantKey>,
    pub(super) empty_since: Option<Instant>,
    pub(super) speakers: SpeakerDetector<String>,
    pub(super) last_speakers: Vec<String>,
    /// Sids of who is speaking, loudest first, as last announced.
    pub(super) current_speakers: Vec<String>,
    /// A voice bridge: which publisher track fills each speaker slot.
    pub(super) bridge: Option<Vec<Option<(ParticipantKey, Mid)>>>,
    pub(super) moderated: bool,
    pub(super) opened_by: Option<String>,
    pub(super) record: bool,
}

pub(crate) struct Engine {
    pub(super) config: SfuConfig,
    /// The media port as this worker uses it: sending, ICE-TCP links, notices to the I/O
    /// thread.
    pub(super) io: io::Io,
    /// Which worker holds which room, shared with the other workers and the signaling side.
    pub(super) placement: Arc<crate::placement::Placement>,
    pub(super) metrics: SfuMetrics,
    pub(super) events: mpsc::Sender<RoomEvent>,
    pub(super) rooms: HashMap<Arc<str>, Room>,
    pub(super) participants: HashMap<ParticipantKey, Participant>,
    /// The connection each remote address (over UDP, or an ICE-TCP connection's) belongs to.
    pub(super) routes: HashMap<(Protocol, SocketAddr), (ParticipantKey, Side)>,
    /// Each peer connection by its local ICE username fragment: how a check from an address
    /// not seen before finds its connection without asking every participant
    /// (`Engine::stun_target`). Kept when connections are made and their credentials change;
    /// entries of departed participants go with them.
    pub(super) ufrags: HashMap<String, (ParticipantKey, Side)>,
    /// When `ufrags` was last rebuilt from scratch (at most every `UFRAG_REBUILD`).
    pub(super) ufrags_rebuilt: Instant,
    pub(super) next_key: ParticipantKey,
    pub(super) dirty: Vec<(ParticipantKey, Side)>,
    pub(super) pending: Vec<(ParticipantKey, Side, Event)>,
    pub(super) doomed: Vec<(ParticipantKey, Departure)>,
    pub(super) last_speaker_check: Instant,
    pub(super) last_layer_check: Instant,
    pub(super) last_quality_check: Instant,
    pub(super) last_overload_check: Instant,
    /// How far behind this worker is, and what it sheds for it.
    pub(super) overload: overload::Overload,
    /// API keys revoked while this node ran: a join signed by one that passed its token check
    /// just before the revocation is still refused. Revocations are rare and final, so this
    /// only grows by one key each.
    pub(super) revoked_keys: std::collections::HashSet<String>,
    /// Tests: participants whose next step of a kind panics.
    #[cfg(test)]
    pub(super) inject: Vec<(ParticipantKey, guard::PanicStep)>,
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(super) fn sid(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

/// A secret a client presents to resume its participant.
pub(super) fn resume_token() -> String {
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

pub(super) fn not_found(what: impl Into<String>) -> SfuError {
    SfuError::new(ErrorCode::NotFound, what)
}

pub(super) fn not_in_room() -> SfuError {
    not_found("this participant is no longer in the room")
}

/// Queue a signaling message for a participant. A full queue means the client stopped reading:
/// it is removed rather than allowed to hold anything up.
pub(super) fn signal(
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
        // The signaling connection dropped: the participant waits to be resumed (see
        // `Engine::tick`), and gets a fresh picture of the room when it is.
        Err(TrySendError::Closed(_)) => {}
    }
}

pub(super) fn room_info(
    room: &Room,
    participants: &HashMap<ParticipantKey, Participant>,
) -> RoomInfo {
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
        bridge: room
            .bridge
            .as_ref()
            .map(|slots| parley_proto::BridgeOptions {
                max_speakers: Some(slots.len() as u32),
                moderated: room.moderated,
                opened_by: room.opened_by.clone(),
            }),
        record: room.record,
    }
}

pub(super) fn codec_name(codec: str0m::format::Codec) -> Option<&'static str> {
    use str0m::format::Codec;
    match codec {
        Codec::Opus => Some("opus"),
        Codec::Vp8 => Some("vp8"),
        Codec::H264 => Some("h264"),
        _ => None,
    }
}

pub(super) fn media_kind(kind: TrackKind) -> MediaKind {
    match kind {
        TrackKind::Audio => MediaKind::Audio,
        TrackKind::Video => MediaKind::Video,
    }
}
