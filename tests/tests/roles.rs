//! The whole matrix of role × action, over HTTP, against the real server: what an admin, a
//! department admin, a member and a guest may each do. One table, one `check` per row.

use parley_tests::{expect_json, on_both_backends, Backend, Server};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(role_matrix);

const ROLES: [&str; 4] = ["admin", "dept_admin", "member", "guest"];

struct World {
    tokens: [String; 4],
    member_id: i64,
    sales2_id: i64,
    stranger_id: i64,
    guest_room: i64,
    rnd_private: i64,
    doomed: i64,
}

async fn channel(server: &Server, token: &str, name: &str, members: &[i64]) -> i64 {
    let body = json!({"name": name, "kind": "group", "category": "project", "members": members});
    let created: Value =
        expect_json(server.post("/v1/channels", Some(token), &body).await, 201).await;
    created["id"].as_i64().unwrap()
}

async fn world(server: &Server) -> World {
    let admin = server.admin_token().await;
    let (_, dept_admin) = server
        .user_with_role(&admin, "dept_admin", Some("HQ/Sales"))
        .await;
    let (member_id, member) = server
        .user_with_role(&admin, "member", Some("HQ/Sales"))
        .await;
    let (guest_id, guest) = server.user_with_role(&admin, "guest", None).await;
    let (sales2_id, _) = server
        .user_with_role(&admin, "member", Some("HQ/Sales"))
        .await;
    let (_, other) = server
        .user_with_role(&admin, "member", Some("HQ/R&D"))
        .await;
    let (stranger_id, _) = server
        .user_with_role(&admin, "member", Some("HQ/R&D"))
        .await;
    // The member's customer channel, with the guest invited.
    let guest_room = channel(server, &member, "客户项目 / customer project", &[guest_id]).await;
    // An R&D channel nobody in the matrix belongs to.
    let rnd_private = channel(server, &other, "R&D private", &[]).await;
    // The member's channel everyone is in, to archive.
    let doomed_members = [guest_id];
    let doomed = channel(server, &member, "to archive", &doomed_members).await;
    World {
        tokens: [admin, dept_admin, member, guest],
        member_id,
        sales2_id,
        stranger_id,
        guest_room,
        rnd_private,
        doomed,
    }
}

/// A new account's body; the email differs per acting role so each attempt is a fresh user.
fn new_user(department: &str, role: &str, by: &str) -> Value {
    let email = format!("new-{by}-{department}-{role}@example.com").replace(['/', '&'], "-");
    json!({"email": email, "name": "New", "role": role, "department": department})
}

/// The request body an acting role sends (named by its role), if any.
type Body = Box<dyn Fn(&str) -> Option<Value>>;

/// One action tried by every role: the request, and the status each role must get.
struct Check {
    what: &'static str,
    method: Method,
    path: String,
    body: Body,
    /// For admin, dept_admin, member, guest.
    expected: [u16; 4],
}

impl Check {
    fn new(
        what: &'static str,
        method: Method,
        path: String,
        body: Body,
        expected: [u16; 4],
    ) -> Check {
        Check {
            what,
            method,
            path,
            body,
            expected,
        }
    }
}

