//! Retention and legal holds with the real binary: messages sent over the WebSocket, then
//! moved back in time in the server's own database (a test cannot wait 30 days), a pass run
//! through the admin API, and what is left read back as clients read it: history pages,
//! resumes, recordings' media. On SQLite with a local folder and on PostgreSQL with S3.

use parley_storage::{Database, DatabaseConfig, ObjectStorage, ObjectStoreConfig};
use parley_tests::recorder::{store_recording, tone_webm};
use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, Backend, S3Server, Server,
    ServerOptions, Team, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Moves stored times back, in the server's own database.
struct Backdate {
    pool: sqlx::AnyPool,
}

impl Backdate {
    async fn connect(server: &Server) -> Backdate {
        Backdate {
            pool: parley_tests::database_pool(&server.database_url).await,
        }
    }

    /// The channel's messages with `seq <= up_to` were sent `days` ago.
    async fn messages(&self, channel: i64, up_to: i64, days: i64) -> u64 {
        sqlx::query("UPDATE messages SET created_at = $1 WHERE channel_id = $2 AND seq <= $3")
            .bind(parley_storage::now_ms() - days * DAY_MS)
            .bind(channel)
            .bind(up_to)
            .execute(&self.pool)
            .await
            .expect("move messages back")
            .rows_affected()
    }

