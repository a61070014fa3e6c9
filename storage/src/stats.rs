//! The administrators' dashboard (`GET /v1/admin/stats`): figures over a window of whole days in
//! the caller's time zone. The counting is done in SQL, so what comes back is one row per day or
//! week (or a fixed few), never one per message; every query reads the same snapshot, so the
//! figures agree with each other.
//!
//! A user is *active* on a day when the database holds something they did that day with its
//! time: an event in a channel's stream (a message sent, edited, recalled, pinned or reacted
//! to: `channel_events.actor_id`), a sign-in (`sessions.created_at`), joining a meeting with their
//! own token (`meeting_attendance`), or acknowledging a ping (`ping_recipients.acked_at`). Read
//! markers and token refreshes keep no time, and `users.last_seen_at` only the latest, so
//! reading without doing any of these does not count.

use crate::{error::StoreError, Backend, Database};
use parley_proto::{
    AdminStats, AnnouncementReads, ChannelId, DayStats, MessageId, StatsTotals, TaskStats,
    WeekStats,
};
use sqlx::{AnyConnection, Row};

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// A reply that comes later than this is a new conversation, not a response.
const MAX_REPLY_GAP_MS: i64 = DAY_MS;
const MAX_ANNOUNCEMENTS: i64 = 20;
const PREVIEW_CHARS: usize = 80;

/// The days the dashboard looks at: `days` whole days ending with today, where days begin at
/// midnight `utc_offset_minutes` from UTC and weeks on Monday. Pure arithmetic; `now` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsWindow {
    /// When the figures are taken (tasks are overdue as of then).
    pub now: i64,
    pub utc_offset_minutes: i32,
    /// The first day and today, as days since 1970-01-01 in the window's time zone.
    first_day: i64,
    last_day: i64,
}

