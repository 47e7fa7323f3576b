//! Feeds: the latest digests as Atom (`atom.xml`), RSS 2.0 (`rss.xml`) and
//! JSON Feed 1.1 (`feed.json`); every paper of those digests as Atom
//! (`papers.xml`) and per arXiv category (`categories/CAT.xml`); an OPML list
//! of them all (`feeds.opml`) and the XSLT stylesheet browsers use to show a
//! feed as a page (`feed.xsl`).
//!
//! Renderers only: [`build`] returns the files as bytes and `cmd::build`
//! writes them. Everything comes from the digests and the settings — no
//! clock — so the same archive always gives byte-identical files.
//!
//! Ids never depend on the build: a digest is `tag:HOST,YYYY-MM-DD:PATHYYYY-MM-DD`,
//! a feed is its own URL, and a paper in `papers.xml` or a category feed is
//! that feed's URL with the arXiv id as fragment (one entry however many days
//! it trended). Paper ids are per feed because readers such as newsboat key
//! entries by id across all their feeds: one id shared by `papers.xml` and
//! three category feeds would leave the paper in only one of them.
//!
//! [`FeedSet::summaries`] describes each feed (titles, addresses, latest
//! entries) from the same data, for the feed pages `site` renders.

mod atom;
mod json;
mod opml;
mod papers;
mod rss;

use std::borrow::Borrow;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use thiserror::Error;

use crate::config::SiteSettings;
use crate::model::{Category, Digest};
use crate::render;
use crate::templates::{TemplateError, Templates};

pub use papers::{PaperEntry, Trended};

/// The file of the digest feed in Atom.
pub const ATOM_FILE: &str = "atom.xml";
/// The file of the digest feed in RSS 2.0.
pub const RSS_FILE: &str = "rss.xml";
/// The file of the digest feed in JSON Feed 1.1.
pub const JSON_FILE: &str = "feed.json";
/// The file of the feed of every paper.
pub const PAPERS_FILE: &str = "papers.xml";

/// File name of the stylesheet in the output folder.
pub const STYLESHEET_FILE: &str = "feed.xsl";

/// The registered media types of the feeds.
const ATOM_TYPE: &str = "application/atom+xml";
const RSS_TYPE: &str = "application/rss+xml";
const JSON_TYPE: &str = "application/feed+json";

/// The generator named in the feeds.
const GENERATOR: &str = "hotpapers";

/// Where arXiv's category codes are defined (scheme / domain of feed categories).
const CATEGORY_SCHEME: &str = "https://arxiv.org/category_taxonomy";

/// One generated file: where it goes under the output folder and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Path relative to the output folder, `/`-separated (`categories/cs.CV.xml`).
    pub path: String,
    /// The complete file content.
    pub bytes: Vec<u8>,
}

