//! `/v1/ws`, the messaging hub's WebSocket: one per client device. The connection task reads
//! requests and answers them in order, and writes the events the hub queues for it, each
//! exactly once and in per-channel order (`Cursors`), filling any gap from storage.

mod hub;

#[doc(hidden)]
pub use hub::bench as hub_bench;
pub use hub::{HubHandle, Outbound, Registration};

use crate::auth::{query_token, Principal};
use crate::error::AppError;
use crate::messaging::{self, HistoryQuery, SendRequest};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use parley_presence::{Cursors, Step, TokenBucket};
use parley_proto::{
    ChannelId, ClientMessage, ConnectionLimits, ErrorCode, PresenceState, Resume, ServerMessage,
    User, PROTOCOL_VERSIONS,
};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// What each messaging connection reserves for reading frames; tungstenite's default is
/// 128 KiB per connection (see docs/BENCHMARKS.md).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Events read back from storage per query when replaying or filling a gap.
const REPLAY_PAGE: i64 = 500;

/// Upgrade to a WebSocket. A token in the query string is checked before the upgrade, so a bad
/// one gets an ordinary HTTP error; otherwise `hello` must carry it.
pub async fn upgrade(State(state): State<AppState>, uri: Uri, ws: WebSocketUpgrade) -> Response {
    let principal = match query_token(uri.query()) {
        Some(token) => match state.tokens.authenticate(&state, &token).await {
            Ok(p) => Some(p),
            Err(err) => return err.into_response(),
        },
        None => None,
    };
    // Frames up to four times the limit are read and refused with an error; beyond that the
    // connection is closed before the frame is buffered.
    let hard_limit = state.ws.max_frame_bytes.saturating_mul(4);
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // tungstenite reserves its whole read buffer (128 KiB by default) for every connection
        // up front; messaging frames are small, and a larger one still grows the buffer.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| live(state, socket, principal))
}

/// A messaging connection from `hello` to goodbye. What every idle connection costs is mostly
/// this future's task: the connection itself is boxed (a moved value's room in a future is not
/// reused), and so is every step only some connections take for a while (opening with its
/// storage reads, a request, filling a gap, the goodbye), so none of them sizes the task for as
/// long as it lives (docs/BENCHMARKS.md, memory per connection).
async fn live(state: AppState, socket: WebSocket, principal: Option<Principal>) {
    if let Some(connection) = Box::pin(Connection::open(state, socket, principal)).await {
        connection.serve().await;
    }
}

/// Why a connection ends.
#[derive(Debug)]
enum End {
    /// The peer went away or a write failed or timed out.
    Gone,
    /// We close it, telling the client why.
    Close(ErrorCode, String),
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    user: User,
    cursors: Cursors,
    bucket: TokenBucket,
    registration: Registration,
    shutdown: watch::Receiver<bool>,
    last_activity: Instant,
}

fn limits(state: &AppState) -> ConnectionLimits {
    ConnectionLimits {
        max_frame_bytes: state.ws.max_frame_bytes as u64,
        requests_per_second: state.ws.requests_per_second,
        burst: state.ws.burst,
        recall_window_secs: state.ws.recall_window_secs,
        heartbeat_secs: state.ws.heartbeat_secs,
    }
}

fn text(message: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

fn error_message(id: Option<String>, err: AppError) -> ServerMessage {
    ServerMessage::Error {
        id,
        code: err.code,
        message: err.message,
    }
}

/// Why a connection is closed from outside.
fn kick_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::AccountDisabled => "this account was disabled",
        ErrorCode::AccountChanged => "this account's role or department changed; reconnect",
        _ => "this session was signed out",
    }
}

