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
