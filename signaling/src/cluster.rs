//! Several nodes acting as one through Redis. Each node delivers to its own connections
//! directly and publishes the same fan-out on `<prefix>:bus` for the others, which skip their
//! own echoes. Per-channel order across nodes needs nothing more: a connection that sees a
//! sequence jump reads the gap back from the shared database.
//!
//! Presence: each node keeps its local view of each user in the hash `<prefix>:presence:<user>`,
//! one field per node, each with an expiry it refreshes every third of `presence_ttl_secs`. The
//! user's presence is the aggregate of the fields that have not expired, so a node that crashes
//! takes its users offline within the TTL. Changes are announced on the bus; every node
//! announces the aggregate to its own connections.

use crate::config::ClusterSection;
use crate::ws::HubHandle;
use anyhow::Context;
use parley_presence::Announcement;
use parley_proto::{ChannelId, PresenceState, UserId, UserPresence};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Waits before each attempt to publish one bus message.
const PUBLISH_RETRIES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_millis(500),
];

/// How long to wait before subscribing again after Redis went away.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// What crosses between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Wire {
    Event {
        channel: ChannelId,
        seq: i64,
        payload: String,
    },
    ToUser {
        user: UserId,
        payload: String,
    },
    ToChannel {
        channel: ChannelId,
        except: UserId,
        payload: String,
    },
    ToChannels {
        channels: Vec<ChannelId>,
        payload: String,
    },
    Join {
        user: UserId,
        channel: ChannelId,
        /// For the user's devices: the channel's position, and the `channel_joined` notice.
        notice: Option<(i64, String)>,
    },
    Kick {
        user: UserId,
        session: Option<String>,
        code: parley_proto::ErrorCode,
    },
    Leave {
        user: UserId,
        channel: ChannelId,
    },
    Presence {
        user: UserId,
        channels: Vec<ChannelId>,
    },
    /// A recording job was requested: recorders waiting on any node look for it now.
    RecordingJob,
    /// An API key was revoked: every node removes the meeting participants its tokens let in.
    ApiKeyRevoked {
        api_key: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Envelope {
    from: String,
    wire: Wire,
}

/// One node's view of one user, as stored in the presence hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeView {
    state: PresenceState,
    status_text: Option<String>,
    /// When this view was written, and when it stops counting (ms since the epoch).
    at: i64,
    until: i64,
}

#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    prefix: String,
    ttl: Duration,
    client: redis::Client,
    conn: ConnectionManager,
    outgoing: mpsc::Sender<Envelope>,
    presence_out: mpsc::Sender<PresenceJob>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

/// Work for the presence task.
enum PresenceJob {
    /// This node's view of a user changed (`None`: no device here any more).
    Local(Announcement),
    /// Another node says a user changed.
    Remote {
        user: UserId,
        channels: Vec<ChannelId>,
    },
}

/// Receivers the tasks take once the hub exists.
pub struct Pending {
    outgoing: mpsc::Receiver<Envelope>,
    presence_in: mpsc::Receiver<PresenceJob>,
}

fn now_ms() -> i64 {
    parley_storage::now_ms()
}

