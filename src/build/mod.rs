//! The site build: the digests folder made into feeds, pages and the search
//! index, reusing what the previous build left ([`cache`]).
//!
//! Data flows as everywhere else (digest files → parse → model → feeds and
//! pages), but in two passes so that memory does not grow with the archive:
//!
//! 1. every digest file is stamped; one the cache knows is not read, any
//!    other is parsed into its [`DaySummary`] (and kept only while few are);
//! 2. the summaries give the days in order, every page's inputs, and so
//!    which outputs must be rendered. Those days are parsed (again), rendered,
//!    written and fed to the search index one at a time, on both cores; the
//!    feeds' window, the newest days, is all that is kept.
//!
//! The archive-wide pages (front page, categories, sitemap) are made from the
//! summaries only, so a build that reused every one of them writes the same
//! bytes as a build from nothing. A day's page is rendered again when its
//! file, or the day before or after it, changed; a category page when its
//! list changed; the feeds, their pages and the small files always (they
//! cost little). Files are written only when their bytes changed, durably
//! with one `syncfs` at the end instead of two fsyncs each, and the cache is
//! written after that; files of days or categories that are gone are removed.

pub mod cache;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

pub use self::cache::Notice;
use self::cache::{Cache, CachedDigest, CachedOutput, Stamp};
use crate::clock::Clock;
use crate::config::SiteSettings;
use crate::digest::{self, DigestError, ParsedDigest};
use crate::feed::{FeedError, FeedSet};
use crate::model::{Category, Digest};
use crate::search::{self, SearchError, Written};
use crate::site::{self, CategoryIndex, DaySummary, SiteError};
use crate::templates::Templates;

/// Digests parsed in the first pass are kept for the second while their
/// files add up to at most this many bytes (a daily build keeps its one new
/// digest; a first build parses most files twice rather than hold them all).
const KEEP_PARSED_BYTES: usize = 4 * 1024 * 1024;

/// What a build reads and where it writes.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The digests folder.
    pub digests: &'a Path,
    /// The output folder.
    pub out: &'a Path,
    /// The site's settings.
    pub site: &'a SiteSettings,
    /// The page, digest and feed templates.
    pub templates: &'a Templates,
    /// The time a build starts (which the next compares file times with)
    /// and how long its steps take.
    pub clock: &'a dyn Clock,
}

/// Why a build stopped. A broken digest does not stop it: it is left out
/// and reported in [`Report::problems`].
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The digests folder could not be listed.
    #[error("could not read the digests in `{}`: {source}", .dir.display())]
    Digests {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        source: DigestError,
    },
    /// A template failed.
    #[error(transparent)]
    Site(#[from] SiteError),
    /// A feed failed to render.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// An output file could not be written or removed.
    #[error("could not write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The search index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// A digest changed between the two passes.
    #[error("`{0}` changed while the site was being built; run `build` again")]
    Changed(PathBuf),
}

/// What a build did.
#[derive(Debug)]
pub struct Report {
    /// Published digests, one per day.
    pub days: usize,
    /// Digests in the feeds.
    pub in_feeds: usize,
    /// Files that could not be read or parsed, and second files for a day,
    /// by path.
    pub problems: Vec<DigestError>,
    /// Drafts, left out.
    pub drafts: usize,
    /// Repairs and warnings of the published digests, by day.
    pub notices: Vec<(PathBuf, Notice)>,
    /// Digest files parsed by this build (the others were known).
    pub parsed: usize,
    /// Output files of the site.
    pub files: usize,
    /// Of those, written because their bytes changed.
    pub written: usize,
    /// Files of days or categories that are gone, removed.
    pub removed: usize,
    /// Day and category pages rendered (the others were current).
    pub rendered: usize,
    /// What became of the search index.
    pub search: Written,
}

/// One digest file as the first pass found it.
enum Read {
    /// The cache's entry holds.
    Known,
    Published {
        digest: Box<CachedDigest>,
        /// The parsed digest, when this pass parsed it and kept it.
        parsed: Option<Box<Digest>>,
    },
    Draft,
    Problem(DigestError),
}

