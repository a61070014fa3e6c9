//! The meeting signaling protocol (`/v1/rtc`), the room service's REST bodies and the meeting
//! webhooks. Every WebSocket message is a JSON object with a `type`; requests may carry a
//! client-chosen `id` that the reply names. `docs/protocol.md` has an example of each.
//!
//! Each participant uses two peer connections, as LiveKit's clients do: a *publisher*
//! connection where the client offers and the server answers, and a *subscriber* connection
//! where the server offers and the client answers. Neither side ever has to resolve an offer
//! collision.

use crate::{AckState, ChannelId, ErrorCode, Grants, MessageId, TrackSource, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The meeting protocol versions this server speaks.
pub const RTC_PROTOCOL_VERSION: u32 = 1;

/// A room name reserved for a channel: `meeting-<n>` is channel n's meeting room and
/// `bridge-<n>` its voice bridge. Only the channel's own call (`POST /v1/channels/{n}/meeting`,
/// `/bridge`) opens them, linked to the channel; a join or a room service call that would open
/// one otherwise gets `room_name_reserved`, so nobody can take a channel's room before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRoom {
    Meeting(ChannelId),
    Bridge(ChannelId),
}

impl ChannelRoom {
    const MEETING: &'static str = "meeting-";
    const BRIDGE: &'static str = "bridge-";

    /// The channel's room that `name` is reserved for: the prefix and a channel id in decimal
    /// digits. `meeting-007` is reserved too (it reads as channel 7) but is never the room's
    /// own name, so it cannot be opened at all.
    pub fn parse(name: &str) -> Option<ChannelRoom> {
        let number = |rest: &str| -> Option<ChannelId> {
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            rest.parse().ok().map(ChannelId)
        };
        if let Some(rest) = name.strip_prefix(Self::MEETING) {
            number(rest).map(ChannelRoom::Meeting)
        } else if let Some(rest) = name.strip_prefix(Self::BRIDGE) {
            number(rest).map(ChannelRoom::Bridge)
        } else {
            None
        }
    }

    pub fn channel(self) -> ChannelId {
        match self {
            ChannelRoom::Meeting(c) | ChannelRoom::Bridge(c) => c,
        }
    }

    pub fn is_bridge(self) -> bool {
        matches!(self, ChannelRoom::Bridge(_))
    }

    /// The room's name, as the channel's call opens it.
    pub fn name(self) -> String {
        match self {
            ChannelRoom::Meeting(c) => format!("{}{}", Self::MEETING, c.0),
            ChannelRoom::Bridge(c) => format!("{}{}", Self::BRIDGE, c.0),
        }
    }

    /// What the channel calls it, for messages.
    pub fn describe(self) -> String {
        match self {
            ChannelRoom::Meeting(c) => format!("channel {}'s meeting", c.0),
            ChannelRoom::Bridge(c) => format!("channel {}'s voice bridge", c.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
}

impl TrackSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Microphone => "microphone",
            TrackSource::Camera => "camera",
            TrackSource::ScreenShare => "screen_share",
            TrackSource::ScreenShareAudio => "screen_share_audio",
        }
    }

    /// The media kind a source carries.
    pub fn kind(self) -> TrackKind {
        match self {
            TrackSource::Microphone | TrackSource::ScreenShareAudio => TrackKind::Audio,
            TrackSource::Camera | TrackSource::ScreenShare => TrackKind::Video,
        }
    }
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }
}

/// Which of a participant's two peer connections a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeerTarget {
    /// The connection the client offers on and sends its own media over.
    Publisher,
    /// The connection the server offers on and sends others' media over.
    Subscriber,
}

/// A published track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrackInfo {
    /// `TR_...`, unique on this server.
    pub sid: String,
    /// The publishing participant's sid.
    pub participant: String,
    pub kind: TrackKind,
    pub source: TrackSource,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub muted: bool,
    /// `opus`, `vp8` or `h264` once the first packet arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// A simulcast video track's layers, lowest quality first; empty for one encoding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<VideoLayer>,
}

/// A simulcast layer's quality: its position from the lowest. A track with two layers has
/// `low` and `medium`; asking for more than a track has gives its best.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VideoQuality {
    Low,
    Medium,
    High,
}

