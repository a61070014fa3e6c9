//! Calls from a channel, over the real binary on SQLite and PostgreSQL: the channel's members
//! hear that its meeting started and how many are in it (`channel_call`), and read it with
//! `GET /v1/channels/{id}/calls`; a member rings another into the meeting, who accepts and
//! joins; a ring nobody takes ends as missed, once, with one missed-call message in the channel,
//! also when the server was killed while it rang; the caller hangs up; strangers and late
//! answers are refused with their codes.

use parley_tests::rtc::RtcClient;
use parley_tests::{
    expect_error, expect_json, on_both_backends, Backend, Server, ServerOptions, Team, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    a_member_rings_another_into_the_channels_meeting_and_everyone_sees_it_live,
    a_ring_nobody_takes_leaves_one_missed_call_even_across_a_restart
);

async fn a_member_rings_another_into_the_channels_meeting_and_everyone_sees_it_live(
    backend: Backend,
) {
    let t = Team::new(Server::start(backend).await, "值班 On call", true).await;
    let c = t.channel;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    let mut cat = WsClient::connect(&t.server, &t.cat.1).await;
    assert_eq!(
        expect_json::<Value>(
            t.server
                .get(&format!("/v1/channels/{c}/calls"), Some(&t.cat.1))
                .await,
            200
        )
        .await,
        json!([]),
        "no call yet"
    );

    // Ann rings Bob: the meeting opens, Bob's devices ring, Cat's do not.
    let ring: Value = expect_json(
        start_ring(&t, &t.ann.1, json!({"user_ids": [t.bob.0]})).await,
        201,
    )
    .await;
    let room = format!("meeting-{c}");
    assert_eq!(ring["room"], room.as_str());
    assert_eq!(ring["callees"], json!([{"user_id": t.bob.0}]));
    assert!(ring.get("ended_at").is_none(), "{ring}");
    let id = ring["id"].as_i64().expect("ring id");
    let rung = bob.next_of("ring").await;
    assert_eq!(rung["ring"]["id"], id);
    assert_eq!(rung["ring"]["caller"], t.ann.0);
    let started = cat.next_of("channel_call").await;
    assert_eq!(started["channel"], c);
    assert_eq!(started["room"]["name"], room.as_str());
    assert_eq!(started["room"]["num_participants"], 0);

    // Ann joins: everyone in the channel sees one person in the meeting.
    let ann_in = RtcClient::join_room(&t.server, &t.ann.1, &room).await;
    let live = cat.next_of("channel_call").await;
    assert_eq!(live["room"]["num_participants"], 1, "{live}");
    let calls: Value = expect_json(
        t.server
            .get(&format!("/v1/channels/{c}/calls"), Some(&t.cat.1))
            .await,
        200,
    )
    .await;
    assert_eq!(calls[0]["name"], room.as_str());
    assert_eq!(calls[0]["num_participants"], 1);

    // Cat was not rung: she cannot answer. Bob accepts, and the ring ends answered.
    let path = format!("/v1/rings/{id}/answer");
    let response = t
        .server
        .post(&path, Some(&t.cat.1), &json!({"accept": true}))
        .await;
    expect_error(response, 404, "not_found").await;
    let answered: Value = expect_json(
        t.server
            .post(&path, Some(&t.bob.1), &json!({"accept": true}))
            .await,
        200,
    )
    .await;
    assert_eq!(answered["callees"][0]["answer"], "accepted");
    assert_eq!(answered["end_reason"], "answered");
    let update = bob.next_of("ring_updated").await;
    assert_eq!(update["ring"]["end_reason"], "answered");
    let again = t
        .server
        .post(&path, Some(&t.bob.1), &json!({"accept": false}))
        .await;
    expect_error(again, 409, "conflict").await;
    let bob_in = RtcClient::join_room(&t.server, &t.bob.1, &room).await;
    assert_eq!(
        cat.next_of("channel_call").await["room"]["num_participants"],
        2
    );
    // Leaving (not a dropped connection, which keeps its place for a resume) counts down.
    let mut ann_in = ann_in;
    ann_in.send(json!({"type": "leave"})).await;
    assert_eq!(
        cat.next_of("channel_call").await["room"]["num_participants"],
        1
    );
    drop(bob_in);

    // Nobody else, too many, or nobody at all: refused.
    let outsider = t.server.user_with_role(&t.admin, "member", None).await;
    for body in [
        json!({"user_ids": [outsider.0]}),
        json!({"user_ids": [t.ann.0]}),
    ] {
        let response = start_ring(&t, &t.ann.1, body).await;
        expect_error(response, 422, "invalid_input").await;
    }
    let response = start_ring(&t, &outsider.1, json!({})).await;
    assert_eq!(
        response.status(),
        403,
        "an outsider cannot ring the channel"
    );
    // A ring is visible to its people only.
    expect_error(
        t.server
            .get(&format!("/v1/rings/{id}"), Some(&outsider.1))
            .await,
        404,
        "not_found",
    )
    .await;
    // No missed-call message: the ring was answered.
    assert_eq!(missed_calls(&t, id).await, 0);
}

