//! The organisation the knowledge-base tests share: a plant's departments, its people, a
//! supplier's guest and production's knowledge space, with short ways to ask about articles.
#![allow(dead_code)]

use parley_tests::{expect_error, expect_json, Backend, Server, WsClient};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::future::Future;

pub const PRODUCTION: &str = "总厂/生产部";
pub const NIGHT_SHIFT: &str = "总厂/生产部/夜班";
pub const QUALITY: &str = "总厂/质量部";
pub const SALES: &str = "总厂/销售部";
pub const SPACE_NAME: &str = "生产部知识库";

/// A small plant: production with its night shift below it, quality and sales, a supplier's
/// guest, and production's knowledge space, which names its keeper (from quality) its admin.
pub struct Org {
    pub server: Server,
    pub admin: String,
    /// (id, token) of each person.
    pub author: (i64, String),
    pub colleague: (i64, String),
    pub night: (i64, String),
    /// Production's department admin.
    pub head: (i64, String),
    pub keeper: (i64, String),
    /// A member of sales.
    pub outsider: (i64, String),
    pub guest: (i64, String),
    pub production: i64,
    pub sales: i64,
    pub space: i64,
}

pub async fn org(backend: Backend) -> Org {
    let server = Server::start(backend).await;
    let s = &server;
    let admin = s.admin_token().await;
    let author = s.user_with_role(&admin, "member", Some(PRODUCTION)).await;
    let colleague = s.user_with_role(&admin, "member", Some(PRODUCTION)).await;
    let night = s.user_with_role(&admin, "member", Some(NIGHT_SHIFT)).await;
    let head = s
        .user_with_role(&admin, "dept_admin", Some(PRODUCTION))
        .await;
    let keeper = s.user_with_role(&admin, "member", Some(QUALITY)).await;
    let outsider = s.user_with_role(&admin, "member", Some(SALES)).await;
    let guest = s.user_with_role(&admin, "guest", None).await;
    let production = department(s, &admin, PRODUCTION).await;
    let sales = department(s, &admin, SALES).await;
    let body = json!({"name": SPACE_NAME, "description": "设备、工艺与安全 / equipment, process, safety", "department_id": production});
    let space = ok(s.post("/v1/spaces", Some(&admin), &body), 201).await;
    has(
        &space,
        json!({"name": SPACE_NAME, "department_id": production, "stale_days": 180}),
    );
    let space = space["id"].as_i64().expect("space id");
    let keeper_named = json!([named(user(keeper.0), "admin")]);
    succeeds(name_in_space(s, &admin, space, keeper_named)).await;
    Org {
        server,
        admin,
        author,
        colleague,
        night,
        head,
        keeper,
        outsider,
        guest,
        production,
        sales,
        space,
    }
}

pub async fn department(s: &Server, admin: &str, path: &str) -> i64 {
    let departments = ok(s.get("/v1/departments", Some(admin)), 200).await;
    departments
        .as_array()
        .or_else(|| departments["departments"].as_array())
        .expect("departments")
        .iter()
        .find(|d| d["path"] == path)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("no department {path}: {departments}"))
}

/// The JSON answer of a request, whose status must be `status`.
pub async fn ok(request: impl Future<Output = Response>, status: u16) -> Value {
    expect_json(request.await, status).await
}

/// A request refused with `status` and the error `code`.
pub async fn refuses(request: impl Future<Output = Response>, status: u16, code: &str) -> Value {
    expect_error(request.await, status, code).await
}

/// A request answered with any 2xx.
pub async fn succeeds(request: impl Future<Output = Response>) {
    let response = request.await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {text}");
}

/// `value` has each field of `expected`, with its value.
#[track_caller]
pub fn has(value: &Value, expected: Value) {
    for (field, want) in expected.as_object().expect("expected fields") {
        assert_eq!(&value[field], want, "{field} of {value}");
    }
}

pub fn user(id: i64) -> Value {
    json!({"kind": "user", "user_id": id})
}

pub fn channel(id: i64) -> Value {
    json!({"kind": "channel", "channel_id": id})
}

pub fn named(subject: Value, role: &str) -> Value {
    json!({"subject": subject, "role": role})
}

