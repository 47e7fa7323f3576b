//! The results page of `serve`'s `/search`: the query back in its box, a
//! message when it cannot run or finds nothing, then the hits with their
//! matching words marked, and previous/next links.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;

use super::{layout, SiteError};
use crate::config::SiteSettings;
use crate::search::{query::MAX_QUERY, Results, PER_PAGE};
use crate::templates::{self, Templates};

/// What the page shows.
#[derive(Debug, Clone, Copy)]
pub enum SearchPage<'a> {
    /// The empty form.
    Form,
    /// A query that cannot run, and why.
    Refused(&'a str, &'a str),
    /// A query's results.
    Found(&'a str, &'a Results),
}

#[derive(Serialize)]
struct HitView<'a> {
    id: &'a str,
    title_html: &'a str,
    authors: String,
    day: &'a str,
    rank: u64,
    retweets: u64,
    categories: String,
    snippet_html: &'a str,
    abs_url: &'a str,
    pdf_url: Option<&'a str>,
    paper_href: String,
    day_href: String,
    bib_href: String,
}

#[derive(Serialize)]
struct View<'a> {
    root: &'static str,
    query: &'a str,
    max_query: usize,
    message: Option<String>,
    summary: String,
    start: usize,
    hits: Vec<HitView<'a>>,
    pager: bool,
    prev_href: Option<String>,
    next_href: Option<String>,
}

/// `search?q=…&page=N`, relative to the site root.
#[must_use]
pub fn search_href(query: &str, page: usize) -> String {
    let q = utf8_percent_encode(query, NON_ALPHANUMERIC);
    if page <= 1 {
        format!("search?q={q}")
    } else {
        format!("search?q={q}&page={page}")
    }
}

/// The results page.
///
/// # Errors
/// When a template fails to render.
pub fn render_search(
    page: SearchPage<'_>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<String, SiteError> {
    let mut view = View {
        root: "",
        query: "",
        max_query: MAX_QUERY,
        message: None,
        summary: String::new(),
        start: 1,
        hits: Vec::new(),
        pager: false,
        prev_href: None,
        next_href: None,
    };
    let title = match page {
        SearchPage::Form => format!("Search · {}", site.title),
        SearchPage::Refused(query, why) => {
            view.query = query;
            view.message = Some(why.to_owned());
            format!("Search · {}", site.title)
        }
        SearchPage::Found(query, results) => {
            view.query = query;
            view.start = (results.page - 1) * PER_PAGE + 1;
            if results.hits.is_empty() {
                view.message = Some(if results.total == 0 {
                    "No paper matches. Try fewer words, or another spelling.".to_owned()
                } else {
                    "No more results.".to_owned()
                });
            } else {
                let last = view.start + results.hits.len() - 1;
                view.summary = format!(
                    "{} to {} of {} {}",
                    view.start,
                    last,
                    results.total,
                    if results.total == 1 {
                        "paper"
                    } else {
                        "papers"
                    }
                );
            }
            view.hits = results
                .hits
                .iter()
                .map(|h| HitView {
                    id: &h.id,
                    title_html: &h.title_html,
                    authors: h.authors.join(", "),
                    day: &h.day,
                    rank: h.rank,
                    retweets: h.retweets,
                    categories: h.categories.join(", "),
                    snippet_html: &h.snippet_html,
                    abs_url: &h.abs_url,
                    pdf_url: h.pdf_url.as_deref(),
                    paper_href: format!("{}/#paper-{}", h.day, h.rank),
                    day_href: format!("{}/", h.day),
                    bib_href: format!("{}/papers.bib", h.day),
                })
                .collect();
            view.prev_href = (results.page > 1).then(|| search_href(query, results.page - 1));
            view.next_href = results
                .has_next()
                .then(|| search_href(query, results.page + 1));
            view.pager = view.prev_href.is_some() || view.next_href.is_some();
            format!("{} · Search · {}", crate::text::one_line(query), site.title)
        }
    };
    let content = templates.render_html(templates::SITE_SEARCH, &view)?;
    let mut layout = layout(site, &title, &site.subtitle, None, "", content);
    layout.noindex = true;
    Ok(templates.render_html(templates::SITE_LAYOUT, &layout)?)
}
