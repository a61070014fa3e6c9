use crate::auth::{random_hex, Caller};
use crate::error::{body_rejection, AppError, AppResult, Json};
use crate::policy::{self, Actor, AdminAction};
use crate::{org_csv, AppState};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bytes::Bytes;
use parley_proto::{
    AdminStats, ApiKey, BackupsStatus, CreateApiKey, CreateLegalHold, ErrorCode, ImportReport,
    LegalHold, RetentionRun, RetentionStatus,
};
use parley_storage::{now_ms, StatsWindow};
use serde::Deserialize;

/// Import departments and users from CSV (`name,email,department,role`). All or nothing: a
/// file with bad lines is rejected with every line number and reason. Matching is by email,
/// so importing the same file again changes nothing.
#[utoipa::path(post, path = "/v1/admin/import", tag = "admin", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "name,email,department,role"),
    responses((status = 200, body = ImportReport),
        (status = 422, body = parley_proto::ErrorBody, description = "import_rejected, with details per line"),
        (status = 409, body = parley_proto::ErrorBody, description = "conflict: the import would leave no enabled admin; nothing was imported"),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<axum::Json<ImportReport>> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ImportOrganisation)?;
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let outcome = import_csv(&state.db, &body).await?;
    tracing::info!(by = %me.id, report = ?outcome.report, "organisation imported");
    // Open WebSockets follow the account, as after a PATCH: reopened with the new role or
    // department.
    for user in outcome.changed {
        state.hub.kick(user, None, ErrorCode::AccountChanged).await;
    }
    Ok(axum::Json(outcome.report))
}

/// Parse and apply an import file; shared by the REST endpoint and `parley admin import-org`.
pub async fn import_csv(
    db: &parley_storage::Database,
    data: &[u8],
) -> AppResult<parley_storage::ImportOutcome> {
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

/// Revoke a key: tokens signed with it stop working at once, and the meeting participants
/// they let in (hidden ones included) are removed with `token_revoked`, on every node.
#[utoipa::path(delete, path = "/v1/admin/api-keys/{key}", tag = "admin", security(("bearer" = [])),
    params(("key" = String, Path)),
    responses((status = 204, description = "revoked; every meeting participant that joined with a token signed by the key was removed (`removed` with `token_revoked`)"),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(key): Path<String>,
) -> AppResult<StatusCode> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageApiKeys)?;
    state.db.revoke_api_key(&key).await?;
    // Stored first, so no new join gets in with the key; then those already in go.
    state.hub.api_key_revoked(&key);
    let removed = state.sfu.remove_signed_by(key.clone()).await?;
    tracing::info!(api_key = %key, removed, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The dashboard's window when none is asked for: four weeks.
const DEFAULT_STATS_DAYS: u32 = 28;
/// At most a year, leap day included.
const MAX_STATS_DAYS: u32 = 366;
/// Time zones run from UTC-12:00 to UTC+14:00.
const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many days, ending with today (1 to 366; default 28).
    pub days: Option<i64>,
    /// Where days and weeks begin: minutes east of UTC (-840 to 840; default 0; 480 for China).
    pub utc_offset_minutes: Option<i64>,
}

/// The operators' dashboard: active users, messages, response time, announcement reads, tasks,
/// meetings, minutes and recordings over the last `days` days. docs/protocol.md defines each
/// figure.
#[utoipa::path(get, path = "/v1/admin/stats", tag = "admin", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, body = AdminStats),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: a parameter out of range, not a number, or unknown"),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden (not an admin), insufficient_grant (an app token)")))]
pub async fn stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> AppResult<axum::Json<AdminStats>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ViewStats)?;
    let Query(query) = query.map_err(|r| bad_query(r.body_text()))?;
    let days = match query.days {
        None => DEFAULT_STATS_DAYS,
        Some(days) => u32::try_from(days)
            .ok()
            .filter(|d| (1..=MAX_STATS_DAYS).contains(d))
            .ok_or_else(|| bad_query(format!("days must be 1 to {MAX_STATS_DAYS}, not {days}")))?,
    };
    let offset = match query.utc_offset_minutes {
        None => 0,
        Some(minutes) => i32::try_from(minutes)
            .ok()
            // A range, not `abs()`: `i32::MIN.abs()` overflows (a panic in debug builds, a
            // negative number that passes the check in release ones).
            .filter(|m| (-MAX_UTC_OFFSET_MINUTES..=MAX_UTC_OFFSET_MINUTES).contains(m))
            .ok_or_else(|| {
                bad_query(format!(
                    "utc_offset_minutes must be -{MAX_UTC_OFFSET_MINUTES} to {MAX_UTC_OFFSET_MINUTES}, not {minutes}"
                ))
            })?,
    };
    let window = StatsWindow::new(now_ms(), days, offset);
    Ok(axum::Json(state.db.admin_stats(&window).await?))
}

