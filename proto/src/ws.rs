//! The messaging hub's WebSocket protocol (`/v1/ws`), version 1. Every message is a JSON object
//! with a `type`. Requests carry a client-chosen `id`; the reply names it. Server pushes
//! (`message`, `edited`, `recalled`, `read_marker`, `reload`, `closing`) carry no `id`.
//! `docs/protocol.md` has an example of each.

use crate::{ChannelId, ErrorCode, FileId, MessageId, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The protocol versions this server speaks, newest last.
pub const PROTOCOL_VERSIONS: [u32; 1] = [1];

/// A client's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message on a connection.
    Hello {
        id: String,
        /// The versions the client speaks; the server picks the highest it shares.
        versions: Vec<u32>,
        /// The access token, unless given as `?access_token=` on the upgrade.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// The last sequence the client has seen, per channel. Missed events are replayed, or
        /// a `reload` says the gap is too large. Channels not named start from now.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resume: Vec<Resume>,
    },
    Send {
        id: String,
        channel: ChannelId,
        /// Chosen by the client, unique per sender and channel: a resend with the same
        /// `client_id` is stored and delivered once.
        client_id: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
        /// With `reply_to`: keep the reply in the thread of that message, not in the channel.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        thread_only: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
        /// `@channel`: notify every member.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        mention_channel: bool,
        #[serde(default, skip_serializing_if = "Priority::is_normal")]
        priority: Priority,
        /// Ask the mentioned users (all other members when none are mentioned) to acknowledge.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ack_requested: bool,
        /// Something the recipients can do from the notification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<PingAction>,
        /// Files to send with the message: uploaded by the sender for this channel (upload
        /// metadata `channel`) and not sent before. At most 20.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<FileId>,
    },
    /// Pin a message to the channel (or unpin it).
    Pin {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
        #[serde(default = "yes")]
        pinned: bool,
    },
    /// Add a reaction (or, with `added: false`, take it back).
    React {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
        emoji: String,
        #[serde(default = "yes")]
        added: bool,
    },
    /// The channel's pinned messages, most recently pinned first.
    Pins { id: String, channel: ChannelId },
    /// Leave a channel.
    Leave { id: String, channel: ChannelId },
    /// Acknowledge a ping: its reminders stop for the caller.
    Ack {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
    },
    /// Who has acknowledged a ping: for its sender, the channel's owner and admins.
    Roster {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
    },
    Edit {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
        body: String,
    },
    Recall {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
    },
    /// Messages of a channel: the newest `limit` before `before_seq` (default: the newest), or
    /// the range `from_seq..=to_seq`.
    History {
        id: String,
        channel: ChannelId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// Instead: the replies to this message (its thread), oldest first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replies_to: Option<MessageId>,
    },
    /// Move the caller's read marker forward (never back) to `seq`.
    MarkRead {
        id: String,
        channel: ChannelId,
        seq: i64,
    },
    /// The caller's channels with unread counts and last messages.
    Channels { id: String },
    /// "Read by N of M" for one message, and who has not read it.
    Receipts {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
    },
    /// How far each member has read (channels of at most `hub.small_group_max` members).
    ReadState { id: String, channel: ChannelId },
    /// Choose this user's presence (on every device) and status text. `online` clears a chosen
    /// `away` or `dnd`. A field left out is left as it is; `status_text: ""` clears the text.
    SetPresence {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<PresenceState>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status_text: Option<String>,
    },
    /// The presence of these users (those the caller may see).
    Presence { id: String, users: Vec<UserId> },
    /// The caller is typing in a channel; the other members see it for a few seconds.
    Typing { id: String, channel: ChannelId },
    /// A heartbeat; any message counts as one.
    Ping { id: String },
}

