//! The administrators' dashboard, `GET /v1/admin/stats`, against the real binary: a day built
//! from known activity (sign-ins, a conversation with replies, announcements read by some,
//! tasks in every state, a meeting with published minutes) comes back as exactly those figures,
//! whatever time zone the window is taken in; activity moved back in the database lands on its
//! past day and week, at the window's edges and around the 24 h limit of a response; only admins
//! may ask, and bad parameters are refused with `invalid_input`.

use parley_proto::{AdminStats, AnnouncementReads};
use parley_storage::now_ms;
use parley_tests::rtc::{App, RtcClient};
use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, Backend, Server, Team, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_known_day_gives_exact_figures,
    past_days_weeks_and_the_reply_cap,
    only_admins_ask_and_bad_parameters_are_refused
);

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a `YYYY-MM-DD` date: the inverse of the server's arithmetic
/// (Howard Hinnant's `days_from_civil`), so a wrong date cannot agree with it by accident.
fn day_number(date: &str) -> i64 {
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not a date: {date}")))
        .collect();
    let [y, m, d] = parts[..] else {
        panic!("not a date: {date}")
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The offset from UTC, in minutes, at which it is about noon now: the test's activity stays
/// far from any midnight, in the middle of "today".
fn noon_offset(now: i64) -> i64 {
    let minute_of_day = now.rem_euclid(DAY_MS) / 60_000;
    let offset = 720 - minute_of_day;
    if offset <= -720 {
        offset + 1440
    } else {
        offset
    }
}

async fn stats(server: &Server, token: &str, query: &str) -> AdminStats {
    expect_json(
        server
            .get(&format!("/v1/admin/stats?{query}"), Some(token))
            .await,
        200,
    )
    .await
}

async fn user_id(server: &Server, token: &str) -> i64 {
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(token)).await, 200).await;
    me["user"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("whoami: {me}"))
}

/// A user the admin creates who never signs in.
async fn account(server: &Server, admin: &str, name: &str) -> i64 {
    let body = json!({"email": format!("{}@example.com", parley_tests::unique(name)),
        "name": name, "role": "member", "password": "user-password-1"});
    let user: Value = expect_json(server.post("/v1/users", Some(admin), &body).await, 201).await;
    user["id"].as_i64().expect("user id")
}

async fn channel(server: &Server, token: &str, name: &str, kind: &str, members: &[i64]) -> i64 {
    let body = json!({"name": name, "kind": kind, "category": "project", "members": members});
    let created: Value =
        expect_json(server.post("/v1/channels", Some(token), &body).await, 201).await;
    created["id"].as_i64().expect("channel id")
}

/// Send and return the stored message's `created_at`.
async fn say_at(ws: &mut WsClient, channel: i64, client_id: &str, body: &str) -> i64 {
    ws.say(channel, client_id, body).await["created_at"]
        .as_i64()
        .expect("created_at")
}

async fn mark_read(ws: &mut WsClient, channel: i64, seq: i64) {
    let reply = ws
        .request(json!({"type": "mark_read", "channel": channel, "seq": seq}))
        .await;
    assert_eq!(reply["type"], "marked_read", "{reply}");
}

/// A task of Ann's, due `due_at`, moved to `status` unless it stays open.
async fn task(team: &Team, title: &str, due_at: Option<i64>, status: &str) {
    let server = &team.server;
    let ann = &team.ann.1;
    let created: Value = expect_json(
        server
            .send_json(
                Method::POST,
                "/v1/tasks",
                ann,
                &json!({"title": title, "due_at": due_at}),
            )
            .await,
        201,
    )
    .await;
    if status != "open" {
        let path = format!("/v1/tasks/{}", created["id"]);
        let changed: Value = expect_json(
            server
                .send_json(Method::PATCH, &path, ann, &json!({"status": status}))
                .await,
            200,
        )
        .await;
        assert_eq!(changed["status"], status);
    }
}