/// A feed document that could not be serialized. The inputs are plain strings,
/// so this means a bug in a serializer rather than bad data.
#[derive(Debug, Error)]
pub enum FeedError {
    /// Writing an Atom document failed.
    #[error("could not write `{file}` as Atom: {source}")]
    Atom {
        /// The output file.
        file: String,
        /// The writer's error.
        source: atom_syndication::Error,
    },
    /// Writing the RSS document failed.
    #[error("could not write `{file}` as RSS: {source}")]
    Rss {
        /// The output file.
        file: String,
        /// The writer's error.
        source: ::rss::Error,
    },
    /// Writing an XML document (OPML) failed.
    #[error("could not write `{file}` as XML: {source}")]
    Xml {
        /// The output file.
        file: String,
        /// The writer's error.
        source: std::io::Error,
    },
    /// A digest or paper template failed to render (an override's mistake).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A document would hold a character XML does not allow. The parser keeps
    /// them out of the model, so the text came another way (a template
    /// override, a setting, a model built by hand); the file is not written
    /// rather than written broken.
    #[error("could not write `{file}`: it would hold U+{code_point:04X} at byte {offset}, which XML does not allow (from a template or a setting, or a bug to report)")]
    ForbiddenCharacter {
        /// The output file.
        file: String,
        /// The character, as a number.
        code_point: u32,
        /// Its byte offset in the document.
        offset: usize,
    },
    /// Writing the JSON Feed failed.
    #[error("could not write `{file}` as JSON: {source}")]
    Json {
        /// The output file.
        file: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// Everything the feeds are made of, computed once: the digests in the
/// window, newest first, their HTML, and the papers merged across days.
#[derive(Debug)]
pub struct FeedSet<'a> {
    site: &'a SiteSettings,
    /// The digest and paper templates, and the stylesheet.
    templates: &'a Templates,
    /// The latest digests, newest first, at most `feed_limit`, one per day.
    digests: Vec<&'a Digest>,
    /// `render::digest_html` of each digest, in the same order.
    digest_html: Vec<String>,
    /// Every paper of the window, most recently trending first.
    papers: Vec<PaperEntry<'a>>,
    /// Categories of the whole archive that get a feed even with no paper
    /// in the window ([`FeedSet::with_archive_categories`]).
    archive_categories: Vec<Category>,
}

impl<'a> FeedSet<'a> {
    /// Picks the latest `site.feed_limit` digests (one per day, newest
    /// first) and prepares their content with `templates`.
    ///
    /// # Errors
    /// When a template fails to render.
    pub fn new<D: Borrow<Digest>>(
        archive: &'a [D],
        site: &'a SiteSettings,
        templates: &'a Templates,
    ) -> Result<Self, FeedError> {
        let mut digests: Vec<&Digest> = archive.iter().map(Borrow::borrow).collect();
        digests.sort_by(|a, b| b.date.cmp(&a.date).then(b.published.cmp(&a.published)));
        digests.dedup_by_key(|d| d.date);
        // A day without papers keeps its page but is no feed entry: an
        // entry that says "nothing today" is noise in a reader.
        digests.retain(|d| !d.papers.is_empty());
        digests.truncate(site.feed_limit);
        let digest_html = digests
            .par_iter()
            .map(|d| render::digest_html(d, site, templates))
            .collect::<Result<_, _>>()?;
        let papers = papers::merge(&digests, site, templates)?;
        Ok(Self {
            site,
            templates,
            digests,
            digest_html,
            papers,
            archive_categories: Vec::new(),
        })
    }

    /// Gives every category of the archive its feed, empty when none of its
    /// papers is in the window: a category page links its feed, and a
    /// reader's feed of a rare category stays where it was (and a build
    /// writes the same files whatever came before it).
    #[must_use]
    pub fn with_archive_categories(
        mut self,
        categories: impl IntoIterator<Item = Category>,
    ) -> Self {
        self.archive_categories = categories.into_iter().collect();
        self
    }

    /// Every category with a feed (of the window and of the archive), with
    /// its papers in the window (most recent first).
    #[must_use]
    pub fn categories(&self) -> BTreeMap<&Category, Vec<&PaperEntry<'a>>> {
        let mut map: BTreeMap<&Category, Vec<&PaperEntry<'a>>> = self
            .archive_categories
            .iter()
            .map(|c| (c, Vec::new()))
            .collect();
        for entry in &self.papers {
            for c in &entry.paper.categories {
                let list = map.entry(c).or_default();
                // A paper listing a category twice is still one entry.
                if list
                    .last()
                    .is_none_or(|e| e.paper.arxiv_id != entry.paper.arxiv_id)
                {
                    list.push(entry);
                }
            }
        }
        map
    }

