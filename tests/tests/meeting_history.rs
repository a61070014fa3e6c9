//! Meetings as they happened: each room session is recorded with its channel and attendance
//! from the server's own room events, and shown to those who may see it: admins, attendees,
//! members of its channel; guests only what they attended.

use parley_tests::rtc::{App, RtcClient};
use parley_tests::{expect_error, expect_json, on_both_backends, Backend, Server, Team};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(meetings_are_recorded_with_their_attendance_and_shown_to_those_concerned);

/// The meetings `token` sees, once `done` holds for them (events are written asynchronously).
async fn meetings_when(
    server: &Server,
    token: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let last = std::cell::RefCell::new(Vec::new());
    let found = parley_tests::eventually(100, Duration::from_millis(100), || async {
        let list: Value = expect_json(server.get("/v1/meetings", Some(token)).await, 200).await;
        let meetings = list["meetings"].as_array().cloned().unwrap_or_default();
        let ready = done(&meetings).then(|| meetings.clone());
        *last.borrow_mut() = meetings;
        ready
    })
    .await;
    found.unwrap_or_else(|| panic!("the meetings never got there: {:?}", last.borrow()))
}

async fn meetings_are_recorded_with_their_attendance_and_shown_to_those_concerned(
    backend: Backend,
) {
    let team = Team::new(Server::start(backend).await, "周会", false).await;
    let server = &team.server;
    let app = App::register(server).await;
    let admin = app.room_admin();
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&admin),
                &json!({"name": "weekly", "channel_id": team.channel}),
            )
            .await,
        201,
    )
    .await;
    let mut bob = RtcClient::join_room(server, &team.bob.1, "weekly").await;
    let _ann = RtcClient::join_room(server, &team.ann.1, "weekly").await;
    // An app's own room, with no channel: only admins (and its attendees) see it.
    let _bot = RtcClient::join(server, &app.participant("bot", "app-room")).await;
    bob.send(json!({"type": "leave"})).await;
    bob.until_closed().await;

    let ann = &team.ann.1;
    // Both joined, and Bob's leave written too.
    let listed = meetings_when(server, ann, |m| {
        m.len() == 1
            && m[0]["attendees"]
                .as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().any(|a| a.get("left_at").is_some()))
    })
    .await;
    let weekly = &listed[0];
    assert_eq!(weekly["room"], "weekly");
    assert_eq!(weekly["channel_id"], team.channel);
    assert!(weekly["room_sid"].as_str().unwrap().starts_with("RM_"));
    assert!(weekly.get("ended_at").is_none(), "still going on: {weekly}");
    let attendees = weekly["attendees"].as_array().unwrap();
    let attendee = |id: i64| {
        attendees
            .iter()
            .find(|a| a["user_id"] == id)
            .unwrap_or_else(|| panic!("user {id} attended: {attendees:?}"))
    };
    let (bob, ann_there) = (attendee(team.bob.0), attendee(team.ann.0));
    assert_eq!(bob["identity"], format!("user:{}", team.bob.0));
    assert!(bob["left_at"].as_i64().is_some(), "Bob left: {attendees:?}");
    assert!(ann_there.get("left_at").is_none(), "Ann is still there");

    // The room ends: the meeting ends and everyone still in it left then.
    let ended = server
        .request(Method::DELETE, "/v1/rooms/weekly", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let listed = meetings_when(server, ann, |m| {
        m.first().is_some_and(|w| w["ended_at"].as_i64().is_some())
    })
    .await;
    let id = listed[0]["id"].as_i64().unwrap();
    assert!(listed[0]["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["left_at"].as_i64().is_some()));

    // Who may see it: Ann and Bob (members who attended), the admin; not Cat (a member, but
    // not of the channel, and absent), not a guest who was not there.
    let path = format!("/v1/meetings/{id}");
    for token in [&team.ann.1, &team.bob.1, &team.admin] {
        let m: Value = expect_json(server.get(&path, Some(token)).await, 200).await;
        assert_eq!(m["room"], "weekly");
    }
    expect_error(server.get(&path, Some(&team.cat.1)).await, 403, "forbidden").await;
    let (_, guest) = server.user_with_role(&team.admin, "guest", None).await;
    expect_error(server.get(&path, Some(&guest)).await, 403, "forbidden").await;
    assert!(meetings_when(server, &guest, |_| true).await.is_empty());
    assert!(meetings_when(server, &team.cat.1, |_| true)
        .await
        .is_empty());
    expect_error(
        server.get("/v1/meetings/999999", Some(ann)).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        server.get("/v1/meetings?limit=0", Some(ann)).await,
        422,
        "invalid_input",
    )
    .await;
    expect_error(
        server.get("/v1/meetings", None).await,
        401,
        "unauthenticated",
    )
    .await;
    // The admin sees the app's room too.
    let all = meetings_when(&team.server, &team.admin, |m| m.len() == 2).await;
    assert_eq!(all[0]["room"], "app-room", "newest first: {all:?}");
}

#[tokio::test]
async fn meetings_open_when_the_server_dies_end_when_it_restarts() {
    let mut team = Team::new(Server::start(Backend::Sqlite).await, "standup", false).await;
    let app = App::register(&team.server).await;
    let bot = RtcClient::join(&team.server, &app.participant("bot", "standup")).await;
    meetings_when(&team.server, &team.admin, |m| {
        m.len() == 1 && m[0]["attendees"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    drop(bot);
    team.server.kill_and_restart().await;
    let admin = team.server.admin_token().await;
    let after = meetings_when(&team.server, &admin, |m| m.len() == 1).await;
    assert!(after[0]["ended_at"].as_i64().is_some(), "{after:?}");
    assert!(after[0]["attendees"][0]["left_at"].as_i64().is_some());
}
