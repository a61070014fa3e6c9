//! Link previews: the title, description and site name of a page that a message links to,
//! fetched by the server so that every reader sees the same card without their browser calling
//! the site. Only `http` and `https`; every address a name resolves to is checked, and the
//! connection goes to the checked address (no second lookup to rebind), so a message cannot make
//! the server read what only it can reach (loopback, private, link-local and other
//! non-public addresses) unless `previews.allow_private` says it may. Redirects are followed by
//! hand, each checked the same way; the whole fetch has `previews.timeout_ms`; only the first
//! `MAX_BYTES` of the page are read. Answers are kept for an hour.

use crate::config::PreviewsSection;
use crate::error::{AppError, AppResult};
use parley_proto::{ErrorCode, LinkPreview};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most of a page read: the `<head>` is near the top.
const MAX_BYTES: usize = 512 * 1024;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 3;
/// Longest URL asked about.
const MAX_URL: usize = 2048;
/// How long an answer (a preview, or that there is none) is kept, and how many.
const KEEP: Duration = Duration::from_secs(3600);
const KEEP_AT_MOST: usize = 2000;
/// Text kept of a title and of a description, in characters.
const TITLE_CHARS: usize = 200;
const DESCRIPTION_CHARS: usize = 400;

/// Why a page has no preview.
#[derive(Debug, Clone)]
enum Miss {
    /// Not a URL we fetch: `422`.
    Refused(String),
    /// It leads somewhere private: `403`.
    Private(String),
    /// It did not give one: `404`.
    Nothing(String),
}

/// What was answered for a link, and when.
type Kept = HashMap<String, (Instant, Result<LinkPreview, Miss>)>;

#[derive(Debug)]
pub struct Previews {
    config: PreviewsSection,
    kept: Mutex<Kept>,
}

