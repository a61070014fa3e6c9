//! Messaging operations shared by the WebSocket and REST edges: validate, ask the policy,
//! write, then tell the hub. A change reaches the hub only after it is committed.

use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, MessageAction, MessageFacts};
use crate::AppState;
use axum::http::StatusCode;
use parley_proto::{
    ChannelEvent, ChannelId, ErrorCode, FileId, MemberRead, Message, MessageId, Receipts,
    ServerMessage, User, UserId,
};
use parley_proto::{PingAction, PresenceState, Priority, Role, RosterEntry, UserPresence};
use parley_storage::{now_ms, AckRequest, ChannelAccess, NewMessage, Sent};

/// The caller's standing in a channel. A channel that does not exist looks like one the
/// caller is not a member of, so nobody learns which channels exist.
pub async fn access(state: &AppState, me: &User, channel: ChannelId) -> AppResult<ChannelAccess> {
    state
        .db
        .channel_access(channel, me.id)
        .await?
        .ok_or_else(|| {
            AppError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::NotMember,
                "you are not a member of this channel",
            )
        })
}

/// The most files one message carries.
pub const MAX_ATTACHMENTS: usize = 20;

fn check_body(state: &AppState, body: &str, attachments: &[FileId]) -> AppResult<()> {
    let chars = body.chars().count();
    if body.trim().is_empty() && attachments.is_empty() {
        return Err(AppError::invalid("a message needs some text or a file"));
    }
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(AppError::invalid(format!(
            "a message carries at most {MAX_ATTACHMENTS} files; this one has {}",
            attachments.len()
        )));
    }
    if chars > state.ws.max_message_chars {
        return Err(AppError::invalid(format!(
            "a message has at most {} characters; this one has {chars}",
            state.ws.max_message_chars
        )));
    }
    Ok(())
}

pub struct SendRequest {
    pub channel: ChannelId,
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<MessageId>,
    /// With `reply_to`: a reply kept in its thread.
    pub thread_only: bool,
    pub mentions: Vec<UserId>,
    pub mention_channel: bool,
    pub priority: Priority,
    pub ack_requested: bool,
    pub action: Option<PingAction>,
    /// Files uploaded for this channel, to send with the message.
    pub attachments: Vec<FileId>,
}

/// Who must acknowledge, and how they are reminded: the mentioned users, or every other
/// member; urgent pings on the channel's schedule or the server's.
async fn ack_request(
    state: &AppState,
    me: &User,
    req: &SendRequest,
    channel: &ChannelAccess,
) -> AppResult<Option<AckRequest>> {
    if !req.ack_requested {
        return Ok(None);
    }
    if req.priority == Priority::Normal {
        return Err(AppError::invalid(
            "ack_requested needs priority important or urgent",
        ));
    }
    let recipients: Vec<UserId> = if req.mentions.is_empty() {
        state
            .db
            .member_ids(req.channel)
            .await?
            .into_iter()
            .filter(|u| *u != me.id)
            .collect()
    } else {
        req.mentions
            .iter()
            .copied()
            .filter(|u| *u != me.id)
            .collect()
    };
    if recipients.is_empty() {
        return Err(AppError::invalid("nobody else is here to acknowledge"));
    }
    let secs = |own: Option<i64>, default: u64| {
        own.filter(|s| *s > 0)
            .unwrap_or(i64::try_from(default).unwrap_or(i64::MAX))
    };
    let every = secs(channel.urgent_every_secs, state.urgent.remind_every_secs);
    let for_secs = secs(channel.urgent_for_secs, state.urgent.remind_for_secs);
    Ok(Some(AckRequest {
        recipients,
        every_ms: (req.priority == Priority::Urgent).then_some(every.saturating_mul(1000)),
        for_ms: for_secs.saturating_mul(1000),
    }))
}