impl ClientMessage {
    pub fn id(&self) -> &str {
        match self {
            ClientMessage::Hello { id, .. }
            | ClientMessage::Send { id, .. }
            | ClientMessage::Ack { id, .. }
            | ClientMessage::Pin { id, .. }
            | ClientMessage::React { id, .. }
            | ClientMessage::Pins { id, .. }
            | ClientMessage::Leave { id, .. }
            | ClientMessage::Roster { id, .. }
            | ClientMessage::Edit { id, .. }
            | ClientMessage::Recall { id, .. }
            | ClientMessage::History { id, .. }
            | ClientMessage::MarkRead { id, .. }
            | ClientMessage::Channels { id }
            | ClientMessage::Receipts { id, .. }
            | ClientMessage::ReadState { id, .. }
            | ClientMessage::SetPresence { id, .. }
            | ClientMessage::Presence { id, .. }
            | ClientMessage::Typing { id, .. }
            | ClientMessage::Ping { id } => id,
        }
    }
}

/// Where a client stopped reading a channel's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    pub channel: ChannelId,
    /// The last sequence seen.
    pub seq: i64,
}

fn yes() -> bool {
    true
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<UserId>,
}

/// How loudly a message asks for attention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Normal,
    /// Shown prominently; with `ack_requested`, tracked until acknowledged.
    Important,
    /// An urgent ping: with `ack_requested`, re-notifies each recipient on a schedule, through
    /// do-not-disturb, across reconnects and restarts, until acknowledged or expired.
    Urgent,
}

impl Priority {
    pub fn is_normal(&self) -> bool {
        *self == Priority::Normal
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Important => "important",
            Priority::Urgent => "urgent",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Priority::Normal),
            "important" => Ok(Priority::Important),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!("unknown priority `{other}`")),
        }
    }
}

/// What a recipient can do straight from a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PingAction {
    /// Join the voice bridge of this room.
    JoinBridge { room: String },
    /// A ring into the channel's meeting (`meeting-<channel>`) that nobody took: call back by
    /// ringing the caller. Posted by the server in the caller's name.
    MissedCall { ring: crate::RingId },
}

/// Where a ping's recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckState {
    Acked,
    /// Reached a connected device, not acknowledged yet.
    Delivered,
    /// Not reached yet: no device connected since it was sent.
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterEntry {
    pub user_id: UserId,
    pub name: String,
    pub state: AckState,
    pub delivered_at: Option<i64>,
    pub acked_at: Option<i64>,
    /// Reminders sent so far.
    pub reminders: i64,
}

/// A message as clients see it. A recalled message keeps its place but loses its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub channel: ChannelId,
    /// The message's place in its channel.
    pub seq: i64,
    pub sender: Option<UserId>,
    /// `None` once recalled.
    pub body: Option<String>,
    pub reply_to: Option<MessageId>,
    /// A reply kept in its thread (`thread_only` on `send`): clients show it in the thread of
    /// `reply_to`, not in the channel. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thread_only: bool,
    /// How many replies this message has (its thread), those kept in the thread included.
    /// Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_count: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mention_channel: bool,
    #[serde(default, skip_serializing_if = "Priority::is_normal")]
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ack_requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PingAction>,
    /// When it was pinned, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_at: Option<i64>,
    /// Filled in history and pin lists; events carry the changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Files sent with the message (emptied by a recall).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::Attachment>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub recalled_at: Option<i64>,
}

/// One entry of a channel's event stream. `seq` numbers the stream without gaps: a message, an
/// edit and a recall each take the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
// A message is the common event: boxing it would cost an allocation for each one sent.
#[allow(clippy::large_enum_variant)]
pub enum ChannelEvent {
    Message {
        channel: ChannelId,
        seq: i64,
        message: Message,
    },
    MessageEdited {
        channel: ChannelId,
        seq: i64,
        message_id: MessageId,
        /// `None` if the message was recalled since.
        body: Option<String>,
        edited_at: i64,
    },
    MessageRecalled {
        channel: ChannelId,
        seq: i64,
        message_id: MessageId,
        recalled_at: i64,
        by: Option<UserId>,
    },
    MessagePinned {
        channel: ChannelId,
        seq: i64,
        message_id: MessageId,
        /// `false`: unpinned.
        pinned: bool,
        by: Option<UserId>,
        at: i64,
    },
    ReactionChanged {
        channel: ChannelId,
        seq: i64,
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
        /// `false`: taken back.
        added: bool,
    },
}