impl VideoQuality {
    /// The layer index (lowest first) of this quality.
    pub fn index(self) -> usize {
        match self {
            VideoQuality::Low => 0,
            VideoQuality::Medium => 1,
            VideoQuality::High => 2,
        }
    }

    /// The quality of the layer at `index` (lowest first); `None` past the third.
    pub fn from_index(index: usize) -> Option<VideoQuality> {
        [VideoQuality::Low, VideoQuality::Medium, VideoQuality::High]
            .get(index)
            .copied()
    }
}

/// One layer of a simulcast track, as the publisher declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VideoLayer {
    pub quality: VideoQuality,
    /// The `rid` of its encoding in the publisher's SDP.
    pub rid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A simulcast layer a publisher declares in `offer`: its `rid` and, for subscribers to see,
/// the size it sends at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishLayer {
    pub rid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// Whether a publisher's simulcast layer is wanted by anyone (`subscribed_qualities`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubscribedQuality {
    pub quality: VideoQuality,
    pub rid: String,
    pub enabled: bool,
}

/// How well a participant's connection carries its media now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionQuality {
    /// Under 2% loss and under 300 ms round trip.
    Excellent,
    /// Under 8% loss and under 600 ms round trip.
    Good,
    Poor,
    /// Its media path stopped answering; it has `rtc.resume_window_secs` to come back.
    Lost,
}

/// What the server withholds from a room because the media worker that carries it cannot keep
/// up (it sheds load rather than delay everything), least first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Shedding {
    /// Everything is forwarded.
    #[default]
    None,
    /// Simulcast video is forwarded at its lowest layer only.
    VideoLayers,
    /// No video is forwarded (cameras and screen shares); all audio is.
    Video,
    /// No video, and only the loudest current speakers' audio.
    Audio,
}

impl Shedding {
    pub const ALL: [Shedding; 4] = [
        Shedding::None,
        Shedding::VideoLayers,
        Shedding::Video,
        Shedding::Audio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Shedding::None => "none",
            Shedding::VideoLayers => "video_layers",
            Shedding::Video => "video",
            Shedding::Audio => "audio",
        }
    }

    /// 0 (`None`) to 3 (`Audio`), as the `parley_rtc_worker_shedding` metric shows it.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// One step more (it stays at `Audio`).
    pub fn more(self) -> Shedding {
        match self {
            Shedding::None => Shedding::VideoLayers,
            Shedding::VideoLayers => Shedding::Video,
            Shedding::Video | Shedding::Audio => Shedding::Audio,
        }
    }

    /// One step less (it stays at `None`).
    pub fn less(self) -> Shedding {
        match self {
            Shedding::None | Shedding::VideoLayers => Shedding::None,
            Shedding::Video => Shedding::VideoLayers,
            Shedding::Audio => Shedding::Video,
        }
    }
}

impl std::str::FromStr for Shedding {
    type Err = String;

    fn from_str(s: &str) -> Result<Shedding, String> {
        Shedding::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not one of none, video_layers, video, audio"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionQualityInfo {
    pub participant: String,
    pub quality: ConnectionQuality,
}

/// A participant as others see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParticipantInfo {
    /// `PA_...`, unique on this server.
    pub sid: String,
    /// Unique within the room (the token's `sub`).
    pub identity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub joined_at: i64,
    pub tracks: Vec<TrackInfo>,
    /// What the participant may do.
    pub grants: ParticipantGrants,
    /// When it raised its hand (milliseconds since the Unix epoch); none when it is down.
    /// Raised hands queue in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand_raised_at: Option<i64>,
}

/// What a moderator (a participant with `room_admin`) does to another participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModerateAction {
    /// Mute every audio track it publishes (`track_muted` with `by_admin`).
    Mute,
    /// Let it speak: it may publish its microphone from now on; its hand goes down.
    GiveFloor,
    /// It may no longer publish; what it publishes is unpublished; its hand goes down.
    TakeFloor,
    LowerHand,
}

/// The meeting part of a participant's grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ParticipantGrants {
    pub can_publish: bool,
    pub can_subscribe: bool,
    /// Sources the participant may publish; empty means all sources when `can_publish`.
    pub can_publish_sources: Vec<TrackSource>,
    pub hidden: bool,
    pub recorder: bool,
    pub room_admin: bool,
}

