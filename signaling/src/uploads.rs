//! Uploads in progress: their bytes go to a staging file as they arrive (never held whole in
//! memory), the file is synced before the database records how far it got, and a complete
//! upload is hashed, sniffed and moved into the object store (renamed, when the store is a
//! local folder on the same disk) before it becomes a file in one transaction.
//!
//! A plain upload (the whole file in one request, which cannot resume) to a remote or sealed
//! store is not staged: its bytes go through once, into the store, and only an image small
//! enough for thumbnails is also written to disk to make them.
//!
//! A restart finds every upload where the database left it: the staging file is cut back to
//! the bytes recorded, so a client resumes from there; an upload whose bytes all arrived but
//! which did not become a file is finished; staging files no upload owns are removed.

use crate::error::{AppError, AppResult};
use crate::AppState;
use axum::body::Body;
use futures::StreamExt;
use parley_files::FilesConfig;
use parley_proto::File;
use parley_storage::{now_ms, NewBlob, UploadRecord};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Writes to the staging file go out in pieces of this size.
const WRITE_BUFFER: usize = 1024 * 1024;
/// A long request records its progress every this many bytes, so a crash loses at most this
/// much of it.
const CHECKPOINT: i64 = 16 * 1024 * 1024;
/// How often abandoned uploads and the expired trash are cleared.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Uploads {
    pub config: FilesConfig,
    /// Encryption at rest, when `[files] encryption_key` is set.
    pub keys: Option<crate::sealed::Keys>,
    staging: PathBuf,
    /// The running hash of each upload received here, with the offset it covers, so finishing
    /// one does not read it again.
    hashes: Mutex<HashMap<String, (i64, Sha256)>>,
    /// Uploads a request is writing to right now: one writer per upload.
    busy: Mutex<HashSet<String>>,
    /// Uploads whose bytes went to the store as they arrived (one whole request), so
    /// finishing them moves nothing.
    in_store: Mutex<HashMap<String, Streamed>>,
    /// Thumbnails are made one at a time per core.
    thumbnailing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("staging", &self.staging)
            .finish_non_exhaustive()
    }
}

/// A content's own key, and that key wrapped for the database (with the master key's id).
type Sealing = (parley_files::DataKey, (String, String));

/// An upload whose bytes went to the store as they arrived.
#[derive(Clone)]
struct Streamed {
    /// The key its content was sealed with, when sealed.
    sealed: Option<Sealing>,
    /// Its first bytes, for sniffing, when nothing was staged on disk.
    head: Option<Vec<u8>>,
}

/// Holds an upload for one writer; released on drop.
pub struct Writing<'a> {
    uploads: &'a Uploads,
    id: String,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.uploads.busy.lock() {
            busy.remove(&self.id);
        }
    }
}

/// SHA-256 on a thread of its own, fed the bytes as they arrive, so hashing an upload overlaps
/// with receiving and writing it (on two cores, an upload's speed was the three in a row).
struct Hashing {
    feed: tokio::sync::mpsc::Sender<bytes::Bytes>,
    done: tokio::task::JoinHandle<Sha256>,
}

impl Hashing {
    /// Bytes waiting for the hasher at most; a slower hasher slows the upload.
    const QUEUE: usize = 16;

    fn start(mut hash: Sha256) -> Hashing {
        let (feed, mut bytes) = tokio::sync::mpsc::channel::<bytes::Bytes>(Self::QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(piece) = bytes.blocking_recv() {
                hash.update(&piece);
            }
            hash
        });
        Hashing { feed, done }
    }

    async fn update(&mut self, piece: bytes::Bytes) {
        // The hasher only stops when `finish` drops the feed.
        let _ = self.feed.send(piece).await;
    }

    /// The hash of everything fed; `None` if the hasher stopped.
    async fn finish(self) -> Option<Sha256> {
        drop(self.feed);
        self.done.await.ok()
    }
}

/// How a body's bytes ended.
pub enum Received {
    /// The body ended where the client meant it to.
    Whole(i64),
    /// The connection broke (or the body went past the length); the bytes up to here are kept.
    Cut(i64),
}

