//! Media workers (issue 25): rooms spread over the server's media worker threads behind its one
//! media port, each call carried by its own worker, and joins racing to open the same room
//! still meeting in one room.

use parley_tests::rtc::{assert_heard_440_hz, metric, until_in_room, AiortcPeer, App, RtcClient};
use parley_tests::{Backend, Server, ServerOptions};
use serde_json::Value;
use std::time::Duration;

async fn start(workers: usize) -> Server {
    Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_WORKERS", workers.to_string()),
    )
    .await
}

#[tokio::test]
async fn rooms_spread_over_the_workers_and_each_worker_carries_its_calls() {
    let server = start(2).await;
    assert!(
        server.log().contains("workers=2"),
        "the server says how many media workers it runs"
    );
    let app = App::register(&server).await;
    // Four calls, each a listener joined first and then a speaker sending a 440 Hz tone.
    let mut calls = Vec::new();
    for i in 0..4 {
        let room = parley_tests::unique(&format!("call{i}"));
        let listener = AiortcPeer::spawn(
            &server,
            &app.participant("listener", &room),
            40.0,
            &["--until-left"],
        );
        until_in_room(&server, &app, &room, 1, 0).await;
        let speaker = AiortcPeer::spawn(
            &server,
            &app.participant("speaker", &room),
            6.0,
            &["--tone", "440"],
        );
        calls.push((listener, speaker));
    }
    // New rooms go to the worker with the fewest participants: two calls on each.
    for worker in ["0", "1"] {
        let rooms = metric(
            &server,
            &format!("parley_rtc_worker_rooms{{worker=\"{worker}\"}}"),
        )
        .await;
        assert_eq!(rooms, 2.0, "worker {worker} holds two of the four rooms");
    }
    for (listener, speaker) in calls {
        let spoke = speaker.report().await;
        assert!(
            spoke["errors"].as_array().unwrap().is_empty(),
            "speaker: {spoke}"
        );
        let heard = listener.report().await;
        assert_heard_440_hz(&heard);
    }
    // Both workers forwarded: each spent CPU.
    let cpu = server.thread_cpu("parley-media");
    for thread in ["parley-media-0", "parley-media-1"] {
        let used = cpu.get(thread).copied().unwrap_or_default();
        assert!(
            used > 0.0,
            "{thread} did work: {cpu:?} (CPU seconds by thread)"
        );
    }
    // Everyone left: the rooms close and the workers are empty again.
    for worker in ["0", "1"] {
        let name = format!("parley_rtc_worker_participants{{worker=\"{worker}\"}}");
        parley_tests::eventually(100, Duration::from_millis(100), || async {
            (metric(&server, &name).await == 0.0).then_some(())
        })
        .await
        .expect("the workers' participants left");
    }
}

