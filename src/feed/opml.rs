//! `feeds.opml` (OPML 2.0): every feed of the site in one file, so a reader
//! imports them all at once. Written with quick-xml, which escapes attribute
//! values.

use std::io;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::{category_path, FeedError, FeedSet, OutputFile};
use crate::model::Category;

/// Writes the OPML listing the digest feed, the paper feed and one feed per
/// category (in a folder of their own).
pub(super) fn feeds<'c>(
    set: &FeedSet<'_>,
    categories: impl Iterator<Item = &'c Category>,
) -> Result<OutputFile, FeedError> {
    let path = "feeds.opml";
    let bytes = write(set, categories).map_err(|source| FeedError::Xml {
        file: path.to_owned(),
        source,
    })?;
    Ok(OutputFile {
        path: path.to_owned(),
        bytes,
    })
}

fn write<'c>(
    set: &FeedSet<'_>,
    categories: impl Iterator<Item = &'c Category>,
) -> io::Result<Vec<u8>> {
    let site = set.site;
    let home = site.link("");
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    w.write_event(Event::Start(
        BytesStart::new("opml").with_attributes([("version", "2.0")]),
    ))?;
    w.write_event(Event::Start(BytesStart::new("head")))?;
    text_element(&mut w, "title", &format!("{}: all feeds", site.title))?;
    if !set.digests.is_empty() {
        text_element(&mut w, "dateModified", &set.newest().to_rfc2822())?;
    }
    text_element(&mut w, "docs", "http://opml.org/spec2.opml")?;
    w.write_event(Event::End(BytesEnd::new("head")))?;
    w.write_event(Event::Start(BytesStart::new("body")))?;

    let title = &site.title;
    // The daily digest once (Atom): rss.xml and feed.json hold the same
    // entries, and importing them too would subscribe the reader twice.
    let feeds = [
        (super::ATOM_FILE, super::feed_title(site, "Atom")),
        (super::PAPERS_FILE, super::papers_title(site)),
    ];
    for (file, text) in &feeds {
        outline(&mut w, text, &site.link(file), &home)?;
    }
    w.write_event(Event::Start(BytesStart::new("outline").with_attributes([
        ("text", format!("{title}: arXiv categories").as_str()),
        ("title", format!("{title}: arXiv categories").as_str()),
    ])))?;
    for c in categories {
        outline(
            &mut w,
            &super::category_title(site, c),
            &site.link(&category_path(c)),
            &c.list_url(),
        )?;
    }
    w.write_event(Event::End(BytesEnd::new("outline")))?;
    w.write_event(Event::End(BytesEnd::new("body")))?;
    w.write_event(Event::End(BytesEnd::new("opml")))?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

fn outline(w: &mut Writer<Vec<u8>>, text: &str, xml_url: &str, html_url: &str) -> io::Result<()> {
    w.write_event(Event::Empty(BytesStart::new("outline").with_attributes([
        // OPML 2.0 says `rss` for any feed subscription, Atom included.
        ("type", "rss"),
        ("text", text),
        ("title", text),
        ("xmlUrl", xml_url),
        ("htmlUrl", html_url),
    ])))
}

fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}
