//! The mailing list: YAML files of [`Subscriber`] records, validated on read
//! and changed only through [`SubscriberStore::update`], which holds an
//! exclusive lock, rereads, applies the change and writes each changed file
//! atomically (temporary file, fsync, rename). The `subscribers` commands, the
//! sender (bounces) and the web server (sign-ups, unsubscribes) all go through
//! it, so concurrent edits never lose one and a crash never loses a record.
//!
//! Sits after `model`; knows nothing of email or sending.

mod categories;
mod csv_import;
mod export;
mod store;
mod yaml;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::atomic::{self, NewFileMode};
use crate::model::{Channel, EmailAddress, Subscriber, SubscriberStatus};

pub use categories::is_known_category;
pub use csv_import::{parse_categories, read_csv, read_csv_in_chunks, CsvRows};
pub use export::{to_csv, to_yaml, CSV_HEADER};
pub(crate) use store::rules;
pub use store::{
    AddRequest, Added, Confirmation, Confirmed, Imported, Preferences, StatusChange, Store,
};
pub use yaml::read_yaml;

/// File name new records go to when the store is a folder.
pub const DEFAULT_FILE: &str = "subscribers.yaml";

/// Why the subscriber list could not be read or written.
#[derive(Debug, Error)]
pub enum SubscriberError {
    /// A file or folder could not be read or written.
    #[error("{action} `{path}`")]
    Io {
        /// What was being done ("could not read", "could not write"...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// One or more records are invalid; each problem names `file:line`.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
    /// The records could not be turned into YAML; the file was left as it was.
    #[error("could not write `{}`: {reason}", path.display())]
    Serialize {
        /// The file that was not written.
        path: PathBuf,
        /// The serializer's message.
        reason: String,
    },
    /// A change asked for something impossible (an address that is not valid...).
    #[error("{0}")]
    Rejected(String),
    /// The database store failed (connection, statement, schema).
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
    /// The records could not be exported (a bug to report).
    #[error("could not export the records (a bug to report): {0}")]
    Export(String),
}

/// One validation message with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The YAML file.
    pub path: PathBuf,
    /// 1-based line of the record (or of the syntax error).
    pub line: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Where the records live: a folder of `*.yaml`/`*.yml` files or one file.
#[derive(Debug, Clone)]
pub struct SubscriberStore {
    root: PathBuf,
    single_file: bool,
}

/// A validated snapshot of every record, remembering which file each came from
/// so that an update rewrites only the files it changed.
#[derive(Debug, Clone)]
pub struct SubscriberList {
    files: Vec<SubscriberFile>,
    /// Lower-cased address → (file index, record index).
    index: HashMap<String, (usize, usize)>,
    /// File new records are appended to.
    default_file: usize,
    warnings: Vec<Problem>,
}

#[derive(Debug, Clone)]
struct SubscriberFile {
    path: PathBuf,
    /// Comment lines at the top of the file, kept when it is rewritten.
    header: String,
    records: Vec<Subscriber>,
    /// 1-based line of each record (0 for records added since reading).
    lines: Vec<usize>,
    changed: bool,
}

impl SubscriberStore {
    /// A store on a folder or one YAML file. A path that does not exist yet is
    /// a file if it ends in `.yaml`/`.yml`, else a folder (created on first write).
    ///
    /// # Errors
    /// When the path exists but is neither a folder nor a file.
    pub fn open(path: &Path) -> Result<Self, SubscriberError> {
        let single_file = match fs::metadata(path) {
            Ok(m) if m.is_dir() => false,
            Ok(m) if m.is_file() => true,
            Ok(_) => {
                return Err(SubscriberError::Rejected(format!(
                    "`{}` is neither a folder nor a file",
                    path.display()
                )))
            }
            Err(_) => has_yaml_extension(path),
        };
        Ok(Self {
            root: path.to_owned(),
            single_file,
        })
    }