/// The `id` of a request that could not be read whole, to name it in the error: a string as
/// it is, a number (ids are strings; a client that sent one must still learn which request
/// failed) in its decimal form.
pub(crate) fn request_id(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<IdOnly>(text).ok()?.id? {
        serde_json::Value::String(id) => Some(id),
        serde_json::Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// Why `text` is not a `T` (a message enum tagged by `type`): `malformed_json`; `unknown_type`
/// only when `type` is missing or names no message; for a known type, `unknown_field` or
/// `invalid_input` (a wrong value, such as `"priority":"loud"`, is not an unknown type).
pub(crate) fn request_error<T: serde::de::DeserializeOwned>(
    text: &str,
    err: &serde_json::Error,
) -> (ErrorCode, String) {
    use serde_json::error::Category;
    let message = err.to_string();
    if !matches!(err.classify(), Category::Data) {
        return (ErrorCode::MalformedJson, message);
    }
    #[derive(serde::Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let kind = serde_json::from_str::<TypeOnly>(text)
        .ok()
        .and_then(|t| t.kind);
    let Some(serde_json::Value::String(kind)) = kind else {
        return (
            ErrorCode::UnknownType,
            "a request needs `type`, a string".into(),
        );
    };
    // With its type alone, a known message misses its other fields; an unknown one is an
    // unknown variant.
    let known = match serde_json::from_value::<T>(serde_json::json!({ "type": kind })) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown variant"),
    };
    if !known {
        return (ErrorCode::UnknownType, format!("unknown type `{kind}`"));
    }
    if message.contains("unknown field") {
        (ErrorCode::UnknownField, message)
    } else {
        (ErrorCode::InvalidInput, message)
    }
}

async fn send_raw(
    socket: &mut WebSocket,
    payload: Utf8Bytes,
    timeout: Duration,
) -> Result<(), End> {
    match tokio::time::timeout(timeout, socket.send(Message::Text(payload))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Close(
            ErrorCode::SlowConsumer,
            "a write to this client took too long".into(),
        )),
    }
}

/// Tell the client why, then close. Best effort: the client may be gone or stuck.
async fn close(socket: &mut WebSocket, code: ErrorCode, message: String) {
    let limit = Duration::from_secs(1);
    let closing = ServerMessage::Closing { code, message };
    let _ = tokio::time::timeout(limit, socket.send(Message::Text(text(&closing)))).await;
    let reason = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let frame = CloseFrame {
        code: 1008,
        reason: Utf8Bytes::from(reason),
    };
    let _ = tokio::time::timeout(limit, socket.send(Message::Close(Some(frame)))).await;
}

