//! The JS SDK (`web/sdk/`) as an app uses it: served by the binary at `/sdk/parley.js` (and
//! `/sdk/room.js`, `/sdk/files.js`, `/sdk/common.js`), imported across origins by two headless
//! Chromium pages that chat, read, and ride out a cut network without losing or repeating a
//! message; files uploaded resumably through a misbehaving network and a page reload, sent
//! and downloaded (`tests/browser/sdk_files.mjs`); the embedding example
//! (`examples/embed-call.html`) joining a call with tokens minted from an API key; what an app
//! meets less often, one case of `tests/browser/sdk_edges.mjs` per behaviour; and its JSDoc
//! types as `tsc --checkJs` reads them.

use parley_tests::rtc::{run_browser_script, App};
use parley_tests::{Backend, Server, ServerOptions, Team};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[tokio::test]
async fn the_sdk_is_served_as_a_module_any_origin_may_import() {
    let server = Server::start(Backend::Sqlite).await;
    let response = server.get("/sdk/parley.js", None).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    // TypeScript-aware loaders (Deno) find the module's types there.
    assert_eq!(header("x-typescript-types"), "./parley.d.ts");
    assert_eq!(header("access-control-allow-origin"), "*");
    assert_eq!(header("cache-control"), "no-cache");
    let etag = header("etag");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
    let body = response.text().await.expect("body");
    assert!(body.contains("export class ParleyClient"), "{body:.200}");

    let again = server
        .request(reqwest::Method::GET, "/sdk/parley.js", None)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), 304);
    assert!(again.text().await.expect("body").is_empty());

    // parley.js re-exports Room from room.js, which other origins may import too.
    assert!(body.contains(r#"export { Room } from "./room.js""#));
    for (file, exports) in [
        ("room.js", "export class Room"),
        ("media.js", "export class RemoteTrack"),
        ("stats.js", "export class StatsHistory"),
        ("parley.d.ts", "export declare class Room"),
        ("package.json", r#""types": "./parley.d.ts""#),
        ("files.js", "export class Upload"),
        ("common.js", "export class Emitter"),
    ] {
        let module = server.get(&format!("/sdk/{file}"), None).await;
        assert_eq!(module.status(), 200, "{file}");
        assert_eq!(
            module.headers()["access-control-allow-origin"],
            "*",
            "{file}"
        );
        let content_type = module.headers()["content-type"].clone();
        let expected = match file.rsplit('.').next() {
            Some("ts") => "application/typescript; charset=utf-8",
            Some("json") => "application/json",
            _ => "text/javascript; charset=utf-8",
        };
        assert_eq!(content_type, expected, "{file}");
        assert!(
            module.text().await.expect("body").contains(exports),
            "{file}"
        );
    }
    let missing = server.get("/sdk/nope.js", None).await;
    parley_tests::expect_error(missing, 404, "route_not_found").await;
}

#[tokio::test]
async fn two_browsers_chat_and_one_rides_out_a_cut_network_with_nothing_lost_or_repeated() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "sdk", false).await;
    let channel = t.channel.to_string();
    let report = run_browser_script(
        "sdk_chat.mjs",
        &[
            "--parley",
            &t.server.url,
            "--channel",
            &channel,
            "--token-a",
            &t.ann.1,
            "--token-b",
            &t.bob.1,
        ],
        90,
    )
    .await;
    eprintln!("sdk_chat.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}: {report}", report["error"]);
    let (a, b) = (&report["a"], &report["b"]);

    // B read the first message and A was told; the receipt counts B.
    let first = &report["first"];
    assert_eq!(report["marked"]["read_seq"], first["seq"], "{report}");
    assert!(
        a["memberRead"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["user_id"] == t.bob.0 && r["read_seq"] == first["seq"]),
        "A heard B's read marker: {report}"
    );
    assert_eq!(report["receipts"]["read_by"], 1, "{report}");
    assert_eq!(report["receipts"]["of"], 1, "{report}");

    // B's app: every message once, in order, across the cut.
    let mut expected: Vec<String> = vec!["hello from A".into()];
    expected.extend((1..=5).map(|i| format!("while B is away {i}")));
    expected.push("welcome back".into());
    let bodies = |app: &Value| -> Vec<String> {
        app["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(bodies(b), expected, "B's messages: {report}");
    assert_eq!(bodies(a), expected, "A's own messages: {report}");
    let seqs: Vec<i64> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {seqs:?}"
    );

    // B went open → reconnecting → open; its request made while away went out after the resume.
    assert_eq!(
        b["connection"],
        serde_json::json!(["connecting", "open", "reconnecting", "open"]),
        "{report}"
    );
    assert_ne!(report["offlineState"], "open", "{report}");
    assert_eq!(report["queuedReply"]["type"], "marked_read", "{report}");
    assert_eq!(
        a["connection"],
        serde_json::json!(["connecting", "open"]),
        "{report}"
    );
    for page in [a, b] {
        assert_eq!(page["errors"], serde_json::json!([]), "{report}");
    }
}

#[tokio::test]
async fn the_embedding_example_joins_a_call_with_tokens_minted_from_an_api_key() {
    // A short resume window, so a page cut off for a while comes back as a new participant. Not
    // shorter: a subscriber connection with nothing to receive hears only the browser's consent
    // checks, every 5 s or so, and a window shorter than that would end the other page too.
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_RESUME_WINDOW_SECS", "10"),
    )
    .await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("support");
    let report = run_browser_script(
        "embed_call.mjs",
        &[
            "--parley",
            &server.url,
            "--api-key",
            &app.key,
            "--api-secret",
            &app.secret,
            "--room",
            &room,
        ],
        120,
    )
    .await;
    eprintln!("embed_call.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}: {report}", report["error"]);
    // Each page plays the other's camera and has its microphone.
    for key in ["videoA", "videoB"] {
        let v = &report[key];
        assert!(
            v["now"].as_i64() >= Some(v["first"].as_i64().unwrap_or(0) + 10),
            "{key}: {v}"
        );
    }
    assert_eq!(report["audioB"], 1, "{report}");
    // Cut off past the window, B came back as a new participant and A plays its camera again.
    let rejoined = &report["rejoined"];
    assert_ne!(rejoined["before"], rejoined["after"], "{report}");
    let v = &report["videoAfterRejoin"];
    assert!(
        v["now"].as_i64() >= Some(v["first"].as_i64().unwrap_or(0) + 10),
        "{v}"
    );
    let labels = report["tileLabelsB"].as_array().expect("labels");
    assert!(labels.iter().any(|l| l == "agent-ann"), "{labels:?}");
    assert_eq!(report["mutedSeenByB"], "agent-ann", "{report}");
    assert_eq!(report["micPressedA"], "false", "{report}");
    assert_eq!(report["afterLeaveB"]["tiles"], 0, "{report}");
    // Regression: the server once stopped every m-line of a subscriber whose last track went,
    // leaving its offer no BUNDLE group; Chromium closed the transport and the server removed the
    // one left in the meeting with `connection_lost`.
    assert_eq!(
        report["bAfterAlone"],
        json!({"state": "open", "removed": null}),
        "{report}"
    );
    assert!(
        report["forged"]
            .as_str()
            .unwrap_or_default()
            .contains("token_invalid"),
        "{report}"
    );
}

