//! Keeping a deployment's data: retention (what is deleted when), legal holds (what is kept
//! regardless), and the state of scheduled backups. docs/protocol.md ("Administration:
//! retention, legal holds and backups") describes them.

use crate::{ChannelId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A legal hold: the messages and recordings of one channel, or of one person (messages they
/// sent, recordings of them and of meetings they attended), are kept whatever the retention
/// says, until the hold is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LegalHold {
    pub id: i64,
    /// Set for a hold on a channel.
    pub channel_id: Option<ChannelId>,
    /// Set for a hold on a person.
    pub user_id: Option<UserId>,
    /// Why, e.g. a case number.
    pub reason: String,
    pub created_by: Option<UserId>,
    pub created_at: i64,
}

/// `POST /v1/admin/legal-holds`: exactly one of `channel_id` and `user_id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLegalHold {
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// 1 to 500 characters.
    pub reason: String,
}

/// One pass of the retention sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRun {
    pub started_at: i64,
    pub finished_at: i64,
    /// Messages deleted (with their edits, reactions and receipts of pings).
    pub messages_deleted: u64,
    /// Recording files deleted, with their stored media.
    pub recordings_deleted: u64,
    /// Transactions the deletions took; each deletes at most `batch` messages.
    pub batches: u64,
    /// Why the pass stopped early (the database or the object store failed); the next pass
    /// goes on from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/admin/retention`: the organisation's retention and what the sweep has done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionStatus {
    /// Messages older than this many days are deleted, in channels without their own
    /// `retention_days`; 0: kept for ever.
    pub messages_days: i64,
    /// Recordings that ended this many days ago are deleted; 0: kept for ever.
    pub recordings_days: i64,
    /// Seconds between passes of the sweep.
    pub every_secs: u64,
    /// Messages deleted per transaction.
    pub batch: u32,
    /// Channels with their own retention, and how many days.
    pub channels: Vec<ChannelRetention>,
    /// The last pass on this node since it started, if any.
    pub last_run: Option<RetentionRun>,
    /// Deleted on this node since it started.
    pub messages_deleted_total: u64,
    pub recordings_deleted_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelRetention {
    pub channel_id: ChannelId,
    pub name: String,
    pub retention_days: i64,
}

/// `GET /v1/admin/backups`: the scheduled backups (`[backup]`) as this node has seen them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupsStatus {
    /// Whether this node takes scheduled backups (`[backup] to` is set).
    pub scheduled: bool,
    /// Where they go: a folder or `s3://bucket`; empty when not scheduled.
    pub to: String,
    pub every_secs: u64,
    pub keep: u32,
    /// When the next one starts (ms), if scheduled.
    pub next_at: Option<i64>,
    /// The newest complete backup in the location, if any.
    pub last_success: Option<BackupSummary>,
    /// The last attempt that failed, if it came after the last success: an alert.
    pub last_failure: Option<BackupFailure>,
    /// Complete backups in the location, newest first.
    pub backups: Vec<BackupSummary>,
    /// Why the location cannot be read now, if it cannot (then `backups` is empty).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupSummary {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    /// Rows in every table.
    pub rows: u64,
    pub objects: u64,
    /// Tables and objects together.
    pub bytes: u64,
    /// The key it is encrypted with (`parley admin backup-key`), if it is.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupFailure {
    pub at: i64,
    pub error: String,
}
