//! `app(state) -> Router`: every route, the request middleware (one span per request, metrics),
//! and the JSON fallbacks. Kept apart from start-up so tests and tools can build the router
//! directly.

use crate::auth::Tokens;
use crate::config::HubSection;
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::routes;
use crate::ws::HubHandle;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use parley_proto::ErrorCode;
use parley_storage::{Database, ObjectStorage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::Instrument;

/// What every handler can reach. Cheap to clone: every field is a handle.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Database,
    pub objects: ObjectStorage,
    pub tokens: Arc<Tokens>,
    pub metrics: Metrics,
    pub limits: Limits,
    /// The messaging hub's task.
    pub hub: HubHandle,
    /// The messaging WebSocket's limits.
    pub ws: Arc<HubSection>,
    /// How urgent pings remind and escalate.
    pub urgent: Arc<crate::config::UrgentSection>,
    /// When task reminders go out.
    pub tasks: Arc<crate::config::TasksSection>,
    /// Wakes recorders waiting for a job when one is requested on this node.
    pub recording_jobs: Arc<tokio::sync::Notify>,
    /// The media workers (rooms, peers, forwarding).
    pub sfu: parley_sfu::Sfu,
    /// Meeting settings.
    pub rtc: Arc<crate::config::RtcSection>,
    /// Password hashing, at most one per core at a time.
    pub passwords: Arc<crate::passwords::Passwords>,
    /// Sign-in throttling and client addresses.
    pub signins: Arc<crate::auth::SignIns>,
    /// Flips to `true` when shutdown begins, so WebSocket connections close with a reason.
    pub shutdown: Arc<watch::Sender<bool>>,
    /// Scheduled backups and retention.
    pub upkeep: Arc<Upkeep>,
    /// Uploads in progress and the `[files]` settings.
    pub uploads: Arc<crate::uploads::Uploads>,
    /// This node's search index; `None` with `[search] enabled = false`.
    pub search: Option<Arc<crate::search::Search>>,
    /// Link previews, with the answers kept for an hour.
    pub previews: Arc<crate::previews::Previews>,
}

/// Keeping the data: the scheduled backups' board and the retention passes.
pub struct Upkeep {
    pub backups: Arc<crate::backups::BackupBoard>,
    pub retention: crate::retention::Retention,
}

impl std::fmt::Debug for Upkeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upkeep").finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Organisation import files may be larger than ordinary bodies.
    pub max_import_bytes: usize,
    pub db_max_connections: u32,
}