/// A query string the dashboard cannot use: `422 invalid_input`, as every other bad value.
fn bad_query(message: impl Into<String>) -> AppError {
    AppError::invalid(message)
}

/// The organisation's retention, the channels with their own, and what the passes deleted.
#[utoipa::path(get, path = "/v1/admin/retention", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RetentionStatus), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn retention(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<RetentionStatus>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageRetention)?;
    Ok(axum::Json(state.upkeep.retention.status(&state.db).await?))
}

/// Run a retention pass now, and answer when it is done with what it deleted. A pass already
/// running on this node is waited for first.
#[utoipa::path(post, path = "/v1/admin/retention/run", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RetentionRun, description = "the pass; `error` says why it stopped early, if it did"),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn run_retention(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<RetentionRun>> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ManageRetention)?;
    tracing::info!(by = %me.id, "retention pass asked for");
    let run = state.upkeep.retention.pass(&state.db, &state.objects).await;
    Ok(axum::Json(run))
}

/// Every channel of the organisation, archived ones included, by name: for setting retention
/// and legal holds on channels the admin is not in.
#[utoipa::path(get, path = "/v1/admin/channels", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [parley_proto::Channel]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn channels(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<parley_proto::Channel>>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageRetention)?;
    Ok(axum::Json(state.db.all_channels().await?))
}

#[utoipa::path(get, path = "/v1/admin/legal-holds", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [LegalHold]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn legal_holds(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<LegalHold>>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ManageRetention)?;
    Ok(axum::Json(state.db.legal_holds().await?))
}

/// Hold a channel's or a person's messages and recordings: no retention pass deletes them
/// until the hold is removed.
#[utoipa::path(post, path = "/v1/admin/legal-holds", tag = "admin", security(("bearer" = [])), request_body = CreateLegalHold,
    responses((status = 201, body = LegalHold),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: not exactly one of channel_id and user_id, an unknown one, or an empty reason"),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn create_legal_hold(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateLegalHold>,
) -> AppResult<(StatusCode, axum::Json<LegalHold>)> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ManageRetention)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_HOLD_REASON {
        return Err(AppError::invalid(format!(
            "reason is 1 to {MAX_HOLD_REASON} characters"
        )));
    }
    let hold = state
        .db
        .add_legal_hold(req.channel_id, req.user_id, reason, me.id)
        .await?;
    tracing::info!(hold = hold.id, channel = ?hold.channel_id, user = ?hold.user_id, by = %me.id, "legal hold placed");
    Ok((StatusCode::CREATED, axum::Json(hold)))
}

/// A legal hold's reason, at most.
const MAX_HOLD_REASON: usize = 500;

/// Lift a hold: what it kept is deleted by the next pass if its retention has run out.
#[utoipa::path(delete, path = "/v1/admin/legal-holds/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "lifted"), (status = 404, body = parley_proto::ErrorBody),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn remove_legal_hold(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::ManageRetention)?;
    if !state.db.remove_legal_hold(id).await? {
        return Err(AppError::not_found("no such legal hold"));
    }
    tracing::info!(hold = id, by = %me.id, "legal hold lifted");
    Ok(StatusCode::NO_CONTENT)
}

/// The scheduled backups as this node sees them: where they go, when the next one starts, the
/// complete ones in the location, and the last failure if it came after the last success.
#[utoipa::path(get, path = "/v1/admin/backups", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BackupsStatus),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn backups(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<BackupsStatus>> {
    policy::admin(Actor::from(caller.user()?), AdminAction::ViewBackups)?;
    Ok(axum::Json(state.upkeep.backups.status().await))
}
