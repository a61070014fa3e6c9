//! The file library: roots, folders, their grants and watchers; channels' and departments'
//! own folders; the access audit.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::library::{self, Place};
use crate::policy::{self, Actor, AdminAction, FolderAction, MessageAction};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use parley_files::Level;
use parley_proto::{
    ChannelId, DepartmentId, FileAudit, FileList, Folder, FolderGrants, FolderId, FolderRoot,
    FolderRoots, FolderView, NewFolder, UpdateFolder, User,
};
use parley_storage::AuditTarget;
use serde::Deserialize;

fn folder_name(name: &str) -> AppResult<String> {
    super::files::file_name(name.trim()).map(str::to_string)
}

async fn view(state: &AppState, me: &User, place: Place) -> AppResult<FolderView> {
    let (folders, files) = state.db.folder_contents(place.folder.id).await?;
    let grants = if place.level == Level::Manage {
        Some(FolderGrants {
            inherit: place.folder.inherit,
            grants: place.chain[0].grants.clone(),
        })
    } else {
        None
    };
    let watching = state
        .db
        .watchers(&[place.folder.id])
        .await?
        .contains(&me.id);
    Ok(FolderView {
        path: place.path(),
        level: place.level,
        read_only: place.read_only,
        folder: place.folder,
        folders,
        files,
        grants,
        watching,
    })
}

/// The roots the caller can open: their own files, their department's (and those above it),
/// and every department's or channel's tree that lets them in.
#[utoipa::path(get, path = "/v1/folders", tag = "files", security(("bearer" = [])),
    responses((status = 200, body = FolderRoots)))]
pub async fn roots(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<FolderRoots>> {
    let me = caller.user()?;
    Ok(Json(library::open_to(&state, me).await?))
}

/// A folder, its path, what the caller may do there, and what is in it.
#[utoipa::path(get, path = "/v1/folders/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = FolderView), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<Json<FolderView>> {
    let me = caller.user()?;
    let place = library::place(&state, me, FolderId(id)).await?;
    Ok(Json(view(&state, me, place).await?))
}

/// A channel's files (its 文件库): the root of its tree, made on first use. Its members edit,
/// its creator manages.
#[utoipa::path(get, path = "/v1/channels/{id}/folder", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = FolderView), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn channel_folder(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<Json<FolderView>> {
    let me = caller.user()?;
    let channel = ChannelId(id);
    let access = crate::messaging::access(&state, me, channel).await?;
    policy::messages(Actor::from(me), &access, MessageAction::Read)?;
    let name = state
        .db
        .channel(channel)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    let root = state
        .db
        .root_folder(
            FolderRoot::Channel {
                channel_id: channel,
            },
            &name,
        )
        .await?;
    let place = library::place(&state, me, root.id).await?;
    Ok(Json(view(&state, me, place).await?))
}

/// A department's files: the root of its tree, made on first use. Its people (and those of
/// the departments below) edit, its department admins manage.
#[utoipa::path(get, path = "/v1/departments/{id}/folder", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = FolderView), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn department_folder(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<Json<FolderView>> {
    let me = caller.user()?;
    let department = state
        .db
        .department_by_id(DepartmentId(id))
        .await?
        .ok_or_else(|| AppError::not_found("no such folder"))?;
    let root = state
        .db
        .root_folder(
            FolderRoot::Department {
                department_id: department.id,
            },
            &department.name,
        )
        .await?;
    let place = library::place(&state, me, root.id).await?;
    Ok(Json(view(&state, me, place).await?))
}

