//! Start-up and shutdown: open storage, make the state, bind, serve until SIGTERM or Ctrl-C,
//! then stop accepting, let requests in flight finish (up to the grace period), close the pool.

use crate::app::{app, AppState, Limits};
use crate::auth::{hash_password, random_hex, Tokens};
use crate::config::Config;
use crate::listener::{dev_certificate, server_config, PlainListener, TlsListener};
use crate::metrics::Metrics;
use crate::serve::{serve, ServeLimits};
use anyhow::Context;
use axum::Router;
use parley_proto::Role;
use parley_storage::{redact, Database, NewUser, ObjectStorage};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const IMPORT_LIMIT: usize = 16 * 1024 * 1024;

/// Connect the database (migrating it) and open the object store.
pub async fn open_storage(config: &Config) -> anyhow::Result<(Database, ObjectStorage)> {
    open(config, Schema::Upgrade).await
}

/// Connect the database as it is, not migrated, and open the object store.
pub async fn open_storage_as_is(config: &Config) -> anyhow::Result<(Database, ObjectStorage)> {
    open(config, Schema::AsIs).await
}

enum Schema {
    Upgrade,
    AsIs,
}

async fn open(config: &Config, schema: Schema) -> anyhow::Result<(Database, ObjectStorage)> {
    if config.uses_data_dir() {
        std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
            format!(
                "cannot create the data folder {}",
                config.server.data_dir.display()
            )
        })?;
    }
    let db_config = config.database();
    let db = match schema {
        Schema::Upgrade => Database::connect(&db_config).await,
        Schema::AsIs => Database::connect_as_is(&db_config).await,
    }
    .with_context(|| format!("cannot open the database {}", redact(&db_config.url)))?;
    let objects =
        ObjectStorage::open(&config.object_store()).context("cannot open the object store")?;
    Ok((db, objects))
}

pub async fn state(
    config: &Config,
    db: Database,
    objects: ObjectStorage,
) -> anyhow::Result<AppState> {
    let secret = if config.auth.jwt_secret.is_empty() {
        db.setting_or_insert("jwt_secret", || random_hex(32))
            .await?
    } else {
        config.auth.jwt_secret.clone()
    };
    let tokens = Tokens::new(
        secret.as_bytes(),
        Duration::from_secs(config.auth.access_token_ttl_secs),
        Duration::from_secs(config.auth.refresh_token_ttl_secs),
        config.auth.leeway_secs,
    );
    let metrics = Metrics::new()?;
    let cluster = if config.cluster.redis_url.is_empty() {
        None
    } else {
        Some(crate::cluster::Cluster::connect(&config.cluster).await?)
    };
    let presence = parley_presence::PresenceConfig {
        idle_after: Duration::from_secs(config.hub.idle_secs.max(1)),
        coalesce: Duration::from_millis(config.hub.presence_coalesce_ms),
    };
    let recording_jobs = Arc::new(tokio::sync::Notify::new());
    let sfu_metrics = parley_sfu::SfuMetrics::register(metrics.registry())?;
    let (sfu, room_events) = parley_sfu::Sfu::start(config.sfu(), sfu_metrics)
        .with_context(|| format!("cannot open the media port {}", config.rtc.udp_bind))?;
    tracing::info!(udp = %sfu.local_addr(), workers = sfu.workers(), "media port open");
    let hub = match cluster {
        Some((cluster, pending)) => {
            tracing::info!(node = cluster.node(), "clustered through Redis");
            let hub = crate::ws::HubHandle::spawn(metrics.clone(), presence, Some(cluster.clone()));
            cluster.start(pending, hub.clone(), recording_jobs.clone(), sfu.clone());
            hub
        }
        None => crate::ws::HubHandle::spawn(metrics.clone(), presence, None),
    };
    // Meetings still open when the server last stopped ended then; their rooms are gone. With
    // several nodes on one database another node's meetings may be open: left as they are.
    if config.cluster.redis_url.is_empty() {
        let ended = db.end_open_meetings(parley_storage::now_ms()).await?;
        if ended > 0 {
            tracing::info!(ended, "meetings left open by the last run closed");
        }
    }
    crate::rtc::spawn_room_events(
        db.clone(),
        &config.rtc,
        crate::rtc::AutoRecord {
            bridges: config.rtc.record_bridges,
            wake: recording_jobs.clone(),
            hub: hub.clone(),
        },
        room_events,
    );
    let search = if config.search.enabled {
        let dir = config.search_dir();
        let db = db.clone();
        let search = tokio::task::spawn_blocking(move || crate::search::Search::open(&dir, db))
            .await?
            .context("cannot open the search index")?;
        Some(Arc::new(search))
    } else {
        None
    };
    Ok(AppState {
        search,
        previews: Arc::new(crate::previews::Previews::new(config.previews.clone())),
        sfu,
        rtc: Arc::new(config.rtc.clone()),
        db,
        objects,
        tokens: Arc::new(tokens),
        hub,
        ws: Arc::new(config.hub.clone()),
        urgent: Arc::new(config.urgent.clone()),
        tasks: Arc::new(config.tasks.clone()),
        recording_jobs,
        shutdown: Arc::new(tokio::sync::watch::channel(false).0),
        passwords: Arc::new(crate::passwords::Passwords::per_core()),
        signins: Arc::new(crate::auth::SignIns::new(
            crate::throttle::Rules::default(),
            config.http.trusted_proxies.clone(),
        )),
        upkeep: Arc::new(crate::app::Upkeep {
            backups: Arc::new(crate::backups::BackupBoard::new(config.backup.clone())),
            retention: crate::retention::Retention::new(
                config.retention.clone(),
                metrics.registry(),
            )?,
        }),
        uploads: Arc::new(crate::uploads::Uploads::open(
            config.files.clone(),
            config.staging_dir(),
        )?),
        metrics,
        limits: Limits {
            max_body_bytes: config.http.max_body_bytes,
            max_import_bytes: IMPORT_LIMIT.max(config.http.max_body_bytes),
            db_max_connections: config.database.max_connections,
        },
    })
}

