//! What the search index follows: each channel's event stream (new messages, edits and recalls)
//! and the messages those events touched, read in batches after they were delivered. The
//! follower keeps its own position per channel; the sequence numbers have no gaps, so reading
//! up to a channel's `last_seq` reads everything committed there.

use std::collections::HashMap;

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
        let mut attached: Vec<(usize, Vec<i64>)> = Vec::new();
        for row in &rows {
            let recalled: Option<i64> = row.try_get("recalled_at")?;
            if let Some(text) = row.try_get::<Option<String>, _>("attachments")? {
                let files: Vec<i64> =
                    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                        column: "messages.attachments",
                        value: text,
                    })?;
                if !files.is_empty() {
                    attached.push((messages.len(), files));
                }
            }
            messages.push(SearchMessage {
                id: row.try_get("id")?,
                channel: row.try_get("channel_id")?,
                seq: row.try_get("seq")?,
                sender: row.try_get("sender_id")?,
                body: match recalled {
                    Some(_) => None,
                    None => Some(row.try_get("body")?),
                },
                created_at: row.try_get("created_at")?,
                attachments: Vec::new(),
            });
        }
        let files: Vec<i64> = attached
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        if !files.is_empty() {
            let sql = format!(
                "SELECT id, name FROM files WHERE id IN ({})",
                id_list(&files)
            );
            let names: HashMap<i64, String> = sqlx::query(&sql)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
                .collect::<Result<_, StoreError>>()?;
            for (at, files) in attached {
                messages[at].attachments = files
                    .iter()
                    .filter_map(|id| names.get(id).cloned())
                    .collect();
            }
        }
        Ok(messages)
    }
}