/// `PUT /v1/spaces/{space}/members`: whom the space names, replaced.
pub async fn name_in_space(s: &Server, token: &str, space: i64, members: Value) -> Response {
    let path = format!("/v1/spaces/{space}/members");
    let body = json!({"members": members});
    s.send_json(Method::PUT, &path, token, &body).await
}

/// The space as `GET /v1/spaces` lists it for the holder of `token`, if it does.
pub async fn listed_space(s: &Server, token: &str, space: i64) -> Option<Value> {
    let spaces = ok(s.get("/v1/spaces", Some(token)), 200).await;
    let spaces = spaces["spaces"].as_array().expect("spaces");
    spaces.iter().find(|entry| entry["id"] == space).cloned()
}

pub fn space_path(space: i64) -> String {
    format!("/v1/spaces/{space}")
}

pub fn articles_path(space: i64) -> String {
    format!("/v1/spaces/{space}/articles")
}

pub fn article_path(id: i64) -> String {
    format!("/v1/articles/{id}")
}

pub async fn new_article(s: &Server, token: &str, space: i64, body: Value) -> Value {
    ok(s.post(&articles_path(space), Some(token), &body), 201).await
}

/// `GET /v1/spaces/{space}/articles{query}`: the articles.
pub async fn list(s: &Server, token: &str, space: i64, query: &str) -> Vec<Value> {
    let path = format!("{}{query}", articles_path(space));
    let page = ok(s.get(&path, Some(token)), 200).await;
    page["articles"].as_array().expect("articles").clone()
}

pub fn ids(articles: &[Value]) -> Vec<i64> {
    articles.iter().filter_map(|a| a["id"].as_i64()).collect()
}

/// `GET /v1/articles/{id}{query}`.
pub async fn read(s: &Server, token: &str, id: i64, query: &str) -> Value {
    let path = format!("{}{query}", article_path(id));
    ok(s.get(&path, Some(token)), 200).await
}

/// A review step (`submit`, `publish`, `return`) on an article.
pub async fn review(s: &Server, token: &str, id: i64, step: &str, body: Value) -> Response {
    let path = format!("{}/{step}", article_path(id));
    s.post(&path, Some(token), &body).await
}

pub async fn edit(s: &Server, token: &str, id: i64, body: Value) -> Response {
    let path = article_path(id);
    s.send_json(Method::PATCH, &path, token, &body).await
}

pub async fn delete(s: &Server, token: &str, id: i64) -> Response {
    let request = s.request(Method::DELETE, &article_path(id), Some(token));
    request.send().await.expect("delete")
}

/// The author's article, submitted and published by the keeper; its id.
pub async fn published(o: &Org, body: Value) -> i64 {
    let created = new_article(&o.server, &o.author.1, o.space, body).await;
    let id = created["id"].as_i64().expect("article id");
    republish(o, id).await;
    id
}

/// The author submits the article's latest version and the keeper publishes it.
pub async fn republish(o: &Org, id: i64) {
    let s = &o.server;
    let submitted = ok(review(s, &o.author.1, id, "submit", json!({})), 200).await;
    has(&submitted, json!({"status": "submitted"}));
    let done = ok(review(s, &o.keeper.1, id, "publish", json!({})), 200).await;
    has(
        &done,
        json!({"status": "published", "published_version": done["version"]}),
    );
}

/// How many have read the article, as the space's list says.
pub async fn reads(s: &Server, token: &str, space: i64, id: i64) -> i64 {
    let listed = list(s, token, space, "").await;
    let entry = listed.iter().find(|a| a["id"] == id).expect("listed");
    entry["reads"].as_i64().unwrap_or_else(|| panic!("{entry}"))
}

pub async fn notification(ws: &mut WsClient) -> Value {
    ws.next_of("notification").await["notification"].clone()
}

/// The article notices in the inbox, newest first.
pub async fn article_notices(s: &Server, token: &str) -> Vec<Value> {
    let inbox = ok(s.get("/v1/notifications", Some(token)), 200).await;
    let all = inbox["notifications"].as_array().expect("notifications");
    all.iter()
        .filter(|n| {
            n["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("article_"))
        })
        .cloned()
        .collect()
}

pub fn kinds(notices: &[Value]) -> Vec<&str> {
    notices.iter().filter_map(|n| n["kind"].as_str()).collect()
}

pub fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}
