//! What storage keeps of presence: when each user was last connected.

use crate::{error::StoreError, Database};
use parley_proto::UserId;
use sqlx::Row;
use std::collections::HashMap;

impl Database {
    pub async fn set_last_seen(&self, user: UserId, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Last-seen times of those of `users` that exist.
    pub async fn last_seen(
        &self,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Option<i64>>, StoreError> {
        let mut out = HashMap::with_capacity(users.len());
        for &user in users {
            let row = sqlx::query("SELECT last_seen_at FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                out.insert(user, row.try_get("last_seen_at")?);
            }
        }
        Ok(out)
    }

    /// Everyone who shares a channel with `user`.
    pub async fn co_members(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT m2.user_id FROM memberships m1 \
             JOIN memberships m2 ON m2.channel_id = m1.channel_id WHERE m1.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }
}
