//! Issue 18's meeting defects, each pinned by a client doing what an attacker (or a careless
//! app) would: taking a channel's room before the channel does, staying in a meeting after
//! the API key that let it in was revoked, joining any room (or hiding) with a loose grant.

use parley_tests::rtc::{App, RtcClient};
use parley_tests::{expect_error, expect_json, parley_command, Backend, Server, Team};
use serde_json::{json, Value};

async fn start() -> Server {
    Server::start(Backend::Sqlite).await
}

/// `POST /v1/channels/{channel}/bridge` with `body` as `token`; the 201 answer.
async fn open_bridge(server: &Server, channel: i64, token: &str, body: Value) -> Value {
    expect_json(
        server
            .post(
                &format!("/v1/channels/{channel}/bridge"),
                Some(token),
                &body,
            )
            .await,
        201,
    )
    .await
}

/// Send `join` and return the error it is refused with (the server then closes).
async fn refused_join(server: &Server, join: Value) -> Value {
    let mut client = RtcClient::open(server).await;
    client.send(join).await;
    let reply = client.recv().await;
    assert_eq!(reply["type"], "error", "the join was let in: {reply}");
    assert!(
        client.try_recv().await.is_none(),
        "the server closes after a refused join"
    );
    reply
}

/// A user's own token joining `room`.
async fn user_join_refused(server: &Server, token: &str, room: &str) -> Value {
    refused_join(
        server,
        json!({"type": "join", "id": "j", "token": token, "room": room}),
    )
    .await
}

