//! Papers across days: a paper that trends on several days is one entry,
//! keyed by its arXiv id, updated on the latest day it trended.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, FixedOffset};

use crate::config::Config;
use crate::html::escape;
use crate::model::{ArxivId, Digest, Paper};
use crate::render;

/// One day a paper trended on.
#[derive(Debug, Clone, Copy)]
pub struct Trended<'a> {
    /// The digest of that day.
    pub digest: &'a Digest,
    /// The paper as that digest lists it (rank and counts of the day).
    pub paper: &'a Paper,
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
    /// When it first trended (the oldest digest's `published`).
    #[must_use]
    pub fn published(&self) -> DateTime<FixedOffset> {
        self.days
            .iter()
            .map(|t| t.digest.published)
            .min()
            .unwrap_or_else(super::epoch)
    }

    /// When it last trended (the newest digest's `published`).
    #[must_use]
    pub fn updated(&self) -> DateTime<FixedOffset> {
        self.days
            .iter()
            .map(|t| t.digest.published)
            .max()
            .unwrap_or_else(super::epoch)
    }
}

/// Merges the papers of `digests` (newest first) by arXiv id, most recently
/// trending first, then by that day's rank.
pub(super) fn merge<'a>(digests: &[&'a Digest], config: &Config) -> Vec<PaperEntry<'a>> {
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
        .filter_map(|days| {
            let latest = *days.first()?;
            let html = entry_html(latest.paper, &days, config);
            Some(PaperEntry {
                paper: latest.paper,
                days,
                html,
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        b.days[0]
            .digest
            .date
            .cmp(&a.days[0].digest.date)
            .then(a.paper.rank.cmp(&b.paper.rank))
            .then(a.paper.arxiv_id.cmp(&b.paper.arxiv_id))
    });
    entries
}

/// The paper's HTML followed by the days it trended, each linked to the
/// paper on that digest's page.
fn entry_html(paper: &Paper, days: &[Trended<'_>], config: &Config) -> String {
    let mut html = render::paper_html(paper);
    html.push_str("<p class=\"trended\">Trending in Hot Papers on ");
    for (i, t) in days.iter().enumerate() {
        if i > 0 {
            html.push_str(", ");
        }
        let page = render::digest_page_url(t.digest, config);
        let _ = write!(
            html,
            "<a href=\"{}#paper-{}\">{}</a> (#{}, {} retweets)",
            escape(&page),
            t.paper.rank,
            t.digest.date,
            t.paper.rank,
            t.paper.retweets
        );
    }
    html.push_str(".</p>\n");
    html
}
