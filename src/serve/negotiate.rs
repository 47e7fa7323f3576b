//! Content negotiation: whether a request's `Accept` prefers one type to
//! another. For the feeds, whether it prefers an HTML page to the feed
//! itself; for search, JSON to the results page. Browsers put `text/html` first and reach a
//! feed type only through `*/*;q=0.8`; feed readers name the feed types, or
//! send `*/*` or no `Accept` at all. Only a strict preference by quality
//! values (RFC 9110 §12.5.1, the most specific range deciding) gets the page:
//! a tie keeps the feed, so a reader always gets the feed byte for byte.

use axum::http::header::{self, HeaderMap};
use mime::Mime;

/// Whether `Accept` rates `text/html` above `feed_type`
/// (`application/atom+xml`); false without an `Accept`.
pub(crate) fn prefers_html(headers: &HeaderMap, feed_type: &str) -> bool {
    prefers(headers, "text/html", feed_type)
}

/// Whether `Accept` rates `wanted` strictly above `over` (a tie, or no
/// `Accept`, keeps `over`).
pub(crate) fn prefers(headers: &HeaderMap, wanted: &str, over: &str) -> bool {
    let ranges = accepted(headers);
    if ranges.is_empty() {
        return false;
    }
    type_quality(&ranges, wanted) > type_quality(&ranges, over)
}

/// The quality of a media type (parameters ignored).
fn type_quality(ranges: &[(Mime, f32)], media_type: &str) -> f32 {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    match essence.split_once('/') {
        Some((type_, subtype)) => quality(ranges, type_, subtype),
        None => 0.0,
    }
}

/// The media ranges of every `Accept` header with their quality (1 unless
/// `q=` says otherwise); items that do not parse are left out.
fn accepted(headers: &HeaderMap) -> Vec<(Mime, f32)> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse::<Mime>().ok())
        .map(|range| {
            let q = range
                .get_param("q")
                .and_then(|q| q.as_str().trim().parse::<f32>().ok())
                .filter(|q| q.is_finite())
                .map_or(1.0, |q| q.clamp(0.0, 1.0));
            (range, q)
        })
        .collect()
}

/// The quality of `type_/subtype`: that of the most specific range matching
/// it (`text/html` over `text/*` over `*/*`), 0 when none does.
fn quality(ranges: &[(Mime, f32)], type_: &str, subtype: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for (range, q) in ranges {
        // The essence, not `subtype()`: mime splits `atom+xml` into `atom`
        // and the suffix `xml`.
        let (t, s) = range.essence_str().split_once('/').unwrap_or_default();
        let specificity = match (t, s) {
            (t, s) if t.eq_ignore_ascii_case(type_) && s.eq_ignore_ascii_case(subtype) => 2,
            (t, "*") if t.eq_ignore_ascii_case(type_) => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        if best.is_none_or(|(b, _)| specificity > b) {
            best = Some((specificity, *q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn search_gets_json_only_when_it_is_rated_above_html() {
        let json = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            super::prefers(&headers, "application/json", "text/html")
        };
        assert!(json("application/json"));
        assert!(json("application/json, text/html;q=0.5"));
        // By quality, not by order: listed first but rated lower.
        assert!(!json("application/json;q=0.1, text/html"));
        assert!(!json("text/html,application/xhtml+xml,*/*;q=0.8"));
        assert!(!json("*/*"));
    }

    fn prefers(accept: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        prefers_html(&headers, "application/atom+xml; charset=utf-8")
    }

    #[test]
    fn browsers_get_the_page() {
        // Chromium's navigation Accept, and Firefox's.
        assert!(prefers(Some("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")));
        assert!(prefers(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(prefers(Some("text/*")));
    }

    #[test]
    fn readers_and_ties_get_the_feed() {
        assert!(!prefers(None));
        assert!(!prefers(Some("*/*")));
        assert!(!prefers(Some("application/atom+xml")));
        // feedparser's own Accept.
        assert!(!prefers(Some("application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1")));
        assert!(!prefers(Some("application/atom+xml, text/html;q=0.9")));
        assert!(!prefers(Some("text/html;q=0.5, */*;q=0.5")), "a tie");
        assert!(!prefers(Some("text/html;q=0, */*")));
        assert!(!prefers(Some("not a media type")));
        assert!(prefers(Some("text/html, application/atom+xml;q=0.5")));
    }
}
