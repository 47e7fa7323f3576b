//! A digest as HTML: the fragment that feed entries carry as their content and
//! that the archive pages show, rendered by `digest.html.hbs` and
//! `partials/digest-paper.html.hbs` from the views here; and the plain-text
//! summaries. Pure functions of the model, the settings and the templates, no
//! I/O, no clock, so the same digest always gives the same bytes.
//!
//! Every piece of text from the digest is escaped exactly once, by the
//! template or by [`crate::tex`], which writes the TeX of titles and
//! abstracts as escaped text with emphasis, links and MathML
//! (`title_html`, `abstract_html`); the only markup taken from the digest,
//! the tweet HTML, is a [`crate::html::SafeHtml`], sanitized when the tweet
//! was parsed, and goes in as it is. Plain-text summaries carry the TeX as
//! Unicode ([`crate::tex::to_text`]).

use std::fmt::Write;

use serde::Serialize;

use crate::config::SiteSettings;
use crate::model::{Digest, Paper, Tweet};
use crate::templates::{self, TemplateError, Templates};
use crate::tex::{self, HtmlOptions, MathOutput, Rich};

/// The whole digest as an HTML fragment (`digest.html.hbs`): a short heading
/// line linking to the digest's page, then every paper (rank, linked title,
/// authors, counts, categories, abstract, tweets quoted with author and link).
///
/// # Errors
/// When an overriding template fails to render.
pub fn digest_html(
    digest: &Digest,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<String, TemplateError> {
    let view = DigestView::new(
        digest,
        Some(digest_page_url(digest, site)),
        &site.link("categories/"),
    );
    templates.render_html(templates::DIGEST_HTML, &view)
}

/// Every paper of the digest, without [`digest_html`]'s opening line: for the
/// digest's own web page, where "Read on the web" would link to itself.
///
/// # Errors
/// When an overriding template fails to render.
pub fn papers_html(digest: &Digest, templates: &Templates) -> Result<String, TemplateError> {
    let mut view = DigestView::new(digest, None, "../categories/");
    // The page is where a reference manager looks for the papers; a feed
    // reader has no use for the spans.
    for (view, paper) in view.papers.iter_mut().zip(&digest.papers) {
        view.coins = Some(crate::cite::coins(paper));
    }
    templates.render_html(templates::DIGEST_HTML, &view)
}

/// What `digest.html.hbs` sees.
#[derive(Serialize)]
struct DigestView<'a> {
    /// "2021-02-12", or "2021-02-12 to 2021-02-14".
    day: String,
    /// The digest's page; null on that page itself.
    link: Option<String>,
    one_paper: bool,
    paper_count: usize,
    papers: Vec<PaperView<'a>>,
}

impl<'a> DigestView<'a> {
    /// `categories`: where the site's category pages are, relative to the
    /// page or absolute (in feeds).
    fn new(digest: &'a Digest, link: Option<String>, categories: &str) -> Self {
        Self {
            day: day_label(digest),
            link,
            one_paper: digest.papers.len() == 1,
            paper_count: digest.papers.len(),
            papers: digest
                .papers
                .iter()
                .map(|p| PaperView::new(p, categories))
                .collect(),
        }
    }
}

/// What `partials/digest-paper.html.hbs` sees: one paper.
#[derive(Serialize)]
pub(crate) struct PaperView<'a> {
    rank: u32,
    /// Canonical abs page.
    url: String,
    /// The title as plain Unicode text (TeX converted).
    title: String,
    /// The title as HTML: emphasis and MathML, no links (it is one).
    title_html: String,
    authors: &'a [String],
    retweets: u64,
    favorites: u64,
    arxiv_id: &'a str,
    pdf_url: Option<String>,
    categories: Vec<CategoryLink<'a>>,
    /// The abstract as plain Unicode text (TeX converted).
    #[serde(rename = "abstract")]
    abstract_text: String,
    /// The abstract as HTML: emphasis, links, MathML.
    abstract_html: String,
    tweets: Vec<TweetView<'a>>,
    /// The `COinS` `ContextObject` ([`crate::cite::coins`]) on the digest's own
    /// page; null in feeds.
    coins: Option<String>,
}

