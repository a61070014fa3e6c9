//! A meeting's minutes: its agenda, and notes, decisions and action items in the order they were
//! written. An action item is backed by a task (same title, the item's recording position),
//! created and changed with it in one transaction.

use crate::error::StoreError;
use crate::tasks::{secs, task_from_row, TASK_COLUMNS};
use crate::Database;
use parley_proto::{
    ChannelId, MeetingId, MessageId, MessageRef, MinuteItem, MinuteItemId, MinuteItemKind, Minutes,
    Task, TaskId, UserId,
};
use sqlx::Row;

/// An item to add; `assignee` and `due_at` go to the task of an action item.
#[derive(Debug, Clone)]
pub struct NewItemRow {
    pub kind: MinuteItemKind,
    pub body: String,
    pub recording_offset_ms: Option<i64>,
    pub assignee: Option<UserId>,
    pub due_at: Option<i64>,
    pub by: UserId,
}

/// What an item update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ItemChanges {
    pub body: Option<String>,
    pub recording_offset_ms: Option<Option<i64>>,
    pub assignee: Option<Option<UserId>>,
    pub due_at: Option<Option<i64>>,
}

/// Mark the minutes as changed by `by` (creating the row on first edit).
async fn touch(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    meeting: MeetingId,
    by: UserId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO minutes (meeting_id, updated_at, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (meeting_id) DO UPDATE SET updated_at = $2, updated_by = $3",
    )
    .bind(meeting.0)
    .bind(now)
    .bind(by.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn item_from_row(row: &sqlx::any::AnyRow) -> Result<MinuteItem, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(MinuteItem {
        id: MinuteItemId(row.try_get("id")?),
        kind: MinuteItemKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
            column: "minute_items.kind",
            value: kind.clone(),
        })?,
        body: row.try_get("body")?,
        recording_offset_secs: secs(row.try_get("recording_offset_ms")?),
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        task: None,
    })
}

