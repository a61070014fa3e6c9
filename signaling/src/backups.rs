//! Scheduled backups (`[backup]`): the server backs itself up into a folder or a bucket every
//! `every_secs`, as `parley admin backup` does, while it keeps serving; then keeps the newest
//! `keep`. Each backup is logged, counted in metrics and shown on the admin dashboard
//! (`GET /v1/admin/backups`): a failure is an error in the log,
//! `parley_backup_failures_total` and a red line on the dashboard, never a silence.

use crate::config::BackupSection;
use crate::AppState;
use anyhow::Context;
use parley_proto::{BackupFailure, BackupSummary, BackupsStatus};
use parley_storage::{now_ms, ObjectStorage, ObjectStoreConfig};
use prometheus::{IntCounter, IntGauge};
use std::sync::Mutex;
use std::time::Duration;

/// A failed backup is tried again this soon, not a whole period later.
const RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct BackupMetrics {
    taken: IntCounter,
    failures: IntCounter,
    last_success: IntGauge,
    last_duration_ms: IntGauge,
    last_bytes: IntGauge,
    last_copied_bytes: IntGauge,
}

impl BackupMetrics {
    fn register(registry: &prometheus::Registry) -> Result<BackupMetrics, prometheus::Error> {
        let metrics = BackupMetrics {
            taken: IntCounter::new("backups_total", "Scheduled backups completed.")?,
            failures: IntCounter::new("backup_failures_total", "Scheduled backups that failed.")?,
            last_success: IntGauge::new(
                "backup_last_success_timestamp_seconds",
                "When the last scheduled backup completed (Unix time).",
            )?,
            last_duration_ms: IntGauge::new(
                "backup_last_duration_milliseconds",
                "How long the last scheduled backup took.",
            )?,
            last_bytes: IntGauge::new(
                "backup_last_size_bytes",
                "The last backup's tables and objects, in bytes.",
            )?,
            last_copied_bytes: IntGauge::new(
                "backup_last_copied_bytes",
                "Object bytes the last backup copied (the rest an earlier backup held).",
            )?,
        };
        registry.register(Box::new(metrics.taken.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.last_success.clone()))?;
        registry.register(Box::new(metrics.last_duration_ms.clone()))?;
        registry.register(Box::new(metrics.last_bytes.clone()))?;
        registry.register(Box::new(metrics.last_copied_bytes.clone()))?;
        Ok(metrics)
    }
}

/// What the dashboard shows of the schedule: its settings, when the next backup starts and
/// the last failure; the backups themselves are read from the location when asked.
pub struct BackupBoard {
    config: BackupSection,
    state: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    next_at: Option<i64>,
    last_failure: Option<BackupFailure>,
    last_success_at: Option<i64>,
}

impl BackupBoard {
    pub fn new(config: BackupSection) -> BackupBoard {
        BackupBoard {
            config,
            state: Mutex::new(Board::default()),
        }
    }

    fn scheduled(&self) -> bool {
        !self.config.folder.is_empty()
    }

