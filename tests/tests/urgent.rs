//! Urgent pings end to end: reminders through do-not-disturb until each recipient
//! acknowledges, a live roster for the sender, pending pings on connect, a schedule that
//! survives a SIGKILL, and a signed escalation webhook for those who never answer.

use parley_tests::{eventually, on_both_backends, Backend, Server, ServerOptions, Team, WsClient};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    urgent_pings_remind_until_acknowledged,
    pings_survive_a_restart,
    unacknowledged_recipients_are_escalated_with_a_signed_webhook
);

/// The cast, with reminders looked for every 100 ms.
async fn crew(options: ServerOptions) -> Team {
    Team::new(
        Server::start_with(options.env("PARLEY_URGENT_POLL_MS", "100")).await,
        "机房应急 incident",
        true,
    )
    .await
}

/// An emergency channel: remind every second.
async fn emergency(c: &Team) {
    let path = format!("/v1/channels/{}", c.channel);
    let set = c
        .server
        .request(reqwest::Method::PATCH, &path, Some(&c.ann.1))
        .json(&json!({"urgent_every_secs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let refused = c
        .server
        .request(reqwest::Method::PATCH, &path, Some(&c.bob.1))
        .json(&json!({"urgent_every_secs": 1}))
        .send()
        .await
        .unwrap();
    parley_tests::expect_error(refused, 403, "forbidden").await;
}

fn roster_state(roster: &Value, user: i64) -> (String, i64) {
    let entry = roster["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == user)
        .unwrap();
    (
        entry["state"].as_str().unwrap().to_string(),
        entry["reminders"].as_i64().unwrap(),
    )
}

async fn urgent_pings_remind_until_acknowledged(backend: Backend) {
    let c = crew(ServerOptions::backend(backend)).await;
    emergency(&c).await;
    let mut ann = WsClient::connect(&c.server, &c.ann.1).await;
    let mut bob = WsClient::connect(&c.server, &c.bob.1).await;
    bob.request(json!({"type": "set_presence", "state": "dnd"}))
        .await;

    let refused = ann.request(json!({"type": "send", "channel": c.channel, "client_id": "n", "body": "x", "ack_requested": true})).await;
    assert_eq!(
        refused["code"], "invalid_input",
        "acknowledgement needs important or urgent: {refused}"
    );

    let sent = ann
        .request(json!({"type": "send", "channel": c.channel, "client_id": "u-1", "body": "主机房断电，全员到桥 power loss, join the bridge",
                        "priority": "urgent", "ack_requested": true, "action": {"kind": "join_bridge", "room": "outage-42"}}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let message_id = sent["message_id"].clone();
    let event = bob.next_of("message").await;
    assert_eq!(event["message"]["priority"], "urgent");
    assert_eq!(event["message"]["ack_requested"], true);
    assert_eq!(
        event["message"]["action"],
        json!({"kind": "join_bridge", "room": "outage-42"})
    );

    // Bob was connected, so it reached him; Cat was not.
    let update = ann.next_of("ping_update").await;
    assert_eq!(
        (
            update["recipient"]["user_id"].as_i64(),
            update["recipient"]["state"].as_str()
        ),
        (Some(c.bob.0), Some("delivered"))
    );
    let roster = ann
        .request(json!({"type": "roster", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(roster_state(&roster, c.bob.0).0, "delivered");
    assert_eq!(roster_state(&roster, c.cat.0).0, "offline");
    let hidden = bob
        .request(json!({"type": "roster", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(hidden["code"], "forbidden", "{hidden}");

    // Reminders reach Bob through do-not-disturb.
    let reminder = bob.next_of("ping_reminder").await;
    assert_eq!(reminder["message"]["id"], message_id);
    assert!(reminder["reminder"].as_i64().unwrap() >= 1);

    // Cat connects: the pending ping is there at once, and the sender sees it delivered.
    let mut cat = WsClient::connect(&c.server, &c.cat.1).await;
    let pending = cat.next_of("pending_pings").await;
    assert_eq!(pending["pings"][0]["id"], message_id);
    let update = ann.next_of("ping_update").await;
    assert_eq!(
        (
            update["recipient"]["user_id"].as_i64(),
            update["recipient"]["state"].as_str()
        ),
        (Some(c.cat.0), Some("delivered"))
    );

    // Bob acknowledges; the sender sees it live; acknowledging again changes nothing.
    let acked = bob
        .request(json!({"type": "ack", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(acked["type"], "acked", "{acked}");
    let update = ann.next_of("ping_update").await;
    assert_eq!(
        (
            update["recipient"]["user_id"].as_i64(),
            update["recipient"]["state"].as_str()
        ),
        (Some(c.bob.0), Some("acked"))
    );
    let again = bob
        .request(json!({"type": "ack", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(again["acked_at"], acked["acked_at"]);
    let not_mine = ann
        .request(json!({"type": "ack", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(not_mine["code"], "not_found");

    // Cat keeps being reminded; Bob's reminders stopped at his acknowledgement.
    let before = ann
        .request(json!({"type": "roster", "channel": c.channel, "message_id": message_id}))
        .await;
    let (bob_state, bob_reminders) = roster_state(&before, c.bob.0);
    assert_eq!(bob_state, "acked");
    let (_, cat_before) = roster_state(&before, c.cat.0);
    // Wait for a reminder sent after that roster was read: a later pass of the schedule.
    loop {
        let reminder = cat.next_of("ping_reminder").await;
        if reminder["reminder"].as_i64().unwrap() > cat_before {
            break;
        }
    }
    let after = ann
        .request(json!({"type": "roster", "channel": c.channel, "message_id": message_id}))
        .await;
    assert!(roster_state(&after, c.cat.0).1 > cat_before, "{after}");
    assert_eq!(
        roster_state(&after, c.bob.0).1,
        bob_reminders,
        "no reminders after the acknowledgement: {after}"
    );

    // Removed from the channel, Cat is no longer waited for.
    let removed = c
        .server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/channels/{}/members/{}", c.channel, c.cat.0),
            Some(&c.ann.1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let mut cat_removed = WsClient::connect(&c.server, &c.cat.1).await;
    cat_removed.expect_no_push().await;

    // Recalling the ping ends it for everyone.
    ann.request(json!({"type": "recall", "channel": c.channel, "message_id": message_id}))
        .await;
    let mut cat_again = WsClient::connect(&c.server, &c.cat.1).await;
    cat_again.expect_no_push().await;
}

async fn pings_survive_a_restart(backend: Backend) {
    let mut c = crew(ServerOptions::backend(backend)).await;
    emergency(&c).await;
    let mut ann = WsClient::connect(&c.server, &c.ann.1).await;
    let sent = ann
        .request(json!({"type": "send", "channel": c.channel, "client_id": "u-1", "body": "@bob 请确认", "mentions": [c.bob.0, c.bob.0],
                        "priority": "urgent", "ack_requested": true}))
        .await;
    let message_id = sent["message_id"].clone();
    drop(ann);

    c.server.kill_and_restart().await;

    // After the restart Bob still has it waiting, and the reminders go on.
    let mut bob = WsClient::connect(&c.server, &c.bob.1).await;
    let pending = bob.next_of("pending_pings").await;
    assert_eq!(
        pending["pings"].as_array().unwrap().len(),
        1,
        "only Bob was asked: {pending}"
    );
    assert_eq!(pending["pings"][0]["id"], message_id);
    let reminder = bob.next_of("ping_reminder").await;
    assert_eq!(reminder["message"]["id"], message_id);
    bob.request(json!({"type": "ack", "channel": c.channel, "message_id": message_id}))
        .await;
    let mut cat = WsClient::connect(&c.server, &c.cat.1).await;
    cat.expect_no_push().await;
    let mut ann = WsClient::connect(&c.server, &c.ann.1).await;
    let roster = ann
        .request(json!({"type": "roster", "channel": c.channel, "message_id": message_id}))
        .await;
    assert_eq!(roster["recipients"].as_array().unwrap().len(), 1);
    assert_eq!(roster_state(&roster, c.bob.0).0, "acked");
}

async fn unacknowledged_recipients_are_escalated_with_a_signed_webhook(backend: Backend) {
    let secret = "a-shared-webhook-secret";
    let (url, mut calls) = parley_tests::webhook_receiver(vec![500, 200]).await;
    let c = crew(
        ServerOptions::backend(backend)
            .env("PARLEY_URGENT_ESCALATION_URL", url)
            .env("PARLEY_URGENT_ESCALATION_SECRET", secret)
            .env("PARLEY_URGENT_ESCALATE_AFTER_SECS", "1"),
    )
    .await;
    let mut ann = WsClient::connect(&c.server, &c.ann.1).await;
    let mut bob = WsClient::connect(&c.server, &c.bob.1).await;
    let sent = ann
        .request(
            json!({"type": "send", "channel": c.channel, "client_id": "i-1", "body": "请确认收到",
                        "priority": "important", "ack_requested": true}),
        )
        .await;
    // Bob answers at once; Cat never does.
    let event = bob.next_of("message").await;
    bob.request(json!({"type": "ack", "channel": c.channel, "message_id": event["message"]["id"]}))
        .await;

    // The first call is refused and retried; both carry a valid signature for Cat.
    for _ in 0..2 {
        let (head, body) = tokio::time::timeout(Duration::from_secs(20), calls.recv())
            .await
            .expect("an escalation")
            .unwrap();
        let payload = parley_tests::verified_body(&head, &body, secret);
        assert_eq!(payload["event"], "urgent_ping.unacknowledged");
        assert_eq!(payload["message_id"], sent["message_id"]);
        assert_eq!(
            payload["recipient"]["user_id"], c.cat.0,
            "only Cat, who never acknowledged: {payload}"
        );
        assert_eq!(payload["body"], "请确认收到");
    }
    let counted = eventually(50, Duration::from_millis(100), || async {
        let text = c.server.get("/metrics", None).await.text().await.unwrap();
        text.lines()
            .any(|l| l == "parley_urgent_escalations_total 1")
            .then_some(())
    })
    .await;
    assert!(counted.is_some(), "one recipient escalated, once");
}