async fn role_matrix(backend: Backend) {
    let server = Server::start(backend).await;
    let w = world(&server).await;
    let csv = "name,email,department,role\nImported,imported@example.com,HQ/Ops,member\n";
    let rows: Vec<Check> = vec![
        Check::new(
            "list the directory",
            Method::GET,
            "/v1/users".into(),
            Box::new(|_| None),
            [200, 200, 200, 403],
        ),
        Check::new(
            "list departments",
            Method::GET,
            "/v1/departments".into(),
            Box::new(|_| None),
            [200, 200, 200, 403],
        ),
        Check::new(
            "create a member in own department",
            Method::POST,
            "/v1/users".into(),
            Box::new(|r| Some(new_user("HQ/Sales/East", "member", r))),
            [201, 201, 403, 403],
        ),
        Check::new(
            "create a member elsewhere",
            Method::POST,
            "/v1/users".into(),
            Box::new(|r| Some(new_user("HQ/R&D", "member", r))),
            [201, 403, 403, 403],
        ),
        Check::new(
            "create an admin",
            Method::POST,
            "/v1/users".into(),
            Box::new(|r| Some(new_user("HQ/Sales", "admin", r))),
            [201, 403, 403, 403],
        ),
        Check::new(
            "create a department below own",
            Method::POST,
            "/v1/departments".into(),
            Box::new(|_| Some(json!({"path": "HQ/Sales/West"}))),
            [201, 201, 403, 403],
        ),
        Check::new(
            "create a department elsewhere",
            Method::POST,
            "/v1/departments".into(),
            Box::new(|_| Some(json!({"path": "HQ/Legal"}))),
            [201, 403, 403, 403],
        ),
        Check::new(
            "create a group channel",
            Method::POST,
            "/v1/channels".into(),
            Box::new(|_| Some(json!({"name": "g", "kind": "group", "category": "temporary"}))),
            [201, 201, 201, 403],
        ),
        Check::new(
            "create an announcement channel",
            Method::POST,
            "/v1/channels".into(),
            Box::new(|_| {
                Some(
                    json!({"name": "news", "kind": "announcement", "category": "department", "department": "HQ/Sales"}),
                )
            }),
            [201, 201, 403, 403],
        ),
        Check::new(
            "file a channel under one's own department",
            Method::POST,
            "/v1/channels".into(),
            Box::new(|_| {
                Some(
                    json!({"name": "sales", "kind": "group", "category": "department", "department": "HQ/Sales"}),
                )
            }),
            [201, 201, 201, 403],
        ),
        Check::new(
            "file a channel under another department",
            Method::POST,
            "/v1/channels".into(),
            Box::new(|_| {
                Some(
                    json!({"name": "r&d", "kind": "group", "category": "department", "department": "HQ/R&D"}),
                )
            }),
            [201, 403, 403, 403],
        ),
        Check::new(
            "file a channel under a department that does not exist",
            Method::POST,
            "/v1/channels".into(),
            Box::new(|_| {
                Some(
                    json!({"name": "x", "kind": "group", "category": "department", "department": "HQ/Nowhere"}),
                )
            }),
            [422, 403, 403, 403],
        ),
        Check::new(
            "list own channels",
            Method::GET,
            "/v1/channels".into(),
            Box::new(|_| None),
            [200, 200, 200, 200],
        ),
        Check::new(
            "read a channel the guest is invited to",
            Method::GET,
            format!("/v1/channels/{}", w.guest_room),
            Box::new(|_| None),
            [200, 404, 200, 200],
        ),
        Check::new(
            "read its members",
            Method::GET,
            format!("/v1/channels/{}/members", w.guest_room),
            Box::new(|_| None),
            [200, 404, 200, 200],
        ),
        Check::new(
            "read another department's channel",
            Method::GET,
            format!("/v1/channels/{}", w.rnd_private),
            Box::new(|_| None),
            [200, 404, 404, 404],
        ),
        Check::new(
            "invite to the guest's channel",
            Method::POST,
            format!("/v1/channels/{}/members", w.guest_room),
            Box::new(move |_| Some(json!({"user_ids": [w.sales2_id]}))),
            [200, 404, 200, 403],
        ),
        Check::new(
            "see a user one shares a channel with",
            Method::GET,
            format!("/v1/users/{}", w.member_id),
            Box::new(|_| None),
            [200, 200, 200, 200],
        ),
        Check::new(
            "see a user one shares nothing with",
            Method::GET,
            format!("/v1/users/{}", w.stranger_id),
            Box::new(|_| None),
            [200, 200, 200, 404],
        ),
        Check::new(
            "rename the member",
            Method::PATCH,
            format!("/v1/users/{}", w.member_id),
            Box::new(|_| Some(json!({"name": "Renamed Member"}))),
            [200, 200, 200, 403],
        ),
        Check::new(
            "change a sales member's role",
            Method::PATCH,
            format!("/v1/users/{}", w.sales2_id),
            Box::new(|_| Some(json!({"role": "member"}))),
            [200, 200, 403, 403],
        ),
        Check::new(
            "move a sales member to R&D",
            Method::PATCH,
            format!("/v1/users/{}", w.sales2_id),
            Box::new(|_| Some(json!({"department": "HQ/R&D"}))),
            [200, 403, 403, 403],
        ),
        Check::new(
            "archive the member's channel",
            Method::DELETE,
            format!("/v1/channels/{}", w.doomed),
            Box::new(|_| None),
            [204, 404, 204, 403],
        ),
        Check::new(
            "import the organisation",
            Method::POST,
            "/v1/admin/import".into(),
            Box::new(|_| None),
            [200, 403, 403, 403],
        ),
        Check::new(
            "create an API key",
            Method::POST,
            "/v1/admin/api-keys".into(),
            Box::new(|_| Some(json!({"name": "k"}))),
            [201, 403, 403, 403],
        ),
        Check::new(
            "list API keys",
            Method::GET,
            "/v1/admin/api-keys".into(),
            Box::new(|_| None),
            [200, 403, 403, 403],
        ),
    ];
    let mut failures = Vec::new();
    for Check {
        what,
        method,
        path,
        body,
        expected,
    } in &rows
    {
        // The guest first, so an admin's success cannot make a guest's attempt look allowed.
        for i in (0..4).rev() {
            let mut request = server.request(method.clone(), path, Some(&w.tokens[i]));
            if path == "/v1/admin/import" {
                request = request.header("content-type", "text/csv").body(csv);
            } else if let Some(json) = body(ROLES[i]) {
                request = request.json(&json);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            if status != expected[i] {
                failures.push(format!(
                    "{} may {what}: expected {}, got {status}: {text}",
                    ROLES[i], expected[i]
                ));
            } else if status >= 400 {
                let code = serde_json::from_str::<Value>(&text).unwrap()["error"]["code"].clone();
                assert!(code.is_string(), "error without a code: {text}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        rows.len() * 4,
        failures.join("\n")
    );
}
