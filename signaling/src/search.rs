//! Search on this node: the index (`parley_search`) and its follower, and the one place that
//! decides what a search may look at. Every search reads the asker's channels afresh, so a
//! member who left, or a guest, finds nothing there from that moment; the hits are checked
//! against the database once more before they are shown (a message recalled a moment ago,
//! before the follower saw it, is left out). Files of the library are searched in the folders
//! the asker may read at that moment, worked out from every folder's grants for each search.
//!
//! The text of library files is read here too, in the background, once per content: from the
//! object store (opened when sealed), in a bounded size, and saved in the database so every
//! node indexes it without reading it again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use parley_proto::{
    ChannelId, ErrorCode, FolderId, MeetingId, Minutes, ReindexReport, SearchKind, SearchResult,
    SearchResults, SnippetPart, SpaceId, User, UserId,
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
    /// Wakes the reader of files' text when a file lands.
    texts: Arc<tokio::sync::Notify>,
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
        Ok(Search {
            index,
            follower,
            texts: Arc::new(tokio::sync::Notify::new()),
        })
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

/// Follow the database in the background, woken by the hub after each committed event (and
/// by `changed`); read the text of new files.
pub fn spawn(state: &AppState) {
    if let Some(search) = &state.search {
        tokio::spawn(search.follower.clone().run(state.hub.committed()));
        tokio::spawn(read_texts(state.clone(), search.texts.clone()));
    }
}

/// Something the index holds changed outside the hub (a file landed, was renamed, trashed or
/// restored): follow now rather than at the next idle check, and read new files' text.
pub fn changed(state: &AppState) {
    if let Some(search) = &state.search {
        state.hub.committed().notify_one();
        search.texts.notify_one();
    }
}