/// A meeting of the team's channel that Ann attends, with its minutes published (which posts
/// a summary message from Ann to the channel). Returns the call, to stay in it.
async fn meeting_with_minutes(team: &Team) -> RtcClient {
    let server = &team.server;
    let app = App::register(server).await;
    let body = json!({"name": "weekly", "channel_id": team.channel});
    expect_json::<Value>(
        server
            .post("/v1/rooms", Some(&app.room_admin()), &body)
            .await,
        201,
    )
    .await;
    let in_call = RtcClient::join_room(server, &team.ann.1, "weekly").await;
    // Attendance is written from the room's events, a moment after the join.
    let meeting = eventually(100, Duration::from_millis(100), || async {
        let list: Value =
            expect_json(server.get("/v1/meetings", Some(&team.ann.1)).await, 200).await;
        list["meetings"]
            .as_array()?
            .iter()
            .find(|m| {
                m["room"] == "weekly" && m["attendees"].as_array().is_some_and(|a| a.len() == 1)
            })
            .and_then(|m| m["id"].as_i64())
    })
    .await
    .expect("the meeting was recorded with Ann attending");
    let path = format!("/v1/meetings/{meeting}/minutes/publish");
    let published: Value =
        expect_json(server.post(&path, Some(&team.ann.1), &json!({})).await, 200).await;
    assert!(published["summary"]["message_id"].is_i64(), "{published}");
    in_call
}

