//! Tasks (from action items, messages, or on their own), their reminders, and each user's
//! notification inbox. Who may see or change a task is decided in `signaling::policy`; each
//! reminder is claimed here before it is sent, so with several nodes each goes out once.

use crate::error::StoreError;
use crate::Database;
use parley_proto::{
    MeetingId, MessageRef, MinuteItemId, Notification, NotificationId, Task, TaskId, TaskStatus,
    UserId,
};
use sqlx::Row;

pub(crate) const TASK_COLUMNS: &str = "t.id, t.title, t.notes, t.assignee_id, t.due_at, \
    t.status, t.meeting_id, t.minute_item_id, t.recording_offset_ms, t.source_channel_id, \
    t.source_message_id, t.created_by, t.created_at, t.updated_at, t.completed_at";

/// Milliseconds to the seconds the API speaks.
pub(crate) fn secs(ms: Option<i64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

pub(crate) fn task_from_row(row: &sqlx::any::AnyRow, now: i64) -> Result<Task, StoreError> {
    let status: String = row.try_get("status")?;
    let status = TaskStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
        column: "tasks.status",
        value: status.clone(),
    })?;
    let due_at: Option<i64> = row.try_get("due_at")?;
    let channel: Option<i64> = row.try_get("source_channel_id")?;
    let message: Option<i64> = row.try_get("source_message_id")?;
    Ok(Task {
        id: TaskId(row.try_get("id")?),
        title: row.try_get("title")?,
        notes: row.try_get("notes")?,
        assignee_id: row.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
        due_at,
        status,
        overdue: status.is_active() && due_at.is_some_and(|due| due <= now),
        meeting_id: row.try_get::<Option<i64>, _>("meeting_id")?.map(MeetingId),
        minute_item_id: row
            .try_get::<Option<i64>, _>("minute_item_id")?
            .map(MinuteItemId),
        recording_offset_secs: secs(row.try_get("recording_offset_ms")?),
        source_message: channel.zip(message).map(|(c, m)| MessageRef {
            channel: parley_proto::ChannelId(c),
            message_id: parley_proto::MessageId(m),
        }),
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTaskRow {
    pub title: String,
    pub notes: String,
    pub assignee: Option<UserId>,
    pub due_at: Option<i64>,
    pub meeting: Option<MeetingId>,
    pub recording_offset_ms: Option<i64>,
    pub source: Option<MessageRef>,
    pub created_by: UserId,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub notes: Option<String>,
    pub assignee: Option<Option<UserId>>,
    pub due_at: Option<Option<i64>>,
    pub status: Option<TaskStatus>,
}

/// Which tasks to list. Every filter given must hold; `visible_to` limits the list to tasks a
/// non-admin may see (assigned to them, created by them, or of a meeting they may see).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee: Option<UserId>,
    pub created_by: Option<UserId>,
    pub meeting: Option<MeetingId>,
    pub statuses: Vec<TaskStatus>,
    pub due_after: Option<i64>,
    pub due_before: Option<i64>,
    /// Only active tasks past their due date at this time.
    pub overdue_at: Option<i64>,
    pub visible_to: Option<VisibleTo>,
    /// Only tasks with a smaller id, to page back.
    pub before: Option<TaskId>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct VisibleTo {
    pub user: UserId,
    /// Guests see meetings they attended only, not those of their channels.
    pub guest: bool,
}

/// A reminder the task loop should send.
#[derive(Debug, Clone)]
pub struct DueTask {
    pub task: Task,
    pub due_at: i64,
}

impl Database {
    pub async fn create_task(&self, new: &NewTaskRow, now: i64) -> Result<Task, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tasks (title, notes, assignee_id, due_at, meeting_id, \
                 recording_offset_ms, source_channel_id, source_message_id, created_by, \
                 created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(&new.title)
        .bind(&new.notes)
        .bind(new.assignee.map(|u| u.0))
        .bind(new.due_at)
        .bind(new.meeting.map(|m| m.0))
        .bind(new.recording_offset_ms)
        .bind(new.source.map(|s| s.channel.0))
        .bind(new.source.map(|s| s.message_id.0))
        .bind(new.created_by.0)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        self.task(TaskId(id), now)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn task(&self, id: TaskId, now: i64) -> Result<Option<Task>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = $1");
        sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| task_from_row(&row, now))
            .transpose()
    }

    /// Apply `changes`. A new due date clears the reminders sent for the old one; done sets
    /// `completed_at`, anything else clears it.
    pub async fn update_task(
        &self,
        id: TaskId,
        changes: &TaskChanges,
        now: i64,
    ) -> Result<Option<Task>, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let old = task_from_row(&row, now)?;
        let title = changes.title.clone().unwrap_or(old.title);
        let notes = changes.notes.clone().unwrap_or(old.notes);
        let assignee = changes.assignee.unwrap_or(old.assignee_id);
        let due_at = changes.due_at.unwrap_or(old.due_at);
        let status = changes.status.unwrap_or(old.status);
        let completed_at = match status {
            TaskStatus::Done => old.completed_at.or(Some(now)),
            _ => None,
        };
        let due_changed = due_at != old.due_at;
        sqlx::query(
            "UPDATE tasks SET title = $2, notes = $3, assignee_id = $4, due_at = $5, status = $6, \
                 completed_at = $7, updated_at = $8, \
                 due_reminded_at = CASE WHEN $9 THEN NULL ELSE due_reminded_at END, \
                 overdue_notified_at = CASE WHEN $9 THEN NULL ELSE overdue_notified_at END \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(title)
        .bind(notes)
        .bind(assignee.map(|u| u.0))
        .bind(due_at)
        .bind(status.as_str())
        .bind(completed_at)
        .bind(now)
        .bind(due_changed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.task(id, now).await
    }

    pub async fn list_tasks(&self, filter: &TaskFilter, now: i64) -> Result<Vec<Task>, StoreError> {
        let mut conditions = vec!["1 = 1".to_string()];
        let mut binds: Vec<i64> = Vec::new();
        let mut bind = |value: i64| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(u) = filter.assignee {
            conditions.push(format!("t.assignee_id = {}", bind(u.0)));
        }
        if let Some(u) = filter.created_by {
            conditions.push(format!("t.created_by = {}", bind(u.0)));
        }
        if let Some(m) = filter.meeting {
            conditions.push(format!("t.meeting_id = {}", bind(m.0)));
        }
        if !filter.statuses.is_empty() {
            // Statuses are our own closed set of words, safe to spell into the query.
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            conditions.push(format!("t.status IN ({})", list.join(", ")));
        }
        if let Some(after) = filter.due_after {
            conditions.push(format!("t.due_at >= {}", bind(after)));
        }
        if let Some(before) = filter.due_before {
            conditions.push(format!("t.due_at < {}", bind(before)));
        }
        if let Some(at) = filter.overdue_at {
            conditions.push(format!(
                "t.status IN ('open', 'in_progress') AND t.due_at <= {}",
                bind(at)
            ));
        }
        if let Some(before) = filter.before {
            conditions.push(format!("t.id < {}", bind(before.0)));
        }
        if let Some(viewer) = filter.visible_to {
            let me = bind(viewer.user.0);
            let meetings = if viewer.guest {
                format!("SELECT meeting_id FROM meeting_attendance WHERE user_id = {me}")
            } else {
                format!(
                    "SELECT meeting_id FROM meeting_attendance WHERE user_id = {me} \
                     UNION SELECT m.id FROM meetings m JOIN memberships ms \
                       ON ms.channel_id = m.channel_id WHERE ms.user_id = {me}"
                )
            };
            conditions.push(format!(
                "(t.assignee_id = {me} OR t.created_by = {me} OR t.meeting_id IN ({meetings}))"
            ));
        }
        let limit = bind(filter.limit);
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE {} ORDER BY t.id DESC LIMIT {limit}",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(&sql);
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|row| task_from_row(row, now)).collect()
    }

    /// Active tasks with an assignee, due within `lead_ms` of `now` (and not yet due), whose
    /// due-soon reminder has not gone out.
    pub async fn tasks_due_soon(
        &self,
        now: i64,
        lead_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueTask>, StoreError> {
        self.due_tasks(
            "t.due_reminded_at IS NULL AND t.due_at > $1 AND t.due_at <= $1 + $2",
            now,
            lead_ms,
            limit,
        )
        .await
    }

    /// Active tasks past their due date whose overdue notice has not gone out.
    pub async fn tasks_overdue(&self, now: i64, limit: i64) -> Result<Vec<DueTask>, StoreError> {
        self.due_tasks(
            "t.overdue_notified_at IS NULL AND t.due_at <= $1 + $2",
            now,
            0,
            limit,
        )
        .await
    }

    async fn due_tasks(
        &self,
        condition: &str,
        now: i64,
        lead_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueTask>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t \
             WHERE t.status IN ('open', 'in_progress') AND t.due_at IS NOT NULL AND {condition} \
             ORDER BY t.due_at LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(lead_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let task = task_from_row(row, now)?;
                let due_at = task.due_at.unwrap_or_default();
                Ok(DueTask { task, due_at })
            })
            .collect()
    }

    /// Claim the due-soon reminder of `task` for the due date it was found with; false when
    /// another node claimed it first or the due date has changed since.
    pub async fn claim_due_reminder(
        &self,
        task: TaskId,
        due_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.claim_task_notice("due_reminded_at", task, due_at, now)
            .await
    }

    pub async fn claim_overdue_notice(
        &self,
        task: TaskId,
        due_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.claim_task_notice("overdue_notified_at", task, due_at, now)
            .await
    }

    async fn claim_task_notice(
        &self,
        column: &str,
        task: TaskId,
        due_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE tasks SET {column} = $3 WHERE id = $1 AND due_at = $2 AND {column} IS NULL \
               AND status IN ('open', 'in_progress')"
        );
        let done = sqlx::query(&sql)
            .bind(task.0)
            .bind(due_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Store `notification` in `user`'s inbox; its id and time are filled in.
    pub async fn add_notification(
        &self,
        user: UserId,
        notification: &Notification,
    ) -> Result<Notification, StoreError> {
        let body = serde_json::to_string(notification).map_err(|e| StoreError::Corrupt {
            column: "notifications.body",
            value: e.to_string(),
        })?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (user_id, body, created_at) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(user.0)
        .bind(body)
        .bind(notification.created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(Notification {
            id: NotificationId(id),
            read_at: None,
            ..notification.clone()
        })
    }

    /// `user`'s notifications, newest first (before `before`, at most `limit`), and how many
    /// are unread in all.
    pub async fn notifications(
        &self,
        user: UserId,
        unread_only: bool,
        before: Option<NotificationId>,
        limit: i64,
    ) -> Result<(Vec<Notification>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, created_at, read_at FROM notifications \
             WHERE user_id = $1 AND ($2 = 0 OR read_at IS NULL) AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(user.0)
        .bind(i64::from(unread_only))
        .bind(before.map(|b| b.0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            let body: String = row.try_get("body")?;
            let mut notification: Notification =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    column: "notifications.body",
                    value: e.to_string(),
                })?;
            notification.id = NotificationId(row.try_get("id")?);
            notification.created_at = row.try_get("created_at")?;
            notification.read_at = row.try_get("read_at")?;
            list.push(notification);
        }
        let unread: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?;
        Ok((list, unread))
    }

    /// Mark `user`'s notifications up to `up_to` read; returns how many changed.
    pub async fn mark_notifications_read(
        &self,
        user: UserId,
        up_to: NotificationId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = $3 \
             WHERE user_id = $1 AND id <= $2 AND read_at IS NULL",
        )
        .bind(user.0)
        .bind(up_to.0)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Mark these of the user's notifications read (others' ids change nothing).
    pub async fn mark_notifications_read_ids(
        &self,
        user: UserId,
        ids: &[NotificationId],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut marked = 0;
        for id in ids {
            let done = sqlx::query(
                "UPDATE notifications SET read_at = $3 \
                 WHERE user_id = $1 AND id = $2 AND read_at IS NULL",
            )
            .bind(user.0)
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            marked += done.rows_affected();
        }
        tx.commit().await?;
        Ok(marked)
    }
}
