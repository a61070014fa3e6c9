//! Who is calling: passwords (argon2), user access tokens (JWT signed by the server), refresh
//! tokens (opaque, single use, stored hashed), and app tokens (JWT signed by an app with its API
//! secret, carrying grants). What a caller may do is decided in `policy`, not here.

use crate::error::{AppError, AppResult};
use crate::passwords::{PasswordError, Passwords};
use crate::serve::canonical;
use crate::throttle::{Outcome, Rules, SignInThrottle, Verdict};
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parley_proto::{AppClaims, ErrorCode, Grants, User, UserId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `iss` of tokens the server signs for its users.
const USER_ISSUER: &str = "parley";

/// The claims of a user access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserClaims {
    iss: String,
    /// The user id.
    sub: String,
    /// The session, so logout can end the token before it expires.
    sid: String,
    iat: u64,
    exp: u64,
}

/// The caller, as established from its token.
#[derive(Debug, Clone)]
pub enum Principal {
    User { user: User, session: String },
    App(AppClaims),
}

impl Principal {
    /// The user and sign-in session behind a user token.
    pub fn into_user_session(self) -> AppResult<(User, String)> {
        match self {
            Principal::User { user, session } => Ok((user, session)),
            Principal::App(_) => Err(needs_user_token()),
        }
    }

    /// The user behind a user token; app tokens carry room grants only.
    pub fn user(&self) -> AppResult<&User> {
        match self {
            Principal::User { user, .. } => Ok(user),
            Principal::App(_) => Err(needs_user_token()),
        }
    }
}

fn needs_user_token() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::InsufficientGrant,
        "this endpoint needs a user's token; an app token carries room grants only",
    )
}

/// Signs and checks tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    leeway: u64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the database keeps of a refresh token: its SHA-256, never the token itself.
pub fn refresh_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_error(err: &jsonwebtoken::errors::Error) -> AppError {
    match err.kind() {
        ErrorKind::ExpiredSignature => {
            AppError::unauthorized(ErrorCode::TokenExpired, "token has expired")
        }
        ErrorKind::ImmatureSignature => {
            AppError::unauthorized(ErrorCode::TokenExpired, "token is not valid yet (nbf)")
        }
        ErrorKind::InvalidSignature => {
            AppError::unauthorized(ErrorCode::TokenInvalid, "token signature does not verify")
        }
        ErrorKind::InvalidAlgorithm => {
            AppError::unauthorized(ErrorCode::TokenInvalid, "token must be signed with HS256")
        }
        ErrorKind::MissingRequiredClaim(claim) => AppError::unauthorized(
            ErrorCode::TokenInvalid,
            format!("token lacks the `{claim}` claim"),
        ),
        _ => AppError::unauthorized(
            ErrorCode::TokenInvalid,
            format!("token is not valid: {err}"),
        ),
    }
}