    /// The folder or file this store reads.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Reads and validates every record.
    ///
    /// # Errors
    /// Unreadable files, YAML errors, invalid addresses, duplicates and unknown
    /// fields, all collected and each named `file:line`.
    pub fn load(&self) -> Result<SubscriberList, SubscriberError> {
        let paths = self.files()?;
        let mut files = Vec::with_capacity(paths.len());
        let mut problems = Vec::new();
        for path in paths {
            let text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(source) => {
                    return Err(SubscriberError::Io {
                        action: "could not read",
                        path,
                        source,
                    })
                }
            };
            match yaml::parse(&path, &text) {
                Ok(parsed) => files.push(SubscriberFile {
                    path,
                    header: parsed.header,
                    records: parsed.records,
                    lines: parsed.lines,
                    changed: false,
                }),
                Err(p) => problems.extend(p),
            }
        }
        let default_file = files
            .iter()
            .position(|f| f.path.file_name().is_some_and(|n| n == DEFAULT_FILE))
            .unwrap_or(0);
        if files.is_empty() {
            files.push(SubscriberFile {
                path: self.default_path(),
                header: String::new(),
                records: Vec::new(),
                lines: Vec::new(),
                changed: false,
            });
        }
        let mut list = SubscriberList {
            files,
            index: HashMap::new(),
            default_file,
            warnings: Vec::new(),
        };
        list.validate(&mut problems);
        if problems.is_empty() {
            Ok(list)
        } else {
            Err(SubscriberError::Invalid { problems })
        }
    }

