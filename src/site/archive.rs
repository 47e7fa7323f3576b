//! The archive pages: front page, one page per digest, one per category,
//! the category index and the 404 page; and the small files a site is
//! expected to have (robots.txt, a sitemap, the favicon).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use serde::Serialize;

use super::{layout, DaySummary, FeedLink, Page, SiteError};
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
    let owned: Vec<DaySummary> = days.iter().map(|d| DaySummary::of(d)).collect();
    let summaries: Vec<&DaySummary> = owned.iter().collect();
    let categories = CategoryIndex::of(&summaries);

    let mut pages = archive_wide_pages(&summaries, &categories, site, templates)?;
    let day_pages: Result<Vec<Page>, SiteError> = (0..days.len())
        .into_par_iter()
        .map(|i| {
            let prev = i.checked_sub(1).and_then(|j| days.get(j)).map(|d| d.date);
            let next = days.get(i + 1).map(|d| d.date);
            day_page(days[i], prev, next, site, templates)
        })
        .collect();
    pages.extend(day_pages?);
    let category_pages: Result<Vec<Page>, SiteError> = categories
        .pages()
        .par_iter()
        .map(|spec| category_page(spec, site, templates))
        .collect();
    pages.extend(category_pages?);
    Ok(pages)
}

/// The pages made from the whole archive's summaries (`days` oldest first,
/// one per day): the front page, the category index and the 404 page.
///
/// # Errors
/// When a template fails to render.
pub fn archive_wide_pages(
    days: &[&DaySummary],
    categories: &CategoryIndex<'_>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Vec<Page>, SiteError> {
    Ok(vec![
        index_page(days, categories, site, templates)?,
        categories_page(categories, site, templates)?,
        not_found_page(site, templates)?,
    ])
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
pub(super) fn day_bibliography_path(digest: &Digest) -> Option<String> {
    (!digest.papers.is_empty()).then(|| bibliography_path(digest.date))
}

/// Where the bibliography of a day with papers is, relative to the site root.
#[must_use]
pub fn bibliography_path(day: NaiveDate) -> String {
    format!("{}/papers.bib", day.format("%Y-%m-%d"))
}

/// Where a day's page is, relative to the site root.
#[must_use]
pub fn day_page_path(day: NaiveDate) -> String {
    format!("{}/index.html", day.format("%Y-%m-%d"))
}

/// A category page shows this many of its newest papers; the rest are on
/// its pages by year (which a new day leaves alone but the current year's).
pub const CATEGORY_LATEST: usize = 100;

/// A paper as listed on its category page (borrowed from the summaries:
/// an archive has tens of thousands).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryEntry<'a> {
    #[serde(serialize_with = "iso_day")]
    date: NaiveDate,
    rank: u32,
    title: &'a str,
    retweets: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // the signature serde's `serialize_with` calls
fn iso_day<S: serde::Serializer>(day: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&day.format("%Y-%m-%d"))
}

impl CategoryEntry<'_> {
    /// Feeds every field to `hasher`: what a build compares to know whether
    /// a category page must be rendered again.
    pub fn hash_into(&self, hasher: &mut sha2::Sha256) {
        use sha2::Digest as _;
        hasher.update(self.date.num_days_from_ce().to_le_bytes());
        hasher.update((self.title.len() as u64).to_le_bytes());
        hasher.update(self.title.as_bytes());
        hasher.update(self.rank.to_le_bytes());
        hasher.update(self.retweets.to_le_bytes());
    }
}

/// Category name → its papers, newest day first, by rank within a day.
#[derive(Debug, Clone, Default)]
pub struct CategoryIndex<'a>(BTreeMap<&'a str, Vec<CategoryEntry<'a>>>);

impl<'a> CategoryIndex<'a> {
    /// The index of `days` (oldest first, one per day).
    #[must_use]
    pub fn of(days: &[&'a DaySummary]) -> Self {
        let mut index: BTreeMap<&'a str, Vec<CategoryEntry<'a>>> = BTreeMap::new();
        for day in days.iter().rev() {
            for paper in &day.papers {
                for cat in &paper.categories {
                    index.entry(cat).or_default().push(CategoryEntry {
                        date: day.date,
                        rank: paper.rank,
                        title: &paper.title,
                        retweets: paper.retweets,
                    });
                }
            }
        }
        Self(index)
    }

    /// Each category and its papers, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &[CategoryEntry<'a>])> {
        self.0.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Every category page: each category's own, then one per year of it
    /// when it has more papers than its page shows.
    #[must_use]
    pub fn pages(&self) -> Vec<CategoryPage<'_>> {
        let mut pages = Vec::new();
        for (name, entries) in &self.0 {
            let years = years_of(entries);
            let by_year = entries.len() > CATEGORY_LATEST;
            pages.push(CategoryPage {
                name,
                year: None,
                entries: &entries[..entries.len().min(CATEGORY_LATEST)],
                total: entries.len(),
                years: if by_year { years.clone() } else { Vec::new() },
            });
            if by_year {
                let mut start = 0;
                for &(year, count) in &years {
                    pages.push(CategoryPage {
                        name,
                        year: Some(year),
                        entries: &entries[start..start + count],
                        total: entries.len(),
                        years: Vec::new(),
                    });
                    start += count;
                }
            }
        }
        pages
    }
}

