//! The knowledge base's facts: what a person may do in each space (`policy::space` decides),
//! the notifications of review, comments and stale articles, and an article made from a
//! meeting's minutes.

pub mod diff;
pub mod templates;

use crate::error::AppResult;
use crate::policy::{self, SpaceFacts};
use crate::tasks::{notification, notify};
use crate::AppState;
use parley_proto::{
    ArticleNotice, DepartmentId, Meeting, MinuteItemKind, Minutes, NotificationKind, Recording,
    RecordingKind, RecordingStatus, Role, SpaceLevel, SpaceMember, SpaceRole, SpaceSubject, User,
    UserId,
};
use parley_storage::{now_ms, path_within, SpaceRow};
use std::collections::{HashMap, HashSet};

/// What is needed to work out anyone's level in any space, read once.
pub struct Directory {
    /// Departments' paths.
    pub paths: HashMap<DepartmentId, String>,
    /// Every space's named members.
    pub members: HashMap<parley_proto::SpaceId, Vec<SpaceMember>>,
}

impl Directory {
    pub async fn load(state: &AppState) -> AppResult<Directory> {
        Ok(Directory {
            paths: state
                .db
                .list_departments()
                .await?
                .into_iter()
                .map(|d| (d.id, d.path))
                .collect(),
            members: state.db.all_space_members().await?,
        })
    }
}

/// The channels `me` is in.
pub async fn channels_of(state: &AppState, me: &User) -> AppResult<HashSet<i64>> {
    Ok(crate::library::channel_ids(state, me)
        .await?
        .into_iter()
        .collect())
}

/// How `me` (in `channels`) stands to `space`.
pub fn level(
    me: &User,
    channels: &HashSet<i64>,
    space: &SpaceRow,
    directory: &Directory,
) -> SpaceLevel {
    let space_path = space
        .department
        .map(|d| directory.paths.get(&d).map(String::as_str));
    let mine = me.department_path.as_deref();
    let (department_admin, in_audience) = match space_path {
        // A topic space: for everyone.
        None => (false, true),
        // Its department is gone: for nobody but those it names.
        Some(None) => (false, false),
        Some(Some(path)) => (
            mine.is_some_and(|m| path_within(path, m)),
            mine.is_some_and(|m| path_within(m, path)),
        ),
    };
    let named = directory
        .members
        .get(&space.id)
        .into_iter()
        .flatten()
        .filter(|member| match member.subject {
            SpaceSubject::User { user_id } => user_id == me.id,
            SpaceSubject::Channel { channel_id } => channels.contains(&channel_id.0),
        })
        .map(|member| match member.role {
            // Channels only ever make readers.
            _ if matches!(member.subject, SpaceSubject::Channel { .. }) => SpaceRole::Reader,
            role => role,
        })
        .max_by_key(|role| match role {
            SpaceRole::Reader => 0,
            SpaceRole::Writer => 1,
            SpaceRole::Admin => 2,
        });
    policy::space(
        me.role,
        SpaceFacts {
            department_admin,
            in_audience,
            named,
        },
    )
}

/// `me`'s level in one space (reads the directory).
pub async fn level_in(state: &AppState, me: &User, space: &SpaceRow) -> AppResult<SpaceLevel> {
    let directory = Directory::load(state).await?;
    let channels = channels_of(state, me).await?;
    Ok(level(me, &channels, space, &directory))
}

/// The spaces `me` may read right now (for a search).
pub async fn readable_spaces(state: &AppState, me: &User) -> AppResult<Vec<SpaceRow>> {
    let directory = Directory::load(state).await?;
    let channels = channels_of(state, me).await?;
    Ok(state
        .db
        .spaces()
        .await?
        .into_iter()
        .filter(|space| level(me, &channels, space, &directory) >= SpaceLevel::Read)
        .collect())
}

