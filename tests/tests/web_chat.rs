//! The web app's message view and composer as people use them all day (issue 23): Ann in
//! English and 李娜 in Simplified Chinese, each in a headless Chromium signed in through the
//! form (`tests/browser/app_chat.mjs`). Messages in a row are one group under a "Today" line;
//! Markdown shows formatted (and HTML as text); the "New messages" line waits where 李娜 left
//! off, with "Jump to first unread" and "Back to the present"; @ completes a member's name and
//! the stored message mentions her; the emoji picker inserts at the caret and adds any
//! reaction; drafts wait per channel; Up edits the last message; a recall asks in the app's own
//! dialog; and the channel fits a phone. Screenshots land in `target/ui-screenshots/chat-*.png`.

use parley_tests::rtc::run_browser_script;
use parley_tests::ui::{check_screenshots, members, screenshots_dir};
use parley_tests::{expect_json, Backend, Server};
use serde_json::{json, Value};

const PASSWORD: &str = parley_tests::ui::UI_PASSWORD;

#[tokio::test]
async fn two_people_group_format_mention_react_draft_and_recall_in_the_message_view() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let people = members(&server, &admin, "chat", &["Ann Lee", "李娜"]).await;
    let (ann_id, li_id) = (people[0].0, people[1].0);
    let ann = server.login(&people[0].1, PASSWORD).await.access_token;
    let mut channels = Vec::new();
    for name in ["发布组 Release", "闲聊 Random"] {
        let body =
            json!({"name": name, "kind": "group", "category": "project", "members": [li_id]});
        let channel: Value =
            expect_json(server.post("/v1/channels", Some(&ann), &body).await, 201).await;
        channels.push(channel["id"].as_i64().expect("channel id"));
    }
    let out = screenshots_dir();
    let report = run_browser_script(
        "app_chat.mjs",
        &[
            "--parley",
            &server.url,
            "--channel",
            &channels[0].to_string(),
            "--other",
            &channels[1].to_string(),
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
    eprintln!("app_chat.mjs report: {report}");
    assert_eq!(report["ok"], true, "{}", report["error"]);
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["browserDialogs"], json!([]), "no window.confirm");

    // The second message in a row is in the first one's group: no name or avatar again.
    let grouping = &report["grouping"];
    assert_eq!(grouping["firstName"], "Ann Lee", "{grouping}");
    assert_eq!(grouping["firstAvatar"], true, "{grouping}");
    assert_eq!(grouping["secondGrouped"], true, "{grouping}");
    assert_eq!(grouping["secondName"], Value::Null, "{grouping}");
    assert_eq!(grouping["secondAvatar"], false, "{grouping}");
    assert_eq!(grouping["secondTime"], true, "{grouping}");
    assert_eq!(grouping["days"], json!(["今天"]), "{grouping}");
    assert_eq!(report["daysEn"], json!(["Today"]), "{report}");

    // Markdown is formatted; a link opens in a new tab without the opener; HTML is only text.
    let md = &report["markdown"];
    assert_eq!(md["strong"], "today", "{md}");
    assert_eq!(md["code"], "cargo build", "{md}");
    assert_eq!(md["link"]["text"], "the notes", "{md}");
    assert_eq!(md["link"]["href"], "https://example.com/notes", "{md}");
    assert_eq!(md["link"]["target"], "_blank", "{md}");
    assert!(
        md["link"]["rel"]
            .as_str()
            .unwrap_or_default()
            .contains("noopener"),
        "{md}"
    );
    assert_eq!(
        md["rawText"], "<img src=x onerror=alert(1)> <b>not bold</b>",
        "{md}"
    );
    assert_eq!(md["rawElements"], 0, "{md}");

    // The toolbar wrapped the selection; the preview showed it bold instead of the box.
    assert_eq!(report["toolbarBold"], "**important**");
    assert_eq!(
        report["preview"],
        json!({"strong": "important", "pressed": "true", "boxHidden": true})
    );

    // The line sits above the first message 李娜 had not read, which starts a group of its own.
    assert_eq!(
        report["unread"],
        json!({"text": "新消息", "next": "While you were away 1 / 你不在时", "nextGrouped": false})
    );
    assert_eq!(report["lineInView"], true);
    assert_eq!(
        report["jumpLabels"],
        json!({"unread": "跳到第一条未读", "present": "回到最新消息"})
    );
    assert_eq!(report["backAtEnd"], true);

    // @ offered the member by name (Chinese, and Latin whatever the case), Esc closed the list.
    assert_eq!(report["offeredToAnn"], json!(["李娜"]), "{report}");
    assert_eq!(report["escClosed"], true);
    let offered = report["offeredToLi"].as_array().expect("offered");
    assert_eq!(offered[0], "Ann Lee", "{report}");
    assert_eq!(report["afterPick"], "请 @Ann Lee ");
    assert_eq!(report["mentionBody"], "请 @Ann Lee 看一下发布说明");
    // The stored message mentions Ann, and her page lights it up.
    let page: Value = expect_json(
        server
            .get(
                &format!("/v1/channels/{}/messages?limit=200", channels[0]),
                Some(&ann),
            )
            .await,
        200,
    )
    .await;
    let stored = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == report["mentionMessage"])
        .expect("the mention is stored")
        .clone();
    assert_eq!(stored["body"], "请 @Ann Lee 看一下发布说明", "{stored}");
    assert_eq!(stored["mentions"], json!([ann_id]), "{stored}");
    assert_eq!(
        report["mentionOnAnnsPage"],
        json!({"mentionsMe": true, "highlighted": ["@Ann Lee"]})
    );

    // The picker put the emoji at the caret; a reaction picked from it reached Ann.
    assert!(
        report["emojiCount"].as_u64().unwrap_or_default() >= 300,
        "{report}"
    );
    assert_eq!(report["emojiInserted"], "Launch 🚀 today");
    assert_eq!(report["reaction"], "🦄 1");

    // The draft stayed with its channel, and went once sent.
    assert_eq!(report["draftElsewhere"], "");
    assert_eq!(report["draftBack"], "half-written 草稿");
    assert_eq!(report["draftAfterSend"], "");

    // Up edited Ann's last message; Esc gave the empty box back.
    assert_eq!(report["upEdits"]["value"], "Launch 🚀 today", "{report}");
    assert_eq!(report["upEdits"]["context"], "Editing your message");
    assert_eq!(
        report["escCancels"],
        json!({"value": "", "contextHidden": true})
    );

    // The recall asked in the app's dialog; 李娜 sees it recalled.
    assert!(
        report["recallDialog"]
            .as_str()
            .unwrap_or_default()
            .contains("Recall this message for everyone?"),
        "{report}"
    );
    assert_eq!(report["recalled"], "此消息已撤回。");

    assert_eq!(report["unnamed"], json!([]), "every control has a name");
    assert_eq!(report["phoneFits"], true);
    assert_eq!(report["phonePickerFits"], true);
    let shots = check_screenshots(&report, &["chat-"], 10_000);
    assert!(shots >= 10, "{}", report["screenshots"]);
}
