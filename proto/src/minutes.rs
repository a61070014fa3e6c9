//! Minutes, tasks and notifications: what a meeting leaves behind. `/v1/meetings/{id}/minutes`,
//! `/v1/tasks`, `/v1/notifications`, and the hub's `notification` push.

use crate::{ChannelId, MeetingId, MessageId, MinuteItemId, NotificationId, TaskId, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Tells a field sent as `null` (clear it: `Some(None)`) from one left out (keep it: `None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MinuteItemKind {
    Note,
    Decision,
    /// Becomes a task (with assignee and due date).
    Action,
}

impl MinuteItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MinuteItemKind::Note => "note",
            MinuteItemKind::Decision => "decision",
            MinuteItemKind::Action => "action",
        }
    }

    pub fn parse(s: &str) -> Option<MinuteItemKind> {
        match s {
            "note" => Some(MinuteItemKind::Note),
            "decision" => Some(MinuteItemKind::Decision),
            "action" => Some(MinuteItemKind::Action),
            _ => None,
        }
    }
}

/// A meeting's minutes. Anyone who may see the meeting reads them; its attendees (and admins)
/// edit them, during the meeting and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Minutes {
    pub meeting_id: MeetingId,
    pub agenda: String,
    /// Notes, decisions and action items, in the order they were written.
    pub items: Vec<MinuteItem>,
    /// When last published (a summary went to the meeting's channel); `None` for a draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<UserId>,
    /// The summary message of the last publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<MessageRef>,
    /// `None` until first edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinuteItem {
    pub id: MinuteItemId,
    pub kind: MinuteItemKind,
    pub body: String,
    /// Where in the recording this was said, in seconds from the meeting's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_offset_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The task an action item became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
}

/// `PATCH /v1/meetings/{id}/minutes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMinutes {
    pub agenda: Option<String>,
}

/// `POST /v1/meetings/{id}/minutes/items`. `assignee_id` and `due_at` are for action items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMinuteItem {
    pub kind: MinuteItemKind,
    pub body: String,
    #[serde(default)]
    pub recording_offset_secs: Option<f64>,
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub due_at: Option<i64>,
}

/// `PATCH /v1/meetings/{id}/minutes/items/{item}`: fields left out stay; `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMinuteItem {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub recording_offset_secs: Option<Option<f64>>,
    /// Action items: passed on to the task.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub due_at: Option<Option<i64>>,
}

/// `POST /v1/meetings/{id}/minutes/publish`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PublishMinutes {
    /// The summary message's language: `en` (default) or `zh-CN`.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    InProgress,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        match s {
            "open" => Some(TaskStatus::Open),
            "in_progress" => Some(TaskStatus::InProgress),
            "done" => Some(TaskStatus::Done),
            "cancelled" => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }

    /// Still to be done: reminded about, counted as overdue.
    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::InProgress)
    }
}

/// A message somewhere: where a task came from, or a minutes summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageRef {
    pub channel: ChannelId,
    pub message_id: MessageId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: TaskId,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<UserId>,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    pub status: TaskStatus,
    /// Still open or in progress past its due date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    /// The action item it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute_item_id: Option<MinuteItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_offset_secs: Option<f64>,
    /// The message it was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_message: Option<MessageRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
}

/// `POST /v1/tasks`: a task on its own, from a message, or attached to a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    #[serde(default)]
    pub due_at: Option<i64>,
    #[serde(default)]
    pub meeting_id: Option<MeetingId>,
    #[serde(default)]
    pub recording_offset_secs: Option<f64>,
    #[serde(default)]
    pub source_message: Option<MessageRef>,
}

/// `PATCH /v1/tasks/{id}`: fields left out stay; `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub due_at: Option<Option<i64>>,
    #[serde(default)]
    pub status: Option<TaskStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<Task>,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A task was given to you (on its own, or when the minutes it is in were published).
    TaskAssigned,
    /// A task of yours is due within the reminder lead time.
    TaskDueSoon,
    /// A task of yours, or one you created, is past its due date and not done.
    TaskOverdue,
    /// Minutes of a meeting you attended were published.
    MinutesPublished,
    RecordingStarted,
    RecordingFinished,
    RecordingFailed,
    /// A file, or a new version of one, landed in a folder you watch (or your channel's).
    FileVersion,
    /// An article was submitted for review in a space where you are a knowledge admin.
    ArticleSubmitted,
    /// Your article was published.
    ArticlePublished,
    /// Your article was returned with a comment.
    ArticleReturned,
    /// Someone commented on your article.
    ArticleComment,
    /// Your published article was not updated for its space's `stale_days`.
    ArticleStale,
}

/// An entry of a user's inbox (`GET /v1/notifications`), also pushed live on the hub as
/// `{"type":"notification","notification":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: NotificationId,
    pub kind: NotificationKind,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    /// The message to open: a published minutes summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
    /// Recording notifications: the file to play, the job's mixed recording when it has one
    /// that did not fail, else its first file that did not fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<i64>,
    /// Recording notifications: the recording job; its files are listed by
    /// `GET /v1/meetings/{meeting_id}/recordings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_job_id: Option<i64>,
    /// Who caused it, when someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<UserId>,
    /// `file_version`: the file and the version that landed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<crate::FileNotice>,
    /// `article_*`: the article.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<Box<crate::ArticleNotice>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    /// Unread notifications in all.
    pub unread: i64,
}

/// `POST /v1/notifications/read`: mark as read everything up to and including `up_to`, or just
/// the notifications `ids` (one of the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkNotificationsRead {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<NotificationId>,
    /// Up to 100 of the caller's notifications; others' ids are passed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<NotificationId>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_clears_and_absent_keeps() {
        let update: UpdateTask =
            serde_json::from_str(r#"{"due_at":null,"status":"in_progress"}"#).unwrap();
        assert_eq!(update.due_at, Some(None));
        assert_eq!(update.assignee_id, None);
        assert_eq!(update.status, Some(TaskStatus::InProgress));
        let update: UpdateTask = serde_json::from_str(r#"{"assignee_id":7}"#).unwrap();
        assert_eq!(update.assignee_id, Some(Some(UserId(7))));
        assert!(serde_json::from_str::<UpdateTask>(r#"{"colour":"red"}"#).is_err());
    }
}
