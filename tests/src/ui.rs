//! What the web app's UI tests share: members made over REST who then sign in through the app's
//! form, and the screenshots the browser scripts write.

use crate::{expect_json, unique, Server};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The password of the members `members` makes.
pub const UI_PASSWORD: &str = "user-password-1";

/// A member for each of `names` (emails made unique with `tag`), as `(id, email)` in order.
pub async fn members(
    server: &Server,
    admin: &str,
    tag: &str,
    names: &[&str],
) -> Vec<(i64, String)> {
    let mut people = Vec::with_capacity(names.len());
    for name in names {
        let email = format!("{}@example.com", unique(tag));
        let body = json!({"email": email, "name": name, "role": "member", "password": UI_PASSWORD});
        let user: Value =
            expect_json(server.post("/v1/users", Some(admin), &body).await, 201).await;
        people.push((user["id"].as_i64().expect("id"), email));
    }
    people
}

/// Ann Lee and 李娜, members (emails made unique with `tag`), in a group channel named
/// `channel_name` that Ann made; then `script` (`tests/browser/`) run against them with
/// `--parley`, `--channel`, `--email-a`, `--email-b`, `--password` and `--out` (the screenshots
/// folder), within `timeout_secs`. Returns the script's report.
pub async fn two_in_a_channel(
    server: &Server,
    tag: &str,
    channel_name: &str,
    script: &str,
    timeout_secs: u64,
) -> Value {
    let admin = server.admin_token().await;
    let people = members(server, &admin, tag, &["Ann Lee", "李娜"]).await;
    let ann = server.login(&people[0].1, UI_PASSWORD).await.access_token;
    let body = json!({"name": channel_name, "kind": "group", "category": "project",
        "members": [people[1].0]});
    let channel: Value =
        expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
    let out = screenshots_dir();
    crate::rtc::run_browser_script(
        script,
        &[
            "--parley",
            &server.url,
            "--channel",
            &channel["id"].to_string(),
            "--email-a",
            &people[0].1,
            "--email-b",
            &people[1].1,
            "--password",
            UI_PASSWORD,
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        timeout_secs,
    )
    .await
}

/// Where the UI tests write their screenshots (the ones in `docs/screenshots/` are copied from
/// there).
pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
}

/// Every screenshot the report names was written, is larger than `min_bytes`, and (unless
/// `prefixes` is empty) is named with one of `prefixes`; returns how many there are.
pub fn check_screenshots(report: &Value, prefixes: &[&str], min_bytes: u64) -> usize {
    let shots = report["screenshots"].as_array().expect("screenshots");
    for shot in shots {
        let path = shot.as_str().expect("path");
        assert!(
            prefixes.is_empty() || prefixes.iter().any(|p| path.contains(p)),
            "{path}"
        );
        let size = std::fs::metadata(path).expect("screenshot written").len();
        assert!(size > min_bytes, "{path} is {size} bytes");
    }
    shots.len()
}
