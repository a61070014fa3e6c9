//! The knowledge base: spaces, their members, articles with their versions, review decisions,
//! comments, reads and votes. Who may do what is decided in `signaling::policy::space`; this
//! module stores and reads.

use crate::{error::StoreError, Database};
use parley_proto::{
    ArticleComment, ArticleCommentId, ArticleId, ArticleReview, ArticleStatus, ArticleSummary,
    ArticleVersion, ChannelId, DepartmentId, FileId, MeetingId, RecordingId, SpaceId, SpaceMember,
    SpaceRole, SpaceSubject, TopArticle, UserId,
};
use sqlx::Row;
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;

/// A space as stored; what the caller may do there is added by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceRow {
    pub id: SpaceId,
    pub name: String,
    pub description: String,
    pub department: Option<DepartmentId>,
    pub stale_days: i64,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

/// A new space.
#[derive(Debug, Clone, Copy)]
pub struct NewSpaceRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub department: Option<DepartmentId>,
    pub stale_days: i64,
    /// Its creator, named its knowledge admin.
    pub by: UserId,
    /// Drafts (title, body) by the creator it starts with.
    pub drafts: &'a [(String, String)],
    pub now: i64,
}

/// What `PATCH /v1/spaces/{id}` changes.
#[derive(Debug, Clone, Default)]
pub struct SpaceChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub stale_days: Option<i64>,
    pub archived: Option<bool>,
}

/// An article's own facts (not its versions').
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRow {
    pub id: ArticleId,
    pub space: SpaceId,
    pub author: UserId,
    pub status: ArticleStatus,
    pub version: i64,
    pub published_version: Option<i64>,
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub review: Option<ArticleReview>,
    pub meeting: Option<MeetingId>,
    pub recording: Option<RecordingId>,
    pub reads: i64,
    pub helpful: i64,
    pub unhelpful: i64,
}

/// One version's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleContent {
    pub title: String,
    pub scope: String,
    pub tags: Vec<String>,
    pub body: String,
    pub attachments: Vec<FileId>,
    pub editor: UserId,
    pub note: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
}

/// A new article's first version.
#[derive(Debug, Clone)]
pub struct NewArticleRow<'a> {
    pub space: SpaceId,
    pub author: UserId,
    pub title: &'a str,
    pub scope: &'a str,
    pub tags: &'a [String],
    pub body: &'a str,
    pub attachments: &'a [FileId],
    pub meeting: Option<MeetingId>,
    pub recording: Option<RecordingId>,
    pub now: i64,
}

/// A new version: what is `None` is kept from the latest one.
#[derive(Debug, Clone, Default)]
pub struct ArticleEdit<'a> {
    pub title: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub tags: Option<&'a [String]>,
    pub body: Option<&'a str>,
    pub attachments: Option<&'a [FileId]>,
    pub note: &'a str,
    /// The version the edit was made from: refused if the article moved on.
    pub base_version: Option<i64>,
    /// A knowledge admin's edit keeps the article's status (a published article's next version
    /// is a draft all the same); anyone else's makes it a draft.
    pub by_admin: bool,
}

/// Which version of each article a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Published,
    Latest,
}

#[derive(Debug, Clone)]
pub struct ArticleFilter {
    pub space: SpaceId,
    pub shown: Shown,
    /// Only these statuses (empty: any).
    pub statuses: Vec<ArticleStatus>,
    pub author: Option<UserId>,
    pub tag: Option<String>,
    pub before: Option<ArticleId>,
    pub limit: i64,
}

/// A published article past its space's `stale_days`, whose author was not told yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleArticle {
    pub id: ArticleId,
    pub space: SpaceId,
    pub author: UserId,
    pub title: String,
}

/// A published article as the search index needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchArticle {
    pub id: i64,
    pub space: i64,
    pub author: i64,
    pub title: String,
    /// Scope, tags and body, one after another.
    pub text: String,
    pub published_at: i64,
}

