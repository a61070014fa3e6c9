//! Encryption at rest with the real binary: content and thumbnails stored sealed (the stored
//! bytes are not the plaintext), whole and ranged downloads opening only what they span, the
//! master key rotated (content keys rewrapped at start, the old key then dropped), and a bad
//! key refused at start. On SQLite with a local folder and on PostgreSQL with S3.

use parley_storage::{ObjectStorage, ObjectStoreConfig};
use parley_tests::{
    eventually, expect_json, on_both_backends, parley_command, Backend, S3Server, Server,
    ServerOptions,
};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn noise(len: usize) -> Vec<u8> {
    parley_tests::bytes::noise(len, 7)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    parley_tests::bytes::png(width, height)
}

async fn upload(server: &Server, token: &str, name: &str, bytes: &[u8]) -> Value {
    expect_json(
        server
            .request(Method::POST, "/v1/files", Some(token))
            .query(&[("name", name)])
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload"),
        201,
    )
    .await
}

async fn range(server: &Server, token: &str, id: i64, spec: &str) -> Vec<u8> {
    let got = server
        .request(Method::GET, &format!("/v1/files/{id}/content"), Some(token))
        .header("Range", spec)
        .send()
        .await
        .expect("range");
    assert_eq!(got.status(), 206, "{spec}");
    got.bytes().await.expect("bytes").to_vec()
}

/// The whole file, ranges across chunk boundaries, and the image's thumbnail, as downloaded.
async fn check(server: &Server, token: &str, id: i64, image: i64, plain: &[u8]) {
    let whole = server
        .get(&format!("/v1/files/{id}/content"), Some(token))
        .await
        .bytes()
        .await
        .expect("whole");
    assert!(whole.as_ref() == plain, "the whole file opens");
    for (spec, want) in [
        ("bytes=0-9", 0..10),
        ("bytes=65530-65549", 65_530..65_550),
        ("bytes=131072-", 131_072..300_000),
        ("bytes=-1000", 299_000..300_000),
        ("bytes=5-131073", 5..131_074),
    ] {
        assert!(
            range(server, token, id, spec).await == plain[want],
            "{spec}"
        );
    }
    let thumb = server
        .get(
            &format!("/v1/files/{image}/thumbnail?size=large"),
            Some(token),
        )
        .await;
    assert_eq!(thumb.status(), 200);
    let decoded = image::load_from_memory(&thumb.bytes().await.expect("thumb")).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (400, 200));
}

async fn key_ids(server: &Server) -> Vec<String> {
    let pool = parley_tests::database_pool(&server.database_url).await;
    sqlx::query_scalar("SELECT DISTINCT key_id FROM blobs ORDER BY key_id")
        .fetch_all(&pool)
        .await
        .expect("key ids")
}

async fn content_is_sealed_and_the_key_rotates(backend: Backend) {
    let s3 = match backend {
        Backend::Postgres => Some(S3Server::start().await),
        Backend::Sqlite => None,
    };
    let mut options = ServerOptions::backend(backend).env("PARLEY_FILES_ENCRYPTION_KEY", K1);
    if let Some(s3) = &s3 {
        options = options.s3(s3);
    }
    let mut server = Server::start_with(options).await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let plain = noise(300_000);
    let file = upload(&server, &ann, "机密.bin", &plain).await;
    let id = file["id"].as_i64().expect("id");
    let image = upload(&server, &ann, "图.png", &png(400, 200)).await;
    assert_eq!(image["thumbnail"], true);

    // What the store holds is sealed: longer by a tag per 64 KiB, and no plaintext in it.
    let store = match &s3 {
        Some(s3) => ObjectStorage::open(&ObjectStoreConfig::S3(s3.config())),
        None => ObjectStorage::open(&ObjectStoreConfig::Local {
            path: server.dir.path().join("data/objects"),
        }),
    }
    .expect("open the store");
    let objects = store.list("files/").await.expect("list");
    let mut sizes: Vec<u64> = objects.iter().map(|o| o.size).collect();
    sizes.sort();
    assert!(sizes.contains(&(300_000 + 5 * 16)), "{sizes:?}");
    for object in &objects {
        let stored = store.get(&object.key).await.expect("get");
        assert!(
            !stored.windows(32).any(|w| w == &plain[100_000..100_032]),
            "the stored bytes hold the plaintext"
        );
    }
    for thumb in store.list("thumbs/").await.expect("thumbs") {
        let stored = store.get(&thumb.key).await.expect("get");
        assert!(
            !stored.starts_with(&[0xFF, 0xD8]),
            "a thumbnail is stored as a JPEG"
        );
    }

    check(&server, &ann, id, image["id"].as_i64().expect("id"), &plain).await;
    let first = key_ids(&server).await;
    assert_eq!(first.len(), 1);

    // Rotate: K2 seals from now on, K1 still opens; at start every content key is rewrapped.
    server.set_env("PARLEY_FILES_ENCRYPTION_KEY", Some(K2));
    server.set_env(
        "PARLEY_FILES_PREVIOUS_ENCRYPTION_KEYS",
        Some(&format!("[\"{K1}\"]")),
    );
    server.kill_and_restart().await;
    let rewrapped = eventually(100, Duration::from_millis(100), || async {
        let ids = key_ids(&server).await;
        (ids.len() == 1 && ids != first).then_some(ids)
    })
    .await;
    assert!(
        rewrapped.is_some(),
        "every content key is under the new key"
    );
    check(&server, &ann, id, image["id"].as_i64().expect("id"), &plain).await;
    // The old key can go.
    server.set_env("PARLEY_FILES_PREVIOUS_ENCRYPTION_KEYS", None);
    server.kill_and_restart().await;
    check(&server, &ann, id, image["id"].as_i64().expect("id"), &plain).await;
    let more = upload(&server, &ann, "新.bin", b"sealed under K2").await;
    let got = server
        .get(&format!("/v1/files/{}/content", more["id"]), Some(&ann))
        .await
        .bytes()
        .await
        .expect("new");
    assert_eq!(got.as_ref(), b"sealed under K2");
}