/// One day of the archive, in date order.
struct Day<'c> {
    path: &'c Path,
    cached: &'c CachedDigest,
    page_key: String,
    bib_key: String,
    /// The page on disk is the one these inputs make (its stamp, if so).
    page_current: Option<Stamp>,
    /// Likewise its bibliography.
    bib: Bib,
}

/// A day's bibliography on disk.
#[derive(Clone, Copy)]
enum Bib {
    /// A day without papers has none.
    None,
    /// As these inputs make it.
    Current(Stamp),
    /// To be rendered.
    Stale,
}

/// A digest of the feeds' window, kept from the second pass: its file's
/// name and hash, and the digest.
type Kept = (String, String, Box<Digest>);

/// An output file made by this build: what to record in the cache.
struct Made {
    path: String,
    key: Option<String>,
    written: bool,
    /// Rendered by this build (not found current).
    rendered: bool,
    /// The file's stamp when it was found current (not rendered).
    stamp: Option<Stamp>,
}

impl Made {
    /// An output the last build left as these inputs make it.
    fn current(path: String, key: &str, stamp: Stamp) -> Self {
        Self {
            path,
            key: Some(key.to_owned()),
            written: false,
            rendered: false,
            stamp: Some(stamp),
        }
    }
}

/// Builds the site from `inputs`.
///
/// # Errors
/// When the digests folder cannot be listed, a template or the search index
/// fails, or a file cannot be written; never for a broken digest.
pub fn build(inputs: Inputs<'_>) -> Result<Report, BuildError> {
    let started_ns = cache::nanos_since_epoch(inputs.clock.now().into());
    let clock = inputs.clock.instant();
    let phase = |name: &str| tracing::debug!(elapsed = ?clock.elapsed(), "build: {name} done");
    let fingerprint = fingerprint(inputs);
    let mut old = Cache::load(inputs.out, &fingerprint).unwrap_or_default();
    let mut known: BTreeMap<String, CachedDigest> = BTreeMap::new();

    // Pass 1: every file stamped; those the cache does not know, parsed.
    let files = digest::digest_files(inputs.digests).map_err(|source| BuildError::Digests {
        dir: inputs.digests.to_owned(),
        source,
    })?;
    let parsed_count = AtomicUsize::new(0);
    let kept_bytes = AtomicUsize::new(0);
    let reads: Vec<Read> = files
        .par_iter()
        .map(|path| read(path, &old, &parsed_count, &kept_bytes))
        .collect();

    phase("first pass");
    // The days in order: the first file (by name) of a day has it.
    let mut problems = Vec::new();
    let mut drafts = 0;
    let mut by_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    let mut parsed: Vec<Option<Box<Digest>>> = Vec::with_capacity(files.len());
    for (i, read) in reads.into_iter().enumerate() {
        let (digest, p) = match read {
            Read::Problem(e) => {
                problems.push(e);
                parsed.push(None);
                continue;
            }
            Read::Draft => {
                drafts += 1;
                parsed.push(None);
                continue;
            }
            Read::Published { digest, parsed: p } => (*digest, p),
            // Moved, not cloned: an archive's summaries are megabytes.
            Read::Known => {
                let Some(digest) = old.digests.remove(&file_name(&files[i])) else {
                    unreachable!("the first pass found it in the cache, which is unchanged");
                };
                (digest, None)
            }
        };
        let date = digest.summary.date;
        if let Some(&kept) = by_day.get(&date) {
            problems.push(DigestError::DuplicateDate {
                path: files[i].clone(),
                date,
                other: files[kept].clone(),
            });
        } else {
            by_day.insert(date, i);
        }
        known.insert(file_name(&files[i]), digest);
        parsed.push(p);
    }
    problems.sort_by(|a, b| a.path().cmp(b.path()));
    let order: Vec<usize> = by_day.values().copied().collect();
    let cached = |i: usize| &known[&file_name(&files[i])];
    let summaries: Vec<&DaySummary> = order.iter().map(|&i| &cached(i).summary).collect();
    let files_ref = &files;
    let notices = order
        .iter()
        .flat_map(|&i| {
            cached(i)
                .notices
                .iter()
                .map(move |n| (files_ref[i].clone(), n.clone()))
        })
        .collect();

    // Which days need their digest: a page or bibliography to render, the
    // search index, the feeds' window.
    let days: Vec<Day<'_>> = order
        .par_iter()
        .enumerate()
        .map(|(n, &i)| {
            let c = cached(i);
            let prev = n.checked_sub(1).map(|m| summaries[m].date);
            let next = summaries.get(n + 1).map(|s| s.date);
            let name = file_name(&files[i]);
            let page_key = key(&[
                "page",
                &c.sha256,
                &name,
                &prev.map(|d| d.to_string()).unwrap_or_default(),
                &next.map(|d| d.to_string()).unwrap_or_default(),
            ]);
            let bib_key = key(&["bib", &c.sha256, &name]);
            let date = c.summary.date;
            let page_current = old.current(inputs.out, &site::day_page_path(date), &page_key);
            let bib = if c.summary.papers.is_empty() {
                Bib::None
            } else {
                old.current(inputs.out, &site::bibliography_path(date), &bib_key)
                    .map_or(Bib::Stale, Bib::Current)
            };
            Day {
                path: &files[i],
                cached: c,
                page_key,
                bib_key,
                page_current,
                bib,
            }
        })
        .collect();
    let papers = summaries.iter().map(|s| s.papers.len()).sum();
    let index = search::plan_index(
        inputs.out,
        days.iter()
            .map(|d| (d.cached.summary.date, d.cached.search.clone())),
        papers,
    )?;
    let window: BTreeSet<NaiveDate> = summaries
        .iter()
        .rev()
        .filter(|s| !s.papers.is_empty())
        .take(inputs.site.feed_limit)
        .map(|s| s.date)
        .collect();

    // Pass 2: those days, one at a time on each core.
    let mut work: Vec<(usize, Option<Box<Digest>>)> = Vec::new();
    for (n, day) in days.iter().enumerate() {
        let date = day.cached.summary.date;
        let needed = day.page_current.is_none()
            || matches!(day.bib, Bib::Stale)
            || index.needs(date)
            || window.contains(&date);
        if needed {
            work.push((n, parsed[order[n]].take()));
        }
    }
    drop(parsed);
    let results: Vec<(Vec<Made>, Option<Kept>)> = work
        .into_par_iter()
        .map(|(n, digest)| {
            let day = &days[n];
            let digest = match digest {
                Some(d) => d,
                None => match old.window_digest(&file_name(day.path), &day.cached.sha256) {
                    Some(d) => Box::new(d),
                    None => reparse(day.path, &day.cached.sha256)?,
                },
            };
            let date = digest.date;
            let mut made = Vec::new();
            let page = site::day_page_path(date);
            if day.page_current.is_none() {
                let prev = n.checked_sub(1).map(|m| days[m].cached.summary.date);
                let next = days.get(n + 1).map(|d| d.cached.summary.date);
                let html = site::day_page(&digest, prev, next, inputs.site, inputs.templates)?;
                made.push(write(
                    inputs.out,
                    page,
                    Some(day.page_key.clone()),
                    html.html.as_bytes(),
                )?);
            }
            if matches!(day.bib, Bib::Stale) {
                if let Some(bib) = site::render_bibliography(&digest) {
                    made.push(write(
                        inputs.out,
                        bib.path,
                        Some(day.bib_key.clone()),
                        bib.text.as_bytes(),
                    )?);
                }
            }
            index.add(&digest)?;
            let keep = window
                .contains(&date)
                .then(|| (file_name(day.path), day.cached.sha256.clone(), digest));
            Ok((made, keep))
        })
        .collect::<Result<_, BuildError>>()?;
    phase("second pass");
    let mut made: Vec<Made> = Vec::new();
    let mut latest: Vec<Digest> = Vec::new();
    let mut window_files: Vec<(String, String)> = Vec::new();
    for (m, keep) in results {
        made.extend(m);
        if let Some((name, sha256, digest)) = keep {
            window_files.push((name, sha256));
            latest.push(*digest);
        }
    }

    // The days reused as they were: their files are outputs of this build too.
    for day in &days {
        let date = day.cached.summary.date;
        if let Some(stamp) = day.page_current {
            made.push(Made::current(
                site::day_page_path(date),
                &day.page_key,
                stamp,
            ));
        }
        if let Bib::Current(stamp) = day.bib {
            made.push(Made::current(
                site::bibliography_path(date),
                &day.bib_key,
                stamp,
            ));
        }
    }

    // The category pages, each when what it lists changed.
    let categories = CategoryIndex::of(&summaries);
    let category_made: Vec<Made> = categories
        .pages()
        .into_par_iter()
        .map(|spec| {
            let path = spec.path();
            let mut h = Sha256::new();
            spec.hash_into(&mut h);
            let key = hex::encode(&h.finalize()[..16]);
            if let Some(stamp) = old.current(inputs.out, &path, &key) {
                return Ok(Made::current(path, &key, stamp));
            }
            let page = site::category_page(&spec, inputs.site, inputs.templates)?;
            write(inputs.out, path, Some(key), page.html.as_bytes())
        })
        .collect::<Result<_, BuildError>>()?;
    made.extend(category_made);
    phase("category pages");

    // What every build renders: feeds, their pages, the archive-wide pages,
    // the small files.
    let in_feeds = latest.len();
    let archive_categories = categories
        .iter()
        .filter_map(|(name, _)| Category::parse(name).ok());
    let feeds = FeedSet::new(&latest, inputs.site, inputs.templates)?
        .with_archive_categories(archive_categories);
    let (feed_files, archive_files) = rayon::join(
        || -> Result<Vec<(String, Vec<u8>)>, BuildError> {
            let (files, pages) = rayon::join(
                || feeds.files(),
                || site::render_feed_pages(&feeds, inputs.site, inputs.templates),
            );
            let mut out: Vec<(String, Vec<u8>)> =
                files?.into_iter().map(|f| (f.path, f.bytes)).collect();
            out.extend(pages?.into_iter().map(|p| (p.path, p.html.into_bytes())));
            Ok(out)
        },
        || -> Result<Vec<(String, Vec<u8>)>, BuildError> {
            let mut out: Vec<(String, Vec<u8>)> =
                site::archive_wide_pages(&summaries, &categories, inputs.site, inputs.templates)?
                    .into_iter()
                    .map(|p| (p.path, p.html.into_bytes()))
                    .collect();
            out.extend(
                site::site_files(&summaries, &categories, inputs.site)
                    .into_iter()
                    .map(|f| (f.path, f.bytes)),
            );
            Ok(out)
        },
    );
    let mut always = feed_files?;
    always.extend(archive_files?);
    let always_made: Vec<Made> = always
        .into_par_iter()
        .map(|(path, bytes)| write(inputs.out, path, None, &bytes))
        .collect::<Result<_, BuildError>>()?;
    made.extend(always_made);
    phase("feeds and archive-wide pages");

    // Files of days and categories that are gone.
    let produced: BTreeSet<&str> = made.iter().map(|m| m.path.as_str()).collect();
    let mut removed = 0;
    for path in old
        .outputs
        .keys()
        .filter(|p| !produced.contains(p.as_str()))
    {
        if remove_output(inputs.out, path)? {
            removed += 1;
        }
    }

    let search = index.finish()?;
    phase("search index");
    // Everything on disk before the cache says so.
    crate::atomic::sync_filesystem(inputs.out).map_err(|source| BuildError::Write {
        path: inputs.out.to_owned(),
        source,
    })?;
    phase("sync");
    let written = made.iter().filter(|m| m.written).count();
    let rendered = made
        .iter()
        .filter(|m| m.rendered && m.key.is_some())
        .count();
    let files_count = made.len();
    let stamped: Vec<(String, CachedOutput)> = made
        .into_par_iter()
        .map(|m| {
            let stamp = match m.stamp {
                Some(stamp) => stamp,
                None => {
                    let full = inputs.out.join(&m.path);
                    Stamp::of(&full).ok_or_else(|| BuildError::Write {
                        path: full.clone(),
                        source: std::io::Error::other("the file is gone"),
                    })?
                }
            };
            Ok((m.path, CachedOutput { key: m.key, stamp }))
        })
        .collect::<Result<_, BuildError>>()?;
    let day_count = summaries.len();
    drop((summaries, days, categories));
    let mut new = Cache::new(fingerprint, started_ns);
    new.digests = known;
    new.keep_window(window_files.into_iter().zip(&latest));
    new.outputs.extend(stamped);
    new.save(inputs.out).map_err(|source| BuildError::Write {
        path: inputs.out.join(cache::CACHE_DIR),
        source,
    })?;

    phase("cache");
    Ok(Report {
        days: day_count,
        in_feeds,
        problems,
        drafts,
        notices,
        parsed: parsed_count.into_inner(),
        files: files_count,
        written,
        removed,
        rendered,
        search,
    })
}

