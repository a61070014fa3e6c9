//! Security hardening, tried as an attacker or a careless integrator would: password guessing,
//! sign-in floods, slow and greedy clients, stolen tokens, imports that change roles, and what
//! browsers are told about the web app. Each test pins a defect that was found this way.

use futures::future::join_all;
use parley_tests::{
    expect_error, expect_json, on_both_backends, Backend, Server, ServerOptions, WsClient,
    ADMIN_EMAIL, ADMIN_PASSWORD,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

on_both_backends!(import_follows_open_sockets_and_keeps_an_admin);

/// A client whose connections come from `ip` (another loopback address: another person).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .build()
        .unwrap()
}

async fn login_from(
    client: &reqwest::Client,
    server: &Server,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/v1/auth/login", server.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// A Prometheus sample's value, 0 when absent.
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(server: &Server) -> String {
    server.get("/metrics", None).await.text().await.unwrap()
}

/// Regression: 12 wrong passwords in 0.3 s were all answered, then the right one worked.
#[tokio::test]
async fn password_guessing_is_throttled_per_account_and_address() {
    let server = Server::start(Backend::Sqlite).await;
    let attacker = client_from([127, 0, 0, 21]);
    let guesses =
        join_all(
            (0..12).map(|i| {
                let (attacker, server) = (&attacker, &server);
                async move {
                    login_from(attacker, server, ADMIN_EMAIL, &format!("guess-{i}-wrong")).await
                }
            }),
        )
        .await;
    let mut wrong = 0;
    let mut held = Vec::new();
    for answer in guesses {
        match answer.status() {
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let header: u64 = answer.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let body = expect_error(answer, 429, "rate_limited").await;
                assert_eq!(body["error"]["retry_after"], header, "{body}");
                held.push(header);
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!(
        wrong, 4,
        "three free failures and the one that starts the wait"
    );
    assert_eq!(held.len(), 8);
    assert!(held.iter().all(|&s| (1..=2).contains(&s)), "{held:?}");

    // The right password from the guessing address waits too; not from the owner's own.
    let right = login_from(&attacker, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = expect_error(right, 429, "rate_limited").await;
    let owner = client_from([127, 0, 0, 22]);
    let pair: Value = expect_json(
        login_from(&owner, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await,
        200,
    )
    .await;
    assert!(pair["access_token"].is_string());

    // The wait is what `retry_after` said; then the next wrong guess waits twice as long.
    let wait = body["error"]["retry_after"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let again = login_from(&attacker, &server, ADMIN_EMAIL, "still-wrong-1").await;
    assert_eq!(again.status(), 401);
    let next = login_from(&attacker, &server, ADMIN_EMAIL, "still-wrong-2").await;
    let body = expect_error(next, 429, "rate_limited").await;
    assert_eq!(body["error"]["retry_after"], 2, "{body}");

    let text = metrics(&server).await;
    assert!(
        sample(
            &text,
            r#"parley_auth_signin_failures_total{reason="wrong_password"}"#
        ) >= 5.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"parley_auth_signin_failures_total{reason="throttled"}"#
        ) >= 10.0,
        "{text}"
    );
    assert!(server.log().contains("sign-in held back"), "logged");
}

/// Regression: 16 concurrent sign-ins took the server from 19 MB to 335 MB resident, and it
/// stayed there (an argon2 hash of 19 MiB on an unbounded blocking thread each).
#[tokio::test]
async fn concurrent_sign_ins_keep_memory_flat() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    // Many accounts, right passwords: nothing here is throttled, only hashed.
    let mut people = Vec::new();
    for i in 0..4 {
        let email = format!("rss{i}@example.com");
        let body = json!({"email": email, "name": format!("RSS {i}"), "role": "member", "password": "user-password-1"});
        let _: Value = expect_json(server.post("/v1/users", Some(&admin), &body).await, 201).await;
        people.push(email);
    }
    let before = rss_kib(server.pid());
    for round in 0..3 {
        let answers = join_all((0..48).map(|i| {
            let client = client_from([127, 0, 1, (i % 200) as u8 + 1]);
            let email = people[i % people.len()].clone();
            let server = &server;
            async move { login_from(&client, server, &email, "user-password-1").await }
        }))
        .await;
        let mut ok = 0;
        for answer in answers {
            match answer.status().as_u16() {
                200 => ok += 1,
                // More waiting than allowed: "busy", with when to come back.
                503 => {
                    let body = expect_error(answer, 503, "unavailable").await;
                    assert!(body["error"]["retry_after"].as_u64().is_some(), "{body}");
                }
                other => panic!("round {round}: unexpected {other}"),
            }
        }
        assert!(ok > 0, "round {round}: no sign-in succeeded");
    }
    let after = rss_kib(server.pid());
    // At most one 19 MiB hashing block per core stays, and nothing per sign-in.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let allowed = cores * 20 * 1024 + 30 * 1024;
    assert!(
        after.saturating_sub(before) < allowed,
        "resident memory grew from {before} KiB to {after} KiB after 144 sign-ins"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn connect_from(server: &Server, ip: [u8; 4]) -> TcpStream {
    let addr: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((ip, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Read until the server closes the connection; what it sent, and how long that took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
    (
        String::from_utf8_lossy(&seen).into_owned(),
        started.elapsed(),
    )
}

/// Regression: ten clients trickling their headers were never closed in 40 s.
#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_HTTP_HEADER_TIMEOUT_SECS", "2"),
    )
    .await;
    // One byte of a request head every 300 ms: never a whole head.
    let trickles = (0..10).map(|i| {
        let server = &server;
        async move {
            let mut stream = connect_from(server, [127, 0, 2, i + 1]).await;
            let head = b"GET /healthz HTTP/1.1\r\nHost: parley\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
            let started = Instant::now();
            for byte in head {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                let mut probe = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut probe))
                    .await
                {
                    Ok(_) => break, // closed (or answered): the server acted
                    Err(_) => continue,
                }
            }
            started.elapsed()
        }
    });
    for took in join_all(trickles).await {
        assert!(
            took < Duration::from_secs(6),
            "a trickling client was kept {took:?}"
        );
    }

    // A connection that says nothing is closed, and so is one idle after its answer.
    let mut silent = connect_from(&server, [127, 0, 2, 50]).await;
    let (said, took) = read_until_closed(&mut silent, Duration::from_secs(8)).await;
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(!said.contains("HTTP/1.1 200"), "{said}");
    let mut kept = connect_from(&server, [127, 0, 2, 51]).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
        .await
        .unwrap();
    let (said, took) = read_until_closed(&mut kept, Duration::from_secs(8)).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(took < Duration::from_secs(6), "{took:?}");

    // The server still answers everyone else.
    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
}

/// Open connections are capped per address and in all; the one over the cap is told why.
#[tokio::test]
async fn connections_are_capped_per_address_and_in_all() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_HTTP_MAX_CONNECTIONS", "8")
            .env("PARLEY_HTTP_MAX_CONNECTIONS_PER_IP", "3"),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(&server, [127, 0, 3, 1]).await);
    }
    // Accepted connections answer; the fourth from the same address is refused.
    let mut fourth = connect_from(&server, [127, 0, 3, 1]).await;
    let (said, _) = read_until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    assert!(said.contains("retry-after: 5"), "{said}");
    let body: Value = serde_json::from_str(said.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");

    // Others still get in, up to the total.
    let mut refused_total = false;
    for i in 0..8 {
        let mut stream = connect_from(&server, [127, 0, 3, 10 + i]).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).await.unwrap();
        if &buf == b"HTTP/1.1 503" {
            refused_total = true;
            break;
        }
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(stream);
    }
    assert!(refused_total, "the total cap of 8 was never reached");

    // Closing one frees its place.
    held.clear();
    let text = eventually_metrics(&server).await;
    assert!(
        sample(
            &text,
            r#"parley_http_connections_refused_total{limit="per_address"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"parley_http_connections_refused_total{limit="total"}"#
        ) >= 1.0,
        "{text}"
    );
}

/// Metrics once the server has noticed the closed connections (it may take a moment).
async fn eventually_metrics(server: &Server) -> String {
    parley_tests::eventually(50, Duration::from_millis(100), || async {
        let answer = server
            .client
            .get(format!("{}/metrics", server.url))
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status() == 200 => Some(answer.text().await.unwrap()),
            _ => None,
        }
    })
    .await
    .expect("the server lets a connection in again once others closed")
}

