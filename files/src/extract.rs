//! The text of a document, for search: plain text and Markdown (UTF-8, or GB18030 as older
//! Chinese editors save it), PDF, and the Office formats (Word, Excel and PowerPoint, read
//! from their zipped XML). Pure: bytes in, text out; the caller reads the bytes and bounds the
//! time. What cannot be read is an error for this one document, never a panic.

use std::io::{Cursor, Read};

use unicode_normalization::UnicodeNormalization;

/// Documents larger than this are found by their name only.
pub const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// Of a plain-text file, only this much is read (the text kept is bounded anyway).
pub const TEXT_SOURCE_BYTES: u64 = 1024 * 1024;
/// The most text kept of one document.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// The most an Office document may unpack to (a zip bomb is refused, not unpacked).
const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;

/// What kind of document a file is, for reading its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Pdf,
    /// A zip: Word, Excel or PowerPoint, as its entries say.
    Office,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("not a readable PDF: {0}")]
    Pdf(String),
    #[error("not a readable Office document: {0}")]
    Office(String),
    #[error("a zip that is not a Word, Excel or PowerPoint document")]
    NotOffice,
    #[error("unpacks to more than {MAX_UNPACKED_BYTES} bytes")]
    TooLarge,
}

/// The format of a file whose bytes sniffed as `mime`, named `name`; `None` for what has no
/// text to read (images, audio, archives).
pub fn format(mime: &str, name: &str) -> Option<Format> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    if mime == "application/pdf" {
        Some(Format::Pdf)
    } else if mime.starts_with("text/plain") {
        Some(Format::Text)
    } else if mime == "application/zip" || mime.starts_with("application/vnd.openxmlformats") {
        Some(Format::Office)
    } else if mime == "application/octet-stream"
        && matches!(
            extension.as_str(),
            "txt" | "md" | "markdown" | "csv" | "log"
        )
    {
        // Text in a legacy encoding does not sniff as UTF-8 text.
        Some(Format::Text)
    } else {
        None
    }
}

/// The text of `bytes` in `format`, at most `MAX_TEXT_BYTES`.
pub fn extract(format: Format, bytes: &[u8]) -> Result<String, ExtractError> {
    let text = match format {
        Format::Text => decode(bytes),
        Format::Pdf => pdf(bytes)?,
        // The Office readers are others' code over untrusted bytes: a panic in them (an
        // overflow on a cell reference, say) is a document that cannot be read.
        Format::Office => match std::panic::catch_unwind(|| office(bytes)) {
            Ok(text) => text?,
            Err(_) => {
                return Err(ExtractError::Office(
                    "the document reader gave up on it".into(),
                ))
            }
        },
    };
    Ok(bounded(text))
}

/// UTF-8 (a character cut at the end is dropped), else GB18030.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => {
            let (text, _, _) = encoding_rs::GB18030.decode(bytes);
            text.into_owned()
        }
    }
}

fn bounded(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn pdf(bytes: &[u8]) -> Result<String, ExtractError> {
    // The PDF reader panics on some malformed files; that is this document's error only.
    match std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes)) {
        // Fonts often map CJK characters to their compatibility forms (⼆ for 二): NFKC
        // folds them back, so the words are found.
        Ok(Ok(text)) => Ok(text.nfkc().collect()),
        Ok(Err(e)) => Err(ExtractError::Pdf(e.to_string())),
        Err(_) => Err(ExtractError::Pdf("the PDF reader gave up on it".into())),
    }
}

fn office(bytes: &[u8]) -> Result<String, ExtractError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ExtractError::Office(e.to_string()))?;
    let mut unpacked = 0u64;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| ExtractError::Office(e.to_string()))?;
        unpacked = unpacked.saturating_add(entry.size());
        names.push(entry.name().to_string());
    }
    if unpacked > MAX_UNPACKED_BYTES {
        return Err(ExtractError::TooLarge);
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("word/document.xml") {
        xml_text(&mut zip, "word/document.xml", b"t", b"p")
    } else if has("ppt/presentation.xml") {
        let mut slides: Vec<(u32, &String)> = names
            .iter()
            .filter_map(|name| {
                let number = name
                    .strip_prefix("ppt/slides/slide")?
                    .strip_suffix(".xml")?
                    .parse()
                    .ok()?;
                Some((number, name))
            })
            .collect();
        slides.sort();
        let mut text = String::new();
        for (_, name) in slides {
            text.push_str(&xml_text(&mut zip, name, b"t", b"p")?);
            text.push('\n');
            if text.len() > MAX_TEXT_BYTES {
                break;
            }
        }
        Ok(text)
    } else if has("xl/workbook.xml") {
        spreadsheet(bytes)
    } else {
        Err(ExtractError::NotOffice)
    }
}