impl Tokens {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration, leeway: u64) -> Tokens {
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
            leeway,
        }
    }

    fn validation(&self, issuer: &str) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[issuer]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v
    }

    pub fn access_token(&self, user: UserId, session: &str) -> AppResult<String> {
        let now = unix_now();
        let claims = UserClaims {
            iss: USER_ISSUER.into(),
            sub: user.to_string(),
            sid: session.into(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::internal(&e))
    }

    /// Check a token's signature and time limits; then, for user tokens, that the session is
    /// still open and the account enabled.
    pub async fn authenticate(&self, state: &AppState, token: &str) -> AppResult<Principal> {
        let issuer = peek_issuer(token)?;
        if issuer == USER_ISSUER {
            let (id, sid) = self.verify_user(token)?;
            if !state.db.session_is_active(&sid).await? {
                return Err(AppError::unauthorized(
                    ErrorCode::TokenRevoked,
                    "this session was signed out",
                ));
            }
            let record = state.db.user(id).await?.ok_or_else(|| {
                AppError::unauthorized(ErrorCode::TokenInvalid, "the token's user no longer exists")
            })?;
            if record.user.disabled {
                return Err(AppError::unauthorized(
                    ErrorCode::AccountDisabled,
                    "this account is disabled",
                ));
            }
            return Ok(Principal::User {
                user: record.user,
                session: sid,
            });
        }
        let secret = state.db.api_key_secret(&issuer).await?.ok_or_else(|| {
            AppError::unauthorized(
                ErrorCode::TokenInvalid,
                format!("unknown or revoked API key `{issuer}`"),
            )
        })?;
        Ok(Principal::App(self.verify_app(token, &issuer, &secret)?))
    }

    /// A user token's user and session, once its signature and time limits check out. Storage
    /// is not asked (`authenticate` then checks the session and the account).
    pub fn verify_user(&self, token: &str) -> AppResult<(UserId, String)> {
        let data = jsonwebtoken::decode::<UserClaims>(
            token,
            &self.decoding,
            &self.validation(USER_ISSUER),
        )
        .map_err(|e| token_error(&e))?;
        let id: i64 = data.claims.sub.parse().map_err(|_| {
            AppError::unauthorized(ErrorCode::TokenInvalid, "token subject is not a user id")
        })?;
        Ok((UserId(id), data.claims.sid))
    }

    /// An app token's claims, once its signature by the API key `issuer`'s `secret` and its
    /// time limits check out.
    pub fn verify_app(&self, token: &str, issuer: &str, secret: &str) -> AppResult<AppClaims> {
        let data = jsonwebtoken::decode::<AppClaims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &self.validation(issuer),
        )
        .map_err(|e| token_error(&e))?;
        if data.claims.sub.trim().is_empty() {
            return Err(AppError::unauthorized(
                ErrorCode::TokenInvalid,
                "token has an empty identity (sub)",
            ));
        }
        Ok(data.claims)
    }
}

/// The `iss` claim, read before the signature is checked so we know which key checks it.
pub fn peek_issuer(token: &str) -> AppResult<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let mut v = Validation::new(Algorithm::HS256);
    v.insecure_disable_signature_validation();
    v.validate_exp = false;
    v.set_required_spec_claims::<&str>(&[]);
    v.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    jsonwebtoken::decode::<Issuer>(token, &DecodingKey::from_secret(&[]), &v)
        .map(|d| d.claims.iss)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm => {
                AppError::unauthorized(ErrorCode::TokenInvalid, "token must be signed with HS256")
            }
            _ => AppError::unauthorized(
                ErrorCode::TokenInvalid,
                "token is not a JWT with an issuer (iss)",
            ),
        })
}

/// Sign an app token, as an app would with its API key and secret (`parley token`).
pub fn sign_app_token(
    api_key: &str,
    secret: &str,
    identity: &str,
    name: &str,
    grants: Grants,
    valid_for: Duration,
) -> anyhow::Result<String> {
    let claims = AppClaims {
        iss: api_key.into(),
        sub: identity.into(),
        name: name.into(),
        exp: unix_now() + valid_for.as_secs(),
        nbf: None,
        grants,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn check_password_rules(password: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Hash a password with argon2id, one at a time: for the command line and the first admin,
/// outside a running server's sign-ins (those go through `AppState::passwords`).
pub async fn hash_password(password: String) -> AppResult<String> {
    Arc::new(Passwords::new(1, crate::passwords::MAX_WAIT))
        .hash(password)
        .await
        .map_err(password_error)
}

/// A hashing failure as the client sees it: busy (503, retry soon) or internal.
pub fn password_error(err: PasswordError) -> AppError {
    match err {
        PasswordError::Busy => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is busy checking other passwords; retry shortly",
        )
        .retry_after(Duration::from_secs(1)),
        other => AppError::internal(&other),
    }
}

/// Sign-in attempts: the throttle, and where clients' addresses come from.
#[derive(Debug)]
pub struct SignIns {
    throttle: Mutex<SignInThrottle>,
    /// Wakes attempts queued behind checks in flight when one finishes.
    finished: tokio::sync::Notify,
    trusted_proxies: Vec<IpAddr>,
}

/// How long an attempt may queue behind others for the same account or address.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// A password check let through by the throttle; reports how it ended when dropped (a client
/// that went away mid-check counts as nothing).
struct InFlight<'a> {
    signins: &'a SignIns,
    account: &'a str,
    client: IpAddr,
    outcome: Outcome,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.signins
            .lock()
            .finished(self.account, self.client, self.outcome, Instant::now());
        self.signins.finished.notify_waiters();
    }
}