impl StatsWindow {
    /// The window of `days` days (at least one) ending with the day `now` falls in.
    pub fn new(now: i64, days: u32, utc_offset_minutes: i32) -> StatsWindow {
        let offset_ms = i64::from(utc_offset_minutes) * 60_000;
        let last_day = (now + offset_ms).div_euclid(DAY_MS);
        StatsWindow {
            now,
            utc_offset_minutes,
            first_day: last_day - i64::from(days.max(1)) + 1,
            last_day,
        }
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.utc_offset_minutes) * 60_000
    }

    /// The instant the window's first day begins (ms since the epoch).
    pub fn from(&self) -> i64 {
        self.first_day * DAY_MS - self.offset_ms()
    }

    /// The instant today ends: the window is `from..to`.
    pub fn to(&self) -> i64 {
        (self.last_day + 1) * DAY_MS - self.offset_ms()
    }

    fn day_count(&self) -> usize {
        usize::try_from(self.last_day - self.first_day + 1).unwrap_or(1)
    }

    /// The Monday on or before the first day (1970-01-01 was a Thursday).
    fn first_monday(&self) -> i64 {
        self.first_day - (self.first_day + 3).rem_euclid(7)
    }

    /// The instant the first week begins; it may be before `from`.
    fn weeks_origin(&self) -> i64 {
        self.first_monday() * DAY_MS - self.offset_ms()
    }

    fn week_count(&self) -> usize {
        usize::try_from((self.last_day - self.first_monday()) / 7 + 1).unwrap_or(1)
    }

    /// The dates of the window's days, oldest first.
    fn dates(&self) -> impl Iterator<Item = String> {
        (self.first_day..=self.last_day).map(date)
    }

    /// Each week's Monday, and how many of its days are in the window.
    fn weeks(&self) -> impl Iterator<Item = (String, i64)> + '_ {
        (0..self.week_count()).map(|w| {
            let monday = self.first_monday() + 7 * w as i64;
            let inside = (monday + 6).min(self.last_day) - monday.max(self.first_day) + 1;
            (date(monday), inside)
        })
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (proleptic Gregorian; Howard Hinnant's
/// `civil_from_days`).
pub fn date(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Everything a user did with a time, between `$3` and `$4`, as `(user_id, active_at)`.
macro_rules! activity {
    () => {
        "(SELECT actor_id AS user_id, created_at AS active_at FROM channel_events \
           WHERE created_at >= $3 AND created_at < $4 AND actor_id IS NOT NULL \
          UNION ALL SELECT user_id, created_at FROM sessions \
           WHERE created_at >= $3 AND created_at < $4 \
          UNION ALL SELECT user_id, joined_at FROM meeting_attendance \
           WHERE joined_at >= $3 AND joined_at < $4 AND user_id IS NOT NULL \
          UNION ALL SELECT user_id, acked_at FROM ping_recipients \
           WHERE acked_at >= $3 AND acked_at < $4) activity"
    };
}

// Counts per bucket: `$1` is where bucket 0 begins, `$2` a bucket's width, `$3..$4` the window.
const ACTIVE_USERS: &str = concat!(
    "SELECT (active_at - $1) / $2 AS bucket, COUNT(DISTINCT user_id) AS n FROM ",
    activity!(),
    " GROUP BY bucket"
);
const MESSAGES: &str =
    "SELECT (created_at - $1) / $2 AS bucket, COUNT(*) AS n FROM channel_events \
     WHERE kind = 'message' AND created_at >= $3 AND created_at < $4 GROUP BY bucket";
const MEETINGS: &str = "SELECT (started_at - $1) / $2 AS bucket, COUNT(*) AS n FROM meetings \
     WHERE started_at >= $3 AND started_at < $4 GROUP BY bucket";
const MINUTES_PUBLISHED: &str = "SELECT (published_at - $1) / $2 AS bucket, COUNT(*) AS n \
     FROM minutes WHERE published_at >= $3 AND published_at < $4 GROUP BY bucket";
const RECORDINGS: &str = "SELECT (started_at - $1) / $2 AS bucket, COUNT(*) AS n \
     FROM recording_jobs WHERE started_at >= $3 AND started_at < $4 GROUP BY bucket";

/// The middle one or two reply times: consecutive messages of a channel (by seq) from different
/// senders, the reply sent in `$3..$2`, within `$4` ms. Messages from `$1` (a reply gap before
/// `$3`) are read so the window's first replies have what they answer.
const MEDIAN_REPLY: &str = "WITH messages AS ( \
       SELECT e.created_at AS sent_at, e.actor_id AS sender, \
              LAG(e.created_at) OVER w AS previous_at, LAG(e.actor_id) OVER w AS previous_sender \
       FROM channel_events e JOIN channels c ON c.id = e.channel_id \
       WHERE e.kind = 'message' AND c.kind <> 'announcement' \
         AND e.created_at >= $1 AND e.created_at < $2 \
       WINDOW w AS (PARTITION BY e.channel_id ORDER BY e.seq)), \
     replies AS ( \
       SELECT sent_at - previous_at AS gap FROM messages \
       WHERE sent_at >= $3 AND sender IS NOT NULL AND previous_sender IS NOT NULL \
         AND sender <> previous_sender AND sent_at - previous_at BETWEEN 0 AND $4), \
     ranked AS ( \
       SELECT gap, ROW_NUMBER() OVER (ORDER BY gap) AS rn, COUNT(*) OVER () AS n FROM replies) \
     SELECT gap, n FROM ranked WHERE rn IN ((n + 1) / 2, (n + 2) / 2)";

/// The newest announcements of `$1..$2` with their read counts; the sender is not a reader.
const ANNOUNCEMENTS: &str = "SELECT e.message_id, e.channel_id, c.name, e.seq, e.created_at, m.body, \
       (SELECT COUNT(*) FROM memberships mb WHERE mb.channel_id = e.channel_id \
          AND (e.actor_id IS NULL OR mb.user_id <> e.actor_id)) AS members, \
       (SELECT COUNT(*) FROM memberships mb WHERE mb.channel_id = e.channel_id \
          AND (e.actor_id IS NULL OR mb.user_id <> e.actor_id) AND mb.read_seq >= e.seq) AS read_count \
     FROM channel_events e JOIN channels c ON c.id = e.channel_id \
       JOIN messages m ON m.id = e.message_id \
     WHERE e.kind = 'message' AND c.kind = 'announcement' AND m.recalled_at IS NULL \
       AND e.created_at >= $1 AND e.created_at < $2 \
     ORDER BY e.created_at DESC, e.message_id DESC LIMIT $3";

/// Tasks created in `$1..$2` by status, and how many of each were past due at `$3`.
const TASKS: &str = "SELECT status, COUNT(*) AS n, \
       COALESCE(SUM(CASE WHEN due_at IS NOT NULL AND due_at <= $3 THEN 1 ELSE 0 END), 0) AS past_due \
     FROM tasks WHERE created_at >= $1 AND created_at < $2 GROUP BY status";

impl Database {
    /// The dashboard's figures for `window`.
    pub async fn admin_stats(&self, window: &StatsWindow) -> Result<AdminStats, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            // One snapshot for every query (SQLite's read transaction is one already).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let (from, to) = (window.from(), window.to());
        let by_day = |sql| Buckets {
            sql,
            origin: from,
            width: DAY_MS,
            from,
            to,
            len: window.day_count(),
        };
        let by_week = |sql| Buckets {
            sql,
            origin: window.weeks_origin(),
            width: WEEK_MS,
            from,
            to,
            len: window.week_count(),
        };
        let day_active = by_day(ACTIVE_USERS).count(&mut tx).await?;
        let day_messages = by_day(MESSAGES).count(&mut tx).await?;
        let days = window
            .dates()
            .zip(day_active.into_iter().zip(day_messages.iter()))
            .map(|(date, (active_users, &messages))| DayStats {
                date,
                active_users,
                messages,
            })
            .collect();

        let mut weekly = Vec::with_capacity(5);
        for sql in [
            ACTIVE_USERS,
            MESSAGES,
            MEETINGS,
            MINUTES_PUBLISHED,
            RECORDINGS,
        ] {
            weekly.push(by_week(sql).count(&mut tx).await?);
        }
        let weeks = window
            .weeks()
            .enumerate()
            .map(|(w, (week_start, days))| WeekStats {
                week_start,
                days,
                active_users: weekly[0][w],
                messages: weekly[1][w],
                meetings: weekly[2][w],
                minutes_published: weekly[3][w],
                recordings: weekly[4][w],
            })
            .collect();

        // The whole window as one bucket.
        let whole = Buckets {
            width: to - from,
            len: 1,
            ..by_day(ACTIVE_USERS)
        };
        let active_users = whole.count(&mut tx).await?[0];
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE disabled_at IS NULL")
            .fetch_one(&mut *tx)
            .await?;
        let (median_response_secs, responses) = median_reply(&mut tx, from, to).await?;
        let announcements = announcements(&mut tx, from, to).await?;
        let tasks = tasks(&mut tx, from, to, window.now).await?;
        tx.rollback().await?;
        Ok(AdminStats {
            from,
            to,
            utc_offset_minutes: window.utc_offset_minutes,
            days,
            weeks,
            median_response_secs,
            responses,
            announcements,
            tasks,
            totals: StatsTotals {
                users,
                active_users,
                messages: day_messages.iter().sum(),
            },
        })
    }
}

/// A count per bucket of `width` ms from `origin`, over `from..to`, by one of the queries above.
#[derive(Clone, Copy)]
struct Buckets {
    sql: &'static str,
    origin: i64,
    width: i64,
    from: i64,
    to: i64,
    len: usize,
}

impl Buckets {
    /// Every bucket's count, zeros included.
    async fn count(self, conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(self.sql)
            .bind(self.origin)
            .bind(self.width)
            .bind(self.from)
            .bind(self.to)
            .fetch_all(&mut *conn)
            .await?;
        let mut counts = vec![0; self.len];
        for row in &rows {
            let bucket: i64 = row.try_get("bucket")?;
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot = row.try_get("n")?;
            }
        }
        Ok(counts)
    }
}