/// The text of the XML entry `name`: what is inside `<…:text_tag>` elements, a line break
/// after each `<…:line_tag>`.
fn xml_text(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    text_tag: &[u8],
    line_tag: &[u8],
) -> Result<String, ExtractError> {
    use quick_xml::events::Event;
    let mut xml = Vec::new();
    zip.by_name(name)
        .map_err(|e| ExtractError::Office(e.to_string()))?
        .take(MAX_UNPACKED_BYTES)
        .read_to_end(&mut xml)
        .map_err(|e| ExtractError::Office(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
    let mut text = String::new();
    let mut inside = false;
    let mut buffer = Vec::new();
    loop {
        match reader.read_event_into(&mut buffer) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == text_tag => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == text_tag => inside = false,
            Ok(Event::End(e)) if e.local_name().as_ref() == line_tag => text.push('\n'),
            Ok(Event::Empty(e)) if e.local_name().as_ref() == b"tab" => text.push('\t'),
            Ok(Event::Text(t)) if inside => match t.decode() {
                Ok(part) => text.push_str(&part),
                Err(e) => return Err(ExtractError::Office(e.to_string())),
            },
            Ok(Event::GeneralRef(r)) if inside => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Ok(name) = r.decode() {
                    if let Some(s) = quick_xml::escape::resolve_xml_entity(&name) {
                        text.push_str(s);
                    }
                }
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(ExtractError::Office(e.to_string())),
            Ok(_) => {}
        }
        buffer.clear();
        if text.len() > MAX_TEXT_BYTES {
            break;
        }
    }
    Ok(text)
}

/// Each sheet's name, then its rows, cells apart by tabs.
fn spreadsheet(bytes: &[u8]) -> Result<String, ExtractError> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ExtractError::Office(e.to_string()))?;
    let mut text = String::new();
    let sheets: Vec<String> = book.sheet_names().to_vec();
    for sheet in sheets {
        text.push_str(&sheet);
        text.push('\n');
        // Cell by cell, as stored: a sheet whose cells sit far apart is not laid out as a
        // grid first (one cell at A1 and one at XFD1048576 would be 17 billion).
        let mut cells = book
            .worksheet_cells_reader(&sheet)
            .map_err(|e| ExtractError::Office(e.to_string()))?;
        let mut row = None;
        while let Some(cell) = cells
            .next_cell()
            .map_err(|e| ExtractError::Office(e.to_string()))?
        {
            let value = calamine::Data::from(cell.get_value().clone());
            if value == calamine::Data::Empty {
                continue;
            }
            let at = cell.get_position().0;
            match row {
                Some(current) if current == at => text.push('\t'),
                Some(_) => text.push('\n'),
                None => {}
            }
            row = Some(at);
            text.push_str(&value.to_string());
            if text.len() > MAX_TEXT_BYTES {
                return Ok(text);
            }
        }
        if row.is_some() {
            text.push('\n');
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zipped(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            out.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(body.as_bytes()).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn the_format_comes_from_the_sniffed_type_and_then_the_name() {
        assert_eq!(format("application/pdf", "x"), Some(Format::Pdf));
        assert_eq!(
            format("text/plain; charset=utf-8", "a.bin"),
            Some(Format::Text)
        );
        assert_eq!(
            format("application/octet-stream", "纪要.md"),
            Some(Format::Text)
        );
        assert_eq!(format("application/octet-stream", "a.bin"), None);
        assert_eq!(format("image/png", "a.txt"), None);
        assert_eq!(
            format(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "a"
            ),
            Some(Format::Office)
        );
    }

    #[test]
    fn text_in_utf8_or_gb18030() {
        assert_eq!(
            extract(Format::Text, "预算报告 budget".as_bytes()).unwrap(),
            "预算报告 budget"
        );
        let (gbk, _, _) = encoding_rs::GB18030.encode("需求调研报告");
        assert_eq!(extract(Format::Text, &gbk).unwrap(), "需求调研报告");
        // A character cut at the end of what was read is dropped.
        let cut = &"会议".as_bytes()[..4];
        assert_eq!(extract(Format::Text, cut).unwrap(), "会");
        let long = "字".repeat(MAX_TEXT_BYTES);
        let kept = extract(Format::Text, long.as_bytes()).unwrap();
        assert!(kept.len() <= MAX_TEXT_BYTES && kept.len() > MAX_TEXT_BYTES - 3);
    }

    #[test]
    fn word_and_powerpoint_text() {
        let docx = zipped(&[
            ("[Content_Types].xml", "<Types/>"),
            (
                "word/document.xml",
                r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>供应商</w:t></w:r><w:r><w:t xml:space="preserve"> 报价 &amp; terms</w:t></w:r></w:p><w:p><w:r><w:tab/><w:t>第二段</w:t></w:r></w:p></w:body></w:document>"#,
            ),
        ]);
        assert_eq!(
            extract(Format::Office, &docx).unwrap(),
            "供应商 报价 & terms\n\t第二段\n"
        );
        let pptx = zipped(&[
            ("ppt/presentation.xml", "<p:presentation/>"),
            (
                "ppt/slides/slide10.xml",
                r#"<p:sld xmlns:a="a"><a:p><a:r><a:t>Ten</a:t></a:r></a:p></p:sld>"#,
            ),
            (
                "ppt/slides/slide2.xml",
                r#"<p:sld xmlns:a="a"><a:p><a:r><a:t>季度目标</a:t></a:r></a:p></p:sld>"#,
            ),
        ]);
        assert_eq!(
            extract(Format::Office, &pptx).unwrap(),
            "季度目标\n\nTen\n\n"
        );
        assert!(matches!(
            extract(Format::Office, &zipped(&[("a.txt", "x")])),
            Err(ExtractError::NotOffice)
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(extract(Format::Pdf, b"%PDF-1.7\n garbage").is_err());
        assert!(extract(Format::Office, b"PK\x03\x04 garbage").is_err());
        let half = zipped(&[("word/document.xml", "<w:document>")]);
        assert!(extract(Format::Office, &half[..half.len() / 2]).is_err());
    }
}