    fn update(&self, change: impl FnOnce(&mut Board)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The schedule and the complete backups in its location, newest first. A location that
    /// cannot be read is reported in `error`, beside the last failure.
    pub async fn status(&self) -> BackupsStatus {
        let (next_at, last_failure, last_success_at) = {
            let board = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (
                board.next_at,
                board.last_failure.clone(),
                board.last_success_at,
            )
        };
        let mut status = BackupsStatus {
            scheduled: self.scheduled(),
            to: self.config.folder.clone(),
            every_secs: self.config.every_secs,
            keep: self.config.keep,
            next_at,
            last_success: None,
            last_failure: None,
            backups: Vec::new(),
            error: None,
        };
        if !status.scheduled {
            return status;
        }
        match self.complete_backups().await {
            Ok(backups) => status.backups = backups,
            Err(err) => status.error = Some(format!("{err:#}")),
        }
        status.last_success = status.backups.first().cloned();
        let newest = status
            .last_success
            .as_ref()
            .map(|b| b.finished_at)
            .max(last_success_at);
        status.last_failure = last_failure.filter(|f| newest.is_none_or(|at| f.at > at));
        status
    }

    async fn complete_backups(&self) -> anyhow::Result<Vec<BackupSummary>> {
        let repo = ObjectStorage::open(&self.config.location())?;
        Ok(parley_storage::list_backups(&repo)
            .await?
            .into_iter()
            .rev()
            .filter_map(|b| b.manifest)
            .map(|m| BackupSummary {
                key_id: m.encryption.as_ref().map(|e| e.key_id.clone()),
                bytes: m.tables.iter().map(|t| t.size).sum::<u64>() + m.object_bytes(),
                rows: m.rows(),
                objects: m.objects.len() as u64,
                id: m.id,
                started_at: m.started_at,
                finished_at: m.finished_at,
            })
            .collect())
    }
}

/// Start the schedule, if `[backup] folder` is set.
pub fn spawn(state: AppState) -> anyhow::Result<()> {
    let board = state.upkeep.backups.clone();
    if !board.scheduled() {
        return Ok(());
    }
    let config = board.config.clone();
    if !config.key_file.as_os_str().is_empty() {
        // A key that cannot be read stops the start, rather than the first backup a day later.
        let key = parley_storage::BackupKey::read(&config.key_file)?;
        tracing::info!(key = key.id(), "scheduled backups are encrypted");
    }
    let metrics = BackupMetrics::register(state.metrics.registry())?;
    tracing::info!(to = %config.folder, every_secs = config.every_secs, keep = config.keep, "scheduled backups on");
    tokio::spawn(run(state, board, metrics));
    Ok(())
}

async fn run(state: AppState, board: std::sync::Arc<BackupBoard>, metrics: BackupMetrics) {
    let config = &board.config;
    let every = Duration::from_secs(config.every_secs);
    let mut shutdown = state.shutdown.subscribe();
    let mut wait = first_wait(config, every).await;
    loop {
        board.update(|b| b.next_at = Some(now_ms() + wait.as_millis() as i64));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = match once(&state, config, &metrics).await {
            Ok(finished_at) => {
                board.update(|b| b.last_success_at = Some(finished_at));
                every
            }
            Err(err) => {
                let error = format!("{err:#}");
                metrics.failures.inc();
                tracing::error!(to = %config.folder, error = %error, retry_secs = RETRY_AFTER.as_secs(), "scheduled backup FAILED");
                board.update(|b| {
                    b.last_failure = Some(BackupFailure {
                        at: now_ms(),
                        error,
                    })
                });
                RETRY_AFTER.min(every)
            }
        };
    }
}

/// Until the next backup is due: `every` after the newest complete one in the location (so a
/// restart neither skips nor repeats one), at once if there is none.
async fn first_wait(config: &BackupSection, every: Duration) -> Duration {
    let Ok(repo) = ObjectStorage::open(&config.location()) else {
        return Duration::ZERO;
    };
    let newest = parley_storage::list_backups(&repo)
        .await
        .ok()
        .and_then(|all| all.into_iter().rev().find_map(|b| b.manifest))
        .map(|m| m.finished_at);
    match newest {
        Some(at) => {
            let since = Duration::from_millis(u64::try_from(now_ms() - at).unwrap_or(0));
            every.saturating_sub(since)
        }
        None => Duration::ZERO,
    }
}

/// One backup and the pruning after it; when it finished.
async fn once(
    state: &AppState,
    config: &BackupSection,
    metrics: &BackupMetrics,
) -> anyhow::Result<i64> {
    let store = config.location();
    // A folder is locked against a second writer; a bucket cannot be (give each writer its own).
    let _lock = match &store {
        ObjectStoreConfig::Local { path } => {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create the backup folder {}", path.display()))?;
            Some(parley_storage::lock_folder(path)?)
        }
        ObjectStoreConfig::S3(_) => None,
    };
    let repo = ObjectStorage::open(&store)?;
    // Read at each backup, so a replaced key file is used from the next one on.
    let key = (!config.key_file.as_os_str().is_empty())
        .then(|| parley_storage::BackupKey::read(&config.key_file))
        .transpose()?;
    let report = parley_storage::take_backup(
        &state.db,
        &state.objects,
        &repo,
        env!("CARGO_PKG_VERSION"),
        key.as_ref(),
    )
    .await?;
    let m = &report.manifest;
    let size: u64 = m.tables.iter().map(|t| t.size).sum::<u64>() + m.object_bytes();
    let took = m.finished_at - m.started_at;
    metrics.taken.inc();
    metrics.last_success.set(m.finished_at / 1000);
    metrics.last_duration_ms.set(took);
    metrics
        .last_bytes
        .set(i64::try_from(size).unwrap_or(i64::MAX));
    metrics
        .last_copied_bytes
        .set(i64::try_from(report.copied_bytes).unwrap_or(i64::MAX));
    tracing::info!(
        backup = %format!("{}/{}", config.folder.trim_end_matches('/'), m.id),
        rows = m.rows(),
        objects = m.objects.len(),
        copied = report.copied,
        copied_bytes = report.copied_bytes,
        reused = report.reused,
        millis = took,
        "scheduled backup written"
    );
    let pruned = parley_storage::prune_backups(&repo, config.keep as usize).await?;
    if !pruned.backups.is_empty() || pruned.blobs > 0 {
        tracing::info!(removed = ?pruned.backups, blobs = pruned.blobs, blob_bytes = pruned.blob_bytes, keep = config.keep, "old backups removed");
    }
    Ok(m.finished_at)
}