impl ChannelEvent {
    pub fn channel(&self) -> ChannelId {
        match self {
            ChannelEvent::Message { channel, .. }
            | ChannelEvent::MessageEdited { channel, .. }
            | ChannelEvent::MessageRecalled { channel, .. }
            | ChannelEvent::MessagePinned { channel, .. }
            | ChannelEvent::ReactionChanged { channel, .. } => *channel,
        }
    }

    pub fn seq(&self) -> i64 {
        match self {
            ChannelEvent::Message { seq, .. }
            | ChannelEvent::MessageEdited { seq, .. }
            | ChannelEvent::MessageRecalled { seq, .. }
            | ChannelEvent::MessagePinned { seq, .. }
            | ChannelEvent::ReactionChanged { seq, .. } => *seq,
        }
    }
}

/// A channel in the caller's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelSummary {
    pub channel: crate::Channel,
    /// The newest event's sequence.
    pub last_seq: i64,
    /// How far the caller has read.
    pub read_seq: i64,
    /// Messages from others after the read marker, recalled ones excepted.
    pub unread: i64,
    pub last_message: Option<Message>,
}

/// Who has and has not read a message, from the members' read markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Receipts {
    pub channel: ChannelId,
    pub message_id: MessageId,
    pub seq: i64,
    /// Members other than the sender whose marker is at or past the message.
    pub read_by: i64,
    /// Members other than the sender.
    pub of: i64,
    /// Those who have not read it yet.
    pub not_read: Vec<MemberRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberRef {
    pub user_id: UserId,
    pub name: String,
}

/// A member's read marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberRead {
    pub user_id: UserId,
    pub read_seq: i64,
}

/// Whether someone can be reached now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    Away,
    /// Do not disturb: connected, but only urgent pings get through.
    Dnd,
    Offline,
}

/// A user's presence as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserPresence {
    pub user_id: UserId,
    pub state: PresenceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// When the user was last connected, ms since the epoch; `None` if never, or connected now.
    pub last_seen: Option<i64>,
}

