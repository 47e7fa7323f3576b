//! The archive pages `hotpapers build` writes beside the feeds: the front page
//! (latest digests, the subscribe form, every feed), one page per digest with
//! previous/next links, one page per arXiv category. Also the small pages that
//! `serve` answers with, so that they look like the rest of the site.
//!
//! Renderers return values; `cmd::build` writes them (only when changed).
//! Templates come from [`crate::templates`] (`site*.html.hbs`,
//! `page.html.hbs`); the digest body is [`crate::render::papers_html`], the
//! same `digest.html.hbs` as the feed content, so pages and feeds show the
//! same text. Pages need no JavaScript, link each
//! other relatively (the site works from any folder and under `serve`), and
//! use absolute URLs only for canonical, Open Graph and feed links.
//!
//! Citations: beside each day page, `YYYY-MM-DD/papers.bib`
//! ([`render_bibliographies`], one BibTeX entry per paper from
//! [`crate::cite`]); each paper on the page carries its `COinS` span and an
//! `id="paper-RANK"` anchor.

mod archive;
mod feeds;
mod files;
mod search;
mod summary;

use std::borrow::Cow;

use serde::Serialize;

use crate::config::SiteSettings;
use crate::templates::{self, TemplateError, Templates};

pub use archive::{
    archive_wide_pages, bibliography_path, category_page, day_page, day_page_path, render_pages,
    CategoryEntry, CategoryIndex, CategoryPage, CATEGORY_LATEST,
};
pub use feeds::{feed_page_path, render_feed_pages, FEED_PAGES_DIR};
pub use files::{site_files, SiteFile};
pub use search::{render_search, search_href, SearchPage};
pub use summary::{DaySummary, PaperSummary};

use crate::model::Digest;

/// Why the pages could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A template does not load or render (file, line and column in the message).
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// One page to write: a path relative to the output folder and its HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// `index.html`, `2021-02-12/index.html`, `categories/cs.CV/index.html`.
    pub path: String,
    /// The whole document.
    pub html: String,
}

/// A day's bibliography to write beside its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bibliography {
    /// `2021-02-12/papers.bib`, relative to the output folder.
    pub path: String,
    /// BibTeX, one `@misc` entry per paper ([`crate::cite::bibliography`]).
    pub text: String,
}

/// The `papers.bib` of every day [`render_pages`] writes a page for, except
/// days without papers (whose pages then offer none).
#[must_use]
pub fn render_bibliographies(archive: &[&Digest]) -> Vec<Bibliography> {
    archive::archive_days(archive)
        .into_iter()
        .filter_map(render_bibliography)
        .collect()
}

/// A day's `papers.bib`; none for a day without papers.
#[must_use]
pub fn render_bibliography(digest: &Digest) -> Option<Bibliography> {
    archive::day_bibliography_path(digest).map(|path| Bibliography {
        path,
        text: crate::cite::bibliography(digest),
    })
}

/// A feed link in the head (autodiscovery) and the footer.
#[derive(Debug, Clone, Serialize)]
struct FeedLink {
    #[serde(rename = "type")]
    media_type: &'static str,
    title: String,
    href: String,
}

/// What the layout template sees.
#[derive(Serialize)]
struct LayoutView<'a> {
    lang: &'a str,
    title: &'a str,
    description: &'a str,
    canonical: Option<String>,
    og_type: &'static str,
    og_locale: String,
    og_image: Option<String>,
    site_title: &'a str,
    site_subtitle: &'a str,
    feeds: Vec<FeedLink>,
    /// Path from the page to the site root: "", "../", "../../"; absolute on
    /// the 404 page, which a server shows at any depth, and on a feed page,
    /// which is served at two addresses.
    root: Cow<'a, str>,
    noindex: bool,
    content: String,
}

/// What a `serve` answer page shows: a heading, some paragraphs, and at most
/// one form with hidden fields and a button.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessagePage {
    /// The `<title>` and `<h1>`.
    pub heading: String,
    /// Paragraphs of plain text.
    pub paragraphs: Vec<String>,
    /// The form, if the page asks for a click.
    pub form: Option<MessageForm>,
}

/// A one-button form that posts hidden fields.
#[derive(Debug, Clone, Serialize)]
pub struct MessageForm {
    /// Where it posts (relative to the site root, may carry a query).
    pub action: String,
    /// Hidden fields: (name, value).
    pub fields: Vec<HiddenField>,
    /// The button's label.
    pub button: String,
}

/// A hidden form field.
#[derive(Debug, Clone, Serialize)]
pub struct HiddenField {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: String,
}

/// A page `serve` answers with (never indexed, never sends a referrer, since
/// its URL may carry a token).
///
/// # Errors
/// When a template fails to render.
pub fn render_message(
    page: &MessagePage,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<String, SiteError> {
    #[derive(Serialize)]
    struct View<'a> {
        #[serde(flatten)]
        page: &'a MessagePage,
        root: &'static str,
        site_title: &'a str,
    }
    let content = templates.render_html(
        templates::SITE_PAGE,
        &View {
            page,
            root: "",
            site_title: &site.title,
        },
    )?;
    let title = format!("{} · {}", page.heading, site.title);
    let mut layout = layout(site, &title, &site.subtitle, None, "", content);
    layout.noindex = true;
    Ok(templates.render_html(templates::SITE_LAYOUT, &layout)?)
}

/// `serve`'s preferences page: `view` (any serializable view of the
/// reader's choices) in `preferences.html.hbs`, inside the layout, never
/// indexed.
///
/// # Errors
/// When a template fails to render.
pub fn render_preferences(
    view: &impl Serialize,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<String, SiteError> {
    let content = templates.render_html(templates::SITE_PREFERENCES, view)?;
    let title = format!("Your preferences · {}", site.title);
    let mut layout = layout(site, &title, &site.subtitle, None, "", content);
    layout.noindex = true;
    Ok(templates.render_html(templates::SITE_LAYOUT, &layout)?)
}

fn layout<'a>(
    site: &'a SiteSettings,
    title: &'a str,
    description: &'a str,
    canonical: Option<String>,
    root: impl Into<Cow<'a, str>>,
    content: String,
) -> LayoutView<'a> {
    LayoutView {
        lang: &site.language,
        title,
        description,
        canonical,
        og_type: "website",
        og_locale: site.language.replace('-', "_"),
        og_image: None,
        site_title: &site.title,
        site_subtitle: &site.subtitle,
        feeds: site_feeds(site),
        root: root.into(),
        noindex: false,
        content,
    }
}

fn site_feeds(site: &SiteSettings) -> Vec<FeedLink> {
    vec![
        FeedLink {
            media_type: "application/atom+xml",
            title: crate::feed::feed_title(site, "Atom"),
            href: site.link("atom.xml"),
        },
        FeedLink {
            media_type: "application/rss+xml",
            title: crate::feed::feed_title(site, "RSS"),
            href: site.link("rss.xml"),
        },
        FeedLink {
            media_type: "application/feed+json",
            title: crate::feed::feed_title(site, "JSON Feed"),
            href: site.link("feed.json"),
        },
        FeedLink {
            media_type: "application/atom+xml",
            title: crate::feed::papers_title(site),
            href: site.link(crate::feed::PAPERS_FILE),
        },
    ]
}