    /// Applies `f` to a fresh snapshot under an exclusive lock and writes every
    /// changed file atomically before releasing it. If `f` fails nothing is written.
    ///
    /// # Errors
    /// From reading, from `f`, or from writing (the old files are then intact).
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut SubscriberList) -> Result<T, SubscriberError>,
    ) -> Result<T, SubscriberError> {
        let lock_path = self.lock_path();
        if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| SubscriberError::Io {
                action: "could not create",
                path: parent.to_owned(),
                source,
            })?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| SubscriberError::Io {
                action: "could not open the lock file",
                path: lock_path.clone(),
                source,
            })?;
        lock.lock().map_err(|source| SubscriberError::Io {
            action: "could not lock",
            path: lock_path.clone(),
            source,
        })?;
        let result = (|| {
            let mut list = self.load()?;
            let value = f(&mut list)?;
            list.revalidate()?;
            for file in list.files.iter().filter(|f| f.changed) {
                let bytes = yaml::render(&file.header, &file.records).map_err(|reason| {
                    SubscriberError::Serialize {
                        path: file.path.clone(),
                        reason,
                    }
                })?;
                write_atomically(&file.path, &bytes)?;
            }
            Ok(value)
        })();
        // Unlocking also happens when `lock` is dropped (or the process dies).
        let _ = lock.unlock();
        result
    }

    fn files(&self) -> Result<Vec<PathBuf>, SubscriberError> {
        if self.single_file {
            return Ok(vec![self.root.clone()]);
        }
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SubscriberError::Io {
                    action: "could not read the folder",
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && has_yaml_extension(p))
            .filter(|p| {
                // Temporary files of an interrupted write are never records.
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn default_path(&self) -> PathBuf {
        if self.single_file {
            self.root.clone()
        } else {
            self.root.join(DEFAULT_FILE)
        }
    }

    fn lock_path(&self) -> PathBuf {
        if self.single_file {
            let mut name = self.root.file_name().unwrap_or_default().to_owned();
            name.push(".lock");
            self.root.with_file_name(name)
        } else {
            self.root.join(".lock")
        }
    }
}

impl Store for SubscriberStore {
    fn load(&self) -> Result<SubscriberList, SubscriberError> {
        SubscriberStore::load(self)
    }

    fn confirm(&self, c: &Confirmation, now: DateTime<Utc>) -> Result<Confirmed, SubscriberError> {
        self.update(|list| Ok(store::rules::confirm(list, c, now)))
    }

    fn add(&self, r: &AddRequest, now: DateTime<Utc>) -> Result<Added, SubscriberError> {
        self.update(|list| Ok(store::rules::add(list, r, now)))
    }

    fn set_status(
        &self,
        email: &str,
        status: SubscriberStatus,
        via: Channel,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError> {
        self.update(|list| Ok(store::rules::set_status(list, email, status, via, now)))
    }

    fn set_preferences(
        &self,
        email: &str,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError> {
        self.update(|list| Ok(store::rules::set_preferences(list, email, preferences, now)))
    }

    fn import(
        &self,
        records: Vec<Subscriber>,
        now: DateTime<Utc>,
    ) -> Result<Imported, SubscriberError> {
        self.update(|list| Ok(store::rules::import(list, records, now)))
    }
}

impl SubscriberList {
    /// A snapshot of records that come from somewhere other than files (the
    /// database): `origin` names it in problems, `lines` are each record's
    /// place there (its row), checked as a load from files is.
    ///
    /// # Errors
    /// [`SubscriberError::Invalid`], each problem naming `origin:line`.
    pub fn from_records(
        origin: PathBuf,
        records: Vec<Subscriber>,
        lines: Vec<usize>,
    ) -> Result<Self, SubscriberError> {
        let mut list = Self {
            files: vec![SubscriberFile {
                path: origin,
                header: String::new(),
                records,
                lines,
                changed: false,
            }],
            index: HashMap::new(),
            default_file: 0,
            warnings: Vec::new(),
        };
        let mut problems = Vec::new();
        list.validate(&mut problems);
        if problems.is_empty() {
            Ok(list)
        } else {
            Err(SubscriberError::Invalid { problems })
        }
    }

    /// The record for an address, compared case-insensitively.
    #[must_use]
    pub fn get(&self, email: &str) -> Option<&Subscriber> {
        let (f, r) = *self.index.get(&key(email))?;
        self.files.get(f)?.records.get(r)
    }

    /// Adds a record, or replaces the one with the same address in place.
    pub fn upsert(&mut self, subscriber: Subscriber) {
        match self.index.get(&subscriber.key()).copied() {
            Some((f, r)) => {
                let file = &mut self.files[f];
                if file.records[r] != subscriber {
                    file.records[r] = subscriber;
                    file.changed = true;
                }
            }
            None => {
                let f = self.default_file;
                let file = &mut self.files[f];
                self.index.insert(subscriber.key(), (f, file.records.len()));
                file.records.push(subscriber);
                file.lines.push(0);
                file.changed = true;
            }
        }
    }

    /// Sets the status of an address, stamping `status_changed_at`.
    /// Returns true if the record exists and its status changed.
    pub fn set_status(&mut self, email: &str, status: SubscriberStatus, at: DateTime<Utc>) -> bool {
        let Some(&(f, r)) = self.index.get(&key(email)) else {
            return false;
        };
        let file = &mut self.files[f];
        let record = &mut file.records[r];
        if record.status == status {
            return false;
        }
        record.status = status;
        record.status_changed_at = Some(at);
        file.changed = true;
        true
    }

    /// Every record, file by file in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Subscriber> + '_ {
        self.files.iter().flat_map(|f| f.records.iter())
    }

    /// Consumes the snapshot, yielding every record (for streaming to the sender).
    pub fn into_records(self) -> impl Iterator<Item = Subscriber> + Send {
        self.files.into_iter().flat_map(|f| f.records.into_iter())
    }

    /// The records that may be mailed.
    pub fn active(&self) -> impl Iterator<Item = &Subscriber> + '_ {
        self.iter().filter(|s| s.is_active())
    }

    /// Number of records (any status).
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.records.len()).sum()
    }

    /// Whether there is no record at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Non-fatal findings (unknown categories...), each named `file:line`.
    #[must_use]
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Checks every record and rebuilds the index.
    fn validate(&mut self, problems: &mut Vec<Problem>) {
        self.index.clear();
        self.warnings.clear();
        // Duplicates are found through the index itself: (file, record) of the first.
        for (fi, file) in self.files.iter().enumerate() {
            for (ri, record) in file.records.iter().enumerate() {
                let line = file.lines.get(ri).copied().unwrap_or(0);
                let at = |message: String| Problem {
                    path: file.path.clone(),
                    line,
                    message,
                };
                if let Err(e) = EmailAddress::parse(&record.email) {
                    problems.push(at(e.to_string()));
                    continue;
                }
                if record.email.trim() != record.email {
                    problems.push(at(format!(
                        "address `{}` has spaces around it",
                        record.email
                    )));
                }
                let k = record.key();
                if let Some(&(pf, pr)) = self.index.get(&k) {
                    let first = &self.files[pf];
                    problems.push(at(format!(
                        "duplicate subscriber `{}` (first at {}:{}; addresses compare case-insensitively)",
                        record.email,
                        first.path.display(),
                        first.lines.get(pr).copied().unwrap_or(0)
                    )));
                    continue;
                }
                self.index.insert(k, (fi, ri));
                for c in &record.categories {
                    if !is_known_category(c.as_str()) {
                        self.warnings.push(at(format!(
                            "unknown arXiv category `{c}` for `{}` (no paper will match it)",
                            record.email
                        )));
                    }
                }
                if record.max_papers == Some(0) {
                    self.warnings.push(at(format!(
                        "`max_papers: 0` for `{}`: every email would be empty, so none is sent",
                        record.email
                    )));
                }
            }
        }
    }

    /// Validation after a change: a change may not introduce an invalid record.
    pub(crate) fn revalidate(&mut self) -> Result<(), SubscriberError> {
        let mut problems = Vec::new();
        self.validate(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SubscriberError::Invalid { problems })
        }
    }
}

