//! The JS SDK's `Room` as docs/sdk.md documents it, through three headless Chromium pages that
//! import it from the server (`tests/browser/sdk_room.mjs`), and its TypeScript declarations as
//! an app's `tsc --strict` reads them from the npm package (`examples/ts-app`).

use parley_tests::rtc::{run_browser_script, App};
use parley_tests::{Backend, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The entries of a `getStats()` summary with this direction and source.
fn stat<'a>(tracks: &'a Value, direction: &str, source: &str, participant: &Value) -> &'a Value {
    tracks
        .as_array()
        .expect("tracks")
        .iter()
        .find(|t| {
            t["direction"] == direction && t["source"] == source && &t["participant"] == participant
        })
        .unwrap_or_else(|| panic!("no {direction} {source} of {participant} in {tracks}"))
}

#[tokio::test]
async fn three_browsers_use_the_room_api_as_documented() {
    let server = Server::start(Backend::Sqlite).await;
    let app = App::register(&server).await;
    let room = parley_tests::unique("sdk-room");
    let (a, b, c) = (
        app.participant("ann", &room),
        app.participant("bob", &room),
        app.participant("cat", &room),
    );
    let report = run_browser_script(
        "sdk_room.mjs",
        &[
            "--parley",
            &server.url,
            "--token-a",
            &a,
            "--token-b",
            &b,
            "--token-c",
            &c,
        ],
        200,
    )
    .await;
    eprintln!("sdk_room.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}: {report}", report["error"]);

    // Before joining: every kind of device, named; the meter hears the fake microphone's beep;
    // the preview plays muted and leaves its element clean.
    let pre = &report["prejoin"];
    for kind in ["audioinput", "videoinput", "audiooutput"] {
        assert!(
            pre["kinds"].as_array().unwrap().iter().any(|k| k == kind),
            "{kind}: {pre}"
        );
    }
    assert_eq!(pre["labelled"], true, "{pre}");
    assert!(pre["audioinputs"].as_u64() >= Some(2), "{pre}");
    assert!(
        pre["peak"].as_f64() > Some(0.02),
        "the meter hears the beep: {pre}"
    );
    assert_eq!(pre["micIsLocal"], true, "{pre}");
    assert!(pre["previewWidth"].as_u64() > Some(0), "{pre}");
    assert_eq!(pre["previewMuted"], true, "{pre}");
    assert_eq!(
        (
            &pre["attachedBefore"],
            &pre["detached"],
            &pre["srcAfterDetach"],
            &pre["attachedAfter"]
        ),
        (&json!(1), &json!(true), &Value::Null, &json!(0)),
        "{pre}"
    );

    // The checked tracks are published as they are: the same objects, now with publications.
    let a_view = &report["a"];
    assert_eq!(
        (
            &a_view["sameMic"],
            &a_view["sameCam"],
            &a_view["micPublication"]
        ),
        (&json!(true), &json!(true), &json!(true)),
        "{a_view}"
    );
    assert_eq!(a_view["camLayers"], 3, "simulcast by default: {a_view}");

    let attach = &report["attach"];
    for key in [
        "returnedSame",
        "src",
        "once",
        "autoplay",
        "trackIsRemote",
        "sameParticipantObject",
    ] {
        assert_eq!(attach[key], true, "{key}: {attach}");
    }

    // Speaking follows B's tone, in A's room and in B's own.
    let speaking = &report["speaking"];
    assert!(speaking["level"].as_f64() > Some(0.0), "{speaking}");
    for key in ["event", "inList", "lastSpokeAt"] {
        assert_eq!(speaking[key], true, "{key}: {speaking}");
    }
    assert_eq!(report["speakingSelf"], true, "{report}");
    assert_eq!(report["silent"]["event"], true, "{report}");
    assert_eq!(report["silent"]["level"], 0.0, "{report}");

    // The third participant: known to the others, and told everyone's quality at once.
    let c_view = &report["c"];
    assert_eq!(c_view["others"], 2, "{c_view}");
    assert_eq!(c_view["qualityOfSelf"], true, "{c_view}");
    assert_eq!(c_view["qualityNamed"], 3, "{c_view}");
    let qualities = ["excellent", "good", "poor", "lost"];
    assert!(
        qualities.iter().any(|q| c_view["localQuality"] == *q),
        "{c_view}"
    );
    let three = &report["three"];
    assert_eq!(three["participants"], 2, "{three}");
    assert_eq!(
        (&three["tagName"], &three["muted"]),
        (&json!("VIDEO"), &json!(true)),
        "{three}"
    );
    assert!(three["videoWidth"].as_u64() > Some(0), "{three}");
    assert_eq!(three["joined"], json!(["bob", "cat"]), "{three}");

    // getStats: each published and received track, its fields present and moving.
    let stats = &report["stats"];
    assert_eq!(stats["raw"], true, "{stats}");
    assert_eq!(stats["timestamps"], true, "{stats}");
    let (first, second) = (&stats["first"], &stats["second"]);
    let own = &report["a"]["sid"];
    let mic = stat(second, "outbound", "microphone", own);
    assert_eq!(mic["codec"], "opus", "{mic}");
    assert!(mic["bitrate"].as_f64() > Some(0.0), "{mic}");
    assert!(
        mic["packets"].as_u64() > stat(first, "outbound", "microphone", own)["packets"].as_u64(),
        "{stats}"
    );
    assert!(mic["rtt"].is_number(), "{mic}");
    let cam = stat(second, "outbound", "camera", own);
    assert_eq!(cam["layers"], 3, "{cam}");
    assert!(
        ["low", "medium", "high"].iter().any(|l| cam["layer"] == *l),
        "{cam}"
    );
    assert!(cam["width"].as_u64() > Some(0), "{cam}");
    assert!(cam["codec"].is_string(), "{cam}");
    let heard = stat(second, "inbound", "microphone", &report["b"]["sid"]);
    assert_eq!(heard["codec"], "opus", "{heard}");
    assert!(heard["jitter"].is_number(), "{heard}");
    assert!(heard["packetLoss"].is_number(), "{heard}");
    let seen = stat(second, "inbound", "camera", &report["c"]["sid"]);
    assert!(seen["width"].as_u64() > Some(0), "{seen}");
    assert!(seen["bitrate"].as_f64() > Some(0.0), "{seen}");
    assert!(
        ["low", "medium", "high"]
            .iter()
            .any(|l| seen["layer"] == *l),
        "the layer the server forwards: {seen}"
    );

    // Devices switched in place: same objects and sids, new capture, the others still served.
    let devices = &report["devices"];
    for key in [
        "micSame",
        "micDevice",
        "micSender",
        "oldMicEnded",
        "camSame",
        "camDevice",
        "camSender",
        "oldCamEnded",
        "camLive",
        "sink",
    ] {
        assert_eq!(devices[key], true, "{key}: {devices}");
    }
    assert_eq!(
        devices["active"],
        json!({"audioinput": true, "videoinput": true, "audiooutput": true}),
        "{devices}"
    );
    assert_eq!(
        devices["refused"],
        json!({"videoinput": "no_device", "camera": "invalid_input"}),
        "{devices}"
    );
    assert_eq!(devices["events"], 3, "{devices}");

    // A screen share with its sound: two tracks, both gone when the screen is.
    assert_eq!(
        report["screen"]["sources"],
        json!(["camera", "screen_share", "screen_share_audio"]),
        "{report}"
    );
    assert_eq!(
        report["screenSeen"],
        json!(["camera", "screen_share", "screen_share_audio"]),
        "{report}"
    );
    assert_eq!(report["screenGone"], 2, "{report}");
    assert_eq!(
        report["resubscribe"],
        json!({"dropped": true, "sameTrack": true, "attached": true}),
        "unsubscribing and subscribing again keeps the track and its element: {report}"
    );
    assert_eq!(
        report["pip"],
        json!({"window": true, "element": true}),
        "{report}"
    );

    // A dropped network: reconnecting, then resumed; the same objects; nobody saw B go.
    let resumed = &report["resumed"];
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(
        (&resumed["state"], &resumed["pong"]),
        (&json!("open"), &json!("pong")),
        "{resumed}"
    );
    for key in ["sameA", "samePublication", "sameTrack"] {
        assert_eq!(resumed[key], true, "{key}: {resumed}");
    }
    assert_eq!(resumed["leftMeanwhile"], 0, "{resumed}");
    assert_eq!(report["othersSawNothing"], json!([]), "{report}");

    // Leaving: unsubscribed before left; `disconnected` names why.
    let c_left = &report["cLeft"];
    assert_eq!(
        c_left["order"],
        json!(["track_unsubscribed", "participant_left"]),
        "{c_left}"
    );
    assert_eq!(c_left["srcCleared"], true, "{c_left}");
    assert_eq!(
        report["aLeaves"],
        json!({"state": "closed", "reason": "left", "micStopped": true}),
        "{report}"
    );

    // Every payload was the documented object type, and no undocumented event came.
    for page in ["a", "b", "c"] {
        let events = &report["events"][page];
        assert_eq!(events["bad"], json!([]), "{page}: {events}");
        assert_eq!(events["unknown"], json!([]), "{page}: {events}");
    }
    let a_seen = &report["events"]["a"]["seen"];
    for kind in [
        "participant_joined",
        "participant_left",
        "track_published",
        "track_unpublished",
        "track_subscribed",
        "track_unsubscribed",
        "local_track_published",
        "active_speakers",
        "speaking_changed",
        "connection_quality",
        "active_device_changed",
        "disconnected",
    ] {
        assert!(
            a_seen[kind].as_u64() > Some(0),
            "A heard no {kind}: {a_seen}"
        );
    }
    let b_seen = &report["events"]["b"]["seen"];
    for kind in ["reconnecting", "reconnected"] {
        assert!(
            b_seen[kind].as_u64() > Some(0),
            "B heard no {kind}: {b_seen}"
        );
    }
}

