//! The archive's search index: every paper of every published digest, in a
//! tantivy index that `build` writes under `OUT/.search/` and `serve`
//! answers `/search` from. [`query`] reads what a reader types (words,
//! `"phrases"`, `author:`, `category:`, `after:`/`before:`, arXiv ids) into
//! a query; [`Index`] runs it and gives highlighted hits.
//!
//! Titles and abstracts are indexed as the Unicode text their TeX reads as
//! (`Pok\'emon` → `Pokémon`, `$\alpha$` → `α`), folded to ASCII and stemmed
//! (English); author
//! names folded and lowercased, not stemmed; categories and ids as exact
//! keywords. A title match weighs 3, an author 2, the abstract 1.

pub mod query;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tantivy::collector::{Count, TopDocs};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value as _,
    STORED,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer,
};
use tantivy::{doc, IndexReader, ReloadPolicy, TantivyDocument};

pub use query::{ParsedQuery, QueryError};

use crate::model::Digest;

/// Where in the output folder the index lives: a dot folder, which `serve`
/// never serves as a file.
pub const INDEX_DIR: &str = ".search";
/// The file naming the current index folder inside [`INDEX_DIR`].
const CURRENT: &str = "CURRENT";
/// Bumped when the schema or what is indexed changes (2: TeX indexed as its
/// Unicode text): `days.tsv` of another version is not trusted, and a new
/// index is built.
const SCHEMA_VERSION: u32 = 2;
/// The most hits one page shows.
pub const PER_PAGE: usize = 10;
/// The deepest page served (deep pages cost; nobody reads page 500).
pub const MAX_PAGE: usize = 100;

/// Why the index could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed.
    #[error("the search index `{path}`: {source}")]
    Index {
        /// The index folder.
        path: PathBuf,
        /// What went wrong.
        source: tantivy::TantivyError,
    },
    /// A file of the index could not be written or read.
    #[error("the search index `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// No index has been built.
    #[error("no search index in `{0}`: run `hotpapers build`")]
    Missing(PathBuf),
    /// The thread running the search panicked or was cancelled.
    #[error("the search did not finish: {0}")]
    Stopped(String),
}

/// The fields, by name.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    authors: Field,
    abstract_text: Field,
    categories: Field,
    day: Field,
    rank: Field,
    retweets: Field,
    favorites: Field,
    abs_url: Field,
    pdf_url: Field,
}

const TEXT: &str = "hp_text";
const NAMES: &str = "hp_names";
const KEYWORD: &str = "hp_keyword";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let keyword = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(KEYWORD)
            .set_index_option(IndexRecordOption::Basic),
    );
    let number = NumericOptions::default().set_stored();
    let fields = Fields {
        id: b.add_text_field("id", keyword.clone()),
        title: b.add_text_field("title", text(TEXT)),
        authors: b.add_text_field("authors", text(NAMES)),
        abstract_text: b.add_text_field("abstract", text(TEXT)),
        categories: b.add_text_field("category", keyword),
        day: b.add_u64_field("day", number.clone().set_indexed().set_fast()),
        rank: b.add_u64_field("rank", number.clone()),
        retweets: b.add_u64_field("retweets", number.clone()),
        favorites: b.add_u64_field("favorites", number),
        abs_url: b.add_text_field("abs_url", STORED),
        pdf_url: b.add_text_field("pdf_url", STORED),
    };
    (b.build(), fields)
}

