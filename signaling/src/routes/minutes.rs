//! A meeting's minutes over REST: read them (whoever may see the meeting), write them (those
//! who took part, during the meeting and after), and publish them to the meeting's channel.

use super::meetings::load;
use crate::auth::Caller;
use crate::error::{AppError, AppResult, Json};
use crate::policy::MeetingAction;
use crate::tasks::{self, Lang};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use parley_proto::{
    MeetingId, MinuteItem, MinuteItemId, MinuteItemKind, Minutes, NewMinuteItem, PublishMinutes,
    UpdateMinuteItem, UpdateMinutes,
};
use parley_storage::{now_ms, ItemChanges, NewItemRow};

const MAX_AGENDA_CHARS: usize = 20_000;
const MAX_ITEM_CHARS: usize = 4_000;
/// A recording position past a week is a mistake, not a meeting.
const MAX_OFFSET_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// An item's text: trimmed, not empty, not huge.
pub(crate) fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(AppError::invalid(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    Ok(value.to_string())
}

/// Seconds into the recording, as stored (milliseconds).
pub(crate) fn offset_ms(secs: f64) -> AppResult<i64> {
    if !secs.is_finite() || !(0.0..=MAX_OFFSET_SECS).contains(&secs) {
        return Err(AppError::invalid(
            "recording_offset_secs must be a number of seconds from the meeting's start (0 or more)",
        ));
    }
    Ok((secs * 1000.0).round() as i64)
}

pub(crate) fn due(due_at: Option<i64>) -> AppResult<Option<i64>> {
    match due_at {
        Some(at) if at <= 0 => Err(AppError::invalid(
            "due_at must be a time in milliseconds since the Unix epoch",
        )),
        other => Ok(other),
    }
}

#[utoipa::path(get, path = "/v1/meetings/{id}/minutes", tag = "minutes", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Minutes), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Minutes>> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::View).await?;
    Ok(axum::Json(state.db.minutes(meeting.id, now_ms()).await?))
}

/// Change the agenda.
#[utoipa::path(patch, path = "/v1/meetings/{id}/minutes", tag = "minutes", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateMinutes,
    responses((status = 200, body = Minutes), (status = 403, body = parley_proto::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<UpdateMinutes>,
) -> AppResult<axum::Json<Minutes>> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    if let Some(agenda) = req.agenda {
        if agenda.chars().count() > MAX_AGENDA_CHARS {
            return Err(AppError::invalid(format!(
                "agenda must be at most {MAX_AGENDA_CHARS} characters"
            )));
        }
        state
            .db
            .set_agenda(meeting.id, &agenda, me.id, now_ms())
            .await?;
    }
    Ok(axum::Json(state.db.minutes(meeting.id, now_ms()).await?))
}

/// Add a note, a decision or an action item (which becomes a task).
#[utoipa::path(post, path = "/v1/meetings/{id}/minutes/items", tag = "minutes", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewMinuteItem,
    responses((status = 201, body = MinuteItem), (status = 400, body = parley_proto::ErrorBody),
        (status = 403, body = parley_proto::ErrorBody)))]
pub async fn add_item(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(req): Json<NewMinuteItem>,
) -> AppResult<(StatusCode, axum::Json<MinuteItem>)> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    let body = text("body", &req.body, MAX_ITEM_CHARS)?;
    let recording_offset_ms = req.recording_offset_secs.map(offset_ms).transpose()?;
    if req.kind != MinuteItemKind::Action && (req.assignee_id.is_some() || req.due_at.is_some()) {
        return Err(AppError::invalid(
            "assignee_id and due_at belong to action items (kind \"action\")",
        ));
    }
    if let Some(assignee) = req.assignee_id {
        tasks::check_assignee(&state, assignee).await?;
    }
    let now = now_ms();
    let item = state
        .db
        .add_minute_item(
            meeting.id,
            &NewItemRow {
                kind: req.kind,
                body,
                recording_offset_ms,
                assignee: req.assignee_id,
                due_at: due(req.due_at)?,
                by: me.id,
            },
            now,
        )
        .await?;
    let item = state
        .db
        .minute_item(meeting.id, item, now)
        .await?
        .ok_or_else(|| AppError::not_found("no such minutes item"))?;
    if let Some(task) = &item.task {
        // Minutes already published: the assignee hears now rather than at the next publication.
        if state
            .db
            .minutes(meeting.id, now)
            .await?
            .published_at
            .is_some()
        {
            tasks::assigned(&state, task, me.id).await?;
        }
    }
    Ok((StatusCode::CREATED, axum::Json(item)))
}