/// Run `node tsc` with `args` in `dir`; its exit status and output.
fn tsc(dir: &Path, args: &[&str]) -> (bool, String) {
    let compiler = repo().join("tests/browser/node_modules/typescript/bin/tsc");
    assert!(
        compiler.exists(),
        "{} is missing: run scripts/install-test-deps",
        compiler.display()
    );
    let output = Command::new("node")
        .arg(&compiler)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tsc with node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `npm pack` of the package in `dir` into `into`: the tarball's path and the files it holds.
fn pack(dir: &Path, into: &Path) -> (PathBuf, Vec<String>) {
    let output = Command::new("npm")
        .args(["pack", "--json", "--pack-destination"])
        .arg(into)
        .current_dir(dir)
        .output()
        .expect("run npm pack");
    assert!(
        output.status.success(),
        "npm pack in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let packed: Value = serde_json::from_slice(&output.stdout).expect("npm pack --json");
    let mut files: Vec<String> = packed[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    files.sort();
    let tarball = into.join(packed[0]["filename"].as_str().expect("filename"));
    (tarball, files)
}

#[test]
fn a_typescript_app_compiles_strict_against_the_packed_packages_and_misuse_does_not() {
    let work = tempfile::tempdir().expect("temp dir");
    let (sdk, sdk_files) = pack(&repo().join("web/sdk"), work.path());
    assert_eq!(
        sdk_files,
        [
            "LICENSE",
            "README.md",
            "common.js",
            "files.js",
            "media.js",
            "package.json",
            "parley.d.ts",
            "parley.js",
            "room.js",
            "stats.js"
        ],
        "the SDK's package holds its modules, their types, README and licence, nothing else"
    );
    let (server, server_files) = pack(&repo().join("server-sdk/node"), work.path());
    assert_eq!(
        server_files,
        [
            "LICENSE",
            "README.md",
            "index.d.ts",
            "index.mjs",
            "package.json"
        ]
    );
    // The package's major version is the protocol version it speaks.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("web/sdk/package.json")).expect("package.json"),
    )
    .expect("package.json is JSON");
    let version = manifest["version"].as_str().expect("version");
    assert_eq!(version.split('.').next(), Some("1"), "{version}");
    assert_eq!(manifest["parley"]["protocol"], 1);
    assert_eq!(manifest["exports"]["."]["types"], "./parley.d.ts");

    // The example app, installed from the tarballs as an app would install them.
    let app = work.path().join("app");
    std::fs::create_dir_all(app.join("src")).expect("app dir");
    let example = repo().join("examples/ts-app");
    for file in ["tsconfig.json", "tsconfig.misuse.json"] {
        std::fs::copy(example.join(file), app.join(file)).expect("copy tsconfig");
    }
    for entry in std::fs::read_dir(example.join("src")).expect("src") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, app.join("src").join(path.file_name().expect("name")))
            .expect("copy source");
    }
    std::fs::write(
        app.join("package.json"),
        r#"{"private":true,"type":"module"}"#,
    )
    .expect("package.json");
    let installed = Command::new("npm")
        .args(["install", "--offline", "--no-audit", "--no-fund"])
        .args([&sdk, &server])
        .current_dir(&app)
        .output()
        .expect("run npm install");
    assert!(
        installed.status.success(),
        "npm install: {}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let (ok, output) = tsc(&app, &["-p", "tsconfig.json"]);
    assert!(
        ok,
        "tsc --strict found errors in the example app:\n{output}"
    );

    // Each line of misuse.ts marked `error` is reported, and nothing else.
    let (ok, output) = tsc(&app, &["-p", "tsconfig.misuse.json"]);
    assert!(!ok, "the misuse compiled:\n{output}");
    let misuse = std::fs::read_to_string(example.join("src/misuse.ts")).expect("misuse.ts");
    let marked: Vec<usize> = misuse
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("// error"))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(marked.len() >= 5, "{marked:?}");
    let mut reported: Vec<usize> = output
        .lines()
        .filter_map(|l| l.strip_prefix("src/misuse.ts("))
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect();
    reported.dedup();
    assert_eq!(reported, marked, "{output}");
}