#[tokio::test]
async fn joins_racing_to_open_one_room_meet_in_that_room() {
    let server = start(2).await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("race");
    // Twelve people join a room nobody has opened yet, all at once: whichever worker each
    // join is sent to, they end up in one room.
    let joins = (0..12).map(|i| {
        let token = app.participant(&format!("p{i}"), &room);
        let server = &server;
        async move { RtcClient::join(server, &token).await }
    });
    let clients = futures::future::join_all(joins).await;
    let sids: std::collections::HashSet<String> = clients
        .iter()
        .map(|c| {
            c.joined["room"]["sid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(sids.len(), 1, "every join reports the same room: {sids:?}");
    until_in_room(&server, &app, &room, 12, 0).await;
    let rooms: Value = server
        .get("/v1/rooms", Some(&app.room_admin()))
        .await
        .json()
        .await
        .expect("rooms");
    let named = rooms
        .as_array()
        .expect("a list of rooms")
        .iter()
        .filter(|r| r["name"] == room.as_str())
        .count();
    assert_eq!(named, 1, "one room of that name: {rooms}");
    // The room is on one worker, and all twelve are there.
    let mut here = Vec::new();
    for worker in ["0", "1"] {
        let name = format!("parley_rtc_worker_participants{{worker=\"{worker}\"}}");
        here.push(metric(&server, &name).await);
    }
    here.sort_by(f64::total_cmp);
    assert_eq!(here, vec![0.0, 12.0], "participants by worker");
    drop(clients);
}

/// A worker that sheds audio (here because `rtc.shed_floor` says so; load does the same, see
/// `engine/overload.rs` and docs/BENCHMARKS.md) forwards only the loudest speakers' audio, tells
/// everyone in the room, and counts what it withheld.
#[tokio::test]
async fn a_worker_shedding_audio_forwards_only_the_loudest_speaker_and_says_so() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_RTC_WORKERS", "1")
            .env("PARLEY_RTC_SHED_FLOOR", "audio")
            .env("PARLEY_RTC_BRIDGE_SPEAKERS", "1"),
    )
    .await;
    assert_eq!(
        metric(&server, "parley_rtc_worker_shedding{worker=\"0\"}").await,
        3.0,
        "the worker sheds audio from the start"
    );
    let app = App::register(&server).await;
    let room = parley_tests::unique("shed");
    let listener = AiortcPeer::spawn(&server, &app.participant("listener", &room), 12.0, &[]);
    until_in_room(&server, &app, &room, 1, 0).await;
    let speaker = |name: &str, seconds: f64, args: &[&str]| {
        AiortcPeer::spawn(&server, &app.participant(name, &room), seconds, args)
    };
    // Both speak (the quiet one is above the speech threshold); one slot for the loudest. The
    // quiet one starts after the loud one publishes and stops first, so it is never alone
    // (and then the loudest).
    let loud = speaker("loud", 10.0, &["--tone", "440", "--amplitude", "0.5"]);
    until_in_room(&server, &app, &room, 2, 1).await;
    let quiet = speaker("quiet", 6.0, &["--tone", "880", "--amplitude", "0.02"]);
    for s in [loud, quiet] {
        let report = s.report().await;
        assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    }
    let heard = listener.report().await;
    assert_eq!(heard["shedding"], serde_json::json!(["audio"]), "{heard}");
    let tracks = heard["tracks"].as_object().expect("tracks");
    let loudest: Vec<i64> = tracks
        .values()
        .filter(|t| t["frames"].as_u64().unwrap_or(0) > 0)
        .map(|t| t["dominant_hz"].as_f64().unwrap_or(0.0).round() as i64)
        .collect();
    assert_eq!(loudest, [440], "only the loudest speaker is heard: {heard}");
    assert_eq!(tracks.len(), 2, "both tracks were offered: {heard}");
    let withheld = metric(&server, "parley_rtc_shed_packets_total{kind=\"audio\"}").await;
    assert!(
        withheld > 50.0,
        "the quiet speaker's packets were shed: {withheld}"
    );
}

/// A worker that sheds video (`rtc.shed_floor` again) forwards no camera and no screen share to
/// two Chromium pages, and all of their audio; both pages hear why.
#[tokio::test]
async fn a_worker_shedding_video_forwards_the_audio_of_a_chromium_meeting_and_no_video() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_RTC_WORKERS", "1")
            .env("PARLEY_RTC_SHED_FLOOR", "video"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("shed-video");
    let rtc = parley_tests::rtc::rtc_url(&server);
    let (a, b) = (
        app.participant("alice", &room),
        app.participant("bob", &room),
    );
    // Page A publishes camera, screen and microphone, page B camera and microphone; the
    // script waits for video that never comes, then samples what each page received.
    let report = parley_tests::rtc::run_browser_script(
        "meeting.mjs",
        &[
            "--rtc",
            &rtc,
            "--token-a",
            &a,
            "--token-b",
            &b,
            "--seconds",
            "10",
            "--hold",
            "1",
        ],
        90,
    )
    .await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["ok"], false, "no video was decoded: {report}");
    for page in ["a", "b"] {
        let state = &report["state"][page];
        assert!(
            state["errors"].as_array().unwrap().is_empty(),
            "{page}: {state}"
        );
        assert_eq!(
            state["shedding"],
            serde_json::json!(["video"]),
            "{page}: {state}"
        );
        let stats = report["second"][page].as_array().expect("stats");
        // Only the bandwidth probe's padding (sent on the retransmission stream) arrives.
        let count = |s: &Value, key: &str| s[key].as_u64().unwrap_or(0);
        let media: u64 = stats
            .iter()
            .filter(|s| s["kind"] == "video")
            .map(|s| {
                count(s, "framesDecoded") + count(s, "packetsReceived")
                    - count(s, "retransmittedPacketsReceived")
            })
            .sum();
        assert_eq!(media, 0, "{page}: no video arrived: {stats:?}");
        let audio = stats
            .iter()
            .find(|s| s["kind"] == "audio")
            .unwrap_or_else(|| panic!("{page}: audio arrived: {stats:?}"));
        assert!(
            audio["totalSamplesReceived"].as_u64().unwrap_or(0) > 48_000,
            "{page}: over a second of audio: {audio}"
        );
    }
    let withheld = metric(&server, "parley_rtc_shed_packets_total{kind=\"video\"}").await;
    assert!(withheld > 100.0, "video packets were shed: {withheld}");
}
