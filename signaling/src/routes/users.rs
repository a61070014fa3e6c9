use super::auth::new_password_hash;
use crate::auth::{Caller, ClientAddr};
use crate::error::body_rejection;
use crate::error::{AppError, AppResult, Json};
use crate::policy::{self, Actor, UserAction, UserChange};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_proto::{CreateUser, ErrorCode, ServerMessage, UpdateUser, User, UserId};
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
    may_read(&state, me, target).await?;
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
    if let Some(title) = &req.title {
        validate_title(title)?;
    }
    if let Some(zone) = &req.time_zone {
        validate_time_zone(zone)?;
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
        title: req.title,
        time_zone: req.time_zone,
    };
    let profile_changed =
        changes.name.is_some() || changes.title.is_some() || changes.time_zone.is_some();
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
    if profile_changed {
        announce(&state, &updated).await?;
    }
    Ok(axum::Json(updated))
}

/// Tell everyone who shares a channel with `user` (and the user's other devices) about their
/// profile as it is now: `user_updated` on `/v1/ws`.
async fn announce(state: &AppState, user: &User) -> AppResult<()> {
    let channels = state
        .db
        .channels_of(user.id)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let card = parley_proto::UserCard::from(user);
    state
        .hub
        .to_channels(channels, &ServerMessage::UserUpdated { user: card })
        .await;
    Ok(())
}

/// A job title: up to 100 characters, one line; `""` clears it.
fn validate_title(title: &str) -> AppResult<()> {
    if title.trim().chars().count() > 100 {
        return Err(AppError::invalid("a title is at most 100 characters"));
    }
    if title.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "a title is one line, without control characters",
        ));
    }
    Ok(())
}

/// An IANA time zone name (`Asia/Shanghai`, `America/Argentina/Buenos_Aires`, `UTC`); `""`
/// clears it. Browsers, which show the person's local time with it, know the names themselves;
/// the server checks their form.
fn validate_time_zone(zone: &str) -> AppResult<()> {
    let zone = zone.trim();
    if zone.is_empty() || zone == "UTC" {
        return Ok(());
    }
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 30
            && part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    let parts: Vec<&str> = zone.split('/').collect();
    if zone.len() > 64 || !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| part_ok(p)) {
        return Err(AppError::invalid(format!(
            "`{zone}` is not a time zone: use an IANA name such as Asia/Shanghai or Europe/Berlin"
        )));
    }
    Ok(())
}

/// Avatars larger than this (bytes) are refused before they are decoded.
pub const AVATAR_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Set a user's avatar from an image (PNG, JPEG, WebP or GIF, up to 5 MiB): yours, or anyone's
/// for an administrator. The server keeps the largest centred square, at most 256 × 256, as
/// a JPEG, and tells everyone who shares a channel with the user (`user_updated`).
#[utoipa::path(put, path = "/v1/users/{id}/avatar", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "image/png", description = "The image: PNG, JPEG, WebP or GIF"),
    responses((status = 200, body = User),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden: someone else's avatar"),
        (status = 413, body = parley_proto::ErrorBody, description = "payload_too_large: more than 5 MiB"),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: not an image Parley reads")))]
pub async fn set_avatar(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<axum::Json<User>> {
    let me = caller.user()?;
    let target = own_or_administered(&state, me, UserId(id)).await?;
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    if body.len() > AVATAR_MAX_BYTES {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "an avatar image is at most 5 MiB",
        ));
    }
    let jpeg = tokio::task::spawn_blocking(move || parley_files::avatar(&body))
        .await
        .map_err(|e| AppError::internal(&e))?
        .map_err(|e| {
            AppError::invalid(format!(
                "the avatar must be a PNG, JPEG, WebP or GIF image: {e}"
            ))
        })?;
    let key = format!(
        "avatars/{}/{}.jpg",
        target.id.0,
        crate::auth::random_hex(12)
    );
    state.objects.put(&key, jpeg.into()).await?;
    let (user, before) = match state.db.set_avatar(target.id, Some(&key)).await {
        Ok(done) => done,
        Err(err) => {
            let _ = state.objects.delete(&key).await;
            return Err(err.into());
        }
    };
    forget_avatar(&state, before).await;
    announce(&state, &user).await?;
    Ok(axum::Json(user))
}

/// Remove a user's avatar (yours, or anyone's for an administrator).
#[utoipa::path(delete, path = "/v1/users/{id}/avatar", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn delete_avatar(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<User>> {
    let me = caller.user()?;
    let target = own_or_administered(&state, me, UserId(id)).await?;
    let (user, before) = state.db.set_avatar(target.id, None).await?;
    if before.is_some() {
        forget_avatar(&state, before).await;
        announce(&state, &user).await?;
    }
    Ok(axum::Json(user))
}

/// A user's avatar, a JPEG. Its URL (`User.avatar`) changes with the image, so it is cached
/// for a year; `access_token` may be given in the query, for `<img>`.
#[utoipa::path(get, path = "/v1/users/{id}/avatar", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path), AvatarQuery),
    responses((status = 200, description = "The avatar", content_type = "image/jpeg"),
        (status = 404, body = parley_proto::ErrorBody, description = "not_found: no such user, no avatar, or `v` names a replaced one")))]
pub async fn avatar(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Query(query): Query<AvatarQuery>,
) -> AppResult<Response> {
    let me = caller.user()?;
    let target = UserId(id);
    may_read(&state, me, target).await?;
    let key = state
        .db
        .avatar_key(target)
        .await
        .map_err(|_| AppError::not_found("user not found"))?
        .ok_or_else(|| AppError::not_found("this user has no avatar"))?;
    // The picture at a URL never changes: a replaced one is gone, not swapped.
    if let Some(version) = &query.v {
        if parley_storage::avatar_url(target, &key) != format!("/v1/users/{id}/avatar?v={version}")
        {
            return Err(AppError::not_found("this avatar was replaced"));
        }
    }
    let bytes = state.objects.get(&key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvatarQuery {
    /// The version in `User.avatar`; a replaced version is `404`.
    pub v: Option<String>,
    /// The access token, for `<img>`, which cannot send headers.
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// Whether `me` may see `target` (guests: only people they share a channel with).
async fn may_read(state: &AppState, me: &User, target: UserId) -> AppResult<()> {
    let shares_channel =
        me.role == parley_proto::Role::Guest && state.db.share_a_channel(me.id, target).await?;
    policy::users(
        Actor::from(me),
        UserAction::Read {
            target,
            shares_channel,
        },
    )
}

/// The user whose avatar the caller may change: themselves, or anyone for an administrator.
async fn own_or_administered(state: &AppState, me: &User, id: UserId) -> AppResult<User> {
    let target = state
        .db
        .user(id)
        .await?
        .ok_or_else(|| AppError::not_found("user not found"))?
        .user;
    policy::users(
        Actor::from(me),
        UserAction::Update {
            target: &target,
            change: UserChange::default(),
        },
    )?;
    Ok(target)
}

/// Delete a replaced avatar's image; a failure leaves an unreferenced object, logged.
async fn forget_avatar(state: &AppState, key: Option<String>) {
    if let Some(key) = key {
        if let Err(err) = state.objects.delete(&key).await {
            tracing::warn!(error = %err, key, "a replaced avatar was not deleted");
        }
    }
}
