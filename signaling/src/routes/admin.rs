use crate::auth::{random_hex, Caller};
use crate::error::{body_rejection, AppError, AppResult, Json};
use crate::policy::{self, Actor, AdminAction};
use crate::{org_csv, AppState};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use parley_proto::{ApiKey, CreateApiKey, ErrorCode, ImportReport};

/// Import departments and users from CSV (`name,email,department,role`). All or nothing: a
/// file with bad lines is rejected with every line number and reason. Matching is by email,
/// so importing the same file again changes nothing.
#[utoipa::path(post, path = "/v1/admin/import", tag = "admin", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "name,email,department,role"),
    responses((status = 200, body = ImportReport),
        (status = 422, body = parley_proto::ErrorBody, description = "import_rejected, with details per line"),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<axum::Json<ImportReport>> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ImportOrganisation)?;
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let report = import_csv(&state.db, &body).await?;
    tracing::info!(by = %me.id, ?report, "organisation imported");
    Ok(axum::Json(report))
}

/// Parse and apply an import file; shared by the REST endpoint and `parley admin import-org`.
pub async fn import_csv(db: &parley_storage::Database, data: &[u8]) -> AppResult<ImportReport> {
    let rows = org_csv::parse(data).map_err(|problems| {
        let mut err = AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ImportRejected,
            format!(
                "the file has {} bad line(s); nothing was imported",
                problems.len()
            ),
        );
        err.details = problems;
        err
    })?;
    Ok(db.import_org(&rows).await?)
}

/// A new API key and its secret. The secret is shown only now.
#[utoipa::path(post, path = "/v1/admin/api-keys", tag = "admin", security(("bearer" = [])), request_body = CreateApiKey,
    responses((status = 201, body = ApiKey), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateApiKey>,
) -> AppResult<(StatusCode, axum::Json<ApiKey>)> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ManageApiKeys)?;
    super::users::validate_name(&req.name)?;
    let key = new_api_key(&state.db, &req.name, Some(me.id)).await?;
    Ok((StatusCode::CREATED, axum::Json(key)))
}

/// Make a key and secret; shared by REST and `parley admin create-api-key`.
pub async fn new_api_key(
    db: &parley_storage::Database,
    name: &str,
    by: Option<parley_proto::UserId>,
) -> AppResult<ApiKey> {
    let key = format!("PK{}", random_hex(8).to_uppercase());
    let secret = random_hex(32);
    Ok(db.create_api_key(&key, &secret, name, by).await?)
}

#[utoipa::path(get, path = "/v1/admin/api-keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [ApiKey]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<ApiKey>>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageApiKeys)?;
    Ok(axum::Json(state.db.list_api_keys().await?))
}

/// Revoke a key: tokens signed with it stop working at once.
#[utoipa::path(delete, path = "/v1/admin/api-keys/{key}", tag = "admin", security(("bearer" = [])),
    params(("key" = String, Path)), responses((status = 204, description = "revoked"), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(key): Path<String>,
) -> AppResult<StatusCode> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageApiKeys)?;
    state.db.revoke_api_key(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}
