//! `parley-recorder`: takes recording jobs from a Parley server and records them. Run any
//! number of them, on any machines that reach the server and the object store: each job is
//! taken by one, and a job whose recorder dies is taken over by another within seconds.

use anyhow::Context;
use clap::Parser;
use parley_recorder::api::{ApiKey, JobApi};
use parley_recorder::job::{self, JobConfig};
use parley_storage::{ObjectStorage, ObjectStoreConfig, S3Config};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Every option can also be set in the environment (`PARLEY_RECORDER_SERVER`, ...).
#[derive(Debug, Parser)]
#[command(
    name = "parley-recorder",
    version,
    about = "Records Parley meetings into the object store"
)]
struct Args {
    /// The Parley server's base URL.
    #[arg(
        long,
        env = "PARLEY_RECORDER_SERVER",
        default_value = "http://127.0.0.1:7880"
    )]
    server: String,
    /// An API key of the server (`POST /v1/admin/api-keys`); the recorder signs its own
    /// tokens with it, with the recorder grant.
    #[arg(long, env = "PARLEY_RECORDER_API_KEY")]
    api_key: String,
    #[arg(long, env = "PARLEY_RECORDER_API_SECRET", hide_env_values = true)]
    api_secret: String,
    /// This recorder's name among recorders; default: host name and process id.
    #[arg(long, env = "PARLEY_RECORDER_NAME")]
    name: Option<String>,
    /// The local address media is received on.
    #[arg(long, env = "PARLEY_RECORDER_BIND_IP", default_value = "127.0.0.1")]
    bind_ip: IpAddr,
    /// At most this many meetings at once.
    #[arg(long, env = "PARLEY_RECORDER_MAX_JOBS", default_value_t = 4)]
    max_jobs: usize,
    /// Completed pages and clusters (each at most 0.5 s of media) are uploaded this often
    /// (at least 100): a crash loses at most this, plus the open page or cluster.
    #[arg(long, env = "PARLEY_RECORDER_FLUSH_MS", default_value_t = 250)]
    flush_ms: u64,
    /// The object store: a local folder (the server's `object_store.path`) ...
    #[arg(
        long,
        env = "PARLEY_RECORDER_OBJECTS_PATH",
        conflicts_with = "s3_bucket"
    )]
    objects_path: Option<PathBuf>,
    /// ... or an S3-compatible bucket (the server's `object_store` settings).
    #[arg(long, env = "PARLEY_RECORDER_S3_BUCKET")]
    s3_bucket: Option<String>,
    #[arg(long, env = "PARLEY_RECORDER_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "PARLEY_RECORDER_S3_ENDPOINT", default_value = "")]
    s3_endpoint: String,
    #[arg(long, env = "PARLEY_RECORDER_S3_ACCESS_KEY_ID", default_value = "")]
    s3_access_key_id: String,
    #[arg(
        long,
        env = "PARLEY_RECORDER_S3_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    s3_secret_access_key: String,
    #[arg(long, env = "PARLEY_RECORDER_S3_ALLOW_HTTP")]
    s3_allow_http: bool,
}

impl Args {
    fn objects(&self) -> anyhow::Result<ObjectStoreConfig> {
        match (&self.objects_path, &self.s3_bucket) {
            (Some(path), None) => Ok(ObjectStoreConfig::Local { path: path.clone() }),
            (None, Some(bucket)) => Ok(ObjectStoreConfig::S3(S3Config {
                bucket: bucket.clone(),
                region: self.s3_region.clone(),
                endpoint: self.s3_endpoint.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
            })),
            _ => anyhow::bail!(
                "say where recordings go: --objects-path DIR (the server's local object folder) or --s3-bucket NAME"
            ),
        }
    }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "recorder".into());
    format!("{host}-{}", std::process::id())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,str0m=warn".into()),
        )
        .init();
    if let Err(err) = run(Args::parse()).await {
        eprintln!("parley-recorder: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let store = ObjectStorage::open(&args.objects()?).context("opening the object store")?;
    store
        .check()
        .await
        .context("the object store does not answer")?;
    let name = args.name.clone().unwrap_or_else(default_name);
    let api = Arc::new(JobApi::new(
        &args.server,
        ApiKey {
            key: args.api_key.clone(),
            secret: args.api_secret.clone(),
        },
        name.clone(),
    ));
    let config = Arc::new(JobConfig {
        bind_ip: args.bind_ip,
        flush_every: Duration::from_millis(args.flush_ms.max(100)),
        // Late packets are waited for this long before their moment is mixed; the recorder
        // sits beside the SFU, where jitter is a few milliseconds.
        mix_delay: Duration::from_millis(250),
    });
    tracing::info!(%name, server = %args.server, objects = store.describe(), "waiting for recording jobs");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_jobs.max(1)));
    loop {
        let slot = slots.clone().acquire_owned().await.context("job slots")?;
        tokio::select! {
            claimed = api.claim(Duration::from_secs(20)) => match claimed {
                Ok(Some(claimed)) => {
                    let (api, store, config) = (api.clone(), store.clone(), config.clone());
                    tokio::spawn(async move {
                        let id = claimed.job.id;
                        if let Err(err) = job::run(&api, &store, claimed, &config).await {
                            tracing::error!(job = %id, error = %format!("{err:#}"), "recording failed");
                        }
                        drop(slot);
                    });
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot take jobs; trying again");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            },
            _ = async { tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} } } => {
                tracing::info!("stopping; jobs in progress will be taken over by another recorder");
                return Ok(());
            }
        }
    }
}