pub fn app(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/refresh", post(routes::auth::refresh))
        .route("/auth/logout", post(routes::auth::logout))
        .route("/auth/whoami", get(routes::auth::whoami))
        .route(
            "/users",
            get(routes::users::list).post(routes::users::create),
        )
        .route(
            "/users/{id}",
            get(routes::users::get).patch(routes::users::update),
        )
        .route(
            "/users/{id}/avatar",
            get(routes::users::avatar)
                .put(routes::users::set_avatar)
                .delete(routes::users::delete_avatar)
                .layer(DefaultBodyLimit::max(routes::users::AVATAR_MAX_BYTES + 1)),
        )
        .route(
            "/departments",
            get(routes::departments::list).post(routes::departments::create),
        )
        .route(
            "/channels",
            get(routes::channels::list).post(routes::channels::create),
        )
        .route(
            "/channels/{id}",
            get(routes::channels::get)
                .patch(routes::channels::update)
                .delete(routes::channels::archive),
        )
        .route("/channels/browse", get(routes::channels::browse))
        .route("/channels/{id}/join", post(routes::channels::join))
        .route("/channels/{id}/messages", get(routes::channels::messages))
        .route("/channels/{id}/pins", get(routes::channels::pins))
        .route(
            "/channels/{id}/bridge",
            get(routes::bridge::roster).post(routes::bridge::open),
        )
        .route("/channels/{id}/meeting", post(routes::call::open))
        .route("/channels/{id}/calls", get(routes::call::calls))
        .route("/channels/{id}/ring", post(routes::rings::start))
        .route(
            "/rings/{id}",
            get(routes::rings::get).delete(routes::rings::cancel),
        )
        .route("/rings/{id}/answer", post(routes::rings::answer))
        .route(
            "/channels/{id}/members/{user_id}",
            delete(routes::channels::remove_member),
        )
        .route(
            "/channels/{id}/messages/{message_id}/receipts",
            get(routes::channels::receipts),
        )
        .route("/meetings", get(routes::meetings::list))
        .route("/meetings/{id}", get(routes::meetings::get))
        .route(
            "/meetings/{id}/minutes",
            get(routes::minutes::get).patch(routes::minutes::update),
        )
        .route(
            "/meetings/{id}/minutes/items",
            post(routes::minutes::add_item),
        )
        .route(
            "/meetings/{id}/minutes/items/{item}",
            patch(routes::minutes::update_item).delete(routes::minutes::delete_item),
        )
        .route(
            "/meetings/{id}/minutes/publish",
            post(routes::minutes::publish),
        )
        .route(
            "/tasks",
            get(routes::tasks::list).post(routes::tasks::create),
        )
        .route(
            "/tasks/{id}",
            get(routes::tasks::get).patch(routes::tasks::update),
        )
        .route("/notifications", get(routes::tasks::notifications))
        .route(
            "/meetings/{id}/recordings",
            get(routes::recordings::list).post(routes::recordings::start),
        )
        .route(
            "/meetings/{id}/recordings/stop",
            post(routes::recordings::stop),
        )
        .route("/recordings/{id}", get(routes::recordings::get))
        .route("/recordings/{id}/media", get(routes::recordings::media))
        .route("/recording-jobs/claim", post(routes::recordings::claim))
        .route(
            "/recording-jobs/{id}/heartbeat",
            post(routes::recordings::heartbeat),
        )
        .route(
            "/recording-jobs/{id}/files",
            post(routes::recordings::add_file),
        )
        .route(
            "/recording-jobs/{id}/files/{file}",
            patch(routes::recordings::file_progress),
        )
        .route(
            "/recording-jobs/{id}/finish",
            post(routes::recordings::finish),
        )
        .route("/notifications/read", post(routes::tasks::mark_read))
        .route("/ws", get(crate::ws::upgrade))
        .route("/rtc", get(crate::rtc::upgrade))
        .route(
            "/rooms",
            get(routes::rooms::list).post(routes::rooms::create),
        )
        .route(
            "/rooms/{name}",
            get(routes::rooms::get).delete(routes::rooms::end),
        )
        .route(
            "/rooms/{name}/participants",
            get(routes::rooms::participants),
        )
        .route(
            "/rooms/{name}/participants/{identity}",
            delete(routes::rooms::remove_participant).patch(routes::rooms::update_participant),
        )
        .route(
            "/rooms/{name}/participants/{identity}/mute",
            post(routes::rooms::mute),
        )
        .route(
            "/channels/{id}/members",
            get(routes::channels::members).post(routes::channels::add_members),
        )
        .route(
            "/admin/import",
            post(routes::admin::import).layer(DefaultBodyLimit::max(state.limits.max_import_bytes)),
        )
        .route(
            "/admin/api-keys",
            get(routes::admin::list_api_keys).post(routes::admin::create_api_key),
        )
        .route(
            "/admin/api-keys/{key}",
            delete(routes::admin::revoke_api_key),
        )
        .route("/admin/stats", get(routes::admin::stats))
        .route("/admin/retention", get(routes::admin::retention))
        .route("/admin/channels", get(routes::admin::channels))
        .route("/admin/retention/run", post(routes::admin::run_retention))
        .route("/admin/search/reindex", post(routes::search::reindex))
        .route("/search", get(routes::search::search))
        .route("/link-preview", get(routes::previews::preview))
        .route(
            "/admin/legal-holds",
            get(routes::admin::legal_holds).post(routes::admin::create_legal_hold),
        )
        .route(
            "/admin/legal-holds/{id}",
            delete(routes::admin::remove_legal_hold),
        )
        .route("/admin/backups", get(routes::admin::backups))
        .route(
            "/files",
            get(routes::files::list)
                .post(routes::uploads::plain)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/files/{id}",
            get(routes::files::get)
                .delete(routes::files::delete)
                .patch(routes::files::rename),
        )
        .route("/files/{id}/versions", get(routes::files::versions))
        .route("/files/{id}/content", get(routes::files::content))
        .route("/files/{id}/thumbnail", get(routes::files::thumbnail))
        .route("/files/{id}/restore", post(routes::files::restore))
        .route(
            "/files/{id}/lock",
            post(routes::files::lock).delete(routes::files::unlock),
        )
        .route(
            "/files/{id}/versions/{version}/restore",
            post(routes::files::restore_version),
        )
        .route("/folders", get(routes::folders::roots))
        .route(
            "/folders/{id}",
            get(routes::folders::get).patch(routes::folders::update),
        )
        .route("/folders/{id}/folders", post(routes::folders::create))
        .route("/folders/{id}/trash", get(routes::folders::trash))
        .route("/folders/{id}/grants", put(routes::folders::set_grants))
        .route(
            "/folders/{id}/watch",
            post(routes::folders::watch).delete(routes::folders::unwatch),
        )
        .route(
            "/channels/{id}/folder",
            get(routes::folders::channel_folder),
        )
        .route(
            "/departments/{id}/folder",
            get(routes::folders::department_folder),
        )
        .route("/admin/file-audit", get(routes::folders::audit))
        .route(
            "/spaces",
            get(routes::knowledge::list_spaces).post(routes::knowledge::create_space),
        )
        .route(
            "/spaces/{id}",
            get(routes::knowledge::get_space).patch(routes::knowledge::update_space),
        )
        .route("/spaces/{id}/members", put(routes::knowledge::set_members))
        .route(
            "/spaces/{id}/articles",
            get(routes::knowledge::list_articles).post(routes::knowledge::create_article),
        )
        .route("/article-templates", get(routes::knowledge::list_templates))
        .route(
            "/articles/{id}",
            get(routes::knowledge::get_article)
                .patch(routes::knowledge::update_article)
                .delete(routes::knowledge::delete_article),
        )
        .route("/articles/{id}/submit", post(routes::knowledge::submit))
        .route("/articles/{id}/publish", post(routes::knowledge::publish))
        .route(
            "/articles/{id}/return",
            post(routes::knowledge::return_article),
        )
        .route("/articles/{id}/versions", get(routes::knowledge::versions))
        .route("/articles/{id}/diff", get(routes::knowledge::diff))
        .route(
            "/articles/{id}/comments",
            get(routes::knowledge::comments).post(routes::knowledge::add_comment),
        )
        .route(
            "/articles/{id}/vote",
            put(routes::knowledge::vote).delete(routes::knowledge::unvote),
        )
        .route(
            "/articles/{id}/recording",
            get(routes::knowledge::recording),
        )
        .route(
            "/articles/{id}/files/{file_id}",
            get(routes::knowledge::attachment),
        )
        .route(
            "/uploads",
            post(routes::uploads::create)
                .options(routes::uploads::options)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/uploads/{id}",
            patch(routes::uploads::patch)
                .head(routes::uploads::head)
                .delete(routes::uploads::terminate)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/openapi.json", get(routes::health::openapi));
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/sdk/{file}", get(routes::web::sdk))
        .route("/", get(routes::web::app_index))
        .route("/app/{file}", get(routes::web::app_file))
        .route("/sw.js", get(routes::web::service_worker))
        .nest("/v1", v1)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Every error is JSON: the extractors' own refusals (a path segment that is not a number, a
/// query string with an unknown, repeated or malformed parameter, a WebSocket upgrade without
/// its headers) answer `text/plain`; they become `{"error": ...}` with a stable code here, the
/// extractor's text as the message. Errors already JSON pass untouched.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let (status, code) = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidInput)
        }
        StatusCode::PAYLOAD_TOO_LARGE => (status, ErrorCode::PayloadTooLarge),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, ErrorCode::UnsupportedMediaType),
        StatusCode::NOT_FOUND => (status, ErrorCode::RouteNotFound),
        StatusCode::METHOD_NOT_ALLOWED => (status, ErrorCode::MethodNotAllowed),
        s if s.is_client_error() => (s, ErrorCode::InvalidInput),
        s => (s, ErrorCode::Internal),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut answer = AppError::new(status, code, message).into_response();
    // Headers the refusal carried (`content-range` on a 416, `allow`, ...) stay.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// What browsers may do with what Parley serves. The web app's script and styles come only
