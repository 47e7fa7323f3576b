//! The feed pages: one HTML page per feed (`feeds/atom.html`,
//! `feeds/categories/cs.CV.html`), for a person who opened the feed's address
//! in a browser. It says what a feed is, gives the address to copy and
//! one-click links for common web readers, and lists the latest entries —
//! all from [`FeedSet::summaries`], the data the feeds are written from.
//!
//! `serve` answers a feed's own URL with this page when the browser prefers
//! HTML, so the same bytes are served at two addresses: its links are
//! absolute (from the site URL), never relative.

use std::borrow::Cow;

use serde::Serialize;

use super::{layout, FeedLink, Page, SiteError};
use crate::config::SiteSettings;
use crate::feed::{FeedSet, FeedSummary};
use crate::templates::{self, Templates};

/// Entries a feed page lists (the feed holds them all).
const SHOWN_ENTRIES: usize = 20;

/// The folder of the feed pages in the output folder.
pub const FEED_PAGES_DIR: &str = "feeds";

/// Where the page of the feed at `feed_path` goes: under `feeds/`, the same
/// path with `.html` for the feed's extension (`categories/cs.CV.xml` →
/// `feeds/categories/cs.CV.html`, `feed.json` → `feeds/feed.html`).
#[must_use]
pub fn feed_page_path(feed_path: &str) -> String {
    let (dir, name) = feed_path
        .rsplit_once('/')
        .map_or(("", feed_path), |(d, n)| (d, n));
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    if dir.is_empty() {
        format!("{FEED_PAGES_DIR}/{stem}.html")
    } else {
        format!("{FEED_PAGES_DIR}/{dir}/{stem}.html")
    }
}

/// A web feed reader that subscribes from a link: its name and the link's
/// start, to which the feed's percent-encoded address is appended.
const READERS: &[(&str, &str)] = &[
    ("Feedly", "https://feedly.com/i/subscription/feed%2F"),
    ("Inoreader", "https://www.inoreader.com/?add_feed="),
    ("NewsBlur", "https://www.newsblur.com/?url="),
    (
        "The Old Reader",
        "https://theoldreader.com/feeds/subscribe?url=",
    ),
];

/// The page of every feed of `set`, in the order of [`FeedSet::summaries`].
///
/// # Errors
/// When a template fails to render.
pub fn render_feed_pages(
    set: &FeedSet<'_>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Vec<Page>, SiteError> {
    use rayon::prelude::*;
    let feeds = set.summaries();
    feeds
        .par_iter()
        .map(|feed| feed_page(feed, &feeds, site, templates))
        .collect()
}

#[derive(Serialize)]
struct Reader {
    name: &'static str,
    href: String,
}

#[derive(Serialize)]
struct EntryView<'a> {
    title: &'a str,
    link: &'a str,
    date: String,
}

#[derive(Serialize)]
struct OtherFeed<'a> {
    title: &'a str,
    format: &'static str,
    page: String,
}

#[derive(Serialize)]
struct Category<'a> {
    name: &'a str,
    page: String,
}

#[derive(Serialize)]
struct View<'a> {
    title: &'a str,
    subtitle: &'a str,
    format: &'static str,
    /// The feed's absolute address, to copy.
    address: String,
    /// "digest" or "paper": what one entry is.
    noun: &'static str,
    readers: Vec<Reader>,
    count: usize,
    one_entry: bool,
    entries: Vec<EntryView<'a>>,
    /// Entries in the feed beyond those listed.
    more: usize,
    category: Option<Category<'a>>,
    /// The other feeds with the same entries (the digest in other formats).
    formats: Vec<OtherFeed<'a>>,
    /// The site's root, absolute.
    root: String,
}

fn feed_page(
    feed: &FeedSummary,
    all: &[FeedSummary],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    let address = site.link(&feed.path);
    let encoded: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
    let is_digest_feed = feed.category.is_none() && feed.path != crate::feed::PAPERS_FILE;
    let view = View {
        title: &feed.title,
        subtitle: &feed.subtitle,
        format: feed.format,
        address: address.clone(),
        noun: if is_digest_feed { "digest" } else { "paper" },
        readers: READERS
            .iter()
            .map(|&(name, start)| Reader {
                name,
                href: format!("{start}{encoded}"),
            })
            .collect(),
        count: feed.entries.len(),
        one_entry: feed.entries.len() == 1,
        entries: feed
            .entries
            .iter()
            .take(SHOWN_ENTRIES)
            .map(|e| EntryView {
                title: &e.title,
                link: &e.link,
                date: e.updated.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        more: feed.entries.len().saturating_sub(SHOWN_ENTRIES),
        category: feed.category.as_ref().map(|c| Category {
            name: c.as_str(),
            page: site.link(&format!("categories/{c}/")),
        }),
        formats: all
            .iter()
            .filter(|other| is_digest_feed && other.path != feed.path)
            .filter(|other| other.category.is_none() && other.path != crate::feed::PAPERS_FILE)
            .map(|other| OtherFeed {
                title: &other.title,
                format: other.format,
                page: site.link(&feed_page_path(&other.path)),
            })
            .collect(),
        root: site.link(""),
    };
    let content = templates.render_html(templates::SITE_FEED, &view)?;
    let path = feed_page_path(&feed.path);
    let description = format!("{}: a web feed to follow in a feed reader", feed.title);
    let mut page = layout(
        site,
        &feed.title,
        &description,
        Some(site.link(&path)),
        "",
        content,
    );
    page.root = Cow::Owned(site.link(""));
    // This feed first, for readers given the page's address instead.
    page.feeds.retain(|f| f.href != address);
    page.feeds.insert(
        0,
        FeedLink {
            media_type: feed.media_type,
            title: feed.title.clone(),
            href: address,
        },
    );
    let html = templates.render_html(templates::SITE_LAYOUT, &page)?;
    Ok(Page { path, html })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_page_sits_under_feeds_with_the_feed_s_path() {
        assert_eq!(feed_page_path("atom.xml"), "feeds/atom.html");
        assert_eq!(feed_page_path("feed.json"), "feeds/feed.html");
        assert_eq!(
            feed_page_path("categories/cs.CV.xml"),
            "feeds/categories/cs.CV.html"
        );
    }
}
