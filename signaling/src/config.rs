//! The server's configuration: defaults, then a TOML file, then `PARLEY_<SECTION>_<KEY>`
//! environment variables, in that order. Unknown keys are errors that name the key. The raw
//! values are checked once, in `Config::load`, into the typed `Config` the rest of the server
//! uses.

use parley_storage::{DatabaseConfig, ObjectStoreConfig, S3Config};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Every section of the file, which is also the first word of every environment variable.
/// Longest first, so `object_store` is tried before a shorter section could claim it.
const SECTIONS: [&str; 17] = [
    "object_store",
    "previews",
    "search",
    "retention",
    "database",
    "server",
    "admin",
    "files",
    "http",
    "auth",
    "tls",
    "hub",
    "urgent",
    "tasks",
    "cluster",
    "backup",
    "rtc",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub http: HttpSection,
    pub tls: TlsSection,
    pub database: DatabaseSection,
    pub object_store: ObjectStoreSection,
    pub auth: AuthSection,
    pub admin: AdminSection,
    pub hub: HubSection,
    pub urgent: UrgentSection,
    pub tasks: TasksSection,
    pub cluster: ClusterSection,
    pub backup: BackupSection,
    pub retention: RetentionSection,
    pub files: parley_files::FilesConfig,
    pub search: SearchSection,
    pub previews: PreviewsSection,
    pub rtc: RtcSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Where the embedded database and object store live unless configured elsewhere.
    pub data_dir: PathBuf,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data_dir: PathBuf::from("./parley-data"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub listen: SocketAddr,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for requests in flight before it gives up on them.
    pub shutdown_grace_secs: u64,
    /// A connection must send a whole request head within this long of opening, or of its
    /// last answer when kept alive; otherwise it is closed.
    pub header_timeout_secs: u64,
    /// Open connections in all; past it new ones get 503 `too_many_connections` and close.
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 client's /64); past it likewise.
    pub max_connections_per_ip: usize,
    /// Reverse proxies in front of Parley: sign-in throttling takes the client's address from
    /// their `X-Forwarded-For`, and their connections count only towards `max_connections`.
    /// Empty: every client is its TCP peer.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 7880)),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            header_timeout_secs: 10,
            max_connections: 50_000,
            max_connections_per_ip: 1_000,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain; with `key`, the server speaks HTTPS only.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://FILE` or `postgres://...`; empty for `<data_dir>/parley.db`.
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: String::new(),
            max_connections: 10,
            acquire_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectStoreKind {
    #[default]
    Local,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreSection {
    pub kind: ObjectStoreKind,
    /// For `local`: the folder; empty for `<data_dir>/objects`.
    pub path: Option<PathBuf>,
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub allow_http: bool,
}

impl Default for ObjectStoreSection {
    fn default() -> Self {
        ObjectStoreSection {
            kind: ObjectStoreKind::Local,
            path: None,
            bucket: String::new(),
            region: "us-east-1".into(),
            endpoint: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// The key that signs user access tokens. Empty: a random one is made once and kept in the
    /// database, so every node of a cluster shares it.
    pub jwt_secret: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Clock difference tolerated when checking `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            jwt_secret: String::new(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 10,
        }
    }
}

/// The messaging hub's WebSocket connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSection {
    /// Larger frames get `frame_too_large` (four times this closes the connection).
    pub max_frame_bytes: usize,
    /// Longest message text, in characters.
    pub max_message_chars: usize,
    /// Sustained requests per second per connection, and the burst allowed above it.
    pub requests_per_second: u32,
    pub burst: u32,
    /// How long a sender may recall a message; admins may any time.
    pub recall_window_secs: u64,
    /// Messages waiting for one connection before it counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// How long one write to a client may take before it counts as too slow.
    pub write_timeout_ms: u64,
    /// A connection that sends nothing (not even a ping) for this long is closed.
    pub heartbeat_secs: u64,
    /// Replay at most this many missed events on reconnect; beyond, the client is told to reload.
    pub max_replay: i64,
    /// Channels up to this many members show everyone's read markers to everyone.
    pub small_group_max: i64,
    /// A device with no activity for this long shows as away.
    pub idle_secs: u64,
    /// Presence changes wait this long before they are announced, so flapping is not.
    pub presence_coalesce_ms: u64,
}

impl Default for HubSection {
    fn default() -> Self {
        HubSection {
            max_frame_bytes: 64 * 1024,
            max_message_chars: 8000,
            requests_per_second: 20,
            burst: 40,
            recall_window_secs: 120,
            outbound_queue: 1024,
            write_timeout_ms: 10_000,
            heartbeat_secs: 60,
            max_replay: 1000,
            small_group_max: 20,
            idle_secs: 300,
            presence_coalesce_ms: 1000,
        }
    }
}

/// Urgent pings: how recipients are reminded, and how the unacknowledged are escalated.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrgentSection {
    /// Remind every recipient who has not acknowledged this often (a channel may override).
    pub remind_every_secs: u64,
    /// ... for this long after the ping (a channel may override).
    pub remind_for_secs: u64,
    /// Call `escalation_url` for recipients who have not acknowledged after this long.
    pub escalate_after_secs: u64,
    /// An SMS or phone gateway's webhook; empty: no escalation.
    pub escalation_url: String,
    /// Signs escalations (HMAC-SHA256 of `timestamp.body`); required with `escalation_url`.
    pub escalation_secret: String,
    /// How often due reminders and escalations are looked for.
    pub poll_ms: u64,
}

impl Default for UrgentSection {
    fn default() -> Self {
        UrgentSection {
            remind_every_secs: 120,
            remind_for_secs: 30 * 60,
            escalate_after_secs: 300,
            escalation_url: String::new(),
            escalation_secret: String::new(),
            poll_ms: 1000,
        }
    }
}

/// Task reminders: when assignees hear about a due date.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksSection {
    /// Remind a task's assignee this long before its due date.
    pub remind_before_secs: u64,
    /// How often due and overdue tasks are looked for.
    pub poll_ms: u64,
}

impl Default for TasksSection {
    fn default() -> Self {
        TasksSection {
            remind_before_secs: 24 * 3600,
            poll_ms: 30_000,
        }
    }
}

/// Backups the server takes itself, as `parley admin backup` does, on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSection {
    /// Where backups go: a folder (another disk or machine than the data) or `s3://BUCKET`
    /// with the `s3_*` keys; empty: no scheduled backups. Set it on one node of a cluster only.
    pub folder: String,
    /// Seconds from the end of one backup (the newest complete one in the folder, across
    /// restarts) to the start of the next.
    pub every_secs: u64,
    /// How many complete backups to keep; older ones, and the objects only they hold, are
    /// deleted after each backup.
    pub keep: u32,
    /// For `s3://BUCKET`: the service's URL (empty for AWS itself), region and keys.
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Allow an http:// endpoint (a service on the local network).
    pub s3_allow_http: bool,
    /// Encrypt backups with the key in this file (`parley admin backup-key` makes one); empty:
    /// not encrypted.
    pub key_file: PathBuf,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            folder: String::new(),
            every_secs: 24 * 3600,
            keep: 7,
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_allow_http: false,
            key_file: PathBuf::new(),
        }
    }
}

impl BackupSection {
    /// The backup location as an object store.
    pub fn location(&self) -> ObjectStoreConfig {
        parley_storage::backup_location(
            &self.folder,
            S3Config {
                bucket: String::new(),
                region: self.s3_region.clone(),
                endpoint: self.s3_endpoint.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
            },
        )
    }
}

/// How long messages and recordings are kept (`[retention]`). Per-channel retention and legal
/// holds are set over REST.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSection {
    /// Delete messages (with their edits and reactions) this many days after they were sent, in
    /// every channel without a retention of its own; 0: keep them for ever.
    pub messages_days: i64,
    /// Delete recordings this many days after they ended; 0: keep them for ever.
    pub recordings_days: i64,
    /// Seconds between two passes of the background deletion.
    pub every_secs: u64,
    /// Messages deleted per transaction; a pass takes as many as it needs.
    pub batch: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            messages_days: 0,
            recordings_days: 0,
            every_secs: 3600,
            batch: 500,
        }
    }
}

