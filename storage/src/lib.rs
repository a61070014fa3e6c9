//! Parley's storage: the relational database (SQLite by default, PostgreSQL to scale) through
//! sqlx, and the object store (a local folder by default, any S3-compatible service to scale)
//! through the `object_store` crate.
//!
//! One `Database` serves both backends with the same SQL: queries use `$N` placeholders (which
//! SQLite accepts too), integer columns are BIGINT, times are milliseconds since the epoch, and
//! flags are nullable timestamps. The dialects differ only in the migrations, kept side by side
//! in `migrations/sqlite` and `migrations/postgres`.
//!
//! Architecture invariant: every write that touches more than one row runs in one transaction,
//! so a failure (the database going away included) leaves nothing half-written.

mod backup;
mod channels;
mod crypt;
mod db;
mod departments;
mod dump;
mod error;
mod files;
mod folders;
mod import;
mod knowledge;
mod meetings;
mod messages;
mod minutes;
mod objects;
mod pings;
mod presence;
mod recordings;
mod restore;
mod retention;
mod rings;
mod search;
mod sessions;
mod stats;
mod tasks;
mod transfer;
mod users;

pub use backup::{
    backup_location, list_backups, lock_folder, prune_backups, take_backup, verify_backup,
    BackupError, BackupReport, BackupStatus, Encryption, Manifest, ObjectEntry, PruneReport,
    Stored, TableEntry,
};
pub use channels::NewChannel;
pub use crypt::BackupKey;
pub use db::{redact, Backend, Database, DatabaseConfig, PoolStats};
pub use departments::{parse_path as parse_department_path, path_within};
pub use dump::{hex, Column, ColumnKind, TableHeader, TABLES};
pub use error::StoreError;
pub use files::{
    Completed, Content, NewBlob, NewUpload, Purged, Quota, QuotaExceeded, UploadRecord,
};
pub use folders::{level_text, AuditTarget, ChainLink, MAX_DEPTH};
pub use import::{ImportOutcome, ImportRow};
pub use knowledge::{
    is_stale, ArticleContent, ArticleEdit, ArticleFilter, ArticleRow, NewArticleRow, NewSpaceRow,
    SearchArticle, Shown, SpaceChanges, SpaceRow, StaleArticle,
};
pub use meetings::identity_user;
pub use messages::{AckRequest, ChannelAccess, NewMessage, ReadMark, Sent};
pub use minutes::{ItemChanges, NewItemRow};
pub use objects::{
    ObjectError, ObjectInfo, ObjectMeta, ObjectStorage, ObjectStoreConfig, ObjectStream,
    ObjectWriter, S3Config,
};
pub use pings::{DueReminder, Escalation};
pub use recordings::Claimed;
pub use restore::{measure, migrate, restore_backup, MigrateReport, RestoreReport};
pub use retention::ExpiredRecording;
pub use rings::Answered;
pub use search::{
    FeedEntry, PendingText, SearchFile, SearchMessage, SearchMinutes, SearchTask, TextOutcome,
};
pub use sessions::SessionRecord;
pub use stats::{date as civil_date, StatsWindow};
pub use tasks::{DueTask, NewTaskRow, TaskChanges, TaskFilter, VisibleTo};
pub use users::{avatar_url, normalize_email, NewUser, UserChanges, UserRecord};

/// Milliseconds since the Unix epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