impl ParticipantGrants {
    pub fn from_grants(g: &Grants) -> ParticipantGrants {
        ParticipantGrants {
            can_publish: g.can_publish,
            can_subscribe: g.can_subscribe,
            can_publish_sources: g.can_publish_sources.clone(),
            hidden: g.hidden || g.recorder,
            recorder: g.recorder,
            room_admin: g.room_admin,
        }
    }

    pub fn may_publish(&self, source: TrackSource) -> bool {
        self.can_publish
            && (self.can_publish_sources.is_empty() || self.can_publish_sources.contains(&source))
    }
}

/// A meeting room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomInfo {
    /// `RM_...`, new for each time a room with this name is opened.
    pub sid: String,
    pub name: String,
    /// The channel whose chat is this meeting's chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Closed this many seconds after the last participant left (or after creation, if nobody
    /// ever joins).
    pub empty_timeout_secs: u64,
    /// 0: no limit.
    pub max_participants: u32,
    /// Visible participants (hidden ones, such as recorders, are not counted).
    pub num_participants: u32,
    pub num_publishers: u32,
    /// Set for a voice bridge: audio only, and each participant receives only the loudest
    /// speakers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeOptions>,
    /// Recorded from its start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record: bool,
}

/// A voice bridge: an audio-only room for many listeners. Each participant receives
/// `max_speakers` audio tracks ("slots") that carry whoever speaks loudest at the moment, chosen
/// from the audio-level header extension without decoding anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeOptions {
    /// Default: `rtc.bridge_speakers` (3).
    pub max_speakers: Option<u32>,
    /// A channel's bridge opened moderated: its members join listening and speak once given
    /// the floor. (An app's participants have the grants their tokens give.)
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub moderated: bool,
    /// A channel's bridge: the identity (`user:<id>`) of who opened it, one of its moderators.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
}

/// An ICE server the client may use. Parley's own UDP port is always in its SDP; these are
/// extra STUN/TURN servers an operator configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A track the client publishes in an offer, named by the m-line's `mid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishTrack {
    pub mid: String,
    pub source: TrackSource,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
    /// A simulcast m-line's layers, lowest quality first, one per `rid` of its
    /// `a=simulcast:send` (at most three). Leave out for one encoding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<PublishLayer>,
}

/// Which track an m-line of the publisher answer or the subscriber offer carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrackMid {
    pub mid: String,
    pub track: TrackInfo,
}

