//! The meeting recorder (`parley-recorder`): joins meetings as a hidden participant and writes
//! tracks to the object store.

pub mod api;
pub mod job;
pub mod mixer;
pub mod ogg_opus;
pub mod subscriber;
pub mod upload;
pub mod webm;

/// A container being written for one track, uploaded as it grows: the header first, then whole
/// pages (Ogg) or clusters (WebM) as they complete. Any prefix that ends at a `take_ready`
/// boundary is a file that plays, so a recorder that dies loses only what it had not handed out.
pub trait TrackMuxer: Send {
    /// The file's first bytes: `None` until the writer has what the header needs (a WebM header
    /// needs the first keyframe's picture size). Asked again at the end with `finished` set,
    /// when it may fill in what it learned (the duration), with exactly the same length.
    fn header(&self, finished: bool) -> Option<Vec<u8>>;
    /// Whole pages or clusters completed since the last call (never the header).
    fn take_ready(&mut self) -> Vec<u8>;
    /// Close the stream and return its remaining bytes.
    fn finish(&mut self) -> Vec<u8>;
    /// How much media has been written, in milliseconds.
    fn duration_ms(&self) -> u64;
}
