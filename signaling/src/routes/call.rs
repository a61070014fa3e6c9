//! A channel's meeting in one call: open (or reuse) the channel's meeting room, linked to the
//! channel, so its members join with their own tokens, its chat is the channel's, and its
//! history, minutes and recordings belong to the channel's meetings.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::messaging;
use crate::policy::{self, Actor, MessageAction};
use crate::AppState;
use axum::extract::{Path, State};
use parley_proto::{ChannelId, ChannelRoom, RoomInfo};
use parley_sfu::RoomSettings;

/// The meeting room of a channel, reserved for it (`ChannelRoom`): nothing else opens it.
pub fn room_name(channel: ChannelId) -> String {
    ChannelRoom::Meeting(channel).name()
}

/// Open the channel's meeting room, or return it as it is when it is already open. Whoever may
/// post in the channel may start its meeting; its members then join `meeting-<id>` over
/// `/v1/rtc` with their own tokens.
#[utoipa::path(post, path = "/v1/channels/{id}/meeting", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = RoomInfo),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden, not_member"),
        (status = 409, body = parley_proto::ErrorBody, description = "channel_archived")))]
pub async fn open(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<RoomInfo>> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    let access = messaging::access(&state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Send)?;
    Ok(axum::Json(open_room(&state, channel).await?))
}

/// Open the channel's meeting room (or take it as it is); the caller checked who may.
pub async fn open_room(state: &AppState, channel: ChannelId) -> AppResult<RoomInfo> {
    Ok(state
        .sfu
        .create_room(RoomSettings {
            channel_id: Some(channel),
            ..RoomSettings::named(room_name(channel))
        })
        .await?)
}

/// The channel's meeting and voice bridge, those that are on now (none, one or both), with
/// how many people are in each. Its members read it; `channel_call` and `channel_call_ended`
/// on `/v1/ws` follow the changes.
#[utoipa::path(get, path = "/v1/channels/{id}/calls", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = [RoomInfo]),
        (status = 403, body = parley_proto::ErrorBody, description = "not_member")))]
pub async fn calls(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<RoomInfo>>> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    let access = messaging::access(&state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Read)?;
    let mut rooms: Vec<RoomInfo> = state
        .sfu
        .list_rooms()
        .await?
        .into_iter()
        .filter(|room| room.channel_id == Some(channel))
        .collect();
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(axum::Json(rooms))
}