/// A client's message on `/v1/rtc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RtcClientMessage {
    /// The first message on a connection.
    Join {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The access token, unless given as `?access_token=` on the upgrade.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Required when the token names no room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Subscribe to every track as it is published (default); otherwise only on `subscribe`.
        #[serde(default = "yes")]
        auto_subscribe: bool,
        /// The `resume_token` of an earlier `joined`: re-attach to that participant, whose
        /// media kept flowing while its signaling connection was down.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// An offer on the publisher connection, naming the source of each track it sends.
    Offer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
        #[serde(default)]
        tracks: Vec<PublishTrack>,
    },
    /// The answer to the server's offer on the subscriber connection.
    Answer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
    },
    /// A trickled ICE candidate (`candidate:...` as in the SDP); an empty string ends them.
    /// With an `id`, the server answers `ok` (or an error) naming it; without, only errors.
    Candidate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        target: PeerTarget,
        candidate: String,
    },
    Subscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        tracks: Vec<String>,
        #[serde(default = "yes")]
        subscribe: bool,
    },
    Mute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        track: String,
        muted: bool,
    },
    /// Raise or lower your hand: moderators see the queue (`participant_updated`,
    /// `hand_raised_at`) and may give you the floor.
    RaiseHand {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        raised: bool,
    },
    /// A moderator's action on another participant (needs `room_admin`).
    Moderate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The participant's sid.
        participant: String,
        action: ModerateAction,
    },
    /// The most a subscription to a simulcast track should carry (default `high`). The server
    /// sends less while the subscriber's bandwidth cannot carry it.
    SetQuality {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        track: String,
        quality: VideoQuality,
    },
    /// Stop publishing a track. The client then removes its m-line in its next offer.
    Unpublish {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        track: String,
    },
    /// Restart ICE on the subscriber connection (after a network change): the server sends a
    /// new offer with fresh ICE credentials. The publisher connection restarts the usual way,
    /// with an offer of the client's own (`RTCPeerConnection.restartIce()`).
    IceRestart {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    Leave {},
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

impl RtcClientMessage {
    /// The request's `id`, if it carries one.
    pub fn id(&self) -> Option<&str> {
        match self {
            RtcClientMessage::Join { id, .. }
            | RtcClientMessage::Offer { id, .. }
            | RtcClientMessage::Answer { id, .. }
            | RtcClientMessage::Candidate { id, .. }
            | RtcClientMessage::Subscribe { id, .. }
            | RtcClientMessage::Mute { id, .. }
            | RtcClientMessage::RaiseHand { id, .. }
            | RtcClientMessage::Moderate { id, .. }
            | RtcClientMessage::SetQuality { id, .. }
            | RtcClientMessage::Unpublish { id, .. }
            | RtcClientMessage::IceRestart { id }
            | RtcClientMessage::Ping { id } => id.as_deref(),
            RtcClientMessage::Leave {} => None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A server's message on `/v1/rtc`.
// `joined` is much larger than the rest; messages are built, serialised once and dropped, so
// boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RtcServerMessage {
    Joined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        protocol: u32,
        room: RoomInfo,
        participant: ParticipantInfo,
        /// Everyone else in the room (hidden participants are never listed).
        participants: Vec<ParticipantInfo>,
        ice_servers: Vec<IceServer>,
        /// Give it back in `join` (`resume`) after a dropped connection, within
        /// `rtc.resume_window_secs`, to carry on as the same participant.
        resume_token: String,
        /// This is a resumed participant: its peer connections, tracks and subscriptions are
        /// as they were.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// The answer on the publisher connection, with the sid given to each published track.
    Answer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
        tracks: Vec<TrackMid>,
    },
    /// An offer on the subscriber connection, naming the track each new m-line carries.
    Offer {
        sdp: String,
        tracks: Vec<TrackMid>,
    },
    /// A request that succeeded and has nothing else to say.
    Ok {
        id: String,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        participant: String,
        identity: String,
    },
    /// A participant's name or grants changed.
    ParticipantUpdated {
        participant: ParticipantInfo,
    },
    TrackPublished {
        track: TrackInfo,
    },
    TrackUnpublished {
        participant: String,
        track: String,
    },
    TrackMuted {
        participant: String,
        track: String,
        muted: bool,
        /// Muted by a room admin: the publisher should mute its sender too; the server already
        /// stopped forwarding it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_admin: bool,
    },
    /// The participants speaking now, loudest first; sent when the set changes.
    ActiveSpeakers {
        speakers: Vec<Speaker>,
    },
    /// To a publisher: which layers of its simulcast track someone receives. It should stop
    /// encoding the disabled ones (`RTCRtpEncodingParameters.active = false`) until they are
    /// enabled again.
    SubscribedQualities {
        track: String,
        qualities: Vec<SubscribedQuality>,
    },
    /// To a subscriber: the layer of a simulcast track it receives changed, because it asked or
    /// because its bandwidth changed.
    TrackQuality {
        track: String,
        quality: VideoQuality,
        /// The quality it asked for; higher than `quality` while bandwidth is short.
        wanted: VideoQuality,
    },
    /// Participants whose connection quality changed (yourself included), and what the server
    /// withholds from the room now; sent with no updates when only the latter changed.
    ConnectionQuality {
        updates: Vec<ConnectionQualityInfo>,
        #[serde(default)]
        shedding: Shedding,
    },
    /// This participant was taken out of the room; the server closes the connection next.
    Removed {
        reason: RemovedReason,
        message: String,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Speaker {
    pub participant: String,
    /// 0.0 (silence) to 1.0 (full scale), smoothed.
    pub level: f32,
    /// In a voice bridge: the slot (0-based, the order of the slot m-lines) that carries this
    /// speaker now; none if it is not among the loudest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovedReason {
    /// A room admin removed this participant.
    RemovedByAdmin,
    /// The room was ended by an admin.
    RoomEnded,
    /// The same identity joined again elsewhere.
    DuplicateIdentity,
    /// The media connection failed or timed out.
    ConnectionLost,
    /// The server is shutting down.
    ServerShutdown,
    /// The client did not read its signaling messages fast enough.
    SlowConsumer,
    /// The API key that signed the participant's token was revoked.
    TokenRevoked,
    /// The server failed while handling this participant's connection (logged and counted
    /// there); the others in the room carry on. Joining again starts afresh.
    InternalError,
}

/// `POST /v1/rooms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: String,
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    /// Default: `rtc.empty_timeout_secs`.
    #[serde(default)]
    pub empty_timeout_secs: Option<u64>,
    /// Default: `rtc.max_participants`; 0 means no limit.
    #[serde(default)]
    pub max_participants: Option<u32>,
    /// Make it a voice bridge.
    #[serde(default)]
    pub bridge: Option<BridgeOptions>,
    /// Record it from its start (a `parley-recorder` takes the job). Voice bridges are recorded
    /// anyway while `rtc.record_bridges` is on.
    #[serde(default)]
    pub record: bool,
}

/// `GET /v1/rooms/{name}`: the room and who is in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomDetail {
    pub room: RoomInfo,
    pub participants: Vec<ParticipantInfo>,
    /// Sids of the participants speaking now, loudest first.
    #[serde(default)]
    pub active_speakers: Vec<String>,
    /// Sids of the participants with a raised hand, first raised first.
    #[serde(default)]
    pub raised_hands: Vec<String>,
}

/// `POST /v1/channels/{id}/bridge`: open the channel's voice bridge and ping every member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OpenBridge {
    /// The ping's text; a bilingual default says the bridge is open.
    pub body: Option<String>,
    /// Members listen until a moderator gives them the floor (default: everyone may speak).
    /// The moderators are whoever opened the bridge, the channel's creator and admins.
    pub moderated: bool,
}

/// The bridge that was opened and the urgent ping that asks everyone to join it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BridgeOpened {
    pub room: RoomInfo,
    pub message_id: MessageId,
    pub seq: i64,
}

