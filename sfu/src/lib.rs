//! The selective forwarding unit: rooms, participants, tracks and RTP forwarding on str0m.
//!
//! One media thread owns the UDP socket and every peer connection (str0m's sans-IO `Rtc`), so
//! nothing on the forwarding path takes a lock. The signaling side talks to it through
//! [`Sfu`], a handle that sends commands over a channel and never touches media state. Each
//! participant gets its signaling messages on its own bounded channel; a participant that does
//! not read them is removed rather than allowed to slow the media thread.
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
pub mod rewrite;
pub mod sdp;
pub mod speaker;

use parley_proto::{
    ChannelId, ErrorCode, GrantsUpdate, ParticipantGrants, ParticipantInfo, PublishTrack,
    RemovedReason, RoomDetail, RoomInfo, RtcServerMessage, TrackInfo,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub use metrics::SfuMetrics;

/// How the media side runs.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP socket for all peers. Port 0 picks a free port (tests).
    pub udp_bind: SocketAddr,
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
    /// Speaker slots of a voice bridge created without its own number.
    pub bridge_speakers: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            udp_bind: SocketAddr::from(([127, 0, 0, 1], 7882)),
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
        }
    }
}

/// A refused request, with a stable code for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SfuError {
    pub code: ErrorCode,
    pub message: String,
}

impl SfuError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> SfuError {
        SfuError {
            code,
            message: message.into(),
        }
    }

    fn gone() -> SfuError {
        SfuError::new(ErrorCode::Unavailable, "the media service has stopped")
    }
}

pub type SfuResult<T> = Result<T, SfuError>;

/// A participant's handle inside the media thread. Only valid while the participant is in the
/// room; requests for one that left fail with `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantKey(u64);

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