/// Search: this node's own index of what people write, kept level with the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSection {
    /// `false`: no index is kept and `GET /v1/search` answers `503 unavailable`.
    pub enabled: bool,
    /// The index's folder (each node its own); empty for `<data_dir>/search`.
    pub dir: PathBuf,
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            enabled: true,
            dir: PathBuf::new(),
        }
    }
}

/// Link previews: the title and description of a page a message links to, fetched by the
/// server (`GET /v1/link-preview`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewsSection {
    /// `false`: no page is fetched and `GET /v1/link-preview` answers `503 unavailable`.
    pub enabled: bool,
    /// Fetch pages on private, loopback and link-local addresses too (an intranet's wiki).
    /// Off by default: a message could otherwise make the server read what only it can reach.
    pub allow_private: bool,
    /// A page that has not answered in full within this time has no preview (500 to 30000).
    pub timeout_ms: u64,
}

impl Default for PreviewsSection {
    fn default() -> Self {
        PreviewsSection {
            enabled: true,
            allow_private: false,
            timeout_ms: 5000,
        }
    }
}

/// Several nodes acting as one: fan-out and presence through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// `redis://host:6379`; empty: a single node with its in-process bus.
    pub redis_url: String,
    /// Every key and channel this cluster uses starts with this (so clusters can share a Redis).
    pub key_prefix: String,
    /// This node's name in the cluster; empty: a random one at each start.
    pub node_id: String,
    /// A node that stops refreshing its users' presence (it crashed) has them go offline
    /// after this long.
    pub presence_ttl_secs: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            redis_url: String::new(),
            key_prefix: "parley".into(),
            node_id: String::new(),
            presence_ttl_secs: 60,
        }
    }
}