impl SignIns {
    pub fn new(rules: Rules, trusted_proxies: Vec<IpAddr>) -> SignIns {
        SignIns {
            throttle: Mutex::new(SignInThrottle::new(rules)),
            finished: tokio::sync::Notify::new(),
            trusted_proxies: trusted_proxies.into_iter().map(canonical).collect(),
        }
    }

    /// Check `password` for `account` (a normalised email) from `client`, throttled: an
    /// attempt held back is answered `rate_limited` without checking; one that would be held
    /// back were the checks in flight for the same account or address wrong waits for them;
    /// a wrong password (or no such account) counts against the account and the address.
    /// Counted in metrics and logged.
    pub async fn check_password(
        &self,
        state: &AppState,
        account: &str,
        client: IpAddr,
        password: String,
        stored: Option<String>,
    ) -> AppResult<bool> {
        let failures = &state.metrics.signin_failures;
        let give_up = tokio::time::Instant::now() + QUEUE_WAIT;
        loop {
            let woken = self.finished.notified();
            let mut woken = std::pin::pin!(woken);
            woken.as_mut().enable();
            match self.lock().attempt(account, client, Instant::now()) {
                Verdict::Go => break,
                Verdict::Held(wait, held) => {
                    failures.with_label_values(&["throttled"]).inc();
                    tracing::warn!(%account, %client, by = held.as_str(),
                        wait_secs = wait.as_secs_f64(), "sign-in held back after repeated failures");
                    return Err(AppError::rate_limited(
                        format!(
                            "too many failed sign-ins; try again in {} s",
                            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
                        ),
                        wait,
                    ));
                }
                Verdict::Queue => {}
            }
            if tokio::time::timeout_at(give_up, woken).await.is_err() {
                return Err(password_error(PasswordError::Busy));
            }
        }
        let mut in_flight = InFlight {
            signins: self,
            account,
            client,
            outcome: Outcome::Abandoned,
        };
        let matches = state
            .passwords
            .verify(password, stored)
            .await
            .map_err(password_error)?;
        in_flight.outcome = if matches {
            Outcome::Succeeded
        } else {
            failures.with_label_values(&["wrong_password"]).inc();
            tracing::info!(%account, %client, "sign-in failed: wrong password or no such account");
            Outcome::Failed
        };
        drop(in_flight);
        Ok(matches)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SignInThrottle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client's address: the TCP peer, or, when that is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one.
    fn client(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|hop| !self.trusted_proxies.contains(hop))
            .unwrap_or(peer)
    }
}

/// The address a request came from (see `SignIns::client`); unspecified when the router is
/// called without a connection, as tools and tests may.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| canonical(c.0.ip()));
        Ok(ClientAddr(state.signins.client(peer, &parts.headers)))
    }
}

/// The authenticated caller of a request: `Authorization: Bearer <token>`, or `access_token` in
/// the query string for WebSocket upgrades, where browsers cannot set headers.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = match header {
            Some(value) => value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    AppError::unauthorized(
                        ErrorCode::TokenInvalid,
                        "Authorization must be `Bearer <token>`",
                    )
                })?
                .to_string(),
            None => query_token(parts.uri.query()).ok_or_else(|| {
                AppError::unauthorized(
                    ErrorCode::Unauthenticated,
                    "this endpoint needs an access token",
                )
            })?,
        };
        state.tokens.authenticate(state, &token).await.map(Caller)
    }
}

/// `access_token` from a query string.
pub fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_hashes_are_stable_and_distinct() {
        assert_eq!(refresh_hash("a"), refresh_hash("a"));
        assert_ne!(refresh_hash("a"), refresh_hash("b"));
        assert_eq!(refresh_hash("a").len(), 64);
    }

    #[test]
    fn query_tokens() {
        assert_eq!(
            query_token(Some("x=1&access_token=abc")),
            Some("abc".into())
        );
        assert_eq!(query_token(Some("access_token=")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn unsigned_tokens_are_refused_before_any_lookup() {
        // {"alg":"none"} with an issuer: must not get as far as choosing a key.
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJwYXJsZXkiLCJzdWIiOiIxIn0.";
        let err = peek_issuer(token).unwrap_err();
        assert_eq!(err.code, ErrorCode::TokenInvalid);
    }
}
