//! The browser-facing files embedded in the binary: the web app (`web/app/`, served at `/` and
//! `/app/<file>`, and its service worker at `/sw.js`, whose scope is the whole origin) and the JS
//! SDK (`web/sdk/`, at `/sdk/<file>`). Nothing is read from disk at run time, so the binary alone
//! is the whole product.

use crate::error::AppError;
use axum::extract::Path;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_proto::ErrorCode;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file: its bytes (text or, for the PNG icons, binary), its content type, and a
/// strong ETag (the start of its SHA-256).
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Asset {
        let digest = Sha256::digest(body);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("a hex ETag is valid");
        Asset {
            body,
            content_type,
            etag,
        }
    }

    /// The file, or `304 Not Modified` when `If-None-Match` names its ETag. Browsers revalidate
    /// on each load (`no-cache`), so a server upgrade reaches them at once.
    fn respond(&self, headers: &HeaderMap, cross_origin: bool) -> Response {
        let mut response = if unchanged(headers, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut ok = self.body.into_response();
            ok.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            ok
        };
        let h = response.headers_mut();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(ETAG, self.etag.clone());
        if cross_origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        response
    }
}

fn unchanged(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == etag.as_bytes())
}

const JS: &str = "text/javascript; charset=utf-8";
/// TypeScript declarations (`.d.ts`), as Deno and other TypeScript-aware loaders expect them.
const TS: &str = "application/typescript; charset=utf-8";

/// `(name, Asset)` for a file of `web/<dir>/`, embedded at compile time: a text file, checked to
/// be UTF-8 by `include_str!`, or with `bytes` a binary one (an image).
macro_rules! embed {
    ($dir:literal, $name:literal, $content_type:expr) => {
        (
            $name,
            Asset::new(
                include_str!(concat!("../../../web/", $dir, "/", $name)).as_bytes(),
                $content_type,
            ),
        )
    };
    (bytes $dir:literal, $name:literal, $content_type:expr) => {
        (
            $name,
            Asset::new(
                include_bytes!(concat!("../../../web/", $dir, "/", $name)),
                $content_type,
            ),
        )
    };
}

/// The SDK's modules by name, as `/sdk/<name>` serves them: `parley.js` is the one apps import
/// (it re-exports `Room` from `room.js`; both import `common.js`).
static SDK_FILES: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    vec![
        embed!("sdk", "parley.js", JS),
        embed!("sdk", "room.js", JS),
        embed!("sdk", "common.js", JS),
        embed!("sdk", "files.js", JS),
        embed!("sdk", "media.js", JS),
        embed!("sdk", "stats.js", JS),
        embed!("sdk", "parley.d.ts", TS),
        embed!("sdk", "package.json", "application/json"),
    ]
});

static APP_INDEX: LazyLock<Asset> =
    LazyLock::new(|| embed!("app", "index.html", "text/html; charset=utf-8").1);

/// The app's files by name, as `/app/<name>` serves them.
static APP_FILES: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    vec![
        embed!("app", "app.js", JS),
        embed!("app", "chat.js", JS),
        embed!("app", "i18n.js", JS),
        embed!("app", "ui.js", JS),
        embed!("app", "minutes.js", JS),
        embed!("app", "meeting.js", JS),
        embed!("app", "admin.js", JS),
        embed!("app", "library.js", JS),
        embed!("app", "search.js", JS),
        embed!("app", "knowledge.js", JS),
        embed!("app", "article.js", JS),
        embed!("app", "markdown.js", JS),
        embed!("app", "upkeep.js", JS),
        embed!("app", "icons.js", JS),
        embed!("app", "emoji.js", JS),
        embed!("app", "people.js", JS),
        embed!("app", "calls.js", JS),
        embed!("app", "thread.js", JS),
        embed!("app", "message.js", JS),
        embed!("app", "composer.js", JS),
        embed!("app", "attachments.js", JS),
        embed!("app", "notifications.js", JS),
        embed!("app", "app.css", "text/css; charset=utf-8"),
        embed!("app", "icon.svg", "image/svg+xml"),
        embed!(bytes "app", "icon-192.png", "image/png"),
        embed!(bytes "app", "icon-512.png", "image/png"),
        embed!("app", "manifest.webmanifest", "application/manifest+json"),
    ]
});

