//! Encryption at rest for file content: each content has its own data key, and its bytes are
//! sealed with AES-256-GCM in fixed-size chunks, so a range of the plaintext is read by opening
//! only the chunks it spans. Data keys are stored wrapped (AES-256-GCM) by the master key
//! (`[files] encryption_key`); rotating the master key rewraps data keys, never the content.
//!
//! A chunk's nonce is its stream (the content, or one of its thumbnails) and its index, so no
//! nonce repeats under a data key, and chunks cannot be reordered or moved between streams. The
//! last chunk of a stream is marked, so a stream cut short does not open.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
/// What sealing adds to each chunk.
pub const TAG: usize = 16;
/// Bytes of a sealed chunk (all but the last, which may be shorter).
pub const SEALED_CHUNK: usize = CHUNK + TAG;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptError {
    #[error("an encryption key is 64 hex digits (32 bytes)")]
    BadKey,
    #[error("a wrapped data key is not in the form this server writes")]
    BadWrapped,
    #[error("the content does not open with its key: it was changed, cut short, or sealed with another key")]
    Open,
}

fn key(bytes: &[u8]) -> Result<LessSafeKey, CryptError> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptError::BadKey)?,
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 == 1 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The operator's key that wraps every data key.
pub struct MasterKey {
    key: LessSafeKey,
    /// Names the key without revealing it: the first 8 bytes of its SHA-256, in hex.
    pub id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    /// A key given as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<MasterKey, CryptError> {
        let bytes = unhex(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or(CryptError::BadKey)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        Ok(MasterKey {
            key: key(&bytes)?,
            id: hex(&digest.as_ref()[..8]),
        })
    }

    /// A data key sealed under this key: hex of nonce, sealed key and tag.
    pub fn wrap(&self, data_key: &DataKey) -> String {
        let mut nonce = [0u8; 12];
        // The system's random source failing is not something to carry on from.
        SystemRandom::new()
            .fill(&mut nonce)
            .unwrap_or_else(|_| panic!("the system random source failed"));
        let mut sealed = data_key.bytes.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"parley data key"),
                &mut sealed,
            )
            .unwrap_or_else(|_| panic!("sealing 32 bytes cannot fail"));
        format!("{}{}", hex(&nonce), hex(&sealed))
    }

    pub fn unwrap(&self, wrapped: &str) -> Result<DataKey, CryptError> {
        let bytes = unhex(wrapped)
            .filter(|b| b.len() == 12 + 32 + TAG)
            .ok_or(CryptError::BadWrapped)?;
        let (nonce, sealed) = bytes.split_at(12);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptError::BadWrapped)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(b"parley data key"), &mut sealed)
            .map_err(|_| CryptError::Open)?;
        let mut data = [0u8; 32];
        data.copy_from_slice(plain);
        Ok(DataKey { bytes: data })
    }
}

/// One content's own key.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; 32],
}

impl DataKey {
    pub fn random() -> DataKey {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .unwrap_or_else(|_| panic!("the system random source failed"));
        DataKey { bytes }
    }

    fn key(&self) -> LessSafeKey {
        // 32 bytes is always an AES-256 key.
        key(&self.bytes).unwrap_or_else(|_| panic!("a data key is 32 bytes"))
    }
}

/// Which stream of a content a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Content,
    SmallThumbnail,
    LargeThumbnail,
}

fn nonce(stream: Stream, index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[0] = stream as u8;
    n[1] = u8::from(last);
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// How long the sealed form of `plain` bytes is.
pub fn sealed_len(plain: u64) -> u64 {
    let chunks = plain.div_ceil(CHUNK as u64).max(1);
    plain + chunks * TAG as u64
}

/// Which chunks hold plaintext `range` (of a content of `plain` bytes): the first chunk's
/// index, the sealed byte range to read, and how many plaintext bytes of the first chunk to
/// skip.
pub fn sealed_range(range: std::ops::Range<u64>, plain: u64) -> (u64, std::ops::Range<u64>, usize) {
    let first = range.start / CHUNK as u64;
    let last = range.end.saturating_sub(1).max(range.start) / CHUNK as u64;
    let start = first * SEALED_CHUNK as u64;
    let end = ((last + 1) * SEALED_CHUNK as u64).min(sealed_len(plain));
    (
        first,
        start..end,
        (range.start - first * CHUNK as u64) as usize,
    )
}

/// Seals a stream chunk by chunk as its bytes arrive.
pub struct Sealer {
    key: LessSafeKey,
    stream: Stream,
    index: u64,
    pending: Vec<u8>,
}

impl Sealer {
    pub fn new(data_key: &DataKey, stream: Stream) -> Sealer {
        Sealer {
            key: data_key.key(),
            stream,
            index: 0,
            pending: Vec::with_capacity(SEALED_CHUNK),
        }
    }

    fn seal(&mut self, last: bool) -> Vec<u8> {
        let mut chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(SEALED_CHUNK));
        self.key
            .seal_in_place_append_tag(
                nonce(self.stream, self.index, last),
                Aad::empty(),
                &mut chunk,
            )
            .unwrap_or_else(|_| panic!("sealing a chunk cannot fail"));
        self.index += 1;
        chunk
    }

    /// Take `plain`; returns the chunks it completed, sealed, in order (never the last one,
    /// which waits for `finish`).
    pub fn push(&mut self, mut plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while !plain.is_empty() {
            if self.pending.len() == CHUNK {
                out.extend(self.seal(false));
            }
            let take = (CHUNK - self.pending.len()).min(plain.len());
            self.pending.extend_from_slice(&plain[..take]);
            plain = &plain[take..];
        }
        out
    }

    /// The last chunk (possibly empty of plaintext), sealed and marked last.
    pub fn finish(mut self) -> Vec<u8> {
        self.seal(true)
    }
}