impl Previews {
    pub fn new(config: PreviewsSection) -> Previews {
        Previews {
            config,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The preview of `url`, from what was kept or fetched now.
    pub async fn preview(&self, url: &str) -> AppResult<LinkPreview> {
        if !self.config.enabled {
            return Err(AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "link previews are turned off on this server (previews.enabled)",
            ));
        }
        let now = Instant::now();
        let kept = self.kept.lock().expect("previews lock").get(url).cloned();
        let answer = match kept {
            Some((at, answer)) if now.duration_since(at) < KEEP => answer,
            _ => {
                let timeout = Duration::from_millis(self.config.timeout_ms);
                let answer = match tokio::time::timeout(timeout, self.fetch(url)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(Miss::Nothing(format!(
                        "the page did not answer within {} ms",
                        self.config.timeout_ms
                    ))),
                };
                self.keep(url, now, answer.clone());
                answer
            }
        };
        answer.map_err(|miss| match miss {
            Miss::Refused(why) => AppError::invalid(why),
            Miss::Private(why) => AppError::forbidden(why),
            Miss::Nothing(why) => AppError::not_found(format!("no preview: {why}")),
        })
    }

    fn keep(&self, url: &str, at: Instant, answer: Result<LinkPreview, Miss>) {
        let mut kept = self.kept.lock().expect("previews lock");
        if kept.len() >= KEEP_AT_MOST {
            kept.retain(|_, (when, _)| at.duration_since(*when) < KEEP);
            if kept.len() >= KEEP_AT_MOST {
                kept.clear();
            }
        }
        kept.insert(url.to_string(), (at, answer));
    }

    async fn fetch(&self, url: &str) -> Result<LinkPreview, Miss> {
        if url.len() > MAX_URL {
            return Err(Miss::Refused(format!(
                "a URL is at most {MAX_URL} characters"
            )));
        }
        let mut url = Url::parse(url).map_err(|e| Miss::Refused(format!("not a URL: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let (host, address) = self.checked_address(&url).await?;
            // The connection goes to the address just checked, not to a second lookup.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, address)
                .user_agent("Parley link preview (+https://github.com/parley)")
                .build()
                .map_err(|e| Miss::Nothing(format!("no HTTP client: {e}")))?;
            let mut response = client
                .get(url.clone())
                .header("accept", "text/html,application/xhtml+xml")
                .send()
                .await
                .map_err(|e| Miss::Nothing(format!("the page could not be read: {e}")))?;
            if response.status().is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|to| url.join(to).ok())
                    .ok_or_else(|| Miss::Nothing("a redirect without a place to go".into()))?;
                url = next;
                continue;
            }
            if response.status() != StatusCode::OK {
                return Err(Miss::Nothing(format!(
                    "the page answered {}",
                    response.status()
                )));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !(content_type.starts_with("text/html")
                || content_type.starts_with("application/xhtml"))
            {
                return Err(Miss::Nothing(format!(
                    "the link is not a page but `{content_type}`"
                )));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| Miss::Nothing(format!("the page was cut off: {e}")))?
            {
                body.extend_from_slice(&chunk);
                if body.len() >= MAX_BYTES {
                    body.truncate(MAX_BYTES);
                    break;
                }
            }
            let html = decode(&body, &content_type);
            return read_page(&html, &url)
                .ok_or_else(|| Miss::Nothing("the page has no title".into()));
        }
        Err(Miss::Nothing(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// The host of `url` and the address to connect to: every address it resolves to must be
    /// public, unless private ones are allowed.
    async fn checked_address(&self, url: &Url) -> Result<(String, SocketAddr), Miss> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Miss::Refused(format!(
                "only http and https links have previews, not `{}`",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Miss::Refused(
                "a link with a user name or password has no preview".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Miss::Refused("the link names no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| Miss::Nothing(format!("`{host}` was not found: {e}")))?
                .collect(),
        };
        let first = *addresses
            .first()
            .ok_or_else(|| Miss::Nothing(format!("`{host}` has no address")))?;
        if !self.config.allow_private {
            if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
                return Err(Miss::Private(format!(
                    "`{host}` is at a private address ({}); the server does not fetch those",
                    private.ip()
                )));
            }
        }
        Ok((host, first))
    }
}

/// An address anyone on the internet could reach: not loopback, private, link-local, shared
/// (carrier NAT), documentation, benchmarking, multicast, broadcast or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0];
            if nat64 {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x0100 && s[1..4] == [0, 0, 0] // discard
                || v6 == Ipv6Addr::from(1u128)) // ::1 spelled otherwise
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// The page's text, in the charset its header or `<meta charset>` names (GBK pages are common),
/// else UTF-8.
fn decode(body: &[u8], content_type: &str) -> String {
    let label = charset_of(content_type).or_else(|| {
        let head = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
        let at = head.find("charset=")?;
        let rest = &head[at + "charset=".len()..];
        let rest = rest.trim_start_matches(['"', '\'']);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_string())
    });
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

fn charset_of(content_type: &str) -> Option<String> {
    let at = content_type.find("charset=")?;
    Some(
        content_type[at + "charset=".len()..]
            .trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace())
            .split(';')
            .next()?
            .to_string(),
    )
}

/// The preview a page's head gives: Open Graph first, then `<title>` and the description.
fn read_page(html: &str, url: &Url) -> Option<LinkPreview> {
    let mut meta: HashMap<String, String> = HashMap::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<meta") {
        let start = at + found;
        let Some(end) = lower[start..].find('>') else {
            break;
        };
        let tag = &html[start..start + end];
        let attrs = attributes(tag);
        let key = attrs
            .get("property")
            .or_else(|| attrs.get("name"))
            .map(|k| k.to_ascii_lowercase());
        if let (Some(key), Some(content)) = (key, attrs.get("content")) {
            meta.entry(key).or_insert_with(|| content.clone());
        }
        at = start + end;
    }
    let title_tag = lower.find("<title").and_then(|start| {
        let open = start + lower[start..].find('>')? + 1;
        let close = open + lower[open..].find("</title")?;
        Some(unescape(&html[open..close]))
    });
    let clean = |text: &str, chars: usize| -> Option<String> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then(|| text.chars().take(chars).collect())
    };
    let title = meta
        .get("og:title")
        .or_else(|| meta.get("twitter:title"))
        .cloned()
        .or(title_tag)
        .and_then(|t| clean(&t, TITLE_CHARS))?;
    let description = meta
        .get("og:description")
        .or_else(|| meta.get("description"))
        .or_else(|| meta.get("twitter:description"))
        .and_then(|d| clean(d, DESCRIPTION_CHARS));
    let site_name = meta
        .get("og:site_name")
        .and_then(|s| clean(s, TITLE_CHARS))
        .or_else(|| url.host_str().map(str::to_string));
    Some(LinkPreview {
        url: url.to_string(),
        title,
        description,
        site_name,
    })
}

/// A tag's attributes by lower-cased name, values unescaped.
fn attributes(tag: &str) -> HashMap<String, String> {
    let mut found = HashMap::new();
    let bytes = tag.as_bytes();
    let mut i = tag.find(char::is_whitespace).unwrap_or(tag.len());
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let name = tag[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            if name.is_empty() {
                break;
            }
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = i + 1;
                let end = tag[start..]
                    .find(quote as char)
                    .map_or(tag.len(), |e| start + e);
                i = end + 1;
                &tag[start..end]
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[start..i]
            }
        };
        if !name.is_empty() {
            found.insert(name, unescape(value));
        }
    }
    found
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&apos;`, `&nbsp;` and numeric references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in ["1.1.1.1", "223.5.5.5", "2400:3200::1", "64:ff9b::101:101"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn a_page_head_gives_its_preview() {
        let url = Url::parse("https://example.cn/a").expect("url");
        let html = r#"<html><head><meta charset="utf-8"><title> 季度 &amp; 预算 </title>
            <meta name="description" content="第三季度的预算报告 &quot;草稿&quot;">
            <meta property='og:site_name' content=示例></head></html>"#;
        let p = read_page(html, &url).expect("preview");
        assert_eq!(p.title, "季度 & 预算");
        assert_eq!(
            p.description.as_deref(),
            Some("第三季度的预算报告 \"草稿\"")
        );
        assert_eq!(p.site_name.as_deref(), Some("示例"));
        let og = r#"<meta content="OG title" property="og:title"><title>Plain</title>"#;
        assert_eq!(read_page(og, &url).expect("preview").title, "OG title");
        assert!(read_page("<p>no head</p>", &url).is_none());
        assert_eq!(unescape("&#20013;&#x6587; &bogus; &"), "中文 &bogus; &");
    }

    #[test]
    fn a_gbk_page_is_read_in_its_charset() {
        let (bytes, _, _) = encoding_rs::GBK.encode("<title>中文标题</title>");
        let html = decode(&bytes, "text/html; charset=gbk");
        assert!(html.contains("中文标题"), "{html}");
        let html = decode(
            &[b"<meta charset=\"gb2312\">".as_slice(), &bytes].concat(),
            "text/html",
        );
        assert!(html.contains("中文标题"), "{html}");
    }
}
