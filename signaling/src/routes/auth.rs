use crate::auth::{password_error, random_hex, refresh_hash, Caller, ClientAddr, Principal};
use crate::error::{AppError, AppResult, Json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use parley_proto::{ErrorCode, LoginRequest, RefreshRequest, TokenPair, User, Whoami};
use parley_storage::now_ms;

async fn issue_pair(state: &AppState, user: User) -> AppResult<TokenPair> {
    let session = random_hex(16);
    let refresh = random_hex(32);
    let expires = now_ms() + millis(state.tokens.refresh_ttl);
    state
        .db
        .create_session(&session, user.id, &refresh_hash(&refresh), expires)
        .await?;
    Ok(TokenPair {
        access_token: state.tokens.access_token(user.id, &session)?,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token: refresh,
        user,
    })
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Sign in with email and password. Repeated failures for an account or from an address are
/// throttled: the attempt is answered 429 `rate_limited` with `retry_after` (seconds, also the
/// `Retry-After` header) without checking the password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = parley_proto::ErrorBody, description = "invalid_credentials or account_disabled"),
    (status = 429, body = parley_proto::ErrorBody, description = "rate_limited: too many failed sign-ins for this account or from this address; retry after `retry_after` seconds"),
    (status = 503, body = parley_proto::ErrorBody, description = "unavailable: the server is busy checking other passwords; retry after `retry_after` seconds")))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> AppResult<axum::Json<TokenPair>> {
    let record = state.db.user_by_email(&req.email).await?;
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let account = parley_storage::normalize_email(&req.email);
    let matches = state
        .signins
        .check_password(&state, &account, client, req.password, hash)
        .await?;
    let Some(record) = record.filter(|_| matches) else {
        return Err(AppError::unauthorized(
            ErrorCode::InvalidCredentials,
            "email and password do not match an account",
        ));
    };
    if record.user.disabled {
        return Err(AppError::unauthorized(
            ErrorCode::AccountDisabled,
            "this account is disabled",
        ));
    }
    Ok(axum::Json(issue_pair(&state, record.user).await?))
}

/// Trade a refresh token for a new access token and a new refresh token. Each refresh token
/// works once.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = parley_proto::ErrorBody, description = "token_revoked")))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> AppResult<axum::Json<TokenPair>> {
    let next = random_hex(32);
    let expires = now_ms() + millis(state.tokens.refresh_ttl);
    let session = state
        .db
        .rotate_refresh(
            &refresh_hash(&req.refresh_token),
            &refresh_hash(&next),
            expires,
        )
        .await?
        .ok_or_else(|| {
            AppError::unauthorized(
                ErrorCode::TokenRevoked,
                "refresh token is unknown, already used, expired or signed out",
            )
        })?;
    let record = state
        .db
        .user(session.user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user not found"))?;
    if record.user.disabled {
        return Err(AppError::unauthorized(
            ErrorCode::AccountDisabled,
            "this account is disabled",
        ));
    }
    Ok(axum::Json(TokenPair {
        access_token: state.tokens.access_token(record.user.id, &session.id)?,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token: next,
        user: record.user,
    }))
}

/// End this session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> AppResult<StatusCode> {
    match principal {
        Principal::User { user, session } => {
            state.db.revoke_session(&session).await?;
            // Its open WebSockets close too.
            state
                .hub
                .kick(user.id, Some(session), ErrorCode::TokenRevoked)
                .await;
            Ok(StatusCode::NO_CONTENT)
        }
        Principal::App(_) => Err(AppError::invalid(
            "app tokens have no session to end; they expire, or the API key is revoked",
        )),
    }
}

/// Who the presented token belongs to, with its grants.
#[utoipa::path(get, path = "/v1/auth/whoami", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Whoami), (status = 401, body = parley_proto::ErrorBody)))]
pub async fn whoami(Caller(principal): Caller) -> axum::Json<Whoami> {
    axum::Json(match principal {
        Principal::User { user, .. } => Whoami::User { user },
        Principal::App(claims) => Whoami::App {
            api_key: claims.iss,
            identity: claims.sub,
            name: claims.name,
            grants: claims.grants,
            expires_at: claims.exp,
        },
    })
}

/// Hash a new password after checking the rules.
pub async fn new_password_hash(
    state: &AppState,
    password: Option<String>,
) -> AppResult<Option<String>> {
    match password {
        Some(p) => {
            crate::auth::check_password_rules(&p)?;
            let hash = state.passwords.hash(p).await.map_err(password_error)?;
            Ok(Some(hash))
        }
        None => Ok(None),
    }
}
