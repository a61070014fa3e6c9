//! The load tester and the server end to end: a short, bounded soak of `parley-loadtest im`
//! against the real binary proves that every message reaches every online member exactly once
//! and in order under a steady load, that every client connects, and that the tool reports the
//! server's cost. Speed is not judged here (docs/BENCHMARKS.md measures it); correctness is.

use parley_tests::{Backend, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn a_short_im_soak_loses_repeats_and_reorders_nothing() {
    let server = Server::start(Backend::Sqlite).await;
    let report_path = server.dir.path().join("im-report.json");
    let bin = parley_tests::parley_bin().with_file_name("parley-loadtest");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --bins",
        bin.display()
    );
    let pid = server.pid().to_string();
    let output = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(&bin)
            .args(["im", "--server", &server.url])
            .args([
                "--admin-email",
                ADMIN_EMAIL,
                "--admin-password",
                ADMIN_PASSWORD,
            ])
            .args(["--users", "60", "--channels", "10", "--members", "12"])
            .args(["--rate", "40", "--size", "200", "--duration", "60"])
            .args(["--ramp-up", "3", "--drain", "15", "--server-pid", &pid])
            .arg("--report")
            .arg(&report_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the soak stops by itself within its bounds")
    .expect("run parley-loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "parley-loadtest failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_path).expect("report written"))
            .expect("JSON report");
    let c = &report["connections"];
    assert_eq!(c["connected"], 60, "{report}");
    assert_eq!(c["failed"], 0, "{report}");
    assert_eq!(c["closed_early"], 0, "{report}");
    let d = &report["deliveries"];
    for key in ["lost", "duplicated", "out_of_order"] {
        assert_eq!(d[key], 0, "{key}: {report}");
    }
    // About 40 a second for a minute, each to its channel's 12 members.
    let acked = report["messages"]["acked"].as_u64().expect("acked");
    assert!((2000..=2600).contains(&acked), "{report}");
    assert_eq!(d["delivered"].as_u64(), Some(acked * 12), "{report}");
    assert_eq!(d["expected"], d["delivered"], "{report}");
    assert_eq!(report["latency"]["count"], d["delivered"], "{report}");
    // The server's cost was read from its process.
    let s = &report["server"];
    assert!(s["cpu_secs"].as_f64() > Some(0.0), "{report}");
    assert!(s["deliveries_per_cpu_sec"].as_f64() > Some(0.0), "{report}");
    assert!(stdout.contains("every message reached every member once, in order"));
}