/// Meetings: the media port, room defaults and the meeting webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtcSection {
    /// The one UDP port every peer's media uses.
    pub udp_bind: SocketAddr,
    /// Media worker threads, each holding its own rooms (new rooms go to the least loaded).
    /// 0: one per available core.
    pub workers: usize,
    /// ICE-TCP: a TCP port clients whose network blocks UDP reach the media on (passive TCP
    /// candidates, on the advertised addresses). Unset: off.
    pub tcp_bind: Option<SocketAddr>,
    /// Addresses clients reach the media port on (public addresses behind NAT or in a cloud).
    /// Empty: `udp_bind`'s address, which must then not be `0.0.0.0`.
    pub advertise_ips: Vec<std::net::IpAddr>,
    /// A room closes this long after its last participant left (or after creation if nobody
    /// joins), unless it was created with its own.
    pub empty_timeout_secs: u64,
    /// Per room, unless created with its own; 0: no limit.
    pub max_participants: u32,
    pub max_tracks_per_participant: usize,
    /// A participant whose signaling connection drops keeps its media this long, waiting for
    /// a new connection to resume it (`join` with `resume`); then it leaves.
    pub resume_window_secs: u64,
    /// How many of the loudest speakers each participant of a voice bridge hears, unless the
    /// bridge was created with its own number.
    pub bridge_speakers: usize,
    /// A media worker whose datagrams wait longer than this (the worst of a second) two seconds
    /// in a row (or four times this for one) is overloaded, and sheds load a step each second
    /// it stays so: simulcast video down to its lowest layer, then all video, then the audio of
    /// all but the `bridge_speakers` loudest speakers (a worker without video goes straight to
    /// that). It steps back after 10 calm seconds, under half the limit (longer if it
    /// relapses). 10 to 10000; 0: never shed for load.
    pub overload_lag_ms: u64,
    /// Shed at least this much on every worker, whatever the load: `none`, `video_layers`,
    /// `video` or `audio` (for a server whose uplink or CPU is known to be short).
    pub shed_floor: parley_proto::Shedding,
    /// Record every voice bridge from its start (a recorder must be running to take the job).
    pub record_bridges: bool,
    /// Someone rung into a channel's meeting (`POST /v1/channels/{id}/ring`) is rung this long
    /// (5 to 300 s); nobody accepting by then leaves a missed-call message in the channel.
    pub ring_secs: u64,
    /// A publisher is asked for a keyframe at most this often per track (or simulcast layer);
    /// a request held back goes out when the interval has passed. Shorter: viewers who join
    /// together see their first picture sooner, and publishers send more keyframes.
    pub keyframe_interval_ms: u64,
    /// Extra STUN/TURN URLs handed to clients in `joined`.
    pub ice_servers: Vec<String>,
    /// TURN servers (`turn:` / `turns:` URLs) that relay media for clients whose network
    /// blocks UDP to the media port; each `joined` hands out credentials for them, made with
    /// `turn_secret` as the TURN REST API has it (coturn's `use-auth-secret`).
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN servers (coturn's `static-auth-secret`), 16+ characters.
    pub turn_secret: String,
    /// How long TURN credentials stay valid (60 s to 7 days). A relayed connection needs them
    /// for as long as it lasts, so this is longer than any meeting.
    pub turn_ttl_secs: u64,
    /// Receives room, participant and track events; empty: none are sent.
    pub webhook_url: String,
    /// Signs the webhooks (HMAC-SHA256 of `timestamp.body`); required with `webhook_url`.
    pub webhook_secret: String,
}

