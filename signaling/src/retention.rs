//! Retention (`[retention]`, a channel's `retention_days`, legal holds): a background pass
//! every `every_secs` deletes the messages and recordings whose time is up, `batch` messages per
//! transaction with a pause between, so serving goes on; what a legal hold names stays. Every
//! pass is logged and counted (`parley_retention_deleted_*_total`), and the last one is shown on
//! the dashboard (`GET /v1/admin/retention`). An admin may run one at once
//! (`POST /v1/admin/retention/run`). Each node of a cluster runs its own passes: deleting is
//! idempotent, and each row is counted by the node that deleted it.

use crate::config::RetentionSection;
use crate::AppState;
use parley_proto::{RetentionRun, RetentionStatus};
use parley_storage::{now_ms, Database, ObjectStorage, StoreError};
use prometheus::IntCounter;
use std::sync::Mutex;
use std::time::Duration;

/// Between two batches, so the database serves others in between.
const PAUSE: Duration = Duration::from_millis(20);
/// The first pass after start-up, unless `every_secs` is shorter.
const FIRST_PASS: Duration = Duration::from_secs(300);
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone)]
struct RetentionMetrics {
    messages: IntCounter,
    recordings: IntCounter,
    failures: IntCounter,
}

impl RetentionMetrics {
    fn register(registry: &prometheus::Registry) -> Result<RetentionMetrics, prometheus::Error> {
        let metrics = RetentionMetrics {
            messages: IntCounter::new(
                "retention_deleted_messages_total",
                "Messages deleted because their retention ran out.",
            )?,
            recordings: IntCounter::new(
                "retention_deleted_recordings_total",
                "Recording files deleted because their retention ran out.",
            )?,
            failures: IntCounter::new(
                "retention_failures_total",
                "Retention passes stopped by an error (the next pass goes on).",
            )?,
        };
        registry.register(Box::new(metrics.messages.clone()))?;
        registry.register(Box::new(metrics.recordings.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        Ok(metrics)
    }
}

/// The organisation's retention, the passes' record, and the guarantee that one pass runs at
/// a time on this node.
pub struct Retention {
    config: RetentionSection,
    metrics: RetentionMetrics,
    one_pass: tokio::sync::Mutex<()>,
    last_run: Mutex<Option<RetentionRun>>,
}

impl Retention {
    pub fn new(
        config: RetentionSection,
        registry: &prometheus::Registry,
    ) -> Result<Retention, prometheus::Error> {
        Ok(Retention {
            config,
            metrics: RetentionMetrics::register(registry)?,
            one_pass: tokio::sync::Mutex::new(()),
            last_run: Mutex::new(None),
        })
    }

    pub async fn status(&self, db: &Database) -> Result<RetentionStatus, StoreError> {
        Ok(RetentionStatus {
            messages_days: self.config.messages_days,
            recordings_days: self.config.recordings_days,
            every_secs: self.config.every_secs,
            batch: self.config.batch,
            channels: db.channel_retentions().await?,
            last_run: self
                .last_run
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            messages_deleted_total: self.metrics.messages.get(),
            recordings_deleted_total: self.metrics.recordings.get(),
        })
    }

    /// One pass: every expired message and recording, in batches. A failure stops the pass
    /// where it is (reported in `error`); what it deleted stays deleted, and the next pass
    /// takes up the rest.
    pub async fn pass(&self, db: &Database, objects: &ObjectStorage) -> RetentionRun {
        let _one = self.one_pass.lock().await;
        let now = now_ms();
        let mut run = RetentionRun {
            started_at: now,
            ..RetentionRun::default()
        };
        if let Err(err) = self.delete(db, objects, now, &mut run).await {
            self.metrics.failures.inc();
            tracing::error!(error = %format!("{err:#}"), "retention pass stopped");
            run.error = Some(format!("{err:#}"));
        }
        run.finished_at = now_ms();
        if run.messages_deleted > 0 || run.recordings_deleted > 0 {
            tracing::info!(
                messages = run.messages_deleted,
                recordings = run.recordings_deleted,
                batches = run.batches,
                millis = run.finished_at - run.started_at,
                "retention deleted what its time was up for"
            );
        }
        *self.last_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run.clone());
        run
    }

    async fn delete(
        &self,
        db: &Database,
        objects: &ObjectStorage,
        now: i64,
        run: &mut RetentionRun,
    ) -> anyhow::Result<()> {
        let batch = self.config.batch;
        for (channel, cutoff) in db.expiring_channels(self.config.messages_days, now).await? {
            loop {
                let deleted = db
                    .delete_expired_messages(channel, cutoff, now, batch)
                    .await?;
                if deleted == 0 {
                    break;
                }
                run.messages_deleted += deleted;
                run.batches += 1;
                self.metrics.messages.inc_by(deleted);
                tokio::time::sleep(PAUSE).await;
            }
        }
        if self.config.recordings_days > 0 {
            let cutoff = now - self.config.recordings_days * DAY_MS;
            loop {
                let expired = db.expired_recordings(cutoff, batch).await?;
                if expired.is_empty() {
                    break;
                }
                for recording in expired {
                    // The media first: if deleting it fails, the row stays and the next pass
                    // tries again, so no media is left that no row names.
                    if !recording.object_prefix.is_empty() {
                        for object in objects
                            .list(&format!("{}/", recording.object_prefix))
                            .await?
                        {
                            objects.delete(&object.key).await?;
                        }
                    }
                    if db.delete_recording(recording.id).await? {
                        run.recordings_deleted += 1;
                        self.metrics.recordings.inc();
                    }
                }
                run.batches += 1;
                tokio::time::sleep(PAUSE).await;
            }
        }
        Ok(())
    }
}

/// Run a pass every `every_secs`, the first a few minutes after start-up.
pub fn spawn(state: AppState) {
    let every = Duration::from_secs(state.upkeep.retention.config.every_secs);
    let mut wait = FIRST_PASS.min(every);
    let mut shutdown = state.shutdown.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            state.upkeep.retention.pass(&state.db, &state.objects).await;
            wait = every;
        }
    });
}
