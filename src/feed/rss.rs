//! RSS 2.0 with the rss crate: the digest feed. `description` holds the short
//! summary and `content:encoded` the whole digest, both as HTML (the writer
//! puts them in CDATA sections, splitting any `]]>`).

use ::rss::extension::atom::{AtomExtension, Link};
use ::rss::extension::dublincore::DublinCoreExtension;
use ::rss::{Category as RssCategory, Channel, Guid, Item};
use chrono::{DateTime, FixedOffset};

use super::{
    digest_categories, digest_id, with_stylesheet, FeedError, FeedSet, OutputFile, CATEGORY_SCHEME,
    GENERATOR, STYLESHEET_FILE,
};
use crate::html::escape;
use crate::render;

/// `rss.xml`: one item per digest, newest first.
pub(super) fn digests(set: &FeedSet<'_>) -> Result<OutputFile, FeedError> {
    let site = set.site;
    let path = super::RSS_FILE;
    let items = set
        .digests
        .iter()
        .zip(&set.digest_html)
        .map(|(d, html)| {
            let id = digest_id(d, site);
            let permalink = id.starts_with("http");
            Item {
                title: Some(super::entry_title(d)),
                link: Some(render::digest_page_url(d, site)),
                description: Some(escape(&render::digest_summary(d)).into_owned()),
                categories: digest_categories(d)
                    .into_iter()
                    .map(|c| RssCategory {
                        name: c.as_str().to_owned(),
                        domain: Some(CATEGORY_SCHEME.to_owned()),
                    })
                    .collect(),
                guid: Some(Guid {
                    value: id,
                    permalink,
                }),
                pub_date: Some(rfc822(d.published)),
                content: Some(html.clone()),
                dublin_core_ext: Some(DublinCoreExtension {
                    creators: vec![site.title.clone()],
                    ..DublinCoreExtension::default()
                }),
                ..Item::default()
            }
        })
        .collect();
    let newest = rfc822(set.newest());
    let channel = Channel {
        title: super::feed_title(site, "RSS"),
        link: site.link(""),
        description: site.subtitle.clone(),
        language: Some(site.language.clone()),
        pub_date: Some(newest.clone()),
        last_build_date: Some(newest),
        generator: Some(format!("{GENERATOR} {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        items,
        atom_ext: Some(AtomExtension {
            links: vec![Link {
                href: site.link(path),
                rel: "self".to_owned(),
                mime_type: Some("application/rss+xml".to_owned()),
                ..Link::default()
            }],
        }),
        ..Channel::default()
    };
    let xml = channel
        .pretty_write_to(Vec::new(), b' ', 2)
        .map_err(|source| FeedError::Rss {
            file: path.to_owned(),
            source,
        })?;
    Ok(OutputFile {
        path: path.to_owned(),
        bytes: with_stylesheet(&xml, STYLESHEET_FILE),
    })
}

/// RFC 822 date-time as RSS wants it, with a numeric zone (`+0000`).
fn rfc822(t: DateTime<FixedOffset>) -> String {
    t.to_rfc2822()
}
