//! Files with the real binary: plain and tus uploads over real sockets (a connection cut in
//! the middle of a body, a `kill -9` in the middle of an upload), downloads with ranges, ETags
//! and Chinese names, versions, deduplication, the trash, quotas and bad input, and
//! attachments read by channel members only. On SQLite with a local folder and on PostgreSQL
//! (with S3 where the object store matters).

use base64::Engine;
use parley_tests::{
    eventually, expect_error, expect_json, on_both_backends, Backend, S3Server, Server,
    ServerOptions, Team, WsClient,
};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");
const REPORT: &str = "需求调研报告 V2.txt";

use parley_tests::bytes::{noise, png, sha256_hex as sha_hex};

fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn plain(server: &Server, token: &str, name: &str, bytes: Vec<u8>) -> Response {
    server
        .request(Method::POST, "/v1/files", Some(token))
        .query(&[("name", name)])
        .body(bytes)
        .send()
        .await
        .expect("plain upload")
}

/// Start a tus upload; its URL path.
async fn create(server: &Server, token: &str, length: usize, meta: &[(&str, &str)]) -> String {
    let response = server
        .request(Method::POST, "/v1/uploads", Some(token))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata(meta))
        .send()
        .await
        .expect("create upload");
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(response.headers()["tus-resumable"], "1.0.0");
    assert!(response.headers().contains_key("upload-expires"));
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

async fn patch(
    server: &Server,
    token: &str,
    upload: &str,
    offset: usize,
    bytes: &[u8],
) -> Response {
    server
        .request(Method::PATCH, upload, Some(token))
        .header(TUS.0, TUS.1)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("patch upload")
}

async fn offset(server: &Server, token: &str, upload: &str) -> Option<usize> {
    let response = server
        .request(Method::HEAD, upload, Some(token))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .expect("head upload");
    if response.status() == 404 {
        return None;
    }
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.headers()["upload-offset"]
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A request (`request_line` and `headers`) that promises `declared` bytes, sends `sent` of
/// them, then closes its connection (or, with `hold`, keeps it open and returns it, for a
/// crash of the server meanwhile).
async fn cut_request(
    server: &Server,
    request_line: &str,
    headers: &str,
    declared: usize,
    sent: &[u8],
    hold: bool,
) -> Option<tokio::net::TcpStream> {
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "{request_line} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(sent).await.expect("body");
    stream.flush().await.expect("flush");
    if hold {
        return Some(stream);
    }
    stream.shutdown().await.expect("shutdown");
    // Read until the server closes its side: it has then seen the cut.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    None
}

/// A `PATCH` that promises `declared` bytes and sends `sent` of them (see `cut_request`).
async fn broken_patch(
    server: &Server,
    token: &str,
    upload: &str,
    offset: usize,
    declared: usize,
    sent: &[u8],
    hold: bool,
) -> Option<tokio::net::TcpStream> {
    let headers = format!(
        "Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\n"
    );
    cut_request(
        server,
        &format!("PATCH {upload}"),
        &headers,
        declared,
        sent,
        hold,
    )
    .await
}

async fn download(server: &Server, token: &str, file: i64) -> Response {
    server
        .get(&format!("/v1/files/{file}/content"), Some(token))
        .await
}

/// Objects under `files/` in the server's local object folder.
fn stored_objects(server: &Server) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&server.dir.path().join("data/objects/files"))
}

