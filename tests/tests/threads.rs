//! Threads over the real binary on SQLite and PostgreSQL: a reply kept in its thread is marked
//! so, counted on its first message (in history and after a reconnect), read back as the thread,
//! and threads stay one level deep.

use parley_tests::{on_both_backends, Backend, Server, Team, WsClient};
use serde_json::{json, Value};

on_both_backends!(a_reply_kept_in_its_thread_is_counted_on_its_first_message);

async fn a_reply_kept_in_its_thread_is_counted_on_its_first_message(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "评审 Review", false).await;
    let c = t.channel;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    let root = ann.say(c, "root-1", "明天 10 点评审？").await;
    let root_id = root["message_id"].as_i64().expect("id");

    // Bob answers in the thread; Ann answers and also sends it to the channel.
    let reply = bob
        .request(
            json!({"type": "send", "channel": c, "client_id": "t-1", "body": "好的",
            "reply_to": root_id, "thread_only": true}),
        )
        .await;
    assert_eq!(reply["type"], "sent", "{reply}");
    let heard = message_with(&mut ann, reply["message_id"].clone()).await;
    assert_eq!(heard["message"]["thread_only"], true, "{heard}");
    assert_eq!(heard["message"]["reply_to"], root_id);
    let also = ann
        .request(
            json!({"type": "send", "channel": c, "client_id": "t-2", "body": "材料已发",
            "reply_to": root_id}),
        )
        .await;
    assert_eq!(also["type"], "sent", "{also}");
    let shown = message_with(&mut bob, also["message_id"].clone()).await;
    assert!(shown["message"].get("thread_only").is_none(), "{shown}");

    // The first message counts both; the thread reads back oldest first.
    let page = ann
        .request(json!({"type": "history", "channel": c, "limit": 10}))
        .await;
    let messages = page["messages"].as_array().expect("messages");
    let first = messages.iter().find(|m| m["id"] == root_id).expect("root");
    assert_eq!(first["reply_count"], 2, "{first}");
    assert!(messages
        .iter()
        .all(|m| m["id"] == root_id || m.get("reply_count").is_none()));
    let thread = ann
        .request(json!({"type": "history", "channel": c, "replies_to": root_id}))
        .await;
    let bodies: Vec<&str> = thread["messages"]
        .as_array()
        .expect("thread")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(bodies, ["好的", "材料已发"]);

    // One level deep: no thread under a thread reply; thread_only needs a first message.
    let reply_id = reply["message_id"].as_i64().expect("id");
    for bad in [
        json!({"type": "send", "channel": c, "client_id": "t-3", "body": "x", "reply_to": reply_id, "thread_only": true}),
        json!({"type": "send", "channel": c, "client_id": "t-4", "body": "x", "thread_only": true}),
    ] {
        let refused: Value = bob.request(bad).await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["code"], "invalid_input", "{refused}");
    }
    // Over REST too.
    let rest: Value = parley_tests::expect_json(
        t.server
            .get(
                &format!("/v1/channels/{c}/messages?limit=10"),
                Some(&t.bob.1),
            )
            .await,
        200,
    )
    .await;
    let first = rest["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == root_id)
        .cloned()
        .expect("root");
    assert_eq!(first["reply_count"], 2);
}

/// The next `message` event of message `id` (passing over the others).
async fn message_with(ws: &mut WsClient, id: Value) -> Value {
    loop {
        let event = ws.next_of("message").await;
        if event["message"]["id"] == id {
            return event;
        }
    }
}
