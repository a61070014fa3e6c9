//! Backups, restores and the move from the embedded default to PostgreSQL and S3, with the real
//! binary: `parley admin backup` while a client keeps sending, `restore` into an empty
//! deployment that a new `parley serve` then runs on, `verify-backup` against tampering, a
//! backup killed with SIGKILL, and `migrate`. Recordings are real WebM/Opus files (made by
//! ffmpeg) stored in chunks as the recorder stores them, fetched back through the API.

use parley_storage::{Database, DatabaseConfig, ObjectStorage, ObjectStoreConfig};
use parley_tests::recorder::{store_recording, tone_webm};
use parley_tests::{
    expect_json, on_both_backends, parley_command, Backend, S3Server, Server, ServerOptions, Team,
    TestDatabase, WsClient,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;

/// A database and an object store, empty until used: SQLite and a local folder, or a
/// PostgreSQL database and an S3 bucket (moto).
struct Deployment {
    dir: TempDir,
    database_url: String,
    s3: Option<S3Server>,
    _database: Option<TestDatabase>,
}

impl Deployment {
    async fn new(backend: Backend) -> Deployment {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Deployment {
                database_url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("parley.db").display()
                ),
                dir,
                s3: None,
                _database: None,
            },
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                Deployment {
                    database_url: database.url(),
                    dir,
                    s3: Some(S3Server::start().await),
                    _database: Some(database),
                }
            }
        }
    }

    fn objects_path(&self) -> PathBuf {
        self.dir.path().join("objects")
    }

    fn object_config(&self) -> ObjectStoreConfig {
        match &self.s3 {
            Some(s3) => ObjectStoreConfig::S3(s3.config()),
            None => ObjectStoreConfig::Local {
                path: self.objects_path(),
            },
        }
    }

    /// The `PARLEY_*` settings that point a server or a command here.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PARLEY_DATABASE_URL".to_string(), self.database_url.clone()),
            (
                "PARLEY_SERVER_DATA_DIR".to_string(),
                self.dir.path().join("data").display().to_string(),
            ),
        ];
        match &self.s3 {
            Some(s3) => env.extend(s3.env()),
            None => env.extend([
                ("PARLEY_OBJECT_STORE_KIND".into(), "local".into()),
                (
                    "PARLEY_OBJECT_STORE_PATH".into(),
                    self.objects_path().display().to_string(),
                ),
            ]),
        }
        env
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = parley_command();
        cmd.args(args).envs(self.env());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run parley")
    }

    async fn serve(&self) -> Server {
        self.serve_with(&[]).await
    }

    /// A server here, with `extra` settings too.
    async fn serve_with(&self, extra: &[(&str, &str)]) -> Server {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Server::start_with(ServerOptions {
            database_url: Some(self.database_url.clone()),
            env,
            ..ServerOptions::default()
        })
        .await
    }

    async fn storage(&self) -> (Database, ObjectStorage) {
        let db = Database::connect(&DatabaseConfig {
            url: self.database_url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
        })
        .await
        .expect("open the database");
        let objects = ObjectStorage::open(&self.object_config()).expect("open the object store");
        (db, objects)
    }
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn succeeded(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "should have failed: {}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The backup path `parley admin backup` printed.
fn backup_path(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no backup path in {stdout}"))
        .to_string()
}

/// A recording's bytes as a client downloads them.
async fn download(server: &Server, token: &str, recording: i64) -> Vec<u8> {
    let response = server
        .get(&format!("/v1/recordings/{recording}/media"), Some(token))
        .await;
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("media").to_vec()
}

/// Every message of a channel, oldest first, paging back from the newest.
async fn history(server: &Server, token: &str, channel: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(seq) => format!("/v1/channels/{channel}/messages?limit=200&before_seq={seq}"),
            None => format!("/v1/channels/{channel}/messages?limit=200"),
        };
        let page: Value = expect_json(server.get(&path, Some(token)).await, 200).await;
        let messages = page["messages"].as_array().expect("messages").clone();
        before = messages.first().and_then(|m| m["seq"].as_i64());
        all.splice(0..0, messages);
        if page["has_more"] != true || before.is_none() {
            return all;
        }
    }
}

fn sha(bytes: &[u8]) -> String {
    parley_storage::hex(&Sha256::digest(bytes))
}

