//! Two `parley` nodes sharing PostgreSQL and a real Redis behave as one: messages, receipts,
//! recovery, presence and urgent pings cross nodes, and a node that crashes takes its users
//! offline within the presence TTL.

use parley_tests::{expect_json, unique, Backend, Server, ServerOptions, WsClient};
use serde_json::{json, Value};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

struct Nodes {
    a: Server,
    b: Server,
    ann: (i64, String),
    bob: (i64, String),
    cat: (i64, String),
    channel: i64,
}

/// Two nodes of one cluster (their own key prefix, so tests do not hear each other).
async fn nodes(extra: &[(&str, &str)]) -> Nodes {
    nodes_with(extra, redis_url()).await
}

/// Two nodes; node B reaches Redis at `b_redis` (a relay the test can cut).
async fn nodes_with(extra: &[(&str, &str)], b_redis: String) -> Nodes {
    let prefix = unique("pk");
    let options = |database_url: Option<String>, redis: String| {
        let mut options = ServerOptions {
            database_url,
            ..ServerOptions::backend(Backend::Postgres)
        }
        .env("PARLEY_CLUSTER_REDIS_URL", redis)
        .env("PARLEY_CLUSTER_KEY_PREFIX", prefix.clone())
        .env("PARLEY_HUB_PRESENCE_COALESCE_MS", "100")
        .env("PARLEY_URGENT_POLL_MS", "100");
        for (k, v) in extra {
            options = options.env(k, *v);
        }
        options
    };
    let a = Server::start_with(options(None, redis_url())).await;
    let b = Server::start_with(options(Some(a.database_url.clone()), b_redis)).await;
    assert!(a.log().contains("clustered through Redis"), "{}", a.log());
    let admin = a.admin_token().await;
    let ann = a.user_with_role(&admin, "member", None).await;
    let bob = a.user_with_role(&admin, "member", None).await;
    let cat = a.user_with_role(&admin, "member", None).await;
    let body = json!({"name": "跨节点 cross-node", "kind": "group", "category": "project", "members": [bob.0, cat.0]});
    let created: Value = expect_json(a.post("/v1/channels", Some(&ann.1), &body).await, 201).await;
    let channel = created["id"].as_i64().unwrap();
    Nodes {
        a,
        b,
        ann,
        bob,
        cat,
        channel,
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn messages_receipts_and_recovery_cross_nodes() {
    let n = nodes(&[]).await;
    let mut ann = WsClient::connect(&n.a, &n.ann.1).await;
    let mut bob = WsClient::connect(&n.b, &n.bob.1).await;
    let mut bob_on_a = WsClient::connect(&n.a, &n.bob.1).await;
    let mut cat = WsClient::connect(&n.b, &n.cat.1).await;

    ann.say(n.channel, "a-1", "从 A 节点发出 sent on A").await;
    for client in [&mut bob, &mut bob_on_a, &mut cat] {
        let event = client.push().await;
        assert_eq!(
            (event["seq"].as_i64(), event["message"]["body"].as_str()),
            (Some(1), Some("从 A 节点发出 sent on A"))
        );
    }
    bob.say(n.channel, "b-1", "reply from B").await;
    assert_eq!(ann.next_of("message").await["seq"], 1, "her own, first");
    let reply = ann.next_of("message").await;
    assert_eq!(
        (reply["seq"].as_i64(), reply["message"]["body"].as_str()),
        (Some(2), Some("reply from B"))
    );

    // Read on B: Ann on A sees it (a small channel); Bob's device on A clears its badge.
    bob.request(json!({"type": "mark_read", "channel": n.channel, "seq": 2}))
        .await;
    let seen = ann.next_of("member_read").await;
    assert_eq!(
        (seen["user_id"].as_i64(), seen["read_seq"].as_i64()),
        (Some(n.bob.0), Some(2))
    );
    let marker = bob_on_a.next_of("read_marker").await;
    assert_eq!(marker["read_seq"], 2);

    // Concurrent senders on both nodes: one gap-free order everywhere.
    let mut senders = Vec::new();
    for (who, url, token) in [
        ("ann", n.a.url.clone(), n.ann.1.clone()),
        ("bob", n.b.url.clone(), n.bob.1.clone()),
    ] {
        let channel = n.channel;
        senders.push(tokio::spawn(async move {
            let mut client = WsClient::connect_to(&url, &token, json!([])).await.unwrap();
            for i in 0..20 {
                client
                    .say(channel, &format!("{who}-c-{i}"), &format!("{who} {i}"))
                    .await;
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    // (Cat also hears that Bob read further: a notice, not part of the stream.)
    let mut events = Vec::new();
    while events.len() < 41 {
        events.push(cat.next_of("message").await);
    }
    assert_eq!(seqs(&events), (2..=42).collect::<Vec<_>>());

    // Cat leaves node B and comes back on node A: exactly what it missed.
    cat.close().await;
    for i in 0..3 {
        ann.say(n.channel, &format!("a-late-{i}"), "while Cat was away")
            .await;
    }
    let mut cat =
        WsClient::connect_resuming(&n.a, &n.cat.1, json!([{"channel": n.channel, "seq": 42}]))
            .await;
    assert_eq!(seqs(&cat.pushes(3).await), [43, 44, 45]);
    cat.expect_no_push().await;
}

/// A client that sees presence changes.
async fn watching(server: &Server, token: &str) -> WsClient {
    let mut client = WsClient::connect(server, token).await;
    client.skip_presence = false;
    client
}

async fn presence_of(client: &mut WsClient, user: i64) -> String {
    loop {
        let push = client.next_of("presence_changed").await;
        if push["user_id"] == user {
            return push["state"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn presence_crosses_nodes_and_a_crashed_node_takes_its_users_offline() {
    let mut n = nodes(&[("PARLEY_CLUSTER_PRESENCE_TTL_SECS", "2")]).await;
    let mut bob = watching(&n.b, &n.bob.1).await;

    let laptop = WsClient::connect(&n.a, &n.ann.1).await;
    assert_eq!(presence_of(&mut bob, n.ann.0).await, "online");
    // Do-not-disturb from Ann's phone on node B covers her laptop on node A.
    let mut phone = WsClient::connect(&n.b, &n.ann.1).await;
    phone
        .request(json!({"type": "set_presence", "state": "dnd"}))
        .await;
    assert_eq!(presence_of(&mut bob, n.ann.0).await, "dnd");
    phone
        .request(json!({"type": "set_presence", "state": "online"}))
        .await;
    assert_eq!(presence_of(&mut bob, n.ann.0).await, "online");
    let asked = bob
        .request(json!({"type": "presence", "users": [n.ann.0]}))
        .await;
    assert_eq!(asked["users"][0]["state"], "online", "{asked}");
    // One device gone, one left: still online; both gone: offline.
    laptop.close().await;
    phone.close().await;
    assert_eq!(presence_of(&mut bob, n.ann.0).await, "offline");

    // Cat is on node A when node A crashes: within the TTL, node B shows Cat offline.
    let _cat = WsClient::connect(&n.a, &n.cat.1).await;
    assert_eq!(presence_of(&mut bob, n.cat.0).await, "online");
    n.a.kill();
    assert_eq!(presence_of(&mut bob, n.cat.0).await, "offline");
}

#[tokio::test]
async fn urgent_pings_cross_nodes() {
    let n = nodes(&[]).await;
    let path = format!("/v1/channels/{}", n.channel);
    let set =
        n.a.request(reqwest::Method::PATCH, &path, Some(&n.ann.1))
            .json(&json!({"urgent_every_secs": 1}))
            .send()
            .await
            .unwrap();
    assert_eq!(set.status(), 200);
    let mut ann = WsClient::connect(&n.a, &n.ann.1).await;
    let mut bob = WsClient::connect(&n.b, &n.bob.1).await;
    let sent = ann
        .request(json!({"type": "send", "channel": n.channel, "client_id": "u", "body": "@bob 请确认", "mentions": [n.bob.0],
                        "priority": "urgent", "ack_requested": true}))
        .await;
    // Bob is connected to the other node: the ping reached him.
    let update = ann.next_of("ping_update").await;
    assert_eq!(
        (
            update["recipient"]["user_id"].as_i64(),
            update["recipient"]["state"].as_str()
        ),
        (Some(n.bob.0), Some("delivered"))
    );
    assert_eq!(
        bob.next_of("ping_reminder").await["message"]["id"],
        sent["message_id"]
    );
    bob.request(json!({"type": "ack", "channel": n.channel, "message_id": sent["message_id"]}))
        .await;
    let update = ann.next_of("ping_update").await;
    assert_eq!(
        (
            update["recipient"]["user_id"].as_i64(),
            update["recipient"]["state"].as_str()
        ),
        (Some(n.bob.0), Some("acked"))
    );
}

#[tokio::test]
async fn a_node_that_loses_redis_has_its_clients_resync() {
    let relay = parley_tests::Relay::start("127.0.0.1:6379".parse().unwrap()).await;
    let n = nodes_with(&[], format!("redis://{}", relay.addr)).await;
    let mut bob = WsClient::connect(&n.b, &n.bob.1).await;
    let mut ann = WsClient::connect(&n.a, &n.ann.1).await;
    ann.say(n.channel, "a-1", "before").await;
    assert_eq!(bob.next_of("message").await["seq"], 1);

    // Node B loses Redis; what crosses the bus meanwhile is lost to it.
    relay.cut();
    ann.say(n.channel, "a-2", "while B was cut off").await;
    relay.restore().await;

    // When its subscription is back, node B has its clients reconnect...
    let closing = bob.next_of("closing").await;
    assert_eq!(closing["code"], "resync", "{closing}");
    // ...and resuming brings what they missed, then live traffic again.
    let mut bob =
        WsClient::connect_resuming(&n.b, &n.bob.1, json!([{"channel": n.channel, "seq": 1}])).await;
    assert_eq!(
        bob.next_of("message").await["message"]["body"],
        "while B was cut off"
    );
    ann.say(n.channel, "a-3", "after").await;
    assert_eq!(bob.next_of("message").await["message"]["body"], "after");
}

#[tokio::test]
async fn a_recording_job_requested_on_one_node_reaches_a_recorder_waiting_on_the_other() {
    let n = nodes(&[]).await;
    let app = parley_tests::rtc::App::register(&n.a).await;
    let recorder = app.token("recorder", json!({"recorder": true}));
    // A recorder waits on node B.
    let b_url = n.b.url.clone();
    let waiting = tokio::spawn(async move {
        let asked = std::time::Instant::now();
        let response = reqwest::Client::new()
            .post(format!("{b_url}/v1/recording-jobs/claim"))
            .bearer_auth(recorder)
            .json(&json!({"recorder": "on-b", "wait_secs": 25}))
            .send()
            .await
            .expect("claim on node B");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body, asked.elapsed())
    });
    // Ann's meeting runs on node A; she asks for the recording there.
    let _in_call = parley_tests::rtc::RtcClient::join_room(&n.a, &n.ann.1, "cross").await;
    let meeting = parley_tests::eventually(100, std::time::Duration::from_millis(100), || async {
        let list: Value = expect_json(n.a.get("/v1/meetings", Some(&n.ann.1)).await, 200).await;
        list["meetings"][0]["id"].as_i64()
    })
    .await
    .expect("the meeting was recorded");
    let requested = std::time::Instant::now();
    expect_json::<Value>(
        n.a.post(
            &format!("/v1/meetings/{meeting}/recordings"),
            Some(&n.ann.1),
            &json!({}),
        )
        .await,
        201,
    )
    .await;
    let (status, claimed, waited) = waiting.await.unwrap();
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["job"]["meeting_id"], meeting);
    assert_eq!(claimed["job"]["recorder"], "on-b");
    eprintln!(
        "node B's recorder had the job {:?} after node A was asked (it waited {waited:?} in all)",
        requested.elapsed()
    );
}

/// Issue 18: revoking an API key left the participants its tokens let in connected; with
/// several nodes, those on the other node must go too.
#[tokio::test]
async fn revoking_an_api_key_on_one_node_removes_its_participants_on_the_other() {
    use parley_tests::rtc::{App, RtcClient};
    let n = nodes(&[]).await;
    let app = App::register(&n.a).await;
    let room = unique("revoked-elsewhere");
    let mut ann = RtcClient::join(&n.b, &app.participant("ann", &room)).await;
    let admin = n.a.admin_token().await;
    let revoked =
        n.a.request(
            reqwest::Method::DELETE,
            &format!("/v1/admin/api-keys/{}", app.key),
            Some(&admin),
        )
        .send()
        .await
        .expect("DELETE");
    assert_eq!(revoked.status(), 204);
    let seen = ann.until_closed().await;
    let removed = seen
        .iter()
        .find(|m| m["type"] == "removed")
        .unwrap_or_else(|| panic!("not removed on node B: {seen:?}"));
    assert_eq!(removed["reason"], "token_revoked", "{removed}");
}
