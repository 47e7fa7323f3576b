//! Bare web addresses in plain text (abstracts, the text of tweets), found
//! once, for the renderers that make them links.
//!
//! A leaf module: it knows nothing of digests, feeds or mail, and does no I/O.
//!
//! Finding where a URL ends is the `linkify` crate's job (trailing
//! punctuation and unbalanced closing brackets are not part of it). Only
//! `http` and `https` URLs are links. On top of that one repair:
//!
//! **A URL split by line-wrapping upstream** (`https://github.com/deepmind/
//! deepmind-research/tree/master/nfnets`) is joined only when the joined URL
//! is the obvious one: the URL found ends with `/`, exactly one space
//! follows, and the next word (its trailing punctuation aside) is a path, not
//! prose — made only of URL characters, starting with a letter or digit,
//! holding no `://` of its own, and holding at least two `/`, or one `/` with
//! a `-`, `_` or `.`. So `…/nfnets/ .` and `…/project/ and/or` stay apart.

use std::borrow::Cow;
use std::ops::Range;

use linkify::{LinkFinder, LinkKind};

/// A URL found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where it is in the text, the second part of a joined split included.
    pub range: Range<usize>,
    /// The URL (a joined split without its space).
    pub url: String,
}

/// Every http(s) URL in `text`, in order.
#[must_use]
pub fn find(text: &str) -> Vec<Found> {
    if !text.contains("://") {
        return Vec::new();
    }
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(true);
    let mut found: Vec<Found> = Vec::new();
    for link in finder.links(text) {
        if found.last().is_some_and(|f| link.start() < f.range.end) {
            continue; // the second half of a split already joined
        }
        if !is_web_url(link.as_str()) {
            continue;
        }
        let mut url = link.as_str().to_owned();
        let mut end = link.end();
        if let Some(rest) = split_continuation(&url, &text[end..]) {
            url.push_str(rest);
            end += 1 + rest.len();
        }
        found.push(Found {
            range: link.start()..end,
            url,
        });
    }
    found
}

/// Whether `url` parses as an absolute http or https URL.
#[must_use]
pub fn is_web_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// The path that continues a URL split after its `/` by one space (see the
/// module comment), or `None`.
fn split_continuation<'a>(url: &str, after: &'a str) -> Option<&'a str> {
    if !url.ends_with('/') {
        return None;
    }
    let rest = after.strip_prefix(' ')?;
    let word = &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())];
    let word = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'']);
    let first = word.chars().next()?;
    let path_like =
        word.matches('/').count() >= 2 || (word.contains('/') && word.contains(['-', '_', '.']));
    let url_chars = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~/%?#=&+@".contains(c));
    (first.is_ascii_alphanumeric() && path_like && url_chars && !word.contains("://"))
        .then_some(word)
}

/// `text` as HTML: escaped ([`crate::html::escape`]), its http(s) URLs
/// links (`rel="nofollow noopener noreferrer"`, as in tweets).
#[must_use]
pub fn html(text: &str) -> Cow<'_, str> {
    let found = find(text);
    if found.is_empty() {
        return crate::html::escape(text);
    }
    let mut out = String::with_capacity(text.len() + 64 * found.len());
    let mut plain = 0;
    for f in found {
        out.push_str(&crate::html::escape(&text[plain..f.range.start]));
        push_link(&mut out, &f.url, &f.url);
        plain = f.range.end;
    }
    out.push_str(&crate::html::escape(&text[plain..]));
    Cow::Owned(out)
}

/// `<a href="URL" rel="…">TEXT</a>`, both escaped.
pub(crate) fn push_link(out: &mut String, url: &str, text: &str) {
    out.push_str("<a href=\"");
    out.push_str(&crate::html::escape(url));
    out.push_str("\" rel=\"nofollow noopener noreferrer\">");
    out.push_str(&crate::html::escape(text));
    out.push_str("</a>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<String> {
        find(text).into_iter().map(|f| f.url).collect()
    }

    #[test]
    fn trailing_punctuation_is_not_part_of_a_url() {
        assert_eq!(
            urls("see https://qianlim.github.io/SCALE. Or (https://vcc.tech/UrbanScene3D/) for more, https://e.org/a?b=1;"),
            [
                "https://qianlim.github.io/SCALE",
                "https://vcc.tech/UrbanScene3D/",
                "https://e.org/a?b=1"
            ]
        );
    }

    #[test]
    fn only_http_and_https_are_links() {
        assert_eq!(
            urls("ftp://e.org/x javascript://x%0aalert(1) file:///etc/passwd http://e.org"),
            ["http://e.org"]
        );
    }

    #[test]
    fn a_url_split_after_a_slash_is_joined_when_the_rest_is_a_path() {
        let text = "Code: https://github.com/deepmind/ deepmind-research/tree/master/nfnets.";
        let found = find(text);
        assert_eq!(
            found[0].url,
            "https://github.com/deepmind/deepmind-research/tree/master/nfnets"
        );
        assert_eq!(
            &text[found[0].range.clone()],
            "https://github.com/deepmind/ deepmind-research/tree/master/nfnets"
        );
    }

    #[test]
    fn prose_after_a_url_is_never_joined() {
        for text in [
            "at https://nvlabs.github.io/GANcraft/ .",
            "at https://e.org/project/ and/or elsewhere",
            "at https://e.org/ which is new",
            "at https://e.org/  two/spaces/here",
            "at https://e.org/ https://f.org/x/y",
            "at https://e.org/x no-slash",
        ] {
            let found = find(text);
            assert!(
                found
                    .iter()
                    .all(|f| !f.url.contains(' ') && text[f.range.clone()] == f.url),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn html_escapes_text_and_links_urls() {
        assert_eq!(
            html("pdf: https://t.co/abc <b>&</b>"),
            "pdf: <a href=\"https://t.co/abc\" rel=\"nofollow noopener noreferrer\">https://t.co/abc</a> &lt;b&gt;&amp;&lt;/b&gt;"
        );
        // A quote ends a URL: it can never break out of the attribute.
        assert_eq!(
            html("https://e.org/?a=\"1\"&b=<2>"),
            "<a href=\"https://e.org/?a=\" rel=\"nofollow noopener noreferrer\">https://e.org/?a=</a>&quot;1&quot;&amp;b=&lt;2&gt;"
        );
    }
}