// Regression: `room.js` read `RTCRtpTransceiver.stopped`, which is not in the DOM's types, so
// `tsc --checkJs` reported an error, though docs/sdk.md says editors and tsc read the SDK's
// JSDoc types. TypeScript is a dev dependency of tests/browser (scripts/install-test-deps).
#[test]
fn the_sdk_type_checks_with_tsc_check_js() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let tsc = root.join("tests/browser/node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run scripts/install-test-deps",
        tsc.display()
    );
    let sdk = root.join("web/sdk");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sdk)
        .expect("web/sdk")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let output = std::process::Command::new("node")
        .arg(&tsc)
        .args(["--noEmit", "--checkJs", "--target", "es2022"])
        .args(&files)
        .output()
        .expect("run tsc with node");
    assert!(
        output.status.success(),
        "tsc --checkJs found errors in web/sdk:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `len` bytes that compress to nothing, the same on every run (xorshift).
fn file_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The chunk size the file cases upload with.
const CHUNK: u64 = 256 * 1024;

/// Run one case of `sdk_files.mjs` uploading `bytes` as `name`; its report, which must say `ok`.
async fn files_case(server: &Server, case: &str, bytes: &[u8], name: &str, args: &[&str]) -> Value {
    let path = server.dir.path().join(format!("{case}.bin"));
    std::fs::write(&path, bytes).expect("write the file to upload");
    let (path, chunk) = (path.display().to_string(), CHUNK.to_string());
    let mut all = vec![
        "--parley",
        &server.url,
        "--case",
        case,
        "--file",
        &path,
        "--name",
        name,
        "--chunk",
        &chunk,
    ];
    all.extend_from_slice(args);
    let report = run_browser_script("sdk_files.mjs", &all, 120).await;
    eprintln!("sdk_files.mjs {case} report: {report}");
    assert_eq!(report["ok"], true, "{}: {report}", report["error"]);
    report
}

/// The tus requests of a report's `network` log: `(method, Upload-Offset, planned action)`.
fn requests(log: &Value) -> Vec<(String, Option<u64>, String)> {
    log.as_array()
        .expect("a network log")
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or_default().to_string(),
                e["offset"].as_u64(),
                e["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_upload_cut_paused_and_resumed_arrives_whole_and_is_sent_and_downloaded_as_an_attachment(
) {
    let t = Team::new(Server::start(Backend::Sqlite).await, "sdk-files", false).await;
    let bytes = file_bytes(3 * 1024 * 1024 + 12_345);
    let (len, sha256) = (bytes.len() as u64, sha256_hex(&bytes));
    let name = "季度报告 Q3.bin";
    let channel = t.channel.to_string();
    let report = files_case(
        &t.server,
        "resume",
        &bytes,
        name,
        &[
            "--channel",
            &channel,
            "--token-a",
            &t.ann.1,
            "--token-b",
            &t.bob.1,
        ],
    )
    .await;

    // The server made the file of exactly the blob's bytes, as an attachment for the channel.
    let file = &report["outcome"];
    assert_eq!(file["sha256"], sha256.as_str(), "{report}");
    assert_eq!(file["size"], len, "{report}");
    assert_eq!(file["name"], name, "{report}");
    assert_eq!(file["channel"], t.channel, "{report}");
    assert_eq!(
        report["upload"],
        json!({"state": "done", "sent": len, "total": len}),
        "{report}"
    );

    // Each mishap happened, and the SDK asked the server where the upload stood (HEAD) and
    // went on from there: from the same offset when the bytes never arrived, from after them
    // when only the answer was lost.
    let log = requests(&report["network"]);
    let patches: Vec<&(String, Option<u64>, String)> =
        log.iter().filter(|r| r.0 == "PATCH").collect();
    let mishaps: Vec<&str> = patches
        .iter()
        .map(|p| p.2.as_str())
        .filter(|a| *a != "continue")
        .collect();
    assert_eq!(mishaps, ["cut", "lost", "mismatch", "hold"], "{report}");
    for (i, (_, offset, action)) in log.iter().enumerate() {
        if action.is_empty() || action == "continue" {
            continue;
        }
        assert_eq!(
            log.get(i + 1).map(|r| r.0.as_str()),
            Some("HEAD"),
            "after {action}: {log:?}"
        );
        let next = log[i + 1..].iter().find(|r| r.0 == "PATCH").map(|r| r.1);
        let expected = if action == "lost" {
            offset.map(|o| o + CHUNK)
        } else {
            *offset
        };
        assert_eq!(next, Some(expected), "the PATCH after {action}: {log:?}");
    }
    // No byte went to the server twice: the PATCHes that reached it cover the file once.
    let reached: Vec<u64> = patches
        .iter()
        .filter(|p| p.2 == "continue" || p.2 == "lost")
        .filter_map(|p| p.1)
        .collect();
    let chunks: Vec<u64> = (0..len.div_ceil(CHUNK)).map(|i| i * CHUNK).collect();
    assert_eq!(reached, chunks, "{log:?}");

    // Paused with its 9th PATCH on the way: that request was cancelled, and no other went out
    // before the app resumed it.
    let held = patches.iter().find(|p| p.2 == "hold").and_then(|p| p.1);
    assert_eq!(
        report["paused"],
        json!({"state": "paused", "sent": held}),
        "{report}"
    );
    assert_eq!(report["stateWhilePaused"], "paused", "{report}");
    assert_eq!(report["requestsWhilePaused"], 0, "{report}");

    // Progress after every chunk, never backwards, ending at the whole file.
    let progress: Vec<u64> = report["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .map(|p| p.as_u64().expect("bytes"))
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&len), "{progress:?}");
    for chunk in &chunks[1..] {
        assert!(progress.contains(chunk), "{chunk} in {progress:?}");
    }

    // Sent with a message: B receives it with the attachment and downloads the same bytes.
    let attachment = &report["received"]["attachments"][0];
    assert_eq!(attachment["id"], file["id"], "{report}");
    assert_eq!(attachment["name"], name, "{report}");
    assert_eq!(attachment["size"], len, "{report}");
    assert_eq!(
        report["download"],
        json!({"size": len, "sha256": sha256}),
        "{report}"
    );
    let id = file["id"].as_i64().expect("file id");
    let seen_by_bob: Value = parley_tests::expect_json(
        t.server
            .get(&format!("/v1/files/{id}"), Some(&t.bob.1))
            .await,
        200,
    )
    .await;
    assert_eq!(seen_by_bob["sha256"], sha256.as_str(), "{seen_by_bob}");
    assert_eq!(
        seen_by_bob["message"], report["sent"]["message_id"],
        "{seen_by_bob}"
    );
    assert_eq!(report["errors"], json!({"a": [], "b": []}), "{report}");
}

#[tokio::test]
async fn an_upload_resumes_after_a_page_reload_from_its_url_and_an_aborted_one_is_removed() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let (_, token) = server.user_with_role(&admin, "member", None).await;
    let bytes = file_bytes(1024 * 1024 + 1000);
    let len = bytes.len() as u64;
    let report = files_case(
        &server,
        "reload",
        &bytes,
        "notes.bin",
        &["--token-a", &token],
    )
    .await;

    // Two chunks were in when the page went away, its URL kept.
    let before = &report["before"];
    let url = before["url"].as_str().expect("the upload's URL");
    assert!(
        url.starts_with(&format!("{}/v1/uploads/", server.url)),
        "{report}"
    );
    assert_eq!(before["sent"], 2 * CHUNK, "{report}");
    assert_eq!(before["kept"], url, "{report}");
    assert_eq!(report["resumedFrom"], url, "{report}");

    // The new page asked where that upload stood and sent only the rest, to the same URL.
    let after: Vec<(String, Option<u64>, String)> = requests(&report["afterReload"]);
    let methods: Vec<(&str, Option<u64>)> = after.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        methods,
        [
            ("HEAD", None),
            ("PATCH", Some(2 * CHUNK)),
            ("PATCH", Some(3 * CHUNK)),
            ("PATCH", Some(4 * CHUNK))
        ],
        "{report}"
    );
    for entry in report["afterReload"].as_array().expect("requests") {
        assert_eq!(entry["url"], url, "{report}");
    }
    assert_eq!(report["progressAfterReload"][0], 2 * CHUNK, "{report}");
    let file = &report["outcome"];
    assert_eq!(file["sha256"], sha256_hex(&bytes).as_str(), "{report}");
    assert_eq!(file["size"], len, "{report}");

    // Aborted mid-way: the promise rejects, and the server forgot the upload (HEAD, then
    // DELETE; the server's answer to a HEAD after it is 404).
    assert_eq!(report["aborted"]["rejected"], "aborted", "{report}");
    assert_eq!(report["aborted"]["state"], "aborted", "{report}");
    assert_eq!(report["aborted"]["headAfter"], 404, "{report}");
    assert_eq!(
        report["abortRequests"],
        json!(["HEAD", "DELETE", "HEAD"]),
        "{report}"
    );
}

