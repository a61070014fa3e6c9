//! `/v1/rtc`, the meeting signaling WebSocket: one per participant. It turns the token into a
//! participant's grants, relays SDP, candidates and track requests to the participant's media worker, and
//! writes what the media worker tells the participant. Also the meeting webhooks.

use crate::auth::{query_token, Principal};
use crate::error::AppError;
use crate::policy::{self, MeetingJoin, RoomAction};
use crate::ws::{request_error, request_id};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parley_presence::TokenBucket;
use parley_proto::{
    ErrorCode, IceServer, ParticipantGrants, RoomWebhook, RtcClientMessage, RtcServerMessage,
    ServerMessage, UserId, RTC_PROTOCOL_VERSION,
};
use parley_sfu::{ChannelRule, JoinRequest, ParticipantKey, RoomEvent, SfuError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// SDP with many codecs and simulcast runs to tens of kilobytes.
const MAX_FRAME_BYTES: usize = 256 * 1024;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Trickled candidates come in bursts.
const REQUESTS_PER_SECOND: u32 = 50;
const BURST: u32 = 200;
/// Signed-in users join as `user:<id>`; app tokens may not claim such identities.
const USER_IDENTITY_PREFIX: &str = "user:";

/// A signed-in user's participant identity.
pub fn user_identity(user: parley_proto::UserId) -> String {
    format!("{USER_IDENTITY_PREFIX}{}", user.0)
}

impl From<SfuError> for AppError {
    fn from(err: SfuError) -> AppError {
        let status = match err.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InsufficientGrant
            | ErrorCode::Forbidden
            | ErrorCode::NotMember
            | ErrorCode::RoomNameReserved => StatusCode::FORBIDDEN,
            ErrorCode::RoomFull | ErrorCode::TooManyTracks | ErrorCode::Conflict => {
                StatusCode::CONFLICT
            }
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TokenInvalid => StatusCode::UNAUTHORIZED,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        AppError::new(status, err.code, err.message)
    }
}

/// Upgrade to a WebSocket. A token in the query string is checked first, so a bad one gets an
/// ordinary HTTP error; otherwise `join` must carry it.
pub async fn upgrade(State(state): State<AppState>, uri: Uri, ws: WebSocketUpgrade) -> Response {
    let principal = match query_token(uri.query()) {
        Some(token) => match state.tokens.authenticate(&state, &token).await {
            Ok(p) => Some(p),
            Err(err) => return err.into_response(),
        },
        None => None,
    };
    let hard_limit = MAX_FRAME_BYTES.saturating_mul(4);
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| serve(state, socket, principal))
}

fn text(message: &RtcServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

async fn send(socket: &mut WebSocket, message: &RtcServerMessage) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Text(text(message)))).await,
        Ok(Ok(()))
    )
}

