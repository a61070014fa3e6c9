//! The follower keeps this node's index level with the shared database: woken when an event is
//! committed (here or, through the cluster bus, on another node) and every few seconds anyway,
//! it reads each channel's stream from where it stopped, indexes what the events touched, and
//! commits the documents with its new position. It runs after delivery and never on the send
//! path: a send only wakes it. A node that was down catches up on start, from its saved position.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parley_storage::{Database, SearchMessage};
use tokio::sync::Notify;

use crate::index::{Cursors, Document, SearchError, SearchIndex};
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
        author: message.sender.unwrap_or(0),
        created_ms: message.created_at,
        has_file: !message.attachments.is_empty(),
        title: String::new(),
        text,
    })
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
    cursors: tokio::sync::Mutex<Cursors>,
}

impl Follower {
    pub fn new(index: Arc<SearchIndex>, db: Database) -> Result<Follower, SearchError> {
        let cursors = index.cursors()?;
        Ok(Follower {
            index,
            db,
            cursors: tokio::sync::Mutex::new(cursors),
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
        let mut cursors = self.cursors.lock().await;
        let heads = self.db.channel_heads().await?;
        if heads
            .iter()
            .any(|(channel, head)| cursors.get(channel).is_some_and(|at| at > head))
        {
            // The index has seen events the database no longer has: the database was
            // restored from a backup, or replaced. Start again from it.
            tracing::warn!(
                "the database is behind the search index (restored?): rebuilding the index"
            );
            self.index.clear()?;
            cursors.clear();
        }
        let mut next = cursors.clone();
        let mut pass = Pass::default();
        let mut uncommitted = 0;
        for (channel, head) in heads {
            loop {
                let at = next.get(&channel).copied().unwrap_or(0);
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
                next.insert(channel, reached);
                uncommitted += ids.len();
                if uncommitted >= COMMIT_EVERY {
                    self.commit(&next).await?;
                    *cursors = next.clone();
                    uncommitted = 0;
                }
            }
        }
        if next != *cursors {
            self.commit(&next).await?;
            *cursors = next;
        }
        Ok(pass)
    }

    async fn commit(&self, cursors: &Cursors) -> Result<(), SearchError> {
        let index = self.index.clone();
        let saved = cursors.clone();
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
            let mut cursors = self.cursors.lock().await;
            self.index.clear()?;
            cursors.clear();
        }
        self.catch_up().await
    }
}
