//! Presence and typing over real WebSockets: devices aggregate, changes are coalesced and reach
//! only people who share a channel, idle devices turn away, typing is throttled and never
//! stored.

use parley_tests::{expect_json, on_both_backends, Backend, Server, ServerOptions, Team, WsClient};
use serde_json::{json, Value};
use std::time::Duration;

const RETRY: Duration = Duration::from_millis(100);

on_both_backends!(presence_and_typing);

/// A client that sees presence changes.
fn watching(mut client: WsClient) -> WsClient {
    client.skip_presence = false;
    client
}

fn presence_of(push: &Value) -> (i64, String) {
    assert_eq!(push["type"], "presence_changed", "{push}");
    (
        push["user_id"].as_i64().unwrap(),
        push["state"].as_str().unwrap().to_string(),
    )
}

async fn presence_and_typing(backend: Backend) {
    let p = Team::new(
        Server::start_with(
            ServerOptions::backend(backend).env("PARLEY_HUB_PRESENCE_COALESCE_MS", "100"),
        )
        .await,
        "值班 on call",
        false,
    )
    .await;
    let mut bob = watching(WsClient::connect(&p.server, &p.bob.1).await);
    let mut cat = watching(WsClient::connect(&p.server, &p.cat.1).await);

    let mut laptop = watching(WsClient::connect(&p.server, &p.ann.1).await);
    assert_eq!(presence_of(&bob.push().await), (p.ann.0, "online".into()));
    // Cat shares no channel with Ann: nothing, though the same announcement reached Bob.
    cat.expect_no_push().await;

    // A second device changes nothing others see; a status text does, once.
    let mut phone = watching(WsClient::connect(&p.server, &p.ann.1).await);
    let ok = phone
        .request(json!({"type": "set_presence", "status_text": "在会议中 in a meeting"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let text = bob.push().await;
    assert_eq!(presence_of(&text), (p.ann.0, "online".into()));
    assert_eq!(text["status_text"], "在会议中 in a meeting");

    // Do-not-disturb from one device covers the user; online clears it.
    laptop
        .request(json!({"type": "set_presence", "state": "dnd"}))
        .await;
    assert_eq!(presence_of(&bob.push().await), (p.ann.0, "dnd".into()));
    phone
        .request(json!({"type": "set_presence", "state": "online", "status_text": ""}))
        .await;
    let back = bob.push().await;
    assert_eq!(presence_of(&back), (p.ann.0, "online".into()));
    assert!(back.get("status_text").is_none(), "cleared: {back}");
    let refused = phone
        .request(json!({"type": "set_presence", "state": "offline"}))
        .await;
    assert_eq!(refused["code"], "invalid_input");

    // Asking: the users one may see, offline ones with last-seen; unknown ids are left out.
    let answer = bob
        .request(json!({"type": "presence", "users": [p.ann.0, p.cat.0, 999_999]}))
        .await;
    let users = answer["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{answer}");
    assert_eq!(
        (users[0]["user_id"].as_i64(), users[0]["state"].as_str()),
        (Some(p.ann.0), Some("online"))
    );
    assert_eq!(
        users[1]["state"], "online",
        "Cat is connected too: {answer}"
    );

    // Typing: the others see it, the typist's own devices do not; a burst sends one notice.
    laptop
        .request(json!({"type": "typing", "channel": p.channel}))
        .await;
    laptop
        .request(json!({"type": "typing", "channel": p.channel}))
        .await;
    laptop.say(p.channel, "t-1", "好的").await;
    let typing = bob.push().await;
    assert_eq!(
        typing,
        json!({"type": "typing", "channel": p.channel, "user_id": p.ann.0, "expires_in_ms": 5000})
    );
    assert_eq!(
        bob.push().await["type"],
        "message",
        "the second typing notice was throttled"
    );
    // (Ann may also hear Bob come online, if she connected within his coalescing window.)
    let mut next = laptop.push().await;
    while next["type"] == "presence_changed" && next["user_id"] == p.bob.0 {
        next = laptop.push().await;
    }
    assert_eq!(
        next["type"], "message",
        "no typing notice for the typist: {next}"
    );
    let outsider = cat
        .request(json!({"type": "typing", "channel": p.channel}))
        .await;
    assert_eq!(outsider["code"], "not_member");
    // Never stored: history has the message only.
    let page: Value = expect_json(
        p.server
            .get(
                &format!("/v1/channels/{}/messages", p.channel),
                Some(&p.bob.1),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);

    // All of Ann's devices leave: offline, with a last-seen time, for the people who share a channel.
    laptop.close().await;
    phone.close().await;
    let gone = bob.push().await;
    assert_eq!(presence_of(&gone), (p.ann.0, "offline".into()));
    assert!(gone["last_seen"].is_i64(), "{gone}");
    // Last-seen is written as the connection closes; give that write a moment under load.
    let mut remembered = false;
    for _ in 0..50 {
        let answer = bob
            .request(json!({"type": "presence", "users": [p.ann.0]}))
            .await;
        let user = &answer["users"][0];
        if user["state"] == "offline" && user["last_seen"].is_i64() {
            remembered = true;
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    assert!(remembered, "last-seen is kept after the user is gone");

    // A guest sees only people it shares a channel with.
    let (_, guest) = p.server.user_with_role(&p.admin, "guest", None).await;
    let mut guest = watching(WsClient::connect(&p.server, &guest).await);
    let hidden = guest
        .request(json!({"type": "presence", "users": [p.ann.0, p.bob.0]}))
        .await;
    assert_eq!(hidden["users"], json!([]), "{hidden}");
}

#[tokio::test]
async fn idle_devices_turn_away_and_come_back() {
    let p = Team::new(
        Server::start_with(
            ServerOptions::backend(Backend::Sqlite)
                .env("PARLEY_HUB_PRESENCE_COALESCE_MS", "100")
                .env("PARLEY_HUB_IDLE_SECS", "1"),
        )
        .await,
        "值班 on call",
        false,
    )
    .await;
    let mut bob = watching(WsClient::connect(&p.server, &p.bob.1).await);
    let mut ann = watching(WsClient::connect(&p.server, &p.ann.1).await);
    assert_eq!(presence_of(&bob.push().await), (p.ann.0, "online".into()));
    // Heartbeats keep the connection but are not activity: Ann turns away.
    ann.request(json!({"type": "ping"})).await;
    assert_eq!(presence_of(&bob.push().await), (p.ann.0, "away".into()));
    // Doing something brings her back.
    ann.request(json!({"type": "channels"})).await;
    assert_eq!(presence_of(&bob.push().await), (p.ann.0, "online".into()));
}
