//! Content sealed at rest (`[files] encryption_key`): the keys, writing a staging file into
//! the store sealed chunk by chunk, reading any plaintext range back by opening only the chunks
//! it spans, and rewrapping data keys after the master key is rotated.

use crate::error::{AppError, AppResult};
use crate::AppState;
use bytes::Bytes;
use futures::StreamExt;
use parley_files::{DataKey, FilesConfig, MasterKey, Sealer, Stream, SEALED_CHUNK};
use parley_storage::{ObjectError, ObjectStorage, ObjectStream};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The master key new content is sealed with, and those it was sealed with before.
#[derive(Debug)]
pub struct Keys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keys {
    /// `None` when encryption at rest is off.
    pub fn from_config(config: &FilesConfig) -> anyhow::Result<Option<Keys>> {
        if config.encryption_key.trim().is_empty() {
            anyhow::ensure!(
                config.previous_encryption_keys.is_empty(),
                "files.previous_encryption_keys needs files.encryption_key"
            );
            return Ok(None);
        }
        let parse = |text: &str, what: &str| {
            MasterKey::from_hex(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
        };
        let current = parse(&config.encryption_key, "files.encryption_key")?;
        let previous = config
            .previous_encryption_keys
            .iter()
            .map(|k| parse(k, "files.previous_encryption_keys"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(Keys { current, previous }))
    }

    /// A new content's own key, and that key wrapped for the database.
    pub fn new_data_key(&self) -> (DataKey, (String, String)) {
        let data = DataKey::random();
        let wrapped = self.current.wrap(&data);
        (data, (wrapped, self.current.id.clone()))
    }

    fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.id == id)
    }

    pub fn knows(&self, id: &str) -> bool {
        self.by_id(id).is_some()
    }

    pub fn unwrap(&self, wrapped: &str, key_id: &str) -> AppResult<DataKey> {
        let key = self.by_id(key_id).ok_or_else(|| {
            tracing::error!(key_id, "content is sealed with a key that is not configured");
            AppError::internal(&std::io::Error::other(format!(
                "content sealed with key {key_id}, which is neither files.encryption_key nor one of files.previous_encryption_keys"
            )))
        })?;
        key.unwrap(wrapped).map_err(|e| AppError::internal(&e))
    }
}

/// The data key of sealed content, if it is sealed.
pub fn data_key(state: &AppState, sealed: Option<&(String, String)>) -> AppResult<Option<DataKey>> {
    let Some((wrapped, key_id)) = sealed else {
        return Ok(None);
    };
    let keys = state.uploads.keys.as_ref().ok_or_else(|| {
        AppError::internal(&std::io::Error::other(
            "content is sealed but files.encryption_key is not set",
        ))
    })?;
    keys.unwrap(wrapped, key_id).map(Some)
}

/// Write the file at `path` into the store as `name`, sealed under `data_key`; the file stays.
pub async fn put_sealed(
    objects: &ObjectStorage,
    path: &Path,
    name: &str,
    data_key: &DataKey,
) -> Result<(), ObjectError> {
    let io = |source| ObjectError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut sealer = Sealer::new(data_key, Stream::Content);
    let mut writer = objects.writer(name).await?;
    let mut buffer = vec![0u8; 1024 * 1024];
    let written: Result<(), ObjectError> = async {
        loop {
            let n = file.read(&mut buffer).await.map_err(io)?;
            if n == 0 {
                break;
            }
            writer.write(&sealer.push(&buffer[..n])).await?;
        }
        writer.write(&sealer.finish()).await
    }
    .await;
    match written {
        Ok(()) => writer.finish().await,
        Err(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// Plaintext `range` of sealed content of `plain` bytes, opened chunk by chunk as the sealed
/// bytes arrive (one chunk in memory at a time).
pub async fn open_range(
    objects: &ObjectStorage,
    name: &str,
    data_key: DataKey,
    plain: u64,
    range: std::ops::Range<u64>,
) -> Result<ObjectStream, ObjectError> {
    let (first, sealed, skip) = parley_files::sealed_range(range.clone(), plain);
    let total_chunks = parley_files::sealed_len(plain).div_ceil(SEALED_CHUNK as u64);
    let source = objects.stream_range(name, sealed).await?;
    let wanted = range.end - range.start;
    struct Opening {
        source: ObjectStream,
        pending: Vec<u8>,
        index: u64,
        skip: usize,
        left: u64,
        done: bool,
    }
    let state = Opening {
        source,
        pending: Vec::with_capacity(SEALED_CHUNK),
        index: first,
        skip,
        left: wanted,
        done: false,
    };
    let stream = futures::stream::unfold(state, move |mut s| {
        let data_key = data_key.clone();
        async move {
            if s.done || s.left == 0 {
                return None;
            }
            // Fill one whole sealed chunk (the last may be shorter).
            let last = s.index + 1 == total_chunks;
            loop {
                if s.pending.len() >= SEALED_CHUNK {
                    break;
                }
                match s.source.next().await {
                    Some(Ok(bytes)) => s.pending.extend_from_slice(&bytes),
                    Some(Err(e)) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                    None => break,
                }
            }
            let take = s.pending.len().min(SEALED_CHUNK);
            let mut chunk: Vec<u8> = s.pending.drain(..take).collect();
            let opened =
                parley_files::open_chunk(&data_key, Stream::Content, s.index, last, &mut chunk);
            let n = match opened {
                Ok(n) => n,
                Err(e) => {
                    s.done = true;
                    return Some((Err(ObjectError::Sealed(e.to_string())), s));
                }
            };
            let start = s.skip.min(n);
            let end = (start as u64 + s.left).min(n as u64) as usize;
            s.skip = 0;
            s.index += 1;
            s.left -= (end - start) as u64;
            Some((Ok(Bytes::copy_from_slice(&chunk[start..end])), s))
        }
    });
    Ok(Box::pin(stream))
}

/// After a rotation: rewrap every data key sealed under a previous key with the current one.
pub async fn rewrap_all(state: &AppState) -> anyhow::Result<u64> {
    let Some(keys) = state.uploads.keys.as_ref() else {
        return Ok(0);
    };
    for id in state.db.sealing_keys().await? {
        if !keys.knows(&id) {
            tracing::error!(
                key_id = %id,
                "some content is sealed with a key that is not configured: it cannot be read until files.previous_encryption_keys has it"
            );
        }
    }
    let mut done = 0;
    for old in &keys.previous {
        loop {
            let batch = state.db.keys_to_rewrap(&old.id, 500).await?;
            for (sha256, wrapped, _) in &batch {
                let data = old.unwrap(wrapped)?;
                state
                    .db
                    .rewrap(sha256, &keys.current.wrap(&data), &keys.current.id)
                    .await?;
                done += 1;
            }
            if batch.len() < 500 {
                break;
            }
        }
    }
    if done > 0 {
        tracing::info!(rewrapped = done, key_id = %keys.current.id, "content keys rewrapped under the current files.encryption_key");
    }
    Ok(done)
}
