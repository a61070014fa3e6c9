use super::users::validate_name;
use crate::auth::Caller;
use crate::config::MAX_RETENTION_DAYS;
use crate::error::{AppError, AppResult, Json};
use crate::messaging::{self, HistoryQuery};
use crate::policy::{self, Actor, AdminAction, ChannelAction, ChannelFacts};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use parley_proto::{
    AddMembers, Channel, ChannelId, ChannelSummary, CreateChannel, Member, Message, User,
};
use parley_storage::NewChannel;

/// The channel and the facts the policy needs about it and the caller.
async fn load(state: &AppState, me: &User, id: i64) -> AppResult<(Channel, Option<String>, bool)> {
    let channel = state
        .db
        .channel(ChannelId(id))
        .await?
        .ok_or_else(|| AppError::not_found("channel not found"))?;
    let department = match channel.department_id {
        Some(d) => state.db.department_by_id(d).await?.map(|d| d.path),
        None => None,
    };
    let is_member = state.db.is_member(channel.id, me.id).await?;
    Ok((channel, department, is_member))
}

fn facts<'a>(
    channel: &Channel,
    department: &'a Option<String>,
    is_member: bool,
) -> ChannelFacts<'a> {
    ChannelFacts {
        is_member,
        created_by: channel.created_by,
        department: department.as_deref(),
        archived: channel.archived,
        open: channel.open,
    }
}

/// The caller's channels with unread counts and last messages, most recent activity first.
#[utoipa::path(get, path = "/v1/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = [ChannelSummary])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<ChannelSummary>>> {
    let me = caller.user()?;
    Ok(axum::Json(state.db.channel_summaries(me.id).await?))
}

/// A page of a channel's messages.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// More older messages exist before the first one returned.
    pub has_more: bool,
}

/// History: the newest messages before `before_seq`, or the range `from_seq..=to_seq`.
/// Recalled messages keep their place without their text.
#[utoipa::path(get, path = "/v1/channels/{id}/messages", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 403, body = parley_proto::ErrorBody, description = "not_member")))]
pub async fn messages(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<HistoryQuery>,
) -> AppResult<axum::Json<HistoryPage>> {
    let me = caller.user()?;
    let (messages, has_more) = messaging::history(&state, me, ChannelId(id), query).await?;
    Ok(axum::Json(HistoryPage { messages, has_more }))
}

/// Create a channel; the creator is always a member.
#[utoipa::path(post, path = "/v1/channels", tag = "channels", security(("bearer" = [])), request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateChannel>,
) -> AppResult<(StatusCode, axum::Json<Channel>)> {
    let me = caller.user()?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Create {
            kind: req.kind,
            department: req.department.as_deref(),
        },
    )?;
    validate_name(&req.name)?;
    let with_one_other = req.members.len() == 1 && req.members[0] != me.id;
    if req.kind == parley_proto::ChannelKind::Direct && !with_one_other {
        return Err(AppError::invalid(
            "a direct channel has exactly one other member",
        ));
    }
    if req.open && req.kind != parley_proto::ChannelKind::Group {
        return Err(AppError::invalid(
            "only group channels can be open to everyone",
        ));
    }
    let channel = state
        .db
        .create_channel(
            NewChannel {
                name: req.name,
                kind: req.kind,
                category: req.category,
                department: req.department,
                created_by: me.id,
                open: req.open,
            },
            &req.members,
        )
        .await?;
    let members = state.db.member_ids(channel.id).await?;
    messaging::joined(&state, &channel, &members).await?;
    Ok((StatusCode::CREATED, axum::Json(channel)))
}

#[utoipa::path(get, path = "/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Channel), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Channel>> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Read(facts(&channel, &department, is_member)),
    )?;
    Ok(axum::Json(channel))
}

/// The open channels the caller is not in, by name: what they may join themselves. Guests see
/// none.
#[utoipa::path(get, path = "/v1/channels/browse", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = [Channel])))]
pub async fn browse(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<Channel>>> {
    let me = caller.user()?;
    if me.role == parley_proto::Role::Guest {
        return Ok(axum::Json(Vec::new()));
    }
    Ok(axum::Json(state.db.open_channels(me.id).await?))
}

/// Join an open channel yourself (members and admins; not guests). Joining a channel you are in
/// changes nothing. Your devices get `channel_joined` on `/v1/ws`, as when someone adds you.
#[utoipa::path(post, path = "/v1/channels/{id}/join", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Channel),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden: guests join only what they are invited to"),
        (status = 404, body = parley_proto::ErrorBody, description = "not_found: no such channel, or not open"),
        (status = 409, body = parley_proto::ErrorBody, description = "conflict: the channel is archived")))]
