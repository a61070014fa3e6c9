use super::auth::new_password_hash;
use crate::auth::{Caller, ClientAddr};
use crate::error::{AppError, AppResult, Json};
use crate::policy::{self, Actor, UserAction, UserChange};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_proto::{CreateUser, ErrorCode, UpdateUser, User, UserId};
use parley_storage::{NewUser, UserChanges};

/// Checks shared by every way a user is created (REST, CLI, first admin).
pub fn validate_new_user(email: &str, name: &str) -> AppResult<()> {
    let email = email.trim();
    let at = email.find('@');
    if email.len() > 254
        || email.contains(char::is_whitespace)
        || !at.is_some_and(|i| i > 0 && i + 1 < email.len())
    {
        return Err(AppError::invalid(format!(
            "`{email}` is not an email address"
        )));
    }
    if email.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "an email address has no control characters (such as NUL)",
        ));
    }
    validate_name(name)
}

/// A person's, channel's or task's name: 1 to 200 characters, none of them control characters
/// (NUL, which PostgreSQL cannot store, tabs and line breaks), on every database alike.
pub fn validate_name(name: &str) -> AppResult<()> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 200 {
        return Err(AppError::invalid("name must be 1 to 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "a name has no control characters (such as NUL, tabs or line breaks)",
        ));
    }
    Ok(())
}

/// The directory. Department admins see everyone too; guests see no one.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = [User]), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<axum::Json<Vec<User>>> {
    let me = caller.user()?;
    policy::users(Actor::from(me), UserAction::List)?;
    Ok(axum::Json(state.db.list_users(None).await?))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = User), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<User>> {
    let me = caller.user()?;
    let target = UserId(id);
    let shares_channel =
        me.role == parley_proto::Role::Guest && state.db.share_a_channel(me.id, target).await?;
    policy::users(
        Actor::from(me),
        UserAction::Read {
            target,
            shares_channel,
        },
    )?;
    let record = state
        .db
        .user(target)
        .await?
        .ok_or_else(|| AppError::not_found("user not found"))?;
    Ok(axum::Json(record.user))
}

/// Create an account. Admins create anyone; department admins create members and guests in
/// their own departments.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = parley_proto::ErrorBody),
        (status = 409, body = parley_proto::ErrorBody, description = "email in use")))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateUser>,
) -> AppResult<(StatusCode, axum::Json<User>)> {
    let me = caller.user()?;
    policy::users(
        Actor::from(me),
        UserAction::Create {
            role: req.role,
            department: req.department.as_deref(),
        },
    )?;
    validate_new_user(&req.email, &req.name)?;
    let password_hash = new_password_hash(&state, req.password).await?;
    let user = state
        .db
        .create_user(NewUser {
            email: req.email,
            name: req.name,
            role: req.role,
            department: req.department,
            password_hash,
        })
        .await?;
    tracing::info!(user = %user.id, by = %me.id, "user created");
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// Change a user. Anyone may change their own name and password; changing your own password
/// needs `current_password` too (an administrator setting someone else's does not).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), request_body = UpdateUser,
    params(("id" = i64, Path)), responses((status = 200, body = User),
    (status = 403, body = parley_proto::ErrorBody, description = "forbidden, or invalid_credentials: `current_password` is wrong"),
    (status = 422, body = parley_proto::ErrorBody, description = "invalid_input, such as a new password of your own without `current_password`"),
    (status = 429, body = parley_proto::ErrorBody, description = "rate_limited: too many wrong current passwords")))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ClientAddr(client): ClientAddr,
    Path(id): Path<i64>,
    Json(req): Json<UpdateUser>,
) -> AppResult<axum::Json<User>> {
    let me = caller.user()?;
    let record = state
        .db
        .user(UserId(id))
        .await?
        .ok_or_else(|| AppError::not_found("user not found"))?;
    let target = record.user;
    let change = UserChange {
        role: req.role,
        department: req.department.as_deref(),
        administrative: req.role.is_some() || req.department.is_some() || req.disabled.is_some(),
    };
    policy::users(
        Actor::from(me),
        UserAction::Update {
            target: &target,
            change,
        },
    )?;
    if let Some(name) = &req.name {
        validate_name(name)?;
    }
    if req.password.is_some() && target.id == me.id {
        // A stolen access token must not become a permanent takeover.
        let Some(current) = req.current_password else {
            return Err(AppError::invalid(
                "changing your own password needs `current_password`",
            ));
        };
        crate::auth::check_password_rules(req.password.as_deref().unwrap_or_default())?;
        let right = state
            .signins
            .check_password(&state, &target.email, client, current, record.password_hash)
            .await?;
        if !right {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::InvalidCredentials,
                "`current_password` is not your password",
            ));
        }
    }
    let changes = UserChanges {
        name: req.name,
        role: req.role,
        department: req.department,
        password_hash: new_password_hash(&state, req.password).await?,
        disabled: req.disabled,
    };
    let signed_out = changes.password_hash.is_some();
    let disabled = changes.disabled == Some(true);
    let changed = changes.role.is_some() || changes.department.is_some();
    let updated = state.db.update_user(target.id, changes).await?;
    // Open WebSockets follow the account: closed when its sessions end, reopened with the
    // new role when that changes.
    let kick = if disabled {
        Some(ErrorCode::AccountDisabled)
    } else if signed_out {
        Some(ErrorCode::TokenRevoked)
    } else if changed {
        Some(ErrorCode::AccountChanged)
    } else {
        None
    };
    if let Some(code) = kick {
        state.hub.kick(updated.id, None, code).await;
    }
    Ok(axum::Json(updated))
}