fn space_from_row(row: &sqlx::any::AnyRow) -> Result<SpaceRow, StoreError> {
    Ok(SpaceRow {
        id: SpaceId(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        department: row
            .try_get::<Option<i64>, _>("department_id")?
            .map(DepartmentId),
        stale_days: row.try_get("stale_days")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
        archived_at: row.try_get("archived_at")?,
    })
}

fn status_from(text: String) -> Result<ArticleStatus, StoreError> {
    ArticleStatus::parse(&text).ok_or(StoreError::Corrupt {
        column: "kb_articles.status",
        value: text,
    })
}

fn tags_from(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt {
        column: "kb_versions.tags",
        value: text.to_string(),
    })
}

fn tags_text(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn files_from(text: &str) -> Result<Vec<FileId>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt {
        column: "kb_versions.attachments",
        value: text.to_string(),
    })
}

fn files_text(files: &[FileId]) -> String {
    serde_json::to_string(files).unwrap_or_else(|_| "[]".into())
}

fn role_text(role: SpaceRole) -> &'static str {
    match role {
        SpaceRole::Admin => "admin",
        SpaceRole::Writer => "writer",
        SpaceRole::Reader => "reader",
    }
}

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<(SpaceId, SpaceMember), StoreError> {
    let kind: String = row.try_get("subject_kind")?;
    let id: i64 = row.try_get("subject_id")?;
    let role: String = row.try_get("role")?;
    let subject = match kind.as_str() {
        "user" => SpaceSubject::User {
            user_id: UserId(id),
        },
        "channel" => SpaceSubject::Channel {
            channel_id: ChannelId(id),
        },
        _ => {
            return Err(StoreError::Corrupt {
                column: "kb_space_members.subject_kind",
                value: kind,
            })
        }
    };
    let role = match role.as_str() {
        "admin" => SpaceRole::Admin,
        "writer" => SpaceRole::Writer,
        "reader" => SpaceRole::Reader,
        _ => {
            return Err(StoreError::Corrupt {
                column: "kb_space_members.role",
                value: role,
            })
        }
    };
    Ok((
        SpaceId(row.try_get("space_id")?),
        SpaceMember { subject, role },
    ))
}

/// The columns of an article and its counts, `a` being `kb_articles`.
const ARTICLE_COLUMNS: &str = "a.id, a.space_id, a.author_id, a.status, a.version, \
     a.published_version, a.created_at, a.published_at, a.review_outcome, a.review_by, \
     a.review_at, a.review_comment, a.meeting_id, a.recording_id, \
     (SELECT COUNT(*) FROM kb_reads r WHERE r.article_id = a.id) AS reads, \
     (SELECT COUNT(*) FROM kb_votes v WHERE v.article_id = a.id AND v.helpful = 1) AS helpful, \
     (SELECT COUNT(*) FROM kb_votes v WHERE v.article_id = a.id AND v.helpful = 0) AS unhelpful";

