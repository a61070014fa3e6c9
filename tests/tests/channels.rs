//! Pins, reactions, leaving and removing members, over real WebSockets and REST: each change is
//! an event in the channel's stream (so reconnects replay it), and a member who leaves stops
//! receiving the channel at once.

use parley_tests::{expect_error, expect_json, on_both_backends, Backend, Server, Team, WsClient};
use serde_json::{json, Value};

on_both_backends!(pins_and_reactions, leaving_and_removing);

async fn pins_and_reactions(backend: Backend) {
    let r = Team::new(Server::start(backend).await, "设计评审 design review", true).await;
    let mut ann = WsClient::connect(&r.server, &r.ann.1).await;
    let mut bob = WsClient::connect(&r.server, &r.bob.1).await;
    let first = ann.say(r.channel, "m-1", "方案 A").await;
    let second = ann.say(r.channel, "m-2", "方案 B").await;

    let liked = bob.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": "👍"})).await;
    assert_eq!(
        (liked["type"].as_str(), liked["seq"].as_i64()),
        (Some("done"), Some(3)),
        "{liked}"
    );
    let event = ann.next_of("reaction_changed").await;
    assert_eq!(
        event,
        json!({"type": "reaction_changed", "channel": r.channel, "seq": 3, "message_id": first["message_id"],
                             "user_id": r.bob.0, "emoji": "👍", "added": true})
    );
    // The same reaction again changes nothing and takes no sequence.
    let again = bob.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": "👍"})).await;
    assert_eq!(again["seq"], 3);
    ann.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": "🎉"})).await;
    let pinned = ann
        .request(json!({"type": "pin", "channel": r.channel, "message_id": second["message_id"]}))
        .await;
    assert_eq!(pinned["seq"], 5, "{pinned}");
    let event = bob.next_of("message_pinned").await;
    assert_eq!(
        (event["pinned"].as_bool(), event["by"].as_i64()),
        (Some(true), Some(r.ann.0))
    );
    bob.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": "👍", "added": false})).await;

    // History and the pin list show the state now.
    bob.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": "👀"})).await;
    let page: Value = expect_json(
        r.server
            .get(
                &format!("/v1/channels/{}/messages", r.channel),
                Some(&r.cat.1),
            )
            .await,
        200,
    )
    .await;
    let reactions = &page["messages"][0]["reactions"];
    assert_eq!(
        reactions,
        &json!([{"emoji": "🎉", "users": [r.ann.0]}, {"emoji": "👀", "users": [r.bob.0]}]),
        "{page}"
    );
    assert!(page["messages"][1]["pinned_at"].is_i64());
    let pins = bob
        .request(json!({"type": "pins", "channel": r.channel}))
        .await;
    assert_eq!(pins["messages"][0]["id"], second["message_id"], "{pins}");
    let rest: Vec<Value> = expect_json(
        r.server
            .get(&format!("/v1/channels/{}/pins", r.channel), Some(&r.cat.1))
            .await,
        200,
    )
    .await;
    assert_eq!(rest.len(), 1);

    // A device that was away replays the pins and reactions in order.
    let mut cat = WsClient::connect_resuming(
        &r.server,
        &r.cat.1,
        json!([{"channel": r.channel, "seq": 2}]),
    )
    .await;
    let missed = cat.pushes(5).await;
    let kinds: Vec<(&str, i64)> = missed
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["seq"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("reaction_changed", 3),
            ("reaction_changed", 4),
            ("message_pinned", 5),
            ("reaction_changed", 6),
            ("reaction_changed", 7)
        ]
    );
    assert_eq!(
        (missed[3]["emoji"].as_str(), missed[3]["added"].as_bool()),
        (Some("👍"), Some(false))
    );

    for bad in ["", "a b", "too-long-to-be-an-emoji-by-any-measure-at-all"] {
        let refused = bob.request(json!({"type": "react", "channel": r.channel, "message_id": first["message_id"], "emoji": bad})).await;
        assert_eq!(refused["code"], "invalid_input", "{bad:?}: {refused}");
    }
    ann.request(
        json!({"type": "recall", "channel": r.channel, "message_id": second["message_id"]}),
    )
    .await;
    let on_recalled = bob.request(json!({"type": "react", "channel": r.channel, "message_id": second["message_id"], "emoji": "👍"})).await;
    assert_eq!(on_recalled["code"], "conflict");

    // In an announcement channel members react but do not pin.
    let body = json!({"name": "通知", "kind": "announcement", "category": "department", "members": [r.bob.0]});
    let news: Value = expect_json(
        r.server.post("/v1/channels", Some(&r.admin), &body).await,
        201,
    )
    .await;
    let news = news["id"].as_i64().unwrap();
    let mut admin = WsClient::connect(&r.server, &r.admin).await;
    let posted = admin.say(news, "n", "周五团建").await;
    let reacted = bob.request(json!({"type": "react", "channel": news, "message_id": posted["message_id"], "emoji": "✅"})).await;
    assert_eq!(reacted["type"], "done", "{reacted}");
    let pin = bob
        .request(json!({"type": "pin", "channel": news, "message_id": posted["message_id"]}))
        .await;
    assert_eq!(pin["code"], "forbidden");
}