/// Issue 18: any member could join `bridge-<id>` or `meeting-<id>` over `/v1/rtc` before the
/// channel did, creating an unlinked room; the channel's `POST .../bridge` then answered 409
/// and the emergency bridge could not open.
#[tokio::test]
async fn a_channels_meeting_and_bridge_cannot_be_squatted_before_the_channel_opens_them() {
    let team = Team::new(start().await, "squat", false).await;
    let server = &team.server;
    let meeting = format!("meeting-{}", team.channel);
    let bridge = format!("bridge-{}", team.channel);

    // A member of the channel, someone outside it, and an app with a token for the name all
    // try to open the channel's rooms first.
    let (_, outsider) = server.user_with_role(&team.admin, "member", None).await;
    for token in [&team.bob.1, &team.cat.1, &outsider] {
        for room in [&meeting, &bridge] {
            let refused = user_join_refused(server, token, room).await;
            assert_eq!(refused["code"], "room_name_reserved", "{room}: {refused}");
            assert_eq!(refused["id"], "j");
        }
    }
    let app = App::register(server).await;
    for room in [&meeting, &bridge] {
        let token = app.participant("squatter", room);
        let refused =
            refused_join(server, json!({"type": "join", "id": "j", "token": token})).await;
        assert_eq!(refused["code"], "room_name_reserved", "{refused}");
    }
    // Nor does the room service open them, linked to the channel or not.
    for body in [
        json!({"name": bridge}),
        json!({"name": bridge, "channel_id": team.channel, "bridge": {}}),
        json!({"name": meeting, "channel_id": team.channel}),
    ] {
        expect_error(
            server.post("/v1/rooms", Some(&team.admin), &body).await,
            403,
            "room_name_reserved",
        )
        .await;
        expect_error(
            server
                .post("/v1/rooms", Some(&app.room_admin()), &body)
                .await,
            403,
            "room_name_reserved",
        )
        .await;
    }

    // The channel's own calls open both, linked to it.
    let opened = open_bridge(server, team.channel, &team.ann.1, json!({})).await;
    assert_eq!(opened["room"]["name"], bridge.as_str());
    assert_eq!(opened["room"]["channel_id"], team.channel);
    assert_eq!(opened["room"]["bridge"]["max_speakers"], 3);
    let room: Value = expect_json(
        server
            .post(
                &format!("/v1/channels/{}/meeting", team.channel),
                Some(&team.ann.1),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(room["name"], meeting.as_str());
    assert_eq!(room["channel_id"], team.channel);

    // Bob, a member, now joins both with his own token; Cat, not a member, still cannot.
    for name in [&meeting, &bridge] {
        let bob = RtcClient::join_room(server, &team.bob.1, name).await;
        assert_eq!(bob.joined["room"]["channel_id"], team.channel, "{name}");
        let refused = user_join_refused(server, &team.cat.1, name).await;
        assert_eq!(refused["code"], "not_member", "{refused}");
    }
}

/// Issue 18: revoking an API key left the participants that joined with its tokens connected,
/// though the docs say revoking ends every token signed with it.
#[tokio::test]
async fn revoking_an_api_key_removes_its_participants_hidden_ones_included() {
    let server = start().await;
    let admin = server.admin_token().await;
    let revoked_app = App::register(&server).await;
    let other_app = App::register(&server).await;
    let room = parley_tests::unique("revoke");
    let mut ann = RtcClient::join(&server, &revoked_app.participant("ann", &room)).await;
    let mut recorder = RtcClient::join(
        &server,
        &revoked_app.token(
            "recorder",
            json!({"room": room, "room_join": true, "can_subscribe": true, "recorder": true}),
        ),
    )
    .await;
    assert_eq!(recorder.joined["participant"]["grants"]["hidden"], true);
    // Bob came in with another app's key: he stays.
    let mut bob = RtcClient::join(&server, &other_app.participant("bob", &room)).await;
    assert_eq!(
        ann.next_of("participant_joined").await["participant"]["identity"],
        "bob"
    );

    let revoked = server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/admin/api-keys/{}", revoked_app.key),
            Some(&admin),
        )
        .send()
        .await
        .expect("DELETE");
    assert_eq!(revoked.status(), 204);

    for (who, client) in [("ann", &mut ann), ("the recorder", &mut recorder)] {
        let seen = client.until_closed().await;
        let removed = seen
            .iter()
            .find(|m| m["type"] == "removed")
            .unwrap_or_else(|| panic!("{who} was not removed: {seen:?}"));
        assert_eq!(removed["reason"], "token_revoked", "{who}: {removed}");
    }
    let left = bob.next_of("participant_left").await;
    assert_eq!(
        left["identity"], "ann",
        "the hidden recorder is never announced"
    );
    let pong = bob.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    let detail: Value = expect_json(
        server
            .get(&format!("/v1/rooms/{room}"), Some(&other_app.room_admin()))
            .await,
        200,
    )
    .await;
    let identities: Vec<&str> = detail["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["identity"].as_str().expect("identity"))
        .collect();
    assert_eq!(identities, ["bob"]);
    // And no token of the key gets back in.
    let refused = refused_join(
        &server,
        json!({"type": "join", "token": revoked_app.participant("ann", &room)}),
    )
    .await;
    assert_eq!(refused["code"], "token_invalid", "{refused}");
}

/// Issue 18: a token with `room_join` and `hidden` but no room named joined a channel's
/// meeting unseen. Every join grant names its room, and only recorders hide.
#[tokio::test]
async fn a_join_grant_names_its_room_and_only_recorders_join_hidden() {
    let team = Team::new(start().await, "grants", false).await;
    let server = &team.server;
    let meeting = format!("meeting-{}", team.channel);
    let _: Value = expect_json(
        server
            .post(
                &format!("/v1/channels/{}/meeting", team.channel),
                Some(&team.ann.1),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    let mut ann = RtcClient::join_room(server, &team.ann.1, &meeting).await;
    let app = App::register(server).await;

    // No room in the grant: refused, whichever room `join` asks for.
    let roomless = app.token(
        "lurker",
        json!({"room_join": true, "room_create": true, "can_subscribe": true, "hidden": true}),
    );
    for room in [meeting.as_str(), "standup"] {
        let refused = refused_join(
            server,
            json!({"type": "join", "id": "j", "token": roomless, "room": room}),
        )
        .await;
        assert_eq!(refused["code"], "insufficient_grant", "{room}: {refused}");
        assert!(
            refused["message"].as_str().unwrap().contains("grants.room"),
            "{refused}"
        );
    }
    // Hidden without the recorder grant: refused, even for its own room.
    let hidden = app.token(
        "lurker",
        json!({"room": meeting, "room_join": true, "can_subscribe": true, "hidden": true}),
    );
    let refused = refused_join(server, json!({"type": "join", "id": "j", "token": hidden})).await;
    assert_eq!(refused["code"], "insufficient_grant", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("recorder"),
        "{refused}"
    );

    // A recorder's grant joins hidden, as `parley-recorder` does; a visible app participant
    // with its room joins and is announced.
    let recorder = RtcClient::join(
        server,
        &app.token(
            "recorder",
            json!({"room": meeting, "room_join": true, "can_subscribe": true, "recorder": true}),
        ),
    )
    .await;
    assert_eq!(recorder.joined["participant"]["grants"]["hidden"], true);
    let _guest = RtcClient::join(
        server,
        &app.token(
            "guest",
            json!({"room": meeting, "room_join": true, "can_subscribe": true}),
        ),
    )
    .await;
    let joined = ann.next_of("participant_joined").await;
    assert_eq!(joined["participant"]["identity"], "guest");

    // `parley token` refuses to sign either.
    for (extra, says) in [
        (&["--join"][..], "--room"),
        (&["--room", "r1", "--join", "--hidden"][..], "--recorder"),
    ] {
        let output = parley_command()
            .args([
                "token",
                "--api-key",
                &app.key,
                "--api-secret",
                &app.secret,
                "--identity",
                "bot",
            ])
            .args(extra)
            .output()
            .expect("run parley token");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{extra:?} was signed");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
}

/// Regression (issue 19): a channel's voice bridge had no moderator — every member, the opener
/// included, joined with `can_publish` and without `room_admin`, so raised hands and the floor
/// served only app tokens. Now the opener, the channel's creator and admins moderate, and a
/// bridge opened moderated has the others listen until given the floor.
#[tokio::test]
async fn a_channels_bridge_is_moderated_by_its_opener_and_may_be_opened_moderated() {
    let t = Team::new(start().await, "bridge-moderation", true).await;
    let server = &t.server;
    // Bob, not the channel's creator, opens it moderated.
    let opened = open_bridge(server, t.channel, &t.bob.1, json!({"moderated": true})).await;
    let room = opened["room"]["name"].as_str().unwrap().to_string();
    assert_eq!(opened["room"]["bridge"]["moderated"], true, "{opened}");
    assert_eq!(
        opened["room"]["bridge"]["opened_by"],
        format!("user:{}", t.bob.0)
    );
    let mut bob = RtcClient::join_room(server, &t.bob.1, &room).await;
    let ann = RtcClient::join_room(server, &t.ann.1, &room).await;
    let mut cat = RtcClient::join_room(server, &t.cat.1, &room).await;
    let grants = |c: &RtcClient| c.joined["participant"]["grants"].clone();
    assert_eq!(grants(&bob)["room_admin"], true, "the opener moderates");
    assert_eq!(grants(&bob)["can_publish"], true);
    assert_eq!(
        grants(&ann)["room_admin"],
        true,
        "the channel's creator moderates"
    );
    assert_eq!(grants(&cat)["can_publish"], false, "a member listens");
    assert_ne!(grants(&cat)["room_admin"], true);
    assert_eq!(grants(&cat)["can_subscribe"], true);

    // Cat raises a hand; Bob gives the floor; Cat may then publish its microphone.
    let raised = cat
        .request(json!({"type": "raise_hand", "raised": true}))
        .await;
    assert_eq!(raised["type"], "ok", "{raised}");
    let cat_sid = cat.joined["participant"]["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let given = bob
        .request(json!({"type": "moderate", "participant": cat_sid, "action": "give_floor"}))
        .await;
    assert_eq!(given["type"], "ok", "{given}");
    let updated = cat.until_may_publish(&cat_sid).await;
    assert_eq!(
        updated["participant"]["grants"]["can_publish_sources"],
        json!(["microphone"])
    );
    // A member may not moderate.
    let refused = cat
        .request(json!({"type": "moderate", "participant": bob.joined["participant"]["sid"], "action": "mute"}))
        .await;
    assert_eq!(refused["code"], "insufficient_grant", "{refused}");
}

/// An open bridge (the default) lets every member speak at once; its opener still moderates.
#[tokio::test]
async fn an_open_channel_bridge_lets_members_speak() {
    let t = Team::new(start().await, "bridge-open", true).await;
    let server = &t.server;
    let opened = open_bridge(server, t.channel, &t.cat.1, json!({})).await;
    let room = opened["room"]["name"].as_str().unwrap().to_string();
    assert!(
        opened["room"]["bridge"].get("moderated").is_none(),
        "{opened}"
    );
    let cat = RtcClient::join_room(server, &t.cat.1, &room).await;
    let bob = RtcClient::join_room(server, &t.bob.1, &room).await;
    let grants = |c: &RtcClient| c.joined["participant"]["grants"].clone();
    assert_eq!(grants(&cat)["room_admin"], true);
    assert_eq!(grants(&bob)["can_publish"], true);
    assert_ne!(grants(&bob)["room_admin"], true);
}