async fn close(socket: &mut WebSocket, code: ErrorCode, reason: &str) {
    let code_text = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let frame = CloseFrame {
        code: 4000,
        reason: Utf8Bytes::from(format!("{code_text}: {reason}")),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}

fn error(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> RtcServerMessage {
    RtcServerMessage::Error {
        id,
        code,
        message: message.into(),
    }
}

fn app_error(id: Option<String>, err: AppError) -> RtcServerMessage {
    error(id, err.code, err.message)
}

/// Read one text request, answering malformed ones with an error. `None`: the socket is done.
enum Read {
    Request(RtcClientMessage),
    Refused(Box<RtcServerMessage>),
    Gone,
}

fn refused(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Read {
    Read::Refused(Box::new(error(id, code, message)))
}

fn read(message: Option<Result<Message, axum::Error>>) -> Option<Read> {
    match message {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Some(Read::Gone),
        Some(Ok(Message::Text(body))) => {
            if body.len() > MAX_FRAME_BYTES {
                return Some(refused(
                    request_id(body.as_str()),
                    ErrorCode::FrameTooLarge,
                    format!("messages are limited to {MAX_FRAME_BYTES} bytes"),
                ));
            }
            Some(
                match serde_json::from_str::<RtcClientMessage>(body.as_str()) {
                    Ok(request) => Read::Request(request),
                    Err(err) => {
                        let (code, message) =
                            request_error::<RtcClientMessage>(body.as_str(), &err);
                        refused(request_id(body.as_str()), code, message)
                    }
                },
            )
        }
        Some(Ok(Message::Binary(_))) => Some(refused(
            None,
            ErrorCode::MalformedJson,
            "send JSON text messages, not binary",
        )),
        Some(Ok(_)) => None,
    }
}

/// Turn the token and the `join` request into what the media worker needs.
async fn join_request(
    state: &AppState,
    principal: Principal,
    room: Option<String>,
    auto_subscribe: bool,
    resume: Option<String>,
) -> Result<JoinRequest, AppError> {
    match principal {
        Principal::App(claims) => {
            let grants = claims.grants;
            // The token names the room (`policy::rooms` refuses one that names none); `join`
            // may repeat it.
            let room = match room {
                Some(asked) if !grants.room.is_empty() && asked != grants.room => {
                    return Err(AppError::new(
                        StatusCode::FORBIDDEN,
                        ErrorCode::InsufficientGrant,
                        format!("this token is for room `{}`, not `{asked}`", grants.room),
                    ))
                }
                Some(asked) if grants.room.is_empty() => asked,
                _ => grants.room.clone(),
            };
            policy::rooms(&grants, RoomAction::Join { room: &room })?;
            validate_room_name(&room)?;
            if claims.sub.starts_with(USER_IDENTITY_PREFIX) {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::TokenInvalid,
                    format!("identities starting with `{USER_IDENTITY_PREFIX}` are reserved for signed-in users"),
                ));
            }
            Ok(JoinRequest {
                channel: ChannelRule::Any,
                may_create: grants.room_create,
                identity: claims.sub,
                name: claims.name,
                grants: ParticipantGrants::from_grants(&grants),
                room,
                auto_subscribe,
                resume,
                api_key: Some(claims.iss),
            })
        }
        Principal::User { user, .. } => {
            let room = room.ok_or_else(|| AppError::invalid("`join` must name a `room`"))?;
            validate_room_name(&room)?;
            let (linked, bridge) = match state.sfu.room(room.clone()).await {
                Ok(detail) => (detail.room.channel_id, detail.room.bridge),
                Err(err) if err.code == ErrorCode::NotFound => (None, None),
                Err(err) => return Err(err.into()),
            };
            let access = match linked {
                Some(channel) => Some(
                    state
                        .db
                        .channel_access(channel, user.id)
                        .await?
                        .ok_or_else(|| AppError::not_found("the meeting's channel is gone"))?,
                ),
                None => None,
            };
            let grants = policy::meeting_grants(
                MeetingJoin {
                    user: user.id,
                    role: user.role,
                    room: &room,
                    channel: access.as_ref(),
                    bridge: bridge.as_ref(),
                },
                &user_identity(user.id),
            )?;
            Ok(JoinRequest {
                // The media worker refuses the join if the room's link changed meanwhile.
                channel: ChannelRule::Exactly(linked),
                may_create: grants.room_create,
                identity: user_identity(user.id),
                name: user.name.clone(),
                grants: ParticipantGrants::from_grants(&grants),
                room,
                auto_subscribe,
                resume,
                api_key: None,
            })
        }
    }
}

/// Room names appear in URLs and logs: 1 to 128 characters, no `/`, no control characters.
pub fn validate_room_name(name: &str) -> Result<(), AppError> {
    let chars = name.chars().count();
    if chars == 0 || chars > 128 || name.chars().any(|c| c == '/' || c.is_control()) {
        return Err(AppError::invalid(
            "a room name has 1 to 128 characters, without `/` or control characters",
        ));
    }
    Ok(())
}

async fn serve(state: AppState, mut socket: WebSocket, principal: Option<Principal>) {
    let Some((key, mut signals)) = join(&state, &mut socket, principal).await else {
        return;
    };
    let mut shutdown = state.shutdown.subscribe();
    let mut bucket = TokenBucket::new(REQUESTS_PER_SECOND, BURST, Instant::now());
    // The server pings every half heartbeat; any frame from the client (a pong included, which
    // browsers send by themselves) proves it is there.
    let heartbeat = Duration::from_secs(state.ws.heartbeat_secs.max(2));
    let mut ping = tokio::time::interval(heartbeat / 2);
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if heard.elapsed() > heartbeat {
                    close(&mut socket, ErrorCode::HeartbeatTimeout, "nothing heard from the client").await;
                    break;
                }
                let ping = Message::Ping(bytes::Bytes::from_static(b"parley"));
                if tokio::time::timeout(WRITE_TIMEOUT, socket.send(ping)).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                heard = tokio::time::Instant::now();
                let request = match read(incoming) {
                    None => continue,
                    Some(Read::Gone) => break,
                    Some(Read::Refused(reply)) => {
                        if !send(&mut socket, &reply).await {
                            break;
                        }
                        continue;
                    }
                    Some(Read::Request(request)) => request,
                };
                if !bucket.take(Instant::now()) {
                    let reply = error(None, ErrorCode::RateLimited, "too many requests; slow down");
                    if !send(&mut socket, &reply).await {
                        break;
                    }
                    continue;
                }
                match handle(&state, key, request).await {
                    Handled::Reply(Some(reply)) => {
                        if !send(&mut socket, &reply).await {
                            break;
                        }
                    }
                    Handled::Reply(None) => {}
                    Handled::Leave => {
                        state.sfu.leave(key);
                        close(&mut socket, ErrorCode::NotFound, "left the meeting").await;
                        return;
                    }
                }
            }
            signal = signals.recv() => match signal {
                Some(message) => {
                    let removed = matches!(message, RtcServerMessage::Removed { .. });
                    if !send(&mut socket, &message).await {
                        break;
                    }
                    if removed {
                        let _ = tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Close(None))).await;
                        return;
                    }
                }
                // Another connection resumed this participant (or the media workers stopped).
                None => {
                    close(&mut socket, ErrorCode::Conflict, "this participant continues on another connection").await;
                    return;
                }
            },
            () = async { let _ = shutdown.wait_for(|stopped| *stopped).await; } => {
                let removed = RtcServerMessage::Removed {
                    reason: parley_proto::RemovedReason::ServerShutdown,
                    message: "the server is shutting down".into(),
                };
                let _ = send(&mut socket, &removed).await;
                close(&mut socket, ErrorCode::ServerShutdown, "the server is shutting down").await;
                state.sfu.leave(key);
                return;
            }
        }
    }
    // The connection dropped without `leave`: the participant's media goes on, and it leaves
    // only if no new connection resumes it within `rtc.resume_window_secs`.
}