/// Who is told of a submission: the knowledge admins the space names and the department admins
/// above its department (active, and never guests, who only read); when there are none, the
/// organisation's admins.
pub async fn reviewers(state: &AppState, space: &SpaceRow) -> AppResult<Vec<UserId>> {
    let directory = Directory::load(state).await?;
    let named: Vec<UserId> = directory
        .members
        .get(&space.id)
        .into_iter()
        .flatten()
        .filter_map(|member| match (member.subject, member.role) {
            (SpaceSubject::User { user_id }, SpaceRole::Admin) => Some(user_id),
            _ => None,
        })
        .collect();
    let path = space.department.and_then(|d| directory.paths.get(&d));
    let mut found = Vec::new();
    let mut admins = Vec::new();
    for user in state.db.list_users(None).await? {
        if user.disabled || user.role == Role::Guest {
            continue;
        }
        let above = user.role == Role::DeptAdmin
            && path.is_some_and(|p| {
                user.department_path
                    .as_deref()
                    .is_some_and(|m| path_within(p, m))
            });
        if named.contains(&user.id) || above {
            found.push(user.id);
        } else if user.role == Role::Admin {
            admins.push(user.id);
        }
    }
    Ok(if found.is_empty() { admins } else { found })
}

/// Tell `to` of `kind` about an article.
pub async fn tell(
    state: &AppState,
    to: &[UserId],
    kind: NotificationKind,
    article: ArticleNotice,
    by: Option<UserId>,
) -> AppResult<()> {
    let mut n = notification(kind, now_ms());
    n.article = Some(Box::new(article));
    n.by = by;
    for user in to {
        if Some(*user) != by {
            notify(state, *user, &n).await?;
        }
    }
    Ok(())
}

/// Tell the authors of articles that went stale, once each across nodes and restarts.
pub async fn notify_stale(state: &AppState, now: i64) -> AppResult<()> {
    for stale in state.db.stale_articles(now).await? {
        if !state.db.claim_stale_notice(stale.id, now).await? {
            continue;
        }
        let notice = ArticleNotice {
            id: stale.id,
            space_id: stale.space,
            title: stale.title,
            comment: String::new(),
        };
        tell(
            state,
            &[stale.author],
            NotificationKind::ArticleStale,
            notice,
            None,
        )
        .await?;
    }
    Ok(())
}

/// The recording readers of an article made from a meeting play: the meeting's mixed
/// recording, once it is done (never one participant's own track).
pub fn kept_recording(recordings: &[Recording]) -> Option<&Recording> {
    recordings
        .iter()
        .find(|r| r.kind == RecordingKind::Mixed && r.status == RecordingStatus::Done)
}

/// A meeting's minutes as the Markdown of an article: title, time, attendees, agenda,
/// decisions, notes and action items (with where they were said in the recording).
pub fn minutes_markdown(meeting: &Meeting, minutes: &Minutes, zh: bool) -> (String, String) {
    let label = |en: &'static str, cn: &'static str| if zh { cn } else { en };
    let title = if meeting.room.is_empty() {
        label("Meeting", "会议").to_string()
    } else {
        meeting.room.clone()
    };
    let mut body = format!(
        "## {}\n\n{}\n\n## {}\n\n",
        label("Time", "时间"),
        crate::tasks::utc_minute(meeting.started_at),
        label("Attendees", "参会人"),
    );
    let mut names: Vec<&str> = Vec::new();
    for attendee in &meeting.attendees {
        let name = if attendee.name.is_empty() {
            attendee.identity.as_str()
        } else {
            attendee.name.as_str()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        body.push_str(&format!("- {name}\n"));
    }
    if !minutes.agenda.trim().is_empty() {
        body.push_str(&format!(
            "\n## {}\n\n{}\n",
            label("Agenda", "议程"),
            minutes.agenda.trim()
        ));
    }
    for (kind, heading) in [
        (MinuteItemKind::Decision, label("Decisions", "决议")),
        (MinuteItemKind::Note, label("Notes", "记录")),
        (MinuteItemKind::Action, label("Action items", "待办事项")),
    ] {
        let items: Vec<_> = minutes.items.iter().filter(|i| i.kind == kind).collect();
        if items.is_empty() {
            continue;
        }
        body.push_str(&format!("\n## {heading}\n\n"));
        for item in items {
            let at = item
                .recording_offset_secs
                .map(|secs| format!(" ({})", crate::tasks::clock(secs)))
                .unwrap_or_default();
            body.push_str(&format!("- {}{at}\n", item.body.trim()));
        }
    }
    (title, body)
}
