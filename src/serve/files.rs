//! The built folder over HTTP, made cheap to poll: every file is read, hashed
//! (strong ETag from SHA-256 of its bytes) and compressed (gzip, brotli) once,
//! then kept in memory until its size or modification time changes. A poll with
//! a matching `If-None-Match` or `If-Modified-Since` costs one `stat` and a
//! `304 Not Modified`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::negotiate;
use super::path::{Refusal, SitePath};

/// What a path segment may hold unencoded in `Content-Location`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// Files larger than this are not kept in memory (the built site has none).
const MAX_CACHED: u64 = 16 * 1024 * 1024;
/// When the files held reach this many bytes (before compression), the cache
/// starts over: a 3,000-day archive is about 130 MB, so this is only a bound.
const MAX_CACHED_TOTAL: u64 = 512 * 1024 * 1024;

/// Serves files from the built folder with validators and compression.
#[derive(Debug)]
pub(crate) struct StaticFiles {
    root: PathBuf,
    cache: RwLock<Cache>,
}

/// The files held in memory and their total size.
#[derive(Debug, Default)]
struct Cache {
    files: HashMap<PathBuf, Arc<CachedFile>>,
    bytes: u64,
}

/// One file as read from disk, with its lazily compressed variants.
#[derive(Debug)]
struct CachedFile {
    modified: SystemTime,
    len: u64,
    content_type: &'static str,
    cache_control: &'static str,
    /// The hex digest shared by every encoding's ETag.
    hash: String,
    last_modified: HeaderValue,
    identity: Bytes,
    gzip: OnceLock<Option<Bytes>>,
    brotli: OnceLock<Option<Bytes>>,
}

/// The content codings we can send, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    fn etag_suffix(self) -> &'static str {
        match self {
            Self::Brotli => "-br",
            Self::Gzip => "-gz",
            Self::Identity => "",
        }
    }
}

impl StaticFiles {
    /// The folder served.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Serves `root`; the folder must exist.
    pub(crate) fn new(root: &Path) -> std::io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("`{}` is not a folder", root.display()),
            ));
        }
        Ok(Self {
            root,
            cache: RwLock::new(Cache::default()),
        })
    }

    /// Answers a GET or HEAD for `raw_path` (still percent-encoded).
    pub(crate) fn respond(
        &self,
        method: &Method,
        raw_path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, HEAD")],
                "method not allowed\n",
            )
                .into_response();
        }
        let site_path = match SitePath::parse(raw_path) {
            Ok(p) => p,
            Err(Refusal::Traversal) => {
                return (StatusCode::BAD_REQUEST, "bad path\n").into_response()
            }
            Err(Refusal::Hidden) => return self.not_found(),
        };
        let mut path = self.root.clone();
        path.extend(&site_path.segments);
        let Ok(meta) = std::fs::metadata(&path) else {
            self.forget(&path.join("index.html"));
            self.forget(&path);
            return self.not_found();
        };
        if meta.is_dir() {
            if !site_path.trailing_slash {
                let mut location = format!("{raw_path}/");
                if let Some(q) = query {
                    location.push('?');
                    location.push_str(q);
                }
                return (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response();
            }
            path.push("index.html");
        } else if site_path.trailing_slash {
            return self.not_found();
        }
        let Some(file) = self.load(&path) else {
            return self.not_found();
        };
        if !is_feed(file.content_type) {
            return file.respond(headers);
        }
        // A feed: its page for a browser, the feed itself for everyone else;
        // both vary by Accept, and each has its own ETag (its own bytes).
        let page = negotiate::prefers_html(headers, file.content_type)
            .then(|| self.feed_page(&site_path.segments))
            .flatten();
        let mut res = match &page {
            Some((page, location)) => {
                let mut res = page.respond(headers);
                if let Ok(location) = HeaderValue::from_str(location) {
                    res.headers_mut().insert(header::CONTENT_LOCATION, location);
                }
                res
            }
            None => file.respond(headers),
        };
        res.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("accept, accept-encoding"),
        );
        res
    }

    /// The page `build` wrote for the feed at `segments`, and its address
    /// relative to the feed's (for `Content-Location`); `None` when there is
    /// none (a build older than feed pages).
    fn feed_page(&self, segments: &[String]) -> Option<(Arc<CachedFile>, String)> {
        let page = crate::site::feed_page_path(&segments.join("/"));
        let mut path = self.root.clone();
        path.extend(page.split('/'));
        let file = self.load(&path)?;
        let encoded: Vec<String> = page
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        let location = "../".repeat(segments.len().saturating_sub(1)) + &encoded.join("/");
        Some((file, location))
    }

    /// The cached file at `path`, refreshed when it changed on disk. `None` if it
    /// does not exist, is not a regular file, or resolves (through a symlink)
    /// outside the folder.
    fn load(&self, path: &Path) -> Option<Arc<CachedFile>> {
        let meta = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            _ => {
                self.forget(path);
                return None;
            }
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if let Some(hit) = self.cache.read().ok()?.files.get(path) {
            if hit.modified == modified && hit.len == meta.len() {
                return Some(Arc::clone(hit));
            }
        }
        let real = path.canonicalize().ok()?;
        if !real.starts_with(&self.root) {
            return None;
        }
        let bytes = std::fs::read(&real).ok()?;
        let file = Arc::new(CachedFile::new(path, modified, Bytes::from(bytes)));
        if meta.len() <= MAX_CACHED {
            if let Ok(mut cache) = self.cache.write() {
                if cache.bytes + file.len > MAX_CACHED_TOTAL {
                    *cache = Cache::default();
                }
                cache.bytes += file.len;
                if let Some(old) = cache.files.insert(path.to_owned(), Arc::clone(&file)) {
                    cache.bytes = cache.bytes.saturating_sub(old.len);
                }
            }
        }
        Some(file)
    }

    /// Drops a file that is gone from the folder, so memory follows the site.
    fn forget(&self, path: &Path) {
        let cached = self.cache.read().is_ok_and(|c| c.files.contains_key(path));
        if cached {
            if let Ok(mut cache) = self.cache.write() {
                if let Some(old) = cache.files.remove(path) {
                    cache.bytes = cache.bytes.saturating_sub(old.len);
                }
            }
        }
    }
}