/// The years of `entries` (newest first, as they are) and how many each has.
fn years_of(entries: &[CategoryEntry<'_>]) -> Vec<(i32, usize)> {
    let mut years: Vec<(i32, usize)> = Vec::new();
    for e in entries {
        let year = e.date.year();
        match years.last_mut() {
            Some((y, n)) if *y == year => *n += 1,
            _ => years.push((year, 1)),
        }
    }
    years
}

/// One category page: the category's own (its newest papers and its years)
/// or one year of it.
#[derive(Debug, Clone)]
pub struct CategoryPage<'a> {
    /// The category.
    pub name: &'a str,
    /// The year, on a year's page.
    pub year: Option<i32>,
    /// The papers the page lists, newest first.
    pub entries: &'a [CategoryEntry<'a>],
    /// The category's papers in the whole archive (shown on its own page
    /// only).
    pub total: usize,
    /// Its years and their papers, newest first, on its own page when that
    /// does not list every paper.
    pub years: Vec<(i32, usize)>,
}

impl CategoryPage<'_> {
    /// Where the page is, relative to the site root.
    #[must_use]
    pub fn path(&self) -> String {
        match self.year {
            None => format!("categories/{}/index.html", self.name),
            Some(year) => format!("categories/{}/{year}/index.html", self.name),
        }
    }

    /// Its URL path relative to the site root (`categories/cs.CV/2020/`).
    #[must_use]
    pub fn href(&self) -> String {
        match self.year {
            None => format!("categories/{}/", self.name),
            Some(year) => format!("categories/{}/{year}/", self.name),
        }
    }

    /// Feeds everything the page shows to `hasher`: what a build compares
    /// to know whether it must be rendered again.
    pub fn hash_into(&self, hasher: &mut sha2::Sha256) {
        use sha2::Digest as _;
        hasher.update((self.name.len() as u64).to_le_bytes());
        hasher.update(self.name.as_bytes());
        hasher.update(self.year.unwrap_or(-1).to_le_bytes());
        // A year's page does not show the total (so it stays as it is
        // while later years grow).
        if self.year.is_none() {
            hasher.update((self.total as u64).to_le_bytes());
        }
        for (year, count) in &self.years {
            hasher.update(year.to_le_bytes());
            hasher.update((*count as u64).to_le_bytes());
        }
        for e in self.entries {
            e.hash_into(hasher);
        }
    }
}

fn index_page(
    days: &[&DaySummary],
    categories: &CategoryIndex<'_>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct Latest<'a> {
        date: String,
        title: &'a str,
        papers: usize,
        one_paper: bool,
        top_title: Option<&'a str>,
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
            top_title: d.top_title(),
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
            .0
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
fn category_groups<'a>(categories: &'a CategoryIndex<'_>) -> Vec<CategoryGroup<'a>> {
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
    for (name, entries) in &categories.0 {
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
    categories: &CategoryIndex<'_>,
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
        count: categories.0.len(),
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

/// A day's page; `prev` and `next` are the days before and after it that
/// have a page.
///
/// # Errors
/// When a template fails to render.
pub fn day_page(
    digest: &Digest,
    prev: Option<NaiveDate>,
    next: Option<NaiveDate>,
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
        prev: prev.map(|d| d.format("%Y-%m-%d").to_string()),
        next: next.map(|d| d.format("%Y-%m-%d").to_string()),
        published: digest.published.to_rfc3339(),
        published_label: digest.published.format("%-d %B %Y").to_string(),
        bibtex: day_bibliography_path(digest),
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
        path: day_page_path(digest.date),
        html,
    })
}

/// A category page ([`CategoryIndex::pages`]).
///
/// # Errors
/// When a template fails to render.
pub fn category_page(
    spec: &CategoryPage<'_>,
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Page, SiteError> {
    #[derive(Serialize)]
    struct YearLink {
        year: i32,
        papers: usize,
        one_paper: bool,
    }
    #[derive(Serialize)]
    struct View<'a> {
        name: &'a str,
        root: &'static str,
        /// Papers of the category in the archive.
        count: usize,
        one_paper: bool,
        list_url: String,
        /// On a year's page.
        year: Option<i32>,
        /// Papers listed (the year's, or the newest).
        shown: usize,
        one_shown: bool,
        /// Whether the category's own page leaves papers to its years.
        by_year: bool,
        years: Vec<YearLink>,
        entries: &'a [CategoryEntry<'a>],
    }
    let name = spec.name;
    let root = if spec.year.is_some() {
        "../../../"
    } else {
        "../../"
    };
    let view = View {
        name,
        root,
        count: if spec.year.is_none() { spec.total } else { 0 },
        one_paper: spec.total == 1,
        list_url: format!("https://arxiv.org/list/{name}/recent"),
        year: spec.year,
        shown: spec.entries.len(),
        one_shown: spec.entries.len() == 1,
        by_year: !spec.years.is_empty(),
        years: spec
            .years
            .iter()
            .map(|&(year, papers)| YearLink {
                year,
                papers,
                one_paper: papers == 1,
            })
            .collect(),
        entries: spec.entries,
    };
    let content = templates.render_html(templates::SITE_CATEGORY, &view)?;
    let (title, description) = match spec.year {
        None => (
            format!("{name} · {}", site.title),
            format!("Papers in the arXiv category {name} that trended on Twitter."),
        ),
        Some(year) => (
            format!("{name} in {year} · {}", site.title),
            format!("Papers in the arXiv category {name} that trended on Twitter in {year}."),
        ),
    };
    let mut page = layout(
        site,
        &title,
        &description,
        Some(site.link(&spec.href())),
        root,
        content,
    );
    page.feeds.push(FeedLink {
        media_type: "application/atom+xml",
        title: format!("{name} papers (Atom)"),
        href: site.link(&format!("categories/{name}.xml")),
    });
    let html = templates.render_html(templates::SITE_LAYOUT, &page)?;
    Ok(Page {
        path: spec.path(),
        html,
    })
}
