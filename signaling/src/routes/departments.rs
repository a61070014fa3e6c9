use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::policy::{self, Actor, DepartmentAction};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use parley_proto::{CreateDepartment, Department};

/// The department tree, ordered by path.
#[utoipa::path(get, path = "/v1/departments", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [Department]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<Department>>> {
    policy::departments(Actor::from(caller.user()?), DepartmentAction::List)?;
    Ok(axum::Json(state.db.list_departments().await?))
}

/// Create a department by its full path; missing parents are created too.
#[utoipa::path(post, path = "/v1/departments", tag = "users", security(("bearer" = [])), request_body = CreateDepartment,
    responses((status = 201, body = Department), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateDepartment>,
) -> AppResult<(StatusCode, axum::Json<Department>)> {
    let path = parley_storage::parse_department_path(&req.path)
        .map_err(AppError::invalid)?
        .join("/");
    policy::departments(
        Actor::from(caller.user()?),
        DepartmentAction::Create { path: &path },
    )?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.db.ensure_department(&path).await?),
    ))
}
