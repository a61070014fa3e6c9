//! Minutes and tasks: those who took part write the minutes; action items become tasks with
//! assignees; publishing posts a summary to the meeting's channel and tells each assignee;
//! reminders reach the assignee before the due date and (with the creator) when it passes, each
//! once. Reminder times are short configured durations, not days.

use parley_storage::now_ms;
use parley_tests::rtc::{App, RtcClient};
use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, Backend, Server, ServerOptions, Team,
    WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    minutes_become_tasks_a_summary_and_reminders,
    tasks_on_their_own_follow_who_may_do_what
);

/// The lead time before a due date at which the assignee is reminded, in this test's server.
const REMIND_BEFORE_SECS: u64 = 2;

async fn start(backend: Backend) -> Team {
    let options = ServerOptions::backend(backend)
        .env("PARLEY_TASKS_POLL_MS", "100")
        .env(
            "PARLEY_TASKS_REMIND_BEFORE_SECS",
            REMIND_BEFORE_SECS.to_string(),
        );
    Team::new(Server::start_with(options).await, "设计评审", false).await
}

/// A meeting of the team's channel that Ann and Bob attended; its id.
async fn meeting_of_ann_and_bob(team: &Team, room: &str) -> (i64, Vec<RtcClient>) {
    let server = &team.server;
    let app = App::register(server).await;
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&app.room_admin()),
                &json!({"name": room, "channel_id": team.channel}),
            )
            .await,
        201,
    )
    .await;
    let ann = RtcClient::join_room(server, &team.ann.1, room).await;
    let bob = RtcClient::join_room(server, &team.bob.1, room).await;
    // Attendance is written from the room's events, a moment after the joins.
    let id = eventually(100, Duration::from_millis(100), || async {
        let list: Value =
            expect_json(server.get("/v1/meetings", Some(&team.ann.1)).await, 200).await;
        list["meetings"]
            .as_array()?
            .iter()
            .find(|m| m["room"] == room && m["attendees"].as_array().is_some_and(|a| a.len() == 2))
            .and_then(|m| m["id"].as_i64())
    })
    .await
    .expect("the meeting was recorded with both attendees");
    (id, vec![ann, bob])
}

/// The next `notification` push, passing over everything else.
/// Poll until the search `q` finds exactly `want` (type and id) for the holder of `token`: the
/// index follows the database a moment after each change.
async fn until_searched(server: &Server, token: &str, q: &str, want: &[(&str, i64)]) -> Value {
    let mut want: Vec<(String, i64)> = want.iter().map(|(k, id)| (k.to_string(), *id)).collect();
    want.sort();
    let want = &want;
    let page = eventually(100, Duration::from_millis(100), || async move {
        let (hits, page) = server.search_hits(token, q).await;
        (hits == *want && page["total"] == want.len()).then_some(page)
    })
    .await;
    page.unwrap_or_else(|| panic!("{q:?}: never found {want:?}\n{}", server.log()))
}

async fn notification(ws: &mut WsClient) -> Value {
    ws.next_of("notification").await["notification"].clone()
}

async fn inbox(server: &Server, token: &str) -> Value {
    expect_json(server.get("/v1/notifications", Some(token)).await, 200).await
}

