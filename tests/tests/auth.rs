//! Sign-in sessions and token validation, as a client meets them: login, refresh, logout,
//! expired and forged tokens, app tokens and their grants, and bad request bodies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_tests::{
    expect_error, expect_json, on_both_backends, parley_command, Backend, Server, ServerOptions,
    ADMIN_EMAIL, ADMIN_PASSWORD,
};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "a-test-signing-secret-that-is-long-enough";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn start(backend: Backend) -> Server {
    Server::start_with(ServerOptions::backend(backend).env("PARLEY_AUTH_JWT_SECRET", SECRET)).await
}

on_both_backends!(
    login_refresh_logout,
    user_token_validation,
    app_tokens_and_grants,
    bad_bodies,
    disabled_accounts
);

async fn login_refresh_logout(backend: Backend) {
    let server = start(backend).await;
    let wrong = server
        .post(
            "/v1/auth/login",
            None,
            &json!({"email": ADMIN_EMAIL, "password": "not-the-password"}),
        )
        .await;
    expect_error(wrong, 401, "invalid_credentials").await;
    let unknown = server
        .post(
            "/v1/auth/login",
            None,
            &json!({"email": "nobody@example.com", "password": ADMIN_PASSWORD}),
        )
        .await;
    expect_error(unknown, 401, "invalid_credentials").await;

    // Emails match without regard to case.
    let pair = server
        .login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD)
        .await;
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 900);
    let me: Value = expect_json(
        server
            .get("/v1/auth/whoami", Some(&pair.access_token))
            .await,
        200,
    )
    .await;
    assert_eq!(me["kind"], "user");
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["role"], "admin");

    // A refresh token works once.
    let refreshed: parley_proto::TokenPair = expect_json(
        server
            .post(
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": pair.refresh_token}),
            )
            .await,
        200,
    )
    .await;
    assert_ne!(refreshed.refresh_token, pair.refresh_token);
    let again = server
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": pair.refresh_token}),
        )
        .await;
    expect_error(again, 401, "token_revoked").await;
    assert_eq!(
        server
            .get("/v1/auth/whoami", Some(&refreshed.access_token))
            .await
            .status(),
        200
    );

    // Logout ends the session: its access token and its refresh token stop working at once.
    let out = server
        .request(
            reqwest::Method::POST,
            "/v1/auth/logout",
            Some(&refreshed.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    expect_error(
        server
            .get("/v1/auth/whoami", Some(&refreshed.access_token))
            .await,
        401,
        "token_revoked",
    )
    .await;
    let after = server
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": refreshed.refresh_token}),
        )
        .await;
    expect_error(after, 401, "token_revoked").await;
    // Other sessions of the same user are untouched.
    let other = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        server
            .get("/v1/auth/whoami", Some(&other.access_token))
            .await
            .status(),
        200
    );
}

async fn user_token_validation(backend: Backend) {
    let server = start(backend).await;
    let pair = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let me: Value = expect_json(
        server
            .get("/v1/auth/whoami", Some(&pair.access_token))
            .await,
        200,
    )
    .await;
    let id = me["user"]["id"].to_string();
    // The session id, from the real token, so only the property under test differs.
    let payload = pair.access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&base64_url(payload)).unwrap();
    let sid = claims["sid"].as_str().unwrap();

    let expired = sign(
        &json!({"iss": "parley", "sub": id, "sid": sid, "iat": now() - 7200, "exp": now() - 3600}),
        SECRET,
    );
    let forged = sign(
        &json!({"iss": "parley", "sub": id, "sid": sid, "iat": now(), "exp": now() + 600}),
        "some-other-secret-of-enough-length!!",
    );
    let no_exp = sign(&json!({"iss": "parley", "sub": id, "sid": sid}), SECRET);
    let unknown_session = sign(
        &json!({"iss": "parley", "sub": id, "sid": "nope", "iat": now(), "exp": now() + 600}),
        SECRET,
    );
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(
            json!({"iss": "parley", "sub": id, "sid": sid, "exp": now() + 600})
                .to_string()
                .as_bytes()
        )
    );
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &json!({"iss": "parley", "sub": id, "sid": sid, "exp": now() + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let cases: [(&str, Option<String>, u16, &str); 9] = [
        ("no token", None, 401, "unauthenticated"),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            401,
            "token_expired",
        ),
        (
            "forged",
            Some(format!("Bearer {forged}")),
            401,
            "token_invalid",
        ),
        (
            "no exp",
            Some(format!("Bearer {no_exp}")),
            401,
            "token_invalid",
        ),
        (
            "unknown session",
            Some(format!("Bearer {unknown_session}")),
            401,
            "token_revoked",
        ),
        (
            "alg none",
            Some(format!("Bearer {unsigned}")),
            401,
            "token_invalid",
        ),
        (
            "HS512",
            Some(format!("Bearer {hs512}")),
            401,
            "token_invalid",
        ),
        (
            "garbage",
            Some("Bearer abc.def".into()),
            401,
            "token_invalid",
        ),
        (
            "basic auth",
            Some("Basic YWRtaW46YWRtaW4=".into()),
            401,
            "token_invalid",
        ),
    ];
    for (what, header, status, code) in cases {
        let mut request = server.request(reqwest::Method::GET, "/v1/users", None);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let body = expect_json::<Value>(request.send().await.unwrap(), status).await;
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }
    // The real token still works, and the query-string form works too (WebSocket upgrades).
    assert_eq!(
        server
            .get("/v1/users", Some(&pair.access_token))
            .await
            .status(),
        200
    );
    let by_query = server
        .get(
            &format!("/v1/auth/whoami?access_token={}", pair.access_token),
            None,
        )
        .await;
    assert_eq!(by_query.status(), 200);
}

