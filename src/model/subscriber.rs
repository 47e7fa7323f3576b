//! A newsletter subscriber and the filter that personalizes their email.
//!
//! The type lives in the model so that the email renderer (which filters
//! papers) and the subscriber store (which reads and writes records) agree.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Category, Channel, Consent, ConsentEvent, Digest, EventKind, Paper};

/// Whether a subscriber may be mailed. Unsubscribed and bounced records stay
/// in the store: they are the suppression list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    /// Receives the newsletter.
    #[default]
    Active,
    /// Asked to stop; never mailed again.
    Unsubscribed,
    /// Hard-bounced too often; never mailed again.
    Bounced,
}

/// How often a reader is mailed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    /// The edition of every digest day.
    #[default]
    Daily,
    /// One edition a week, of the seven days ending on the reader's weekday.
    Weekly,
}

impl Cadence {
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
    fn is_daily(&self) -> bool {
        *self == Cadence::Daily
    }

    /// `daily` or `weekly`, as the subscriber file writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
        }
    }
}

/// A day of the week, written out in lower case (`friday`) in subscriber files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the names say it
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// chrono's name for the same day.
    #[must_use]
    pub fn chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Monday => chrono::Weekday::Mon,
            Weekday::Tuesday => chrono::Weekday::Tue,
            Weekday::Wednesday => chrono::Weekday::Wed,
            Weekday::Thursday => chrono::Weekday::Thu,
            Weekday::Friday => chrono::Weekday::Fri,
            Weekday::Saturday => chrono::Weekday::Sat,
            Weekday::Sunday => chrono::Weekday::Sun,
        }
    }

    /// `monday` … `sunday`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Weekday::Monday => "monday",
            Weekday::Tuesday => "tuesday",
            Weekday::Wednesday => "wednesday",
            Weekday::Thursday => "thursday",
            Weekday::Friday => "friday",
            Weekday::Saturday => "saturday",
            Weekday::Sunday => "sunday",
        }
    }

    /// Reads `friday`, `Friday` or `fri`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s || (s.len() == 3 && d.as_str().starts_with(&s)))
    }
}

impl std::str::FromStr for Cadence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "daily" => Ok(Cadence::Daily),
            "weekly" => Ok(Cadence::Weekly),
            other => Err(format!(
                "unknown cadence `{other}` (expected `daily` or `weekly`)"
            )),
        }
    }
}

impl std::str::FromStr for Weekday {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown weekday `{}` (expected `monday` … `sunday`)",
                s.trim()
            )
        })
    }
}

/// One subscriber record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// The address, as given (compare case-insensitively with [`Subscriber::key`]).
    pub email: String,
    /// Display name, used in the greeting and the `To` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the greeting calls them, when not their first name ("Dr. Turing").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting_name: Option<String>,
    /// Keep papers with at least one of these categories (empty: all).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub categories: BTreeSet<Category>,
    /// Keep at most this many papers, best ranked first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_papers: Option<usize>,
    /// Keep papers with at least this many retweets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retweets: Option<u64>,
    /// Whether to mail at all.
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: SubscriberStatus,
    /// How often the reader gets mail: every digest day, or once a week.
    #[serde(default, skip_serializing_if = "Cadence::is_daily")]
    pub cadence: Cadence,
    /// The day a weekly reader's edition goes out (unset: Friday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<Weekday>,
    /// Author alerts: a paper by one of them is always included, first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// Keyword alerts: a paper whose title or abstract holds one (a whole
    /// word or phrase) is always included, first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// When the reader subscribed (kept for consent records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed_at: Option<DateTime<Utc>>,
    /// When `status` last changed (an unsubscribe, a bounce, a reactivation):
    /// the web server and the suppression list need to know when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<DateTime<Utc>>,
    /// The consent on record: the sign-up and every change since (records
    /// written before consent was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_active(s: &SubscriberStatus) -> bool {
    *s == SubscriberStatus::Active
}