on_both_backends!(content_is_sealed_and_the_key_rotates);

#[test]
fn a_bad_key_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let output = parley_command()
        .arg("serve")
        .env("PARLEY_HTTP_LISTEN", "127.0.0.1:0")
        .env("PARLEY_RTC_UDP_BIND", "127.0.0.1:0")
        .env("PARLEY_SERVER_DATA_DIR", dir.path().join("data"))
        .env("PARLEY_FILES_ENCRYPTION_KEY", "not-a-key")
        .current_dir(dir.path())
        .output()
        .expect("run parley");
    assert!(!output.status.success(), "parley should refuse to start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("files.encryption_key"), "{stderr}");
}

/// The server is killed while it seals a completed upload into the store: after a restart the
/// upload is either a whole file with the right bytes or gone without a trace, never half.
async fn a_crash_while_storing_leaves_nothing_half_written(backend: Backend) {
    let mut server =
        Server::start_with(ServerOptions::backend(backend).env("PARLEY_FILES_ENCRYPTION_KEY", K1))
            .await;
    let admin = server.admin_token().await;
    let (_, ann) = server.user_with_role(&admin, "member", None).await;
    let bytes = noise(48 * 1024 * 1024);
    let created = server
        .request(Method::POST, "/v1/uploads", Some(&ann))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header("Upload-Metadata", "filename YmlnLmJpbg==")
        .send()
        .await
        .expect("create");
    let upload = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    // The whole body goes, and the server starts storing it; it dies as soon as the database
    // says every byte arrived.
    let server_url = server.url.clone();
    let (path, token, body) = (upload.clone(), ann.clone(), bytes.clone());
    let sending = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .patch(format!("{server_url}{path}"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await;
    });
    let pool = parley_tests::database_pool(&server.database_url).await;
    let arrived = eventually(600, Duration::from_millis(20), || async {
        let received: i64 = sqlx::query_scalar("SELECT received FROM uploads")
            .fetch_one(&pool)
            .await
            .ok()?;
        (received == bytes.len() as i64).then_some(())
    })
    .await;
    assert!(arrived.is_some(), "the body arrived");
    server.kill_and_restart().await;
    let _ = sending.await;
    let store = ObjectStorage::open(&ObjectStoreConfig::Local {
        path: server.dir.path().join("data/objects"),
    })
    .expect("store");
    // At start the server finishes what it can and clears what it cannot.
    let settled = eventually(300, Duration::from_millis(100), || async {
        let head = server
            .request(Method::HEAD, &upload, Some(&ann))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .ok()?;
        if head.status() == 404 {
            return Some(None);
        }
        let file = head
            .headers()
            .get("parley-file-id")?
            .to_str()
            .ok()?
            .to_string();
        Some(Some(file))
    })
    .await
    .expect("the upload settles");
    let staging = std::fs::read_dir(server.dir.path().join("data/uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staging, 0, "nothing is left in staging");
    let listed: Value = expect_json(server.get("/v1/files", Some(&ann)).await, 200).await;
    match settled {
        Some(file) => {
            let got = server
                .get(&format!("/v1/files/{file}/content"), Some(&ann))
                .await
                .bytes()
                .await
                .expect("download");
            assert!(
                got.as_ref() == bytes.as_slice(),
                "the finished file is whole"
            );
            assert_eq!(listed["files"].as_array().map(Vec::len), Some(1));
        }
        None => {
            assert_eq!(
                listed["files"],
                serde_json::json!([]),
                "nothing half-written is visible"
            );
            let objects = store.list("files/").await.expect("list");
            assert!(objects.is_empty(), "no object is left behind: {objects:?}");
        }
    }
}

on_both_backends!(a_crash_while_storing_leaves_nothing_half_written);
