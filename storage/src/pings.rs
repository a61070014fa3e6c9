//! Ping recipients: who must acknowledge which message, and when each is reminded next. The
//! schedule lives here, not in memory, so it survives restarts; claims are compare-and-set, so
//! with several nodes each reminder is sent once.

use crate::error::StoreError;
use crate::messages::{message_from_row, MESSAGE_COLUMNS};
use crate::Database;
use parley_proto::{AckState, ChannelId, Message, MessageId, RosterEntry, UserId};
use sqlx::Row;

/// A reminder that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub message_id: MessageId,
    pub channel: ChannelId,
    pub user: UserId,
    pub next_notify_at: i64,
    pub every_ms: i64,
    pub expires_at: i64,
}

/// A recipient who has not acknowledged in time, for the escalation webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub message: Message,
    pub user: UserId,
    pub name: String,
    pub email: String,
}

fn roster_from_row(row: &sqlx::any::AnyRow) -> Result<RosterEntry, StoreError> {
    let delivered_at: Option<i64> = row.try_get("delivered_at")?;
    let acked_at: Option<i64> = row.try_get("acked_at")?;
    Ok(RosterEntry {
        user_id: UserId(row.try_get("user_id")?),
        name: row.try_get("name")?,
        state: match (acked_at, delivered_at) {
            (Some(_), _) => AckState::Acked,
            (None, Some(_)) => AckState::Delivered,
            (None, None) => AckState::Offline,
        },
        delivered_at,
        acked_at,
        reminders: row.try_get("reminders")?,
    })
}

const ROSTER: &str = "SELECT p.user_id, u.name, p.delivered_at, p.acked_at, p.reminders \
     FROM ping_recipients p JOIN users u ON u.id = p.user_id";

impl Database {
    /// Record `user`'s acknowledgement (the first one counts) and stop the reminders. `None` if
    /// the user is not a recipient of this ping.
    pub async fn ack_ping(
        &self,
        message: MessageId,
        user: UserId,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query(
            "UPDATE ping_recipients SET acked_at = $3, next_notify_at = NULL \
             WHERE message_id = $1 AND user_id = $2 AND acked_at IS NULL",
        )
        .bind(message.0)
        .bind(user.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let acked: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT acked_at FROM ping_recipients WHERE message_id = $1 AND user_id = $2",
        )
        .bind(message.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(acked.flatten())
    }

    pub async fn roster(&self, message: MessageId) -> Result<Vec<RosterEntry>, StoreError> {
        let sql = format!("{ROSTER} WHERE p.message_id = $1 ORDER BY u.name, u.id");
        let rows = sqlx::query(&sql)
            .bind(message.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(roster_from_row).collect()
    }

    pub async fn roster_entry(
        &self,
        message: MessageId,
        user: UserId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        let sql = format!("{ROSTER} WHERE p.message_id = $1 AND p.user_id = $2");
        let row = sqlx::query(&sql)
            .bind(message.0)
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(roster_from_row).transpose()
    }

    /// Pings waiting for `user`'s acknowledgement, oldest first.
    pub async fn pending_pings(&self, user: UserId, now: i64) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM ping_recipients p JOIN messages m ON m.id = p.message_id \
             WHERE p.user_id = $1 AND p.acked_at IS NULL AND p.expires_at > $2 AND m.recalled_at IS NULL \
             ORDER BY m.created_at, m.id"
        );
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The ping reached a device of `user`. `true` the first time.
    pub async fn mark_delivered(
        &self,
        message: MessageId,
        user: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE ping_recipients SET delivered_at = $3 WHERE message_id = $1 AND user_id = $2 AND delivered_at IS NULL",
        )
        .bind(message.0)
        .bind(user.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn due_reminders(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueReminder>, StoreError> {
        let rows = sqlx::query(
            "SELECT message_id, channel_id, user_id, next_notify_at, every_ms, expires_at FROM ping_recipients \
             WHERE next_notify_at IS NOT NULL AND next_notify_at <= $1 AND acked_at IS NULL \
             ORDER BY next_notify_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueReminder {
                    message_id: MessageId(r.try_get("message_id")?),
                    channel: ChannelId(r.try_get("channel_id")?),
                    user: UserId(r.try_get("user_id")?),
                    next_notify_at: r.try_get("next_notify_at")?,
                    every_ms: r.try_get::<Option<i64>, _>("every_ms")?.unwrap_or(0),
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Take a due reminder: move its next time on (or end it) if nobody else has. Returns the
    /// count of reminders sent, this one included, or `None` if another node took it or the
    /// ping was acknowledged meanwhile.
    pub async fn claim_reminder(
        &self,
        due: &DueReminder,
        next: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "UPDATE ping_recipients SET next_notify_at = $4, reminders = reminders + 1 \
             WHERE message_id = $1 AND user_id = $2 AND next_notify_at = $3 AND acked_at IS NULL RETURNING reminders",
        )
        .bind(due.message_id.0)
        .bind(due.user.0)
        .bind(due.next_notify_at)
        .bind(next)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed)
    }

    /// Recipients who have not acknowledged a ping sent at or before `sent_before`, not yet
    /// escalated, and not expired.
    pub async fn due_escalations(
        &self,
        sent_before: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Escalation>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, p.user_id AS recipient, u.name AS recipient_name, u.email AS recipient_email \
             FROM ping_recipients p JOIN messages m ON m.id = p.message_id JOIN users u ON u.id = p.user_id \
             WHERE p.acked_at IS NULL AND p.escalated_at IS NULL AND p.created_at <= $1 AND p.expires_at > $2 \
             AND m.recalled_at IS NULL ORDER BY p.created_at LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(sent_before)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Escalation {
                    message: message_from_row(r)?,
                    user: UserId(r.try_get("recipient")?),
                    name: r.try_get("recipient_name")?,
                    email: r.try_get("recipient_email")?,
                })
            })
            .collect()
    }

    /// Mark an escalation as taken; `false` if another node took it first.
    pub async fn claim_escalation(
        &self,
        message: MessageId,
        user: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE ping_recipients SET escalated_at = $3 WHERE message_id = $1 AND user_id = $2 AND escalated_at IS NULL",
        )
        .bind(message.0)
        .bind(user.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