async fn app_tokens_and_grants(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin_token().await;
    let key: Value = expect_json(
        server
            .post("/v1/admin/api-keys", Some(&admin), &json!({"name": "crm"}))
            .await,
        201,
    )
    .await;
    let api_key = key["key"].as_str().unwrap().to_string();
    let secret = key["secret"].as_str().unwrap().to_string();
    let listed: Value =
        expect_json(server.get("/v1/admin/api-keys", Some(&admin)).await, 200).await;
    assert_eq!(listed[0]["key"], api_key.as_str());
    assert!(
        listed[0].get("secret").is_none(),
        "secrets are shown once: {listed}"
    );

    let grants = json!({"room": "standup", "room_join": true, "can_publish": true, "can_publish_sources": ["microphone", "camera"]});
    let valid = sign(
        &json!({"iss": api_key, "sub": "crm-user-7", "name": "张伟", "exp": now() + 600, "grants": grants}),
        &secret,
    );
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(&valid)).await, 200).await;
    assert_eq!(me["kind"], "app");
    assert_eq!(me["identity"], "crm-user-7");
    assert_eq!(me["name"], "张伟");
    assert_eq!(me["grants"]["room"], "standup");
    assert_eq!(me["grants"]["room_join"], true);
    assert_eq!(
        me["grants"]["room_admin"], false,
        "not granted means denied"
    );
    assert_eq!(
        me["grants"]["can_publish_sources"],
        json!(["microphone", "camera"])
    );

    // An app token carries room grants, not a user's rights.
    expect_error(
        server.get("/v1/users", Some(&valid)).await,
        403,
        "insufficient_grant",
    )
    .await;
    expect_error(
        server
            .post("/v1/admin/api-keys", Some(&valid), &json!({"name": "x"}))
            .await,
        403,
        "insufficient_grant",
    )
    .await;

    let cases = [
        (
            "expired",
            sign(
                &json!({"iss": api_key, "sub": "u", "exp": now() - 3600}),
                &secret,
            ),
            "token_expired",
        ),
        (
            "not yet valid",
            sign(
                &json!({"iss": api_key, "sub": "u", "nbf": now() + 3600, "exp": now() + 7200}),
                &secret,
            ),
            "token_expired",
        ),
        (
            "wrong secret",
            sign(
                &json!({"iss": api_key, "sub": "u", "exp": now() + 600}),
                "not-the-secret",
            ),
            "token_invalid",
        ),
        (
            "unknown key",
            sign(
                &json!({"iss": "PKNOSUCHKEY", "sub": "u", "exp": now() + 600}),
                &secret,
            ),
            "token_invalid",
        ),
        (
            "no identity",
            sign(&json!({"iss": api_key, "exp": now() + 600}), &secret),
            "token_invalid",
        ),
        (
            "unknown grant",
            sign(
                &json!({"iss": api_key, "sub": "u", "exp": now() + 600, "grants": {"god_mode": true}}),
                &secret,
            ),
            "token_invalid",
        ),
    ];
    for (what, token, code) in cases {
        let body: Value = expect_json(server.get("/v1/auth/whoami", Some(&token)).await, 401).await;
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }

    // `parley token` signs the same kind of token from the command line.
    let output = parley_command()
        .args([
            "token",
            "--api-key",
            &api_key,
            "--api-secret",
            &secret,
            "--identity",
            "bot",
            "--room",
            "r1",
            "--join",
            "--subscribe",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let minted = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(&minted)).await, 200).await;
    assert_eq!(me["identity"], "bot");
    assert_eq!(me["grants"]["room"], "r1");
    assert_eq!(me["grants"]["can_subscribe"], true);
    assert_eq!(me["grants"]["can_publish"], false);

    // Revoking the key ends every token signed with it.
    let revoked = server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/admin/api-keys/{api_key}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    expect_error(
        server.get("/v1/auth/whoami", Some(&valid)).await,
        401,
        "token_invalid",
    )
    .await;
}

