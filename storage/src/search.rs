//! What the search index follows: each channel's event stream (new messages, edits and recalls)
//! and the messages those events touched, read in batches after they were delivered. The
//! follower keeps its own position per channel; the sequence numbers have no gaps, so reading
//! up to a channel's `last_seq` reads everything committed there.

use crate::{error::StoreError, Database};
use sqlx::Row;

/// A message as the index needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchMessage {
    pub id: i64,
    pub channel: i64,
    pub seq: i64,
    pub sender: Option<i64>,
    /// `None` once recalled.
    pub body: Option<String>,
    pub created_at: i64,
    /// The names of its attachments.
    pub attachments: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Named {
    name: String,
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl Database {
    /// Every channel with something in its stream, and the stream's last sequence number.
    pub async fn channel_heads(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, last_seq FROM channels WHERE last_seq > 0")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("last_seq")?)))
            .collect()
    }

    /// Up to `limit` events after `after` in `channel` that change what a message says (sent,
    /// edited, recalled), as (sequence number, message id), in order.
    pub async fn text_events(
        &self,
        channel: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, message_id FROM channel_events \
             WHERE channel_id = $1 AND seq > $2 AND kind IN ('message', 'edit', 'recall') \
             ORDER BY seq LIMIT $3",
        )
        .bind(channel)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("message_id")?)))
            .collect()
    }

    /// The messages of `ids` that still exist (a deleted one is simply absent), with the names
    /// of their attachments.
    pub async fn search_messages(&self, ids: &[i64]) -> Result<Vec<SearchMessage>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, channel_id, seq, sender_id, body, created_at, recalled_at, attachments \
             FROM messages WHERE id IN ({})",
            id_list(ids)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            let recalled: Option<i64> = row.try_get("recalled_at")?;
            let id: i64 = row.try_get("id")?;
            let attachments = match row.try_get::<Option<String>, _>("attachments")? {
                // As the message stored them: `[{"id", "name", "size", "mime"}, ...]`. A row
                // that does not read so is indexed without them rather than stopping the index.
                Some(text) => match serde_json::from_str::<Vec<Named>>(&text) {
                    Ok(named) => named.into_iter().map(|n| n.name).collect(),
                    Err(err) => {
                        tracing::warn!(message = id, error = %err, "attachments not readable for search");
                        Vec::new()
                    }
                },
                None => Vec::new(),
            };
            messages.push(SearchMessage {
                id,
                channel: row.try_get("channel_id")?,
                seq: row.try_get("seq")?,
                sender: row.try_get("sender_id")?,
                body: match recalled {
                    Some(_) => None,
                    None => Some(row.try_get("body")?),
                },
                created_at: row.try_get("created_at")?,
                attachments,
            });
        }
        Ok(messages)
    }
}

impl Database {
    /// The people `name` may mean in a search's `from:`: an id, an email address, the part of
    /// an address before `@`, or a display name (case does not matter).
    pub async fn users_named(&self, name: &str) -> Result<Vec<i64>, StoreError> {
        if let Ok(id) = name.parse::<i64>() {
            return Ok(self
                .user(parley_proto::UserId(id))
                .await?
                .map(|u| u.user.id.0)
                .into_iter()
                .collect());
        }
        let rows = sqlx::query(
            "SELECT id FROM users WHERE lower(email) = lower($1) OR lower(name) = lower($1) \
             OR substr(lower(email), 1, length($1) + 1) = lower($1) || '@' ORDER BY id LIMIT 50",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }
}

impl Database {
    /// The channels `user` is a member of, as (id, name): what a search may look in.
    pub async fn member_channels(&self, user: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.name FROM memberships m JOIN channels c ON c.id = m.channel_id \
             WHERE m.user_id = $1",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
            .collect()
    }
}

/// An item that changed, as the search feed names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    pub kind: String,
    pub id: i64,
    /// When it last changed (ms, by the database's clock).
    pub at: i64,
}