/// What the cache is valid for: this program, these templates, these settings.
fn fingerprint(inputs: Inputs<'_>) -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| Stamp::of(&exe))
        .map(|s| format!("{s:?}"))
        .unwrap_or_default();
    key(&[
        env!("CARGO_PKG_VERSION"),
        &program,
        inputs.templates.fingerprint(),
        &format!("{:?}", inputs.site),
    ])
}

/// The first pass over one file.
fn read(path: &Path, old: &Cache, parsed: &AtomicUsize, kept_bytes: &AtomicUsize) -> Read {
    let name = file_name(path);
    if let Some(stamp) = Stamp::of(path) {
        if old.digest(&name, path, stamp).is_some() {
            return Read::Known;
        }
    }
    // Stamped before reading: a change while it is read shows next time.
    let stamp = Stamp::of(path);
    let bytes = match digest::read_digest_bytes(path) {
        Ok(bytes) => bytes,
        Err(e) => return Read::Problem(e),
    };
    parsed.fetch_add(1, Ordering::Relaxed);
    let ParsedDigest {
        digest,
        repair,
        warnings,
    } = match digest::parse_bytes(path, &bytes) {
        Ok(parsed) => parsed,
        Err(e) => return Read::Problem(e),
    };
    if digest.draft {
        return Read::Draft;
    }
    let Some(stamp) = stamp else {
        return Read::Problem(DigestError::Io {
            path: path.to_owned(),
            source: std::io::Error::other("the file vanished while it was read"),
        });
    };
    let mut notices: Vec<Notice> = repair
        .map(|r| Notice {
            line: None,
            message: r.to_string(),
        })
        .into_iter()
        .collect();
    notices.extend(warnings.into_iter().map(|w| Notice {
        line: Some(w.line),
        message: w.message,
    }));
    let cached = CachedDigest {
        stamp,
        sha256: cache::sha256_hex(&bytes),
        summary: DaySummary::of(&digest),
        search: search::day_fingerprint(&digest),
        notices,
    };
    let keep =
        kept_bytes.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len() <= KEEP_PARSED_BYTES;
    Read::Published {
        digest: Box::new(cached),
        parsed: keep.then(|| Box::new(digest)),
    }
}

