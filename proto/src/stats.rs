//! The administrators' dashboard: `GET /v1/admin/stats`, figures over a window of whole days in
//! the caller's time zone. docs/protocol.md ("Administration: the dashboard") defines each one.

use crate::{ChannelId, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The dashboard's figures for the days `from..to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdminStats {
    /// The window's first instant: midnight, at `utc_offset_minutes`, of its first day (ms).
    pub from: i64,
    /// The end of the window, excluded: the midnight that ends today (ms).
    pub to: i64,
    /// The offset from UTC at which days and weeks begin.
    pub utc_offset_minutes: i32,
    /// Every day of the window, oldest first, days with nothing included.
    pub days: Vec<DayStats>,
    /// Every week (Monday to Sunday) that overlaps the window, oldest first; a week counts only
    /// its days inside the window (`days`).
    pub weeks: Vec<WeekStats>,
    /// The median time, in seconds, between a message and the next one in its channel when that
    /// one is from someone else (replies within 24 h, outside announcement channels); `null`
    /// when there was no such reply.
    pub median_response_secs: Option<f64>,
    /// How many replies the median was taken over.
    pub responses: i64,
    /// The window's announcements (messages in announcement channels, recalled ones left out),
    /// newest first, at most 20, with how many of their channel's members have read them.
    pub announcements: Vec<AnnouncementReads>,
    pub tasks: TaskStats,
    pub totals: StatsTotals,
}

/// One day, `date` in the window's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DayStats {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Users who did anything the server records with a time (see the docs) that day.
    pub active_users: i64,
    /// Messages sent that day (recalled ones included: they were sent).
    pub messages: i64,
}

/// One week, Monday to Sunday, counted over its days inside the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WeekStats {
    /// The Monday it begins on, `YYYY-MM-DD` (may be before the window's first day).
    pub week_start: String,
    /// How many of its days are in the window (7 but for the first and last week).
    pub days: i64,
    pub active_users: i64,
    pub messages: i64,
    /// Meetings (room sessions, voice bridges included) that started.
    pub meetings: i64,
    /// Meetings whose minutes were (last) published.
    pub minutes_published: i64,
    /// Recordings a recorder began.
    pub recordings: i64,
}

/// How far an announcement has been read, from its channel's read markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnnouncementReads {
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub message_id: MessageId,
    pub seq: i64,
    pub created_at: i64,
    /// The start of its text, up to 80 characters.
    pub preview: String,
    /// The channel's members now, its sender left out.
    pub members: i64,
    /// Those of them whose read marker has reached it.
    pub read: i64,
    /// `read / members`; `null` when the channel has no other member.
    pub read_rate: Option<f64>,
}

/// Tasks created in the window, by where they stand now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskStats {
    /// Open or in progress.
    pub open: i64,
    pub done: i64,
    /// Cancelled: counted here, left out of both rates.
    pub cancelled: i64,
    /// Open or in progress, and past their due date.
    pub overdue: i64,
    /// `done / (open + done)`; `null` when both are zero.
    pub completion_rate: Option<f64>,
    /// `overdue / open`; `null` when nothing is open.
    pub overdue_rate: Option<f64>,
}

/// The whole window at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsTotals {
    /// Accounts that are not disabled, now.
    pub users: i64,
    /// Distinct users active on any day of the window.
    pub active_users: i64,
    pub messages: i64,
}
