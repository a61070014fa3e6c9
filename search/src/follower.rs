//! The follower keeps this node's index level with the shared database: woken when an event is
//! committed (here or, through the cluster bus, on another node) and every few seconds anyway,
//! it reads each channel's stream from where it stopped, indexes what the events touched, and
//! commits the documents with its new position. It runs after delivery and never on the send
//! path: a send only wakes it. A node that was down catches up on start, from its saved position.
//!
//! Files, minutes and tasks (and messages deleted outright, which leave no event in their
//! channel's stream) come through the search feed instead: a row per item, stamped
//! by the database's clock whenever the item changes. Stamps are taken before commit, so one
//! may appear after a later one was read; each pass therefore reads again from a margin before
//! the newest stamp it saw, skipping what it already indexed at the same stamp.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parley_storage::{
    Database, SearchArticle, SearchFile, SearchMessage, SearchMinutes, SearchTask,
};
use tokio::sync::Notify;

use crate::index::{Document, Position, SearchError, SearchIndex};
use crate::query::Kind;

/// Events read from one channel at a time.
const BATCH: i64 = 500;
/// Looked again even without a wake-up (an event whose wake-up was lost, a missed bus message).
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// At most this often a commit: events arriving together share one.
const MIN_COMMIT_GAP: Duration = Duration::from_millis(200);
/// A long catch-up (a rebuild, a node back after days) commits every this many documents, so
/// searches see its progress and a crash keeps it.
const COMMIT_EVERY: usize = 50_000;
/// How late a change may commit after it was stamped and still be seen at once (later still,
/// the next rebuild finds it; a search checks every hit against the database anyway).
const FEED_MARGIN_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Index(#[from] SearchError),
    #[error("reading what to index: {0}")]
    Database(#[from] parley_storage::StoreError),
}

/// A message as a document of the index; `None` when it is gone (recalled or deleted).
pub fn message_document(message: &SearchMessage) -> Option<Document> {
    let body = message.body.as_ref()?;
    let mut text = body.clone();
    for name in &message.attachments {
        text.push('\n');
        text.push_str(name);
    }
    Some(Document {
        kind: Kind::Message,
        id: message.id,
        channel: message.channel,
        folder: 0,
        meeting: 0,
        space: 0,
        people: Vec::new(),
        author: message.sender.unwrap_or(0),
        created_ms: message.created_at,
        has_file: !message.attachments.is_empty(),
        title: String::new(),
        text,
    })
}

/// A library file as a document of the index.
pub fn file_document(file: &SearchFile) -> Document {
    Document {
        kind: Kind::File,
        id: file.id,
        channel: 0,
        folder: file.folder,
        meeting: 0,
        space: 0,
        people: Vec::new(),
        author: file.uploader,
        created_ms: file.updated_at,
        has_file: true,
        title: file.name.clone(),
        text: file.text.clone().unwrap_or_default(),
    }
}

/// A task as a document of the index: read by its assignee and creator, and by those who may
/// see its meeting.
pub fn task_document(task: &SearchTask) -> Document {
    Document {
        kind: Kind::Task,
        id: task.id,
        channel: 0,
        folder: 0,
        meeting: task.meeting.unwrap_or(0),
        space: 0,
        people: task.assignee.into_iter().chain(task.creator).collect(),
        author: task.creator.unwrap_or(0),
        created_ms: task.updated_at,
        has_file: false,
        title: task.title.clone(),
        text: task.notes.clone(),
    }
}

/// A meeting's minutes as a document of the index (its id is the meeting's).
pub fn minutes_document(minutes: &SearchMinutes) -> Document {
    Document {
        kind: Kind::Minutes,
        id: minutes.meeting,
        channel: 0,
        folder: 0,
        meeting: minutes.meeting,
        space: 0,
        people: Vec::new(),
        author: minutes.updated_by.unwrap_or(0),
        created_ms: minutes.updated_at,
        has_file: false,
        title: minutes.title.clone(),
        text: minutes.text.clone(),
    }
}

/// A published article as a document of the index: read by those who may read its space.
pub fn article_document(article: &SearchArticle) -> Document {
    Document {
        kind: Kind::Article,
        id: article.id,
        channel: 0,
        folder: 0,
        meeting: 0,
        space: article.space,
        people: Vec::new(),
        author: article.author,
        created_ms: article.published_at,
        has_file: false,
        title: article.title.clone(),
        text: article.text.clone(),
    }
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Documents added or replaced.
    pub indexed: usize,
    /// Documents removed (recalled or deleted messages).
    pub removed: usize,
}

pub struct Follower {
    index: Arc<SearchIndex>,
    db: Database,
    state: tokio::sync::Mutex<State>,
}

/// The saved position, and the feed entries read within the margin (by kind and id, with the
/// stamp they were read at).
struct State {
    position: Position,
    seen: HashMap<(String, i64), i64>,
}

impl Follower {
    pub fn new(index: Arc<SearchIndex>, db: Database) -> Result<Follower, SearchError> {
        let position = index.position()?;
        Ok(Follower {
            index,
            db,
            state: tokio::sync::Mutex::new(State {
                position,
                seen: HashMap::new(),
            }),
        })
    }

    /// Follow until the task is dropped: a pass now, then one after each wake-up (and at least
    /// every few seconds). A failed pass is logged and tried again; nothing is skipped.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>) {
        loop {
            match self.catch_up().await {
                Ok(pass) if pass != Pass::default() => {
                    tracing::debug!(
                        indexed = pass.indexed,
                        removed = pass.removed,
                        "search index updated"
                    )
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "search index not updated; trying again"),
            }
            tokio::time::sleep(MIN_COMMIT_GAP).await;
            let _ = tokio::time::timeout(IDLE_CHECK, wake.notified()).await;
        }
    }

    /// Read every channel's stream from the saved position to its end, index what changed, and
    /// commit it with the new position. Safe to run again at any point: documents are
    /// replaced by key, and the position is only saved with the documents.
    pub async fn catch_up(&self) -> Result<Pass, FollowError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        let heads = self.db.channel_heads().await?;
        let feed_head = self.db.search_feed_head().await?;
        let behind = heads.iter().any(|(channel, head)| {
            state
                .position
                .channels
                .get(channel)
                .is_some_and(|at| at > head)
        });
        if behind || state.position.feed_at > feed_head + FEED_MARGIN_MS {
            // The index has seen events the database no longer has: the database was
            // restored from a backup, or replaced. Start again from it.
            tracing::warn!(
                "the database is behind the search index (restored?): rebuilding the index"
            );
            self.index.clear()?;
            state.position = Position::default();
            state.seen.clear();
        }
        let mut next = state.position.clone();
        let mut pass = Pass::default();
        let mut uncommitted = 0;
        for (channel, head) in heads {
            loop {
                let at = next.channels.get(&channel).copied().unwrap_or(0);
                if at >= head {
                    break;
                }
                let events = self.db.text_events(channel, at, BATCH).await?;
                let reached = match events.last() {
                    Some(&(seq, _)) if events.len() as i64 == BATCH => seq,
                    _ => head,
                };
                let ids: Vec<i64> = events
                    .iter()
                    .map(|&(_, id)| id)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let found = self.db.search_messages(&ids).await?;
                for id in &ids {
                    match found
                        .iter()
                        .find(|m| m.id == *id)
                        .and_then(message_document)
                    {
                        Some(doc) => {
                            self.index.put(&doc)?;
                            pass.indexed += 1;
                        }
                        None => {
                            self.index.remove(Kind::Message, *id);
                            pass.removed += 1;
                        }
                    }
                }
                next.channels.insert(channel, reached);
                uncommitted += ids.len();
                if uncommitted >= COMMIT_EVERY {
                    self.commit(&next).await?;
                    state.position = next.clone();
                    uncommitted = 0;
                }
            }
        }
        uncommitted += self.follow_feed(state, &mut next, &mut pass).await?;
        if next != state.position || uncommitted > 0 {
            self.commit(&next).await?;
            state.position = next;
        }
        Ok(pass)
    }

    /// Read the search feed from a margin before the newest stamp seen, and index (or remove)
    /// each item not already indexed at its stamp. Returns how many documents changed.
    async fn follow_feed(
        &self,
        state: &mut State,
        next: &mut Position,
        pass: &mut Pass,
    ) -> Result<usize, FollowError> {
        let from = (next.feed_at - FEED_MARGIN_MS).max(0);
        state.seen.retain(|_, at| *at >= from);
        let mut after = (from - 1, String::new(), 0);
        let mut changed = 0;
        loop {
            let entries = self
                .db
                .search_feed((after.0, &after.1, after.2), BATCH)
                .await?;
            let Some(last) = entries.last() else {
                break;
            };
            after = (last.at, last.kind.clone(), last.id);
            let fresh: Vec<_> = entries
                .iter()
                .filter(|e| state.seen.get(&(e.kind.clone(), e.id)) != Some(&e.at))
                .collect();
            let of = |kind: &str| -> Vec<i64> {
                fresh
                    .iter()
                    .filter(|e| e.kind == kind)
                    .map(|e| e.id)
                    .collect()
            };
            let (files, tasks, minutes) = (of("file"), of("task"), of("minutes"));
            let (messages, articles) = (of("message"), of("article"));
            let found_messages = self.db.search_messages(&messages).await?;
            let found_files = self.db.search_files(&files).await?;
            let found_tasks = self.db.search_tasks(&tasks).await?;
            let found_minutes = self.db.search_minutes(&minutes).await?;
            let found_articles = self.db.search_articles(&articles).await?;
            let documents = messages
                .iter()
                .map(|id| {
                    let doc = found_messages
                        .iter()
                        .find(|m| m.id == *id)
                        .and_then(message_document);
                    (Kind::Message, *id, doc)
                })
                .chain(files.iter().map(|id| {
                    let doc = found_files.iter().find(|f| f.id == *id).map(file_document);
                    (Kind::File, *id, doc)
                }))
                .chain(tasks.iter().map(|id| {
                    let doc = found_tasks.iter().find(|t| t.id == *id).map(task_document);
                    (Kind::Task, *id, doc)
                }))
                .chain(minutes.iter().map(|id| {
                    let doc = found_minutes
                        .iter()
                        .find(|m| m.meeting == *id)
                        .map(minutes_document);
                    (Kind::Minutes, *id, doc)
                }))
                .chain(articles.iter().map(|id| {
                    let doc = found_articles
                        .iter()
                        .find(|a| a.id == *id)
                        .map(article_document);
                    (Kind::Article, *id, doc)
                }));
            for (kind, id, doc) in documents {
                match doc {
                    Some(doc) => {
                        self.index.put(&doc)?;
                        pass.indexed += 1;
                    }
                    None => {
                        self.index.remove(kind, id);
                        pass.removed += 1;
                    }
                }
                changed += 1;
            }
            for entry in fresh {
                state.seen.insert((entry.kind.clone(), entry.id), entry.at);
                next.feed_at = next.feed_at.max(entry.at);
            }
            if (entries.len() as i64) < BATCH {
                break;
            }
        }
        Ok(changed)
    }

    async fn commit(&self, position: &Position) -> Result<(), SearchError> {
        let index = self.index.clone();
        let saved = position.clone();
        tokio::task::spawn_blocking(move || index.commit(&saved))
            .await
            .map_err(|_| {
                SearchError::Tantivy(tantivy::TantivyError::InternalError(
                    "the commit stopped".into(),
                ))
            })?
    }

    /// Empty the index and index everything again from the database.
    pub async fn rebuild(&self) -> Result<Pass, FollowError> {
        {
            let mut state = self.state.lock().await;
            self.index.clear()?;
            state.position = Position::default();
            state.seen.clear();
        }
        self.catch_up().await
    }
}
