//! The selective forwarding unit: rooms, participants, tracks and RTP forwarding on str0m.
//!
//! Media workers, one per core by default, each own their rooms and every peer connection in
//! them (str0m's sans-IO `Rtc`), so nothing on the forwarding path takes a lock. One I/O task
//! reads the one UDP port and hands each datagram to the worker that owns its connection. The
//! signaling side talks to the workers through [`Sfu`], a handle that sends commands over
//! channels (to the worker holding the participant or room) and never touches media state.
//! Each participant gets its signaling messages on its own bounded channel; a participant that
//! does not read them is removed rather than allowed to slow its worker.
//!
//! Forwarding works on RTP packets (str0m's RTP mode): a publisher's packet is handed, without
//! copying its payload, to each subscriber's outgoing stream with that subscriber's own
//! sequence numbers and timestamps ([`rewrite::Rewriter`]). str0m answers NACKs from its send
//! buffer (RTX where negotiated) and asks publishers for lost packets.

mod engine;
/// The forwarding path's own pieces, for the micro-benchmarks in `benches/`. Not part of the
/// API.
#[doc(hidden)]
pub use engine::bench;
/// The engine as the fuzz targets in `fuzz/` drive it. Not part of the API.
#[doc(hidden)]
pub use engine::fuzz;
pub mod metrics;
mod placement;
pub mod rewrite;
pub mod sdp;
pub mod speaker;

use parley_proto::{
    ChannelId, ErrorCode, GrantsUpdate, ParticipantGrants, ParticipantInfo, PublishTrack,
    RemovedReason, RoomDetail, RoomInfo, RtcServerMessage, TrackInfo,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub use metrics::SfuMetrics;

/// How the media side runs.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP socket for all peers. Port 0 picks a free port (tests).
    pub udp_bind: SocketAddr,
    /// Media workers, each a thread holding its own rooms. 0: one per available core.
    pub workers: usize,
    /// ICE-TCP: clients whose network blocks UDP connect here (passive TCP candidates, on the
    /// advertised addresses with this port). `None`: off.
    pub tcp_bind: Option<SocketAddr>,
    /// Addresses put in the SDP as host candidates, for NAT and cloud deployments. Empty: the
    /// bound address (which must then not be unspecified).
    pub advertise_ips: Vec<IpAddr>,
    /// Rooms close this long after the last participant left, unless created with their own.
    pub empty_timeout: Duration,
    /// 0: no limit.
    pub max_participants: u32,
    pub max_tracks_per_participant: usize,
    /// Keyframe requests to one publisher's track are sent at most this often.
    pub keyframe_interval: Duration,
    /// How often the active speakers are looked at.
    pub speaker_interval: Duration,
    /// Each participant's queue of signaling messages; a participant that lets it fill is
    /// removed.
    pub signal_queue: usize,
    /// A participant whose signaling connection dropped keeps its media this long, waiting to
    /// be resumed; then it leaves.
    pub resume_window: Duration,
    /// Speaker slots of a voice bridge created without its own number; also how many of the
    /// loudest speakers stay heard when a worker sheds audio.
    pub bridge_speakers: usize,
    /// A worker whose datagrams wait longer than this two seconds in a row (or four times this
    /// for one) sheds load, a step each second it stays so
    /// (`parley_proto::Shedding`). `None`: it never sheds for lag.
    pub overload_lag: Option<Duration>,
    /// Every worker sheds at least this much, whatever its lag.
    pub shed_floor: parley_proto::Shedding,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            udp_bind: SocketAddr::from(([127, 0, 0, 1], 7882)),
            workers: 0,
            tcp_bind: None,
            advertise_ips: Vec::new(),
            empty_timeout: Duration::from_secs(60),
            max_participants: 0,
            max_tracks_per_participant: 8,
            keyframe_interval: Duration::from_millis(500),
            speaker_interval: Duration::from_millis(300),
            signal_queue: 512,
            resume_window: Duration::from_secs(30),
            bridge_speakers: 3,
            overload_lag: Some(Duration::from_millis(100)),
            shed_floor: parley_proto::Shedding::None,
        }
    }
}

/// A refused request, with a stable code for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SfuError {
    pub code: ErrorCode,
    pub message: String,
    /// Between workers only: the room this request would open is open on that worker, where
    /// the request is sent again. Never reaches a caller of `Sfu`.
    moved: Option<usize>,
}

