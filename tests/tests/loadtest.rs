//! The load tester and the server end to end: a short, bounded soak of `parley-loadtest im`
//! against the real binary proves that every message reaches every online member exactly once
//! and in order under a steady load, also for clients that drop and reconnect mid-run (churn,
//! resuming from their last sequence), that every client connects, and that the tool reports
//! the server's cost. A shorter run drives the bare floor (`parley-loadtest floor`) with the
//! same clients. Short `media` and `bridge` soaks prove that every bot joins and receives media
//! on every track it should (a meeting with simulcast video; a voice bridge's slots). Speed is
//! not judged here (docs/BENCHMARKS.md measures it); correctness is.

use parley_tests::{Backend, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn loadtest_bin() -> PathBuf {
    let bin = parley_tests::parley_bin().with_file_name("parley-loadtest");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --bins",
        bin.display()
    );
    bin
}

fn read_report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("JSON report")
}

#[tokio::test]
async fn a_short_im_soak_loses_repeats_and_reorders_nothing() {
    let server = Server::start(Backend::Sqlite).await;
    let (report, stdout) = loadtest(
        &server,
        &[
            "im",
            "--users",
            "60",
            "--channels",
            "10",
            "--members",
            "12",
            "--rate",
            "40",
            "--size",
            "200",
            "--duration",
            "60",
            "--ramp-up",
            "3",
            "--drain",
            "15",
            // A fifth of the clients drop and reconnect once, mid-run.
            "--churn",
            "0.2",
        ],
        "im",
        Duration::from_secs(240),
        ">p99<",
    )
    .await;
    let c = &report["connections"];
    assert_eq!(c["connected"], 60, "{report}");
    assert_eq!(c["failed"], 0, "{report}");
    assert_eq!(c["closed_early"], 0, "{report}");
    assert_eq!(c["reconnected"], 12, "{report}");
    let d = &report["deliveries"];
    for key in ["lost", "duplicated", "out_of_order"] {
        assert_eq!(d[key], 0, "{key}: {report}");
    }
    // About 40 a second for a minute, each to its channel's 12 members.
    let acked = report["messages"]["acked"].as_u64().expect("acked");
    assert!((2000..=2600).contains(&acked), "{report}");
    assert_eq!(d["delivered"].as_u64(), Some(acked * 12), "{report}");
    assert_eq!(d["expected"], d["delivered"], "{report}");
    // Events replayed to the reconnected clients are checked like the rest but left out of
    // the latencies (they measure the outage).
    let replayed = d["replayed"].as_u64().expect("replayed");
    // Each reconnecting client was away half a second while its channels moved on.
    assert!(replayed > 0, "{report}");
    assert_eq!(
        report["latency"]["count"].as_u64(),
        Some(acked * 12 - replayed),
        "{report}"
    );
    // The timeline covers the run second by second and adds up to the totals.
    let timeline = report["timeline"].as_array().expect("timeline");
    assert!((60..=80).contains(&timeline.len()), "{report}");
    let sum = |key: &str| {
        timeline
            .iter()
            .map(|p| p[key].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("delivered"), acked * 12, "{report}");
    // The server's cost was read from its process.
    let s = &report["server"];
    assert!(s["cpu_secs"].as_f64() > Some(0.0), "{report}");
    assert!(s["deliveries_per_cpu_sec"].as_f64() > Some(0.0), "{report}");
    assert!(stdout.contains("every message reached every member once, in order"));
}

#[tokio::test]
async fn the_floor_serves_the_same_clients_and_loses_nothing() {
    let bin = loadtest_bin();
    let dir = tempfile::tempdir().expect("temporary folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let layout = ["--users", "40", "--channels", "8", "--members", "10"];
    let mut floor = tokio::process::Command::new(&bin)
        .args(["floor", "--listen", &format!("127.0.0.1:{port}")])
        .args(layout)
        .args(["--stop-after", "120"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the floor");
    // It says where it listens once it does.
    let mut lines = tokio::io::BufReader::new(floor.stderr.take().expect("stderr"));
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line),
    )
    .await
    .expect("the floor starts")
    .expect("read its stderr");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    let report_path = dir.path().join("floor.json");
    let pid = floor.id().expect("running").to_string();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&bin)
            .args([
                "im",
                "--floor",
                "--server",
                &format!("http://127.0.0.1:{port}"),
            ])
            .args(layout)
            .args(["--rate", "100", "--duration", "5", "--ramp-up", "1"])
            .args(["--drain", "5", "--server-pid", &pid])
            .arg("--report")
            .arg(&report_path)
            .output(),
    )
    .await
    .expect("the run stops by itself")
    .expect("run parley-loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = read_report(&report_path);
    assert_eq!(report["target"], "floor", "{report}");
    assert_eq!(report["connections"]["connected"], 40, "{report}");
    let d = &report["deliveries"];
    for key in ["lost", "duplicated", "out_of_order"] {
        assert_eq!(d[key], 0, "{key}: {report}");
    }
    let acked = report["messages"]["acked"].as_u64().expect("acked");
    assert!((400..=560).contains(&acked), "{report}");
    assert_eq!(d["delivered"].as_u64(), Some(acked * 10), "{report}");
    assert!(report["server"]["deliveries_per_cpu_sec"].as_f64() > Some(0.0));
    floor.kill().await.ok();
}

/// Run `parley-loadtest` with `args` against `server` (its pid passed), within `limit`; the
/// JSON report and the table it printed. Its chart must be drawn too, showing `chart_shows`.
async fn loadtest(
    server: &Server,
    args: &[&str],
    name: &str,
    limit: Duration,
    chart_shows: &str,
) -> (Value, String) {
    let report_path = server.dir.path().join(format!("{name}-report.json"));
    let chart_path = server.dir.path().join(format!("{name}-chart.svg"));
    let bin = loadtest_bin();
    let pid = server.pid().to_string();
    let output = tokio::time::timeout(
        limit,
        tokio::process::Command::new(&bin)
            .args(args)
            .args(["--server", &server.url])
            .args([
                "--admin-email",
                ADMIN_EMAIL,
                "--admin-password",
                ADMIN_PASSWORD,
            ])
            .args(["--server-pid", &pid])
            .arg("--report")
            .arg(&report_path)
            .arg("--chart")
            .arg(&chart_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the run stops by itself within its bounds")
    .expect("run parley-loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "parley-loadtest {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let chart = std::fs::read_to_string(&chart_path).expect("the chart was written");
    assert!(
        chart.starts_with("<svg") && chart.contains(chart_shows),
        "{chart}"
    );
    (read_report(&report_path), stdout)
}

/// What every media report must hold: everyone joined, every track that should carry media
/// did, the figures add up, and the server's cost was read.
fn check_media_report(report: &Value, bots: u64, tracks: u64, subscribe_only: u64) {
    assert_eq!(report["target"], "parley", "{report}");
    let j = &report["joins"];
    assert_eq!(j["attempted"], bots, "{report}");
    assert_eq!(j["joined"], bots, "{report}");
    assert_eq!(j["failed"], 0, "{report}");
    assert_eq!(j["server_errors"], 0, "{report}");
    assert_eq!(
        j["join_to_first_audio"]["count"], subscribe_only,
        "{report}"
    );
    let s = &report["subscribers"];
    assert_eq!(s["tracks_expected"], tracks, "{report}");
    assert_eq!(s["tracks_with_media"], tracks, "{report}");
    assert_eq!(s["tracks_missing"], 0, "{report}");
    let packets = s["packets"].as_u64().expect("packets");
    assert!(packets > 0, "{report}");
    // Every audio packet and every frame's last packet carries its send time.
    let latency = &report["forwarding_latency"];
    assert!(latency["count"].as_u64() > Some(packets / 4), "{report}");
    assert!(latency["p50_ms"].as_f64() > Some(0.0), "{report}");
    assert!(latency["max_ms"].as_f64() < Some(10_000.0), "{report}");
    // The timeline adds up to the whole.
    let timeline = report["timeline"].as_array().expect("timeline");
    let summed: u64 = timeline
        .iter()
        .map(|t| t["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(summed, packets, "{report}");
    assert!(timeline.len() >= 15, "{report}");
    let server = &report["server"];
    assert!(server["cpu_secs"].as_f64() > Some(0.0), "{report}");
    assert!(server["forwarded_packets"].as_u64() > Some(0), "{report}");
    assert!(
        server["forwarded_per_cpu_sec"].as_f64() > Some(0.0),
        "{report}"
    );
    // Loopback loses next to nothing: what the server sent, the bots received.
    let unreceived = server["sent_not_received"]
        .as_i64()
        .expect("sent_not_received");
    assert!(unreceived.unsigned_abs() <= packets / 100, "{report}");
}

#[tokio::test]
async fn a_short_meeting_soak_delivers_every_track_to_every_subscriber() {
    let server = Server::start(Backend::Sqlite).await;
    let cache = format!("{}/vp8-clips", env!("CARGO_TARGET_TMPDIR"));
    let (report, stdout) = loadtest(
        &server,
        &[
            "media",
            "--rooms",
            "1",
            "--publishers",
            "2",
            "--subscribers",
            "6",
            "--video",
            "--simulcast",
            "--layout",
            "speaker",
            "--duration",
            "20",
            "--ramp-up",
            "3",
            "--clip-cache",
            &cache,
        ],
        "media",
        Duration::from_secs(120),
        "packets received per second",
    )
    .await;
    // Each publisher receives the other's voice and camera; each subscriber both publishers'.
    check_media_report(&report, 8, 2 * 2 + 6 * 4, 6);
    // A meeting forwards every packet: no sequence gaps beyond the odd lost packet.
    assert!(
        report["subscribers"]["loss_percent"].as_f64() < Some(1.0),
        "{report}"
    );
    assert_eq!(
        report["joins"]["join_to_first_frame"]["count"], 6,
        "{report}"
    );
    let p = &report["publishers"];
    assert_eq!(p["count"], 2, "{report}");
    // 50 voice packets a second each, for at least the 23 s they were on.
    assert!(p["audio_packets"].as_u64() > Some(2 * 50 * 20), "{report}");
    assert!(
        p["video_frames"].as_u64() > Some(2 * 3 * 30 * 20 / 2),
        "{report}"
    );
    assert!(stdout.contains("every bot joined and received media on every track it should"));
}

#[tokio::test]
async fn a_short_bridge_soak_gives_every_listener_every_slot() {
    let server = Server::start(Backend::Sqlite).await;
    let (report, _) = loadtest(
        &server,
        &[
            "bridge",
            "--speakers",
            "3",
            "--listeners",
            "20",
            "--slots",
            "3",
            "--duration",
            "20",
            "--ramp-up",
            "3",
        ],
        "bridge",
        Duration::from_secs(120),
        "packets received per second",
    )
    .await;
    // Listeners hear all three speakers in the three slots; a speaker hears the other two.
    check_media_report(&report, 23, 20 * 3 + 3 * 2, 20);
    // Speakers pause, lose their slot and take it back: the slot's numbers continue without
    // a gap, so listeners see no loss beyond the odd lost packet.
    assert!(
        report["subscribers"]["loss_percent"].as_f64() < Some(1.0),
        "{report}"
    );
    assert_eq!(report["scenario"], "bridge", "{report}");
    assert_eq!(
        report["joins"]["join_to_first_frame"]["count"], 0,
        "{report}"
    );
}
