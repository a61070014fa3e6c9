//! What a file is, read from its first bytes: the name and the client's claim are not trusted.

/// How many leading bytes `sniff` looks at.
pub const SNIFF_BYTES: usize = 8192;

/// A file's type as its bytes say, and whether a browser may show it in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: String,
    /// Raster images and PDFs are shown inline; everything else (SVG and HTML included, which
    /// can carry script) is downloaded.
    pub inline: bool,
    /// A raster image Parley can make thumbnails of.
    pub image: bool,
}

const INLINE: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "application/pdf",
];

/// May a browser show a file of this type in place?
pub fn sniff_inline(mime: &str) -> bool {
    INLINE.contains(&mime)
}

/// The type of a file that starts with `head` (its first `SNIFF_BYTES`, or all of it).
pub fn sniff(head: &[u8]) -> Sniffed {
    let mime = match infer::get(head) {
        Some(kind) => kind.mime_type().to_string(),
        None if looks_like_text(head) => "text/plain; charset=utf-8".to_string(),
        None => "application/octet-stream".to_string(),
    };
    let inline = INLINE.contains(&mime.as_str());
    let image = inline && mime.starts_with("image/");
    Sniffed {
        mime,
        inline,
        image,
    }
}

/// UTF-8 without NUL, allowing a character cut off at the end of the sample.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png).mime, "image/png");
        assert!(sniff(png).inline && sniff(png).image);
        let pdf = b"%PDF-1.7\n";
        assert_eq!(sniff(pdf).mime, "application/pdf");
        assert!(sniff(pdf).inline && !sniff(pdf).image);
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert!(!sniff(zip).inline);
        assert_eq!(
            sniff("会议纪要".as_bytes()).mime,
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            sniff(&"会".as_bytes()[..2]).mime,
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(b"\0\x01\x02").mime, "application/octet-stream");
        let html = b"<html><script>alert(1)</script>";
        assert!(!sniff(html).inline);
    }
}
