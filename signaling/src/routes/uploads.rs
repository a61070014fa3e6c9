//! Resumable uploads, as the tus 1.0 protocol has them (core, creation, creation-with-upload,
//! termination, expiration), so tus-js-client, tuspy and other standard clients work as they
//! are; and `POST /v1/files`, one plain request for small files.
//!
//! Upload metadata (`Upload-Metadata`, base64 values): `filename` (required), `channel` (the
//! id of a channel to attach the file to a message there) or `folder` (a library folder;
//! neither: the caller's own files), `comment` (said of the version). `filetype` is accepted and ignored: the type is
//! read from the bytes.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, FolderAction, MessageAction};
use crate::uploads::Received;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_files::{TUS_EXTENSIONS, TUS_RESUMABLE, TUS_UPLOAD_CONTENT_TYPE};
use parley_proto::{ChannelId, ErrorCode, File, FolderId, FolderRoot, User};
use parley_storage::{now_ms, NewUpload, Quota, QuotaExceeded, UploadRecord};
use serde::Deserialize;

const TUS_RESUMABLE_H: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
/// Set once the upload is a file: the file's id and the version it became.
const PARLEY_FILE_ID: HeaderName = HeaderName::from_static("parley-file-id");
const PARLEY_FILE_VERSION: HeaderName = HeaderName::from_static("parley-file-version");

fn value(text: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&text.to_string()).unwrap_or(HeaderValue::from_static(""))
}

fn http_date(ms: i64) -> HeaderValue {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    value(httpdate::fmt_http_date(at))
}

/// Every tus answer says which protocol it speaks.
fn tus(status: StatusCode) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header(TUS_RESUMABLE_H, TUS_RESUMABLE)
        .header(header::CACHE_CONTROL, "no-store")
}

fn build(builder: axum::http::response::Builder) -> AppResult<Response> {
    builder
        .body(Body::empty())
        .map_err(|e| AppError::internal(&e))
}

/// Requests other than `OPTIONS` must say `Tus-Resumable: 1.0.0`.
fn check_version(headers: &HeaderMap) -> AppResult<()> {
    match headers.get(TUS_RESUMABLE_H).and_then(|v| v.to_str().ok()) {
        Some(TUS_RESUMABLE) => Ok(()),
        other => Err(AppError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::InvalidInput,
            format!(
                "Tus-Resumable must be {TUS_RESUMABLE}, not {}",
                other.unwrap_or("missing")
            ),
        )),
    }
}

fn has_upload_body(headers: &HeaderMap) -> AppResult<bool> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(t) if t.eq_ignore_ascii_case(TUS_UPLOAD_CONTENT_TYPE) => Ok(true),
        None => Ok(false),
        Some(other) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("upload bytes go as {TUS_UPLOAD_CONTENT_TYPE}, not {other}"),
        )),
    }
}