/// from this origin (no inline script, no `eval`; styles set from script go through the
/// CSSOM), it talks only to this origin (`connect-src 'self'` covers its own `ws:`/`wss:`),
/// plays recordings from here, and no other site may frame it (clickjacking). Tokens live in
/// `localStorage`, so an injected script must find nothing it can run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Every answer carries the browser headers: the policy above, no framing, no MIME sniffing,
/// and no referrer (a page's address can carry an `access_token`).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

async fn route_not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "no such route",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Decrements the in-flight gauge however the request ends, client disconnects included.
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One span per request, with its route and a request id (also returned as `x-request-id`);
/// counts and times every answer by route, method and status.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id, method = %method, route = %route);
    state.metrics.http_in_flight.inc();
    let _in_flight = InFlight(state.metrics.http_in_flight.clone());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// A check with a deadline, for readiness probes that must answer even when a dependency hangs.
pub async fn within<T, E>(
    limit: Duration,
    check: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String>
where
    E: std::fmt::Display,
{
    match tokio::time::timeout(limit, check).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Prometheus exposition text with its content type.
pub fn prometheus_text(state: &AppState) -> AppResult<Response> {
    let stats = state.db.pool_stats();
    state.metrics.db_pool_size.set(i64::from(stats.size));
    state.metrics.db_pool_idle.set(i64::from(stats.idle));
    state
        .metrics
        .db_pool_max
        .set(i64::from(state.limits.db_max_connections));
    let text = state.metrics.render().map_err(|e| AppError::internal(&e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
