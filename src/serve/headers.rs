//! The security headers of every answer, set in one layer around the whole
//! application so that no handler, error or `304` can go without them:
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (answer
//! pages' URLs carry tokens), `X-Frame-Options: DENY`, and a
//! Content-Security-Policy fitting what is sent (each with `frame-ancestors
//! 'none'`). Handlers set only what depends on their content (type, caching).
//!
//! A `304 Not Modified` has no body and no `Content-Type`, but a browser
//! copies its headers onto the copy it keeps: its policy must be that of the
//! file it revalidates, so it is taken from the requested path.

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::files::content_type;

/// HTML pages (the built site and the answer pages): no scripts at all,
/// inline styles only, forms post back to this site.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Atom and RSS feeds, which a browser shows through `feed.xsl` (an XSLT
/// stylesheet counts as a script to CSP, hence `script-src 'self'`); the page
/// the stylesheet makes has inline styles and may show images.
pub(crate) const FEED_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'none'; \
base-uri 'none'; frame-ancestors 'none'";

/// Everything else (JSON, plain text, errors, redirects, files): nothing is
/// loaded or run, even if a browser were to render it.
pub(crate) const OTHER_CSP: &str = "default-src 'none'; form-action 'none'; \
base-uri 'none'; frame-ancestors 'none'; sandbox";

/// The policy for an answer of `content_type`, or, when it has none, for the
/// file `path` names (a 304 of a feed's page names the page in
/// `Content-Location`, and the caller passes that).
fn policy(content_type_header: Option<&str>, path: &str) -> &'static str {
    let owned;
    let kind = if let Some(t) = content_type_header {
        t
    } else {
        let name = path.rsplit('/').next().unwrap_or_default();
        let name = if name.is_empty() { "index.html" } else { name };
        owned = content_type(name).0;
        owned
    };
    let kind = kind.to_ascii_lowercase();
    let essence = kind.split(';').next().unwrap_or_default().trim();
    match essence {
        "text/html" | "application/xhtml+xml" => PAGE_CSP,
        "application/atom+xml" | "application/rss+xml" | "application/xml" | "text/xml" => FEED_CSP,
        _ => OTHER_CSP,
    }
}

/// Adds the headers to `headers` (an answer to `path`), replacing any a
/// handler set.
pub(crate) fn apply(headers: &mut HeaderMap, path: &str) {
    let location = headers
        .get(header::CONTENT_LOCATION)
        .and_then(|v| v.to_str().ok());
    let csp = policy(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        location.unwrap_or(path),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
}

/// The layer: `axum::middleware::from_fn(security_headers)`.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    apply(res.headers_mut(), &path);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_fits_the_content_type_or_the_revalidated_file() {
        assert_eq!(policy(Some("text/html; charset=utf-8"), "/x"), PAGE_CSP);
        assert_eq!(
            policy(Some("application/atom+xml; charset=utf-8"), "/"),
            FEED_CSP
        );
        assert_eq!(policy(Some("application/feed+json"), "/"), OTHER_CSP);
        assert_eq!(policy(Some("text/plain; charset=utf-8"), "/"), OTHER_CSP);
        // A 304: no content type, so the file's.
        assert_eq!(policy(None, "/"), PAGE_CSP);
        assert_eq!(policy(None, "/2021-02-12/"), PAGE_CSP);
        assert_eq!(policy(None, "/atom.xml"), FEED_CSP);
        assert_eq!(policy(None, "/rss.xml"), FEED_CSP);
        assert_eq!(policy(None, "/feed.json"), OTHER_CSP);
        assert_eq!(policy(None, "/2021-02-12"), OTHER_CSP);
        // A 304 of a feed's page: the page's (from `Content-Location`).
        assert_eq!(policy(None, "../feeds/categories/cs.CV.html"), PAGE_CSP);
    }
}
