//! The hub task: owns the routing table, presence, the typing throttle and every connection's
//! outbox, and fans events out. It never waits on a client: a full outbox means that client is
//! too slow, and it is disconnected (it recovers on reconnect) so the others are not held up.
//! Clustered, what it fans out also goes to the other nodes (`cluster`), and what they fan out
//! comes in here.

use crate::cluster::{Cluster, Wire};
use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use parley_presence::{Announcement, ConnId, Presence, PresenceConfig, Routes, TypingThrottle};
use parley_proto::{
    Channel, ChannelEvent, ChannelId, ErrorCode, PresenceState, ServerMessage, UserId, UserPresence,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How often presence is checked for changes to announce.
const TICK: Duration = Duration::from_millis(200);
/// One typing notice per member and channel per this long; clients show it this long plus
/// some, so a member who keeps typing shows as typing throughout.
const TYPING_EVERY: Duration = Duration::from_secs(3);
const TYPING_SHOWN_MS: u64 = 5000;

/// What a connection receives from the hub.
#[derive(Debug)]
pub enum Outbound {
    /// A channel event, serialized once for every recipient.
    Event {
        channel: ChannelId,
        seq: i64,
        payload: Utf8Bytes,
    },
    /// A notice for this device only (a read marker moved, someone is typing).
    Direct(Utf8Bytes),
    /// The user joined the channel at position `last_seq`: follow it from there, and tell the
    /// client (`payload`).
    Joined {
        channel: ChannelId,
        last_seq: i64,
        payload: Utf8Bytes,
    },
    /// The user left the channel: stop following it, and tell the client.
    Left(ChannelId),
    /// Close the connection with this reason (signed out, disabled, account changed).
    Kick(ErrorCode),
}

enum Command {
    Connect {
        conn: ConnId,
        user: UserId,
        session: Option<String>,
        channels: Vec<ChannelId>,
        outbox: mpsc::Sender<Outbound>,
        kicked: oneshot::Sender<()>,
    },
    Disconnect(ConnId),
    Join {
        user: UserId,
        channel: ChannelId,
        notice: Option<(i64, Utf8Bytes)>,
    },
    Leave {
        user: UserId,
        channel: ChannelId,
    },
    Kick {
        user: UserId,
        session: Option<String>,
        code: ErrorCode,
    },
    KickAll(ErrorCode),
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
    /// A notice for everyone in any of the channels, once per connection.
    ToChannels {
        channels: Vec<ChannelId>,
        payload: Utf8Bytes,
    },
    Activity(ConnId),
    Choose {
        conn: ConnId,
        state: Option<PresenceState>,
        status_text: Option<String>,
    },
    Typing {
        channel: ChannelId,
        user: UserId,
    },
    Presence {
        users: Vec<UserId>,
        reply: oneshot::Sender<Vec<UserPresence>>,
    },
    /// Announce a user's presence (clustered: the aggregate across nodes) to local connections.
    Announce(Announcement),
    /// The presence of every user with a device here.
    Snapshot(oneshot::Sender<Vec<Announcement>>),
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
    /// Set when clustered: what this node fans out goes to the other nodes too.
    cluster: Option<Cluster>,
    /// Woken when an event is committed to a channel's stream, here or on another node: the
    /// search index follows the streams.
    committed: Arc<tokio::sync::Notify>,
}

struct Link {
    outbox: mpsc::Sender<Outbound>,
    kicked: Option<oneshot::Sender<()>>,
    /// The sign-in session the connection was opened with.
    session: Option<String>,
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

/// A committed event as every recipient receives it: serialised once for all of them.
fn event_payload(event: &ChannelEvent) -> Utf8Bytes {
    serialize(&ServerMessage::Event(event.clone()))
}

fn wall_ms() -> i64 {
    parley_storage::now_ms()
}

impl HubHandle {
    pub fn spawn(
        metrics: Metrics,
        presence: PresenceConfig,
        cluster: Option<Cluster>,
    ) -> HubHandle {
        let (commands, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, metrics, presence, cluster.clone()));
        HubHandle {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
            cluster,
            committed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Woken (once for any number of events) when a channel's stream has something new.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    async fn command(&self, command: Command) {
        if self.commands.send(command).await.is_err() {
            tracing::error!("the hub task has stopped");
        }
    }

    /// A recording job was requested here: tell the other nodes, whose recorders may be
    /// waiting on them.
    pub fn recording_job_requested(&self) {
        self.to_cluster(|| Wire::RecordingJob);
    }

    /// An API key was revoked here: the other nodes remove the meeting participants its
    /// tokens let in, as this one did.
    pub fn api_key_revoked(&self, api_key: &str) {
        self.to_cluster(|| Wire::ApiKeyRevoked {
            api_key: api_key.to_string(),
        });
    }

    fn to_cluster(&self, wire: impl FnOnce() -> Wire) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(wire());
        }
    }

    /// Register a device of `user` (signed in as `session`) listening to `channels`, with an
    /// outbox of `queue` messages.
    pub async fn connect(
        &self,
        user: UserId,
        session: Option<String>,
        channels: Vec<ChannelId>,
        queue: usize,
    ) -> Registration {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (outbox, rx) = mpsc::channel(queue.max(1));
        let (kicked, kicked_rx) = oneshot::channel();
        self.command(Command::Connect {
            conn,
            user,
            session,
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

    /// `user`'s devices on this node listen to `channel` too (nothing is said to them).
    pub async fn follow(&self, user: UserId, channel: ChannelId) {
        self.command(Command::Join {
            user,
            channel,
            notice: None,
        })
        .await;
    }

    /// `user` became a member of `channel`, whose position is `last_seq`: every device, on
    /// every node, follows it from there and is told.
    pub async fn joined(&self, user: UserId, channel: &Channel, last_seq: i64) {
        let payload = serialize(&ServerMessage::ChannelJoined {
            channel: channel.clone(),
        });
        let id = channel.id;
        self.to_cluster(|| Wire::Join {
            user,
            channel: id,
            notice: Some((last_seq, payload.as_str().to_string())),
        });
        self.command(Command::Join {
            user,
            channel: id,
            notice: Some((last_seq, payload)),
        })
        .await;
    }

    /// `user` left `channel`: its devices stop receiving it.
    pub async fn leave(&self, user: UserId, channel: ChannelId) {
        self.command(Command::Leave { user, channel }).await;
        self.to_cluster(|| Wire::Leave { user, channel });
    }

    /// Close `user`'s connections (those of one `session`, if given) with `code`.
    pub async fn kick(&self, user: UserId, session: Option<String>, code: ErrorCode) {
        let for_cluster = session.clone();
        self.to_cluster(|| Wire::Kick {
            user,
            session: for_cluster,
            code,
        });
        self.command(Command::Kick {
            user,
            session,
            code,
        })
        .await;
    }

    /// Close every connection on this node with `code`.
    pub async fn kick_all(&self, code: ErrorCode) {
        self.command(Command::KickAll(code)).await;
    }

    /// Fan a committed event out to every connected device of every member.
    pub async fn publish(&self, event: &ChannelEvent) {
        self.committed.notify_one();
        let payload = event_payload(event);
        let (channel, seq) = (event.channel(), event.seq());
        self.to_cluster(|| Wire::Event {
            channel,
            seq,
            payload: payload.as_str().to_string(),
        });
        self.command(Command::Publish {
            channel,
            seq,
            payload,
        })
        .await;
    }

    /// Tell every connected member of `channel` but `except`.
    pub async fn to_channel(&self, channel: ChannelId, except: UserId, message: &ServerMessage) {
        let payload = serialize(message);
        self.to_cluster(|| Wire::ToChannel {
            channel,
            except,
            payload: payload.as_str().to_string(),
        });
        self.command(Command::ToChannel {
            channel,
            except,
            payload,
        })
        .await;
    }

    /// Tell every connected member of any of `channels`, each device once (a profile change
    /// reaches everyone who shares a channel with the person).
    pub async fn to_channels(&self, channels: Vec<ChannelId>, message: &ServerMessage) {
        let payload = serialize(message);
        self.to_cluster(|| Wire::ToChannels {
            channels: channels.clone(),
            payload: payload.as_str().to_string(),
        });
        self.command(Command::ToChannels { channels, payload })
            .await;
    }

    pub async fn to_user(&self, user: UserId, message: &ServerMessage) {
        let payload = serialize(message);
        self.to_cluster(|| Wire::ToUser {
            user,
            payload: payload.as_str().to_string(),
        });
        self.command(Command::ToUser { user, payload }).await;
    }

    /// Something another node fanned out: deliver it here, without passing it on.
    pub async fn from_cluster(&self, wire: Wire) {
        let command = match wire {
            Wire::Event {
                channel,
                seq,
                payload,
            } => {
                self.committed.notify_one();
                Command::Publish {
                    channel,
                    seq,
                    payload: Utf8Bytes::from(payload),
                }
            }
            Wire::ToUser { user, payload } => Command::ToUser {
                user,
                payload: Utf8Bytes::from(payload),
            },
            Wire::ToChannel {
                channel,
                except,
                payload,
            } => Command::ToChannel {
                channel,
                except,
                payload: Utf8Bytes::from(payload),
            },
            Wire::ToChannels { channels, payload } => Command::ToChannels {
                channels,
                payload: Utf8Bytes::from(payload),
            },
            Wire::Join {
                user,
                channel,
                notice,
            } => {
                let notice = notice.map(|(last_seq, payload)| (last_seq, Utf8Bytes::from(payload)));
                Command::Join {
                    user,
                    channel,
                    notice,
                }
            }
            Wire::Leave { user, channel } => Command::Leave { user, channel },
            Wire::Kick {
                user,
                session,
                code,
            } => Command::Kick {
                user,
                session,
                code,
            },
            // Handled by the cluster task itself.
            Wire::Presence { .. } | Wire::RecordingJob | Wire::ApiKeyRevoked { .. } => return,
        };
        self.command(command).await;
    }

    /// The device did something a person does (for idle detection).
    pub async fn activity(&self, conn: ConnId) {
        self.command(Command::Activity(conn)).await;
    }

    pub async fn choose(
        &self,
        conn: ConnId,
        state: Option<PresenceState>,
        status_text: Option<String>,
    ) {
        self.command(Command::Choose {
            conn,
            state,
            status_text,
        })
        .await;
    }

    /// Typing notices stay on this node: they are throttled and ephemeral, and a notice missed
    /// by another node's members costs nothing.
    pub async fn typing(&self, channel: ChannelId, user: UserId) {
        self.command(Command::Typing { channel, user }).await;
    }

    /// The presence of `users` with a live device (on any node, when clustered); the others
    /// are left out.
    pub async fn presence(&self, users: Vec<UserId>) -> Vec<UserPresence> {
        if let Some(cluster) = &self.cluster {
            return cluster.presence(&users).await;
        }
        let (reply, answer) = oneshot::channel();
        self.command(Command::Presence { users, reply }).await;
        answer.await.unwrap_or_default()
    }

    /// Announce a user's presence to this node's connections (once per distinct state).
    pub async fn announce(&self, announcement: Announcement) {
        self.command(Command::Announce(announcement)).await;
    }

    /// Every user with a device on this node, as they stand now.
    pub async fn local_presence(&self) -> Vec<Announcement> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Snapshot(reply)).await;
        answer.await.unwrap_or_default()
    }
}

struct Hub {
    routes: Routes,
    presence: Presence,
    typing: TypingThrottle,
    links: HashMap<ConnId, Link>,
    too_slow: Vec<ConnId>,
    metrics: Metrics,
    cluster: Option<Cluster>,
    /// Clustered: what was last announced of each user here, to announce each change once.
    announced: HashMap<UserId, (PresenceState, Option<String>)>,
}

async fn run(
    mut commands: mpsc::Receiver<Command>,
    metrics: Metrics,
    presence: PresenceConfig,
    cluster: Option<Cluster>,
) {
    let mut hub = Hub::new(metrics, presence, cluster);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => hub.handle(command),
                None => break,
            },
            _ = tick.tick() => hub.tick(),
        }
        hub.drop_too_slow();
    }
}

