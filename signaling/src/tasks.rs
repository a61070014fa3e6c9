//! Minutes, tasks and notifications as the server acts on them: publishing minutes (a summary
//! message to the meeting's channel, a notification to each assignee), telling a user about a
//! task given to them, and the reminder task that tells assignees (and creators) about due and
//! overdue tasks. Each reminder is claimed in storage first, so with several nodes it goes out
//! once, and after a restart the ones not yet sent still go out.

use crate::error::{AppError, AppResult};
use crate::messaging::{self, SendRequest};
use crate::AppState;
use parley_proto::{
    Meeting, MessageRef, MinuteItemKind, Minutes, Notification, NotificationId, NotificationKind,
    Priority, ServerMessage, Task, User, UserId,
};
use parley_storage::now_ms;
use std::fmt::Write as _;
use std::time::Duration;

/// At most this many reminders of each kind per pass.
const BATCH: i64 = 500;

/// A notification of `kind`, to be filled in and stored.
pub fn notification(kind: NotificationKind, now: i64) -> Notification {
    Notification {
        id: NotificationId(0),
        kind,
        created_at: now,
        read_at: None,
        task: None,
        meeting_id: None,
        message: None,
        recording_id: None,
        recording_job_id: None,
        by: None,
        file: None,
        article: None,
    }
}

/// Put `notification` in `user`'s inbox and push it to their connected devices (any node).
pub async fn notify(state: &AppState, user: UserId, notification: &Notification) -> AppResult<()> {
    let stored = state.db.add_notification(user, notification).await?;
    state
        .hub
        .to_user(
            user,
            &ServerMessage::Notification {
                notification: stored,
            },
        )
        .await;
    Ok(())
}

/// Tell `task`'s assignee it is theirs, unless they gave it to themselves.
pub async fn assigned(state: &AppState, task: &Task, by: UserId) -> AppResult<()> {
    let Some(assignee) = task.assignee_id.filter(|a| *a != by) else {
        return Ok(());
    };
    let mut n = notification(NotificationKind::TaskAssigned, now_ms());
    n.task = Some(task.clone());
    n.meeting_id = task.meeting_id;
    n.by = Some(by);
    notify(state, assignee, &n).await
}

/// Is `user` someone a task may be given to?
pub async fn check_assignee(state: &AppState, user: UserId) -> AppResult<()> {
    match state.db.user(user).await? {
        Some(record) if !record.user.disabled => Ok(()),
        _ => Err(AppError::invalid(format!(
            "assignee_id: user {user} does not exist or is disabled"
        ))),
    }
}

/// Publish `meeting`'s minutes: a summary message goes to its channel (when it has one), each
/// assignee of an action item changed since the last publication is told, and so is everyone
/// else who attended.
pub async fn publish(
    state: &AppState,
    me: &User,
    meeting: &Meeting,
    lang: Lang,
) -> AppResult<Minutes> {
    let now = now_ms();
    let minutes = state.db.minutes(meeting.id, now).await?;
    let summary = match meeting.channel_id {
        Some(channel) => {
            let mut names = Vec::new();
            for item in &minutes.items {
                if let Some(assignee) = item.task.as_ref().and_then(|t| t.assignee_id) {
                    if let Some(record) = state.db.user(assignee).await? {
                        names.push((assignee, record.user.name));
                    }
                }
            }
            let members = state.db.member_ids(channel).await?;
            let mut mentions: Vec<UserId> = names
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| members.contains(id))
                .collect();
            mentions.dedup();
            let body = summary_text(meeting, &minutes, &names, lang);
            let sent = messaging::send(
                state,
                me,
                SendRequest {
                    channel,
                    client_id: format!("minutes-{}-{now}", meeting.id),
                    body,
                    reply_to: None,
                    thread_only: false,
                    mentions,
                    mention_channel: false,
                    priority: Priority::Normal,
                    ack_requested: false,
                    action: None,
                    attachments: Vec::new(),
                },
            )
            .await?;
            Some(MessageRef {
                channel,
                message_id: sent.message.id,
            })
        }
        None => None,
    };
    state
        .db
        .minutes_published(meeting.id, me.id, summary, now)
        .await?;
    let mut told = vec![me.id];
    for task in minutes.items.iter().filter_map(|i| i.task.as_ref()) {
        let changed = minutes
            .published_at
            .is_none_or(|last| task.updated_at >= last);
        if let Some(assignee) = task.assignee_id {
            if changed && task.status.is_active() && assignee != me.id {
                let mut n = notification(NotificationKind::TaskAssigned, now);
                n.task = Some(task.clone());
                n.meeting_id = Some(meeting.id);
                n.message = summary;
                n.by = Some(me.id);
                notify(state, assignee, &n).await?;
            }
            told.push(assignee);
        }
    }
    for user in meeting.attendees.iter().filter_map(|a| a.user_id) {
        if !told.contains(&user) {
            told.push(user);
            let mut n = notification(NotificationKind::MinutesPublished, now);
            n.meeting_id = Some(meeting.id);
            n.message = summary;
            n.by = Some(me.id);
            notify(state, user, &n).await?;
        }
    }
    Ok(state.db.minutes(meeting.id, now).await?)
}

