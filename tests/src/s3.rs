use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An S3-compatible server (moto's, from PyPI) on a port of its own, with one bucket.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let port = crate::free_port();
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect(
                "start moto_server (pip install 'moto[server]'; scripts/install-test-deps does)",
            );
        // moto (werkzeug) says "Running on http://127.0.0.1:PORT" on stderr once it listens.
        let stderr = child.stderr.take().expect("moto stderr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Running on") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .expect("moto_server did not start within 60 s");
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = "parley-test".to_string();
        let started = Instant::now();
        let response = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("create bucket");
        assert!(
            response.status().is_success(),
            "create bucket: {} after {:?}",
            response.status(),
            started.elapsed()
        );
        S3Server {
            endpoint,
            bucket,
            child,
        }
    }

    /// Stop the server (a dependency that went away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `PARLEY_OBJECT_STORE_*` settings that point a server or a command at this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PARLEY_OBJECT_STORE_KIND", "s3"),
            ("PARLEY_OBJECT_STORE_BUCKET", self.bucket.as_str()),
            ("PARLEY_OBJECT_STORE_ENDPOINT", self.endpoint.as_str()),
            ("PARLEY_OBJECT_STORE_ACCESS_KEY_ID", "testing"),
            ("PARLEY_OBJECT_STORE_SECRET_ACCESS_KEY", "testing"),
            ("PARLEY_OBJECT_STORE_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn config(&self) -> parley_storage::S3Config {
        parley_storage::S3Config {
            bucket: self.bucket.clone(),
            region: "us-east-1".into(),
            endpoint: self.endpoint.clone(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            allow_http: true,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
