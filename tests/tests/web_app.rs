//! The web app as people use it: served by the binary at `/`, signed into from the form by two
//! headless Chromium contexts (English and Simplified Chinese) that chat, ping urgently, meet
//! with video and screen share, ride out a cut network, and write minutes whose action item
//! reaches the assignee's "My tasks"; an administrator who manages people, imports a CSV, makes
//! an API key and reads the dashboard; a member on a phone-sized screen; and files attached in
//! the chat (dropped, picked, pasted; cut off, paused and resumed) that the other person sees
//! previewed and downloads byte for byte; and the file library, where a department's admin shares
//! a folder through the permission dialog and restores an old version of what a member uploaded
//! there; and the search box, where a Chinese word finds a message far up a channel and opens
//! the channel there; and the knowledge base, where a member writes an article in Chinese with
//! its live preview and an image he uploads with it, an admin publishes it from the review
//! queue, the search box finds it, a reader on a phone reads it with its image and downloads the
//! attachment, and a meeting's minutes become a draft. Screenshots of each state land in
//! `target/ui-screenshots/` (the ones in `docs/screenshots/` are copied from there).

use parley_tests::recorder::RecorderProcess;
use parley_tests::rtc::{run_browser_script, App, RtcClient};
use parley_tests::ui::{check_screenshots, members, screenshots_dir};
use parley_tests::{
    eventually, expect_error, expect_json, unique, Backend, S3Server, Server, ServerOptions, Team,
    WsClient, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const PASSWORD: &str = parley_tests::ui::UI_PASSWORD;

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
        ("library.js", "text/javascript"),
        ("search.js", "text/javascript"),
        ("knowledge.js", "text/javascript"),
        ("article.js", "text/javascript"),
        ("markdown.js", "text/javascript"),
        ("upkeep.js", "text/javascript"),
        ("icons.js", "text/javascript"),
        ("emoji.js", "text/javascript"),
        ("people.js", "text/javascript"),
        ("calls.js", "text/javascript"),
        ("thread.js", "text/javascript"),
        ("message.js", "text/javascript"),
        ("composer.js", "text/javascript"),
        ("attachments.js", "text/javascript"),
        ("notifications.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
        ("icon-192.png", "image/png"),
        ("icon-512.png", "image/png"),
        ("manifest.webmanifest", "application/manifest+json"),
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
    let people = members(&server, &admin, "app", &["Ann Lee", "李娜"]).await;
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    let body = json!({"name": "发布组 Release", "kind": "group", "category": "project", "members": [people[1].0]});
    let channel: Value =
        expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
    let out = screenshots_dir();
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
            "--user-a",
            &people[0].0.to_string(),
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
    assert_eq!(
        report["languages"]["translations"],
        json!({"missing": [], "unknown": []}),
        "every text in both languages"
    );
    assert_eq!(report["receipt"], "Read by everyone");
    assert_eq!(report["bannerStays"], true);
    // B opened the channel's bridge and A created the channel: both moderate it.
    assert_eq!(report["floorTaken"], true);
    assert_eq!(report["aModerates"], true);
    // Regression: after a reload the banner read "Urgent from #2 · #1" for good.
    let banner = report["bannerAfterReload"].as_str().unwrap_or_default();
    assert!(
        banner.contains("Ann Lee") && banner.contains("发布组 Release") && !banner.contains('#'),
        "{banner}"
    );
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
    // One tap on the bridge's ping: A acknowledged and joined, and B hears the bridge.
    assert_eq!(report["bridgeRoster"][1], "✔", "{report}");
    assert_eq!(report["bridgeRoster"][2], "✔", "{report}");
    assert_eq!(report["bridgeAudio"], 1, "{report}");
    let shots = check_screenshots(&report, &[], 10_000);
    assert!(shots >= 14, "{}", report["screenshots"]);
}

#[tokio::test]
async fn an_admin_manages_people_and_keys_and_reads_the_dashboard_and_a_phone_user_chats() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "值班 On call", false).await;
    // Something for the dashboard to count: Ann asks, Bob answers.
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&t.server, &t.bob.1).await;
    ann.say(t.channel, "q1", "Who has the pager tonight?").await;
    bob.say(t.channel, "a1", "I do / 我值班").await;
    // Something for the file audit: Ann uploads a file to her own folder and reads it back.
    let uploaded: Value = expect_json(
        t.server
            .request(reqwest::Method::POST, "/v1/files", Some(&t.ann.1))
            .query(&[("name", "值班表.xlsx")])
            .body(b"rota".to_vec())
            .send()
            .await
            .expect("upload"),
        201,
    )
    .await;
    let file = uploaded["id"].as_i64().expect("file id");
    let folder = uploaded["folder"].as_i64().expect("folder id");
    let content = t
        .server
        .get(&format!("/v1/files/{file}/content"), Some(&t.ann.1))
        .await;
    assert_eq!(content.status(), 200);
    let bob_email = t.server.user_email(&t.admin, t.bob.0).await;
    let out = screenshots_dir();
    let report = run_browser_script(
        "app_admin.mjs",
        &[
            "--parley",
            &t.server.url,
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
            "--member-email",
            &bob_email,
            "--member-password",
            PASSWORD,
            "--channel",
            &t.channel.to_string(),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        150,
    )
    .await;
    eprintln!("app_admin.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(
        report["focusOnLoad"], "email",
        "the sign-in form takes the keyboard at once"
    );
    // The new user is listed with the department made for it.
    let row = report["userRow"].as_array().expect("row");
    assert!(row.iter().any(|c| c == "总部/采购部"), "{row:?}");
    // The rejected import names each bad line (the header is line 1), and nothing was imported.
    let errors = report["importErrors"].as_array().expect("errors");
    let lines: Vec<&str> = errors.iter().map(|e| e[0].as_str().unwrap_or("")).collect();
    assert_eq!(lines, ["3", "4"], "{errors:?}");
    assert!(
        report["imported"]
            .as_str()
            .unwrap_or_default()
            .contains('2'),
        "{report}"
    );
    // The secret is shown once, beside its key.
    assert!(
        report["secretShown"].as_str().unwrap_or_default().len() > 40,
        "{report}"
    );
    assert_eq!(report["keyRows"], 1, "{report}");
    // The data tab: no scheduled backups here, the hold placed on the channel, a pass run.
    assert_eq!(report["backupState"], "off", "{report}");
    assert_eq!(
        report["holdRows"],
        json!([["# 值班 On call", "案件 114"]]),
        "{report}"
    );
    assert!(
        report["lastPass"]
            .as_str()
            .unwrap_or_default()
            .contains("删除 0 条消息"),
        "{report}"
    );
    // The file audit, newest first: Ann's download, then her upload, each naming the file and
    // linking to its folder; on a phone the table scrolls in its box, not the page.
    let link = format!("#/files/{folder}");
    assert_eq!(
        report["auditRows"],
        json!([
            ["member user", "下载", link, "值班表.xlsx v1"],
            ["member user", "上传", link, "值班表.xlsx v1"]
        ]),
        "{report}"
    );
    assert_eq!(report["auditPhoneFits"], true, "{report}");
    // Today: Ann, Bob, the admin and the phone's Bob are active; the two messages before the
    // browsers came are counted (the phone's own message may land after the dashboard loaded).
    let dash = &report["dashboard"];
    let messages: i64 = dash["messages"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .expect("a number");
    assert!(messages >= 2, "{dash}");
    let dau: i64 = dash["dau"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .expect("a number");
    assert!(dau >= 2, "{dash}");
    assert_ne!(dash["response"], "–", "Bob answered Ann: {dash}");
    assert!(report["charts"].as_i64() > Some(0), "{report}");
    // The phone shows the channel list alone, then the chat, without sideways scrolling.
    assert_eq!(report["phoneMainHidden"], true, "{report}");
    // Ann's question is unread for Bob until he opens the channel.
    assert_eq!(report["phoneBadge"], "1", "{report}");
    assert_eq!(report["phoneFits"], true, "{report}");
    assert_eq!(
        report["pageErrors"],
        json!([]),
        "no errors on the pages: {report}"
    );
    check_screenshots(&report, &[], 10_000);
}

#[tokio::test]
async fn a_decision_in_the_minutes_jumps_the_recordings_player_to_its_moment() {
    let s3 = S3Server::start().await;
    let server = Server::start_with(ServerOptions::backend(Backend::Sqlite).s3(&s3)).await;
    let app = App::register(&server).await;
    let _recorder = RecorderProcess::start(&server, &app, &s3, "recorder-ui");
    let t = Team::new(server, "评审 Review", false).await;
    let ann = t.server.user_email(&t.admin, t.ann.0).await;
    let bob = t.server.user_email(&t.admin, t.bob.0).await;
    let report = run_browser_script(
        "app_playback.mjs",
        &[
            "--parley",
            &t.server.url,
            "--channel",
            &t.channel.to_string(),
            "--email-a",
            &ann,
            "--email-b",
            &bob,
            "--password",
            PASSWORD,
            "--out",
            screenshots_dir().to_str().expect("utf-8 path"),
        ],
        200,
    )
    .await;
    eprintln!("app_playback.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["jobsAfterStop"], json!(["done"]), "{report}");
    // The decision was stamped a few seconds into the meeting, while the recording ran.
    let offset = report["decision"]["offsetSecs"].as_f64().expect("stamped");
    let start = report["decision"]["mixedStartMs"]
        .as_f64()
        .expect("a mixed file")
        / 1000.0;
    assert!(
        offset > start,
        "the decision came after the recording began: {report}"
    );
    // The player holds the whole stretch and jumped to the decision's place in the file.
    let duration = report["player"]["duration"].as_f64().expect("duration");
    assert!(duration > offset - start, "{report}");
    let jumped = report["jumpedTo"].as_f64().expect("jumped");
    assert!(
        (jumped - (offset - start)).abs() < 1.5,
        "the player went to {jumped} s, the decision is at {} s of the file: {report}",
        offset - start
    );
}

#[tokio::test]
async fn a_png_dropped_in_the_app_is_previewed_and_downloaded_intact_by_the_other_person() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "设计 Design", false).await;
    let ann_email = t.server.user_email(&t.admin, t.ann.0).await;
    let bob_email = t.server.user_email(&t.admin, t.bob.0).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (png_name, csv_name) = ("设计稿 mock-up.png", "季度数据 Q3.csv");
    let png = png(320, 200);
    // Past one 8 MiB chunk, so the upload is paused with its first chunk in.
    let csv = csv(9 * 1024 * 1024);
    let png_path = dir.path().join(png_name);
    let csv_path = dir.path().join(csv_name);
    std::fs::write(&png_path, &png).expect("write the PNG");
    std::fs::write(&csv_path, &csv).expect("write the CSV");
    let downloads = dir.path().join("downloads");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    let report = run_browser_script(
        "app_files.mjs",
        &[
            "--parley",
            &t.server.url,
            "--channel",
            &t.channel.to_string(),
            "--email-a",
            &ann_email,
            "--email-b",
            &bob_email,
            "--password",
            PASSWORD,
            "--png",
            &path(&png_path),
            "--csv",
            &path(&csv_path),
            "--downloads",
            &path(&downloads),
            "--out",
            &path(&screenshots_dir()),
        ],
        150,
    )
    .await;
    eprintln!("app_files.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    // The drop showed its frame while the file hovered, and took the file.
    assert_eq!(
        report["dropShown"],
        json!({"shown": true, "taken": true, "after": false})
    );
    // The first PATCH was cut: the app asked where the upload stood and sent it again.
    assert_eq!(report["afterCut"]["PATCH"], 2, "{report}");
    assert!(report["afterCut"]["HEAD"].as_i64() >= Some(1), "{report}");
    // Held with its first chunk in, the CSV's bar stood at 8 MiB of 9; after the pause, one
    // HEAD found where to go on.
    let half = &report["csvHalf"];
    assert_eq!(half["state"], "uploading", "{report}");
    let progress = half["progress"].as_f64().expect("progress");
    assert!((progress - 8.0 / 9.0).abs() < 0.01, "{report}");
    assert!(
        report["csvPaused"]["meta"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Paused · 8 MB / 9 MB"),
        "{report}"
    );
    assert_eq!(report["headsOnResume"], 1, "{report}");
    assert_eq!(report["sendEnabled"], true, "{report}");
    // The pasted image was removed before sending: only the two files went.
    assert_eq!(report["chipsBeforeSend"], json!([png_name, csv_name]));
    let id = |key: &str| -> i64 {
        report[key]["file"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{key} has a file id: {report}"))
    };
    let (png_id, csv_id, pasted_id) = (id("png"), id("csv"), id("pasted"));
    assert_eq!(
        report["bobMessage"],
        json!({
            "body": "Mock-up and numbers / 设计稿和数据",
            "image": png_name,
            "card": csv_name,
            "cardSize": "9 MB",
            "files": [png_id, csv_id],
        })
    );
    // Bob's browser decoded the image: its thumbnail in the timeline (fitting 256 × 256), the
    // image itself when opened.
    assert_eq!(
        report["bobImage"],
        json!({"size": [256, 160], "from": "thumbnail"})
    );
    assert_eq!(report["lightbox"], json!([320, 200]));
    // What Bob downloaded is what Ann had, byte for byte, under its Chinese name.
    for (key, name, original) in [
        ("pngDownload", png_name, &png),
        ("csvDownload", csv_name, &csv),
    ] {
        assert_eq!(report[key]["name"], name, "{report}");
        let saved = report[key]["saved"].as_str().expect("saved");
        let got = std::fs::read(saved).expect("the download");
        assert_eq!(got.len(), original.len(), "{key}");
        assert_eq!(
            Sha256::digest(&got),
            Sha256::digest(original),
            "{key}: the bytes differ"
        );
    }
    assert!(report["phoneImage"].as_f64() > Some(0.0), "{report}");
    assert_eq!(report["phoneFits"], true, "{report}");
    // Recalled: Bob's timeline shows neither file, and the server gives him neither.
    assert_eq!(
        report["afterRecall"],
        json!({"attachments": 0, "images": 0})
    );
    for file in [png_id, csv_id] {
        let gone = t
            .server
            .get(&format!("/v1/files/{file}/content"), Some(&t.bob.1))
            .await;
        assert_eq!(gone.status(), 404, "file {file} after the recall");
    }
    // The removed chip's file went to Ann's trash.
    let pasted: Value = expect_json(
        t.server
            .get(&format!("/v1/files/{pasted_id}"), Some(&t.ann.1))
            .await,
        200,
    )
    .await;
    assert!(pasted["deleted_at"].is_i64(), "{pasted}");
    check_screenshots(&report, &[], 10_000);
}

#[tokio::test]
async fn a_department_shares_a_folder_and_restores_an_old_version_in_the_app() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let department = "总部/财务部 Finance";
    let person = |name: &'static str, role: &'static str, department: Option<&'static str>| {
        let (server, admin) = (&server, &admin);
        async move {
            let email = format!("{}@example.com", unique("lib"));
            let mut body =
                json!({"email": email, "name": name, "role": role, "password": PASSWORD});
            if let Some(d) = department {
                body["department"] = d.into();
            }
            let user: Value =
                expect_json(server.post("/v1/users", Some(admin), &body).await, 201).await;
            let token = server.login(&email, PASSWORD).await.access_token;
            (user["id"].as_i64().expect("id"), email, token)
        }
    };
    let head = person("Grace Ho", "dept_admin", Some(department)).await;
    let member = person("王小明", "member", Some(department)).await;
    let guest = person("Gus Supplier 供应商", "guest", None).await;
    // Signing in waits for a channel in the sidebar: the two share one.
    let body = json!({"name": "财务 Finance", "kind": "group", "category": "department", "members": [member.0]});
    let channel: Value =
        expect_json(server.post("/v1/channels", Some(&head.2), &body).await, 201).await;
    let departments: Value =
        expect_json(server.get("/v1/departments", Some(&admin)).await, 200).await;
    let finance = departments
        .as_array()
        .expect("departments")
        .iter()
        .find(|d| d["path"] == department)
        .expect("the department")
        .clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let name = "报价单 Quote.txt";
    let v1 = text_of(300 * 1024, "第一版 first draft");
    let v2 = text_of(280 * 1024, "第二版 second draft, freight added");
    let (v1_path, v2_path) = (dir.path().join(name), dir.path().join("quote-v2.txt"));
    std::fs::write(&v1_path, &v1).expect("write v1");
    std::fs::write(&v2_path, &v2).expect("write v2");
    let downloads = dir.path().join("downloads");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    let report = run_browser_script(
        "app_library.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &channel["id"].to_string(),
            "--email-head",
            &head.1,
            "--email-member",
            &member.1,
            "--password",
            PASSWORD,
            "--department",
            finance["name"].as_str().expect("name"),
            "--guest",
            &guest.0.to_string(),
            "--v1",
            &path(&v1_path),
            "--v2",
            &path(&v2_path),
            "--downloads",
            &path(&downloads),
            "--out",
            &path(&screenshots_dir()),
        ],
        200,
    )
    .await;
    eprintln!("app_library.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(
        report["translations"],
        json!({"missing": [], "unknown": []}),
        "every text of the library in both languages"
    );
    assert_eq!(report["memberLanguage"], json!(["zh-CN", "文件"]));
    // The department admin manages the department's tree; its member edits it.
    assert_eq!(report["headRoot"]["level"], "manage", "{report}");
    assert_eq!(report["headRoot"]["title"], finance["name"], "{report}");
    let folder = report["folder"].as_i64().expect("the subfolder's id");
    assert_eq!(report["memberFolder"]["folder"], folder, "{report}");
    assert_eq!(report["memberFolder"]["level"], "edit", "{report}");
    assert_eq!(
        report["memberFolder"]["crumbs"],
        json!(["文件", finance["name"], "2027 预算 Budget"]),
        "{report}"
    );
    assert_eq!(report["watching"], "Watching", "{report}");
    assert_eq!(
        report["roots"],
        json!(["我的文件", "总部", finance["name"]]),
        "{report}"
    );
    // The channel's creator manages its library, named after it.
    assert_eq!(report["channelLibrary"]["level"], "manage", "{report}");
    assert_eq!(
        report["channelLibrary"]["title"], "财务 Finance",
        "{report}"
    );
    // The dialog started empty, and opened again shows the grant the server keeps.
    let grant = format!("user:{}", guest.0);
    assert_eq!(report["grantsBefore"], json!([]), "{report}");
    assert_eq!(report["grantsAfter"], json!([[grant, "view"]]), "{report}");
    assert_eq!(report["inherit"], true, "{report}");
    let view: Value = expect_json(
        server
            .get(&format!("/v1/folders/{folder}"), Some(&head.2))
            .await,
        200,
    )
    .await;
    assert_eq!(
        view["grants"],
        json!({"inherit": true, "grants": [
            {"subject": {"kind": "user", "user_id": guest.0}, "level": "view"}]}),
        "{view}"
    );
    // The guest, who belongs to no department, now finds the folder shared with them, to view.
    let roots: Value = expect_json(server.get("/v1/folders", Some(&guest.2)).await, 200).await;
    let shared: Vec<i64> = roots["shared"]
        .as_array()
        .expect("shared")
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .collect();
    assert_eq!(shared, [folder], "{roots}");
    let theirs: Value = expect_json(
        server
            .get(&format!("/v1/folders/{folder}"), Some(&guest.2))
            .await,
        200,
    )
    .await;
    assert_eq!(theirs["level"], "view", "{theirs}");
    // The picked file's chip ran to the end; the dropped file was taken and landed too.
    let file = report["v1"]["file"].as_i64().expect("the file's id");
    assert_eq!(
        report["chip"],
        json!({"file": file, "progress": 1}),
        "{report}"
    );
    assert_eq!(
        report["dropShown"],
        json!({"shown": true, "taken": true, "after": false})
    );
    let mut listed: Vec<&str> = theirs["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    listed.sort();
    assert_eq!(listed, ["备注 notes.txt", name], "{theirs}");
    // The lock: the holder may lift it and add versions; the admin sees who holds it.
    assert_eq!(report["memberLock"]["lock"], "您已锁定", "{report}");
    assert_eq!(report["headLock"]["lock"], "Locked by 王小明", "{report}");
    let head_actions = report["headLock"]["actions"].as_array().expect("actions");
    assert!(
        !head_actions.iter().any(|a| a == "new-version"),
        "nobody else adds a version while it is locked: {report}"
    );
    assert_eq!(report["v2"]["file"], file, "a new version, not a new file");
    assert_eq!(report["headLive"]["version"], 2, "{report}");
    // The panel listed both versions, newest first, with who uploaded each and what they said.
    let before = report["versionsBefore"].as_array().expect("versions");
    let versions: Vec<i64> = before
        .iter()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(versions, [2, 1], "{report}");
    assert_eq!(before[0]["current"], true);
    assert_eq!(before[0]["comment"], "第二版：加了运费 / freight added");
    assert!(
        before[0]["meta"]
            .as_str()
            .unwrap_or_default()
            .starts_with("王小明"),
        "{report}"
    );
    assert_eq!(before[0]["restorable"], false, "the current version");
    assert_eq!(before[1]["restorable"], true);
    let after = report["versionsAfter"].as_array().expect("versions");
    let versions: Vec<i64> = after.iter().filter_map(|v| v["version"].as_i64()).collect();
    assert_eq!(versions, [3, 2, 1], "{report}");
    assert!(
        after[0]["meta"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Grace Ho"),
        "{report}"
    );
    assert_eq!(report["v3"]["version"], 3, "{report}");
    // The server agrees: version 3 is version 1's content, restored by the admin.
    let history: Value = expect_json(
        server
            .get(&format!("/v1/files/{file}/versions"), Some(&head.2))
            .await,
        200,
    )
    .await;
    let hex = |bytes: &[u8]| format!("{:x}", Sha256::digest(bytes));
    assert_eq!(history["versions"][0]["sha256"], hex(&v1), "{history}");
    assert_eq!(history["versions"][0]["uploader"], head.0, "{history}");
    assert_eq!(history["versions"][1]["sha256"], hex(&v2), "{history}");
    assert_eq!(history["versions"][2]["sha256"], hex(&v1), "{history}");
    // What the admin downloaded is what the member had, byte for byte, under the file's name.
    for (key, original) in [("v2Download", &v2), ("currentDownload", &v1)] {
        assert_eq!(report[key]["name"], name, "{report}");
        let saved = report[key]["saved"].as_str().expect("saved");
        let got = std::fs::read(saved).expect("the download");
        assert_eq!(got.len(), original.len(), "{key}");
        assert_eq!(hex(&got), hex(original), "{key}: the bytes differ");
    }
    // Deleted, it waited in the member's trash, and came back to its folder.
    assert_eq!(
        report["trash"],
        json!([{"file": file, "name": name}]),
        "{report}"
    );
    assert_eq!(report["restoredIn"], folder, "{report}");
    assert_eq!(report["restored"]["version"], 3, "{report}");
    let back: Value = expect_json(
        server
            .get(&format!("/v1/files/{file}"), Some(&member.2))
            .await,
        200,
    )
    .await;
    assert!(back.get("deleted_at").is_none(), "{back}");
    assert_eq!(back["version"], 3, "{back}");
    // Archived, nothing in the folder changes: the buttons that would are gone for both, and
    // the admin alone may lift it.
    let renamed = "2027 预算 Budget 定稿";
    assert_eq!(
        report["headArchived"],
        json!({"title": renamed, "readOnly": "true", "tools": ["refresh", "watch", "archive"],
            "file": ["download", "versions"]}),
        "{report}"
    );
    assert_eq!(
        report["memberArchived"],
        json!({"title": renamed, "readOnly": "true", "tools": ["refresh", "watch"],
            "file": ["download", "versions"]}),
        "{report}"
    );
    assert_eq!(
        report["headUnarchived"]["tools"],
        json!([
            "upload",
            "new-folder",
            "refresh",
            "watch",
            "rename",
            "permissions",
            "archive"
        ]),
        "{report}"
    );
    let view: Value = expect_json(
        server
            .get(&format!("/v1/folders/{folder}"), Some(&member.2))
            .await,
        200,
    )
    .await;
    assert_eq!(view["folder"]["name"], renamed, "{view}");
    assert_eq!(view["read_only"], false, "{view}");
    assert_eq!(report["phoneFolder"]["folder"], folder, "{report}");
    assert_eq!(report["phoneFits"], true, "{report}");
    assert_eq!(report["phoneVersionsFit"], true, "{report}");
    check_screenshots(&report, &[], 10_000);
}

#[tokio::test]
async fn a_chinese_word_in_the_search_box_opens_the_channel_at_the_message_it_found() {
    // Sixty-odd messages from one connection at once: more than the hub allows by default.
    let options =
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_HUB_REQUESTS_PER_SECOND", "1000");
    let server = Server::start_with(options).await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "search", &["王芳 Wang Fang", "Bob Chen"]).await;
    let wang = server.login(&people[0].1, PASSWORD).await.access_token;
    let bob = server.login(&people[1].1, PASSWORD).await.access_token;
    let body = json!({"name": "财务 Finance", "kind": "group", "category": "project", "members": [people[1].0]});
    let created: Value =
        expect_json(server.post("/v1/channels", Some(&wang), &body).await, 201).await;
    let channel = created["id"].as_i64().expect("channel id");
    // A text file in Bob's own library, first: its text is read in the background while the
    // messages go.
    let file_name = "供应商报价说明.txt";
    let file_text =
        "供应商报价说明\n本次报价的交货期限为签约后三十天。Delivery within thirty days.\n";
    let uploaded = server
        .request(reqwest::Method::POST, "/v1/files", Some(&bob))
        .query(&[("name", file_name)])
        .body(file_text)
        .send()
        .await
        .expect("upload");
    let file: Value = expect_json(uploaded, 201).await;
    // A task Bob gives himself, found by a word of its title.
    let task_title = "核对发票金额";
    let body = json!({"title": task_title, "notes": "和供应商确认第三季度的付款", "assignee_id": people[1].0});
    let task: Value = expect_json(server.post("/v1/tasks", Some(&bob), &body).await, 201).await;
    // The report, a lunch question, then more notes than the channel view first loads: the
    // report is far above the newest message.
    let mut ws = WsClient::connect(&server, &wang).await;
    let text = "第三季度预算报告已经上传";
    let sent = ws.say(channel, "report", text).await;
    ws.say(channel, "lunch", "午饭一起吃吗？Lunch together?")
        .await;
    for i in 1..=60 {
        let body = format!("进度更新 第{i}条");
        ws.say(channel, &format!("note-{i}"), &body).await;
    }
    // The index follows a moment after delivery, in order: once Bob finds the last notes,
    // everything the browser looks for is there and its totals are final.
    let total = |q: &'static str| {
        let request = server
            .request(reqwest::Method::GET, "/v1/search", Some(&bob))
            .query(&[("q", q)]);
        async move {
            let page: Value = expect_json(request.send().await.expect("search"), 200).await;
            page["total"].as_i64()
        }
    };
    let indexed = eventually(100, Duration::from_millis(100), || async {
        (total("进度").await == Some(60)).then_some(())
    })
    .await;
    assert!(
        indexed.is_some(),
        "the notes were never found\n{}",
        server.log()
    );
    assert_eq!(total("预算").await, Some(1));
    // The file is found by a word of its text once the server has read it.
    let found = eventually(100, Duration::from_millis(100), || async {
        let request = server
            .request(reqwest::Method::GET, "/v1/search", Some(&bob))
            .query(&[("q", "交货期限")]);
        let page: Value = expect_json(request.send().await.expect("search"), 200).await;
        (page["total"] == 1).then(|| page["results"][0].clone())
    })
    .await;
    let Some(found) = found else {
        panic!("the file was never found by its text\n{}", server.log());
    };
    assert_eq!(found["type"], "file", "{found}");
    assert_eq!(found["id"], file["id"], "{found}");
    assert_eq!(found["folder_id"], file["folder"], "{found}");
    assert_eq!(found["title"], file_name, "{found}");
    assert_eq!(found["sender_id"], people[1].0, "{found}");
    let found = eventually(100, Duration::from_millis(100), || async {
        let request = server
            .request(reqwest::Method::GET, "/v1/search", Some(&bob))
            .query(&[("q", "发票")]);
        let page: Value = expect_json(request.send().await.expect("search"), 200).await;
        (page["total"] == 1).then(|| page["results"][0].clone())
    })
    .await;
    let Some(found) = found else {
        panic!("the task was never found by its title\n{}", server.log());
    };
    assert_eq!(found["type"], "task", "{found}");
    assert_eq!(found["id"], task["id"], "{found}");
    assert_eq!(found["title"], task_title, "{found}");
    assert_eq!(found["sender_id"], people[1].0, "{found}");
    let invalid = server
        .request(reqwest::Method::GET, "/v1/search", Some(&bob))
        .query(&[("q", "type:song")])
        .send()
        .await
        .expect("search");
    let invalid = expect_error(invalid, 400, "invalid_query").await;
    let report = run_browser_script(
        "app_search.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &channel.to_string(),
            "--email",
            &people[1].1,
            "--password",
            PASSWORD,
            "--out",
            screenshots_dir().to_str().expect("utf-8 path"),
        ],
        150,
    )
    .await;
    eprintln!("app_search.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(
        report["translations"],
        json!({"missing": [], "unknown": []}),
        "every text of the search in both languages"
    );
    assert_eq!(report["field"]["label"], "搜索消息和文件", "{report}");
    assert_eq!(report["field"]["landmark"], true, "{report}");
    let help = report["field"]["help"].as_str().unwrap_or_default();
    for filter in ["in:", "from:", "has:file", "type:", "before:", "after:"] {
        assert!(help.contains(filter), "{help}");
    }
    let examples = report["field"]["examples"].to_string();
    for example in [
        "in:channel",
        "in:folder",
        "type:message",
        "type:file",
        "type:minutes",
        "type:task",
    ] {
        assert!(examples.contains(example), "{examples}");
    }
    assert_eq!(
        report["keys"],
        json!({"slash": true, "left": true, "ctrlK": true, "value": ""}),
        "{report}"
    );
    // Typed key by key, each query went once, when Bob stopped, with his clock's UTC offset
    // (Asia/Shanghai).
    assert_eq!(report["sent"], json!(["午饭", "预算"]), "{report}");
    let params = &report["params"];
    assert_eq!(params["offset"], "0", "{report}");
    assert_eq!(params["utc_offset"], "480", "{report}");
    let first = &report["first"];
    assert_eq!(first["status"], "共 1 条结果", "{report}");
    let item = &first["items"][0];
    assert_eq!(item["id"], sent["message_id"], "{report}");
    assert_eq!(item["channel"], "财务 Finance", "{report}");
    assert_eq!(item["sender"], "王芳 Wang Fang", "{report}");
    assert_eq!(item["marks"], json!(["预算"]), "{report}");
    let snippet = item["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains(text), "{report}");
    assert!(!item["time"].as_str().unwrap_or_default().is_empty());
    // The lunch answer, held back until then, came after and changed nothing.
    assert_eq!(report["afterLate"], report["first"], "{report}");
    // Enter on the result: the channel opened there, the report in view, lit up and focused,
    // with newer messages below to scroll to.
    assert_eq!(report["resultFocused"], true, "{report}");
    let seq = &sent["seq"];
    let opened = json!({"body": text, "focused": true, "found": [seq], "panelHidden": true,
        "hash": format!("#/c/{channel}/m/{seq}"), "newer": ["向下滚动查看更新的消息"]});
    assert_eq!(report["opened"], opened, "{report}");
    assert_eq!(
        report["newest"],
        json!({"count": 62, "markers": []}),
        "{report}"
    );
    assert_eq!(
        report["paging"],
        json!({"status": "共 60 条结果", "first": 20, "second": 40, "distinct": 40,
            "focusedIsNew": true, "more": "显示更多（还有 20 条）"}),
        "{report}"
    );
    assert_eq!(report["none"], "没有与“zebra”相符的结果。", "{report}");
    // The server's own words for the query it could not read.
    assert_eq!(
        report["invalid"],
        json!({"text": invalid["error"]["message"], "role": "alert", "results": 0}),
        "{report}"
    );
    // The file: its name over the library, its uploader and time, the word marked in its text;
    // Enter opened Bob's folder there, the file's row lit up, in view and focused.
    let (file_id, folder) = (&file["id"], &file["folder"]);
    let shown = &report["file"];
    assert_eq!(shown["status"], "共 1 条结果", "{report}");
    assert_eq!(shown["count"], 1, "{report}");
    assert_eq!(&shown["id"], file_id, "{report}");
    assert_eq!(&shown["folder"], folder, "{report}");
    let hash = format!("#/files/{folder}/f/{file_id}");
    assert_eq!(shown["href"], hash.as_str(), "{report}");
    assert_eq!(shown["icon"], "TXT", "{report}");
    assert_eq!(shown["title"], file_name, "{report}");
    assert_eq!(shown["place"], "文件库", "{report}");
    assert_eq!(shown["sender"], "Bob Chen", "{report}");
    assert!(!shown["time"].as_str().unwrap_or_default().is_empty());
    // jieba reads 交货期限 as two words, 交货 and 期限: side by side, they are one mark.
    assert_eq!(shown["marks"], json!(["交货期限"]), "{report}");
    assert!(
        shown["snippet"]
            .as_str()
            .unwrap_or_default()
            .contains("本次报价的交货期限"),
        "{report}"
    );
    assert_eq!(
        report["fileOpened"],
        json!({"hash": hash, "name": file_name, "found": [file_id], "focused": true,
            "inView": true, "panelHidden": true}),
        "{report}"
    );
    // The task: its title beside its icon, "task", its creator and time, the word marked; Enter
    // opened My tasks there, the task's row lit up, in view and focused.
    let task_id = &task["id"];
    let shown = &report["task"];
    assert_eq!(shown["status"], "共 1 条结果", "{report}");
    assert_eq!(shown["count"], 1, "{report}");
    assert_eq!(&shown["id"], task_id, "{report}");
    let hash = format!("#/tasks/{task_id}");
    assert_eq!(shown["href"], hash.as_str(), "{report}");
    assert_eq!(shown["icon"], "task", "{report}");
    assert_eq!(shown["title"], task_title, "{report}");
    assert_eq!(shown["place"], "任务", "{report}");
    assert_eq!(shown["sender"], "Bob Chen", "{report}");
    assert!(!shown["time"].as_str().unwrap_or_default().is_empty());
    assert_eq!(shown["marks"], json!(["发票"]), "{report}");
    assert!(
        shown["snippet"]
            .as_str()
            .unwrap_or_default()
            .contains(task_title),
        "{report}"
    );
    assert_eq!(
        report["taskOpened"],
        json!({"hash": hash, "title": task_title, "found": [task_id], "focused": true,
            "inView": true, "noteHidden": true, "panelHidden": true}),
        "{report}"
    );
    assert_eq!(report["phoneFileFits"], true, "{report}");
    assert_eq!(report["phoneTaskFits"], true, "{report}");
    assert_eq!(report["phoneFits"], true, "{report}");
    let phone = json!({"body": text, "focused": true, "found": [seq]});
    assert_eq!(report["phoneOpened"], phone, "{report}");
    assert_eq!(
        report["phoneBack"],
        json!({"hash": "#/", "value": "预算"}),
        "{report}"
    );
    check_screenshots(&report, &[], 10_000);
}

#[tokio::test]
async fn an_article_written_in_chinese_is_previewed_reviewed_published_found_and_read_on_a_phone() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "kb", &["李雷 Li Lei", "韩梅梅 Han Meimei"]).await;
    // A topic space (no department): every member of the organisation may write there.
    let body = json!({"name": "生产知识 Production", "description": "设备、工艺和安全"});
    let space: Value = expect_json(server.post("/v1/spaces", Some(&admin), &body).await, 201).await;
    let space_id = space["id"].as_i64().expect("space id");
    // The image Li Lei uploads with the article, and where Han Meimei's download is saved.
    let dir = tempfile::tempdir().expect("temp dir");
    let png_name = "冷却系统 cooling.png";
    let png = png(120, 80);
    let png_path = dir.path().join(png_name);
    std::fs::write(&png_path, &png).expect("write the PNG");
    let downloads = dir.path().join("downloads");
    // A meeting Li Lei attended (a room of no channel, which members open by joining), with an
    // agenda in its minutes.
    let writer = server.login(&people[0].1, PASSWORD).await.access_token;
    let room = unique("equipment_weekly");
    let in_call = RtcClient::join_room(&server, &writer, &room).await;
    let meeting = eventually(100, Duration::from_millis(100), || async {
        let list: Value = expect_json(server.get("/v1/meetings", Some(&writer)).await, 200).await;
        list["meetings"]
            .as_array()?
            .iter()
            .find(|m| m["room"] == room.as_str())
            .and_then(|m| m["id"].as_i64())
    })
    .await
    .expect("the meeting was recorded");
    drop(in_call);
    let minutes = format!("/v1/meetings/{meeting}/minutes");
    let agenda = json!({"agenda": "检查 2 号线冷却系统"});
    expect_json::<Value>(
        server
            .send_json(Method::PATCH, &minutes, &writer, &agenda)
            .await,
        200,
    )
    .await;
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    let report = run_browser_script(
        "app_knowledge.mjs",
        &[
            "--parley",
            &server.url,
            "--space",
            &space_id.to_string(),
            "--email-writer",
            &people[0].1,
            "--email-reader",
            &people[1].1,
            "--password",
            PASSWORD,
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
            "--png",
            &path(&png_path),
            "--downloads",
            &path(&downloads),
            "--meeting",
            &meeting.to_string(),
            "--out",
            &path(&screenshots_dir()),
        ],
        220,
    )
    .await;
    eprintln!("app_knowledge.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(
        report["translations"],
        json!({"missing": [], "unknown": []}),
        "every text of the knowledge base in both languages"
    );
    assert_eq!(report["nav"], "知识库", "{report}");
    let templates = report["templates"].to_string();
    for template in ["minutes", "issue_report", "project_progress"] {
        assert!(templates.contains(template), "{templates}");
    }
    let hash = report["editorHash"].as_str().unwrap_or_default();
    let id: i64 = hash
        .trim_start_matches("#/articles/")
        .trim_end_matches("/edit")
        .parse()
        .unwrap_or_else(|_| panic!("the editor's address: {hash}"));
    // The preview drew the heading (an article's `##` is an h3 under the page's title) and the
    // bold words while they were typed, beside the text on a wide screen.
    assert_eq!(report["previewHeading"], "停机原因", "{report}");
    assert_eq!(report["previewBold"], "过热", "{report}");
    assert_eq!(report["sideBySide"], true, "{report}");
    // The image Li Lei uploaded was attached, went into the text at the cursor, on a line of its
    // own, and the preview decoded it from his library (the draft did not carry it yet).
    let file: i64 = report["attached"]["file"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the attachment's id: {report}"));
    assert_eq!(
        report["attached"],
        json!({"file": file.to_string(), "name": png_name, "count": "(1/20)"}),
        "{report}"
    );
    let inserted = format!("![{png_name}](file:{file})");
    assert_eq!(report["inserted"], inserted.as_str(), "{report}");
    assert_eq!(
        report["previewImage"],
        json!({"size": [120, 80], "path": format!("/v1/files/{file}/content"), "token": true}),
        "{report}"
    );
    // Version 1 is the blank draft the dialog made; the first save is version 2.
    let article = format!("#/articles/{id}");
    let rendered = |status: &str, version: &str| {
        json!({"hash": article, "title": "2 号线停机处理流程", "status": status, "version": version,
            "headings": ["H3:停机原因"], "strong": ["过热"], "items": ["检查风扇", "记录温度"],
            "scope": "适用范围：生产部 夜班", "tags": ["设备", "故障"]})
    };
    let shown = |key: &str| {
        let mut value = report[key].clone();
        let map = value.as_object_mut().expect("an article shown");
        map.remove("review");
        map.remove("actions");
        value
    };
    assert_eq!(shown("draft"), rendered("草稿", "2"), "{report}");
    assert_eq!(
        report["draft"]["actions"],
        json!(["edit", "submit", "history", "delete"]),
        "{report}"
    );
    assert_eq!(shown("submitted"), rendered("待审核", "2"), "{report}");
    // The admin saw it waiting: on the space's card, on the review tab, in the queue.
    assert_eq!(report["pendingCard"], "1", "{report}");
    assert_eq!(
        report["queue"],
        json!({"tab": "To review 1", "title": "2 号线停机处理流程", "status": "submitted",
            "author": "李雷 Li Lei"}),
        "{report}"
    );
    assert_eq!(report["adminPublished"]["status"], "Published", "{report}");
    // Li Lei's page followed the publication, with the admin's word, and a toast opening it.
    assert_eq!(shown("published"), rendered("已发布", "2"), "{report}");
    assert_eq!(report["published"]["review"], "写得很好 Well written");
    assert_eq!(report["toast"]["href"], article.as_str(), "{report}");
    assert_eq!(report["toast"]["kind"], "article_published", "{report}");
    let toast = report["toast"]["text"].as_str().unwrap_or_default();
    assert!(
        toast.contains("2 号线停机处理流程") && toast.contains("写得很好"),
        "{toast}"
    );
    // The search box found the article by a word of its text, and opened it.
    assert_eq!(
        report["result"],
        json!({"href": article, "title": "2 号线停机处理流程", "place": "知识库", "marks": ["过热"]}),
        "{report}"
    );
    assert_eq!(shown("opened"), rendered("已发布", "2"), "{report}");
    // Han Meimei read it on a phone, found it helpful and commented; Li Lei's page showed it.
    assert_eq!(shown("phoneArticle"), rendered("已发布", "2"), "{report}");
    assert_eq!(report["phoneFits"], true, "{report}");
    // She saw the image through the article, and downloaded the attachment byte for byte,
    // though Li Lei's own files are not hers to open.
    assert_eq!(
        report["readerImage"],
        json!({"size": [120, 80], "path": format!("/v1/articles/{id}/files/{file}"), "token": true}),
        "{report}"
    );
    assert_eq!(
        report["readerFiles"],
        json!([{"file": file, "name": png_name, "thumb": true}]),
        "{report}"
    );
    assert_eq!(report["readerDownload"]["name"], png_name, "{report}");
    let saved = report["readerDownload"]["saved"].as_str().expect("saved");
    let got = std::fs::read(saved).expect("the download");
    assert_eq!(
        Sha256::digest(&got),
        Sha256::digest(&png),
        "the attachment's bytes"
    );
    assert_eq!(report["vote"], "1", "{report}");
    assert_eq!(report["commentSeen"], "谢谢分享，很有用", "{report}");
    // The edit is a new draft version; the history's diff shows the changed line.
    assert_eq!(report["edited"]["status"], "草稿", "{report}");
    assert_eq!(report["edited"]["version"], "3", "{report}");
    assert_eq!(
        report["editedNote"], "这是尚未发布的第 3 版；读者看到的是第 2 版。",
        "{report}"
    );
    assert_eq!(
        report["diff"],
        json!({"versions": [3, 2, 1], "added": ["设备**过热**导致停机，请检查冷却系统和风道。"],
            "removed": ["设备**过热**导致停机，请检查冷却系统。"], "struck": "line-through"}),
        "{report}"
    );
    // The admin's edit meanwhile made Li Lei's save a conflict, said as such, his text kept.
    assert_eq!(report["adminEdit"], 200, "{report}");
    let conflict = &report["conflict"];
    assert!(
        conflict["text"]
            .as_str()
            .unwrap_or_default()
            .contains("有人保存了更新的版本"),
        "{report}"
    );
    assert_eq!(conflict["stillEditing"], true, "{report}");
    assert_eq!(conflict["title"], "2 号线停机处理流程（修订）", "{report}");
    assert_eq!(
        report["phoneEditor"],
        json!({"write": {"tabs": true, "text": true, "preview": false},
            "preview": {"tabs": true, "text": false, "preview": true},
            "fits": true, "heading": "停机原因"}),
        "{report}"
    );
    // What the server kept: readers still see version 2, with Han Meimei's vote and comment;
    // the history has the blank first version, Li Lei's two saves and the admin's.
    let reader = server.login(&people[1].1, PASSWORD).await.access_token;
    let read: Value = expect_json(
        server
            .get(&format!("/v1/articles/{id}"), Some(&reader))
            .await,
        200,
    )
    .await;
    assert_eq!(read["shown_version"], 2, "{read}");
    assert_eq!(read["title"], "2 号线停机处理流程", "{read}");
    assert!(
        read["body"].as_str().is_some_and(|b| b.contains(&inserted)),
        "{read}"
    );
    assert_eq!(read["attachments"][0]["id"], file, "{read}");
    let library = server
        .get(&format!("/v1/files/{file}/content"), Some(&reader))
        .await;
    assert_eq!(library.status(), 404, "the file itself is not hers to open");
    assert_eq!(read["helpful"], 1, "{read}");
    assert_eq!(read["my_vote"], true, "{read}");
    let versions: Value = expect_json(
        server
            .get(&format!("/v1/articles/{id}/versions"), Some(&writer))
            .await,
        200,
    )
    .await;
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(4),
        "{versions}"
    );
    let comments: Value = expect_json(
        server
            .get(&format!("/v1/articles/{id}/comments"), Some(&writer))
            .await,
        200,
    )
    .await;
    assert_eq!(comments["comments"][0]["author"], people[1].0, "{comments}");
    // The meeting's minutes became a draft of the space, opened in Li Lei's editor.
    assert_eq!(report["meetingSpaces"], json!([space_id]), "{report}");
    let from = &report["fromMeeting"];
    assert_eq!(from["title"], room.as_str(), "{report}");
    assert!(
        from["body"]
            .as_str()
            .is_some_and(|b| b.contains("检查 2 号线冷却系统")),
        "{report}"
    );
    assert_eq!(report["fromMeetingFits"], true, "{report}");
    let hash = from["hash"].as_str().unwrap_or_default();
    let draft: i64 = hash
        .trim_start_matches("#/articles/")
        .trim_end_matches("/edit")
        .parse()
        .unwrap_or_else(|_| panic!("the draft's editor: {hash}"));
    let draft: Value = expect_json(
        server
            .get(&format!("/v1/articles/{draft}"), Some(&writer))
            .await,
        200,
    )
    .await;
    assert_eq!(draft["meeting_id"], meeting, "{draft}");
    assert_eq!(draft["status"], "draft", "{draft}");
    assert_eq!(draft["space_id"], space_id, "{draft}");
    // He added the image from his own files with the picker, and saved it with the draft.
    assert_eq!(
        report["picker"],
        json!({"crumbs": ["文件", "我的文件"], "count": "已选 1 个", "fits": true}),
        "{report}"
    );
    assert_eq!(report["meetingDraft"], json!([file]), "{report}");
    assert_eq!(draft["version"], 2, "{draft}");
    assert_eq!(draft["attachments"][0]["id"], file, "{draft}");
    check_screenshots(&report, &[], 10_000);
}

/// Text of at least `len` bytes, each line numbered and saying `what`.
fn text_of(len: usize, what: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut line = 0;
    while out.len() < len {
        line += 1;
        out += &format!("{line:06} {what}\n");
    }
    out.into_bytes()
}

/// A real PNG of `width`×`height` RGB pixels, a gradient.
fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 160])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode a PNG");
    out
}

/// A CSV of at least `len` bytes, with Chinese in it.
fn csv(len: usize) -> Vec<u8> {
    let mut out = String::from("行,日期,地区,金额\n");
    let mut row = 0;
    while out.len() < len {
        row += 1;
        out += &format!(
            "{row},2025-{:02}-{:02},华东 East,{}.{:02}\n",
            row % 12 + 1,
            row % 28 + 1,
            row * 37 % 100_000,
            row % 100
        );
    }
    out.into_bytes()
}