/// Contents whose text is read at a time.
const TEXT_BATCH: i64 = 8;
/// Looked for again even without a wake-up (a file landed on another node).
const TEXT_IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// Read the text of library files whose content has none yet, until the server stops.
async fn read_texts(state: AppState, wake: Arc<tokio::sync::Notify>) {
    let mut shutdown = state.shutdown.subscribe();
    loop {
        if let Err(e) = read_some_texts(&state).await {
            tracing::warn!(error = %e, "cannot read files' text now; trying again later");
        }
        tokio::select! {
            _ = tokio::time::timeout(TEXT_IDLE_CHECK, wake.notified()) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Read and save the text of every content waiting for it. A store that cannot be read stops
/// the round with nothing saved, so the content is read again next time.
async fn read_some_texts(state: &AppState) -> anyhow::Result<()> {
    loop {
        let pending = state.db.pending_texts(TEXT_BATCH).await?;
        for content in &pending {
            let outcome = read_text(state, content).await?;
            if let parley_storage::TextOutcome::Failed(error) = &outcome {
                tracing::info!(sha256 = %content.sha256, %error, "a file's text cannot be read; it is found by its name");
            }
            state
                .db
                .save_text(&content.sha256, &outcome, parley_storage::now_ms())
                .await?;
            state.hub.committed().notify_one();
        }
        if (pending.len() as i64) < TEXT_BATCH {
            return Ok(());
        }
    }
}

/// The text of one content: read from the store (at most what the format needs) and extracted
/// on a blocking thread. `Err` when the store could not be read.
async fn read_text(
    state: &AppState,
    content: &parley_storage::PendingText,
) -> anyhow::Result<parley_storage::TextOutcome> {
    use futures::TryStreamExt;
    use parley_storage::TextOutcome;
    let Some(format) = parley_files::text_format(&content.mime, &content.name) else {
        return Ok(TextOutcome::None);
    };
    let size = u64::try_from(content.size).unwrap_or(0);
    let wanted = match format {
        parley_files::TextFormat::Text => size.min(parley_files::TEXT_SOURCE_BYTES),
        _ if size > parley_files::MAX_SOURCE_BYTES => return Ok(TextOutcome::None),
        _ => size,
    };
    if wanted == 0 {
        return Ok(TextOutcome::Read(String::new()));
    }
    let read = async {
        let stream = match crate::sealed::data_key(state, content.sealed.as_ref()) {
            Ok(Some(data_key)) => {
                crate::sealed::open_range(
                    &state.objects,
                    &content.object_key,
                    data_key,
                    size,
                    0..wanted,
                )
                .await?
            }
            Ok(None) => {
                state
                    .objects
                    .stream_range(&content.object_key, 0..wanted)
                    .await?
            }
            // Sealed under a key this server does not have.
            Err(e) => return Ok(Err(e.message)),
        };
        let bytes = stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await?;
        Ok::<_, parley_storage::ObjectError>(Ok(bytes))
    };
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(why)) => return Ok(TextOutcome::Failed(why)),
        // What is not there, or does not open, will not be better next time.
        Err(
            e @ (parley_storage::ObjectError::NotFound(_) | parley_storage::ObjectError::Sealed(_)),
        ) => return Ok(TextOutcome::Failed(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(
        match tokio::task::spawn_blocking(move || parley_files::extract(format, &bytes)).await {
            Ok(Ok(text)) => TextOutcome::Read(text),
            Ok(Err(e)) => TextOutcome::Failed(e.to_string()),
            Err(_) => TextOutcome::Failed("reading its text stopped".into()),
        },
    )
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

    // Where the asker may look: the channels they are a member of and the folders of the
    // library they may read, right now.
    let mine = state.db.member_channels(me.id.0).await?;
    let mut channels: Vec<i64> = mine.iter().map(|(id, _)| *id).collect();
    let readable = crate::library::readable_folders(state, me, &channels).await?;
    let mut folders: Vec<i64> = readable.iter().map(|r| r.folder.id.0).collect();
    let spaces_readable = crate::knowledge::readable_spaces(state, me).await?;
    let mut spaces: Vec<i64> = spaces_readable.iter().map(|s| s.id.0).collect();
    if !query.within.is_empty() {
        let mut wanted_channels = HashSet::new();
        let mut wanted_folders = HashSet::new();
        let mut wanted_spaces = HashSet::new();
        for name in &query.within {
            let named =
                |id: i64, title: &str| id.to_string() == *name || title.eq_ignore_ascii_case(name);
            let found: Vec<i64> = mine
                .iter()
                .filter(|(id, title)| named(*id, title))
                .map(|(id, _)| *id)
                .collect();
            // A folder (by name: a number names a channel), with every folder below it.
            let roots: HashSet<FolderId> = readable
                .iter()
                .filter(|r| r.folder.name.eq_ignore_ascii_case(name))
                .map(|r| r.folder.id)
                .collect();
            let named_spaces: Vec<i64> = spaces_readable
                .iter()
                .filter(|s| s.name.eq_ignore_ascii_case(name))
                .map(|s| s.id.0)
                .collect();
            if found.is_empty() && roots.is_empty() && named_spaces.is_empty() {
                return Err(invalid_query(format!(
                    "in:{name} is not one of your channels, folders or knowledge-base spaces"
                )));
            }
            wanted_spaces.extend(named_spaces);
            wanted_channels.extend(found);
            wanted_folders.extend(
                readable
                    .iter()
                    .filter(|r| {
                        roots.contains(&r.folder.id) || r.above.iter().any(|f| roots.contains(f))
                    })
                    .map(|r| r.folder.id.0),
            );
        }
        channels.retain(|id| wanted_channels.contains(id));
        folders.retain(|id| wanted_folders.contains(id));
        spaces.retain(|id| wanted_spaces.contains(id));
    }
    // Minutes and tasks: of the meetings the asker may see, and tasks that name them (not
    // narrowed by `in:`, which names channels and folders).
    let guest = me.role == parley_proto::Role::Guest;
    let (meetings, person) = if query.within.is_empty() {
        (state.db.visible_meetings(me.id.0, guest).await?, me.id.0)
    } else {
        (Vec::new(), 0)
    };
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
        folders,
        meetings,
        spaces,
        person,
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

    // The hits once more against the database: gone, recalled or trashed since they were
    // indexed, or in a channel the asker left or a folder closed to them while the search
    // ran, they are left out.
    let kind_ids = |kind: SearchKind| -> Vec<i64> {
        page.hits
            .iter()
            .filter(|hit| hit.kind == kind)
            .map(|hit| hit.id)
            .collect()
    };
    let messages = state
        .db
        .search_messages(&kind_ids(SearchKind::Message))
        .await?;
    let files = state.db.search_files(&kind_ids(SearchKind::File)).await?;
    let tasks = state.db.search_tasks(&kind_ids(SearchKind::Task)).await?;
    let minutes = state
        .db
        .search_minutes(&kind_ids(SearchKind::Minutes))
        .await?;
    let articles = state
        .db
        .search_articles(&kind_ids(SearchKind::Article))
        .await?;
    let seen_spaces: HashSet<i64> = if articles.is_empty() {
        HashSet::new()
    } else {
        crate::knowledge::readable_spaces(state, me)
            .await?
            .into_iter()
            .map(|s| s.id.0)
            .collect()
    };
    let seen_meetings: HashSet<i64> = if tasks.is_empty() && minutes.is_empty() {
        HashSet::new()
    } else {
        state
            .db
            .visible_meetings(me.id.0, guest)
            .await?
            .into_iter()
            .collect()
    };
    let (allowed_channels, allowed_folders): (HashSet<i64>, HashSet<i64>) = if page.hits.is_empty()
    {
        Default::default()
    } else {
        let channels: Vec<i64> = state
            .db
            .member_channels(me.id.0)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let folders = if files.is_empty() {
            HashSet::new()
        } else {
            crate::library::readable_folders(state, me, &channels)
                .await?
                .into_iter()
                .map(|r| r.folder.id.0)
                .collect()
        };
        (channels.into_iter().collect(), folders)
    };
    // Minutes open at the moment the words that matched were said.
    let mut moments: HashMap<i64, Option<f64>> = HashMap::new();
    for hit in page.hits.iter().filter(|h| h.kind == SearchKind::Minutes) {
        if !seen_meetings.contains(&hit.id) {
            continue;
        }
        let said = state
            .db
            .minutes(MeetingId(hit.id), parley_storage::now_ms())
            .await?;
        moments.insert(hit.id, moment(&said, &hit.snippet));
    }
    let mut dropped = 0u64;
    let mut results = Vec::with_capacity(page.hits.len());
    for hit in page.hits {
        let snippet: Vec<SnippetPart> = hit
            .snippet
            .into_iter()
            .map(|part| SnippetPart {
                text: part.text,
                hit: part.hit,
            })
            .collect();
        // Where the hit is now, who made it and when, if the asker may still read it.
        let mut result = SearchResult {
            kind: hit.kind,
            id: hit.id,
            channel_id: None,
            seq: None,
            folder_id: None,
            meeting_id: None,
            recording_offset_secs: None,
            space_id: None,
            title: None,
            sender_id: None,
            created_at: 0,
            score: hit.score,
            snippet,
        };
        let current = match hit.kind {
            SearchKind::Message => messages
                .iter()
                .find(|m| {
                    m.id == hit.id && m.body.is_some() && allowed_channels.contains(&m.channel)
                })
                .map(|message| {
                    result.channel_id = Some(ChannelId(message.channel));
                    result.seq = Some(message.seq);
                    result.sender_id = message.sender.map(UserId);
                    result.created_at = message.created_at;
                }),
            SearchKind::File => files
                .iter()
                .find(|f| f.id == hit.id && allowed_folders.contains(&f.folder))
                .map(|file| {
                    result.folder_id = Some(FolderId(file.folder));
                    result.title = Some(file.name.clone());
                    result.sender_id = Some(UserId(file.uploader));
                    result.created_at = file.updated_at;
                }),
            SearchKind::Task => tasks
                .iter()
                .find(|task| {
                    task.id == hit.id
                        && (task.assignee == Some(me.id.0)
                            || task.creator == Some(me.id.0)
                            || task.meeting.is_some_and(|m| seen_meetings.contains(&m)))
                })
                .map(|task| {
                    result.meeting_id = task.meeting.map(MeetingId);
                    result.title = Some(task.title.clone());
                    result.sender_id = task.creator.map(UserId);
                    result.created_at = task.updated_at;
                }),
            SearchKind::Minutes => minutes
                .iter()
                .find(|m| m.meeting == hit.id && seen_meetings.contains(&m.meeting))
                .map(|m| {
                    result.recording_offset_secs = moments.get(&m.meeting).copied().flatten();
                    result.meeting_id = Some(MeetingId(m.meeting));
                    result.title = Some(m.title.clone());
                    result.sender_id = m.updated_by.map(UserId);
                    result.created_at = m.updated_at;
                }),
            SearchKind::Article => articles
                .iter()
                .find(|a| a.id == hit.id && seen_spaces.contains(&a.space))
                .map(|article| {
                    result.space_id = Some(SpaceId(article.space));
                    result.title = Some(article.title.clone());
                    result.sender_id = Some(UserId(article.author));
                    result.created_at = article.published_at;
                }),
        };
        let result = current.map(|()| result);
        match result {
            Some(result) => results.push(result),
            None => dropped += 1,
        }
    }
    Ok(SearchResults {
        total: (page.total as u64).saturating_sub(dropped),
        offset: ask.offset,
        results,
    })
}

/// Where in the recording minutes' matched words were said: the first stamped item whose text
/// holds one of the snippet's highlighted words.
fn moment(minutes: &Minutes, snippet: &[parley_search::Segment]) -> Option<f64> {
    let words: Vec<String> = snippet
        .iter()
        .filter(|part| part.hit && !part.text.trim().is_empty())
        .map(|part| part.text.to_lowercase())
        .collect();
    minutes
        .items
        .iter()
        .filter(|item| item.recording_offset_secs.is_some())
        .find(|item| {
            let body = item.body.to_lowercase();
            words.iter().any(|word| body.contains(word.as_str()))
        })
        .and_then(|item| item.recording_offset_secs)
}