impl Cluster {
    /// Connect to Redis (failing now, with the reason, if it is not there).
    pub async fn connect(config: &ClusterSection) -> anyhow::Result<(Cluster, Pending)> {
        let client = redis::Client::open(config.redis_url.as_str())
            .context("cluster.redis_url is not a Redis URL")?;
        let conn = ConnectionManager::new(client.clone())
            .await
            .with_context(|| format!("cannot reach Redis at {}", config.redis_url))?;
        let node = if config.node_id.is_empty() {
            crate::auth::random_hex(6)
        } else {
            config.node_id.clone()
        };
        let (outgoing, outgoing_rx) = mpsc::channel(16_384);
        let (presence_out, presence_in) = mpsc::channel(16_384);
        let cluster = Cluster {
            inner: Arc::new(Inner {
                node,
                prefix: config.key_prefix.clone(),
                ttl: Duration::from_secs(config.presence_ttl_secs.max(1)),
                client,
                conn,
                outgoing,
                presence_out,
            }),
        };
        Ok((
            cluster,
            Pending {
                outgoing: outgoing_rx,
                presence_in,
            },
        ))
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    fn bus(&self) -> String {
        format!("{}:bus", self.inner.prefix)
    }

    fn presence_key(&self, user: UserId) -> String {
        format!("{}:presence:{}", self.inner.prefix, user)
    }

    /// Send to the other nodes, without waiting. If Redis is slow or away the message is
    /// dropped (and logged): channel events are recovered from the database by sequence, and
    /// the rest are ephemeral notices.
    pub fn publish(&self, wire: Wire) {
        let envelope = Envelope {
            from: self.inner.node.clone(),
            wire,
        };
        if self.inner.outgoing.try_send(envelope).is_err() {
            tracing::warn!("cluster bus backlog full; a notice to other nodes was dropped");
        }
    }

    /// Hand a local presence change to the presence task.
    pub fn local_presence(&self, announcement: Announcement) {
        if self
            .inner
            .presence_out
            .try_send(PresenceJob::Local(announcement))
            .is_err()
        {
            tracing::warn!("cluster presence backlog full; a change will show at the next refresh");
        }
    }

    /// The users' presence across the cluster; users with no live device anywhere are left out.
    pub async fn presence(&self, users: &[UserId]) -> Vec<UserPresence> {
        let mut out = Vec::new();
        for &user in users {
            match self.read(user).await {
                Ok(Some(presence)) => out.push(presence),
                Ok(None) => {}
                Err(err) => tracing::warn!(%user, %err, "cannot read presence from Redis"),
            }
        }
        out
    }

    /// The aggregate of the live node views of `user`; expired views are removed.
    async fn read(&self, user: UserId) -> redis::RedisResult<Option<UserPresence>> {
        let mut conn = self.inner.conn.clone();
        let key = self.presence_key(user);
        let views: HashMap<String, String> = conn.hgetall(&key).await?;
        let now = now_ms();
        let mut live: Vec<NodeView> = Vec::new();
        for (node, text) in views {
            match serde_json::from_str::<NodeView>(&text) {
                Ok(view) if view.until > now => live.push(view),
                _ => {
                    let _: () = conn.hdel(&key, node).await?;
                }
            }
        }
        if live.is_empty() {
            return Ok(None);
        }
        // Do-not-disturb chosen anywhere wins; then online anywhere; else away.
        let state = if live.iter().any(|v| v.state == PresenceState::Dnd) {
            PresenceState::Dnd
        } else if live.iter().any(|v| v.state == PresenceState::Online) {
            PresenceState::Online
        } else {
            PresenceState::Away
        };
        let status_text = live
            .iter()
            .max_by_key(|v| v.at)
            .and_then(|v| v.status_text.clone());
        Ok(Some(UserPresence {
            user_id: user,
            state,
            status_text,
            last_seen: None,
        }))
    }

    /// The earliest expiry among the live views of `user`.
    async fn earliest_expiry(&self, user: UserId) -> Option<i64> {
        let mut conn = self.inner.conn.clone();
        let views: HashMap<String, String> = conn.hgetall(self.presence_key(user)).await.ok()?;
        views
            .values()
            .filter_map(|t| serde_json::from_str::<NodeView>(t).ok())
            .map(|v| v.until)
            .min()
    }

    /// Write (or, with no device here, remove) this node's view of a user.
    async fn write(&self, presence: &UserPresence) -> redis::RedisResult<()> {
        let mut conn = self.inner.conn.clone();
        let key = self.presence_key(presence.user_id);
        if presence.state == PresenceState::Offline {
            let _: () = conn.hdel(&key, &self.inner.node).await?;
            return Ok(());
        }
        let now = now_ms();
        let ttl_ms = i64::try_from(self.inner.ttl.as_millis()).unwrap_or(i64::MAX);
        let view = NodeView {
            state: presence.state,
            status_text: presence.status_text.clone(),
            at: now,
            until: now + ttl_ms,
        };
        let _: () = conn
            .hset(
                &key,
                &self.inner.node,
                serde_json::to_string(&view).unwrap_or_default(),
            )
            .await?;
        // The whole key goes if every node stops writing it.
        let _: () = conn
            .expire(&key, (self.inner.ttl.as_secs() * 3).max(3) as i64)
            .await?;
        Ok(())
    }

    /// Start the tasks: publishing, subscribing, and presence (writes, refreshes, expiry sweeps).
    /// Run the bus: `recording_jobs` wakes this node's waiting recorders when another node
    /// has a job for them; `sfu` removes this node's participants of a key revoked on another.
    pub fn start(
        &self,
        pending: Pending,
        hub: HubHandle,
        recording_jobs: Arc<tokio::sync::Notify>,
        sfu: parley_sfu::Sfu,
    ) {
        tokio::spawn(publisher(self.clone(), pending.outgoing));
        tokio::spawn(subscriber(self.clone(), hub.clone(), recording_jobs, sfu));
        tokio::spawn(presence_task(self.clone(), pending.presence_in, hub));
    }
}

async fn publisher(cluster: Cluster, mut outgoing: mpsc::Receiver<Envelope>) {
    let mut conn = cluster.inner.conn.clone();
    let bus = cluster.bus();
    while let Some(envelope) = outgoing.recv().await {
        let text = match serde_json::to_string(&envelope) {
            Ok(t) => t,
            Err(err) => {
                tracing::error!(%err, "cannot serialize a bus message");
                continue;
            }
        };
        // Redis may be reconnecting: try a few times before the message is given up (peers
        // that miss it are told to resynchronise when their own subscription comes back).
        for (attempt, wait) in PUBLISH_RETRIES.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            match conn.publish::<_, _, ()>(&bus, &text).await {
                Ok(()) => break,
                Err(err) => tracing::warn!(%err, attempt, "cannot publish to the cluster bus"),
            }
        }
    }
}

