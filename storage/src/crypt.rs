//! Backup encryption with a key of the operator's: each file of an encrypted backup (a table,
//! an object) is sealed on its own, streaming, so neither side holds a whole file.
//!
//! ```text
//! "PARLEY-ENC1\n" | salt (32 random bytes) | segment 0 | segment 1 | … | last segment
//! ```
//!
//! The file's key is HKDF-SHA256 of the operator's key with the file's salt; each segment is
//! up to 64 KiB of the file sealed with ChaCha20-Poly1305 (16-byte tag), its nonce the segment's
//! number and whether it is the last. A segment changed, dropped, moved or taken from another
//! file fails to open, and so does a file cut short (its last segment is missing). Blobs are
//! named by an HMAC of their content's SHA-256 under the key, so the repository does not show
//! which contents it holds, and the same content under the same key is stored once.

use crate::backup::BackupError;
use crate::dump::hex;
use ring::{aead, hkdf, hmac, rand};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 12] = b"PARLEY-ENC1\n";
const SALT: usize = 32;
const HEADER: usize = MAGIC.len() + SALT;
const SEGMENT: usize = 64 * 1024;
const TAG: usize = 16;
/// The cipher as a manifest names it.
pub const CIPHER: &str = "chacha20-poly1305-hkdf-sha256-64k";

/// The operator's backup key: 32 bytes, written as 64 hexadecimal digits.
#[derive(Clone)]
pub struct BackupKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKey").field("id", &self.id).finish()
    }
}

impl BackupKey {
    /// A new random key.
    pub fn generate() -> Result<BackupKey, BackupError> {
        let mut key = [0u8; 32];
        rand::SecureRandom::fill(&rand::SystemRandom::new(), &mut key)
            .map_err(|_| BackupError::Invalid("the system has no random numbers".into()))?;
        Ok(BackupKey::from_bytes(key))
    }

    /// A key as 64 hexadecimal digits (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<BackupKey, BackupError> {
        let text = text.trim();
        let bad = || {
            BackupError::Invalid(
                "a backup key is 64 hexadecimal digits (make one with `parley admin backup-key`)"
                    .into(),
            )
        };
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(BackupKey::from_bytes(key))
    }

    /// Read a key file.
    pub fn read(path: &std::path::Path) -> Result<BackupKey, BackupError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BackupError::Invalid(format!(
                "cannot read the backup key {}: {e}",
                path.display()
            ))
        })?;
        BackupKey::parse(&text)
            .map_err(|e| BackupError::Invalid(format!("{}: {e}", path.display())))
    }

    fn from_bytes(key: [u8; 32]) -> BackupKey {
        let mut hasher = Sha256::new();
        hasher.update(b"parley backup key id\n");
        hasher.update(key);
        let id = hex(&hasher.finalize())[..16].to_string();
        BackupKey { key, id }
    }

    pub fn to_hex(&self) -> String {
        hex(&self.key)
    }

    /// Names the key without revealing it: the manifest records it, so a restore with the
    /// wrong key is refused up front.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A content's id in an encrypted backup: an HMAC of its SHA-256.
    pub(crate) fn content_id(&self, sha256: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.derive(b"parley backup content id"));
        hex(hmac::sign(&key, sha256.as_bytes()).as_ref())
    }

    /// An HMAC of a manifest's bytes.
    pub(crate) fn manifest_mac(&self, bytes: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.derive(b"parley backup manifest"));
        hex(hmac::sign(&key, bytes).as_ref())
    }

    /// A key for one purpose, derived from the operator's.
    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&self.key);
        let mut out = [0u8; 32];
        prk.expand(&[purpose], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is SHA-256's length");
        out
    }

    fn file_key(&self, salt: &[u8]) -> aead::LessSafeKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&self.key);
        let okm = prk
            .expand(&[b"parley backup file"], &aead::CHACHA20_POLY1305)
            .expect("32 bytes is a valid ChaCha20-Poly1305 key length");
        aead::LessSafeKey::new(aead::UnboundKey::from(okm))
    }

    pub(crate) fn sealer(&self) -> Result<Sealer, BackupError> {
        let mut salt = [0u8; SALT];
        rand::SecureRandom::fill(&rand::SystemRandom::new(), &mut salt)
            .map_err(|_| BackupError::Invalid("the system has no random numbers".into()))?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&salt);
        Ok(Sealer {
            key: self.file_key(&salt),
            segment: 0,
            pending: Vec::with_capacity(SEGMENT),
            header: Some(header),
        })
    }

    pub(crate) fn opener(&self) -> Opener {
        Opener {
            master: self.clone(),
            key: None,
            segment: 0,
            pending: Vec::new(),
        }
    }
}

fn nonce(segment: u64, last: bool) -> aead::Nonce {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&segment.to_be_bytes());
    bytes[11] = u8::from(last);
    aead::Nonce::assume_unique_for_key(bytes)
}

/// Seals one file as it is written.
pub(crate) struct Sealer {
    key: aead::LessSafeKey,
    segment: u64,
    pending: Vec<u8>,
    header: Option<Vec<u8>>,
}

