//! The archive pages: front page, one page per digest, one per category,
//! the category index and the 404 page; and the small files a site is
//! expected to have (robots.txt, a sitemap, the favicon).

use std::collections::BTreeMap;

use chrono::Datelike;
use rayon::prelude::*;
use serde::Serialize;

use super::{layout, FeedLink, Page, SiteError};
use crate::config::SiteSettings;
use crate::model::Digest;
use crate::templates::{self, Templates};

/// A day page with more papers than this opens with a list of them.
const CONTENTS_FROM: usize = 3;

/// Every archive page for `archive` (drafts are the caller's to leave out).
///
/// # Errors
/// When a template fails to render.
pub fn render_pages(
    archive: &[&Digest],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Vec<Page>, SiteError> {
    let days = archive_days(archive);
    let categories = category_index(&days);

    let mut pages = vec![
        index_page(&days, &categories, site, templates)?,
        categories_page(&categories, site, templates)?,
        not_found_page(site, templates)?,
    ];
    let day_pages: Result<Vec<Page>, SiteError> = (0..days.len())
        .into_par_iter()
        .map(|i| {
            let prev = i.checked_sub(1).and_then(|j| days.get(j)).copied();
            day_page(days[i], prev, days.get(i + 1).copied(), site, templates)
        })
        .collect();
    pages.extend(day_pages?);
    let category_pages: Result<Vec<Page>, SiteError> = categories
        .par_iter()
        .map(|(name, entries)| category_page(name, entries, site, templates))
        .collect();
    pages.extend(category_pages?);
    Ok(pages)
}

/// The days that get a page, oldest first: one digest per day (the first of
/// two for the same day).
pub(super) fn archive_days<'a>(archive: &[&'a Digest]) -> Vec<&'a Digest> {
    let mut days: Vec<&Digest> = archive.to_vec();
    days.sort_by_key(|d| d.date);
    days.dedup_by_key(|d| d.date);
    days
}

/// Where a day's bibliography is, relative to the site root; none for a day
/// without papers.
pub(super) fn bibliography_path(digest: &Digest) -> Option<String> {
    (!digest.papers.is_empty()).then(|| format!("{}/papers.bib", digest.date.format("%Y-%m-%d")))
}

/// A paper as listed on its category page.
#[derive(Debug, Clone, Serialize)]
struct CategoryEntry {
    date: String,
    rank: u32,
    title: String,
    retweets: u64,
}

/// Every category of `days`, sorted.
pub(super) fn category_names(days: &[&Digest]) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = days
        .iter()
        .flat_map(|d| d.papers.iter())
        .flat_map(|p| p.categories.iter().map(crate::model::Category::as_str))
        .collect();
    names.into_iter().map(str::to_owned).collect()
}

/// Category name → its papers, newest day first, by rank within a day.
fn category_index(days: &[&Digest]) -> BTreeMap<String, Vec<CategoryEntry>> {
    let mut index: BTreeMap<String, Vec<CategoryEntry>> = BTreeMap::new();
    for digest in days.iter().rev() {
        for paper in &digest.papers {
            for cat in &paper.categories {
                index
                    .entry(cat.as_str().to_owned())
                    .or_default()
                    .push(CategoryEntry {
                        date: digest.date.format("%Y-%m-%d").to_string(),
                        rank: paper.rank,
                        title: crate::tex::to_text(&paper.title),
                        retweets: paper.retweets,
                    });
            }
        }
    }
    index
}

