//! `GET /v1/link-preview`: the card a message's link shows (see `crate::previews`).

use crate::auth::Caller;
use crate::error::AppResult;
use crate::AppState;
use axum::extract::{Query, State};
use parley_proto::LinkPreview;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The link: `http` or `https`, at most 2048 characters.
    pub url: String,
}

/// The title, description and site name of the page a link leads to, read by the server (within
/// `previews.timeout_ms`, the first 512 KiB, at most 3 redirects) and kept for an hour. Any
/// signed-in user may ask.
#[utoipa::path(get, path = "/v1/link-preview", tag = "channels", security(("bearer" = [])),
    params(PreviewQuery),
    responses((status = 200, body = LinkPreview),
        (status = 403, body = parley_proto::ErrorBody, description = "forbidden: the link leads to a private, loopback or link-local address"),
        (status = 404, body = parley_proto::ErrorBody, description = "not_found: the page gave no preview (no answer in time, not HTML, an error status, no title)"),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: not an http or https URL"),
        (status = 503, body = parley_proto::ErrorBody, description = "unavailable: previews are turned off")))]
pub async fn preview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<PreviewQuery>,
) -> AppResult<axum::Json<LinkPreview>> {
    caller.user()?;
    Ok(axum::Json(state.previews.preview(&query.url).await?))
}
