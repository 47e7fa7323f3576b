//! What a build leaves for the next one, in `OUT/.build/cache`: each
//! digest file's stamp, hash and summary, and each output file's inputs key
//! and stamp. With it, a build parses only the files that changed and
//! renders only the pages whose inputs changed; without it (first build,
//! another program version, other templates or settings, a damaged cache)
//! everything is parsed and rendered, and the result is the same.
//!
//! The cache is written last, after every output file is on disk: a build
//! that is killed leaves the previous cache, whose stamps no longer match the
//! files it rewrote, so the next build renders those again.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::model::Digest;
use crate::site::DaySummary;

/// Where in the output folder the cache lives (a dot folder, never served).
pub const CACHE_DIR: &str = ".build";
const CACHE_FILE: &str = "cache";
/// The file's first bytes: what it is and its layout's version (bumped when
/// what the cache holds changes). The rest is postcard, which is not
/// self-describing, so a file of another version is never decoded.
const MAGIC: &[u8] = b"hotpapers build cache 1\n";
/// A file whose change time is this close to the previous build's start may
/// have changed again within the file system's clock tick without its stamp
/// showing it; its content hash is compared instead.
const RACY_NS: u64 = 2_000_000_000;

/// What identifies a file's content without reading it: size, inode, and
/// modification and change times in nanoseconds. The change time cannot be
/// set by tools that restore modification times (`cp -p`, `rsync -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    len: u64,
    inode: u64,
    modified_ns: u64,
    changed_ns: u64,
}

impl Stamp {
    /// The stamp of `path`, `None` when it is not a readable file.
    pub fn of(path: &Path) -> Option<Self> {
        let meta = fs::metadata(path).ok().filter(fs::Metadata::is_file)?;
        Some(Self::from_metadata(&meta))
    }

    fn from_metadata(meta: &fs::Metadata) -> Self {
        let modified_ns = meta.modified().map_or(0, nanos_since_epoch);
        #[cfg(unix)]
        let (inode, changed_ns) = {
            use std::os::unix::fs::MetadataExt;
            let changed = u64::try_from(meta.ctime()).unwrap_or(0) * 1_000_000_000
                + u64::try_from(meta.ctime_nsec()).unwrap_or(0);
            (meta.ino(), changed)
        };
        #[cfg(not(unix))]
        let (inode, changed_ns) = (0, modified_ns);
        Self {
            len: meta.len(),
            inode,
            modified_ns,
            changed_ns,
        }
    }

    /// The later of the two times.
    fn latest_ns(self) -> u64 {
        self.modified_ns.max(self.changed_ns)
    }
}

/// Nanoseconds since 1970 (0 before it).
#[must_use]
pub fn nanos_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A published digest as the last build read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedDigest {
    /// The file's stamp when it was read.
    pub stamp: Stamp,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// What the archive-wide pages need of it.
    pub summary: DaySummary,
    /// Its papers' fingerprint in the search index.
    pub search: String,
    /// Its repair and warnings, reported by every build that reads it.
    pub notices: Vec<Notice>,
}

/// A repair or warning of a digest, as the parser gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The line it is about; none for the whole file (a repair).
    pub line: Option<usize>,
    /// What was noticed.
    pub message: String,
}

/// An output file as the last build left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedOutput {
    /// What it was made from, for a file that is only rendered when that
    /// changes; `None` for one rendered by every build.
    pub key: Option<String>,
    /// The file's stamp after the build wrote (or kept) it.
    pub stamp: Stamp,
}

/// The whole cache.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache {
    /// Program, templates and settings it was made with.
    fingerprint: String,
    /// When the build that wrote it started.
    started_ns: u64,
    /// Published digests, by file name.
    pub digests: BTreeMap<String, CachedDigest>,
    /// Output files by path (relative, `/`-separated).
    pub outputs: BTreeMap<String, CachedOutput>,
    /// The digests of the feeds' window, whole, by file name: every build
    /// renders the feeds from them, and reading these back is cheaper than
    /// parsing the files again.
    window: BTreeMap<String, CachedWindow>,
}

/// A whole digest of the feeds' window.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedWindow {
    /// SHA-256 of the file it was parsed from.
    sha256: String,
    /// The digest as JSON (the model's own serde form, which skips absent
    /// fields, so not postcard).
    json: String,
}

impl Cache {
    /// A new, empty cache for a build with `fingerprint` that started at
    /// `started_ns`.
    #[must_use]
    pub fn new(fingerprint: String, started_ns: u64) -> Self {
        Self {
            fingerprint,
            started_ns,
            ..Self::default()
        }
    }