/// The analyzers the schema names; registered on every index opened.
fn register_tokenizers(index: &tantivy::Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(
        TEXT,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(Language::English))
            .build(),
    );
    tokenizers.register(
        NAMES,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
    tokenizers.register(
        KEYWORD,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

/// A TeX field as the index holds and shows it: its Unicode text
/// ([`crate::tex::to_text`]: `Pok\'emon` → `Pokémon`, `$\alpha$-\emph{nets}`
/// → `α-nets`), on one line. Accents fold away when it is tokenized.
#[must_use]
pub fn tex_words(text: &str) -> String {
    crate::text::one_line(&crate::tex::to_text(text))
}

/// The fingerprint of one day's papers in the index: every field it
/// indexes, fed to SHA-256 as it is (no copy of the digest is made). A day
/// of the same fingerprint needs no reindexing.
#[must_use]
pub fn day_fingerprint(d: &Digest) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(d.date.to_string().as_bytes());
    for p in &d.papers {
        field(p.arxiv_id.to_string().as_bytes());
        field(p.title.as_bytes());
        field(p.abstract_text.as_bytes());
        for a in &p.authors {
            field(a.as_bytes());
        }
        field(b"\0authors");
        for c in &p.categories {
            field(c.as_str().as_bytes());
        }
        field(b"\0categories");
        field(&p.rank.to_le_bytes());
        field(&p.retweets.to_le_bytes());
        field(&p.favorites.to_le_bytes());
        field(p.abs_url.as_bytes());
        field(p.pdf_url.as_deref().unwrap_or("").as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// What an index holds, day by day: `days.tsv` in its folder, written after
/// each commit (`schema N`, then `DAY<TAB>FINGERPRINT` lines). Written after
/// the commit, it is never ahead of the index: a build killed between the
/// two leaves it behind, and the next build redoes those days, which is
/// harmless (a day is deleted before it is added).
#[derive(Debug, Default, PartialEq, Eq)]
struct Manifest {
    days: BTreeMap<u64, String>,
}

const MANIFEST: &str = "days.tsv";

impl Manifest {
    /// The manifest of the index in `dir`; `None` if missing, unreadable or
    /// of another schema (the index is then rebuilt).
    fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
        let mut lines = text.lines();
        if lines.next()? != format!("schema {SCHEMA_VERSION}") {
            return None;
        }
        let mut days = BTreeMap::new();
        for line in lines {
            let (day, hash) = line.split_once('\t')?;
            days.insert(day.parse().ok()?, hash.to_owned());
        }
        Some(Self { days })
    }

    fn write(&self, dir: &Path) -> Result<(), SearchError> {
        use std::fmt::Write as _;
        let mut text = format!("schema {SCHEMA_VERSION}\n");
        for (day, hash) in &self.days {
            let _ = writeln!(text, "{day}\t{hash}");
        }
        let path = dir.join(MANIFEST);
        crate::atomic::replace(&path, text.as_bytes(), crate::atomic::NewFileMode::Public)
            .map_err(io(&path))
    }

    /// The days whose papers differ from `self`'s: changed, added or gone.
    fn changed_days(&self, wanted: &Self) -> Vec<u64> {
        let mut days: Vec<u64> = wanted
            .days
            .iter()
            .filter(|(day, hash)| self.days.get(day) != Some(hash))
            .map(|(day, _)| *day)
            .collect();
        days.extend(self.days.keys().filter(|d| !wanted.days.contains_key(d)));
        days.sort_unstable();
        days
    }

    /// A folder name for a new index of these days.
    fn folder_name(&self) -> String {
        let mut h = Sha256::new();
        h.update(SCHEMA_VERSION.to_le_bytes());
        for (day, hash) in &self.days {
            h.update(day.to_le_bytes());
            h.update(hash.as_bytes());
        }
        format!("index-{}", &hex::encode(h.finalize())[..16])
    }
}

fn day_number(day: chrono::NaiveDate) -> u64 {
    use chrono::Datelike as _;
    u64::try_from(day.year()).unwrap_or(0) * 10_000
        + u64::from(day.month()) * 100
        + u64::from(day.day())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.to_owned(),
        source,
    }
}

fn tantivy_error(path: &Path) -> impl FnOnce(tantivy::TantivyError) -> SearchError + '_ {
    move |source| SearchError::Index {
        path: path.to_owned(),
        source,
    }
}

/// What [`write_index`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A new index of this many papers is current.
    New(usize),
    /// The current index was brought up to date in place: the papers of
    /// this many days were replaced (changed, added or removed days), and
    /// it now holds this many papers.
    Updated {
        /// Days reindexed.
        days: usize,
        /// Papers in the index.
        papers: usize,
    },
    /// The current index already holds exactly these papers.
    Unchanged(usize),
}

