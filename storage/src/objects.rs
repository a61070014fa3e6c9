//! Object storage for recordings and other large files: a local folder by default, any
//! S3-compatible service by configuration. Writers upload in parts as they go, so a crash loses
//! at most the part being filled.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use std::ops::Range;
use std::sync::Arc;
use thiserror::Error;

/// Parts of this size are uploaded as soon as they fill (S3's minimum part is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreConfig {
    /// Files under this folder (created if missing).
    Local {
        path: std::path::PathBuf,
    },
    S3(S3Config),
}

#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// Empty for AWS itself; the service's URL otherwise (`http://127.0.0.1:9000`).
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints, for servers on the local network.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum ObjectError {
    #[error("object key `{key}` is not valid: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("object `{0}` not found")]
    NotFound(String),
    #[error("object store unavailable")]
    Store(#[source] object_store::Error),
    /// Sealed content that does not open (changed, cut short, or another key).
    #[error("stored content does not open: {0}")]
    Sealed(String),
    #[error("cannot read or move the file {path}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the object folder {path}")]
    Folder {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<object_store::Error> for ObjectError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { path, .. } => ObjectError::NotFound(path),
            other => ObjectError::Store(other),
        }
    }
}

/// A handle to the configured object store; cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The folder of a local store: a finished file on the same disk moves in by rename.
    local_root: Option<std::path::PathBuf>,
}

/// One stored object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// One stored object with when it was last written (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub modified_ms: i64,
}

/// An object's bytes as they arrive.
pub type ObjectStream = futures::stream::BoxStream<'static, Result<Bytes, ObjectError>>;