impl Default for RtcSection {
    fn default() -> Self {
        RtcSection {
            udp_bind: SocketAddr::from(([127, 0, 0, 1], 7882)),
            workers: 0,
            tcp_bind: None,
            advertise_ips: Vec::new(),
            empty_timeout_secs: 60,
            max_participants: 0,
            max_tracks_per_participant: 8,
            resume_window_secs: 30,
            bridge_speakers: 3,
            overload_lag_ms: 100,
            shed_floor: parley_proto::Shedding::None,
            record_bridges: true,
            ring_secs: 30,
            keyframe_interval_ms: 500,
            ice_servers: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: String::new(),
            turn_ttl_secs: 86_400,
            webhook_url: String::new(),
            webhook_secret: String::new(),
        }
    }
}

/// The first administrator, created at start-up only while the database has no users.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSection {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, overridden by the file (if any), overridden by `PARLEY_*` variables in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                    path: path.to_path_buf(),
                    message: e.message().to_string() + &location(&text, e.span()),
                })?;
                // Deserialize once on its own, so an unknown key is reported against the file.
                Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                    ConfigError::File {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    }
                })?;
                table
            }
            None => toml::Table::new(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PARLEY_") && !NOT_CONFIG.contains(&k.as_str()))
            .collect();
        env.sort();
        for (var, raw) in env {
            let (section, key) = split_env_name(&var).ok_or_else(|| ConfigError::Env {
                var: var.clone(),
                message: format!(
                    "not a configuration key (PARLEY_<SECTION>_<KEY> with SECTION one of {})",
                    SECTIONS.join(", ")
                ),
            })?;
            let value =
                env_value::<Config>(section, &key, &raw).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
            table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| ConfigError::Invalid(format!("[{section}] is not a table")))?
                .insert(key, value);
        }
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=300).contains(&self.http.header_timeout_secs) {
            return Err(ConfigError::Invalid(
                "http.header_timeout_secs must be 1 to 300".into(),
            ));
        }
        if self.http.max_connections == 0 || self.http.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid(
                "http.max_connections and http.max_connections_per_ip must be at least 1".into(),
            ));
        }
        if self.backup.every_secs == 0 || self.backup.keep == 0 {
            return Err(ConfigError::Invalid(
                "backup.every_secs and backup.keep must be at least 1".into(),
            ));
        }
        let retention = &self.retention;
        if !(0..=MAX_RETENTION_DAYS).contains(&retention.messages_days)
            || !(0..=MAX_RETENTION_DAYS).contains(&retention.recordings_days)
        {
            return Err(ConfigError::Invalid(format!(
                "retention.messages_days and retention.recordings_days are 0 (keep for ever) to {MAX_RETENTION_DAYS}"
            )));
        }
        if retention.every_secs == 0 || !(1..=10_000).contains(&retention.batch) {
            return Err(ConfigError::Invalid(
                "retention.every_secs must be at least 1 and retention.batch 1 to 10000".into(),
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert and tls.key go together: set both or neither".into(),
            ));
        }
        if self.object_store.kind == ObjectStoreKind::S3 && self.object_store.bucket.is_empty() {
            return Err(ConfigError::Invalid(
                "object_store.kind = \"s3\" needs object_store.bucket".into(),
            ));
        }
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < 32 {
            return Err(ConfigError::Invalid(
                "auth.jwt_secret must be at least 32 characters".into(),
            ));
        }
        if !self.urgent.escalation_url.is_empty() && self.urgent.escalation_secret.len() < 16 {
            return Err(ConfigError::Invalid(
                "urgent.escalation_url needs urgent.escalation_secret (16+ characters) to sign the calls".into(),
            ));
        }
        if self.urgent.remind_every_secs == 0 {
            return Err(ConfigError::Invalid(
                "urgent.remind_every_secs must be at least 1".into(),
            ));
        }
        if let Some(url) = self
            .rtc
            .turn_urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError::Invalid(format!(
                "rtc.turn_urls: `{url}` is not a turn: or turns: URL"
            )));
        }
        if !self.rtc.turn_urls.is_empty() && self.rtc.turn_secret.len() < 16 {
            return Err(ConfigError::Invalid(
                "rtc.turn_urls needs rtc.turn_secret (16+ characters, the TURN server's static-auth-secret)"
                    .into(),
            ));
        }
        if !(60..=7 * 86_400).contains(&self.rtc.turn_ttl_secs) {
            return Err(ConfigError::Invalid(
                "rtc.turn_ttl_secs must be between 60 and 604800".into(),
            ));
        }
        if !self.rtc.webhook_url.is_empty() && self.rtc.webhook_secret.len() < 16 {
            return Err(ConfigError::Invalid(
                "rtc.webhook_url needs rtc.webhook_secret (16+ characters) to sign the calls"
                    .into(),
            ));
        }
        if self.rtc.udp_bind.ip().is_unspecified() && self.rtc.advertise_ips.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "rtc.udp_bind is {}: set rtc.advertise_ips to the addresses clients reach it on",
                self.rtc.udp_bind
            )));
        }
        if self.rtc.overload_lag_ms > 10_000 || (1..10).contains(&self.rtc.overload_lag_ms) {
            return Err(ConfigError::Invalid(format!(
                "rtc.overload_lag_ms is {}: 10 to 10000 (0: never shed for load)",
                self.rtc.overload_lag_ms
            )));
        }
        if self.rtc.workers > 256 {
            return Err(ConfigError::Invalid(format!(
                "rtc.workers is {}: at most 256 (0: one per core)",
                self.rtc.workers
            )));
        }
        if !(1..=16).contains(&self.rtc.bridge_speakers) {
            return Err(ConfigError::Invalid(
                "rtc.bridge_speakers must be 1 to 16".into(),
            ));
        }
        if !(500..=30_000).contains(&self.previews.timeout_ms) {
            return Err(ConfigError::Invalid(
                "previews.timeout_ms must be 500 to 30000".into(),
            ));
        }
        if !(5..=300).contains(&self.rtc.ring_secs) {
            return Err(ConfigError::Invalid(
                "rtc.ring_secs must be 5 to 300".into(),
            ));
        }
        if !(50..=10_000).contains(&self.rtc.keyframe_interval_ms) {
            return Err(ConfigError::Invalid(
                "rtc.keyframe_interval_ms must be 50 to 10000".into(),
            ));
        }
        if self.rtc.max_tracks_per_participant == 0 {
            return Err(ConfigError::Invalid(
                "rtc.max_tracks_per_participant must be at least 1".into(),
            ));
        }
        if self.files.max_file_bytes == 0 {
            return Err(ConfigError::Invalid(
                "files.max_file_bytes must be at least 1".into(),
            ));
        }
        if self.files.upload_expiry_secs < 60 {
            return Err(ConfigError::Invalid(
                "files.upload_expiry_secs must be at least 60".into(),
            ));
        }
        if !self.admin.password.is_empty() && self.admin.email.is_empty() {
            return Err(ConfigError::Invalid(
                "admin.password needs admin.email (PARLEY_ADMIN_EMAIL) to name the first admin"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn database(&self) -> DatabaseConfig {
        let url = if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("parley.db").display()
            )
        } else {
            self.database.url.clone()
        };
        DatabaseConfig {
            url,
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
        }
    }

    pub fn object_store(&self) -> ObjectStoreConfig {
        let o = &self.object_store;
        match o.kind {
            ObjectStoreKind::Local => ObjectStoreConfig::Local {
                path: o
                    .path
                    .clone()
                    .unwrap_or_else(|| self.server.data_dir.join("objects")),
            },
            ObjectStoreKind::S3 => ObjectStoreConfig::S3(S3Config {
                bucket: o.bucket.clone(),
                region: o.region.clone(),
                endpoint: o.endpoint.clone(),
                access_key_id: o.access_key_id.clone(),
                secret_access_key: o.secret_access_key.clone(),
                allow_http: o.allow_http,
            }),
        }
    }

    pub fn sfu(&self) -> parley_sfu::SfuConfig {
        parley_sfu::SfuConfig {
            udp_bind: self.rtc.udp_bind,
            workers: self.rtc.workers,
            tcp_bind: self.rtc.tcp_bind,
            advertise_ips: self.rtc.advertise_ips.clone(),
            empty_timeout: Duration::from_secs(self.rtc.empty_timeout_secs),
            max_participants: self.rtc.max_participants,
            max_tracks_per_participant: self.rtc.max_tracks_per_participant,
            resume_window: Duration::from_secs(self.rtc.resume_window_secs),
            bridge_speakers: self.rtc.bridge_speakers,
            keyframe_interval: Duration::from_millis(self.rtc.keyframe_interval_ms),
            overload_lag: (self.rtc.overload_lag_ms > 0)
                .then(|| Duration::from_millis(self.rtc.overload_lag_ms)),
            shed_floor: self.rtc.shed_floor,
            ..parley_sfu::SfuConfig::default()
        }
    }

    /// Where uploads in progress are kept.
    pub fn staging_dir(&self) -> PathBuf {
        if self.files.staging_dir.as_os_str().is_empty() {
            self.server.data_dir.join("uploads")
        } else {
            self.files.staging_dir.clone()
        }
    }

    /// Where this node's search index is kept.
    pub fn search_dir(&self) -> PathBuf {
        if self.search.dir.as_os_str().is_empty() {
            self.server.data_dir.join("search")
        } else {
            self.search.dir.clone()
        }
    }

    /// Does anything live in the data folder (so it must exist)?
    pub fn uses_data_dir(&self) -> bool {
        self.database.url.is_empty()
            || (self.search.enabled && self.search.dir.as_os_str().is_empty())
            || self.files.staging_dir.as_os_str().is_empty()
            || (self.object_store.kind == ObjectStoreKind::Local
                && self.object_store.path.is_none())
    }
}