fn article_from_row(row: &sqlx::any::AnyRow) -> Result<ArticleRow, StoreError> {
    let outcome: Option<String> = row.try_get("review_outcome")?;
    let review = match outcome {
        Some(outcome) => Some(ArticleReview {
            outcome: status_from(outcome)?,
            by: UserId(row.try_get::<Option<i64>, _>("review_by")?.unwrap_or(0)),
            at: row.try_get::<Option<i64>, _>("review_at")?.unwrap_or(0),
            comment: row
                .try_get::<Option<String>, _>("review_comment")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(ArticleRow {
        id: ArticleId(row.try_get("id")?),
        space: SpaceId(row.try_get("space_id")?),
        author: UserId(row.try_get("author_id")?),
        status: status_from(row.try_get("status")?)?,
        version: row.try_get("version")?,
        published_version: row.try_get("published_version")?,
        created_at: row.try_get("created_at")?,
        published_at: row.try_get("published_at")?,
        review,
        meeting: row.try_get::<Option<i64>, _>("meeting_id")?.map(MeetingId),
        recording: row
            .try_get::<Option<i64>, _>("recording_id")?
            .map(RecordingId),
        reads: row.try_get("reads")?,
        helpful: row.try_get("helpful")?,
        unhelpful: row.try_get("unhelpful")?,
    })
}

fn content_from_row(row: &sqlx::any::AnyRow) -> Result<ArticleContent, StoreError> {
    Ok(ArticleContent {
        title: row.try_get("title")?,
        scope: row.try_get("scope")?,
        tags: tags_from(&row.try_get::<String, _>("tags")?)?,
        body: row.try_get("body")?,
        attachments: files_from(&row.try_get::<String, _>("attachments")?)?,
        editor: UserId(row.try_get("editor_id")?),
        note: row.try_get("note")?,
        created_at: row.try_get("created_at")?,
        published_at: row.try_get("published_at")?,
    })
}

impl ArticleRow {
    /// The summary of this article showing `content` (the version `shown`); `stale_days` is
    /// its space's.
    pub fn summary(&self, content: &ArticleContent, stale_days: i64, now: i64) -> ArticleSummary {
        ArticleSummary {
            id: self.id,
            space_id: self.space,
            title: content.title.clone(),
            scope: content.scope.clone(),
            tags: content.tags.clone(),
            status: self.status,
            author: self.author,
            version: self.version,
            published_version: self.published_version,
            created_at: self.created_at,
            updated_at: content.created_at,
            published_at: self.published_at,
            reads: self.reads,
            helpful: self.helpful,
            unhelpful: self.unhelpful,
            stale: is_stale(self.published_at, stale_days, now),
        }
    }
}

/// Published, and not published again for `stale_days` (0: never stale).
pub fn is_stale(published_at: Option<i64>, stale_days: i64, now: i64) -> bool {
    match published_at {
        Some(at) if stale_days > 0 => now - at > stale_days.saturating_mul(DAY_MS),
        _ => false,
    }
}

/// A new draft with its first version, in `tx`.
async fn insert_article(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    new: &NewArticleRow<'_>,
) -> Result<ArticleId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO kb_articles (space_id, author_id, status, version, created_at, \
         updated_at, meeting_id, recording_id) VALUES ($1, $2, 'draft', 1, $3, $3, $4, $5) \
         RETURNING id",
    )
    .bind(new.space.0)
    .bind(new.author.0)
    .bind(new.now)
    .bind(new.meeting.map(|m| m.0))
    .bind(new.recording.map(|r| r.0))
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO kb_versions (article_id, version, title, scope, tags, body, attachments, \
         editor_id, note, created_at) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, '', $8)",
    )
    .bind(id)
    .bind(new.title)
    .bind(new.scope)
    .bind(tags_text(new.tags))
    .bind(new.body)
    .bind(files_text(new.attachments))
    .bind(new.author.0)
    .bind(new.now)
    .execute(&mut **tx)
    .await?;
    Ok(ArticleId(id))
}

impl Database {
    /// A new space, its creator named its knowledge admin, with `drafts` (title, body) by the
    /// creator: all of it or nothing.
    pub async fn create_space(&self, new: &NewSpaceRow<'_>) -> Result<SpaceRow, StoreError> {
        let NewSpaceRow {
            name,
            description,
            department,
            stale_days,
            by,
            drafts,
            now,
        } = *new;
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO kb_spaces (name, description, department_id, stale_days, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(description)
        .bind(department.map(|d| d.0))
        .bind(stale_days)
        .bind(by.0)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("a space of that name exists already"))?;
        sqlx::query(
            "INSERT INTO kb_space_members (space_id, subject_kind, subject_id, role) \
             VALUES ($1, 'user', $2, 'admin')",
        )
        .bind(id)
        .bind(by.0)
        .execute(&mut *tx)
        .await?;
        for (title, body) in drafts {
            let draft = NewArticleRow {
                space: SpaceId(id),
                author: by,
                title,
                scope: "",
                tags: &[],
                body,
                attachments: &[],
                meeting: None,
                recording: None,
                now,
            };
            insert_article(&mut tx, &draft).await?;
        }
        tx.commit().await?;
        self.space(SpaceId(id)).await?.ok_or(StoreError::NotFound)
    }