/// Run one case of `sdk_edges.mjs` against `server`; its report, which must say `ok`.
async fn edge_case(server: &Server, case: &str, args: &[&str]) -> Value {
    let mut all = vec!["--parley", &server.url, "--case", case];
    all.extend_from_slice(args);
    let report = run_browser_script("sdk_edges.mjs", &all, 90).await;
    eprintln!("sdk_edges.mjs {case} report: {report}");
    assert_eq!(report["ok"], true, "{}: {report}", report["error"]);
    report
}

// Regression: `leave()` while the answer to a subscriber offer awaited its reply emitted
// `error` ("the room was closed: left"), and a refused `join()` emitted `error` besides
// rejecting, though `error` is for errors no request owns.
#[tokio::test]
async fn leaving_mid_answer_and_a_refused_join_emit_no_error_event() {
    let server = Server::start(Backend::Sqlite).await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("edges");
    let grants = json!({"room": room, "room_join": true, "room_create": true, "can_publish": true, "can_subscribe": true});
    let (a, b) = (
        app.token("ann", grants.clone()),
        app.token("bob", grants.clone()),
    );
    let forged = App {
        key: app.key.clone(),
        secret: "not-the-secret-at-all-0123456789".into(),
    }
    .token("mallory", grants);
    let report = edge_case(
        &server,
        "leave",
        &["--token-a", &a, "--token-b", &b, "--forged", &forged],
    )
    .await;
    assert_eq!(
        report["leftWith"],
        json!({"answerInFlight": true}),
        "{report}"
    );
    assert_eq!(report["reason"], "left", "{report}");
    assert_eq!(report["stateA"], "closed", "{report}");
    assert_eq!(report["refusal"], "token_invalid", "{report}");
    assert_eq!(report["stateForged"], "closed", "{report}");
    assert_eq!(report["errors"], json!({"a": [], "forged": []}), "{report}");
}