impl Sealer {
    /// What to write for `data`: the header first, then each whole segment. Bytes of a segment
    /// not yet whole wait for the next call or `finish`.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        while !data.is_empty() {
            let room = SEGMENT - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A full segment is sealed only once more bytes follow: the last one is marked.
            if self.pending.len() == SEGMENT && !data.is_empty() {
                self.seal(false, &mut out);
            }
        }
        out
    }

    /// The rest, sealed as the last segment (an empty one for an empty file).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        self.seal(true, &mut out);
        out
    }

    fn seal(&mut self, last: bool, out: &mut Vec<u8>) {
        let mut segment = std::mem::replace(&mut self.pending, Vec::with_capacity(SEGMENT));
        self.key
            .seal_in_place_append_tag(nonce(self.segment, last), aead::Aad::empty(), &mut segment)
            .expect("a segment is far below ChaCha20-Poly1305's limit");
        self.segment += 1;
        out.extend_from_slice(&segment);
    }
}

/// Opens one sealed file as it is read.
pub(crate) struct Opener {
    master: BackupKey,
    key: Option<aead::LessSafeKey>,
    segment: u64,
    pending: Vec<u8>,
}

fn not_opened(what: &str) -> BackupError {
    BackupError::Damaged(format!(
        "{what}: it does not open with this key (changed, cut short, or sealed with another key)"
    ))
}

impl Opener {
    /// The plaintext of every segment `data` completes, except a possible last one.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, BackupError> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        if self.key.is_none() {
            if self.pending.len() < HEADER {
                return Ok(out);
            }
            if &self.pending[..MAGIC.len()] != MAGIC {
                return Err(BackupError::Damaged(
                    "the file is not an encrypted backup file".into(),
                ));
            }
            self.key = Some(self.master.file_key(&self.pending[MAGIC.len()..HEADER]));
            self.pending.drain(..HEADER);
        }
        // A whole segment with more after it is not the last.
        let mut start = 0;
        while self.pending.len() - start > SEGMENT + TAG {
            let mut segment = self.pending[start..start + SEGMENT + TAG].to_vec();
            start += SEGMENT + TAG;
            out.extend_from_slice(self.open(&mut segment, false)?);
        }
        self.pending.drain(..start);
        Ok(out)
    }

    /// The last segment's plaintext; an error if the file ends anywhere else.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, BackupError> {
        if self.key.is_none() || self.pending.len() < TAG {
            return Err(not_opened("the file ends early"));
        }
        let mut segment = std::mem::take(&mut self.pending);
        let plain = self.open(&mut segment, true)?.to_vec();
        Ok(plain)
    }

    fn open<'b>(&mut self, segment: &'b mut [u8], last: bool) -> Result<&'b [u8], BackupError> {
        let key = self.key.as_ref().ok_or_else(|| not_opened("no header"))?;
        let n = self.segment;
        let plain = key
            .open_in_place(nonce(n, last), aead::Aad::empty(), segment)
            .map_err(|_| not_opened(&format!("segment {n}")))?;
        self.segment += 1;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &BackupKey, data: &[u8], pieces: usize) -> Vec<u8> {
        let mut sealer = key.sealer().unwrap();
        let mut out = Vec::new();
        for piece in data.chunks(pieces.max(1)) {
            out.extend(sealer.push(piece));
        }
        out.extend(sealer.finish());
        out
    }

    fn open(key: &BackupKey, data: &[u8], pieces: usize) -> Result<Vec<u8>, BackupError> {
        let mut opener = key.opener();
        let mut out = Vec::new();
        for piece in data.chunks(pieces.max(1)) {
            out.extend(opener.push(piece)?);
        }
        out.extend(opener.finish()?);
        Ok(out)
    }

    #[test]
    fn files_of_every_size_come_back_whatever_the_pieces() {
        let key = BackupKey::generate().unwrap();
        for size in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 7,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            for (write, read) in [(1000, 333), (SEGMENT, SEGMENT + TAG), (size + 1, 1)] {
                let sealed = seal(&key, &data, write);
                assert_eq!(
                    sealed.len(),
                    HEADER + size + size.div_ceil(SEGMENT).max(1) * TAG
                );
                assert_eq!(open(&key, &sealed, read).unwrap(), data, "size {size}");
            }
        }
    }

    #[test]
    fn a_changed_cut_or_foreign_file_does_not_open() {
        let key = BackupKey::generate().unwrap();
        let data = vec![42u8; 2 * SEGMENT + 10];
        let sealed = seal(&key, &data, 5000);
        let mut changed = sealed.clone();
        changed[HEADER + SEGMENT] ^= 1;
        assert!(open(&key, &changed, 4096).is_err());
        // Cut at a segment boundary: the new last segment was not sealed as the last.
        assert!(open(&key, &sealed[..HEADER + 2 * (SEGMENT + TAG)], 4096).is_err());
        assert!(open(&key, &sealed[..sealed.len() - 1], 4096).is_err());
        assert!(open(&BackupKey::generate().unwrap(), &sealed, 4096).is_err());
        assert!(open(&key, b"plain text", 4096).is_err());
    }

    #[test]
    fn keys_read_back_from_their_hex() {
        let key = BackupKey::generate().unwrap();
        let again = BackupKey::parse(&format!("  {}\n", key.to_hex())).unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(again.content_id("ab"), key.content_id("ab"));
        assert_ne!(again.content_id("ab"), key.manifest_mac(b"ab"));
        assert!(BackupKey::parse("abc").is_err());
        assert!(BackupKey::parse(&"zz".repeat(32)).is_err());
    }
}
