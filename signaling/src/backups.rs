//! Scheduled backups (`[backup]`): the server backs itself up into a folder every
//! `every_secs`, as `parley admin backup` does, while it keeps serving; then keeps the newest
//! `keep`. Each backup is logged, and counted in metrics: a failure is an error in the log and
//! `parley_backup_failures_total`, never a silence.

use crate::config::BackupSection;
use crate::AppState;
use parley_storage::{now_ms, ObjectStorage, ObjectStoreConfig};
use prometheus::{IntCounter, IntGauge};
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

/// Start the schedule, if `[backup] folder` is set.
pub fn spawn(state: AppState, config: BackupSection) -> anyhow::Result<()> {
    if config.folder.as_os_str().is_empty() {
        return Ok(());
    }
    let metrics = BackupMetrics::register(state.metrics.registry())?;
    tracing::info!(folder = %config.folder.display(), every_secs = config.every_secs, keep = config.keep, "scheduled backups on");
    tokio::spawn(run(state, config, metrics));
    Ok(())
}

async fn run(state: AppState, config: BackupSection, metrics: BackupMetrics) {
    let every = Duration::from_secs(config.every_secs);
    let mut shutdown = state.shutdown.subscribe();
    let mut wait = first_wait(&config, every).await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = match once(&state, &config, &metrics).await {
            Ok(()) => every,
            Err(err) => {
                metrics.failures.inc();
                tracing::error!(folder = %config.folder.display(), error = %format!("{err:#}"), retry_secs = RETRY_AFTER.as_secs(), "scheduled backup FAILED");
                RETRY_AFTER.min(every)
            }
        };
    }
}

/// Until the next backup is due: `every` after the newest complete one in the folder (so a
/// restart neither skips nor repeats one), at once if there is none.
async fn first_wait(config: &BackupSection, every: Duration) -> Duration {
    let Ok(repo) = repository(config) else {
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

fn repository(config: &BackupSection) -> anyhow::Result<ObjectStorage> {
    Ok(ObjectStorage::open(&ObjectStoreConfig::Local {
        path: config.folder.clone(),
    })?)
}

async fn once(
    state: &AppState,
    config: &BackupSection,
    metrics: &BackupMetrics,
) -> anyhow::Result<()> {
    let repo = repository(config)?;
    let _lock = parley_storage::lock_folder(&config.folder)?;
    let report =
        parley_storage::take_backup(&state.db, &state.objects, &repo, env!("CARGO_PKG_VERSION"))
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
        backup = %config.folder.join(&m.id).display(),
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
    Ok(())
}