/// The service worker, which keeps the app shell for opening offline (`web/app/sw.js`).
static SERVICE_WORKER: LazyLock<Asset> = LazyLock::new(|| embed!("app", "sw.js", JS).1);

/// The JS SDK's ES modules: `parley.js` (messaging, and everything else re-exported), `room.js`
/// (meetings), `media.js` (tracks and participants), `stats.js`, `files.js` and `common.js`;
/// its TypeScript declarations, `parley.d.ts` (named by `parley.js`'s `X-TypeScript-Types`
/// header); and its npm `package.json`. Any origin may import them; browsers revalidate them on
/// each load (`no-cache`) and get `304 Not Modified` while they are unchanged.
#[utoipa::path(get, path = "/sdk/{file}", tag = "web",
    params(("file" = String, Path, description = "`parley.js`, `room.js`, `media.js`, `stats.js`, `files.js`, `common.js`, `parley.d.ts` or `package.json`")),
    responses(
        (status = 200, description = "The JS SDK: an ES module (`text/javascript`), its declarations (`application/typescript`) or its `package.json`", content_type = "text/javascript"),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, body = parley_proto::ErrorBody, description = "route_not_found")))]
pub async fn sdk(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let mut response = serve(&SDK_FILES, "the SDK", &file, &headers, true);
    if file == "parley.js" && response.status() != StatusCode::NOT_FOUND {
        // Where TypeScript-aware loaders (Deno, for one) find the module's types.
        response.headers_mut().insert(
            HeaderName::from_static("x-typescript-types"),
            HeaderValue::from_static("./parley.d.ts"),
        );
    }
    response
}

/// The web app: sign-in, messaging, meetings, minutes and tasks, administration. One page; the
/// part shown follows the URL's fragment (`#/c/12`).
#[utoipa::path(get, path = "/", tag = "web", responses(
    (status = 200, description = "The web app's page", content_type = "text/html"),
    (status = 304, description = "Unchanged since the ETag given in If-None-Match")))]
pub async fn app_index(headers: HeaderMap) -> Response {
    APP_INDEX.respond(&headers, false)
}

/// One of the web app's scripts, style sheets or images.
#[utoipa::path(get, path = "/app/{file}", tag = "web",
    params(("file" = String, Path, description = "e.g. `app.js`, `app.css`, `icon-192.png`, `manifest.webmanifest`")),
    responses(
        (status = 200, description = "The file"),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, body = parley_proto::ErrorBody, description = "route_not_found")))]
pub async fn app_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&APP_FILES, "the web app", &file, &headers, false)
}

/// The web app's service worker. It is served from the root so that its scope covers the whole
/// app (`/`); it answers the app shell (`/`, `/app/*`, `/sdk/*`) from the network first and from
/// its copy when the network fails, so the app opens offline. The API is never kept.
#[utoipa::path(get, path = "/sw.js", tag = "web", responses(
    (status = 200, description = "The service worker, a classic script", content_type = "text/javascript"),
    (status = 304, description = "Unchanged since the ETag given in If-None-Match")))]
pub async fn service_worker(headers: HeaderMap) -> Response {
    SERVICE_WORKER.respond(&headers, false)
}

/// `file` out of `files`, or `404 route_not_found` naming what has no such file.
fn serve(
    files: &[(&'static str, Asset)],
    what: &str,
    file: &str,
    headers: &HeaderMap,
    cross_origin: bool,
) -> Response {
    match files.iter().find(|(name, _)| *name == file) {
        Some((_, asset)) => asset.respond(headers, cross_origin),
        None => AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::RouteNotFound,
            format!("{what} has no file `{file}`"),
        )
        .into_response(),
    }
}
