//! Organisation import: departments and users from a validated list of rows, applied in one
//! transaction. Matching is by email, so re-importing a file changes nothing.

use crate::error::parse_column;
use crate::users::{ensure_an_admin, normalize_email};
use crate::{departments::ensure_path, error::StoreError, now_ms, Database};
use parley_proto::{ImportReport, Role, UserId};
use sqlx::Row;

/// One validated line of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub name: String,
    pub email: String,
    pub department: Option<String>,
    pub role: Role,
}

/// What an import did: the counts, and the existing users whose role or department it changed
/// (their open connections must follow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub report: ImportReport,
    pub changed: Vec<UserId>,
}

impl Database {
    /// Apply every row or none. Refused with `Conflict` if it would leave no enabled admin,
    /// as changing one user would be.
    pub async fn import_org(&self, rows: &[ImportRow]) -> Result<ImportOutcome, StoreError> {
        let mut report = ImportReport::default();
        let mut changed = Vec::new();
        let mut tx = self.begin_write().await?;
        self.lock_admins(&mut tx).await?;
        for row in rows {
            let department_id = match &row.department {
                Some(path) => {
                    let (id, created) = ensure_path(&mut tx, path).await?;
                    report.departments_created += created;
                    Some(id.0)
                }
                None => None,
            };
            let email = normalize_email(&row.email);
            let existing =
                sqlx::query("SELECT id, name, role, department_id FROM users WHERE email = $1")
                    .bind(&email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let now = now_ms();
            match existing {
                None => {
                    sqlx::query(
                        "INSERT INTO users (email, name, role, department_id, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&email)
                    .bind(&row.name)
                    .bind(row.role.as_str())
                    .bind(department_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    report.users_created += 1;
                }
                Some(existing) => {
                    let id: i64 = existing.try_get("id")?;
                    let name: String = existing.try_get("name")?;
                    let role: Role = parse_column("users.role", existing.try_get("role")?)?;
                    let dept: Option<i64> = existing.try_get("department_id")?;
                    if name == row.name && role == row.role && dept == department_id {
                        report.users_unchanged += 1;
                        continue;
                    }
                    sqlx::query(
                        "UPDATE users SET name = $1, role = $2, department_id = $3, updated_at = $4 WHERE id = $5",
                    )
                    .bind(&row.name)
                    .bind(row.role.as_str())
                    .bind(department_id)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    report.users_updated += 1;
                    if role != row.role || dept != department_id {
                        changed.push(UserId(id));
                    }
                }
            }
        }
        // Dropping the transaction on the error rolls the whole import back.
        ensure_an_admin(
            &mut tx,
            "this import would leave no enabled admin; keep one admin in the file or make another admin first",
        )
        .await?;
        tx.commit().await?;
        Ok(ImportOutcome { report, changed })
    }
}