fn index_page(
    days: &[&Digest],
    categories: &BTreeMap<String, Vec<CategoryEntry>>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct Latest<'a> {
        date: String,
        title: &'a str,
        papers: usize,
        one_paper: bool,
        top_title: Option<String>,
    }
    #[derive(Serialize)]
    struct Year {
        year: i32,
        days: Vec<String>,
    }
    #[derive(Serialize)]
    struct View<'a> {
        title: &'a str,
        subtitle: &'a str,
        root: &'static str,
        latest: Vec<Latest<'a>>,
        categories: Vec<CategoryCount<'a>>,
        category_groups: Vec<CategoryGroup<'a>>,
        years: Vec<Year>,
    }
    let latest = days
        .iter()
        .rev()
        .take(site.feed_limit)
        .map(|d| Latest {
            date: d.date.format("%Y-%m-%d").to_string(),
            title: &d.title,
            papers: d.papers.len(),
            one_paper: d.papers.len() == 1,
            top_title: d.top_paper().map(|p| crate::tex::to_text(&p.title)),
        })
        .collect();
    let mut years: Vec<Year> = Vec::new();
    for d in days.iter().rev() {
        let day = d.date.format("%Y-%m-%d").to_string();
        match years.last_mut() {
            Some(y) if y.year == d.date.year() => y.days.push(day),
            _ => years.push(Year {
                year: d.date.year(),
                days: vec![day],
            }),
        }
    }
    let view = View {
        title: &site.title,
        subtitle: &site.subtitle,
        root: "",
        latest,
        categories: categories
            .iter()
            .map(|(name, entries)| CategoryCount {
                name,
                papers: entries.len(),
            })
            .collect(),
        category_groups: category_groups(categories),
        years,
    };
    let content = templates.render_html(templates::SITE_INDEX, &view)?;
    let html = templates.render_html(
        templates::SITE_LAYOUT,
        &layout(
            site,
            &site.title,
            &site.subtitle,
            Some(site.link("")),
            "",
            content,
        ),
    )?;
    Ok(Page {
        path: "index.html".to_owned(),
        html,
    })
}

/// The categories of one arXiv group, as the subscribe form and the
/// category index list them.
#[derive(Serialize)]
struct CategoryGroup<'a> {
    name: &'static str,
    /// How many categories.
    count: usize,
    categories: Vec<CategoryCount<'a>>,
}

/// A category and how many papers of the archive it has.
#[derive(Serialize)]
struct CategoryCount<'a> {
    name: &'a str,
    papers: usize,
}

/// The archive's categories by arXiv group (groups in arXiv's order, codes
/// sorted within each).
fn category_groups(categories: &BTreeMap<String, Vec<CategoryEntry>>) -> Vec<CategoryGroup<'_>> {
    const ORDER: [&str; 9] = [
        "Computer Science",
        "Economics",
        "Electrical Engineering and Systems Science",
        "Mathematics",
        "Physics",
        "Quantitative Biology",
        "Quantitative Finance",
        "Statistics",
        "Other",
    ];
    let mut groups: Vec<CategoryGroup> = ORDER
        .iter()
        .map(|&name| CategoryGroup {
            name,
            count: 0,
            categories: Vec::new(),
        })
        .collect();
    for (name, entries) in categories {
        let group = crate::model::Category::parse(name).map_or("Other", |c| c.group());
        if let Some(g) = groups.iter_mut().find(|g| g.name == group) {
            g.count += 1;
            g.categories.push(CategoryCount {
                name,
                papers: entries.len(),
            });
        }
    }
    groups.retain(|g| !g.categories.is_empty());
    groups
}

/// `categories/index.html`: every category of the archive, by group.
fn categories_page(
    categories: &BTreeMap<String, Vec<CategoryEntry>>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct View<'a> {
        root: &'static str,
        count: usize,
        groups: Vec<CategoryGroup<'a>>,
    }
    let view = View {
        root: "../",
        count: categories.len(),
        groups: category_groups(categories),
    };
    let content = templates.render_html(templates::SITE_CATEGORIES, &view)?;
    let title = format!("Categories · {}", site.title);
    let description =
        "Every arXiv category with papers in the archive, each with its page and feed.";
    let html = templates.render_html(
        templates::SITE_LAYOUT,
        &layout(
            site,
            &title,
            description,
            Some(site.link("categories/")),
            "../",
            content,
        ),
    )?;
    Ok(Page {
        path: "categories/index.html".to_owned(),
        html,
    })
}

