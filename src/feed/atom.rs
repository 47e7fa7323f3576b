//! Atom 1.0 documents (RFC 4287) with `atom_syndication`: the digest feed, the
//! paper feed and one feed per arXiv category.

use atom_syndication::{
    Category as AtomCategory, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig,
};
use chrono::{DateTime, FixedOffset};

use super::{
    category_path, digest_categories, digest_id, with_stylesheet, FeedError, FeedSet, OutputFile,
    PaperEntry, ATOM_FILE, ATOM_TYPE, CATEGORY_SCHEME, GENERATOR, PAPERS_FILE, STYLESHEET_FILE,
};
use crate::config::SiteSettings;
use crate::model::Category;
use crate::render;

/// `atom.xml`: one entry per digest, newest first.
pub(super) fn digests(set: &FeedSet<'_>) -> Result<OutputFile, FeedError> {
    let site = set.site;
    let path = ATOM_FILE;
    let entries = set
        .digests
        .iter()
        .zip(&set.digest_html)
        .map(|(d, html)| {
            let page = render::digest_page_url(d, site);
            Entry {
                id: digest_id(d, site),
                title: Text::plain(super::entry_title(d)),
                updated: d.published,
                published: Some(d.published),
                authors: vec![site_author(site)],
                links: vec![link(&page, "alternate", "text/html")],
                categories: digest_categories(d)
                    .into_iter()
                    .map(atom_category)
                    .collect(),
                summary: Some(Text::plain(render::digest_summary(d))),
                content: Some(html_content(html)),
                ..Entry::default()
            }
        })
        .collect();
    let feed = feed(
        site,
        path,
        super::feed_title(site, "Atom"),
        site.subtitle.clone(),
        &site.link(""),
        set.newest(),
        entries,
    );
    write(path, &feed, STYLESHEET_FILE)
}

/// `papers.xml`: one entry per paper, keyed by its arXiv id.
pub(super) fn papers(set: &FeedSet<'_>) -> Result<OutputFile, FeedError> {
    let site = set.site;
    let path = PAPERS_FILE;
    let entries: Vec<Entry> = set
        .papers
        .iter()
        .map(|p| paper_entry(p, path, site))
        .collect();
    let updated = newest(&entries);
    let feed = feed(
        site,
        path,
        super::papers_title(site),
        set.papers_subtitle(),
        &site.link(""),
        updated,
        entries,
    );
    write(path, &feed, STYLESHEET_FILE)
}

/// `categories/CAT.xml`: the papers listed under one arXiv category.
pub(super) fn category(
    set: &FeedSet<'_>,
    category: &Category,
    papers: &[&PaperEntry<'_>],
) -> Result<OutputFile, FeedError> {
    let site = set.site;
    let path = category_path(category);
    let entries: Vec<Entry> = papers.iter().map(|p| paper_entry(p, &path, site)).collect();
    // A category with no paper in the window changed when the window moved.
    let updated = if entries.is_empty() {
        set.newest()
    } else {
        newest(&entries)
    };
    let mut feed = feed(
        site,
        &path,
        super::category_title(site, category),
        set.category_subtitle(category),
        &site.link(""),
        updated,
        entries,
    );
    feed.links.push(Link {
        href: category.list_url(),
        rel: "related".to_owned(),
        mime_type: Some("text/html".to_owned()),
        ..Link::default()
    });
    feed.categories = vec![atom_category(category)];
    write(&path, &feed, &format!("../{STYLESHEET_FILE}"))
}

/// A paper's entry in the feed at `path` (its id names it within that feed).
fn paper_entry(entry: &PaperEntry<'_>, path: &str, site: &SiteSettings) -> Entry {
    let paper = entry.paper;
    let abs = paper.canonical_url();
    let mut links = vec![link(&abs, "alternate", "text/html")];
    if paper.pdf_url.is_some() {
        links.push(link(
            &paper.arxiv_id.pdf_url(),
            "related",
            "application/pdf",
        ));
    }
    links.extend(entry.days.iter().map(|t| {
        link(
            &format!(
                "{}#paper-{}",
                render::digest_page_url(t.digest, site),
                t.paper.rank
            ),
            "via",
            "text/html",
        )
    }));
    let authors = if paper.authors.is_empty() {
        vec![site_author(site)]
    } else {
        paper
            .authors
            .iter()
            .map(|name| Person {
                name: name.clone(),
                ..Person::default()
            })
            .collect()
    };
    Entry {
        id: super::paper_id(&site.link(path), paper),
        title: Text::plain(crate::tex::to_text(&paper.title)),
        updated: entry.updated(),
        published: Some(entry.published()),
        authors,
        links,
        categories: paper.categories.iter().map(atom_category).collect(),
        summary: Some(Text::plain(render::paper_summary(paper))),
        content: Some(html_content(&entry.html)),
        ..Entry::default()
    }
}

fn feed(
    site: &SiteSettings,
    path: &str,
    title: String,
    subtitle: String,
    home: &str,
    updated: DateTime<FixedOffset>,
    entries: Vec<Entry>,
) -> Feed {
    let self_url = site.link(path);
    Feed {
        title: Text::plain(title),
        id: self_url.clone(),
        updated,
        authors: vec![site_author(site)],
        generator: Some(Generator {
            value: GENERATOR.to_owned(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        links: vec![
            link(&self_url, "self", ATOM_TYPE),
            link(home, "alternate", "text/html"),
        ],
        subtitle: Some(Text::plain(subtitle)),
        entries,
        lang: Some(site.language.clone()),
        ..Feed::default()
    }
}

fn write(path: &str, feed: &Feed, stylesheet: &str) -> Result<OutputFile, FeedError> {
    let write_config = WriteConfig {
        write_document_declaration: false,
        indent_size: Some(2),
    };
    let xml = feed
        .write_with_config(Vec::new(), write_config)
        .map_err(|source| FeedError::Atom {
            file: path.to_owned(),
            source,
        })?;
    Ok(OutputFile {
        path: path.to_owned(),
        bytes: with_stylesheet(&xml, stylesheet),
    })
}

/// The newest `updated` of the entries: the feed's `updated`.
fn newest(entries: &[Entry]) -> DateTime<FixedOffset> {
    entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or_else(super::epoch)
}

fn site_author(site: &SiteSettings) -> Person {
    Person {
        name: site.title.clone(),
        uri: Some(site.link("")),
        ..Person::default()
    }
}

fn link(href: &str, rel: &str, mime: &str) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: Some(mime.to_owned()),
        ..Link::default()
    }
}

fn atom_category(c: &Category) -> AtomCategory {
    AtomCategory {
        term: c.as_str().to_owned(),
        scheme: Some(CATEGORY_SCHEME.to_owned()),
        label: None,
    }
}

/// HTML content; the writer escapes it once (`&lt;p&gt;`), as `type="html"` expects.
fn html_content(html: &str) -> Content {
    Content {
        value: Some(html.to_owned()),
        content_type: Some("html".to_owned()),
        ..Content::default()
    }
}
