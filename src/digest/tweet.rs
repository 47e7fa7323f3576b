//! Twitter embed markup → [`Tweet`], with a real HTML parser (html5ever via
//! scraper). The tweet's paragraph is sanitized once, here, from the tree it
//! was parsed into ([`SafeHtml`]): links and line breaks stay; scripts, event
//! attributes, `javascript:` URLs and everything else go.

use std::sync::OnceLock;

use chrono::NaiveDate;
use ego_tree::iter::Edge;
use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node, Selector};

use crate::html::SafeHtml;
use crate::model::Tweet;

/// A tweet embed holds at most this many tags (the sample digests' largest
/// holds 48). The HTML tree builder takes time quadratic in the nesting of
/// some elements (50,000 `<ul><li>` took minutes), so a bigger embed is
/// refused before it is parsed.
const MAX_TAGS: usize = 1000;

/// Parses one `<blockquote class="twitter-tweet">…</blockquote>` embed.
///
/// # Errors
/// A message saying what the embed lacks.
pub(super) fn parse_tweet(markup: &str) -> Result<Tweet, String> {
    static BLOCKQUOTE: OnceLock<Selector> = OnceLock::new();
    static P: OnceLock<Selector> = OnceLock::new();
    let tags = markup.bytes().filter(|&b| b == b'<').count();
    if tags > MAX_TAGS {
        return Err(format!(
            "the tweet that starts here holds {tags} tags: a tweet embed holds at most {MAX_TAGS}"
        ));
    }
    let blockquote_sel =
        BLOCKQUOTE.get_or_init(|| Selector::parse("blockquote").expect("valid selector"));
    let p_sel = P.get_or_init(|| Selector::parse("p").expect("valid selector"));

    let fragment = Html::parse_fragment(markup);
    let quote = fragment
        .select(blockquote_sel)
        .next()
        .ok_or("expected a `<blockquote class=\"twitter-tweet\">` element")?;
    let para = quote.select(p_sel).next();

    let (text, html, lang) = match para {
        Some(p) => {
            let mut text = String::new();
            plain_text(*p, &mut text);
            (
                tidy_text(&text),
                SafeHtml::from_children(*p),
                p.value().attr("lang").unwrap_or_default().to_owned(),
            )
        }
        None => (String::new(), SafeHtml::default(), String::new()),
    };

    // The byline follows the paragraph: "— Name (@handle) <a href=status>date</a>".
    let status_link = quote
        .children()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "a")
        .last()
        .ok_or("expected the tweet's status link `<a href=\"https://twitter.com/…/status/…\">` after its text")?;
    let href = status_link.value().attr("href").unwrap_or_default();
    let url = status_url(href)?;
    let date_text: String = status_link.text().collect();
    let date = NaiveDate::parse_from_str(date_text.trim(), "%B %d, %Y").ok();

    let mut byline = String::new();
    for child in quote.children() {
        if child.id() == status_link.id() {
            break;
        }
        match child.value() {
            Node::Text(t) => byline.push_str(t),
            Node::Element(e) if e.name() != "p" => {
                if let Some(el) = ElementRef::wrap(child) {
                    byline.extend(el.text());
                }
            }
            _ => {}
        }
    }
    let (author, handle) = split_byline(&byline, &url);

    Ok(Tweet {
        author,
        handle,
        url,
        date,
        lang,
        text,
        html,
    })
}

/// Plain text of a subtree: text nodes as they are, `<br>` as a newline.
/// Iterative, as the sanitizer is (a deep tree must not overflow the stack).
fn plain_text(node: NodeRef<'_, Node>, out: &mut String) {
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in node.traverse() {
        match edge {
            Edge::Open(child) if child.id() != node.id() && skipping.is_none() => {
                match child.value() {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(e) if e.name() == "br" => {
                        out.push('\n');
                        skipping = Some(child.id());
                    }
                    Node::Element(e) if matches!(e.name(), "script" | "style") => {
                        skipping = Some(child.id());
                    }
                    _ => {}
                }
            }
            Edge::Close(child) if skipping == Some(child.id()) => skipping = None,
            _ => {}
        }
    }
}

/// Trims each line's ends and the whole text, keeps the line structure.
fn tidy_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines.join("\n").trim().to_owned()
}