/// Open the sealed chunk `index` of `stream` (all of it, as written); `last` says whether it
/// is the stream's last chunk.
pub fn open_chunk(
    data_key: &DataKey,
    stream: Stream,
    index: u64,
    last: bool,
    sealed: &mut [u8],
) -> Result<usize, CryptError> {
    let plain = data_key
        .key()
        .open_in_place(nonce(stream, index, last), Aad::empty(), sealed)
        .map_err(|_| CryptError::Open)?;
    Ok(plain.len())
}

/// Seal a whole small stream (a thumbnail) at once.
pub fn seal_all(data_key: &DataKey, stream: Stream, plain: &[u8]) -> Vec<u8> {
    let mut sealer = Sealer::new(data_key, stream);
    let mut out = sealer.push(plain);
    out.extend(sealer.finish());
    out
}

/// Open a whole small stream sealed by `seal_all`.
pub fn open_all(data_key: &DataKey, stream: Stream, sealed: &[u8]) -> Result<Vec<u8>, CryptError> {
    let mut out = Vec::with_capacity(sealed.len());
    let chunks: Vec<&[u8]> = sealed.chunks(SEALED_CHUNK).collect();
    for (index, chunk) in chunks.iter().enumerate() {
        let mut chunk = chunk.to_vec();
        let last = index + 1 == chunks.len();
        let n = open_chunk(data_key, stream, index as u64, last, &mut chunk)?;
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn sealed(plain: &[u8], key: &DataKey) -> Vec<u8> {
        let mut sealer = Sealer::new(key, Stream::Content);
        let mut out = Vec::new();
        for piece in plain.chunks(10_000) {
            out.extend(sealer.push(piece));
        }
        out.extend(sealer.finish());
        out
    }

    #[test]
    fn content_seals_and_opens_by_ranges() {
        let key = DataKey::random();
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let out = sealed(&plain, &key);
        assert_eq!(out.len() as u64, sealed_len(plain.len() as u64));
        assert!(
            !out.windows(64).any(|w| w == &plain[1000..1064]),
            "no plaintext stored"
        );
        assert_eq!(open_all(&key, Stream::Content, &out).unwrap(), plain);
        for range in [
            0..10,
            65_530..65_550,
            131_072..200_000,
            199_999..200_000,
            5..131_073,
        ] {
            let (first, bytes, skip) = sealed_range(range.clone(), plain.len() as u64);
            let total = out.len() as u64;
            let mut got = Vec::new();
            for (i, chunk) in out[bytes.start as usize..bytes.end as usize]
                .chunks(SEALED_CHUNK)
                .enumerate()
            {
                let mut chunk = chunk.to_vec();
                let index = first + i as u64;
                let last = (index + 1) * SEALED_CHUNK as u64 >= total;
                let n = open_chunk(&key, Stream::Content, index, last, &mut chunk).unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            let want = &plain[range.start as usize..range.end as usize];
            assert_eq!(&got[skip..skip + want.len()], want, "{range:?}");
        }
        // An exact multiple of the chunk size, and nothing at all.
        for len in [CHUNK * 2, 0] {
            let plain = vec![9u8; len];
            assert_eq!(
                open_all(&key, Stream::Content, &sealed(&plain, &key)).unwrap(),
                plain
            );
        }
    }

    #[test]
    fn tampering_cutting_and_other_keys_are_caught() {
        let key = DataKey::random();
        let plain = vec![1u8; 150_000];
        let mut out = sealed(&plain, &key);
        assert_eq!(
            open_all(&DataKey::random(), Stream::Content, &out),
            Err(CryptError::Open)
        );
        assert_eq!(
            open_all(&key, Stream::SmallThumbnail, &out),
            Err(CryptError::Open)
        );
        let cut = &out[..2 * SEALED_CHUNK];
        assert_eq!(
            open_all(&key, Stream::Content, cut),
            Err(CryptError::Open),
            "cut short"
        );
        out[100] ^= 1;
        assert_eq!(open_all(&key, Stream::Content, &out), Err(CryptError::Open));
    }

    #[test]
    fn data_keys_wrap_under_the_master_key() {
        let master = MasterKey::from_hex(KEY).unwrap();
        assert_eq!(master.id.len(), 16);
        let data = DataKey::random();
        let wrapped = master.wrap(&data);
        let back = master.unwrap(&wrapped).unwrap();
        assert_eq!(back.bytes, data.bytes);
        let other = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(other.unwrap(&wrapped).err(), Some(CryptError::Open));
        assert_eq!(master.unwrap("zz").err(), Some(CryptError::BadWrapped));
        assert_eq!(MasterKey::from_hex("abcd").err(), Some(CryptError::BadKey));
    }
}
