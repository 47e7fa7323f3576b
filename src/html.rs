//! HTML text, in one place: the escaper every renderer uses (the templates,
//! the feed and page code) and [`SafeHtml`], tweet markup that went through the
//! one sanitizer.
//!
//! A leaf module: it knows nothing of digests, feeds or mail, and does no I/O.
//!
//! Two escaping rules live here, and they differ on purpose:
//!
//! * [`escape`] is for values we put into markup ourselves (template
//!   `{{value}}`, text in feeds and pages). It escapes the five characters
//!   that matter, `& < > " '`, so the same function is safe in element content
//!   and in quoted attribute values (a template cannot tell which one it is
//!   in). Nothing else: handlebars' default also escapes `=` and backquotes,
//!   which makes URLs in `href` unreadable in the source.
//! * The sanitizer writes text and attribute values as html5ever's serializer
//!   does (text: `& < >` and no-break space; attributes: `&`, `"` and no-break
//!   space; `'` never), so that its output is byte for byte what ammonia gives
//!   and what the feeds and pages have always carried. Its output is only ever
//!   placed in element content, where that is enough.

use std::borrow::Cow;

use ego_tree::iter::Edge;
use ego_tree::NodeRef;
use scraper::{Html, Node};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Escapes text for HTML element content and quoted attribute values: `&`,
/// `<`, `>`, `"` and `'`, nothing else. Borrows when there is nothing to escape.
#[must_use]
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(['&', '<', '>', '"', '\'']) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    let mut plain = first;
    for (i, c) in text[first..].char_indices() {
        let escaped = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            _ => continue,
        };
        let i = first + i;
        out.push_str(&text[plain..i]);
        out.push_str(escaped);
        plain = i + 1;
    }
    out.push_str(&text[plain..]);
    Cow::Owned(out)
}

/// [`escape`] as an owned string: the escape function of the HTML templates.
pub(crate) fn escape_owned(text: &str) -> String {
    escape(text).into_owned()
}

/// HTML that is safe to place in element content as it is: it went through
/// the sanitizer, the only way to make one.
///
/// The sanitizer keeps text, `<br>`, and `<a>` with an absolute http, https or
/// mailto `href` (and `rel="nofollow noopener noreferrer"`); `<script>` and
/// `<style>` go with their content, every other element (and every attribute,
/// comment or processing instruction) is reduced to its text. Characters no
/// feed or page may carry ([`crate::text::is_forbidden`]) are left out.
///
/// Why this sanitizer and not ammonia: it walks the tree the tweet embed was
/// already parsed into, so a tweet is parsed once, not twice, and it can be
/// checked by reading it — its output grammar is exactly
/// `(escaped text | <br> | <a href="escaped URL" rel="…">…</a>)*`, whatever
/// the input. ammonia, configured with the same allow-list, stays as a test
/// oracle: `digest::tweet` asserts that both give the same bytes on every
/// tweet of the sample digests and on hostile markup.
///
/// Serializes as its string; deserializing sanitizes again (cleaning clean
/// HTML leaves it unchanged, a test checks it), so a model read from
/// elsewhere cannot smuggle markup in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SafeHtml(String);

impl SafeHtml {
    /// Sanitizes an HTML fragment (parsed as the content of a `<body>`).
    #[must_use]
    pub fn sanitize(markup: &str) -> Self {
        let fragment = Html::parse_fragment(markup);
        Self::from_children(*fragment.root_element())
    }

    /// Sanitizes the children of `node`, straight from a parsed tree.
    pub(crate) fn from_children(node: NodeRef<'_, Node>) -> Self {
        let mut out = String::new();
        sanitized_children(node, &mut out);
        Self(out)
    }