/// The language of a summary message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub fn parse(tag: Option<&str>) -> AppResult<Lang> {
        match tag.map(str::to_ascii_lowercase).as_deref() {
            None | Some("en") | Some("en-us") | Some("en-gb") => Ok(Lang::En),
            Some("zh") | Some("zh-cn") | Some("zh-hans") => Ok(Lang::ZhCn),
            Some(other) => Err(AppError::invalid(format!(
                "lang: `{other}` is not one of en, zh-CN"
            ))),
        }
    }
}

struct Words {
    minutes_of: &'static str,
    minutes: &'static str,
    recording: &'static str,
    decisions: &'static str,
    actions: &'static str,
    due: &'static str,
    unassigned: &'static str,
    at: &'static str,
}

const EN: Words = Words {
    minutes_of: "Minutes of",
    minutes: "Minutes",
    recording: "Recording",
    decisions: "Decisions",
    actions: "Action items",
    due: "due",
    unassigned: "unassigned",
    at: "at",
};

const ZH_CN: Words = Words {
    minutes_of: "会议纪要：",
    minutes: "纪要",
    recording: "录像",
    decisions: "决定",
    actions: "待办事项",
    due: "截止",
    unassigned: "未指派",
    at: "录像位置",
};

/// The summary posted to the meeting's channel: links to the minutes, the recording and each
/// task (paths of the web app), the decisions, and the action items with assignee and due date.
fn summary_text(
    meeting: &Meeting,
    minutes: &Minutes,
    names: &[(UserId, String)],
    lang: Lang,
) -> String {
    let w = match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    };
    let id = meeting.id;
    let mut text = String::new();
    let space = if lang == Lang::En { " " } else { "" };
    let _ = writeln!(
        text,
        "{}{space}{} ({})",
        w.minutes_of,
        meeting.room,
        utc_minute(meeting.started_at)
    );
    let _ = writeln!(text, "{}: /meetings/{id}/minutes", w.minutes);
    let _ = writeln!(text, "{}: /meetings/{id}/recordings", w.recording);
    let decisions: Vec<_> = minutes
        .items
        .iter()
        .filter(|i| i.kind == MinuteItemKind::Decision)
        .collect();
    if !decisions.is_empty() {
        let _ = writeln!(text, "\n{}:", w.decisions);
        for item in decisions {
            let _ = write!(text, "• {}", item.body);
            if let Some(at) = item.recording_offset_secs {
                let _ = write!(text, " ({} {})", w.at, clock(at));
            }
            text.push('\n');
        }
    }
    let actions: Vec<_> = minutes
        .items
        .iter()
        .filter_map(|i| i.task.as_ref())
        .filter(|t| t.status.is_active())
        .collect();
    if !actions.is_empty() {
        let _ = writeln!(text, "\n{}:", w.actions);
        for task in actions {
            let who = task
                .assignee_id
                .and_then(|a| names.iter().find(|(id, _)| *id == a))
                .map(|(_, name)| format!("@{name}"))
                .unwrap_or_else(|| w.unassigned.to_string());
            let _ = write!(text, "• {} — {who}", task.title);
            if let Some(due) = task.due_at {
                let _ = write!(text, " · {} {}", w.due, utc_minute(due));
            }
            let _ = writeln!(text, " · /tasks/{}", task.id);
        }
    }
    text.trim_end().to_string()
}

/// `h:mm:ss` (or `m:ss`) of a position in a recording.
pub fn clock(secs: f64) -> String {
    let total = secs.max(0.0) as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `YYYY-MM-DD HH:MM UTC` of a time in milliseconds since the epoch.
pub fn utc_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{} {:02}:{:02} UTC",
        parley_storage::civil_date(days),
        rest / 3600,
        rest / 60 % 60
    )
}

pub fn spawn_reminders(state: AppState) {
    tokio::spawn(run(state));
}

async fn run(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.tasks.poll_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(err) = remind(&state).await {
            tracing::warn!(code = ?err.code, message = %err.message, "task reminders failed this pass");
        }
    }
}

/// Send the due-soon reminders and overdue notices that are due now.
async fn remind(state: &AppState) -> AppResult<()> {
    let now = now_ms();
    let lead =
        i64::try_from(state.tasks.remind_before_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    for due in state.db.tasks_due_soon(now, lead, BATCH).await? {
        if !state
            .db
            .claim_due_reminder(due.task.id, due.due_at, now)
            .await?
        {
            continue;
        }
        if let Some(assignee) = due.task.assignee_id {
            let mut n = notification(NotificationKind::TaskDueSoon, now);
            n.meeting_id = due.task.meeting_id;
            n.task = Some(due.task);
            notify(state, assignee, &n).await?;
        }
    }
    for due in state.db.tasks_overdue(now, BATCH).await? {
        if !state
            .db
            .claim_overdue_notice(due.task.id, due.due_at, now)
            .await?
        {
            continue;
        }
        let mut to: Vec<UserId> = due.task.assignee_id.into_iter().collect();
        to.extend(due.task.created_by.filter(|c| !to.contains(c)));
        let mut n = notification(NotificationKind::TaskOverdue, now);
        n.meeting_id = due.task.meeting_id;
        n.task = Some(due.task);
        for user in to {
            notify(state, user, &n).await?;
        }
    }
    crate::knowledge::notify_stale(state, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        // 2026-11-22 09:30:00 UTC
        assert_eq!(utc_minute(1_795_339_800_000), "2026-11-22 09:30 UTC");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(clock(75.4), "1:15");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
