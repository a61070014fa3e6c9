//! What a download says about itself over HTTP: the byte range asked for, the entity tag and
//! the `Content-Disposition` that keeps any name intact.

use std::ops::Range;

/// One byte range of a request: `bytes=a-b`, `bytes=a-` or `bytes=-n`, within `size`. `None`
/// when it is not one satisfiable range (the answer is then 416).
pub fn byte_range(value: &str, size: u64) -> Option<Range<u64>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let n: u64 = last.parse().ok()?;
        size.saturating_sub(n)..size
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            size
        } else {
            last.parse::<u64>().ok()?.saturating_add(1).min(size)
        };
        start..end
    };
    (range.start < range.end).then_some(range)
}

/// The strong entity tag of content with this SHA-256 (hex): the same bytes, the same tag.
pub fn etag(sha256_hex: &str) -> String {
    format!("\"{sha256_hex}\"")
}

/// Does an `If-None-Match` header name `tag` (or `*`)? Weak tags compare by their value.
pub fn etag_matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// `Content-Disposition` for `name` (RFC 6266): `inline` for what a browser should show,
/// `attachment` otherwise; an ASCII fallback in `filename` and the exact name, UTF-8 and
/// percent-encoded, in `filename*` (RFC 5987), so `需求调研报告 V2.docx` arrives as it was.
pub fn content_disposition(name: &str, inline: bool) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_browsers_ask() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some(0..100));
        assert_eq!(byte_range("bytes=900-", 1000), Some(900..1000));
        assert_eq!(byte_range("bytes=-100", 1000), Some(900..1000));
        assert_eq!(byte_range("bytes=990-2000", 1000), Some(990..1000));
        assert_eq!(byte_range("bytes=1000-", 1000), None);
        assert_eq!(byte_range("bytes=0-1,5-9", 1000), None);
        assert_eq!(byte_range("items=0-1", 1000), None);
    }

    #[test]
    fn dispositions_keep_chinese_names() {
        assert_eq!(
            content_disposition("需求 V2.pdf", true),
            "inline; filename=\"__ V2.pdf\"; filename*=UTF-8''%E9%9C%80%E6%B1%82%20V2.pdf"
        );
        assert_eq!(
            content_disposition("a\"b%.txt", false),
            "attachment; filename=\"a_b_.txt\"; filename*=UTF-8''a%22b%25.txt"
        );
    }

    #[test]
    fn etags_match_lists_weak_and_star() {
        let tag = etag("ab12");
        assert_eq!(tag, "\"ab12\"");
        assert!(etag_matches("\"x\", \"ab12\"", &tag));
        assert!(etag_matches("W/\"ab12\"", &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"ab1\"", &tag));
    }
}