impl<'a> PaperView<'a> {
    /// `categories`: the folder of the site's category pages, which the
    /// paper's categories link to (the reader stays on the site, where each
    /// category page links on to arXiv's own listing).
    pub(crate) fn new(paper: &'a Paper, categories: &str) -> Self {
        Self {
            rank: paper.rank,
            url: paper.canonical_url(),
            title: tex::to_text(&paper.title),
            title_html: Rich::parse(&paper.title).html(HtmlOptions {
                math: MathOutput::MathMl,
                links: false,
            }),
            authors: &paper.authors,
            retweets: paper.retweets,
            favorites: paper.favorites,
            arxiv_id: paper.arxiv_id.as_str(),
            pdf_url: paper.pdf_url.as_ref().map(|_| paper.arxiv_id.pdf_url()),
            categories: paper
                .categories
                .iter()
                .map(|c| CategoryLink {
                    name: c.as_str(),
                    url: format!("{categories}{}/", c.as_str()),
                })
                .collect(),
            abstract_text: tex::to_text(&paper.abstract_text),
            abstract_html: tex::to_html(&paper.abstract_text),
            tweets: paper.tweets.iter().map(TweetView::new).collect(),
            coins: None,
        }
    }
}

/// A category and its page on the site.
#[derive(Serialize)]
struct CategoryLink<'a> {
    name: &'a str,
    url: String,
}

/// A quoted tweet.
#[derive(Serialize)]
struct TweetView<'a> {
    /// The status URL when it is an http(s) URL, else null.
    url: Option<&'a str>,
    /// The sanitized HTML; null when blank (then `lines` are shown).
    html: Option<&'a str>,
    /// The plain text, line by line (only when `html` is null).
    lines: Vec<&'a str>,
    author: &'a str,
    handle: &'a str,
    /// "February 12, 2021", or "tweet" without a date.
    when: String,
}

impl<'a> TweetView<'a> {
    fn new(tweet: &'a Tweet) -> Self {
        let html = (!tweet.html.is_blank()).then(|| tweet.html.as_str());
        Self {
            url: http_url(&tweet.url),
            html,
            lines: if html.is_none() {
                tweet.text.split('\n').collect()
            } else {
                Vec::new()
            },
            author: &tweet.author,
            handle: &tweet.handle,
            when: tweet.date.map_or_else(
                || "tweet".to_owned(),
                |d| d.format("%B %-d, %Y").to_string(),
            ),
        }
    }
}

/// A short plain-text summary of a digest: how many papers and the top titles.
#[must_use]
pub fn digest_summary(digest: &Digest) -> String {
    const SHOWN: usize = 3;
    if digest.papers.is_empty() {
        return format!("No papers trended on {}.", day_label(digest));
    }
    let titles: Vec<String> = digest
        .papers
        .iter()
        .take(SHOWN)
        .map(|p| tex::to_text(&p.title))
        .collect();
    let more = digest.papers.len().saturating_sub(SHOWN);
    let papers = if digest.papers.len() == 1 {
        "paper"
    } else {
        "papers"
    };
    let mut s = format!(
        "{} {papers} trending on {}: {}",
        digest.papers.len(),
        day_label(digest),
        titles.join("; ")
    );
    if more > 0 {
        let _ = write!(s, "; and {more} more.");
    } else {
        s.push('.');
    }
    s
}

/// A short plain-text summary of a paper: authors and the start of the
/// abstract (its TeX as Unicode).
#[must_use]
pub fn paper_summary(paper: &Paper) -> String {
    const MAX_CHARS: usize = 280;
    let mut s = paper.authors.join(", ");
    if !paper.abstract_text.is_empty() {
        if !s.is_empty() {
            s.push_str(". ");
        }
        let abs = tex::to_text(&paper.abstract_text);
        let abs = abs.trim();
        if abs.chars().count() > MAX_CHARS {
            let cut: String = abs.chars().take(MAX_CHARS).collect();
            // Cut at a word boundary when there is one.
            let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
            s.push_str(cut.trim_end());
            s.push('…');
        } else {
            s.push_str(abs);
        }
    }
    s
}

/// The digest's web page, `SITE_URL/YYYY-MM-DD/`.
#[must_use]
pub fn digest_page_url(digest: &Digest, site: &SiteSettings) -> String {
    site.link(&format!("{}/", digest.date.format("%Y-%m-%d")))
}

/// "2021-02-12", or "2021-02-12 to 2021-02-14" for a range digest.
fn day_label(digest: &Digest) -> String {
    match digest.end_date {
        Some(end) if end != digest.date => format!("{} to {}", digest.date, end),
        _ => digest.date.to_string(),
    }
}

/// The URL if it is an absolute http(s) URL, else `None` (never a
/// `javascript:` or relative link in a feed).
fn http_url(url: &str) -> Option<&str> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        assert!(http_url("https://twitter.com/a/status/1").is_some());
        assert!(http_url("javascript:alert(1)").is_none());
        assert!(http_url("/relative").is_none());
    }
}
