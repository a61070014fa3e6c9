//! The web app's shell, the part people use all day: the installable app (its manifest, icons
//! and service worker, served by the binary), and, driven by headless Chromium in English and
//! Simplified Chinese (`tests/browser/app_shell.mjs`): the meeting bar's labelled icon controls,
//! the notification inbox and its badge, browser notifications for a hidden tab (none from a
//! muted channel or while "do not disturb"), the unread count in the tab's title, the channel
//! header in one row on a phone with its "More" menu, the channel switcher and the shortcuts
//! sheet, what an administrator with no channel is told to do, the dashboard's chart labels in
//! their frame, the app opening offline, and axe-core finding no serious or critical fault on
//! the sign-in page, a channel, a meeting and the inbox. Screenshots land in
//! `target/ui-screenshots/shell-*.png`.

use parley_tests::rtc::run_browser_script;
use parley_tests::ui::{check_screenshots, members, screenshots_dir};
use parley_tests::{expect_json, Backend, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const PASSWORD: &str = parley_tests::ui::UI_PASSWORD;

/// A PNG's width and height, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(20))
}

#[tokio::test]
async fn the_app_installs_from_its_manifest_and_its_service_worker_is_served_from_the_root() {
    let server = Server::start(Backend::Sqlite).await;
    let html = server.get("/", None).await.text().await.expect("page");
    assert!(
        html.contains(r#"<link rel="manifest" href="/app/manifest.webmanifest">"#),
        "{html}"
    );
    assert!(
        html.contains(r##"<meta name="theme-color" content="#2563eb">"##),
        "{html}"
    );

    let response = server.get("/app/manifest.webmanifest", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/manifest+json"
    );
    let manifest: Value = response.json().await.expect("the manifest is JSON");
    assert_eq!(manifest["name"], "Parley");
    assert_eq!(manifest["short_name"], "Parley");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["theme_color"], "#2563eb");
    let icons = manifest["icons"].as_array().expect("icons");
    let mut sizes = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().expect("src");
        let served = server.get(src, None).await;
        assert_eq!(served.status(), 200, "{src}");
        assert_eq!(
            served.headers()["content-type"],
            icon["type"].as_str().expect("type"),
            "{src}"
        );
        let bytes = served.bytes().await.expect("icon bytes");
        if icon["type"] == "image/png" {
            let (w, h) = png_size(&bytes);
            assert_eq!(
                icon["sizes"],
                format!("{w}x{h}"),
                "{src} is the size it says"
            );
            sizes.push(w);
        }
    }
    sizes.sort_unstable();
    assert_eq!(sizes, [192, 512], "{icons:?}");
    assert!(
        icons.iter().any(|i| i["type"] == "image/svg+xml"),
        "{icons:?}"
    );

    // The worker's scope must cover "/": it is served from the root.
    let worker = server.get("/sw.js", None).await;
    assert_eq!(worker.status(), 200);
    assert!(worker.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/javascript"));
    assert_eq!(worker.headers()["cache-control"], "no-cache");
    let policy = worker.headers()["content-security-policy"]
        .to_str()
        .expect("policy")
        .to_string();
    let etag = worker.headers()["etag"].to_str().expect("etag").to_string();
    let script = worker.text().await.expect("script");
    for path in [
        "\"/\"",
        "/app/app.js",
        "/app/notifications.js",
        "/sdk/parley.js",
        "/app/icon-512.png",
    ] {
        assert!(script.contains(path), "the worker keeps {path}");
    }
    let again = server
        .request(reqwest::Method::GET, "/sw.js", None)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), 304);
    // The policy lets this origin's worker and manifest in: no worker-src or manifest-src
    // narrower than default-src 'self', which they fall back to.
    assert!(policy.contains("default-src 'self'"), "{policy}");
    for directive in ["worker-src", "manifest-src", "child-src"] {
        assert!(
            !policy.contains(directive) || policy.contains(&format!("{directive} 'self'")),
            "{policy}"
        );
    }
    // The OpenAPI document describes it.
    let doc: Value = expect_json(server.get("/v1/openapi.json", None).await, 200).await;
    assert!(
        doc["paths"]["/sw.js"]["get"].is_object(),
        "{}",
        doc["paths"]
    );
    // Only the root serves it: the app's folder has no worker of that name.
    parley_tests::expect_error(server.get("/app/sw.js", None).await, 404, "route_not_found").await;
}