/// What start-up found about the first administrator.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// The database already has users.
    Exists,
    /// Made now from `admin.email` and `admin.password`.
    Created(String),
    /// No users and no `admin.password`: someone has to make one.
    Missing,
}

pub async fn first_admin(config: &Config, db: &Database) -> anyhow::Result<FirstAdmin> {
    if db.count_users().await? > 0 {
        return Ok(FirstAdmin::Exists);
    }
    if config.admin.password.is_empty() {
        return Ok(FirstAdmin::Missing);
    }
    crate::auth::check_password_rules(&config.admin.password)
        .map_err(|e| anyhow::anyhow!("admin.password: {}", e.message))?;
    crate::routes::users::validate_new_user(&config.admin.email, "Administrator")
        .map_err(|e| anyhow::anyhow!("admin.email: {}", e.message))?;
    let hash = hash_password(config.admin.password.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    db.create_user(NewUser {
        email: config.admin.email.clone(),
        name: "Administrator".into(),
        role: Role::Admin,
        department: None,
        password_hash: Some(hash),
    })
    .await?;
    Ok(FirstAdmin::Created(config.admin.email.clone()))
}

enum Bound {
    Plain(PlainListener),
    Tls(TlsListener),
}

/// A server bound to its port, not yet serving.
pub struct Server {
    bound: Bound,
    router: Router,
    db: Database,
    sfu: parley_sfu::Sfu,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    grace: Duration,
    local: SocketAddr,
    limits: ServeLimits,
    metrics: crate::metrics::Metrics,
}

impl Server {
    pub async fn bind(config: &Config, state: AppState, dev_tls: bool) -> anyhow::Result<Server> {
        let tcp = TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.http.listen))?;
        let local = tcp.local_addr()?;
        let gauge = state.metrics.open_connections.clone();
        let tls_files = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ if dev_tls => Some(dev_certificate(&config.server.data_dir.join("dev-tls"))?),
            _ => None,
        };
        let bound = match tls_files {
            Some((cert, key)) => {
                Bound::Tls(TlsListener::new(tcp, server_config(&cert, &key)?, gauge)?)
            }
            None => Bound::Plain(PlainListener::new(tcp, gauge)),
        };
        // Urgent-ping reminders and escalations run beside the server.
        crate::pings::spawn(state.clone());
        // So do task reminders.
        crate::tasks::spawn_reminders(state.clone());
        // Rings that outlived the node that started them end anyway.
        crate::rings::spawn_sweep(state.clone());
        // And scheduled backups, when `[backup] folder` is set, and retention.
        crate::backups::spawn(state.clone())?;
        crate::retention::spawn(state.clone());
        // Uploads a restart interrupted, abandoned uploads and the trash.
        crate::uploads::spawn(state.clone());
        // The search index follows the database.
        crate::search::spawn(&state);
        Ok(Server {
            bound,
            db: state.db.clone(),
            sfu: state.sfu.clone(),
            shutdown: state.shutdown.clone(),
            metrics: state.metrics.clone(),
            router: app(state),
            grace: Duration::from_secs(config.http.shutdown_grace_secs),
            limits: ServeLimits {
                header_timeout: Duration::from_secs(config.http.header_timeout_secs),
                max_connections: config.http.max_connections,
                max_connections_per_ip: config.http.max_connections_per_ip,
                trusted_proxies: config.http.trusted_proxies.clone(),
            },
            local,
        })
    }

    /// `http://127.0.0.1:7880` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = match self.bound {
            Bound::Plain(_) => "http",
            Bound::Tls(_) => "https",
        };
        format!("{scheme}://{}", self.local)
    }

    /// Serve until SIGTERM or Ctrl-C, then shut down gracefully.
    pub async fn run(self) -> anyhow::Result<()> {
        // One flag tells everyone: the accept loop stops, WebSockets close with a reason, and
        // the grace period starts.
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            stop.send_replace(true);
        });
        let grace = self.grace;
        let mut stopped = self.shutdown.subscribe();
        let deadline = async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        };
        let stopping = self.shutdown.subscribe();
        let (router, limits, metrics) = (self.router, self.limits, self.metrics);
        match self.bound {
            Bound::Plain(l) => {
                serve_until(serve(l, router, limits, metrics, stopping), deadline).await
            }
            Bound::Tls(l) => {
                serve_until(serve(l, router, limits, metrics, stopping), deadline).await
            }
        }
        self.sfu.shutdown().await;
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn serve_until(
    serve: impl std::future::Future<Output = ()>,
    deadline: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        () = serve => {}
        () = deadline => {
            tracing::warn!("grace period over; dropping the requests still in flight");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
