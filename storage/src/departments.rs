//! The department tree. A department is known by its full path (`HQ/R&D/Platform`), which is
//! unique, so an import can name departments and re-running it finds the same rows.

use crate::{error::StoreError, now_ms, Database};
use parley_proto::{Department, DepartmentId};
use sqlx::{AnyConnection, Row};

/// Split a path into its trimmed parts, refusing empty parts (`HQ//Sales`).
pub fn parse_path(path: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = path.split('/').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("department path `{path}` has an empty part"));
    }
    if parts.iter().any(|p| p.chars().count() > 100) {
        return Err(format!(
            "department path `{path}` has a part longer than 100 characters"
        ));
    }
    if path.chars().any(char::is_control) {
        return Err(format!(
            "department path {path:?} has a control character (such as NUL or a line break)"
        ));
    }
    Ok(parts)
}

/// Find or create every department along `path`. Returns the last one's id and how many were
/// created.
pub(crate) async fn ensure_path(
    conn: &mut AnyConnection,
    path: &str,
) -> Result<(DepartmentId, u64), StoreError> {
    let parts = parse_path(path).map_err(StoreError::Invalid)?;
    let mut parent: Option<i64> = None;
    let mut created = 0;
    let mut full = String::new();
    for part in parts {
        if !full.is_empty() {
            full.push('/');
        }
        full.push_str(part);
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM departments WHERE path = $1")
                .bind(&full)
                .fetch_optional(&mut *conn)
                .await?;
        let id = match existing {
            Some(id) => id,
            None => {
                created += 1;
                sqlx::query_scalar(
                    "INSERT INTO departments (name, parent_id, path, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(part)
                .bind(parent)
                .bind(&full)
                .bind(now_ms())
                .fetch_one(&mut *conn)
                .await?
            }
        };
        parent = Some(id);
    }
    let id = parent.ok_or_else(|| StoreError::Invalid("empty department path".into()))?;
    Ok((DepartmentId(id), created))
}

fn department_from_row(row: &sqlx::any::AnyRow) -> Result<Department, StoreError> {
    Ok(Department {
        id: DepartmentId(row.try_get("id")?),
        name: row.try_get("name")?,
        parent_id: row
            .try_get::<Option<i64>, _>("parent_id")?
            .map(DepartmentId),
        path: row.try_get("path")?,
    })
}

/// Is `path` the department `root` itself or somewhere below it?
pub fn path_within(path: &str, root: &str) -> bool {
    path == root || (path.starts_with(root) && path[root.len()..].starts_with('/'))
}

impl Database {
    pub async fn list_departments(&self) -> Result<Vec<Department>, StoreError> {
        let rows = sqlx::query("SELECT id, name, parent_id, path FROM departments ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(department_from_row).collect()
    }

    pub async fn department_by_id(
        &self,
        id: DepartmentId,
    ) -> Result<Option<Department>, StoreError> {
        let row = sqlx::query("SELECT id, name, parent_id, path FROM departments WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(department_from_row).transpose()
    }

    /// Create the department at `path` and any missing parents, in one transaction.
    pub async fn ensure_department(&self, path: &str) -> Result<Department, StoreError> {
        let mut tx = self.begin_write().await?;
        let (id, _) = ensure_path(&mut tx, path).await?;
        tx.commit().await?;
        self.department_by_id(id).await?.ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_path, path_within};

    #[test]
    fn paths_within_a_root() {
        for (path, root, expected) in [
            ("HQ/R&D", "HQ", true),
            ("HQ", "HQ", true),
            ("HQX/R&D", "HQ", false),
            ("Sales", "HQ", false),
            ("HQ", "HQ/R&D", false),
        ] {
            assert_eq!(path_within(path, root), expected, "{path} within {root}");
        }
    }

    #[test]
    fn empty_path_parts_are_refused() {
        assert!(parse_path("HQ//Sales").is_err());
        assert!(parse_path("").is_err());
        assert_eq!(parse_path(" HQ / 研发部 ").unwrap(), vec!["HQ", "研发部"]);
    }
}