impl Subscriber {
    /// A subscriber with no filter.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: None,
            greeting_name: None,
            categories: BTreeSet::new(),
            max_papers: None,
            min_retweets: None,
            status: SubscriberStatus::Active,
            cadence: Cadence::Daily,
            weekday: None,
            authors: Vec::new(),
            keywords: Vec::new(),
            subscribed_at: None,
            status_changed_at: None,
            consent: None,
        }
    }

    /// Appends to the consent history (creating it for an old record).
    pub fn record_event(
        &mut self,
        at: DateTime<Utc>,
        event: EventKind,
        via: Channel,
        fields: Option<String>,
    ) {
        self.consent
            .get_or_insert_with(Consent::default)
            .events
            .push(ConsentEvent {
                at,
                event,
                via,
                fields,
            });
    }

    /// The identity of the record: addresses compare case-insensitively.
    #[must_use]
    pub fn key(&self) -> String {
        self.email.trim().to_lowercase()
    }

    /// The paper selection this subscriber asked for.
    #[must_use]
    pub fn filter(&self) -> PaperFilter {
        PaperFilter {
            categories: self.categories.clone(),
            max_papers: self.max_papers,
            min_retweets: self.min_retweets,
            authors: self.authors.clone(),
            keywords: self.keywords.clone(),
        }
    }

    /// The weekday a weekly edition goes out on.
    #[must_use]
    pub fn weekday(&self) -> Weekday {
        self.weekday.unwrap_or(Weekday::Friday)
    }

    /// Whether this reader's mail of `day` is the weekly edition (true) or
    /// the daily one (false); `None` when they get nothing that day.
    #[must_use]
    pub fn edition_on(&self, day: NaiveDate) -> Option<bool> {
        match self.cadence {
            Cadence::Daily => Some(false),
            Cadence::Weekly => (self.weekday().chrono() == day.weekday()).then_some(true),
        }
    }

    /// Whether this subscriber may be mailed at all.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.status == SubscriberStatus::Active
    }
}

/// The personal selection a subscriber asked for. An empty filter keeps
/// every paper.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PaperFilter {
    /// Keep papers with at least one of these categories (empty: all).
    pub categories: BTreeSet<Category>,
    /// Keep at most this many papers, best ranked first.
    pub max_papers: Option<usize>,
    /// Keep papers with at least this many retweets.
    pub min_retweets: Option<u64>,
    /// Author alerts: papers by one of them are kept whatever their
    /// categories or retweets, and placed first.
    pub authors: Vec<String>,
    /// Keyword alerts: papers whose title or abstract holds one, likewise.
    pub keywords: Vec<String>,
}

/// The papers a filter kept from one digest, with the original ranks intact.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// Kept papers: those an alert matched first, then the rest, each in
    /// digest order.
    pub papers: Vec<&'a Paper>,
    /// For each kept paper, what of the reader's alerts it matched
    /// (`author …`, `keyword “…”`); empty for papers kept by the filter alone.
    pub matched: Vec<Vec<String>>,
    /// Papers outside the subscriber's categories or below their retweet floor.
    pub filtered_out: usize,
    /// Papers cut by `max_papers` after filtering.
    pub over_limit: usize,
}

