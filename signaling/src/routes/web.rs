//! The browser-facing files embedded in the binary: today the JS SDK, `web/sdk/parley.js`.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const SDK: &str = include_str!("../../../web/sdk/parley.js");

/// A strong validator for the embedded SDK: the start of its SHA-256, quoted.
static SDK_ETAG: LazyLock<HeaderValue> = LazyLock::new(|| {
    let digest = Sha256::digest(SDK.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("a hex ETag is a valid header")
});

/// The JS SDK as an ES module. Any origin may import it; browsers revalidate it on each load
/// (`no-cache`) and get `304 Not Modified` while it is unchanged.
#[utoipa::path(get, path = "/sdk/parley.js", tag = "web", responses(
    (status = 200, description = "The JS SDK, an ES module", content_type = "text/javascript"),
    (status = 304, description = "Unchanged since the ETag given in If-None-Match")))]
pub async fn sdk(headers: HeaderMap) -> Response {
    let etag = SDK_ETAG.clone();
    let common = [
        (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, etag.clone()),
    ];
    let unchanged = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == etag.as_bytes());
    if unchanged {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SDK,
    )
        .into_response()
}
