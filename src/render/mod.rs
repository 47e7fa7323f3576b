//! A digest as HTML: the fragment that feed entries carry as their content and
//! that the archive pages show. Pure functions of the model and the settings,
//! no I/O, no clock, so the same digest always gives the same bytes.
//!
//! Every piece of text from the digest is escaped exactly once here; the only
//! markup taken from the digest, the tweet HTML, goes through ammonia again
//! (the parser already cleaned it, but the model is public and may come from
//! elsewhere, and cleaning clean HTML leaves it unchanged).

use std::fmt::Write;

use crate::config::Config;
use crate::html::escape;
use crate::model::{Digest, Paper, Tweet};

/// The whole digest as an HTML fragment: a short heading line, then every paper
/// (rank, linked title, authors, counts, categories, abstract, tweets quoted
/// with author and link).
#[must_use]
pub fn digest_html(digest: &Digest, config: &Config) -> String {
    let mut out = String::with_capacity(4096 + digest.papers.len() * 3072);
    let page = digest_page_url(digest, config);
    if digest.papers.is_empty() {
        let _ = writeln!(
            out,
            "<p>No papers trended on {}. <a href=\"{}\">The digest page</a>.</p>",
            day_label(digest),
            escape(&page)
        );
        return out;
    }
    let what = match digest.papers.len() {
        1 => "The arXiv paper".to_owned(),
        n => format!("The {n} arXiv papers"),
    };
    let _ = writeln!(
        out,
        "<p>{what} most talked about on Twitter on {}. \
         <a href=\"{}\">Read on the web</a>.</p>",
        day_label(digest),
        escape(&page)
    );
    for paper in &digest.papers {
        paper_html_into(paper, &mut out);
    }
    out
}

/// Every paper of the digest, without [`digest_html`]'s opening line: for the
/// digest's own web page, where "Read on the web" would link to itself.
#[must_use]
pub fn papers_html(digest: &Digest) -> String {
    let mut out = String::with_capacity(digest.papers.len() * 3072);
    if digest.papers.is_empty() {
        let _ = writeln!(out, "<p>No papers trended on {}.</p>", day_label(digest));
    }
    for paper in &digest.papers {
        paper_html_into(paper, &mut out);
    }
    out
}

/// One paper as an HTML fragment, as in [`digest_html`].
#[must_use]
pub fn paper_html(paper: &Paper) -> String {
    let mut out = String::with_capacity(3072);
    paper_html_into(paper, &mut out);
    out
}

/// A short plain-text summary of a digest: how many papers and the top titles.
#[must_use]
pub fn digest_summary(digest: &Digest) -> String {
    const SHOWN: usize = 3;
    if digest.papers.is_empty() {
        return format!("No papers trended on {}.", day_label(digest));
    }
    let titles: Vec<&str> = digest
        .papers
        .iter()
        .take(SHOWN)
        .map(|p| p.title.as_str())
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

/// A short plain-text summary of a paper: authors and the start of the abstract.
#[must_use]
pub fn paper_summary(paper: &Paper) -> String {
    const MAX_CHARS: usize = 280;
    let mut s = paper.authors.join(", ");
    if !paper.abstract_text.is_empty() {
        if !s.is_empty() {
            s.push_str(". ");
        }
        let abs = paper.abstract_text.trim();
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
pub fn digest_page_url(digest: &Digest, config: &Config) -> String {
    config.site_link(&format!("{}/", digest.date.format("%Y-%m-%d")))
}

/// "2021-02-12", or "2021-02-12 to 2021-02-14" for a range digest.
fn day_label(digest: &Digest) -> String {
    match digest.end_date {
        Some(end) if end != digest.date => format!("{} to {}", digest.date, end),
        _ => digest.date.to_string(),
    }
}

fn paper_html_into(paper: &Paper, out: &mut String) {
    let abs = paper.canonical_url();
    let _ = write!(
        out,
        "<section class=\"paper\" id=\"paper-{rank}\">\n\
         <h2>{rank}. <a href=\"{href}\">{title}</a></h2>\n",
        rank = paper.rank,
        href = escape(&abs),
        title = escape(&paper.title),
    );
    if !paper.authors.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"authors\">{}</p>",
            escape(&paper.authors.join(", "))
        );
    }
    let _ = write!(
        out,
        "<p class=\"counts\">{} retweets, {} favorites · <a href=\"{}\">arXiv:{}</a>",
        paper.retweets,
        paper.favorites,
        escape(&abs),
        escape(paper.arxiv_id.as_str())
    );
    if paper.pdf_url.is_some() {
        let _ = write!(
            out,
            " · <a href=\"{}\">PDF</a>",
            escape(&paper.arxiv_id.pdf_url())
        );
    }
    out.push_str("</p>\n");
    if !paper.categories.is_empty() {
        out.push_str("<p class=\"categories\">");
        for (i, c) in paper.categories.iter().enumerate() {
            if i > 0 {
                out.push_str(" | ");
            }
            let _ = write!(
                out,
                "<a href=\"{}\">{}</a>",
                escape(&c.list_url()),
                escape(c.as_str())
            );
        }
        out.push_str("</p>\n");
    }
    if !paper.abstract_text.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"abstract\">{}</p>",
            escape(&paper.abstract_text)
        );
    }
    for tweet in &paper.tweets {
        tweet_html_into(tweet, out);
    }
    out.push_str("</section>\n");
}

fn tweet_html_into(tweet: &Tweet, out: &mut String) {
    let link = http_url(&tweet.url);
    match link {
        Some(url) => {
            let _ = write!(out, "<blockquote cite=\"{}\">", escape(url));
        }
        None => out.push_str("<blockquote>"),
    }
    let body = &tweet.html;
    if body.is_blank() {
        let _ = write!(out, "<p>{}</p>", escape(&tweet.text).replace('\n', "<br>"));
    } else {
        let _ = write!(out, "<p>{body}</p>");
    }
    out.push_str("<p>— ");
    out.push_str(&escape(&tweet.author));
    if !tweet.handle.is_empty() {
        let _ = write!(out, " (@{})", escape(&tweet.handle));
    }
    if let Some(url) = link {
        let when = tweet.date.map_or_else(
            || "tweet".to_owned(),
            |d| d.format("%B %-d, %Y").to_string(),
        );
        let _ = write!(out, " <a href=\"{}\">{}</a>", escape(url), escape(&when));
    }
    out.push_str("</p></blockquote>\n");
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