/// The median reply time in seconds (`None` without replies) and the number of replies.
async fn median_reply(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<(Option<f64>, i64), StoreError> {
    let rows = sqlx::query(MEDIAN_REPLY)
        .bind(from - MAX_REPLY_GAP_MS)
        .bind(to)
        .bind(from)
        .bind(MAX_REPLY_GAP_MS)
        .fetch_all(&mut *conn)
        .await?;
    let mut middle = Vec::with_capacity(2);
    let mut replies = 0;
    for row in &rows {
        middle.push(row.try_get::<i64, _>("gap")?);
        replies = row.try_get("n")?;
    }
    if middle.is_empty() {
        return Ok((None, 0));
    }
    let sum: i64 = middle.iter().sum();
    Ok((Some(sum as f64 / middle.len() as f64 / 1000.0), replies))
}

async fn announcements(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<Vec<AnnouncementReads>, StoreError> {
    let rows = sqlx::query(ANNOUNCEMENTS)
        .bind(from)
        .bind(to)
        .bind(MAX_ANNOUNCEMENTS)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let members: i64 = r.try_get("members")?;
            let read: i64 = r.try_get("read_count")?;
            let body: String = r.try_get("body")?;
            Ok(AnnouncementReads {
                channel_id: ChannelId(r.try_get("channel_id")?),
                channel_name: r.try_get("name")?,
                message_id: MessageId(r.try_get("message_id")?),
                seq: r.try_get("seq")?,
                created_at: r.try_get("created_at")?,
                preview: body.chars().take(PREVIEW_CHARS).collect(),
                members,
                read,
                read_rate: rate(read, members),
            })
        })
        .collect()
}