impl Uploads {
    pub fn open(config: FilesConfig, staging: PathBuf) -> anyhow::Result<Uploads> {
        std::fs::create_dir_all(&staging).map_err(|e| {
            anyhow::anyhow!("cannot create the upload folder {}: {e}", staging.display())
        })?;
        let keys = crate::sealed::Keys::from_config(&config)?;
        Ok(Uploads {
            keys,
            config,
            staging,
            hashes: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            in_store: Mutex::new(HashMap::new()),
            thumbnailing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.staging.join(id)
    }

    /// When an upload touched now expires.
    pub fn expiry(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.config.upload_expiry_secs * 1000).unwrap_or(i64::MAX))
    }

    /// When content is sealed: a new content key, and the sealer that seals bytes with it as
    /// they arrive.
    fn new_sealing(&self) -> Option<(parley_files::Sealer, Sealing)> {
        self.keys.as_ref().map(|keys| {
            let (data_key, wrapped) = keys.new_data_key();
            let sealer = parley_files::Sealer::new(&data_key, parley_files::Stream::Content);
            (sealer, (data_key, wrapped))
        })
    }

    /// Take the upload for writing; `None` while another request writes to it.
    pub fn writing(&self, id: &str) -> Option<Writing<'_>> {
        let mut busy = self.busy.lock().ok()?;
        busy.insert(id.to_string()).then(|| Writing {
            uploads: self,
            id: id.to_string(),
        })
    }

    /// Append `body` to the upload, which stands at `upload.received`: everything that arrives
    /// is kept, up to the upload's length, and recorded once synced to disk (a long `resumable`
    /// body also every `CHECKPOINT` bytes, so a crash resumes near where it stopped).
    pub async fn receive(
        &self,
        state: &AppState,
        upload: &UploadRecord,
        _writing: &Writing<'_>,
        body: Body,
        resumable: bool,
    ) -> AppResult<Received> {
        let path = self.path(&upload.id);
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .await
            .map_err(|e| AppError::internal(&e))?;
        let on_disk = file
            .metadata()
            .await
            .map_err(|e| AppError::internal(&e))?
            .len();
        let start = u64::try_from(upload.received).unwrap_or(0);
        if on_disk < start {
            // The bytes recorded are not here: on another node's disk (a resume that reached
            // another node), or lost. Nothing is deleted; an abandoned upload expires.
            return Err(AppError::new(
                axum::http::StatusCode::CONFLICT,
                parley_proto::ErrorCode::Conflict,
                format!(
                    "this server does not have the {} bytes this upload received; resume on the server that has them, or start again",
                    upload.received
                ),
            ));
        }
        // Bytes written after the last sync that the database does not know of are dropped.
        file.set_len(start)
            .await
            .map_err(|e| AppError::internal(&e))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| AppError::internal(&e))?;
        let mut hash = self
            .hashes
            .lock()
            .ok()
            .and_then(|mut h| h.remove(&upload.id))
            .filter(|(at, _)| *at == upload.received)
            .map(|(_, hash)| hash);
        if upload.received == 0 {
            hash = Some(Sha256::new());
        }
        let mut hashing = hash.map(Hashing::start);
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        // When the whole upload comes in this request, a remote store, or any store when
        // content is sealed, gets the bytes (sealed) as they arrive, so finishing it moves
        // nothing; the staging file still holds them in case the request breaks. A store that
        // fails only loses this shortcut.
        let mut direct = None;
        let mut sealing: Option<(parley_files::Sealer, Sealing)> = None;
        if upload.received == 0
            && upload.length > 0
            && (!state.objects.is_local() || self.keys.is_some())
        {
            match state.objects.writer(&object_key(&upload.id)).await {
                Ok(writer) => {
                    direct = Some(writer);
                    sealing = self.new_sealing();
                }
                Err(e) => {
                    tracing::warn!(upload = %upload.id, error = %e, "cannot stream an upload to the store; it moves when complete")
                }
            }
        }
        let mut received = upload.received;
        let mut checkpoint = received + CHECKPOINT;
        let mut syncing: Option<tokio::task::JoinHandle<AppResult<()>>> = None;
        let mut stream = body.into_data_stream();
        let mut whole = true;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                whole = false;
                break;
            };
            let room = usize::try_from(upload.length - received).unwrap_or(0);
            let take = chunk.len().min(room);
            if let Err(e) = out.write_all(&chunk[..take]).await {
                tracing::error!(upload = %upload.id, error = %e, "cannot write an upload");
                whole = false;
                break;
            }
            if let Some(hashing) = hashing.as_mut() {
                hashing.update(chunk.slice(..take)).await;
            }
            if let Some(writer) = direct.as_mut() {
                let written = match sealing.as_mut() {
                    Some((sealer, _)) => writer.write(&sealer.push(&chunk[..take])).await,
                    None => writer.write(&chunk[..take]).await,
                };
                if let Err(e) = written {
                    tracing::warn!(upload = %upload.id, error = %e, "streaming an upload to the store failed; it moves when complete");
                    if let Some(writer) = direct.take() {
                        let _ = writer.abort().await;
                    }
                }
            }
            received += take as i64;
            if take < chunk.len() {
                whole = false;
                break;
            }
            if resumable && received >= checkpoint {
                checkpoint = received + CHECKPOINT;
                // Synced and recorded in the background while more bytes arrive; one at a
                // time, so the records go forward in order.
                if let Some(previous) = syncing.take() {
                    previous.await.map_err(|e| AppError::internal(&e))??;
                }
                out.flush().await.map_err(|e| AppError::internal(&e))?;
                let file = out
                    .get_ref()
                    .try_clone()
                    .await
                    .map_err(|e| AppError::internal(&e))?;
                let (db, id, expires) =
                    (state.db.clone(), upload.id.clone(), self.expiry(now_ms()));
                let at = received;
                syncing = Some(tokio::spawn(async move {
                    file.sync_data().await.map_err(|e| AppError::internal(&e))?;
                    db.upload_received(&id, at, expires).await?;
                    Ok::<_, AppError>(())
                }));
            }
        }
        if let Some(previous) = syncing.take() {
            previous.await.map_err(|e| AppError::internal(&e))??;
        }
        self.record(state, &upload.id, &mut out, received).await?;
        if let Some(writer) = direct {
            if whole && received == upload.length {
                let (tail, sealed) = match sealing {
                    Some((sealer, sealed)) => (sealer.finish(), Some(sealed)),
                    None => (Vec::new(), None),
                };
                let mut writer = writer;
                let done = match writer.write(&tail).await {
                    Ok(()) => writer.finish().await,
                    Err(e) => Err(e),
                };
                let done = match done {
                    Ok(()) => state.objects.sync(&object_key(&upload.id)).await,
                    Err(e) => Err(e),
                };
                match done {
                    Ok(()) => {
                        if let Ok(mut in_store) = self.in_store.lock() {
                            in_store.insert(upload.id.clone(), Streamed { sealed, head: None });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(upload = %upload.id, error = %e, "cannot complete an upload in the store; it moves when complete")
                    }
                }
            } else {
                let _ = writer.abort().await;
            }
        }
        let hash = match hashing {
            Some(hashing) => hashing.finish().await,
            None => None,
        };
        if let (Some(hash), Ok(mut hashes)) = (hash, self.hashes.lock()) {
            hashes.insert(upload.id.clone(), (received, hash));
        }
        state
            .metrics
            .file_bytes_received(received - upload.received);
        Ok(if whole {
            Received::Whole(received)
        } else {
            Received::Cut(received)
        })
    }

    /// Receive a whole upload in one request, which cannot resume (a plain upload): to a
    /// remote or sealed store its bytes go straight into the store as they arrive, hashed on
    /// the way, and nothing is staged on disk but an image small enough for thumbnails. To a
    /// local unsealed store, or when the store refuses a writer, it is staged like any other,
    /// synced once at the end (progress it cannot resume from is not recorded on the way).
    pub async fn receive_whole(
        &self,
        state: &AppState,
        upload: &UploadRecord,
        writing: &Writing<'_>,
        body: Body,
    ) -> AppResult<Received> {
        if upload.received != 0
            || upload.length == 0
            || state.objects.is_local() && self.keys.is_none()
        {
            return self.receive(state, upload, writing, body, false).await;
        }
        let key = object_key(&upload.id);
        let mut writer = match state.objects.writer(&key).await {
            Ok(writer) => writer,
            Err(e) => {
                tracing::warn!(upload = %upload.id, error = %e, "cannot stream an upload to the store; staging it");
                return self.receive(state, upload, writing, body, false).await;
            }
        };
        let mut sealing = self.new_sealing();
        let mut hashing = Hashing::start(Sha256::new());
        let mut head = Vec::with_capacity(parley_files::SNIFF_BYTES);
        // Opened once the head says the upload is an image to make thumbnails of.
        let mut staged: Option<tokio::io::BufWriter<tokio::fs::File>> = None;
        let mut received = 0i64;
        let mut whole = true;
        let mut stream = body.into_data_stream();
        let outcome: AppResult<()> = async {
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else {
                    whole = false;
                    break;
                };
                let room = usize::try_from(upload.length - received).unwrap_or(0);
                let bytes = &chunk[..chunk.len().min(room)];
                hashing.update(chunk.slice(..bytes.len())).await;
                let filling = head.len() < parley_files::SNIFF_BYTES;
                let into_head = (parley_files::SNIFF_BYTES - head.len()).min(bytes.len());
                head.extend_from_slice(&bytes[..into_head]);
                received += bytes.len() as i64;
                if filling && (head.len() == parley_files::SNIFF_BYTES || received == upload.length)
                {
                    staged = self.stage_for_thumbnails(upload, &head).await?;
                }
                if let Some(out) = staged.as_mut() {
                    out.write_all(&bytes[into_head..])
                        .await
                        .map_err(|e| AppError::internal(&e))?;
                }
                match sealing.as_mut() {
                    Some((sealer, _)) => writer.write(&sealer.push(bytes)).await?,
                    None => writer.write(bytes).await?,
                }
                if bytes.len() < chunk.len() {
                    whole = false;
                    break;
                }
            }
            if let Some(out) = staged.as_mut() {
                out.flush().await.map_err(|e| AppError::internal(&e))?;
            }
            Ok(())
        }
        .await;
        let complete = outcome.is_ok() && whole && received == upload.length;
        let stored: AppResult<Option<Sealing>> = if complete {
            let (tail, sealed) = match sealing {
                Some((sealer, sealed)) => (sealer.finish(), Some(sealed)),
                None => (Vec::new(), None),
            };
            let finished = match writer.write(&tail).await {
                Ok(()) => writer.finish().await,
                Err(e) => Err(e),
            };
            // On disk before it is recorded, as a staged upload is.
            match finished {
                Ok(()) => state.objects.sync(&key).await.map(|()| sealed),
                Err(e) => Err(e),
            }
            .map_err(AppError::from)
        } else {
            let _ = writer.abort().await;
            outcome.map(|()| None)
        };
        let sealed = match stored {
            Ok(sealed) => sealed,
            Err(e) => {
                if staged.is_some() {
                    let _ = tokio::fs::remove_file(self.path(&upload.id)).await;
                }
                return Err(e);
            }
        };
        state.metrics.file_bytes_received(received);
        if !complete {
            if staged.is_some() {
                let _ = tokio::fs::remove_file(self.path(&upload.id)).await;
            }
            return Ok(Received::Cut(received));
        }
        state
            .db
            .upload_received(&upload.id, received, self.expiry(now_ms()))
            .await?;
        let Some(hash) = hashing.finish().await else {
            return Err(AppError::internal(&std::io::Error::other(
                "hashing an upload stopped",
            )));
        };
        if let Ok(mut hashes) = self.hashes.lock() {
            hashes.insert(upload.id.clone(), (received, hash));
        }
        if let Ok(mut in_store) = self.in_store.lock() {
            let head = staged.is_none().then_some(head);
            in_store.insert(upload.id.clone(), Streamed { sealed, head });
        }
        Ok(Received::Whole(received))
    }

    /// A staging file holding `head`, to go on writing to, when an upload whose first bytes
    /// are `head` is an image small enough to make thumbnails of; `None` otherwise.
    async fn stage_for_thumbnails(
        &self,
        upload: &UploadRecord,
        head: &[u8],
    ) -> AppResult<Option<tokio::io::BufWriter<tokio::fs::File>>> {
        let small =
            u64::try_from(upload.length).unwrap_or(u64::MAX) <= parley_files::THUMBNAIL_MAX_BYTES;
        if !small || !parley_files::sniff(head).image {
            return Ok(None);
        }
        let file = tokio::fs::File::create(self.path(&upload.id))
            .await
            .map_err(|e| AppError::internal(&e))?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        out.write_all(head)
            .await
            .map_err(|e| AppError::internal(&e))?;
        Ok(Some(out))
    }

    /// Sync what was written, then record it: the database never counts a byte the disk
    /// might not have.
    async fn record(
        &self,
        state: &AppState,
        id: &str,
        out: &mut tokio::io::BufWriter<tokio::fs::File>,
        received: i64,
    ) -> AppResult<()> {
        out.flush().await.map_err(|e| AppError::internal(&e))?;
        out.get_ref()
            .sync_data()
            .await
            .map_err(|e| AppError::internal(&e))?;
        state
            .db
            .upload_received(id, received, self.expiry(now_ms()))
            .await?;
        Ok(())
    }

    /// Make a fully received upload a file (or a new version): hash it, sniff its type, move
    /// its bytes into the object store, record it. Finishing it twice returns the same file.
    pub async fn finish(&self, state: &AppState, upload: &UploadRecord) -> AppResult<File> {
        if let Some((file, _)) = upload.file {
            return state
                .db
                .file(file)
                .await?
                .ok_or_else(|| AppError::not_found("the file this upload became was deleted"));
        }
        let path = self.path(&upload.id);
        let key = object_key(&upload.id);
        let mut staged = tokio::fs::try_exists(&path).await.unwrap_or(false);
        if !staged && upload.length == 0 && upload.sha256.is_none() {
            // An empty upload never received a body to stage.
            tokio::fs::write(&path, b"")
                .await
                .map_err(|e| AppError::internal(&e))?;
            staged = true;
        }
        let streamed_head = self
            .in_store
            .lock()
            .ok()
            .and_then(|s| s.get(&upload.id).and_then(|s| s.head.clone()));
        let (sha256, head) = if let Some(head) = streamed_head {
            // Received whole straight into the store: hashed and sniffed on the way.
            let Some(running) = self.running_hash(upload) else {
                return Err(AppError::new(
                    axum::http::StatusCode::GONE,
                    parley_proto::ErrorCode::NotFound,
                    "the bytes of this upload were lost; start it again",
                ));
            };
            (hex(&running.finalize()), head)
        } else if staged {
            let sha256 = match self.running_hash(upload) {
                Some(hash) => hex(&hash.finalize()),
                None => hash_file(&path).await?,
            };
            (sha256, read_head(&path).await?)
        } else if self.keys.is_some() {
            // Sealed bytes whose key was never recorded cannot be read; they may also be on
            // another node's disk. Nothing is deleted here: the upload expires.
            return Err(AppError::new(
                axum::http::StatusCode::GONE,
                parley_proto::ErrorCode::NotFound,
                "the bytes of this upload are not on this server; start it again",
            ));
        } else {
            // The bytes already moved into the store before the server stopped.
            let sha256 = upload.sha256.clone().ok_or_else(|| {
                AppError::new(
                    axum::http::StatusCode::GONE,
                    parley_proto::ErrorCode::NotFound,
                    "the bytes of this upload were lost; start it again",
                )
            })?;
            let end = u64::try_from(upload.length)
                .unwrap_or(0)
                .min(parley_files::SNIFF_BYTES as u64);
            let head = if end == 0 {
                Vec::new()
            } else {
                state.objects.get_range(&key, 0..end).await?.to_vec()
            };
            (sha256, head)
        };
        let sniffed = parley_files::sniff(&head);
        state.db.upload_hashed(&upload.id, &sha256).await?;
        let known = state.db.blob_exists(&sha256).await?;
        let in_store = self
            .in_store
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&upload.id));
        // Sealed as it arrived (with the key used then), or to be sealed now.
        let sealed = match &in_store {
            Some(streamed) => streamed.sealed.clone(),
            None => self.keys.as_ref().map(|k| k.new_data_key()),
        };
        // Thumbnails are made now, while the bytes are at hand, and stored only if this upload
        // is the one that stores the content (two uploads of the same image may race).
        let thumbnails = if staged
            && !known
            && sniffed.image
            && u64::try_from(upload.length).unwrap_or(u64::MAX) <= parley_files::THUMBNAIL_MAX_BYTES
        {
            self.make_thumbnails(&path, &sha256).await
        } else {
            Vec::new()
        };
        // New content goes into the store before it is recorded; content already stored (or
        // streamed in as it arrived) moves nothing. The staging file stays until the record
        // is committed, so a purge or a crash in between cannot leave a file without bytes.
        let new_content = in_store.is_none() && !known;
        if staged && new_content {
            self.store(state, &path, &key, sealed.as_ref()).await?;
        }
        let blob = NewBlob {
            sha256: sha256.clone(),
            object_key: key.clone(),
            size: upload.length,
            mime: sniffed.mime,
            thumbnails: false,
            sealed: sealed.as_ref().map(|(_, wrapped)| wrapped.clone()),
        };
        let completed = state.db.complete_upload(&upload.id, &blob).await?;
        let ours = completed.object_key == key;
        if staged && !new_content && ours && in_store.is_none() {
            // The content this upload found stored was purged before it was recorded: its
            // bytes are this upload's after all.
            self.store(state, &path, &key, sealed.as_ref()).await?;
        }
        if staged {
            let _ = tokio::fs::remove_file(&path).await;
        }
        if !ours && (staged || state.objects.exists(&key).await?) {
            // Identical content was stored first; this copy is not needed.
            if let Err(e) = state.objects.delete(&key).await {
                tracing::warn!(key, error = %e, "cannot delete a duplicate upload's object");
            }
        }
        let mut file = completed.file;
        if ours && !thumbnails.is_empty() {
            let data_key = sealed.as_ref().map(|(k, _)| k);
            if self
                .store_thumbnails(state, &sha256, thumbnails, data_key)
                .await
            {
                state.db.set_thumbnails(&sha256).await?;
                file.thumbnail = true;
            }
        }
        state.metrics.file_stored(ours);
        Ok(file)
    }

    /// The hash of every byte of `upload`, kept as they arrived; `None` when this server did
    /// not see them all.
    fn running_hash(&self, upload: &UploadRecord) -> Option<Sha256> {
        self.hashes
            .lock()
            .ok()
            .and_then(|mut h| h.remove(&upload.id))
            .filter(|(at, _)| *at == upload.length)
            .map(|(_, hash)| hash)
    }

    /// Put the staging file into the store as `key`, sealed when content is sealed; the
    /// staging file stays.
    async fn store(
        &self,
        state: &AppState,
        path: &Path,
        key: &str,
        sealed: Option<&Sealing>,
    ) -> AppResult<()> {
        match sealed {
            Some((data_key, _)) => {
                crate::sealed::put_sealed(&state.objects, path, key, data_key).await?
            }
            None => state.objects.copy_file(path, key).await?,
        }
        Ok(())
    }

    /// The thumbnails of the image at `path` (one made at a time per core); none when it
    /// cannot be read as an image, which is no error for the upload.
    async fn make_thumbnails(
        &self,
        path: &Path,
        sha256: &str,
    ) -> Vec<(parley_files::ThumbnailSize, Vec<u8>)> {
        let Ok(_permit) = self.thumbnailing.acquire().await else {
            return Vec::new();
        };
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an image for its thumbnails");
                return Vec::new();
            }
        };
        match tokio::task::spawn_blocking(move || parley_files::thumbnails(&bytes)).await {
            Ok(Ok(made)) => made,
            Ok(Err(e)) => {
                tracing::info!(sha256, error = %e, "no thumbnails for an image");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "making thumbnails failed");
                Vec::new()
            }
        }
    }

    /// Store a content's thumbnails, sealed with its key when it is sealed.
    async fn store_thumbnails(
        &self,
        state: &AppState,
        sha256: &str,
        made: Vec<(parley_files::ThumbnailSize, Vec<u8>)>,
        sealed: Option<&parley_files::DataKey>,
    ) -> bool {
        for (size, jpeg) in made {
            let key = thumbnail_key(sha256, size);
            let stored = match sealed {
                Some(data_key) => parley_files::seal_all(data_key, thumbnail_stream(size), &jpeg),
                None => jpeg,
            };
            if let Err(e) = state.objects.put(&key, stored.into()).await {
                tracing::warn!(key, error = %e, "cannot store a thumbnail");
                return false;
            }
        }
        true
    }

    /// Throw away an upload and its bytes.
    pub async fn discard(&self, state: &AppState, id: &str) -> AppResult<()> {
        if let Ok(mut hashes) = self.hashes.lock() {
            hashes.remove(id);
        }
        let streamed = self
            .in_store
            .lock()
            .ok()
            .and_then(|mut s| s.remove(id))
            .is_some();
        // Bytes of an upload that never became a file may be in the store under its own key
        // (streamed before a restart lost track of them); none of a file's are ever deleted.
        let unfinished = (!state.objects.is_local() || self.keys.is_some())
            && matches!(state.db.upload(id).await?, Some(u) if u.file.is_none());
        if streamed || unfinished {
            // Its bytes went to the store as they arrived, and no file uses them.
            if let Err(e) = state.objects.delete(&object_key(id)).await {
                tracing::warn!(upload = id, error = %e, "cannot delete a discarded upload's object");
            }
        }
        state.db.delete_upload(id).await?;
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AppError::internal(&e)),
        }
    }

    /// After a restart: finish uploads whose bytes all arrived, remove staging files that no
    /// upload owns (an upload deleted while its bytes were being written).
    pub async fn recover(&self, state: &AppState) -> anyhow::Result<()> {
        for stale in state.db.unfinished_uploads().await? {
            // A client may be finishing it right now: one writer at a time, and a fresh look.
            let Some(_writing) = self.writing(&stale.id) else {
                continue;
            };
            let Some(upload) = state.db.upload(&stale.id).await? else {
                continue;
            };
            if upload.file.is_some()
                || !tokio::fs::try_exists(self.path(&upload.id))
                    .await
                    .unwrap_or(false)
                    && upload.sha256.is_none()
            {
                // Finished meanwhile, or its bytes are on another node.
                continue;
            }
            match self.finish(state, &upload).await {
                Ok(file) => {
                    tracing::info!(upload = %upload.id, file = %file.id, "upload finished after restart")
                }
                Err(e) => {
                    tracing::warn!(upload = %upload.id, error = %e.message, "cannot finish an upload after restart")
                }
            }
        }
        let mut entries = tokio::fs::read_dir(&self.staging).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().to_string();
            if state.db.upload(&name).await?.is_none() {
                tracing::info!(file = %entry.path().display(), "removing a staging file no upload owns");
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }

    /// Clear uploads past their expiry and files past their time in the trash.
    async fn sweep(&self, state: &AppState) -> AppResult<()> {
        let now = now_ms();
        loop {
            let expired = state.db.expired_uploads(now, 100).await?;
            for upload in &expired {
                self.discard(state, &upload.id).await?;
            }
            if expired.len() < 100 {
                break;
            }
        }
        let trash_ms =
            i64::try_from(self.config.trash_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
        loop {
            let (files, gone) = state
                .db
                .purge_files(now.saturating_sub(trash_ms), 100)
                .await?;
            for purged in &gone {
                let mut keys = vec![purged.object_key.clone()];
                if purged.thumbnails {
                    keys.extend(
                        parley_files::THUMBNAIL_SIZES
                            .iter()
                            .map(|(size, _)| thumbnail_key(&purged.sha256, *size)),
                    );
                }
                for key in &keys {
                    if let Err(e) = state.objects.delete(key).await {
                        tracing::warn!(key, error = %e, "cannot delete a purged file's object");
                    }
                }
            }
            if files < 100 {
                break;
            }
        }
        Ok(())
    }
}

/// The sealed stream a thumbnail of `size` is.
pub fn thumbnail_stream(size: parley_files::ThumbnailSize) -> parley_files::Stream {
    match size {
        parley_files::ThumbnailSize::Small => parley_files::Stream::SmallThumbnail,
        parley_files::ThumbnailSize::Large => parley_files::Stream::LargeThumbnail,
    }
}

/// Where a content's thumbnail of `size` is stored: made once per content.
pub fn thumbnail_key(sha256: &str, size: parley_files::ThumbnailSize) -> String {
    format!("thumbs/{sha256}/{}.jpg", size.as_str())
}

/// Where an upload's bytes go in the object store (two hex digits of fan-out).
fn object_key(upload: &str) -> String {
    format!("files/{}/{upload}", &upload[..2.min(upload.len())])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn hash_file(path: &Path) -> AppResult<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hash = Sha256::new();
        std::io::copy(&mut file, &mut hash)?;
        Ok::<_, std::io::Error>(hex(&hash.finalize()))
    })
    .await
    .map_err(|e| AppError::internal(&e))?
    .map_err(|e| AppError::internal(&e))
}

async fn read_head(path: &Path) -> AppResult<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| AppError::internal(&e))?;
    let mut head = Vec::with_capacity(parley_files::SNIFF_BYTES);
    file.take(parley_files::SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| AppError::internal(&e))?;
    Ok(head)
}

/// Finish what a restart left, then clear expired uploads and trash every minute.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let uploads = state.uploads.clone();
        if let Err(e) = crate::sealed::rewrap_all(&state).await {
            tracing::error!(error = %e, "cannot rewrap content keys under the current key");
        }
        if let Err(e) = uploads.recover(&state).await {
            tracing::error!(error = %e, "cannot recover uploads after restart");
        }
        let mut shutdown = state.shutdown.subscribe();
        loop {
            if let Err(e) = uploads.sweep(&state).await {
                tracing::warn!(error = %e.message, "cannot clear expired uploads and trash");
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}