/// A library file as the index needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchFile {
    pub id: i64,
    pub folder: i64,
    pub name: String,
    /// Who uploaded its current version.
    pub uploader: i64,
    pub updated_at: i64,
    /// The text of its current version, once read (empty for what has none).
    pub text: Option<String>,
}

/// A content whose text has not been read yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingText {
    pub sha256: String,
    pub object_key: String,
    pub size: i64,
    pub mime: String,
    /// A name it goes by (for the formats its bytes do not say).
    pub name: String,
    /// Its wrapped key and the master key's id, when sealed.
    pub sealed: Option<(String, String)>,
}

/// How reading a content's text went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextOutcome {
    Read(String),
    /// A kind with no text, or too large to read.
    None,
    Failed(String),
}

impl Database {
    /// Up to `limit` feed entries from (`at`, `kind`, `id`) on, exclusive, oldest first.
    pub async fn search_feed(
        &self,
        after: (i64, &str, i64),
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, item_id, at FROM search_feed \
             WHERE at > $1 OR (at = $1 AND (kind > $2 OR (kind = $2 AND item_id > $3))) \
             ORDER BY at, kind, item_id LIMIT $4",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FeedEntry {
                    kind: row.try_get("kind")?,
                    id: row.try_get("item_id")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// The newest stamp in the feed (0 when empty).
    pub async fn search_feed_head(&self) -> Result<i64, StoreError> {
        let at: Option<i64> = sqlx::query_scalar("SELECT MAX(at) FROM search_feed")
            .fetch_one(&self.pool)
            .await?;
        Ok(at.unwrap_or(0))
    }

    /// The library files of `ids` that are live (not in the trash, not attachments), with the
    /// text of their current version when it has been read.
    pub async fn search_files(&self, ids: &[i64]) -> Result<Vec<SearchFile>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT f.id, f.folder_id, f.name, f.updated_at, v.uploader_id, t.text \
             FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version \
             LEFT JOIN blob_texts t ON t.sha256 = v.sha256 \
             WHERE f.id IN ({}) AND f.folder_id IS NOT NULL AND f.deleted_at IS NULL",
            id_list(ids)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SearchFile {
                    id: row.try_get("id")?,
                    folder: row.try_get("folder_id")?,
                    name: row.try_get("name")?,
                    uploader: row.try_get("uploader_id")?,
                    updated_at: row.try_get("updated_at")?,
                    text: row.try_get("text")?,
                })
            })
            .collect()
    }

    /// Up to `limit` contents of live library files whose text has not been read.
    pub async fn pending_texts(&self, limit: i64) -> Result<Vec<PendingText>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.sha256, b.object_key, b.size, b.mime, b.data_key, b.key_id, MIN(f.name) AS name \
             FROM files f JOIN file_versions v ON v.file_id = f.id AND v.version = f.version \
             JOIN blobs b ON b.sha256 = v.sha256 \
             LEFT JOIN blob_texts t ON t.sha256 = b.sha256 \
             WHERE f.folder_id IS NOT NULL AND f.deleted_at IS NULL AND t.sha256 IS NULL \
             GROUP BY b.sha256, b.object_key, b.size, b.mime, b.data_key, b.key_id \
             ORDER BY b.sha256 LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let data_key: Option<String> = row.try_get("data_key")?;
                let key_id: Option<String> = row.try_get("key_id")?;
                Ok(PendingText {
                    sha256: row.try_get("sha256")?,
                    object_key: row.try_get("object_key")?,
                    size: row.try_get("size")?,
                    mime: row.try_get("mime")?,
                    name: row.try_get("name")?,
                    sealed: data_key.zip(key_id),
                })
            })
            .collect()
    }

    /// Keep what reading `sha256`'s text gave (the first reading wins), and put the files
    /// whose current version it is back on the search feed.
    pub async fn save_text(
        &self,
        sha256: &str,
        outcome: &TextOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        let (status, text, error) = match outcome {
            TextOutcome::Read(text) => ("ok", text.as_str(), None),
            TextOutcome::None => ("none", "", None),
            TextOutcome::Failed(error) => ("failed", "", Some(error.as_str())),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO blob_texts (sha256, status, text, error, extracted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(status)
        .bind(text)
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Touching the files (a no-op update) lets their trigger stamp the feed.
        sqlx::query(
            "UPDATE files SET version = version WHERE id IN \
             (SELECT file_id FROM file_versions v JOIN files f ON f.id = v.file_id \
              WHERE v.sha256 = $1 AND v.version = f.version)",
        )
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every folder that is not deleted, with its grants: to work out, for one search, every
    /// folder the asker may read.
    pub async fn all_folders(&self) -> Result<Vec<crate::ChainLink>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let folders = crate::folders::live_folders(&mut conn).await?;
        let mut grants = crate::folders::all_grants(&mut conn).await?;
        Ok(folders
            .into_iter()
            .map(|folder| crate::ChainLink {
                grants: grants.remove(&folder.id.0).unwrap_or_default(),
                folder,
            })
            .collect())
    }
}

/// A task as the index needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTask {
    pub id: i64,
    pub title: String,
    pub notes: String,
    pub assignee: Option<i64>,
    pub creator: Option<i64>,
    pub meeting: Option<i64>,
    pub updated_at: i64,
}