/// What the server supports.
#[utoipa::path(options, path = "/v1/uploads", tag = "files",
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension` and `Tus-Max-Size` headers")))]
pub async fn options(State(state): State<AppState>) -> AppResult<Response> {
    build(
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(TUS_RESUMABLE_H, TUS_RESUMABLE)
            .header("tus-version", TUS_RESUMABLE)
            .header("tus-extension", TUS_EXTENSIONS)
            .header("tus-max-size", state.uploads.config.max_file_bytes),
    )
}

/// What a new upload is for, from its metadata or query.
struct Target {
    name: String,
    channel: Option<ChannelId>,
    folder: Option<FolderId>,
    comment: String,
}

fn target(
    name: Option<&str>,
    channel: Option<&str>,
    folder: Option<&str>,
    comment: Option<&str>,
) -> AppResult<Target> {
    let name = name.ok_or_else(|| AppError::invalid("the upload needs a filename"))?;
    let name = super::files::file_name(name)?.to_string();
    let channel = channel
        .map(|c| {
            c.trim()
                .parse()
                .map(ChannelId)
                .map_err(|_| AppError::invalid(format!("channel must be a channel id, not `{c}`")))
        })
        .transpose()?;
    let folder = folder
        .map(|f| {
            f.trim()
                .parse()
                .map(FolderId)
                .map_err(|_| AppError::invalid(format!("folder must be a folder id, not `{f}`")))
        })
        .transpose()?;
    if channel.is_some() && folder.is_some() {
        return Err(AppError::invalid(
            "an upload goes to a channel (an attachment) or to a folder, not both",
        ));
    }
    let comment = comment.unwrap_or_default().to_string();
    if comment.chars().count() > 1000 {
        return Err(AppError::invalid(
            "a version comment is at most 1000 characters",
        ));
    }
    Ok(Target {
        name,
        channel,
        folder,
        comment,
    })
}

/// Check the size, the channel and the quotas, and record the upload.
async fn start(
    state: &AppState,
    me: &User,
    length: u64,
    target: Target,
) -> AppResult<UploadRecord> {
    let max = state.uploads.config.max_file_bytes;
    if length > max {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("a file is at most {max} bytes ([files] max_file_bytes); this one is {length}"),
        ));
    }
    let folder = match (target.channel, target.folder) {
        (Some(channel), _) => {
            let access = crate::messaging::access(state, me, channel).await?;
            policy::messages(Actor::from(me), &access, MessageAction::Send)?;
            None
        }
        (None, Some(folder)) => {
            let place = crate::library::place(state, me, folder).await?;
            policy::folders(place.level, place.read_only, FolderAction::Upload)?;
            Some(folder)
        }
        // One's own files.
        (None, None) => Some(
            state
                .db
                .root_folder(FolderRoot::User { user_id: me.id }, &me.name)
                .await?
                .id,
        ),
    };
    if let Some(folder) = folder {
        unlocked(state, me, folder, &target.name).await?;
    }
    let now = now_ms();
    let new = NewUpload {
        id: crate::auth::random_hex(16),
        owner: me.id,
        length: i64::try_from(length)
            .map_err(|_| AppError::invalid("Upload-Length is too large"))?,
        name: target.name,
        channel: target.channel,
        folder,
        comment: target.comment,
        expires_at: state.uploads.expiry(now),
    };
    let config = &state.uploads.config;
    let quota = Quota {
        user_bytes: i64::try_from(config.user_quota_bytes).unwrap_or(i64::MAX),
        department_bytes: i64::try_from(config.department_quota_bytes).unwrap_or(i64::MAX),
    };
    if let Err(over) = state.db.create_upload(&new, quota).await? {
        let (whose, limit, used) = match over {
            QuotaExceeded::User { limit, used } => ("your files", limit, used),
            QuotaExceeded::Department { limit, used } => ("your department's files", limit, used),
        };
        let key = if whose == "your files" {
            "user_quota_bytes"
        } else {
            "department_quota_bytes"
        };
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::QuotaExceeded,
            format!(
                "{whose} may take {limit} bytes ([files] {key}); {used} are taken and this upload needs {length}"
            ),
        ));
    }
    state
        .db
        .upload(&new.id)
        .await?
        .ok_or_else(|| AppError::not_found("the upload vanished"))
}

/// `423` while someone else holds the edit lock of the folder's file of this name.
async fn unlocked(state: &AppState, me: &User, folder: FolderId, name: &str) -> AppResult<()> {
    match state.db.file_named(folder, name).await? {
        Some(existing) => super::files::locked_out(me, &existing),
        None => Ok(()),
    }
}

/// The uploader may still put the file where it goes: rights, an archive or a lock may have
/// changed while the bytes came (an upload can take days).
async fn still_allowed(state: &AppState, upload: &UploadRecord) -> AppResult<()> {
    let me = state
        .db
        .user(upload.owner)
        .await?
        .map(|r| r.user)
        .ok_or_else(|| AppError::not_found("no such upload"))?;
    if let Some(channel) = upload.channel {
        let access = crate::messaging::access(state, &me, channel).await?;
        policy::messages(Actor::from(&me), &access, MessageAction::Send)?;
    }
    if let Some(folder) = upload.folder {
        let place = crate::library::place(state, &me, folder).await?;
        policy::folders(place.level, place.read_only, FolderAction::Upload)?;
        unlocked(state, &me, folder, &upload.name).await?;
    }
    Ok(())
}

/// The caller's upload, still open: what is not theirs, or expired, is not found.
async fn owned(state: &AppState, me: &User, id: &str) -> AppResult<UploadRecord> {
    let upload = state.db.upload(id).await?;
    match upload {
        Some(u) if u.owner == me.id && (u.file.is_some() || u.expires_at >= now_ms()) => Ok(u),
        _ => Err(AppError::not_found("no such upload (it may have expired)")),
    }
}

/// Receive bytes for `upload` and, once they are all there, make it a file. A `resumable`
/// upload keeps what arrived when the body breaks off; a plain one is all or nothing.
async fn append(
    state: &AppState,
    upload: &UploadRecord,
    body: Body,
    resumable: bool,
) -> AppResult<(i64, Option<File>)> {
    let Some(writing) = state.uploads.writing(&upload.id) else {
        return Err(AppError::new(
            StatusCode::LOCKED,
            ErrorCode::Conflict,
            "another request is writing to this upload; retry when it ends",
        )
        .retry_after(std::time::Duration::from_secs(1)));
    };
    let received = if upload.received < upload.length {
        let received = if resumable {
            state
                .uploads
                .receive(state, upload, &writing, body, true)
                .await?
        } else {
            state
                .uploads
                .receive_whole(state, upload, &writing, body)
                .await?
        };
        match received {
            Received::Whole(n) => n,
            Received::Cut(n) if n == upload.length => {
                return Err(AppError::invalid(format!(
                    "the body goes past Upload-Length ({}); the bytes up to it were kept",
                    upload.length
                )))
            }
            Received::Cut(n) => return Ok((n, None)),
        }
    } else {
        upload.received
    };
    if received < upload.length {
        return Ok((received, None));
    }
    let upload = state
        .db
        .upload(&upload.id)
        .await?
        .ok_or_else(|| AppError::not_found("no such upload"))?;
    let fresh = upload.file.is_none();
    if fresh {
        still_allowed(state, &upload).await?;
    }
    let file = state.uploads.finish(state, &upload).await?;
    drop(writing);
    if fresh {
        crate::library::landed(state, &file, upload.owner, &upload.comment).await?;
    }
    Ok((received, Some(file)))
}

fn with_file(
    builder: axum::http::response::Builder,
    file: Option<&File>,
) -> axum::http::response::Builder {
    match file {
        Some(f) => builder
            .header(PARLEY_FILE_ID, f.id.0)
            .header(PARLEY_FILE_VERSION, f.version),
        None => builder,
    }
}

/// Start an upload (tus creation): `Upload-Length` and `Upload-Metadata` say what comes; bytes
/// may come in the same request (`Content-Type: application/offset+octet-stream`). Answers
/// `Location`, the upload's URL to `PATCH` and `HEAD`.
#[utoipa::path(post, path = "/v1/uploads", tag = "files", security(("bearer" = [])),
    params(("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header),
        ("Upload-Metadata" = String, Header, description = "`filename` (required), `channel`, `comment`; values in base64")),
    responses((status = 201, description = "`Location`, `Upload-Expires`, and `Upload-Offset` when bytes came along"),
        (status = 403, body = parley_proto::ErrorBody), (status = 412, body = parley_proto::ErrorBody),
        (status = 413, description = "over `[files] max_file_bytes` (`payload_too_large`) or a quota (`quota_exceeded`)", body = parley_proto::ErrorBody),
        (status = 422, description = "`invalid_input` or `invalid_file_name`", body = parley_proto::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let me = caller.user()?;
    check_version(&headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(AppError::invalid(
            "Upload-Defer-Length is not supported: give Upload-Length",
        ));
    }
    let length = headers
        .get(UPLOAD_LENGTH)
        .ok_or_else(|| AppError::invalid("Upload-Length is required"))?
        .to_str()
        .map_err(|_| AppError::invalid("Upload-Length is not text"))?;
    let length = parley_files::parse_length("Upload-Length", length)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let metadata = match headers.get(UPLOAD_METADATA) {
        Some(v) => parley_files::parse_metadata(
            v.to_str()
                .map_err(|_| AppError::invalid("Upload-Metadata is not text"))?,
        )
        .map_err(|e| AppError::invalid(e.to_string()))?,
        None => parley_files::Metadata::default(),
    };
    let with_bytes = has_upload_body(&headers)?;
    let target = target(
        metadata.get("filename"),
        metadata.get("channel"),
        metadata.get("folder"),
        metadata.get("comment"),
    )?;
    let upload = start(&state, me, length, target).await?;
    let mut answer = tus(StatusCode::CREATED)
        .header(
            header::LOCATION,
            format!("/v1/uploads/{id}", id = upload.id),
        )
        .header(UPLOAD_EXPIRES, http_date(upload.expires_at));
    if with_bytes || length == 0 {
        let (offset, file) = append(&state, &upload, body, true).await?;
        answer = with_file(answer.header(UPLOAD_OFFSET, offset), file.as_ref());
    }
    build(answer)
}

/// Where an upload stands: `Upload-Offset` is where to resume.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`; `Parley-File-Id` and `Parley-File-Version` once complete"),
        (status = 404, description = "no such upload, or it expired")))]