impl PaperFilter {
    /// Whether this filter keeps everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            && self.max_papers.is_none()
            && self.min_retweets.is_none()
            && self.authors.is_empty()
            && self.keywords.is_empty()
    }

    /// Whether one paper passes the category and retweet conditions.
    #[must_use]
    pub fn accepts(&self, paper: &Paper) -> bool {
        let in_categories = self.categories.is_empty()
            || paper.categories.iter().any(|c| self.categories.contains(c));
        let popular_enough = self.min_retweets.is_none_or(|min| paper.retweets >= min);
        in_categories && popular_enough
    }

    /// Applies the filter to a digest: papers an alert matches come first
    /// (kept even outside the categories or under the retweet floor), then
    /// the papers the filter keeps; `max_papers` cuts from the end.
    #[must_use]
    pub fn select<'a>(&self, digest: &'a Digest) -> Selection<'a> {
        let mut alerted: Vec<(&Paper, Vec<String>)> = Vec::new();
        let mut rest: Vec<(&Paper, Vec<String>)> = Vec::new();
        for p in &digest.papers {
            let found = super::alert::matches(p, &self.authors, &self.keywords);
            if !found.is_empty() {
                alerted.push((p, found));
            } else if self.accepts(p) {
                rest.push((p, Vec::new()));
            }
        }
        alerted.extend(rest);
        let matching = alerted;
        let filtered_out = digest.papers.len() - matching.len();
        let keep = self.max_papers.unwrap_or(usize::MAX).min(matching.len());
        let over_limit = matching.len() - keep;
        let (papers, matched) = matching.into_iter().take(keep).unzip();
        Selection {
            papers,
            matched,
            filtered_out,
            over_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(rank: u32, retweets: u64, cats: &[&str]) -> Paper {
        let mut p: Paper = serde_json::from_value(serde_json::json!({
            "rank": rank, "title": format!("Paper {rank}"), "authors": [], "retweets": retweets,
            "favorites": 0, "counted_at": "2021-02-12T10:00:00", "arxiv_id": "2102.00001", "abs_url": "https://arxiv.org/abs/2102.00001",
            "pdf_url": "https://arxiv.org/pdf/2102.00001", "categories": [], "abstract": "", "tweets": []
        }))
        .unwrap();
        p.categories = cats.iter().map(|c| Category::parse(c).unwrap()).collect();
        p
    }

    #[test]
    fn filter_keeps_ranks_and_counts_what_it_dropped() {
        let papers = [
            paper(1, 500, &["cs.LG"]),
            paper(2, 400, &["astro-ph.GA"]),
            paper(3, 300, &["cs.CV", "cs.LG"]),
            paper(4, 5, &["cs.LG"]),
            paper(5, 200, &["cs.LG"]),
        ];
        let filter = PaperFilter {
            categories: [Category::parse("cs.LG").unwrap()].into(),
            max_papers: Some(2),
            min_retweets: Some(10),
            ..PaperFilter::default()
        };
        let kept: Vec<u32> = papers
            .iter()
            .filter(|p| filter.accepts(p))
            .map(|p| p.rank)
            .collect();
        assert_eq!(kept, [1, 3, 5]);
        assert!(PaperFilter::default().is_empty());

        let digest: Digest = serde_json::from_value(serde_json::json!({
            "title": "Hot Papers 2021-02-12", "date": "2021-02-12",
            "published": "2021-02-13T22:40:53+00:00", "slug": "hot-papers-2021-02-12",
            "draft": false, "tags": [], "papers": papers
        }))
        .unwrap();
        let selection = filter.select(&digest);
        let ranks: Vec<u32> = selection.papers.iter().map(|p| p.rank).collect();
        assert_eq!(
            ranks,
            [1, 3],
            "max_papers keeps the best ranked, ranks intact"
        );
        assert_eq!(
            selection.filtered_out, 2,
            "paper 2 is outside cs.LG, paper 4 is under 10 retweets"
        );
        assert_eq!(
            selection.over_limit, 1,
            "paper 5 passed but max_papers is 2"
        );

        let alert = PaperFilter {
            keywords: vec!["paper 4".into()],
            ..filter.clone()
        };
        let selection = alert.select(&digest);
        let ranks: Vec<u32> = selection.papers.iter().map(|p| p.rank).collect();
        assert_eq!(
            ranks,
            [4, 1],
            "the alert's paper first, though under the retweet floor"
        );
        assert_eq!(selection.matched[0], ["keyword \u{201c}paper 4\u{201d}"]);
        assert!(selection.matched[1].is_empty());

        let everything = PaperFilter::default().select(&digest);
        assert_eq!(everything.papers.len(), 5);
        assert_eq!((everything.filtered_out, everything.over_limit), (0, 0));
    }
}