pub async fn send(state: &AppState, me: &User, mut req: SendRequest) -> AppResult<Sent> {
    check_body(state, &req.body, &req.attachments)?;
    let mut seen = std::collections::HashSet::new();
    req.attachments.retain(|f| seen.insert(*f));
    // A user mentioned twice is one mention (and one acknowledgement to ask for).
    let mut seen = std::collections::HashSet::new();
    req.mentions.retain(|u| seen.insert(*u));
    if req.client_id.is_empty() || req.client_id.chars().count() > 100 {
        return Err(AppError::invalid("client_id must be 1 to 100 characters"));
    }
    let channel = access(state, me, req.channel).await?;
    policy::messages(Actor::from(me), &channel, MessageAction::Send)?;
    if let Some(parent) = req.reply_to {
        let parent = state.db.message(req.channel, parent).await.map_err(|_| {
            AppError::invalid(format!("reply_to: message {parent} is not in this channel"))
        })?;
        // Threads are one level deep: a thread's replies answer its first message.
        if req.thread_only && parent.thread_only {
            let root = parent.reply_to.map_or(0, |m| m.0);
            return Err(AppError::invalid(format!(
                "reply_to: message {} is a reply in the thread of message {root}; reply to {root}",
                parent.id
            )));
        }
    } else if req.thread_only {
        return Err(AppError::invalid(
            "thread_only needs reply_to: the thread's first message",
        ));
    }
    if !req.mentions.is_empty() {
        let members = state.db.member_ids(req.channel).await?;
        if let Some(stranger) = req.mentions.iter().find(|u| !members.contains(u)) {
            return Err(AppError::invalid(format!(
                "mentions: user {stranger} is not a member of this channel"
            )));
        }
    }
    let ack = ack_request(state, me, &req, &channel).await?;
    let sent = state
        .db
        .send_message(&NewMessage {
            channel: req.channel,
            sender: me.id,
            client_id: req.client_id,
            body: req.body,
            reply_to: req.reply_to,
            thread_only: req.thread_only,
            mentions: req.mentions,
            mention_channel: req.mention_channel,
            priority: req.priority,
            action: req.action,
            ack,
            attachments: req.attachments,
        })
        .await?;
    if !sent.duplicate {
        state.hub.publish(&sent.event).await;
        if sent.message.ack_requested {
            let recipients: Vec<UserId> = state
                .db
                .roster(sent.message.id)
                .await?
                .into_iter()
                .map(|r| r.user_id)
                .collect();
            let connected = state.hub.presence(recipients).await;
            for user in connected {
                delivered(state, &sent.message, user.user_id).await?;
            }
        }
    }
    Ok(sent)
}

/// A ping reached a device of `user`: record it once, and tell the sender.
pub async fn delivered(state: &AppState, message: &Message, user: UserId) -> AppResult<()> {
    if state.db.mark_delivered(message.id, user, now_ms()).await? {
        tell_sender(state, message, user).await?;
    }
    Ok(())
}

/// The sender (and the channel's owner) see each recipient's standing change live.
async fn tell_sender(state: &AppState, message: &Message, user: UserId) -> AppResult<()> {
    let Some(recipient) = state.db.roster_entry(message.id, user).await? else {
        return Ok(());
    };
    let update = ServerMessage::PingUpdate {
        channel: message.channel,
        message_id: message.id,
        recipient,
    };
    let mut watchers = Vec::new();
    watchers.extend(message.sender);
    if let Some(owner) = state
        .db
        .channel(message.channel)
        .await?
        .and_then(|c| c.created_by)
    {
        if !watchers.contains(&owner) {
            watchers.push(owner);
        }
    }
    // Only those still in the channel hear of it.
    let mut members = Vec::new();
    for watcher in watchers {
        if state.db.is_member(message.channel, watcher).await? {
            members.push(watcher);
        }
    }
    for watcher in members {
        state.hub.to_user(watcher, &update).await;
    }
    Ok(())
}

/// Acknowledge a ping; its reminders stop for the caller. Acknowledging again is harmless.
pub async fn ack(state: &AppState, me: &User, channel: ChannelId, id: MessageId) -> AppResult<i64> {
    access(state, me, channel).await?;
    let message = state.db.message(channel, id).await?;
    let first = state
        .db
        .roster_entry(id, me.id)
        .await?
        .is_some_and(|r| r.acked_at.is_none());
    let acked_at = state
        .db
        .ack_ping(id, me.id, now_ms())
        .await?
        .ok_or_else(|| AppError::not_found("this message asks nothing of you to acknowledge"))?;
    if first {
        tell_sender(state, &message, me.id).await?;
    }
    Ok(acked_at)
}

/// The acknowledgement roster of a ping.
pub async fn roster(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
) -> AppResult<Vec<RosterEntry>> {
    let access = access(state, me, channel).await?;
    let message = state.db.message(channel, id).await?;
    policy::messages(
        Actor::from(me),
        &access,
        MessageAction::Roster {
            sender: message.sender,
        },
    )?;
    Ok(state.db.roster(id).await?)
}

/// On connect: the pings still waiting for this user, now delivered.
pub async fn pending_pings(state: &AppState, me: &User) -> AppResult<Vec<Message>> {
    let pings = state.db.pending_pings(me.id, now_ms()).await?;
    for ping in &pings {
        delivered(state, ping, me.id).await?;
    }
    Ok(pings)
}

