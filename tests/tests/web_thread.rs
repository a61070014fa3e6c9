//! Threads in a panel beside the channel (issue 23): Ann in English and 李娜 in Simplified
//! Chinese, each in a headless Chromium signed in through the form
//! (`tests/browser/app_thread.mjs`). A reply kept in the thread shows as "1 reply · new" under
//! its message, live, and not in the list; the thread panel (a labelled complementary landmark,
//! focus in its box) shows it; a reply also sent to the channel shows in both; the "new" mark
//! comes with each unseen reply and goes once the thread is read, also after a reload; Esc and
//! ✕ close the panel and give the focus back; on a phone the panel covers the channel; axe-core
//! finds no serious or critical fault with the panel open (both languages, desktop and phone).
//! The server stores what the pages sent: one reply `thread_only`, the other not, and a count of
//! 2.
//! Screenshots land in `target/ui-screenshots/thread-*.png`.

use parley_tests::rtc::run_browser_script;
use parley_tests::ui::{check_screenshots, members, screenshots_dir};
use parley_tests::{expect_json, Backend, Server};
use serde_json::{json, Value};

const PASSWORD: &str = parley_tests::ui::UI_PASSWORD;

#[tokio::test]
async fn a_reply_kept_in_its_thread_shows_as_a_count_and_the_thread_opens_beside_the_channel() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "thread", &["Ann Lee", "李娜"]).await;
    let li_id = people[1].0;
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    let body = json!({"name": "发布组 Release", "kind": "group", "category": "project", "members": [li_id]});
    let channel: Value =
        expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
    let channel = channel["id"].as_i64().expect("channel id");
    let out = screenshots_dir();
    let report = run_browser_script(
        "app_thread.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &channel.to_string(),
            "--email-a",
            &people[0].1,
            "--email-b",
            &people[1].1,
            "--password",
            PASSWORD,
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        200,
    )
    .await;
    eprintln!("app_thread.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");

    // 李娜 opened the thread from the message's own action: a labelled landmark, focus in its box.
    assert_eq!(report["actionLabel"], "在话题中回复", "{report}");
    let zh = &report["panelZh"];
    assert_eq!(zh["role"], "complementary", "{zh}");
    assert_eq!(
        zh["label"], "话题：Release plan for Friday / 周五发布计划",
        "{zh}"
    );
    assert_eq!(zh["focusInBox"], true, "{zh}");
    assert_eq!(zh["heading"], "话题", "{zh}");
    assert_eq!(zh["also"], "同时发送到频道", "{zh}");
    // Beside the list on a desktop, about 360 px wide.
    assert_eq!(zh["width"], 360, "{zh}");

    // A reply kept in the thread: a live count and a "new" mark under the message, no message in
    // the list (on either page).
    assert_eq!(report["firstReply"], "1 reply", "{report}");
    let first = &report["afterFirst"];
    assert_eq!(first["isNew"], true, "{first}");
    assert_eq!(
        first["marked"], true,
        "a thread-only reply marks its message: {first}"
    );
    assert_eq!(first["last"], true, "the last reply's time: {first}");
    let label = first["label"].as_str().unwrap_or_default();
    assert!(label.starts_with("Open thread: 1 reply"), "{label}");
    assert!(label.ends_with("new replies"), "{label}");
    for list in [&report["listAfterFirst"], &report["listOnLi"]] {
        let texts = list.as_array().expect("texts");
        assert!(
            texts
                .iter()
                .any(|t| t.as_str().unwrap_or_default().contains("Release plan")),
            "{list}"
        );
        assert!(
            !texts
                .iter()
                .any(|t| t.as_str().unwrap_or_default().contains("thread only")),
            "{list}"
        );
    }

    // Ann read it in the panel; the mark went and stayed gone once the panel closed with Esc,
    // and the focus went back to "1 reply".
    let thread = report["threadOnAnn"].as_array().expect("thread");
    assert_eq!(thread.len(), 2, "{thread:?}");
    assert!(thread[0]
        .as_str()
        .unwrap_or_default()
        .contains("Release plan"));
    assert!(thread[1]
        .as_str()
        .unwrap_or_default()
        .contains("thread only"));
    assert_eq!(
        report["panelEn"]["label"],
        "Thread: Release plan for Friday / 周五发布计划"
    );
    assert_eq!(report["panelEn"]["focusInBox"], true, "{report}");
    assert_eq!(report["escClosed"], true);
    assert_eq!(report["focusBackEsc"], true, "{report}");
    assert_eq!(report["afterRead"]["isNew"], false, "{report}");
    assert_eq!(report["afterRead"]["marked"], false, "{report}");

    // Also sent to the channel: in the list with its quote, and in the thread; 2 replies, new.
    assert!(
        report["secondQuote"]
            .as_str()
            .unwrap_or_default()
            .contains("Release plan"),
        "{report}"
    );
    assert_eq!(report["alsoUnticked"], true, "the box is unticked again");
    let second = &report["afterSecond"];
    assert_eq!(second["count"], "2 replies", "{second}");
    assert_eq!(second["isNew"], true, "{second}");
    let list = report["listAfterSecond"].as_array().expect("list");
    assert!(list
        .iter()
        .any(|t| t.as_str().unwrap_or_default().contains("Also in channel")));
    assert!(!list
        .iter()
        .any(|t| t.as_str().unwrap_or_default().contains("thread only")));
    let thread = report["threadAfterSecond"].as_array().expect("thread");
    assert_eq!(thread.len(), 3, "{thread:?}");
    assert!(thread[2]
        .as_str()
        .unwrap_or_default()
        .contains("Also in channel"));
    assert_eq!(report["readAgain"], "gone");
    assert_eq!(report["closeClosed"], true);
    assert_eq!(report["focusBackClose"], true, "{report}");
    assert_eq!(report["afterReload"]["count"], "2 replies", "{report}");
    assert_eq!(
        report["afterReload"]["isNew"], false,
        "remembered: {report}"
    );

    assert_eq!(report["unnamed"], json!([]), "every control has a name");

    // axe-core: nothing serious or critical with the panel open, in either language, on a
    // desktop and on a phone.
    let axe = report["axe"].as_object().expect("axe results");
    for page in ["b:thread", "a:thread", "phone:thread"] {
        assert_eq!(axe.get(page), Some(&json!([])), "{page}: {}", axe[page]);
    }

    // A phone: the panel covers the screen, closes with ✕, and nothing scrolls sideways.
    assert_eq!(report["phoneLink"]["count"], "2 条回复", "{report}");
    let phone = &report["phonePanel"];
    assert_eq!(phone["left"], 0, "{phone}");
    assert_eq!(phone["width"], phone["innerWidth"], "{phone}");
    assert_eq!(phone["noSideScroll"], true, "{phone}");
    assert_eq!(report["phoneCloseVisible"], true);
    assert_eq!(report["phoneClosed"], true);

    // The server has what the pages sent: one reply kept in the thread, one not.
    let page: Value = expect_json(
        server
            .get(
                &format!("/v1/channels/{channel}/messages?limit=50"),
                Some(&ann),
            )
            .await,
        200,
    )
    .await;
    let messages = page["messages"].as_array().expect("messages");
    let root = messages
        .iter()
        .find(|m| m["body"] == "Release plan for Friday / 周五发布计划")
        .expect("the first message");
    assert_eq!(root["reply_count"], 2, "{root}");
    let replies: Vec<_> = messages
        .iter()
        .filter(|m| m["reply_to"] == root["id"])
        .map(|m| (m["body"].clone(), m["thread_only"].clone()))
        .collect();
    assert_eq!(
        replies,
        vec![
            (json!("我来准备发布说明 (thread only)"), json!(true)),
            (json!("Also in channel: 发布说明已就绪"), Value::Null),
        ],
        "{page}"
    );

    let shots = check_screenshots(&report, &["thread-"], 10_000);
    assert!(shots >= 6, "{}", report["screenshots"]);
}
