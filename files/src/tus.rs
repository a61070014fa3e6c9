//! The tus 1.0 resumable-upload protocol's headers (<https://tus.io/protocols/resumable-upload>):
//! core, creation (with upload), termination and expiration.

use base64::Engine;
use thiserror::Error;

/// `Tus-Resumable` and `Tus-Version`: the one version spoken.
pub const TUS_RESUMABLE: &str = "1.0.0";
/// `Tus-Extension`.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
/// The `Content-Type` of a `PATCH` (and of a `POST` that carries data).
pub const TUS_UPLOAD_CONTENT_TYPE: &str = "application/offset+octet-stream";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TusError {
    #[error("{header} must be a whole number of bytes, not `{value}`")]
    NotANumber { header: &'static str, value: String },
    #[error("Upload-Metadata: `{0}` is not a key with an optional base64 value")]
    BadPair(String),
    #[error("Upload-Metadata: the value of `{0}` is not base64")]
    NotBase64(String),
    #[error("Upload-Metadata: the value of `{0}` is not UTF-8 text")]
    NotText(String),
    #[error("Upload-Metadata: `{0}` is given twice")]
    Repeated(String),
}

/// `Upload-Metadata`'s pairs, in order; a key without a value maps to `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, Option<String>)>);

impl Metadata {
    /// The value of `key`, if it was given one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A header holding a byte count (`Upload-Length`, `Upload-Offset`).
pub fn parse_length(header: &'static str, value: &str) -> Result<u64, TusError> {
    let not_a_number = || TusError::NotANumber {
        header,
        value: value.chars().take(40).collect(),
    };
    // `u64::from_str` takes a leading `+`; the protocol does not.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    value.parse().map_err(|_| not_a_number())
}

/// `Upload-Metadata: filename ZG9jLnBkZg==,is_confidential`: comma-separated pairs, each a key
/// and, after one space, its value in base64. Values must be UTF-8 text here.
pub fn parse_metadata(value: &str) -> Result<Metadata, TusError> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let encoded = parts.next();
        if key.is_empty() || parts.next().is_some() || !key.is_ascii() {
            return Err(TusError::BadPair(pair.chars().take(60).collect()));
        }
        let decoded = match encoded {
            None => None,
            Some(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| TusError::NotBase64(key.to_string()))?;
                Some(String::from_utf8(bytes).map_err(|_| TusError::NotText(key.to_string()))?)
            }
        };
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(TusError::Repeated(key.to_string()));
        }
        pairs.push((key.to_string(), decoded));
    }
    Ok(Metadata(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_reads_pairs_and_bare_keys() {
        // "需求.pdf" and "application/pdf" in base64.
        let meta = parse_metadata("filename 6ZyA5rGCLnBkZg==, filetype YXBwbGljYXRpb24vcGRm,flag")
            .unwrap();
        assert_eq!(meta.get("filename"), Some("需求.pdf"));
        assert_eq!(meta.get("filetype"), Some("application/pdf"));
        assert_eq!(meta.get("flag"), None);
        assert_eq!(meta.0.len(), 3);
        assert_eq!(parse_metadata("").unwrap(), Metadata::default());
    }

    #[test]
    fn bad_metadata_says_which_key() {
        assert_eq!(
            parse_metadata("filename !!!"),
            Err(TusError::NotBase64("filename".into()))
        );
        assert_eq!(
            parse_metadata("a YQ==,a Yg=="),
            Err(TusError::Repeated("a".into()))
        );
        assert!(matches!(parse_metadata("a b c"), Err(TusError::BadPair(_))));
        assert_eq!(parse_metadata("n /w=="), Err(TusError::NotText("n".into())));
    }

    #[test]
    fn lengths_are_plain_digits() {
        assert_eq!(parse_length("Upload-Length", "0"), Ok(0));
        assert_eq!(parse_length("Upload-Length", "2147483648"), Ok(1 << 31));
        for bad in ["", "+1", "-1", "1.5", " 1", "99999999999999999999999"] {
            assert!(parse_length("Upload-Offset", bad).is_err(), "{bad}");
        }
    }
}
