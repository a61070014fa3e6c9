use crate::app::{prometheus_text, within, AppState};
use crate::error::AppResult;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// For readiness: each dependency and `ok` or why not.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<&'static str, String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        checks: BTreeMap::new(),
    })
}

const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// The database and object store answer; 503 naming the failed check otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health), (status = 503, body = Health, description = "a dependency is down")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (db, objects) = tokio::join!(
        within(CHECK_LIMIT, state.db.ping()),
        within(CHECK_LIMIT, state.objects.check())
    );
    let mut checks = BTreeMap::new();
    let mut ready = true;
    for (name, result) in [("database", db), ("object_store", objects)] {
        let text = match result {
            Ok(()) => "ok".to_string(),
            Err(reason) => {
                ready = false;
                tracing::warn!(check = name, %reason, "not ready");
                format!("unavailable: {reason}")
            }
        };
        checks.insert(name, text);
    }
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        Json(Health {
            status: word,
            checks,
        }),
    )
        .into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> AppResult<Response> {
    prometheus_text(&state)
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health", responses(
    (status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}
