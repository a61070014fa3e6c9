//! The knowledge base over REST: spaces, their members, articles, review, versions and diffs,
//! comments, votes, templates.

use super::meetings::load as load_meeting;
use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::knowledge::templates::{self, Lang};
use crate::knowledge::{self, diff, Directory};
use crate::policy::{self, ArticleAction, ArticleFacts, FileAction, MeetingAction};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use parley_proto::{
    Article, ArticleComment, ArticleCommentList, ArticleDiff, ArticleId, ArticleList,
    ArticleNotice, ArticleReview, ArticleStatus, ArticleSummary, ArticleTemplateList,
    ArticleVersionList, ArticleVote, Attachment, FieldChange, FileId, NewArticle,
    NewArticleComment, NewSpace, NotificationKind, ReviewDecision, Space, SpaceDetail, SpaceId,
    SpaceLevel, SpaceList, SpaceMembers, SpaceRole, SpaceSubject, UpdateArticle, UpdateSpace, User,
};
use parley_storage::{
    now_ms, path_within, ArticleContent, ArticleEdit, ArticleFilter, ArticleRow, NewArticleRow,
    NewSpaceRow, Shown, SpaceChanges, SpaceRow,
};
use serde::Deserialize;
use std::collections::HashSet;

const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_TITLE_CHARS: usize = 200;
const MAX_SCOPE_CHARS: usize = 500;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_BODY_CHARS: usize = 200_000;
const MAX_NOTE_CHARS: usize = 500;
const MAX_COMMENT_CHARS: usize = 4_000;
const MAX_ATTACHMENTS: usize = 20;
const MAX_STALE_DAYS: i64 = 3_650;
const DEFAULT_STALE_DAYS: i64 = 180;
const TOP_DAYS: i64 = 30;
const TOP_COUNT: i64 = 10;

/// `text` trimmed, 1 to `max` characters.
fn required(text: &str, field: &str, max: usize) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid(format!("{field} must not be empty")));
    }
    bounded(text, field, max)
}

