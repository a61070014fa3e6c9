//! The `Range` header of recordings' and files' downloads, as `byte_range` reads it. Input: the
//! file size (u64 LE, 8 bytes), then the header's value. A range it returns is never empty and
//! never past the end of the file.

use parley_fuzz::Reader;

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let mut r = Reader::new(data);
        let size = r.u64();
        let Ok(value) = std::str::from_utf8(r.rest()) else {
            return;
        };
        if let Some(range) = parley_files::byte_range(value, size) {
            assert!(range.start < range.end, "{value:?} gave an empty range");
            assert!(range.end <= size, "{value:?} goes past {size}");
        }
    });
}