/// Wait for `join`, authenticate, join the room, and send `joined`.
async fn join(
    state: &AppState,
    socket: &mut WebSocket,
    principal: Option<Principal>,
) -> Option<(ParticipantKey, mpsc::Receiver<RtcServerMessage>)> {
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    let (id, token, room, auto_subscribe, resume) = loop {
        let incoming = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Ok(incoming) => incoming,
            Err(_) => {
                close(
                    socket,
                    ErrorCode::HelloRequired,
                    "no `join` within 10 seconds",
                )
                .await;
                return None;
            }
        };
        match read(incoming) {
            None => continue,
            Some(Read::Gone) => return None,
            Some(Read::Refused(reply)) => {
                if !send(socket, &reply).await {
                    return None;
                }
            }
            Some(Read::Request(RtcClientMessage::Join {
                id,
                token,
                room,
                auto_subscribe,
                resume,
            })) => break (id, token, room, auto_subscribe, resume),
            Some(Read::Request(request)) => {
                let reply = error(
                    request.id().map(str::to_owned),
                    ErrorCode::HelloRequired,
                    "the first message must be `join`",
                );
                if !send(socket, &reply).await {
                    return None;
                }
            }
        }
    };
    let principal = match (principal, token) {
        (_, Some(token)) => match state.tokens.authenticate(state, &token).await {
            Ok(p) => p,
            Err(err) => {
                let _ = send(socket, &app_error(id, err)).await;
                close(socket, ErrorCode::Unauthenticated, "the token was refused").await;
                return None;
            }
        },
        (Some(p), None) => p,
        (None, None) => {
            let reply = error(
                id,
                ErrorCode::Unauthenticated,
                "give a token as ?access_token= or in `join`",
            );
            let _ = send(socket, &reply).await;
            close(socket, ErrorCode::Unauthenticated, "no token").await;
            return None;
        }
    };
    let request = match join_request(state, principal, room, auto_subscribe, resume).await {
        Ok(r) => r,
        Err(err) => {
            let code = err.code;
            let _ = send(socket, &app_error(id, err)).await;
            close(socket, code, "could not join").await;
            return None;
        }
    };
    let (signal_tx, signal_rx) = mpsc::channel(512);
    let joined = match state.sfu.join(request, signal_tx).await {
        Ok(j) => j,
        Err(err) => {
            let code = err.code;
            let _ = send(socket, &app_error(id, err.into())).await;
            close(socket, code, "could not join").await;
            return None;
        }
    };
    let ice_servers = ice_servers(&state.rtc, &joined.participant.sid, SystemTime::now());
    let reply = RtcServerMessage::Joined {
        id,
        protocol: RTC_PROTOCOL_VERSION,
        room: joined.room,
        participant: joined.participant,
        participants: joined.participants,
        ice_servers,
        resume_token: joined.resume_token,
        resumed: joined.resumed,
    };
    if !send(socket, &reply).await {
        state.sfu.leave(joined.key);
        return None;
    }
    // What the media worker queued with the join (everyone's connection quality, a subscriber
    // offer) goes right after `joined`, before the reply to any later request.
    let mut signal_rx = signal_rx;
    while let Ok(message) = signal_rx.try_recv() {
        let removed = matches!(message, RtcServerMessage::Removed { .. });
        let sent = send(socket, &message).await;
        if removed {
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Close(None)))
                .await;
            return None;
        }
        if !sent {
            break;
        }
    }
    Some((joined.key, signal_rx))
}

