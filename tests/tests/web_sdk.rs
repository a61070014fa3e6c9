//! The JS SDK (`web/sdk/parley.js`) as an app uses it: served by the binary at
//! `/sdk/parley.js`, imported across origins by two headless Chromium pages that chat, read,
//! and ride out a cut network without losing or repeating a message.

use parley_tests::rtc::run_browser_script;
use parley_tests::{Backend, Server, Team};
use serde_json::Value;

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
