//! One recorded file on its way to the object store: a container writer whose output is
//! uploaded in numbered chunks (`{prefix}/000000` the header, then `000001`, ...) as it is
//! produced. Each chunk ends on a page or cluster boundary, so whatever was uploaded before a
//! crash is a file that plays; the header chunk is written again at the end, with the
//! duration filled in.

use crate::TrackMuxer;
use parley_proto::{Recording, RecordingProgress, RecordingStatus};
use parley_storage::{ObjectError, ObjectStorage};

pub struct StoredFile<M> {
    pub recording: Recording,
    muxer: M,
    header_len: Option<usize>,
    /// Chunks uploaded, the header included.
    chunks: u32,
    size: u64,
}

impl<M: TrackMuxer> StoredFile<M> {
    pub fn new(recording: Recording, muxer: M) -> StoredFile<M> {
        StoredFile {
            recording,
            muxer,
            header_len: None,
            chunks: 0,
            size: 0,
        }
    }

    pub fn muxer(&mut self) -> &mut M {
        &mut self.muxer
    }

    fn key(&self, n: u32) -> String {
        format!("{}/{n:06}", self.recording.object_prefix)
    }

    async fn put(&mut self, store: &ObjectStorage, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let len = bytes.len() as u64;
        store.put(&self.key(self.chunks), bytes.into()).await?;
        self.chunks += 1;
        self.size += len;
        Ok(())
    }

    /// Upload what the writer has completed since the last flush (the header first, once it
    /// can be written). Returns whether anything went out.
    pub async fn flush(&mut self, store: &ObjectStorage) -> Result<bool, ObjectError> {
        if self.header_len.is_none() {
            let Some(header) = self.muxer.header(false) else {
                return Ok(false);
            };
            self.header_len = Some(header.len());
            self.put(store, header).await?;
        }
        let ready = self.muxer.take_ready();
        if ready.is_empty() {
            return Ok(false);
        }
        self.put(store, ready).await?;
        Ok(true)
    }

    /// Close the stream: upload its tail and write the header again with what the end knows
    /// (the same length, so the chunks still line up).
    pub async fn close(&mut self, store: &ObjectStorage) -> Result<(), ObjectError> {
        self.flush(store).await?;
        let tail = self.muxer.finish();
        if self.header_len.is_none() {
            // Nothing ever came (no keyframe, say): there is no file to keep.
            return Ok(());
        }
        if !tail.is_empty() {
            self.put(store, tail).await?;
        }
        if let (Some(len), Some(header)) = (self.header_len, self.muxer.header(true)) {
            if header.len() == len {
                store.put(&self.key(0), header.into()).await?;
            }
        }
        Ok(())
    }

    /// What to tell the server about this file; `status` ends it.
    pub fn progress(&self, recorder: &str, status: Option<RecordingStatus>) -> RecordingProgress {
        RecordingProgress {
            recorder: recorder.to_string(),
            duration_ms: i64::try_from(self.muxer.duration_ms()).unwrap_or(i64::MAX),
            size_bytes: i64::try_from(self.size).unwrap_or(i64::MAX),
            chunks: i64::from(self.chunks),
            status,
            failure: None,
        }
    }
}
