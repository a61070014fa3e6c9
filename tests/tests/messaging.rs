//! The messaging hub over real WebSockets against the real binary: send, acknowledge and fan
//! out; idempotent resends; per-channel order; recovery after a reconnect; history; read
//! markers and unread counts.

use parley_tests::{expect_json, on_both_backends, Backend, Server, ServerOptions, Team, WsClient};
use serde_json::{json, Value};

on_both_backends!(
    send_ack_and_fan_out,
    order_under_concurrency,
    reconnect_replays_exactly_once,
    history,
    read_markers,
    receipts,
    a_gap_too_large_to_replay_says_reload
);

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

async fn send_ack_and_fan_out(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "销售周会 weekly", false).await;
    let mut ann_laptop = WsClient::connect(&t.server, &t.ann.1).await;
    let mut ann_phone = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    let mut cat = WsClient::connect(&t.server, &t.cat.1).await;
    assert_eq!(ann_laptop.welcome["version"], 1);
    assert_eq!(ann_laptop.welcome["user"]["id"], t.ann.0);

    let sent = ann_laptop.say(t.channel, "c-1", "你好 @bob").await;
    assert_eq!(sent["seq"], 1);
    assert_eq!(sent["duplicate"], false);
    // Every device of every member, the sender's own included, gets the event once.
    for client in [&mut ann_laptop, &mut ann_phone, &mut bob] {
        let event = client.push().await;
        assert_eq!(event["type"], "message", "{event}");
        assert_eq!(event["seq"], 1);
        assert_eq!(event["message"]["body"], "你好 @bob");
        assert_eq!(event["message"]["sender"], t.ann.0);
        assert_eq!(event["message"]["id"], sent["message_id"]);
    }
    cat.expect_no_push().await;

    // The same client_id again: acknowledged with the same place, stored and delivered once.
    let again = ann_phone.say(t.channel, "c-1", "你好 @bob").await;
    assert_eq!(
        (again["seq"].as_i64(), again["duplicate"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(again["message_id"], sent["message_id"]);
    let next = ann_laptop.say(t.channel, "c-2", "second").await;
    assert_eq!(next["seq"], 2);
    assert_eq!(
        bob.push().await["seq"],
        2,
        "no duplicate of seq 1 in between"
    );

    // A reply with mentions; a mention of a non-member is refused.
    let reply = bob
        .request(
            json!({"type": "send", "channel": t.channel, "client_id": "b-1", "body": "收到",
                        "reply_to": sent["message_id"], "mentions": [t.ann.0]}),
        )
        .await;
    assert_eq!(reply["seq"], 3, "{reply}");
    let event = ann_phone.pushes(2).await.pop().unwrap();
    assert_eq!(event["seq"], 3);
    assert_eq!(event["message"]["reply_to"], sent["message_id"]);
    assert_eq!(event["message"]["mentions"], json!([t.ann.0]));
    let stranger = bob
        .request(json!({"type": "send", "channel": t.channel, "client_id": "b-2", "body": "hi", "mentions": [t.cat.0]}))
        .await;
    assert_eq!(stranger["code"], "invalid_input", "{stranger}");

    // Someone added to the channel while connected starts receiving it at once.
    let add = t
        .server
        .post(
            &format!("/v1/channels/{}/members", t.channel),
            Some(&t.ann.1),
            &json!({"user_ids": [t.cat.0]}),
        )
        .await;
    assert_eq!(add.status(), 200);
    ann_laptop.say(t.channel, "c-3", "welcome, Cat").await;
    let joined = cat.push().await;
    assert_eq!(
        (joined["type"].as_str(), joined["channel"]["id"].as_i64()),
        (Some("channel_joined"), Some(t.channel)),
        "{joined}"
    );
    let event = cat.push().await;
    assert_eq!(event["message"]["body"], "welcome, Cat", "{event}");
}

async fn order_under_concurrency(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "销售周会 weekly", false).await;
    let mut observer = WsClient::connect(&t.server, &t.bob.1).await;
    let per_sender = 25;
    let mut senders = Vec::new();
    for (who, token) in [("ann", t.ann.1.clone()), ("bob", t.bob.1.clone())] {
        let mut client = WsClient::connect(&t.server, &token).await;
        let channel = t.channel;
        senders.push(tokio::spawn(async move {
            for i in 0..per_sender {
                client
                    .say(channel, &format!("{who}-{i}"), &format!("{who} {i}"))
                    .await;
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let events = observer.pushes(2 * per_sender).await;
    assert_eq!(
        seqs(&events),
        (1..=2 * per_sender as i64).collect::<Vec<_>>(),
        "in order, no gaps, no repeats"
    );
    // Each sender's own messages keep their order too.
    for who in ["ann", "bob"] {
        let mine: Vec<String> = events
            .iter()
            .filter_map(|e| {
                e["message"]["body"]
                    .as_str()
                    .filter(|b| b.starts_with(who))
                    .map(str::to_string)
            })
            .collect();
        let expected: Vec<String> = (0..per_sender).map(|i| format!("{who} {i}")).collect();
        assert_eq!(mine, expected);
    }
    observer.expect_no_push().await;
}

async fn reconnect_replays_exactly_once(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "销售周会 weekly", false).await;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    ann.say(t.channel, "a-1", "one").await;
    ann.say(t.channel, "a-2", "two").await;
    assert_eq!(seqs(&bob.pushes(2).await), [1, 2]);
    bob.close().await;

    // While Bob is away: three messages, an edit and a recall.
    let three = ann.say(t.channel, "a-3", "three").await;
    let four = ann.say(t.channel, "a-4", "four").await;
    ann.say(t.channel, "a-5", "five").await;
    let edited = ann.request(json!({"type": "edit", "channel": t.channel, "message_id": three["message_id"], "body": "three (fixed)"})).await;
    assert_eq!(
        (edited["type"].as_str(), edited["seq"].as_i64()),
        (Some("edited"), Some(6)),
        "{edited}"
    );
    let recalled = ann
        .request(json!({"type": "recall", "channel": t.channel, "message_id": four["message_id"]}))
        .await;
    assert_eq!(
        (recalled["type"].as_str(), recalled["seq"].as_i64()),
        (Some("recalled"), Some(7)),
        "{recalled}"
    );

    let mut bob = WsClient::connect_resuming(
        &t.server,
        &t.bob.1,
        json!([{"channel": t.channel, "seq": 2}]),
    )
    .await;
    let missed = bob.pushes(5).await;
    assert_eq!(seqs(&missed), [3, 4, 5, 6, 7]);
    let kinds: Vec<&str> = missed.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message",
            "message",
            "message",
            "message_edited",
            "message_recalled"
        ]
    );
    assert_eq!(
        missed[0]["message"]["body"], "three (fixed)",
        "replays show messages as they are now"
    );
    assert!(
        missed[1]["message"]["body"].is_null(),
        "a recalled text is gone: {}",
        missed[1]
    );
    assert_eq!(missed[3]["body"], "three (fixed)");
    assert_eq!(missed[4]["message_id"], four["message_id"]);
    assert_eq!(missed[4]["by"], t.ann.0);
    // Then live, without a repeat.
    ann.say(t.channel, "a-8", "eight").await;
    assert_eq!(bob.push().await["seq"], 8);
    bob.expect_no_push().await;

    // A device that has seen everything gets nothing replayed; one naming a future sequence too.
    let mut current = WsClient::connect_resuming(
        &t.server,
        &t.bob.1,
        json!([{"channel": t.channel, "seq": 8}]),
    )
    .await;
    current.expect_no_push().await;
    let mut ahead = WsClient::connect_resuming(
        &t.server,
        &t.bob.1,
        json!([{"channel": t.channel, "seq": 999}]),
    )
    .await;
    ahead.expect_no_push().await;
    ann.say(t.channel, "a-9", "nine").await;
    assert_eq!(ahead.push().await["seq"], 9);

    // History no longer has the recalled text either.
    let page: Value = expect_json(
        t.server
            .get(
                &format!("/v1/channels/{}/messages", t.channel),
                Some(&t.bob.1),
            )
            .await,
        200,
    )
    .await;
    let recalled_row = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == four["message_id"])
        .unwrap();
    assert!(
        recalled_row["body"].is_null() && recalled_row["recalled_at"].is_i64(),
        "{recalled_row}"
    );
    assert!(!page.to_string().contains("\"four\""), "{page}");
}

async fn a_gap_too_large_to_replay_says_reload(backend: Backend) {
    let t = Team::new(
        Server::start_with(ServerOptions::backend(backend).env("PARLEY_HUB_MAX_REPLAY", "5")).await,
        "销售周会 weekly",
        false,
    )
    .await;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    for i in 0..8 {
        ann.say(t.channel, &format!("a-{i}"), "x").await;
    }
    let mut bob = WsClient::connect_resuming(
        &t.server,
        &t.bob.1,
        json!([{"channel": t.channel, "seq": 0}]),
    )
    .await;
    let reload = bob.push().await;
    assert_eq!(
        reload,
        json!({"type": "reload", "channel": t.channel, "after_seq": 0, "last_seq": 8})
    );
    ann.say(t.channel, "a-9", "live").await;
    assert_eq!(bob.push().await["seq"], 9, "live events follow the reload");
    // A small gap is replayed as usual.
    let mut phone = WsClient::connect_resuming(
        &t.server,
        &t.bob.1,
        json!([{"channel": t.channel, "seq": 6}]),
    )
    .await;
    assert_eq!(seqs(&phone.pushes(3).await), [7, 8, 9]);
}

async fn history(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "销售周会 weekly", false).await;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    for i in 1..=10 {
        ann.say(t.channel, &format!("h-{i}"), &format!("message {i}"))
            .await;
    }
    let seqs_of = |reply: &Value| -> Vec<i64> {
        reply["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };
    let newest = ann
        .request(json!({"type": "history", "channel": t.channel, "limit": 4}))
        .await;
    assert_eq!(
        (seqs_of(&newest), newest["has_more"].as_bool()),
        (vec![7, 8, 9, 10], Some(true)),
        "{newest}"
    );
    let older = ann
        .request(json!({"type": "history", "channel": t.channel, "before_seq": 7, "limit": 4}))
        .await;
    assert_eq!(seqs_of(&older), [3, 4, 5, 6]);
    let oldest = ann
        .request(json!({"type": "history", "channel": t.channel, "before_seq": 3, "limit": 4}))
        .await;
    assert_eq!(
        (seqs_of(&oldest), oldest["has_more"].as_bool()),
        (vec![1, 2], Some(false))
    );
    let range = ann
        .request(json!({"type": "history", "channel": t.channel, "from_seq": 2, "to_seq": 4}))
        .await;
    assert_eq!(seqs_of(&range), [2, 3, 4]);
    let both = ann
        .request(json!({"type": "history", "channel": t.channel, "before_seq": 5, "from_seq": 2}))
        .await;
    assert_eq!(both["code"], "invalid_input");

    let rest: Value = expect_json(
        t.server
            .get(
                &format!("/v1/channels/{}/messages?before_seq=7&limit=4", t.channel),
                Some(&t.bob.1),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(seqs_of(&rest), [3, 4, 5, 6]);
    assert_eq!(rest["messages"][0]["body"], "message 3");
    // Outsiders are refused, over WebSocket and REST alike.
    let mut cat = WsClient::connect(&t.server, &t.cat.1).await;
    let refused = cat
        .request(json!({"type": "history", "channel": t.channel}))
        .await;
    assert_eq!(refused["code"], "not_member", "{refused}");
    let refused = t
        .server
        .get(
            &format!("/v1/channels/{}/messages", t.channel),
            Some(&t.cat.1),
        )
        .await;
    parley_tests::expect_error(refused, 403, "not_member").await;
    // A thread: the replies to one message, oldest first.
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    let root = ann.say(t.channel, "h-root", "方案评审 thread").await;
    for i in 1..=2 {
        let reply = bob
            .request(json!({"type": "send", "channel": t.channel, "client_id": format!("b-{i}"), "body": format!("reply {i}"),
                            "reply_to": root["message_id"]}))
            .await;
        assert_eq!(reply["type"], "sent");
    }
    ann.say(t.channel, "h-after", "not in the thread").await;
    let thread = ann
        .request(json!({"type": "history", "channel": t.channel, "replies_to": root["message_id"]}))
        .await;
    let bodies: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["reply 1", "reply 2"], "{thread}");
    let rest: Value = expect_json(
        t.server
            .get(
                &format!(
                    "/v1/channels/{}/messages?replies_to={}",
                    t.channel, root["message_id"]
                ),
                Some(&t.bob.1),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 2);
    let mixed = ann.request(json!({"type": "history", "channel": t.channel, "replies_to": root["message_id"], "before_seq": 3})).await;
    assert_eq!(mixed["code"], "invalid_input");

    // An admin may read any channel's history.
    let admin_view: Value = expect_json(
        t.server
            .get(
                &format!("/v1/channels/{}/messages?limit=1", t.channel),
                Some(&t.admin),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(admin_view["messages"][0]["body"], "not in the thread");
}

async fn read_markers(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "销售周会 weekly", false).await;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    for i in 1..=3 {
        ann.say(t.channel, &format!("r-{i}"), &format!("unread {i}"))
            .await;
    }
    let mut laptop = WsClient::connect(&t.server, &t.bob.1).await;
    let mut phone = WsClient::connect(&t.server, &t.bob.1).await;
    let list = laptop.request(json!({"type": "channels"})).await;
    let summary = &list["channels"][0];
    assert_eq!(
        (
            summary["unread"].as_i64(),
            summary["last_seq"].as_i64(),
            summary["read_seq"].as_i64()
        ),
        (Some(3), Some(3), Some(0)),
        "{list}"
    );
    assert_eq!(summary["last_message"]["body"], "unread 3");

    // Reading on the phone clears the laptop's badge.
    let marked = phone
        .request(json!({"type": "mark_read", "channel": t.channel, "seq": 2}))
        .await;
    assert_eq!(
        (marked["read_seq"].as_i64(), marked["unread"].as_i64()),
        (Some(2), Some(1)),
        "{marked}"
    );
    let pushed = laptop.push().await;
    assert_eq!(
        pushed,
        json!({"type": "read_marker", "channel": t.channel, "read_seq": 2, "unread": 1})
    );
    // Markers never move back; past the end means "all read".
    let back = laptop
        .request(json!({"type": "mark_read", "channel": t.channel, "seq": 1}))
        .await;
    assert_eq!(back["read_seq"], 2);
    let all = laptop
        .request(json!({"type": "mark_read", "channel": t.channel, "seq": 999}))
        .await;
    assert_eq!(
        (all["read_seq"].as_i64(), all["unread"].as_i64()),
        (Some(3), Some(0))
    );
    // The sender's own messages never count as unread for the sender.
    let mine: Vec<Value> =
        expect_json(t.server.get("/v1/channels", Some(&t.ann.1)).await, 200).await;
    assert_eq!(mine[0]["unread"], 0, "{mine:?}");
    let bobs: Vec<Value> =
        expect_json(t.server.get("/v1/channels", Some(&t.bob.1)).await, 200).await;
    assert_eq!(bobs[0]["unread"], 0);
    // A recalled message stops counting as unread.
    let sent = ann.say(t.channel, "r-4", "oops").await;
    let before: Vec<Value> =
        expect_json(t.server.get("/v1/channels", Some(&t.bob.1)).await, 200).await;
    assert_eq!(before[0]["unread"], 1);
    ann.request(json!({"type": "recall", "channel": t.channel, "message_id": sent["message_id"]}))
        .await;
    let after: Vec<Value> =
        expect_json(t.server.get("/v1/channels", Some(&t.bob.1)).await, 200).await;
    assert_eq!(after[0]["unread"], 0);
    let cat = t.cat;
    let mut outsider = WsClient::connect(&t.server, &cat.1).await;
    let refused = outsider
        .request(json!({"type": "mark_read", "channel": t.channel, "seq": 1}))
        .await;
    assert_eq!(refused["code"], "not_member");
}

async fn receipts(backend: Backend) {
    let t = Team::new(
        Server::start_with(ServerOptions::backend(backend).env("PARLEY_HUB_SMALL_GROUP_MAX", "3"))
            .await,
        "销售周会 weekly",
        false,
    )
    .await;
    let add = t
        .server
        .post(
            &format!("/v1/channels/{}/members", t.channel),
            Some(&t.ann.1),
            &json!({"user_ids": [t.cat.0]}),
        )
        .await;
    assert_eq!(add.status(), 200);
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    let sent = ann.say(t.channel, "q-1", "周五前交报告").await;
    ann.push().await;
    let receipts = ann
        .request(
            json!({"type": "receipts", "channel": t.channel, "message_id": sent["message_id"]}),
        )
        .await;
    assert_eq!(
        (receipts["read_by"].as_i64(), receipts["of"].as_i64()),
        (Some(0), Some(2)),
        "{receipts}"
    );
    let not_read: Vec<i64> = receipts["not_read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(not_read.len(), 2);
    assert!(
        not_read.contains(&t.bob.0) && not_read.contains(&t.cat.0),
        "{receipts}"
    );

    // Bob reads: Ann sees it at once (a small channel), and the count follows.
    bob.request(json!({"type": "mark_read", "channel": t.channel, "seq": 1}))
        .await;
    let seen = ann.push().await;
    assert_eq!(
        seen,
        json!({"type": "member_read", "channel": t.channel, "user_id": t.bob.0, "read_seq": 1})
    );
    // Reading the same message again moves nothing, and nobody else is told.
    let again = bob
        .request(json!({"type": "mark_read", "channel": t.channel, "seq": 1}))
        .await;
    assert_eq!(again["read_seq"], 1, "{again}");
    ann.expect_no_push().await;
    let receipts = ann
        .request(
            json!({"type": "receipts", "channel": t.channel, "message_id": sent["message_id"]}),
        )
        .await;
    assert_eq!(
        (receipts["read_by"].as_i64(), receipts["of"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        receipts["not_read"],
        json!([{"user_id": t.cat.0, "name": "member user"}])
    );
    let state = bob
        .request(json!({"type": "read_state", "channel": t.channel}))
        .await;
    let markers: Vec<(i64, i64)> = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().unwrap(),
                m["read_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        markers.contains(&(t.bob.0, 1)) && markers.contains(&(t.ann.0, 0)) && markers.len() == 3,
        "{state}"
    );
    let rest: Value = expect_json(
        t.server
            .get(
                &format!(
                    "/v1/channels/{}/messages/{}/receipts",
                    t.channel, sent["message_id"]
                ),
                Some(&t.cat.1),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(rest["read_by"], 1);

    // An announcement: the poster sees the read rate and who has not read; members do not.
    let body = json!({"name": "全员通知", "kind": "announcement", "category": "department", "members": [t.ann.0, t.bob.0, t.cat.0]});
    let news: Value = expect_json(
        t.server.post("/v1/channels", Some(&t.admin), &body).await,
        201,
    )
    .await;
    let news = news["id"].as_i64().unwrap();
    let mut admin = WsClient::connect(&t.server, &t.admin).await;
    let posted = admin.say(news, "n-1", "系统维护：周六 22:00").await;
    let refused = bob
        .request(json!({"type": "send", "channel": news, "client_id": "b", "body": "me too"}))
        .await;
    assert_eq!(
        refused["code"], "forbidden",
        "members do not post in announcements: {refused}"
    );
    bob.request(json!({"type": "mark_read", "channel": news, "seq": 1}))
        .await;
    let rate = admin
        .request(json!({"type": "receipts", "channel": news, "message_id": posted["message_id"]}))
        .await;
    assert_eq!(
        (rate["read_by"].as_i64(), rate["of"].as_i64()),
        (Some(1), Some(3)),
        "{rate}"
    );
    assert_eq!(rate["not_read"].as_array().unwrap().len(), 2);
    let hidden = bob
        .request(json!({"type": "receipts", "channel": news, "message_id": posted["message_id"]}))
        .await;
    assert_eq!(hidden["code"], "forbidden", "{hidden}");
    let path = format!(
        "/v1/channels/{news}/messages/{}/receipts",
        posted["message_id"]
    );
    parley_tests::expect_error(t.server.get(&path, Some(&t.bob.1)).await, 403, "forbidden").await;
    // Four members is over this server's small-group limit: no read markers for everyone.
    let big = bob
        .request(json!({"type": "read_state", "channel": news}))
        .await;
    assert_eq!(big["code"], "forbidden", "{big}");
}
