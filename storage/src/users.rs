use crate::error::{parse_column, StoreError};
use crate::{departments::ensure_path, now_ms, Database};
use parley_proto::{DepartmentId, Role, User, UserId};
use sqlx::{AnyConnection, Row};

/// A user row with what only the server may see.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    /// Stored lower-cased; emails are compared without case.
    pub email: String,
    pub name: String,
    pub role: Role,
    pub department: Option<String>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub department: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    /// `Some("")` clears it.
    pub title: Option<String>,
    /// `Some("")` clears it.
    pub time_zone: Option<String>,
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.name, u.role, u.department_id, \
     d.path AS department_path, u.disabled_at, u.created_at, u.password_hash, \
     u.title, u.time_zone, u.avatar_key";
pub(crate) const USER_FROM: &str = "users u LEFT JOIN departments d ON d.id = u.department_id";

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<UserRecord, StoreError> {
    let id = UserId(row.try_get("id")?);
    Ok(UserRecord {
        user: User {
            id,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: parse_column("users.role", row.try_get("role")?)?,
            department_id: row
                .try_get::<Option<i64>, _>("department_id")?
                .map(DepartmentId),
            department_path: row.try_get("department_path")?,
            disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            created_at: row.try_get("created_at")?,
            title: row.try_get("title")?,
            time_zone: row.try_get("time_zone")?,
            avatar: row
                .try_get::<Option<String>, _>("avatar_key")?
                .map(|key| avatar_url(id, &key)),
        },
        password_hash: row.try_get("password_hash")?,
    })
}

/// Where an avatar is read: `/v1/users/{id}/avatar?v=…`, the version being the last part of its
/// key, so that a new image has a new URL and an old one may be cached for good.
pub fn avatar_url(user: UserId, key: &str) -> String {
    let version = key.rsplit('/').next().unwrap_or(key);
    let version = version.strip_suffix(".jpg").unwrap_or(version);
    format!("/v1/users/{id}/avatar?v={version}", id = user.0)
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Database {
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Create a user (and its department path, if new) in one transaction.
    pub async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let email = normalize_email(&new.email);
        let mut tx = self.begin_write().await?;
        let department_id = match &new.department {
            Some(path) => Some(ensure_path(&mut tx, path).await?.0 .0),
            None => None,
        };
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, role, department_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&email)
        .bind(new.name.trim())
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(department_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as(format!("email {email} is already in use")))?;
        tx.commit().await?;
        Ok(self
            .user(UserId(id))
            .await?
            .ok_or(StoreError::NotFound)?
            .user)
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.email = $1");
        let row = sqlx::query(&sql)
            .bind(normalize_email(email))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The directory, ordered by name. `within` limits it to a department subtree.
    pub async fn list_users(&self, within: Option<&str>) -> Result<Vec<User>, StoreError> {
        let rows = match within {
            None => {
                let sql = format!("SELECT {USER_COLUMNS} FROM {USER_FROM} ORDER BY u.name, u.id");
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
            Some(root) => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM {USER_FROM} \
                     WHERE d.path = $1 OR substr(d.path, 1, length($1) + 1) = $1 || '/' \
                     ORDER BY u.name, u.id"
                );
                sqlx::query(&sql).bind(root).fetch_all(&self.pool).await?
            }
        };
        rows.iter()
            .map(|r| user_from_row(r).map(|u| u.user))
            .collect()
    }

    /// On PostgreSQL, hold the enabled admins' rows until the transaction ends, so two changes
    /// that each demote or disable an admin cannot both see the other's admin as the one left.
    /// (SQLite's write lock already serialises them.)
    pub(crate) async fn lock_admins(&self, tx: &mut AnyConnection) -> Result<(), StoreError> {
        if self.backend() == crate::Backend::Postgres {
            sqlx::query(
                "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE",
            )
            .fetch_all(&mut *tx)
            .await?;
        }
        Ok(())
    }

    /// Apply the given changes in one transaction and return the user as it now is.
    pub async fn update_user(&self, id: UserId, changes: UserChanges) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        if changes.role.is_some() || changes.disabled.is_some() {
            self.lock_admins(&mut tx).await?;
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let now = now_ms();
        if let Some(name) = &changes.name {
            sqlx::query("UPDATE users SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name.trim())
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        for (column, value) in [("title", &changes.title), ("time_zone", &changes.time_zone)] {
            if let Some(value) = value {
                let value = value.trim();
                let sql = format!("UPDATE users SET {column} = $1, updated_at = $2 WHERE id = $3");
                sqlx::query(&sql)
                    .bind((!value.is_empty()).then_some(value))
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(role) = changes.role {
            sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(path) = &changes.department {
            let (dept, _) = ensure_path(&mut tx, path).await?;
            sqlx::query("UPDATE users SET department_id = $1, updated_at = $2 WHERE id = $3")
                .bind(dept.0)
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(hash) = &changes.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            // A new password ends every session, on every device.
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(disabled) = changes.disabled {
            let at = disabled.then_some(now);
            sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
                .bind(at)
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            if disabled {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            }
        }
        if changes.role.is_some() || changes.disabled == Some(true) {
            // Dropping the transaction on the error rolls the change back.
            ensure_an_admin(
                &mut tx,
                "this would leave no enabled admin; make another admin first",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(self.user(id).await?.ok_or(StoreError::NotFound)?.user)
    }

    /// Point the user's avatar at `key` (an object already stored), or at none; returns the
    /// user and the key it replaced, which the caller deletes from the object store.
    pub async fn set_avatar(
        &self,
        id: UserId,
        key: Option<&str>,
    ) -> Result<(User, Option<String>), StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Option<Option<String>> =
            sqlx::query_scalar("SELECT avatar_key FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(before) = before else {
            return Err(StoreError::NotFound);
        };
        sqlx::query("UPDATE users SET avatar_key = $1, updated_at = $2 WHERE id = $3")
            .bind(key)
            .bind(now_ms())
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let user = self.user(id).await?.ok_or(StoreError::NotFound)?.user;
        Ok((user, before))
    }

    /// The object-store key of the user's avatar, if they have one.
    pub async fn avatar_key(&self, id: UserId) -> Result<Option<String>, StoreError> {
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT avatar_key FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        key.ok_or(StoreError::NotFound)
    }

    /// Do two users share a channel? (What a guest may see of another user.)
    pub async fn share_a_channel(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT m1.channel_id FROM memberships m1 \
             JOIN memberships m2 ON m2.channel_id = m1.channel_id \
             WHERE m1.user_id = $1 AND m2.user_id = $2 LIMIT 1",
        )
        .bind(a.0)
        .bind(b.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}

/// `Conflict(why)` unless an enabled admin remains (inside the transaction that would remove
/// the last, which is then dropped and so rolled back).
pub(crate) async fn ensure_an_admin(tx: &mut AnyConnection, why: &str) -> Result<(), StoreError> {
    let admins: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL",
    )
    .fetch_one(&mut *tx)
    .await?;
    if admins == 0 {
        return Err(StoreError::Conflict(why.into()));
    }
    Ok(())
}