impl Hub {
    fn new(metrics: Metrics, presence: PresenceConfig, cluster: Option<Cluster>) -> Hub {
        Hub {
            routes: Routes::default(),
            presence: Presence::new(presence),
            typing: TypingThrottle::new(TYPING_EVERY),
            links: HashMap::new(),
            too_slow: Vec::new(),
            metrics,
            cluster,
            announced: HashMap::new(),
        }
    }

    fn handle(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Connect {
                conn,
                user,
                session,
                channels,
                outbox,
                kicked,
            } => {
                self.presence
                    .connect(conn, user, channels.iter().copied(), now);
                self.routes.connect(conn, user, channels);
                self.links.insert(
                    conn,
                    Link {
                        outbox,
                        kicked: Some(kicked),
                        session,
                    },
                );
            }
            Command::Disconnect(conn) => {
                self.presence.disconnect(conn, now, wall_ms());
                self.routes.disconnect(conn);
                self.links.remove(&conn);
            }
            Command::Join {
                user,
                channel,
                notice,
            } => {
                self.routes.join(user, channel);
                self.presence.join(user, channel);
                if let Some((last_seq, payload)) = notice {
                    let conns: Vec<ConnId> = self.routes.devices(user).collect();
                    for conn in conns {
                        self.offer(
                            conn,
                            Outbound::Joined {
                                channel,
                                last_seq,
                                payload: payload.clone(),
                            },
                        );
                    }
                }
            }
            Command::Leave { user, channel } => {
                let conns: Vec<ConnId> = self.routes.devices(user).collect();
                for conn in conns {
                    self.offer(conn, Outbound::Left(channel));
                }
                self.routes.leave(user, channel);
                self.presence.leave(user, channel);
            }
            Command::Kick {
                user,
                session,
                code,
            } => {
                let conns: Vec<ConnId> = self
                    .routes
                    .devices(user)
                    .filter(|conn| {
                        session.is_none()
                            || self
                                .links
                                .get(conn)
                                .is_some_and(|link| link.session == session)
                    })
                    .collect();
                for conn in conns {
                    self.offer(conn, Outbound::Kick(code));
                }
            }
            Command::KickAll(code) => {
                let conns: Vec<ConnId> = self.links.keys().copied().collect();
                for conn in conns {
                    self.offer(conn, Outbound::Kick(code));
                }
            }
            Command::Publish {
                channel,
                seq,
                payload,
            } => {
                let conns: Vec<ConnId> = self.routes.recipients(channel).collect();
                for conn in conns {
                    self.offer(
                        conn,
                        Outbound::Event {
                            channel,
                            seq,
                            payload: payload.clone(),
                        },
                    );
                }
            }
            Command::ToChannels { channels, payload } => {
                let mut audience = HashSet::new();
                for channel in channels {
                    audience.extend(self.routes.recipients(channel));
                }
                for conn in audience {
                    self.offer(conn, Outbound::Direct(payload.clone()));
                }
            }
            Command::ToChannel {
                channel,
                except,
                payload,
            } => {
                let conns: Vec<ConnId> = self.routes.recipients_except(channel, except).collect();
                for conn in conns {
                    self.offer(conn, Outbound::Direct(payload.clone()));
                }
            }
            Command::ToUser { user, payload } => {
                let conns: Vec<ConnId> = self.routes.devices(user).collect();
                for conn in conns {
                    self.offer(conn, Outbound::Direct(payload.clone()));
                }
            }
            Command::Activity(conn) => self.presence.activity(conn, now),
            Command::Choose {
                conn,
                state,
                status_text,
            } => self.presence.choose(conn, state, status_text, now),
            Command::Typing { channel, user } => {
                if self.typing.allow(user, channel, now) {
                    let notice = ServerMessage::Typing {
                        channel,
                        user_id: user,
                        expires_in_ms: TYPING_SHOWN_MS,
                    };
                    let payload = serialize(&notice);
                    let conns: Vec<ConnId> = self.routes.recipients_except(channel, user).collect();
                    for conn in conns {
                        self.offer(conn, Outbound::Direct(payload.clone()));
                    }
                }
            }
            Command::Presence { users, reply } => {
                let known = users
                    .into_iter()
                    .filter_map(|u| self.presence.of(u, now))
                    .collect();
                let _ = reply.send(known);
            }
            Command::Announce(announcement) => {
                let user = announcement.presence.user_id;
                let shown = (
                    announcement.presence.state,
                    announcement.presence.status_text.clone(),
                );
                let before = self.announced.get(&user);
                if before == Some(&shown) || (before.is_none() && shown.0 == PresenceState::Offline)
                {
                    return;
                }
                if shown.0 == PresenceState::Offline {
                    self.announced.remove(&user);
                } else {
                    self.announced.insert(user, shown);
                }
                self.fan_out_presence(announcement);
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.presence.connected(now));
            }
        }
    }

    /// Announce presence changes that are due.
    fn tick(&mut self) {
        let now = Instant::now();
        self.typing.expire(now);
        for announcement in self.presence.poll(now) {
            match &self.cluster {
                // The cluster writes this node's view, and announces the aggregate back here.
                Some(cluster) => cluster.local_presence(announcement),
                None => self.fan_out_presence(announcement),
            }
        }
    }

    /// Tell each local connection that shares a channel with the user, once.
    fn fan_out_presence(&mut self, announcement: Announcement) {
        let user = announcement.presence.user_id;
        let payload = serialize(&ServerMessage::PresenceChanged(announcement.presence));
        let mut audience = HashSet::new();
        for channel in announcement.channels {
            audience.extend(self.routes.recipients_except(channel, user));
        }
        for conn in audience {
            self.offer(conn, Outbound::Direct(payload.clone()));
        }
    }

    /// Queue `message` for `conn` without waiting; a full outbox marks the connection too slow.
    fn offer(&mut self, conn: ConnId, message: Outbound) {
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        match link.outbox.try_send(message) {
            Ok(()) => self.metrics.hub_deliveries.inc(),
            Err(mpsc::error::TrySendError::Full(_)) => self.too_slow.push(conn),
            // The connection is closing; its Disconnect is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn drop_too_slow(&mut self) {
        let now = Instant::now();
        for conn in std::mem::take(&mut self.too_slow) {
            self.routes.disconnect(conn);
            self.presence.disconnect(conn, now, wall_ms());
            if let Some(mut link) = self.links.remove(&conn) {
                self.metrics.ws_slow_consumers.inc();
                if let Some(kicked) = link.kicked.take() {
                    let _ = kicked.send(());
                }
            }
        }
    }
}

/// The hub's state driven synchronously, for the micro-benchmarks. Not part of the API.
#[doc(hidden)]
pub mod bench;