#[tokio::test]
async fn the_shell_notifies_fits_a_phone_answers_the_keyboard_and_passes_axe() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "shell", &["Ann Lee", "李娜"]).await;
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    let mut channels = Vec::new();
    for name in ["发布组 Release", "Ops 运维"] {
        let body =
            json!({"name": name, "kind": "group", "category": "project", "members": [people[1].0]});
        let channel: Value =
            expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
        channels.push(channel["id"].to_string());
    }
    let out = screenshots_dir();
    let report = run_browser_script(
        "app_shell.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &channels[0],
            "--channel2",
            &channels[1],
            "--email-a",
            &people[0].1,
            "--email-b",
            &people[1].1,
            "--password",
            PASSWORD,
            "--user-a",
            &people[0].0.to_string(),
            "--user-b",
            &people[1].0.to_string(),
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        240,
    )
    .await;
    eprintln!("app_shell.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(
        report["translations"],
        json!({"missing": [], "unknown": []}),
        "every text in both languages"
    );

    // axe-core: nothing serious or critical on any page checked, in either language.
    let axe = report["axe"].as_object().expect("axe results");
    for page in [
        "signin-en:signin",
        "signin-zh:signin-phone",
        "a:channel",
        "b:channel",
        "a:notifications",
        "b:notifications",
        "a:meeting",
        "b:channel-phone",
        "a:shortcuts",
    ] {
        assert_eq!(axe.get(page), Some(&json!([])), "{page}: {}", axe[page]);
    }

    // The channel header: every control named and drawn, no emoji.
    let header = &report["header"];
    for action in [
        "meeting", "bridge", "library", "pins", "members", "ring", "mute",
    ] {
        assert!(
            header["actions"]
                .as_array()
                .expect("actions")
                .contains(&json!(action)),
            "{header}"
        );
    }
    assert_eq!(header["unnamed"], json!([]), "{header}");
    assert_eq!(header["emoji"], json!([]), "{header}");
    assert_eq!(header["withoutIcon"], json!([]), "{header}");

    // The inbox: the task's notification, its badge, read.
    assert_eq!(report["taskStatus"], 201);
    assert_eq!(report["badge"], "1");
    assert_eq!(report["titleWithInbox"], "(1) Parley");
    let inbox = &report["inbox"];
    assert!(
        inbox["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Check the shell 检查外壳"),
        "{inbox}"
    );
    assert_eq!(inbox["unread"], true, "{inbox}");
    assert_eq!(inbox["newTag"], true, "{inbox}");
    assert_eq!(inbox["href"], inbox["expected"], "{inbox}");
    assert_eq!(report["afterRead"]["title"], "Parley");
    assert_eq!(report["serverUnread"], 0);

    // Browser notifications for the hidden tab: the open channel's, not the muted one's, none
    // while dnd.
    assert_eq!(report["mutePressed"], "true");
    assert_eq!(report["mutedStored"], format!("[{}]", channels[0]));
    let bodies: Vec<&str> = report["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        [
            "first in the open channel",
            "after the muted one",
            "back online"
        ],
        "{report}"
    );
    assert!(
        report["noteOpen"]["title"]
            .as_str()
            .unwrap_or_default()
            .contains("Ann Lee"),
        "{report}"
    );
    assert_eq!(report["mutedUnread"], "1", "the muted channel still counts");
    for key in ["title", "titleLater"] {
        let title = report[key].as_str().unwrap_or_default();
        let n: u32 = title
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(") Parley"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key}: {title}"));
        assert!(n >= 1, "{key}: {title}");
    }

    // The meeting bar, on a desktop and on a phone.
    for key in ["meeting", "meetingPhone"] {
        let bar = &report[key];
        assert_eq!(bar["fits"], true, "{key}: {bar}");
        let buttons = bar["buttons"].as_array().expect("buttons");
        assert!(buttons.len() >= 8, "{key}: {bar}");
        for b in buttons {
            assert_eq!(b["icon"], true, "{key}: {b}");
            assert_eq!(b["emoji"], false, "{key}: {b}");
            assert_eq!(b["labelShown"], true, "{key}: {b}");
            assert_eq!(b["inside"], true, "{key}: {b}");
            assert!(
                !b["label"].as_str().unwrap_or_default().is_empty(),
                "{key}: {b}"
            );
            // The accessible name is the tooltip where it contains the label, else the label.
            let name = b["name"].as_str().unwrap_or_default();
            let label = b["label"].as_str().unwrap_or_default();
            assert!(
                name.to_lowercase().contains(&label.to_lowercase()),
                "{key}: {b}"
            );
            assert!(
                !b["title"].as_str().unwrap_or_default().is_empty(),
                "{key}: {b}"
            );
        }
        let pressed = |id: &str| {
            buttons
                .iter()
                .find(|b| b["id"] == id)
                .map(|b| b["pressed"].clone())
                .unwrap_or_else(|| panic!("{key}: no #{id}"))
        };
        assert_eq!(pressed("toggle-mic"), "true", "{key}");
        for id in ["toggle-camera", "toggle-share", "toggle-hand", "panel-chat"] {
            assert!(pressed(id).is_string(), "{key}: #{id} is a toggle");
        }
        let label = |id: &str| {
            buttons
                .iter()
                .find(|b| b["id"] == id)
                .map(|b| b["label"].clone())
        };
        assert_eq!(label("toggle-mic"), Some(json!("Mute")), "{key}");
        assert_eq!(label("leave-call"), Some(json!("Leave")), "{key}");
    }

    // A phone: one row, nothing sideways, the menu opens and closes.
    for key in ["phoneHeader", "menuAfterEsc", "menuAfterOutside"] {
        let h = &report[key];
        assert_eq!(h["oneRow"], true, "{key}: {h}");
        assert_eq!(h["inside"], true, "{key}: {h}");
        assert_eq!(h["noScroll"], true, "{key}: {h}");
        assert_eq!(h["menuHidden"], true, "{key}: {h}");
        assert_eq!(h["expanded"], "false", "{key}: {h}");
        assert_eq!(h["haspopup"], "true", "{key}: {h}");
    }
    assert_eq!(
        report["phoneHeaderZh"],
        json!({"oneRow": true, "noScroll": true})
    );
    let menu = &report["menuOpen"];
    assert_eq!(menu["shown"], true, "{menu}");
    assert_eq!(menu["expanded"], "true", "{menu}");
    assert_eq!(menu["focusInMenu"], true, "{menu}");
    assert_eq!(menu["inside"], true, "{menu}");
    assert_eq!(
        menu["actions"],
        json!(["bridge", "library", "pins", "members", "ring", "mute"]),
        "{menu}"
    );

    // The keyboard.
    assert_eq!(report["switcherOptions"], json!([channels[1]]));
    assert_eq!(report["switched"], format!("#/c/{}", channels[1]));
    let keys = report["shortcuts"].to_string();
    for key in ["K", "/", "?", "Esc", "↑"] {
        assert!(keys.contains(key), "{keys}");
    }
    assert_eq!(report["shortcutsClosed"], true);

    // Installed and offline.
    assert_eq!(report["manifest"]["href"], "/app/manifest.webmanifest");
    assert_eq!(report["manifest"]["name"], "Parley");
    assert_eq!(report["manifest"]["theme"], "#2563eb");
    assert_eq!(report["worker"]["scope"], format!("{}/", server.url));
    assert_eq!(report["worker"]["script"], format!("{}/sw.js", server.url));
    let offline = &report["offline"];
    assert!(
        offline["state"] == "connecting" || offline["state"] == "reconnecting",
        "{offline}"
    );
    assert_eq!(report["online"], true);

    // An admin with no channel is told what to do next.
    let empty = &report["adminEmpty"];
    assert_eq!(
        empty["side"],
        json!(["create-channel", "invite", "browse"]),
        "{empty}"
    );
    assert_eq!(
        empty["home"],
        json!(["create-channel", "invite", "browse"]),
        "{empty}"
    );

    // The dashboard's labels stay inside their charts, wide and narrow.
    for key in ["chartsDesktop", "chartsPhone"] {
        let charts = report[key].as_array().expect("charts");
        assert_eq!(charts.len(), 2, "{key}");
        for chart in charts {
            assert_eq!(chart["inside"], true, "{key}: {chart}");
            assert!(chart["labels"].as_i64() >= Some(2), "{key}: {chart}");
            assert!(
                chart["fontPx"].as_i64() >= Some(8),
                "{key}: labels readable: {chart}"
            );
        }
    }

    let shots = check_screenshots(&report, &["shell-"], 5_000);
    assert!(shots >= 18, "{}", report["screenshots"]);
}