fn key(key: &str) -> Result<Path, ObjectError> {
    Path::parse(key).map_err(|e| ObjectError::InvalidKey {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

impl ObjectStorage {
    pub fn open(config: &ObjectStoreConfig) -> Result<ObjectStorage, ObjectError> {
        match config {
            ObjectStoreConfig::Local { path } => {
                std::fs::create_dir_all(path).map_err(|source| ObjectError::Folder {
                    path: path.clone(),
                    source,
                })?;
                let store = LocalFileSystem::new_with_prefix(path)?.with_automatic_cleanup(true);
                Ok(ObjectStorage {
                    store: Arc::new(store),
                    description: format!("local folder {}", path.display()),
                    local_root: Some(path.clone()),
                })
            }
            ObjectStoreConfig::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if !s3.endpoint.is_empty() {
                    // Self-hosted services address buckets by path, not by virtual host.
                    builder = builder
                        .with_endpoint(&s3.endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                if !s3.access_key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(&s3.access_key_id)
                        .with_secret_access_key(&s3.secret_access_key);
                }
                Ok(ObjectStorage {
                    store: Arc::new(builder.build()?),
                    description: format!("s3 bucket {} at {}", s3.bucket, s3.endpoint),
                    local_root: None,
                })
            }
        }
    }

    /// Is this a folder on this machine (where a finished file moves in by rename)?
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// Where objects go, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Is the store answering? A missing object counts as an answer.
    pub async fn check(&self) -> Result<(), ObjectError> {
        match self.store.head(&Path::from("parley/.ready")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ObjectError::Store(e)),
        }
    }

    pub async fn put(&self, name: &str, data: Bytes) -> Result<(), ObjectError> {
        self.store.put(&key(name)?, PutPayload::from(data)).await?;
        Ok(())
    }

    pub async fn get(&self, name: &str) -> Result<Bytes, ObjectError> {
        Ok(self.store.get(&key(name)?).await?.bytes().await?)
    }

    /// Bytes `range` of an object, for HTTP range requests.
    pub async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes, ObjectError> {
        Ok(self.store.get_range(&key(name)?, range).await?)
    }

    pub async fn size(&self, name: &str) -> Result<u64, ObjectError> {
        Ok(self.store.head(&key(name)?).await?.size)
    }

    /// Remove an object; one that is not there is already removed.
    pub async fn delete(&self, name: &str) -> Result<(), ObjectError> {
        match self.store.delete(&key(name)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object under `prefix`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let prefix = key(prefix)?;
        let mut found: Vec<ObjectInfo> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
            })
            .try_collect()
            .await?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    /// Every object (under `prefix`, if given) with its size and time, sorted by key.
    pub async fn list_meta(&self, prefix: Option<&str>) -> Result<Vec<ObjectMeta>, ObjectError> {
        let prefix = prefix.map(key).transpose()?;
        let mut found: Vec<ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .map_ok(|meta| ObjectMeta {
                key: meta.location.to_string(),
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            })
            .try_collect()
            .await?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    /// The names one level below `prefix` (or the top), as folders: `a/b/c` under `a` is `b`.
    pub async fn folders(&self, prefix: Option<&str>) -> Result<Vec<String>, ObjectError> {
        let prefix = prefix.map(key).transpose()?;
        let listing = self.store.list_with_delimiter(prefix.as_ref()).await?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Bytes `range` of an object as a stream of chunks, without holding them in memory.
    pub async fn stream_range(
        &self,
        name: &str,
        range: Range<u64>,
    ) -> Result<ObjectStream, ObjectError> {
        let options = object_store::GetOptions {
            range: Some(range.into()),
            ..Default::default()
        };
        let found = self.store.get_opts(&key(name)?, options).await?;
        Ok(Box::pin(found.into_stream().map_err(ObjectError::from)))
    }

    /// Store the finished file at `path` as `name`, leaving `path` as it is: on a local store
    /// on the same disk the object is a second link to the same bytes (no copy); otherwise
    /// the bytes are streamed up in parts.
    pub async fn copy_file(&self, path: &std::path::Path, name: &str) -> Result<(), ObjectError> {
        let location = key(name)?;
        if let Some(root) = &self.local_root {
            let target = root.join(location.as_ref());
            let io = |source| ObjectError::File {
                path: target.clone(),
                source,
            };
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io)?;
            }
            // A link left by an attempt that stopped half way is replaced.
            let _ = tokio::fs::remove_file(&target).await;
            match tokio::fs::hard_link(path, &target).await {
                Ok(()) => return Ok(()),
                // Another disk: copy through the store like any other.
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {}
                Err(e) => return Err(io(e)),
            }
        }
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|source| ObjectError::File {
                path: path.to_path_buf(),
                source,
            })?;
        let empty = file.metadata().await.map(|m| m.len() == 0).unwrap_or(false);
        if empty {
            // A multipart upload needs at least one part.
            return self.put(name, Bytes::new()).await;
        }
        let mut writer = self.writer(name).await?;
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            let n = match tokio::io::AsyncReadExt::read(&mut file, &mut buffer).await {
                Ok(n) => n,
                Err(source) => {
                    let _ = writer.abort().await;
                    return Err(ObjectError::File {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.write(&buffer[..n]).await {
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        writer.finish().await
    }

    /// Make a written object durable: on a local folder its file is synced to disk (the
    /// folder's own writes are not); an S3 store has it durable once written.
    pub async fn sync(&self, name: &str) -> Result<(), ObjectError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(key(name)?.as_ref());
        let io = |source| ObjectError::File {
            path: path.clone(),
            source,
        };
        let file = tokio::fs::File::open(&path).await.map_err(io)?;
        file.sync_all().await.map_err(io)
    }

    /// Read an object as a stream of chunks, without holding it whole in memory.
    pub async fn stream(&self, name: &str) -> Result<ObjectStream, ObjectError> {
        let found = self.store.get(&key(name)?).await?;
        Ok(Box::pin(found.into_stream().map_err(ObjectError::from)))
    }

    pub async fn exists(&self, name: &str) -> Result<bool, ObjectError> {
        match self.store.head(&key(name)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ObjectError::Store(e)),
        }
    }

    /// Move an object to another key (an atomic rename on a local folder).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), ObjectError> {
        self.store.rename(&key(from)?, &key(to)?).await?;
        Ok(())
    }

    /// Start a streaming upload: parts go out as they fill; `finish` completes the object.
    pub async fn writer(&self, name: &str) -> Result<ObjectWriter, ObjectError> {
        let upload = self.store.put_multipart(&key(name)?).await?;
        Ok(ObjectWriter {
            inner: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
        })
    }
}

/// An object being written in parts.
pub struct ObjectWriter {
    inner: WriteMultipart,
}

impl ObjectWriter {
    /// Buffer `data`; a full part starts uploading in the background. Waits when too many parts
    /// are in flight, so a slow store slows the writer rather than growing memory.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ObjectError> {
        self.inner.wait_for_capacity(4).await?;
        self.inner.write(data);
        Ok(())
    }

    pub async fn finish(self) -> Result<(), ObjectError> {
        self.inner.finish().await?;
        Ok(())
    }

    /// Give up: the parts uploaded so far are discarded.
    pub async fn abort(self) -> Result<(), ObjectError> {
        self.inner.abort().await?;
        Ok(())
    }
}
