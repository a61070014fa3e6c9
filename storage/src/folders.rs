//! The file library's folders: trees rooted per person, per department and per channel, their
//! grants, watchers, and the access audit.

use crate::files::{file_from_row, FILE_COLUMNS, FILE_FROM};
use crate::{error::StoreError, now_ms, Database};
use parley_proto::{
    AccessLevel, ChannelId, DepartmentId, File, FileAuditEntry, FileId, Folder, FolderGrant,
    FolderId, FolderRoot, GrantSubject, Role, UserId,
};
use sqlx::{AnyConnection, Row};

/// Folders nest at most this deep, so a walk to the root always ends.
pub const MAX_DEPTH: usize = 32;

const FOLDER_COLUMNS: &str = "id, parent_id, name, root_kind, user_id, department_id, channel_id, \
     inherit, created_at, archived_at";

fn folder_from_row(row: &sqlx::any::AnyRow) -> Result<Folder, StoreError> {
    let kind: Option<String> = row.try_get("root_kind")?;
    let root = match kind.as_deref() {
        None => None,
        Some("user") => Some(FolderRoot::User {
            user_id: UserId(row.try_get("user_id")?),
        }),
        Some("department") => Some(FolderRoot::Department {
            department_id: DepartmentId(row.try_get("department_id")?),
        }),
        Some("channel") => Some(FolderRoot::Channel {
            channel_id: ChannelId(row.try_get("channel_id")?),
        }),
        Some(other) => {
            return Err(StoreError::Corrupt {
                column: "folders.root_kind",
                value: other.to_string(),
            })
        }
    };
    Ok(Folder {
        id: FolderId(row.try_get("id")?),
        parent: row.try_get::<Option<i64>, _>("parent_id")?.map(FolderId),
        name: row.try_get("name")?,
        root,
        inherit: row.try_get::<i64, _>("inherit")? != 0,
        archived_at: row.try_get("archived_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub fn level_text(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::None => "none",
        AccessLevel::View => "view",
        AccessLevel::Edit => "edit",
        AccessLevel::Manage => "manage",
    }
}

fn parse_level(text: String) -> Result<AccessLevel, StoreError> {
    Ok(match text.as_str() {
        "none" => AccessLevel::None,
        "view" => AccessLevel::View,
        "edit" => AccessLevel::Edit,
        "manage" => AccessLevel::Manage,
        _ => {
            return Err(StoreError::Corrupt {
                column: "folder_grants.level",
                value: text,
            })
        }
    })
}

fn subject_columns(subject: &GrantSubject) -> (&'static str, String) {
    match subject {
        GrantSubject::User { user_id } => ("user", user_id.0.to_string()),
        GrantSubject::Department { department_id } => ("department", department_id.0.to_string()),
        GrantSubject::Channel { channel_id } => ("channel", channel_id.0.to_string()),
        GrantSubject::Role { role } => ("role", role.as_str().to_string()),
    }
}

fn grant_from_row(row: &sqlx::any::AnyRow) -> Result<FolderGrant, StoreError> {
    let kind: String = row.try_get("subject_kind")?;
    let subject: String = row.try_get("subject")?;
    let corrupt = || StoreError::Corrupt {
        column: "folder_grants.subject",
        value: format!("{kind}:{subject}"),
    };
    let id = || subject.parse::<i64>().map_err(|_| corrupt());
    let subject = match kind.as_str() {
        "user" => GrantSubject::User {
            user_id: UserId(id()?),
        },
        "department" => GrantSubject::Department {
            department_id: DepartmentId(id()?),
        },
        "channel" => GrantSubject::Channel {
            channel_id: ChannelId(id()?),
        },
        "role" => GrantSubject::Role {
            role: subject.parse::<Role>().map_err(|_| corrupt())?,
        },
        _ => return Err(corrupt()),
    };
    Ok(FolderGrant {
        subject,
        level: parse_level(row.try_get("level")?)?,
    })
}

/// Every folder that is not deleted.
pub(crate) async fn live_folders(conn: &mut AnyConnection) -> Result<Vec<Folder>, StoreError> {
    sqlx::query(&format!(
        "SELECT {FOLDER_COLUMNS} FROM folders WHERE deleted_at IS NULL"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(folder_from_row)
    .collect()
}

/// Every folder's grants, by folder id.
pub(crate) async fn all_grants(
    conn: &mut AnyConnection,
) -> Result<std::collections::HashMap<i64, Vec<FolderGrant>>, StoreError> {
    let rows = sqlx::query(
        "SELECT folder_id, subject_kind, subject, level FROM folder_grants \
         ORDER BY folder_id, subject_kind, subject",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut grants: std::collections::HashMap<i64, Vec<FolderGrant>> = Default::default();
    for row in &rows {
        grants
            .entry(row.try_get("folder_id")?)
            .or_default()
            .push(grant_from_row(row)?);
    }
    Ok(grants)
}

/// A folder on the way to its root, with its own grants.
#[derive(Debug, Clone)]
pub struct ChainLink {
    pub folder: Folder,
    pub grants: Vec<FolderGrant>,
}

/// Who an audit line is about.
#[derive(Debug, Clone, Copy)]
pub struct AuditTarget {
    pub file: Option<FileId>,
    pub folder: Option<FolderId>,
}

impl Database {
    pub async fn folder(&self, id: FolderId) -> Result<Option<Folder>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(folder_from_row).transpose()
    }

    /// The folder and those above it, up to its root (the folder first), with their grants.
    pub async fn folder_chain(&self, id: FolderId) -> Result<Vec<ChainLink>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut chain = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next {
            if chain.len() >= MAX_DEPTH {
                return Err(StoreError::Invalid("folders nest too deep".into()));
            }
            let row = sqlx::query(&format!(
                "SELECT {FOLDER_COLUMNS} FROM folders WHERE id = $1 AND deleted_at IS NULL"
            ))
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
            let folder = folder_from_row(&row)?;
            let grants = sqlx::query(
                "SELECT subject_kind, subject, level FROM folder_grants WHERE folder_id = $1 \
                 ORDER BY subject_kind, subject",
            )
            .bind(id.0)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(grant_from_row)
            .collect::<Result<Vec<_>, _>>()?;
            next = folder.parent;
            chain.push(ChainLink { folder, grants });
        }
        Ok(chain)
    }

    /// The root of a person's, a department's or a channel's tree, made on first use.
    pub async fn root_folder(&self, root: FolderRoot, name: &str) -> Result<Folder, StoreError> {
        let (kind, column, id) = match root {
            FolderRoot::User { user_id } => ("user", "user_id", user_id.0),
            FolderRoot::Department { department_id } => {
                ("department", "department_id", department_id.0)
            }
            FolderRoot::Channel { channel_id } => ("channel", "channel_id", channel_id.0),
        };
        sqlx::query(&format!(
            "INSERT INTO folders (name, root_kind, {column}, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT ({column}) WHERE root_kind = '{kind}' DO NOTHING"
        ))
        .bind(name)
        .bind(kind)
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE root_kind = $1 AND {column} = $2"
        ))
        .bind(kind)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        folder_from_row(&row)
    }

    /// Department and channel roots that exist, for listing what a person may open.
    pub async fn shared_roots(&self) -> Result<Vec<Folder>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE root_kind IN ('department', 'channel') \
             ORDER BY root_kind, name, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(folder_from_row).collect()
    }

    /// Folders below a root with a grant naming this user or one of these channels.
    pub async fn folders_shared_with(
        &self,
        user: UserId,
        channels: &[ChannelId],
    ) -> Result<Vec<Folder>, StoreError> {
        let mut found = Vec::new();
        let mut subjects = vec![("user", user.0.to_string())];
        subjects.extend(channels.iter().map(|c| ("channel", c.0.to_string())));
        for (kind, subject) in subjects {
            let rows = sqlx::query(&format!(
                "SELECT {FOLDER_COLUMNS} FROM folders WHERE deleted_at IS NULL AND parent_id IS NOT NULL \
                 AND id IN (SELECT folder_id FROM folder_grants WHERE subject_kind = $1 AND subject = $2 \
                 AND level <> 'none') ORDER BY name, id"
            ))
            .bind(kind)
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let folder = folder_from_row(row)?;
                if !found.iter().any(|f: &Folder| f.id == folder.id) {
                    found.push(folder);
                }
            }
        }
        Ok(found)
    }

    pub async fn create_folder(
        &self,
        parent: FolderId,
        name: &str,
        by: UserId,
    ) -> Result<Folder, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO folders (parent_id, name, created_by, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(parent.0)
        .bind(name)
        .bind(by.0)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("a folder of that name is there already"))?;
        self.folder(FolderId(id)).await?.ok_or(StoreError::NotFound)
    }

    pub async fn update_folder(
        &self,
        id: FolderId,
        name: Option<&str>,
        archived: Option<bool>,
    ) -> Result<Folder, StoreError> {
        if let Some(name) = name {
            sqlx::query("UPDATE folders SET name = $2 WHERE id = $1")
                .bind(id.0)
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    StoreError::from(e).conflict_as("a folder of that name is there already")
                })?;
        }
        if let Some(archived) = archived {
            sqlx::query("UPDATE folders SET archived_at = $2 WHERE id = $1")
                .bind(id.0)
                .bind(archived.then(now_ms))
                .execute(&self.pool)
                .await?;
        }
        self.folder(id).await?.ok_or(StoreError::NotFound)
    }

    /// What is directly inside a folder: its folders and its files (not in the trash), by name.
    pub async fn folder_contents(
        &self,
        id: FolderId,
    ) -> Result<(Vec<Folder>, Vec<File>), StoreError> {
        let folders = sqlx::query(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE parent_id = $1 AND deleted_at IS NULL ORDER BY name, id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(folder_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let files = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM {FILE_FROM} WHERE f.folder_id = $1 AND f.deleted_at IS NULL \
             ORDER BY f.name, f.id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(file_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        Ok((folders, files))
    }

    /// Replace a folder's grants, all at once.
    pub async fn set_grants(
        &self,
        id: FolderId,
        inherit: bool,
        grants: &[FolderGrant],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE folders SET inherit = $2 WHERE id = $1")
            .bind(id.0)
            .bind(i64::from(inherit))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM folder_grants WHERE folder_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        for grant in grants {
            let (kind, subject) = subject_columns(&grant.subject);
            sqlx::query(
                "INSERT INTO folder_grants (folder_id, subject_kind, subject, level) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (folder_id, subject_kind, subject) DO UPDATE SET level = excluded.level",
            )
            .bind(id.0)
            .bind(kind)
            .bind(subject)
            .bind(level_text(grant.level))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_watching(
        &self,
        folder: FolderId,
        user: UserId,
        watching: bool,
    ) -> Result<(), StoreError> {
        let sql = if watching {
            "INSERT INTO folder_watchers (folder_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM folder_watchers WHERE folder_id = $1 AND user_id = $2"
        };
        sqlx::query(sql)
            .bind(folder.0)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who watches any of these folders (a folder and those above it).
    pub async fn watchers(&self, folders: &[FolderId]) -> Result<Vec<UserId>, StoreError> {
        let mut users = Vec::new();
        for folder in folders {
            let found: Vec<i64> =
                sqlx::query_scalar("SELECT user_id FROM folder_watchers WHERE folder_id = $1")
                    .bind(folder.0)
                    .fetch_all(&self.pool)
                    .await?;
            users.extend(found.into_iter().map(UserId));
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    pub async fn audit(
        &self,
        actor: UserId,
        action: &str,
        target: AuditTarget,
        detail: &str,
    ) -> Result<(), StoreError> {
        audit_in(
            &mut *self.pool.acquire().await?,
            actor,
            action,
            target,
            detail,
        )
        .await
    }

    /// The access audit, newest first (before `before`, at most `limit`).
    pub async fn audit_log(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<FileAuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, file_id, folder_id, detail FROM file_audit \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FileAuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                    action: r.try_get("action")?,
                    file: r.try_get::<Option<i64>, _>("file_id")?.map(FileId),
                    folder: r.try_get::<Option<i64>, _>("folder_id")?.map(FolderId),
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Take, renew or (with `until` `None`) release a file's edit lock. `false` when someone
    /// else holds it.
    pub async fn lock_file(
        &self,
        id: FileId,
        by: UserId,
        until: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE files SET locked_by = $2, locked_until = $3 WHERE id = $1 \
             AND (locked_by IS NULL OR locked_by = $4 OR locked_until < $5)",
        )
        .bind(id.0)
        .bind(until.map(|_| by.0))
        .bind(until)
        .bind(by.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lift anyone's lock (the folder's managers).
    pub async fn break_lock(&self, id: FileId) -> Result<(), StoreError> {
        sqlx::query("UPDATE files SET locked_by = NULL, locked_until = NULL WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Rename a file; a conflict when its folder has a file of that name.
    pub async fn rename_file(&self, id: FileId, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE files SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("the folder has a file of that name"))?;
        Ok(())
    }

    /// The files of a folder in the trash, most recently deleted first.
    pub async fn folder_trash(&self, id: FolderId) -> Result<Vec<File>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM {FILE_FROM} WHERE f.folder_id = $1 AND f.deleted_at IS NOT NULL \
             ORDER BY f.deleted_at DESC, f.id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(file_from_row).collect()
    }

    /// The file of this name in a folder, if any (not in the trash).
    pub async fn file_named(
        &self,
        folder: FolderId,
        name: &str,
    ) -> Result<Option<File>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM {FILE_FROM} WHERE f.folder_id = $1 AND f.name = $2 AND f.deleted_at IS NULL"
        ))
        .bind(folder.0)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(file_from_row).transpose()
    }
}

pub(crate) async fn audit_in(
    conn: &mut AnyConnection,
    actor: UserId,
    action: &str,
    target: AuditTarget,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO file_audit (at, actor_id, action, file_id, folder_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(actor.0)
    .bind(action)
    .bind(target.file.map(|f| f.0))
    .bind(target.folder.map(|f| f.0))
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