/// A folder inside this one.
#[utoipa::path(post, path = "/v1/folders/{id}/folders", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewFolder,
    responses((status = 201, body = Folder), (status = 403, body = parley_proto::ErrorBody),
        (status = 409, body = parley_proto::ErrorBody), (status = 422, body = parley_proto::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    crate::error::Json(body): crate::error::Json<NewFolder>,
) -> AppResult<(StatusCode, Json<Folder>)> {
    let me = caller.user()?;
    let place = library::place(&state, me, FolderId(id)).await?;
    policy::folders(place.level, place.read_only, FolderAction::CreateFolder)?;
    if place.chain.len() >= parley_storage::MAX_DEPTH {
        return Err(AppError::invalid(format!(
            "folders nest at most {} deep",
            parley_storage::MAX_DEPTH
        )));
    }
    let name = folder_name(&body.name)?;
    let folder = state
        .db
        .create_folder(place.folder.id, &name, me.id)
        .await?;
    let target = AuditTarget {
        file: None,
        folder: Some(folder.id),
    };
    state
        .db
        .audit(me.id, "folder_create", target, &name)
        .await?;
    Ok((StatusCode::CREATED, Json(folder)))
}

/// Rename (`edit`), archive or unarchive (`manage`). A root keeps its name.
#[utoipa::path(patch, path = "/v1/folders/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateFolder,
    responses((status = 200, body = Folder), (status = 403, body = parley_proto::ErrorBody),
        (status = 409, body = parley_proto::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    crate::error::Json(body): crate::error::Json<UpdateFolder>,
) -> AppResult<Json<Folder>> {
    let me = caller.user()?;
    let place = library::place(&state, me, FolderId(id)).await?;
    let name = match &body.name {
        Some(name) => {
            if place.folder.root.is_some() {
                return Err(AppError::invalid("a root folder is named after its owner"));
            }
            policy::folders(place.level, place.read_only, FolderAction::Rename)?;
            Some(folder_name(name)?)
        }
        None => None,
    };
    if body.archived.is_some() {
        policy::folders(place.level, place.read_only, FolderAction::Archive)?;
    }
    let folder = state
        .db
        .update_folder(place.folder.id, name.as_deref(), body.archived)
        .await?;
    let detail = serde_json::to_string(&body).unwrap_or_default();
    let target = AuditTarget {
        file: None,
        folder: Some(folder.id),
    };
    state
        .db
        .audit(me.id, "folder_update", target, &detail)
        .await?;
    Ok(Json(folder))
}

/// Replace the folder's grants (`manage`): they apply here and below, until a nearer grant for
/// the same person; `inherit: false` makes the folder ignore the grants above it.
#[utoipa::path(put, path = "/v1/folders/{id}/grants", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = FolderGrants,
    responses((status = 200, body = FolderView), (status = 403, body = parley_proto::ErrorBody),
        (status = 422, body = parley_proto::ErrorBody)))]
pub async fn set_grants(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    crate::error::Json(body): crate::error::Json<FolderGrants>,
) -> AppResult<Json<FolderView>> {
    let me = caller.user()?;
    let place = library::place(&state, me, FolderId(id)).await?;
    policy::folders(place.level, place.read_only, FolderAction::Share)?;
    library::check_grants(&state, &body.grants).await?;
    state
        .db
        .set_grants(place.folder.id, body.inherit, &body.grants)
        .await?;
    let detail = serde_json::to_string(&body).unwrap_or_default();
    let target = AuditTarget {
        file: None,
        folder: Some(place.folder.id),
    };
    state.db.audit(me.id, "share", target, &detail).await?;
    let place = library::place(&state, me, place.folder.id).await?;
    Ok(Json(view(&state, me, place).await?))
}

/// Be told (a notification and a hub event) when a file or a new version lands in this folder
/// or below it; `DELETE` to stop.
#[utoipa::path(post, path = "/v1/folders/{id}/watch", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "watching"), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    set_watch(state, caller.user()?, id, true).await
}

#[utoipa::path(delete, path = "/v1/folders/{id}/watch", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "not watching"), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn unwatch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    set_watch(state, caller.user()?, id, false).await
}

async fn set_watch(state: AppState, me: &User, id: i64, on: bool) -> AppResult<StatusCode> {
    let place = library::place(&state, me, FolderId(id)).await?;
    policy::folders(place.level, place.read_only, FolderAction::Watch)?;
    state.db.set_watching(place.folder.id, me.id, on).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The folder's files in the trash, for those who manage it (`edit`: only those they uploaded),
/// most recently deleted first; each restores with `POST /v1/files/{id}/restore`.
#[utoipa::path(get, path = "/v1/folders/{id}/trash", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = FileList), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn trash(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<Json<FileList>> {
    let me = caller.user()?;
    let place = library::place(&state, me, FolderId(id)).await?;
    policy::folders(place.level, place.read_only, FolderAction::Trash)?;
    let mut files = state.db.folder_trash(place.folder.id).await?;
    if place.level < Level::Manage {
        files.retain(|f| f.owner == me.id);
    }
    Ok(Json(FileList { files }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (for the next page).
    before: Option<i64>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
}

/// Who read, changed, shared or deleted what, and when: admins only.
#[utoipa::path(get, path = "/v1/admin/file-audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = FileAudit), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<FileAudit>> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::FileAudit)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit must be 1 to 500"));
    }
    Ok(Json(FileAudit {
        entries: state.db.audit_log(query.before, limit).await?,
    }))
}