impl SfuError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> SfuError {
        SfuError {
            code,
            message: message.into(),
            moved: None,
        }
    }

    fn moved(worker: usize) -> SfuError {
        SfuError {
            moved: Some(worker),
            ..SfuError::new(ErrorCode::Unavailable, "the room moved; try again")
        }
    }

    fn gone() -> SfuError {
        SfuError::new(ErrorCode::Unavailable, "the media service has stopped")
    }
}

pub type SfuResult<T> = Result<T, SfuError>;

/// A participant's handle inside its media worker. Only valid while the participant is in the
/// room; requests for one that left fail with `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantKey(u64);

impl ParticipantKey {
    /// The top 16 bits say which worker holds the participant.
    const WORKER_SHIFT: u32 = 48;

    /// The first key worker `worker` hands out (0 is nobody's).
    fn first(worker: usize) -> ParticipantKey {
        ParticipantKey(((worker as u64) << Self::WORKER_SHIFT) + 1)
    }

    fn next(self) -> ParticipantKey {
        ParticipantKey(self.0 + 1)
    }

    fn worker(self) -> usize {
        (self.0 >> Self::WORKER_SHIFT) as usize
    }
}

/// Which rooms a join may land in, by their channel link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRule {
    /// Any room the grants allow (app tokens).
    Any,
    /// Only a room with exactly this link, checked by the caller against the user's channel
    /// memberships; `None`: an unlinked room (opened unlinked if it is not open).
    Exactly(Option<ChannelId>),
}

/// Who is joining and what they may do.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub channel: ChannelRule,
    pub room: String,
    /// The token allows creating the room if it is not open.
    pub may_create: bool,
    pub identity: String,
    pub name: String,
    pub grants: ParticipantGrants,
    pub auto_subscribe: bool,
    /// Re-attach to the participant that was given this resume token, instead of joining anew.
    pub resume: Option<String>,
    /// The API key that signed the participant's token (none for a user's own token): revoking
    /// the key removes the participant (`remove_signed_by`).
    pub api_key: Option<String>,
}

/// What a participant learns on joining.
#[derive(Debug, Clone)]
pub struct Joined {
    pub key: ParticipantKey,
    pub room: RoomInfo,
    pub participant: ParticipantInfo,
    pub participants: Vec<ParticipantInfo>,
    pub resume_token: String,
    pub resumed: bool,
}

/// The answer to a publisher offer.
#[derive(Debug, Clone)]
pub struct PublisherAnswer {
    pub sdp: String,
    pub tracks: Vec<parley_proto::TrackMid>,
}

/// A room's life, for webhooks and logs. Sent without waiting; dropped (and counted) if the
/// consumer falls far behind.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    /// When it happened, milliseconds since the Unix epoch.
    pub at: i64,
    /// `room_started`, `room_finished`, `participant_joined`, `participant_left`,
    /// `track_published` or `track_unpublished`.
    pub event: &'static str,
    pub room: RoomInfo,
    pub participant: Option<ParticipantInfo>,
    pub track: Option<TrackInfo>,
}

/// Settings for a room created over REST.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    pub name: String,
    pub channel_id: Option<ChannelId>,
    pub empty_timeout: Option<Duration>,
    pub max_participants: Option<u32>,
    /// A voice bridge with this many speaker slots (0: the configured default).
    pub bridge: Option<usize>,
    /// A bridge whose members listen until given the floor (said in its `RoomInfo`; the
    /// grants that make it so are the signaling edge's).
    pub moderated: bool,
    /// Who opened it (an identity), said in its `RoomInfo`.
    pub opened_by: Option<String>,
    /// Recorded from its start (said in its `room_started` event; the server starts the job).
    pub record: bool,
}

impl RoomSettings {
    /// A plain room called `name`: no channel, the configured limits, not a bridge, not
    /// recorded.
    pub fn named(name: impl Into<String>) -> RoomSettings {
        RoomSettings {
            name: name.into(),
            channel_id: None,
            empty_timeout: None,
            max_participants: None,
            bridge: None,
            moderated: false,
            opened_by: None,
            record: false,
        }
    }
}

type Reply<T> = oneshot::Sender<SfuResult<T>>;

