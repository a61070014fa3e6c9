//! Meetings as they happened: a row per room session, written from the SFU's room events, and
//! who attended. What a user may see of them is decided in `signaling::policy`; the facts it
//! needs (the meeting's channel, attendance) come from here.

use crate::error::StoreError;
use crate::Database;
use parley_proto::{Attendee, ChannelId, Meeting, MeetingId, UserId};
use sqlx::Row;

const MEETING_COLUMNS: &str = "id, room_sid, room, channel_id, mode, started_at, ended_at";

fn meeting_from_row(row: &sqlx::any::AnyRow) -> Result<Meeting, StoreError> {
    let channel: Option<i64> = row.try_get("channel_id")?;
    let mode: String = row.try_get("mode")?;
    let started_at: Option<i64> = row.try_get("started_at")?;
    Ok(Meeting {
        id: MeetingId(row.try_get("id")?),
        room: row.try_get("room")?,
        room_sid: row.try_get("room_sid")?,
        channel_id: channel.map(ChannelId),
        bridge: mode == "bridge",
        started_at: started_at.unwrap_or_default(),
        ended_at: row.try_get("ended_at")?,
        attendees: Vec::new(),
    })
}

/// The user behind a participant identity, for those who joined with their own token.
pub fn identity_user(identity: &str) -> Option<UserId> {
    identity
        .strip_prefix("user:")
        .and_then(|id| id.parse().ok())
        .map(UserId)
}

impl Database {
    /// A room session started. Starting one already recorded changes nothing.
    pub async fn meeting_started(
        &self,
        room_sid: &str,
        room: &str,
        channel: Option<ChannelId>,
        bridge: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meetings (room_sid, room, channel_id, mode, started_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (room_sid) DO NOTHING",
        )
        .bind(room_sid)
        .bind(room)
        .bind(channel.map(|c| c.0))
        .bind(if bridge { "bridge" } else { "meeting" })
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A participant joined a room session. A participant of a session never recorded (the
    /// server was started mid-session) is ignored.
    pub async fn meeting_joined(
        &self,
        room_sid: &str,
        participant_sid: &str,
        identity: &str,
        name: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        // A user id that no longer exists (deleted since) is not recorded as one.
        let user = match identity_user(identity) {
            Some(u) => {
                sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE id = $1")
                    .bind(u.0)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => None,
        };
        sqlx::query(
            "INSERT INTO meeting_attendance \
                 (meeting_id, participant_sid, identity, user_id, name, joined_at) \
             SELECT id, $2, $3, $4, $5, $6 FROM meetings WHERE room_sid = $1 \
             ON CONFLICT (meeting_id, participant_sid) DO NOTHING",
        )
        .bind(room_sid)
        .bind(participant_sid)
        .bind(identity)
        .bind(user)
        .bind(name)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn meeting_left(
        &self,
        room_sid: &str,
        participant_sid: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE meeting_attendance SET left_at = $3 \
             WHERE participant_sid = $2 AND left_at IS NULL \
               AND meeting_id = (SELECT id FROM meetings WHERE room_sid = $1)",
        )
        .bind(room_sid)
        .bind(participant_sid)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A room session ended: whoever was still in it left then.
    pub async fn meeting_ended(&self, room_sid: &str, at: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE meeting_attendance SET left_at = $2 WHERE left_at IS NULL \
               AND meeting_id = (SELECT id FROM meetings WHERE room_sid = $1)",
        )
        .bind(room_sid)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE meetings SET ended_at = $2 WHERE room_sid = $1 AND ended_at IS NULL")
            .bind(room_sid)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Meetings that were still going on when the server stopped cannot end by themselves:
    /// they end now (at start-up, before any room opens), and so do their recordings.
    pub async fn end_open_meetings(&self, at: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE meeting_attendance SET left_at = $1 WHERE left_at IS NULL \
               AND meeting_id IN (SELECT id FROM meetings WHERE ended_at IS NULL)",
        )
        .bind(at)
        .execute(&mut *tx)
        .await?;
        // Their recordings end with them, failed: the server went down during the meeting.
        // What was stored until then is kept and plays.
        let reason = "the server stopped during the meeting; what was recorded until then is kept";
        sqlx::query(
            "UPDATE recordings SET status = 'failed', failure = $2, ended_at = $1, updated_at = $1 \
             WHERE status = 'recording' AND meeting_id IN \
               (SELECT id FROM meetings WHERE ended_at IS NULL)",
        )
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recording_jobs SET status = 'failed', failure = $2, ended_at = $1, \
                 lease_until = NULL \
             WHERE status IN ('pending', 'active', 'stopping') \
               AND meeting_id IN (SELECT id FROM meetings WHERE ended_at IS NULL)",
        )
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let ended = sqlx::query("UPDATE meetings SET ended_at = $1 WHERE ended_at IS NULL")
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(ended)
    }

    /// The meeting of a room session.
    pub async fn meeting_by_sid(&self, room_sid: &str) -> Result<Option<MeetingId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM meetings WHERE room_sid = $1")
            .bind(room_sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(MeetingId))
    }

    /// One meeting with its attendees.
    pub async fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>, StoreError> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut meeting = meeting_from_row(&row)?;
        meeting.attendees = self
            .attendees(&[id])
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        Ok(Some(meeting))
    }