pub async fn join(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Channel>> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Join(facts(&channel, &department, is_member)),
    )?;
    if is_member {
        return Ok(axum::Json(channel));
    }
    state.db.add_members(channel.id, &[me.id]).await?;
    let channel = state.db.channel(channel.id).await?.unwrap_or(channel);
    messaging::joined(&state, &channel, &[me.id]).await?;
    tracing::info!(channel = %channel.id, user = %me.id, "joined an open channel");
    Ok(axum::Json(channel))
}

/// Archive the channel: it stays readable, takes nothing new. Guests cannot.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204, description = "archived"), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn archive(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Archive(facts(&channel, &department, is_member)),
    )?;
    state.db.archive_channel(channel.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/channels/{id}/members", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = [Member]), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<Member>>> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Read(facts(&channel, &department, is_member)),
    )?;
    Ok(axum::Json(state.db.members(channel.id).await?))
}

/// Invite users (guests included) to the channel.
#[utoipa::path(post, path = "/v1/channels/{id}/members", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AddMembers,
    responses((status = 200, body = [Member]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn add_members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<AddMembers>,
) -> AppResult<axum::Json<Vec<Member>>> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::AddMembers(facts(&channel, &department, is_member)),
    )?;
    if channel.kind == parley_proto::ChannelKind::Direct {
        return Err(AppError::invalid(
            "a direct channel keeps its two members; create a group instead",
        ));
    }
    state.db.add_members(channel.id, &req.user_ids).await?;
    let channel = state.db.channel(channel.id).await?.unwrap_or(channel);
    messaging::joined(&state, &channel, &req.user_ids).await?;
    Ok(axum::Json(state.db.members(channel.id).await?))
}

/// "Read by N of M" for a message and who has not read it, computed from read markers. In
/// announcement channels: for the poster, the channel's owner and admins.
#[utoipa::path(get, path = "/v1/channels/{id}/messages/{message_id}/receipts", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, body = parley_proto::Receipts), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn receipts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message_id)): Path<(i64, i64)>,
) -> AppResult<axum::Json<parley_proto::Receipts>> {
    let me = caller.user()?;
    let receipts = messaging::receipts(
        &state,
        me,
        ChannelId(id),
        parley_proto::MessageId(message_id),
    )
    .await?;
    Ok(axum::Json(receipts))
}

/// Rename the channel or set its urgent-ping reminder schedule: its creator, admins, and
/// department admins for their departments' channels.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = parley_proto::UpdateChannel,
    responses((status = 200, body = Channel),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: a schedule or retention out of range"),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden: not the channel's manager, or `retention_days` from someone not an admin")))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<parley_proto::UpdateChannel>,
) -> AppResult<axum::Json<Channel>> {
    let me = caller.user()?;
    let (channel, department, is_member) = load(&state, me, id).await?;
    policy::channels(
        Actor::from(me),
        ChannelAction::Manage(facts(&channel, &department, is_member)),
    )?;
    if let Some(name) = &req.name {
        validate_name(name)?;
    }
    for secs in [req.urgent_every_secs, req.urgent_for_secs]
        .into_iter()
        .flatten()
    {
        if !(0..=7 * 24 * 3600).contains(&secs) {
            return Err(AppError::invalid(
                "urgent schedules are 0 (the default) to 604800 seconds",
            ));
        }
    }
    if req.open == Some(true) && channel.kind != parley_proto::ChannelKind::Group {
        return Err(AppError::invalid(
            "only group channels can be open to everyone",
        ));
    }
    if let Some(days) = req.retention_days {
        policy::admin(Actor::from(me), AdminAction::ManageRetention)?;
        if !(0..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(AppError::invalid(format!(
                "retention_days is 1 to {MAX_RETENTION_DAYS}, or 0 for the organisation's"
            )));
        }
    }
    let updated = state
        .db
        .update_channel(
            channel.id,
            req.name.as_deref(),
            req.urgent_every_secs,
            req.urgent_for_secs,
            req.retention_days,
            req.open,
        )
        .await?;
    if let Some(days) = req.retention_days {
        tracing::info!(channel = %channel.id, days, by = %me.id, "channel retention set");
    }
    Ok(axum::Json(updated))
}

/// The channel's pinned messages, most recently pinned first.
#[utoipa::path(get, path = "/v1/channels/{id}/pins", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = [Message]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn pins(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<Message>>> {
    let me = caller.user()?;
    Ok(axum::Json(
        messaging::pins(&state, me, ChannelId(id)).await?,
    ))
}

/// Take a member out of the channel: the channel's creator, admins, department admins for their
/// departments' channels. Anyone may remove themselves (leave). Direct channels keep both.
#[utoipa::path(delete, path = "/v1/channels/{id}/members/{user_id}", tag = "channels", security(("bearer" = [])),
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204, description = "removed"), (status = 403, body = parley_proto::ErrorBody),
        (status = 409, body = parley_proto::ErrorBody, description = "a direct channel")))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, user_id)): Path<(i64, i64)>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    messaging::remove_member(&state, me, ChannelId(id), parley_proto::UserId(user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
