//! The floor: a bare WebSocket broadcast server that Parley's hub is measured against. It speaks
//! just enough of `/v1/ws` for the same `im` clients to drive it and check every delivery
//! (`hello` → `welcome`, `send` → `sent` with a per-channel sequence, the `message` event to
//! the channel's members, `ping` → `pong`) and nothing else: no storage, no auth, no presence.
//!
//! Who is in which channel is fixed at start from the same layout the load tester provisions
//! (`provision::memberships`), with deterministic tokens and ids (`provision::floor_cast`).
//! Each connection gets what a real server must give it and no more: an event is serialised
//! once for all its recipients, every connection has a bounded queue (a full queue disconnects
//! the slow reader, as Parley does), and one task per connection writes its queue in order.

use crate::provision::{floor_token, memberships};
use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use parley_proto::{
    ChannelEvent, ChannelId, ClientMessage, ConnectionLimits, ErrorCode, Message, MessageId,
    Priority, Role, ServerMessage, User, UserId,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as Frame, Utf8Bytes};

/// Parley's defaults, so the floor holds its clients to the same bounds.
const OUTBOUND_QUEUE: usize = 1024;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(60);
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// One channel: its members and its sequence. The lock is held while an event is numbered and
/// queued to every member, so every member's queue holds the channel's events in order.
struct ChannelState {
    members: Vec<usize>,
    seq: Mutex<i64>,
}

/// A user's open connections: id and queue.
type Outboxes = Vec<(u64, mpsc::Sender<Utf8Bytes>)>;

/// The routing table: channels and, per user, the queues of its open connections.
pub struct Floor {
    channels: Vec<ChannelState>,
    channels_of: Vec<Vec<usize>>,
    connections: Vec<Mutex<Outboxes>>,
    tokens: HashMap<String, usize>,
    next_connection: AtomicU64,
    next_message: AtomicI64,
}

/// What a send produced: the sequence and the event's text, and which connections were too
/// slow to take it (they are dropped from the table).
#[derive(Debug)]
pub struct Published {
    pub seq: i64,
    pub message_id: MessageId,
    pub queued: usize,
    pub dropped: usize,
}

impl Floor {
    /// The floor for `users` users in `channels` channels of `members`, as provisioned.
    pub fn new(users: usize, channels: usize, members: usize) -> Floor {
        let layout = memberships(users, channels, members);
        let mut channels_of = vec![Vec::new(); users];
        for (c, group) in layout.iter().enumerate() {
            for &m in group {
                channels_of[m].push(c);
            }
        }
        Floor {
            channels: layout
                .into_iter()
                .map(|members| ChannelState {
                    members,
                    seq: Mutex::new(0),
                })
                .collect(),
            channels_of,
            connections: (0..users).map(|_| Mutex::new(Vec::new())).collect(),
            tokens: (0..users).map(|i| (floor_token(i), i)).collect(),
            next_connection: AtomicU64::new(1),
            next_message: AtomicI64::new(1),
        }
    }

    /// The user a token stands for.
    pub fn user_of(&self, token: &str) -> Option<usize> {
        self.tokens.get(token).copied()
    }

    /// Add a connection of `user`; its events arrive on the receiver.
    pub fn connect(&self, user: usize) -> (u64, mpsc::Receiver<Utf8Bytes>) {
        let id = self.next_connection.fetch_add(1, Relaxed);
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        lock(&self.connections[user]).push((id, tx));
        (id, rx)
    }

    pub fn disconnect(&self, user: usize, id: u64) {
        lock(&self.connections[user]).retain(|(c, _)| *c != id);
    }

