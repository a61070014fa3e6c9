//! The file library with the real binary: department, channel and personal trees; who may
//! browse, upload, delete and share, by role and folder (grants inherited, overridden, closed
//! off); versions restored; edit locks; watchers told over the WebSocket and in their inbox;
//! archived folders; the access audit. On SQLite and PostgreSQL.

use parley_tests::{expect_error, expect_json, on_both_backends, Backend, Server, WsClient};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

struct Org {
    server: Server,
    admin: String,
    /// (id, token) of each person.
    fin: (i64, String),
    fin_head: (i64, String),
    tax: (i64, String),
    sales: (i64, String),
    hq_head: (i64, String),
    supplier: (i64, String),
    finance: i64,
}

async fn org(backend: Backend) -> Org {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let fin = server
        .user_with_role(&admin, "member", Some("HQ/Finance"))
        .await;
    let fin_head = server
        .user_with_role(&admin, "dept_admin", Some("HQ/Finance"))
        .await;
    let tax = server
        .user_with_role(&admin, "member", Some("HQ/Finance/Tax"))
        .await;
    let sales = server
        .user_with_role(&admin, "member", Some("HQ/Sales"))
        .await;
    let hq_head = server
        .user_with_role(&admin, "dept_admin", Some("HQ"))
        .await;
    let supplier = server.user_with_role(&admin, "guest", None).await;
    let departments: Value =
        expect_json(server.get("/v1/departments", Some(&admin)).await, 200).await;
    let finance = departments
        .as_array()
        .or_else(|| departments["departments"].as_array())
        .expect("departments")
        .iter()
        .find(|d| d["path"] == "HQ/Finance")
        .and_then(|d| d["id"].as_i64())
        .expect("HQ/Finance");
    Org {
        server,
        admin,
        fin,
        fin_head,
        tax,
        sales,
        hq_head,
        supplier,
        finance,
    }
}

