//! The recorder's side of the public API: it signs its own tokens with its API key (as any app
//! does, with the `recorder` grant) and drives the recording job queue over REST.

use parley_proto::{
    AppClaims, ClaimJob, ClaimedJob, FinishJob, Grants, JobHeartbeat, JobHeartbeatReply,
    NewRecordingFile, Recording, RecordingId, RecordingJob, RecordingJobId, RecordingProgress,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot reach the server at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server said no; `code` is its stable error code.
    #[error("{url} answered {status} {code}: {message}")]
    Refused {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    /// This recorder no longer holds the job (its lease ran out).
    #[error("the job was lost: {0}")]
    LostJob(String),
    #[error("cannot sign a token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The API key the recorder signs its tokens with.
#[derive(Clone)]
pub struct ApiKey {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &self.key)
            .field("secret", &"***")
            .finish()
    }
}

impl ApiKey {
    /// A token for `identity` with `grants`, valid `ttl`.
    pub fn token(&self, identity: &str, grants: Grants, ttl: Duration) -> Result<String, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = AppClaims {
            iss: self.key.clone(),
            sub: identity.to_string(),
            name: "Recorder".to_string(),
            exp: now + ttl.as_secs(),
            nbf: None,
            grants,
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .map_err(ApiError::Sign)
    }
}

/// A client of the job queue for one recorder process.
#[derive(Debug, Clone)]
pub struct JobApi {
    http: reqwest::Client,
    server: String,
    key: ApiKey,
    /// This recorder's name, unique among recorders.
    pub name: String,
}

impl JobApi {
    pub fn new(server: &str, key: ApiKey, name: String) -> JobApi {
        JobApi {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(45))
                .build()
                .unwrap_or_default(),
            server: server.trim_end_matches('/').to_string(),
            key,
            name,
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    fn queue_token(&self) -> Result<String, ApiError> {
        let grants = Grants {
            recorder: true,
            ..Grants::default()
        };
        self.key.token(
            &format!("recorder-{}", self.name),
            grants,
            Duration::from_secs(300),
        )
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<Option<T>, ApiError> {
        let url = format!("{}{path}", self.server);
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(self.queue_token()?)
            .json(body)
            .send()
            .await
            .map_err(|source| ApiError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok(None);
        }
        let text = response
            .text()
            .await
            .map_err(|source| ApiError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ApiError::Refused {
                    url,
                    status,
                    code: "unreadable".into(),
                    message: e.to_string(),
                });
        }
        let error: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let code = error["error"]["code"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        let message = error["error"]["message"]
            .as_str()
            .unwrap_or(&text)
            .to_string();
        if status == 409 {
            return Err(ApiError::LostJob(message));
        }
        Err(ApiError::Refused {
            url,
            status,
            code,
            message,
        })
    }

    /// The next job, waiting up to `wait` for one.
    pub async fn claim(&self, wait: Duration) -> Result<Option<ClaimedJob>, ApiError> {
        self.call(
            reqwest::Method::POST,
            "/v1/recording-jobs/claim",
            &ClaimJob {
                recorder: self.name.clone(),
                wait_secs: wait.as_secs(),
            },
        )
        .await
    }

    /// Keep the lease; `Ok(true)` asks the recorder to stop.
    pub async fn heartbeat(&self, job: RecordingJobId) -> Result<bool, ApiError> {
        let reply: Option<JobHeartbeatReply> = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/recording-jobs/{job}/heartbeat"),
                &JobHeartbeat {
                    recorder: self.name.clone(),
                },
            )
            .await?;
        Ok(reply.is_some_and(|r| r.stop))
    }

    pub async fn add_file(
        &self,
        job: RecordingJobId,
        file: &NewRecordingFile,
    ) -> Result<Recording, ApiError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/recording-jobs/{job}/files"),
            file,
        )
        .await?
        .ok_or_else(|| ApiError::LostJob("no file came back".into()))
    }

    pub async fn progress(
        &self,
        job: RecordingJobId,
        file: RecordingId,
        progress: &RecordingProgress,
    ) -> Result<(), ApiError> {
        let _: Option<Recording> = self
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/recording-jobs/{job}/files/{file}"),
                progress,
            )
            .await?;
        Ok(())
    }

    pub async fn finish(
        &self,
        job: RecordingJobId,
        failure: Option<String>,
    ) -> Result<Option<RecordingJob>, ApiError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/recording-jobs/{job}/finish"),
            &FinishJob {
                recorder: self.name.clone(),
                failure,
            },
        )
        .await
    }
}
