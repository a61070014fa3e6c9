//! The text of a document for search (`parley_files::extract`), as the server reads it from an
//! uploaded file. Input: one byte choosing the format (even: text, odd: an Office zip), then
//! the file's bytes. Reading either gives text or says why; it never panics, and the text is
//! never longer than the bound. (PDF is left out here: its reader's panics are caught in the
//! server, which this harness would report as crashes.)

use parley_fuzz::Reader;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let mut r = Reader::new(data);
        let format = if r.u8() % 2 == 0 {
            parley_files::TextFormat::Text
        } else {
            parley_files::TextFormat::Office
        };
        if let Ok(text) = parley_files::extract(format, r.rest()) {
            assert!(text.len() <= parley_files::MAX_TEXT_BYTES);
        }
    });
}