/// The server's signing secret in the tests that forge a user's expired token.
const JWT_SECRET: &str = "web-sdk-tests-secret-of-enough-length";

/// `token` (a user's access token signed with `JWT_SECRET`) with its expiry an hour ago: the
/// same user and session, so the server refuses it for its age only.
fn expired_copy(token: &str) -> String {
    let key = jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    let mut claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the server signs with JWT_SECRET")
        .claims;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

// Regression: the SDK retried a renewable `token_expired` for ever (7 attempts in 12 s, still
// `connecting`), for a token function that only ever gave expired tokens.
#[tokio::test]
async fn a_token_function_giving_expired_tokens_is_tried_twice_then_join_and_connect_reject() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_AUTH_JWT_SECRET", JWT_SECRET),
    )
    .await;
    let app = App::register(&server).await;
    let room_token = app.token_with(
        json!({"sub": "late", "name": "late", "grants": {"room": parley_tests::unique("late"), "room_join": true, "room_create": true}}),
        -3600,
    );
    let admin = server.admin_token().await;
    let (_, user_token) = server.user_with_role(&admin, "member", None).await;
    let user_token = expired_copy(&user_token);
    let report = edge_case(
        &server,
        "expired",
        &["--room-token", &room_token, "--user-token", &user_token],
    )
    .await;
    for (name, states) in [
        ("room", json!(["connecting", "closed"])),
        ("client", json!(["connecting", "closed"])),
    ] {
        let r = &report[name];
        assert_eq!(r["result"], "rejected: token_expired", "{name}: {report}");
        assert_eq!(
            r["tokenCalls"], 2,
            "{name}: one fresh token, no more: {report}"
        );
        assert_eq!(r["state"], "closed", "{name}: {report}");
        assert_eq!(r["states"], states, "{name}: {report}");
    }
    // join() owns its refusal; a messaging client's fatal `closing` is an `error` as well
    // (docs/sdk.md).
    assert_eq!(report["room"]["errors"], json!([]), "{report}");
    assert_eq!(
        report["client"]["errors"],
        json!(["token_expired"]),
        "{report}"
    );
}