async fn plain_uploads_downloads_and_versions(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "files", false).await;
    let (s, ann) = (&t.server, &t.ann.1);
    let first = "第一版：市场调研\n".repeat(200).into_bytes();
    let v1: Value = expect_json(plain(s, ann, REPORT, first.clone()).await, 201).await;
    assert_eq!(v1["name"], REPORT);
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["size"], first.len());
    assert_eq!(v1["mime"], "text/plain; charset=utf-8");
    assert_eq!(v1["sha256"], sha_hex(&first));
    let id = v1["id"].as_i64().expect("file id");

    let whole = download(s, ann, id).await;
    assert_eq!(whole.status(), 200);
    let etag = whole.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", sha_hex(&first)));
    let disposition = whole.headers()["content-disposition"].to_str().expect("cd");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains(
            "filename*=UTF-8''%E9%9C%80%E6%B1%82%E8%B0%83%E7%A0%94%E6%8A%A5%E5%91%8A%20V2.txt"
        ),
        "{disposition}"
    );
    assert_eq!(
        whole.bytes().await.expect("body").as_ref(),
        first.as_slice()
    );

    // A link or an <img> carries the token in its address.
    let linked = s
        .client
        .get(format!(
            "{}/v1/files/{id}/content?download=true&access_token={ann}",
            s.url
        ))
        .send()
        .await
        .expect("linked download");
    assert_eq!(linked.status(), 200);
    assert_eq!(
        linked.bytes().await.expect("body").as_ref(),
        first.as_slice()
    );

    let again = s
        .request(Method::GET, &format!("/v1/files/{id}/content"), Some(ann))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(again.status(), 304);
    let part = s
        .request(Method::GET, &format!("/v1/files/{id}/content"), Some(ann))
        .header("Range", "bytes=7-20")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 7-20/{}", first.len()).as_str()
    );
    assert_eq!(
        part.bytes().await.expect("range body").as_ref(),
        &first[7..21]
    );
    let outside = s
        .request(Method::GET, &format!("/v1/files/{id}/content"), Some(ann))
        .header("Range", format!("bytes={}-", first.len() + 1))
        .send()
        .await
        .expect("range");
    assert_eq!(outside.status(), 416);

    // The same name again is a new version of the same file, not a copy.
    let second = b"%PDF-1.7\n second version".to_vec();
    let v2: Value = expect_json(plain(s, ann, REPORT, second.clone()).await, 201).await;
    assert_eq!(
        (v2["id"].as_i64(), v2["version"].as_i64()),
        (Some(id), Some(2))
    );
    assert_eq!(
        v2["mime"], "application/pdf",
        "the bytes decide, not the name"
    );
    let inline = download(s, ann, id).await;
    assert!(inline.headers()["content-disposition"]
        .to_str()
        .expect("cd")
        .starts_with("inline;"));
    let versions: Value = expect_json(
        s.get(&format!("/v1/files/{id}/versions"), Some(ann)).await,
        200,
    )
    .await;
    let numbers: Vec<i64> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_i64().expect("number"))
        .collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(versions["versions"][0]["uploader"], t.ann.0);
    let old = s
        .get(&format!("/v1/files/{id}/content?version=1"), Some(ann))
        .await;
    assert_eq!(old.bytes().await.expect("v1").as_ref(), first.as_slice());
    let listed: Value = expect_json(s.get("/v1/files", Some(ann)).await, 200).await;
    assert_eq!(listed["files"].as_array().map(Vec::len), Some(1));

    // Someone else's own file does not exist for Bob.
    expect_error(download(s, &t.bob.1, id).await, 404, "not_found").await;
    expect_error(
        s.request(Method::DELETE, &format!("/v1/files/{id}"), Some(&t.bob.1))
            .send()
            .await
            .expect("delete"),
        404,
        "not_found",
    )
    .await;

    // The trash: gone from the list, restorable.
    let deleted = s
        .request(Method::DELETE, &format!("/v1/files/{id}"), Some(ann))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let listed: Value = expect_json(s.get("/v1/files", Some(ann)).await, 200).await;
    assert_eq!(listed["files"], json!([]));
    let trash: Value = expect_json(s.get("/v1/files?trash=true", Some(ann)).await, 200).await;
    assert_eq!(trash["files"][0]["id"], id);
    assert!(trash["files"][0]["deleted_at"].is_i64());
    let restored: Value = expect_json(
        s.post(&format!("/v1/files/{id}/restore"), Some(ann), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (restored["version"].as_i64(), restored.get("deleted_at")),
        (Some(2), None)
    );
}

