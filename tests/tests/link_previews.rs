//! Link previews over the real binary: a site on loopback serves pages (Open Graph in Chinese,
//! a GBK page, a redirect, a redirect loop, an image, a page that never finishes). A server
//! allowed to read private addresses previews them, follows the redirect, gives up on time and
//! keeps its answers; a server as shipped refuses every private address, whatever name leads
//! there, and anything that is not http or https.

use parley_tests::{expect_error, expect_json, Backend, Server, ServerOptions};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn links_get_previews_and_private_addresses_stay_private() {
    let (site, hits) = site().await;
    let allowed = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_PREVIEWS_ALLOW_PRIVATE", "true")
            .env("PARLEY_PREVIEWS_TIMEOUT_MS", "1000"),
    )
    .await;
    let token = allowed.admin_token().await;
    let page: Value = expect_json(ask(&allowed, &format!("{site}/page"), &token).await, 200).await;
    assert_eq!(page["title"], "第三季度预算 & Q3 budget");
    assert_eq!(page["description"], "预算报告的草稿 \"v2\"");
    assert_eq!(page["site_name"], "示例 Example");
    assert_eq!(page["url"], format!("{site}/page"));
    // The answer is kept: asking again does not call the site.
    let before = hits.load(Ordering::SeqCst);
    let again: Value = expect_json(ask(&allowed, &format!("{site}/page"), &token).await, 200).await;
    assert_eq!(again, page);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "served from what was kept"
    );

    let moved: Value =
        expect_json(ask(&allowed, &format!("{site}/moved"), &token).await, 200).await;
    assert_eq!(
        moved["url"],
        format!("{site}/page"),
        "the redirect was followed"
    );
    let gbk: Value = expect_json(ask(&allowed, &format!("{site}/gbk"), &token).await, 200).await;
    assert_eq!(gbk["title"], "国标编码的页面");
    assert_eq!(gbk["site_name"], "127.0.0.1", "no site name: the host");

    for (path, why) in [
        ("/image.png", "not a page"),
        ("/loop", "redirects"),
        ("/missing", "404"),
        ("/untitled", "no title"),
    ] {
        let response = ask(&allowed, &format!("{site}{path}"), &token).await;
        let body = expect_error(response, 404, "not_found").await;
        eprintln!("{path}: {} ({why})", body["error"]["message"]);
    }
    // A page that never finishes: no preview, within the configured second (and some slack).
    let started = Instant::now();
    let response = ask(&allowed, &format!("{site}/slow"), &token).await;
    let body = expect_error(response, 404, "not_found").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1000 ms"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // As shipped: private addresses are refused, by number or by name, and so are other schemes.
    let shipped = Server::start(Backend::Sqlite).await;
    let token = shipped.admin_token().await;
    let port = site.rsplit(':').next().expect("port");
    for url in [
        format!("{site}/page"),
        format!("http://localhost:{port}/page"),
        format!("http://[::1]:{port}/page"),
        format!("http://0x7f000001:{port}/page"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
    ] {
        let response = ask(&shipped, &url, &token).await;
        expect_error(response, 403, "forbidden").await;
    }
    let calls = hits.load(Ordering::SeqCst);
    for url in [
        "ftp://example.com/file",
        "javascript:alert(1)",
        "not a url",
        "http://user:pw@example.com/",
    ] {
        let response = ask(&shipped, url, &token).await;
        expect_error(response, 422, "invalid_input").await;
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        calls,
        "nothing refused reached the site"
    );
    // Only the signed-in may ask.
    let anonymous = reqwest::get(format!(
        "{}/v1/link-preview?url={}",
        shipped.url,
        urlencode(&format!("{site}/page"))
    ))
    .await
    .expect("GET");
    assert_eq!(anonymous.status(), 401);
}

async fn ask(server: &Server, url: &str, token: &str) -> reqwest::Response {
    let path = format!("/v1/link-preview?url={}", urlencode(url));
    server.get(&path, Some(token)).await
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A small site on loopback; returns its base URL and how many requests it answered.
async fn site() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head).to_string();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, kind, extra, body): (&str, &str, String, Vec<u8>) = match path.as_str()
                {
                    "/page" => (
                        "200 OK",
                        "text/html; charset=utf-8",
                        String::new(),
                        PAGE.as_bytes().to_vec(),
                    ),
                    "/moved" => (
                        "302 Found",
                        "text/plain",
                        "location: /page\r\n".into(),
                        Vec::new(),
                    ),
                    "/loop" => (
                        "301 Moved Permanently",
                        "text/plain",
                        "location: /loop\r\n".into(),
                        Vec::new(),
                    ),
                    "/gbk" => {
                        let (bytes, _, _) = encoding_rs::GBK
                            .encode("<html><head><title>国标编码的页面</title></head></html>");
                        (
                            "200 OK",
                            "text/html; charset=GBK",
                            String::new(),
                            bytes.to_vec(),
                        )
                    }
                    "/image.png" => (
                        "200 OK",
                        "image/png",
                        String::new(),
                        b"\x89PNG\r\n".to_vec(),
                    ),
                    "/untitled" => (
                        "200 OK",
                        "text/html",
                        String::new(),
                        b"<p>hello</p>".to_vec(),
                    ),
                    "/slow" => {
                        // A head, then nothing: the body never ends, until the reader gives up
                        // and closes the connection.
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 100000\r\n\r\n<html><head>")
                            .await;
                        let _ = socket.read(&mut buf).await;
                        return;
                    }
                    _ => ("404 Not Found", "text/plain", String::new(), b"no".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (base, hits)
}

const PAGE: &str = r#"<!doctype html><html><head>
<meta charset="utf-8">
<title>ignored when Open Graph has one</title>
<meta property="og:title" content="第三季度预算 &amp; Q3 budget">
<meta name="description" content="预算报告的草稿 &quot;v2&quot;">
<meta property="og:site_name" content="示例 Example">
</head><body><p>…</p></body></html>"#;