/// The longest retention a channel or the organisation may set: a hundred years.
pub const MAX_RETENTION_DAYS: i64 = 36_500;

/// `PARLEY_*` variables that are not configuration keys.
const NOT_CONFIG: [&str; 2] = ["PARLEY_CONFIG", "PARLEY_LOG_FORMAT"];

/// `PARLEY_OBJECT_STORE_ALLOW_HTTP` -> (`object_store`, `allow_http`).
fn split_env_name(var: &str) -> Option<(&'static str, String)> {
    let rest = var.strip_prefix("PARLEY_")?.to_ascii_lowercase();
    SECTIONS.iter().find_map(|&section| {
        let key = rest.strip_prefix(section)?.strip_prefix('_')?;
        (!key.is_empty()).then(|| (section, key.to_string()))
    })
}

/// The TOML value for one environment variable: a number, boolean or array where the key takes
/// one, else the text as it is. Checked against the config type, so an unknown key or a wrong
/// type is reported against the variable.
fn env_value<T: for<'de> Deserialize<'de>>(
    section: &str,
    key: &str,
    raw: &str,
) -> Result<toml::Value, String> {
    let check = |value: &toml::Value| {
        let mut inner = toml::Table::new();
        inner.insert(key.to_string(), value.clone());
        let mut outer = toml::Table::new();
        outer.insert(section.to_string(), toml::Value::Table(inner));
        T::deserialize(toml::Value::Table(outer)).map_err(|e| e.to_string())
    };
    let text = toml::Value::String(raw.to_string());
    let typed = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    match typed {
        Some(value) if check(&value).is_ok() => Ok(value),
        _ => check(&text).map(|_| text),
    }
}