enum Handled {
    Reply(Option<Box<RtcServerMessage>>),
    Leave,
}

fn reply(message: RtcServerMessage) -> Handled {
    Handled::Reply(Some(Box::new(message)))
}

fn done(id: Option<String>, result: Result<(), SfuError>) -> Handled {
    match result {
        Ok(()) => Handled::Reply(id.map(|id| Box::new(RtcServerMessage::Ok { id }))),
        Err(err) => reply(error(id, err.code, err.message)),
    }
}

async fn handle(state: &AppState, key: ParticipantKey, request: RtcClientMessage) -> Handled {
    let sfu = &state.sfu;
    match request {
        RtcClientMessage::Join { id, .. } => reply(error(
            id,
            ErrorCode::InvalidInput,
            "already joined; open another connection to join another room",
        )),
        RtcClientMessage::Offer { id, sdp, tracks } => {
            reply(match sfu.offer(key, sdp, tracks).await {
                Ok(answer) => RtcServerMessage::Answer {
                    id,
                    sdp: answer.sdp,
                    tracks: answer.tracks,
                },
                Err(err) => error(id, err.code, err.message),
            })
        }
        RtcClientMessage::Answer { id, sdp } => done(id, sfu.answer(key, sdp).await),
        RtcClientMessage::Candidate {
            id,
            target,
            candidate,
        } => done(id, sfu.candidate(key, target, candidate).await),
        RtcClientMessage::Subscribe {
            id,
            tracks,
            subscribe,
        } => done(id, sfu.subscribe(key, tracks, subscribe).await),
        RtcClientMessage::Mute { id, track, muted } => done(id, sfu.mute(key, track, muted).await),
        RtcClientMessage::IceRestart { id } => done(id, sfu.ice_restart(key).await),
        RtcClientMessage::RaiseHand { id, raised } => done(id, sfu.raise_hand(key, raised).await),
        RtcClientMessage::Moderate {
            id,
            participant,
            action,
        } => done(id, sfu.moderate(key, participant, action).await),
        RtcClientMessage::SetQuality { id, track, quality } => {
            done(id, sfu.set_quality(key, track, quality).await)
        }
        RtcClientMessage::Unpublish { id, track } => done(id, sfu.unpublish(key, track).await),
        RtcClientMessage::Leave {} => Handled::Leave,
        RtcClientMessage::Ping { id } => reply(RtcServerMessage::Pong { id }),
    }
}

/// Room events, from the media workers: each is recorded in the meeting history (`meetings`,
/// `meeting_attendance`), then handed to the webhook task, so a slow webhook receiver never
/// holds up the history.
/// Which meetings are recorded without anyone asking, and how waiting recorders are woken.
pub struct AutoRecord {
    /// Voice bridges (`rtc.record_bridges`, on by default).
    pub bridges: bool,
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    /// To wake the recorders waiting on other nodes.
    pub hub: crate::ws::HubHandle,
}