/// The case-insensitive identity of an address.
#[must_use]
pub fn key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks one address the way the store does ([`EmailAddress::parse`]).
///
/// # Errors
/// When it is not an address the envelope would accept.
pub fn check_address(email: &str) -> Result<EmailAddress, SubscriberError> {
    EmailAddress::parse(email).map_err(|e| SubscriberError::Rejected(e.to_string()))
}

fn has_yaml_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// [`atomic::replace`]: a crash leaves the old or the new file; the file keeps
/// its mode (a 0600 list stays 0600), and a new file is private.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SubscriberError> {
    atomic::replace(path, bytes, NewFileMode::Private).map_err(|source| SubscriberError::Io {
        action: "could not write",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(text: &str) -> (tempfile::TempDir, SubscriberStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("subscribers.yaml"), text).unwrap();
        let store = SubscriberStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn duplicates_compare_case_insensitively_and_name_both_lines() {
        let (dir, store) =
            store_with("- email: a@example.org\n- email: b@example.org\n- email: A@Example.org\n");
        let err = store.load().unwrap_err().to_string();
        let path = dir.path().join("subscribers.yaml");
        assert_eq!(
            err,
            format!(
                "{p}:3: duplicate subscriber `A@Example.org` (first at {p}:1; addresses compare case-insensitively)",
                p = path.display()
            )
        );
    }

    #[test]
    fn set_status_stamps_the_change_and_reports_no_op() {
        let (_dir, store) = store_with("- email: a@example.org\n");
        let mut list = store.load().unwrap();
        let at = DateTime::parse_from_rfc3339("2021-02-12T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(list.set_status("A@EXAMPLE.ORG", SubscriberStatus::Unsubscribed, at));
        assert!(!list.set_status("a@example.org", SubscriberStatus::Unsubscribed, at));
        assert!(!list.set_status("nobody@example.org", SubscriberStatus::Bounced, at));
        let s = list.get("a@example.org").unwrap();
        assert_eq!(s.status_changed_at, Some(at));
    }

    #[test]
    fn update_that_fails_writes_nothing() {
        let text = "# header\n- email: a@example.org\n";
        let (dir, store) = store_with(text);
        let r: Result<(), _> = store.update(|list| {
            list.upsert(Subscriber::new("b@example.org"));
            Err(SubscriberError::Rejected("no".into()))
        });
        assert!(r.is_err());
        assert_eq!(
            fs::read_to_string(dir.path().join("subscribers.yaml")).unwrap(),
            text
        );
    }

    #[test]
    fn update_keeps_header_comments_and_other_records() {
        let (dir, store) = store_with("# Our readers\n\n- email: a@example.org\n  name: A\n");
        store
            .update(|list| {
                list.upsert(Subscriber::new("b@example.org"));
                Ok(())
            })
            .unwrap();
        let text = fs::read_to_string(dir.path().join("subscribers.yaml")).unwrap();
        assert!(text.starts_with("# Our readers\n"), "{text}");
        let list = store.load().unwrap();
        let emails: Vec<&str> = list.iter().map(|s| s.email.as_str()).collect();
        assert_eq!(emails, ["a@example.org", "b@example.org"]);
        assert_eq!(
            list.get("a@example.org").unwrap().name.as_deref(),
            Some("A")
        );
    }
}