    /// Every output file, in a fixed order.
    ///
    /// # Errors
    /// When a serializer fails (a bug, see [`FeedError`]).
    pub fn files(&self) -> Result<Vec<OutputFile>, FeedError> {
        let categories = self.categories();
        let categories: Vec<(&Category, &Vec<&PaperEntry<'a>>)> =
            categories.iter().map(|(c, e)| (*c, e)).collect();
        // Each feed on its own (they share nothing but what they read).
        let (files, category_files) = rayon::join(
            || -> Result<Vec<OutputFile>, FeedError> {
                (0..4)
                    .into_par_iter()
                    .map(|job| match job {
                        0 => atom::digests(self),
                        1 => rss::digests(self),
                        2 => json::digests(self),
                        _ => atom::papers(self),
                    })
                    .collect()
            },
            || -> Result<Vec<OutputFile>, FeedError> {
                categories
                    .par_iter()
                    .map(|(category, entries)| atom::category(self, category, entries))
                    .collect()
            },
        );
        let mut files = files?;
        files.extend(category_files?);
        files.push(opml::feeds(self, categories.iter().map(|(c, _)| *c))?);
        files.push(OutputFile {
            path: STYLESHEET_FILE.to_owned(),
            bytes: self.templates.stylesheet().to_vec(),
        });
        files.par_iter().try_for_each(refuse_forbidden)?;
        Ok(files)
    }

    /// Every feed [`FeedSet::files`] writes (not the OPML nor the
    /// stylesheet), described from the same data: what the feed pages show.
    #[must_use]
    pub fn summaries(&self) -> Vec<FeedSummary> {
        let site = self.site;
        let digest_entries: Vec<EntrySummary> = self
            .digests
            .iter()
            .map(|d| EntrySummary {
                title: entry_title(d),
                link: render::digest_page_url(d, site),
                updated: d.published,
            })
            .collect();
        let digest_feed = |path: &str, media_type, format| FeedSummary {
            path: path.to_owned(),
            media_type,
            format,
            title: feed_title(site, format),
            subtitle: site.subtitle.clone(),
            category: None,
            entries: digest_entries.clone(),
        };
        let paper_entries = |papers: &[&PaperEntry<'_>]| {
            papers
                .iter()
                .map(|p| EntrySummary {
                    title: p.paper.title.clone(),
                    link: p.paper.canonical_url(),
                    updated: p.updated(),
                })
                .collect()
        };
        let mut feeds = vec![
            digest_feed(ATOM_FILE, ATOM_TYPE, "Atom"),
            digest_feed(RSS_FILE, RSS_TYPE, "RSS"),
            digest_feed(JSON_FILE, JSON_TYPE, "JSON Feed"),
            FeedSummary {
                path: PAPERS_FILE.to_owned(),
                media_type: ATOM_TYPE,
                format: "Atom",
                title: papers_title(site),
                subtitle: self.papers_subtitle(),
                category: None,
                entries: paper_entries(&self.papers.iter().collect::<Vec<_>>()),
            },
        ];
        for (category, papers) in self.categories() {
            feeds.push(FeedSummary {
                path: category_path(category),
                media_type: ATOM_TYPE,
                format: "Atom",
                title: category_title(site, category),
                subtitle: self.category_subtitle(category),
                category: Some(category.clone()),
                entries: paper_entries(&papers),
            });
        }
        feeds
    }

    /// The subtitle of `papers.xml`.
    fn papers_subtitle(&self) -> String {
        format!(
            "Each paper of the latest {} digests as its own entry: {}",
            self.digests.len(),
            self.site.subtitle
        )
    }

    /// The subtitle of a category's feed.
    fn category_subtitle(&self, category: &Category) -> String {
        format!(
            "Papers in arXiv category {category} among the latest {} digests: {}",
            self.digests.len(),
            self.site.subtitle
        )
    }

    /// Newest `published` among the digests in the window: the feeds' `updated`.
    fn newest(&self) -> DateTime<FixedOffset> {
        self.digests
            .iter()
            .map(|d| d.published)
            .max()
            .unwrap_or_else(epoch)
    }
}

/// One feed as its page shows it: the same titles and entries as the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSummary {
    /// Path under the output folder, `/`-separated (`categories/cs.CV.xml`).
    pub path: String,
    /// Its registered media type (`application/atom+xml`).
    pub media_type: &'static str,
    /// "Atom", "RSS" or "JSON Feed".
    pub format: &'static str,
    /// The feed's title.
    pub title: String,
    /// The feed's subtitle (description).
    pub subtitle: String,
    /// The category of a category feed.
    pub category: Option<Category>,
    /// Its entries, in the feed's order (newest first).
    pub entries: Vec<EntrySummary>,
}