fn facts(message: &Message) -> MessageFacts {
    MessageFacts {
        sender: message.sender,
        recalled: message.recalled_at.is_some(),
        age_ms: now_ms() - message.created_at,
    }
}

pub async fn edit(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
    body: &str,
) -> AppResult<ChannelEvent> {
    check_body(state, body, &[])?;
    let access = access(state, me, channel).await?;
    let message = state.db.message(channel, id).await?;
    policy::messages(
        Actor::from(me),
        &access,
        MessageAction::Edit(facts(&message)),
    )?;
    let event = state.db.edit_message(channel, id, me.id, body).await?;
    state.hub.publish(&event).await;
    Ok(event)
}

pub async fn recall(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
) -> AppResult<ChannelEvent> {
    let access = access(state, me, channel).await?;
    let message = state.db.message(channel, id).await?;
    let window_ms =
        i64::try_from(state.ws.recall_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    policy::messages(
        Actor::from(me),
        &access,
        MessageAction::Recall {
            message: facts(&message),
            window_ms,
        },
    )?;
    let event = state.db.recall_message(channel, id, me.id).await?;
    state.hub.publish(&event).await;
    Ok(event)
}

/// Which messages a history request wants.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The newest messages before this sequence (default: the newest of all).
    pub before_seq: Option<i64>,
    /// With `to_seq`: the messages with `from_seq <= seq <= to_seq`.
    pub from_seq: Option<i64>,
    pub to_seq: Option<i64>,
    /// At most this many: 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Instead: the replies to this message (its thread), oldest first.
    #[param(value_type = Option<i64>)]
    pub replies_to: Option<MessageId>,
}

pub async fn history(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    q: HistoryQuery,
) -> AppResult<(Vec<Message>, bool)> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Read)?;
    let limit = match q.limit.unwrap_or(50) {
        n @ 1..=200 => i64::from(n),
        n => {
            return Err(AppError::invalid(format!(
                "limit must be 1 to 200, not {n}"
            )))
        }
    };
    let (mut messages, has_more) = match (q.replies_to, q.before_seq, q.from_seq, q.to_seq) {
        (Some(parent), None, None, None) => {
            state.db.message(channel, parent).await?;
            state.db.thread(channel, parent, limit).await?
        }
        (None, _, None, None) => {
            state
                .db
                .history_before(channel, q.before_seq, limit)
                .await?
        }
        (None, None, Some(from), Some(to)) => {
            let messages = state.db.history_range(channel, from, to, limit).await?;
            let has_more =
                messages.len() as i64 == limit && messages.last().is_some_and(|m| m.seq < to);
            (messages, has_more)
        }
        _ => {
            return Err(AppError::invalid(
                "give before_seq, or from_seq with to_seq, or replies_to alone",
            ))
        }
    };
    state.db.attach_reactions(&mut messages).await?;
    Ok((messages, has_more))
}

/// Move the read marker forward; every device of the caller hears of it, and in small
/// channels the other members too when it moved.
pub async fn mark_read(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    seq: i64,
) -> AppResult<(i64, i64)> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::MarkRead)?;
    let mark = state.db.mark_read(channel, me.id, seq).await?;
    let (read_seq, unread) = (mark.read_seq, mark.unread);
    state
        .hub
        .to_user(
            me.id,
            &ServerMessage::ReadMarker {
                channel,
                read_seq,
                unread,
            },
        )
        .await;
    if mark.moved && policy::shares_read_progress(&access, state.ws.small_group_max) {
        let notice = ServerMessage::MemberRead {
            channel,
            user_id: me.id,
            read_seq,
        };
        state.hub.to_channel(channel, me.id, &notice).await;
    }
    Ok((read_seq, unread))
}

/// "Read by N of M" for one message, and who has not read it.
pub async fn receipts(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
) -> AppResult<Receipts> {
    let access = access(state, me, channel).await?;
    let message = state.db.message(channel, id).await?;
    policy::messages(
        Actor::from(me),
        &access,
        MessageAction::Receipts {
            sender: message.sender,
        },
    )?;
    Ok(state.db.receipts(&message).await?)
}

/// How far each member has read, in a small channel.
pub async fn read_state(
    state: &AppState,
    me: &User,
    channel: ChannelId,
) -> AppResult<Vec<MemberRead>> {
    let access = access(state, me, channel).await?;
    let small_group_max = state.ws.small_group_max;
    policy::messages(
        Actor::from(me),
        &access,
        MessageAction::ReadState { small_group_max },
    )?;
    Ok(state.db.read_markers(channel).await?)
}

