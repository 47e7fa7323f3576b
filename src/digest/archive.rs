//! A folder of digests, indexed by day: what `build`, `preview` and `send`
//! start from. Files are parsed in parallel; a broken file is reported and
//! left out, never the reason the others are lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;

use super::{read_digest, DigestError, ParsedDigest};
use crate::model::Digest;

/// One digest of the archive and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedDigest {
    /// The file it was read from.
    pub path: PathBuf,
    /// What was parsed, repaired and noticed.
    pub parsed: ParsedDigest,
}

/// Every digest of a folder, by day, plus the files that failed.
#[derive(Debug, Default)]
pub struct Archive {
    /// Published digests by day, oldest first.
    pub digests: BTreeMap<NaiveDate, LoadedDigest>,
    /// Drafts, parsed but left out.
    pub drafts: Vec<LoadedDigest>,
    /// Files that could not be read or parsed, and duplicate days.
    pub problems: Vec<DigestError>,
}

impl Archive {
    /// The digest of a day.
    #[must_use]
    pub fn get(&self, day: NaiveDate) -> Option<&Digest> {
        self.digests.get(&day).map(|l| &l.parsed.digest)
    }

    /// The newest `n` digests, newest first.
    #[must_use]
    pub fn latest(&self, n: usize) -> Vec<&Digest> {
        self.digests
            .values()
            .rev()
            .take(n)
            .map(|l| &l.parsed.digest)
            .collect()
    }

    /// All digests, oldest first.
    #[must_use]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Digest> {
        self.digests.values().map(|l| &l.parsed.digest)
    }

    /// Number of published digests.
    #[must_use]
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when no digest was loaded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// True for names the archive reads: `*.md` files that are not hidden.
fn is_digest_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    !name.starts_with('.')
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        && !name.eq_ignore_ascii_case("README.md")
        && path.is_file()
}

/// The digest files of a folder, sorted by name.
///
/// # Errors
/// When the folder cannot be listed.
pub fn digest_files(dir: &Path) -> Result<Vec<PathBuf>, DigestError> {
    let io = |source| DigestError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if is_digest_file(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads every digest of a folder. Each file is indexed by the day it gives
/// (title, then file name, then front matter date); drafts are set apart.
///
/// # Errors
/// Only when the folder itself cannot be listed; broken files go to
/// [`Archive::problems`].
pub fn load_archive(dir: &Path) -> Result<Archive, DigestError> {
    let files = digest_files(dir)?;
    let results: Vec<(PathBuf, Result<ParsedDigest, DigestError>)> = files
        .into_par_iter()
        .map(|path| {
            let parsed = read_digest(&path);
            (path, parsed)
        })
        .collect();
    let mut archive = Archive::default();
    for (path, result) in results {
        match result {
            Err(e) => archive.problems.push(e),
            Ok(parsed) if parsed.digest.draft => archive.drafts.push(LoadedDigest { path, parsed }),
            Ok(parsed) => {
                let day = parsed.digest.date;
                if let Some(kept) = archive.digests.get(&day) {
                    archive.problems.push(DigestError::DuplicateDate {
                        path,
                        date: day,
                        other: kept.path.clone(),
                    });
                } else {
                    archive.digests.insert(day, LoadedDigest { path, parsed });
                }
            }
        }
    }
    Ok(archive)
}