/// One entry of a feed: its title, where it links, when it was last updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySummary {
    /// The entry's title.
    pub title: String,
    /// Its alternate link (the day's page, or the paper on arXiv).
    pub link: String,
    /// Its `updated` time.
    pub updated: DateTime<FixedOffset>,
}

/// Renders every feed file for the latest digests of `archive` (any order; the
/// newest `site.feed_limit` days are taken), with the built-in templates.
///
/// # Errors
/// When a serializer fails (a bug, see [`FeedError`]).
pub fn build<D: Borrow<Digest>>(
    archive: &[D],
    site: &SiteSettings,
) -> Result<Vec<OutputFile>, FeedError> {
    build_with(archive, site, Templates::builtin_digest())
}

/// [`build`] with the digest templates and stylesheet of `templates` (the
/// templates folder's overrides).
///
/// # Errors
/// When a template fails to render, or a serializer fails (a bug).
pub fn build_with<D: Borrow<Digest>>(
    archive: &[D],
    site: &SiteSettings,
    templates: &Templates,
) -> Result<Vec<OutputFile>, FeedError> {
    FeedSet::new(archive, site, templates)?.files()
}

/// A digest's entry title, saying what is inside: "Hot Papers 2021-08-24:
/// Towards Explainable Fact Checking, and 11 more" (TeX as Unicode: a title
/// is plain text).
#[must_use]
pub fn entry_title(digest: &Digest) -> String {
    match digest.papers.as_slice() {
        [] => digest.title.clone(),
        [only] => format!("{}: {}", digest.title, crate::tex::to_text(&only.title)),
        [first, rest @ ..] => format!(
            "{}: {}, and {} more",
            digest.title,
            crate::tex::to_text(&first.title),
            rest.len()
        ),
    }
}

/// The title of the digest feed in `format` ("Atom", "RSS", "JSON Feed"):
/// the site's title and the format, so that a reader holding several of
/// them (an OPML import) tells them apart; the pages' feed links say the same.
#[must_use]
pub fn feed_title(site: &SiteSettings, format: &str) -> String {
    format!("{} ({format})", site.title)
}

/// The title of `papers.xml`.
#[must_use]
pub fn papers_title(site: &SiteSettings) -> String {
    format!("{}: every paper", site.title)
}

/// The title of a category's feed.
#[must_use]
pub fn category_title(site: &SiteSettings, category: &Category) -> String {
    format!("{}: {category}", site.title)
}

/// The id of a paper's entry in the feed at `feed_url`: that URL with the
/// arXiv id as fragment (`https://example.org/categories/cs.CV.xml#2102.12345`).
/// Unique to the feed, since readers such as newsboat key entries by id
/// alone across every feed they hold, and the same on every build.
#[must_use]
pub fn paper_id(feed_url: &str, paper: &crate::model::Paper) -> String {
    format!("{feed_url}#{}", paper.arxiv_id.as_str())
}

/// Output path of a category's feed.
#[must_use]
pub fn category_path(category: &Category) -> String {
    format!("categories/{category}.xml")
}

/// The stable id of a digest: a tag URI on the site's host and the digest's
/// day (`tag:example.org,2021-02-12:/2021-02-12`), so moving pages around the
/// site never changes it. When the host cannot be a tag authority (an IPv6
/// address) the digest page URL is the id.
#[must_use]
pub fn digest_id(digest: &Digest, site: &SiteSettings) -> String {
    let day = digest.date.format("%Y-%m-%d");
    match site.url.host() {
        Some(url::Host::Domain(host)) if is_tag_authority(host) => {
            format!("tag:{host},{day}:{}{day}", site.url.path())
        }
        Some(url::Host::Ipv4(ip)) => format!("tag:{ip},{day}:{}{day}", site.url.path()),
        _ => render::digest_page_url(digest, site),
    }
}

