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
