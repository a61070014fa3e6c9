//! The room service: create, list, inspect and end meeting rooms, and act on participants.
//! For admins and for app tokens whose grants allow it (`room_create`, `room_list`,
//! `room_admin`).

use crate::auth::{Caller, Principal};
use crate::error::{AppError, AppResult, Json};
use crate::policy::{self, RoomAction, RoomCaller};
use crate::rtc::validate_room_name;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_proto::{
    CreateRoom, MuteTrackRequest, ParticipantInfo, RoomDetail, RoomInfo, TrackInfo,
    UpdateParticipant,
};
use parley_sfu::RoomSettings;
use std::time::Duration;

fn allow(caller: &Principal, action: RoomAction<'_>) -> AppResult<()> {
    let who = match caller {
        Principal::User { user, .. } => RoomCaller::User(user.role),
        Principal::App(claims) => RoomCaller::App(&claims.grants),
    };
    policy::room_service(who, action)
}

/// Open a room (or return it if it is open already). Not a channel's reserved room
/// (`meeting-<n>`, `bridge-<n>`): only the channel's own call opens those.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoom,
    responses((status = 201, body = RoomInfo),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden, insufficient_grant; room_name_reserved for `meeting-<n>` and `bridge-<n>`, which only the channel's own call opens"),
        (status = 404, body = parley_proto::ErrorBody, description = "no such channel"),
        (status = 409, body = parley_proto::ErrorBody, description = "conflict: open for another channel or none")))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateRoom>,
) -> AppResult<(StatusCode, axum::Json<RoomInfo>)> {
    validate_room_name(&req.name)?;
    allow(&caller, RoomAction::Create { room: &req.name })?;
    if let Some(channel) = req.channel_id {
        if state.db.channel(channel).await?.is_none() {
            return Err(AppError::not_found(format!("no channel {}", channel.0)));
        }
    }
    let moderated = req.bridge.as_ref().is_some_and(|b| b.moderated);
    let room = state
        .sfu
        .create_room(RoomSettings {
            name: req.name,
            channel_id: req.channel_id,
            empty_timeout: req.empty_timeout_secs.map(Duration::from_secs),
            max_participants: req.max_participants,
            bridge: match req.bridge {
                None => None,
                Some(b) => match b.max_speakers {
                    None => Some(0),
                    Some(n @ 1..=16) => Some(n as usize),
                    Some(_) => {
                        return Err(AppError::invalid("bridge.max_speakers must be 1 to 16"))
                    }
                },
            },
            moderated,
            opened_by: None,
            record: req.record,
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(room)))
}

/// Open rooms, by name.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = [RoomInfo]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<RoomInfo>>> {
    allow(&caller, RoomAction::List)?;
    Ok(axum::Json(state.sfu.list_rooms().await?))
}

/// A room and its (visible) participants.
#[utoipa::path(get, path = "/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = RoomDetail), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> AppResult<axum::Json<RoomDetail>> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    Ok(axum::Json(state.sfu.room(name).await?))
}

/// End a room: every participant is removed (`removed`, reason `room_ended`).
#[utoipa::path(delete, path = "/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> AppResult<StatusCode> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    state.sfu.end_room(name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The room's visible participants and their tracks.
#[utoipa::path(get, path = "/v1/rooms/{name}/participants", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = [ParticipantInfo]), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn participants(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> AppResult<axum::Json<Vec<ParticipantInfo>>> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    Ok(axum::Json(state.sfu.room(name).await?.participants))
}

/// Remove a participant (`removed`, reason `removed_by_admin`). It may join again unless its
/// token expires or the app stops issuing it one.
#[utoipa::path(delete, path = "/v1/rooms/{name}/participants/{identity}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path), ("identity" = String, Path)),
    responses((status = 204), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn remove_participant(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((name, identity)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    state.sfu.remove_participant(name, identity).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mute (or unmute) a participant's track. Forwarding stops at once; the participant is told
/// (`track_muted` with `by_admin`) so its client mutes its sender too.
#[utoipa::path(post, path = "/v1/rooms/{name}/participants/{identity}/mute", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path), ("identity" = String, Path)), request_body = MuteTrackRequest,
    responses((status = 200, body = TrackInfo), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn mute(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((name, identity)): Path<(String, String)>,
    Json(req): Json<MuteTrackRequest>,
) -> AppResult<axum::Json<TrackInfo>> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    Ok(axum::Json(
        state
            .sfu
            .admin_mute(name, identity, req.track, req.muted)
            .await?,
    ))
}

/// Change what a participant may do. Tracks it may no longer publish are unpublished and
/// subscriptions it may no longer have are closed at once.
#[utoipa::path(patch, path = "/v1/rooms/{name}/participants/{identity}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path), ("identity" = String, Path)), request_body = UpdateParticipant,
    responses((status = 200, body = ParticipantInfo), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn update_participant(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((name, identity)): Path<(String, String)>,
    Json(req): Json<UpdateParticipant>,
) -> AppResult<axum::Json<ParticipantInfo>> {
    allow(&caller, RoomAction::Administer { room: &name })?;
    Ok(axum::Json(
        state.sfu.update_grants(name, identity, req.grants).await?,
    ))
}
