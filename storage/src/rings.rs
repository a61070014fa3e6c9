//! Rings: someone calls people into a channel's meeting. Each callee answers once; a ring ends
//! once (the first `UPDATE` of `ended_at` wins), so the missed-call message it may leave is
//! posted once however many nodes look at it.

use crate::error::StoreError;
use crate::{now_ms, Database};
use parley_proto::{ChannelId, Ring, RingAnswerKind, RingCallee, RingEnd, RingId, UserId};
use sqlx::Row;

/// What answering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// The answer was taken; the ring as it is now.
    Taken(Ring),
    /// The callee had answered already, or the ring had ended: nothing changed.
    TooLate(Ring),
}

impl Database {
    /// Start ringing `callees` into `room` of `channel` until `expires_at`.
    pub async fn start_ring(
        &self,
        channel: ChannelId,
        room: &str,
        caller: UserId,
        callees: &[UserId],
        expires_at: i64,
    ) -> Result<Ring, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rings (channel_id, room, caller_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(channel.0)
        .bind(room)
        .bind(caller.0)
        .bind(now_ms())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        for callee in callees {
            sqlx::query("INSERT INTO ring_callees (ring_id, user_id) VALUES ($1, $2)")
                .bind(id)
                .bind(callee.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.ring(RingId(id)).await?.ok_or(StoreError::NotFound)
    }

    /// Who `caller`'s rings in `channel` still ring (not answered yet), with the ring.
    pub async fn ringing(
        &self,
        channel: ChannelId,
        caller: UserId,
    ) -> Result<Vec<(UserId, RingId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.user_id, r.id FROM rings r JOIN ring_callees c ON c.ring_id = r.id \
             WHERE r.channel_id = $1 AND r.caller_id = $2 AND r.ended_at IS NULL \
             AND c.answer IS NULL",
        )
        .bind(channel.0)
        .bind(caller.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((UserId(r.try_get("user_id")?), RingId(r.try_get("id")?))))
            .collect()
    }

    pub async fn ring(&self, id: RingId) -> Result<Option<Ring>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel_id, room, caller_id, created_at, expires_at, ended_at, end_reason \
             FROM rings WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let callees = sqlx::query(
            "SELECT user_id, answer FROM ring_callees WHERE ring_id = $1 ORDER BY user_id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(RingCallee {
                user_id: UserId(r.try_get("user_id")?),
                answer: match r.try_get::<Option<String>, _>("answer")?.as_deref() {
                    Some("accepted") => Some(RingAnswerKind::Accepted),
                    Some("declined") => Some(RingAnswerKind::Declined),
                    _ => None,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Ring {
            id,
            channel: ChannelId(row.try_get("channel_id")?),
            room: row.try_get("room")?,
            caller: UserId(row.try_get("caller_id")?),
            callees,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            ended_at: row.try_get("ended_at")?,
            end_reason: row
                .try_get::<Option<String>, _>("end_reason")?
                .as_deref()
                .and_then(RingEnd::parse),
        }))
    }

    /// A callee's answer, taken once and only while the ring rings.
    pub async fn answer_ring(
        &self,
        id: RingId,
        callee: UserId,
        answer: RingAnswerKind,
    ) -> Result<Answered, StoreError> {
        let text = match answer {
            RingAnswerKind::Accepted => "accepted",
            RingAnswerKind::Declined => "declined",
        };
        let mut tx = self.begin_write().await?;
        // Take the ring's row first: an end that comes at the same moment either waits for this
        // answer (and sees it) or has ended the ring already (and this answer is too late).
        let ringing =
            sqlx::query("UPDATE rings SET ended_at = NULL WHERE id = $1 AND ended_at IS NULL")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        let mut taken = false;
        if ringing.rows_affected() == 1 {
            let done = sqlx::query(
                "UPDATE ring_callees SET answer = $1, answered_at = $2 \
                 WHERE ring_id = $3 AND user_id = $4 AND answer IS NULL",
            )
            .bind(text)
            .bind(now_ms())
            .bind(id.0)
            .bind(callee.0)
            .execute(&mut *tx)
            .await?;
            taken = done.rows_affected() == 1;
        }
        tx.commit().await?;
        let ring = self.ring(id).await?.ok_or(StoreError::NotFound)?;
        Ok(if taken {
            Answered::Taken(ring)
        } else {
            Answered::TooLate(ring)
        })
    }

    /// End the ring if it still rings: `answered` when someone accepted it, else `otherwise`.
    /// `Some(ring)` for the one call that ended it, `None` when it had ended already. The answers
    /// are read after the ring's row is taken, so an answer given at the same moment counts.
    pub async fn end_ring(
        &self,
        id: RingId,
        otherwise: RingEnd,
    ) -> Result<Option<Ring>, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE rings SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now_ms())
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let accepted: Option<i64> = sqlx::query_scalar(
            "SELECT ring_id FROM ring_callees WHERE ring_id = $1 AND answer = 'accepted' LIMIT 1",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let reason = if accepted.is_some() {
            RingEnd::Answered
        } else {
            otherwise
        };
        sqlx::query("UPDATE rings SET end_reason = $1 WHERE id = $2")
            .bind(reason.as_str())
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.ring(id).await
    }

    /// Rings still ringing after their time, oldest first: what a sweep ends.
    pub async fn expired_rings(&self, now: i64) -> Result<Vec<RingId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM rings WHERE ended_at IS NULL AND expires_at <= $1 \
             ORDER BY expires_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(RingId).collect())
    }
}