/// Regression: changing your own password needed only a bearer token, so a stolen 15-minute
/// token was a permanent takeover.
#[tokio::test]
async fn changing_your_own_password_needs_the_current_one() {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    let (id, token) = server.user_with_role(&admin, "member", None).await;
    let path = format!("/v1/users/{id}");
    let patch = |token: String, body: Value| {
        let request = server
            .request(reqwest::Method::PATCH, &path, Some(&token))
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let missing = patch(token.clone(), json!({"password": "taken-over-pw"})).await;
    expect_error(missing, 422, "invalid_input").await;
    let wrong = patch(
        token.clone(),
        json!({"password": "taken-over-pw", "current_password": "not-it-at-all"}),
    )
    .await;
    expect_error(wrong, 403, "invalid_credentials").await;
    let right = patch(
        token.clone(),
        json!({"password": "my-new-password", "current_password": "user-password-1"}),
    )
    .await;
    let user: Value = expect_json(right, 200).await;
    let email = user["email"].as_str().unwrap().to_string();
    server.login(&email, "my-new-password").await;

    // An administrator resetting someone else's password needs none.
    let reset = patch(admin.clone(), json!({"password": "reset-by-admin"})).await;
    let _: Value = expect_json(reset, 200).await;
    server.login(&email, "reset-by-admin").await;
    // Their own still does.
    let me = server
        .request(reqwest::Method::PATCH, "/v1/users/1", Some(&admin))
        .json(&json!({"password": "admin-new-password"}))
        .send()
        .await
        .unwrap();
    expect_error(me, 422, "invalid_input").await;
}

/// Regression: a role change made by CSV import did not close open WebSockets, and an import
/// could remove the last admin (PATCH refuses that with 409; import answered 200).
async fn import_follows_open_sockets_and_keeps_an_admin(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let (_, token) = server.user_with_role(&admin, "admin", Some("HQ/Ops")).await;
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(&token)).await, 200).await;
    let email = me["user"]["email"].as_str().unwrap().to_string();
    let mut socket = WsClient::connect(&server, &token).await;
    assert_eq!(socket.welcome["user"]["role"], "admin");

    let import = |csv: String| {
        let request = server
            .request(reqwest::Method::POST, "/v1/admin/import", Some(&admin))
            .header("content-type", "text/csv")
            .body(csv);
        async move { request.send().await.unwrap() }
    };
    let demoted = import(format!(
        "name,email,department,role\nOps Admin,{email},HQ/Sales,member\n"
    ))
    .await;
    let report: Value = expect_json(demoted, 200).await;
    assert_eq!(report["users_updated"], 1, "{report}");
    let closed = socket.drain_until_closed().await;
    let last = closed.last().cloned().unwrap_or(Value::Null);
    assert_eq!(last["type"], "closing", "{closed:?}");
    assert_eq!(last["code"], "account_changed", "{closed:?}");
    let again = WsClient::connect(&server, &token).await;
    assert_eq!(again.welcome["user"]["role"], "member");

    // Demoting the only admin left is refused, and nothing in the file is applied.
    let last_admin = import(format!(
        "name,email,department,role\nAdministrator,{ADMIN_EMAIL},,member\nNew Person,new.person@example.com,HQ,member\n"
    ))
    .await;
    expect_error(last_admin, 409, "conflict").await;
    let still: Value = expect_json(server.get("/v1/auth/whoami", Some(&admin)).await, 200).await;
    assert_eq!(still["user"]["role"], "admin");
    let users: Value = expect_json(server.get("/v1/users", Some(&admin)).await, 200).await;
    assert!(
        !users.to_string().contains("new.person@example.com"),
        "{users}"
    );
}