/// A meeting's minutes as the index needs them: one item, the agenda and every item's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchMinutes {
    pub meeting: i64,
    /// The meeting's title.
    pub title: String,
    pub text: String,
    pub updated_by: Option<i64>,
    pub updated_at: i64,
}

impl Database {
    /// The tasks of `ids` that exist.
    pub async fn search_tasks(&self, ids: &[i64]) -> Result<Vec<SearchTask>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, title, notes, assignee_id, created_by, meeting_id, updated_at \
             FROM tasks WHERE id IN ({})",
            id_list(ids)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SearchTask {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    notes: row.try_get("notes")?,
                    assignee: row.try_get("assignee_id")?,
                    creator: row.try_get("created_by")?,
                    meeting: row.try_get("meeting_id")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// The minutes of the meetings of `ids` that have minutes, with their items' text.
    pub async fn search_minutes(&self, ids: &[i64]) -> Result<Vec<SearchMinutes>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(ids);
        let heads = sqlx::query(&format!(
            "SELECT n.meeting_id, m.title, n.agenda, n.updated_by, n.updated_at \
             FROM minutes n JOIN meetings m ON m.id = n.meeting_id WHERE n.meeting_id IN ({list})"
        ))
        .fetch_all(&self.pool)
        .await?;
        let items = sqlx::query(&format!(
            "SELECT meeting_id, body, updated_at FROM minute_items \
             WHERE meeting_id IN ({list}) ORDER BY meeting_id, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut found = Vec::with_capacity(heads.len());
        for head in &heads {
            let meeting: i64 = head.try_get("meeting_id")?;
            let mut text: String = head.try_get("agenda")?;
            let mut updated_at: i64 = head.try_get("updated_at")?;
            for item in &items {
                if item.try_get::<i64, _>("meeting_id")? == meeting {
                    text.push('\n');
                    text.push_str(&item.try_get::<String, _>("body")?);
                    updated_at = updated_at.max(item.try_get("updated_at")?);
                }
            }
            found.push(SearchMinutes {
                meeting,
                title: head.try_get("title")?,
                text,
                updated_by: head.try_get("updated_by")?,
                updated_at,
            });
        }
        Ok(found)
    }

    /// The meetings `user` may see (attended, or, unless a guest, of a channel they are a
    /// member of): where a search looks for minutes and tasks.
    pub async fn visible_meetings(&self, user: i64, guest: bool) -> Result<Vec<i64>, StoreError> {
        let sql = if guest {
            "SELECT meeting_id FROM meeting_attendance WHERE user_id = $1"
        } else {
            "SELECT meeting_id FROM meeting_attendance WHERE user_id = $1 \
             UNION SELECT m.id FROM meetings m JOIN memberships ms ON ms.channel_id = m.channel_id \
             WHERE ms.user_id = $1"
        };
        let rows = sqlx::query(sql).bind(user).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<i64, _>(0)?))
            .collect()
    }
}