async fn tasks(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    now: i64,
) -> Result<TaskStats, StoreError> {
    let rows = sqlx::query(TASKS)
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    let mut stats = TaskStats {
        open: 0,
        done: 0,
        cancelled: 0,
        overdue: 0,
        completion_rate: None,
        overdue_rate: None,
    };
    for row in &rows {
        let status: String = row.try_get("status")?;
        let n: i64 = row.try_get("n")?;
        match status.as_str() {
            "open" | "in_progress" => {
                stats.open += n;
                stats.overdue += row.try_get::<i64, _>("past_due")?;
            }
            "done" => stats.done += n,
            "cancelled" => stats.cancelled += n,
            _ => {
                return Err(StoreError::Corrupt {
                    column: "tasks.status",
                    value: status,
                })
            }
        }
    }
    stats.completion_rate = rate(stats.done, stats.open + stats.done);
    stats.overdue_rate = rate(stats.overdue, stats.open);
    Ok(stats)
}

/// `part / whole`, or `None` when there is nothing to measure.
fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22 01:30 UTC, a Sunday: 09:30 the same Sunday in China (UTC+8), and still
    /// Saturday evening in New York (UTC-5).
    const NOW: i64 = 1_795_311_000_000;

    #[test]
    fn dates_are_gregorian() {
        for (day, expected) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (59, "1970-03-01"),
            (11_016, "2000-02-29"),
            (20_779, "2026-11-22"),
        ] {
            assert_eq!(date(day), expected, "day {day}");
        }
    }

    #[test]
    fn days_begin_at_local_midnight() {
        for (offset, days, first, today) in [
            (480, 7, "2026-11-16", "2026-11-22"),
            (0, 1, "2026-11-22", "2026-11-22"),
            (-300, 2, "2026-11-20", "2026-11-21"),
        ] {
            let window = StatsWindow::new(NOW, days, offset);
            let dates: Vec<String> = window.dates().collect();
            assert_eq!(dates.len(), days as usize);
            assert_eq!(
                (dates[0].as_str(), dates[dates.len() - 1].as_str()),
                (first, today)
            );
            let offset_ms = i64::from(offset) * 60_000;
            assert_eq!((window.from() + offset_ms).rem_euclid(DAY_MS), 0);
            assert_eq!(window.to() - window.from(), i64::from(days) * DAY_MS);
            assert!((window.from()..window.to()).contains(&NOW));
        }
    }

    #[test]
    fn weeks_begin_on_monday_and_count_their_days_in_the_window() {
        // UTC+8: Monday 16 to Sunday 22 is one whole week.
        let weeks: Vec<_> = StatsWindow::new(NOW, 7, 480).weeks().collect();
        assert_eq!(weeks, vec![("2026-11-16".to_string(), 7)]);
        // Ten days from Friday 13: three days of the week of the 9th, then the whole next one.
        let weeks: Vec<_> = StatsWindow::new(NOW, 10, 480).weeks().collect();
        assert_eq!(
            weeks,
            vec![("2026-11-09".to_string(), 3), ("2026-11-16".to_string(), 7)]
        );
        // New York: Saturday 21 is today, so the week of the 16th has six days.
        let window = StatsWindow::new(NOW, 7, -300);
        let weeks: Vec<_> = window.weeks().collect();
        assert_eq!(
            weeks,
            vec![("2026-11-09".to_string(), 1), ("2026-11-16".to_string(), 6)]
        );
        assert!(window.weeks_origin() <= window.from());
    }
}
