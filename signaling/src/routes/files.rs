//! Files: one's own files with their versions, attachments, downloads and the trash.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, FileAction, FileFacts};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures::TryStreamExt;
use parley_proto::{File, FileId, FileList, FileVersionList, LockFile, RenameFile, User};
use parley_storage::AuditTarget;
use serde::Deserialize;

/// The file, if the caller may do `action` with it.
pub async fn load(state: &AppState, me: &User, id: FileId, action: FileAction) -> AppResult<File> {
    let file = state
        .db
        .file(id)
        .await?
        .ok_or_else(|| AppError::not_found("no such file"))?;
    let sent_in = match (file.channel, file.message) {
        (Some(channel), Some(_)) => state.db.channel_access(channel, me.id).await?,
        _ => None,
    };
    let library = match file.folder {
        Some(folder) => match state.db.folder_chain(folder).await {
            Ok(chain) => Some((
                crate::library::level_in(state, me, &chain).await?,
                chain.iter().any(|l| l.folder.archived_at.is_some()),
            )),
            Err(parley_storage::StoreError::NotFound) => Some((parley_files::Level::None, true)),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let facts = FileFacts {
        owner: file.owner,
        trashed: file.deleted_at.is_some(),
        sent_in: sent_in.as_ref(),
        library,
    };
    policy::files(Actor::from(me), &facts, action)?;
    Ok(file)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `true`: the files in one's trash instead.
    #[serde(default)]
    trash: bool,
}

/// The caller's own files (not attachments), by name; or, with `trash=true`, those in the trash.
#[utoipa::path(get, path = "/v1/files", tag = "files", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = FileList)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> AppResult<axum::Json<FileList>> {
    let me = caller.user()?;
    Ok(axum::Json(FileList {
        files: state.db.files_of(me.id, query.trash).await?,
    }))
}

#[utoipa::path(get, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = File), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    Ok(axum::Json(
        load(&state, me, FileId(id), FileAction::Read).await?,
    ))
}

/// Every version, newest first.
#[utoipa::path(get, path = "/v1/files/{id}/versions", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = FileVersionList), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<FileVersionList>> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Read).await?;
    Ok(axum::Json(FileVersionList {
        versions: state.db.file_versions(file.id).await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContentQuery {
    /// Which version (the current one when absent).
    version: Option<i64>,
    /// `true`: always `Content-Disposition: attachment`, even for an image or a PDF.
    #[serde(default)]
    download: bool,
    /// The caller's token, for links and `<img>` that cannot send a header (read by `Caller`).
    #[serde(default, rename = "access_token")]
    #[param(value_type = Option<String>)]
    _access_token: Option<String>,
}

/// The bytes of a version: whole, or one range (`206`); `304` when `If-None-Match` names its
/// `ETag` (the content's SHA-256). Images and PDFs are shown inline, anything else downloads;
/// `Content-Disposition` keeps the name as it is, Chinese included (RFC 6266 / 5987).
#[utoipa::path(get, path = "/v1/files/{id}/content", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path), ContentQuery),
    responses((status = 200, description = "the whole file"), (status = 206, description = "the range asked for"),
        (status = 304, description = "unchanged since the `ETag` given"),
        (status = 404, body = parley_proto::ErrorBody), (status = 416, description = "the range is outside the file")))]
pub async fn content(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<ContentQuery>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Read).await?;
    send(
        &state,
        me,
        &file,
        query.version,
        query.download,
        &method,
        &headers,
    )
    .await
}

