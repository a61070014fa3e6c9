//! Errors as an integrator meets them, from the docs alone: every REST error is JSON with a
//! stable code, and the messaging WebSocket tells a wrong value (`invalid_input`) from an
//! unknown message (`unknown_type`), names back the request that failed, and refuses what
//! would silently do something else (a `history` of 0 messages, a negative resume).

use parley_tests::{expect_error, on_both_backends, Backend, Server, Team, WsClient};
use serde_json::{json, Value};

on_both_backends!(control_characters_are_refused_in_names_and_emails);

/// Regression: NUL was accepted in e-mails and names (and PostgreSQL, which cannot store it,
/// answered 5xx): control characters are refused alike on every database.
async fn control_characters_are_refused_in_names_and_emails(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    for body in [
        json!({"email": "nul@example.com", "name": "Li\u{0}Na", "role": "member"}),
        json!({"email": "n\u{0}ul@example.com", "name": "Li Na", "role": "member"}),
        json!({"email": "tab@example.com", "name": "Li\tNa", "role": "member"}),
        json!({"email": "dept@example.com", "name": "Li Na", "role": "member", "department": "HQ/R\u{0}D"}),
    ] {
        let answer = server.post("/v1/users", Some(&admin), &body).await;
        expect_error(answer, 422, "invalid_input").await;
    }
    let channel = server
        .post(
            "/v1/channels",
            Some(&admin),
            &json!({"name": "line\nbreak", "kind": "group", "category": "project"}),
        )
        .await;
    expect_error(channel, 422, "invalid_input").await;
    let import = server
        .request(reqwest::Method::POST, "/v1/admin/import", Some(&admin))
        .header("content-type", "text/csv")
        .body("name,email,department,role\nLi\u{0}Na,li@example.com,HQ,member\n")
        .send()
        .await
        .unwrap();
    let body = expect_error(import, 422, "import_rejected").await;
    assert!(body["error"]["details"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("control"));
}

/// Regression: path and query parse errors answered `text/plain`.
#[tokio::test]
async fn every_rest_error_is_json_with_a_stable_code() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "errors", false).await;
    let (server, token) = (&t.server, t.ann.1.as_str());
    let channel = t.channel;
    for path in [
        "/v1/users/abc".to_string(),
        format!("/v1/channels/{channel}/messages?limit=abc"),
        format!("/v1/channels/{channel}/messages?bogus=1"),
        format!("/v1/channels/{channel}/messages?limit=1&limit=2"),
        format!("/v1/channels/{channel}/messages?limit=0"),
        format!("/v1/channels/{channel}/messages?limit=201"),
        format!("/v1/channels/{channel}/messages/xyz/receipts"),
        "/v1/meetings?limit=many".to_string(),
    ] {
        let answer = server.get(&path, Some(token)).await;
        let status = answer.status().as_u16();
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let body = answer.text().await.unwrap();
        assert_eq!(status, 422, "{path}: {body}");
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_input", "{path}: {body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{path}"
        );
    }
    // A WebSocket upgrade without its headers is JSON too.
    let upgrade = server.get("/v1/ws", Some(token)).await;
    assert!(upgrade.status().is_client_error());
    let body: Value = upgrade.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
}