/// The signaling side's handle to the media thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sfu {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    max_tracks: usize,
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
    /// Bind the UDP socket and start the media thread. Room events go to the returned receiver.
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
        let tcp = match config.tcp_bind {
            Some(bind) => {
                let listener = std::net::TcpListener::bind(bind)?;
                listener.set_nonblocking(true)?;
                let port = listener.local_addr()?.port();
                let candidates: Vec<SocketAddr> = advertise
                    .iter()
                    .map(|a| SocketAddr::new(a.ip(), port))
                    .collect();
                tracing::info!(tcp = %listener.local_addr()?, "media TCP port open (ICE-TCP)");
                Some((listener, candidates))
            }
            None => None,
        };
        let (commands, command_rx) = mpsc::channel(1024);
        let (events, event_rx) = mpsc::channel(4096);
        let thread_config = config.clone();
        std::thread::Builder::new()
            .name("parley-media".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        tracing::error!(error = %err, "the media thread could not start");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let tcp = match tcp {
                        Some((listener, candidates)) => {
                            match tokio::net::TcpListener::from_std(listener) {
                                Ok(listener) => {
                                    Some(engine::tcp::TcpMedia::new(listener, candidates))
                                }
                                Err(err) => {
                                    tracing::error!(error = %err, "the media TCP listener failed");
                                    None
                                }
                            }
                        }
                        None => None,
                    };
                    match tokio::net::UdpSocket::from_std(socket) {
                        Ok(socket) => {
                            engine::Engine::new(
                                thread_config,
                                socket,
                                local_addr,
                                advertise,
                                metrics,
                                events,
                                tcp,
                            )
                            .run(command_rx)
                            .await
                        }
                        Err(err) => tracing::error!(error = %err, "the media socket failed"),
                    }
                });
            })?;
        Ok((
            Sfu {
                commands,
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

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> SfuResult<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| SfuError::gone())?;
        // A request taken and never answered failed inside the media thread (its participant
        // is removed with `internal_error`), or the thread stopped meanwhile.
        answer.await.map_err(|_| {
            SfuError::new(
                ErrorCode::Internal,
                "the media service failed on this request",
            )
        })?
    }

    /// Tests: make the participant's next `step` panic.
    #[cfg(test)]
    pub(crate) async fn inject_panic(&self, key: ParticipantKey, step: engine::PanicStep) {
        self.ask(|reply| Command::InjectPanic { key, step, reply })
            .await
            .expect("inject a panic");
    }

    /// Join a room; the participant's signaling messages arrive on `signal`.
    pub async fn join(
        &self,
        request: JoinRequest,
        signal: mpsc::Sender<RtcServerMessage>,
    ) -> SfuResult<Joined> {
        self.ask(|reply| Command::Join {
            request,
            signal,
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
        // Read and check the SDP here, on the caller's task, not on the media thread.
        sdp::check_offer(&sdp, &tracks, self.max_tracks)?;
        self.ask(|reply| Command::Offer {
            key,
            sdp,
            tracks,
            reply,
        })
        .await
    }

    pub async fn answer(&self, key: ParticipantKey, sdp: String) -> SfuResult<()> {
        self.ask(|reply| Command::Answer { key, sdp, reply }).await
    }

    pub async fn candidate(
        &self,
        key: ParticipantKey,
        target: parley_proto::PeerTarget,
        candidate: String,
    ) -> SfuResult<()> {
        self.ask(|reply| Command::Candidate {
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
        self.ask(|reply| Command::Subscribe {
            key,
            tracks,
            subscribe,
            reply,
        })
        .await
    }

    pub async fn mute(&self, key: ParticipantKey, track: String, muted: bool) -> SfuResult<()> {
        self.ask(|reply| Command::Mute {
            key,
            track,
            muted,
            reply,
        })
        .await
    }

    /// Restart ICE on the subscriber connection: a new offer follows.
    pub async fn ice_restart(&self, key: ParticipantKey) -> SfuResult<()> {
        self.ask(|reply| Command::IceRestart { key, reply }).await
    }

    pub async fn raise_hand(&self, key: ParticipantKey, raised: bool) -> SfuResult<()> {
        self.ask(|reply| Command::RaiseHand { key, raised, reply })
            .await
    }

    /// A moderator's action on the participant with sid `participant`.
    pub async fn moderate(
        &self,
        key: ParticipantKey,
        participant: String,
        action: parley_proto::ModerateAction,
    ) -> SfuResult<()> {
        self.ask(|reply| Command::Moderate {
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
        self.ask(|reply| Command::SetQuality {
            key,
            track,
            quality,
            reply,
        })
        .await
    }

    pub async fn unpublish(&self, key: ParticipantKey, track: String) -> SfuResult<()> {
        self.ask(|reply| Command::Unpublish { key, track, reply })
            .await
    }

    /// Leave the room at once (a closed signaling connection instead waits out the resume
    /// window). Never waits.
    pub fn leave(&self, key: ParticipantKey) {
        if self.commands.try_send(Command::Leave { key }).is_err() {
            // The queue is full or the thread is gone; retry from a task so it is not lost.
            let commands = self.commands.clone();
            tokio::spawn(async move {
                let _ = commands.send(Command::Leave { key }).await;
            });
        }
    }

    pub async fn create_room(&self, settings: RoomSettings) -> SfuResult<RoomInfo> {
        self.ask(|reply| Command::CreateRoom { settings, reply })
            .await
    }

    pub async fn list_rooms(&self) -> SfuResult<Vec<RoomInfo>> {
        self.ask(|reply| Command::ListRooms { reply }).await
    }

    pub async fn room(&self, name: String) -> SfuResult<RoomDetail> {
        self.ask(|reply| Command::GetRoom { name, reply }).await
    }

    pub async fn end_room(&self, name: String) -> SfuResult<()> {
        self.ask(|reply| Command::EndRoom { name, reply }).await
    }

    pub async fn remove_participant(&self, room: String, identity: String) -> SfuResult<()> {
        self.ask(|reply| Command::RemoveParticipant {
            room,
            identity,
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
        self.ask(|reply| Command::AdminMute {
            room,
            identity,
            track,
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
        self.ask(|reply| Command::UpdateGrants {
            room,
            identity,
            grants,
            reply,
        })
        .await
    }

    /// Remove every participant, in every room of this node and hidden ones included, whose
    /// token was signed with `api_key` (`token_revoked`); how many there were.
    pub async fn remove_signed_by(&self, api_key: String) -> SfuResult<usize> {
        self.ask(|reply| Command::RemoveSignedBy { api_key, reply })
            .await
    }

    /// Tell every participant the server is going away and stop the media thread.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

/// Why a participant left, for its own `removed` message (none for a plain leave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    Left,
    Removed(RemovedReason),
}
