//! What the archive-wide pages need of one day: the front page, the category
//! pages, the category index and the sitemap are made from these summaries,
//! never from whole digests, so a build can keep them (in its cache) instead
//! of every digest, and a build that reuses them writes the same bytes as one
//! that parsed everything.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::Digest;

/// One published day, as the archive-wide pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySummary {
    /// The digest's day.
    pub date: NaiveDate,
    /// Its title.
    pub title: String,
    /// Its papers in rank order (rank 1 first).
    pub papers: Vec<PaperSummary>,
}

/// One paper of a day, as its category pages list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperSummary {
    /// Rank within the day.
    pub rank: u32,
    /// The title as plain text (TeX read as Unicode).
    pub title: String,
    /// Retweets that day.
    pub retweets: u64,
    /// Its arXiv categories, in the digest's order (a repeated one kept).
    pub categories: Vec<String>,
}

impl DaySummary {
    /// The summary of a digest.
    #[must_use]
    pub fn of(digest: &Digest) -> Self {
        Self {
            date: digest.date,
            title: digest.title.clone(),
            papers: digest
                .papers
                .iter()
                .map(|p| PaperSummary {
                    rank: p.rank,
                    title: crate::tex::to_text(&p.title),
                    retweets: p.retweets,
                    categories: p.categories.iter().map(|c| c.as_str().to_owned()).collect(),
                })
                .collect(),
        }
    }

    /// The title of the best-ranked paper, as [`Digest::top_paper`] picks it.
    #[must_use]
    pub fn top_title(&self) -> Option<&str> {
        self.papers
            .iter()
            .min_by_key(|p| p.rank)
            .map(|p| p.title.as_str())
    }
}
