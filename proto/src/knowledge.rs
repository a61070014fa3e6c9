//! The knowledge base: spaces by department or topic, articles in Markdown with versions,
//! reviewed by a space's knowledge admins before they are published.

use crate::{
    ArticleCommentId, ArticleId, Attachment, ChannelId, DepartmentId, FileId, MeetingId,
    RecordingId, SpaceId, UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What someone may do in a space, from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SpaceLevel {
    /// Nothing: the space does not exist for them.
    None,
    /// Read its published articles, vote and comment.
    Read,
    /// Also write articles and submit them for review.
    Write,
    /// A knowledge admin: also publish or return submitted articles, edit any article, change
    /// the space and its members.
    Admin,
}

/// The role a space gives someone by name (`PUT /v1/spaces/{id}/members`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpaceRole {
    /// A knowledge admin (users only).
    Admin,
    /// May write articles (users only; guests are readers whatever they are given).
    Writer,
    /// May read: a user, or every member of a channel (the way to share with guests).
    Reader,
}

/// Who a space names: a user, or a channel's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpaceSubject {
    User { user_id: UserId },
    Channel { channel_id: ChannelId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceMember {
    pub subject: SpaceSubject,
    pub role: SpaceRole,
}

/// A space: everyone of its department (and the departments below it) reads and writes there,
/// or, without a department, every member of the organisation; guests only where a space names
/// them or one of their channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Space {
    pub id: SpaceId,
    pub name: String,
    /// What it is for; empty when nothing was said.
    pub description: String,
    /// The department whose people it is for; absent: the whole organisation (a topic space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<DepartmentId>,
    /// A published article not updated for this many days is stale, and its author is told
    /// once; 0: never.
    pub stale_days: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    pub created_at: i64,
    /// Archived spaces are read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<i64>,
    /// What the caller may do here.
    pub level: SpaceLevel,
    /// Published articles.
    pub articles: i64,
    /// Articles waiting for review; counted for knowledge admins only (0 for others).
    pub pending: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpaceList {
    pub spaces: Vec<Space>,
}

/// `POST /v1/spaces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSpace {
    /// 1 to 100 characters, unique among spaces that are not archived.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Default 180.
    #[serde(default)]
    pub stale_days: Option<i64>,
    /// `onboarding`: the space starts with drafts of company rules, department introductions,
    /// the mentor and the training plan, from their templates.
    #[serde(default)]
    pub template: Option<String>,
    /// The language of the templates' text: `en` (default) or `zh`.
    #[serde(default)]
    pub lang: Option<String>,
}

/// `PATCH /v1/spaces/{id}`: what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpace {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stale_days: Option<i64>,
    pub archived: Option<bool>,
}

/// An article among the most read of a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopArticle {
    pub id: ArticleId,
    pub title: String,
    /// Readers in the last 30 days (each person counts once a day).
    pub reads: i64,
}

/// `GET /v1/spaces/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpaceDetail {
    pub space: Space,
    /// Who the space names, besides its department's people.
    pub members: Vec<SpaceMember>,
    /// The most read published articles of the last 30 days, at most 10.
    pub top: Vec<TopArticle>,
}

/// `PUT /v1/spaces/{id}/members`: every member, replacing the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceMembers {
    pub members: Vec<SpaceMember>,
}

/// Where an article stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    /// Being written; only its author and the knowledge admins see this version.
    Draft,
    /// Waiting for a knowledge admin.
    Submitted,
    /// Sent back by a knowledge admin with a comment (`review`).
    Returned,
    /// The latest version is the published one.
    Published,
}

impl ArticleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleStatus::Draft => "draft",
            ArticleStatus::Submitted => "submitted",
            ArticleStatus::Returned => "returned",
            ArticleStatus::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<ArticleStatus> {
        [
            ArticleStatus::Draft,
            ArticleStatus::Submitted,
            ArticleStatus::Returned,
            ArticleStatus::Published,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The last review decision on an article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleReview {
    /// `published` or `returned`.
    pub outcome: ArticleStatus,
    pub by: UserId,
    pub at: i64,
    /// Empty when a publication said nothing.
    pub comment: String,
}

/// An article as lists show it: the version the caller sees (for readers the published one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleSummary {
    pub id: ArticleId,
    pub space_id: SpaceId,
    pub title: String,
    /// Where it applies (适用范围): who or what it is for; empty when unsaid.
    pub scope: String,
    pub tags: Vec<String>,
    pub status: ArticleStatus,
    /// Its author, who keeps it up to date.
    pub author: UserId,
    /// The latest version, from 1.
    pub version: i64,
    /// The version readers see; absent until first published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    pub created_at: i64,
    /// When the version shown was saved.
    pub updated_at: i64,
    /// When it was last published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<i64>,
    /// Readers in all (each person counts once a day).
    pub reads: i64,
    /// "Was this helpful?": yes and no answers.
    pub helpful: i64,
    pub unhelpful: i64,
    /// Published and not updated for the space's `stale_days`.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleList {
    pub articles: Vec<ArticleSummary>,
}

/// `GET /v1/articles/{id}`: the summary of the version shown, its Markdown, and what the
/// caller may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Article {
    #[serde(flatten)]
    pub summary: ArticleSummary,
    /// The version shown: the published one for readers, the latest for its author and the
    /// knowledge admins, or the one asked for with `?version=`.
    pub shown_version: i64,
    /// Markdown. A link or image whose target is `file:12` names attachment 12.
    pub body: String,
    /// The files the version shown carries (those since deleted left out); its readers
    /// download them with `GET /v1/articles/{id}/files/{file_id}`.
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ArticleReview>,
    /// The meeting it was made from, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    /// A recording kept with it, played by its readers through
    /// `GET /v1/articles/{id}/recording`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<RecordingId>,
    /// The caller's answer to "was this helpful?".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_vote: Option<bool>,
    /// The caller may change it (its author, a knowledge admin).
    pub can_edit: bool,
    /// The caller may publish or return it (a knowledge admin).
    pub can_review: bool,
}