/// Limits the server enforces on this connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionLimits {
    pub max_frame_bytes: u64,
    pub requests_per_second: u32,
    pub burst: u32,
    pub recall_window_secs: u64,
    /// Send something (a `ping`) at least this often, or be disconnected.
    pub heartbeat_secs: u64,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        id: String,
        version: u32,
        user: User,
        limits: ConnectionLimits,
    },
    /// The send was committed: `seq` is its place in the channel.
    Sent {
        id: String,
        channel: ChannelId,
        seq: i64,
        message_id: MessageId,
        created_at: i64,
        /// This `client_id` had been sent before; nothing new was stored.
        duplicate: bool,
    },
    Edited {
        id: String,
        channel: ChannelId,
        seq: i64,
    },
    Recalled {
        id: String,
        channel: ChannelId,
        seq: i64,
    },
    History {
        id: String,
        channel: ChannelId,
        messages: Vec<Message>,
        /// More older messages exist before the first one returned.
        has_more: bool,
    },
    MarkedRead {
        id: String,
        channel: ChannelId,
        read_seq: i64,
        unread: i64,
    },
    Channels {
        id: String,
        channels: Vec<ChannelSummary>,
    },
    Pong {
        id: String,
    },
    Receipts {
        id: String,
        #[serde(flatten)]
        receipts: Receipts,
    },
    ReadState {
        id: String,
        channel: ChannelId,
        members: Vec<MemberRead>,
    },
    /// A plain acknowledgement of a request that has no other answer.
    Ok {
        id: String,
    },
    /// A pin or reaction request took effect as the event at `seq` (or changed nothing: `seq`
    /// is then the channel's current position).
    Done {
        id: String,
        channel: ChannelId,
        seq: i64,
    },
    Pins {
        id: String,
        channel: ChannelId,
        messages: Vec<Message>,
    },
    /// The caller was added to a channel (on any device): it is in the channel list from now.
    ChannelJoined {
        channel: crate::Channel,
    },
    /// The caller left or was removed from a channel.
    ChannelLeft {
        channel: ChannelId,
    },
    /// The ping was acknowledged (again, if it already was: `acked_at` is the first time).
    Acked {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
        acked_at: i64,
    },
    Roster {
        id: String,
        channel: ChannelId,
        message_id: MessageId,
        recipients: Vec<RosterEntry>,
    },
    /// A reminder of a ping not yet acknowledged (the `reminder`th).
    PingReminder {
        channel: ChannelId,
        reminder: i64,
        message: Message,
    },
    /// On connecting: the pings waiting for this user's acknowledgement.
    PendingPings {
        pings: Vec<Message>,
    },
    /// For a ping's sender (and the channel's owner): a recipient's standing changed.
    PingUpdate {
        channel: ChannelId,
        message_id: MessageId,
        recipient: RosterEntry,
    },
    Presence {
        id: String,
        users: Vec<UserPresence>,
    },
    /// Someone the caller shares a channel with changed presence.
    PresenceChanged(UserPresence),
    /// Someone the caller shares a channel with (or the caller) changed their profile: name,
    /// title, time zone or avatar.
    UserUpdated {
        user: crate::UserCard,
    },
    /// A member is typing; show it until `expires_in_ms` passes without another.
    Typing {
        channel: ChannelId,
        user_id: UserId,
        expires_in_ms: u64,
    },
    /// Another member of a small channel read further.
    MemberRead {
        channel: ChannelId,
        user_id: UserId,
        read_seq: i64,
    },
    Error {
        /// The request's id, when the request could be read that far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
    /// The caller's read marker moved (on this or another of its devices).
    ReadMarker {
        channel: ChannelId,
        read_seq: i64,
        unread: i64,
    },
    /// The events after `after_seq` up to `last_seq` are too many to replay: load the
    /// channel's history afresh. Live events after `last_seq` follow.
    Reload {
        channel: ChannelId,
        after_seq: i64,
        last_seq: i64,
    },
    /// A meeting or voice bridge of one of the caller's channels started, or someone joined or
    /// left it: `room.num_participants` people are in it now.
    ChannelCall {
        channel: ChannelId,
        room: Box<crate::RoomInfo>,
    },
    /// ... and it ended (`room` is its name).
    ChannelCallEnded {
        channel: ChannelId,
        room: String,
    },
    /// Someone rings the caller into a channel's meeting: show an incoming call with accept
    /// and decline until `ring.expires_at`, or until `ring_updated` says it ended.
    Ring {
        ring: Box<crate::Ring>,
    },
    /// A ring the caller made or is rung by changed: someone answered, or it ended
    /// (`ended_at`, `end_reason`).
    RingUpdated {
        ring: Box<crate::Ring>,
    },
    /// A new entry in the caller's notification inbox (tasks, minutes, recordings).
    Notification {
        notification: crate::Notification,
    },
    /// The server is about to close the connection, and why.
    Closing {
        code: ErrorCode,
        message: String,
    },
    /// An event in one of the caller's channels: `message`, `message_edited` or
    /// `message_recalled`, with its own `type`.
    #[serde(untagged)]
    Event(ChannelEvent),
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let hello: ClientMessage = serde_json::from_str(
            r#"{"type":"hello","id":"1","versions":[1],"resume":[{"channel":7,"seq":42}]}"#,
        )
        .unwrap();
        assert_eq!(
            hello,
            ClientMessage::Hello {
                id: "1".into(),
                versions: vec![1],
                token: None,
                resume: vec![Resume {
                    channel: ChannelId(7),
                    seq: 42
                }],
            }
        );
        let event = ServerMessage::Event(ChannelEvent::MessageRecalled {
            channel: ChannelId(7),
            seq: 43,
            message_id: MessageId(9),
            recalled_at: 1,
            by: Some(UserId(2)),
        });
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"message_recalled","channel":7,"seq":43,"message_id":9,"recalled_at":1,"by":2}"#
        );
        let back: ServerMessage =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
        let unknown = serde_json::from_str::<ClientMessage>(r#"{"type":"fly","id":"1"}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown variant"));
    }
}