impl StaticFiles {
    /// A 404 with the site's own page (`404.html`, which `build` writes, with
    /// absolute links so it works at any depth), or one line without it.
    fn not_found(&self) -> Response {
        match self.load(&self.root.join("404.html")) {
            Some(page) => (
                StatusCode::NOT_FOUND,
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                page.identity.clone(),
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        }
    }
}

impl CachedFile {
    fn new(path: &Path, modified: SystemTime, identity: Bytes) -> Self {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let (content_type, cache_control) = content_type(name);
        let hash = hex::encode(&Sha256::digest(&identity)[..16]);
        // HTTP dates have whole seconds; compare at that precision.
        let last_modified = HeaderValue::from_str(&httpdate::fmt_http_date(modified))
            .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
        Self {
            modified,
            len: identity.len() as u64,
            content_type,
            cache_control,
            hash,
            last_modified,
            identity,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    fn compressible(&self) -> bool {
        let t = self.content_type;
        t.starts_with("text/") || t.contains("xml") || t.contains("json") || t.contains("svg")
    }

    fn etag(&self, coding: Coding) -> HeaderValue {
        HeaderValue::from_str(&format!("\"{}{}\"", self.hash, coding.etag_suffix()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }

    /// The body in `coding`, compressed on first use; `None` when compression
    /// would not make it smaller.
    fn encoded(&self, coding: Coding) -> Option<&Bytes> {
        match coding {
            Coding::Identity => Some(&self.identity),
            Coding::Gzip => self
                .gzip
                .get_or_init(|| smaller(&self.identity, gzip(&self.identity)))
                .as_ref(),
            Coding::Brotli => self
                .brotli
                .get_or_init(|| smaller(&self.identity, brotli(&self.identity)))
                .as_ref(),
        }
    }

    /// Picks the best coding the client accepts (and that helps).
    fn choose(&self, headers: &HeaderMap) -> (Coding, &Bytes) {
        if self.compressible() {
            let accepted = accepted_codings(headers);
            for coding in [Coding::Brotli, Coding::Gzip] {
                if accepted.contains(&coding) {
                    if let Some(body) = self.encoded(coding) {
                        return (coding, body);
                    }
                }
            }
        }
        (Coding::Identity, &self.identity)
    }

    /// Whether the client's cached copy is still good (RFC 9110 §13.2.2:
    /// `If-None-Match` wins over `If-Modified-Since`).
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
            let Ok(inm) = inm.to_str() else { return false };
            return inm.split(',').map(str::trim).any(|tag| {
                if tag == "*" {
                    return true;
                }
                // Weak comparison; any of our encodings' tags names the same content.
                let opaque = tag.trim_start_matches("W/").trim_matches('"');
                opaque
                    .strip_prefix(self.hash.as_str())
                    .is_some_and(|rest| ["", "-gz", "-br"].contains(&rest))
            });
        }
        if let Some(ims) = headers.get(header::IF_MODIFIED_SINCE) {
            let since = ims
                .to_str()
                .ok()
                .and_then(|s| httpdate::parse_http_date(s).ok());
            let ours = self
                .last_modified
                .to_str()
                .ok()
                .and_then(|s| httpdate::parse_http_date(s).ok());
            if let (Some(since), Some(ours)) = (since, ours) {
                return ours <= since;
            }
        }
        false
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let (coding, body) = self.choose(headers);
        let mut builder = Response::builder()
            .header(header::ETAG, self.etag(coding))
            .header(header::LAST_MODIFIED, self.last_modified.clone())
            .header(header::CACHE_CONTROL, self.cache_control);
        if self.compressible() {
            builder = builder.header(header::VARY, "accept-encoding");
        }
        if self.not_modified(headers) {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        builder = builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, self.content_type);
        match coding {
            Coding::Brotli => builder = builder.header(header::CONTENT_ENCODING, "br"),
            Coding::Gzip => builder = builder.header(header::CONTENT_ENCODING, "gzip"),
            Coding::Identity => {}
        }
        builder
            .body(Body::from(body.clone()))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The codings named acceptable (q > 0) in `Accept-Encoding`.
fn accepted_codings(headers: &HeaderMap) -> Vec<Coding> {
    let mut out = Vec::new();
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            match name.as_str() {
                "br" => out.push(Coding::Brotli),
                "gzip" | "x-gzip" => out.push(Coding::Gzip),
                "*" => out.extend([Coding::Brotli, Coding::Gzip]),
                _ => {}
            }
        }
    }
    out
}

fn smaller(original: &Bytes, compressed: Option<Vec<u8>>) -> Option<Bytes> {
    compressed
        .filter(|c| c.len() < original.len())
        .map(Bytes::from)
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

fn brotli(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    {
        // Quality 9 of 11: near the best ratio at a fraction of the time; done once per file.
        let mut enc = brotli::CompressorWriter::new(&mut out, 64 * 1024, 9, 22);
        enc.write_all(data).ok()?;
        enc.flush().ok()?;
    }
    Some(out)
}

/// Whether a file of `content_type` is a feed (which has a page for browsers).
fn is_feed(content_type: &str) -> bool {
    [
        "application/atom+xml",
        "application/rss+xml",
        "application/feed+json",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
}

/// Content type and `Cache-Control` by file name. Feeds get their registered
/// types so that readers and browsers treat them as feeds.
pub(crate) fn content_type(name: &str) -> (&'static str, &'static str) {
    const PAGE: &str = "public, max-age=300";
    const FEED: &str = "public, max-age=900";
    const ASSET: &str = "public, max-age=86400";
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" | "htm" => ("text/html; charset=utf-8", PAGE),
        "xml"
            if lower == "rss.xml" || lower.ends_with("-rss.xml") || lower.ends_with(".rss.xml") =>
        {
            ("application/rss+xml; charset=utf-8", FEED)
        }
        "rss" => ("application/rss+xml; charset=utf-8", FEED),
        // Every other XML file the build writes (atom.xml, papers.xml,
        // categories/*.xml) is an Atom feed; sitemap.xml is the exception.
        "xml" if lower == "sitemap.xml" => ("application/xml; charset=utf-8", PAGE),
        "xml" | "atom" => ("application/atom+xml; charset=utf-8", FEED),
        "json" if lower == "feed.json" || lower.ends_with(".feed.json") => {
            ("application/feed+json; charset=utf-8", FEED)
        }
        "json" => ("application/json; charset=utf-8", FEED),
        "xsl" | "xslt" => ("text/xsl; charset=utf-8", ASSET),
        "opml" => ("text/x-opml; charset=utf-8", FEED),
        "css" => ("text/css; charset=utf-8", ASSET),
        "js" | "mjs" => ("text/javascript; charset=utf-8", ASSET),
        "txt" => ("text/plain; charset=utf-8", PAGE),
        // A day's citations (`YYYY-MM-DD/papers.bib`).
        "bib" => ("application/x-bibtex; charset=utf-8", PAGE),
        "svg" => ("image/svg+xml", ASSET),
        "png" => ("image/png", ASSET),
        "jpg" | "jpeg" => ("image/jpeg", ASSET),
        "gif" => ("image/gif", ASSET),
        "webp" => ("image/webp", ASSET),
        "ico" => ("image/x-icon", ASSET),
        "woff2" => ("font/woff2", ASSET),
        "pdf" => ("application/pdf", ASSET),
        _ => ("application/octet-stream", ASSET),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_get_their_registered_types() {
        assert_eq!(
            content_type("atom.xml").0,
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("papers.xml").0,
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("cs.CV.xml").0,
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("rss.xml").0,
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("feed.json").0,
            "application/feed+json; charset=utf-8"
        );
        assert_eq!(content_type("feed.xsl").0, "text/xsl; charset=utf-8");
        assert_eq!(content_type("feeds.opml").0, "text/x-opml; charset=utf-8");
        assert_eq!(content_type("index.html").0, "text/html; charset=utf-8");
    }

    #[test]
    fn accept_encoding_honours_q_zero() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br;q=0"),
        );
        assert_eq!(accepted_codings(&h), [Coding::Gzip]);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(accepted_codings(&h).is_empty());
    }
}
