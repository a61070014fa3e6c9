//! Search: `GET /v1/search` over what the caller may read, and the admin's rebuild of this
//! node's index.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, AdminAction};
use crate::search::{self, Ask};
use crate::AppState;
use axum::extract::{Query, State};
use axum::Json;
use parley_proto::{ReindexReport, SearchResults};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What to look for: words (all must match; Chinese is segmented into words, English
    /// stemmed), "exact phrases", `-word` to leave out, and the filters `in:channel`,
    /// `from:person` (an email address, the part before its `@`, a name or an id),
    /// `has:file`, `type:message`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`. At most 500 bytes
    /// and 16 words or phrases.
    q: String,
    /// Results to skip (default 0, at most 1000).
    #[serde(default)]
    offset: u32,
    /// Results per page (default 20, at most 50).
    limit: Option<u32>,
    /// The caller's clock in minutes ahead of UTC (480 in China), so `before:` and `after:`
    /// days begin at the caller's midnight (default 0).
    #[serde(default)]
    utc_offset: i32,
}

/// Search messages (with the names of their attachments) in the caller's channels, best
/// first: relevance, then recency.
#[utoipa::path(get, path = "/v1/search", tag = "search", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults),
        (status = 400, description = "`invalid_query`: the message says what to change", body = parley_proto::ErrorBody),
        (status = 503, description = "`unavailable`: search is turned off on this server", body = parley_proto::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<SearchQuery>,
) -> AppResult<Json<SearchResults>> {
    let me = caller.user()?;
    let ask = Ask {
        q: query.q,
        offset: query.offset,
        limit: query.limit.unwrap_or(20),
        utc_offset: query.utc_offset,
    };
    Ok(Json(search::search(&state, me, ask).await?))
}

/// Empty this node's search index and index everything again from the database; answers when
/// it is done. Searches meanwhile find only what is indexed again so far. Each node keeps its
/// own index: ask each node (or run `parley admin reindex` on a stopped one).
#[utoipa::path(post, path = "/v1/admin/search/reindex", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ReindexReport), (status = 403, body = parley_proto::ErrorBody),
        (status = 503, description = "`unavailable`: search is turned off on this server", body = parley_proto::ErrorBody)))]
pub async fn reindex(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<ReindexReport>> {
    let me = caller.user()?;
    policy::admin(Actor::from(me), AdminAction::Reindex)?;
    let search = search::enabled(&state)?;
    let report = search.rebuild().await.map_err(|err| {
        let err: &(dyn std::error::Error + 'static) = err.as_ref();
        AppError::internal(err)
    })?;
    Ok(Json(report))
}