fn bounded(text: &str, field: &str, max: usize) -> AppResult<String> {
    if text.chars().count() > max {
        return Err(AppError::invalid(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(text.to_string())
}

fn tags(list: &[String]) -> AppResult<Vec<String>> {
    if list.len() > MAX_TAGS {
        return Err(AppError::invalid(format!("tags: at most {MAX_TAGS}")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(list.len());
    for tag in list {
        let tag = required(tag, "a tag", MAX_TAG_CHARS)?;
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

/// Files an article is to carry: at most 20, each one `me` may read.
async fn attachments(state: &AppState, me: &User, ids: &[FileId]) -> AppResult<Vec<FileId>> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(AppError::invalid(format!(
            "attachments: at most {MAX_ATTACHMENTS}"
        )));
    }
    let mut clean = Vec::with_capacity(ids.len());
    for id in ids {
        if clean.contains(id) {
            continue;
        }
        super::files::load(state, me, *id, FileAction::Read)
            .await
            .map_err(|_| {
                AppError::invalid(format!("attachments: file {id} is not one you may read"))
            })?;
        clean.push(*id);
    }
    Ok(clean)
}

fn stale_days(days: i64) -> AppResult<i64> {
    if !(0..=MAX_STALE_DAYS).contains(&days) {
        return Err(AppError::invalid(format!(
            "stale_days must be 0 (never) to {MAX_STALE_DAYS}"
        )));
    }
    Ok(days)
}

fn lang(lang: Option<&str>) -> AppResult<Lang> {
    match lang {
        None => Ok(Lang::En),
        Some(text) => Lang::parse(text)
            .ok_or_else(|| AppError::invalid(format!("lang: `{text}` is not `en` or `zh`"))),
    }
}

fn template(id: &str, lang: Lang) -> AppResult<parley_proto::ArticleTemplate> {
    templates::of(id, lang).ok_or_else(|| {
        AppError::invalid(format!(
            "template: `{id}` is not one of {}",
            templates::ids()
        ))
    })
}

/// A space as `me` sees it, with its counts.
fn space_view(row: SpaceRow, level: SpaceLevel, counts: (i64, i64)) -> Space {
    Space {
        id: row.id,
        name: row.name,
        description: row.description,
        department_id: row.department,
        stale_days: row.stale_days,
        created_by: row.created_by,
        created_at: row.created_at,
        archived_at: row.archived_at,
        level,
        articles: counts.0,
        pending: if level == SpaceLevel::Admin {
            counts.1
        } else {
            0
        },
    }
}

/// A space's published and waiting articles.
async fn counts_of(state: &AppState, space: SpaceId) -> AppResult<(i64, i64)> {
    Ok(state
        .db
        .space_counts()
        .await?
        .get(&space)
        .copied()
        .unwrap_or_default())
}

/// A space `me` may read, with their level there.
async fn load_space(state: &AppState, me: &User, id: SpaceId) -> AppResult<(SpaceRow, SpaceLevel)> {
    let space = state
        .db
        .space(id)
        .await?
        .ok_or_else(|| AppError::not_found("no such space"))?;
    let level = knowledge::level_in(state, me, &space).await?;
    if level == SpaceLevel::None {
        return Err(AppError::not_found("no such space"));
    }
    Ok((space, level))
}

/// An article, its space and how `me` stands to it, if `me` may do `action`.
struct Loaded {
    article: ArticleRow,
    space: SpaceRow,
    facts: ArticleFacts,
}

impl Loaded {
    fn may(&self, action: ArticleAction) -> bool {
        policy::article(self.facts, action).is_ok()
    }

    fn notice(&self, title: String, comment: String) -> ArticleNotice {
        ArticleNotice {
            id: self.article.id,
            space_id: self.space.id,
            title,
            comment,
        }
    }
}

async fn load_article(
    state: &AppState,
    me: &User,
    id: ArticleId,
    action: ArticleAction,
) -> AppResult<Loaded> {
    let missing = || AppError::not_found("no such article");
    let article = state.db.article(id).await?.ok_or_else(missing)?;
    let space = state.db.space(article.space).await?.ok_or_else(missing)?;
    let level = knowledge::level_in(state, me, &space).await?;
    let facts = ArticleFacts {
        level,
        author: article.author == me.id,
        published: article.published_version.is_some(),
        archived: space.archived_at.is_some(),
    };
    policy::article(facts, action)?;
    Ok(Loaded {
        article,
        space,
        facts,
    })
}

async fn content(state: &AppState, id: ArticleId, version: i64) -> AppResult<ArticleContent> {
    state
        .db
        .article_content(id, version)
        .await?
        .ok_or_else(|| AppError::not_found(format!("the article has no version {version}")))
}

/// The article as `me` sees it, showing `version`.
async fn article_view(
    state: &AppState,
    me: &User,
    loaded: &Loaded,
    version: i64,
) -> AppResult<Article> {
    let shown = content(state, loaded.article.id, version).await?;
    let now = now_ms();
    let mut files = Vec::with_capacity(shown.attachments.len());
    for id in &shown.attachments {
        if let Some(file) = state.db.file(*id).await?.filter(|f| f.deleted_at.is_none()) {
            files.push(Attachment {
                id: file.id,
                name: file.name,
                size: file.size,
                mime: file.mime,
                thumbnail: file.thumbnail,
            });
        }
    }
    let sees_latest = loaded.may(ArticleAction::ReadLatest);
    let mut summary = loaded.article.summary(&shown, loaded.space.stale_days, now);
    if !sees_latest {
        for_readers(&mut summary);
    }
    Ok(Article {
        summary,
        shown_version: version,
        body: shown.body,
        attachments: files,
        // The last decision may be about a version readers do not see.
        review: if sees_latest {
            loaded.article.review.clone()
        } else {
            None
        },
        meeting_id: loaded.article.meeting,
        recording_id: loaded.article.recording,
        my_vote: state.db.article_vote(loaded.article.id, me.id).await?,
        can_edit: loaded.may(ArticleAction::Edit),
        can_review: loaded.may(ArticleAction::Review),
    })
}

/// An article as its readers know it: published, at its published version; nothing of the
/// next version being written or reviewed.
fn for_readers(summary: &mut ArticleSummary) {
    if let Some(published) = summary.published_version {
        summary.status = ArticleStatus::Published;
        summary.version = published;
    }
}

/// What the caller's latest version shows: the latest for those who see it, else the
/// published one.
fn default_version(loaded: &Loaded) -> i64 {
    if loaded.may(ArticleAction::ReadLatest) {
        loaded.article.version
    } else {
        loaded
            .article
            .published_version
            .unwrap_or(loaded.article.version)
    }
}

#[utoipa::path(get, path = "/v1/spaces", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = SpaceList)))]
pub async fn list_spaces(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<SpaceList>> {
    let me = caller.user()?;
    let directory = Directory::load(&state).await?;
    let channels = knowledge::channels_of(&state, me).await?;
    let counts = state.db.space_counts().await?;
    let mut spaces = Vec::new();
    for space in state.db.spaces().await? {
        let level = knowledge::level(me, &channels, &space, &directory);
        if level >= SpaceLevel::Read {
            let count = counts.get(&space.id).copied().unwrap_or_default();
            spaces.push(space_view(space, level, count));
        }
    }
    Ok(axum::Json(SpaceList { spaces }))
}

/// Create a space (admins; department admins for their departments, or a topic space); with
/// `"template":"onboarding"` it starts with the onboarding drafts.
#[utoipa::path(post, path = "/v1/spaces", tag = "knowledge", security(("bearer" = [])),
    request_body = NewSpace, responses((status = 201, body = Space),
        (status = 403, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody),
        (status = 422, body = parley_proto::ErrorBody)))]
pub async fn create_space(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<NewSpace>,
) -> AppResult<(StatusCode, axum::Json<Space>)> {
    let me = caller.user()?;
    let name = required(&req.name, "name", MAX_NAME_CHARS)?;
    let description = bounded(req.description.trim(), "description", MAX_DESCRIPTION_CHARS)?;
    let days = stale_days(req.stale_days.unwrap_or(DEFAULT_STALE_DAYS))?;
    let lang = lang(req.lang.as_deref())?;
    let onboarding = match req.template.as_deref() {
        None => false,
        Some("onboarding") => true,
        Some(other) => {
            return Err(AppError::invalid(format!(
                "template: `{other}` is not a space template (only `onboarding` is)"
            )))
        }
    };
    let department_admin = match req.department_id {
        Some(id) => {
            let department = state.db.department_by_id(id).await?.ok_or_else(|| {
                AppError::invalid(format!("department_id: there is no department {id}"))
            })?;
            me.department_path
                .as_deref()
                .is_some_and(|mine| path_within(&department.path, mine))
        }
        None => false,
    };
    policy::create_space(me.role, department_admin, req.department_id.is_none())?;
    let mut drafts = Vec::new();
    if onboarding {
        for id in templates::ONBOARDING {
            let t = template(id, lang)?;
            drafts.push((t.title, t.body));
        }
    }
    let space = state
        .db
        .create_space(&NewSpaceRow {
            name: &name,
            description: &description,
            department: req.department_id,
            stale_days: days,
            by: me.id,
            drafts: &drafts,
            now: now_ms(),
        })
        .await?;
    let level = knowledge::level_in(&state, me, &space).await?;
    let counts = counts_of(&state, space.id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(space_view(space, level, counts)),
    ))
}

#[utoipa::path(get, path = "/v1/spaces/{id}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = SpaceDetail), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get_space(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<SpaceDetail>> {
    let me = caller.user()?;
    let (space, level) = load_space(&state, me, SpaceId(id)).await?;
    let members = if level == SpaceLevel::Admin {
        state.db.space_members(space.id).await?
    } else {
        Vec::new()
    };
    let top = state
        .db
        .top_articles(space.id, now_ms() - TOP_DAYS * 86_400_000, TOP_COUNT)
        .await?;
    let counts = counts_of(&state, space.id).await?;
    Ok(axum::Json(SpaceDetail {
        space: space_view(space, level, counts),
        members,
        top,
    }))
}

/// Change a space (its knowledge admins).
#[utoipa::path(patch, path = "/v1/spaces/{id}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateSpace,
    responses((status = 200, body = Space), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn update_space(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<UpdateSpace>,
) -> AppResult<axum::Json<Space>> {
    let me = caller.user()?;
    let (space, level) = load_space(&state, me, SpaceId(id)).await?;
    if level != SpaceLevel::Admin {
        return Err(AppError::forbidden(
            "only the space's knowledge admins change it",
        ));
    }
    if space.archived_at.is_some() && req.archived != Some(false) {
        return Err(policy::space_archived());
    }
    let name = req
        .name
        .as_deref()
        .map(|n| required(n, "name", MAX_NAME_CHARS))
        .transpose()?;
    let description = req
        .description
        .as_deref()
        .map(|d| bounded(d.trim(), "description", MAX_DESCRIPTION_CHARS))
        .transpose()?;
    let changes = SpaceChanges {
        name: name.as_deref(),
        description: description.as_deref(),
        stale_days: req.stale_days.map(stale_days).transpose()?,
        archived: req.archived,
    };
    let space = state.db.update_space(space.id, &changes, now_ms()).await?;
    let counts = counts_of(&state, space.id).await?;
    Ok(axum::Json(space_view(space, level, counts)))
}

/// Replace whom a space names (its knowledge admins).
#[utoipa::path(put, path = "/v1/spaces/{id}/members", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SpaceMembers,
    responses((status = 204), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn set_members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<SpaceMembers>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let (space, level) = load_space(&state, me, SpaceId(id)).await?;
    if level != SpaceLevel::Admin {
        return Err(AppError::forbidden(
            "only the space's knowledge admins change its members",
        ));
    }
    if space.archived_at.is_some() {
        return Err(policy::space_archived());
    }
    let mut seen = HashSet::new();
    for member in &req.members {
        if !seen.insert(member.subject) {
            return Err(AppError::invalid("members: someone is named twice"));
        }
        match member.subject {
            SpaceSubject::User { user_id } => {
                if state.db.user(user_id).await?.is_none() {
                    return Err(AppError::invalid(format!(
                        "members: there is no user {user_id}"
                    )));
                }
            }
            SpaceSubject::Channel { channel_id } => {
                if state.db.channel(channel_id).await?.is_none() {
                    return Err(AppError::invalid(format!(
                        "members: there is no channel {channel_id}"
                    )));
                }
                if member.role != SpaceRole::Reader {
                    return Err(AppError::invalid(
                        "members: a channel's members can only be readers",
                    ));
                }
            }
        }
    }
    state.db.set_space_members(space.id, &req.members).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ArticleQuery {
    /// `published` (default), `submitted` (the review queue), `draft`, `returned`, or `mine`.
    pub status: Option<String>,
    /// Only articles with this tag.
    pub tag: Option<String>,
    /// Only articles with a smaller id, to page back.
    pub before: Option<i64>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/spaces/{id}/articles", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path), ArticleQuery),
    responses((status = 200, body = ArticleList), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn list_articles(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<ArticleQuery>,
) -> AppResult<axum::Json<ArticleList>> {
    let me = caller.user()?;
    let (space, level) = load_space(&state, me, SpaceId(id)).await?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit must be 1 to 200"));
    }
    let admin = level == SpaceLevel::Admin;
    let mut filter = ArticleFilter {
        space: space.id,
        shown: Shown::Latest,
        statuses: Vec::new(),
        author: None,
        tag: query
            .tag
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        before: query.before.map(ArticleId),
        limit,
    };
    match query.status.as_deref().unwrap_or("published") {
        "published" => filter.shown = Shown::Published,
        "mine" => filter.author = Some(me.id),
        "submitted" if admin => filter.statuses = vec![ArticleStatus::Submitted],
        "submitted" => {
            return Err(AppError::forbidden(
                "only the space's knowledge admins see the review queue",
            ))
        }
        other => {
            let status = ArticleStatus::parse(other)
                .filter(|s| matches!(s, ArticleStatus::Draft | ArticleStatus::Returned))
                .ok_or_else(|| {
                    AppError::invalid(format!(
                        "status: `{other}` is not one of published, submitted, draft, returned, mine"
                    ))
                })?;
            filter.statuses = vec![status];
            if !admin {
                filter.author = Some(me.id);
            }
        }
    }
    let now = now_ms();
    let articles = state
        .db
        .list_articles(&filter)
        .await?
        .iter()
        .map(|(article, content)| {
            let mut summary = article.summary(content, space.stale_days, now);
            if !admin && article.author != me.id {
                for_readers(&mut summary);
            }
            summary
        })
        .collect();
    Ok(axum::Json(ArticleList { articles }))
}

/// A new draft: from nothing, a template, or a meeting's minutes.
#[utoipa::path(post, path = "/v1/spaces/{id}/articles", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewArticle,
    responses((status = 201, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn create_article(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<NewArticle>,
) -> AppResult<(StatusCode, axum::Json<Article>)> {
    let me = caller.user()?;
    let (space, level) = load_space(&state, me, SpaceId(id)).await?;
    if level < SpaceLevel::Write {
        return Err(AppError::forbidden(
            "you may read this space, not write in it",
        ));
    }
    if space.archived_at.is_some() {
        return Err(policy::space_archived());
    }
    let lang = lang(req.lang.as_deref())?;
    let (mut title, mut body) = (None, String::new());
    if let Some(id) = &req.template {
        let t = template(id, lang)?;
        title = Some(t.title);
        body = t.body;
    }
    let (mut meeting, mut recording) = (None, None);
    if let Some(id) = req.meeting_id {
        let found = load_meeting(&state, me, id, MeetingAction::View).await?;
        let minutes = state.db.minutes(found.id, now_ms()).await?;
        let (meeting_title, text) = knowledge::minutes_markdown(&found, &minutes, lang == Lang::Zh);
        title = Some(meeting_title);
        body = text;
        let (_, files) = state.db.recordings_of(found.id).await?;
        recording = knowledge::kept_recording(&files).map(|r| r.id);
        meeting = Some(found.id);
    }
    let title = match req.title.as_deref().or(title.as_deref()) {
        Some(title) => required(title, "title", MAX_TITLE_CHARS)?,
        None => return Err(AppError::invalid("title must not be empty")),
    };
    let body = match &req.body {
        Some(given) => bounded(given, "body", MAX_BODY_CHARS)?,
        None => bounded(&body, "body", MAX_BODY_CHARS)?,
    };
    let scope = bounded(
        req.scope.as_deref().unwrap_or("").trim(),
        "scope",
        MAX_SCOPE_CHARS,
    )?;
    let tags = tags(req.tags.as_deref().unwrap_or(&[]))?;
    let files = attachments(&state, me, req.attachments.as_deref().unwrap_or(&[])).await?;
    let id = state
        .db
        .create_article(&NewArticleRow {
            space: space.id,
            author: me.id,
            title: &title,
            scope: &scope,
            tags: &tags,
            body: &body,
            attachments: &files,
            meeting,
            recording,
            now: now_ms(),
        })
        .await?;
    let loaded = load_article(&state, me, id, ArticleAction::ReadLatest).await?;
    let version = loaded.article.version;
    Ok((
        StatusCode::CREATED,
        axum::Json(article_view(&state, me, &loaded, version).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LangQuery {
    /// `en` (default) or `zh`.
    pub lang: Option<String>,
}

#[utoipa::path(get, path = "/v1/article-templates", tag = "knowledge", security(("bearer" = [])),
    params(LangQuery), responses((status = 200, body = ArticleTemplateList),
        (status = 422, body = parley_proto::ErrorBody)))]
pub async fn list_templates(
    Caller(caller): Caller,
    Query(query): Query<LangQuery>,
) -> AppResult<axum::Json<ArticleTemplateList>> {
    caller.user()?;
    Ok(axum::Json(ArticleTemplateList {
        templates: templates::all(lang(query.lang.as_deref())?),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A version to show instead of the default one.
    pub version: Option<i64>,
}

/// The article: readers see its published version (and are counted as readers once a day);
/// its author and the knowledge admins its latest.
#[utoipa::path(get, path = "/v1/articles/{id}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path), VersionQuery),
    responses((status = 200, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get_article(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<VersionQuery>,
) -> AppResult<axum::Json<Article>> {
    let me = caller.user()?;
    let mut loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    let version = match query.version {
        Some(version) => {
            // Readers learn nothing of versions that were never published, not even whether
            // they exist.
            let asked = state.db.article_content(loaded.article.id, version).await?;
            if asked.as_ref().is_none_or(|c| c.published_at.is_none()) {
                policy::article(loaded.facts, ArticleAction::ReadLatest)?;
            }
            if asked.is_none() {
                return Err(AppError::not_found(format!(
                    "the article has no version {version}"
                )));
            }
            version
        }
        None => default_version(&loaded),
    };
    if Some(version) == loaded.article.published_version
        && state
            .db
            .record_article_read(loaded.article.id, me.id, now_ms())
            .await?
    {
        loaded.article.reads += 1;
    }
    Ok(axum::Json(
        article_view(&state, me, &loaded, version).await?,
    ))
}

/// Save a new version. An author's edit takes the article back to `draft`; a knowledge
/// admin's keeps its status, except that a published article's next version starts as a draft.
#[utoipa::path(patch, path = "/v1/articles/{id}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateArticle,
    responses((status = 200, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody),
        (status = 422, body = parley_proto::ErrorBody)))]
pub async fn update_article(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<UpdateArticle>,
) -> AppResult<axum::Json<Article>> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Edit).await?;
    let title = req
        .title
        .as_deref()
        .map(|t| required(t, "title", MAX_TITLE_CHARS))
        .transpose()?;
    let scope = req
        .scope
        .as_deref()
        .map(|s| bounded(s.trim(), "scope", MAX_SCOPE_CHARS))
        .transpose()?;
    let body = req
        .body
        .as_deref()
        .map(|b| bounded(b, "body", MAX_BODY_CHARS))
        .transpose()?;
    let tags = req.tags.as_deref().map(tags).transpose()?;
    let files = match &req.attachments {
        Some(ids) => Some(attachments(&state, me, ids).await?),
        None => None,
    };
    let note = bounded(
        req.note.as_deref().unwrap_or("").trim(),
        "note",
        MAX_NOTE_CHARS,
    )?;
    let edit = ArticleEdit {
        title: title.as_deref(),
        scope: scope.as_deref(),
        tags: tags.as_deref(),
        body: body.as_deref(),
        attachments: files.as_deref(),
        note: &note,
        base_version: req.base_version,
        by_admin: loaded.may(ArticleAction::Review),
    };
    let version = state
        .db
        .edit_article(loaded.article.id, &edit, me.id, now_ms())
        .await?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadLatest).await?;
    Ok(axum::Json(
        article_view(&state, me, &loaded, version).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/articles/{id}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn delete_article(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Delete).await?;
    state.db.delete_article(loaded.article.id, now_ms()).await?;
    crate::search::changed(&state);
    Ok(StatusCode::NO_CONTENT)
}

/// The latest version's title, for notices.
async fn latest_title(state: &AppState, loaded: &Loaded) -> AppResult<String> {
    Ok(content(state, loaded.article.id, loaded.article.version)
        .await?
        .title)
}

/// Its author submits it for review; the space's knowledge admins are told.
#[utoipa::path(post, path = "/v1/articles/{id}/submit", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Article>> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Edit).await?;
    state
        .db
        .move_article(
            loaded.article.id,
            &[ArticleStatus::Draft, ArticleStatus::Returned],
            ArticleStatus::Submitted,
            None,
            now_ms(),
        )
        .await?;
    let reviewers = knowledge::reviewers(&state, &loaded.space).await?;
    let notice = loaded.notice(latest_title(&state, &loaded).await?, String::new());
    knowledge::tell(
        &state,
        &reviewers,
        NotificationKind::ArticleSubmitted,
        notice,
        Some(me.id),
    )
    .await?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadLatest).await?;
    let version = loaded.article.version;
    Ok(axum::Json(
        article_view(&state, me, &loaded, version).await?,
    ))
}

/// A review decision's optional body: none, or `{"comment"}`.
fn decision(body: &[u8]) -> AppResult<ReviewDecision> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReviewDecision::default());
    }
    serde_json::from_slice(body).map_err(|e| AppError::invalid(format!("body: {e}")))
}

/// A knowledge admin's decision: publish (a submitted article, or a draft of their own) or
/// return with a comment; the author is told.
async fn decide(
    state: &AppState,
    me: &User,
    id: ArticleId,
    outcome: ArticleStatus,
    comment: &str,
) -> AppResult<Article> {
    let loaded = load_article(state, me, id, ArticleAction::Review).await?;
    let comment = bounded(comment.trim(), "comment", MAX_COMMENT_CHARS)?;
    let (from, kind): (&[ArticleStatus], _) = match outcome {
        ArticleStatus::Returned => {
            if comment.is_empty() {
                return Err(AppError::invalid(
                    "comment: say what to change when returning an article",
                ));
            }
            (
                &[ArticleStatus::Submitted],
                NotificationKind::ArticleReturned,
            )
        }
        _ if loaded.article.author == me.id => (
            &[
                ArticleStatus::Submitted,
                ArticleStatus::Draft,
                ArticleStatus::Returned,
            ],
            NotificationKind::ArticlePublished,
        ),
        _ => (
            &[ArticleStatus::Submitted],
            NotificationKind::ArticlePublished,
        ),
    };
    let now = now_ms();
    let review = ArticleReview {
        outcome,
        by: me.id,
        at: now,
        comment: comment.clone(),
    };
    state
        .db
        .move_article(loaded.article.id, from, outcome, Some(&review), now)
        .await?;
    // A published version is searchable at once.
    crate::search::changed(state);
    let notice = loaded.notice(latest_title(state, &loaded).await?, comment);
    knowledge::tell(state, &[loaded.article.author], kind, notice, Some(me.id)).await?;
    let loaded = load_article(state, me, id, ArticleAction::ReadLatest).await?;
    let version = loaded.article.version;
    article_view(state, me, &loaded, version).await
}

#[utoipa::path(post, path = "/v1/articles/{id}/publish", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ReviewDecision,
    responses((status = 200, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> AppResult<axum::Json<Article>> {
    let me = caller.user()?;
    let comment = decision(&body)?.comment;
    Ok(axum::Json(
        decide(
            &state,
            me,
            ArticleId(id),
            ArticleStatus::Published,
            &comment,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/v1/articles/{id}/return", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ReviewDecision,
    responses((status = 200, body = Article), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody),
        (status = 422, body = parley_proto::ErrorBody)))]
pub async fn return_article(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> AppResult<axum::Json<Article>> {
    let me = caller.user()?;
    let comment = decision(&body)?.comment;
    Ok(axum::Json(
        decide(&state, me, ArticleId(id), ArticleStatus::Returned, &comment).await?,
    ))
}

#[utoipa::path(get, path = "/v1/articles/{id}/versions", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleVersionList), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<ArticleVersionList>> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    let published_only = !loaded.may(ArticleAction::ReadLatest);
    Ok(axum::Json(ArticleVersionList {
        versions: state
            .db
            .article_versions(loaded.article.id, published_only)
            .await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    pub from: i64,
    pub to: i64,
}

/// The body's diff, on a blocking thread: a long one takes a moment (and is bounded).
async fn diff_lines(from: String, to: String) -> AppResult<Vec<parley_proto::DiffChunk>> {
    tokio::task::spawn_blocking(move || diff::lines(&from, &to))
        .await
        .map_err(|err| AppError::internal(&err))
}

#[utoipa::path(get, path = "/v1/articles/{id}/diff", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path), DiffQuery),
    responses((status = 200, body = ArticleDiff), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<DiffQuery>,
) -> AppResult<axum::Json<ArticleDiff>> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    let from = content(&state, loaded.article.id, query.from).await?;
    let to = content(&state, loaded.article.id, query.to).await?;
    if from.published_at.is_none() || to.published_at.is_none() {
        policy::article(loaded.facts, ArticleAction::ReadLatest)?;
    }
    let mut fields = Vec::new();
    for (field, a, b) in [
        ("title", from.title.clone(), to.title.clone()),
        ("scope", from.scope.clone(), to.scope.clone()),
        ("tags", from.tags.join(", "), to.tags.join(", ")),
    ] {
        if a != b {
            fields.push(FieldChange {
                field: field.to_string(),
                from: a,
                to: b,
            });
        }
    }
    Ok(axum::Json(ArticleDiff {
        from: query.from,
        to: query.to,
        fields,
        lines: diff_lines(from.body, to.body).await?,
    }))
}

#[utoipa::path(get, path = "/v1/articles/{id}/comments", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleCommentList), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn comments(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<ArticleCommentList>> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    Ok(axum::Json(ArticleCommentList {
        comments: state.db.article_comments(loaded.article.id).await?,
    }))
}

/// Comment on an article; its author is told.
#[utoipa::path(post, path = "/v1/articles/{id}/comments", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewArticleComment,
    responses((status = 201, body = ArticleComment), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn add_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<NewArticleComment>,
) -> AppResult<(StatusCode, axum::Json<ArticleComment>)> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Respond).await?;
    let body = required(&req.body, "body", MAX_COMMENT_CHARS)?;
    let comment = state
        .db
        .add_article_comment(loaded.article.id, me.id, &body, now_ms())
        .await?;
    let title = content(&state, loaded.article.id, default_version(&loaded))
        .await?
        .title;
    let notice = loaded.notice(title, body);
    knowledge::tell(
        &state,
        &[loaded.article.author],
        NotificationKind::ArticleComment,
        notice,
        Some(me.id),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(comment)))
}

#[utoipa::path(put, path = "/v1/articles/{id}/vote", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ArticleVote,
    responses((status = 204), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<ArticleVote>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Respond).await?;
    state
        .db
        .set_article_vote(loaded.article.id, me.id, Some(req.helpful), now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/articles/{id}/vote", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn unvote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::Respond).await?;
    state
        .db
        .set_article_vote(loaded.article.id, me.id, None, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The recording kept with an article made from a meeting, for the article's readers.
#[utoipa::path(get, path = "/v1/articles/{id}/recording", tag = "knowledge", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "the whole file"),
        (status = 206, description = "the range asked for"),
        (status = 404, body = parley_proto::ErrorBody),
        (status = 416, description = "the range is outside the file")))]
pub async fn recording(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    let recording = match loaded.article.recording {
        Some(id) => state.db.recording(id).await?,
        None => None,
    }
    .ok_or_else(|| AppError::not_found("this article keeps no recording"))?;
    super::recordings::stream(&state, &recording, &headers).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttachmentQuery {
    /// `true`: always `Content-Disposition: attachment`, even for an image or a PDF.
    #[serde(default)]
    download: bool,
    /// The caller's token, for links and `<img>` that cannot send a header (read by `Caller`).
    #[serde(default, rename = "access_token")]
    #[param(value_type = Option<String>)]
    _access_token: Option<String>,
}

/// A file an article carries, for whoever may read the article: listed in its published
/// version, or, for its author and the knowledge admins, in its latest. Served as
/// `GET /v1/files/{id}/content` serves it (the file's current version).
#[utoipa::path(get, path = "/v1/articles/{id}/files/{file_id}", tag = "knowledge",
    security(("bearer" = [])), params(("id" = i64, Path), ("file_id" = i64, Path), AttachmentQuery),
    responses((status = 200, description = "the whole file"), (status = 206, description = "the range asked for"),
        (status = 304, description = "unchanged since the `ETag` given"),
        (status = 404, body = parley_proto::ErrorBody), (status = 416, description = "the range is outside the file")))]
pub async fn attachment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, file_id)): Path<(i64, i64)>,
    Query(query): Query<AttachmentQuery>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    let loaded = load_article(&state, me, ArticleId(id), ArticleAction::ReadPublished).await?;
    let file_id = FileId(file_id);
    let mut carried = false;
    if let Some(version) = loaded.article.published_version {
        carried = content(&state, loaded.article.id, version)
            .await?
            .attachments
            .contains(&file_id);
    }
    if !carried && loaded.may(ArticleAction::ReadLatest) {
        carried = content(&state, loaded.article.id, loaded.article.version)
            .await?
            .attachments
            .contains(&file_id);
    }
    let missing = || AppError::not_found("the article carries no such file");
    if !carried {
        return Err(missing());
    }
    let file = state
        .db
        .file(file_id)
        .await?
        .filter(|f| f.deleted_at.is_none())
        .ok_or_else(missing)?;
    super::files::send(&state, me, &file, None, query.download, &method, &headers).await
}
