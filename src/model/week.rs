//! The weekly edition's content: the papers of every digest of seven days,
//! one entry per arXiv id, ranked by retweets. Pure: the digests come in,
//! one merged [`Digest`] goes out, and the email renders it like a day's.

use std::collections::HashMap;

use chrono::{Datelike, Days, NaiveDate};

use super::{ArxivId, Digest, Paper};

/// The seven days ending on a reader's weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    /// First day (six days before `end`).
    pub start: NaiveDate,
    /// Last day: the day the edition goes out.
    pub end: NaiveDate,
}

impl Week {
    /// The seven days ending on `end`, `end` included.
    #[must_use]
    pub fn ending(end: NaiveDate) -> Self {
        Self {
            start: end.checked_sub_days(Days::new(6)).unwrap_or(end),
            end,
        }
    }

    /// Whether `day` is one of the seven.
    #[must_use]
    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.start..=self.end).contains(&day)
    }

    /// The ISO week of the last day, `2021-W06`: what the ledger keys a
    /// weekly delivery by, so a reader gets one weekly edition per calendar
    /// week even if they move their weekday within it.
    #[must_use]
    pub fn iso_key(&self) -> String {
        let w = self.end.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    }
}

/// The week's papers as one digest dated `week.end`: every paper of the
/// digests inside the week once (by arXiv id), with its best figures (the
/// most retweets and favorites any day counted; the rest of the entry from
/// the day with the most retweets), ranked by retweets (then favorites, then
/// the earlier day and rank), ranks renumbered from 1. Digests outside the
/// week are ignored; a week without papers gives a digest without papers.
#[must_use]
pub fn weekly_digest<'a>(week: Week, digests: impl IntoIterator<Item = &'a Digest>) -> Digest {
    let mut days: Vec<&Digest> = digests
        .into_iter()
        .filter(|d| week.contains(d.date))
        .collect();
    days.sort_by_key(|d| d.date);
    // (best entry, its day, most favorites seen)
    let mut best: HashMap<&ArxivId, (&Paper, NaiveDate, u64)> = HashMap::new();
    for digest in &days {
        for paper in &digest.papers {
            best.entry(&paper.arxiv_id)
                .and_modify(|(kept, day, favorites)| {
                    *favorites = (*favorites).max(paper.favorites);
                    if paper.retweets > kept.retweets {
                        *kept = paper;
                        *day = digest.date;
                    }
                })
                .or_insert((paper, digest.date, paper.favorites));
        }
    }
    let mut merged: Vec<(Paper, NaiveDate)> = best
        .into_values()
        .map(|(p, day, favorites)| {
            let mut p = p.clone();
            p.favorites = favorites;
            (p, day)
        })
        .collect();
    merged.sort_by(|(a, da), (b, db)| {
        b.retweets
            .cmp(&a.retweets)
            .then(b.favorites.cmp(&a.favorites))
            .then(da.cmp(db))
            .then(a.rank.cmp(&b.rank))
            .then(a.arxiv_id.cmp(&b.arxiv_id))
    });
    let papers: Vec<Paper> = (1u32..)
        .zip(merged)
        .map(|(rank, (mut p, _))| {
            p.rank = rank;
            p
        })
        .collect();
    let last = days.last().copied();
    Digest {
        title: format!(
            "Hot Papers of the week {} to {}",
            week.start.format("%Y-%m-%d"),
            week.end.format("%Y-%m-%d")
        ),
        date: week.end,
        end_date: None,
        published: last.map_or_else(
            || {
                week.end
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .fixed_offset()
            },
            |d| d.published,
        ),
        slug: format!("hot-papers-week-{}", week.iso_key().to_ascii_lowercase()),
        draft: false,
        template: None,
        category: None,
        tags: Vec::new(),
        description: None,
        social_image: None,
        papers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn digest(date: &str, papers: &[(&str, u64, u64)]) -> Digest {
        let papers: Vec<serde_json::Value> = papers
            .iter()
            .enumerate()
            .map(|(i, (id, rt, fav))| {
                serde_json::json!({
                    "rank": i + 1, "title": format!("Paper {id} of {date}"), "authors": [],
                    "retweets": rt, "favorites": fav, "counted_at": "2021-02-12T10:00:00",
                    "arxiv_id": id, "abs_url": format!("https://arxiv.org/abs/{id}"),
                    "pdf_url": null, "categories": [], "abstract": "", "tweets": []
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "title": format!("Hot Papers {date}"), "date": date,
            "published": format!("{date}T22:00:00+00:00"), "slug": "s",
            "draft": false, "tags": [], "papers": papers
        }))
        .unwrap()
    }

    #[test]
    fn a_paper_on_two_days_appears_once_with_its_best_figures_ranked_by_retweets() {
        let days = [
            digest("2021-02-05", &[("2102.00009", 999, 999)]), // the week before
            digest(
                "2021-02-08",
                &[("2102.00001", 50, 300), ("2102.00002", 40, 10)],
            ),
            digest(
                "2021-02-10",
                &[("2102.00003", 45, 5), ("2102.00001", 80, 100)],
            ),
            digest("2021-02-12", &[("2102.00004", 40, 20)]),
        ];
        let week = Week::ending(day("2021-02-12"));
        assert_eq!(week.start, day("2021-02-06"));
        assert_eq!(week.iso_key(), "2021-W06");
        let merged = weekly_digest(week, &days);
        let got: Vec<(u32, String, u64, u64)> = merged
            .papers
            .iter()
            .map(|p| (p.rank, p.arxiv_id.to_string(), p.retweets, p.favorites))
            .collect();
        assert_eq!(
            got,
            [
                (1, "2102.00001".into(), 80, 300),
                (2, "2102.00003".into(), 45, 5),
                (3, "2102.00004".into(), 40, 20),
                (4, "2102.00002".into(), 40, 10),
            ]
        );
        assert_eq!(merged.papers[0].title, "Paper 2102.00001 of 2021-02-10");
        assert_eq!(merged.date, day("2021-02-12"));
        assert_eq!(
            merged.title,
            "Hot Papers of the week 2021-02-06 to 2021-02-12"
        );
    }

    #[test]
    fn a_week_without_digests_has_no_papers() {
        let merged = weekly_digest(Week::ending(day("2021-02-14")), &[]);
        assert!(merged.papers.is_empty());
    }
}