/// A digest of the first pass, parsed again in the second.
fn reparse(path: &Path, sha256: &str) -> Result<Box<Digest>, BuildError> {
    let changed = || BuildError::Changed(path.to_owned());
    let bytes = digest::read_digest_bytes(path).map_err(|_| changed())?;
    if cache::sha256_hex(&bytes) != sha256 {
        return Err(changed());
    }
    let parsed = digest::parse_bytes(path, &bytes).map_err(|_| changed())?;
    Ok(Box::new(parsed.digest))
}

/// Writes one output file (only if its bytes changed; synced at the end).
fn write(out: &Path, path: String, key: Option<String>, bytes: &[u8]) -> Result<Made, BuildError> {
    tracing::trace!(path, rendered = key.is_some(), "build: rendered");
    let full = out.join(&path);
    let written = crate::output::write_if_changed_deferred(&full, bytes)
        .map_err(|source| BuildError::Write { path: full, source })?;
    Ok(Made {
        path,
        key,
        written,
        rendered: true,
        stamp: None,
    })
}

/// Removes an output file of an earlier build, and its folder once empty.
fn remove_output(out: &Path, path: &str) -> Result<bool, BuildError> {
    let full = out.join(path);
    match std::fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(BuildError::Write { path: full, source }),
    }
    if let Some(dir) = full.parent().filter(|d| *d != out) {
        // Fails, as it should, while the folder holds anything else.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(true)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A key from parts: SHA-256 of each, length first, hex.
fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}