    /// The recording ended `days` ago; its meeting took place in `channel`, if given.
    async fn recording(&self, recording: i64, days: i64, channel: Option<i64>) {
        let at = parley_storage::now_ms() - days * DAY_MS;
        sqlx::query("UPDATE recordings SET ended_at = $1, updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(recording)
            .execute(&self.pool)
            .await
            .expect("move a recording back");
        sqlx::query(
            "UPDATE meetings SET channel_id = $1 \
             WHERE id = (SELECT meeting_id FROM recordings WHERE id = $2)",
        )
        .bind(channel)
        .bind(recording)
        .execute(&self.pool)
        .await
        .expect("place the meeting");
    }
}

/// Every message of a channel, oldest first, paging back `limit` at a time.
async fn history(server: &Server, token: &str, channel: i64, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut path = format!("/v1/channels/{channel}/messages?limit={limit}");
        if let Some(seq) = before {
            path.push_str(&format!("&before_seq={seq}"));
        }
        let page: Value = expect_json(server.get(&path, Some(token)).await, 200).await;
        let messages = page["messages"].as_array().expect("messages").clone();
        before = messages.first().and_then(|m| m["seq"].as_i64());
        all.splice(0..0, messages);
        if page["has_more"] != true {
            return all;
        }
        assert!(before.is_some(), "has_more with an empty page");
    }
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

async fn send(client: &mut WsClient, message: Value) -> Value {
    let mut message = message;
    message["type"] = json!("send");
    let reply = client.request(message).await;
    assert_eq!(reply["type"], "sent", "{reply}");
    reply
}

async fn channel(server: &Server, token: &str, name: &str, members: &[i64]) -> i64 {
    let body = json!({"name": name, "kind": "group", "category": "project", "members": members});
    let created: Value =
        expect_json(server.post("/v1/channels", Some(token), &body).await, 201).await;
    created["id"].as_i64().unwrap()
}

/// How many messages a search for `q` counts for the holder of `token`, once it has counted
/// `want` (the index follows the database a moment later); what it last counted otherwise.
async fn search_total(server: &Server, token: &str, q: &str, want: u64) -> u64 {
    let count = || async {
        server.search(token, q).await["total"]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    match eventually(100, Duration::from_millis(100), || async {
        (count().await == want).then_some(want)
    })
    .await
    {
        Some(n) => n,
        None => count().await,
    }
}

async fn run_pass(server: &Server, admin: &str) -> Value {
    expect_json(
        server
            .post("/v1/admin/retention/run", Some(admin), &json!({}))
            .await,
        200,
    )
    .await
}

/// Messages older than the organisation's 30 days go, in batches, with their replies kept;
/// a channel's own 5 days apply to it; what a legal hold names (a channel, a person) stays,
/// and so does an urgent ping still waiting for its acknowledgement. History pages end where
/// the deletions begin, a resume across deleted events is told to reload, a resume after
/// them replays as before, and sequences go on without reuse. Recordings older than 90 days
/// go with their media unless held. Lifting a hold lets the next pass delete what it kept.
async fn retention_deletes_what_is_due_and_keeps_what_is_held(backend: Backend) {
    let s3 = match backend {
        Backend::Postgres => Some(S3Server::start().await),
        Backend::Sqlite => None,
    };
    let mut options = ServerOptions::backend(backend)
        .env("PARLEY_RETENTION_MESSAGES_DAYS", "30")
        .env("PARLEY_RETENTION_RECORDINGS_DAYS", "90")
        .env("PARLEY_RETENTION_BATCH", "7")
        .env("PARLEY_HUB_BURST", "500");
    if let Some(s3) = &s3 {
        options = options.s3(s3);
    }
    let team = Team::new(Server::start_with(options).await, "thirty-days", true).await;
    let (server, admin) = (&team.server, team.admin.as_str());
    let main = team.channel;
    let held = channel(server, &team.ann.1, "case-114", &[team.bob.0]).await;
    let short = channel(server, &team.ann.1, "five-days", &[team.bob.0]).await;

    // A channel's own retention is the admins' to set.
    expect_error(
        server
            .send_json(
                Method::PATCH,
                &format!("/v1/channels/{short}"),
                &team.ann.1,
                &json!({"retention_days": 5}),
            )
            .await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        server
            .send_json(
                Method::PATCH,
                &format!("/v1/channels/{short}"),
                admin,
                &json!({"retention_days": 36_501}),
            )
            .await,
        422,
        "invalid_input",
    )
    .await;
    let patched: Value = expect_json(
        server
            .send_json(
                Method::PATCH,
                &format!("/v1/channels/{short}"),
                admin,
                &json!({"retention_days": 5}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(patched["retention_days"], 5);

    // Legal holds: exactly one of a channel and a person, both known, and a reason.
    let holds = "/v1/admin/legal-holds";
    for bad in [
        json!({"channel_id": held, "user_id": team.cat.0, "reason": "both"}),
        json!({"reason": "neither"}),
        json!({"channel_id": 999_999, "reason": "unknown"}),
        json!({"channel_id": held, "reason": "  "}),
    ] {
        expect_error(
            server.post(holds, Some(admin), &bad).await,
            422,
            "invalid_input",
        )
        .await;
    }
    expect_error(
        server
            .post(
                holds,
                Some(&team.ann.1),
                &json!({"channel_id": held, "reason": "x"}),
            )
            .await,
        403,
        "forbidden",
    )
    .await;
    let channel_hold: Value = expect_json(
        server
            .post(
                holds,
                Some(admin),
                &json!({"channel_id": held, "reason": "案件 114：供应商争议"}),
            )
            .await,
        201,
    )
    .await;
    let person_hold: Value = expect_json(
        server
            .post(
                holds,
                Some(admin),
                &json!({"user_id": team.cat.0, "reason": "audit"}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(person_hold["user_id"], team.cat.0);
    let listed: Vec<Value> = expect_json(server.get(holds, Some(admin)).await, 200).await;
    assert_eq!(listed.len(), 2);
    // Admins see every channel to hold or set retention on, members do not.
    let all: Vec<Value> =
        expect_json(server.get("/v1/admin/channels", Some(admin)).await, 200).await;
    assert_eq!(all.len(), 3, "{all:?}");
    expect_error(
        server.get("/v1/admin/channels", Some(&team.ann.1)).await,
        403,
        "forbidden",
    )
    .await;

    // The main channel: 30 from Ann (seq 1-30), a reply from Bob, 3 from Cat (held), an
    // urgent ping Bob has not acknowledged, then 5 recent ones, the first replying to seq 2.
    let mut ann = WsClient::connect(server, &team.ann.1).await;
    let mut bob = WsClient::connect(server, &team.bob.1).await;
    let mut cat = WsClient::connect(server, &team.cat.1).await;
    let mut ids = Vec::new();
    for n in 1..=30 {
        let sent = ann.say(main, &format!("a{n}"), &format!("old {n}")).await;
        ids.push(sent["message_id"].as_i64().unwrap());
    }
    send(
        &mut bob,
        json!({"channel": main, "client_id": "b1", "body": "re 1", "reply_to": ids[0]}),
    )
    .await;
    for n in 1..=3 {
        cat.say(main, &format!("c{n}"), &format!("held {n}")).await;
    }
    let ping = send(
        &mut ann,
        json!({"channel": main, "client_id": "u1", "body": "停机：请确认", "priority": "urgent", "ack_requested": true}),
    )
    .await;
    assert_eq!(ping["seq"], 35);
    send(
        &mut ann,
        json!({"channel": main, "client_id": "r1", "body": "re 2", "reply_to": ids[1]}),
    )
    .await;
    for n in 2..=5 {
        ann.say(main, &format!("r{n}"), &format!("recent {n}"))
            .await;
    }
    for n in 1..=5 {
        ann.say(held, &format!("h{n}"), &format!("case {n}")).await;
    }
    for n in 1..=4 {
        ann.say(short, &format!("s{n}"), &format!("short {n}"))
            .await;
    }

    // Recordings: one 100 days old, one 100 days old from a meeting in the held channel, one
    // recent.
    let scratch = tempfile::tempdir().unwrap();
    let tone = tone_webm(scratch.path(), 1);
    let objects = ObjectStorage::open(&match &s3 {
        Some(s3) => ObjectStoreConfig::S3(s3.config()),
        None => ObjectStoreConfig::Local {
            path: server.dir.path().join("data").join("objects"),
        },
    })
    .unwrap();
    let db = Database::connect(&DatabaseConfig {
        url: server.database_url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let expired = store_recording(&db, &objects, &tone, 1000).await;
    let kept_by_hold = store_recording(&db, &objects, &tone, 1000).await;
    let recent = store_recording(&db, &objects, &tone, 1000).await;
    let expired_prefix = db
        .recording(parley_proto::RecordingId(expired))
        .await
        .unwrap()
        .expect("the recording")
        .object_prefix;
    db.close().await;
    let before: Vec<_> = objects.list("").await.unwrap();
    assert!(before.len() >= 3, "{before:?}");

    let backdate = Backdate::connect(server).await;
    assert_eq!(backdate.messages(main, 35, 40).await, 35);
    assert_eq!(backdate.messages(held, 5, 400).await, 5);
    assert_eq!(backdate.messages(short, 2, 10).await, 2);
    backdate.recording(expired, 100, None).await;
    backdate.recording(kept_by_hold, 100, Some(held)).await;

    assert_eq!(search_total(server, &team.ann.1, "old", 30).await, 30);
    let run = run_pass(server, admin).await;
    // Deleted outright, they are gone from search, counts included.
    assert_eq!(search_total(server, &team.ann.1, "old", 0).await, 0);
    // Ann's 30 and Bob's reply in the main channel, two in the five-day channel.
    assert_eq!(run["messages_deleted"], 33, "{run}");
    assert_eq!(run["recordings_deleted"], 1, "{run}");
    assert!(run["batches"].as_u64().unwrap() >= 6, "batches of 7: {run}");
    assert!(run.get("error").is_none(), "{run}");

    // History, paged 4 at a time, ends where the deletions begin.
    let left = history(server, &team.bob.1, main, 4).await;
    assert_eq!(seqs(&left), (32..=40).collect::<Vec<_>>());
    let reply = left.iter().find(|m| m["seq"] == 36).unwrap();
    assert_eq!(reply["body"], "re 2");
    assert_eq!(
        reply["reply_to"],
        Value::Null,
        "the reply stays, its original gone"
    );
    assert_eq!(
        seqs(&history(server, &team.bob.1, held, 2).await),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        seqs(&history(server, &team.bob.1, short, 200).await),
        vec![3, 4]
    );
    let page = bob
        .request(json!({"type": "history", "channel": main, "before_seq": 33, "limit": 5}))
        .await;
    assert_eq!(seqs(page["messages"].as_array().unwrap()), vec![32]);
    assert_eq!(page["has_more"], false, "{page}");

    // A client that saw up to seq 3 is told to reload; one that saw seq 34 replays as before.
    let mut behind =
        WsClient::connect_resuming(server, &team.bob.1, json!([{"channel": main, "seq": 3}])).await;
    let reload = behind.next_of("reload").await;
    assert_eq!(
        reload,
        json!({"type": "reload", "channel": main, "after_seq": 3, "last_seq": 40})
    );
    let mut recent_client =
        WsClient::connect_resuming(server, &team.bob.1, json!([{"channel": main, "seq": 34}]))
            .await;
    let mut replayed = Vec::new();
    while replayed.len() < 6 {
        let push = recent_client.push().await;
        assert_ne!(push["type"], "reload", "{push}");
        if push["type"] == "message" {
            replayed.push(push["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(replayed, (35..=40).collect::<Vec<_>>());
    // New messages take new sequences; none is reused.
    assert_eq!(ann.say(main, "after", "after the pass").await["seq"], 41);

    // The expired recording's media is gone with it; the others play.
    assert!(objects
        .list(&format!("{expired_prefix}/"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        server
            .get(&format!("/v1/recordings/{expired}"), Some(admin))
            .await
            .status(),
        404
    );
    for id in [kept_by_hold, recent] {
        let media = server
            .get(&format!("/v1/recordings/{id}/media"), Some(admin))
            .await;
        assert_eq!(media.status(), 200);
        assert_eq!(media.bytes().await.unwrap().len(), tone.len());
    }

    // The dashboard's view and the metrics count the same.
    let status: Value =
        expect_json(server.get("/v1/admin/retention", Some(admin)).await, 200).await;
    assert_eq!(status["messages_days"], 30);
    assert_eq!(status["recordings_days"], 90);
    assert_eq!(
        status["channels"],
        json!([{"channel_id": short, "name": "five-days", "retention_days": 5}])
    );
    assert_eq!(status["last_run"], run);
    assert_eq!(status["messages_deleted_total"], 33);
    assert_eq!(
        parley_tests::rtc::metric(server, "parley_retention_deleted_messages_total").await,
        33.0
    );
    let again = run_pass(server, admin).await;
    assert_eq!(
        (
            again["messages_deleted"].as_u64(),
            again["recordings_deleted"].as_u64()
        ),
        (Some(0), Some(0))
    );

    // Lift the channel's hold: its messages and its meeting's recording go at the next pass.
    let path = format!("{holds}/{}", channel_hold["id"]);
    let lifted = server
        .request(Method::DELETE, &path, Some(admin))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    let lifted = server
        .request(Method::DELETE, &path, Some(admin))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 404);
    let run = run_pass(server, admin).await;
    assert_eq!(run["messages_deleted"], 5, "{run}");
    assert_eq!(run["recordings_deleted"], 1, "{run}");
    assert!(history(server, &team.bob.1, held, 50).await.is_empty());
    // Cat's are still held, and the ping still waits.
    assert_eq!(
        &seqs(&history(server, &team.bob.1, main, 50).await)[..4],
        &[32, 33, 34, 35]
    );
}

on_both_backends!(retention_deletes_what_is_due_and_keeps_what_is_held);
