//! The hub task: owns the routing table and every connection's outbox, and fans events out.
//! It never waits on a client: a full outbox means that client is too slow, and it is
//! disconnected (it recovers on reconnect) so the others are not held up.

use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use parley_presence::{ConnId, Routes};
use parley_proto::{ChannelEvent, ChannelId, ServerMessage, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What a connection receives from the hub.
#[derive(Debug)]
pub enum Outbound {
    /// A channel event, serialized once for every recipient.
    Event {
        channel: ChannelId,
        seq: i64,
        payload: Utf8Bytes,
    },
    /// A message for this device only (a read marker moved).
    Direct(Utf8Bytes),
}

enum Command {
    Connect {
        conn: ConnId,
        user: UserId,
        channels: Vec<ChannelId>,
        outbox: mpsc::Sender<Outbound>,
        kicked: oneshot::Sender<()>,
    },
    Disconnect(ConnId),
    Join {
        user: UserId,
        channel: ChannelId,
    },
    Publish {
        channel: ChannelId,
        seq: i64,
        payload: Utf8Bytes,
    },
    ToUser {
        user: UserId,
        payload: Utf8Bytes,
    },
    /// A notice (not an event of the stream) for a channel's members but one.
    ToChannel {
        channel: ChannelId,
        except: UserId,
        payload: Utf8Bytes,
    },
}

/// A connection's link to the hub.
pub struct Registration {
    pub conn: ConnId,
    pub outbox: mpsc::Receiver<Outbound>,
    /// Fires when the hub dropped the connection for being too slow.
    pub kicked: oneshot::Receiver<()>,
}

#[derive(Clone, Debug)]
pub struct HubHandle {
    commands: mpsc::Sender<Command>,
    next_conn: Arc<AtomicU64>,
}

struct Link {
    outbox: mpsc::Sender<Outbound>,
    kicked: Option<oneshot::Sender<()>>,
}

fn serialize(message: &ServerMessage) -> Utf8Bytes {
    match serde_json::to_string(message) {
        Ok(text) => Utf8Bytes::from(text),
        // Serializing our own types cannot fail; if it ever does, say so rather than panic.
        Err(err) => {
            tracing::error!(%err, "cannot serialize a server message");
            Utf8Bytes::from_static(
                r#"{"type":"error","code":"internal","message":"unserializable message"}"#,
            )
        }
    }
}

impl HubHandle {
    pub fn spawn(metrics: Metrics) -> HubHandle {
        let (commands, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, metrics));
        HubHandle {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
        }
    }

    async fn command(&self, command: Command) {
        if self.commands.send(command).await.is_err() {
            tracing::error!("the hub task has stopped");
        }
    }

    /// Register a device of `user` listening to `channels`, with an outbox of `queue` messages.
    pub async fn connect(
        &self,
        user: UserId,
        channels: Vec<ChannelId>,
        queue: usize,
    ) -> Registration {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (outbox, rx) = mpsc::channel(queue.max(1));
        let (kicked, kicked_rx) = oneshot::channel();
        self.command(Command::Connect {
            conn,
            user,
            channels,
            outbox,
            kicked,
        })
        .await;
        Registration {
            conn,
            outbox: rx,
            kicked: kicked_rx,
        }
    }

    pub async fn disconnect(&self, conn: ConnId) {
        self.command(Command::Disconnect(conn)).await;
    }

    /// `user` became a member of `channel`.
    pub async fn join(&self, user: UserId, channel: ChannelId) {
        self.command(Command::Join { user, channel }).await;
    }

    /// Fan a committed event out to every connected device of every member.
    pub async fn publish(&self, event: &ChannelEvent) {
        let payload = serialize(&ServerMessage::Event(event.clone()));
        self.command(Command::Publish {
            channel: event.channel(),
            seq: event.seq(),
            payload,
        })
        .await;
    }

    /// Tell every connected member of `channel` but `except`.
    pub async fn to_channel(&self, channel: ChannelId, except: UserId, message: &ServerMessage) {
        self.command(Command::ToChannel {
            channel,
            except,
            payload: serialize(message),
        })
        .await;
    }

    pub async fn to_user(&self, user: UserId, message: &ServerMessage) {
        self.command(Command::ToUser {
            user,
            payload: serialize(message),
        })
        .await;
    }
}

async fn run(mut commands: mpsc::Receiver<Command>, metrics: Metrics) {
    let mut routes = Routes::default();
    let mut links: HashMap<ConnId, Link> = HashMap::new();
    let mut too_slow: Vec<ConnId> = Vec::new();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Connect {
                conn,
                user,
                channels,
                outbox,
                kicked,
            } => {
                routes.connect(conn, user, channels);
                links.insert(
                    conn,
                    Link {
                        outbox,
                        kicked: Some(kicked),
                    },
                );
            }
            Command::Disconnect(conn) => {
                routes.disconnect(conn);
                links.remove(&conn);
            }
            Command::Join { user, channel } => routes.join(user, channel),
            Command::Publish {
                channel,
                seq,
                payload,
            } => {
                for conn in routes.recipients(channel) {
                    let message = Outbound::Event {
                        channel,
                        seq,
                        payload: payload.clone(),
                    };
                    offer(&links, conn, message, &mut too_slow, &metrics);
                }
            }
            Command::ToChannel {
                channel,
                except,
                payload,
            } => {
                for conn in routes.recipients_except(channel, except) {
                    offer(
                        &links,
                        conn,
                        Outbound::Direct(payload.clone()),
                        &mut too_slow,
                        &metrics,
                    );
                }
            }
            Command::ToUser { user, payload } => {
                for conn in routes.devices(user) {
                    offer(
                        &links,
                        conn,
                        Outbound::Direct(payload.clone()),
                        &mut too_slow,
                        &metrics,
                    );
                }
            }
        }
        for conn in too_slow.drain(..) {
            routes.disconnect(conn);
            if let Some(mut link) = links.remove(&conn) {
                metrics.ws_slow_consumers.inc();
                if let Some(kicked) = link.kicked.take() {
                    let _ = kicked.send(());
                }
            }
        }
    }
}

/// Queue `message` for `conn` without waiting; a full outbox marks the connection too slow.
fn offer(
    links: &HashMap<ConnId, Link>,
    conn: ConnId,
    message: Outbound,
    too_slow: &mut Vec<ConnId>,
    metrics: &Metrics,
) {
    let Some(link) = links.get(&conn) else {
        return;
    };
    match link.outbox.try_send(message) {
        Ok(()) => metrics.hub_deliveries.inc(),
        Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(conn),
        // The connection is closing; its Disconnect is on the way.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