    /// The newest meetings (before `before`, at most `limit`) that `user` may see: all for
    /// `everything` (admins); otherwise those it attended and, unless `attended_only`
    /// (guests), those of its channels.
    pub async fn meetings_for(
        &self,
        user: UserId,
        everything: bool,
        attended_only: bool,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Meeting>, StoreError> {
        let visible = if everything {
            "1 = 1"
        } else if attended_only {
            "m.id IN (SELECT meeting_id FROM meeting_attendance WHERE user_id = $1)"
        } else {
            "(m.id IN (SELECT meeting_id FROM meeting_attendance WHERE user_id = $1) \
              OR m.channel_id IN (SELECT channel_id FROM memberships WHERE user_id = $1))"
        };
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m WHERE ({visible}) \
               AND ($2 IS NULL OR m.started_at < $2) \
             ORDER BY m.started_at DESC, m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut meetings: Vec<Meeting> = rows
            .iter()
            .map(meeting_from_row)
            .collect::<Result<_, _>>()?;
        let ids: Vec<MeetingId> = meetings.iter().map(|m| m.id).collect();
        for (id, attendee) in self.attendees(&ids).await? {
            if let Some(m) = meetings.iter_mut().find(|m| m.id == id) {
                m.attendees.push(attendee);
            }
        }
        Ok(meetings)
    }

    /// Whether `user` attended the meeting (with its own token).
    pub async fn attended(&self, meeting: MeetingId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT meeting_id FROM meeting_attendance WHERE meeting_id = $1 AND user_id = $2 \
             LIMIT 1",
        )
        .bind(meeting.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn attendees(&self, ids: &[MeetingId]) -> Result<Vec<(MeetingId, Attendee)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids
            .iter()
            .map(|id| id.0.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT meeting_id, participant_sid, identity, user_id, name, joined_at, left_at \
             FROM meeting_attendance WHERE meeting_id IN ({list}) \
             ORDER BY joined_at, participant_sid"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let user: Option<i64> = row.try_get("user_id")?;
                Ok((
                    MeetingId(row.try_get("meeting_id")?),
                    Attendee {
                        participant: row.try_get("participant_sid")?,
                        identity: row.try_get("identity")?,
                        user_id: user.map(UserId),
                        name: row.try_get("name")?,
                        joined_at: row.try_get("joined_at")?,
                        left_at: row.try_get("left_at")?,
                    },
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_identities_name_a_user() {
        assert_eq!(identity_user("user:42"), Some(UserId(42)));
        assert_eq!(identity_user("user:x"), None);
        assert_eq!(identity_user("bot-7"), None);
    }
}