fn base64_text(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn upload(server: &Server, token: &str, folder: i64, name: &str, bytes: &[u8]) -> Response {
    server
        .request(Method::POST, "/v1/files", Some(token))
        .query(&[("name", name), ("folder", &folder.to_string())])
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload")
}

async fn folder(server: &Server, token: &str, id: i64) -> Response {
    server.get(&format!("/v1/folders/{id}"), Some(token)).await
}

async fn mkdir(server: &Server, token: &str, parent: i64, name: &str) -> Response {
    server
        .post(
            &format!("/v1/folders/{parent}/folders"),
            Some(token),
            &json!({"name": name}),
        )
        .await
}

async fn grants(server: &Server, token: &str, folder: i64, body: Value) -> Response {
    server
        .send_json(
            Method::PUT,
            &format!("/v1/folders/{folder}/grants"),
            token,
            &body,
        )
        .await
}

async fn delete(server: &Server, token: &str, file: i64) -> Response {
    server
        .request(Method::DELETE, &format!("/v1/files/{file}"), Some(token))
        .send()
        .await
        .expect("delete")
}

fn status(response: &Response) -> u16 {
    response.status().as_u16()
}

async fn a_role_by_folder_matrix(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let root: Value = expect_json(
        s.get(
            &format!("/v1/departments/{}/folder", o.finance),
            Some(&o.fin.1),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(root["level"], "edit");
    let root_id = root["folder"]["id"].as_i64().expect("root id");
    let budget: Value = expect_json(mkdir(s, &o.fin.1, root_id, "2027 预算").await, 201).await;
    let budget = budget["id"].as_i64().expect("folder id");
    let plan: Value = expect_json(upload(s, &o.fin.1, budget, "预算.xlsx", b"v1").await, 201).await;
    let plan = plan["id"].as_i64().expect("file id");

    // Who sees the finance tree, and at what level; who may upload, delete Fin's file, share.
    let people = [
        ("finance member", &o.fin.1, Some("edit"), 201, 204),
        ("finance sub-department", &o.tax.1, Some("edit"), 201, 403),
        (
            "finance department admin",
            &o.fin_head.1,
            Some("manage"),
            201,
            204,
        ),
        (
            "HQ department admin",
            &o.hq_head.1,
            Some("manage"),
            201,
            204,
        ),
        ("admin", &o.admin, Some("manage"), 201, 204),
        ("sales member", &o.sales.1, None, 404, 404),
        ("guest", &o.supplier.1, None, 404, 404),
    ];
    for (who, token, level, uploads, deletes) in people {
        let seen = folder(s, token, budget).await;
        match level {
            Some(level) => {
                let seen: Value = expect_json(seen, 200).await;
                assert_eq!(seen["level"], level, "{who}");
                assert_eq!(seen["path"][1]["name"], "2027 预算", "{who}");
                assert_eq!(seen["grants"].is_object(), level == "manage", "{who}");
            }
            None => assert_eq!(status(&seen), 404, "{who}"),
        }
        let name = format!("{who}.txt");
        assert_eq!(
            status(&upload(s, token, budget, &name, b"x").await),
            uploads,
            "{who} uploads"
        );
        // Each deletes then (when allowed) restores Fin's file, so the next one finds it.
        let deleted = delete(s, token, plan).await;
        assert_eq!(status(&deleted), deletes, "{who} deletes");
        if deletes == 204 {
            let back = s
                .post(
                    &format!("/v1/files/{plan}/restore"),
                    Some(token),
                    &json!({}),
                )
                .await;
            assert_eq!(status(&back), 200, "{who} restores");
        }
        let shared = grants(s, token, budget, json!({"inherit": true, "grants": []})).await;
        let expected = if level == Some("manage") {
            200
        } else if level.is_some() {
            403
        } else {
            404
        };
        assert_eq!(status(&shared), expected, "{who} shares");
    }

    // Shared with the supplier (edit) and sales (view) on one subfolder: they get that far.
    let outward: Value = expect_json(mkdir(s, &o.fin.1, budget, "对外").await, 201).await;
    let outward = outward["id"].as_i64().expect("id");
    expect_json::<Value>(
        grants(
            s,
            &o.fin_head.1,
            outward,
            json!({"inherit": true, "grants": [
                {"subject": {"kind": "user", "user_id": o.supplier.0}, "level": "manage"},
                {"subject": {"kind": "department", "department_id": o.finance}, "level": "view"},
                {"subject": {"kind": "role", "role": "member"}, "level": "view"}
            ]}),
        )
        .await,
        200,
    )
    .await;
    let theirs: Value = expect_json(folder(s, &o.supplier.1, outward).await, 200).await;
    assert_eq!(theirs["level"], "edit", "a guest gets at most edit");
    let file: Value = expect_json(
        upload(s, &o.supplier.1, outward, "报价单.pdf", b"%PDF-1.4 quote").await,
        201,
    )
    .await;
    expect_error(
        delete(s, &o.supplier.1, file["id"].as_i64().expect("id")).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        status(&folder(s, &o.supplier.1, budget).await),
        404,
        "not above it"
    );
    let listed: Value = expect_json(s.get("/v1/folders", Some(&o.supplier.1)).await, 200).await;
    assert_eq!(listed["shared"][0]["id"], outward, "{listed}");
    assert_eq!(
        listed["roots"].as_array().map(Vec::len),
        Some(1),
        "only their own root"
    );
    let sales_view: Value = expect_json(folder(s, &o.sales.1, outward).await, 200).await;
    assert_eq!(sales_view["level"], "view");
    assert_eq!(
        status(&upload(s, &o.sales.1, outward, "x.txt", b"x").await),
        403
    );
    // The finance department got view here, nearer than its edit at the root.
    let fin_view: Value = expect_json(folder(s, &o.fin.1, outward).await, 200).await;
    assert_eq!(fin_view["level"], "view");

    // Below it, an override takes sales' access away; a closed folder admits only whom it names.
    let inner: Value = expect_json(mkdir(s, &o.fin_head.1, outward, "内部").await, 201).await;
    let inner = inner["id"].as_i64().expect("id");
    expect_json::<Value>(
        grants(
            s,
            &o.fin_head.1,
            inner,
            json!({"inherit": true, "grants": [{"subject": {"kind": "role", "role": "member"}, "level": "none"}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(status(&folder(s, &o.sales.1, inner).await), 404);
    assert_eq!(
        status(&folder(s, &o.supplier.1, inner).await),
        200,
        "the guest's grant is inherited"
    );
    let closed: Value = expect_json(mkdir(s, &o.fin_head.1, budget, "薪酬").await, 201).await;
    let closed = closed["id"].as_i64().expect("id");
    expect_json::<Value>(
        grants(
            s,
            &o.fin_head.1,
            closed,
            json!({"inherit": false, "grants": [{"subject": {"kind": "user", "user_id": o.tax.0}, "level": "view"}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(status(&folder(s, &o.fin.1, closed).await), 404);
    let tax: Value = expect_json(folder(s, &o.tax.1, closed).await, 200).await;
    assert_eq!(tax["level"], "view");
    let head: Value = expect_json(folder(s, &o.fin_head.1, closed).await, 200).await;
    assert_eq!(head["level"], "manage", "managers are never locked out");

    // Bad grants and bad names are refused.
    let bad = grants(
        s,
        &o.fin_head.1,
        closed,
        json!({"inherit": true, "grants": [{"subject": {"kind": "user", "user_id": 99999}, "level": "view"}]}),
    )
    .await;
    expect_error(bad, 422, "invalid_input").await;
    expect_error(
        mkdir(s, &o.fin.1, budget, "a/b").await,
        422,
        "invalid_file_name",
    )
    .await;
    expect_error(
        mkdir(s, &o.fin.1, root_id, "2027 预算").await,
        409,
        "conflict",
    )
    .await;
}

async fn versions_locks_watchers_archive_and_audit(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let root: Value = expect_json(
        s.get(
            &format!("/v1/departments/{}/folder", o.finance),
            Some(&o.fin_head.1),
        )
        .await,
        200,
    )
    .await;
    let root = root["folder"]["id"].as_i64().expect("root");
    let watched = s
        .request(
            Method::POST,
            &format!("/v1/folders/{root}/watch"),
            Some(&o.tax.1),
        )
        .send()
        .await
        .expect("watch");
    assert_eq!(watched.status(), StatusCode::NO_CONTENT);
    let mut tax_ws = WsClient::connect(s, &o.tax.1).await;
    let report: Value = expect_json(
        upload(s, &o.fin.1, root, "需求调研报告.docx", b"first draft").await,
        201,
    )
    .await;
    let id = report["id"].as_i64().expect("id");
    let told = tax_ws.next_of("notification").await["notification"].clone();
    assert_eq!(told["kind"], "file_version");
    assert_eq!(told["file"]["name"], "需求调研报告.docx");
    assert_eq!(told["file"]["version"], 1);
    assert_eq!(told["by"], o.fin.0);
    let v2: Value = expect_json(
        s.request(Method::POST, "/v1/files", Some(&o.fin.1))
            .query(&[
                ("name", "需求调研报告.docx"),
                ("folder", &root.to_string()),
                ("comment", "V2：加了访谈"),
            ])
            .body(b"second draft".to_vec())
            .send()
            .await
            .expect("v2"),
        201,
    )
    .await;
    assert_eq!(
        (v2["id"].as_i64(), v2["version"].as_i64()),
        (Some(id), Some(2))
    );
    let told = tax_ws.next_of("notification").await["notification"].clone();
    assert_eq!(
        (
            told["file"]["version"].as_i64(),
            told["file"]["comment"].as_str()
        ),
        (Some(2), Some("V2：加了访谈"))
    );
    let inbox: Value = expect_json(s.get("/v1/notifications", Some(&o.tax.1)).await, 200).await;
    assert_eq!(inbox["notifications"][0]["file"]["version"], 2);
    let fin_inbox: Value = expect_json(s.get("/v1/notifications", Some(&o.fin.1)).await, 200).await;
    assert_eq!(
        fin_inbox["unread"], 0,
        "the uploader is not told of their own version"
    );

    // Restoring version 1 makes version 3 with its bytes.
    let v3: Value = expect_json(
        s.post(
            &format!("/v1/files/{id}/versions/1/restore"),
            Some(&o.tax.1),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v3["version"], 3);
    let bytes = s
        .get(&format!("/v1/files/{id}/content"), Some(&o.fin.1))
        .await
        .bytes()
        .await
        .expect("v3");
    assert_eq!(bytes.as_ref(), b"first draft");
    expect_error(
        s.post(
            &format!("/v1/files/{id}/versions/9/restore"),
            Some(&o.tax.1),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // The edit lock: Tax holds it; Fin's new version waits; the lock lifts.
    let locked: Value = expect_json(
        s.post(
            &format!("/v1/files/{id}/lock"),
            Some(&o.tax.1),
            &json!({"minutes": 10}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(locked["locked_by"], o.tax.0);
    expect_error(
        upload(s, &o.fin.1, root, "需求调研报告.docx", b"v4").await,
        423,
        "conflict",
    )
    .await;
    expect_error(
        s.post(&format!("/v1/files/{id}/lock"), Some(&o.fin.1), &json!({}))
            .await,
        423,
        "conflict",
    )
    .await;
    let lifted: Value = expect_json(
        s.request(
            Method::DELETE,
            &format!("/v1/files/{id}/lock"),
            Some(&o.tax.1),
        )
        .send()
        .await
        .expect("unlock"),
        200,
    )
    .await;
    assert!(lifted.get("locked_by").is_none());
    expect_json::<Value>(
        upload(s, &o.fin.1, root, "需求调研报告.docx", b"v4").await,
        201,
    )
    .await;
    let versions: Value = expect_json(
        s.get(&format!("/v1/files/{id}/versions"), Some(&o.fin.1))
            .await,
        200,
    )
    .await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(4));

    // Renamed; a taken name and a bad one are refused.
    let renamed: Value = expect_json(
        s.send_json(
            Method::PATCH,
            &format!("/v1/files/{id}"),
            &o.fin.1,
            &json!({"name": "需求调研报告 V4.docx"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "需求调研报告 V4.docx");
    expect_json::<Value>(upload(s, &o.tax.1, root, "其他.docx", b"other").await, 201).await;
    let taken = s
        .send_json(
            Method::PATCH,
            &format!("/v1/files/{id}"),
            &o.fin.1,
            &json!({"name": "其他.docx"}),
        )
        .await;
    expect_error(taken, 409, "conflict").await;
    let bad = s
        .send_json(
            Method::PATCH,
            &format!("/v1/files/{id}"),
            &o.fin.1,
            &json!({"name": "a/b"}),
        )
        .await;
    expect_error(bad, 422, "invalid_file_name").await;

    // The folder's trash: the manager sees everyone's deletions, a member only their own.
    let others: Value = expect_json(upload(s, &o.tax.1, root, "tax.txt", b"t").await, 201).await;
    assert_eq!(
        status(&delete(s, &o.tax.1, others["id"].as_i64().expect("id")).await),
        204
    );
    assert_eq!(status(&delete(s, &o.fin.1, id).await), 204);
    // Another editor cannot reach someone else's file in the trash.
    expect_error(
        s.get(&format!("/v1/files/{}", others["id"]), Some(&o.fin.1))
            .await,
        404,
        "not_found",
    )
    .await;
    let managed: Value = expect_json(
        s.get(&format!("/v1/folders/{root}/trash"), Some(&o.fin_head.1))
            .await,
        200,
    )
    .await;
    assert_eq!(
        managed["files"].as_array().map(Vec::len),
        Some(2),
        "{managed}"
    );
    let own: Value = expect_json(
        s.get(&format!("/v1/folders/{root}/trash"), Some(&o.fin.1))
            .await,
        200,
    )
    .await;
    assert_eq!(own["files"].as_array().map(Vec::len), Some(1), "{own}");
    assert_eq!(own["files"][0]["id"], id);
    expect_json::<Value>(
        s.post(
            &format!("/v1/files/{id}/restore"),
            Some(&o.fin_head.1),
            &json!({}),
        )
        .await,
        200,
    )
    .await;

    // Archived: browsable, read-only; members cannot archive; unarchived, writable again.
    let project: Value = expect_json(mkdir(s, &o.fin.1, root, "项目A").await, 201).await;
    let project = project["id"].as_i64().expect("id");
    expect_json::<Value>(upload(s, &o.fin.1, project, "总结.txt", b"done").await, 201).await;
    let archive = |token: String, archived: bool| async move {
        s.send_json(
            Method::PATCH,
            &format!("/v1/folders/{project}"),
            &token,
            &json!({"archived": archived}),
        )
        .await
    };
    expect_error(archive(o.fin.1.clone(), true).await, 403, "forbidden").await;
    // An upload under way when the folder is archived does not land.
    let created = s
        .request(Method::POST, "/v1/uploads", Some(&o.fin.1))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "5")
        .header(
            "Upload-Metadata",
            format!(
                "filename dW5kZXJ3YXkudHh0,folder {}",
                base64_text(&project.to_string())
            ),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let underway = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let tus_patch = |offset: usize, bytes: &'static [u8]| {
        let (url, token) = (underway.clone(), o.fin.1.clone());
        async move {
            s.request(Method::PATCH, &url, Some(&token))
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", offset.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(bytes)
                .send()
                .await
                .expect("patch")
        }
    };
    assert_eq!(status(&tus_patch(0, b"ab").await), 204);
    let done: Value = expect_json(archive(o.fin_head.1.clone(), true).await, 200).await;
    assert!(done["archived_at"].is_i64());
    let seen: Value = expect_json(folder(s, &o.fin.1, project).await, 200).await;
    assert_eq!(
        (
            seen["read_only"].as_bool(),
            seen["files"].as_array().map(Vec::len)
        ),
        (Some(true), Some(1))
    );
    expect_error(
        upload(s, &o.fin.1, project, "晚了.txt", b"late").await,
        409,
        "conflict",
    )
    .await;
    expect_error(mkdir(s, &o.fin.1, project, "子").await, 409, "conflict").await;
    let file = seen["files"][0]["id"].as_i64().expect("id");
    expect_error(delete(s, &o.fin.1, file).await, 409, "conflict").await;
    assert_eq!(
        s.get(&format!("/v1/files/{file}/content"), Some(&o.fin.1))
            .await
            .status(),
        200
    );
    expect_error(tus_patch(2, b"cde").await, 409, "conflict").await;
    expect_json::<Value>(archive(o.fin_head.1.clone(), false).await, 200).await;
    // Unarchived, the same upload finishes with what it already sent.
    let finished = tus_patch(5, b"").await;
    assert_eq!(status(&finished), 204);
    assert!(finished.headers().contains_key("parley-file-id"));
    expect_json::<Value>(upload(s, &o.fin.1, project, "晚了.txt", b"late").await, 201).await;

    // The audit: admins only, with uploads, versions, downloads, sharing and locks.
    expect_error(
        s.get("/v1/admin/file-audit", Some(&o.fin_head.1)).await,
        403,
        "forbidden",
    )
    .await;
    let audit: Value = expect_json(
        s.get("/v1/admin/file-audit?limit=500", Some(&o.admin))
            .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["file"] == id)
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    for wanted in ["upload", "version", "download", "lock", "unlock"] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    assert!(audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["action"] == "folder_update"));
}

async fn a_channel_folder_tells_its_members(backend: Backend) {
    let o = org(backend).await;
    let s = &o.server;
    let channel: Value = expect_json(
        s.post(
            "/v1/channels",
            Some(&o.fin.1),
            &json!({"name": "供应商对接", "kind": "group", "category": "project", "members": [o.sales.0, o.supplier.0]}),
        )
        .await,
        201,
    )
    .await;
    let channel = channel["id"].as_i64().expect("channel");
    let library: Value = expect_json(
        s.get(
            &format!("/v1/channels/{channel}/folder"),
            Some(&o.supplier.1),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(library["level"], "edit");
    let root = library["folder"]["id"].as_i64().expect("root");
    expect_error(
        s.get(&format!("/v1/channels/{channel}/folder"), Some(&o.tax.1))
            .await,
        403,
        "not_member",
    )
    .await;
    let mut sales_ws = WsClient::connect(s, &o.sales.1).await;
    let mut fin_ws = WsClient::connect(s, &o.fin.1).await;
    let sent: Value = expect_json(
        upload(s, &o.supplier.1, root, "交付计划.pdf", b"%PDF-1.4 plan").await,
        201,
    )
    .await;
    for ws in [&mut sales_ws, &mut fin_ws] {
        let told = ws.next_of("notification").await["notification"].clone();
        assert_eq!(told["file"]["id"], sent["id"]);
        assert_eq!(told["by"], o.supplier.0);
    }
    let mine: Value = expect_json(s.get("/v1/folders", Some(&o.supplier.1)).await, 200).await;
    assert!(
        mine["roots"]
            .as_array()
            .expect("roots")
            .iter()
            .any(|r| r["id"] == root),
        "the channel's tree is among the guest's roots: {mine}"
    );
    expect_error(
        delete(s, &o.supplier.1, sent["id"].as_i64().expect("id")).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        status(&delete(s, &o.fin.1, sent["id"].as_i64().expect("id")).await),
        204,
        "the channel's creator manages"
    );
}

on_both_backends!(
    a_role_by_folder_matrix,
    versions_locks_watchers_archive_and_audit,
    a_channel_folder_tells_its_members,
);
