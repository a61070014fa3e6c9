//! Files, their versions, the content they share, and uploads in progress.
//!
//! Content is stored once per SHA-256 (`blobs`), whatever the number of versions that use it;
//! `refs` counts them, and the version that takes the last reference away hands back the
//! object's key for the caller to delete. An upload becomes a file (or a new version of one) in
//! one transaction, so a crash leaves either the upload or the file, never half of each.

use crate::{error::StoreError, now_ms, Database};
use parley_proto::{Attachment, ChannelId, File, FileId, FileVersion, FolderId, MessageId, UserId};
use sqlx::{AnyConnection, Row};

pub(crate) const FILE_COLUMNS: &str = "f.id, f.name, f.owner_id, f.channel_id, f.message_id, f.folder_id, \
     f.version, f.created_at, f.updated_at, f.deleted_at, f.locked_by, f.locked_until, v.size, v.mime, \
     v.sha256, b.thumbnails";
pub(crate) const FILE_FROM: &str =
    "files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version \
     JOIN blobs b ON b.sha256 = v.sha256";

pub(crate) fn file_from_row(row: &sqlx::any::AnyRow) -> Result<File, StoreError> {
    let locked_until: Option<i64> = row.try_get("locked_until")?;
    let locked = locked_until.is_some_and(|until| until > now_ms());
    Ok(File {
        id: FileId(row.try_get("id")?),
        name: row.try_get("name")?,
        size: row.try_get("size")?,
        mime: row.try_get("mime")?,
        sha256: row.try_get("sha256")?,
        thumbnail: row.try_get::<i64, _>("thumbnails")? != 0,
        version: row.try_get("version")?,
        owner: UserId(row.try_get("owner_id")?),
        channel: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
        message: row.try_get::<Option<i64>, _>("message_id")?.map(MessageId),
        folder: row.try_get::<Option<i64>, _>("folder_id")?.map(FolderId),
        locked_by: if locked {
            row.try_get::<Option<i64>, _>("locked_by")?.map(UserId)
        } else {
            None
        },
        locked_until: locked_until.filter(|_| locked),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// An upload about to start.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Unguessable: knowing it is what lets a client resume.
    pub id: String,
    pub owner: UserId,
    pub length: i64,
    pub name: String,
    /// An attachment for this channel.
    pub channel: Option<ChannelId>,
    /// A file of the library, in this folder.
    pub folder: Option<FolderId>,
    pub comment: String,
    pub expires_at: i64,
}

/// What may be stored, in bytes, checked when an upload starts; 0 is no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quota {
    pub user_bytes: i64,
    pub department_bytes: i64,
}

/// Why an upload was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaExceeded {
    User { limit: i64, used: i64 },
    Department { limit: i64, used: i64 },
}

/// An upload in progress (or just completed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub owner: UserId,
    pub length: i64,
    pub received: i64,
    pub name: String,
    pub channel: Option<ChannelId>,
    pub folder: Option<FolderId>,
    pub comment: String,
    pub sha256: Option<String>,
    /// The file and version it became, once complete.
    pub file: Option<(FileId, i64)>,
    pub created_at: i64,
    pub expires_at: i64,
}

const UPLOAD_COLUMNS: &str =
    "id, owner_id, length, received, name, channel_id, folder_id, comment, \
     sha256, file_id, version, created_at, expires_at";

