//! The messaging WebSocket under bad input, limits, slow clients, shutdown and a SIGKILL: each
//! problem gets a typed error or a reasoned close for that client only, and nothing
//! acknowledged is ever lost.

use parley_tests::{
    eventually, expect_json, on_both_backends, Backend, Server, ServerOptions, Team, WsClient,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    bad_input_gets_typed_errors,
    sigkill_loses_no_acknowledged_message,
    sessions_close_their_websockets
);

async fn bad_input_gets_typed_errors(backend: Backend) {
    let p = Team::new(
        Server::start_with(
            ServerOptions::backend(backend)
                .env("PARLEY_HUB_MAX_FRAME_BYTES", "2048")
                .env("PARLEY_HUB_MAX_MESSAGE_CHARS", "100")
                .env("PARLEY_HUB_RECALL_WINDOW_SECS", "0"),
        )
        .await,
        "ops",
        false,
    )
    .await;
    let mut ann = WsClient::connect(&p.server, &p.ann.1).await;
    let mut bob = WsClient::connect(&p.server, &p.bob.1).await;
    let mine = ann.say(p.channel, "a-1", "first").await;
    assert_eq!(bob.push().await["seq"], 1);
    assert_eq!(
        ann.push().await["seq"],
        1,
        "the sender's own devices get the event too"
    );

    ann.send_raw(Message::text("{not json")).await;
    let reply = ann.recv().await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("malformed_json")),
        "{reply}"
    );
    assert!(reply.get("id").is_none(), "no id could be read: {reply}");

    let cases = [
        (json!({"type": "fly", "id": "x1"}), "unknown_type"),
        (json!({"id": "x2", "channel": 1}), "unknown_type"),
        (
            json!({"type": "ping", "id": "x3", "extra": true}),
            "unknown_field",
        ),
        (
            json!({"type": "send", "id": "x4", "channel": p.channel, "client_id": "c"}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "id": "x5", "channel": p.channel, "client_id": "c", "body": "   "}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "id": "x6", "channel": p.channel, "client_id": "c", "body": "长".repeat(101)}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "id": "x7", "channel": p.channel, "client_id": "", "body": "x"}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "id": "x8", "channel": 999_999, "client_id": "c", "body": "x"}),
            "not_member",
        ),
        (
            json!({"type": "send", "id": "x9", "channel": p.channel, "client_id": "c", "body": "x".repeat(3000)}),
            "frame_too_large",
        ),
        (
            json!({"type": "hello", "id": "x10", "versions": [1]}),
            "invalid_input",
        ),
        (
            json!({"type": "recall", "id": "x11", "channel": p.channel, "message_id": mine["message_id"]}),
            "recall_window_passed",
        ),
        (
            json!({"type": "edit", "id": "x12", "channel": p.channel, "message_id": 424_242, "body": "x"}),
            "not_found",
        ),
    ];
    for (request, code) in cases {
        let id = request["id"].clone();
        ann.send(request).await;
        let reply = ann.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], code, "{reply}");
        assert_eq!(reply["id"], id, "the error names the request: {reply}");
    }
    ann.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(ann.recv().await["code"], "invalid_input");

    // Someone else's message: no edit, no recall.
    let bobs = bob.say(p.channel, "b-1", "bob's").await;
    let edit = ann.request(json!({"type": "edit", "channel": p.channel, "message_id": bobs["message_id"], "body": "x"})).await;
    assert_eq!(edit["code"], "forbidden", "{edit}");
    // An outsider cannot post or read.
    let mut cat = WsClient::connect(&p.server, &p.cat.1).await;
    let refused = cat
        .request(
            json!({"type": "send", "channel": p.channel, "client_id": "c", "body": "let me in"}),
        )
        .await;
    assert_eq!(refused["code"], "not_member");
    // An admin recalls any message any time, member or not; everyone hears of it.
    let mut admin = WsClient::connect(&p.server, &p.admin).await;
    let recalled = admin
        .request(json!({"type": "recall", "channel": p.channel, "message_id": mine["message_id"]}))
        .await;
    assert_eq!(recalled["type"], "recalled", "{recalled}");
    let again = admin
        .request(json!({"type": "recall", "channel": p.channel, "message_id": mine["message_id"]}))
        .await;
    assert_eq!(again["code"], "conflict");

    // None of it touched the others: Bob's stream, and Ann's, are whole and in order.
    ann.say(p.channel, "a-2", "still here").await;
    for client in [&mut bob, &mut ann] {
        let events = client.pushes(3).await;
        let kinds: Vec<(&str, i64)> = events
            .iter()
            .map(|e| (e["type"].as_str().unwrap(), e["seq"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [("message", 2), ("message_recalled", 3), ("message", 4)]
        );
        client.expect_no_push().await;
    }

    // A frame far over the limit is not even read: the connection is closed.
    ann.send_raw(Message::text("y".repeat(9000))).await;
    let rest = ann.drain_until_closed().await;
    assert!(rest.iter().all(|m| m["type"] != "pong"), "{rest:?}");
    bob.expect_no_push().await;
}

#[tokio::test]
async fn handshake_errors_close_with_a_reason() {
    let p = Team::new(Server::start(Backend::Sqlite).await, "ops", false).await;
    let closing = |messages: Vec<Value>| -> String {
        let last = messages.last().cloned().unwrap_or_default();
        assert_eq!(last["type"], "closing", "{messages:?}");
        last["code"].as_str().unwrap().to_string()
    };

    let mut early = WsClient::open(&p.server, Some(&p.ann.1)).await.unwrap();
    early.send(json!({"type": "ping", "id": "1"})).await;
    assert_eq!(closing(early.drain_until_closed().await), "hello_required");

    let mut future = WsClient::open(&p.server, Some(&p.ann.1)).await.unwrap();
    future
        .send(json!({"type": "hello", "id": "1", "versions": [7, 8]}))
        .await;
    assert_eq!(
        closing(future.drain_until_closed().await),
        "unsupported_version"
    );

    let mut anonymous = WsClient::open(&p.server, None).await.unwrap();
    anonymous
        .send(json!({"type": "hello", "id": "1", "versions": [1]}))
        .await;
    assert_eq!(
        closing(anonymous.drain_until_closed().await),
        "unauthenticated"
    );

    let mut forged = WsClient::open(&p.server, None).await.unwrap();
    forged
        .send(json!({"type": "hello", "id": "1", "versions": [1], "token": "a.b.c"}))
        .await;
    assert_eq!(closing(forged.drain_until_closed().await), "token_invalid");

    // A bad token in the URL is refused before the upgrade, with an HTTP status.
    match WsClient::open(&p.server, Some("not-a-token")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        Err(other) => panic!("expected HTTP 401, got {other}"),
        Ok(_) => panic!("the upgrade should be refused"),
    }

    // The token may come in hello instead of the URL.
    let mut in_hello = WsClient::open(&p.server, None).await.unwrap();
    in_hello
        .send(json!({"type": "hello", "id": "h", "versions": [1, 2], "token": p.bob.1}))
        .await;
    let welcome = in_hello.recv().await;
    assert_eq!(
        (welcome["type"].as_str(), welcome["version"].as_i64()),
        (Some("welcome"), Some(1)),
        "{welcome}"
    );
    assert_eq!(welcome["limits"]["max_frame_bytes"], 65536);

    // Messaging is for people: an app token is refused.
    let key: Value = expect_json(
        p.server
            .post(
                "/v1/admin/api-keys",
                Some(&p.admin),
                &json!({"name": "app"}),
            )
            .await,
        201,
    )
    .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let app = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": key["key"], "sub": "bot", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(key["secret"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    let mut bot = WsClient::open(&p.server, None).await.unwrap();
    bot.send(json!({"type": "hello", "id": "1", "versions": [1], "token": app}))
        .await;
    assert_eq!(
        closing(bot.drain_until_closed().await),
        "insufficient_grant"
    );
}

#[tokio::test]
async fn rate_limit_and_heartbeat() {
    let p = Team::new(
        Server::start_with(
            ServerOptions::backend(Backend::Sqlite)
                .env("PARLEY_HUB_REQUESTS_PER_SECOND", "1")
                .env("PARLEY_HUB_BURST", "5")
                .env("PARLEY_HUB_HEARTBEAT_SECS", "1"),
        )
        .await,
        "ops",
        false,
    )
    .await;
    let mut ann = WsClient::open(&p.server, Some(&p.ann.1)).await.unwrap();
    ann.send(json!({"type": "hello", "id": "h", "versions": [1]}))
        .await;
    assert_eq!(ann.recv().await["type"], "welcome");
    for i in 0..20 {
        ann.send(json!({"type": "ping", "id": format!("p{i}")}))
            .await;
    }
    let mut answered = BTreeMap::new();
    for _ in 0..20 {
        let reply = ann.recv().await;
        answered.insert(
            reply["id"].as_str().unwrap().to_string(),
            reply["type"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(
        answered.len(),
        20,
        "every request is answered: {answered:?}"
    );
    let limited = answered.values().filter(|t| *t == "error").count();
    let pongs = answered.values().filter(|t| *t == "pong").count();
    assert!(
        (5..=7).contains(&pongs) && limited == 20 - pongs,
        "{answered:?}"
    );
    // Silence past the heartbeat closes the connection with a reason.
    let rest = ann.drain_until_closed().await;
    let last = rest.last().expect("a closing message");
    assert_eq!(
        (last["type"].as_str(), last["code"].as_str()),
        (Some("closing"), Some("heartbeat_timeout")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_slow_client_is_dropped_without_delaying_others_and_recovers() {
    let p = Team::new(
        Server::start_with(
            ServerOptions::backend(Backend::Sqlite)
                .env("PARLEY_HUB_OUTBOUND_QUEUE", "32")
                .env("PARLEY_HUB_WRITE_TIMEOUT_MS", "2000")
                .env("PARLEY_HUB_REQUESTS_PER_SECOND", "100000")
                .env("PARLEY_HUB_BURST", "100000")
                .env("PARLEY_HUB_MAX_MESSAGE_CHARS", "20000"),
        )
        .await,
        "ops",
        false,
    )
    .await;
    let mut slow = WsClient::connect_slow(&p.server, &p.bob.1).await;
    let mut fast = WsClient::connect(&p.server, &p.bob.1).await;
    let mut ann = WsClient::connect(&p.server, &p.ann.1).await;
    let total = 300;
    // The fast device reads as the messages come; the slow one does not read at all.
    let reader = tokio::spawn(async move { fast.pushes(total).await });
    let body = "m".repeat(16_000);
    for i in 0..total {
        ann.say(p.channel, &format!("s-{i}"), &body).await;
    }
    // The fast device gets everything, in order, while the slow one lags.
    let events = reader.await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
    let dropped = eventually(100, Duration::from_millis(100), || async {
        let text = p.server.get("/metrics", None).await.text().await.unwrap();
        text.lines()
            .any(|l| l == "parley_ws_slow_consumer_disconnects_total 1")
            .then_some(())
    })
    .await;
    assert!(dropped.is_some(), "the slow client was never dropped");

    // What the slow client got before the drop is a prefix; reconnecting brings the rest.
    let got = slow.drain_until_closed().await;
    let seen: Vec<i64> = got
        .iter()
        .filter(|m| m["type"] == "message")
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seen,
        (1..=seen.len() as i64).collect::<Vec<_>>(),
        "in order, no gaps"
    );
    assert!((seen.len() as i64) < total as i64, "it really lagged");
    let last = seen.last().copied().unwrap_or(0);
    let mut back = WsClient::connect_resuming(
        &p.server,
        &p.bob.1,
        json!([{"channel": p.channel, "seq": last}]),
    )
    .await;
    let rest = back.pushes(total - seen.len()).await;
    let rest_seqs: Vec<i64> = rest.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(rest_seqs, (last + 1..=total as i64).collect::<Vec<_>>());
    back.expect_no_push().await;
}

#[tokio::test]
async fn shutdown_closes_websockets_with_a_reason() {
    let mut p = Team::new(Server::start(Backend::Sqlite).await, "ops", false).await;
    let mut ann = WsClient::connect(&p.server, &p.ann.1).await;
    ann.say(p.channel, "a", "before shutdown").await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &p.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest = ann.drain_until_closed().await;
    let last = rest.last().expect("a closing message");
    assert_eq!(
        (last["type"].as_str(), last["code"].as_str()),
        (Some("closing"), Some("server_shutdown")),
        "{rest:?}"
    );
    assert!(p.server.wait().success());
}

/// Two members send while the server is SIGKILLed and restarted. Every acknowledged message
/// reaches a third member exactly once, in one gap-free sequence, after it reconnects.
async fn sigkill_loses_no_acknowledged_message(backend: Backend) {
    let mut p = Team::new(Server::start(backend).await, "ops", false).await;
    let add = p
        .server
        .post(
            &format!("/v1/channels/{}/members", p.channel),
            Some(&p.ann.1),
            &json!({"user_ids": [p.cat.0]}),
        )
        .await;
    assert_eq!(add.status(), 200);
    // Where the server is: it changes when the server restarts on a new port.
    let (url_tx, url_rx) = tokio::sync::watch::channel(p.server.url.clone());
    let per_sender = 40;
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let mut observer = WsClient::connect(&p.server, &p.cat.1).await;

    let mut senders = Vec::new();
    for (who, token) in [("ann", p.ann.1.clone()), ("bob", p.bob.1.clone())] {
        let (mut url, acked, channel) = (url_rx.clone(), acked.clone(), p.channel);
        senders.push(tokio::spawn(async move {
            let mut client: Option<WsClient> = None;
            let mut i = 0;
            let mut attempts = 0;
            while i < per_sender {
                attempts += 1;
                assert!(attempts < 2000, "{who} could not finish");
                if client.is_none() {
                    let target = url.borrow_and_update().clone();
                    client = WsClient::connect_to(&target, &token, json!([])).await.ok();
                    if client.is_none() {
                        // The server is down: wait for it to come back on its new address.
                        let back =
                            tokio::time::timeout(Duration::from_secs(30), url.changed()).await;
                        assert!(
                            matches!(back, Ok(Ok(()))),
                            "{who}: the server did not come back"
                        );
                        continue;
                    }
                }
                // The same client_id until acknowledged: a resend after the crash is stored once.
                let client_id = format!("{who}-{i}");
                match client
                    .as_mut()
                    .unwrap()
                    .try_say(channel, &client_id, &client_id)
                    .await
                {
                    Some(reply) if reply["type"] == "sent" => {
                        acked
                            .lock()
                            .unwrap()
                            .insert(client_id, reply["seq"].as_i64().unwrap());
                        i += 1;
                    }
                    Some(reply) => panic!("unexpected reply {reply}"),
                    None => client = None,
                }
            }
        }));
    }

    // Kill mid-stream, once some messages are through.
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 15 {
        seen.push(observer.push().await);
    }
    p.server.kill_and_restart().await;
    let acked_before_kill = acked.lock().unwrap().len();
    assert!(
        acked_before_kill < 2 * per_sender,
        "the kill came while the senders were still sending"
    );
    url_tx.send_replace(p.server.url.clone());
    seen.extend(observer.drain_until_closed().await);
    for sender in senders {
        sender.await.unwrap();
    }

    let last_seen = seen.last().and_then(|e| e["seq"].as_i64()).unwrap_or(0);
    let mut observer = WsClient::connect_resuming(
        &p.server,
        &p.cat.1,
        json!([{"channel": p.channel, "seq": last_seen}]),
    )
    .await;
    let acked = acked.lock().unwrap().clone();
    let total = acked.len() as i64;
    assert_eq!(total, 2 * per_sender as i64);
    let max_seq = *acked.values().max().unwrap();
    assert_eq!(
        max_seq, total,
        "no sequence numbers were skipped or doubled"
    );
    seen.extend(observer.pushes((max_seq - last_seen) as usize).await);
    observer.expect_no_push().await;

    let seqs: Vec<i64> = seen.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=max_seq).collect::<Vec<_>>(),
        "every event exactly once, in order"
    );
    let bodies: BTreeSet<String> = seen
        .iter()
        .map(|e| e["message"]["body"].as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = acked.keys().cloned().collect();
    assert_eq!(bodies, sent, "every acknowledged message, and nothing else");
    for event in &seen {
        let body = event["message"]["body"].as_str().unwrap();
        assert_eq!(
            acked[body],
            event["seq"].as_i64().unwrap(),
            "the ack named the message's place"
        );
    }
}

/// Open WebSockets follow the account: logout closes that session's, a password change or
/// disabling closes all, a role change asks the client to reconnect with the new role.
async fn sessions_close_their_websockets(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let body = json!({"email": "wu.fang@example.cn", "name": "吴芳", "role": "member", "password": "wu-password-1"});
    let wu: Value = expect_json(server.post("/v1/users", Some(&admin), &body).await, 201).await;
    let path = format!("/v1/users/{}", wu["id"]);
    let laptop = server.login("wu.fang@example.cn", "wu-password-1").await;
    let phone = server.login("wu.fang@example.cn", "wu-password-1").await;
    let mut on_laptop = WsClient::connect(&server, &laptop.access_token).await;
    let mut on_phone = WsClient::connect(&server, &phone.access_token).await;
    let closing = |messages: Vec<Value>| {
        messages
            .last()
            .map(|m| (m["type"].clone(), m["code"].clone()))
    };

    let out = server
        .request(
            reqwest::Method::POST,
            "/v1/auth/logout",
            Some(&laptop.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(
        closing(on_laptop.drain_until_closed().await),
        Some((json!("closing"), json!("token_revoked")))
    );
    on_phone.expect_no_push().await;

    let demote = server
        .request(reqwest::Method::PATCH, &path, Some(&admin))
        .json(&json!({"role": "guest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
    assert_eq!(
        closing(on_phone.drain_until_closed().await),
        Some((json!("closing"), json!("account_changed")))
    );
    let again = WsClient::connect(&server, &phone.access_token).await;
    assert_eq!(
        again.welcome["user"]["role"], "guest",
        "the new role applies on reconnect"
    );

    let mut again = again;
    let disable = server
        .request(reqwest::Method::PATCH, &path, Some(&admin))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 200);
    assert_eq!(
        closing(again.drain_until_closed().await),
        Some((json!("closing"), json!("account_disabled")))
    );
}
