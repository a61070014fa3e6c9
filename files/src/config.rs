//! The `[files]` settings.

use serde::Deserialize;
use std::path::PathBuf;

/// `[files]`: how large, how much, for how long, and sealed with which key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// The largest file, in bytes (2 GiB by default). Larger uploads are refused with 413
    /// `payload_too_large` before a byte is stored.
    pub max_file_bytes: u64,
    /// Bytes one person's files may take in all (every version counts); 0: no limit.
    pub user_quota_bytes: u64,
    /// Bytes the files of one department's people may take in all; 0: no limit.
    pub department_quota_bytes: u64,
    /// An upload that has not received a byte for this long is abandoned: its bytes are
    /// removed and resuming it answers 404.
    pub upload_expiry_secs: u64,
    /// Deleted files stay in the trash, restorable, for this many days.
    pub trash_days: u64,
    /// Where uploads in progress are kept until complete. Empty: `uploads` in the server's
    /// data folder. It must be on a disk with room for the uploads in flight.
    pub staging_dir: PathBuf,
    /// Encrypt new content at rest with this key (64 hex digits; `parley admin backup-key`
    /// makes one). Empty: stored as it is.
    pub encryption_key: String,
    /// Keys content was sealed with before a rotation, still accepted; at start the server
    /// rewraps every content key under `encryption_key`, after which they can go.
    pub previous_encryption_keys: Vec<String>,
}

impl std::fmt::Debug for FilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesConfig")
            .field("max_file_bytes", &self.max_file_bytes)
            .field("user_quota_bytes", &self.user_quota_bytes)
            .field("department_quota_bytes", &self.department_quota_bytes)
            .field("upload_expiry_secs", &self.upload_expiry_secs)
            .field("trash_days", &self.trash_days)
            .field("staging_dir", &self.staging_dir)
            .field(
                "encryption_key",
                &(!self.encryption_key.is_empty()).then_some("***"),
            )
            .field(
                "previous_encryption_keys",
                &self.previous_encryption_keys.len(),
            )
            .finish()
    }
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_file_bytes: 2 * 1024 * 1024 * 1024,
            user_quota_bytes: 0,
            department_quota_bytes: 0,
            upload_expiry_secs: 24 * 3600,
            trash_days: 30,
            staging_dir: PathBuf::new(),
            encryption_key: String::new(),
            previous_encryption_keys: Vec::new(),
        }
    }
}
