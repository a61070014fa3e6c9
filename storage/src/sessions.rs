//! Sign-in sessions (one per refresh token chain) and API keys.

use crate::{error::StoreError, now_ms, Database};
use parley_proto::{ApiKey, UserId};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
}

impl Database {
    pub async fn create_session(
        &self,
        id: &str,
        user: UserId,
        refresh_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(user.0)
        .bind(refresh_hash)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Is the session neither revoked nor expired?
    pub async fn session_is_active(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Swap a refresh token for a new one in one statement, so a token can be used only once
    /// even when two refreshes race. `None` when the old token is unknown, used, revoked or
    /// expired.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions SET refresh_hash = $1, expires_at = $2 \
             WHERE refresh_hash = $3 AND revoked_at IS NULL AND expires_at > $4 \
             RETURNING id, user_id",
        )
        .bind(new_hash)
        .bind(new_expires_at)
        .bind(old_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                id: r.try_get("id")?,
                user_id: UserId(r.try_get("user_id")?),
            })
        })
        .transpose()
    }

    /// End a session; its access tokens stop working at once. Returns whether it was active.
    pub async fn revoke_session(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_api_key(
        &self,
        key: &str,
        secret: &str,
        name: &str,
        created_by: Option<UserId>,
    ) -> Result<ApiKey, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO api_keys (key, secret, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key)
        .bind(secret)
        .bind(name.trim())
        .bind(created_by.map(|u| u.0))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(ApiKey {
            key: key.to_string(),
            secret: Some(secret.to_string()),
            name: name.trim().to_string(),
            created_at: now,
            revoked: false,
        })
    }

    /// The secret of an API key that has not been revoked.
    pub async fn api_key_secret(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT secret FROM api_keys WHERE key = $1 AND revoked_at IS NULL")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every API key, newest first, without secrets.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, name, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKey {
                    key: r.try_get("key")?,
                    secret: None,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Revoke a key: tokens signed with it stop validating at once.
    pub async fn revoke_api_key(&self, key: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE key = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(key)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