/// The `quality` case of `sdk_edges.mjs`: Ann and Bob publish their microphones in one room
/// and hear each other (both checked); its report.
async fn two_talking(server: &Server) -> Value {
    let app = App::register(server).await;
    let room = parley_tests::unique("quality");
    let grants = json!({"room": room, "room_join": true, "room_create": true, "can_publish": true, "can_subscribe": true});
    let (a, b) = (app.token("ann", grants.clone()), app.token("bob", grants));
    let report = edge_case(server, "quality", &["--token-a", &a, "--token-b", &b]).await;
    for page in ["a", "b"] {
        assert!(
            report["packets"][page].as_i64() >= Some(150),
            "{page} hears the other: {report}"
        );
    }
    report
}

// Regression: a participant's `quality` stayed `null` for a healthy call, since the server
// announces only changes and starts everyone at `excellent`.
#[tokio::test]
async fn connection_quality_is_known_from_the_start_of_a_call() {
    let server = Server::start(Backend::Sqlite).await;
    let report = two_talking(&server).await;
    // Each room's view of each participant: the last quality the server announced to that
    // room, or `excellent` (where the server starts everyone) when it announced none.
    let announced = |to: &str, sid: &Value| -> Value {
        let updates = report["announced"].as_array().expect("announced");
        updates
            .iter()
            .filter(|e| e["to"] == to)
            .flat_map(|e| e["updates"].as_array().expect("updates").iter())
            .rfind(|u| &u["participant"] == sid)
            .map_or(json!("excellent"), |u| u["quality"].clone())
    };
    let updates = report["announced"].as_array().expect("announced");
    assert!(!updates.is_empty(), "{report}");
    assert!(
        updates
            .iter()
            .all(|e| e["updates"][0]["isParticipant"] == true),
        "each connection_quality names a Participant object: {report}"
    );
    for page in ["a", "b"] {
        let view = &report[page];
        let others = view["others"].as_array().expect("others");
        assert_eq!(others.len(), 1, "{report}");
        for p in std::iter::once(&view["self"]).chain(others) {
            assert_eq!(p["quality"], announced(page, &p["sid"]), "{page}: {report}");
        }
    }
    // Nothing is shed: the rooms say so, and no `shedding` event came.
    assert_eq!(
        report["roomShedding"],
        json!({"a": "none", "b": "none"}),
        "{report}"
    );
    assert_eq!(report["shedding"], json!([]), "{report}");
}

/// A server that sheds video (`rtc.shed_floor`; load does the same) says so from the start:
/// each room's `shedding` reads `video` and fired one `shedding` event, and audio still flows.
#[tokio::test]
async fn a_room_knows_what_the_server_sheds_from_the_start() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_RTC_SHED_FLOOR", "video"),
    )
    .await;
    let report = two_talking(&server).await;
    assert_eq!(
        report["roomShedding"],
        json!({"a": "video", "b": "video"}),
        "{report}"
    );
    assert_eq!(
        report["shedding"],
        json!([
            {"to": "a", "shedding": "video", "now": "video"},
            {"to": "b", "shedding": "video", "now": "video"}
        ]),
        "{report}"
    );
}
