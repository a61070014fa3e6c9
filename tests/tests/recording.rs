//! Recording end to end: real `parley-recorder` processes take the job, join as hidden
//! participants, and write each track (an aiortc peer's 440 Hz tone, a Chromium page's camera
//! and microphone) without re-encoding, plus a mixed audio file, to a real S3-compatible server
//! (moto). ffprobe and ffmpeg check what was stored, fetched back through the API.

use parley_tests::recorder::{
    decode_audio, dominant_frequency, duration_secs, probe, ChromiumPublisher, RecorderProcess,
};
use parley_tests::rtc::{AiortcPeer, App};
use parley_tests::{eventually, expect_json, Backend, S3Server, Server, ServerOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

async fn server_on(s3: &S3Server) -> Server {
    Server::start_with(ServerOptions::backend(Backend::Sqlite).s3(s3)).await
}

/// The meeting in `room`, as the admin sees it, once it has `attendees`.
async fn meeting(server: &Server, admin: &str, room: &str, attendees: usize) -> Value {
    eventually(200, Duration::from_millis(100), || async {
        let list: Value = expect_json(server.get("/v1/meetings", Some(admin)).await, 200).await;
        list["meetings"]
            .as_array()?
            .iter()
            .find(|m| {
                m["room"] == room
                    && m["attendees"]
                        .as_array()
                        .is_some_and(|a| a.len() >= attendees)
            })
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no meeting in {room} with {attendees} attendees"))
}

/// Ask for the meeting's recording, as its admin; the job.
async fn start_recording(server: &Server, admin: &str, meeting: i64) -> Value {
    let path = format!("/v1/meetings/{meeting}/recordings");
    expect_json(server.post(&path, Some(admin), &json!({})).await, 201).await
}

/// The meeting's recordings once `done` holds for them.
async fn recordings_when(
    server: &Server,
    admin: &str,
    meeting: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/v1/meetings/{meeting}/recordings");
    let mut last = Value::Null;
    for _ in 0..300 {
        last = expect_json(server.get(&path, Some(admin)).await, 200).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never got there: {last}");
}

/// Fetch a recording through the API into a file of its own.
async fn download(server: &Server, token: &str, recording: &Value) -> PathBuf {
    let response = server
        .get(recording["url"].as_str().unwrap(), Some(token))
        .await;
    assert_eq!(response.status(), 200, "{recording}");
    let bytes = response.bytes().await.unwrap();
    assert!(!bytes.is_empty());
    let ext = match recording["content_type"].as_str().unwrap() {
        "audio/ogg" => "ogg",
        "video/webm" => "webm",
        _ => "mkv",
    };
    let path = server
        .dir
        .path()
        .join(format!("recording-{}.{ext}", recording["id"]));
    std::fs::write(&path, &bytes).unwrap();
    path
}

async fn end_room(server: &Server, app: &App, room: &str) {
    let ended = server
        .request(
            Method::DELETE,
            &format!("/v1/rooms/{room}"),
            Some(&app.room_admin()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
}

fn recorders_logs(recorders: &[&RecorderProcess]) -> String {
    recorders
        .iter()
        .map(|r| format!("--- {} ---\n{}", r.name, r.log_text()))
        .collect()
}

#[tokio::test]
async fn a_meeting_is_recorded_track_by_track_and_mixed_into_s3() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3).await;
    let app = App::register(&server).await;
    let admin = server.admin_token().await;
    let room = parley_tests::unique("recorded");
    let _speaker = AiortcPeer::spawn(
        &server,
        &app.participant("speaker", &room),
        60.0,
        &["--tone", "440"],
    );
    let camera =
        ChromiumPublisher::start(&server, &app.participant("camera", &room), "video/VP8").await;
    let meeting = meeting(&server, &admin, &room, 2).await;
    let id = meeting["id"].as_i64().unwrap();
    let recorder = RecorderProcess::start(&server, &app, &s3, "recorder-a");
    let job = start_recording(&server, &admin, id).await;
    // Four files: the tone, Chromium's microphone and camera, and the mix; each uploading.
    let started = recordings_when(&server, &admin, id, "four files uploading", |list| {
        let files = list["recordings"].as_array().unwrap();
        files.len() == 4 && files.iter().all(|f| f["size_bytes"].as_i64() > Some(0))
    })
    .await;
    assert_eq!(started["jobs"][0]["id"], job["id"]);
    assert_eq!(started["jobs"][0]["recorder"], "recorder-a");
    // The recorder is hidden: the room counts the two who are in it.
    let rooms: Value = expect_json(
        server
            .get(&format!("/v1/rooms/{room}"), Some(&app.room_admin()))
            .await,
        200,
    )
    .await;
    assert_eq!(rooms["room"]["num_participants"], 2, "{rooms}");
    // The meeting goes on until every file holds ten seconds.
    recordings_when(&server, &admin, id, "ten seconds recorded", |list| {
        let files = list["recordings"].as_array().unwrap();
        files
            .iter()
            .all(|f| f["duration_ms"].as_i64() >= Some(10_000))
    })
    .await;
    camera.stop().await;
    end_room(&server, &app, &room).await;
    let done = recordings_when(&server, &admin, id, "the job finished", |list| {
        list["jobs"][0]["status"] == "done"
    })
    .await;
    let meeting = expect_json::<Value>(
        server
            .get(&format!("/v1/meetings/{id}"), Some(&admin))
            .await,
        200,
    )
    .await;
    let (meeting_start, meeting_end) = (
        meeting["started_at"].as_i64().unwrap(),
        meeting["ended_at"].as_i64().unwrap(),
    );
    let files = done["recordings"].as_array().unwrap();
    let mut seen = Vec::new();
    for file in files {
        assert_eq!(
            file["status"],
            "done",
            "{file}\n{}",
            recorders_logs(&[&recorder])
        );
        let path = download(&server, &admin, file).await;
        let probed = probe(&path);
        let stream = &probed["streams"][0];
        let codec = stream["codec_name"].as_str().unwrap();
        assert_eq!(codec, file["codec"].as_str().unwrap(), "{probed}");
        // From the file's start to the end of the meeting (camera frames stop when the page
        // leaves, just before).
        let expected = (meeting_end - meeting_start - file["start_offset_ms"].as_i64().unwrap())
            as f64
            / 1000.0;
        let actual = duration_secs(&probed);
        assert!(
            (actual - expected).abs() <= expected * 0.05 + 0.3,
            "{} {}: {actual:.2} s recorded for {expected:.2} s\n{probed}",
            file["kind"],
            file["participant"]
        );
        let what = match (file["kind"].as_str(), file["participant"].as_str(), codec) {
            (Some("mixed"), _, "opus") => "mix",
            (_, Some("speaker"), "opus") => "tone",
            (_, Some("camera"), "opus") => "chromium microphone",
            (_, Some("camera"), "vp8") => {
                assert_eq!(stream["width"], 640, "{probed}");
                "chromium camera"
            }
            other => panic!("unexpected file {other:?}: {file}"),
        };
        if what == "tone" {
            let samples = decode_audio(&path);
            let tone = dominant_frequency(&samples[samples.len() / 4..]);
            assert!(
                (tone - 440.0).abs() <= 10.0,
                "the tone decodes at {tone} Hz"
            );
        }
        if what == "mix" {
            // Chromium's fake microphone beeps too; the tone must be there beside it.
            let samples = decode_audio(&path);
            let tone = dominant_frequency(&samples[samples.len() / 4..]);
            let strong = parley_tests::recorder::tone_power_ratio(&samples, 440.0);
            assert!(
                strong > 20.0,
                "440 Hz is {strong:.1}x the background in the mix (dominant {tone} Hz)"
            );
        }
        seen.push(what);
        eprintln!(
            "{what}: {codec}, {actual:.2} s of {expected:.2} s, {} bytes",
            file["size_bytes"]
        );
    }
    seen.sort();
    assert_eq!(
        seen,
        ["chromium camera", "chromium microphone", "mix", "tone"]
    );
}

#[tokio::test]
async fn a_recorder_killed_mid_meeting_is_taken_over_and_what_it_uploaded_plays() {
    let s3 = S3Server::start().await;
    let server = server_on(&s3).await;
    let app = App::register(&server).await;
    let admin = server.admin_token().await;
    let room = parley_tests::unique("takeover");
    let _speaker = AiortcPeer::spawn(
        &server,
        &app.participant("speaker", &room),
        60.0,
        &["--tone", "440"],
    );
    let found = meeting(&server, &admin, &room, 1).await;
    let id = found["id"].as_i64().unwrap();
    let meeting_started_at = found["started_at"].as_i64().unwrap();
    let mut recorders = [
        RecorderProcess::start(&server, &app, &s3, "recorder-a"),
        RecorderProcess::start(&server, &app, &s3, "recorder-b"),
    ];
    start_recording(&server, &admin, id).await;
    // Both files have a few seconds uploaded.
    let before = recordings_when(&server, &admin, id, "uploading", |list| {
        let files = list["recordings"].as_array().unwrap();
        files.len() == 2
            && files
                .iter()
                .all(|f| f["duration_ms"].as_i64() >= Some(3000))
    })
    .await;
    let holder = before["jobs"][0]["recorder"].as_str().unwrap().to_string();
    let (dead, alive) = if holder == "recorder-a" {
        (0, 1)
    } else {
        (1, 0)
    };
    let killed_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    recorders[dead].kill().await;
    let killed = Instant::now();
    let taken = recordings_when(&server, &admin, id, "taken over", |list| {
        list["jobs"][0]["claims"] == 2 && list["recordings"].as_array().unwrap().len() == 4
    })
    .await;
    let takeover = killed.elapsed();
    assert_eq!(taken["jobs"][0]["recorder"], recorders[alive].name.as_str());
    assert!(
        takeover < Duration::from_secs(12),
        "taken over after {takeover:?}"
    );
    // The new recorder's files get a few seconds too.
    recordings_when(
        &server,
        &admin,
        id,
        "recording on after the takeover",
        |list| {
            let files = list["recordings"].as_array().unwrap();
            files.len() == 4
                && files
                    .iter()
                    .filter(|f| f["status"] == "recording")
                    .all(|f| f["duration_ms"].as_i64() >= Some(3000))
        },
    )
    .await;
    end_room(&server, &app, &room).await;
    let done = recordings_when(&server, &admin, id, "the job finished", |list| {
        list["jobs"][0]["status"] == "done"
    })
    .await;
    let logs = recorders_logs(&[&recorders[0], &recorders[1]]);
    let files = done["recordings"].as_array().unwrap();
    let (old, new): (Vec<&Value>, Vec<&Value>) = files.iter().partition(|f| {
        before["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == f["id"])
    });
    assert_eq!((old.len(), new.len()), (2, 2), "{done}");
    for file in &old {
        // What happened is on the file; what was uploaded before the kill plays.
        assert_eq!(file["status"], "failed", "{file}\n{logs}");
        assert!(
            file["failure"].as_str().unwrap().contains(&holder),
            "{file}"
        );
        let path = download(&server, &admin, file).await;
        let seconds = duration_secs(&probe(&path));
        let samples = decode_audio(&path);
        assert!(
            seconds >= 2.0,
            "{seconds} s of the lost recorder's file play: {file}"
        );
        let tone = dominant_frequency(&samples[samples.len() / 4..]);
        assert!((tone - 440.0).abs() <= 10.0, "{tone} Hz in {file}");
        // Regression: the docs promise a recorder that dies loses at most about a second;
        // after `kill -9` the mixed audio had lost 1.3 s (pages of a second, uploads every
        // two). Now pages are half a second, uploads every quarter, the mix waits 250 ms.
        let recorded =
            (killed_at_ms - meeting_started_at - file["start_offset_ms"].as_i64().unwrap()) as f64
                / 1000.0;
        let lost = recorded - seconds;
        eprintln!(
            "lost recorder's {}: {seconds:.2} s play of {recorded:.2} s recorded, {lost:.2} s lost",
            file["kind"]
        );
        assert!(
            lost <= 1.5,
            "{} lost {lost:.2} s of {recorded:.2} s",
            file["kind"]
        );
    }
    for file in &new {
        assert_eq!(file["status"], "done", "{file}\n{logs}");
        let path = download(&server, &admin, file).await;
        let seconds = duration_secs(&probe(&path));
        assert!(seconds >= 3.0, "{file}");
        eprintln!("new recorder's {}: {seconds:.2} s", file["kind"]);
    }
    eprintln!("taken over {takeover:?} after the kill");
}

#[tokio::test]
async fn a_server_crash_mid_recording_leaves_files_that_play_and_says_what_happened() {
    let s3 = S3Server::start().await;
    let mut server = server_on(&s3).await;
    let app = App::register(&server).await;
    let admin = server.admin_token().await;
    let room = parley_tests::unique("crash");
    let _speaker = AiortcPeer::spawn(
        &server,
        &app.participant("speaker", &room),
        60.0,
        &["--tone", "440"],
    );
    let id = meeting(&server, &admin, &room, 1).await["id"]
        .as_i64()
        .unwrap();
    let first = RecorderProcess::start(&server, &app, &s3, "recorder-a");
    start_recording(&server, &admin, id).await;
    recordings_when(&server, &admin, id, "uploading", |list| {
        let files = list["recordings"].as_array().unwrap();
        files.len() == 2
            && files
                .iter()
                .all(|f| f["duration_ms"].as_i64() >= Some(3000))
    })
    .await;
    server.kill_and_restart().await;
    // The restarted server ended the meeting it lost, and its recording with it: the job and
    // its files say so.
    let after = recordings_when(&server, &admin, id, "the job failed", |list| {
        list["jobs"][0]["status"] == "failed"
    })
    .await;
    let logs = recorders_logs(&[&first]);
    assert!(
        after["jobs"][0]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("server stopped")),
        "{after}"
    );
    for file in after["recordings"].as_array().unwrap() {
        assert!(
            file["failure"].as_str().unwrap().contains("server stopped"),
            "{file}\n{logs}"
        );
        let path = download(&server, &admin, file).await;
        let seconds = duration_secs(&probe(&path));
        assert!(seconds >= 2.0, "{seconds} s play: {file}");
        let samples = decode_audio(&path);
        let tone = dominant_frequency(&samples[samples.len() / 4..]);
        assert!((tone - 440.0).abs() <= 10.0, "{tone} Hz in {file}");
        eprintln!("{} kept through the crash: {seconds:.2} s", file["kind"]);
    }
    eprintln!("job: {}", after["jobs"][0]);
}