impl Connection {
    /// Read `hello`, agree a version, authenticate, register with the hub and replay what the
    /// client missed. `None` if the connection ended on the way.
    async fn open(
        state: AppState,
        mut socket: WebSocket,
        principal: Option<Principal>,
    ) -> Option<Box<Connection>> {
        let first = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => {
                close(
                    &mut socket,
                    ErrorCode::HelloRequired,
                    "the first message must be a hello text frame".into(),
                )
                .await;
                return None;
            }
            Err(_) => {
                close(
                    &mut socket,
                    ErrorCode::HelloRequired,
                    "no hello within 10 seconds".into(),
                )
                .await;
                return None;
            }
            Ok(_) => return None,
        };
        let (id, versions, token, resume) = match serde_json::from_str::<ClientMessage>(&first) {
            Ok(ClientMessage::Hello {
                id,
                versions,
                token,
                resume,
            }) => (id, versions, token, resume),
            Ok(_) => {
                close(
                    &mut socket,
                    ErrorCode::HelloRequired,
                    "the first message must be hello".into(),
                )
                .await;
                return None;
            }
            Err(err) => {
                let (code, message) = request_error::<ClientMessage>(&first, &err);
                close(&mut socket, code, message).await;
                return None;
            }
        };
        if let Some(bad) = resume.iter().find(|r| r.seq < 0) {
            close(
                &mut socket,
                ErrorCode::InvalidInput,
                format!(
                    "resume: seq {} for channel {} is negative; 0 means nothing seen yet",
                    bad.seq, bad.channel
                ),
            )
            .await;
            return None;
        }
        let Some(version) = PROTOCOL_VERSIONS
            .iter()
            .rev()
            .copied()
            .find(|v| versions.contains(v))
        else {
            close(
                &mut socket,
                ErrorCode::UnsupportedVersion,
                format!("this server speaks versions {PROTOCOL_VERSIONS:?}"),
            )
            .await;
            return None;
        };
        let principal = match (principal, token) {
            (Some(p), _) => Ok(p),
            (None, Some(token)) => state.tokens.authenticate(&state, &token).await,
            (None, None) => Err(AppError::unauthorized(
                ErrorCode::Unauthenticated,
                "give the access token in hello.token or as ?access_token=",
            )),
        };
        let (user, session) = match principal.and_then(Principal::into_user_session) {
            Ok(pair) => pair,
            Err(err) => {
                close(&mut socket, err.code, err.message).await;
                return None;
            }
        };
        let positions = match state.db.channel_positions(user.id).await {
            Ok(p) => p,
            Err(err) => {
                let err = AppError::from(err);
                close(&mut socket, err.code, err.message).await;
                return None;
            }
        };
        let mut cursors = Cursors::default();
        for &(channel, last) in &positions {
            let seen = resume
                .iter()
                .find(|r: &&Resume| r.channel == channel)
                .map_or(last, |r| r.seq.min(last));
            cursors.start(channel, seen);
        }
        let channels = positions.iter().map(|(c, _)| *c).collect();
        let registration = state
            .hub
            .connect(user.id, Some(session), channels, state.ws.outbound_queue)
            .await;
        state.metrics.ws_connections.inc();
        // Read the positions again now that the hub routes to us: whatever committed or changed
        // membership in between is caught here, and the cursors drop what the replay repeats.
        let positions = match state.db.channel_positions(user.id).await {
            Ok(now) => {
                for (channel, last) in &now {
                    if cursors.seen(*channel).is_none() {
                        // Joined in between: follow it from here.
                        state.hub.follow(user.id, *channel).await;
                        cursors.start(*channel, *last);
                    }
                }
                for (channel, _) in &positions {
                    if !now.iter().any(|(c, _)| c == channel) {
                        // Left in between: stop routing it to us.
                        state.hub.leave(user.id, *channel).await;
                    }
                }
                now
            }
            Err(err) => {
                let err = AppError::from(err);
                state.hub.disconnect(registration.conn).await;
                state.metrics.ws_connections.dec();
                close(&mut socket, err.code, err.message).await;
                return None;
            }
        };
        let welcome = ServerMessage::Welcome {
            id,
            version,
            user: user.clone(),
            limits: limits(&state),
        };
        let mut connection = Box::new(Connection {
            bucket: TokenBucket::new(state.ws.requests_per_second, state.ws.burst, Instant::now()),
            shutdown: state.shutdown.subscribe(),
            last_activity: Instant::now(),
            state,
            socket,
            user,
            cursors,
            registration,
        });
        let replayed = async {
            connection.send(text(&welcome)).await?;
            for (channel, last) in positions {
                let seen = connection.cursors.seen(channel).unwrap_or(last);
                if seen < last {
                    connection.fill(channel, seen, last).await?;
                }
            }
            // Pings still waiting for this user's acknowledgement, whatever happened meanwhile.
            match messaging::pending_pings(&connection.state, &connection.user).await {
                Ok(pings) if pings.is_empty() => {}
                Ok(pings) => connection.reply(&ServerMessage::PendingPings { pings }).await?,
                Err(err) => tracing::warn!(user = %connection.user.id, code = ?err.code, "cannot load pending pings"),
            }
            Ok::<(), End>(())
        }
        .await;
        match replayed {
            Ok(()) => Some(connection),
            Err(end) => {
                connection.finish(end).await;
                None
            }
        }
    }

    /// The connection's life, until it ends. Rare steps are boxed (see `live`).
    async fn serve(mut self: Box<Self>) {
        let heartbeat = Duration::from_secs(self.state.ws.heartbeat_secs.max(1));
        let mut deadline = tokio::time::Instant::now() + heartbeat;
        let end = loop {
            // In this order: stop when told, then write what is queued before reading more
            // requests, so a client that sends faster than it reads gets its answers in turn.
            let step = tokio::select! {
                biased;
                _ = self.shutdown.changed() => Err(End::Close(ErrorCode::ServerShutdown, "the server is shutting down; reconnect".into())),
                _ = &mut self.registration.kicked => Err(End::Close(ErrorCode::SlowConsumer, "messages were not read fast enough; reconnect to catch up".into())),
                out = self.registration.outbox.recv() => match out {
                    Some(Outbound::Event { channel, seq, payload }) => self.deliver(channel, seq, payload).await,
                    Some(Outbound::Direct(payload)) => self.send(payload).await,
                    Some(Outbound::Joined { channel, last_seq, payload }) => {
                        // Already following it (it joined while we connected): keep the cursor.
                        if self.cursors.seen(channel).is_none() {
                            self.cursors.start(channel, last_seq);
                        }
                        self.send(payload).await
                    }
                    Some(Outbound::Kick(code)) => Err(End::Close(code, kick_reason(code).into())),
                    Some(Outbound::Left(channel)) => {
                        self.cursors.forget(channel);
                        Box::pin(self.reply(&ServerMessage::ChannelLeft { channel })).await
                    }
                    None => Err(End::Gone),
                },
                frame = self.socket.recv() => {
                    deadline = tokio::time::Instant::now() + heartbeat;
                    match frame {
                        Some(Ok(Message::Text(t))) => Box::pin(self.request(t)).await,
                        Some(Ok(Message::Binary(_))) => {
                            let err = AppError::invalid("send JSON in text frames");
                            Box::pin(self.reply(&error_message(None, err))).await
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::Gone),
                    }
                }
                () = tokio::time::sleep_until(deadline) => Err(End::Close(ErrorCode::HeartbeatTimeout, format!("nothing heard for {} s", heartbeat.as_secs()))),
            };
            if let Err(end) = step {
                break end;
            }
        };
        Box::pin(self.finish(end)).await;
    }

    async fn finish(mut self: Box<Self>, end: End) {
        if let End::Close(code, message) = end {
            tracing::info!(user = %self.user.id, ?code, %message, "closing WebSocket");
            close(&mut self.socket, code, message).await;
        }
        self.state.hub.disconnect(self.registration.conn).await;
        self.state.metrics.ws_connections.dec();
        if let Err(err) = self
            .state
            .db
            .set_last_seen(self.user.id, parley_storage::now_ms())
            .await
        {
            tracing::warn!(user = %self.user.id, error = %crate::error::chain(&err), "cannot record last-seen");
        }
    }

    /// Tell the hub this device is in use, at most every `activity_every`.
    async fn report_activity(&mut self) {
        let now = Instant::now();
        let every = Duration::from_secs((self.state.ws.idle_secs / 4).clamp(1, 30));
        if now.saturating_duration_since(self.last_activity) >= every {
            self.last_activity = now;
            self.state.hub.activity(self.registration.conn).await;
        }
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.state.ws.write_timeout_ms.max(1))
    }

    async fn send(&mut self, payload: Utf8Bytes) -> Result<(), End> {
        let timeout = self.write_timeout();
        send_raw(&mut self.socket, payload, timeout).await
    }

    async fn reply(&mut self, message: &ServerMessage) -> Result<(), End> {
        self.send(text(message)).await
    }

    /// A live event from the hub: send it if it is the next one, after filling any gap.
    async fn deliver(
        &mut self,
        channel: ChannelId,
        seq: i64,
        payload: Utf8Bytes,
    ) -> Result<(), End> {
        if let Step::Gap { after, up_to } = self.cursors.check(channel, seq) {
            Box::pin(self.fill(channel, after, up_to)).await?;
        }
        if self.cursors.check(channel, seq) == Step::Deliver {
            self.send(payload).await?;
            self.cursors.advance(channel, seq);
        }
        Ok(())
    }

    /// Send the channel's events `after + 1 ..= up_to` from storage, or `reload` when there are
    /// more than `hub.max_replay` of them or retention has deleted some of them.
    async fn fill(&mut self, channel: ChannelId, after: i64, up_to: i64) -> Result<(), End> {
        if up_to - after > self.state.ws.max_replay {
            return self.reload(channel, after, up_to).await;
        }
        let mut from = after;
        while from < up_to {
            let events = match self
                .state
                .db
                .events_between(channel, from, up_to, REPLAY_PAGE)
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    let err = AppError::from(err);
                    return Err(End::Close(
                        err.code,
                        "cannot read missed events; reconnect to catch up".into(),
                    ));
                }
            };
            // Sequences have no gaps; a missing one was deleted by retention, so what
            // follows cannot be replayed as the client would need it.
            if events.is_empty() {
                return self.reload(channel, from, up_to).await;
            }
            for event in events {
                let seq = event.seq();
                if seq != from + 1 {
                    return self.reload(channel, from, up_to).await;
                }
                self.reply(&ServerMessage::Event(event)).await?;
                self.cursors.advance(channel, seq);
                from = seq;
            }
        }
        Ok(())
    }

    /// Tell the client to reload the channel's history: events after `after` up to `up_to`
    /// will not be replayed. Live events after `up_to` follow.
    async fn reload(&mut self, channel: ChannelId, after: i64, up_to: i64) -> Result<(), End> {
        self.reply(&ServerMessage::Reload {
            channel,
            after_seq: after,
            last_seq: up_to,
        })
        .await?;
        self.cursors.advance(channel, up_to);
        Ok(())
    }

    /// One request: checked against the limits, parsed, answered. Errors go to this client
    /// only, and the connection stays open.
    async fn request(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        if frame.len() > self.state.ws.max_frame_bytes {
            let err = AppError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::FrameTooLarge,
                format!("frames are at most {} bytes", self.state.ws.max_frame_bytes),
            );
            return self.reply(&error_message(request_id(&frame), err)).await;
        }
        if !self.bucket.take(Instant::now()) {
            let err = AppError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!(
                    "at most {} requests per second; slow down",
                    self.state.ws.requests_per_second
                ),
            );
            return self.reply(&error_message(request_id(&frame), err)).await;
        }
        self.state.metrics.ws_requests.inc();
        let request = match serde_json::from_str::<ClientMessage>(&frame) {
            Ok(r) => r,
            Err(err) => {
                let (code, message) = request_error::<ClientMessage>(&frame, &err);
                let reply = ServerMessage::Error {
                    id: request_id(&frame),
                    code,
                    message,
                };
                return self.reply(&reply).await;
            }
        };
        let id = request.id().to_string();
        if !matches!(request, ClientMessage::Ping { .. }) {
            self.report_activity().await;
        }
        let reply = match self.answer(request).await {
            Ok(reply) => reply,
            Err(err) => error_message(Some(id), err),
        };
        self.reply(&reply).await
    }

    async fn answer(&mut self, request: ClientMessage) -> Result<ServerMessage, AppError> {
        let conn = self.registration.conn;
        let state = &self.state;
        let me = &self.user;
        Ok(match request {
            ClientMessage::Hello { .. } => {
                return Err(AppError::invalid(
                    "hello was already said on this connection",
                ))
            }
            ClientMessage::Send {
                id,
                channel,
                client_id,
                body,
                reply_to,
                thread_only,
                mentions,
                mention_channel,
                priority,
                ack_requested,
                action,
                attachments,
            } => {
                // A missed call is the server's word that a ring went unanswered.
                if matches!(action, Some(parley_proto::PingAction::MissedCall { .. })) {
                    return Err(AppError::invalid(
                        "a missed_call action is posted by the server, not sent",
                    ));
                }
                let request = SendRequest {
                    channel,
                    client_id,
                    body,
                    reply_to,
                    thread_only,
                    mentions,
                    mention_channel,
                    priority,
                    ack_requested,
                    action,
                    attachments,
                };
                let sent = messaging::send(state, me, request).await?;
                ServerMessage::Sent {
                    id,
                    channel,
                    seq: sent.message.seq,
                    message_id: sent.message.id,
                    created_at: sent.message.created_at,
                    duplicate: sent.duplicate,
                }
            }
            ClientMessage::Pin {
                id,
                channel,
                message_id,
                pinned,
            } => ServerMessage::Done {
                id,
                channel,
                seq: messaging::pin(state, me, channel, message_id, pinned).await?,
            },
            ClientMessage::React {
                id,
                channel,
                message_id,
                emoji,
                added,
            } => {
                let seq = messaging::react(state, me, channel, message_id, &emoji, added).await?;
                ServerMessage::Done { id, channel, seq }
            }
            ClientMessage::Pins { id, channel } => ServerMessage::Pins {
                id,
                channel,
                messages: messaging::pins(state, me, channel).await?,
            },
            ClientMessage::Leave { id, channel } => {
                messaging::remove_member(state, me, channel, me.id).await?;
                ServerMessage::Ok { id }
            }
            ClientMessage::Ack {
                id,
                channel,
                message_id,
            } => {
                let acked_at = messaging::ack(state, me, channel, message_id).await?;
                ServerMessage::Acked {
                    id,
                    channel,
                    message_id,
                    acked_at,
                }
            }
            ClientMessage::Roster {
                id,
                channel,
                message_id,
            } => {
                let recipients = messaging::roster(state, me, channel, message_id).await?;
                ServerMessage::Roster {
                    id,
                    channel,
                    message_id,
                    recipients,
                }
            }
            ClientMessage::Edit {
                id,
                channel,
                message_id,
                body,
            } => {
                let event = messaging::edit(state, me, channel, message_id, &body).await?;
                ServerMessage::Edited {
                    id,
                    channel,
                    seq: event.seq(),
                }
            }
            ClientMessage::Recall {
                id,
                channel,
                message_id,
            } => {
                let event = messaging::recall(state, me, channel, message_id).await?;
                ServerMessage::Recalled {
                    id,
                    channel,
                    seq: event.seq(),
                }
            }
            ClientMessage::History {
                id,
                channel,
                before_seq,
                from_seq,
                to_seq,
                limit,
                replies_to,
            } => {
                let query = HistoryQuery {
                    before_seq,
                    from_seq,
                    to_seq,
                    limit,
                    replies_to,
                };
                let (messages, has_more) = messaging::history(state, me, channel, query).await?;
                ServerMessage::History {
                    id,
                    channel,
                    messages,
                    has_more,
                }
            }
            ClientMessage::MarkRead { id, channel, seq } => {
                let (read_seq, unread) = messaging::mark_read(state, me, channel, seq).await?;
                ServerMessage::MarkedRead {
                    id,
                    channel,
                    read_seq,
                    unread,
                }
            }
            ClientMessage::Channels { id } => ServerMessage::Channels {
                id,
                channels: state.db.channel_summaries(me.id).await?,
            },
            ClientMessage::Receipts {
                id,
                channel,
                message_id,
            } => ServerMessage::Receipts {
                id,
                receipts: messaging::receipts(state, me, channel, message_id).await?,
            },
            ClientMessage::ReadState { id, channel } => ServerMessage::ReadState {
                id,
                channel,
                members: messaging::read_state(state, me, channel).await?,
            },
            ClientMessage::SetPresence {
                id,
                state: chosen,
                status_text,
            } => {
                if chosen == Some(PresenceState::Offline) {
                    return Err(AppError::invalid(
                        "offline is not a choice: close the connection instead",
                    ));
                }
                if status_text
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > 100)
                {
                    return Err(AppError::invalid("status_text has at most 100 characters"));
                }
                state.hub.choose(conn, chosen, status_text).await;
                ServerMessage::Ok { id }
            }
            ClientMessage::Presence { id, users } => ServerMessage::Presence {
                id,
                users: messaging::presence(state, me, users).await?,
            },
            ClientMessage::Typing { id, channel } => {
                messaging::typing(state, me, channel).await?;
                ServerMessage::Ok { id }
            }
            ClientMessage::Ping { id } => ServerMessage::Pong { id },
        })
    }
}