    pub async fn space(&self, id: SpaceId) -> Result<Option<SpaceRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM kb_spaces WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(space_from_row).transpose()
    }

    /// Every space, archived ones too, by name.
    pub async fn spaces(&self) -> Result<Vec<SpaceRow>, StoreError> {
        sqlx::query("SELECT * FROM kb_spaces ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(space_from_row)
            .collect()
    }

    pub async fn update_space(
        &self,
        id: SpaceId,
        changes: &SpaceChanges<'_>,
        now: i64,
    ) -> Result<SpaceRow, StoreError> {
        // What is not given stays; `archived` sets or clears the time. Un-archiving can meet a
        // space that took the name meanwhile.
        sqlx::query(
            "UPDATE kb_spaces SET name = COALESCE($2, name), \
             description = COALESCE($3, description), stale_days = COALESCE($4, stale_days), \
             archived_at = CASE WHEN $5 IS NULL THEN archived_at WHEN $5 = 1 THEN $6 ELSE NULL END \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(changes.name)
        .bind(changes.description)
        .bind(changes.stale_days)
        .bind(changes.archived.map(i64::from))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("a space of that name exists already"))?;
        self.space(id).await?.ok_or(StoreError::NotFound)
    }

    /// Whom every space names, by space.
    pub async fn all_space_members(
        &self,
    ) -> Result<HashMap<SpaceId, Vec<SpaceMember>>, StoreError> {
        let rows = sqlx::query(
            "SELECT space_id, subject_kind, subject_id, role FROM kb_space_members \
             ORDER BY space_id, subject_kind, subject_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut members: HashMap<SpaceId, Vec<SpaceMember>> = HashMap::new();
        for row in &rows {
            let (space, member) = member_from_row(row)?;
            members.entry(space).or_default().push(member);
        }
        Ok(members)
    }

    pub async fn space_members(&self, id: SpaceId) -> Result<Vec<SpaceMember>, StoreError> {
        let rows = sqlx::query(
            "SELECT space_id, subject_kind, subject_id, role FROM kb_space_members \
             WHERE space_id = $1 ORDER BY subject_kind, subject_id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| member_from_row(row).map(|(_, m)| m))
            .collect()
    }

    /// Replace whom a space names.
    pub async fn set_space_members(
        &self,
        id: SpaceId,
        members: &[SpaceMember],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Taken first, so two replacements at once run one after the other (PostgreSQL would
        // otherwise let each delete only what it saw, and keep both lists).
        sqlx::query("UPDATE kb_spaces SET id = id WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM kb_space_members WHERE space_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        for member in members {
            let (kind, subject) = match member.subject {
                SpaceSubject::User { user_id } => ("user", user_id.0),
                SpaceSubject::Channel { channel_id } => ("channel", channel_id.0),
            };
            sqlx::query(
                "INSERT INTO kb_space_members (space_id, subject_kind, subject_id, role) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id.0)
            .bind(kind)
            .bind(subject)
            .bind(role_text(member.role))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("a member is named twice"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Per space: its published articles, and those waiting for review.
    pub async fn space_counts(&self) -> Result<HashMap<SpaceId, (i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT space_id, \
             SUM(CASE WHEN published_version IS NOT NULL THEN 1 ELSE 0 END) AS published, \
             SUM(CASE WHEN status = 'submitted' THEN 1 ELSE 0 END) AS pending \
             FROM kb_articles WHERE deleted_at IS NULL GROUP BY space_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut counts = HashMap::new();
        for row in &rows {
            counts.insert(
                SpaceId(row.try_get("space_id")?),
                (row.try_get("published")?, row.try_get("pending")?),
            );
        }
        Ok(counts)
    }

    /// The most read published articles of a space since `since` (ms), at most `limit`.
    pub async fn top_articles(
        &self,
        space: SpaceId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<TopArticle>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, v.title, COUNT(*) AS reads FROM kb_reads r \
             JOIN kb_articles a ON a.id = r.article_id \
             JOIN kb_versions v ON v.article_id = a.id AND v.version = a.published_version \
             WHERE a.space_id = $1 AND a.deleted_at IS NULL AND r.day >= $2 \
             GROUP BY a.id, v.title ORDER BY reads DESC, a.id DESC LIMIT $3",
        )
        .bind(space.0)
        .bind(since.div_euclid(DAY_MS))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TopArticle {
                    id: ArticleId(row.try_get("id")?),
                    title: row.try_get("title")?,
                    reads: row.try_get("reads")?,
                })
            })
            .collect()
    }

    /// A new draft with its first version.
    pub async fn create_article(&self, new: &NewArticleRow<'_>) -> Result<ArticleId, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_article(&mut tx, new).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An article that is not deleted.
    pub async fn article(&self, id: ArticleId) -> Result<Option<ArticleRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM kb_articles a WHERE a.id = $1 AND a.deleted_at IS NULL"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(article_from_row).transpose()
    }

    pub async fn article_content(
        &self,
        id: ArticleId,
        version: i64,
    ) -> Result<Option<ArticleContent>, StoreError> {
        let row = sqlx::query("SELECT * FROM kb_versions WHERE article_id = $1 AND version = $2")
            .bind(id.0)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(content_from_row).transpose()
    }

    /// Save a new version (and the status it brings); `Conflict` when `base_version` is not the
    /// latest any more.
    pub async fn edit_article(
        &self,
        id: ArticleId,
        edit: &ArticleEdit<'_>,
        editor: UserId,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        // The article's row first: it is locked from here to the commit, so a review step or
        // another edit waits, and the status below is decided on what is there now.
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE kb_articles SET version = version + 1, updated_at = $2, status = CASE \
             WHEN $3 = 1 AND status <> 'published' THEN status ELSE 'draft' END \
             WHERE id = $1 AND deleted_at IS NULL RETURNING version",
        )
        .bind(id.0)
        .bind(now)
        .bind(i64::from(edit.by_admin))
        .fetch_optional(&mut *tx)
        .await?;
        let latest = version.ok_or(StoreError::NotFound)? - 1;
        if edit.base_version.is_some_and(|base| base != latest) {
            return Err(StoreError::Conflict(format!(
                "the article moved on to version {latest} since this edit began; reload it and \
                 edit again"
            )));
        }
        let row = sqlx::query("SELECT * FROM kb_versions WHERE article_id = $1 AND version = $2")
            .bind(id.0)
            .bind(latest)
            .fetch_one(&mut *tx)
            .await?;
        let base = content_from_row(&row)?;
        sqlx::query(
            "INSERT INTO kb_versions (article_id, version, title, scope, tags, body, attachments, \
             editor_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.0)
        .bind(latest + 1)
        .bind(edit.title.unwrap_or(&base.title))
        .bind(edit.scope.unwrap_or(&base.scope))
        .bind(tags_text(edit.tags.unwrap_or(&base.tags)))
        .bind(edit.body.unwrap_or(&base.body))
        .bind(files_text(edit.attachments.unwrap_or(&base.attachments)))
        .bind(editor.0)
        .bind(edit.note)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(latest + 1)
    }

    /// Move an article from one of `from` to `to`; `Conflict` when it is in none of them.
    /// Publishing makes the latest version the published one; a decision (publish, return)
    /// is kept as the article's last review.
    pub async fn move_article(
        &self,
        id: ArticleId,
        from: &[ArticleStatus],
        to: ArticleStatus,
        review: Option<&ArticleReview>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The move itself checks the status, so of two decisions at once one moves and the
        // other finds the article moved (PostgreSQL re-reads a row an update waited for).
        let allowed = from
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let moved = sqlx::query(&format!(
            "UPDATE kb_articles SET status = $2 WHERE id = $1 AND deleted_at IS NULL \
             AND status IN ({allowed})"
        ))
        .bind(id.0)
        .bind(to.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            let status: String = sqlx::query_scalar(
                "SELECT status FROM kb_articles WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            return Err(StoreError::Conflict(format!(
                "the article is {status}; this step needs it {}",
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        if let Some(review) = review {
            sqlx::query(
                "UPDATE kb_articles SET review_outcome = $2, review_by = $3, review_at = $4, \
                 review_comment = $5 WHERE id = $1",
            )
            .bind(id.0)
            .bind(review.outcome.as_str())
            .bind(review.by.0)
            .bind(review.at)
            .bind(&review.comment)
            .execute(&mut *tx)
            .await?;
        }
        if to == ArticleStatus::Published {
            sqlx::query(
                "UPDATE kb_articles SET published_version = version, published_at = $2, \
                 stale_notified_at = NULL WHERE id = $1",
            )
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE kb_versions SET published_at = $2 WHERE article_id = $1 \
                 AND version = (SELECT version FROM kb_articles WHERE id = $1)",
            )
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_article(&self, id: ArticleId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE kb_articles SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.0)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Articles of a space as `filter` asks, each with the version it shows, most recently
    /// updated first.
    pub async fn list_articles(
        &self,
        filter: &ArticleFilter,
    ) -> Result<Vec<(ArticleRow, ArticleContent)>, StoreError> {
        let shown = match filter.shown {
            Shown::Published => "a.published_version",
            Shown::Latest => "a.version",
        };
        let statuses = filter
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let status_clause = if statuses.is_empty() {
            String::new()
        } else {
            format!(" AND a.status IN ({statuses})")
        };
        // Tags are a JSON array of strings; a tag is matched with its quotes, so `ops` does
        // not find `devops`, and in any case. `before` names the article the previous page
        // ended with: the page goes on from where it stands in this order.
        let cursor = format!(
            "SELECT c.created_at FROM kb_articles b JOIN kb_versions c \
             ON c.article_id = b.id AND c.version = b.{} WHERE b.id = $4",
            &shown[2..]
        );
        let sql = format!(
            "SELECT {ARTICLE_COLUMNS}, v.title, v.scope, v.tags, v.body, v.attachments, \
             v.editor_id, v.note, \
             v.created_at AS version_at, v.published_at AS version_published_at \
             FROM kb_articles a JOIN kb_versions v ON v.article_id = a.id AND v.version = {shown} \
             WHERE a.space_id = $1 AND a.deleted_at IS NULL{status_clause} \
             AND ($2 IS NULL OR a.author_id = $2) \
             AND ($3 IS NULL OR LOWER(v.tags) LIKE LOWER($3) ESCAPE '\\') \
             AND ($4 IS NULL OR v.created_at < ({cursor}) \
                  OR (v.created_at = ({cursor}) AND a.id < $4)) \
             ORDER BY v.created_at DESC, a.id DESC LIMIT $5"
        );
        let tag = filter.tag.as_ref().map(|t| {
            let quoted = serde_json::to_string(t).unwrap_or_default();
            format!(
                "%{}%",
                quoted
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let rows = sqlx::query(&sql)
            .bind(filter.space.0)
            .bind(filter.author.map(|a| a.0))
            .bind(tag)
            .bind(filter.before.map(|b| b.0))
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let article = article_from_row(row)?;
                let content = ArticleContent {
                    title: row.try_get("title")?,
                    scope: row.try_get("scope")?,
                    tags: tags_from(&row.try_get::<String, _>("tags")?)?,
                    body: row.try_get("body")?,
                    attachments: files_from(&row.try_get::<String, _>("attachments")?)?,
                    editor: UserId(row.try_get("editor_id")?),
                    note: row.try_get("note")?,
                    created_at: row.try_get("version_at")?,
                    published_at: row.try_get("version_published_at")?,
                };
                Ok((article, content))
            })
            .collect()
    }

    /// An article's versions, newest first; with `published_only`, those that were published.
    pub async fn article_versions(
        &self,
        id: ArticleId,
        published_only: bool,
    ) -> Result<Vec<ArticleVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, title, editor_id, note, created_at, published_at FROM kb_versions \
             WHERE article_id = $1 AND ($2 = 0 OR published_at IS NOT NULL) \
             ORDER BY version DESC",
        )
        .bind(id.0)
        .bind(i64::from(published_only))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ArticleVersion {
                    version: row.try_get("version")?,
                    title: row.try_get("title")?,
                    editor: UserId(row.try_get("editor_id")?),
                    note: row.try_get("note")?,
                    created_at: row.try_get("created_at")?,
                    published_at: row.try_get("published_at")?,
                })
            })
            .collect()
    }

    pub async fn add_article_comment(
        &self,
        id: ArticleId,
        author: UserId,
        body: &str,
        now: i64,
    ) -> Result<ArticleComment, StoreError> {
        let comment: i64 = sqlx::query_scalar(
            "INSERT INTO kb_comments (article_id, author_id, body, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(id.0)
        .bind(author.0)
        .bind(body)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(ArticleComment {
            id: ArticleCommentId(comment),
            author,
            body: body.to_string(),
            created_at: now,
        })
    }

    pub async fn article_comments(&self, id: ArticleId) -> Result<Vec<ArticleComment>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, author_id, body, created_at FROM kb_comments WHERE article_id = $1 \
             ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ArticleComment {
                    id: ArticleCommentId(row.try_get("id")?),
                    author: UserId(row.try_get("author_id")?),
                    body: row.try_get("body")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Count `user` as a reader of the article today (once a day): whether this read counted.
    pub async fn record_article_read(
        &self,
        id: ArticleId,
        user: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let counted = sqlx::query(
            "INSERT INTO kb_reads (article_id, user_id, day) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(user.0)
        .bind(now.div_euclid(DAY_MS))
        .execute(&self.pool)
        .await?;
        Ok(counted.rows_affected() == 1)
    }

    /// `user`'s answer to "was this helpful?"; `None` withdraws it.
    pub async fn set_article_vote(
        &self,
        id: ArticleId,
        user: UserId,
        helpful: Option<bool>,
        now: i64,
    ) -> Result<(), StoreError> {
        match helpful {
            Some(helpful) => {
                sqlx::query(
                    "INSERT INTO kb_votes (article_id, user_id, helpful, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (article_id, user_id) \
                     DO UPDATE SET helpful = excluded.helpful, at = excluded.at",
                )
                .bind(id.0)
                .bind(user.0)
                .bind(i64::from(helpful))
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM kb_votes WHERE article_id = $1 AND user_id = $2")
                    .bind(id.0)
                    .bind(user.0)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn article_vote(
        &self,
        id: ArticleId,
        user: UserId,
    ) -> Result<Option<bool>, StoreError> {
        let vote: Option<i64> = sqlx::query_scalar(
            "SELECT helpful FROM kb_votes WHERE article_id = $1 AND user_id = $2",
        )
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(vote.map(|v| v != 0))
    }

    /// Published articles of spaces that are not archived, past their space's `stale_days`,
    /// whose authors were not told yet.
    pub async fn stale_articles(&self, now: i64) -> Result<Vec<StaleArticle>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.space_id, a.author_id, v.title FROM kb_articles a \
             JOIN kb_spaces s ON s.id = a.space_id \
             JOIN kb_versions v ON v.article_id = a.id AND v.version = a.published_version \
             WHERE a.deleted_at IS NULL AND s.archived_at IS NULL AND s.stale_days > 0 \
             AND a.stale_notified_at IS NULL AND a.published_at < $1 - s.stale_days * $2",
        )
        .bind(now)
        .bind(DAY_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StaleArticle {
                    id: ArticleId(row.try_get("id")?),
                    space: SpaceId(row.try_get("space_id")?),
                    author: UserId(row.try_get("author_id")?),
                    title: row.try_get("title")?,
                })
            })
            .collect()
    }

    /// Claim telling an article's author it is stale: true for the one node that does.
    pub async fn claim_stale_notice(&self, id: ArticleId, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE kb_articles SET stale_notified_at = $2 WHERE id = $1 \
             AND stale_notified_at IS NULL",
        )
        .bind(id.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The published articles of `ids` that exist, as search indexes them.
    pub async fn search_articles(&self, ids: &[i64]) -> Result<Vec<SearchArticle>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let rows = sqlx::query(&format!(
            "SELECT a.id, a.space_id, a.author_id, a.published_at, v.title, v.scope, v.tags, \
             v.body FROM kb_articles a \
             JOIN kb_versions v ON v.article_id = a.id AND v.version = a.published_version \
             WHERE a.id IN ({list}) AND a.deleted_at IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let tags = tags_from(&row.try_get::<String, _>("tags")?)?;
                let scope: String = row.try_get("scope")?;
                let body: String = row.try_get("body")?;
                Ok(SearchArticle {
                    id: row.try_get("id")?,
                    space: row.try_get("space_id")?,
                    author: row.try_get("author_id")?,
                    title: row.try_get("title")?,
                    text: format!("{scope}\n{}\n{body}", tags.join(" ")),
                    published_at: row.try_get::<Option<i64>, _>("published_at")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Every published article's id, for a reindex.
    pub async fn published_article_ids(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM kb_articles WHERE published_version IS NOT NULL AND deleted_at IS NULL \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