async fn leaving_and_removing(backend: Backend) {
    let r = Team::new(Server::start(backend).await, "设计评审 design review", true).await;
    let mut ann = WsClient::connect(&r.server, &r.ann.1).await;
    let mut bob = WsClient::connect(&r.server, &r.bob.1).await;
    let mut cat = WsClient::connect(&r.server, &r.cat.1).await;
    let path = |user: i64| format!("/v1/channels/{}/members/{user}", r.channel);

    // Only the creator (or an admin) removes others.
    let refused = r
        .server
        .request(reqwest::Method::DELETE, &path(r.cat.0), Some(&r.bob.1))
        .send()
        .await
        .unwrap();
    expect_error(refused, 403, "forbidden").await;
    let removed = r
        .server
        .request(reqwest::Method::DELETE, &path(r.cat.0), Some(&r.ann.1))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        cat.push().await,
        json!({"type": "channel_left", "channel": r.channel})
    );
    ann.say(r.channel, "a-1", "cat is gone").await;
    assert_eq!(bob.next_of("message").await["seq"], 1);
    cat.expect_no_push().await;
    let shut_out = cat
        .request(json!({"type": "send", "channel": r.channel, "client_id": "c", "body": "hello?"}))
        .await;
    assert_eq!(shut_out["code"], "not_member");
    let again = r
        .server
        .request(reqwest::Method::DELETE, &path(r.cat.0), Some(&r.ann.1))
        .send()
        .await
        .unwrap();
    expect_error(again, 404, "not_found").await;

    // Added back: told at once, and receiving again.
    let add = r
        .server
        .post(
            &format!("/v1/channels/{}/members", r.channel),
            Some(&r.ann.1),
            &json!({"user_ids": [r.cat.0]}),
        )
        .await;
    assert_eq!(add.status(), 200);
    let joined = cat.push().await;
    assert_eq!(
        (joined["type"].as_str(), joined["channel"]["id"].as_i64()),
        (Some("channel_joined"), Some(r.channel)),
        "{joined}"
    );
    ann.say(r.channel, "a-2", "welcome back").await;
    assert_eq!(
        cat.next_of("message").await["message"]["body"],
        "welcome back"
    );

    // Anyone may leave.
    let left = bob
        .request(json!({"type": "leave", "channel": r.channel}))
        .await;
    assert_eq!(left["type"], "ok", "{left}");
    assert_eq!(bob.next_of("channel_left").await["channel"], r.channel);
    let list: Vec<Value> =
        expect_json(r.server.get("/v1/channels", Some(&r.bob.1)).await, 200).await;
    assert!(
        list.iter().all(|c| c["channel"]["id"] != r.channel),
        "{list:?}"
    );
    ann.say(r.channel, "a-3", "bob left").await;
    bob.expect_no_push().await;

    // A direct channel keeps its two members.
    let body =
        json!({"name": "ann-cat", "kind": "direct", "category": "temporary", "members": [r.cat.0]});
    let direct: Value = expect_json(
        r.server.post("/v1/channels", Some(&r.ann.1), &body).await,
        201,
    )
    .await;
    let leave_direct = cat
        .request(json!({"type": "leave", "channel": direct["id"]}))
        .await;
    assert_eq!(leave_direct["code"], "conflict", "{leave_direct}");
}
