//! A small digest that takes every branch of the default templates, rendered
//! at start-up so a template mistake stops the program before any mail goes out.

use chrono::{NaiveDate, NaiveDateTime};

use crate::model::{ArxivId, Category, Digest, Paper, Tweet};

/// A small digest that takes every branch of the default templates: used at
/// start-up to check templates in strict mode.
pub(super) fn digest() -> Digest {
    let day = NaiveDate::from_ymd_opt(2021, 2, 12).unwrap_or_default();
    let counted = NaiveDateTime::new(day, chrono::NaiveTime::MIN);
    let category = |c: &str| Category::parse(c).ok();
    let id = |s: &str| ArxivId::parse(s).ok();
    let full = Paper {
        rank: 1,
        title: "A sample paper with a title long enough to need shortening in a subject line"
            .to_owned(),
        authors: (1..=8).map(|i| format!("Author {i}")).collect(),
        retweets: 100,
        favorites: 300,
        counted_at: counted,
        arxiv_id: id("2102.00001").unwrap_or_else(|| unreachable!()),
        abs_url: "https://arxiv.org/abs/2102.00001".to_owned(),
        pdf_url: Some("https://arxiv.org/pdf/2102.00001".to_owned()),
        categories: ["cs.LG", "stat.ML"]
            .iter()
            .filter_map(|c| category(c))
            .collect(),
        abstract_text: "A sentence of a sample abstract. ".repeat(30),
        tweets: vec![Tweet {
            author: "Sample Author".to_owned(),
            handle: "sample".to_owned(),
            url: "https://twitter.com/sample/status/1".to_owned(),
            date: Some(day),
            lang: "en".to_owned(),
            text: "A tweet.\nOn two lines.".to_owned(),
            html: crate::html::SafeHtml::sanitize("A tweet.<br>On two lines."),
        }],
    };
    let bare = Paper {
        rank: 2,
        title: "A second paper".to_owned(),
        authors: vec![],
        retweets: 0,
        favorites: 0,
        counted_at: counted,
        arxiv_id: id("2102.00002").unwrap_or_else(|| unreachable!()),
        abs_url: "https://arxiv.org/abs/2102.00002".to_owned(),
        pdf_url: None,
        categories: ["astro-ph.GA"].iter().filter_map(|c| category(c)).collect(),
        abstract_text: String::new(),
        tweets: vec![],
    };
    Digest {
        title: "Hot Papers 2021-02-12".to_owned(),
        date: day,
        end_date: None,
        published: day
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .fixed_offset(),
        slug: "hot-papers-2021-02-12".to_owned(),
        draft: false,
        template: None,
        category: None,
        tags: vec![],
        description: None,
        social_image: None,
        papers: vec![full, bare],
    }
}