pub fn spawn_room_events(
    db: parley_storage::Database,
    config: &crate::config::RtcSection,
    auto: AutoRecord,
    mut events: mpsc::Receiver<RoomEvent>,
) {
    let (to_webhooks, webhook_events) = mpsc::channel(1024);
    spawn_webhooks(config, webhook_events);
    tokio::spawn(async move {
        let mut calls = CallAnnouncer::default();
        let mut tick = tokio::time::interval(CALL_ANNOUNCE_EVERY / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = tick.tick() => {
                    calls.flush(&auto.hub).await;
                    continue;
                }
            };
            let Some(event) = event else {
                break;
            };
            if let Err(err) = record(&db, &event).await {
                tracing::warn!(event = event.event, room = %event.room.name, error = %err,
                    "meeting history not written");
            }
            if let Err(err) = recording(&db, &auto, &event).await {
                tracing::warn!(event = event.event, room = %event.room.name, error = %err,
                    "recording not started or stopped");
            }
            calls.event(&auto.hub, &event).await;
            if to_webhooks.try_send(event).is_err() {
                tracing::warn!("room webhook queue full; event not delivered");
            }
        }
    });
}

/// Write one room event into the meeting history.
async fn record(
    db: &parley_storage::Database,
    event: &RoomEvent,
) -> Result<(), parley_storage::StoreError> {
    let room = &event.room;
    match (event.event, &event.participant) {
        ("room_started", _) => {
            db.meeting_started(
                &room.sid,
                &room.name,
                room.channel_id,
                room.bridge.is_some(),
                event.at,
            )
            .await
        }
        ("room_finished", _) => db.meeting_ended(&room.sid, event.at).await,
        ("participant_joined", Some(p)) if !p.grants.hidden => {
            db.meeting_joined(&room.sid, &p.sid, &p.identity, &p.name, event.at)
                .await
        }
        ("participant_left", Some(p)) => db.meeting_left(&room.sid, &p.sid, event.at).await,
        _ => Ok(()),
    }
}

/// A room's count of people reaches its channel at most this often.
const CALL_ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// Tells a channel's members that its meeting or voice bridge started, how many are in it as
/// people join and leave, and that it ended (`channel_call`, `channel_call_ended` on `/v1/ws`),
/// so the channel can show "meeting in progress · Join". Counts go out at most once a second per
/// room, the latest one: a bridge that 2,000 people join in a minute sends each member one count
/// a second, not 2,000.
#[derive(Default)]
struct CallAnnouncer {
    /// Room name → when its count last went out.
    sent: std::collections::HashMap<String, Instant>,
    /// Room name → its latest state, held back until a second has passed.
    waiting: std::collections::HashMap<String, parley_proto::RoomInfo>,
}

impl CallAnnouncer {
    async fn event(&mut self, hub: &crate::ws::HubHandle, event: &RoomEvent) {
        let Some(channel) = event.room.channel_id else {
            return;
        };
        let name = &event.room.name;
        let hidden = event.participant.as_ref().is_some_and(|p| p.grants.hidden);
        match event.event {
            "room_started" => self.send(hub, event.room.clone(), Instant::now()).await,
            "participant_joined" | "participant_left" if !hidden => {
                let now = Instant::now();
                let recent = self
                    .sent
                    .get(name)
                    .is_some_and(|at| now.duration_since(*at) < CALL_ANNOUNCE_EVERY);
                if recent {
                    self.waiting.insert(name.clone(), event.room.clone());
                } else {
                    self.send(hub, event.room.clone(), now).await;
                }
            }
            "room_finished" => {
                self.sent.remove(name);
                self.waiting.remove(name);
                let ended = ServerMessage::ChannelCallEnded {
                    channel,
                    room: name.clone(),
                };
                hub.to_channel(channel, UserId(0), &ended).await;
            }
            _ => {}
        }
    }

    /// Send the counts held back for a second or more.
    async fn flush(&mut self, hub: &crate::ws::HubHandle) {
        let now = Instant::now();
        let due: Vec<String> = self
            .waiting
            .keys()
            .filter(|name| {
                self.sent
                    .get(*name)
                    .is_none_or(|at| now.duration_since(*at) >= CALL_ANNOUNCE_EVERY)
            })
            .cloned()
            .collect();
        for name in due {
            if let Some(room) = self.waiting.remove(&name) {
                self.send(hub, room, now).await;
            }
        }
    }

    async fn send(
        &mut self,
        hub: &crate::ws::HubHandle,
        room: parley_proto::RoomInfo,
        now: Instant,
    ) {
        let Some(channel) = room.channel_id else {
            return;
        };
        self.sent.insert(room.name.clone(), now);
        self.waiting.remove(&room.name);
        let message = ServerMessage::ChannelCall {
            channel,
            room: Box::new(room),
        };
        hub.to_channel(channel, UserId(0), &message).await;
    }
}