async fn a_known_day_gives_exact_figures(backend: Backend) {
    let started = now_ms();
    // Admin, Ann, Bob and Cat sign in; Ann's group channel has Bob.
    let team = Team::new(Server::start(backend).await, "发布 release", false).await;
    let server = &team.server;
    let admin = &team.admin;
    let (ops_id, ops) = server.user_with_role(admin, "admin", None).await;
    // Dan has an account and never signs in; Eve's is disabled.
    account(server, admin, "dan").await;
    let eve = account(server, admin, "eve").await;
    let disabled = server
        .send_json(
            Method::PATCH,
            &format!("/v1/users/{eve}"),
            admin,
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(expect_json::<Value>(disabled, 200).await["disabled"], true);

    let _in_call = meeting_with_minutes(&team).await;

    // A conversation in the team channel, after the minutes' summary (from Ann). The pauses make
    // the reply times differ by a known order; nothing is waited for.
    let (ch, side) = (
        team.channel,
        channel(server, &team.cat.1, "side", "group", &[team.ann.0]).await,
    );
    let mut ann = WsClient::connect(server, &team.ann.1).await;
    let mut bob = WsClient::connect(server, &team.bob.1).await;
    let mut cat = WsClient::connect(server, &team.cat.1).await;
    say_at(&mut ann, ch, "q1", "Is the build green?").await;
    // The same sender again: not a reply.
    let q1b = say_at(&mut ann, ch, "q1b", "The release waits on it.").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let a1 = say_at(&mut bob, ch, "a1", "Green since this morning.").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // In another channel: it answers nothing in this one, and nothing here answers it.
    say_at(&mut cat, side, "s1", "Lunch?").await;
    let q2 = say_at(&mut ann, ch, "q2", "Then we ship.").await;
    let a2 = say_at(&mut bob, ch, "a2", "OK").await;
    let q3 = say_at(&mut ann, ch, "q3", "Thanks").await;
    let mut gaps = [a1 - q1b, q2 - a1, a2 - q2, q3 - a2];
    gaps.sort();
    let median = (gaps[1] + gaps[2]) as f64 / 2.0 / 1000.0;

    // Announcements: two admins post (the second is not a reply to the first), the admin
    // recalls a third. Read markers: the admin, Bob and Ops (who posted the second) at the
    // second; Cat at the first; Ann reads nothing.
    let news = channel(
        server,
        admin,
        "全员通知",
        "announcement",
        &[team.ann.0, team.bob.0, team.cat.0, ops_id],
    )
    .await;
    let mut admin_ws = WsClient::connect(server, admin).await;
    let mut ops_ws = WsClient::connect(server, &ops).await;
    let long = "系统维护：本周六 22:00 至周日 06:00，期间消息与会议均不可用。".repeat(4);
    let n1 = admin_ws.say(news, "n1", &long).await;
    let n2 = ops_ws.say(news, "n2", "Maintenance moves to Sunday").await;
    let n3 = admin_ws.say(news, "n3", "(sent by mistake)").await;
    let recalled = admin_ws
        .request(json!({"type": "recall", "channel": news, "message_id": n3["message_id"]}))
        .await;
    assert_eq!(recalled["type"], "recalled", "{recalled}");
    let (seq1, seq2) = (n1["seq"].as_i64().unwrap(), n2["seq"].as_i64().unwrap());
    mark_read(&mut admin_ws, news, seq2).await;
    mark_read(&mut bob, news, seq2).await;
    mark_read(&mut ops_ws, news, seq2).await;
    mark_read(&mut cat, news, seq1).await;

    // Tasks: four open (two of them overdue), one done (late), one cancelled (late).
    let (past, future) = (now_ms() - 3_600_000, now_ms() + DAY_MS);
    task(&team, "Fix the flaky test", Some(past), "open").await;
    task(&team, "Write the notes", Some(future), "open").await;
    task(&team, "Migrate the wiki", Some(past), "in_progress").await;
    task(&team, "Order the badges", None, "open").await;
    task(&team, "Book the room", Some(past), "done").await;
    task(&team, "Print the posters", Some(past), "cancelled").await;

    // The summary, six in the team channel, one on the side, three announcements (a recalled
    // message was still sent).
    let messages = 1 + 6 + 1 + 3;
    // Everyone who signed in: the admin, Ann, Bob, Cat and Ops; not Dan nor Eve.
    let active = 5;
    let offset = noon_offset(now_ms());
    let asked = now_ms();
    let got = stats(
        server,
        admin,
        &format!("days=10&utc_offset_minutes={offset}"),
    )
    .await;
    let answered = now_ms();

    // The window: ten whole local days ending with today.
    assert_eq!(got.utc_offset_minutes, offset as i32);
    assert_eq!(got.to - got.from, 10 * DAY_MS);
    assert_eq!((got.from + offset * 60_000).rem_euclid(DAY_MS), 0);
    assert!(got.from <= started && answered < got.to, "{got:?}");
    let today = (asked + offset * 60_000).div_euclid(DAY_MS);
    let dates: Vec<i64> = got.days.iter().map(|d| day_number(&d.date)).collect();
    assert_eq!(dates, ((today - 9)..=today).collect::<Vec<_>>());
    assert_eq!(
        day_number(&got.days[0].date) * DAY_MS,
        got.from + offset * 60_000
    );

    // Today holds everything; the nine days before, nothing.
    let (before, [today_row]) = got.days.split_at(9) else {
        panic!("ten days: {:?}", got.days)
    };
    assert_eq!(
        (today_row.messages, today_row.active_users),
        (messages, active),
        "{today_row:?}"
    );
    for day in before {
        assert_eq!((day.messages, day.active_users), (0, 0), "{day:?}");
    }
    assert_eq!(
        (
            got.totals.users,
            got.totals.active_users,
            got.totals.messages
        ),
        (6, active, messages),
        "{:?}",
        got.totals
    );

    // Weeks: Mondays a week apart covering the window, the last one holding today's figures.
    let mondays: Vec<i64> = got
        .weeks
        .iter()
        .map(|w| day_number(&w.week_start))
        .collect();
    assert!(
        mondays.iter().all(|d| (d + 3).rem_euclid(7) == 0),
        "{mondays:?}"
    );
    assert!(mondays.windows(2).all(|w| w[1] - w[0] == 7), "{mondays:?}");
    assert!(mondays[0] <= today - 9 && today - 9 < mondays[0] + 7);
    assert!(*mondays.last().unwrap() <= today && today < mondays.last().unwrap() + 7);
    assert_eq!(got.weeks.iter().map(|w| w.days).sum::<i64>(), 10);
    assert_eq!(
        got.weeks.last().unwrap().days,
        today - mondays.last().unwrap() + 1
    );
    let (earlier, [this_week]) = got.weeks.split_at(got.weeks.len() - 1) else {
        panic!("no weeks")
    };
    assert_eq!(
        (
            this_week.active_users,
            this_week.messages,
            this_week.meetings,
            this_week.minutes_published,
            this_week.recordings
        ),
        (active, messages, 1, 1, 0),
        "{this_week:?}"
    );
    for week in earlier {
        assert_eq!(
            (
                week.active_users,
                week.messages,
                week.meetings,
                week.minutes_published
            ),
            (0, 0, 0, 0),
            "{week:?}"
        );
    }

    // Replies: the four in the team channel, none across channels or in announcements; the
    // median of four is the mean of the middle two.
    assert_eq!(got.responses, 4, "{got:?}");
    let measured = got.median_response_secs.expect("a median");
    assert!(
        (measured - median).abs() < 1e-9,
        "median {measured} s, expected {median} s from gaps {gaps:?} ms"
    );
    assert!(gaps[3] >= 600 && gaps[2] >= 300, "the pauses: {gaps:?}");

    // Announcements, newest first, the recalled one left out; each sender is neither a member
    // nor a reader of their own.
    let reads: Vec<(i64, i64, Option<f64>)> = got
        .announcements
        .iter()
        .map(|a| (a.message_id.0, a.read, a.read_rate))
        .collect();
    let id = |sent: &Value| sent["message_id"].as_i64().unwrap();
    assert_eq!(
        reads,
        [(id(&n2), 2, Some(0.5)), (id(&n1), 3, Some(0.75))],
        "{:?}",
        got.announcements
    );
    let first: &AnnouncementReads = &got.announcements[1];
    assert_eq!(
        (first.members, first.seq, first.channel_id.0),
        (4, seq1, news)
    );
    assert_eq!(first.channel_name, "全员通知");
    assert_eq!(first.preview, long.chars().take(80).collect::<String>());
    assert_eq!(got.announcements[0].preview, "Maintenance moves to Sunday");
    assert_eq!(got.announcements[0].members, 4);

    // Tasks: cancelled ones are in neither rate; done ones are never overdue.
    let t = &got.tasks;
    assert_eq!(
        (t.open, t.done, t.cancelled, t.overdue),
        (4, 1, 1, 2),
        "{t:?}"
    );
    assert_eq!((t.completion_rate, t.overdue_rate), (Some(0.2), Some(0.5)));

    // The same activity in a two-day window taken at other offsets: every figure of the whole
    // window is the same, wherever its midnights fall.
    for offset in [0, -720, 840] {
        let other = stats(
            server,
            admin,
            &format!("days=2&utc_offset_minutes={offset}"),
        )
        .await;
        assert_eq!(other.days.len(), 2);
        assert_eq!(other.totals, got.totals, "offset {offset}");
        assert_eq!(
            other.days.iter().map(|d| d.messages).sum::<i64>(),
            messages,
            "offset {offset}"
        );
        assert_eq!(
            (other.responses, other.median_response_secs),
            (got.responses, got.median_response_secs),
            "offset {offset}"
        );
        assert_eq!(other.announcements, got.announcements, "offset {offset}");
        assert_eq!(other.tasks, got.tasks, "offset {offset}");
    }
}

async fn only_admins_ask_and_bad_parameters_are_refused(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let (_, member) = server.user_with_role(&admin, "member", None).await;
    let (_, guest) = server.user_with_role(&admin, "guest", None).await;

    // Defaults: 28 days in UTC. Only sign-ins so far: no messages, no replies, no rates.
    let fresh = stats(&server, &admin, "").await;
    assert_eq!((fresh.days.len(), fresh.utc_offset_minutes), (28, 0));
    assert_eq!(fresh.to - fresh.from, 28 * DAY_MS);
    assert_eq!(fresh.from.rem_euclid(DAY_MS), 0);
    assert_eq!(
        (
            fresh.totals.users,
            fresh.totals.active_users,
            fresh.totals.messages
        ),
        (3, 3, 0)
    );
    assert_eq!((fresh.median_response_secs, fresh.responses), (None, 0));
    assert!(fresh.announcements.is_empty());
    assert_eq!(
        (
            fresh.tasks.open,
            fresh.tasks.completion_rate,
            fresh.tasks.overdue_rate
        ),
        (0, None, None)
    );
    // The limits themselves are accepted.
    let widest = stats(&server, &admin, "days=366&utc_offset_minutes=-840").await;
    assert_eq!((widest.days.len(), widest.utc_offset_minutes), (366, -840));
    let narrowest = stats(&server, &admin, "days=1&utc_offset_minutes=840").await;
    assert_eq!(narrowest.days.len(), 1);
    assert_eq!(narrowest.to - narrowest.from, DAY_MS);

    // Only admins, and only with their own sign-in.
    for token in [&member, &guest] {
        expect_error(
            server.get("/v1/admin/stats", Some(token)).await,
            403,
            "forbidden",
        )
        .await;
    }
    let app = App::register(&server).await;
    expect_error(
        server.get("/v1/admin/stats", Some(&app.room_admin())).await,
        403,
        "insufficient_grant",
    )
    .await;
    expect_error(
        server.get("/v1/admin/stats", None).await,
        401,
        "unauthenticated",
    )
    .await;

    for query in [
        "days=0",
        "days=367",
        "days=-1",
        "days=abc",
        "days=1.5",
        "utc_offset_minutes=900",
        "utc_offset_minutes=-841",
        // Out of range as an i32's absolute value (regression: it overflowed).
        "utc_offset_minutes=-2147483648",
        "utc_offset_minutes=99999999999",
        "weeks=4",
        "days=7&days=8",
    ] {
        let error = expect_error(
            server
                .get(&format!("/v1/admin/stats?{query}"), Some(&admin))
                .await,
            422,
            "invalid_input",
        )
        .await;
        eprintln!("{query}: {}", error["error"]["message"]);
    }
}

/// Move stored times back, as if what was stored had happened then: the server reads its own
/// clock, and a test cannot wait for days to pass, so this is how activity lands on past days,
/// weeks and window edges. Only times change; everything else was stored through the API.
struct Backdate {
    pool: sqlx::AnyPool,
}

impl Backdate {
    async fn connect(server: &Server) -> Backdate {
        Backdate {
            pool: parley_tests::database_pool(&server.database_url).await,
        }
    }

    /// The message at `seq` in `channel` (and its event) was sent at `at`.
    async fn message(&self, channel: i64, seq: i64, at: i64) {
        for table in ["channel_events", "messages"] {
            let sql =
                format!("UPDATE {table} SET created_at = $1 WHERE channel_id = $2 AND seq = $3");
            let moved = sqlx::query(&sql)
                .bind(at)
                .bind(channel)
                .bind(seq)
                .execute(&self.pool)
                .await
                .expect("move a message back")
                .rows_affected();
            assert_eq!(moved, 1, "{table} {channel}/{seq}");
        }
    }

    async fn task(&self, title: &str, at: i64) {
        let moved = sqlx::query("UPDATE tasks SET created_at = $1 WHERE title = $2")
            .bind(at)
            .bind(title)
            .execute(&self.pool)
            .await
            .expect("move a task back")
            .rows_affected();
        assert_eq!(moved, 1, "task {title}");
    }
}

async fn past_days_weeks_and_the_reply_cap(backend: Backend) {
    const HOUR_MS: i64 = 3_600_000;
    let team = Team::new(Server::start(backend).await, "history", false).await;
    let server = &team.server;
    let mut ann = WsClient::connect(server, &team.ann.1).await;
    let mut bob = WsClient::connect(server, &team.bob.1).await;
    for seq in 1..=8 {
        let (ws, who) = if seq % 2 == 1 {
            (&mut ann, "ann")
        } else {
            (&mut bob, "bob")
        };
        let sent = ws.say(team.channel, &format!("m{seq}"), who).await;
        assert_eq!(sent["seq"], seq);
    }
    task(&team, "Before the window", None, "open").await;
    task(&team, "At its first instant", None, "open").await;

    // Around noon at this offset, so no midnight passes between the two looks below.
    let offset = noon_offset(now_ms());
    let query = format!("days=14&utc_offset_minutes={offset}");
    let window = stats(server, &team.admin, &query).await;
    let from = window.from;
    let first_day = day_number(&window.days[0].date);
    let today = first_day + 13;
    let this_monday = day_number(&window.weeks.last().expect("weeks").week_start);
    // Today is at most Sunday, so this week's Monday is at least the window's eighth day.
    let monday_begins = from + (this_monday - first_day) * DAY_MS;
    let times = [
        from - 2 * HOUR_MS,    // Ann, before the window,
        from,                  // answered by Bob at its first instant (2 h),
        from + DAY_MS - 1,     // by Ann at the first day's last instant (24 h - 1 ms),
        from + DAY_MS,         // by Bob on the second day (1 ms).
        from + 2 * DAY_MS + 1, // Ann, 24 h + 1 ms later: not an answer;
        from + 3 * DAY_MS + 1, // Bob, exactly 24 h after her: an answer.
        monday_begins - 1,     // Ann, the Sunday before this week, at its last instant,
        monday_begins,         // answered by Bob as this week begins (1 ms).
    ];
    let backdate = Backdate::connect(server).await;
    for (seq, &at) in (1..).zip(&times) {
        backdate.message(team.channel, seq, at).await;
    }
    backdate.task("Before the window", from - 1).await;
    backdate.task("At its first instant", from).await;

    // What each day and week should hold: the messages inside the window by their senders, and
    // today everyone's sign-in (the admin, Ann, Bob and Cat).
    let (ann_id, bob_id) = (team.ann.0, team.bob.0);
    let sent: Vec<(i64, i64)> = (0..)
        .zip(&times)
        .filter(|&(_, &at)| at >= from)
        .map(|(i, &at)| {
            let day = first_day + (at - from).div_euclid(DAY_MS);
            (day, if i % 2 == 0 { ann_id } else { bob_id })
        })
        .collect();
    let signed_in = [
        user_id(server, &team.admin).await,
        ann_id,
        bob_id,
        team.cat.0,
    ];
    let expected = |days: std::ops::Range<i64>| {
        let messages = sent.iter().filter(|(d, _)| days.contains(d)).count() as i64;
        let mut users: Vec<i64> = sent
            .iter()
            .filter(|(d, _)| days.contains(d))
            .map(|&(_, u)| u)
            .collect();
        if days.contains(&today) {
            users.extend(signed_in);
        }
        users.sort();
        users.dedup();
        (messages, users.len() as i64)
    };

    let got = stats(server, &team.admin, &query).await;
    assert_eq!((got.from, got.to), (window.from, window.to));
    let rows: Vec<(i64, i64, i64)> = got
        .days
        .iter()
        .map(|d| (day_number(&d.date), d.messages, d.active_users))
        .collect();
    let wanted: Vec<(i64, i64, i64)> = (first_day..=today)
        .map(|day| {
            let (messages, active) = expected(day..day + 1);
            (day, messages, active)
        })
        .collect();
    assert_eq!(rows, wanted);
    // The first day holds two, its edges; the second one.
    assert_eq!((rows[0].1, rows[1].1), (2, 1));
    for week in &got.weeks {
        let monday = day_number(&week.week_start);
        let inside = monday.max(first_day)..(monday + 7).min(today + 1);
        assert_eq!(week.days, inside.end - inside.start, "{week:?}");
        assert_eq!(
            (week.messages, week.active_users),
            expected(inside),
            "{week:?}"
        );
    }
    let last = got.weeks.last().expect("weeks");
    assert!(last.messages >= 1, "Bob's answer opens this week: {last:?}");
    assert_eq!((got.totals.messages, got.totals.active_users), (7, 4));

    // Five answers: 1 ms, 1 ms, 2 h, 24 h - 1 ms and 24 h (included); not 24 h + 1 ms.
    assert_eq!(got.responses, 5, "{got:?}");
    assert_eq!(got.median_response_secs, Some(7200.0));
    assert_eq!((got.tasks.open, got.tasks.done), (1, 0), "{:?}", got.tasks);

    // A day shorter, the window begins with Bob's second-day answer: the question it answers,
    // 1 ms before the window, still makes it an answer.
    let shorter = stats(
        server,
        &team.admin,
        &format!("days=13&utc_offset_minutes={offset}"),
    )
    .await;
    assert_eq!(shorter.from, from + DAY_MS);
    assert_eq!(shorter.days[0].messages, 1);
    assert_eq!(shorter.totals.messages, 5);
    assert_eq!(shorter.responses, 3, "{shorter:?}");
    assert_eq!(shorter.median_response_secs, Some(0.001));
    assert_eq!(shorter.tasks.open, 0);
}