    /// The cache in `out`, for a build with `fingerprint`. `None` when there
    /// is none or it cannot be read (logged: the build then does everything).
    /// A cache of another fingerprint keeps only its list of outputs, so
    /// files of days that are gone are still removed.
    pub fn load(out: &Path, fingerprint: &str) -> Option<Self> {
        let path = out.join(CACHE_DIR).join(CACHE_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(
                    "could not read `{}` (building everything): {e}",
                    path.display()
                );
                return None;
            }
        };
        let Some(body) = bytes.strip_prefix(MAGIC) else {
            tracing::warn!(
                "`{}` is not a build cache of this version (building everything)",
                path.display()
            );
            return None;
        };
        let mut cache: Self = match postcard::from_bytes(body) {
            Ok(cache) => cache,
            Err(e) => {
                tracing::warn!("`{}` is damaged (building everything): {e}", path.display());
                return None;
            }
        };
        // Only files a build could have written are ever removed.
        cache.outputs.retain(|path, _| is_output_path(path));
        if cache.fingerprint != fingerprint {
            tracing::debug!("the build cache is of other templates, settings or program");
            cache.digests.clear();
            cache.window.clear();
            for output in cache.outputs.values_mut() {
                output.key = None;
            }
        }
        Some(cache)
    }

    /// The cached digest of `name` if the file at `path`, now stamped
    /// `stamp`, still holds what was read. A file changed so close to the
    /// last build that its stamp may not show it is hashed and compared.
    #[must_use]
    pub fn digest(&self, name: &str, path: &Path, stamp: Stamp) -> Option<&CachedDigest> {
        let cached = self.digests.get(name)?;
        if cached.stamp != stamp {
            return None;
        }
        if stamp.latest_ns() + RACY_NS >= self.started_ns {
            let bytes = fs::read(path).ok()?;
            if sha256_hex(&bytes) != cached.sha256 {
                return None;
            }
        }
        Some(cached)
    }

    /// The stamp of the output at `path` under `out` if it was made from
    /// `key` and is still on disk as the last build left it.
    #[must_use]
    pub fn current(&self, out: &Path, path: &str, key: &str) -> Option<Stamp> {
        let o = self.outputs.get(path)?;
        (o.key.as_deref() == Some(key) && Stamp::of(&out.join(path)) == Some(o.stamp))
            .then_some(o.stamp)
    }

    /// The digest of the window file `name` as the last build parsed it, if
    /// the file still has `sha256`.
    #[must_use]
    pub fn window_digest(&self, name: &str, sha256: &str) -> Option<Digest> {
        let cached = self.window.get(name).filter(|w| w.sha256 == sha256)?;
        serde_json::from_str(&cached.json).ok()
    }

    /// Keeps the window's digests, each with its file's name and hash.
    pub fn keep_window<'a>(
        &mut self,
        digests: impl Iterator<Item = ((String, String), &'a Digest)>,
    ) {
        self.window = digests
            .filter_map(|((name, sha256), digest)| {
                let json = serde_json::to_string(digest).ok()?;
                Some((name, CachedWindow { sha256, json }))
            })
            .collect();
    }

    /// Writes the cache into `out`, atomically and durably.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, out: &Path) -> std::io::Result<PathBuf> {
        let path = out.join(CACHE_DIR).join(CACHE_FILE);
        let bytes = postcard::to_extend(self, MAGIC.to_vec()).map_err(std::io::Error::other)?;
        crate::atomic::replace(&path, &bytes, crate::atomic::NewFileMode::Private)?;
        Ok(path)
    }
}

/// SHA-256 of `bytes`, hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A relative path of plain names, none hidden: the only kind a build writes.
fn is_output_path(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty()
        && path.components().all(|c| match c {
            Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_outputs() {
        for ok in [
            "index.html",
            "2021-02-12/index.html",
            "categories/cs.CV.xml",
        ] {
            assert!(is_output_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            ".search/CURRENT",
            ".build/cache",
            "./index.html",
        ] {
            assert!(!is_output_path(bad), "{bad}");
        }
    }

    #[test]
    fn a_rewritten_file_gets_another_stamp_even_with_its_old_time_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.md");
        fs::write(&path, "one").unwrap();
        let before = Stamp::of(&path).unwrap();
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, "two").unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let after = Stamp::of(&path).unwrap();
        assert_eq!(before.len, after.len);
        assert_eq!(before.modified_ns, after.modified_ns);
        assert_ne!(before, after, "the change time tells them apart");
    }

    #[test]
    fn a_file_changed_within_the_clock_tick_is_compared_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.md");
        fs::write(&path, "one").unwrap();
        let stamp = Stamp::of(&path).unwrap();
        let mut cache = Cache::new("f".into(), stamp.latest_ns());
        let summary = DaySummary {
            date: chrono::NaiveDate::from_ymd_opt(2021, 2, 12).unwrap(),
            title: "t".into(),
            papers: Vec::new(),
        };
        cache.digests.insert(
            "a.md".into(),
            CachedDigest {
                stamp,
                sha256: sha256_hex(b"one"),
                summary,
                search: String::new(),
                notices: Vec::new(),
            },
        );
        assert!(cache.digest("a.md", &path, stamp).is_some());
        // Same stamp (as if written within one tick), other bytes.
        fs::write(&path, "two").unwrap();
        assert!(cache.digest("a.md", &path, stamp).is_none());
    }
}
