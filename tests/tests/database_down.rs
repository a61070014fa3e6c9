//! The database going away under a running server: requests get 503 `unavailable`, readiness
//! fails, liveness does not, nothing is half-written, and service resumes when it returns.

use parley_tests::{
    eventually, expect_error, expect_json, Relay, Server, ServerOptions, TestDatabase,
};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn postgres_outage_gives_503_and_writes_nothing() {
    let db = TestDatabase::create().await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    let server = Server::start_with(ServerOptions {
        database_url: Some(db.url_via(&relay.addr.to_string())),
        ..ServerOptions::default().env("PARLEY_DATABASE_ACQUIRE_TIMEOUT_MS", "1000")
    })
    .await;
    let admin = server.admin_token().await;
    assert_eq!(server.get("/readyz", None).await.status(), 200);

    relay.cut();

    let ready: Value = expect_json(server.get("/readyz", None).await, 503).await;
    assert!(
        ready["checks"]["database"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{ready}"
    );
    assert_eq!(ready["checks"]["object_store"], "ok", "{ready}");
    assert_eq!(
        server.get("/healthz", None).await.status(),
        200,
        "the process is still alive"
    );
    let import = server
        .request(reqwest::Method::POST, "/v1/admin/import", Some(&admin))
        .body("name,email,department,role\nA,a@example.com,HQ,member\nB,b@example.com,HQ,member\n")
        .send()
        .await
        .unwrap();
    let body = expect_error(import, 503, "unavailable").await;
    assert!(
        !body.to_string().contains("5432"),
        "internals stay in the log: {body}"
    );
    let login = server
        .post(
            "/v1/auth/login",
            None,
            &json!({"email": parley_tests::ADMIN_EMAIL, "password": parley_tests::ADMIN_PASSWORD}),
        )
        .await;
    expect_error(login, 503, "unavailable").await;

    relay.restore().await;

    let back = eventually(50, Duration::from_millis(200), || async {
        (server.get("/readyz", None).await.status() == 200).then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "readiness did not come back after the database did"
    );
    let users: Vec<Value> = expect_json(server.get("/v1/users", Some(&admin)).await, 200).await;
    assert_eq!(users.len(), 1, "the failed import wrote nothing: {users:?}");
    let created = server
        .post(
            "/v1/users",
            Some(&admin),
            &json!({"email": "after@example.com", "name": "After", "role": "member"}),
        )
        .await;
    assert_eq!(created.status(), 201);
}
