use crate::error::{parse_column, StoreError};
use crate::{now_ms, Database};
use parley_proto::{
    Channel, ChannelCategory, ChannelId, ChannelKind, DepartmentId, Member, UserId,
};
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub category: ChannelCategory,
    pub department: Option<String>,
    pub created_by: UserId,
    /// Members may find it under "Browse channels" and join it themselves.
    pub open: bool,
}

const CHANNEL_SELECT: &str =
    "SELECT c.id, c.name, c.kind, c.category, c.department_id, c.created_by, \
     c.archived_at, c.opened_at, c.created_at, c.urgent_every_secs, c.urgent_for_secs, c.retention_days, \
     (SELECT COUNT(*) FROM memberships m WHERE m.channel_id = c.id) AS member_count \
     FROM channels c";

fn channel_from_row(row: &sqlx::any::AnyRow) -> Result<Channel, StoreError> {
    Ok(Channel {
        id: ChannelId(row.try_get("id")?),
        name: row.try_get("name")?,
        kind: parse_column("channels.kind", row.try_get("kind")?)?,
        category: parse_column("channels.category", row.try_get("category")?)?,
        department_id: row
            .try_get::<Option<i64>, _>("department_id")?
            .map(DepartmentId),
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        archived: row.try_get::<Option<i64>, _>("archived_at")?.is_some(),
        open: row.try_get::<Option<i64>, _>("opened_at")?.is_some(),
        member_count: row.try_get("member_count")?,
        created_at: row.try_get("created_at")?,
        urgent_every_secs: row.try_get("urgent_every_secs")?,
        urgent_for_secs: row.try_get("urgent_for_secs")?,
        retention_days: row.try_get("retention_days")?,
    })
}

/// Add one member; `false` when already a member. Unknown users are refused by name.
async fn add_member(
    conn: &mut AnyConnection,
    channel: ChannelId,
    user: UserId,
) -> Result<bool, StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(StoreError::Invalid(format!("user {user} does not exist")));
    }
    let done = sqlx::query(
        "INSERT INTO memberships (channel_id, user_id, joined_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel_id, user_id) DO NOTHING",
    )
    .bind(channel.0)
    .bind(user.0)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

impl Database {
    /// Create a channel with its creator and `members` in one transaction.
    pub async fn create_channel(
        &self,
        new: NewChannel,
        members: &[UserId],
    ) -> Result<Channel, StoreError> {
        let mut tx = self.begin_write().await?;
        let department_id = match &new.department {
            Some(path) => {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM departments WHERE path = $1")
                        .bind(path)
                        .fetch_optional(&mut *tx)
                        .await?;
                Some(found.ok_or_else(|| {
                    StoreError::Invalid(format!("department `{path}` does not exist"))
                })?)
            }
            None => None,
        };
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channels \
             (name, kind, category, department_id, created_by, created_at, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.name.trim())
        .bind(new.kind.as_str())
        .bind(new.category.as_str())
        .bind(department_id)
        .bind(new.created_by.0)
        .bind(now)
        .bind(new.open.then_some(now))
        .fetch_one(&mut *tx)
        .await?;
        let channel = ChannelId(id);
        add_member(&mut tx, channel, new.created_by).await?;
        for &user in members {
            add_member(&mut tx, channel, user).await?;
        }
        tx.commit().await?;
        self.channel(channel).await?.ok_or(StoreError::NotFound)
    }

    pub async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        let sql = format!("{CHANNEL_SELECT} WHERE c.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// Every channel, archived ones included, by name.
    pub async fn all_channels(&self) -> Result<Vec<Channel>, StoreError> {
        let sql = format!("{CHANNEL_SELECT} ORDER BY c.name, c.id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// The open channels `user` is not in (yet), by name: what "Browse channels" lists.
    pub async fn open_channels(&self, user: UserId) -> Result<Vec<Channel>, StoreError> {
        let sql = format!(
            "{CHANNEL_SELECT} WHERE c.opened_at IS NOT NULL AND c.archived_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM memberships my \
                             WHERE my.channel_id = c.id AND my.user_id = $1) \
             ORDER BY c.name, c.id"
        );
        let rows = sqlx::query(&sql).bind(user.0).fetch_all(&self.pool).await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// The channels `user` is a member of, newest first.
    pub async fn channels_of(&self, user: UserId) -> Result<Vec<Channel>, StoreError> {
        let sql = format!(
            "{CHANNEL_SELECT} JOIN memberships my ON my.channel_id = c.id AND my.user_id = $1 \
             ORDER BY c.created_at DESC, c.id DESC"
        );
        let rows = sqlx::query(&sql).bind(user.0).fetch_all(&self.pool).await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub async fn is_member(&self, channel: ChannelId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM memberships WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(channel.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Add members in one transaction; returns how many were not members before.
    pub async fn add_members(
        &self,
        channel: ChannelId,
        users: &[UserId],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for &user in users {
            added += u64::from(add_member(&mut tx, channel, user).await?);
        }
        tx.commit().await?;
        Ok(added)
    }

    pub async fn members(&self, channel: ChannelId) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.name, u.role, m.joined_at, u.avatar_key FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.channel_id = $1 ORDER BY u.name, u.id",
        )
        .bind(channel.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let user_id = UserId(r.try_get("user_id")?);
                Ok(Member {
                    user_id,
                    name: r.try_get("name")?,
                    role: parse_column("users.role", r.try_get("role")?)?,
                    joined_at: r.try_get("joined_at")?,
                    avatar: r
                        .try_get::<Option<String>, _>("avatar_key")?
                        .map(|key| crate::users::avatar_url(user_id, &key)),
                })
            })
            .collect()
    }

    /// Rename a channel and/or set its urgent-ping schedule or its retention (0 clears them),
    /// or open or close it to members who are not in it.
    pub async fn update_channel(
        &self,
        id: ChannelId,
        name: Option<&str>,
        urgent_every_secs: Option<i64>,
        urgent_for_secs: Option<i64>,
        retention_days: Option<i64>,
        open: Option<bool>,
    ) -> Result<Channel, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(open) = open {
            // Opening an open channel keeps when it was opened.
            sqlx::query(
                "UPDATE channels SET opened_at = CASE WHEN $1 = 1 \
                 THEN COALESCE(opened_at, $2) ELSE NULL END WHERE id = $3",
            )
            .bind(i64::from(open))
            .bind(now_ms())
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(name) = name {
            sqlx::query("UPDATE channels SET name = $1 WHERE id = $2")
                .bind(name.trim())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        for (column, value) in [
            ("urgent_every_secs", urgent_every_secs),
            ("urgent_for_secs", urgent_for_secs),
            ("retention_days", retention_days),
        ] {
            if let Some(amount) = value {
                let sql = format!("UPDATE channels SET {column} = $1 WHERE id = $2");
                sqlx::query(&sql)
                    .bind((amount > 0).then_some(amount))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.channel(id).await?.ok_or(StoreError::NotFound)
    }

    /// Take `user` out of the channel, ending the pings that wait for it there; `false` if it
    /// was not a member.
    pub async fn remove_member(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM memberships WHERE channel_id = $1 AND user_id = $2")
            .bind(channel.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE ping_recipients SET next_notify_at = NULL, expires_at = $3 \
             WHERE channel_id = $1 AND user_id = $2 AND acked_at IS NULL",
        )
        .bind(channel.0)
        .bind(user.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Archive a channel: it stays readable but takes no new messages or members.
    pub async fn archive_channel(&self, id: ChannelId) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE channels SET archived_at = $1 WHERE id = $2 AND archived_at IS NULL",
        )
        .bind(now_ms())
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 && self.channel(id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