async fn tus_resumes_after_a_cut_connection(backend: Backend) {
    let s3 = match backend {
        Backend::Postgres => Some(S3Server::start().await),
        Backend::Sqlite => None,
    };
    let mut options = ServerOptions::backend(backend);
    if let Some(s3) = &s3 {
        options = options.s3(s3);
    }
    let server = Server::start_with(options).await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    // Larger than an S3 part, so the object goes up in several.
    let bytes = noise(12 * 1024 * 1024 + 321, 1);
    let upload = create(&server, &ann, bytes.len(), &[("filename", "现场录像.bin")]).await;
    assert_eq!(offset(&server, &ann, &upload).await, Some(0));

    // A connection cut after 5 MiB of a body that promised everything.
    let cut = 5 * 1024 * 1024 + 17;
    broken_patch(&server, &ann, &upload, 0, bytes.len(), &bytes[..cut], false).await;
    let at = eventually(100, Duration::from_millis(100), || async {
        offset(&server, &ann, &upload).await.filter(|&o| o == cut)
    })
    .await;
    assert_eq!(at, Some(cut), "every byte that arrived is kept");

    // Resuming anywhere else is refused and changes nothing.
    let wrong = patch(&server, &ann, &upload, cut - 1, &bytes[cut - 1..cut + 10]).await;
    expect_error(wrong, 409, "upload_offset_mismatch").await;
    assert_eq!(offset(&server, &ann, &upload).await, Some(cut));

    let done = patch(&server, &ann, &upload, cut, &bytes[cut..]).await;
    assert_eq!(done.status(), 204);
    assert_eq!(
        done.headers()["upload-offset"],
        bytes.len().to_string().as_str()
    );
    let file: i64 = done.headers()["parley-file-id"]
        .to_str()
        .expect("file id")
        .parse()
        .expect("number");
    let stored: Value = expect_json(
        server.get(&format!("/v1/files/{file}"), Some(&ann)).await,
        200,
    )
    .await;
    assert_eq!(stored["sha256"], sha_hex(&bytes));
    assert_eq!(stored["mime"], "application/octet-stream");
    let body = download(&server, &ann, file)
        .await
        .bytes()
        .await
        .expect("download");
    assert!(
        body.as_ref() == bytes.as_slice(),
        "the downloaded bytes differ"
    );
    let tail = server
        .request(
            Method::GET,
            &format!("/v1/files/{file}/content"),
            Some(&ann),
        )
        .header("Range", "bytes=-1000")
        .send()
        .await
        .expect("range");
    assert_eq!(
        tail.bytes().await.expect("tail").as_ref(),
        &bytes[bytes.len() - 1000..]
    );

    // An empty file is a file too, complete as soon as it is created.
    let empty = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "0")
        .header("Upload-Metadata", metadata(&[("filename", "空.txt")]))
        .send()
        .await
        .expect("create empty");
    assert_eq!(empty.status(), 201);
    assert_eq!(empty.headers()["upload-offset"], "0");
    let id = empty.headers()["parley-file-id"]
        .to_str()
        .expect("id")
        .to_string();
    let got = server
        .get(&format!("/v1/files/{id}/content"), Some(&ann))
        .await;
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.expect("empty body").is_empty());

    // Termination: an upload given up is gone.
    let other = create(&server, &ann, 10, &[("filename", "x")]).await;
    let gone = server
        .request(Method::DELETE, &other, Some(&ann))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .expect("terminate");
    assert_eq!(gone.status(), 204);
    assert_eq!(offset(&server, &ann, &other).await, None);
}

