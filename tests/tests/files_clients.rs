//! Standard tus clients that nobody on the project wrote, tus-js-client (in Node) and tuspy,
//! upload to the real binary, are stopped part way and resume: the file Parley keeps has the
//! same bytes, and the server received each byte once (it resumed, it did not start again).

use parley_tests::rtc::{metric, run_browser_script};
use parley_tests::{expect_json, Server};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// A 5 MiB + 123 byte file of noise (several 1 MiB chunks and a short last one).
fn sample(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let bytes = parley_tests::bytes::noise(5 * 1024 * 1024 + 123, 5);
    let path = dir.join("sample.bin");
    std::fs::write(&path, &bytes).expect("write the sample");
    (path, bytes)
}

async fn check(server: &Server, token: &str, report: &Value, bytes: &[u8], name: &str) {
    assert_eq!(report["offset"], bytes.len(), "{report}");
    let file: Value = expect_json(
        server
            .get(&format!("/v1/files/{}", report["file"]), Some(token))
            .await,
        200,
    )
    .await;
    assert_eq!(file["name"], name);
    assert_eq!(file["sha256"], parley_tests::bytes::sha256_hex(bytes));
    let received = metric(server, "parley_upload_bytes_total").await;
    assert_eq!(
        received as usize,
        bytes.len(),
        "each byte arrived once: the client resumed rather than starting again"
    );
}

#[tokio::test]
async fn tus_js_client_uploads_and_resumes() {
    let server = Server::start(parley_tests::Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let (_, token) = server.user_with_role(&admin, "member", None).await;
    let (path, bytes) = sample(server.dir.path());
    let name = "项目计划 (tus-js-client).bin";
    let report = run_browser_script(
        "tus_upload.mjs",
        &[&server.url, &token, &path.display().to_string(), name],
        120,
    )
    .await;
    assert_eq!(report["aborted"], true, "{report}");
    assert_eq!(report["same_upload"], true, "{report}");
    assert!(report["stopped_at"].as_u64() < Some(bytes.len() as u64));
    check(&server, &token, &report, &bytes, name).await;
}

#[tokio::test]
async fn tuspy_uploads_and_resumes() {
    let server = Server::start(parley_tests::Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let (_, token) = server.user_with_role(&admin, "member", None).await;
    let (path, bytes) = sample(server.dir.path());
    let name = "项目计划 (tuspy).bin";
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/tus_upload.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .args([&server.url, &token, &path.display().to_string(), name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python3 (scripts/install-test-deps installs tuspy)");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("tuspy finished in time")
        .expect("tuspy output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| {
            panic!(
                "tuspy failed: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(report["stopped_at"], 3 * 1024 * 1024, "{report}");
    assert_eq!(report["resumed_from"], 3 * 1024 * 1024, "{report}");
    check(&server, &token, &report, &bytes, name).await;
}