pub async fn head(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    check_version(&headers)?;
    let upload = owned(&state, me, &id).await?;
    let file = match upload.file {
        Some((file, _)) => state.db.file(file).await?,
        None => None,
    };
    build(with_file(
        tus(StatusCode::OK)
            .header(UPLOAD_OFFSET, upload.received)
            .header(UPLOAD_LENGTH, upload.length)
            .header(UPLOAD_EXPIRES, http_date(upload.expires_at)),
        file.as_ref(),
    ))
}

/// Send bytes from `Upload-Offset`, which must be where the upload stands. The last bytes
/// make it a file: the answer then carries `Parley-File-Id` and `Parley-File-Version`.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "`Upload-Offset`: where the upload now stands"),
        (status = 404, description = "no such upload, or it expired", body = parley_proto::ErrorBody),
        (status = 409, description = "`upload_offset_mismatch`", body = parley_proto::ErrorBody),
        (status = 415, body = parley_proto::ErrorBody),
        (status = 423, description = "another request is writing to it", body = parley_proto::ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let me = caller.user()?;
    check_version(&headers)?;
    if !has_upload_body(&headers)? {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("upload bytes go as {TUS_UPLOAD_CONTENT_TYPE}"),
        ));
    }
    let offset = headers
        .get(UPLOAD_OFFSET)
        .ok_or_else(|| AppError::invalid("Upload-Offset is required"))?
        .to_str()
        .map_err(|_| AppError::invalid("Upload-Offset is not text"))?;
    let offset = parley_files::parse_length("Upload-Offset", offset)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let upload = owned(&state, me, &id).await?;
    if i64::try_from(offset).ok() != Some(upload.received) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::UploadOffsetMismatch,
            format!(
                "the upload stands at {} bytes, not {offset}; resume from there",
                upload.received
            ),
        ));
    }
    let (offset, file) = append(&state, &upload, body, true).await?;
    build(with_file(
        tus(StatusCode::NO_CONTENT)
            .header(UPLOAD_OFFSET, offset)
            .header(UPLOAD_EXPIRES, http_date(state.uploads.expiry(now_ms()))),
        file.as_ref(),
    ))
}

