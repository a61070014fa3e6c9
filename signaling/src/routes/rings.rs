//! Ringing people into a channel's meeting (REST): start a ring, answer it, hang up. The
//! ring's life is in `crate::rings`.

use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::messaging;
use crate::policy::{self, Actor, MessageAction};
use crate::rings;
use crate::routes::call::open_room;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_proto::{
    AnswerRing, ChannelId, ErrorCode, Ring, RingAnswerKind, RingEnd, RingId, ServerMessage,
    StartRing, UserId,
};
use parley_storage::Answered;

/// At most this many people are rung at once.
const MAX_CALLEES: usize = 50;

/// Ring people into the channel's meeting: `user_ids` (members of the channel), or every other
/// member. The meeting room opens (as `POST /v1/channels/{id}/meeting`), each callee's devices
/// get `ring` on `/v1/ws` and ring for `rtc.ring_secs`; the caller joins the room at once.
/// Ringing someone while the meeting runs is how they are invited into it.
#[utoipa::path(post, path = "/v1/channels/{id}/ring", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = StartRing,
    responses((status = 201, body = Ring),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden, not_member"),
        (status = 409, body = parley_proto::ErrorBody, description = "channel_archived, or conflict: you are ringing in this channel already"),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: someone not in the channel, nobody to ring, or more than 50")))]
pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<StartRing>,
) -> AppResult<(StatusCode, axum::Json<Ring>)> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    let access = messaging::access(&state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Send)?;
    let members = state.db.member_ids(channel).await?;
    let mut callees: Vec<UserId> = match req.user_ids {
        Some(ids) => {
            if let Some(outsider) = ids.iter().find(|u| !members.contains(u)) {
                return Err(AppError::invalid(format!(
                    "user {outsider} is not a member of this channel"
                )));
            }
            ids
        }
        None => members,
    };
    callees.retain(|u| *u != me.id);
    callees.sort();
    callees.dedup();
    if callees.is_empty() {
        return Err(AppError::invalid(
            "nobody to ring: name someone else in the channel",
        ));
    }
    if callees.len() > MAX_CALLEES {
        return Err(AppError::invalid(format!(
            "at most {MAX_CALLEES} people are rung at once; this names {}",
            callees.len()
        )));
    }
    // Nobody is rung twice over by the same caller (inviting someone else meanwhile is fine).
    let ringing = state.db.ringing(channel, me.id).await?;
    if let Some((user, open)) = ringing.iter().find(|(u, _)| callees.contains(u)) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!("ring {open} is ringing user {user} already; hang it up first"),
        ));
    }
    let room = open_room(&state, channel).await?.name;
    let ring_ms = i64::try_from(state.rtc.ring_secs.saturating_mul(1000)).unwrap_or(30_000);
    let expires_at = parley_storage::now_ms() + ring_ms;
    let ring = state
        .db
        .start_ring(channel, &room, me.id, &callees, expires_at)
        .await?;
    let message = ServerMessage::Ring {
        ring: Box::new(ring.clone()),
    };
    for callee in &ring.callees {
        state.hub.to_user(callee.user_id, &message).await;
    }
    rings::expire_later(&state, &ring);
    tracing::info!(ring = %ring.id, channel = %channel, by = %me.id, callees = ring.callees.len(), "ringing");
    Ok((StatusCode::CREATED, axum::Json(ring)))
}

/// A ring, for its caller and callees.
#[utoipa::path(get, path = "/v1/rings/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Ring), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Ring>> {
    let me = caller.user()?;
    Ok(axum::Json(visible(&state, RingId(id), me.id).await?))
}

/// Answer a ring you are rung by: `{"accept": true}` (then join the ring's `room` over
/// `/v1/rtc`) or `false`. Everyone in the ring hears of it (`ring_updated`); when the last
/// callee answers, it ends. Answering twice, or after the ring ended, is `409 conflict`.
#[utoipa::path(post, path = "/v1/rings/{id}/answer", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AnswerRing,
    responses((status = 200, body = Ring),
        (status = 404, body = parley_proto::ErrorBody, description = "not_found: no such ring, or you are not rung by it"),
        (status = 409, body = parley_proto::ErrorBody, description = "conflict: answered already, or the ring ended")))]
pub async fn answer(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<AnswerRing>,
) -> AppResult<axum::Json<Ring>> {
    let me = caller.user()?;
    let ring = visible(&state, RingId(id), me.id).await?;
    if !ring.callees.iter().any(|c| c.user_id == me.id) {
        return Err(AppError::not_found("ring not found"));
    }
    let kind = if req.accept {
        RingAnswerKind::Accepted
    } else {
        RingAnswerKind::Declined
    };
    let ring = match state.db.answer_ring(ring.id, me.id, kind).await? {
        Answered::Taken(ring) => ring,
        Answered::TooLate(ring) => {
            let why = if ring.ended_at.is_some() {
                "the ring has ended"
            } else {
                "you answered this ring already"
            };
            return Err(AppError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                why,
            ));
        }
    };
    // The last answer ends it: answered when anyone accepted, else declined.
    if ring.callees.iter().all(|c| c.answer.is_some()) {
        if let Some(ended) = rings::end(&state, ring.id, RingEnd::Declined).await? {
            return Ok(axum::Json(ended));
        }
    }
    rings::tell(&state, &ring).await;
    Ok(axum::Json(ring))
}

/// Hang up a ring you started, before everyone answered. Callees who had not answered stop
/// ringing; when nobody had accepted, the channel gets the missed-call message.
#[utoipa::path(delete, path = "/v1/rings/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Ring),
        (status = 404, body = parley_proto::ErrorBody, description = "not_found: no such ring, or not yours"),
        (status = 409, body = parley_proto::ErrorBody, description = "conflict: the ring ended already")))]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Ring>> {
    let me = caller.user()?;
    let ring = visible(&state, RingId(id), me.id).await?;
    if ring.caller != me.id {
        return Err(AppError::not_found("ring not found"));
    }
    match rings::end(&state, ring.id, RingEnd::Cancelled).await? {
        Some(ended) => Ok(axum::Json(ended)),
        None => Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "the ring has ended",
        )),
    }
}

/// The ring, when `user` is its caller or one of its callees; else `404`, so that ring ids
/// reveal nothing.
async fn visible(state: &AppState, id: RingId, user: UserId) -> AppResult<Ring> {
    let ring = state
        .db
        .ring(id)
        .await?
        .ok_or_else(|| AppError::not_found("ring not found"))?;
    let involved = ring.caller == user || ring.callees.iter().any(|c| c.user_id == user);
    if !involved {
        return Err(AppError::not_found("ring not found"));
    }
    Ok(ring)
}
