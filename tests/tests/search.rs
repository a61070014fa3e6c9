//! Search with the real binary: messages sent over the WebSocket, found through
//! `GET /v1/search` in Chinese and English by exactly the people who may read them, on SQLite
//! and PostgreSQL. The index follows the database after delivery, so each search that expects
//! something new polls until the follower has caught up (it is woken by every send).

use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, parley_command, unique, Backend,
    Server, ServerOptions, Team, WsClient,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// A search's answer (status 200 expected).
async fn search(server: &Server, token: &str, q: &str) -> Value {
    server.search(token, q).await
}

/// The message ids a search finds, best first.
async fn found(server: &Server, token: &str, q: &str) -> Vec<i64> {
    let page = search(server, token, q).await;
    let ids: Vec<i64> = page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(page["total"], ids.len(), "{page}");
    ids
}

/// Poll until the search finds exactly `expected` (in any order): the follower indexes after
/// delivery, a moment later.
async fn until_found(server: &Server, token: &str, q: &str, expected: &[i64]) {
    let want: BTreeSet<i64> = expected.iter().copied().collect();
    let want = &want;
    let got = eventually(100, Duration::from_millis(100), || async move {
        let ids = found(server, token, q).await;
        (ids.len() == want.len() && ids.iter().copied().collect::<BTreeSet<_>>() == *want)
            .then_some(())
    })
    .await;
    if got.is_none() {
        let last = found(server, token, q).await;
        panic!(
            "{q:?}: wanted {expected:?}, found {last:?}\n{}",
            server.log()
        );
    }
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

async fn send(client: &mut WsClient, channel: i64, client_id: &str, body: &str) -> i64 {
    client.say(channel, client_id, body).await["message_id"]
        .as_i64()
        .expect("message id")
}

/// A fixed corpus, in two channels (one without Cat), whose answers are known: Chinese words
/// inside longer sentences, stemmed English, phrases, exclusions, people, channels, files,
/// dates, and a guest who is in neither channel.
async fn finds_exactly_what_the_asker_may_read(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "产品发布 launch", true).await;
    let s = &t.server;
    let finance_body = json!({"name": "财务 finance", "kind": "group", "category": "project", "members": [t.bob.0]});
    let finance: Value = expect_json(
        s.post("/v1/channels", Some(&t.ann.1), &finance_body).await,
        201,
    )
    .await;
    let finance = finance["id"].as_i64().unwrap();
    let guest = s.user_with_role(&t.admin, "guest", None).await;

    let mut ann = WsClient::connect(s, &t.ann.1).await;
    let mut bob = WsClient::connect(s, &t.bob.1).await;
    let report = send(
        &mut ann,
        t.channel,
        "c1",
        "需求调研报告 V2 已经上传，请大家审阅",
    )
    .await;
    let quarterly = send(
        &mut bob,
        t.channel,
        "c2",
        "The quarterly reports are ready for review",
    )
    .await;
    let lunch = send(
        &mut bob,
        t.channel,
        "c3",
        "Reporting lunch plans: nothing to review",
    )
    .await;
    let budget = send(
        &mut ann,
        finance,
        "c4",
        "第三季度预算报告只给财务部看 Q3 budget report",
    )
    .await;
    let mixed = send(&mut ann, t.channel, "c5", "发布会定在周五 launch on Friday").await;
    let upload = s
        .request(Method::POST, "/v1/files", Some(&t.ann.1))
        .query(&[
            ("name", "供应商合同_contract-v3.txt"),
            ("channel", &t.channel.to_string()),
        ])
        .body("合同正文")
        .send()
        .await
        .expect("upload");
    let file: Value = expect_json(upload, 201).await;
    let sent = ann
        .request(json!({"type": "send", "channel": t.channel, "client_id": "c6", "body": "合同扫描件在这里", "attachments": [file["id"]]}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let contract = sent["message_id"].as_i64().unwrap();

    // Chinese inside sentences; Ann and Bob read both channels, Cat only the first.
    until_found(s, &t.ann.1, "budget", &[budget]).await;
    until_found(s, &t.ann.1, "报告", &[report, budget]).await;
    until_found(s, &t.cat.1, "合同", &[contract]).await;
    assert_eq!(found(s, &t.cat.1, "报告").await, [report]);
    assert_eq!(found(s, &t.ann.1, "调研").await, [report]);
    assert_eq!(found(s, &t.ann.1, "需求调研").await, [report]);
    assert_eq!(found(s, &t.ann.1, "预算").await, [budget]);
    assert_eq!(found(s, &t.cat.1, "预算").await, Vec::<i64>::new());
    // English is stemmed; mixed text is found by either language.
    assert_eq!(
        sorted(found(s, &t.ann.1, "report").await),
        sorted(vec![quarterly, lunch, budget])
    );
    assert_eq!(found(s, &t.ann.1, "发布会 friday").await, [mixed]);
    assert_eq!(found(s, &t.ann.1, "launch 周五").await, [mixed]);
    // Exact phrases, exclusions, people, channels, files and dates.
    assert_eq!(
        found(s, &t.ann.1, "\"quarterly reports\"").await,
        [quarterly]
    );
    assert_eq!(
        found(s, &t.ann.1, "\"reports quarterly\"").await,
        Vec::<i64>::new()
    );
    assert_eq!(found(s, &t.ann.1, "review -lunch").await, [quarterly]);
    let bob_email = s.user_email(&t.admin, t.bob.0).await;
    assert_eq!(
        sorted(found(s, &t.ann.1, &format!("from:{bob_email}")).await),
        sorted(vec![quarterly, lunch])
    );
    assert_eq!(
        found(s, &t.ann.1, &format!("报告 in:{finance}")).await,
        [budget]
    );
    assert_eq!(
        found(s, &t.ann.1, "报告 in:\"财务 finance\"").await,
        [budget]
    );
    assert_eq!(found(s, &t.ann.1, "has:file").await, [contract]);
    assert_eq!(
        found(s, &t.ann.1, "contract").await,
        [contract],
        "an attachment's name"
    );
    assert_eq!(
        found(s, &t.ann.1, "报告 before:2000-01-01").await,
        Vec::<i64>::new()
    );
    assert_eq!(
        found(s, &t.ann.1, "报告 after:2000-01-01 type:message")
            .await
            .len(),
        2
    );
    // A guest in neither channel finds nothing, and learns nothing from a count.
    let nothing = search(s, &guest.1, "报告").await;
    assert_eq!(
        (
            nothing["total"].as_i64(),
            nothing["results"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    expect_error(
        s.request(Method::GET, "/v1/search", Some(&guest.1))
            .query(&[("q", &format!("报告 in:{finance}"))])
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;

    // Nor from an error: a name that matches nobody simply finds nothing for a guest.
    let nobody = search(s, &guest.1, "from:nobody-at-all").await;
    assert_eq!(nobody["total"], 0, "{nobody}");

    // Snippets mark the words that matched, and results point at the message.
    let page = search(s, &t.ann.1, "审阅").await;
    let first = &page["results"][0];
    assert_eq!(
        (
            first["type"].as_str(),
            first["channel_id"].as_i64(),
            first["seq"].as_i64()
        ),
        (Some("message"), Some(t.channel), Some(1))
    );
    let hits: Vec<&str> = first["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["审阅"], "{page}");

    // Leaving a channel takes its messages out of the results at once.
    let removed = s
        .request(
            Method::DELETE,
            &format!("/v1/channels/{}/members/{}", t.channel, t.cat.0),
            Some(&t.ann.1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(found(s, &t.cat.1, "合同").await, Vec::<i64>::new());

    // An edit is found by its new words, not its old ones; a recall is gone at once.
    let edited = ann
        .request(json!({"type": "edit", "channel": t.channel, "message_id": mixed, "body": "发布会改到下周一 launch moved to Monday"}))
        .await;
    assert_eq!(edited["type"], "edited", "{edited}");
    until_found(s, &t.ann.1, "monday", &[mixed]).await;
    assert_eq!(found(s, &t.ann.1, "friday").await, Vec::<i64>::new());
    let recalled = ann
        .request(json!({"type": "recall", "channel": t.channel, "message_id": report}))
        .await;
    assert_eq!(recalled["type"], "recalled", "{recalled}");
    assert_eq!(found(s, &t.ann.1, "审阅").await, Vec::<i64>::new());
    until_found(s, &t.ann.1, "报告", &[budget]).await;
}

/// Malformed and oversized queries get `400 invalid_query` (or `422` for bad parameters) with
/// a message that says what to change; nothing else is affected.
async fn bad_queries_say_what_is_wrong(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "errors", true).await;
    let s = &t.server;
    let long = "报告 ".repeat(200);
    for (q, needle) in [
        ("\"open quote", "quote"),
        ("type:song", "type:song"),
        ("has:link", "has:file"),
        ("after:2026-02-30", "YYYY-MM-DD"),
        ("in:nowhere", "in:nowhere"),
        ("from:nobody-at-all", "from:nobody-at-all"),
        ("-draft", "only excludes"),
        ("   ", "empty"),
        (long.as_str(), "500 bytes"),
    ] {
        let response = s
            .request(Method::GET, "/v1/search", Some(&t.ann.1))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 400, "invalid_query").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{q:?}: {message}");
    }
    for query in [
        vec![("limit", "0"), ("q", "x")],
        vec![("limit", "51"), ("q", "x")],
        vec![("offset", "5000"), ("q", "x")],
        vec![],
    ] {
        let response = s
            .request(Method::GET, "/v1/search", Some(&t.ann.1))
            .query(&query)
            .send()
            .await
            .unwrap();
        expect_error(response, 422, "invalid_input").await;
    }
    let anonymous = s.get("/v1/search?q=x", None).await;
    assert_eq!(anonymous.status(), 401);
    // The server is still answering.
    assert_eq!(found(s, &t.ann.1, "anything").await, Vec::<i64>::new());
}

/// A Word document as Word stores it: the text is in `word/document.xml`.
fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
        .collect();
    zipped(&[
        ("[Content_Types].xml", r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_string()),
        ("word/document.xml", format!(r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#)),
    ])
}

/// An Excel workbook of one sheet of text cells.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let data: String = rows
        .iter()
        .enumerate()
        .map(|(r, cells)| {
            let cells: String = cells
                .iter()
                .enumerate()
                .map(|(c, text)| {
                    let column = (b'A' + c as u8) as char;
                    format!(
                        r#"<c r="{column}{}" t="inlineStr"><is><t>{text}</t></is></c>"#,
                        r + 1
                    )
                })
                .collect();
            format!(r#"<row r="{}">{cells}</row>"#, r + 1)
        })
        .collect();
    zipped(&[
        ("[Content_Types].xml", r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="预算" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#)),
    ])
}

fn zipped(entries: &[(&str, String)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in entries {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        out.write_all(body.as_bytes()).expect("zip write");
    }
    out.finish().expect("zip").into_inner()
}

/// A PDF printed by Chromium (CJK fonts embedded as a real document has them).
fn pdf(dir: &std::path::Path, text: &str) -> Vec<u8> {
    let html = dir.join("print.html");
    let out = dir.join("print.pdf");
    std::fs::write(
        &html,
        format!("<html><head><meta charset=\"utf-8\"></head><body><p>{text}</p></body></html>"),
    )
    .expect("html");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", out.display()),
            &format!("file://{}", html.display()),
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run chromium (scripts/install-test-deps installs it)");
    assert!(status.success(), "chromium printed no PDF");
    std::fs::read(&out).expect("the PDF")
}

async fn upload(s: &Server, token: &str, folder: i64, name: &str, bytes: Vec<u8>) -> i64 {
    let file: Value = expect_json(
        s.request(Method::POST, "/v1/files", Some(token))
            .query(&[("name", name), ("folder", &folder.to_string())])
            .body(bytes)
            .send()
            .await
            .expect("upload"),
        201,
    )
    .await;
    file["id"].as_i64().expect("file id")
}

/// The file ids a search finds (and that it finds nothing else).
async fn files_found(s: &Server, token: &str, q: &str) -> Vec<i64> {
    let page = search(s, token, q).await;
    let results = page["results"].as_array().expect("results");
    assert_eq!(page["total"], results.len(), "{page}");
    results
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "file", "{q}: {page}");
            r["id"].as_i64().expect("id")
        })
        .collect()
}

async fn until_files(s: &Server, token: &str, q: &str, expected: &[i64]) {
    let want: BTreeSet<i64> = expected.iter().copied().collect();
    let want = &want;
    let got = eventually(150, Duration::from_millis(100), || async move {
        let ids = files_found(s, token, q).await;
        (ids.iter().copied().collect::<BTreeSet<_>>() == *want && ids.len() == want.len())
            .then_some(())
    })
    .await;
    if got.is_none() {
        let last = search(s, token, q).await;
        panic!(
            "{q:?}: wanted files {expected:?}, found {last}\n{}",
            s.log()
        );
    }
}

/// Files of the library found by their names and by the text inside them (Word, Excel, PDF
/// printed by Chromium, Markdown, and a GB18030 text file), by exactly the people the folder
/// lets in: sharing, unsharing, renaming and trashing take effect in results.
async fn library_files_are_found_by_name_and_text(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "采购 purchasing", false).await;
    let s = &t.server;
    let (ann, bob, cat) = (&t.ann.1, &t.bob.1, &t.cat.1);
    let mine: Value = expect_json(s.get("/v1/folders", Some(ann)).await, 200).await;
    let root = mine["roots"][0]["id"].as_i64().expect("ann's root");
    let folder: Value = expect_json(
        s.post(
            &format!("/v1/folders/{root}/folders"),
            Some(ann),
            &json!({"name": "供应商资料"}),
        )
        .await,
        201,
    )
    .await;
    let folder = folder["id"].as_i64().expect("folder id");
    let share = |level: Option<&str>| {
        let grants = match level {
            Some(level) => {
                json!([{"subject": {"kind": "user", "user_id": t.bob.0}, "level": level}])
            }
            None => json!([]),
        };
        json!({"inherit": true, "grants": grants})
    };
    let shared = s
        .send_json(
            Method::PUT,
            &format!("/v1/folders/{folder}/grants"),
            ann,
            &share(Some("view")),
        )
        .await;
    assert_eq!(shared.status(), 200);

    let dir = tempfile::tempdir().expect("temp dir");
    let word = upload(
        s,
        ann,
        folder,
        "报价说明.docx",
        docx(&["供应商交货期限为三十天", "Delivery terms apply"]),
    )
    .await;
    let sheet = upload(
        s,
        ann,
        folder,
        "预算.xlsx",
        xlsx(&[&["项目", "金额"], &["服务器采购", "12000"]]),
    )
    .await;
    let printed = upload(
        s,
        ann,
        folder,
        "培训.pdf",
        pdf(dir.path(), "安全培训计划 safety trainings for new staff"),
    )
    .await;
    let notes = upload(
        s,
        ann,
        folder,
        "纪要.md",
        "# 周会纪要\n\n决定采用新的供应商。".as_bytes().to_vec(),
    )
    .await;
    let (gbk, _, _) = encoding_rs::GB18030.encode("库存盘点结果");
    let old = upload(s, ann, folder, "旧记录.txt", gbk.into_owned()).await;
    let mut ws = WsClient::connect(s, ann).await;
    let said = send(&mut ws, t.channel, "m1", "交货期限 要再确认").await;

    // By what is inside them, for the owner and for the one it is shared with.
    for who in [ann, bob] {
        until_files(s, who, "type:file 交货期限", &[word]).await;
        until_files(s, who, "服务器采购", &[sheet]).await;
        until_files(s, who, "安全培训", &[printed]).await;
        until_files(s, who, "training", &[printed]).await;
        until_files(s, who, "库存盘点", &[old]).await;
        until_files(s, who, "供应商", &[word, notes]).await;
        until_files(s, who, "报价说明", &[word]).await;
    }
    let page = search(s, bob, "type:file 交货期限").await;
    let hit = &page["results"][0];
    assert_eq!(
        (
            hit["title"].as_str(),
            hit["folder_id"].as_i64(),
            hit["sender_id"].as_i64()
        ),
        (Some("报价说明.docx"), Some(folder), Some(t.ann.0)),
        "{page}"
    );
    assert!(
        hit.get("channel_id").is_none() && hit.get("seq").is_none(),
        "{page}"
    );
    assert!(
        hit["snippet"]
            .as_array()
            .expect("snippet")
            .iter()
            .any(|p| p["hit"] == true),
        "{page}"
    );
    // Messages and files together; `type:` and `in:` pick one.
    let both = BTreeSet::from([("file".to_string(), word), ("message".to_string(), said)]);
    let both = &both;
    let mixed = eventually(100, Duration::from_millis(100), || async move {
        let (hits, page) = s.search_hits(ann, "交货期限").await;
        (hits.into_iter().collect::<BTreeSet<_>>() == *both && page["total"] == 2).then_some(())
    })
    .await;
    assert!(mixed.is_some(), "{}", search(s, ann, "交货期限").await);
    assert_eq!(
        files_found(s, ann, "in:供应商资料 交货期限").await,
        vec![word]
    );
    assert_eq!(
        found(s, ann, &format!("in:{} 交货期限", t.channel)).await,
        vec![said]
    );
    // Cat may read neither the folder nor the channel: nothing, not even a count.
    assert_eq!(found(s, cat, "交货期限").await, Vec::<i64>::new());
    expect_error(
        s.request(Method::GET, "/v1/search", Some(cat))
            .query(&[("q", "in:供应商资料 交货期限")])
            .send()
            .await
            .expect("search"),
        400,
        "invalid_query",
    )
    .await;

    // Unshared: gone for Bob from that moment, without waiting for the index.
    let unshared = s
        .send_json(
            Method::PUT,
            &format!("/v1/folders/{folder}/grants"),
            ann,
            &share(None),
        )
        .await;
    assert_eq!(unshared.status(), 200);
    assert_eq!(files_found(s, bob, "供应商").await, Vec::<i64>::new());
    assert_eq!(files_found(s, ann, "供应商").await.len(), 2);
    // Trashed: gone at once; renamed: found by the new name.
    let trashed = s
        .request(Method::DELETE, &format!("/v1/files/{notes}"), Some(ann))
        .send()
        .await
        .expect("delete");
    assert_eq!(trashed.status(), 204);
    assert_eq!(files_found(s, ann, "周会纪要").await, Vec::<i64>::new());
    let renamed = s
        .send_json(
            Method::PATCH,
            &format!("/v1/files/{sheet}"),
            ann,
            &json!({"name": "年度预算表.xlsx"}),
        )
        .await;
    assert_eq!(
        renamed.status(),
        200,
        "{}",
        renamed.text().await.unwrap_or_default()
    );
    until_files(s, ann, "年度预算表", &[sheet]).await;
}

on_both_backends!(
    finds_exactly_what_the_asker_may_read,
    bad_queries_say_what_is_wrong,
    library_files_are_found_by_name_and_text
);

/// `kill -9` while the follower indexes, then a restart: the index catches up from its saved
/// position with nothing missing and nothing twice. A damaged index is rebuilt on start, not
/// fatal; `parley admin reindex` (server stopped) and `POST /v1/admin/search/reindex` rebuild
/// on demand.
#[tokio::test]
async fn the_index_survives_crashes_damage_and_rebuilds() {
    let mut t = Team::new(
        Server::start_with(ServerOptions::backend(Backend::Sqlite).env("PARLEY_HUB_BURST", "1000"))
            .await,
        "crash",
        true,
    )
    .await;
    const COUNT: usize = 400;
    let marker = unique("marker").replace('_', "");
    {
        let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
        for i in 0..COUNT {
            send(
                &mut ann,
                t.channel,
                &format!("m{i}"),
                &format!("第{i}条 {marker} 记录"),
            )
            .await;
        }
    }
    // Killed right after the last send: the follower is part way through, or not begun.
    t.server.kill_and_restart().await;
    let all = all_ids(&t.server, &t.ann.1, &marker, COUNT).await;
    assert_eq!(all.len(), COUNT);

    // Damage: the index's own metadata overwritten. The server starts, says so, and rebuilds.
    t.server.kill();
    let dir = t.server.dir.path().join("data").join("search");
    std::fs::write(dir.join("meta.json"), b"{ damaged").unwrap();
    t.server.kill_and_restart().await;
    assert!(
        t.server.log().contains("rebuilding it from the database"),
        "{}",
        t.server.log()
    );
    assert_eq!(all_ids(&t.server, &t.ann.1, &marker, COUNT).await, all);

    // The command line, with the server stopped (a running one holds the index).
    let cli = |server: &Server| {
        let mut cmd = parley_command();
        cmd.args(["admin", "reindex"])
            .env("PARLEY_SERVER_DATA_DIR", server.dir.path().join("data"))
            .env("PARLEY_DATABASE_URL", &server.database_url);
        cmd.output().expect("run parley admin reindex")
    };
    let busy = cli(&t.server);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("stop the server"),
        "{busy:?}"
    );
    t.server.kill();
    let done = cli(&t.server);
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{done:?}");
    assert!(said.contains(&format!("{} items indexed", COUNT)), "{said}");
    t.server.kill_and_restart().await;
    assert_eq!(all_ids(&t.server, &t.ann.1, &marker, COUNT).await, all);

    // Over REST: admins only.
    expect_error(
        t.server
            .post("/v1/admin/search/reindex", Some(&t.ann.1), &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let report: Value = expect_json(
        t.server
            .post("/v1/admin/search/reindex", Some(&t.admin), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(report["indexed"], COUNT, "{report}");
    assert_eq!(all_ids(&t.server, &t.ann.1, &marker, COUNT).await, all);
}

/// Every id a search finds, read page by page once the total is `count`; each exactly once.
async fn all_ids(server: &Server, token: &str, q: &str, count: usize) -> BTreeSet<i64> {
    let total = eventually(200, Duration::from_millis(100), || async move {
        let page = search(server, token, q).await;
        (page["total"] == count).then_some(())
    })
    .await;
    assert!(
        total.is_some(),
        "never {count} results for {q}\n{}",
        server.log()
    );
    let mut ids = BTreeSet::new();
    for offset in (0..count).step_by(50) {
        let response = server
            .request(Method::GET, "/v1/search", Some(token))
            .query(&[("q", q), ("limit", "50"), ("offset", &offset.to_string())])
            .send()
            .await
            .unwrap();
        let page: Value = expect_json(response, 200).await;
        for result in page["results"].as_array().unwrap() {
            assert!(ids.insert(result["id"].as_i64().unwrap()), "{result} twice");
        }
    }
    assert_eq!(ids.len(), count);
    ids
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Two nodes on PostgreSQL and Redis, each with its own index: a message sent through one is
/// found through both, with the same results.
#[tokio::test]
async fn both_nodes_of_a_cluster_answer_alike() {
    let prefix = unique("search");
    let options = |database_url: Option<String>| {
        ServerOptions {
            database_url,
            ..ServerOptions::backend(Backend::Postgres)
        }
        .env("PARLEY_CLUSTER_REDIS_URL", redis_url())
        .env("PARLEY_CLUSTER_KEY_PREFIX", prefix.clone())
    };
    let t = Team::new(Server::start_with(options(None)).await, "两个节点", true).await;
    let b = Server::start_with(options(Some(t.server.database_url.clone()))).await;
    let mut ann = WsClient::connect(&t.server, &t.ann.1).await;
    let mut bob = WsClient::connect(&b, &t.bob.1).await;
    let on_a = send(&mut ann, t.channel, "a1", "从A节点发出的周报 weekly report").await;
    let on_b = send(
        &mut bob,
        t.channel,
        "b1",
        "B节点的周报也到了 another weekly report",
    )
    .await;
    for node in [&t.server, &b] {
        until_found(node, &t.cat.1, "周报", &[on_a, on_b]).await;
    }
    let a_page = search(&t.server, &t.cat.1, "weekly report").await;
    let b_page = search(&b, &t.cat.1, "weekly report").await;
    let strip = |page: &Value| -> Vec<(Value, Value)> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].clone(), r["snippet"].clone()))
            .collect()
    };
    assert_eq!(strip(&a_page), strip(&b_page));
}