async fn identical_content_is_stored_once(backend: Backend) {
    let mut server =
        Server::start_with(ServerOptions::backend(backend).env("PARLEY_FILES_TRASH_DAYS", "1"))
            .await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let (_, bob) = server.user_with_role(&admin, "member", None).await;
    let bytes = noise(300_000, 2);
    let a: Value = expect_json(plain(&server, &ann, "a.bin", bytes.clone()).await, 201).await;
    let b: Value = expect_json(plain(&server, &bob, "b.bin", bytes.clone()).await, 201).await;
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(
        stored_objects(&server),
        1,
        "identical content is stored once"
    );
    let other: Value = expect_json(plain(&server, &bob, "c.bin", noise(1000, 3)).await, 201).await;
    assert_eq!(stored_objects(&server), 2);

    // Ann's copy goes through the trash and is purged: Bob's still reads, the object stays.
    for (token, file) in [(&ann, &a), (&bob, &other)] {
        let deleted = server
            .request(
                Method::DELETE,
                &format!("/v1/files/{}", file["id"]),
                Some(token),
            )
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
    }
    let pool = parley_tests::database_pool(&server.database_url).await;
    sqlx::query(
        "UPDATE files SET deleted_at = deleted_at - 2 * 86400000 WHERE deleted_at IS NOT NULL",
    )
    .execute(&pool)
    .await
    .expect("age the trash");
    // The sweep runs when the server starts (and every minute).
    server.kill_and_restart().await;
    let purged = eventually(100, Duration::from_millis(100), || async {
        (stored_objects(&server) == 1).then_some(())
    })
    .await;
    assert!(
        purged.is_some(),
        "the unshared object is deleted, the shared one kept"
    );
    expect_error(
        server
            .get(&format!("/v1/files/{}", a["id"]), Some(&ann))
            .await,
        404,
        "not_found",
    )
    .await;
    let body = download(&server, &bob, b["id"].as_i64().expect("id")).await;
    assert!(body.bytes().await.expect("bob's copy").as_ref() == bytes.as_slice());
}