    /// Number `body` as the next event of `channel` (an index) and queue it, serialised once,
    /// to every connection of every member. None when `user` is not a member.
    pub fn publish(&self, user: usize, channel: usize, body: String) -> Option<Published> {
        if !self.channels_of.get(user)?.contains(&channel) {
            return None;
        }
        let state = &self.channels[channel];
        let message_id = MessageId(self.next_message.fetch_add(1, Relaxed));
        let mut seq = lock(&state.seq);
        *seq += 1;
        let channel_id = channel_id(channel);
        let event = ServerMessage::Event(ChannelEvent::Message {
            channel: channel_id,
            seq: *seq,
            message: Message {
                id: message_id,
                channel: channel_id,
                seq: *seq,
                sender: Some(user_id(user)),
                body: Some(body),
                reply_to: None,
                thread_only: false,
                reply_count: 0,
                mentions: Vec::new(),
                mention_channel: false,
                priority: Priority::Normal,
                ack_requested: false,
                action: None,
                pinned_at: None,
                reactions: Vec::new(),
                attachments: Vec::new(),
                created_at: now_ms(),
                edited_at: None,
                recalled_at: None,
            },
        });
        let payload = Utf8Bytes::from(serde_json::to_string(&event).expect("serialisable"));
        let (mut queued, mut dropped) = (0, 0);
        for &m in &state.members {
            lock(&self.connections[m]).retain(|(_, tx)| match tx.try_send(payload.clone()) {
                Ok(()) => {
                    queued += 1;
                    true
                }
                // Too slow (or gone): drop it; its task sees the queue end and closes.
                Err(_) => {
                    dropped += 1;
                    false
                }
            });
        }
        Some(Published {
            seq: *seq,
            message_id,
            queued,
            dropped,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The ids the floor gives user `i` and channel `c` (also what `floor_cast` hands the clients).
pub fn user_id(i: usize) -> UserId {
    UserId(i as i64 + 1)
}

pub fn channel_id(c: usize) -> ChannelId {
    ChannelId(c as i64 + 1)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Serve the floor on `listener` until `stop_after` has passed.
pub async fn serve(floor: Arc<Floor>, listener: TcpListener, stop_after: Duration) -> Result<()> {
    let until = tokio::time::sleep(stop_after);
    tokio::pin!(until);
    loop {
        tokio::select! {
            () = &mut until => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = accepted.context("accepting a connection")?;
                let floor = floor.clone();
                tokio::spawn(async move {
                    if let Err(err) = connection(floor, stream).await {
                        tracing::debug!(error = %err, "floor connection ended");
                    }
                });
            }
        }
    }
}

fn text(message: &ServerMessage) -> Frame {
    Frame::text(serde_json::to_string(message).expect("serialisable"))
}

async fn connection(floor: Arc<Floor>, stream: TcpStream) -> Result<()> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    // hello first.
    let user = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no hello")?
            .context("closed before hello")??;
        let Frame::Text(t) = frame else { continue };
        match serde_json::from_str::<ClientMessage>(&t) {
            Ok(ClientMessage::Hello { id, token, .. }) => {
                let Some(user) = token.as_deref().and_then(|t| floor.user_of(t)) else {
                    let error = ServerMessage::Error {
                        id: Some(id),
                        code: ErrorCode::TokenInvalid,
                        message: "not a floor token".into(),
                    };
                    ws.send(text(&error)).await?;
                    return Ok(());
                };
                ws.send(text(&welcome(id, user))).await?;
                break user;
            }
            _ => return Ok(()),
        }
    };
    let (id, mut outbox) = floor.connect(user);
    let result = async {
        let mut deadline = tokio::time::Instant::now() + HEARTBEAT;
        loop {
            tokio::select! {
                biased;
                out = outbox.recv() => match out {
                    Some(payload) => tokio::time::timeout(WRITE_TIMEOUT, ws.send(Frame::Text(payload))).await.context("write timed out")??,
                    None => {
                        let close = CloseFrame { code: CloseCode::Policy, reason: "slow_consumer".into() };
                        ws.send(Frame::Close(Some(close))).await.ok();
                        return Ok(());
                    }
                },
                frame = ws.next() => {
                    deadline = tokio::time::Instant::now() + HEARTBEAT;
                    match frame {
                        Some(Ok(Frame::Text(t))) => {
                            if let Some(reply) = request(&floor, user, &t) {
                                ws.send(text(&reply)).await?;
                            }
                        }
                        Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => return Ok(()),
                        Some(Ok(_)) => {}
                    }
                }
                () = tokio::time::sleep_until(deadline) => return Ok(()),
            }
        }
    }
    .await;
    floor.disconnect(user, id);
    result
}

fn welcome(id: String, user: usize) -> ServerMessage {
    ServerMessage::Welcome {
        id,
        version: 1,
        user: User {
            id: user_id(user),
            email: format!("floor-{user}@loadtest.invalid"),
            name: format!("floor {user}"),
            role: Role::Member,
            department_id: None,
            department_path: None,
            disabled: false,
            created_at: 0,
            title: None,
            time_zone: None,
            avatar: None,
        },
        limits: ConnectionLimits {
            max_frame_bytes: 64 * 1024,
            requests_per_second: 20,
            burst: 40,
            recall_window_secs: 0,
            heartbeat_secs: HEARTBEAT.as_secs(),
        },
    }
}

/// The reply to one request: `sent` for a send, `pong` for a ping, an error for anything else.
fn request(floor: &Floor, user: usize, text: &str) -> Option<ServerMessage> {
    let error = |id: Option<String>, code: ErrorCode, message: &str| ServerMessage::Error {
        id,
        code,
        message: message.into(),
    };
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Send {
            id, channel, body, ..
        }) => {
            let index = usize::try_from(channel.0 - 1).ok();
            match index.and_then(|c| floor.publish(user, c, body)) {
                Some(p) => Some(ServerMessage::Sent {
                    id,
                    channel,
                    seq: p.seq,
                    message_id: p.message_id,
                    created_at: now_ms(),
                    duplicate: false,
                }),
                None => Some(error(
                    Some(id),
                    ErrorCode::NotMember,
                    "not a member of this channel",
                )),
            }
        }
        Ok(ClientMessage::Ping { id }) => Some(ServerMessage::Pong { id }),
        Ok(_) => Some(error(
            None,
            ErrorCode::UnknownType,
            "the floor speaks hello, send and ping only",
        )),
        Err(_) => Some(error(None, ErrorCode::MalformedJson, "unreadable request")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::Receiver<Utf8Bytes>) -> Vec<(ChannelId, i64)> {
        let mut got = Vec::new();
        while let Ok(payload) = rx.try_recv() {
            match serde_json::from_str::<ServerMessage>(&payload).expect("a server message") {
                ServerMessage::Event(ChannelEvent::Message { channel, seq, .. }) => {
                    got.push((channel, seq))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        got
    }

    #[test]
    fn each_channel_numbers_its_events_and_every_member_connection_gets_them_in_order() {
        // 5 users, 3 channels of 3: [0,1,2], [3,4,0], [1,2,3].
        let floor = Floor::new(5, 3, 3);
        let (_, mut a) = floor.connect(0);
        let (_, mut a2) = floor.connect(0);
        let (_, mut d) = floor.connect(3);
        let seqs: Vec<i64> = [(0, 0), (1, 0), (2, 0), (4, 1), (3, 1), (0, 1)]
            .iter()
            .map(|&(u, c)| floor.publish(u, c, "x".into()).expect("member").seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 1, 2, 3]);
        let both = vec![
            (ChannelId(1), 1),
            (ChannelId(1), 2),
            (ChannelId(1), 3),
            (ChannelId(2), 1),
            (ChannelId(2), 2),
            (ChannelId(2), 3),
        ];
        assert_eq!(drain(&mut a), both);
        assert_eq!(drain(&mut a2), both);
        assert_eq!(drain(&mut d), both[3..].to_vec());
        // Not a member: refused, and nothing is numbered.
        assert!(floor.publish(4, 0, "x".into()).is_none());
        assert_eq!(floor.publish(0, 0, "x".into()).map(|p| p.seq), Some(4));
    }

    #[test]
    fn a_full_queue_drops_only_that_connection() {
        let floor = Floor::new(2, 1, 2);
        let (_, _slow) = floor.connect(0);
        let (_, mut fast) = floor.connect(1);
        for n in 0..OUTBOUND_QUEUE {
            let p = floor.publish(1, 0, "x".into()).unwrap();
            assert_eq!((p.queued, p.dropped), (2, 0), "message {n}");
            fast.try_recv().expect("queued");
        }
        let p = floor.publish(1, 0, "x".into()).unwrap();
        assert_eq!((p.queued, p.dropped), (1, 1));
        let p = floor.publish(1, 0, "x".into()).unwrap();
        assert_eq!(
            (p.queued, p.dropped, p.seq),
            (1, 0, OUTBOUND_QUEUE as i64 + 2)
        );
    }

    #[test]
    fn tokens_name_users_and_unknown_requests_get_errors() {
        let floor = Floor::new(3, 1, 3);
        assert_eq!(floor.user_of(&floor_token(2)), Some(2));
        assert_eq!(floor.user_of("nobody"), None);
        let ping = r#"{"type":"ping","id":"7"}"#;
        assert_eq!(
            request(&floor, 0, ping),
            Some(ServerMessage::Pong { id: "7".into() })
        );
        let send = r#"{"type":"send","id":"1","channel":1,"client_id":"c","body":"hi"}"#;
        assert!(matches!(
            request(&floor, 0, send),
            Some(ServerMessage::Sent { seq: 1, .. })
        ));
        let elsewhere = r#"{"type":"send","id":"2","channel":9,"client_id":"c","body":"hi"}"#;
        assert!(matches!(
            request(&floor, 0, elsewhere),
            Some(ServerMessage::Error { .. })
        ));
    }
}