async fn bad_bodies(backend: Backend) {
    let server = Server::start_with(
        ServerOptions::backend(backend).env("PARLEY_HTTP_MAX_BODY_BYTES", "1024"),
    )
    .await;
    let admin = server.admin_token().await;
    let raw = |body: &'static str, content_type: &'static str| {
        server
            .request(reqwest::Method::POST, "/v1/users", Some(&admin))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(
        raw("{\"email\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    expect_error(
        raw(
            r#"{"email":"a@b.c","name":"A","role":"member","shoe_size":42}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "unknown_field",
    )
    .await;
    expect_error(
        raw(
            r#"{"email":"a@b.c","name":"A","role":"emperor"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_input",
    )
    .await;
    expect_error(
        raw(
            r#"{"email":"a@b.c","name":"A","role":"member"}"#,
            "text/plain",
        )
        .await
        .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        raw(
            r#"{"email":"not-an-email","name":"A","role":"member"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_input",
    )
    .await;
    expect_error(
        raw(
            r#"{"email":"a@b.c","name":"A","role":"member","password":"short"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_input",
    )
    .await;
    let big = json!({"email": "big@example.com", "name": "x".repeat(2000), "role": "member"});
    expect_error(
        server.post("/v1/users", Some(&admin), &big).await,
        413,
        "payload_too_large",
    )
    .await;
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(&admin)).await, 200).await;
    let with_myself = json!({"name": "me", "kind": "direct", "category": "temporary", "members": [me["user"]["id"]]});
    expect_error(
        server
            .post("/v1/channels", Some(&admin), &with_myself)
            .await,
        422,
        "invalid_input",
    )
    .await;
    let with_nobody =
        json!({"name": "g", "kind": "group", "category": "project", "members": [987654]});
    expect_error(
        server
            .post("/v1/channels", Some(&admin), &with_nobody)
            .await,
        422,
        "invalid_input",
    )
    .await;
    let dup = json!({"email": ADMIN_EMAIL, "name": "Again", "role": "member"});
    expect_error(
        server.post("/v1/users", Some(&admin), &dup).await,
        409,
        "conflict",
    )
    .await;
    // None of it hurt the server or left anything behind.
    let users: Vec<Value> = expect_json(server.get("/v1/users", Some(&admin)).await, 200).await;
    assert_eq!(users.len(), 1, "{users:?}");
    let channels: Vec<Value> =
        expect_json(server.get("/v1/channels", Some(&admin)).await, 200).await;
    assert!(
        channels.is_empty(),
        "a channel with an unknown member is not half-made: {channels:?}"
    );
}

async fn disabled_accounts(backend: Backend) {
    let server = start(backend).await;
    let admin = server.admin_token().await;
    let (id, token) = server.user_with_role(&admin, "member", None).await;
    let user: Value = expect_json(
        server.get(&format!("/v1/users/{id}"), Some(&admin)).await,
        200,
    )
    .await;
    let disable = server
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(&admin),
        )
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json::<Value>(disable, 200).await["disabled"], true);
    // Disabling ends the user's sessions and blocks new ones.
    let body = expect_json::<Value>(server.get("/v1/auth/whoami", Some(&token)).await, 401).await;
    assert!(
        ["token_revoked", "account_disabled"].contains(&body["error"]["code"].as_str().unwrap()),
        "{body}"
    );
    let login = server
        .post(
            "/v1/auth/login",
            None,
            &json!({"email": user["email"], "password": "user-password-1"}),
        )
        .await;
    expect_error(login, 401, "account_disabled").await;

    // The only admin can neither disable nor demote itself: someone must be able to administer.
    let me: Value = expect_json(server.get("/v1/auth/whoami", Some(&admin)).await, 200).await;
    let admin_id = me["user"]["id"].as_i64().unwrap();
    for change in [json!({"disabled": true}), json!({"role": "member"})] {
        let response = server
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/users/{admin_id}"),
                Some(&admin),
            )
            .json(&change)
            .send()
            .await
            .unwrap();
        expect_error(response, 409, "conflict").await;
    }
    assert_eq!(
        server.get("/v1/auth/whoami", Some(&admin)).await.status(),
        200,
        "still an admin"
    );
    // With a second admin, the first may step down.
    let (_, second) = server.user_with_role(&admin, "admin", None).await;
    let response = server
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/users/{admin_id}"),
            Some(&second),
        )
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json::<Value>(response, 200).await["role"], "member");
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn base64_url(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}
