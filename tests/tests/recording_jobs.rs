//! The recording job queue and playback, driven over the public API as a recorder process
//! drives it (an app token with the `recorder` grant): one holder per job, a lease that runs out
//! when its recorder goes quiet, a takeover that fails the old files with the reason, files
//! streamed back in chunks with range requests, and only to those who may see the meeting.

use parley_tests::rtc::{App, RtcClient};
use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, Backend, Server, Team,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    one_recorder_per_job_takeover_and_playback,
    bridges_are_recorded_from_their_start
);

/// The id of the meeting in `room` once `attendees` have been written.
async fn meeting_in(server: &Server, token: &str, room: &str, attendees: usize) -> i64 {
    eventually(100, Duration::from_millis(100), || async {
        let list: Value = expect_json(server.get("/v1/meetings", Some(token)).await, 200).await;
        list["meetings"]
            .as_array()?
            .iter()
            .find(|m| {
                m["room"] == room
                    && m["attendees"]
                        .as_array()
                        .is_some_and(|a| a.len() >= attendees)
            })
            .and_then(|m| m["id"].as_i64())
    })
    .await
    .unwrap_or_else(|| panic!("no meeting in {room} with {attendees} attendees"))
}

async fn one_recorder_per_job_takeover_and_playback(backend: Backend) {
    let team = Team::new(Server::start(backend).await, "录音", false).await;
    let server = &team.server;
    let app = App::register(server).await;
    expect_json::<Value>(
        server
            .post(
                "/v1/rooms",
                Some(&app.room_admin()),
                &json!({"name": "sync", "channel_id": team.channel}),
            )
            .await,
        201,
    )
    .await;
    let _ann_in = RtcClient::join_room(server, &team.ann.1, "sync").await;
    let _bob_in = RtcClient::join_room(server, &team.bob.1, "sync").await;
    let meeting = meeting_in(server, &team.ann.1, "sync", 2).await;
    let recordings = format!("/v1/meetings/{meeting}/recordings");
    let (ann, bob, cat) = (&team.ann.1, &team.bob.1, &team.cat.1);

    // Those who took part start it; asking again is the same job; others may not.
    let job: Value = expect_json(
        server
            .send_json(Method::POST, &recordings, ann, &json!({}))
            .await,
        201,
    )
    .await;
    assert_eq!(job["status"], "pending");
    assert_eq!(job["requested_by"], team.ann.0);
    let again: Value = expect_json(
        server
            .send_json(Method::POST, &recordings, bob, &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(again["id"], job["id"]);
    expect_error(
        server
            .send_json(Method::POST, &recordings, cat, &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let job_id = job["id"].as_i64().unwrap();
    let jobs = format!("/v1/recording-jobs/{job_id}");

    // Only tokens with the recorder grant reach the queue.
    let recorder = app.token("recorder", json!({"recorder": true}));
    let not_recorder = app.token("someone", json!({"room_join": true}));
    expect_error(
        server
            .send_json(
                Method::POST,
                "/v1/recording-jobs/claim",
                &not_recorder,
                &json!({"recorder": "x"}),
            )
            .await,
        403,
        "insufficient_grant",
    )
    .await;
    expect_error(
        server
            .send_json(
                Method::POST,
                "/v1/recording-jobs/claim",
                ann,
                &json!({"recorder": "x"}),
            )
            .await,
        403,
        "insufficient_grant",
    )
    .await;

    // One recorder takes it; the next one finds nothing.
    let claimed: Value = expect_json(
        server
            .send_json(
                Method::POST,
                "/v1/recording-jobs/claim",
                &recorder,
                &json!({"recorder": "r1"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(claimed["job"]["id"], job_id);
    assert_eq!(claimed["job"]["status"], "active");
    assert_eq!(claimed["job"]["recorder"], "r1");
    assert_eq!(claimed["taken_over"], json!([]));
    let lease_ms = claimed["lease_ms"].as_u64().unwrap();
    // r1's lease runs from its claim; it never renews it.
    let quiet = Instant::now();
    let none = server
        .send_json(
            Method::POST,
            "/v1/recording-jobs/claim",
            &recorder,
            &json!({"recorder": "r2", "wait_secs": 1}),
        )
        .await;
    assert_eq!(none.status(), 204);

    // r1 writes a file in chunks, as a recorder uploads them.
    let file: Value = expect_json(
        server.send_json(Method::POST, &format!("{jobs}/files"), &recorder, &json!({"recorder": "r1",
            "kind": "track", "participant": format!("user:{}", team.bob.0), "participant_name": "Bob",
            "source": "microphone", "track_sid": "TR_x", "codec": "opus", "content_type": "audio/ogg",
            "start_offset_ms": 1200})).await,
        201,
    )
    .await;
    assert_eq!(file["status"], "recording");
    assert_eq!(file["user_id"], team.bob.0);
    // Regression: a content type with a line break was taken, and that file's media then
    // answered 500 (it is served back as a header).
    for content_type in ["audio/ogg\r\nx-injected: 1", "audio", "音频/ogg"] {
        expect_error(
            server.send_json(Method::POST, &format!("{jobs}/files"), &recorder, &json!({"recorder": "r1",
                "kind": "track", "participant": format!("user:{}", team.bob.0), "participant_name": "Bob",
                "source": "microphone", "track_sid": "TR_y", "codec": "opus", "content_type": content_type,
                "start_offset_ms": 0})).await,
            422,
            "invalid_input",
        )
        .await;
    }
    let prefix = file["object_prefix"].as_str().unwrap().to_string();
    let objects = server.dir.path().join("data/objects");
    let chunks: [&[u8]; 3] = [b"OggS-header|", b"page-one|", b"page-two"];
    for (n, chunk) in chunks.iter().enumerate() {
        let path = objects.join(&prefix).join(format!("{n:06}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, chunk).unwrap();
    }
    let whole: Vec<u8> = chunks.concat();
    let file_id = file["id"].as_i64().unwrap();
    expect_json::<Value>(
        server.send_json(Method::PATCH, &format!("{jobs}/files/{file_id}"), &recorder, &json!({"recorder": "r1", "duration_ms": 2000, "size_bytes": whole.len(), "chunks": 3}))
        .await,
        200,
    )
    .await;

    // Playback: whole, or a range across chunks; only for those who may see the meeting.
    let media = format!("/v1/recordings/{file_id}/media");
    let response = server.get(&media, Some(bob)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/ogg");
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(response.bytes().await.unwrap().as_ref(), whole.as_slice());
    for (range, expected) in [
        ("bytes=8-15", &whole[8..16]),
        ("bytes=-5", &whole[whole.len() - 5..]),
        ("bytes=20-", &whole[20..]),
    ] {
        let response = server
            .request(Method::GET, &media, Some(ann))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 206, "{range}");
        let content_range = response.headers()["content-range"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_range.ends_with(&format!("/{}", whole.len())),
            "{content_range}"
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            expected,
            "{range}"
        );
    }
    let beyond = server
        .request(Method::GET, &media, Some(ann))
        .header("range", "bytes=999-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    // A member not in the meeting (nor its channel), and a guest who did not attend: 403.
    let (_, guest) = server.user_with_role(&team.admin, "guest", None).await;
    for token in [cat, &guest] {
        expect_error(server.get(&media, Some(token)).await, 403, "forbidden").await;
        expect_error(
            server
                .get(&format!("/v1/recordings/{file_id}"), Some(token))
                .await,
            403,
            "forbidden",
        )
        .await;
        expect_error(server.get(&recordings, Some(token)).await, 403, "forbidden").await;
    }

    // r1 goes quiet: once its lease runs out, r2 takes the job over; r1's file says why it failed.
    let taken: Value = expect_json(
        server
            .send_json(
                Method::POST,
                "/v1/recording-jobs/claim",
                &recorder,
                &json!({"recorder": "r2", "wait_secs": 20}),
            )
            .await,
        200,
    )
    .await;
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(lease_ms) - Duration::from_millis(500),
        "taken over after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(lease_ms) + Duration::from_secs(3),
        "taken over after {waited:?}"
    );
    assert_eq!(taken["job"]["claims"], 2);
    assert_eq!(taken["job"]["recorder"], "r2");
    let left = &taken["taken_over"][0];
    assert_eq!(left["id"], file_id);
    assert_eq!(left["status"], "failed");
    assert!(left["failure"].as_str().unwrap().contains("r1"), "{left}");
    expect_error(
        server
            .send_json(
                Method::POST,
                &format!("{jobs}/heartbeat"),
                &recorder,
                &json!({"recorder": "r1"}),
            )
            .await,
        409,
        "conflict",
    )
    .await;
    expect_error(
        server
            .send_json(
                Method::PATCH,
                &format!("{jobs}/files/{file_id}"),
                &recorder,
                &json!({"recorder": "r1", "duration_ms": 1, "size_bytes": 1, "chunks": 1}),
            )
            .await,
        409,
        "conflict",
    )
    .await;
    // What r1 stored still plays.
    let response = server.get(&media, Some(ann)).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), whole.as_slice());

    // Stop: r2 hears it on its next heartbeat and finishes.
    let beat: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &format!("{jobs}/heartbeat"),
                &recorder,
                &json!({"recorder": "r2"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(beat["stop"], false);
    let second: Value = expect_json(
        server.send_json(Method::POST, &format!("{jobs}/files"), &recorder, &json!({"recorder": "r2",
            "kind": "mixed", "codec": "opus", "content_type": "audio/ogg", "start_offset_ms": 9000})).await,
        201,
    )
    .await;
    expect_json::<Value>(
        server
            .send_json(Method::POST, &format!("{recordings}/stop"), ann, &json!({}))
            .await,
        200,
    )
    .await;
    let beat: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &format!("{jobs}/heartbeat"),
                &recorder,
                &json!({"recorder": "r2"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(beat["stop"], true);
    let finished: Value = expect_json(
        server
            .send_json(
                Method::POST,
                &format!("{jobs}/finish"),
                &recorder,
                &json!({"recorder": "r2"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(finished["status"], "done");
    let list: Value = expect_json(server.get(&recordings, Some(bob)).await, 200).await;
    assert_eq!(list["jobs"][0]["status"], "done");
    let files = list["recordings"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["status"], "failed");
    assert_eq!(files[0]["start_offset_ms"], 1200);
    assert_eq!(files[0]["source"], "microphone");
    assert_eq!(files[1]["id"], second["id"]);
    assert_eq!(files[1]["status"], "done");
    assert_eq!(files[1]["kind"], "mixed");
    // Whoever asked and everyone who attended heard it start (once, not again on the
    // takeover) and finish.
    for token in [ann, bob] {
        let inbox: Value =
            expect_json(server.get("/v1/notifications", Some(token)).await, 200).await;
        let kinds: Vec<&str> = inbox["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["recording_finished", "recording_started"]);
        assert_eq!(inbox["notifications"][0]["meeting_id"], meeting);
        // Regression: the start named no recording, and the end after a takeover named the
        // first recorder's failed fragment. Each names the job and a file to play.
        let (ended, started) = (&inbox["notifications"][0], &inbox["notifications"][1]);
        assert_eq!(started["recording_job_id"], job_id, "{started}");
        assert_eq!(started["recording_id"], file["id"], "{started}");
        assert_eq!(ended["recording_job_id"], job_id, "{ended}");
        assert_eq!(ended["recording_id"], second["id"], "{ended}");
    }
    let inbox: Value = expect_json(server.get("/v1/notifications", Some(cat)).await, 200).await;
    assert_eq!(inbox["notifications"], json!([]));
    // Nothing of the second file was stored: there is nothing to play.
    expect_error(
        server
            .get(&format!("/v1/recordings/{}/media", second["id"]), Some(ann))
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn bridges_are_recorded_from_their_start(backend: Backend) {
    let team = Team::new(Server::start(backend).await, "应急", false).await;
    let server = &team.server;
    let opened: Value = expect_json(
        server
            .post(
                &format!("/v1/channels/{}/bridge", team.channel),
                Some(&team.ann.1),
                &json!({}),
            )
            .await,
        201,
    )
    .await;
    let room = opened["room"]["name"].as_str().unwrap().to_string();
    let _ann_in = RtcClient::join_room(server, &team.ann.1, &room).await;
    let meeting = meeting_in(server, &team.ann.1, &room, 1).await;
    let recordings = format!("/v1/meetings/{meeting}/recordings");
    let list: Value = expect_json(server.get(&recordings, Some(&team.bob.1)).await, 200).await;
    let job = &list["jobs"][0];
    assert_eq!(job["status"], "pending", "{list}");
    assert_eq!(job["auto"], true);
    // No recorder came before the bridge closed: the job says so.
    let admin = App::register(server).await.room_admin();
    let ended = server
        .request(Method::DELETE, &format!("/v1/rooms/{room}"), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let failed = eventually(100, Duration::from_millis(100), || async {
        let list: Value = expect_json(server.get(&recordings, Some(&team.ann.1)).await, 200).await;
        (list["jobs"][0]["status"] == "failed").then(|| list["jobs"][0].clone())
    })
    .await
    .expect("the job ends with the bridge");
    assert!(
        failed["failure"].as_str().unwrap().contains("ended"),
        "{failed}"
    );
    // A room created with `record` is recorded from its start too.
    let app = App::register(server).await;
    let created: Value = expect_json(
        server
            .post(
                "/v1/rooms",
                Some(&app.room_admin()),
                &json!({"name": "always", "channel_id": team.channel, "record": true}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(created["record"], true);
    let _bob_in = RtcClient::join_room(server, &team.bob.1, "always").await;
    let always = meeting_in(server, &team.bob.1, "always", 1).await;
    let list: Value = expect_json(
        server
            .get(
                &format!("/v1/meetings/{always}/recordings"),
                Some(&team.bob.1),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(list["jobs"][0]["auto"], true, "{list}");
    assert_eq!(list["jobs"][0]["status"], "pending", "{list}");
    // Starting a recording of a meeting that has ended is refused.
    expect_error(
        server
            .send_json(Method::POST, &recordings, &team.ann.1, &json!({}))
            .await,
        409,
        "conflict",
    )
    .await;
}