/// A backup taken while a client keeps sending: every message acknowledged before the backup
/// began comes back once, with its sequence, no sequence is missing, sessions and tokens still
/// hold, a reconnecting client resumes, and the recording plays byte for byte. The second
/// backup into the same folder copies no object again.
async fn a_backup_taken_while_messages_flow_restores_them_all(backend: Backend) {
    let source = Deployment::new(backend).await;
    // Ann sends as fast as her acknowledgements come: no hub rate limit in the way.
    let unthrottled = [
        ("PARLEY_HUB_REQUESTS_PER_SECOND", "1000000"),
        ("PARLEY_HUB_BURST", "1000000"),
    ];
    let team = Team::new(source.serve_with(&unthrottled).await, "backed-up", true).await;
    let server = &team.server;
    let scratch = tempfile::tempdir().unwrap();
    let tone = tone_webm(scratch.path(), 3);
    let (db, objects) = source.storage().await;
    let recording = store_recording(&db, &objects, &tone, 4096).await;
    let chunks = tone.len().div_ceil(4096);
    db.close().await;
    let folder = scratch.path().join("backups");
    let folder_arg = folder.display().to_string();

    let first = succeeded(source.run(&["admin", "backup", "--to", &folder_arg]));
    assert!(first.contains(&format!("{chunks} copied now")), "{first}");
    // 96 MiB more to copy: the next backup takes long enough for messages to come in meanwhile.
    let (db, objects) = source.storage().await;
    let big: Vec<u8> = (0..96u32 * 1024 * 1024 / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    store_recording(&db, &objects, &big, 8 * 1024 * 1024).await;
    db.close().await;

    // Ann keeps sending; the backup starts once 30 messages are acknowledged.
    let acks: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (acked, mut acked_count) = tokio::sync::watch::channel(0usize);
    let writer = {
        let (acks, stop) = (acks.clone(), stop.clone());
        let mut ann = WsClient::connect(server, &team.ann.1).await;
        let channel = team.channel;
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let sent = ann
                    .say(channel, &format!("c{n}"), &format!("message {n}"))
                    .await;
                let seq = sent["seq"].as_i64().expect("seq");
                let id = sent["message_id"].as_i64().expect("message id");
                let count = {
                    let mut acks = acks.lock().unwrap();
                    acks.push((seq, id));
                    acks.len()
                };
                acked.send_replace(count);
            }
        })
    };
    // The writer ends (dropping its sender) only by failing: then this fails too.
    acked_count
        .wait_for(|n| *n >= 30)
        .await
        .expect("the writer stopped before 30 messages");
    let acked_before: Vec<(i64, i64)> = acks.lock().unwrap().clone();
    let command = source.command(&["admin", "backup", "--to", &folder_arg]);
    let second = tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output().expect("run the backup")
    })
    .await
    .unwrap();
    let second = succeeded(second);
    let during = acks.lock().unwrap().len() - acked_before.len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        during > 0,
        "the server kept serving during the backup: {second}"
    );
    assert!(
        second.contains("12 copied now") && second.contains(&format!("{chunks} already")),
        "the second backup copies only the new recording's 12 chunks: {second}"
    );
    let backup = backup_path(&second);
    let verified = succeeded(source.run(&["admin", "verify-backup", &backup]));
    assert!(verified.contains("is whole"), "{verified}");
    let listed = succeeded(source.run(&["admin", "list-backups", &folder_arg]));
    assert_eq!(listed.matches("complete").count(), 2, "{listed}");

    // Restore into an empty deployment and serve it.
    let target = Deployment::new(backend).await;
    let restored = succeeded(target.run(&["admin", "restore", &backup]));
    assert!(restored.contains("restored"), "{restored}");
    let refused = failed(target.run(&["admin", "restore", &backup]));
    assert!(refused.contains("not empty"), "{refused}");
    // Over itself, when asked: the same rows again, not twice.
    succeeded(target.run(&["admin", "restore", "--replace", &backup]));
    let copy = target.serve().await;

    // Ann's token from before still works: the signing secret and the sessions came back.
    let messages = history(&copy, &team.ann.1, team.channel).await;
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "sequences without gaps"
    );
    for (seq, id) in &acked_before {
        let found: Vec<&Value> = messages.iter().filter(|m| m["id"] == *id).collect();
        assert_eq!(found.len(), 1, "message {id} once");
        assert_eq!(found[0]["seq"], *seq, "message {id} keeps its sequence");
    }
    // A client that saw the last restored message resumes from there, and the next message
    // takes the next sequence.
    let last = *seqs.last().unwrap();
    let mut bob = WsClient::connect_resuming(
        &copy,
        &team.bob.1,
        json!([{"channel": team.channel, "seq": last}]),
    )
    .await;
    let mut ann = WsClient::connect(&copy, &team.ann.1).await;
    let next = ann
        .say(team.channel, "after-restore", "after the restore")
        .await;
    assert_eq!(next["seq"], last + 1, "{next}");
    assert_eq!(bob.next_of("message").await["seq"], last + 1);

    let media = download(&copy, &team.admin, recording).await;
    assert_eq!(
        sha(&media),
        sha(&tone),
        "the recording comes back byte for byte"
    );
    let file = scratch.path().join("restored.webm");
    std::fs::write(&file, &media).unwrap();
    let probe = parley_tests::recorder::probe(&file);
    assert!(
        parley_tests::recorder::duration_secs(&probe) > 2.5,
        "{probe}"
    );
}

on_both_backends!(a_backup_taken_while_messages_flow_restores_them_all);

