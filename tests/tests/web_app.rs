//! The web app as people use it: served by the binary at `/`, signed into from the form by two
//! headless Chromium contexts (English and Simplified Chinese) that chat, ping urgently, meet
//! with video and screen share, ride out a cut network, and write minutes whose action item
//! reaches the assignee's "My tasks". Screenshots of each state land in
//! `target/ui-screenshots/` (the ones in `docs/screenshots/` are copied from there).

use parley_tests::rtc::run_browser_script;
use parley_tests::{expect_json, unique, Backend, Server};
use serde_json::{json, Value};
use std::path::PathBuf;

const PASSWORD: &str = "user-password-1";

#[tokio::test]
async fn the_app_and_its_files_are_served_from_the_binary() {
    let server = Server::start(Backend::Sqlite).await;
    let page = server.get("/", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-type"],
        "text/html; charset=utf-8",
        "the app's page is HTML"
    );
    let html = page.text().await.expect("body");
    assert!(
        html.contains(r#"<script type="module" src="/app/app.js">"#),
        "{html}"
    );
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("chat.js", "text/javascript"),
        ("ui.js", "text/javascript"),
        ("i18n.js", "text/javascript"),
        ("meeting.js", "text/javascript"),
        ("minutes.js", "text/javascript"),
        ("admin.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let response = server.get(&format!("/app/{file}"), None).await;
        assert_eq!(response.status(), 200, "{file}");
        let etag = response.headers()["etag"]
            .to_str()
            .expect("etag")
            .to_string();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with(kind),
            "{file}"
        );
        let again = server
            .request(reqwest::Method::GET, &format!("/app/{file}"), None)
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 304, "{file} revalidates");
    }
    let missing = server.get("/app/nope.js", None).await;
    parley_tests::expect_error(missing, 404, "route_not_found").await;
}

#[tokio::test]
async fn two_people_chat_ping_meet_and_write_minutes_in_the_app() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let mut people = Vec::new();
    for name in ["Ann Lee", "李娜"] {
        let email = format!("{}@example.com", unique("app"));
        let body = json!({"email": email, "name": name, "role": "member", "password": PASSWORD});
        let user: Value =
            expect_json(server.post("/v1/users", Some(&admin), &body).await, 201).await;
        people.push((user["id"].as_i64().expect("id"), email));
    }
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    let body = json!({"name": "发布组 Release", "kind": "group", "category": "project", "members": [people[1].0]});
    let channel: Value =
        expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    let report = run_browser_script(
        "app_ui.mjs",
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
            PASSWORD,
            "--user-b",
            &people[1].0.to_string(),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        200,
    )
    .await;
    eprintln!("app_ui.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    // Each browser speaks its own language.
    assert_eq!(report["languages"]["a"], "en");
    assert_eq!(report["languages"]["b"], "zh-CN");
    assert_eq!(report["languages"]["bSignOut"], "退出登录");
    assert_eq!(report["receipt"], "Read by everyone");
    assert_eq!(report["bannerStays"], true);
    assert!(report["roster"]
        .as_str()
        .unwrap_or_default()
        .starts_with("1 of 1"));
    // Video flowed both ways, and again after the cut.
    for key in ["videoA", "videoB", "screenB", "videoAfterCut"] {
        let v = &report[key];
        assert!(v["now"].as_i64() > v["first"].as_i64(), "{key}: {v}");
    }
    let tiles = report["tilesB"].as_array().expect("tiles");
    assert!(tiles.iter().any(|t| t == "screen_share"), "{tiles:?}");
    assert_eq!(
        report["afterCut"]["tail"],
        json!(["cut 1", "cut 2", "cut 3"])
    );
    assert!(report["task"]
        .as_str()
        .unwrap_or_default()
        .contains("incident report"));
    let shots = report["screenshots"].as_array().expect("screenshots");
    assert!(shots.len() >= 10, "{shots:?}");
    for shot in shots {
        let size = std::fs::metadata(shot.as_str().expect("path"))
            .expect("screenshot written")
            .len();
        assert!(size > 10_000, "{shot} is {size} bytes");
    }
}