/// The status URL without query or fragment; only http(s) is accepted.
fn status_url(href: &str) -> Result<String, String> {
    let mut url = url::Url::parse(href.trim())
        .map_err(|_| format!("expected the tweet's status link to be a URL, found `{href}`"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "expected the tweet's status link to be an http(s) URL, found `{href}`"
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.into())
}

/// "— Name (@handle)" → ("Name", "handle"); the handle falls back to the
/// status URL's first path segment.
fn split_byline(byline: &str, url: &str) -> (String, String) {
    let line = byline
        .trim()
        .trim_start_matches(['\u{2014}', '\u{2013}', '-'])
        .trim();
    let collapsed = super::parse::collapse_whitespace(line);
    if let Some(open) = collapsed.rfind("(@") {
        let name = collapsed[..open].trim().to_owned();
        let handle = collapsed[open + 2..]
            .trim_end()
            .trim_end_matches(')')
            .trim();
        return (name, handle.to_owned());
    }
    let handle = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_owned))
        })
        .unwrap_or_default();
    (collapsed, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMBED: &str = r#"<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Releasing NFNets &amp; more!<a href="https://t.co/eUPSNle0r2">https://t.co/eUPSNle0r2</a><br>Code: <a href="https://t.co/Yu">x</a></p>&mdash; Soham De (@sohamde_) <a href="https://twitter.com/sohamde_/status/1360219419977342984?ref_src=twsrc%5Etfw">February 12, 2021</a></blockquote>"#;

    /// ammonia with the allow-list of [`SafeHtml`]: the oracle the one-pass
    /// sanitizer is checked against.
    fn ammonia_clean(html: &str) -> String {
        let mut b = ammonia::Builder::empty();
        b.add_tags(["a", "br"])
            .add_tag_attributes("a", ["href"])
            .add_url_schemes(["http", "https", "mailto"])
            .link_rel(Some("nofollow noopener noreferrer"))
            .url_relative(ammonia::UrlRelative::Deny);
        b.clean(html).to_string()
    }

    #[test]
    fn embed_fields_are_extracted() {
        let t = parse_tweet(EMBED).unwrap();
        assert_eq!(t.author, "Soham De");
        assert_eq!(t.handle, "sohamde_");
        assert_eq!(
            t.url,
            "https://twitter.com/sohamde_/status/1360219419977342984"
        );
        assert_eq!(t.date, NaiveDate::from_ymd_opt(2021, 2, 12));
        assert_eq!(t.lang, "en");
        assert_eq!(
            t.text,
            "Releasing NFNets & more!https://t.co/eUPSNle0r2\nCode: x"
        );
        assert!(t
            .html
            .as_str()
            .contains(r#"<a href="https://t.co/eUPSNle0r2" rel="nofollow noopener noreferrer">"#));
        assert!(t.html.as_str().contains("<br>"));
    }

    #[test]
    fn hostile_markup_is_neutralized() {
        let embed = r#"<blockquote class="twitter-tweet"><p lang="en" onclick="x()">hi<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">click</a></p>&mdash; Evil (@evil) <a href="https://twitter.com/evil/status/1">March 1, 2021</a></blockquote>"#;
        let t = parse_tweet(embed).unwrap();
        assert_eq!(t.text, "hiclick");
        assert!(!t.html.as_str().contains("script"));
        assert!(!t.html.as_str().contains("onerror"));
        assert!(!t.html.as_str().contains("javascript"));
        assert!(!t.html.as_str().contains("<img"));
    }

    #[test]
    fn a_status_link_that_is_not_http_is_an_error() {
        let embed = r#"<blockquote class="twitter-tweet"><p>hi</p>&mdash; E (@e) <a href="javascript:alert(1)">March 1, 2021</a></blockquote>"#;
        assert!(parse_tweet(embed).unwrap_err().contains("http(s) URL"));
    }

    /// The one-pass sanitizer must give exactly what ammonia gives on the
    /// paragraph's HTML, for every tweet in the fixture digests and hostile ones.
    #[test]
    fn one_pass_sanitizer_matches_ammonia() {
        let p_sel = Selector::parse("blockquote p").unwrap();
        let mut embeds: Vec<String> = vec![
            r#"<blockquote class="twitter-tweet"><p lang="en" onclick="x()">a &amp; b &lt;c&gt; "q"\u{a0}<script>alert(1)</script><style>p{}</style><img src=x onerror="alert(2)"><a href="javascript:alert(3)">js</a><a href="/rel">rel</a><a href="https://e.org/?a=1&amp;b=&quot;2&quot;" onclick="y">ok</a><a>none</a><b><i>bold</i></b><!-- c --><a href="mailto:x@e.org">m</a><br/>end</p>&mdash; E (@e) <a href="https://twitter.com/e/status/1">March 1, 2021</a></blockquote>"#.into(),
        ];
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let files = ["corpus", "samples"]
            .iter()
            .flat_map(|d| std::fs::read_dir(format!("{fixtures}/{d}")).unwrap());
        for entry in files {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            let (text, _) = super::super::decode(&text).unwrap();
            let (text, _) = super::super::repair(&text);
            let mut rest = &text[..];
            while let Some(start) = rest.find("<blockquote class=\"twitter-tweet\"") {
                let end = rest[start..].find("</blockquote>").unwrap() + start + 13;
                embeds.push(rest[start..end].to_owned());
                rest = &rest[end..];
            }
        }
        assert!(embeds.len() > 100, "the samples hold hundreds of tweets");
        for embed in &embeds {
            let dom = Html::parse_fragment(embed);
            let inner = dom.select(&p_sel).next().map(|p| p.inner_html()).unwrap();
            let html = parse_tweet(embed).unwrap().html;
            // One deliberate difference: Twitter's embed tracking goes from
            // the links to accounts and hashtags (`html::without_tracking`).
            let expected = ammonia_clean(&inner)
                .replace("?ref_src=twsrc%5Etfw\"", "\"")
                .replace("&amp;ref_src=twsrc%5Etfw\"", "\"");
            assert_eq!(html.as_str(), expected, "{embed}");
            assert_eq!(
                SafeHtml::sanitize(html.as_str()),
                html,
                "sanitizing is idempotent: {embed}"
            );
        }
    }
}