    /// The markup.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is nothing to show but white space.
    #[must_use]
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

/// Read access as a `str` (it cannot be changed through it).
impl std::ops::Deref for SafeHtml {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SafeHtml {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SafeHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SafeHtml {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SafeHtml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let markup = String::deserialize(d)?;
        Ok(Self::sanitize(&markup))
    }
}

/// Writes the sanitized HTML of a node's children (see [`SafeHtml`]).
///
/// A walk over the tree's open and close edges, not a recursion: a tweet of
/// 100,000 nested `<span>` must not overflow the stack of the thread that
/// parses it (rayon's workers have small ones).
fn sanitized_children(node: NodeRef<'_, Node>, out: &mut String) {
    // The element whose subtree is being left out (`script`, `style`, `br`).
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in node.traverse() {
        match edge {
            Edge::Open(child) if child.id() != node.id() && skipping.is_none() => {
                match child.value() {
                    Node::Text(t) => serialize_text(t, false, out),
                    Node::Element(e) => match e.name() {
                        "br" => {
                            out.push_str("<br>");
                            skipping = Some(child.id());
                        }
                        "script" | "style" => skipping = Some(child.id()),
                        "a" => {
                            out.push_str("<a");
                            if let Some(href) = e.attr("href").filter(|h| is_allowed_link(h)) {
                                out.push_str(" href=\"");
                                serialize_text(&without_tracking(href), true, out);
                                out.push('"');
                            }
                            out.push_str(" rel=\"nofollow noopener noreferrer\">");
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            Edge::Close(child) if child.id() != node.id() => {
                if skipping == Some(child.id()) {
                    skipping = None;
                } else if skipping.is_none()
                    && child.value().as_element().is_some_and(|e| e.name() == "a")
                {
                    out.push_str("</a>");
                }
            }
            _ => {}
        }
    }
}

/// `href` without Twitter's embed tracking (`?ref_src=twsrc%5Etfw` on the
/// links to mentioned accounts and hashtags), as the status links already
/// are; other query parameters and other sites' links are kept as they are.
fn without_tracking(href: &str) -> Cow<'_, str> {
    let Ok(mut url) = url::Url::parse(href) else {
        return Cow::Borrowed(href);
    };
    let twitter = url.host_str().is_some_and(|h| {
        let h = h.trim_start_matches("www.").trim_start_matches("mobile.");
        h == "twitter.com" || h == "x.com"
    });
    if !twitter || !url.query_pairs().any(|(k, _)| k == "ref_src") {
        return Cow::Borrowed(href);
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "ref_src")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Cow::Owned(url.into())
}

/// An absolute http, https or mailto URL (relative links are dropped: the
/// tweet's page is not ours).
fn is_allowed_link(href: &str) -> bool {
    url::Url::parse(href).is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "mailto"))
}

/// Escapes as html5ever's serializer does (see the module comment), copying
/// the runs between special characters whole, and leaves out the characters
/// no feed or page may carry ([`crate::text::is_forbidden`]: `&#x1;` in a
/// tweet is read as U+0001).
fn serialize_text(s: &str, attribute: bool, out: &mut String) {
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '&' => "&amp;",
            '\u{a0}' => "&nbsp;",
            c if crate::text::is_forbidden(c) => "",
            '"' if attribute => "&quot;",
            '<' if !attribute => "&lt;",
            '>' if !attribute => "&gt;",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        out.push_str(escaped);
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitters_embed_tracking_is_dropped_from_every_link() {
        let html = SafeHtml::sanitize(
            r#"<a href="https://twitter.com/sohamde_?ref_src=twsrc%5Etfw">@sohamde_</a> <a href="https://twitter.com/hashtag/ML?src=hash&amp;ref_src=twsrc%5Etfw">#ML</a> <a href="https://e.org/?ref_src=x">e</a>"#,
        );
        assert_eq!(
            html.as_str(),
            r#"<a href="https://twitter.com/sohamde_" rel="nofollow noopener noreferrer">@sohamde_</a> <a href="https://twitter.com/hashtag/ML?src=hash" rel="nofollow noopener noreferrer">#ML</a> <a href="https://e.org/?ref_src=x" rel="nofollow noopener noreferrer">e</a>"#
        );
    }

    #[test]
    fn escape_covers_markup_and_quotes_once() {
        assert_eq!(escape("a & b"), "a &amp; b");
        assert_eq!(escape("<x y=\"1\">"), "&lt;x y=&quot;1&quot;&gt;");
        assert_eq!(escape("&amp;"), "&amp;amp;", "text is text, even entities");
        assert_eq!(
            escape(r#"<a href="x">Tom's & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; co&lt;/a&gt;"
        );
        assert_eq!(escape("é < ü"), "é &lt; ü");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_sanitizer_keeps_links_and_breaks_only() {
        let safe = SafeHtml::sanitize(
            r#"a &amp; <b onclick="x">b</b><script>alert(1)</script><br/><a href="https://e.org/?a=1&amp;b=&quot;2&quot;" onclick="y">ok</a><a href="javascript:alert(1)">js</a>"#,
        );
        assert_eq!(
            safe.as_str(),
            r#"a &amp; b<br><a href="https://e.org/?a=1&amp;b=&quot;2&quot;" rel="nofollow noopener noreferrer">ok</a><a rel="nofollow noopener noreferrer">js</a>"#
        );
    }

    /// Audit finding 4: the walk iterates, so a tree 100,000 elements deep
    /// is sanitized on a thread with a small stack (rayon's workers have 2 MiB).
    #[test]
    fn a_tree_100000_deep_is_sanitized_without_overflowing_a_small_stack() {
        let markup = format!(
            "<span>{}<a href=\"https://e.org/\">deep</a><br>{}",
            "<span>".repeat(100_000),
            "</span>".repeat(100_001)
        );
        let safe = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || SafeHtml::sanitize(&markup))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(
            safe.as_str(),
            "<a href=\"https://e.org/\" rel=\"nofollow noopener noreferrer\">deep</a><br>"
        );
    }

    #[test]
    fn sanitizing_clean_html_leaves_it_unchanged() {
        let once =
            SafeHtml::sanitize("x\u{a0}&lt;y&gt; \"q\" <a href=\"mailto:a@b.org\">m</a><br>");
        assert_eq!(SafeHtml::sanitize(once.as_str()), once);
        let json = serde_json::to_string(&once).unwrap();
        assert_eq!(serde_json::from_str::<SafeHtml>(&json).unwrap(), once);
        let hostile: SafeHtml =
            serde_json::from_str(r#""<img src=x onerror=alert(1)>hi""#).unwrap();
        assert_eq!(hostile.as_str(), "hi", "deserializing sanitizes");
    }
}
