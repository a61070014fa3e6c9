//! The floor a file upload and download are measured against: the same bytes written straight
//! through Parley's object store (the same `ObjectStorage`, part size and parts in flight, and
//! synced to disk on a local folder, as the server does before it records a file) and read
//! back, with no HTTP and no database. `scripts/bench-files` runs it beside the server.
//!
//! `object_floor FILE local DIR` or `object_floor FILE s3 ENDPOINT BUCKET`; prints one JSON line
//! with the seconds each way.

use futures::StreamExt;
use parley_storage::{ObjectStorage, ObjectStoreConfig, S3Config};
use std::time::Instant;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: object_floor FILE local DIR | object_floor FILE s3 ENDPOINT BUCKET";
    let (file, config) = match args.as_slice() {
        [file, kind, dir] if kind == "local" => {
            (file, ObjectStoreConfig::Local { path: dir.into() })
        }
        [file, kind, endpoint, bucket] if kind == "s3" => (
            file,
            ObjectStoreConfig::S3(S3Config {
                bucket: bucket.clone(),
                region: "us-east-1".into(),
                endpoint: endpoint.clone(),
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
                allow_http: true,
            }),
        ),
        _ => anyhow::bail!(usage),
    };
    let store = ObjectStorage::open(&config)?;
    let key = "floor/object";
    let started = Instant::now();
    let mut source = tokio::fs::File::open(file).await?;
    let mut writer = store.writer(key).await?;
    let mut buffer = vec![0u8; 1024 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = source.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        writer.write(&buffer[..n]).await?;
        bytes += n as u64;
    }
    writer.finish().await?;
    // Durable, as the server has an upload before it records it (a no-op on S3).
    store.sync(key).await?;
    let write_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // The same call a download makes.
    let mut stream = store.stream_range(key, 0..bytes).await?;
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        read += chunk?.len() as u64;
    }
    let read_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(read == bytes, "read {read} bytes back of {bytes}");
    store.delete(key).await?;
    let report = format!(
        "{{\"bytes\":{bytes},\"write_secs\":{write_secs:.3},\"read_secs\":{read_secs:.3}}}"
    );
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        format!("{report}\n").as_bytes(),
    )?;
    Ok(())
}