/// Change an item: its text, recording position, and an action item's assignee and due date.
#[utoipa::path(patch, path = "/v1/meetings/{id}/minutes/items/{item}", tag = "minutes",
    security(("bearer" = [])), params(("id" = i64, Path), ("item" = i64, Path)),
    request_body = UpdateMinuteItem,
    responses((status = 200, body = MinuteItem), (status = 400, body = parley_proto::ErrorBody),
        (status = 403, body = parley_proto::ErrorBody), (status = 404, body = parley_proto::ErrorBody)))]
pub async fn update_item(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, item)): Path<(i64, i64)>,
    Json(req): Json<UpdateMinuteItem>,
) -> AppResult<axum::Json<MinuteItem>> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    let now = now_ms();
    let item = MinuteItemId(item);
    let before = state
        .db
        .minute_item(meeting.id, item, now)
        .await?
        .ok_or_else(|| AppError::not_found("no such minutes item"))?;
    if before.task.is_none() && (req.assignee_id.is_some() || req.due_at.is_some()) {
        return Err(AppError::invalid(
            "assignee_id and due_at belong to action items",
        ));
    }
    if let Some(Some(assignee)) = req.assignee_id {
        tasks::check_assignee(&state, assignee).await?;
    }
    let changes = ItemChanges {
        body: req
            .body
            .as_deref()
            .map(|b| text("body", b, MAX_ITEM_CHARS))
            .transpose()?,
        recording_offset_ms: req
            .recording_offset_secs
            .map(|o| o.map(offset_ms).transpose())
            .transpose()?,
        assignee: req.assignee_id,
        due_at: req.due_at.map(due).transpose()?,
    };
    state
        .db
        .update_minute_item(meeting.id, item, &changes, me.id, now)
        .await?;
    let after = state
        .db
        .minute_item(meeting.id, item, now)
        .await?
        .ok_or_else(|| AppError::not_found("no such minutes item"))?;
    let reassigned =
        after.task.as_ref().map(|t| t.assignee_id) != before.task.as_ref().map(|t| t.assignee_id);
    if let (true, Some(task)) = (reassigned, &after.task) {
        if state
            .db
            .minutes(meeting.id, now)
            .await?
            .published_at
            .is_some()
        {
            tasks::assigned(&state, task, me.id).await?;
        }
    }
    Ok(axum::Json(after))
}

/// Remove an item; an action item's task is cancelled.
#[utoipa::path(delete, path = "/v1/meetings/{id}/minutes/items/{item}", tag = "minutes",
    security(("bearer" = [])), params(("id" = i64, Path), ("item" = i64, Path)),
    responses((status = 204), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn delete_item(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, item)): Path<(i64, i64)>,
) -> AppResult<StatusCode> {
    let me = caller.user()?;
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    if state
        .db
        .delete_minute_item(meeting.id, MinuteItemId(item), me.id, now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("no such minutes item"))
    }
}

/// Publish: a summary with links to the minutes, the recording and each task goes to the
/// meeting's channel, and each assignee is notified. Publishing again posts an updated summary.
#[utoipa::path(post, path = "/v1/meetings/{id}/minutes/publish", tag = "minutes",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = PublishMinutes,
    responses((status = 200, body = Minutes), (status = 403, body = parley_proto::ErrorBody),
        (status = 404, body = parley_proto::ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> AppResult<axum::Json<Minutes>> {
    let me = caller.user()?;
    // The body is optional: an empty one publishes with the defaults.
    let req: PublishMinutes = if body.iter().all(u8::is_ascii_whitespace) {
        PublishMinutes::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::invalid(format!("body: {e}")))?
    };
    let meeting = load(&state, me, MeetingId(id), MeetingAction::Edit).await?;
    let lang = Lang::parse(req.lang.as_deref())?;
    Ok(axum::Json(
        tasks::publish(&state, me, &meeting, lang).await?,
    ))
}