/// Start recording a room created with `record` (and a bridge, when so configured) as it
/// opens; stop a meeting's recording when it ends.
async fn recording(
    db: &parley_storage::Database,
    auto: &AutoRecord,
    event: &RoomEvent,
) -> Result<(), parley_storage::StoreError> {
    let room = &event.room;
    match event.event {
        "room_started" if room.record || (auto.bridges && room.bridge.is_some()) => {
            if let Some(meeting) = db.meeting_by_sid(&room.sid).await? {
                let (job, new) = db
                    .request_recording(meeting, &room.name, true, None, event.at)
                    .await?;
                if new {
                    tracing::info!(room = %room.name, job = %job.id, "recording from the start");
                    auto.wake.notify_waiters();
                    auto.hub.recording_job_requested();
                }
            }
            Ok(())
        }
        "room_finished" => {
            if let Some(meeting) = db.meeting_by_sid(&room.sid).await? {
                db.stop_recording(
                    meeting,
                    "the meeting ended before a recorder took the job",
                    event.at,
                )
                .await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Deliver room events to `rtc.webhook_url` in order, each signed and retried, from a task of
/// their own so a media worker never waits on a receiver.
fn spawn_webhooks(config: &crate::config::RtcSection, mut events: mpsc::Receiver<RoomEvent>) {
    let url = config.webhook_url.clone();
    let secret = config.webhook_secret.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if url.is_empty() {
                continue;
            }
            let body = RoomWebhook {
                event: event.event.to_string(),
                id: crate::auth::random_hex(12),
                created_at: event.at,
                room: event.room,
                participant: event.participant,
                track: event.track,
            };
            match serde_json::to_vec(&body) {
                // One at a time, so the receiver sees a room's events in order; the media
                // thread only ever queues them.
                Ok(bytes) => {
                    crate::webhook::deliver(client.clone(), url.clone(), secret.clone(), bytes)
                        .await
                }
                Err(err) => tracing::error!(error = %err, "room webhook not encodable"),
            }
        }
    });
}

/// The ICE servers a `joined` names: the operator's plain STUN/TURN URLs (`rtc.ice_servers`),
/// and the TURN servers (`rtc.turn_urls`) with credentials of their own for this participant,
/// as the TURN REST API has them: the username is `<expiry, seconds since the epoch>:<participant
/// sid>` and the password the base64 HMAC-SHA1 of it under the shared secret, which the TURN
/// server checks without asking Parley (coturn: `use-auth-secret`, `static-auth-secret`).
pub fn ice_servers(
    rtc: &crate::config::RtcSection,
    participant: &str,
    now: SystemTime,
) -> Vec<IceServer> {
    use base64::Engine as _;
    use hmac::Mac;
    let mut servers = Vec::new();
    if !rtc.ice_servers.is_empty() {
        servers.push(IceServer {
            urls: rtc.ice_servers.clone(),
            username: None,
            credential: None,
        });
    }
    if !rtc.turn_urls.is_empty() {
        let expiry = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + rtc.turn_ttl_secs;
        let username = format!("{expiry}:{participant}");
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(rtc.turn_secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(username.as_bytes());
        let credential =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        servers.push(IceServer {
            urls: rtc.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    servers
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    #[test]
    fn turn_credentials_follow_the_turn_rest_api_and_plain_servers_carry_none() {
        let rtc = crate::config::RtcSection {
            ice_servers: vec!["stun:stun.example.org:3478".into()],
            turn_urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            turn_secret: "coturn-shared-secret".into(),
            turn_ttl_secs: 86_400,
            ..Default::default()
        };
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let servers = ice_servers(&rtc, "PA_abc", now);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:stun.example.org:3478"]);
        assert_eq!(
            (&servers[0].username, &servers[0].credential),
            (&None, &None)
        );
        assert_eq!(
            servers[1].urls,
            ["turn:turn.example.org:3478?transport=udp"]
        );
        assert_eq!(servers[1].username.as_deref(), Some("1700086400:PA_abc"));
        // base64(HMAC-SHA1("coturn-shared-secret", username)), as Python's hmac computes it.
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("JxjgiCkqnneRLvC+y9zS0nr361g=")
        );
        let none = crate::config::RtcSection::default();
        assert!(ice_servers(&none, "PA_abc", now).is_empty());
    }
}
