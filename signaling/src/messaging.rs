//! Messaging operations shared by the WebSocket and REST edges: validate, ask the policy,
//! write, then tell the hub. A change reaches the hub only after it is committed.

use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, MessageAction, MessageFacts};
use crate::AppState;
use axum::http::StatusCode;
use parley_proto::{
    ChannelEvent, ChannelId, ErrorCode, MemberRead, Message, MessageId, Receipts, ServerMessage,
    User, UserId,
};
use parley_proto::{PresenceState, Role, UserPresence};
use parley_storage::{now_ms, ChannelAccess, NewMessage, Sent};

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

fn check_body(state: &AppState, body: &str) -> AppResult<()> {
    let chars = body.chars().count();
    if body.trim().is_empty() {
        return Err(AppError::invalid("a message needs some text"));
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
    pub mentions: Vec<UserId>,
    pub mention_channel: bool,
}

pub async fn send(state: &AppState, me: &User, req: SendRequest) -> AppResult<Sent> {
    check_body(state, &req.body)?;
    if req.client_id.is_empty() || req.client_id.chars().count() > 100 {
        return Err(AppError::invalid("client_id must be 1 to 100 characters"));
    }
    let channel = access(state, me, req.channel).await?;
    policy::messages(Actor::from(me), &channel, MessageAction::Send)?;
    if let Some(parent) = req.reply_to {
        state.db.message(req.channel, parent).await.map_err(|_| {
            AppError::invalid(format!("reply_to: message {parent} is not in this channel"))
        })?;
    }
    if !req.mentions.is_empty() {
        let members = state.db.member_ids(req.channel).await?;
        if let Some(stranger) = req.mentions.iter().find(|u| !members.contains(u)) {
            return Err(AppError::invalid(format!(
                "mentions: user {stranger} is not a member of this channel"
            )));
        }
    }
    let sent = state
        .db
        .send_message(&NewMessage {
            channel: req.channel,
            sender: me.id,
            client_id: req.client_id,
            body: req.body,
            reply_to: req.reply_to,
            mentions: req.mentions,
            mention_channel: req.mention_channel,
        })
        .await?;
    if !sent.duplicate {
        state.hub.publish(&sent.event).await;
    }
    Ok(sent)
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
    check_body(state, body)?;
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
    /// At most this many (default 50, at most 200).
    pub limit: Option<u32>,
}

pub async fn history(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    q: HistoryQuery,
) -> AppResult<(Vec<Message>, bool)> {
    let access = access(state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Read)?;
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 200));
    match (q.from_seq, q.to_seq) {
        (Some(from), Some(to)) if q.before_seq.is_none() => {
            let messages = state.db.history_range(channel, from, to, limit).await?;
            let has_more =
                messages.len() as i64 == limit && messages.last().is_some_and(|m| m.seq < to);
            Ok((messages, has_more))
        }
        (None, None) => Ok(state
            .db
            .history_before(channel, q.before_seq, limit)
            .await?),
        _ => Err(AppError::invalid(
            "give before_seq, or from_seq with to_seq",
        )),
    }
}

/// Move the read marker forward; every device of the caller hears of it, and in small
/// channels the other members too.
pub async fn mark_read(
    state: &AppState,
    me: &User,
    channel: ChannelId,
    seq: i64,
) -> AppResult<(i64, i64)> {
    let access = access(state, me, channel).await?;
    if !access.is_member {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NotMember,
            "you are not a member of this channel",
        ));
    }
    let (read_seq, unread) = state.db.mark_read(channel, me.id, seq).await?;
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
    if access.member_count <= state.ws.small_group_max {
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