async fn minutes_become_tasks_a_summary_and_reminders(backend: Backend) {
    let team = start(backend).await;
    let server = &team.server;
    let (meeting, _in_call) = meeting_of_ann_and_bob(&team, "review").await;
    let minutes = format!("/v1/meetings/{meeting}/minutes");
    let items = format!("{minutes}/items");
    let (ann, bob, cat) = (&team.ann.1, &team.bob.1, &team.cat.1);
    let mut bob_ws = WsClient::connect(server, bob).await;
    let mut cat_ws = WsClient::connect(server, cat).await;

    // Empty minutes to begin with; those who attended write them.
    let empty: Value = expect_json(server.get(&minutes, Some(ann)).await, 200).await;
    assert_eq!(empty["agenda"], "");
    assert_eq!(empty["items"], json!([]));
    let agenda: Value = expect_json(
        server
            .send_json(
                Method::PATCH,
                &minutes,
                ann,
                &json!({"agenda": "1. 发布计划\n2. Risks"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(agenda["agenda"], "1. 发布计划\n2. Risks");
    let note: Value = expect_json(
        server.send_json(Method::POST, &items, bob, &json!({"kind": "note", "body": "Load tests pass at 2k users", "recording_offset_secs": 12.5})).await,
        201,
    )
    .await;
    assert_eq!(note["recording_offset_secs"], 12.5);
    assert_eq!(note["created_by"], team.bob.0);
    expect_json::<Value>(
        server
            .send_json(
                Method::POST,
                &items,
                ann,
                &json!({"kind": "decision", "body": "Ship on Friday", "recording_offset_secs": 95}),
            )
            .await,
        201,
    )
    .await;
    // Bob's task falls due a few seconds after publication; Cat's (she was not there) in a day.
    let due_bob = now_ms() + 6_000;
    let action_bob: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &items,
                ann,
                &json!({"kind": "action", "body": "Write the release notes",
            "assignee_id": team.bob.0, "due_at": due_bob, "recording_offset_secs": 130}),
            )
            .await,
        201,
    )
    .await;
    let task_bob = &action_bob["task"];
    assert_eq!(task_bob["title"], "Write the release notes");
    assert_eq!(task_bob["assignee_id"], team.bob.0);
    assert_eq!(task_bob["status"], "open");
    assert_eq!(task_bob["meeting_id"], meeting);

    assert_eq!(task_bob["recording_offset_secs"], 130.0);
    assert_eq!(task_bob["minute_item_id"], action_bob["id"]);
    let due_cat = now_ms() + 24 * 3600 * 1000;
    let action_cat: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &items,
                bob,
                &json!({"kind": "action", "body": "Book the room",
            "assignee_id": team.cat.0, "due_at": due_cat}),
            )
            .await,
        201,
    )
    .await;
    let (task_bob_id, task_cat_id) = (
        task_bob["id"].as_i64().unwrap(),
        action_cat["task"]["id"].as_i64().unwrap(),
    );

    // Bad input and people who may not write.
    for (body, what) in [
        (json!({"kind": "note", "body": "   "}), "empty body"),
        (
            json!({"kind": "note", "body": "x", "recording_offset_secs": -1}),
            "negative position",
        ),
        (
            json!({"kind": "note", "body": "x", "assignee_id": team.bob.0}),
            "assignee on a note",
        ),
        (
            json!({"kind": "action", "body": "x", "assignee_id": 999_999}),
            "no such user",
        ),
        (json!({"kind": "minute", "body": "x"}), "unknown kind"),
    ] {
        let error = expect_error(
            server.send_json(Method::POST, &items, ann, &body).await,
            422,
            "invalid_input",
        )
        .await;
        eprintln!("{what}: {}", error["error"]["message"]);
    }
    let (_, guest) = server.user_with_role(&team.admin, "guest", None).await;
    for token in [cat, &guest] {
        // Cat is a member, but neither in the channel nor at the meeting; the guest was not there.
        expect_error(server.get(&minutes, Some(token)).await, 403, "forbidden").await;
        expect_error(
            server
                .send_json(
                    Method::POST,
                    &items,
                    token,
                    &json!({"kind": "note", "body": "hi"}),
                )
                .await,
            403,
            "forbidden",
        )
        .await;
    }

    // Nobody hears about the action items until the minutes are published.
    bob_ws.expect_no_push().await;
    let published_at = now_ms();
    let published: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &format!("{minutes}/publish"),
                ann,
                &json!({"lang": "zh-CN"}),
            )
            .await,
        200,
    )
    .await;
    assert!(published["published_at"].as_i64().unwrap() >= published_at);
    assert_eq!(published["published_by"], team.ann.0);
    assert_eq!(published["items"].as_array().unwrap().len(), 4);
    let summary_id = published["summary"]["message_id"]
        .as_i64()
        .expect("summary message");
    assert_eq!(published["summary"]["channel"], team.channel);

    // The summary reaches the channel, with links to the minutes, the recording and each task,
    // and mentions Bob (Cat is not in the channel).
    let event = bob_ws.next_of("message").await;
    let message = &event["message"];
    assert_eq!(message["id"], summary_id);
    assert_eq!(message["sender"], team.ann.0);
    let body = message["body"].as_str().unwrap();
    for expected in [
        "会议纪要".to_string(),
        format!("/meetings/{meeting}/minutes"),
        format!("/meetings/{meeting}/recordings"),
        format!("/tasks/{task_bob_id}"),
        format!("/tasks/{task_cat_id}"),
        "Ship on Friday (录像位置 1:35)".to_string(),
        "Write the release notes".to_string(),
    ] {
        assert!(
            body.contains(&expected),
            "summary lacks {expected:?}:\n{body}"
        );
    }
    assert_eq!(message["mentions"], json!([team.bob.0]));

    // Each assignee is told.
    let told = notification(&mut bob_ws).await;
    assert_eq!(told["kind"], "task_assigned");
    assert_eq!(told["task"]["id"], task_bob_id);
    assert_eq!(told["meeting_id"], meeting);
    assert_eq!(told["message"]["message_id"], summary_id);
    let told = notification(&mut cat_ws).await;
    assert_eq!(told["kind"], "task_assigned");
    assert_eq!(told["task"]["id"], task_cat_id);
    assert_eq!(told["by"], team.ann.0);

    // Both tasks exist with their assignees, and each assignee finds theirs.
    let of_meeting: Value = expect_json(
        server
            .get(&format!("/v1/tasks?meeting={meeting}"), Some(ann))
            .await,
        200,
    )
    .await;
    let mut assignees: Vec<i64> = of_meeting["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["assignee_id"].as_i64().unwrap())
        .collect();
    assignees.sort();
    let mut expected = vec![team.bob.0, team.cat.0];
    expected.sort();
    assert_eq!(assignees, expected);
    let mine: Value = expect_json(server.get("/v1/tasks?assignee=me", Some(cat)).await, 200).await;
    assert_eq!(mine["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(mine["tasks"][0]["id"], task_cat_id);
    // Cat sees her task, but not the meeting's other task nor its minutes.
    expect_error(
        server
            .get(&format!("/v1/tasks/{task_bob_id}"), Some(cat))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        server
            .get(&format!("/v1/tasks?meeting={meeting}"), Some(cat))
            .await,
        403,
        "forbidden",
    )
    .await;
    let due_soon: Value = expect_json(
        server
            .get(
                &format!(
                    "/v1/tasks?assignee=me&status=open,in_progress&due_before={}",
                    due_bob + 1
                ),
                Some(bob),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(due_soon["tasks"].as_array().unwrap().len(), 1);

    // Reminders: Bob before the due date (never earlier than the lead time), then overdue to
    // Bob and to Ann, who created it.
    let mut ann_ws = WsClient::connect(server, ann).await;
    let started = Instant::now();
    let ms_until = |at: i64| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
    let reminder_at = due_bob - (REMIND_BEFORE_SECS as i64) * 1000;
    let reminder = tokio::time::timeout(
        ms_until(due_bob) + Duration::from_secs(10),
        notification(&mut bob_ws),
    )
    .await
    .expect("a due-soon reminder");
    let reminded = now_ms();
    assert_eq!(reminder["kind"], "task_due_soon", "{reminder}");
    assert_eq!(reminder["task"]["id"], task_bob_id);
    assert!(
        reminded >= reminder_at,
        "reminded {} ms before the lead time",
        reminder_at - reminded
    );
    assert!(
        reminded < due_bob,
        "the due-soon reminder came after the due date"
    );
    let overdue = tokio::time::timeout(Duration::from_secs(15), notification(&mut bob_ws))
        .await
        .expect("an overdue notice");
    assert!(now_ms() >= due_bob, "overdue before the due date");
    assert_eq!(overdue["kind"], "task_overdue");
    assert_eq!(overdue["task"]["overdue"], true);
    let creator = tokio::time::timeout(Duration::from_secs(15), notification(&mut ann_ws))
        .await
        .expect("the creator's overdue notice");
    assert_eq!(creator["kind"], "task_overdue");
    assert_eq!(creator["task"]["id"], task_bob_id);
    eprintln!(
        "reminded {} ms after the lead time began; overdue seen {:?} after waiting began",
        reminded - reminder_at,
        started.elapsed()
    );
    let overdue_list: Value = expect_json(
        server
            .get("/v1/tasks?created_by=me&overdue=true", Some(ann))
            .await,
        200,
    )
    .await;
    assert_eq!(overdue_list["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(overdue_list["tasks"][0]["id"], task_bob_id);

    // Each went out once; the inbox keeps them, newest first, until read.
    bob_ws.expect_no_push().await;
    let kept = inbox(server, bob).await;
    let kinds: Vec<&str> = kept["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["task_overdue", "task_due_soon", "task_assigned"]);
    assert_eq!(kept["unread"], 3);
    let newest = kept["notifications"][0]["id"].clone();
    // One at a time: just the oldest, by id (someone else's id changes nothing).
    let oldest = kept["notifications"][2]["id"].clone();
    let one = server
        .send_json(
            Method::POST,
            "/v1/notifications/read",
            bob,
            &json!({"ids": [oldest]}),
        )
        .await;
    assert_eq!(one.status(), 204);
    let after = inbox(server, bob).await;
    assert_eq!(after["unread"], 2);
    assert!(
        after["notifications"][2]["read_at"].as_i64().is_some(),
        "{after}"
    );
    assert!(after["notifications"][0]["read_at"].is_null(), "{after}");
    for bad in [json!({}), json!({"up_to": newest, "ids": [oldest]})] {
        let refused = server
            .send_json(Method::POST, "/v1/notifications/read", bob, &bad)
            .await;
        parley_tests::expect_error(refused, 422, "invalid_input").await;
    }
    let read = server
        .send_json(
            Method::POST,
            "/v1/notifications/read",
            bob,
            &json!({"up_to": newest}),
        )
        .await;
    assert_eq!(read.status(), 204);
    assert_eq!(inbox(server, bob).await["unread"], 0);

    // Bob finishes his task; a new due date on Cat's (from the minutes) resets her reminders.
    let done: Value = expect_json(
        server
            .send_json(
                Method::PATCH,
                &format!("/v1/tasks/{task_bob_id}"),
                bob,
                &json!({"status": "done"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["overdue"], Value::Null);
    assert!(done["completed_at"].as_i64().is_some());
    let moved: Value = expect_json(
        server
            .send_json(
                Method::PATCH,
                &format!("{items}/{}", action_cat["id"]),
                ann,
                &json!({"due_at": now_ms() + 1_000, "body": "Book the big room"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(moved["task"]["title"], "Book the big room");
    let overdue = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let n = notification(&mut cat_ws).await;
            if n["kind"] == "task_overdue" {
                return n;
            }
        }
    })
    .await
    .expect("Cat's task, moved forward, becomes overdue");
    assert_eq!(overdue["task"]["id"], task_cat_id);
    // Search finds the minutes (agenda and items, as one result) and the task, for those who
    // may see the meeting; Cat, who was not there and is not in its channel, finds neither.
    let task_id = task_bob["id"].as_i64().expect("task id");
    let found = until_searched(
        server,
        ann,
        "type:minutes 发布计划",
        &[("minutes", meeting)],
    )
    .await;
    assert_eq!(found["results"][0]["meeting_id"], meeting, "{found}");
    // Words of the agenda were said at no stamped moment; the decision's were, at 95 s.
    assert!(
        found["results"][0].get("recording_offset_secs").is_none(),
        "{found}"
    );
    let found = until_searched(server, bob, "type:minutes Friday", &[("minutes", meeting)]).await;
    assert_eq!(
        found["results"][0]["recording_offset_secs"], 95.0,
        "{found}"
    );
    let found = until_searched(server, bob, "type:task release notes", &[("task", task_id)]).await;
    assert_eq!(
        (
            found["results"][0]["title"].as_str(),
            found["results"][0]["meeting_id"].as_i64()
        ),
        (Some("Write the release notes"), Some(meeting)),
        "{found}"
    );
    // The action item is in the minutes too (and in the summary posted to the channel).
    until_searched(
        server,
        bob,
        "type:minutes release notes",
        &[("minutes", meeting)],
    )
    .await;
    until_searched(server, cat, "发布计划", &[]).await;
    until_searched(server, cat, "release notes", &[]).await;
    // Cat's task from those minutes is hers to find; the minutes stay closed to her.
    until_searched(server, cat, "Book the room", &[("task", task_cat_id)]).await;
}

async fn tasks_on_their_own_follow_who_may_do_what(backend: Backend) {
    let team = start(backend).await;
    let server = &team.server;
    let (ann, bob, cat) = (&team.ann.1, &team.bob.1, &team.cat.1);
    let mut ann_ws = WsClient::connect(server, ann).await;
    let mut bob_ws = WsClient::connect(server, bob).await;
    let said = bob_ws
        .say(team.channel, "c1", "Can someone check the invoice?")
        .await;
    let message_id = said["message_id"].as_i64().unwrap();

    // A task from a message, given to Ann: she is told.
    let task: Value = expect_json(
        server
            .send_json(
                Method::POST,
                "/v1/tasks",
                bob,
                &json!({"title": "Check the invoice",
            "assignee_id": team.ann.0,
            "source_message": {"channel": team.channel, "message_id": message_id}}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(task["source_message"]["message_id"], message_id);
    assert_eq!(task["created_by"], team.bob.0);
    let told = notification(&mut ann_ws).await;
    assert_eq!(told["kind"], "task_assigned");
    assert_eq!(told["task"]["id"], task["id"]);
    let path = format!("/v1/tasks/{}", task["id"]);

    // Cat cannot make a task from a message she cannot read, nor see Bob's task.
    expect_error(
        server
            .send_json(
                Method::POST,
                "/v1/tasks",
                cat,
                &json!({"title": "Snoop",
            "source_message": {"channel": team.channel, "message_id": message_id}}),
            )
            .await,
        403,
        "not_member",
    )
    .await;
    expect_error(server.get(&path, Some(cat)).await, 404, "not_found").await;
    // A task of no meeting is found by its assignee and creator only.
    let task_id = task["id"].as_i64().expect("task id");
    until_searched(server, ann, "type:task invoice", &[("task", task_id)]).await;
    until_searched(
        server,
        bob,
        "invoice",
        &[("message", message_id), ("task", task_id)],
    )
    .await;
    until_searched(server, cat, "invoice", &[]).await;
    // The assignee moves it along but does not rename it; the creator does.
    expect_json::<Value>(
        server
            .send_json(Method::PATCH, &path, ann, &json!({"status": "in_progress"}))
            .await,
        200,
    )
    .await;
    expect_error(
        server
            .send_json(
                Method::PATCH,
                &path,
                ann,
                &json!({"title": "Ignore the invoice"}),
            )
            .await,
        403,
        "forbidden",
    )
    .await;
    let renamed: Value = expect_json(
        server
            .send_json(
                Method::PATCH,
                &path,
                bob,
                &json!({"title": "Check the March invoice", "due_at": null}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(renamed["title"], "Check the March invoice");
    assert_eq!(renamed["status"], "in_progress");
    // Bad input.
    for (body, what) in [
        (json!({"status": "finished"}), "unknown status"),
        (json!({"title": ""}), "empty title"),
        (json!({"due_at": -5}), "due date before the epoch"),
    ] {
        let error = expect_error(
            server.send_json(Method::PATCH, &path, bob, &body).await,
            422,
            "invalid_input",
        )
        .await;
        eprintln!("{what}: {}", error["error"]["message"]);
    }
    expect_error(
        server.get("/v1/tasks?status=later", Some(bob)).await,
        422,
        "invalid_input",
    )
    .await;

    // Cat's own task, to herself: nobody is told; lists keep to what each may see.
    expect_json::<Value>(
        server
            .send_json(
                Method::POST,
                "/v1/tasks",
                cat,
                &json!({"title": "Water the plants", "assignee_id": team.cat.0}),
            )
            .await,
        201,
    )
    .await;
    let cats: Value = expect_json(server.get("/v1/tasks", Some(cat)).await, 200).await;
    assert_eq!(cats["tasks"].as_array().unwrap().len(), 1);
    let anns: Value = expect_json(server.get("/v1/tasks?assignee=me", Some(ann)).await, 200).await;
    assert_eq!(anns["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(anns["tasks"][0]["status"], "in_progress");
    let all: Value = expect_json(server.get("/v1/tasks", Some(&team.admin)).await, 200).await;
    assert_eq!(all["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(inbox(server, cat).await["unread"], 0);
}
