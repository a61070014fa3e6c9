//! A channel's voice bridge in one call: open (or reuse) the channel's bridge room and send
//! every member an urgent ping, acknowledgement requested, whose action joins the bridge; then
//! the roster of who acknowledged, joined and speaks.

use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::messaging::{self, SendRequest};
use crate::policy::{self, Actor, MessageAction};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use parley_proto::{
    BridgeMember, BridgeOpened, BridgeRoster, ChannelId, ChannelRoom, MessageId, OpenBridge,
    PingAction, Priority,
};
use parley_sfu::RoomSettings;
use serde::Deserialize;

const DEFAULT_BODY: &str = "语音桥已开启，请立即加入 / Voice bridge open: join now";

/// The bridge room of a channel, reserved for it (`ChannelRoom`): nothing else opens it.
fn room_name(channel: ChannelId) -> String {
    ChannelRoom::Bridge(channel).name()
}

/// Open the channel's voice bridge and ping every member to join it.
#[utoipa::path(post, path = "/v1/channels/{id}/bridge", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = OpenBridge,
    responses((status = 201, body = BridgeOpened), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<OpenBridge>,
) -> AppResult<(StatusCode, axum::Json<BridgeOpened>)> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    // Only those who may post in the channel may call everyone in it.
    let access = messaging::access(&state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Send)?;
    let name = room_name(channel);
    let room = state
        .sfu
        .create_room(RoomSettings {
            name: name.clone(),
            channel_id: Some(channel),
            empty_timeout: None,
            max_participants: None,
            bridge: Some(0),
            moderated: req.moderated,
            opened_by: Some(crate::rtc::user_identity(me.id)),
            record: false,
        })
        .await?;
    let sent = messaging::send(
        &state,
        me,
        SendRequest {
            channel,
            client_id: format!("bridge-{}", crate::auth::random_hex(8)),
            body: req.body.unwrap_or_else(|| DEFAULT_BODY.to_string()),
            reply_to: None,
            thread_only: false,
            mentions: Vec::new(),
            mention_channel: true,
            priority: Priority::Urgent,
            ack_requested: true,
            action: Some(PingAction::JoinBridge { room: name }),
            attachments: Vec::new(),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(BridgeOpened {
            room,
            message_id: sent.message.id,
            seq: sent.message.seq,
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct RosterQuery {
    /// The bridge's ping.
    message_id: i64,
}

/// Who acknowledged the bridge's ping, who joined the bridge, who is speaking.
#[utoipa::path(get, path = "/v1/channels/{id}/bridge", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Query)),
    responses((status = 200, body = BridgeRoster), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn roster(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<RosterQuery>,
) -> AppResult<axum::Json<BridgeRoster>> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    let message_id = MessageId(query.message_id);
    // The ping's roster, as the sender (and who else may see it) sees it.
    let pinged = messaging::roster(&state, me, channel, message_id).await?;
    let detail = state.sfu.room(room_name(channel)).await.map_err(|e| {
        if e.code == parley_proto::ErrorCode::NotFound {
            AppError::not_found("the channel's bridge is not open")
        } else {
            e.into()
        }
    })?;
    let members = pinged
        .into_iter()
        .map(|entry| {
            let identity = format!("user:{}", entry.user_id.0);
            let participant = detail.participants.iter().find(|p| p.identity == identity);
            BridgeMember {
                user_id: entry.user_id,
                name: entry.name,
                ping: entry.state,
                joined: participant.is_some(),
                speaking: participant.is_some_and(|p| detail.active_speakers.contains(&p.sid)),
                hand_raised: participant.is_some_and(|p| p.hand_raised_at.is_some()),
                has_floor: participant.is_some_and(|p| p.grants.can_publish),
            }
        })
        .collect();
    Ok(axum::Json(BridgeRoster {
        room: detail.room,
        message_id,
        members,
    }))
}