/// The presence of `users`, as far as the caller may see them (guests: only people they share
/// a channel with). Users this node has no devices of show as offline with their last-seen.
pub async fn presence(
    state: &AppState,
    me: &User,
    users: Vec<UserId>,
) -> AppResult<Vec<UserPresence>> {
    if users.len() > 500 {
        return Err(AppError::invalid("ask for at most 500 users at a time"));
    }
    let mut wanted: Vec<UserId> = Vec::with_capacity(users.len());
    for user in users {
        if !wanted.contains(&user) {
            wanted.push(user);
        }
    }
    if me.role == Role::Guest {
        let visible = state.db.co_members(me.id).await?;
        wanted.retain(|u| *u == me.id || visible.contains(u));
    }
    let known = state.hub.presence(wanted.clone()).await;
    let offline: Vec<UserId> = wanted
        .iter()
        .copied()
        .filter(|u| !known.iter().any(|p| p.user_id == *u))
        .collect();
    let last_seen = state.db.last_seen(&offline).await?;
    Ok(wanted
        .into_iter()
        .filter_map(|user| match known.iter().find(|p| p.user_id == user) {
            Some(p) => Some(p.clone()),
            None => last_seen.get(&user).map(|seen| UserPresence {
                user_id: user,
                state: PresenceState::Offline,
                status_text: None,
                last_seen: *seen,
            }),
        })
        .collect())
}

/// Tell the channel's other members that the caller is typing. Never stored.
pub async fn typing(state: &AppState, me: &User, channel: ChannelId) -> AppResult<()> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Send)?;
    state.hub.typing(channel, me.id).await;
    Ok(())
}

/// Pin or unpin a message. Returns the event's sequence, or the channel's position when the
/// message already was as asked.
pub async fn pin(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
    pinned: bool,
) -> AppResult<i64> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Pin)?;
    let change = state.db.pin_message(channel, id, me.id, pinned).await?;
    publish_change(state, change, access.last_seq).await
}

/// Publish a change that took a sequence, and return it; a request that changed nothing
/// answers with the channel's position.
async fn publish_change(
    state: &AppState,
    change: Option<ChannelEvent>,
    position: i64,
) -> AppResult<i64> {
    match change {
        Some(event) => {
            state.hub.publish(&event).await;
            Ok(event.seq())
        }
        None => Ok(position),
    }
}

/// Add or take back a reaction.
pub async fn react(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    id: MessageId,
    emoji: &str,
    added: bool,
) -> AppResult<i64> {
    let chars = emoji.chars().count();
    if chars == 0 || chars > 32 || emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::invalid(
            "an emoji is 1 to 32 characters without spaces",
        ));
    }
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::React)?;
    let change = state.db.react(channel, id, me.id, emoji, added).await?;
    publish_change(state, change, access.last_seq).await
}

/// The channel's pinned messages.
pub async fn pins(state: &AppState, me: &User, channel: ChannelId) -> AppResult<Vec<Message>> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Read)?;
    Ok(state.db.pinned(channel).await?)
}

/// Take `target` out of the channel (the caller itself: leave). Its devices stop receiving
/// the channel at once and are told so.
pub async fn remove_member(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    target: UserId,
) -> AppResult<()> {
    let found = state
        .db
        .channel(channel)
        .await?
        .ok_or_else(|| AppError::not_found("channel not found"))?;
    let department = match found.department_id {
        Some(d) => state.db.department_by_id(d).await?.map(|d| d.path),
        None => None,
    };
    let facts = policy::ChannelFacts {
        is_member: state.db.is_member(channel, me.id).await?,
        created_by: found.created_by,
        department: department.as_deref(),
        archived: found.archived,
        open: found.open,
    };
    let action = policy::ChannelAction::RemoveMember {
        facts,
        leaving: target == me.id,
        direct: found.kind == parley_proto::ChannelKind::Direct,
    };
    policy::channels(Actor::from(me), action)?;
    if !state.db.remove_member(channel, target).await? {
        return Err(AppError::not_found(format!(
            "user {target} is not a member of this channel"
        )));
    }
    // The hub tells the user's devices, which stop following the channel.
    state.hub.leave(target, channel).await;
    Ok(())
}

/// New members' devices start receiving the channel at once, from its position now, and are
/// told of it.
pub async fn joined(
    state: &AppState,
    channel: &parley_proto::Channel,
    users: &[UserId],
) -> AppResult<()> {
    let Some(&first) = users.first() else {
        return Ok(());
    };
    let last_seq = state
        .db
        .channel_access(channel.id, first)
        .await?
        .map_or(0, |a| a.last_seq);
    for &user in users {
        state.hub.joined(user, channel, last_seq).await;
    }
    Ok(())
}
