//! Papers across days: a paper that trends on several days is one entry,
//! keyed by its arXiv id, updated on the latest day it trended.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::SiteSettings;
use crate::model::{ArxivId, Digest, Paper};
use crate::render::{self, PaperView};
use crate::templates::{self, TemplateError, Templates};

/// One day a paper trended on.
#[derive(Debug, Clone, Copy)]
pub struct Trended<'a> {
    /// The digest of that day.
    pub digest: &'a Digest,
    /// The paper as that digest lists it (rank and counts of the day).
    pub paper: &'a Paper,
}

impl Trended<'_> {
    /// The time the paper's entry carries for that day: the digest's
    /// `published`, one second earlier for each rank below the first, so
    /// that the papers of one day have distinct times in rank order (rank 1
    /// newest) and every feed reader sorts them by rank.
    #[must_use]
    pub fn time(&self) -> DateTime<FixedOffset> {
        self.digest.published
            - chrono::Duration::seconds(i64::from(self.paper.rank.saturating_sub(1)))
    }
}

/// One paper of the feed window with every day it trended.
#[derive(Debug)]
pub struct PaperEntry<'a> {
    /// The paper as the most recent digest lists it.
    pub paper: &'a Paper,
    /// The days it trended, newest first (never empty).
    pub days: Vec<Trended<'a>>,
    /// The entry content: the paper's HTML and the days it trended.
    pub html: String,
}

impl PaperEntry<'_> {
    /// When it first trended (the oldest day's [`Trended::time`]).
    #[must_use]
    pub fn published(&self) -> DateTime<FixedOffset> {
        self.days
            .iter()
            .map(Trended::time)
            .min()
            .unwrap_or_else(super::epoch)
    }

    /// When it last trended (the newest day's [`Trended::time`]).
    #[must_use]
    pub fn updated(&self) -> DateTime<FixedOffset> {
        self.days
            .iter()
            .map(Trended::time)
            .max()
            .unwrap_or_else(super::epoch)
    }
}

/// Merges the papers of `digests` (newest first) by arXiv id, most recently
/// trending first, then by that day's rank.
pub(super) fn merge<'a>(
    digests: &[&'a Digest],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Vec<PaperEntry<'a>>, TemplateError> {
    let mut by_id: BTreeMap<&'a ArxivId, Vec<Trended<'a>>> = BTreeMap::new();
    for digest in digests {
        for paper in &digest.papers {
            let days = by_id.entry(&paper.arxiv_id).or_default();
            // Listed twice on one day: the better rank (listed first) counts.
            if days.last().is_some_and(|t| t.digest.date == digest.date) {
                continue;
            }
            days.push(Trended { digest, paper });
        }
    }
    let mut entries: Vec<PaperEntry<'a>> = by_id
        .into_values()
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter_map(|days| {
            let latest = *days.first()?;
            Some(
                entry_html(latest.paper, &days, site, templates).map(|html| PaperEntry {
                    paper: latest.paper,
                    days,
                    html,
                }),
            )
        })
        .collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| {
        b.days[0]
            .digest
            .date
            .cmp(&a.days[0].digest.date)
            .then(a.paper.rank.cmp(&b.paper.rank))
            .then(a.paper.arxiv_id.cmp(&b.paper.arxiv_id))
    });
    Ok(entries)
}

/// The paper's HTML followed by the days it trended, each linked to the
/// paper on that digest's page (`feed-paper.html.hbs`).
fn entry_html(
    paper: &Paper,
    days: &[Trended<'_>],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<String, TemplateError> {
    /// One day the paper trended on.
    #[derive(Serialize)]
    struct Day {
        /// The digest's page.
        page: String,
        date: String,
        rank: u32,
        retweets: u64,
    }
    #[derive(Serialize)]
    struct View<'a> {
        paper: PaperView<'a>,
        days: Vec<Day>,
    }
    let view = View {
        paper: PaperView::new(paper, &site.link("categories/")),
        days: days
            .iter()
            .map(|t| Day {
                page: render::digest_page_url(t.digest, site),
                date: t.digest.date.to_string(),
                rank: t.paper.rank,
                retweets: t.paper.retweets,
            })
            .collect(),
    };
    templates.render_html(templates::FEED_PAPER_HTML, &view)
}
