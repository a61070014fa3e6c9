//! The rules of Parley's files, with no IO: which names a file may have, how tus 1.0 headers
//! read, what a download's `Range`, `ETag` and `Content-Disposition` say, what the bytes are,
//! the text of documents for search, and the `[files]` settings. The server does the reading and writing around them.

mod access;
mod config;
mod crypt;
mod extract;
mod http;
mod name;
mod sniff;
mod thumbnail;
mod tus;

pub use access::{level, within, FolderRules, Grant, Level, Person, Root, Standing, Subject};
pub use config::FilesConfig;
pub use crypt::{
    open_all, open_chunk, seal_all, sealed_len, sealed_range, CryptError, DataKey, MasterKey,
    Sealer, Stream, CHUNK, SEALED_CHUNK,
};
pub use extract::{
    extract, format as text_format, ExtractError, Format as TextFormat, MAX_SOURCE_BYTES,
    MAX_TEXT_BYTES, TEXT_SOURCE_BYTES,
};
pub use http::{byte_range, content_disposition, etag, etag_matches};
pub use name::{check_name, NameError, MAX_NAME_BYTES};
pub use sniff::{sniff, sniff_inline, Sniffed, SNIFF_BYTES};
pub use thumbnail::{
    avatar, thumbnails, ThumbnailError, ThumbnailSize, AVATAR_SIDE, THUMBNAIL_MAX_BYTES,
    THUMBNAIL_SIZES,
};
pub use tus::{
    parse_length, parse_metadata, Metadata, TusError, TUS_EXTENSIONS, TUS_RESUMABLE,
    TUS_UPLOAD_CONTENT_TYPE,
};