async fn a_ring_nobody_takes_leaves_one_missed_call_even_across_a_restart(backend: Backend) {
    let options = ServerOptions::backend(backend).env("PARLEY_RTC_RING_SECS", "10");
    let mut t = Team::new(Server::start_with(options).await, "夜班 Night shift", true).await;
    let c = t.channel;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;

    // Ann rings everyone else; Cat declines, Bob never answers.
    let ring: Value = expect_json(start_ring(&t, &t.ann.1, json!({})).await, 201).await;
    let id = ring["id"].as_i64().expect("ring id");
    assert_eq!(ring["callees"].as_array().expect("callees").len(), 2);
    assert_eq!(bob.next_of("ring").await["ring"]["id"], id);
    let declined: Value = expect_json(
        t.server
            .post(
                &format!("/v1/rings/{id}/answer"),
                Some(&t.cat.1),
                &json!({"accept": false}),
            )
            .await,
        200,
    )
    .await;
    assert!(declined.get("ended_at").is_none(), "Bob still rings");
    assert_eq!(
        ann.next_of("ring_updated").await["ring"]["callees"][1]["answer"],
        "declined"
    );
    // Ten seconds after it started it ends as missed, for the caller and the callees (long
    // enough that a busy machine answers the decline first).
    let ended = ended_ring(&mut ann).await;
    assert_eq!(ended["end_reason"], "missed", "{ended}");
    let heard = ended_ring(&mut bob).await;
    assert_eq!(heard["end_reason"], "missed", "{heard}");
    // One missed-call message in the channel, in Ann's name, mentioning who was rung.
    let message = bob.next_of("message").await;
    assert_eq!(message["message"]["sender"], t.ann.0);
    assert_eq!(message["message"]["action"]["kind"], "missed_call");
    assert_eq!(message["message"]["action"]["ring"], id);
    assert!(message["message"]["mentions"]
        .as_array()
        .expect("mentions")
        .contains(&json!(t.bob.0)));
    let late = t
        .server
        .post(
            &format!("/v1/rings/{id}/answer"),
            Some(&t.bob.1),
            &json!({"accept": true}),
        )
        .await;
    expect_error(late, 409, "conflict").await;
    assert_eq!(missed_calls(&t, id).await, 1);
    // Nobody forges one.
    let forged = bob
        .request(
            json!({"type": "send", "channel": c, "client_id": "forged-1", "body": "missed",
            "action": {"kind": "missed_call", "ring": id}}),
        )
        .await;
    assert_eq!(forged["type"], "error", "{forged}");
    assert_eq!(forged["code"], "invalid_input", "{forged}");

    // The caller hangs up before anyone answers: cancelled, and missed for the callees.
    let ring: Value = expect_json(
        start_ring(&t, &t.ann.1, json!({"user_ids": [t.bob.0]})).await,
        201,
    )
    .await;
    let hung_up = ring["id"].as_i64().expect("ring id");
    // Nobody is rung twice over (Cat, who is not rung now, may be).
    let twice = start_ring(&t, &t.ann.1, json!({"user_ids": [t.bob.0]})).await;
    expect_error(twice, 409, "conflict").await;
    let other: Value = expect_json(
        start_ring(&t, &t.ann.1, json!({"user_ids": [t.cat.0]})).await,
        201,
    )
    .await;
    let other = other["id"].as_i64().expect("ring id");
    expect_json::<Value>(hang_up(&t, &t.ann.1, other).await, 200).await;
    expect_error(hang_up(&t, &t.bob.1, hung_up).await, 404, "not_found").await;
    let cancelled: Value = expect_json(hang_up(&t, &t.ann.1, hung_up).await, 200).await;
    assert_eq!(cancelled["end_reason"], "cancelled");
    assert_eq!(missed_calls(&t, hung_up).await, 1);

    // A ring whose server is killed while it rings still ends, once, after the restart.
    let ring: Value = expect_json(
        start_ring(&t, &t.ann.1, json!({"user_ids": [t.cat.0]})).await,
        201,
    )
    .await;
    let orphan = ring["id"].as_i64().expect("ring id");
    drop((ann, bob));
    t.server.kill_and_restart().await;
    // Its timer died with the server: the restarted server's sweep ends it.
    let server = &t.server;
    let token = t.cat.1.clone();
    let ended = parley_tests::eventually(120, std::time::Duration::from_millis(250), || {
        let token = token.clone();
        async move {
            let ring: Value = expect_json(
                server
                    .get(&format!("/v1/rings/{orphan}"), Some(&token))
                    .await,
                200,
            )
            .await;
            ring.get("ended_at").is_some().then_some(ring)
        }
    })
    .await
    .expect("the sweep ends the ring within 30 s of the restart");
    assert_eq!(ended["end_reason"], "missed");
    // The sweep writes the missed-call message just after it ends the ring.
    let t = &t;
    let missed =
        parley_tests::eventually(40, std::time::Duration::from_millis(250), || async move {
            let n = missed_calls(t, orphan).await;
            (n > 0).then_some(n)
        })
        .await
        .expect("the sweep leaves the missed-call message");
    assert_eq!(missed, 1);
}

/// `POST /v1/channels/{id}/ring` in the team's channel.
async fn start_ring(t: &Team, token: &str, body: Value) -> reqwest::Response {
    let path = format!("/v1/channels/{}/ring", t.channel);
    t.server.post(&path, Some(token), &body).await
}

/// `DELETE /v1/rings/{id}`: hang up.
async fn hang_up(t: &Team, token: &str, id: i64) -> reqwest::Response {
    t.server
        .request(Method::DELETE, &format!("/v1/rings/{id}"), Some(token))
        .send()
        .await
        .expect("DELETE")
}

/// The next `ring_updated` that says the ring ended (passing over answers).
async fn ended_ring(ws: &mut WsClient) -> Value {
    loop {
        let update = ws.next_of("ring_updated").await;
        if update["ring"].get("ended_at").is_some() {
            return update["ring"].clone();
        }
    }
}

/// How many missed-call messages the channel holds for ring `id`.
async fn missed_calls(t: &Team, id: i64) -> usize {
    let page: Value = expect_json(
        t.server
            .get(
                &format!("/v1/channels/{}/messages?limit=100", t.channel),
                Some(&t.ann.1),
            )
            .await,
        200,
    )
    .await;
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["action"]["kind"] == "missed_call" && m["action"]["ring"] == id)
        .count()
}