/// `POST /v1/spaces/{id}/articles`: a new draft, from nothing, a template, or a meeting's
/// minutes (and its recording).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    /// Required unless a template or a meeting gives one.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Files to carry (at most 20), each one the author may read.
    #[serde(default)]
    pub attachments: Option<Vec<FileId>>,
    /// A template's id (`GET /v1/article-templates`): its title and body start the draft.
    #[serde(default)]
    pub template: Option<String>,
    /// The templates' language: `en` (default) or `zh`.
    #[serde(default)]
    pub lang: Option<String>,
    /// A meeting whose minutes start the draft; its mixed recording, if it has one, is kept
    /// with the article for its readers.
    #[serde(default)]
    pub meeting_id: Option<MeetingId>,
}

/// `PATCH /v1/articles/{id}`: a new version with what is given changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArticle {
    pub title: Option<String>,
    pub body: Option<String>,
    pub scope: Option<String>,
    pub tags: Option<Vec<String>>,
    /// The files the new version carries (all of them; at most 20), each one the editor may
    /// read.
    pub attachments: Option<Vec<FileId>>,
    /// What changed, kept with the version.
    pub note: Option<String>,
    /// The version this edit was made from; if the article has moved on since, the edit is
    /// refused with `conflict` instead of overwriting someone else's.
    pub base_version: Option<i64>,
}

/// `POST /v1/articles/{id}/publish` and `/return`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// Required to return an article.
    #[serde(default)]
    pub comment: String,
}

/// One version in an article's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleVersion {
    pub version: i64,
    pub title: String,
    pub editor: UserId,
    /// What the editor said changed; empty when nothing.
    pub note: String,
    pub created_at: i64,
    /// When this version was published, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleVersionList {
    pub versions: Vec<ArticleVersion>,
}

/// A line of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffOp {
    Same,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiffLine {
    pub op: DiffOp,
    pub text: String,
}

/// `GET /v1/articles/{id}/diff?from=&to=`: line by line, from one version to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleDiff {
    pub from: i64,
    pub to: i64,
    /// Title, scope and tags of both versions, when they differ.
    pub fields: Vec<FieldChange>,
    /// The body's lines; unchanged runs longer than 6 lines keep 3 lines of context on each side
    /// and say how many were left out (`skipped`).
    pub lines: Vec<DiffChunk>,
}

/// A run of the diff: a line, or a gap of unchanged lines left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DiffChunk {
    Line(DiffLine),
    Skipped { skipped: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// `title`, `scope` or `tags`.
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleComment {
    pub id: ArticleCommentId,
    pub author: UserId,
    pub body: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleCommentList {
    pub comments: Vec<ArticleComment>,
}

/// `POST /v1/articles/{id}/comments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticleComment {
    /// 1 to 4,000 characters.
    pub body: String,
}

/// `PUT /v1/articles/{id}/vote`: "was this helpful?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleVote {
    pub helpful: bool,
}

/// A template an article (or a space) starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleTemplate {
    /// `minutes`, `issue_report`, `project_progress`, `company_rules`, `department_intro`,
    /// `mentor`, `training_plan`.
    pub id: String,
    pub name: String,
    pub title: String,
    /// Markdown with headings and blanks to fill in.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArticleTemplateList {
    pub templates: Vec<ArticleTemplate>,
}

/// What a knowledge-base notification is about (`notification.article`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArticleNotice {
    pub id: ArticleId,
    pub space_id: SpaceId,
    pub title: String,
    /// A reviewer's comment (`article_returned`, `article_published`) or a comment's text
    /// (`article_comment`); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}