fn upload_from_row(row: &sqlx::any::AnyRow) -> Result<UploadRecord, StoreError> {
    let file = match (
        row.try_get::<Option<i64>, _>("file_id")?,
        row.try_get::<Option<i64>, _>("version")?,
    ) {
        (Some(file), Some(version)) => Some((FileId(file), version)),
        _ => None,
    };
    Ok(UploadRecord {
        id: row.try_get("id")?,
        owner: UserId(row.try_get("owner_id")?),
        length: row.try_get("length")?,
        received: row.try_get("received")?,
        name: row.try_get("name")?,
        channel: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
        folder: row.try_get::<Option<i64>, _>("folder_id")?.map(FolderId),
        comment: row.try_get("comment")?,
        sha256: row.try_get("sha256")?,
        file,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Content that has arrived whole, to be recorded as the upload's file.
#[derive(Debug, Clone)]
pub struct NewBlob {
    pub sha256: String,
    /// Where this upload's bytes were put.
    pub object_key: String,
    pub size: i64,
    pub mime: String,
    /// Its thumbnails are stored (`thumbs/<sha256>/…`).
    pub thumbnails: bool,
    /// Sealed at rest: its data key wrapped by the master key, and that key's id.
    pub sealed: Option<(String, String)>,
}

/// A completed upload: the file as it now is, and where its content lives. When identical
/// content was already stored, `object_key` is that object and the caller deletes its own copy.
#[derive(Debug, Clone)]
pub struct Completed {
    pub file: File,
    pub object_key: String,
}

/// Content no file uses any more, deleted from the database: its object (and thumbnails) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub sha256: String,
    pub object_key: String,
    pub thumbnails: bool,
}

/// A version's content: where its bytes are, and what they are.
#[derive(Debug, Clone)]
pub struct Content {
    pub version: FileVersion,
    pub object_key: String,
    /// Its thumbnails are stored (`thumbs/<sha256>/…`).
    pub thumbnails: bool,
    /// Sealed at rest: its data key wrapped by the master key, and that key's id.
    pub sealed: Option<(String, String)>,
}

impl Database {
    /// Bytes stored by `user` (every version they uploaded, the trash included, and uploads in
    /// progress), and by all the people of their department.
    async fn usage(
        conn: &mut AnyConnection,
        user: UserId,
    ) -> Result<(i64, Option<i64>), StoreError> {
        let mine: i64 = sqlx::query_scalar(
            "SELECT CAST((SELECT COALESCE(SUM(size), 0) FROM file_versions WHERE uploader_id = $1) \
             + (SELECT COALESCE(SUM(length), 0) FROM uploads WHERE owner_id = $1 AND file_id IS NULL) AS BIGINT)",
        )
        .bind(user.0)
        .fetch_one(&mut *conn)
        .await?;
        let department: Option<i64> =
            sqlx::query_scalar("SELECT department_id FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&mut *conn)
                .await?
                .flatten();
        let Some(department) = department else {
            return Ok((mine, None));
        };
        let theirs: i64 = sqlx::query_scalar(
            "SELECT CAST((SELECT COALESCE(SUM(v.size), 0) FROM file_versions v JOIN users u ON u.id = v.uploader_id \
                     WHERE u.department_id = $1) \
             + (SELECT COALESCE(SUM(p.length), 0) FROM uploads p JOIN users u ON u.id = p.owner_id \
                     WHERE u.department_id = $1 AND p.file_id IS NULL) AS BIGINT)",
        )
        .bind(department)
        .fetch_one(&mut *conn)
        .await?;
        Ok((mine, Some(theirs)))
    }

    /// Start an upload, if it fits the quotas (checked in the same transaction, so two uploads
    /// cannot both take the last of one).
    pub async fn create_upload(
        &self,
        new: &NewUpload,
        quota: Quota,
    ) -> Result<Result<(), QuotaExceeded>, StoreError> {
        let mut tx = self.begin_write().await?;
        if quota.user_bytes > 0 || quota.department_bytes > 0 {
            let (mine, department) = Self::usage(&mut tx, new.owner).await?;
            if quota.user_bytes > 0 && mine + new.length > quota.user_bytes {
                return Ok(Err(QuotaExceeded::User {
                    limit: quota.user_bytes,
                    used: mine,
                }));
            }
            if let Some(used) = department {
                if quota.department_bytes > 0 && used + new.length > quota.department_bytes {
                    return Ok(Err(QuotaExceeded::Department {
                        limit: quota.department_bytes,
                        used,
                    }));
                }
            }
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, length, received, name, channel_id, folder_id, comment, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&new.id)
        .bind(new.owner.0)
        .bind(new.length)
        .bind(&new.name)
        .bind(new.channel.map(|c| c.0))
        .bind(new.folder.map(|f| f.0))
        .bind(&new.comment)
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    /// Record that the bytes up to `received` are safely in the staging file.
    pub async fn upload_received(
        &self,
        id: &str,
        received: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE uploads SET received = $2, expires_at = $3 WHERE id = $1 AND file_id IS NULL",
        )
        .bind(id)
        .bind(received)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record the whole content's hash, before its bytes leave the staging file.
    pub async fn upload_hashed(&self, id: &str, sha256: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET sha256 = $2 WHERE id = $1 AND file_id IS NULL")
            .bind(id)
            .bind(sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_upload(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uploads past their expiry (abandoned, or completed long enough ago that no client will
    /// ask about them again), at most `limit`.
    pub async fn expired_uploads(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    /// Uploads whose bytes all arrived but which did not become a file (the server stopped
    /// between the two).
    pub async fn unfinished_uploads(&self) -> Result<Vec<UploadRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE received = length AND file_id IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    /// Turn a fully received upload into a file, or a new version of the owner's file of the
    /// same name. Completing it again returns the same file.
    pub async fn complete_upload(&self, id: &str, blob: &NewBlob) -> Result<Completed, StoreError> {
        match self.try_complete(id, blob).await {
            // Two first versions of one name raced; the other is now the file to add to.
            Err(StoreError::Conflict(_)) => self.try_complete(id, blob).await,
            other => other,
        }
    }

    async fn try_complete(&self, id: &str, blob: &NewBlob) -> Result<Completed, StoreError> {
        let mut tx = self.begin_write().await?;
        // Taking the row first serialises two completions of the same upload.
        sqlx::query("UPDATE uploads SET sha256 = $2 WHERE id = $1")
            .bind(id)
            .bind(&blob.sha256)
            .execute(&mut *tx)
            .await?;
        let upload = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(upload_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)?;
        if let Some((file, _)) = upload.file {
            let file = file_in(&mut tx, file).await?;
            let content = content_in(&mut tx, file.id, file.version).await?;
            return Ok(Completed {
                file,
                object_key: content.object_key,
            });
        }
        let now = now_ms();
        let object_key: String = sqlx::query_scalar(
            "INSERT INTO blobs (sha256, object_key, size, mime, refs, thumbnails, data_key, key_id, created_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8) \
             ON CONFLICT (sha256) DO UPDATE SET refs = blobs.refs + 1 RETURNING object_key",
        )
        .bind(&blob.sha256)
        .bind(&blob.object_key)
        .bind(blob.size)
        .bind(&blob.mime)
        .bind(i64::from(blob.thumbnails))
        .bind(blob.sealed.as_ref().map(|(wrapped, _)| wrapped.clone()))
        .bind(blob.sealed.as_ref().map(|(_, id)| id.clone()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let existing: Option<(i64, i64)> = match upload.folder {
            None => None,
            Some(folder) => {
                let row = sqlx::query(
                    "SELECT id, version FROM files WHERE folder_id = $1 AND name = $2 \
                     AND deleted_at IS NULL",
                )
                .bind(folder.0)
                .bind(&upload.name)
                .fetch_optional(&mut *tx)
                .await?;
                row.map(|r| Ok::<_, StoreError>((r.try_get("id")?, r.try_get("version")?)))
                    .transpose()?
            }
        };
        let (file, version) = match existing {
            Some((file, version)) => {
                sqlx::query("UPDATE files SET version = $2, updated_at = $3 WHERE id = $1")
                    .bind(file)
                    .bind(version + 1)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                (file, version + 1)
            }
            None => {
                let file: i64 = sqlx::query_scalar(
                    "INSERT INTO files (owner_id, channel_id, folder_id, name, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
                )
                .bind(upload.owner.0)
                .bind(upload.channel.map(|c| c.0))
                .bind(upload.folder.map(|f| f.0))
                .bind(&upload.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                (file, 1)
            }
        };
        sqlx::query(
            "INSERT INTO file_versions (file_id, version, sha256, size, mime, uploader_id, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(file)
        .bind(version)
        .bind(&blob.sha256)
        .bind(blob.size)
        .bind(&blob.mime)
        .bind(upload.owner.0)
        .bind(&upload.comment)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE uploads SET file_id = $2, version = $3 WHERE id = $1")
            .bind(id)
            .bind(file)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        let file = file_in(&mut tx, FileId(file)).await?;
        tx.commit().await?;
        Ok(Completed { file, object_key })
    }

    /// Up to `limit` sealed contents whose data key is wrapped by the key `key_id`:
    /// (sha256, wrapped key, key id).
    pub async fn keys_to_rewrap(
        &self,
        key_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT sha256, data_key, key_id FROM blobs WHERE data_key IS NOT NULL AND key_id = $1 \
             ORDER BY sha256 LIMIT $2",
        )
        .bind(key_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("sha256")?,
                    r.try_get("data_key")?,
                    r.try_get("key_id")?,
                ))
            })
            .collect()
    }

    /// Store a content's data key wrapped anew (a rotation).
    pub async fn rewrap(
        &self,
        sha256: &str,
        wrapped: &str,
        key_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE blobs SET data_key = $2, key_id = $3 WHERE sha256 = $1")
            .bind(sha256)
            .bind(wrapped)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The ids of the keys content is sealed with.
    pub async fn sealing_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT key_id FROM blobs WHERE key_id IS NOT NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A content's wrapped data key and its key id, if it is sealed.
    pub async fn blob_key(&self, sha256: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT data_key, key_id FROM blobs WHERE sha256 = $1 AND data_key IS NOT NULL",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("data_key")?, r.try_get("key_id")?)))
            .transpose()
    }

    /// The content's thumbnails are stored.
    pub async fn set_thumbnails(&self, sha256: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE blobs SET thumbnails = 1 WHERE sha256 = $1")
            .bind(sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Is content with this hash stored already?
    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn file(&self, id: FileId) -> Result<Option<File>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        match file_in(&mut conn, id).await {
            Err(StoreError::NotFound) => Ok(None),
            other => other.map(Some),
        }
    }

    /// One person's own files (not attachments), by name; the trash's when `trashed`.
    pub async fn files_of(&self, owner: UserId, trashed: bool) -> Result<Vec<File>, StoreError> {
        let deleted = if trashed { "IS NOT NULL" } else { "IS NULL" };
        let rows = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM {FILE_FROM} WHERE f.owner_id = $1 AND f.channel_id IS NULL \
             AND f.deleted_at {deleted} ORDER BY f.name, f.id"
        ))
        .bind(owner.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(file_from_row).collect()
    }

    /// Every version of a file, newest first.
    pub async fn file_versions(&self, id: FileId) -> Result<Vec<FileVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, size, mime, sha256, uploader_id, comment, created_at FROM file_versions \
             WHERE file_id = $1 ORDER BY version DESC",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// A version's content (the current one when `version` is `None`).
    pub async fn file_content(
        &self,
        id: FileId,
        version: Option<i64>,
    ) -> Result<Option<Content>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let version = match version {
            Some(v) => v,
            None => match file_in(&mut conn, id).await {
                Ok(file) => file.version,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        match content_in(&mut conn, id, version).await {
            Err(StoreError::NotFound) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Make an old version current again, as a new version with the same content.
    pub async fn restore_version(
        &self,
        id: FileId,
        version: i64,
        by: UserId,
        comment: &str,
    ) -> Result<File, StoreError> {
        let mut tx = self.begin_write().await?;
        let old = sqlx::query(
            "SELECT sha256, size, mime FROM file_versions WHERE file_id = $1 AND version = $2",
        )
        .bind(id.0)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let (sha256, size, mime): (String, i64, String) = (
            old.try_get("sha256")?,
            old.try_get("size")?,
            old.try_get("mime")?,
        );
        let current: i64 = sqlx::query_scalar("SELECT version FROM files WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        let now = now_ms();
        sqlx::query("UPDATE blobs SET refs = refs + 1 WHERE sha256 = $1")
            .bind(&sha256)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO file_versions (file_id, version, sha256, size, mime, uploader_id, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.0)
        .bind(current + 1)
        .bind(&sha256)
        .bind(size)
        .bind(&mime)
        .bind(by.0)
        .bind(comment)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE files SET version = $2, updated_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(current + 1)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let file = file_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(file)
    }

    /// Move a file to the trash. `false` when it already was there.
    pub async fn trash_file(&self, id: FileId, by: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE files SET deleted_at = $2, deleted_by = $3 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(now_ms())
        .bind(by.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Take a file out of the trash. A conflict when a file of the same name has taken its
    /// place in the meantime.
    pub async fn restore_file(&self, id: FileId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE files SET deleted_at = NULL, deleted_by = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(id.0)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            StoreError::from(e).conflict_as("a file of the same name is there now; rename it first")
        })?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete for good up to `limit` files trashed before `before`, with their versions. Returns
    /// how many files went, and the content no version uses any more, for the caller to
    /// delete its objects.
    pub async fn purge_files(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<(i64, Vec<Purged>), StoreError> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM files WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut gone = Vec::new();
        let files = ids.len() as i64;
        for id in ids {
            gone.extend(remove_file(&mut tx, FileId(id)).await?);
        }
        tx.commit().await?;
        Ok((files, gone))
    }

    /// Attach `files` to the message `message` being sent in `channel` by `sender`: each must
    /// be the sender's, uploaded for this channel, complete, and not already sent.
    pub(crate) async fn attach(
        conn: &mut AnyConnection,
        message: MessageId,
        channel: ChannelId,
        sender: UserId,
        files: &[FileId],
    ) -> Result<Vec<Attachment>, StoreError> {
        let mut attached = Vec::with_capacity(files.len());
        for &id in files {
            let done = sqlx::query(
                "UPDATE files SET message_id = $1 WHERE id = $2 AND owner_id = $3 AND channel_id = $4 \
                 AND message_id IS NULL AND deleted_at IS NULL",
            )
            .bind(message.0)
            .bind(id.0)
            .bind(sender.0)
            .bind(channel.0)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Invalid(format!(
                    "file {id} cannot be attached: attach files you uploaded for this channel \
                     (with `channel` in the upload) and have not sent yet"
                )));
            }
            let file = file_in(&mut *conn, id).await?;
            attached.push(Attachment {
                id,
                name: file.name,
                size: file.size,
                mime: file.mime,
                thumbnail: file.thumbnail,
            });
        }
        Ok(attached)
    }

    /// A recalled message's attachments go to the trash with it.
    pub(crate) async fn trash_attachments(
        conn: &mut AnyConnection,
        message: MessageId,
        by: UserId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE files SET deleted_at = $2, deleted_by = $3, message_id = NULL \
             WHERE message_id = $1 AND deleted_at IS NULL",
        )
        .bind(message.0)
        .bind(now_ms())
        .bind(by.0)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

fn version_from_row(row: &sqlx::any::AnyRow) -> Result<FileVersion, StoreError> {
    Ok(FileVersion {
        version: row.try_get("version")?,
        size: row.try_get("size")?,
        mime: row.try_get("mime")?,
        sha256: row.try_get("sha256")?,
        uploader: UserId(row.try_get("uploader_id")?),
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn file_in(conn: &mut AnyConnection, id: FileId) -> Result<File, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {FILE_COLUMNS} FROM {FILE_FROM} WHERE f.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref()
        .map(file_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

async fn content_in(
    conn: &mut AnyConnection,
    id: FileId,
    version: i64,
) -> Result<Content, StoreError> {
    let row = sqlx::query(
        "SELECT v.version, v.size, v.mime, v.sha256, v.uploader_id, v.comment, v.created_at, b.object_key, b.thumbnails, \
         b.data_key, b.key_id \
         FROM file_versions v JOIN blobs b ON b.sha256 = v.sha256 WHERE v.file_id = $1 AND v.version = $2",
    )
    .bind(id.0)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Content {
        version: version_from_row(&row)?,
        object_key: row.try_get("object_key")?,
        thumbnails: row.try_get::<i64, _>("thumbnails")? != 0,
        sealed: match (
            row.try_get::<Option<String>, _>("data_key")?,
            row.try_get::<Option<String>, _>("key_id")?,
        ) {
            (Some(wrapped), Some(id)) => Some((wrapped, id)),
            _ => None,
        },
    })
}

/// Delete a file and its versions; the content whose last reference went with them.
async fn remove_file(conn: &mut AnyConnection, id: FileId) -> Result<Vec<Purged>, StoreError> {
    let shas: Vec<String> =
        sqlx::query_scalar("SELECT sha256 FROM file_versions WHERE file_id = $1")
            .bind(id.0)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM file_versions WHERE file_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM uploads WHERE file_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM files WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    let mut gone = Vec::new();
    for sha in shas {
        let left: Option<(i64, String, i64)> = sqlx::query(
            "UPDATE blobs SET refs = refs - 1 WHERE sha256 = $1 RETURNING refs, object_key, thumbnails",
        )
        .bind(&sha)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| {
            Ok::<_, StoreError>((
                r.try_get("refs")?,
                r.try_get("object_key")?,
                r.try_get("thumbnails")?,
            ))
        })
        .transpose()?;
        if let Some((0, object_key, thumbnails)) = left {
            sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
                .bind(&sha)
                .execute(&mut *conn)
                .await?;
            gone.push(Purged {
                sha256: sha,
                object_key,
                thumbnails: thumbnails != 0,
            });
        }
    }
    Ok(gone)
}
