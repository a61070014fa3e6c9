//! The text of a document for search (`parley_files::extract`), as the server reads it from an
//! uploaded file. Input: one byte choosing the format (even: text, odd: an Office zip), then
//! the file's bytes. Reading either gives text or says why; it never panics, and the text is
//! never longer than the bound. A panic inside the readers of others' formats is caught and
//! reported as an unreadable document, as the server sees it, so panics are not hooked here:
//! only one that escapes `extract` is a crash. (PDF is not fed to this target.)

use parley_fuzz::Reader;

fn main() {
    afl::fuzz(false, |data: &[u8]| {
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