/// Above this share of the archive's days changed, a new index is built
/// instead of updating the current one (a fresh one is compact).
const REBUILD_SHARE: f64 = 0.5;

/// Writes the index of `digests` under `out/.search/`: [`plan_index`] from
/// their fingerprints, then each day it asks for, then [`IndexUpdate::finish`].
///
/// # Errors
/// When the folder cannot be written or tantivy fails.
pub fn write_index(out: &Path, digests: &[&Digest]) -> Result<Written, SearchError> {
    use rayon::prelude::*;
    let days: Vec<(chrono::NaiveDate, String)> = digests
        .par_iter()
        .map(|d| (d.date, day_fingerprint(d)))
        .collect();
    let papers = digests.iter().map(|d| d.papers.len()).sum();
    let update = plan_index(out, days, papers)?;
    for digest in digests {
        if update.needs(digest.date) {
            update.add(digest)?;
        }
    }
    update.finish()
}

/// A search index being brought up to date by a build.
///
/// The daily case is cheap: the current index's manifest names the
/// fingerprint of every day it holds, and only the days that differ are
/// deleted and added again, in one tantivy commit (atomic: a `serve`
/// reading meanwhile sees the index before it or after it). Without a
/// current index, or when most days changed, a new one is built in its own
/// folder and made current by replacing `CURRENT` atomically; older
/// folders are removed but the one before (a reader may still have it open).
///
/// [`IndexUpdate::add`] takes `&self`, so the days can be fed from the
/// threads that render them, each digest dropped once added.
pub struct IndexUpdate {
    out: PathBuf,
    wanted: Manifest,
    papers: usize,
    job: Job,
}

enum Job {
    Unchanged,
    InPlace {
        dir: PathBuf,
        writer: tantivy::IndexWriter<TantivyDocument>,
        fields: Fields,
        days: Vec<u64>,
    },
    New {
        dir: PathBuf,
        name: String,
        previous: Option<String>,
        writer: tantivy::IndexWriter<TantivyDocument>,
        fields: Fields,
    },
}

/// Plans the index of an archive whose days have these fingerprints
/// ([`day_fingerprint`]) and `papers` papers in all: which days must be
/// (re)indexed, and where.
///
/// # Errors
/// When the index folder cannot be read or made, or tantivy fails.
pub fn plan_index(
    out: &Path,
    days: impl IntoIterator<Item = (chrono::NaiveDate, String)>,
    papers: usize,
) -> Result<IndexUpdate, SearchError> {
    let wanted = Manifest {
        days: days
            .into_iter()
            .map(|(day, hash)| (day_number(day), hash))
            .collect(),
    };
    let root = out.join(INDEX_DIR);
    let previous = current_name(out);
    if let Some(current) = previous.as_deref() {
        let dir = root.join(current);
        if let Some(held) = Manifest::read(&dir) {
            let changed = held.changed_days(&wanted);
            if changed.is_empty() {
                return Ok(IndexUpdate {
                    out: out.to_owned(),
                    wanted,
                    papers,
                    job: Job::Unchanged,
                });
            }
            #[allow(clippy::cast_precision_loss)] // day counts are far below 2^52
            let share = changed.len() as f64 / wanted.days.len().max(1) as f64;
            if share <= REBUILD_SHARE {
                let index = tantivy::Index::open_in_dir(&dir).map_err(tantivy_error(&dir))?;
                register_tokenizers(&index);
                let (_, fields) = schema();
                let writer = writer(&index, &dir)?;
                for &day in &changed {
                    writer.delete_term(tantivy::Term::from_field_u64(fields.day, day));
                }
                return Ok(IndexUpdate {
                    out: out.to_owned(),
                    wanted,
                    papers,
                    job: Job::InPlace {
                        dir,
                        writer,
                        fields,
                        days: changed,
                    },
                });
            }
        }
    }
    // A folder of its own, never one that exists: an index updated in place
    // keeps its first name, so the name of these days may be taken by the
    // current index (or the one before it) that a reader has open.
    let base = wanted.folder_name();
    let mut name = base.clone();
    let mut n = 0;
    while root.join(&name).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    let dir = root.join(&name);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let (schema, fields) = schema();
    let index = tantivy::Index::create_in_dir(&dir, schema).map_err(tantivy_error(&dir))?;
    register_tokenizers(&index);
    let writer = writer(&index, &dir)?;
    Ok(IndexUpdate {
        out: out.to_owned(),
        wanted,
        papers,
        job: Job::New {
            dir,
            name,
            previous,
            writer,
            fields,
        },
    })
}