/// `GET /v1/channels/{id}/bridge?message_id=`: who acknowledged the ping, joined the bridge, and
/// is speaking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BridgeRoster {
    pub room: RoomInfo,
    pub message_id: MessageId,
    pub members: Vec<BridgeMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BridgeMember {
    pub user_id: UserId,
    pub name: String,
    /// Where the member stands with the ping.
    pub ping: AckState,
    pub joined: bool,
    pub speaking: bool,
    /// In the bridge with its hand raised, waiting for the floor.
    pub hand_raised: bool,
    /// In the bridge and allowed to speak.
    pub has_floor: bool,
}

/// `POST /v1/rooms/{name}/participants/{identity}/mute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteTrackRequest {
    pub track: String,
    pub muted: bool,
}

/// `PATCH /v1/rooms/{name}/participants/{identity}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParticipant {
    pub grants: GrantsUpdate,
}

/// The grants to change; those left out keep their value. Whether a participant is hidden (a
/// recorder) comes from its token and cannot be changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GrantsUpdate {
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_sources: Option<Vec<TrackSource>>,
    pub room_admin: Option<bool>,
}

impl GrantsUpdate {
    pub fn apply(&self, grants: &mut ParticipantGrants) {
        if let Some(v) = self.can_publish {
            grants.can_publish = v;
        }
        if let Some(v) = self.can_subscribe {
            grants.can_subscribe = v;
        }
        if let Some(v) = &self.can_publish_sources {
            grants.can_publish_sources = v.clone();
        }
        if let Some(v) = self.room_admin {
            grants.room_admin = v;
        }
    }
}

/// The body of a meeting webhook (`x-parley-timestamp`, `x-parley-signature` as for the other
/// webhooks). `event` is one of `room_started`, `room_finished`, `participant_joined`,
/// `participant_left`, `track_published`, `track_unpublished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomWebhook {
    pub event: String,
    /// Unique per event, so a receiver can drop retried duplicates.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub room: RoomInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<ParticipantInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackInfo>,
}

/// A meeting as it happened: one session of a room, from its start to its end, and who
/// attended. `GET /v1/meetings`, `GET /v1/meetings/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Meeting {
    pub id: crate::MeetingId,
    pub room: String,
    /// The room session's sid (`RM_...`).
    pub room_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bridge: bool,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    /// None while the meeting goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Everyone who took part (hidden participants such as recorders excepted), first joined
    /// first; a participant who left and joined again appears once per stay.
    pub attendees: Vec<Attendee>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attendee {
    /// The participant's sid in the room.
    pub participant: String,
    pub identity: String,
    /// For users who joined with their own sign-in token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub joined_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<i64>,
}

