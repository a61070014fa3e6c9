//! Meetings as they happened: each session of a room, its channel and who attended. Written
//! from the SFU's room events (`rtc::spawn_room_events`); recordings, minutes and tasks will
//! hang off them.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::policy::{self, MeetingAction, MeetingFacts};
use crate::AppState;
use axum::extract::{Path, Query, State};
use parley_proto::{Meeting, MeetingId, MeetingList, Role, User};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only meetings that started before this time (ms since the epoch), to page back.
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

/// The meetings the caller may see, newest first: all for admins; for others, those of their
/// channels and those they attended; for guests, only those they attended.
#[utoipa::path(get, path = "/v1/meetings", tag = "meetings", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = MeetingList)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> AppResult<axum::Json<MeetingList>> {
    let me = caller.user()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit must be 1 to 200"));
    }
    let meetings = state
        .db
        .meetings_for(
            me.id,
            me.role == Role::Admin,
            me.role == Role::Guest,
            query.before,
            limit,
        )
        .await?;
    Ok(axum::Json(MeetingList { meetings }))
}

/// One meeting with its attendees.
#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Meeting), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Meeting>> {
    let me = caller.user()?;
    Ok(axum::Json(
        load(&state, me, MeetingId(id), MeetingAction::View).await?,
    ))
}

/// The meeting `id`, if `me` may do `action` to it (the one place meeting access is decided
/// for minutes, tasks and recordings too).
pub(crate) async fn load(
    state: &AppState,
    me: &User,
    id: MeetingId,
    action: MeetingAction,
) -> AppResult<Meeting> {
    let meeting = state
        .db
        .meeting(id)
        .await?
        .ok_or_else(|| AppError::not_found("no such meeting"))?;
    policy::meeting(me.role, facts(state, me, &meeting).await?, action)?;
    Ok(meeting)
}

/// How `me` stands to `meeting`.
pub(crate) async fn facts(
    state: &AppState,
    me: &User,
    meeting: &Meeting,
) -> AppResult<MeetingFacts> {
    let channel_member = match meeting.channel_id {
        Some(channel) => state.db.is_member(channel, me.id).await?,
        None => false,
    };
    Ok(MeetingFacts {
        channel_member,
        attended: meeting.attendees.iter().any(|a| a.user_id == Some(me.id)),
    })
}