/// RFC 4151 `DNSname`: dot-separated labels of letters, digits and inner hyphens.
fn is_tag_authority(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The date of an empty feed: fixed, never the build time.
fn epoch() -> DateTime<FixedOffset> {
    DateTime::UNIX_EPOCH.fixed_offset()
}

/// Inserts `<?xml-stylesheet?>` after the XML declaration (the Atom and RSS
/// writers have no way to emit processing instructions).
fn with_stylesheet(xml: &[u8], href: &str) -> Vec<u8> {
    let pi = format!("<?xml-stylesheet type=\"text/xsl\" href=\"{href}\"?>\n");
    let decl_end = if xml.starts_with(b"<?xml ") {
        xml.windows(2).position(|w| w == b"?>").map(|p| p + 2)
    } else {
        None
    };
    let mut out = Vec::with_capacity(xml.len() + pi.len() + 1);
    if let Some(end) = decl_end {
        out.extend_from_slice(&xml[..end]);
        out.push(b'\n');
        out.extend_from_slice(pi.as_bytes());
        out.extend_from_slice(xml[end..].trim_ascii_start());
    } else {
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        out.extend_from_slice(pi.as_bytes());
        out.extend_from_slice(xml);
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// The last guard of the XML documents: none may hold a character XML 1.0
/// forbids, whatever path the text took ([`crate::text::is_forbidden`]).
/// `feed.json` needs none: its serializer escapes control characters.
fn refuse_forbidden(file: &OutputFile) -> Result<(), FeedError> {
    if std::path::Path::new(&file.path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&file.bytes);
    match crate::text::first_forbidden(&text) {
        None => Ok(()),
        Some((offset, c)) => Err(FeedError::ForbiddenCharacter {
            file: file.path.clone(),
            code_point: u32::from(c),
            offset,
        }),
    }
}

/// The categories of a digest's papers, each once, in order of first appearance.
fn digest_categories(digest: &Digest) -> Vec<&Category> {
    let mut seen = std::collections::BTreeSet::new();
    digest
        .papers
        .iter()
        .flat_map(|p| &p.categories)
        .filter(|c| seen.insert(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stylesheet_goes_right_after_the_declaration() {
        let xml = b"<?xml version=\"1.0\"?>\n<feed/>".to_vec();
        let out = String::from_utf8(with_stylesheet(&xml, "feed.xsl")).unwrap();
        assert_eq!(
            out,
            "<?xml version=\"1.0\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"feed.xsl\"?>\n<feed/>\n"
        );
        let out = String::from_utf8(with_stylesheet(b"<rss/>", "../feed.xsl")).unwrap();
        assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?xml-stylesheet"));
    }

    fn config(site: &str) -> SiteSettings {
        crate::config::Config::builder()
            .site_url(site)
            .build()
            .expect("valid settings")
            .site
    }

    #[test]
    fn digest_ids_are_tag_uris_on_the_site_host_or_the_page_url() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/valid/minimal.md"
        ))
        .unwrap();
        let (digest, _) =
            crate::digest::parse_digest(std::path::Path::new("minimal.md"), &text).unwrap();
        let id = |site: &str| digest_id(&digest, &config(site));
        assert_eq!(
            id("https://example.org/papers/"),
            "tag:example.org,2021-03-01:/papers/2021-03-01"
        );
        assert_eq!(
            id("http://127.0.0.1:8080/"),
            "tag:127.0.0.1,2021-03-01:/2021-03-01",
            "the port is not part of a tag authority"
        );
        assert_eq!(id("http://[::1]:8080/"), "http://[::1]:8080/2021-03-01/");
    }

    #[test]
    fn tag_authorities_are_dns_names() {
        assert!(is_tag_authority("hotpapers.example.org"));
        assert!(is_tag_authority("localhost"));
        assert!(!is_tag_authority("bad_host.org"));
        assert!(!is_tag_authority("-x.org"));
        assert!(!is_tag_authority(""));
    }
}