/// A version of `file`, which `me` may read (the current one when `version` is `None`), as
/// `GET /v1/files/{id}/content` answers: whole, a range, or `304`; `download` forces
/// `Content-Disposition: attachment`.
pub async fn send(
    state: &AppState,
    me: &User,
    file: &File,
    version: Option<i64>,
    download: bool,
    method: &axum::http::Method,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let content = state
        .db
        .file_content(file.id, version)
        .await?
        .ok_or_else(|| AppError::not_found("no such version"))?;
    let size = u64::try_from(content.version.size).unwrap_or(0);
    let etag = parley_files::etag(&content.version.sha256);
    let common = |builder: axum::http::response::Builder| {
        builder
            .header(header::ETAG, &etag)
            .header(header::CACHE_CONTROL, "private, no-cache")
            .header(header::ACCEPT_RANGES, "bytes")
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| parley_files::etag_matches(v, &etag));
    if unchanged {
        return common(Response::builder().status(StatusCode::NOT_MODIFIED))
            .body(Body::empty())
            .map_err(|e| AppError::internal(&e));
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => match parley_files::byte_range(value, size) {
            Some(range) => Some(range),
            None => {
                return common(Response::builder().status(StatusCode::RANGE_NOT_SATISFIABLE))
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::empty())
                    .map_err(|e| AppError::internal(&e))
            }
        },
        None => None,
    };
    let wanted = range.clone().unwrap_or(0..size);
    if wanted.start == 0 && *method != axum::http::Method::HEAD {
        // Once per download, not per range a player asks for (nor per HEAD).
        let target = AuditTarget {
            file: Some(file.id),
            folder: file.folder,
        };
        let detail = format!("{} v{}", file.name, content.version.version);
        state.db.audit(me.id, "download", target, &detail).await?;
    }
    let body = if wanted.is_empty() {
        Body::empty()
    } else {
        let stream = match crate::sealed::data_key(state, content.sealed.as_ref())? {
            Some(data_key) => {
                crate::sealed::open_range(
                    &state.objects,
                    &content.object_key,
                    data_key,
                    size,
                    wanted.clone(),
                )
                .await?
            }
            None => {
                state
                    .objects
                    .stream_range(&content.object_key, wanted.clone())
                    .await?
            }
        };
        Body::from_stream(stream.map_err(std::io::Error::other))
    };
    let sniffed_inline = parley_files::sniff_inline(&content.version.mime);
    let mut response = common(Response::builder())
        .header(header::CONTENT_TYPE, content.version.mime.as_str())
        .header(header::CONTENT_LENGTH, wanted.end - wanted.start)
        .header(
            header::CONTENT_DISPOSITION,
            parley_files::content_disposition(&file.name, sniffed_inline && !download),
        );
    response = match range {
        Some(r) => response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", r.start, r.end - 1),
        ),
        None => response.status(StatusCode::OK),
    };
    response.body(body).map_err(|e| AppError::internal(&e))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailQuery {
    /// `small` (fits 256 × 256, the default) or `large` (fits 1024 × 1024).
    size: Option<String>,
    /// Which version (the current one when absent).
    version: Option<i64>,
    /// The caller's token, for `<img>` that cannot send a header (read by `Caller`).
    #[serde(default, rename = "access_token")]
    #[param(value_type = Option<String>)]
    _access_token: Option<String>,
}

/// An image's thumbnail, a JPEG made once when the content was uploaded (never enlarged;
/// transparency on white). `404` for what is not an image Parley could read.
#[utoipa::path(get, path = "/v1/files/{id}/thumbnail", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path), ThumbnailQuery),
    responses((status = 200, description = "image/jpeg"), (status = 304, description = "unchanged since the `ETag` given"),
        (status = 404, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn thumbnail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<ThumbnailQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    let size = match query.size.as_deref() {
        None => parley_files::ThumbnailSize::Small,
        Some(text) => parley_files::ThumbnailSize::parse(text).ok_or_else(|| {
            AppError::invalid(format!("size must be small or large, not `{text}`"))
        })?,
    };
    let file = load(&state, me, FileId(id), FileAction::Read).await?;
    let content = state
        .db
        .file_content(file.id, query.version)
        .await?
        .filter(|c| c.thumbnails)
        .ok_or_else(|| AppError::not_found("this version has no thumbnail (it is not an image)"))?;
    let etag = parley_files::etag(&format!("{}-{}", content.version.sha256, size.as_str()));
    let builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "private, no-cache");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| parley_files::etag_matches(v, &etag));
    if unchanged {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| AppError::internal(&e));
    }
    let key = crate::uploads::thumbnail_key(&content.version.sha256, size);
    let mut bytes = state.objects.get(&key).await?;
    if let Some(data_key) = crate::sealed::data_key(&state, content.sealed.as_ref())? {
        let stream = crate::uploads::thumbnail_stream(size);
        bytes = parley_files::open_all(&data_key, stream, &bytes)
            .map_err(|e| AppError::internal(&e))?
            .into();
    }
    builder
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "image/jpeg")
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .map_err(|e| AppError::internal(&e))
}

/// Move a file to the trash (all its versions); it can be restored for `[files] trash_days`.
#[utoipa::path(delete, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "in the trash"), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Delete).await?;
    state.db.trash_file(file.id, me.id).await?;
    audit(&state, me, &file, "delete", &file.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a file out of the trash. `409 conflict` when a file of the same name took its place.
#[utoipa::path(post, path = "/v1/files/{id}/restore", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Delete).await?;
    state.db.restore_file(file.id).await?;
    audit(&state, me, &file, "restore", &file.name).await?;
    Ok(axum::Json(
        load(&state, me, file.id, FileAction::Read).await?,
    ))
}