/// `404.html`: what a server shows for a page that is not there. Its links
/// are absolute, since it is shown at whatever path was asked for.
fn not_found_page(site: &SiteSettings, templates: &Templates) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct View {
        root: String,
    }
    let root = site.link("");
    let content = templates.render_html(templates::SITE_NOT_FOUND, &View { root: root.clone() })?;
    let title = format!("Page not found · {}", site.title);
    let mut page = layout(site, &title, &site.subtitle, None, root, content);
    page.noindex = true;
    let html = templates.render_html(templates::SITE_LAYOUT, &page)?;
    Ok(Page {
        path: "404.html".to_owned(),
        html,
    })
}

fn day_page(
    digest: &Digest,
    prev: Option<&Digest>,
    next: Option<&Digest>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct View<'a> {
        title: &'a str,
        root: &'static str,
        prev: Option<String>,
        next: Option<String>,
        published: String,
        published_label: String,
        /// `YYYY-MM-DD/papers.bib`, relative to the root; null without papers.
        bibtex: Option<String>,
        /// The papers' ranks and titles, on a day with many of them.
        contents: Vec<Contents>,
        digest_html: String,
    }
    #[derive(Serialize)]
    struct Contents {
        rank: u32,
        /// Plain text: TeX as Unicode.
        title: String,
    }
    let day = digest.date.format("%Y-%m-%d").to_string();
    let view = View {
        title: &digest.title,
        root: "../",
        prev: prev.map(|d| d.date.format("%Y-%m-%d").to_string()),
        next: next.map(|d| d.date.format("%Y-%m-%d").to_string()),
        published: digest.published.to_rfc3339(),
        published_label: digest.published.format("%-d %B %Y").to_string(),
        bibtex: bibliography_path(digest),
        contents: if digest.papers.len() > CONTENTS_FROM {
            digest
                .papers
                .iter()
                .map(|p| Contents {
                    rank: p.rank,
                    title: crate::tex::to_text(&p.title),
                })
                .collect()
        } else {
            Vec::new()
        },
        digest_html: crate::render::papers_html(digest, templates)?,
    };
    let content = templates.render_html(templates::SITE_DAY, &view)?;
    let description = digest
        .description
        .clone()
        .unwrap_or_else(|| crate::render::digest_summary(digest));
    let mut page = layout(
        site,
        &digest.title,
        &description,
        Some(site.link(&format!("{day}/"))),
        "../",
        content,
    );
    page.og_type = "article";
    page.og_image = digest
        .social_image
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            if s.starts_with("https://") || s.starts_with("http://") {
                s.to_owned()
            } else {
                site.link(s)
            }
        })
        // The parser lets only http(s) URLs and paths through; a model built
        // another way must not put `javascript:` in a page's metadata either.
        .filter(|url| url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
    let html = templates.render_html(templates::SITE_LAYOUT, &page)?;
    Ok(Page {
        path: format!("{day}/index.html"),
        html,
    })
}

fn category_page(
    name: &str,
    entries: &[CategoryEntry],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct View<'a> {
        name: &'a str,
        root: &'static str,
        count: usize,
        one_paper: bool,
        list_url: String,
        entries: &'a [CategoryEntry],
    }
    let view = View {
        name,
        root: "../../",
        count: entries.len(),
        one_paper: entries.len() == 1,
        list_url: format!("https://arxiv.org/list/{name}/recent"),
        entries,
    };
    let content = templates.render_html(templates::SITE_CATEGORY, &view)?;
    let title = format!("{name} · {}", site.title);
    let description = format!("Papers in the arXiv category {name} that trended on Twitter.");
    let mut page = layout(
        site,
        &title,
        &description,
        Some(site.link(&format!("categories/{name}/"))),
        "../../",
        content,
    );
    page.feeds.push(FeedLink {
        media_type: "application/atom+xml",
        title: format!("{name} papers (Atom)"),
        href: site.link(&format!("categories/{name}.xml")),
    });
    let html = templates.render_html(templates::SITE_LAYOUT, &page)?;
    Ok(Page {
        path: format!("categories/{name}/index.html"),
        html,
    })
}
