//! Moving a file's bytes between object stores for backups: streamed, hashed on the way (as
//! they are, and as they are stored), sealed into an encrypted backup or opened out of one.

use crate::backup::{BackupError, Stored};
use crate::crypt::{BackupKey, Opener};
use crate::dump::hex;
use crate::{ObjectStorage, ObjectStream};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// What happens to the bytes between the two stores.
#[derive(Clone, Copy)]
pub(crate) enum Transform<'k> {
    Copy,
    /// Into an encrypted backup.
    Seal(&'k BackupKey),
    /// Out of an encrypted backup.
    Open(&'k BackupKey),
}

/// A file read chunk by chunk: its content (opened, if sealed) and the digest of the bytes as
/// stored.
pub(crate) struct Reader {
    stream: ObjectStream,
    opener: Option<Opener>,
    stored: Sha256,
    stored_size: u64,
    ended: bool,
}

impl Reader {
    pub(crate) async fn new(
        store: &ObjectStorage,
        key: &str,
        open: Option<&BackupKey>,
    ) -> Result<Reader, BackupError> {
        Ok(Reader {
            stream: store.stream(key).await?,
            opener: open.map(BackupKey::opener),
            stored: Sha256::new(),
            stored_size: 0,
            ended: false,
        })
    }

    /// The next piece of the content; `None` at its end.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, BackupError> {
        while !self.ended {
            match self.stream.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    self.stored.update(&chunk);
                    self.stored_size += chunk.len() as u64;
                    match &mut self.opener {
                        None => return Ok(Some(chunk)),
                        Some(opener) => {
                            let plain = opener.push(&chunk)?;
                            if !plain.is_empty() {
                                return Ok(Some(plain.into()));
                            }
                        }
                    }
                }
                None => {
                    self.ended = true;
                    if let Some(opener) = self.opener.take() {
                        return Ok(Some(opener.finish()?.into()));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The bytes as stored, once the whole file is read.
    pub(crate) fn stored(self) -> Stored {
        Stored {
            size: self.stored_size,
            sha256: hex(&self.stored.finalize()),
        }
    }
}

/// A file's content and the bytes written for it.
pub(crate) struct Copied {
    pub content: Stored,
    pub written: Stored,
}

/// Read `key` of `store` whole: its content's digest and the stored bytes'.
pub(crate) async fn hash_object(
    store: &ObjectStorage,
    key: &str,
    open: Option<&BackupKey>,
) -> Result<Copied, BackupError> {
    let mut reader = Reader::new(store, key, open).await?;
    let mut content = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = reader.next().await? {
        size += chunk.len() as u64;
        content.update(&chunk);
    }
    Ok(Copied {
        content: Stored {
            size,
            sha256: hex(&content.finalize()),
        },
        written: reader.stored(),
    })
}

/// Copy `from` in `source` to `to` in `target` through `transform`, hashing on the way. With
/// `expected` (the content's SHA-256, or its content id when opened), content that hashes to
/// anything else is discarded. A failed copy is aborted (an
/// unfinished multipart upload would stay in an S3 bucket, unlisted).
pub(crate) async fn copy_object(
    source: &ObjectStorage,
    from: &str,
    target: &ObjectStorage,
    to: &str,
    transform: Transform<'_>,
    expected: Option<&str>,
) -> Result<Copied, BackupError> {
    let open = match transform {
        Transform::Open(key) => Some(key),
        _ => None,
    };
    let mut sealer = match transform {
        Transform::Seal(key) => Some(key.sealer()?),
        _ => None,
    };
    let mut reader = Reader::new(source, from, open).await?;
    let mut writer = target.writer(to).await?;
    let (mut content, mut size) = (Sha256::new(), 0u64);
    let (mut written, mut written_size) = (Sha256::new(), 0u64);
    let copied: Result<(), BackupError> = async {
        while let Some(chunk) = reader.next().await? {
            content.update(&chunk);
            size += chunk.len() as u64;
            let out = match &mut sealer {
                Some(sealer) => Bytes::from(sealer.push(&chunk)),
                None => chunk,
            };
            written.update(&out);
            written_size += out.len() as u64;
            writer.write(&out).await?;
        }
        if let Some(sealer) = sealer.take() {
            let out = sealer.finish();
            written.update(&out);
            written_size += out.len() as u64;
            writer.write(&out).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = copied {
        writer.abort().await.ok();
        return Err(e);
    }
    let sha = hex(&content.finalize());
    let id = match transform {
        Transform::Open(key) => key.content_id(&sha),
        _ => sha.clone(),
    };
    if let Some(expected) = expected.filter(|e| *e != id) {
        writer.abort().await.ok();
        return Err(BackupError::Damaged(format!(
            "{from} does not hash to {expected}"
        )));
    }
    writer.finish().await?;
    Ok(Copied {
        content: Stored { size, sha256: sha },
        written: Stored {
            size: written_size,
            sha256: hex(&written.finalize()),
        },
    })
}