async fn audit(
    state: &AppState,
    me: &User,
    file: &File,
    action: &str,
    detail: &str,
) -> AppResult<()> {
    let target = AuditTarget {
        file: Some(file.id),
        folder: file.folder,
    };
    state.db.audit(me.id, action, target, detail).await?;
    // Renamed, trashed or restored: the search index looks again now.
    crate::search::changed(state);
    Ok(())
}

/// Make an old version current again: it becomes a new version (with the same content), and
/// those watching hear of it.
#[utoipa::path(post, path = "/v1/files/{id}/versions/{version}/restore", tag = "files",
    security(("bearer" = [])), params(("id" = i64, Path), ("version" = i64, Path)),
    responses((status = 200, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody),
        (status = 423, body = parley_proto::ErrorBody)))]
pub async fn restore_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, version)): Path<(i64, i64)>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Write).await?;
    locked_out(me, &file)?;
    let comment = format!("restored from version {version}");
    let restored = match state
        .db
        .restore_version(file.id, version, me.id, &comment)
        .await
    {
        Err(parley_storage::StoreError::NotFound) => {
            return Err(AppError::not_found("no such version"))
        }
        other => other?,
    };
    crate::library::landed(&state, &restored, me.id, &comment).await?;
    Ok(axum::Json(restored))
}

/// Rename a file (`edit` in its folder; the owner for anything else). `409 conflict` when its
/// folder has a file of that name; `423` while someone else holds its edit lock.
#[utoipa::path(patch, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RenameFile,
    responses((status = 200, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 409, body = parley_proto::ErrorBody),
        (status = 422, body = parley_proto::ErrorBody), (status = 423, body = parley_proto::ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    crate::error::Json(body): crate::error::Json<RenameFile>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Write).await?;
    locked_out(me, &file)?;
    let name = file_name(&body.name)?;
    state.db.rename_file(file.id, name).await?;
    audit(
        &state,
        me,
        &file,
        "rename",
        &format!("{} -> {name}", file.name),
    )
    .await?;
    Ok(axum::Json(
        load(&state, me, file.id, FileAction::Read).await?,
    ))
}

/// `name`, if a file or folder may be called that (`422 invalid_file_name` otherwise).
pub fn file_name(name: &str) -> AppResult<&str> {
    parley_files::check_name(name).map_err(|e| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            parley_proto::ErrorCode::InvalidFileName,
            e.to_string(),
        )
    })
}

/// `423` while someone else holds the file's edit lock.
pub fn locked_out(me: &User, file: &File) -> AppResult<()> {
    match file.locked_by {
        Some(holder) if holder != me.id => Err(AppError::new(
            StatusCode::LOCKED,
            parley_proto::ErrorCode::Conflict,
            format!(
                "{} is locked for editing by user {holder} until {}",
                file.name,
                file.locked_until.unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// Take (or renew) the edit lock, so nobody else adds a version meanwhile; it ends by itself
/// after `minutes` (30 by default, at most a day). `423` while someone else holds it.
#[utoipa::path(post, path = "/v1/files/{id}/lock", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = LockFile,
    responses((status = 200, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody), (status = 423, body = parley_proto::ErrorBody)))]
pub async fn lock(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    crate::error::Json(body): crate::error::Json<LockFile>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    let minutes = body.minutes.unwrap_or(30);
    if !(1..=1440).contains(&minutes) {
        return Err(AppError::invalid("minutes must be 1 to 1440"));
    }
    let file = load(&state, me, FileId(id), FileAction::Write).await?;
    let until = parley_storage::now_ms() + minutes * 60_000;
    if !state.db.lock_file(file.id, me.id, Some(until)).await? {
        let file = load(&state, me, file.id, FileAction::Read).await?;
        locked_out(me, &file)?;
    }
    audit(
        &state,
        me,
        &file,
        "lock",
        &format!("{} for {minutes} min", file.name),
    )
    .await?;
    Ok(axum::Json(
        load(&state, me, file.id, FileAction::Read).await?,
    ))
}

/// Lift the edit lock: its holder, or whoever may delete the file.
#[utoipa::path(delete, path = "/v1/files/{id}/lock", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<File>> {
    let me = caller.user()?;
    let file = load(&state, me, FileId(id), FileAction::Read).await?;
    if file.locked_by.is_some_and(|holder| holder != me.id) {
        load(&state, me, file.id, FileAction::Delete).await?;
        state.db.break_lock(file.id).await?;
    } else {
        load(&state, me, file.id, FileAction::Write).await?;
        state.db.lock_file(file.id, me.id, None).await?;
    }
    audit(&state, me, &file, "unlock", &file.name).await?;
    Ok(axum::Json(
        load(&state, me, file.id, FileAction::Read).await?,
    ))
}
