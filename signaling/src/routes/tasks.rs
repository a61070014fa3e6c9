//! Tasks over REST (from action items, from a message, or on their own), and each user's
//! notification inbox.

use super::meetings::{self, load};
use super::minutes::{due, offset_ms, text};
use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::policy::{self, Actor, MeetingAction, MessageAction, TaskAction, TaskFacts};
use crate::{messaging, tasks, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use parley_proto::{
    MarkNotificationsRead, MeetingId, NewTask, NotificationId, NotificationList, Role, Task,
    TaskId, TaskList, TaskStatus, UpdateTask, User, UserId,
};
use parley_storage::{now_ms, NewTaskRow, TaskChanges, TaskFilter, VisibleTo};
use serde::Deserialize;

const MAX_TITLE_CHARS: usize = 500;
const MAX_NOTES_CHARS: usize = 20_000;

/// `me` or a user id.
fn who(me: &User, value: &str, field: &str) -> AppResult<UserId> {
    if value == "me" {
        return Ok(me.id);
    }
    value
        .parse()
        .map(UserId)
        .map_err(|_| AppError::invalid(format!("{field} must be `me` or a user id")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TaskQuery {
    /// `me` or a user id.
    pub assignee: Option<String>,
    /// `me` or a user id.
    pub created_by: Option<String>,
    pub meeting: Option<i64>,
    /// Comma-separated: `open`, `in_progress`, `done`, `cancelled`.
    pub status: Option<String>,
    /// Due at or after this time (ms since the epoch).
    pub due_after: Option<i64>,
    /// Due before this time (ms since the epoch).
    pub due_before: Option<i64>,
    /// Only open or in-progress tasks past their due date.
    pub overdue: Option<bool>,
    /// Only tasks with a smaller id, to page back.
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

/// Tasks the caller may see, newest first, filtered: everything for admins; for others, those
/// assigned to them, created by them, or of meetings they may see.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", security(("bearer" = [])),
    params(TaskQuery), responses((status = 200, body = TaskList),
        (status = 400, body = parley_proto::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<TaskQuery>,
) -> AppResult<axum::Json<TaskList>> {
    let me = caller.user()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit must be 1 to 200"));
    }
    let mut statuses = Vec::new();
    for word in query.status.iter().flat_map(|s| s.split(',')) {
        statuses.push(TaskStatus::parse(word.trim()).ok_or_else(|| {
            AppError::invalid(format!(
                "status: `{word}` is not one of open, in_progress, done, cancelled"
            ))
        })?);
    }
    let meeting = match query.meeting {
        Some(id) => Some(
            load(&state, me, MeetingId(id), MeetingAction::View)
                .await?
                .id,
        ),
        None => None,
    };
    let now = now_ms();
    let filter = TaskFilter {
        assignee: query
            .assignee
            .as_deref()
            .map(|a| who(me, a, "assignee"))
            .transpose()?,
        created_by: query
            .created_by
            .as_deref()
            .map(|c| who(me, c, "created_by"))
            .transpose()?,
        meeting,
        statuses,
        due_after: query.due_after,
        due_before: query.due_before,
        overdue_at: query.overdue.unwrap_or(false).then_some(now),
        visible_to: (me.role != Role::Admin).then_some(VisibleTo {
            user: me.id,
            guest: me.role == Role::Guest,
        }),
        before: query.before.map(TaskId),
        limit,
    };
    Ok(axum::Json(TaskList {
        tasks: state.db.list_tasks(&filter, now).await?,
    }))
}

/// How `me` stands to `task`.
async fn task_facts(state: &AppState, me: &User, task: &Task) -> AppResult<TaskFacts> {
    let mut facts = TaskFacts {
        assignee: task.assignee_id == Some(me.id),
        creator: task.created_by == Some(me.id),
        ..TaskFacts::default()
    };
    if let Some(id) = task.meeting_id {
        if let Some(meeting) = state.db.meeting(id).await? {
            let f = meetings::facts(state, me, &meeting).await?;
            facts.meeting_viewer = policy::meeting(me.role, f, MeetingAction::View).is_ok();
            facts.meeting_editor = policy::meeting(me.role, f, MeetingAction::Edit).is_ok();
        }
    }
    Ok(facts)
}

async fn load_task(state: &AppState, me: &User, id: TaskId, action: TaskAction) -> AppResult<Task> {
    let task = state
        .db
        .task(id, now_ms())
        .await?
        .ok_or_else(|| AppError::not_found("no such task"))?;
    policy::task(me.role, task_facts(state, me, &task).await?, action)?;
    Ok(task)
}

/// Create a task: on its own, from a message (`source_message`), or in a meeting.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = NewTask, responses((status = 201, body = Task),
        (status = 400, body = parley_proto::ErrorBody), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<NewTask>,
) -> AppResult<(StatusCode, axum::Json<Task>)> {
    let me = caller.user()?;
    let title = text("title", &req.title, MAX_TITLE_CHARS)?;
    if req.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(AppError::invalid(format!(
            "notes must be at most {MAX_NOTES_CHARS} characters"
        )));
    }
    if let Some(meeting) = req.meeting_id {
        load(&state, me, meeting, MeetingAction::Edit).await?;
    } else if req.recording_offset_secs.is_some() {
        return Err(AppError::invalid(
            "recording_offset_secs needs the task's meeting_id",
        ));
    }
    if let Some(source) = req.source_message {
        // The message must be one the caller can read.
        let channel = messaging::access(&state, me, source.channel).await?;
        policy::messages(Actor::from(me), &channel, MessageAction::Read)?;
        state
            .db
            .message(source.channel, source.message_id)
            .await
            .map_err(|_| {
                AppError::invalid(format!(
                    "source_message: message {} is not in channel {}",
                    source.message_id, source.channel
                ))
            })?;
    }
    if let Some(assignee) = req.assignee_id {
        tasks::check_assignee(&state, assignee).await?;
        if me.role == Role::Guest && assignee != me.id {
            return Err(AppError::forbidden(
                "guests create tasks for themselves only",
            ));
        }
    }
    let task = state
        .db
        .create_task(
            &NewTaskRow {
                title,
                notes: req.notes,
                assignee: req.assignee_id,
                due_at: due(req.due_at)?,
                meeting: req.meeting_id,
                recording_offset_ms: req.recording_offset_secs.map(offset_ms).transpose()?,
                source: req.source_message,
                created_by: me.id,
            },
            now_ms(),
        )
        .await?;
    tasks::assigned(&state, &task, me.id).await?;
    Ok((StatusCode::CREATED, axum::Json(task)))
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Task>> {
    let me = caller.user()?;
    Ok(axum::Json(
        load_task(&state, me, TaskId(id), TaskAction::View).await?,
    ))
}

/// Change a task. The assignee may change its status; its creator and the meeting's attendees
/// may change anything. A new assignee is notified.
#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateTask,
    responses((status = 200, body = Task), (status = 400, body = parley_proto::ErrorBody),
        (status = 403, body = parley_proto::ErrorBody), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<UpdateTask>,
) -> AppResult<axum::Json<Task>> {
    let me = caller.user()?;
    let only_status = req.title.is_none()
        && req.notes.is_none()
        && req.assignee_id.is_none()
        && req.due_at.is_none();
    let action = if only_status {
        TaskAction::ChangeStatus
    } else {
        TaskAction::Edit
    };
    let before = load_task(&state, me, TaskId(id), action).await?;
    if let Some(Some(assignee)) = req.assignee_id {
        tasks::check_assignee(&state, assignee).await?;
    }
    if req
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTES_CHARS)
    {
        return Err(AppError::invalid(format!(
            "notes must be at most {MAX_NOTES_CHARS} characters"
        )));
    }
    let changes = TaskChanges {
        title: req
            .title
            .as_deref()
            .map(|t| text("title", t, MAX_TITLE_CHARS))
            .transpose()?,
        notes: req.notes,
        assignee: req.assignee_id,
        due_at: req.due_at.map(due).transpose()?,
        status: req.status,
    };
    let task = state
        .db
        .update_task(before.id, &changes, now_ms())
        .await?
        .ok_or_else(|| AppError::not_found("no such task"))?;
    if task.assignee_id != before.assignee_id {
        tasks::assigned(&state, &task, me.id).await?;
    }
    Ok(axum::Json(task))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NotificationQuery {
    /// Only unread ones.
    pub unread: Option<bool>,
    /// Only those with a smaller id, to page back.
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

/// The caller's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/v1/notifications", tag = "tasks", security(("bearer" = [])),
    params(NotificationQuery), responses((status = 200, body = NotificationList)))]
pub async fn notifications(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<NotificationQuery>,
) -> AppResult<axum::Json<NotificationList>> {
    let me = caller.user()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit must be 1 to 200"));
    }
    let (notifications, unread) = state
        .db
        .notifications(
            me.id,
            query.unread.unwrap_or(false),
            query.before.map(NotificationId),
            limit,
        )
        .await?;
    Ok(axum::Json(NotificationList {
        notifications,
        unread,
    }))
}

/// Mark the caller's notifications read: up to and including `up_to`, or those in `ids`.
#[utoipa::path(post, path = "/v1/notifications/read", tag = "tasks", security(("bearer" = [])),
    request_body = MarkNotificationsRead, responses((status = 204),
        (status = 422, body = parley_proto::ErrorBody, description = "invalid_input: neither or both of `up_to` and `ids`, or more than 100 ids")))]
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<MarkNotificationsRead>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    match (req.up_to, req.ids) {
        (Some(up_to), None) => {
            state
                .db
                .mark_notifications_read(me.id, up_to, now_ms())
                .await?;
        }
        (None, Some(ids)) if ids.len() <= 100 => {
            state
                .db
                .mark_notifications_read_ids(me.id, &ids, now_ms())
                .await?;
        }
        (None, Some(_)) => return Err(AppError::invalid("at most 100 ids at once")),
        _ => {
            return Err(AppError::invalid(
                "give either `up_to` (everything up to it) or `ids` (just those)",
            ))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