/// A changed byte anywhere (a table file, an object, the manifest) fails verification, and
/// restore refuses the backup without writing anything.
#[tokio::test]
async fn a_tampered_backup_is_refused() {
    let source = Deployment::new(Backend::Sqlite).await;
    let team = Team::new(source.serve().await, "tampered", false).await;
    let mut ann = WsClient::connect(&team.server, &team.ann.1).await;
    for n in 0..5 {
        ann.say(team.channel, &format!("t{n}"), "to be backed up")
            .await;
    }
    let scratch = tempfile::tempdir().unwrap();
    let (db, objects) = source.storage().await;
    store_recording(&db, &objects, &tone_webm(scratch.path(), 1), 2048).await;
    let folder = scratch.path().join("backups");
    let out = succeeded(source.run(&["admin", "backup", "--to", &folder.display().to_string()]));
    let backup = PathBuf::from(backup_path(&out));

    // Each tampering in its own copy of the backup folder.
    let blob = std::fs::read_dir(folder.join("blobs"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    let id = backup.file_name().unwrap().to_owned();
    let cases: [(&str, PathBuf); 3] = [
        ("table", backup.join("tables/messages.jsonl")),
        ("object", blob),
        ("manifest", backup.join("manifest.json")),
    ];
    for (what, file) in cases {
        let copy = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", folder.display()))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success());
        let tampered = copy.path().join(file.strip_prefix(&folder).unwrap());
        let mut bytes = std::fs::read(&tampered).unwrap();
        // A digit in the manifest (a size or a count), the middle byte elsewhere.
        let at = match what {
            "manifest" => bytes
                .windows(8)
                .position(|w| w == b"\"rows\": ")
                .map(|p| p + 8)
                .unwrap(),
            _ => bytes.len() / 2,
        };
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&tampered, bytes).unwrap();
        let copied = copy.path().join(&id).display().to_string();
        let refused = failed(source.run(&["admin", "verify-backup", &copied]));
        assert!(refused.contains("failed verification"), "{what}: {refused}");
        let target = Deployment::new(Backend::Sqlite).await;
        let refused = failed(target.run(&["admin", "restore", &copied]));
        assert!(refused.contains("was not restored"), "{what}: {refused}");
        let (db, objects) = target.storage().await;
        assert!(db.is_empty().await.unwrap(), "{what}: nothing written");
        assert!(objects.list_meta(None).await.unwrap().is_empty());
    }
    // The untouched backup restores, but not over a deployment that has data.
    let busy = failed(source.run(&["admin", "restore", &backup.display().to_string()]));
    assert!(busy.contains("not empty"), "{busy}");
}

/// A backup killed with SIGKILL halfway leaves the earlier backup whole, and is listed as
/// incomplete, fails verification and is never restored.
#[tokio::test]
async fn a_backup_killed_halfway_is_never_restored() {
    let source = Deployment::new(Backend::Sqlite).await;
    let team = Team::new(source.serve().await, "killed", false).await;
    let mut ann = WsClient::connect(&team.server, &team.ann.1).await;
    ann.say(team.channel, "k1", "before the first backup").await;
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("backups");
    let folder_arg = folder.display().to_string();
    let first = backup_path(&succeeded(source.run(&[
        "admin",
        "backup",
        "--to",
        &folder_arg,
    ])));

    // 256 MiB of recording to copy: the second backup is still copying when it is killed.
    let (db, objects) = source.storage().await;
    let big: Vec<u8> = (0..256u32 * 1024 * 1024 / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    store_recording(&db, &objects, &big, 8 * 1024 * 1024).await;
    let mut child = source
        .command(&["admin", "backup", "--to", &folder_arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Another process's files are all there is to watch.
    let copying = parley_tests::eventually(12_000, Duration::from_millis(5), || {
        let copying = folder.join("tmp").exists()
            && std::fs::read_dir(folder.join("blobs")).is_ok_and(|d| d.count() > 0);
        let exited = child.try_wait().unwrap().is_some();
        async move { (copying || exited).then_some(copying) }
    })
    .await;
    assert_eq!(
        copying,
        Some(true),
        "the backup was copying objects when killed"
    );
    // One backup writes to a folder at a time.
    let busy = failed(source.run(&["admin", "backup", "--to", &folder_arg]));
    assert!(busy.contains("another backup is writing"), "{busy}");
    child.kill().unwrap();
    child.wait().unwrap();

    let listed = succeeded(source.run(&["admin", "list-backups", &folder_arg]));
    assert_eq!(listed.matches("  complete").count(), 1, "{listed}");
    assert_eq!(listed.matches("INCOMPLETE").count(), 1, "{listed}");
    let partial = listed
        .lines()
        .find(|l| l.contains("INCOMPLETE"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let partial = folder.join(partial).display().to_string();
    let refused = failed(source.run(&["admin", "verify-backup", &partial]));
    assert!(refused.contains("incomplete"), "{refused}");
    let target = Deployment::new(Backend::Sqlite).await;
    let refused = failed(target.run(&["admin", "restore", &partial]));
    assert!(refused.contains("incomplete"), "{refused}");
    assert!(target.storage().await.0.is_empty().await.unwrap());
    // The earlier backup is whole and restores.
    succeeded(source.run(&["admin", "verify-backup", &first]));
    succeeded(target.run(&["admin", "restore", &first]));
}

/// An embedded deployment (SQLite, local folder) moves to PostgreSQL and S3 with every id and
/// sequence, the copy is checked table by table, and a server on the copy carries on: history,
/// the next message's sequence, tokens, the recording.
#[tokio::test]
async fn an_embedded_deployment_moves_to_postgres_and_s3() {
    let source = Deployment::new(Backend::Sqlite).await;
    let mut team = Team::new(source.serve().await, "moving", true).await;
    let mut ann = WsClient::connect(&team.server, &team.ann.1).await;
    for n in 0..30 {
        ann.say(
            team.channel,
            &format!("m{n}"),
            &format!("before the move {n}"),
        )
        .await;
    }
    let scratch = tempfile::tempdir().unwrap();
    let tone = tone_webm(scratch.path(), 3);
    let (db, objects) = source.storage().await;
    let recording = store_recording(&db, &objects, &tone, 5000).await;
    db.close().await;
    let before = history(&team.server, &team.ann.1, team.channel).await;
    team.server.kill();

    let target = Deployment::new(Backend::Postgres).await;
    let s3 = target.s3.as_ref().unwrap();
    let out = succeeded(source.run(&[
        "admin",
        "migrate",
        "--to-database",
        &target.database_url,
        "--to-object-store",
        &format!("s3://{}", s3.bucket),
        "--s3-endpoint",
        &s3.endpoint,
        "--s3-access-key-id",
        "testing",
        "--s3-secret-access-key",
        "testing",
        "--s3-allow-http",
    ]));
    assert!(
        out.contains("this takes about"),
        "the downtime is stated: {out}"
    );
    assert!(out.contains("every table and object matches"), "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");
    assert!(out.contains("kind = \"s3\""), "{out}");
    // Migrating again into the same (now full) target is refused.
    let again = failed(source.run(&["admin", "migrate", "--to-database", &target.database_url]));
    assert!(again.contains("not empty"), "{again}");

    let copy = target.serve().await;
    assert_eq!(history(&copy, &team.ann.1, team.channel).await, before);
    let mut bob = WsClient::connect(&copy, &team.bob.1).await;
    let mut ann = WsClient::connect(&copy, &team.ann.1).await;
    let next = ann.say(team.channel, "after-move", "after the move").await;
    assert_eq!(next["seq"], before.len() as i64 + 1, "{next}");
    assert_eq!(
        bob.next_of("message").await["message"]["body"],
        "after the move"
    );
    // New rows get new ids past the copied ones (PostgreSQL's sequences were moved on).
    let created: Value = expect_json(
        copy.post(
            "/v1/channels",
            Some(&team.ann.1),
            &json!({"name": "new-after-move", "kind": "group", "category": "project", "members": [team.bob.0]}),
        )
        .await,
        201,
    )
    .await;
    assert!(created["id"].as_i64().unwrap() > team.channel, "{created}");
    assert_eq!(
        sha(&download(&copy, &team.admin, recording).await),
        sha(&tone)
    );
}

/// `[backup]`: the server backs itself up on its own every `every_secs`, counts each backup in
/// its metrics, keeps the newest `keep` (with the recordings only they hold gone), and a folder
/// it cannot write to is a counted, logged failure.
#[tokio::test]
async fn scheduled_backups_run_are_counted_and_pruned() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("scheduled");
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_BACKUP_FOLDER", folder.display().to_string())
            .env("PARLEY_BACKUP_EVERY_SECS", "1")
            .env("PARLEY_BACKUP_KEEP", "2"),
    )
    .await;
    let metric = |name: &'static str| {
        let server = &server;
        async move { parley_tests::rtc::metric(server, name).await }
    };
    let taken = parley_tests::eventually(300, Duration::from_millis(100), || async {
        let n = metric("parley_backups_total").await;
        (n >= 4.0).then_some(n)
    })
    .await
    .expect("four scheduled backups");
    assert!(metric("parley_backup_last_success_timestamp_seconds").await > 1.7e9);
    assert!(metric("parley_backup_last_size_bytes").await > 0.0);
    assert_eq!(metric("parley_backup_failures_total").await, 0.0);
    let listed = succeeded(
        parley_command()
            .args(["admin", "list-backups", &folder.display().to_string()])
            .output()
            .unwrap(),
    );
    let complete = listed.matches("  complete").count();
    assert!(
        (2..=3).contains(&complete),
        "{taken} taken, the newest 2 kept (a third may be being pruned): {listed}"
    );
    let newest = listed.lines().rfind(|l| l.contains("  complete")).unwrap();
    let newest = folder.join(newest.split_whitespace().next().unwrap());
    succeeded(
        parley_command()
            .args(["admin", "verify-backup", &newest.display().to_string()])
            .output()
            .unwrap(),
    );
    assert!(server.log().contains("scheduled backup written"));
    // The dashboard lists them, newest first, with no failure.
    let admin = server.admin_token().await;
    let status: Value = expect_json(server.get("/v1/admin/backups", Some(&admin)).await, 200).await;
    assert_eq!(status["scheduled"], true, "{status}");
    assert_eq!(status["to"], folder.display().to_string());
    assert_eq!(status["last_failure"], Value::Null, "{status}");
    let listed_ids: Vec<&str> = status["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!((2..=3).contains(&listed_ids.len()), "{status}");
    assert!(
        listed_ids.windows(2).all(|w| w[0] > w[1]),
        "newest first: {status}"
    );
    assert_eq!(status["last_success"], status["backups"][0]);
    assert!(status["next_at"].as_i64().unwrap() > 0);

    // A folder that cannot be made (a file is in its way): counted and logged, not silent.
    let blocked = scratch.path().join("a-file");
    std::fs::write(&blocked, "not a folder").unwrap();
    let failing = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env(
                "PARLEY_BACKUP_FOLDER",
                blocked.join("backups").display().to_string(),
            )
            .env("PARLEY_BACKUP_EVERY_SECS", "1"),
    )
    .await;
    parley_tests::eventually(100, Duration::from_millis(100), || async {
        (parley_tests::rtc::metric(&failing, "parley_backup_failures_total").await >= 1.0)
            .then_some(())
    })
    .await
    .expect("the failure is counted");
    assert!(
        failing.log().contains("scheduled backup FAILED"),
        "{}",
        failing.log()
    );
    // ... and shown on the dashboard as an alert, with the reason.
    let admin = failing.admin_token().await;
    let status: Value =
        expect_json(failing.get("/v1/admin/backups", Some(&admin)).await, 200).await;
    assert_eq!(status["last_success"], Value::Null, "{status}");
    assert!(
        status["last_failure"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("a-file"),
        "{status}"
    );
    // A server without `[backup] folder` says so.
    let plain: Value = expect_json(server_without_backups().await, 200).await;
    assert_eq!(plain["scheduled"], false, "{plain}");
}

async fn server_without_backups() -> reqwest::Response {
    let server = Server::start(Backend::Sqlite).await;
    let admin = server.admin_token().await;
    server.get("/v1/admin/backups", Some(&admin)).await
}

/// Scheduled backups go to a bucket too (`[backup] folder = "s3://BUCKET"` with the `s3_*`
/// keys), encrypted with `[backup] key_file`: complete, verifiable there with the key, and
/// listed on the dashboard with it.
#[tokio::test]
async fn scheduled_backups_go_to_a_bucket() {
    let bucket = S3Server::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let key = parley_storage::BackupKey::generate().unwrap();
    let key_file = scratch.path().join("backup.key");
    std::fs::write(&key_file, key.to_hex()).unwrap();
    let server = Server::start_with(
        ServerOptions::backend(Backend::Sqlite)
            .env("PARLEY_BACKUP_KEY_FILE", key_file.display().to_string())
            .env("PARLEY_BACKUP_FOLDER", format!("s3://{}", bucket.bucket))
            .env("PARLEY_BACKUP_S3_ENDPOINT", bucket.endpoint.clone())
            .env("PARLEY_BACKUP_S3_ACCESS_KEY_ID", "testing")
            .env("PARLEY_BACKUP_S3_SECRET_ACCESS_KEY", "testing")
            .env("PARLEY_BACKUP_S3_ALLOW_HTTP", "true"),
    )
    .await;
    let admin = server.admin_token().await;
    let status = parley_tests::eventually(300, Duration::from_millis(100), || async {
        let status: Value =
            expect_json(server.get("/v1/admin/backups", Some(&admin)).await, 200).await;
        (!status["backups"].as_array().unwrap().is_empty()).then_some(status)
    })
    .await
    .expect("a scheduled backup in the bucket");
    assert_eq!(status["last_failure"], Value::Null, "{status}");
    assert_eq!(
        status["backups"][0]["key_id"],
        key.id(),
        "encrypted: {status}"
    );
    let id = status["backups"][0]["id"].as_str().unwrap();
    let verified = succeeded(
        parley_command()
            .args([
                "admin",
                "verify-backup",
                &format!("s3://{}/{id}", bucket.bucket),
            ])
            .args(["--s3-endpoint", &bucket.endpoint, "--s3-allow-http"])
            .args(["--key-file", &key_file.display().to_string()])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap(),
    );
    assert!(verified.contains("is whole"), "{verified}");
    assert!(!verified.contains("checked as stored"), "{verified}");
}

/// Backups can go to an S3 bucket (`--to s3://BUCKET` with the `--s3-*` options): listed,
/// verified and restored from there like a folder's.
#[tokio::test]
async fn backups_go_to_an_s3_bucket_and_restore_from_it() {
    let source = Deployment::new(Backend::Sqlite).await;
    let team = Team::new(source.serve().await, "to-s3", false).await;
    let mut ann = WsClient::connect(&team.server, &team.ann.1).await;
    for n in 0..10 {
        ann.say(
            team.channel,
            &format!("s{n}"),
            &format!("kept in a bucket {n}"),
        )
        .await;
    }
    let scratch = tempfile::tempdir().unwrap();
    let tone = tone_webm(scratch.path(), 2);
    let (db, objects) = source.storage().await;
    let recording = store_recording(&db, &objects, &tone, 3000).await;
    db.close().await;
    let before = history(&team.server, &team.ann.1, team.channel).await;

    let bucket = S3Server::start().await;
    let location = format!("s3://{}", bucket.bucket);
    let s3_args = [
        "--s3-endpoint",
        bucket.endpoint.as_str(),
        "--s3-access-key-id",
        "testing",
        "--s3-secret-access-key",
        "testing",
        "--s3-allow-http",
    ];
    let with_s3 = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(s3_args);
        all.iter().map(|a| a.to_string()).collect::<Vec<String>>()
    };
    let run = |deployment: &Deployment, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        deployment.run(&args)
    };
    let out = succeeded(run(
        &source,
        with_s3(&["admin", "backup", "--to", &location]),
    ));
    let backup = backup_path(&out);
    assert!(backup.starts_with(&format!("{location}/")), "{out}");
    let listed = succeeded(run(&source, with_s3(&["admin", "list-backups", &location])));
    assert_eq!(listed.matches("  complete").count(), 1, "{listed}");
    succeeded(run(&source, with_s3(&["admin", "verify-backup", &backup])));
    let missing = failed(run(
        &source,
        with_s3(&[
            "admin",
            "verify-backup",
            &format!("{location}/20000101T000000Z"),
        ]),
    ));
    assert!(missing.contains("there is no backup"), "{missing}");

    let target = Deployment::new(Backend::Sqlite).await;
    succeeded(run(&target, with_s3(&["admin", "restore", &backup])));
    let copy = target.serve().await;
    assert_eq!(history(&copy, &team.ann.1, team.channel).await, before);
    assert_eq!(
        sha(&download(&copy, &team.admin, recording).await),
        sha(&tone)
    );
}

/// The schema of the first release with backups: a backup made then must still restore.
const FIRST_BACKUP_SCHEMA: i64 = 9;

/// A backup made by an earlier Parley (database schema 9, before retention) restores into a
/// new database: its rows go in at schema 9, the later migrations run, and the server starts
/// on the result with every message and sequence. A target already at the newer schema is
/// refused with what to do, and `parley admin backup` refuses to back up (and so upgrade) a
/// database an earlier Parley serves.
async fn a_backup_from_an_earlier_schema_restores_and_upgrades(backend: Backend) {
    let source = Deployment::new(backend).await;
    let config = DatabaseConfig {
        url: source.database_url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let db = Database::connect_as_is(&config).await.expect("connect");
    db.migrate_to(FIRST_BACKUP_SCHEMA).await.expect("schema 9");
    assert_eq!(db.schema_version().await.unwrap(), FIRST_BACKUP_SCHEMA);
    // What an earlier Parley had stored: an admin, a channel, three messages.
    let pool = parley_tests::database_pool(&source.database_url).await;
    let now = parley_storage::now_ms();
    for sql in [
        "INSERT INTO users (id, email, name, role, created_at, updated_at) \
         VALUES (1, 'old@example.cn', '老管理员', 'admin', $1, $1)",
        "INSERT INTO channels (id, name, kind, category, created_by, last_seq, created_at) \
         VALUES (1, '旧频道', 'group', 'project', 1, 3, $1)",
        "INSERT INTO memberships (channel_id, user_id, read_seq, joined_at) VALUES (1, 1, 3, $1)",
    ] {
        sqlx::query(sql).bind(now).execute(&pool).await.expect(sql);
    }
    for seq in 1..=3i64 {
        sqlx::query(
            "INSERT INTO messages (id, channel_id, seq, sender_id, client_id, body, created_at) \
             VALUES ($1, 1, $1, 1, $2, $3, $4)",
        )
        .bind(seq)
        .bind(format!("c{seq}"))
        .bind(format!("第 {seq} 条"))
        .bind(now + seq)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO channel_events (channel_id, seq, kind, message_id, actor_id, created_at) \
             VALUES (1, $1, 'message', $1, 1, $2)",
        )
        .bind(seq)
        .bind(now + seq)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("backups");
    let repo = ObjectStorage::open(&ObjectStoreConfig::Local {
        path: folder.clone(),
    })
    .unwrap();
    let objects = ObjectStorage::open(&source.object_config()).unwrap();
    let made = parley_storage::take_backup(&db, &objects, &repo, "0.9.0", None)
        .await
        .expect("a backup at schema 9");
    db.close().await;
    assert_eq!(made.manifest.schema_version, FIRST_BACKUP_SCHEMA);
    assert!(
        !made
            .manifest
            .tables
            .iter()
            .any(|t| t.table == "legal_holds"),
        "schema 9 has no legal holds"
    );
    let backup = folder.join(&made.manifest.id).display().to_string();

    // This Parley does not back up (and so upgrade) a database an earlier one serves.
    let refused = failed(source.run(&[
        "admin",
        "backup",
        "--to",
        &scratch.path().join("other").display().to_string(),
    ]));
    assert!(refused.contains("schema 9"), "{refused}");

    // Not into a database already at the newer schema ...
    let upgraded_empty = Deployment::new(backend).await;
    let (db, _) = upgraded_empty.storage().await;
    db.close().await;
    let refused = failed(upgraded_empty.run(&["admin", "restore", &backup]));
    assert!(refused.contains("new database without tables"), "{refused}");

    // ... but into a new one, upgraded after.
    let target = Deployment::new(backend).await;
    let restored = succeeded(target.run(&["admin", "restore", &backup]));
    assert!(
        restored.contains("the backup had database schema 9"),
        "{restored}"
    );
    let mut set = target.command(&["admin", "set-password", "--email", "old@example.cn"]);
    let mut child = set
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "an-old-admin-password").unwrap();
    }
    succeeded(child.wait_with_output().unwrap());
    let server = target.serve().await;
    let token = server
        .login("old@example.cn", "an-old-admin-password")
        .await
        .access_token;
    let messages = history(&server, &token, 1).await;
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["第 1 条", "第 2 条", "第 3 条"]);
    // What the newer schema added works on the restored data.
    let channel: Value = expect_json(
        server
            .send_json(
                reqwest::Method::PATCH,
                "/v1/channels/1",
                &token,
                &json!({"retention_days": 365}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(channel["retention_days"], 365);
    let mut client = WsClient::connect(&server, &token).await;
    assert_eq!(client.say(1, "c4", "第 4 条").await["seq"], 4);
}

on_both_backends!(a_backup_from_an_earlier_schema_restores_and_upgrades);

/// `parley admin backup-key` makes a key; a backup made with it (`--key-file`) holds no
/// readable row or object, verifies as stored without the key and whole with it, refuses to
/// restore without it or with another key, and restores with it. A changed byte fails. The
/// next backup with the same key copies no object again; one without a key copies them anew.
#[tokio::test]
async fn an_encrypted_backup_restores_only_with_its_key() {
    let source = Deployment::new(Backend::Sqlite).await;
    let team = Team::new(source.serve().await, "加密", false).await;
    let mut ann = WsClient::connect(&team.server, &team.ann.1).await;
    ann.say(team.channel, "s1", "机密：报价 ¥1,280,000").await;
    let scratch = tempfile::tempdir().unwrap();
    let tone = tone_webm(scratch.path(), 2);
    let (db, objects) = source.storage().await;
    let recording = store_recording(&db, &objects, &tone, 4000).await;
    db.close().await;
    let key_file = |name: &str| {
        let key = succeeded(source.run(&["admin", "backup-key"]));
        assert_eq!(key.trim().len(), 64, "{key}");
        let path = scratch.path().join(name);
        std::fs::write(&path, key).unwrap();
        path.display().to_string()
    };
    let (key, other_key) = (key_file("backup.key"), key_file("other.key"));
    let folder = scratch.path().join("backups");
    let folder_arg = folder.display().to_string();

    let out = succeeded(source.run(&["admin", "backup", "--to", &folder_arg, "--key-file", &key]));
    assert!(out.contains("encrypted with key"), "{out}");
    let backup = backup_path(&out);
    // Nothing in the folder reads as what was backed up.
    let mut files = Vec::new();
    let mut dirs = vec![folder.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().unwrap() != "manifest.json" {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 5, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("报价") && !text.contains("OpusHead") && !text.contains("\"table\""),
            "{} is readable",
            file.display()
        );
    }

    let checked = succeeded(source.run(&["admin", "verify-backup", &backup]));
    assert!(checked.contains("checked as stored"), "{checked}");
    succeeded(source.run(&["admin", "verify-backup", &backup, "--key-file", &key]));
    let wrong = failed(source.run(&["admin", "verify-backup", &backup, "--key-file", &other_key]));
    assert!(wrong.contains("not with this key"), "{wrong}");

    let target = Deployment::new(Backend::Sqlite).await;
    let refused = failed(target.run(&["admin", "restore", &backup]));
    assert!(refused.contains("give its key file"), "{refused}");
    let refused = failed(target.run(&["admin", "restore", &backup, "--key-file", &other_key]));
    assert!(refused.contains("not with this key"), "{refused}");
    succeeded(target.run(&["admin", "restore", &backup, "--key-file", &key]));
    let copy = target.serve().await;
    let messages = history(&copy, &team.ann.1, team.channel).await;
    assert_eq!(messages[0]["body"], "机密：报价 ¥1,280,000");
    assert_eq!(
        sha(&download(&copy, &team.admin, recording).await),
        sha(&tone)
    );

    // The same key again: every object is reused. No key: copied again, in the clear.
    let again =
        succeeded(source.run(&["admin", "backup", "--to", &folder_arg, "--key-file", &key]));
    assert!(again.contains("(0 copied now"), "{again}");
    let plain = succeeded(source.run(&["admin", "backup", "--to", &folder_arg]));
    assert!(plain.contains("(5 copied now"), "{plain}");
    assert!(!plain.contains("encrypted"), "{plain}");

    // A manifest rewritten by someone without the key, its own digest made to match: with the
    // encryption stripped, or a row count changed, restoring with the key is refused.
    let id = backup.rsplit('/').next().unwrap();
    let manifest_path = folder.join(id).join("manifest.json");
    let original = std::fs::read(&manifest_path).unwrap();
    let forge = |change: &dyn Fn(&mut parley_storage::Manifest)| {
        let mut manifest: parley_storage::Manifest = serde_json::from_slice(&original).unwrap();
        change(&mut manifest);
        manifest.digest = String::new();
        manifest.digest = sha(&serde_json::to_vec(&manifest).unwrap());
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    };
    let fresh = Deployment::new(Backend::Sqlite).await;
    forge(&|m| {
        m.encryption = None;
        m.mac = None;
    });
    let refused = failed(fresh.run(&["admin", "restore", &backup, "--key-file", &key]));
    assert!(
        refused.contains("is not encrypted, yet a key was given"),
        "{refused}"
    );
    forge(&|m| m.tables[0].rows += 1);
    let refused = failed(fresh.run(&["admin", "restore", &backup, "--key-file", &key]));
    assert!(
        refused.contains("changed by someone without its key"),
        "{refused}"
    );
    std::fs::write(&manifest_path, &original).unwrap();
    // No readable content digest either: the manifest names contents by an HMAC.
    let manifest: parley_storage::Manifest = serde_json::from_slice(&original).unwrap();
    let recorded: Vec<&str> = manifest.objects.iter().map(|o| o.sha256.as_str()).collect();
    for chunk in tone.chunks(4000) {
        assert!(!recorded.contains(&sha(chunk).as_str()));
    }

    // A changed byte in a sealed table file fails, with the key or without.
    let table = folder.join(id).join("tables").join("messages.jsonl");
    let mut bytes = std::fs::read(&table).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&table, bytes).unwrap();
    failed(source.run(&["admin", "verify-backup", &backup]));
    failed(source.run(&["admin", "verify-backup", &backup, "--key-file", &key]));
}

/// A backup taken while the load tester's IM soak runs (`parley-loadtest im`, 20 users in 4
/// channels at 30 messages a second): the soak loses nothing, and the restored database holds
/// every message stored before the backup began exactly once, at its sequence, with every
/// channel's event stream gap-free up to its `last_seq`.
async fn a_backup_taken_during_an_im_soak_restores_every_message_stored_before_it(
    backend: Backend,
) {
    let source = Deployment::new(backend).await;
    let server = source.serve().await;
    let scratch = tempfile::tempdir().unwrap();
    let report = scratch.path().join("soak.json");
    let soak =
        tokio::process::Command::new(parley_tests::parley_bin().with_file_name("parley-loadtest"))
            .args(["im", "--users", "20", "--channels", "4", "--members", "6"])
            .args([
                "--rate",
                "30",
                "--duration",
                "12",
                "--ramp-up",
                "2",
                "--drain",
                "5",
            ])
            .args(["--server", &server.url])
            .args(["--admin-email", parley_tests::ADMIN_EMAIL])
            .args(["--admin-password", parley_tests::ADMIN_PASSWORD])
            .arg("--report")
            .arg(&report)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run parley-loadtest (cargo build --bins)");
    let pool = parley_tests::database_pool(&source.database_url).await;
    // The backup starts once the soak has stored 60 messages.
    parley_tests::eventually(600, Duration::from_millis(50), || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&pool)
            .await
            .unwrap();
        (n >= 60).then_some(())
    })
    .await
    .expect("the soak sends");
    let folder = scratch.path().join("backups").display().to_string();
    let command = source.command(&["admin", "backup", "--to", &folder]);
    let out = tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output().expect("run the backup")
    })
    .await
    .unwrap();
    let backup = backup_path(&succeeded(out));
    let soaked = tokio::time::timeout(Duration::from_secs(120), soak.wait_with_output())
        .await
        .expect("the soak stops by itself")
        .unwrap();
    assert!(
        soaked.status.success(),
        "the soak lost, repeated or reordered nothing: {}",
        String::from_utf8_lossy(&soaked.stdout)
    );
    let manifest: parley_storage::Manifest = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(&backup).join("manifest.json")).unwrap(),
    )
    .unwrap();

    let target = Deployment::new(backend).await;
    succeeded(target.run(&["admin", "restore", &backup]));
    let restored = parley_tests::database_pool(&target.database_url).await;
    let rows = |pool: &sqlx::AnyPool, sql: &'static str, before: i64| {
        let pool = pool.clone();
        async move {
            let mut rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql)
                .bind(before)
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.sort();
            rows
        }
    };
    // Stored (and so acknowledged) a second or more before the backup began: committed by then.
    let sql = "SELECT id, channel_id, seq FROM messages WHERE created_at < $1";
    let stored_before = rows(&pool, sql, manifest.started_at - 1000).await;
    let in_backup = rows(&restored, sql, i64::MAX).await;
    assert!(stored_before.len() >= 30, "{}", stored_before.len());
    let kept: std::collections::HashSet<&(i64, i64, i64)> = in_backup.iter().collect();
    for message in &stored_before {
        assert!(
            kept.contains(message),
            "message {message:?} is in the backup"
        );
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        (in_backup.len() as i64) < total,
        "messages kept coming during the backup"
    );
    let channels: Vec<(i64, i64)> = sqlx::query_as("SELECT id, last_seq FROM channels")
        .fetch_all(&restored)
        .await
        .unwrap();
    for (channel, last_seq) in channels {
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM channel_events WHERE channel_id = $1 ORDER BY seq")
                .bind(channel)
                .fetch_all(&restored)
                .await
                .unwrap();
        assert_eq!(
            seqs,
            (1..=last_seq).collect::<Vec<_>>(),
            "channel {channel}"
        );
    }
    pool.close().await;
    restored.close().await;
    // The restored deployment serves.
    let copy = target.serve().await;
    assert_eq!(copy.get("/readyz", None).await.status(), 200);
}

on_both_backends!(a_backup_taken_during_an_im_soak_restores_every_message_stored_before_it);
