//! Organisation import from CSV, over REST and from the command line: a good file creates the
//! tree and the users; the same file again changes nothing; a file with bad lines is rejected
//! whole, naming every bad line, with nothing imported.

use parley_tests::{expect_error, expect_json, on_both_backends, parley_command, Backend, Server};
use serde_json::Value;

on_both_backends!(import_over_rest, import_from_the_command_line);

const GOOD: &str = "\u{feff}name,email,department,role\n\
    李娜,li.na@example.cn,总部/研发部/平台组,member\n\
    Wang Wei,wang.wei@example.cn,总部/研发部,dept_admin\n\
    Acme Buyer,buyer@acme.example,,guest\n\
    Zhang San,zhang.san@example.cn,HQ/R&D/Platform,member\n";

const BAD: &str = "name,email,department,role\n\
    Good Person,good@example.com,HQ,member\n\
    ,noname@example.com,HQ,member\n\
    Bad Email,not-an-email,HQ,member\n\
    Bad Role,role@example.com,HQ,overlord\n\
    Bad Dept,dept@example.com,HQ//Ops,member\n\
    Twice,GOOD@example.com,HQ,member\n";

async fn import(server: &Server, token: &str, file: &'static str) -> reqwest::Response {
    server
        .request(reqwest::Method::POST, "/v1/admin/import", Some(token))
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap()
}

async fn user_count(server: &Server, token: &str) -> usize {
    expect_json::<Vec<Value>>(server.get("/v1/users", Some(token)).await, 200)
        .await
        .len()
}

async fn import_over_rest(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;

    let report: Value = expect_json(import(&server, &admin, GOOD).await, 200).await;
    assert_eq!(report["users_created"], 4, "{report}");
    assert_eq!(report["departments_created"], 6, "{report}");
    let departments: Vec<Value> =
        expect_json(server.get("/v1/departments", Some(&admin)).await, 200).await;
    let paths: Vec<&str> = departments
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"总部/研发部/平台组") && paths.contains(&"HQ/R&D/Platform"),
        "{paths:?}"
    );
    let users: Vec<Value> = expect_json(server.get("/v1/users", Some(&admin)).await, 200).await;
    let li = users
        .iter()
        .find(|u| u["email"] == "li.na@example.cn")
        .expect("李娜 imported");
    assert_eq!(li["name"], "李娜");
    assert_eq!(li["department_path"], "总部/研发部/平台组");
    let buyer = users
        .iter()
        .find(|u| u["email"] == "buyer@acme.example")
        .unwrap();
    assert_eq!(buyer["role"], "guest");
    assert!(buyer["department_id"].is_null());

    // Again: nothing changes.
    let again: Value = expect_json(import(&server, &admin, GOOD).await, 200).await;
    assert_eq!(
        again,
        serde_json::json!({"departments_created": 0, "users_created": 0, "users_updated": 0, "users_unchanged": 4})
    );
    assert_eq!(user_count(&server, &admin).await, 5);

    // A bad file: every bad line with its reason; nothing imported, not even the good line.
    let body = expect_error(import(&server, &admin, BAD).await, 422, "import_rejected").await;
    let details = body["error"]["details"].as_array().expect("details");
    let lines: Vec<u64> = details
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7], "{body}");
    let reasons: Vec<&str> = details
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("name"), "{reasons:?}");
    assert!(reasons[1].contains("not-an-email"), "{reasons:?}");
    assert!(reasons[2].contains("overlord"), "{reasons:?}");
    assert!(reasons[3].contains("empty part"), "{reasons:?}");
    assert!(reasons[4].contains("line 2"), "{reasons:?}");
    assert_eq!(
        user_count(&server, &admin).await,
        5,
        "nothing from the rejected file"
    );

    // Not UTF-8 (a GBK export): rejected with advice, nothing imported.
    let gbk = server
        .request(reqwest::Method::POST, "/v1/admin/import", Some(&admin))
        .body(vec![b'n', b'a', b'm', b'e', b'\n', 0xc0, 0xee, 0xc4, 0xc8])
        .send()
        .await
        .unwrap();
    let body = expect_error(gbk, 422, "import_rejected").await;
    assert!(
        body["error"]["details"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{body}"
    );
}

async fn import_from_the_command_line(backend: Backend) {
    let server = Server::start(backend).await;
    let admin = server.admin_token().await;
    let good = server.dir.path().join("org.csv");
    let bad = server.dir.path().join("bad.csv");
    std::fs::write(&good, GOOD).unwrap();
    std::fs::write(&bad, BAD).unwrap();
    let run = |file: &std::path::Path| {
        parley_command()
            .args(["admin", "import-org", file.to_str().unwrap()])
            .env("PARLEY_DATABASE_URL", &server.database_url)
            .env("PARLEY_SERVER_DATA_DIR", server.dir.path().join("data"))
            .output()
            .unwrap()
    };

    let output = run(&good);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("users created: 4"), "{said}");
    let output = run(&good);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("users created: 0") && said.contains("users unchanged: 4"),
        "{said}"
    );

    let output = run(&bad);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    for line in 3..=7 {
        assert!(
            err.contains(&format!("line {line}:")),
            "line {line} missing from: {err}"
        );
    }
    assert!(err.contains("was not imported"), "{err}");
    // The running server sees the command line's import, and nothing of the bad file.
    assert_eq!(user_count(&server, &admin).await, 5);
}