/// The web app's pages tell browsers what may run and who may frame them.
#[tokio::test]
async fn browser_security_headers_on_every_answer() {
    let server = Server::start(Backend::Sqlite).await;
    for path in [
        "/",
        "/app/app.js",
        "/v1/channels",
        "/healthz",
        "/no-such-route",
    ] {
        let answer = server.get(path, None).await;
        let headers = answer.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    // The page itself has no inline script for the policy to refuse.
    let page = server.get("/", None).await.text().await.unwrap();
    for tag in page.split("<script").skip(1) {
        let opening = tag.split('>').next().unwrap();
        assert!(
            opening.contains("src="),
            "an inline script: <script{opening}>"
        );
    }
}

/// A connection upgraded to a WebSocket keeps its place among the open connections until it
/// closes (hyper is done with it at the upgrade; the cap must not be).
#[tokio::test]
async fn websockets_count_towards_the_connection_caps() {
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite).env("PARLEY_HTTP_MAX_CONNECTIONS_PER_IP", "2"),
    )
    .await;
    let token = server.admin_token().await;
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let stream = connect_from(&server, [127, 0, 4, 1]).await;
        let url = format!(
            "{}/v1/ws?access_token={token}",
            server.url.replacen("http", "ws", 1)
        );
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        sockets.push(ws);
    }
    let mut third = connect_from(&server, [127, 0, 4, 1]).await;
    let (said, _) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    drop(sockets.pop());
    let admitted = parley_tests::eventually(50, Duration::from_millis(100), || async {
        let mut stream = connect_from(&server, [127, 0, 4, 1]).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).await.ok()?;
        (&buf == b"HTTP/1.1 200").then_some(())
    })
    .await;
    assert!(
        admitted.is_some(),
        "a closed WebSocket gives its place back"
    );
}