/// `GET /v1/meetings`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeetingList {
    pub meetings: Vec<Meeting>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_defaults_to_auto_subscribe() {
        let m: RtcClientMessage = serde_json::from_str(r#"{"type":"join"}"#).unwrap();
        assert_eq!(
            m,
            RtcClientMessage::Join {
                id: None,
                token: None,
                room: None,
                auto_subscribe: true,
                resume: None,
            }
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<RtcClientMessage>(r#"{"type":"leave","x":1}"#);
        assert!(err.is_err());
    }

    #[test]
    fn a_grants_update_changes_only_what_it_names() {
        let mut g = ParticipantGrants {
            can_publish: true,
            can_subscribe: true,
            hidden: true,
            recorder: true,
            ..ParticipantGrants::default()
        };
        let update: GrantsUpdate = serde_json::from_str(r#"{"can_subscribe":false}"#).unwrap();
        update.apply(&mut g);
        assert!(g.can_publish && !g.can_subscribe && g.hidden && g.recorder);
        assert!(serde_json::from_str::<GrantsUpdate>(r#"{"hidden":false}"#).is_err());
    }

    #[test]
    fn sources_know_their_kind() {
        assert_eq!(TrackSource::ScreenShare.kind(), TrackKind::Video);
        assert_eq!(TrackSource::ScreenShareAudio.kind(), TrackKind::Audio);
    }
}

#[cfg(test)]
mod channel_room_tests {
    use super::*;

    #[test]
    fn reserved_names_are_the_channel_rooms() {
        let check = |name: &str, expected: Option<ChannelRoom>| {
            assert_eq!(ChannelRoom::parse(name), expected, "{name}");
        };
        check("meeting-12", Some(ChannelRoom::Meeting(ChannelId(12))));
        check("bridge-3", Some(ChannelRoom::Bridge(ChannelId(3))));
        check("meeting-007", Some(ChannelRoom::Meeting(ChannelId(7))));
        check("meeting-", None);
        check("meeting-1a", None);
        check("meeting--1", None);
        check("bridge-99999999999999999999", None);
        check("standup", None);
        check("my-meeting-1", None);
        assert_eq!(ChannelRoom::Bridge(ChannelId(3)).name(), "bridge-3");
        assert_ne!(
            ChannelRoom::parse("meeting-007").unwrap().name(),
            "meeting-007"
        );
    }
}

/// Someone rings people into a channel's meeting: each callee's devices ring (`ring` on
/// `/v1/ws`) until they answer, the caller cancels, or `expires_at` passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ring {
    pub id: crate::RingId,
    pub channel: ChannelId,
    /// The meeting room the callees join when they accept (`meeting-<channel>`).
    pub room: String,
    pub caller: crate::UserId,
    pub callees: Vec<RingCallee>,
    pub created_at: i64,
    /// When it stops ringing, ms since the epoch.
    pub expires_at: i64,
    /// When it stopped ringing; absent while it rings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<RingEnd>,
}

/// One person being rung, and their answer once they gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RingCallee {
    pub user_id: crate::UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<RingAnswerKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingAnswerKind {
    Accepted,
    Declined,
}

/// Why a ring stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingEnd {
    /// Someone accepted, and the others answered or it expired.
    Answered,
    /// Every callee declined.
    Declined,
    /// It expired with nobody accepting: the channel gets a missed-call message.
    Missed,
    /// The caller hung up first.
    Cancelled,
}

impl RingEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            RingEnd::Answered => "answered",
            RingEnd::Declined => "declined",
            RingEnd::Missed => "missed",
            RingEnd::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RingEnd> {
        [
            RingEnd::Answered,
            RingEnd::Declined,
            RingEnd::Missed,
            RingEnd::Cancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// Ring people into the channel's meeting: `user_ids` (members of the channel), or every other
/// member when left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRing {
    #[serde(default)]
    pub user_ids: Option<Vec<crate::UserId>>,
}

/// A callee's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRing {
    pub accept: bool,
}