impl IndexUpdate {
    /// Whether the papers of `day` must be given to [`IndexUpdate::add`].
    #[must_use]
    pub fn needs(&self, day: chrono::NaiveDate) -> bool {
        let day = day_number(day);
        match &self.job {
            Job::Unchanged => false,
            Job::InPlace { days, .. } => days.binary_search(&day).is_ok(),
            Job::New { .. } => self.wanted.days.contains_key(&day),
        }
    }

    /// Indexes the papers of a day [`IndexUpdate::needs`]; any other day is
    /// left alone.
    ///
    /// # Errors
    /// When tantivy refuses the documents.
    pub fn add(&self, digest: &Digest) -> Result<(), SearchError> {
        if !self.needs(digest.date) {
            return Ok(());
        }
        match &self.job {
            Job::Unchanged => Ok(()),
            Job::InPlace {
                dir,
                writer,
                fields,
                ..
            }
            | Job::New {
                dir,
                writer,
                fields,
                ..
            } => add_day(writer, *fields, digest, dir),
        }
    }

    /// Commits what was added and makes it current.
    ///
    /// # Errors
    /// When tantivy fails or a file of the index cannot be written.
    pub fn finish(self) -> Result<Written, SearchError> {
        let papers = self.papers;
        match self.job {
            Job::Unchanged => Ok(Written::Unchanged(papers)),
            Job::InPlace {
                dir,
                mut writer,
                days,
                ..
            } => {
                writer.commit().map_err(tantivy_error(&dir))?;
                writer.wait_merging_threads().map_err(tantivy_error(&dir))?;
                self.wanted.write(&dir)?;
                Ok(Written::Updated {
                    days: days.len(),
                    papers,
                })
            }
            Job::New {
                dir,
                name,
                previous,
                mut writer,
                ..
            } => {
                writer.commit().map_err(tantivy_error(&dir))?;
                writer.wait_merging_threads().map_err(tantivy_error(&dir))?;
                self.wanted.write(&dir)?;
                let root = self.out.join(INDEX_DIR);
                let current_file = root.join(CURRENT);
                crate::atomic::replace(
                    &current_file,
                    format!("{name}\n").as_bytes(),
                    crate::atomic::NewFileMode::Public,
                )
                .map_err(io(&current_file))?;
                remove_old_indexes(&root, [name.as_str(), previous.as_deref().unwrap_or("")]);
                Ok(Written::New(papers))
            }
        }
    }
}

/// Removes the index folders but `keep` (the new one and the one before it).
fn remove_old_indexes(root: &Path, keep: [&str; 2]) {
    let Ok(listing) = std::fs::read_dir(root) else {
        return;
    };
    for entry in listing.filter_map(Result::ok) {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with("index-") && !keep.contains(&file.as_ref()) {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                // Only disk space is lost: the next build tries again.
                tracing::warn!(
                    "could not remove the old index `{}`: {e}",
                    entry.path().display()
                );
            }
        }
    }
}

fn writer(
    index: &tantivy::Index,
    dir: &Path,
) -> Result<tantivy::IndexWriter<TantivyDocument>, SearchError> {
    index
        .writer_with_num_threads(1, 64 * 1024 * 1024)
        .map_err(tantivy_error(dir))
}

