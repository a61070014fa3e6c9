//! Search on this node: the index (`parley_search`) and its follower, and the one place that
//! decides what a search may look at. Every search reads the asker's channels afresh, so a
//! member who left, or a guest, finds nothing there from that moment; the hits are checked
//! against the database once more before they are shown (a message recalled a moment ago,
//! before the follower saw it, is left out).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use parley_proto::{
    ChannelId, ErrorCode, ReindexReport, SearchKind, SearchResult, SearchResults, SnippetPart,
    User, UserId,
};
use parley_search::{Follower, Opened, Request, SearchIndex};

use crate::error::{AppError, AppResult};
use crate::AppState;

/// The most results on one page, and how deep paging goes.
pub const MAX_LIMIT: u32 = 50;
pub const MAX_OFFSET: u32 = 1000;

pub struct Search {
    index: Arc<SearchIndex>,
    follower: Arc<Follower>,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("index", &self.index)
            .finish()
    }
}

impl Search {
    /// Open (or make, or rebuild when damaged) the index in `dir`.
    pub fn open(dir: &std::path::Path, db: parley_storage::Database) -> anyhow::Result<Search> {
        let (index, opened) = SearchIndex::open(dir)?;
        match opened {
            Opened::Existing => tracing::info!(dir = %dir.display(), "search index opened"),
            Opened::Created => {
                tracing::info!(dir = %dir.display(), "search index created; filling it from the database")
            }
            Opened::Rebuilt(reason) => {
                tracing::warn!(dir = %dir.display(), %reason, "search index could not be read: rebuilding it from the database")
            }
        }
        let index = Arc::new(index);
        let follower = Arc::new(Follower::new(index.clone(), db)?);
        Ok(Search { index, follower })
    }

    /// Index everything again from the database, from an empty index.
    pub async fn rebuild(&self) -> anyhow::Result<ReindexReport> {
        let started = Instant::now();
        let pass = self.follower.rebuild().await?;
        Ok(ReindexReport {
            indexed: pass.indexed as u64,
            skipped: pass.removed as u64,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Follow the database in the background, woken by the hub after each committed event.
pub fn spawn(state: &AppState) {
    if let Some(search) = &state.search {
        tokio::spawn(search.follower.clone().run(state.hub.committed()));
    }
}

/// `GET /v1/search`'s parameters.
#[derive(Debug, Default)]
pub struct Ask {
    pub q: String,
    pub offset: u32,
    pub limit: u32,
    /// The asker's clock, minutes ahead of UTC, for `before:` and `after:`.
    pub utc_offset: i32,
}

/// This node's search, or `503 unavailable` when `[search] enabled = false`.
pub fn enabled(state: &AppState) -> AppResult<Arc<Search>> {
    state.search.clone().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "search is turned off on this server ([search] enabled = false)",
        )
    })
}

fn invalid_query(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
}

/// Run a search for `me` over what they may read now.
pub async fn search(state: &AppState, me: &User, ask: Ask) -> AppResult<SearchResults> {
    let search = enabled(state)?;
    if ask.limit == 0 || ask.limit > MAX_LIMIT {
        return Err(AppError::invalid(format!(
            "limit must be 1 to {MAX_LIMIT}, not {}",
            ask.limit
        )));
    }
    if ask.offset > MAX_OFFSET {
        return Err(AppError::invalid(format!(
            "offset goes up to {MAX_OFFSET}: narrow the search instead"
        )));
    }
    if !(-14 * 60..=14 * 60).contains(&ask.utc_offset) {
        return Err(AppError::invalid(
            "utc_offset is minutes from UTC, -840 to 840",
        ));
    }
    let query = parley_search::parse(&ask.q).map_err(|err| invalid_query(err.to_string()))?;

    // Where the asker may look: the channels they are a member of, right now.
    let mine = state.db.member_channels(me.id.0).await?;
    let mut channels: Vec<i64> = mine.iter().map(|(id, _)| *id).collect();
    if !query.within.is_empty() {
        let mut wanted = HashSet::new();
        for name in &query.within {
            let found: Vec<i64> = mine
                .iter()
                .filter(|(id, title)| id.to_string() == *name || title.eq_ignore_ascii_case(name))
                .map(|(id, _)| *id)
                .collect();
            if found.is_empty() {
                return Err(invalid_query(format!(
                    "in:{name} is not one of your channels"
                )));
            }
            wanted.extend(found);
        }
        channels.retain(|id| wanted.contains(id));
    }
    let mut authors = Vec::new();
    for name in &query.from {
        let found = state.db.users_named(name).await?;
        if found.is_empty() {
            // A guest does not see the directory, so may not learn who exists from an error:
            // for them a name that matches nobody simply finds nothing.
            if me.role == parley_proto::Role::Guest {
                return Ok(SearchResults {
                    total: 0,
                    offset: ask.offset,
                    results: Vec::new(),
                });
            }
            return Err(invalid_query(format!("from:{name} names nobody")));
        }
        authors.extend(found);
    }
    let request = Request {
        clauses: query.clauses,
        channels,
        folders: Vec::new(),
        authors,
        has_file: query.has_file,
        kinds: query.kinds,
        // after:D is what was made from the day after D on; before:D what was made before D.
        since_ms: query
            .after
            .map(|day| day.start_ms(ask.utc_offset) + 86_400_000),
        until_ms: query.before.map(|day| day.start_ms(ask.utc_offset)),
        offset: ask.offset as usize,
        limit: ask.limit as usize,
        now_ms: parley_storage::now_ms(),
    };
    let index = search.index.clone();
    let page = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(|err| AppError::internal(&err))?
        .map_err(|err| AppError::internal(&err))?;

    // The hits once more against the database: gone or recalled since they were indexed, or in
    // a channel the asker left while the search ran, they are left out.
    let ids: Vec<i64> = page.hits.iter().map(|hit| hit.id).collect();
    let current = state.db.search_messages(&ids).await?;
    let allowed: HashSet<i64> = if ids.is_empty() {
        HashSet::new()
    } else {
        state
            .db
            .member_channels(me.id.0)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let mut dropped = 0u64;
    let mut results = Vec::with_capacity(page.hits.len());
    for hit in page.hits {
        let Some(message) = current
            .iter()
            .find(|m| m.id == hit.id && m.body.is_some() && allowed.contains(&m.channel))
        else {
            dropped += 1;
            continue;
        };
        results.push(SearchResult {
            kind: SearchKind::Message,
            id: hit.id,
            channel_id: Some(ChannelId(message.channel)),
            seq: Some(message.seq),
            sender_id: message.sender.map(UserId),
            created_at: message.created_at,
            score: hit.score,
            snippet: hit
                .snippet
                .into_iter()
                .map(|part| SnippetPart {
                    text: part.text,
                    hit: part.hit,
                })
                .collect(),
        });
    }
    Ok(SearchResults {
        total: (page.total as u64).saturating_sub(dropped),
        offset: ask.offset,
        results,
    })
}
