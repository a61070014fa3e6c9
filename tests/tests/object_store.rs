//! Object storage through the storage crate, against a local folder and a real S3-compatible
//! server (moto), and the server's readiness when the object store goes away.

use bytes::Bytes;
use parley_storage::{ObjectError, ObjectStorage, ObjectStoreConfig};
use parley_tests::{expect_json, Backend, S3Server, Server, ServerOptions};
use serde_json::Value;

/// The same behaviour from either store.
async fn exercise(store: &ObjectStorage) {
    store.check().await.expect("store answers");
    store
        .put(
            "meetings/1/notes.txt",
            Bytes::from_static("会议纪要".as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get("meetings/1/notes.txt").await.unwrap(),
        Bytes::from_static("会议纪要".as_bytes())
    );
    assert_eq!(store.size("meetings/1/notes.txt").await.unwrap(), 12);
    assert_eq!(
        store.get_range("meetings/1/notes.txt", 3..6).await.unwrap(),
        Bytes::from_static("议".as_bytes())
    );

    // A recording-sized object written in parts as it grows: 12 MiB in 1 MiB writes.
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut writer = store.writer("meetings/1/audio.ogg").await.unwrap();
    for _ in 0..12 {
        writer.write(&chunk).await.unwrap();
    }
    writer.finish().await.unwrap();
    assert_eq!(
        store.size("meetings/1/audio.ogg").await.unwrap(),
        12 * 1024 * 1024
    );
    let tail = store
        .get_range(
            "meetings/1/audio.ogg",
            (12 * 1024 * 1024 - 10)..(12 * 1024 * 1024),
        )
        .await
        .unwrap();
    assert_eq!(&tail[..], &chunk[chunk.len() - 10..]);

    // An abandoned upload leaves no object behind.
    let mut aborted = store.writer("meetings/1/broken.webm").await.unwrap();
    aborted.write(&chunk).await.unwrap();
    aborted.abort().await.unwrap();
    assert!(matches!(
        store.size("meetings/1/broken.webm").await,
        Err(ObjectError::NotFound(_))
    ));

    let listed = store.list("meetings/1").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["meetings/1/audio.ogg", "meetings/1/notes.txt"]);
    store.delete("meetings/1/notes.txt").await.unwrap();
    assert!(matches!(
        store.get("meetings/1/notes.txt").await,
        Err(ObjectError::NotFound(_))
    ));
    assert!(matches!(
        store.get("../escape").await,
        Err(ObjectError::InvalidKey { .. })
    ));
}

#[tokio::test]
async fn local_folder_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStorage::open(&ObjectStoreConfig::Local {
        path: dir.path().join("objects"),
    })
    .unwrap();
    exercise(&store).await;
}

#[tokio::test]
async fn s3_compatible_store() {
    let s3 = S3Server::start().await;
    let store = ObjectStorage::open(&ObjectStoreConfig::S3(s3.config())).unwrap();
    exercise(&store).await;
}

#[tokio::test]
async fn server_on_s3_reports_the_store_in_readiness() {
    let mut s3 = S3Server::start().await;
    let server = Server::start_with(ServerOptions::backend(Backend::Sqlite).s3(&s3)).await;
    let ready: Value = expect_json(server.get("/readyz", None).await, 200).await;
    assert_eq!(ready["checks"]["object_store"], "ok", "{ready}");
    assert!(
        server.log().contains("s3 bucket parley-test"),
        "{}",
        server.log()
    );

    s3.stop();
    let ready: Value = expect_json(server.get("/readyz", None).await, 503).await;
    assert!(
        ready["checks"]["object_store"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{ready}"
    );
    assert_eq!(ready["checks"]["database"], "ok");
}