/// Adds one document per paper of `digest`.
fn add_day(
    writer: &tantivy::IndexWriter<TantivyDocument>,
    f: Fields,
    digest: &Digest,
    dir: &Path,
) -> Result<(), SearchError> {
    for p in &digest.papers {
        let mut d = doc!(
            f.id => p.arxiv_id.to_string(),
            f.title => tex_words(&p.title),
            f.abstract_text => tex_words(&p.abstract_text),
            f.day => day_number(digest.date),
            f.rank => u64::from(p.rank),
            f.retweets => p.retweets,
            f.favorites => p.favorites,
            f.abs_url => p.abs_url.as_str(),
        );
        for a in &p.authors {
            d.add_text(f.authors, a);
        }
        for c in &p.categories {
            d.add_text(f.categories, c.as_str());
        }
        if let Some(pdf) = &p.pdf_url {
            d.add_text(f.pdf_url, pdf);
        }
        writer.add_document(d).map_err(tantivy_error(dir))?;
    }
    Ok(())
}

/// One hit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The arXiv id.
    pub id: String,
    /// The title (TeX reduced to words).
    pub title: String,
    /// The title as HTML, the matching words in `<mark>`.
    #[serde(skip)]
    pub title_html: String,
    /// Authors in paper order.
    pub authors: Vec<String>,
    /// A passage of the abstract as HTML, the matching words in `<mark>`.
    #[serde(skip)]
    pub snippet_html: String,
    /// arXiv categories, primary first.
    pub categories: Vec<String>,
    /// The digest day, `YYYY-MM-DD`.
    pub day: String,
    /// Rank that day.
    pub rank: u64,
    /// Retweets counted.
    pub retweets: u64,
    /// Likes counted.
    pub favorites: u64,
    /// The abs page.
    pub abs_url: String,
    /// The PDF, when the digest links one.
    pub pdf_url: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Results {
    /// How many papers match in all.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Its hits, best first.
    pub hits: Vec<Hit>,
}

impl Results {
    /// Whether a next page exists.
    #[must_use]
    pub fn has_next(&self) -> bool {
        self.page < MAX_PAGE && self.page * PER_PAGE < self.total
    }
}

/// An opened index, with what a query needs.
pub struct Index {
    name: String,
    /// The index folder's `meta.json`, whose change means a new commit.
    meta: PathBuf,
    /// Its modification time when the reader was last reloaded.
    seen: std::sync::Mutex<Option<std::time::SystemTime>>,
    engine: tantivy::Index,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The name of the current index under `out`, if one was built.
#[must_use]
pub fn current_name(out: &Path) -> Option<String> {
    std::fs::read_to_string(out.join(INDEX_DIR).join(CURRENT))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.starts_with("index-") && !s.contains(['/', '\\', '.']))
}

/// Highlighted HTML of `snippet`: escaped text, matches in `<mark>`.
fn marked(snippet: &tantivy::snippet::Snippet) -> String {
    let text = snippet.fragment();
    let mut html = String::with_capacity(text.len() + 32);
    let mut at = 0;
    for range in snippet.highlighted() {
        if range.start < at || range.end > text.len() {
            continue;
        }
        html.push_str(&crate::html::escape(&text[at..range.start]));
        html.push_str("<mark>");
        html.push_str(&crate::html::escape(&text[range.clone()]));
        html.push_str("</mark>");
        at = range.end;
    }
    html.push_str(&crate::html::escape(&text[at..]));
    html
}

