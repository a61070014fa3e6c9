//! People and calls in the web app (issue 23), as Ann (English), 李娜 (Simplified Chinese) and
//! Chen (English) use them, each in a headless Chromium with fake devices
//! (`tests/browser/app_people.mjs`): Ann's job title, time zone and uploaded picture reach the
//! others at once (`user_updated`, no reload) in the message list, the member list and her
//! profile card; an open group made in the new-group dialog is found on "Browse channels" and
//! joined; Ann rings 李娜 into the channel's meeting and she accepts while Chen sees "Meeting in
//! progress · Join"; a ring nobody answers (rings last 10 s here) leaves a missed-call message
//! with "Call back"; a link to a page on a loopback site gets its preview card; axe-core finds no
//! serious or critical fault on the profile dialog and card, "Browse channels", the ring dialog
//! and the incoming-call screen. Screenshots land in `target/ui-screenshots/people-*.png` and
//! `calls-*.png`.

use parley_tests::rtc::run_browser_script;
use parley_tests::ui::{check_screenshots, members, screenshots_dir};
use parley_tests::{expect_json, Backend, Server, ServerOptions};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = parley_tests::ui::UI_PASSWORD;

#[tokio::test]
async fn profiles_open_channels_rings_and_link_previews_in_the_browser() {
    let site = site().await;
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_RTC_RING_SECS", "10")
            .env("PARLEY_PREVIEWS_ALLOW_PRIVATE", "true"),
    )
    .await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "people", &["Ann Lee", "李娜", "Chen Wei"]).await;
    let (ann_id, li_id, chen_id) = (people[0].0, people[1].0, people[2].0);
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    // 李娜's zone, set by another client, is one browsers list under an older name.
    let li = server.login(&people[1].1, PASSWORD).await.access_token;
    let zone = json!({"time_zone": "Asia/Kolkata"});
    expect_json::<Value>(
        server
            .send_json(Method::PATCH, &format!("/v1/users/{li_id}"), &li, &zone)
            .await,
        200,
    )
    .await;
    let mut channels = Vec::new();
    for (name, members, open) in [
        ("发布组 Release", json!([li_id, chen_id]), false),
        ("夜班 Night shift", json!([li_id, chen_id]), false),
        ("读书会 Book club", json!([]), true),
    ] {
        let body = json!({"name": name, "kind": "group", "category": "project",
            "members": members, "open": open});
        let channel: Value =
            expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
        channels.push(channel["id"].as_i64().expect("channel id"));
    }
    let (release, night) = (channels[0], channels[1]);
    let out = screenshots_dir();
    let report = run_browser_script(
        "app_people.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &release.to_string(),
            "--night",
            &night.to_string(),
            "--email-a",
            &people[0].1,
            "--email-b",
            &people[1].1,
            "--email-c",
            &people[2].1,
            "--password",
            PASSWORD,
            "--site",
            &site,
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        120,
    )
    .await;
    eprintln!("app_people.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["errorToasts"], json!([]), "{report}");
    assert_eq!(report["browserDialogs"], json!([]), "{report}");

    // Profile: initials first; then the picture, the server's centred square, without a reload.
    assert_eq!(
        report["initialsBefore"],
        json!({"text": "AL", "picture": false})
    );
    assert_eq!(
        report["pictureInMessages"],
        json!({"width": 80, "height": 80, "blob": true})
    );
    assert_eq!(report["sameLoad"], true, "no reload");
    assert_eq!(report["pictureInMembers"], true);
    assert_eq!(report["dialogUnnamed"], json!([]), "{report}");
    let card = &report["cardZh"];
    assert_eq!(card["heading"], "Ann Lee", "{card}");
    assert_eq!(card["title"], "Release manager / 发布经理", "{card}");
    assert_eq!(card["localExpected"], true, "{card}");
    assert_eq!(card["picture"], true, "{card}");
    assert_eq!(card["message"], "发消息", "{card}");
    assert_eq!(card["presence"], "在线", "{card}");
    assert_eq!(card["presenceDot"], true, "{card}");
    assert_eq!(card["presenceBackground"], "rgba(0, 0, 0, 0)", "{card}");
    assert_eq!(report["cardEn"]["title"], "Release manager / 发布经理");
    assert!(
        report["cardEn"]["local"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Local time: "),
        "{report}"
    );
    assert_eq!(
        report["dialogZh"],
        json!({"heading": "编辑个人资料", "upload": "上传头像", "zone": "Asia/Kolkata"})
    );
    let user: Value = expect_json(
        server.get(&format!("/v1/users/{ann_id}"), Some(&ann)).await,
        200,
    )
    .await;
    assert_eq!(user["title"], "Release manager / 发布经理", "{user}");
    assert_eq!(user["time_zone"], "Asia/Shanghai", "{user}");
    assert!(user["avatar"].is_string(), "{user}");

    // Link previews: the card carries the page's Open Graph title, on both pages.
    for who in ["preview_a", "preview_b"] {
        let card = &report[who];
        assert_eq!(card["title"], "第三季度预算 Q3 budget", "{card}");
        assert_eq!(card["site"], "示例 Example", "{card}");
        assert_eq!(card["text"], "预算报告的草稿", "{card}");
        assert_eq!(card["href"], format!("{site}/q3"), "{card}");
        assert_eq!(card["target"], "_blank", "{card}");
    }

    // Open channels: Chen saw the new group and the book club, joined the group, landed in it.
    let group = report["openGroup"].as_i64().expect("the new group's id");
    let browse = &report["browseEn"];
    assert_eq!(browse["heading"], "Browse channels", "{browse}");
    let items = browse["items"].as_array().expect("items");
    assert!(
        items.contains(&json!("设计评审 Design reviews")),
        "{browse}"
    );
    assert!(items.contains(&json!("读书会 Book club")), "{browse}");
    assert!(
        browse["buttons"]
            .as_array()
            .expect("buttons")
            .contains(&json!("Join 设计评审 Design reviews")),
        "{browse}"
    );
    assert_eq!(report["joinedTitle"], "设计评审 Design reviews");
    assert_eq!(report["joinedToast"], "You joined 设计评审 Design reviews.");
    assert_eq!(
        report["browseZh"],
        json!({"heading": "浏览频道", "items": ["读书会 Book club"], "join": "加入"})
    );
    let chen = server.login(&people[2].1, PASSWORD).await.access_token;
    let joined: Value = expect_json(
        server
            .get(&format!("/v1/channels/{group}"), Some(&chen))
            .await,
        200,
    )
    .await;
    assert_eq!(joined["open"], true, "{joined}");
    assert_eq!(
        joined["member_count"], 3,
        "Ann, 李娜 and now Chen: {joined}"
    );

    // Calls: no bar before; 李娜 alone was rung, and accepted; Chen never rang.
    assert_eq!(report["barBefore"], true, "the bar is hidden");
    assert_eq!(
        report["ringChoices"],
        json!([{"name": "Chen Wei", "ticked": true}, {"name": "李娜", "ticked": true}])
    );
    assert_eq!(
        report["incomingZh"],
        json!({
            "heading": "Ann Lee 正在呼叫你",
            "where": "发布组 Release 中的会议",
            "picture": true,
            "focused": "accept",
            "buttons": ["拒绝", "接听"],
        })
    );
    assert_eq!(report["incomingUnnamed"], json!([]), "{report}");
    assert_eq!(report["chenRung"], false);
    assert_eq!(report["acceptedToast"], "李娜 is joining.");
    let ring: Value = expect_json(
        server
            .get(&format!("/v1/rings/{}", report["ringId"]), Some(&ann))
            .await,
        200,
    )
    .await;
    assert_eq!(
        ring["callees"],
        json!([{"user_id": li_id, "answer": "accepted"}]),
        "{ring}"
    );
    assert_eq!(ring["end_reason"], "answered", "{ring}");
    let bar = &report["barEn"];
    assert_eq!(bar["text"], "Meeting in progress · 1 in it", "{bar}");
    assert_eq!(bar["join"], "Join", "{bar}");
    assert_eq!(bar["href"], format!("#/meet/{release}"), "{bar}");
    assert_eq!(bar["liveMark"], true, "{bar}");
    assert_eq!(
        report["barZh"],
        json!({"text": "会议进行中 · 1 人", "join": "加入"})
    );
    assert_eq!(report["barJoinRoute"], format!("#/meet/{release}"));

    // A missed call: the message in each callee's language, with Call back; the caller was told.
    assert_eq!(report["incomingEn"], "Ann Lee is calling you");
    assert_eq!(
        report["missed_b"],
        json!({"text": "Ann Lee 的未接来电", "callBack": "回拨"})
    );
    assert_eq!(
        report["missed_c"],
        json!({"text": "Missed call from Ann Lee", "callBack": "Call back"})
    );
    assert_eq!(report["noAnswer"], "Nobody answered.");
    // The ring opened the meeting and nobody joined: no "in progress · 0 in it", no live mark.
    assert_eq!(
        report["barAfterMissed"],
        json!({"hidden": true, "liveMark": false})
    );
    let missed: Value = expect_json(
        server
            .get(&format!("/v1/rings/{}", report["missedRingId"]), Some(&ann))
            .await,
        200,
    )
    .await;
    assert_eq!(missed["end_reason"], "missed", "{missed}");
    let page: Value = expect_json(
        server
            .get(
                &format!("/v1/channels/{night}/messages?limit=50"),
                Some(&ann),
            )
            .await,
        200,
    )
    .await;
    let notes: Vec<&Value> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["action"]["kind"] == "missed_call")
        .collect();
    assert_eq!(notes.len(), 1, "one missed-call message: {page}");
    assert_eq!(notes[0]["sender"], ann_id, "{page}");
    assert_eq!(notes[0]["action"]["ring"], report["missedRingId"], "{page}");
    // Call back rang Ann, in English, and 李娜 heard that she declined.
    assert_eq!(report["callBackIncoming"], "李娜 is calling you");
    assert_eq!(report["declinedToast"], "Ann Lee 已拒绝。");

    // axe-core: nothing serious or critical on the profile dialog and card, "Browse channels",
    // the ring dialog and the incoming-call screen, in English and in Chinese.
    let axe = report["axe"].as_object().expect("axe results");
    for page in [
        "a:profile-dialog",
        "b:profile-dialog",
        "b:profile-card",
        "c:profile-card",
        "c:browse",
        "b:browse",
        "a:ring-dialog",
        "b:incoming-call",
        "c:incoming-call",
    ] {
        assert_eq!(axe.get(page), Some(&json!([])), "{page}: {}", axe[page]);
    }

    let shots = check_screenshots(&report, &["people-", "calls-"], 10_000);
    assert_eq!(shots, 14, "{}", report["screenshots"]);
}

/// A site on loopback whose `/q3` is a page with Open Graph facts in Chinese; its base URL.
async fn site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let (status, body) = match text.split_whitespace().nth(1) {
                    Some("/q3") => ("200 OK", PAGE),
                    _ => ("404 Not Found", "<p>no</p>"),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    base
}

const PAGE: &str = r#"<!doctype html><html><head>
<meta charset="utf-8">
<title>ignored when Open Graph has one</title>
<meta property="og:title" content="第三季度预算 Q3 budget">
<meta property="og:description" content="预算报告的草稿">
<meta property="og:site_name" content="示例 Example">
</head><body><p>…</p></body></html>"#;