enum Command {
    Join {
        request: JoinRequest,
        signal: mpsc::Sender<RtcServerMessage>,
        reply: Reply<Joined>,
    },
    Offer {
        key: ParticipantKey,
        sdp: String,
        tracks: Vec<PublishTrack>,
        reply: Reply<PublisherAnswer>,
    },
    Answer {
        key: ParticipantKey,
        sdp: String,
        reply: Reply<()>,
    },
    Candidate {
        key: ParticipantKey,
        target: parley_proto::PeerTarget,
        candidate: String,
        reply: Reply<()>,
    },
    Subscribe {
        key: ParticipantKey,
        tracks: Vec<String>,
        subscribe: bool,
        reply: Reply<()>,
    },
    Mute {
        key: ParticipantKey,
        track: String,
        muted: bool,
        reply: Reply<()>,
    },
    IceRestart {
        key: ParticipantKey,
        reply: Reply<()>,
    },
    RaiseHand {
        key: ParticipantKey,
        raised: bool,
        reply: Reply<()>,
    },
    Moderate {
        key: ParticipantKey,
        participant: String,
        action: parley_proto::ModerateAction,
        reply: Reply<()>,
    },
    SetQuality {
        key: ParticipantKey,
        track: String,
        quality: parley_proto::VideoQuality,
        reply: Reply<()>,
    },
    Unpublish {
        key: ParticipantKey,
        track: String,
        reply: Reply<()>,
    },
    Leave {
        key: ParticipantKey,
    },
    CreateRoom {
        settings: RoomSettings,
        reply: Reply<RoomInfo>,
    },
    ListRooms {
        reply: Reply<Vec<RoomInfo>>,
    },
    GetRoom {
        name: String,
        reply: Reply<RoomDetail>,
    },
    EndRoom {
        name: String,
        reply: Reply<()>,
    },
    RemoveParticipant {
        room: String,
        identity: String,
        reply: Reply<()>,
    },
    AdminMute {
        room: String,
        identity: String,
        track: String,
        muted: bool,
        reply: Reply<TrackInfo>,
    },
    UpdateGrants {
        room: String,
        identity: String,
        grants: GrantsUpdate,
        reply: Reply<ParticipantInfo>,
    },
    RemoveSignedBy {
        api_key: String,
        reply: Reply<usize>,
    },
    /// Tests only: the participant's next step panics where `step` says.
    #[cfg(test)]
    InjectPanic {
        key: ParticipantKey,
        step: engine::PanicStep,
        reply: Reply<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The signaling side's handle to the media workers. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    /// Each worker's command queue, by worker number.
    workers: Arc<[mpsc::Sender<Command>]>,
    placement: Arc<placement::Placement>,
    local_addr: SocketAddr,
    max_tracks: usize,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("workers", &self.workers.len())
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// Kernel buffer asked for each way on the media socket. Every publisher, subscriber and their
/// feedback share the one socket, and one publisher packet the kernel drops is lost to every
/// listener: Linux's default (208 KiB) overflows in the bursts of a large room.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Ask for `SOCKET_BUFFER_BYTES` each way. The kernel grants at most `net.core.rmem_max` /
/// `wmem_max` (and reports double what it grants); less than asked is worth a warning, since
/// only the operator can raise those limits.
fn size_socket_buffers(socket: &std::net::UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let receive = socket
        .set_recv_buffer_size(SOCKET_BUFFER_BYTES)
        .and_then(|()| socket.recv_buffer_size());
    let send = socket
        .set_send_buffer_size(SOCKET_BUFFER_BYTES)
        .and_then(|()| socket.send_buffer_size());
    for (what, sysctl, got) in [
        ("receive", "net.core.rmem_max", receive),
        ("send", "net.core.wmem_max", send),
    ] {
        match got {
            Ok(bytes) if bytes >= SOCKET_BUFFER_BYTES => {
                tracing::debug!(bytes, "media socket {what} buffer");
            }
            Ok(bytes) => tracing::warn!(
                bytes,
                wanted = SOCKET_BUFFER_BYTES,
                "the media socket's {what} buffer is smaller than wanted; large rooms may \
                 lose packets in bursts: raise {sysctl} to at least {SOCKET_BUFFER_BYTES}"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "cannot size the media socket's {what} buffer")
            }
        }
    }
}

impl Sfu {
    /// Bind the media port and start the I/O task and the media workers. Room events go to
    /// the returned receiver.
    pub fn start(
        config: SfuConfig,
        metrics: SfuMetrics,
    ) -> std::io::Result<(Sfu, mpsc::Receiver<RoomEvent>)> {
        static CRYPTO: std::sync::Once = std::sync::Once::new();
        CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        let socket = std::net::UdpSocket::bind(config.udp_bind)?;
        socket.set_nonblocking(true)?;
        size_socket_buffers(&socket);
        let local_addr = socket.local_addr()?;
        let advertise = if config.advertise_ips.is_empty() {
            if local_addr.ip().is_unspecified() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "rtc.udp_bind is an unspecified address: set rtc.advertise_ips to the \
                     addresses clients reach this server on",
                ));
            }
            vec![local_addr]
        } else {
            config
                .advertise_ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, local_addr.port()))
                .collect()
        };
        let (tcp, tcp_candidates) = match config.tcp_bind {
            Some(bind) => {
                let listener = std::net::TcpListener::bind(bind)?;
                listener.set_nonblocking(true)?;
                let port = listener.local_addr()?.port();
                let candidates: Vec<SocketAddr> = advertise
                    .iter()
                    .map(|a| SocketAddr::new(a.ip(), port))
                    .collect();
                tracing::info!(tcp = %listener.local_addr()?, "media TCP port open (ICE-TCP)");
                (Some(listener), candidates)
            }
            None => (None, Vec::new()),
        };
        let n = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let placement = Arc::new(placement::Placement::new(
            (0..n).map(|w| metrics.worker_participants(w)).collect(),
            (0..n).map(|w| metrics.worker_rooms(w)).collect(),
        ));
        let (events, event_rx) = mpsc::channel(4096);
        let (notices, notice_rx) = mpsc::unbounded_channel();
        let mut commands = Vec::with_capacity(n);
        let mut inbound = Vec::with_capacity(n);
        let mut engines = Vec::with_capacity(n);
        for worker in 0..n {
            let (command_tx, command_rx) = mpsc::channel(1024);
            let (inbound_tx, inbound_rx) = engine::io::inbound_queue();
            let io = engine::io::Io::new(
                worker,
                socket.try_clone()?,
                advertise.clone(),
                tcp_candidates.clone(),
                notices.clone(),
                &metrics,
            )?;
            let engine = engine::Engine::new(
                config.clone(),
                io,
                placement.clone(),
                metrics.clone(),
                events.clone(),
            );
            commands.push(command_tx);
            inbound.push(inbound_tx);
            engines.push((engine, command_rx, inbound_rx));
        }
        drop(notices);
        let front_metrics = metrics.clone();
        // The I/O task's work runs on worker 0's thread: what it reads for worker 0 (all of
        // it, with one worker) is handed over without waking another thread.
        let mut front = Some(async move {
            let tcp = match tcp.map(tokio::net::TcpListener::from_std).transpose() {
                Ok(listener) => listener.map(engine::tcp::TcpMedia::new),
                Err(err) => {
                    tracing::error!(error = %err, "the media TCP listener failed");
                    None
                }
            };
            match tokio::net::UdpSocket::from_std(socket) {
                Ok(socket) => {
                    match engine::io::Front::new(socket, tcp, inbound, notice_rx, front_metrics) {
                        Ok(front) => front.run().await,
                        Err(err) => tracing::error!(error = %err, "the media socket failed"),
                    }
                }
                Err(err) => tracing::error!(error = %err, "the media socket failed"),
            }
        });
        for (worker, (engine, command_rx, inbound_rx)) in engines.into_iter().enumerate() {
            let front = front.take();
            spawn_thread(format!("parley-media-{worker}"), async move {
                // The front stops once every worker has (their notices queues all closed).
                let front = front.map(tokio::spawn);
                engine.run(command_rx, inbound_rx).await;
                if let Some(front) = front {
                    let _ = front.await;
                }
            })?;
        }
        tracing::info!(workers = n, "media workers started");
        Ok((
            Sfu {
                workers: commands.into(),
                placement,
                local_addr,
                max_tracks: config.max_tracks_per_participant,
            },
            event_rx,
        ))
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many media workers run.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Send a request to `worker` and wait for its answer.
    async fn ask_worker<T>(
        &self,
        worker: usize,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> SfuResult<T> {
        let (reply, answer) = oneshot::channel();
        let queue = self.workers.get(worker).ok_or_else(SfuError::gone)?;
        queue
            .send(make(reply))
            .await
            .map_err(|_| SfuError::gone())?;
        // A request taken and never answered failed inside the worker (its participant is
        // removed with `internal_error`), or the worker stopped meanwhile.
        answer.await.map_err(|_| {
            SfuError::new(
                ErrorCode::Internal,
                "the media service failed on this request",
            )
        })?
    }

    /// A participant's request, to the worker holding it.
    async fn ask<T>(
        &self,
        key: ParticipantKey,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> SfuResult<T> {
        self.ask_worker(key.worker(), make).await
    }

    /// A request about room `room`, to the worker holding it (or, for a room not open, to the
    /// one it would open on). A room opened meanwhile on another worker sends it there.
    async fn ask_room<T>(&self, room: &str, make: impl Fn(Reply<T>) -> Command) -> SfuResult<T> {
        let mut worker = self.placement.place(room);
        // Each retry follows a room opened elsewhere in the meantime; a handful settles it.
        for _ in 0..8 {
            match self.ask_worker(worker, &make).await {
                Err(SfuError {
                    moved: Some(other), ..
                }) => worker = other,
                answer => return answer,
            }
        }
        Err(SfuError::new(
            ErrorCode::Unavailable,
            format!("room `{room}` kept moving between media workers; try again"),
        ))
    }

    /// A request every worker answers, answers in worker order.
    async fn ask_all<T>(&self, make: impl Fn(Reply<T>) -> Command) -> SfuResult<Vec<T>> {
        let mut all = Vec::with_capacity(self.workers.len());
        for worker in 0..self.workers.len() {
            all.push(self.ask_worker(worker, &make).await?);
        }
        Ok(all)
    }

    /// Tests: make the participant's next `step` panic.
    #[cfg(test)]
    pub(crate) async fn inject_panic(&self, key: ParticipantKey, step: engine::PanicStep) {
        self.ask(key, |reply| Command::InjectPanic { key, step, reply })
            .await
            .expect("inject a panic");
    }

    /// Join a room; the participant's signaling messages arrive on `signal`.
    pub async fn join(
        &self,
        request: JoinRequest,
        signal: mpsc::Sender<RtcServerMessage>,
    ) -> SfuResult<Joined> {
        let room = request.room.clone();
        self.ask_room(&room, |reply| Command::Join {
            request: request.clone(),
            signal: signal.clone(),
            reply,
        })
        .await
    }

    pub async fn offer(
        &self,
        key: ParticipantKey,
        sdp: String,
        tracks: Vec<PublishTrack>,
    ) -> SfuResult<PublisherAnswer> {
        // Read and check the SDP here, on the caller's task, not on a media worker.
        sdp::check_offer(&sdp, &tracks, self.max_tracks)?;
        self.ask(key, |reply| Command::Offer {
            key,
            sdp,
            tracks,
            reply,
        })
        .await
    }

    pub async fn answer(&self, key: ParticipantKey, sdp: String) -> SfuResult<()> {
        self.ask(key, |reply| Command::Answer { key, sdp, reply })
            .await
    }

    pub async fn candidate(
        &self,
        key: ParticipantKey,
        target: parley_proto::PeerTarget,
        candidate: String,
    ) -> SfuResult<()> {
        self.ask(key, |reply| Command::Candidate {
            key,
            target,
            candidate,
            reply,
        })
        .await
    }

    pub async fn subscribe(
        &self,
        key: ParticipantKey,
        tracks: Vec<String>,
        subscribe: bool,
    ) -> SfuResult<()> {
        self.ask(key, |reply| Command::Subscribe {
            key,
            tracks,
            subscribe,
            reply,
        })
        .await
    }

    pub async fn mute(&self, key: ParticipantKey, track: String, muted: bool) -> SfuResult<()> {
        self.ask(key, |reply| Command::Mute {
            key,
            track,
            muted,
            reply,
        })
        .await
    }

    /// Restart ICE on the subscriber connection: a new offer follows.
    pub async fn ice_restart(&self, key: ParticipantKey) -> SfuResult<()> {
        self.ask(key, |reply| Command::IceRestart { key, reply })
            .await
    }

    pub async fn raise_hand(&self, key: ParticipantKey, raised: bool) -> SfuResult<()> {
        self.ask(key, |reply| Command::RaiseHand { key, raised, reply })
            .await
    }

    /// A moderator's action on the participant with sid `participant`.
    pub async fn moderate(
        &self,
        key: ParticipantKey,
        participant: String,
        action: parley_proto::ModerateAction,
    ) -> SfuResult<()> {
        self.ask(key, |reply| Command::Moderate {
            key,
            participant,
            action,
            reply,
        })
        .await
    }

    /// The most a subscription to a simulcast track should carry.
    pub async fn set_quality(
        &self,
        key: ParticipantKey,
        track: String,
        quality: parley_proto::VideoQuality,
    ) -> SfuResult<()> {
        self.ask(key, |reply| Command::SetQuality {
            key,
            track,
            quality,
            reply,
        })
        .await
    }

    pub async fn unpublish(&self, key: ParticipantKey, track: String) -> SfuResult<()> {
        self.ask(key, |reply| Command::Unpublish { key, track, reply })
            .await
    }

    /// Leave the room at once (a closed signaling connection instead waits out the resume
    /// window). Never waits.
    pub fn leave(&self, key: ParticipantKey) {
        let Some(queue) = self.workers.get(key.worker()) else {
            return;
        };
        if queue.try_send(Command::Leave { key }).is_err() {
            // The queue is full or the worker is gone; retry from a task so it is not lost.
            let queue = queue.clone();
            tokio::spawn(async move {
                let _ = queue.send(Command::Leave { key }).await;
            });
        }
    }

    pub async fn create_room(&self, settings: RoomSettings) -> SfuResult<RoomInfo> {
        let name = settings.name.clone();
        self.ask_room(&name, |reply| Command::CreateRoom {
            settings: settings.clone(),
            reply,
        })
        .await
    }

    pub async fn list_rooms(&self) -> SfuResult<Vec<RoomInfo>> {
        let mut rooms: Vec<RoomInfo> = self
            .ask_all(|reply| Command::ListRooms { reply })
            .await?
            .into_iter()
            .flatten()
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rooms)
    }

    pub async fn room(&self, name: String) -> SfuResult<RoomDetail> {
        let room = name.clone();
        self.ask_room(&room, |reply| Command::GetRoom {
            name: name.clone(),
            reply,
        })
        .await
    }

    pub async fn end_room(&self, name: String) -> SfuResult<()> {
        let room = name.clone();
        self.ask_room(&room, |reply| Command::EndRoom {
            name: name.clone(),
            reply,
        })
        .await
    }

    pub async fn remove_participant(&self, room: String, identity: String) -> SfuResult<()> {
        self.ask_room(&room, |reply| Command::RemoveParticipant {
            room: room.clone(),
            identity: identity.clone(),
            reply,
        })
        .await
    }

    pub async fn admin_mute(
        &self,
        room: String,
        identity: String,
        track: String,
        muted: bool,
    ) -> SfuResult<TrackInfo> {
        self.ask_room(&room, |reply| Command::AdminMute {
            room: room.clone(),
            identity: identity.clone(),
            track: track.clone(),
            muted,
            reply,
        })
        .await
    }

    pub async fn update_grants(
        &self,
        room: String,
        identity: String,
        grants: GrantsUpdate,
    ) -> SfuResult<ParticipantInfo> {
        self.ask_room(&room, |reply| Command::UpdateGrants {
            room: room.clone(),
            identity: identity.clone(),
            grants: grants.clone(),
            reply,
        })
        .await
    }

    /// Remove every participant, in every room of this node and hidden ones included, whose
    /// token was signed with `api_key` (`token_revoked`); how many there were.
    pub async fn remove_signed_by(&self, api_key: String) -> SfuResult<usize> {
        let removed = self
            .ask_all(|reply| Command::RemoveSignedBy {
                api_key: api_key.clone(),
                reply,
            })
            .await?;
        Ok(removed.into_iter().sum())
    }

    /// Tell every participant the server is going away and stop the media workers (the I/O
    /// thread stops after the last of them).
    pub async fn shutdown(&self) {
        for queue in self.workers.iter() {
            let (reply, done) = oneshot::channel();
            if queue.send(Command::Shutdown { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
    }
}

/// Run `task` on its own thread with its own single-threaded runtime.
fn spawn_thread(
    name: String,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let thread = name.clone();
    std::thread::Builder::new().name(name).spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(task),
            Err(err) => tracing::error!(error = %err, %thread, "a media thread could not start"),
        }
    })?;
    Ok(())
}

/// Why a participant left, for its own `removed` message (none for a plain leave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    Left,
    Removed(RemovedReason),
}