impl Index {
    /// Opens the current index under `out`.
    ///
    /// # Errors
    /// [`SearchError::Missing`] when none was built; tantivy's errors.
    pub fn open(out: &Path) -> Result<Self, SearchError> {
        let name = current_name(out).ok_or_else(|| SearchError::Missing(out.to_owned()))?;
        let dir = out.join(INDEX_DIR).join(&name);
        let index = tantivy::Index::open_in_dir(&dir).map_err(tantivy_error(&dir))?;
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            // `build` may update the index in place: [`Index::search`]
            // reloads when its `meta.json` changed (at once, unlike
            // tantivy's polling watcher).
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_error(&dir))?;
        let (_, fields) = schema();
        let meta = dir.join("meta.json");
        let seen = std::fs::metadata(&meta).and_then(|m| m.modified()).ok();
        Ok(Self {
            name,
            meta,
            seen: std::sync::Mutex::new(seen),
            engine: index,
            reader,
            fields,
        })
    }

    /// The folder name of this index (`index-HASH`), to tell when a newer one is current.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reloads the reader when `build` committed to the index since.
    fn reload_if_committed(&self) -> tantivy::Result<()> {
        let now = std::fs::metadata(&self.meta)
            .and_then(|m| m.modified())
            .ok();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now != *seen {
            self.reader.reload()?;
            *seen = now;
        }
        Ok(())
    }

    /// Runs `query`, giving page `page` (from 1, at most [`MAX_PAGE`]).
    ///
    /// # Errors
    /// tantivy's errors (the query itself was checked by [`query::parse`]).
    pub fn search(&self, query: &ParsedQuery, page: usize) -> Result<Results, SearchError> {
        let path = PathBuf::from(&self.name);
        let page = page.clamp(1, MAX_PAGE);
        self.reload_if_committed().map_err(tantivy_error(&path))?;
        let searcher = self.reader.searcher();
        let q = query.to_tantivy(&self.engine, &self.fields_by_name());
        let (top, total) = searcher
            .search(
                &q,
                &(
                    TopDocs::with_limit(PER_PAGE).and_offset((page - 1) * PER_PAGE),
                    Count,
                ),
            )
            .map_err(tantivy_error(&path))?;
        let f = self.fields;
        let snippets = |field: Field, chars: usize| -> Result<SnippetGenerator, SearchError> {
            let mut g =
                SnippetGenerator::create(&searcher, &*q, field).map_err(tantivy_error(&path))?;
            g.set_max_num_chars(chars);
            Ok(g)
        };
        let title_snippets = snippets(f.title, 1_000)?;
        let abstract_snippets = snippets(f.abstract_text, 240)?;
        let mut hits = Vec::with_capacity(top.len());
        for (_score, address) in top {
            let d: TantivyDocument = searcher.doc(address).map_err(tantivy_error(&path))?;
            let text = |field: Field| {
                d.get_first(field)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            };
            let all = |field: Field| -> Vec<String> {
                d.get_all(field)
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            };
            let number = |field: Field| d.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
            let title = text(f.title);
            let title_snippet = title_snippets.snippet_from_doc(&d);
            let title_html = if title_snippet.fragment() == title {
                marked(&title_snippet)
            } else {
                crate::html::escape(&title).into_owned()
            };
            let abstract_snippet = abstract_snippets.snippet_from_doc(&d);
            let snippet_html = if abstract_snippet.is_empty() {
                let abs = text(f.abstract_text);
                let cut: String = abs.chars().take(240).collect();
                let more = if cut.len() < abs.len() { "…" } else { "" };
                format!("{}{more}", crate::html::escape(&cut))
            } else {
                marked(&abstract_snippet)
            };
            let day = number(f.day);
            hits.push(Hit {
                id: text(f.id),
                title,
                title_html,
                authors: all(f.authors),
                snippet_html,
                categories: all(f.categories),
                day: format!(
                    "{:04}-{:02}-{:02}",
                    day / 10_000,
                    day / 100 % 100,
                    day % 100
                ),
                rank: number(f.rank),
                retweets: number(f.retweets),
                favorites: number(f.favorites),
                abs_url: text(f.abs_url),
                pdf_url: d
                    .get_first(f.pdf_url)
                    .and_then(|v| v.as_str().map(str::to_owned)),
            });
        }
        Ok(Results { total, page, hits })
    }

    fn fields_by_name(&self) -> BTreeMap<&'static str, Field> {
        let f = self.fields;
        BTreeMap::from([
            ("id", f.id),
            ("title", f.title),
            ("authors", f.authors),
            ("abstract", f.abstract_text),
            ("category", f.categories),
            ("day", f.day),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tex_is_indexed_as_its_unicode_text() {
        assert_eq!(
            tex_words(r"Pok\'emon and $\alpha$-\emph{nets}"),
            "Pokémon and α-nets"
        );
        assert_eq!(
            tex_words(r"$\mathcal{O}(n \log n)$ sorting"),
            "𝒪(n log n) sorting"
        );
        assert_eq!(tex_words("unbalanced {\\bf x\n y"), "unbalanced {x y");
    }
}
