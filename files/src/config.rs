//! The `[files]` settings.

use serde::Deserialize;
use std::path::PathBuf;

/// `[files]`: how large, how much, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
        }
    }
}
