use crate::TestDatabase;
use parley_proto::TokenPair;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The `parley` binary under test.
pub fn parley_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TEST_PARLEY_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/parley");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// A `parley` command with no `PARLEY_*` variables from the test's own environment.
pub fn parley_command() -> Command {
    let mut cmd = Command::new(parley_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("PARLEY_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info,sqlx=warn");
    cmd
}

#[derive(Default)]
pub struct ServerOptions {
    pub backend: Option<Backend>,
    /// Extra `PARLEY_*` settings.
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Use this database URL instead of making one (the relay test).
    pub database_url: Option<String>,
    /// No settings at all, as a user's first `parley serve` (the listen address aside).
    pub bare: bool,
}

impl ServerOptions {
    pub fn backend(backend: Backend) -> ServerOptions {
        ServerOptions {
            backend: Some(backend),
            ..ServerOptions::default()
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> ServerOptions {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Keep objects (recordings) in `s3`'s bucket instead of the local folder.
    pub fn s3(mut self, s3: &crate::S3Server) -> ServerOptions {
        self.env.extend(s3.env());
        self
    }
}

/// A running `parley serve`, killed when dropped. Its log is printed if the test fails.
pub struct Server {
    pub url: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub database: Option<TestDatabase>,
    pub database_url: String,
    child: Child,
    log: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    options: ServerOptions,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Server::start_with(ServerOptions::backend(backend)).await
    }

    pub async fn start_with(options: ServerOptions) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, database_url) = match (
            options.database_url.clone(),
            options.backend.unwrap_or(Backend::Sqlite),
        ) {
            _ if options.bare => (None, String::new()),
            (Some(url), _) => (None, url),
            (None, Backend::Sqlite) => (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("parley.db").display()
                ),
            ),
            (None, Backend::Postgres) => {
                let db = TestDatabase::create().await;
                let url = db.url();
                (Some(db), url)
            }
        };
        let log = dir.path().join("server.log");
        let (child, url, stdout) = spawn(&options, dir.path(), &database_url, &log).await;
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("http client");
        Server {
            url,
            client,
            dir,
            database,
            database_url,
            child,
            log,
            stdout,
            options,
        }
    }

    /// Kill the process with SIGKILL: no shutdown at all, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Set (or replace) a `PARLEY_*` setting for the next `kill_and_restart`; `None` removes it.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.options.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.options.env.push((key.to_string(), value.to_string()));
        }
    }

    /// Kill the process with SIGKILL (no shutdown at all), then start it again on the same
    /// database and data folder. The URL changes (a new ephemeral port).
    pub async fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.dir.path().join("server-restarted.log");
        let (child, url, stdout) =
            spawn(&self.options, self.dir.path(), &self.database_url, &log).await;
        self.child = child;
        self.url = url;
        self.stdout = stdout;
        self.log = log;
    }
}

async fn spawn(
    options: &ServerOptions,
    dir: &std::path::Path,
    database_url: &str,
    log: &std::path::Path,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut cmd = parley_command();
    cmd.arg("serve")
        .args(&options.args)
        .current_dir(dir)
        .env("PARLEY_HTTP_LISTEN", "127.0.0.1:0")
        // Every server gets its own media port, so tests run side by side.
        .env("PARLEY_RTC_UDP_BIND", "127.0.0.1:0")
        // A debug build on a machine running browsers and other servers beside it lags for
        // reasons that are not its rooms': tests that check shedding ask for it.
        .env("PARLEY_RTC_OVERLOAD_LAG_MS", "0");
    if !options.bare {
        cmd.env("PARLEY_SERVER_DATA_DIR", dir.join("data"))
            .env("PARLEY_DATABASE_URL", database_url)
            .env("PARLEY_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PARLEY_ADMIN_PASSWORD", ADMIN_PASSWORD);
    }
    cmd.envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"));
    let mut child = cmd.spawn().expect("start parley");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let url = wait_for_listening(&mut child, log, stdout.clone()).await;
    (child, url, stdout)
}

impl Server {
    /// What the server printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lines").clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit by itself and return its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for parley")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// CPU seconds (user + system) each of the server's threads named `prefix…` has used so
    /// far, by thread name, from `/proc` (the load tester's reading).
    pub fn thread_cpu(&self, prefix: &str) -> std::collections::BTreeMap<String, f64> {
        parley_loadtest::cost::thread_cpu(self.pid(), prefix)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.url));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Any method with a JSON body (PATCH, DELETE with a body, ...).
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Response {
        self.request(method, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET /v1/search?q=` for the holder of `token`, 50 results a page (status 200 expected).
    pub async fn search(&self, token: &str, q: &str) -> Value {
        let response = self
            .request(Method::GET, "/v1/search", Some(token))
            .query(&[("q", q), ("limit", "50")])
            .send()
            .await
            .expect("search");
        expect_json(response, 200).await
    }

    /// The results of a search as (type, id), sorted.
    pub async fn search_hits(&self, token: &str, q: &str) -> (Vec<(String, i64)>, Value) {
        let page = self.search(token, q).await;
        let mut hits: Vec<(String, i64)> = page["results"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .map(|r| {
                        (
                            r["type"].as_str().unwrap_or_default().to_string(),
                            r["id"].as_i64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        hits.sort();
        (hits, page)
    }

    pub async fn login(&self, email: &str, password: &str) -> TokenPair {
        let response = self
            .post(
                "/v1/auth/login",
                None,
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        expect_json(response, 200).await
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token
    }

    /// A user's email, as the admin sees it (to sign in as them through a form).
    pub async fn user_email(&self, admin: &str, id: i64) -> String {
        let user: Value =
            expect_json(self.get(&format!("/v1/users/{id}"), Some(admin)).await, 200).await;
        user["email"].as_str().expect("email").to_string()
    }

    /// Create a user through the API as the admin; returns (id, access token).
    pub async fn user_with_role(
        &self,
        admin: &str,
        role: &str,
        department: Option<&str>,
    ) -> (i64, String) {
        let email = format!("{}@example.com", crate::unique(role));
        let password = "user-password-1";
        let mut body = serde_json::json!({"email": email, "name": format!("{role} user"), "role": role, "password": password});
        if let Some(d) = department {
            body["department"] = d.into();
        }
        let user: Value = expect_json(self.post("/v1/users", Some(admin), &body).await, 201).await;
        let token = self.login(&email, password).await.access_token;
        (user["id"].as_i64().expect("user id"), token)
    }
}

/// Assert the status and decode the body, showing the body when the status is wrong.
pub async fn expect_json<T: DeserializeOwned>(response: Response, status: u16) -> T {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {text}"))
}

/// Assert an error response: status and stable code.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let body: Value = expect_json(response, status).await;
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Wait, without blocking the test's runtime, for the line that gives the bound URL.
async fn wait_for_listening(
    child: &mut Child,
    log: &std::path::Path,
    lines: Arc<Mutex<Vec<String>>>,
) -> String {
    let stdout = child.stdout.take().expect("parley stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("parley listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim().to_string());
                }
            }
            lines.lock().expect("stdout lines").push(line);
        }
    });
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(url)) => url,
        _ => {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!(
                "parley did not start (exit: {status:?}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- parley log ----\n{}", self.log());
        }
    }
}