/// Give up an upload (tus termination): its bytes are removed. A completed upload's file stays.
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 204, description = "gone"), (status = 404, body = parley_proto::ErrorBody),
        (status = 423, body = parley_proto::ErrorBody)))]
pub async fn terminate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let me = caller.user()?;
    check_version(&headers)?;
    let upload = owned(&state, me, &id).await?;
    let Some(_writing) = state.uploads.writing(&upload.id) else {
        return Err(AppError::new(
            StatusCode::LOCKED,
            ErrorCode::Conflict,
            "another request is writing to this upload; retry when it ends",
        ));
    };
    state.uploads.discard(&state, &upload.id).await?;
    build(tus(StatusCode::NO_CONTENT))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlainUpload {
    /// The file's name.
    name: String,
    /// Attach to a message in this channel.
    channel: Option<String>,
    /// Put it in this folder of the library (neither: one's own files).
    folder: Option<String>,
    /// Said of the version.
    comment: Option<String>,
}

/// Upload a file in one request: the body is the file's bytes (`Content-Length` required).
/// Uploading a name one already has adds a version. For large files use `/v1/uploads`, which
/// resumes after a broken connection.
#[utoipa::path(post, path = "/v1/files", tag = "files", security(("bearer" = [])),
    params(PlainUpload), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = File), (status = 403, body = parley_proto::ErrorBody),
        (status = 411, body = parley_proto::ErrorBody),
        (status = 413, description = "over `[files] max_file_bytes` (`payload_too_large`) or a quota (`quota_exceeded`)", body = parley_proto::ErrorBody),
        (status = 422, description = "`invalid_input` or `invalid_file_name`", body = parley_proto::ErrorBody)))]
pub async fn plain(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<PlainUpload>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let me = caller.user()?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AppError::new(
                StatusCode::LENGTH_REQUIRED,
                ErrorCode::InvalidInput,
                "Content-Length is required (or upload with /v1/uploads)",
            )
        })?;
    let length = parley_files::parse_length("Content-Length", length)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let target = target(
        Some(&query.name),
        query.channel.as_deref(),
        query.folder.as_deref(),
        query.comment.as_deref(),
    )?;
    let upload = start(&state, me, length, target).await?;
    match append(&state, &upload, body, false).await {
        Ok((_, Some(file))) => Ok((StatusCode::CREATED, axum::Json(file)).into_response()),
        outcome => {
            // A plain upload cannot resume: what arrived goes.
            state.uploads.discard(&state, &upload.id).await?;
            match outcome {
                Err(e) => Err(e),
                _ => Err(AppError::invalid(
                    "the body ended before Content-Length bytes; nothing was stored",
                )),
            }
        }
    }
}