/// ` at line L, column C` for a byte span of `text`.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(" (line {line}, column {column})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_sample_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley.sample.toml");
        let config = Config::load(Some(&path), []).expect("sample config");
        assert_eq!(config.http.listen.port(), 7880);
        assert_eq!(config.object_store.kind, ObjectStoreKind::Local);
    }

    #[test]
    fn every_section_is_in_the_section_list() {
        let sample = include_str!("../../parley.sample.toml");
        let table: toml::Table = toml::from_str(sample).unwrap();
        let mut in_file: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut known = SECTIONS.to_vec();
        in_file.sort();
        known.sort();
        assert_eq!(in_file, known, "the sample documents every section");
    }

    #[test]
    fn environment_overrides_with_types() {
        let config = Config::load(
            None,
            env(&[
                ("PARLEY_HTTP_LISTEN", "127.0.0.1:9999"),
                ("PARLEY_HTTP_MAX_BODY_BYTES", "2048"),
                ("PARLEY_OBJECT_STORE_KIND", "s3"),
                ("PARLEY_OBJECT_STORE_BUCKET", "rec"),
                ("PARLEY_OBJECT_STORE_ALLOW_HTTP", "true"),
                ("PARLEY_OBJECT_STORE_SECRET_ACCESS_KEY", "12345"),
                ("PARLEY_CONFIG", "ignored.toml"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(config.http.max_body_bytes, 2048);
        assert!(config.object_store.allow_http);
        assert_eq!(config.object_store.secret_access_key, "12345");
    }

    #[test]
    fn unknown_keys_are_named() {
        for (vars, expected) in [
            (
                vec![("PARLEY_HTTP_LISTN", "x")],
                "PARLEY_HTTP_LISTN: unknown field `listn`",
            ),
            (
                vec![("PARLEY_NOPE_X", "1")],
                "PARLEY_NOPE_X: not a configuration key",
            ),
            (
                vec![("PARLEY_HTTP_MAX_BODY_BYTES", "lots")],
                "PARLEY_HTTP_MAX_BODY_BYTES: invalid type",
            ),
        ] {
            let err = Config::load(None, env(&vars)).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[http]\nlisten = \"127.0.0.1:1\"\nmax_body = 5\n").unwrap();
        let err = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("unknown field `max_body`"), "{err}");
        assert!(err.contains("bad.toml"), "{err}");
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        for (vars, expected) in [
            (
                vec![("PARLEY_TLS_CERT", "c.pem")],
                "tls.cert and tls.key go together",
            ),
            (
                vec![("PARLEY_OBJECT_STORE_KIND", "s3")],
                "needs object_store.bucket",
            ),
            (
                vec![("PARLEY_AUTH_JWT_SECRET", "short")],
                "at least 32 characters",
            ),
            (
                vec![("PARLEY_ADMIN_PASSWORD", "long-enough-password")],
                "needs admin.email",
            ),
            (
                vec![("PARLEY_RTC_UDP_BIND", "0.0.0.0:7882")],
                "set rtc.advertise_ips",
            ),
            (
                vec![("PARLEY_RTC_WEBHOOK_URL", "http://127.0.0.1:9/hook")],
                "needs rtc.webhook_secret",
            ),
            (
                vec![("PARLEY_RTC_TURN_URLS", r#"["turn:127.0.0.1:3478"]"#)],
                "needs rtc.turn_secret",
            ),
            (
                vec![
                    ("PARLEY_RTC_TURN_URLS", r#"["stun:127.0.0.1:3478"]"#),
                    ("PARLEY_RTC_TURN_SECRET", "a-secret-long-enough"),
                ],
                "is not a turn: or turns: URL",
            ),
            (
                vec![("PARLEY_RTC_TURN_TTL_SECS", "10")],
                "between 60 and 604800",
            ),
            (
                vec![("PARLEY_RTC_MAX_TRACKS_PER_PARTICIPANT", "0")],
                "at least 1",
            ),
            (
                vec![("PARLEY_RTC_KEYFRAME_INTERVAL_MS", "10")],
                "keyframe_interval_ms must be 50 to 10000",
            ),
            (vec![("PARLEY_RTC_WORKERS", "1000")], "rtc.workers is 1000"),
            (
                vec![("PARLEY_RTC_OVERLOAD_LAG_MS", "60000")],
                "rtc.overload_lag_ms is 60000",
            ),
            (
                vec![("PARLEY_RTC_SHED_FLOOR", "everything")],
                "PARLEY_RTC_SHED_FLOOR",
            ),
        ] {
            let err = Config::load(None, env(&vars)).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn the_media_port_can_advertise_public_addresses_and_the_keyframe_interval_is_set() {
        let config = Config::load(
            None,
            env(&[
                ("PARLEY_RTC_UDP_BIND", "0.0.0.0:7882"),
                (
                    "PARLEY_RTC_ADVERTISE_IPS",
                    r#"["203.0.113.7", "2001:db8::7"]"#,
                ),
                ("PARLEY_RTC_KEYFRAME_INTERVAL_MS", "200"),
            ]),
        )
        .unwrap();
        let sfu = config.sfu();
        assert_eq!(sfu.udp_bind.port(), 7882);
        assert_eq!(sfu.keyframe_interval, Duration::from_millis(200));
        assert_eq!(sfu.advertise_ips.len(), 2);
        assert_eq!(sfu.advertise_ips[0].to_string(), "203.0.113.7");
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_dir() {
        let config = Config::load(None, []).unwrap();
        assert_eq!(
            config.database().url,
            "sqlite://./parley-data/parley.db?mode=rwc"
        );
        assert!(config.uses_data_dir());
    }
}