async fn limits_and_bad_input_are_refused(backend: Backend) {
    let server = Server::start_with(
        ServerOptions::backend(backend)
            .env("PARLEY_FILES_MAX_FILE_BYTES", "5000")
            .env("PARLEY_FILES_USER_QUOTA_BYTES", "7000"),
    )
    .await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let too_large = expect_error(
        plain(&server, &ann, "big", vec![1; 5001]).await,
        413,
        "payload_too_large",
    )
    .await;
    assert!(too_large["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("max_file_bytes"));
    expect_json::<Value>(plain(&server, &ann, "one", vec![1; 4000]).await, 201).await;
    let over = expect_error(
        plain(&server, &ann, "two", vec![2; 4000]).await,
        413,
        "quota_exceeded",
    )
    .await;
    assert!(over["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("user_quota_bytes"));
    // The same through tus, before a byte is sent.
    let refused = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "4000")
        .header("Upload-Metadata", metadata(&[("filename", "three")]))
        .send()
        .await
        .expect("create");
    expect_error(refused, 413, "quota_exceeded").await;
    let listed: Value = expect_json(server.get("/v1/files", Some(&ann)).await, 200).await;
    assert_eq!(
        listed["files"].as_array().map(Vec::len),
        Some(1),
        "nothing partial is visible"
    );

    let long = "长".repeat(86);
    for bad in ["a/b", "..", "a\\b", "tab\there", " lead", long.as_str()] {
        expect_error(
            plain(&server, &ann, bad, vec![1]).await,
            422,
            "invalid_file_name",
        )
        .await;
    }
    let nul = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "1")
        .header("Upload-Metadata", metadata(&[("filename", "a\0b")]))
        .send()
        .await
        .expect("create");
    expect_error(nul, 422, "invalid_file_name").await;
    let bad_meta = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header(TUS.0, TUS.1)
        .header("Upload-Length", "1")
        .header("Upload-Metadata", "filename !!!")
        .send()
        .await
        .expect("create");
    expect_error(bad_meta, 422, "invalid_input").await;
    let no_version = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header("Upload-Length", "1")
        .header("Upload-Metadata", metadata(&[("filename", "x")]))
        .send()
        .await
        .expect("create");
    expect_error(no_version, 412, "invalid_input").await;
    let upload = create(&server, &ann, 10, &[("filename", "x")]).await;
    let wrong_type = server
        .request(Method::PATCH, &upload, Some(&ann))
        .header(TUS.0, TUS.1)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("patch");
    expect_error(wrong_type, 415, "unsupported_media_type").await;
    // Bytes past Upload-Length are refused; those up to it are kept.
    let past = patch(&server, &ann, &upload, 0, &[7; 12]).await;
    expect_error(past, 422, "invalid_input").await;
    // Someone else's upload does not exist for Bob.
    let (_, bob) = server.user_with_role(&admin, "member", None).await;
    assert_eq!(offset(&server, &bob, &upload).await, None);
    let options = server
        .request(Method::OPTIONS, "/v1/uploads", None)
        .send()
        .await
        .expect("options");
    assert_eq!(options.status(), 204);
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert_eq!(options.headers()["tus-max-size"], "5000");
    assert!(options.headers()["tus-extension"]
        .to_str()
        .unwrap_or_default()
        .contains("termination"));
}

async fn a_crash_mid_upload_resumes_from_what_was_recorded(backend: Backend) {
    let mut server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let bytes = noise(40 * 1024 * 1024, 4);
    let upload = create(&server, &ann, bytes.len(), &[("filename", "crash.bin")]).await;
    // 20 MiB arrive over a connection that stays open; then the server dies.
    let sent = 20 * 1024 * 1024;
    let held = broken_patch(&server, &ann, &upload, 0, bytes.len(), &bytes[..sent], true).await;
    let checkpointed = eventually(200, Duration::from_millis(100), || async {
        let pool = parley_tests::database_pool(&server.database_url).await;
        let received: i64 = sqlx::query_scalar("SELECT received FROM uploads")
            .fetch_one(&pool)
            .await
            .ok()?;
        (received > 0).then_some(received)
    })
    .await
    .expect("a long body records its progress as it goes");
    server.kill_and_restart().await;
    drop(held);
    let at = offset(&server, &ann, &upload)
        .await
        .expect("the upload survived");
    assert_eq!(
        at as i64, checkpointed,
        "it resumes from the last byte recorded"
    );
    let staged = std::fs::metadata(
        server
            .dir
            .path()
            .join("data/uploads")
            .join(upload.rsplit('/').next().unwrap_or_default()),
    )
    .map(|m| m.len())
    .unwrap_or(0);
    assert!(
        staged as usize >= at,
        "the staging file holds what was recorded"
    );
    let done = patch(&server, &ann, &upload, at, &bytes[at..]).await;
    assert_eq!(done.status(), 204);
    let file = done.headers()["parley-file-id"]
        .to_str()
        .expect("id")
        .to_string();
    let body = server
        .get(&format!("/v1/files/{file}/content"), Some(&ann))
        .await
        .bytes()
        .await
        .expect("download");
    assert!(
        body.as_ref() == bytes.as_slice(),
        "the resumed file is whole"
    );
    assert!(
        std::fs::read_dir(server.dir.path().join("data/uploads"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "nothing is left in staging"
    );
}

async fn attachments_follow_the_channel(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "附件", true).await;
    let s = &t.server;
    let png = png(64, 48);
    let upload = |token: String, channel: i64| {
        let png = png.clone();
        async move {
            s.request(Method::POST, "/v1/files", Some(&token))
                .query(&[("name", "截图.png"), ("channel", &channel.to_string())])
                .body(png)
                .send()
                .await
                .expect("upload")
        }
    };
    let file: Value = expect_json(upload(t.ann.1.clone(), t.channel).await, 201).await;
    let id = file["id"].as_i64().expect("id");
    assert_eq!(file["channel"], t.channel);
    // Not sent yet: only Ann has it.
    expect_error(download(s, &t.bob.1, id).await, 404, "not_found").await;

    let mut ann = WsClient::connect(s, &t.ann.1).await;
    let mut cat = WsClient::connect(s, &t.cat.1).await;
    let sent = ann
        .request(json!({"type": "send", "channel": t.channel, "client_id": "a1", "body": "", "attachments": [id]}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    let event = cat.next_of("message").await;
    let attachment = &event["message"]["attachments"][0];
    assert_eq!(attachment["id"], id);
    assert_eq!(attachment["name"], "截图.png");
    assert_eq!(attachment["mime"], "image/png");
    assert_eq!(attachment["size"], png.len());
    assert_eq!(attachment["thumbnail"], true);
    let page: Value = expect_json(
        s.get(
            &format!("/v1/channels/{}/messages", t.channel),
            Some(&t.bob.1),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["messages"][0]["attachments"][0]["id"], id);
    for token in [&t.bob.1, &t.cat.1] {
        let got = download(s, token, id).await;
        assert_eq!(got.status(), 200);
        assert!(got.headers()["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .starts_with("inline;"));
        assert!(got.bytes().await.expect("bytes").as_ref() == png.as_slice());
    }
    // Sent once; someone else's file, or a file for another channel, cannot be attached.
    let twice = ann
        .request(json!({"type": "send", "channel": t.channel, "client_id": "a2", "body": "again", "attachments": [id]}))
        .await;
    assert_eq!(twice["type"], "error", "{twice}");
    let bobs: Value = expect_json(upload(t.bob.1.clone(), t.channel).await, 201).await;
    let stolen = ann
        .request(json!({"type": "send", "channel": t.channel, "client_id": "a3", "body": "mine?", "attachments": [bobs["id"]]}))
        .await;
    assert_eq!(stolen["type"], "error", "{stolen}");
    // A stranger cannot even upload for the channel.
    let admin = &t.admin;
    let (_, dan) = s.user_with_role(admin, "member", None).await;
    expect_error(upload(dan.clone(), t.channel).await, 403, "not_member").await;
    expect_error(download(s, &dan, id).await, 404, "not_found").await;

    // Bob leaves: he loses the file. Ann recalls: Cat loses it too.
    let mut bob = WsClient::connect(s, &t.bob.1).await;
    let left = bob
        .request(json!({"type": "leave", "channel": t.channel}))
        .await;
    assert_ne!(left["type"], "error", "{left}");
    expect_error(download(s, &t.bob.1, id).await, 404, "not_found").await;
    let recalled = ann
        .request(json!({"type": "recall", "channel": t.channel, "message_id": sent["message_id"]}))
        .await;
    assert_ne!(recalled["type"], "error", "{recalled}");
    expect_error(download(s, &t.cat.1, id).await, 404, "not_found").await;
    // The sender may take it out of the trash, as their own file: the channel does not get it back.
    let restored = s
        .post(
            &format!("/v1/files/{id}/restore"),
            Some(&t.ann.1),
            &json!({}),
        )
        .await;
    assert_eq!(restored.status(), 200);
    expect_error(download(s, &t.cat.1, id).await, 404, "not_found").await;
    assert_eq!(download(s, &t.ann.1, id).await.status(), 200);
    let page: Value = expect_json(
        s.get(
            &format!("/v1/channels/{}/messages", t.channel),
            Some(&t.cat.1),
        )
        .await,
        200,
    )
    .await;
    assert!(page["messages"][0].get("attachments").is_none(), "{page}");
}

async fn images_get_thumbnails(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let (_, bob) = server.user_with_role(&admin, "member", None).await;
    let file: Value = expect_json(plain(&server, &ann, "图.png", png(600, 300)).await, 201).await;
    assert_eq!(file["thumbnail"], true, "{file}");
    let id = file["id"].as_i64().expect("id");
    let mut etag = String::new();
    for (size, dims) in [("small", (256, 128)), ("large", (600, 300))] {
        let got = server
            .get(&format!("/v1/files/{id}/thumbnail?size={size}"), Some(&ann))
            .await;
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        etag = got.headers()["etag"].to_str().expect("etag").to_string();
        let image =
            image::load_from_memory(&got.bytes().await.expect("thumbnail")).expect("a JPEG");
        assert_eq!((image.width(), image.height()), dims, "{size}");
        // The transparent half is white.
        let corner = image.to_rgb8().get_pixel(2, 2).0;
        assert!(corner.iter().all(|&c| c > 230), "{corner:?}");
    }
    let unchanged = server
        .request(
            Method::GET,
            &format!("/v1/files/{id}/thumbnail?size=large"),
            Some(&ann),
        )
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(unchanged.status(), 304);
    expect_error(
        server
            .get(&format!("/v1/files/{id}/thumbnail?size=huge"), Some(&ann))
            .await,
        422,
        "invalid_input",
    )
    .await;
    expect_error(
        server
            .get(&format!("/v1/files/{id}/thumbnail"), Some(&bob))
            .await,
        404,
        "not_found",
    )
    .await;
    // Text, and an image cut short, have none; the upload itself is fine.
    let text: Value =
        expect_json(plain(&server, &ann, "a.txt", b"hello".to_vec()).await, 201).await;
    assert!(text.get("thumbnail").is_none());
    let mut cut = png(300, 300);
    cut.truncate(cut.len() / 2);
    let broken: Value = expect_json(plain(&server, &ann, "cut.png", cut).await, 201).await;
    assert_eq!(broken["mime"], "image/png");
    assert!(broken.get("thumbnail").is_none());
    expect_error(
        server
            .get(&format!("/v1/files/{}/thumbnail", broken["id"]), Some(&ann))
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn a_department_shares_its_quota(backend: Backend) {
    let server = Server::start_with(
        ServerOptions::backend(backend).env("PARLEY_FILES_DEPARTMENT_QUOTA_BYTES", "5000"),
    )
    .await;
    let admin = server.admin_token().await;
    let (_, ann) = server
        .user_with_role(&admin, "member", Some("HQ/Ops"))
        .await;
    let (_, bob) = server
        .user_with_role(&admin, "member", Some("HQ/Ops"))
        .await;
    let (_, cat) = server
        .user_with_role(&admin, "member", Some("HQ/Sales"))
        .await;
    expect_json::<Value>(plain(&server, &ann, "a.bin", vec![1; 3000]).await, 201).await;
    let over = expect_error(
        plain(&server, &bob, "b.bin", vec![2; 3000]).await,
        413,
        "quota_exceeded",
    )
    .await;
    let message = over["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("department_quota_bytes"), "{message}");
    expect_json::<Value>(plain(&server, &bob, "b.bin", vec![2; 2000]).await, 201).await;
    expect_json::<Value>(plain(&server, &cat, "c.bin", vec![3; 3000]).await, 201).await;
}

/// Retention deletes a message with its attachments: nobody can download them, and their bytes
/// go at the next sweep of the trash (at start, here).
async fn retention_takes_attachments_with_their_messages(backend: Backend) {
    let t = Team::new(Server::start(backend).await, "留存", false).await;
    let mut server = t.server;
    let bytes = noise(5000, 9);
    let file: Value = expect_json(
        server
            .request(Method::POST, "/v1/files", Some(&t.ann.1))
            .query(&[("name", "old.bin"), ("channel", &t.channel.to_string())])
            .body(bytes.clone())
            .send()
            .await
            .expect("upload"),
        201,
    )
    .await;
    let id = file["id"].as_i64().expect("id");
    let mut ann = WsClient::connect(&server, &t.ann.1).await;
    let sent = ann
        .request(json!({"type": "send", "channel": t.channel, "client_id": "r1", "body": "旧文件", "attachments": [id]}))
        .await;
    assert_eq!(sent["type"], "sent", "{sent}");
    assert_eq!(download(&server, &t.bob.1, id).await.status(), 200);
    assert_eq!(stored_objects(&server), 1);
    let patched = server
        .send_json(
            Method::PATCH,
            &format!("/v1/channels/{}", t.channel),
            &t.admin,
            &json!({"retention_days": 1}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let pool = parley_tests::database_pool(&server.database_url).await;
    sqlx::query("UPDATE messages SET created_at = created_at - 3 * 86400000")
        .execute(&pool)
        .await
        .expect("age the message");
    let pass: Value = expect_json(
        server
            .post("/v1/admin/retention/run", Some(&t.admin), &json!({}))
            .await,
        200,
    )
    .await;
    assert!(pass.to_string().contains("1"), "{pass}");
    expect_error(download(&server, &t.bob.1, id).await, 404, "not_found").await;
    server.kill_and_restart().await;
    let gone = eventually(100, Duration::from_millis(100), || async {
        (stored_objects(&server) == 0).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the attachment's bytes are deleted");
    expect_error(download(&server, &t.ann.1, id).await, 404, "not_found").await;
}

/// A plain upload to S3 goes straight into the store, hashed and sniffed on the way: whole
/// files over several parts, thumbnails, identical content stored once, and a body cut short
/// leaves no object, no record and no staging file behind.
#[tokio::test]
async fn plain_uploads_go_straight_into_s3() {
    let s3 = S3Server::start().await;
    let server = Server::start_with(ServerOptions::backend(Backend::Postgres).s3(&s3)).await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let store =
        parley_storage::ObjectStorage::open(&parley_storage::ObjectStoreConfig::S3(s3.config()))
            .expect("open the store");
    let staging = server.dir.path().join("data/uploads");
    let staged = || std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);

    // Larger than an S3 part, so it goes up in several.
    let bytes = noise(11 * 1024 * 1024 + 7, 9);
    let file: Value =
        expect_json(plain(&server, &ann, "大文件.bin", bytes.clone()).await, 201).await;
    assert_eq!(file["sha256"], sha_hex(&bytes));
    assert_eq!(file["mime"], "application/octet-stream");
    let id = file["id"].as_i64().expect("id");
    let body = download(&server, &ann, id)
        .await
        .bytes()
        .await
        .expect("download");
    assert!(
        body.as_ref() == bytes.as_slice(),
        "the downloaded bytes differ"
    );
    let image: Value = expect_json(plain(&server, &ann, "图.png", png(500, 250)).await, 201).await;
    assert_eq!(
        (image["mime"].as_str(), image["thumbnail"].as_bool()),
        (Some("image/png"), Some(true))
    );
    let thumb = server
        .get(
            &format!("/v1/files/{}/thumbnail?size=small", image["id"]),
            Some(&ann),
        )
        .await;
    assert_eq!(thumb.status(), 200);
    // The same bytes again, under another name: one object still.
    let again: Value =
        expect_json(plain(&server, &ann, "副本.bin", bytes.clone()).await, 201).await;
    assert_eq!(again["sha256"], file["sha256"]);
    let objects = eventually(100, Duration::from_millis(100), || async {
        let objects = store.list("files/").await.ok()?;
        (objects.len() == 2).then_some(objects)
    })
    .await;
    assert!(
        objects.is_some(),
        "one object per content: {:?}",
        store.list("files/").await
    );
    assert_eq!(staged(), 0, "nothing is left in staging");

    // A body cut short: nothing of it stays anywhere.
    cut_request(
        &server,
        "POST /v1/files?name=cut.bin",
        &format!("Authorization: Bearer {ann}\r\n"),
        bytes.len(),
        &noise(6 * 1024 * 1024, 3),
        false,
    )
    .await;
    let pool = parley_tests::database_pool(&server.database_url).await;
    let cleared = eventually(100, Duration::from_millis(100), || async {
        let uploads: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads WHERE file_id IS NULL")
            .fetch_one(&pool)
            .await
            .ok()?;
        (uploads == 0).then_some(())
    })
    .await;
    assert!(cleared.is_some(), "the cut upload is not recorded");
    assert_eq!(
        store.list("files/").await.expect("list").len(),
        2,
        "no object of the cut upload"
    );
    assert_eq!(staged(), 0, "nothing of it is staged");
    let mine: Value = expect_json(server.get("/v1/files", Some(&ann)).await, 200).await;
    assert!(!mine.to_string().contains("cut.bin"), "{mine}");
}

on_both_backends!(
    retention_takes_attachments_with_their_messages,
    a_department_shares_its_quota,
    images_get_thumbnails,
    plain_uploads_downloads_and_versions,
    tus_resumes_after_a_cut_connection,
    identical_content_is_stored_once,
    limits_and_bad_input_are_refused,
    a_crash_mid_upload_resumes_from_what_was_recorded,
    attachments_follow_the_channel,
);