async fn subscriber(
    cluster: Cluster,
    hub: HubHandle,
    recording_jobs: Arc<tokio::sync::Notify>,
    sfu: parley_sfu::Sfu,
) {
    let bus = cluster.bus();
    let mut first = true;
    loop {
        let subscribed = async {
            let mut pubsub = cluster.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(&bus).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let pubsub = match subscribed {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(%err, "cannot subscribe to the cluster bus; retrying");
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                continue;
            }
        };
        tracing::info!(node = cluster.node(), "listening on the cluster bus");
        if !first {
            // Messages sent while we were away are lost: membership changes and kicks among
            // them. Have every local client reconnect, which rebuilds all of it from storage.
            tracing::warn!(
                "the cluster bus was lost for a while; asking local clients to reconnect"
            );
            hub.kick_all(parley_proto::ErrorCode::Resync).await;
        }
        first = false;
        let mut messages = pubsub.into_on_message();
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            let Ok(text) = message.get_payload::<String>() else {
                continue;
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                tracing::warn!("unreadable message on the cluster bus");
                continue;
            };
            if envelope.from == cluster.inner.node {
                continue;
            }
            match envelope.wire {
                Wire::Presence { user, channels } => {
                    let job = PresenceJob::Remote { user, channels };
                    let _ = cluster.inner.presence_out.try_send(job);
                }
                Wire::RecordingJob => recording_jobs.notify_waiters(),
                Wire::ApiKeyRevoked { api_key } => {
                    if let Err(err) = sfu.remove_signed_by(api_key).await {
                        tracing::warn!(error = %err, "participants of a revoked API key not removed");
                    }
                }
                other => hub.from_cluster(other).await,
            }
        }
        tracing::warn!("the cluster bus connection ended; resubscribing");
    }
}

/// Writes this node's views, announces aggregates, refreshes views before they expire, and
/// notices views that expired (a crashed node).
async fn presence_task(cluster: Cluster, mut jobs: mpsc::Receiver<PresenceJob>, hub: HubHandle) {
    let refresh_every = (cluster.inner.ttl / 3).max(Duration::from_millis(200));
    let mut refresh = tokio::time::interval(refresh_every);
    let mut sweep = tokio::time::interval(Duration::from_millis(500));
    // Users shown as present because of views that will expire: when, and their channels.
    let mut watched: HashMap<UserId, (i64, Vec<ChannelId>)> = HashMap::new();
    loop {
        tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { return };
                let (user, channels) = match job {
                    PresenceJob::Local(announcement) => {
                        if let Err(err) = cluster.write(&announcement.presence).await {
                            tracing::warn!(%err, "cannot write presence to Redis");
                        }
                        let user = announcement.presence.user_id;
                        cluster.publish(Wire::Presence { user, channels: announcement.channels.clone() });
                        (user, announcement.channels)
                    }
                    PresenceJob::Remote { user, channels } => (user, channels),
                };
                announce(&cluster, &hub, user, channels, &mut watched).await;
            }
            _ = refresh.tick() => {
                for announcement in hub.local_presence().await {
                    if let Err(err) = cluster.write(&announcement.presence).await {
                        tracing::warn!(%err, "cannot refresh presence in Redis");
                    }
                }
            }
            _ = sweep.tick() => {
                let now = now_ms();
                let expired: Vec<(UserId, Vec<ChannelId>)> = watched
                    .iter()
                    .filter(|(_, (until, _))| *until <= now)
                    .map(|(u, (_, c))| (*u, c.clone()))
                    .collect();
                for (user, channels) in expired {
                    announce(&cluster, &hub, user, channels, &mut watched).await;
                }
            }
        }
    }
}

/// Read the aggregate for `user` and have the hub announce it to this node's connections.
async fn announce(
    cluster: &Cluster,
    hub: &HubHandle,
    user: UserId,
    channels: Vec<ChannelId>,
    watched: &mut HashMap<UserId, (i64, Vec<ChannelId>)>,
) {
    let presence = match cluster.read(user).await {
        Ok(Some(p)) => p,
        Ok(None) => UserPresence {
            user_id: user,
            state: PresenceState::Offline,
            status_text: None,
            last_seen: Some(now_ms()),
        },
        Err(err) => {
            tracing::warn!(%user, %err, "cannot read presence from Redis");
            return;
        }
    };
    if presence.state == PresenceState::Offline {
        watched.remove(&user);
    } else if let Some(until) = cluster.earliest_expiry(user).await {
        watched.insert(user, (until, channels.clone()));
    }
    hub.announce(Announcement { presence, channels }).await;
}
