//! Search: one query over what the asker may read.

use crate::{ChannelId, FolderId, MeetingId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    Message,
    File,
    Article,
    Minutes,
    Task,
}

impl SearchKind {
    pub const ALL: [SearchKind; 5] = [
        SearchKind::Message,
        SearchKind::File,
        SearchKind::Article,
        SearchKind::Minutes,
        SearchKind::Task,
    ];

    /// As `type:` names it, and as results carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Message => "message",
            SearchKind::File => "file",
            SearchKind::Article => "article",
            SearchKind::Minutes => "minutes",
            SearchKind::Task => "task",
        }
    }

    pub fn parse(text: &str) -> Option<SearchKind> {
        SearchKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A piece of a result's snippet; `hit` pieces are the words that matched, to highlight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    #[serde(rename = "type")]
    pub kind: SearchKind,
    /// The item's id (for a message, its message id).
    pub id: i64,
    /// Where it is: a message's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    /// A message's sequence number in its channel, to open the channel at it
    /// (`GET /v1/channels/{id}/messages?from_seq=&to_seq=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Where it is: a file's folder in the library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<FolderId>,
    /// Where it is: the meeting of minutes (their id is the meeting's too) or of a task that
    /// came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    /// Minutes: where in the meeting's recording the words that matched were said (seconds
    /// from the meeting's start, as items' `recording_offset_secs`), to open the player there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_offset_secs: Option<f64>,
    /// Where it is: an article's space in the knowledge base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_id: Option<crate::SpaceId>,
    /// What it is called: a file's name, an article's or a task's title, the meeting's title
    /// for minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Who wrote it (absent for system messages); for a file, who uploaded its current version;
    /// for a task, who created it; for minutes, who changed them last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<UserId>,
    /// When it was made (ms since the epoch); for a file, a task or minutes, when it last
    /// changed.
    pub created_at: i64,
    /// Relevance and recency together; higher is better. Only for ordering.
    pub score: f32,
    /// The best passage, at most 160 characters, with the matching words marked.
    pub snippet: Vec<SnippetPart>,
}

/// A page of results, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// How many results there are in all (that the asker may read), not only on this page.
    pub total: u64,
    pub offset: u32,
    pub results: Vec<SearchResult>,
}

/// What a rebuild of this node's search index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReindexReport {
    /// Items indexed.
    pub indexed: u64,
    /// Items found gone (recalled or deleted) and left out.
    pub skipped: u64,
    /// How long it took, in milliseconds.
    pub millis: u64,
}
