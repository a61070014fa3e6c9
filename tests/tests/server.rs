//! The server as an operator meets it: first start, health, metrics, the OpenAPI document,
//! configuration errors, TLS, and graceful shutdown.

use parley_tests::{
    expect_error, expect_json, on_both_backends, parley_command, Backend, Server, ServerOptions,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

on_both_backends!(health_metrics_and_openapi);

async fn health_metrics_and_openapi(backend: Backend) {
    let server = Server::start(backend).await;

    let health: Value = expect_json(server.get("/healthz", None).await, 200).await;
    assert_eq!(health["status"], "ok");
    let ready: Value = expect_json(server.get("/readyz", None).await, 200).await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert_eq!(ready["checks"]["object_store"], "ok", "{ready}");

    expect_error(server.get("/v1/nope", None).await, 404, "route_not_found").await;
    let put = server
        .request(reqwest::Method::PUT, "/healthz", None)
        .send()
        .await
        .unwrap();
    expect_error(put, 405, "method_not_allowed").await;

    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status(), 200);
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = metrics.text().await.unwrap();
    check_prometheus_text(&text);
    for expected in [
        "parley_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "parley_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "parley_http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\",le=\"+Inf\"} 1",
        "parley_http_open_connections ",
        "parley_db_pool_connections ",
        "parley_db_pool_max_connections 10",
    ] {
        assert!(text.contains(expected), "metrics lack {expected:?}:\n{text}");
    }

    let doc: Value = expect_json(server.get("/v1/openapi.json", None).await, 200).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/whoami", "get"),
        ("/v1/users", "post"),
        ("/v1/users/{id}", "patch"),
        ("/v1/departments", "get"),
        ("/v1/channels", "post"),
        ("/v1/channels/{id}", "delete"),
        ("/v1/channels/{id}/members", "post"),
        ("/v1/admin/import", "post"),
        ("/v1/admin/api-keys", "post"),
        ("/v1/admin/api-keys/{key}", "delete"),
    ] {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("OpenAPI lacks {path}"))[method];
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    // Every schema a path refers to is defined.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "schema {name} is referenced but not defined"
        );
    }
}

/// Each sample line is `name{labels} value`, and every family has HELP and TYPE before it.
fn check_prometheus_text(text: &str) {
    let mut typed = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(
            typed.contains(family),
            "sample before its TYPE line: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
    }
}

#[tokio::test]
async fn first_start_uses_the_embedded_default_and_says_how_to_make_an_admin() {
    let server = Server::start_with(ServerOptions {
        bare: true,
        ..ServerOptions::default()
    })
    .await;
    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
    let data = server.dir.path().join("parley-data");
    assert!(
        data.join("parley.db").is_file(),
        "SQLite file in ./parley-data"
    );
    assert!(
        data.join("objects").is_dir(),
        "object folder in ./parley-data"
    );
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let said = server.stdout().join("\n");
    assert!(
        said.contains("parley admin create-user --role admin"),
        "{said}"
    );
    assert!(said.contains("PARLEY_ADMIN_PASSWORD"), "{said}");
    // No default password: nobody can sign in yet.
    let login = server
        .post(
            "/v1/auth/login",
            None,
            &serde_json::json!({"email": "admin", "password": "admin"}),
        )
        .await;
    expect_error(login, 401, "invalid_credentials").await;
}

/// Run `parley serve` expecting it to refuse to start; returns its stderr.
fn refused(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> String {
    let output = parley_command()
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run parley");
    assert!(!output.status.success(), "parley should refuse to start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn configuration_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("parley.toml");
    std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:0\"\nmax_body = 5\n").unwrap();
    let err = refused(&["--config", file.to_str().unwrap()], &[], dir.path());
    assert!(err.contains("unknown field `max_body`"), "{err}");

    std::fs::write(&file, "[htp]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let err = refused(&["--config", file.to_str().unwrap()], &[], dir.path());
    assert!(err.contains("unknown field `htp`"), "{err}");

    let err = refused(&[], &[("PARLEY_HTTP_LISTN", "127.0.0.1:0")], dir.path());
    assert!(
        err.contains("PARLEY_HTTP_LISTN") && err.contains("unknown field `listn`"),
        "{err}"
    );

    let err = refused(&[], &[("PARLEY_DATABASE_URL", "mysql://x")], dir.path());
    assert!(err.contains("sqlite: or postgres:"), "{err}");

    // The sample configuration in the repository is accepted as it is.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley.sample.toml");
    let output = parley_command()
        .args([
            "--config",
            sample.to_str().unwrap(),
            "admin",
            "create-api-key",
            "--name",
            "sample",
        ])
        .env("PARLEY_SERVER_DATA_DIR", dir.path().join("data"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn dev_tls_and_configured_certificates() {
    let dev = Server::start_with(ServerOptions {
        args: vec!["--dev-tls".into()],
        ..ServerOptions::backend(Backend::Sqlite)
    })
    .await;
    assert!(dev.url.starts_with("https://"), "{}", dev.url);
    assert_eq!(dev.get("/healthz", None).await.status(), 200);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::get(dev.url.replace("https://", "http://") + "/healthz").await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    let cert = dev.dir.path().join("data/dev-tls/dev-cert.pem");
    let key = dev.dir.path().join("data/dev-tls/dev-key.pem");
    let configured = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_TLS_CERT", cert.to_str().unwrap())
            .env("PARLEY_TLS_KEY", key.to_str().unwrap()),
    )
    .await;
    // A client that trusts exactly this certificate, with full verification.
    let strict = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let port = configured.url.rsplit(':').next().unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let response = strict
            .get(format!("https://{host}:{port}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    let untrusting = reqwest::Client::new()
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        untrusting.is_err(),
        "a self-signed certificate is not trusted by default"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits() {
    let mut server = Server::start(Backend::Sqlite).await;
    let token = server.admin_token().await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let body = "name,email,department,role\nLate Comer,late@example.com,HQ,member\n";
    let (first, rest) = body.split_at(30);

    // A request whose body is only half sent: the handler is waiting for the rest.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/admin/import HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    let in_flight = parley_tests::eventually(100, Duration::from_millis(50), || async {
        let text = server.get("/metrics", None).await.text().await.unwrap();
        text.lines()
            .any(|l| l == "parley_http_requests_in_flight 2")
            .then_some(())
    })
    .await;
    assert!(
        in_flight.is_some(),
        "the import request never showed as in flight"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Stops accepting: new connections are refused once shutdown has begun.
    let refused = parley_tests::eventually(100, Duration::from_millis(50), || async {
        std::net::TcpStream::connect(&addr).is_err().then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "still accepting connections after SIGTERM"
    );

    // The request in flight still completes.
    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"users_created\":1"), "{response}");

    let exit = server.wait();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(server.log().contains("stopped"), "{}", server.log());
}