impl Database {
    /// The minutes of `meeting`: empty ones if nobody has written any yet.
    pub async fn minutes(&self, meeting: MeetingId, now: i64) -> Result<Minutes, StoreError> {
        let head = sqlx::query(
            "SELECT agenda, published_at, published_by, summary_channel_id, summary_message_id, \
                 updated_at FROM minutes WHERE meeting_id = $1",
        )
        .bind(meeting.0)
        .fetch_optional(&self.pool)
        .await?;
        let mut minutes = Minutes {
            meeting_id: meeting,
            agenda: String::new(),
            items: Vec::new(),
            published_at: None,
            published_by: None,
            summary: None,
            updated_at: None,
        };
        if let Some(row) = head {
            minutes.agenda = row.try_get("agenda")?;
            minutes.published_at = row.try_get("published_at")?;
            minutes.published_by = row.try_get::<Option<i64>, _>("published_by")?.map(UserId);
            let channel: Option<i64> = row.try_get("summary_channel_id")?;
            let message: Option<i64> = row.try_get("summary_message_id")?;
            minutes.summary = channel.zip(message).map(|(c, m)| MessageRef {
                channel: ChannelId(c),
                message_id: MessageId(m),
            });
            minutes.updated_at = row.try_get("updated_at")?;
        }
        let rows = sqlx::query(
            "SELECT id, kind, body, recording_offset_ms, created_by, created_at, updated_at \
             FROM minute_items WHERE meeting_id = $1 ORDER BY id",
        )
        .bind(meeting.0)
        .fetch_all(&self.pool)
        .await?;
        minutes.items = rows.iter().map(item_from_row).collect::<Result<_, _>>()?;
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN minute_items i ON i.id = t.minute_item_id \
             WHERE i.meeting_id = $1"
        );
        let tasks = sqlx::query(&sql)
            .bind(meeting.0)
            .fetch_all(&self.pool)
            .await?;
        for row in &tasks {
            let task = task_from_row(row, now)?;
            if let Some(item) = minutes
                .items
                .iter_mut()
                .find(|i| Some(i.id) == task.minute_item_id)
            {
                item.task = Some(task);
            }
        }
        Ok(minutes)
    }

    pub async fn set_agenda(
        &self,
        meeting: MeetingId,
        agenda: &str,
        by: UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        touch(&mut tx, meeting, by, now).await?;
        sqlx::query("UPDATE minutes SET agenda = $2 WHERE meeting_id = $1")
            .bind(meeting.0)
            .bind(agenda)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Add an item (and, for an action item, its task) in one transaction.
    pub async fn add_minute_item(
        &self,
        meeting: MeetingId,
        new: &NewItemRow,
        now: i64,
    ) -> Result<MinuteItemId, StoreError> {
        let mut tx = self.begin_write().await?;
        touch(&mut tx, meeting, new.by, now).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO minute_items (meeting_id, kind, body, recording_offset_ms, created_by, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(meeting.0)
        .bind(new.kind.as_str())
        .bind(&new.body)
        .bind(new.recording_offset_ms)
        .bind(new.by.0)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if new.kind == MinuteItemKind::Action {
            sqlx::query(
                "INSERT INTO tasks (title, assignee_id, due_at, meeting_id, minute_item_id, \
                     recording_offset_ms, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&new.body)
            .bind(new.assignee.map(|u| u.0))
            .bind(new.due_at)
            .bind(meeting.0)
            .bind(id)
            .bind(new.recording_offset_ms)
            .bind(new.by.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(MinuteItemId(id))
    }

    /// The item `item` of `meeting`'s minutes, with its task.
    pub async fn minute_item(
        &self,
        meeting: MeetingId,
        item: MinuteItemId,
        now: i64,
    ) -> Result<Option<MinuteItem>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, kind, body, recording_offset_ms, created_by, created_at, updated_at \
             FROM minute_items WHERE meeting_id = $1 AND id = $2",
        )
        .bind(meeting.0)
        .bind(item.0)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut found = item_from_row(&row)?;
        found.task = self.item_task(item, now).await?;
        Ok(Some(found))
    }

    async fn item_task(&self, item: MinuteItemId, now: i64) -> Result<Option<Task>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.minute_item_id = $1");
        sqlx::query(&sql)
            .bind(item.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| task_from_row(&row, now))
            .transpose()
    }

    /// Change an item; an action item's task follows its text, position, assignee and due
    /// date (a new due date clears the reminders sent for the old one).
    pub async fn update_minute_item(
        &self,
        meeting: MeetingId,
        item: MinuteItemId,
        changes: &ItemChanges,
        by: UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        touch(&mut tx, meeting, by, now).await?;
        let offset_given = changes.recording_offset_ms.is_some();
        let offset = changes.recording_offset_ms.flatten();
        sqlx::query(
            "UPDATE minute_items SET body = COALESCE($3, body), \
                 recording_offset_ms = CASE WHEN $4 THEN $5 ELSE recording_offset_ms END, \
                 updated_at = $6 \
             WHERE meeting_id = $1 AND id = $2",
        )
        .bind(meeting.0)
        .bind(item.0)
        .bind(changes.body.as_deref())
        .bind(offset_given)
        .bind(offset)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let task: Option<i64> =
            sqlx::query_scalar("SELECT id FROM tasks WHERE minute_item_id = $1")
                .bind(item.0)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(task) = task {
            let due_given = changes.due_at.is_some();
            let assignee_given = changes.assignee.is_some();
            sqlx::query(
                "UPDATE tasks SET title = COALESCE($2, title), \
                     recording_offset_ms = CASE WHEN $3 THEN $4 ELSE recording_offset_ms END, \
                     assignee_id = CASE WHEN $5 THEN $6 ELSE assignee_id END, \
                     due_reminded_at = CASE WHEN $7 AND due_at IS DISTINCT FROM $8 \
                         THEN NULL ELSE due_reminded_at END, \
                     overdue_notified_at = CASE WHEN $7 AND due_at IS DISTINCT FROM $8 \
                         THEN NULL ELSE overdue_notified_at END, \
                     due_at = CASE WHEN $7 THEN $8 ELSE due_at END, \
                     updated_at = $9 \
                 WHERE id = $1",
            )
            .bind(task)
            .bind(changes.body.as_deref())
            .bind(offset_given)
            .bind(offset)
            .bind(assignee_given)
            .bind(changes.assignee.flatten().map(|u| u.0))
            .bind(due_given)
            .bind(changes.due_at.flatten())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remove an item; an action item's task is cancelled (it stays, for the record).
    pub async fn delete_minute_item(
        &self,
        meeting: MeetingId,
        item: MinuteItemId,
        by: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        touch(&mut tx, meeting, by, now).await?;
        sqlx::query(
            "UPDATE tasks SET status = 'cancelled', minute_item_id = NULL, updated_at = $2 \
             WHERE minute_item_id = $1 AND status IN ('open', 'in_progress')",
        )
        .bind(item.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE tasks SET minute_item_id = NULL WHERE minute_item_id = $1")
            .bind(item.0)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM minute_items WHERE meeting_id = $1 AND id = $2")
            .bind(meeting.0)
            .bind(item.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// The minutes were published by `by`, with `summary` posted to the meeting's channel.
    pub async fn minutes_published(
        &self,
        meeting: MeetingId,
        by: UserId,
        summary: Option<MessageRef>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        touch(&mut tx, meeting, by, now).await?;
        sqlx::query(
            "UPDATE minutes SET published_at = $2, published_by = $3, summary_channel_id = $4, \
                 summary_message_id = $5 WHERE meeting_id = $1",
        )
        .bind(meeting.0)
        .bind(now)
        .bind(by.0)
        .bind(summary.map(|s| s.channel.0))
        .bind(summary.map(|s| s.message_id.0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The task behind an item, if the item is an action item.
    pub async fn task_of_item(&self, item: MinuteItemId) -> Result<Option<TaskId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM tasks WHERE minute_item_id = $1")
            .bind(item.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(TaskId))
    }
}