/// Regression: a known request with a wrong value was answered `unknown_type`; an integer id
/// got an error without the id; `history` with `limit: 0` returned messages.
#[tokio::test]
async fn websocket_requests_with_wrong_values_are_invalid_input_and_named() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "values", false).await;
    let mut ws = WsClient::connect(&t.server, &t.ann.1).await;
    ws.say(t.channel, "m1", "hello").await;
    let cases = [
        (
            json!({"type": "send", "id": "a", "channel": t.channel, "client_id": "x", "body": "hi", "priority": "loud"}),
            "invalid_input",
        ),
        (
            json!({"type": "set_presence", "id": "b", "state": "sleeping"}),
            "invalid_input",
        ),
        (
            json!({"type": "history", "id": "c", "channel": t.channel, "limit": 0}),
            "invalid_input",
        ),
        (
            json!({"type": "history", "id": "d", "channel": t.channel, "limit": 500}),
            "invalid_input",
        ),
        (json!({"type": "fly", "id": "e"}), "unknown_type"),
        (json!({"id": "f", "channel": t.channel}), "unknown_type"),
        (
            json!({"type": "ping", "id": "g", "extra": true}),
            "unknown_field",
        ),
    ];
    for (request, code) in cases {
        let id = request["id"].clone();
        ws.send(request.clone()).await;
        let reply = reply_to(&mut ws, &id).await;
        assert_eq!(reply["type"], "error", "{request} -> {reply}");
        assert_eq!(reply["id"], id, "{request} -> {reply}");
        assert_eq!(reply["code"], code, "{request} -> {reply}");
    }
    // An integer id is refused, and named back so the client knows which request failed.
    ws.send(json!({"type": "ping", "id": 5})).await;
    let reply = reply_to(&mut ws, &json!("5")).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["id"], "5", "{reply}");
    assert_eq!(reply["code"], "invalid_input", "{reply}");
    // The connection carries on.
    let history = ws
        .request(json!({"type": "history", "channel": t.channel, "limit": 1}))
        .await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        1,
        "{history}"
    );
}

/// The next frame naming `id`, passing over pushes (which carry none).
async fn reply_to(ws: &mut WsClient, id: &Value) -> Value {
    loop {
        let frame = ws.recv().await;
        if frame.get("id").is_some_and(|v| !v.is_null()) {
            assert_eq!(&frame["id"], id, "a reply to another request: {frame}");
            return frame;
        }
    }
}

/// Regression: a negative resume sequence replayed the channel from the start.
#[tokio::test]
async fn a_negative_resume_is_refused() {
    let t = Team::new(Server::start(Backend::Sqlite).await, "resume", false).await;
    let mut ws = WsClient::connect(&t.server, &t.ann.1).await;
    ws.say(t.channel, "m1", "one").await;
    ws.close().await;
    let refused = WsClient::connect_to(
        &t.server.url,
        &t.ann.1,
        json!([{"channel": t.channel, "seq": -5}]),
    )
    .await;
    let err = refused.err().expect("a negative resume is refused");
    assert!(err.contains("invalid_input"), "{err}");
}

/// Regression (`/v1/rtc`): a request before `join` got `hello_required` without its `id`,
/// `candidate` refused an `id`, and a known request with a wrong value was `unknown_type`.
#[tokio::test]
async fn meeting_requests_are_named_and_told_apart() {
    use parley_tests::rtc::{App, RtcClient};
    let server = Server::start(Backend::Sqlite).await;
    let app = App::register(&server).await;
    let mut rtc = RtcClient::open(&server).await;
    rtc.send(json!({"type": "ping", "id": "early"})).await;
    let early = rtc.recv().await;
    assert_eq!(
        (&early["type"], &early["id"], &early["code"]),
        (&json!("error"), &json!("early"), &json!("hello_required")),
        "{early}"
    );
    let token = app.participant("ann", "errors-room");
    rtc.send(json!({"type": "join", "id": "j", "token": token}))
        .await;
    assert_eq!(rtc.recv().await["type"], "joined");
    let candidate = rtc
        .request(json!({"type": "candidate", "target": "publisher",
            "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50123 typ host"}))
        .await;
    assert_eq!(candidate["type"], "ok", "{candidate}");
    let hologram = rtc
        .request(
            json!({"type": "offer", "sdp": "v=0", "tracks": [{"mid": "0", "source": "hologram"}]}),
        )
        .await;
    assert_eq!(hologram["type"], "error", "{hologram}");
    assert_eq!(hologram["code"], "invalid_input", "{hologram}");
    let unknown = rtc.request(json!({"type": "teleport"})).await;
    assert_eq!(unknown["code"], "unknown_type", "{unknown}");
}
