//! Retention: what is older than the organisation or a channel keeps is deleted, a bounded
//! batch per transaction, except what a legal hold keeps; and the legal holds themselves.
//!
//! A message's edits, reactions and ping receipts go with it (their foreign keys cascade); a
//! reply to it stays, no longer pointing at it. A task made from it, and minutes whose summary
//! it was, keep its id (they have no foreign key to it): the message is then not found. Sequence numbers are never reused: the channel's
//! `last_seq` stays where it is, so history simply begins later.

use crate::error::StoreError;
use crate::{now_ms, Database};
use parley_proto::{ChannelId, ChannelRetention, LegalHold, RecordingId, UserId};
use sqlx::Row;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A recording file whose time is up, and where its media lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRecording {
    pub id: RecordingId,
    pub object_prefix: String,
}

/// The messages a batch deletes: the channel's oldest sent before the cutoff, except those
/// of a held sender and urgent pings someone still has to acknowledge. `$1` channel, `$2`
/// cutoff, `$3` now, `$4` batch size.
const EXPIRED_MESSAGES: &str = "SELECT m.id FROM messages m \
     WHERE m.channel_id = $1 AND m.created_at < $2 \
     AND (m.sender_id IS NULL OR NOT EXISTS \
          (SELECT 1 FROM legal_holds h WHERE h.user_id = m.sender_id)) \
     AND NOT EXISTS (SELECT 1 FROM ping_recipients p WHERE p.message_id = m.id \
          AND p.acked_at IS NULL AND p.expires_at > $3) \
     ORDER BY m.created_at LIMIT $4";

fn hold_from_row(row: &sqlx::any::AnyRow) -> Result<LegalHold, StoreError> {
    Ok(LegalHold {
        id: row.try_get("id")?,
        channel_id: row.try_get::<Option<i64>, _>("channel_id")?.map(ChannelId),
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        reason: row.try_get("reason")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
    })
}

impl Database {
    /// Every legal hold, oldest first.
    pub async fn legal_holds(&self) -> Result<Vec<LegalHold>, StoreError> {
        sqlx::query(
            "SELECT id, channel_id, user_id, reason, created_by, created_at \
             FROM legal_holds ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(hold_from_row)
        .collect()
    }

    /// Hold a channel's or a person's messages and recordings; an unknown one is `Invalid`.
    pub async fn add_legal_hold(
        &self,
        channel: Option<ChannelId>,
        user: Option<UserId>,
        reason: &str,
        by: UserId,
    ) -> Result<LegalHold, StoreError> {
        let (table, id) = match (channel, user) {
            (Some(c), None) => ("channels", c.0),
            (None, Some(u)) => ("users", u.0),
            _ => {
                return Err(StoreError::Invalid(
                    "a hold names exactly one of channel_id and user_id".into(),
                ))
            }
        };
        let mut tx = self.begin_write().await?;
        let found: Option<i64> =
            sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            let what = if channel.is_some() { "channel" } else { "user" };
            return Err(StoreError::Invalid(format!("{what} {id} does not exist")));
        }
        let row = sqlx::query(
            "INSERT INTO legal_holds (channel_id, user_id, reason, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, channel_id, user_id, reason, created_by, created_at",
        )
        .bind(channel.map(|c| c.0))
        .bind(user.map(|u| u.0))
        .bind(reason)
        .bind(by.0)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        hold_from_row(&row)
    }

    /// Lift a hold; `false` if there was none with this id.
    pub async fn remove_legal_hold(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM legal_holds WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Channels with a retention of their own.
    pub async fn channel_retentions(&self) -> Result<Vec<ChannelRetention>, StoreError> {
        sqlx::query(
            "SELECT id, name, retention_days FROM channels \
             WHERE retention_days IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ChannelRetention {
                channel_id: ChannelId(row.try_get("id")?),
                name: row.try_get("name")?,
                retention_days: row.try_get("retention_days")?,
            })
        })
        .collect()
    }

    /// Channels whose messages expire at `now`, each with the instant before which its messages
    /// go: its own retention, else the organisation's `org_days` (0: none). Held channels are
    /// left out.
    pub async fn expiring_channels(
        &self,
        org_days: i64,
        now: i64,
    ) -> Result<Vec<(ChannelId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, COALESCE(c.retention_days, $1) AS days FROM channels c \
             WHERE COALESCE(c.retention_days, $1) > 0 \
             AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.channel_id = c.id) \
             ORDER BY c.id",
        )
        .bind(org_days)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let days: i64 = row.try_get("days")?;
                Ok((
                    ChannelId(row.try_get("id")?),
                    now - days.saturating_mul(DAY_MS),
                ))
            })
            .collect()
    }

    /// Delete at most `limit` of the channel's messages sent before `cutoff` (see
    /// `EXPIRED_MESSAGES` for what stays), in one transaction; how many went.
    pub async fn delete_expired_messages(
        &self,
        channel: ChannelId,
        cutoff: i64,
        now: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        // The hold may have come after the channel list was read.
        let held: Option<i64> =
            sqlx::query_scalar("SELECT id FROM legal_holds WHERE channel_id = $1 LIMIT 1")
                .bind(channel.0)
                .fetch_optional(&mut *tx)
                .await?;
        if held.is_some() {
            return Ok(0);
        }
        let ids: Vec<i64> = sqlx::query_scalar(EXPIRED_MESSAGES)
            .bind(channel.0)
            .bind(cutoff)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // Ids are integers read just now: listing them inline keeps the statements small on
        // both backends.
        sqlx::query(&format!(
            "UPDATE messages SET reply_to = NULL WHERE reply_to IN ({list})"
        ))
        .execute(&mut *tx)
        .await?;
        // Their attachments go with them: into the trash as if long ago, so the next sweep of
        // the trash deletes their bytes.
        sqlx::query(&format!(
            "UPDATE files SET deleted_at = 0, message_id = NULL WHERE message_id IN ({list})"
        ))
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(&format!("DELETE FROM messages WHERE id IN ({list})"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Finished recording files that ended before `cutoff`, except those a hold keeps: on the
    /// meeting's channel, on the person recorded, or on anyone who attended the meeting.
    pub async fn expired_recordings(
        &self,
        cutoff: i64,
        limit: u32,
    ) -> Result<Vec<ExpiredRecording>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.object_prefix FROM recordings r \
             JOIN meetings mt ON mt.id = r.meeting_id \
             WHERE r.status <> 'recording' AND COALESCE(r.ended_at, r.updated_at) < $1 \
             AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.channel_id = mt.channel_id \
                 OR h.user_id = r.user_id \
                 OR h.user_id IN (SELECT a.user_id FROM meeting_attendance a \
                                  WHERE a.meeting_id = r.meeting_id)) \
             ORDER BY r.id LIMIT $2",
        )
        .bind(cutoff)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredRecording {
                    id: RecordingId(row.try_get("id")?),
                    object_prefix: row.try_get("object_prefix")?,
                })
            })
            .collect()
    }

    /// Forget a recording file (its media is deleted first, by the caller).
    pub async fn delete_recording(&self, id: RecordingId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM recordings WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
