//! JSON Feed 1.1 (<https://jsonfeed.org/version/1.1>) with `serde_json`: the
//! digest feed, as typed structs so field names and order never drift.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use super::{digest_categories, digest_id, FeedError, FeedSet, OutputFile};
use crate::render;

/// The version URL every JSON Feed 1.1 document starts with.
const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: String,
    home_page_url: String,
    feed_url: String,
    description: &'a str,
    language: &'a str,
    authors: Vec<Author>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct Author {
    name: String,
    url: String,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: String,
    url: String,
    title: String,
    content_html: &'a str,
    summary: String,
    date_published: String,
    date_modified: String,
    authors: Vec<Author>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
}

/// `feed.json`: one item per digest, newest first.
pub(super) fn digests(set: &FeedSet<'_>) -> Result<OutputFile, FeedError> {
    let site = set.site;
    let path = super::JSON_FILE;
    let author = || Author {
        name: site.title.clone(),
        url: site.link(""),
    };
    let items = set
        .digests
        .iter()
        .zip(&set.digest_html)
        .map(|(d, html)| JsonItem {
            id: digest_id(d, site),
            url: render::digest_page_url(d, site),
            title: super::entry_title(d),
            content_html: html,
            summary: render::digest_summary(d),
            date_published: rfc3339(d.published),
            date_modified: rfc3339(d.published),
            authors: vec![author()],
            tags: digest_categories(d)
                .into_iter()
                .map(crate::model::Category::as_str)
                .collect(),
        })
        .collect();
    let feed = JsonFeed {
        version: VERSION,
        title: super::feed_title(site, "JSON Feed"),
        home_page_url: site.link(""),
        feed_url: site.link(path),
        description: &site.subtitle,
        language: &site.language,
        authors: vec![author()],
        items,
    };
    let mut bytes = serde_json::to_vec_pretty(&feed).map_err(|source| FeedError::Json {
        file: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(OutputFile {
        path: path.to_owned(),
        bytes,
    })
}

fn rfc3339(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
