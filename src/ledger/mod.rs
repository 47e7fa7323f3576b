//! The delivery ledger: one SQLite row per (digest day, subscriber) saying
//! where that message is — pending, sending, sent, failed, skipped, deferred or
//! unknown — so that `send` can be rerun after any interruption and still mail
//! every subscriber exactly once.
//!
//! Every state change is its own committed transaction; the sender commits
//! `sending` before an SMTP transaction and the outcome after it. A row found
//! in `sending` by a later run was cut mid-transaction: it becomes `unknown`.
//! A per-day lock file keeps two runs for the same day from sending at once.
//!
//! Depends on nothing but SQLite; times are passed in (no clock here).

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

/// Why the ledger could not be used.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// The database could not be opened, migrated, read or written.
    #[error("delivery ledger `{path}`: {action}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The lock file could not be created or locked.
    #[error("could not lock `{path}`")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another `send` for the same day holds the lock.
    #[error("another `hotpapers send` for {day} is running (lock `{path}`); wait for it to finish, or pass `--wait`")]
    Busy {
        /// The digest day, or the week.
        day: EditionKey,
        /// The lock file.
        path: PathBuf,
    },
    /// The PostgreSQL ledger failed (connection, statement, schema).
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
    /// Another `send` for the same edition holds the database's lock.
    #[error("another `hotpapers send` for {day} is running against the database {target} (on this host or another); wait for it to finish, or pass `--wait`")]
    BusyOnDatabase {
        /// The digest day, or the week.
        day: EditionKey,
        /// The database.
        target: String,
    },
    /// Another worker took this delivery over after this worker's lease
    /// ran out (it was paused, or cut off from the database): this
    /// worker's change was not written.
    #[error("the delivery of {day} to {email} is now held by another worker (this worker's lease ran out); nothing was written over it")]
    LeaseLost {
        /// The edition.
        day: EditionKey,
        /// The reader.
        email: String,
    },
    /// The database was written by a newer hotpapers.
    #[error("delivery ledger `{path}` has schema version {found}, newer than this program's {supported}; upgrade hotpapers")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest this program knows.
        supported: i64,
    },
}

/// Where one (day, subscriber) message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Queued for the edition, not tried yet: a cooperative run on a
    /// database queues the audience first, then workers claim rows.
    Pending,
    /// An SMTP transaction is (or was, if the run died) in progress.
    Sending,
    /// The server accepted it.
    Sent,
    /// The server refused it permanently (5xx), or it could not be built.
    Failed,
    /// Nothing to send: the subscriber's filter left no paper.
    Skipped,
    /// Transient failures used up this run's attempts; the next run retries.
    Deferred,
    /// The transaction was cut after the data was sent and before the reply:
    /// the server may or may not have it.
    Unknown,
}

impl State {
    /// The name stored in the database and printed by `status`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Deferred => "deferred",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            "deferred" => Self::Deferred,
            "unknown" => Self::Unknown,
            other => return Err(format!("unknown delivery state `{other}`")),
        })
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Digest day, or the week of a weekly edition.
    pub day: EditionKey,
    /// Subscriber address, lower-cased.
    pub email: String,
    /// Current state.
    pub state: State,
    /// SMTP transactions started for it (over all runs).
    pub attempts: u32,
    /// Times it was found cut mid-transaction (each may mean a duplicate).
    pub unknowns: u32,
    /// The last SMTP reply or error.
    pub last_reply: Option<String>,
    /// The Message-ID sent.
    pub message_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// When the server accepted the message.
    pub sent_at: Option<DateTime<Utc>>,
}

/// What a delivery row is keyed by besides the reader: the digest day of a
/// daily edition (`2021-02-12`), or the ISO week of a weekly one
/// (`2021-W06`), so each reader gets at most one weekly edition per week
/// whichever day a run is repeated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EditionKey {
    /// A daily edition.
    Day(NaiveDate),
    /// A weekly edition, by the ISO week of the day it went out.
    Week {
        /// ISO year.
        year: i32,
        /// ISO week, 1 to 53.
        week: u32,
    },
}

impl EditionKey {
    /// The weekly key of the week holding `day`.
    #[must_use]
    pub fn week_of(day: NaiveDate) -> Self {
        use chrono::Datelike;
        let w = day.iso_week();
        Self::Week {
            year: w.year(),
            week: w.week(),
        }
    }

    /// The text stored in the `day` column.
    #[must_use]
    pub fn text(&self) -> String {
        self.to_string()
    }

    /// Reads `2021-02-12` or `2021-W06`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if let Some((year, week)) = s.split_once("-W") {
            let (year, week) = (year.parse().ok()?, week.parse().ok()?);
            NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon)?;
            return Some(Self::Week { year, week });
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Self::Day)
    }
}

impl From<NaiveDate> for EditionKey {
    fn from(day: NaiveDate) -> Self {
        Self::Day(day)
    }
}

impl fmt::Display for EditionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Self::Week { year, week } => write!(f, "{year}-W{week:02}"),
        }
    }
}

/// Rows per state for one day.
pub type Counts = std::collections::BTreeMap<State, u64>;

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the deliveries table.
    "CREATE TABLE deliveries (
        day TEXT NOT NULL,
        email TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknowns INTEGER NOT NULL DEFAULT 0,
        last_reply TEXT,
        message_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        PRIMARY KEY (day, email)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_by_email ON deliveries (email, day);",
    // 2: whether a failure says the address is dead (counts toward marking
    // the reader bounced) or was the sender's or the message's problem.
    // Failures recorded before this kept counting, as they did.
    "ALTER TABLE deliveries ADD COLUMN hard INTEGER NOT NULL DEFAULT 1;",
    // 3: what came back (bounces, complaints, unsubscribes by mail), one row
    // per (report, recipient): processing a report again records nothing new.
    "CREATE TABLE events (
        source TEXT NOT NULL,
        recipient TEXT NOT NULL,
        email TEXT,
        day TEXT,
        kind TEXT NOT NULL,
        reason TEXT,
        status TEXT,
        reply_code INTEGER,
        hard INTEGER NOT NULL DEFAULT 0,
        diagnostic TEXT,
        domain TEXT,
        received_at TEXT NOT NULL,
        PRIMARY KEY (source, recipient)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_email ON events (email, received_at);
    CREATE INDEX events_by_day ON events (day);
    CREATE INDEX events_by_time ON events (received_at);",
];

mod claims;
mod events;
mod postgres;
mod store;

pub use claims::{Audience, ClaimRule, Claimed, Queued};
pub use events::{DomainCounts, Event};
pub use store::{Applied, Change, Claims, Ledger, Place, RunLock};

/// The ledger in an SQLite file (`HOTPAPERS_STATE`), the default.
#[derive(Debug)]
pub(crate) struct FileLedger {
    conn: Connection,
    path: PathBuf,
}

impl FileLedger {
    /// Opens (creating if needed) the database and applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated, or is from a newer version.
    pub(crate) fn open(path: &Path) -> Result<Self, LedgerError> {
        // Created private (0600): it holds every reader's address. SQLite's
        // -wal and -shm files take the database's permissions.
        crate::atomic::create_if_missing(path, crate::atomic::NewFileMode::Private).map_err(
            |source| LedgerError::Lock {
                path: path.to_owned(),
                source,
            },
        )?;
        let sql = |action: &'static str| {
            let path = path.to_owned();
            move |source| LedgerError::Sqlite {
                path,
                action,
                source,
            }
        };
        let conn = Connection::open(path).map_err(sql("could not open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql("could not configure"))?;
        // WAL: readers (`status`) never block the sender. synchronous=FULL:
        // a committed `sent` survives power loss, not only a crash.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(sql("could not configure"))?;
        let mut ledger = Self {
            conn,
            path: path.to_owned(),
        };
        ledger.migrate()?;
        Ok(ledger)
    }

    fn migrate(&mut self) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let sql = |action: &'static str| {
            let path = path.clone();
            move |source| LedgerError::Sqlite {
                path,
                action,
                source,
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("could not migrate"))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql("could not read the schema version"))?;
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > supported {
            return Err(LedgerError::TooNew {
                path,
                found: version,
                supported,
            });
        }
        let done = usize::try_from(version).unwrap_or(0);
        for (i, m) in (1i64..).zip(MIGRATIONS).skip(done) {
            tx.execute_batch(m).map_err(sql("could not migrate"))?;
            tx.pragma_update(None, "user_version", i)
                .map_err(sql("could not migrate"))?;
        }
        tx.commit().map_err(sql("could not migrate"))
    }

    /// Takes the exclusive lock for sending `day`: refuses if another run holds
    /// it, or waits for it when `wait` is set.
    ///
    /// # Errors
    /// [`LedgerError::Busy`] when another run holds it and `wait` is false.
    pub(crate) fn lock_day(
        &self,
        day: impl Into<EditionKey>,
        wait: bool,
    ) -> Result<File, LedgerError> {
        let day = day.into();
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".{day}.lock"));
        let path = self.path.with_file_name(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LedgerError::Lock {
                path: path.clone(),
                source,
            })?;
        if wait {
            file.lock()
                .map_err(|source| LedgerError::Lock { path, source })?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(LedgerError::Busy { day, path }),
                Err(TryLockError::Error(source)) => return Err(LedgerError::Lock { path, source }),
            }
        }
        Ok(file)
    }

    /// Marks rows a dead run left in `sending` as `unknown`; returns how many.
    /// Call only while holding the day's [`RunLock`].
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn recover(
        &self,
        day: impl Into<EditionKey>,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        self.conn
            .execute(
                "UPDATE deliveries SET state = 'unknown', unknowns = unknowns + 1,
                    last_reply = 'the run was interrupted during the SMTP transaction', updated_at = ?2
                 WHERE day = ?1 AND state = 'sending'",
                params![Into::<EditionKey>::into(day).text(), time_text(now)],
            )
            .map_err(self.err("could not recover interrupted deliveries"))
    }

    /// The row for (day, email), if any.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn get(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
    ) -> Result<Option<Delivery>, LedgerError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE day = ?1 AND email = ?2"
            ))
            .and_then(|mut st| {
                st.query_row(
                    params![Into::<EditionKey>::into(day).text(), email.to_lowercase()],
                    row_to_delivery,
                )
                .optional()
            })
            .map_err(self.err("could not read"))
    }

    /// Records the start of an SMTP transaction: state `sending`, one more attempt.
    /// Committed before any byte goes to the server.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn start_sending(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (day, email, state, attempts, message_id, created_at, updated_at)
                 VALUES (?1, ?2, 'sending', 1, ?3, ?4, ?4)
                 ON CONFLICT (day, email) DO UPDATE SET state = 'sending',
                    attempts = attempts + 1, message_id = ?3, updated_at = ?4",
            )
            .and_then(|mut st| {
                st.execute(params![Into::<EditionKey>::into(day).text(), email.to_lowercase(), message_id, time_text(now)])
            })
            .map(|_| ())
            .map_err(self.err("could not record the start of a delivery"))
    }

    /// [`Ledger::finish_as`].
    pub(crate) fn finish_as(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
        state: State,
        reply: Option<&str>,
        hard: bool,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let sent_at = (state == State::Sent).then(|| time_text(now));
        let unknown = i64::from(state == State::Unknown);
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (day, email, state, unknowns, last_reply, created_at, updated_at, sent_at, hard)
                 VALUES (?1, ?2, ?3, ?6, ?4, ?5, ?5, ?7, ?8)
                 ON CONFLICT (day, email) DO UPDATE SET state = ?3, unknowns = unknowns + ?6,
                    last_reply = ?4, updated_at = ?5, sent_at = COALESCE(?7, sent_at), hard = ?8",
            )
            .and_then(|mut st| {
                st.execute(params![
                    Into::<EditionKey>::into(day).text(),
                    email.to_lowercase(),
                    state.as_str(),
                    reply,
                    time_text(now),
                    unknown,
                    sent_at,
                    hard
                ])
            })
            .map(|_| ())
            .map_err(self.err("could not record a delivery outcome"))
    }

    /// How many of this address's most recent deliveries, newest first, failed
    /// permanently in a row (a `sent` ends the streak; skipped days do not count).
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn consecutive_failures(&self, email: &str) -> Result<u32, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT state FROM deliveries
                 WHERE email = ?1 AND (state = 'sent' OR (state = 'failed' AND hard = 1))
                 ORDER BY updated_at DESC, day DESC",
            )
            .map_err(self.err("could not read"))?;
        let mut rows = st
            .query(params![email.to_lowercase()])
            .map_err(self.err("could not read"))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(self.err("could not read"))? {
            let s: String = row.get(0).map_err(self.err("could not read"))?;
            if s != "failed" {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Runs `f` inside one transaction (group commit: many state changes,
    /// one disk sync). Nothing in it is durable until this returns `Ok`.
    ///
    /// # Errors
    /// The first error of `f`, or of BEGIN/COMMIT; the transaction is then rolled back.
    pub(crate) fn batch<T>(
        &self,
        f: impl FnOnce() -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err("could not begin a transaction"))?;
        match f() {
            Ok(value) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(self.err("could not commit")(e));
                }
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Rows per state for one day.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn counts(&self, day: impl Into<EditionKey>) -> Result<Counts, LedgerError> {
        let mut st = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM deliveries WHERE day = ?1 GROUP BY state")
            .map_err(self.err("could not read"))?;
        let rows = st
            .query_map(params![Into::<EditionKey>::into(day).text()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err("could not read"))?;
        let mut counts = Counts::new();
        for row in rows {
            let (state, n) = row.map_err(self.err("could not read"))?;
            if let Ok(state) = state.parse() {
                counts.insert(state, n.unsigned_abs());
            }
        }
        Ok(counts)
    }

    /// Every row of one day, by address.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn day(&self, day: impl Into<EditionKey>) -> Result<Vec<Delivery>, LedgerError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE day = ?1 ORDER BY email"
            ))
            .map_err(self.err("could not read"))?;
        let rows = st
            .query_map(
                params![Into::<EditionKey>::into(day).text()],
                row_to_delivery,
            )
            .map_err(self.err("could not read"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("could not read"))
    }

    /// Every delivery row with whether its failure was hard, for moving the
    /// ledger into a database (`db import-files`).
    pub(crate) fn all_deliveries(&self) -> Result<Vec<(Delivery, bool)>, LedgerError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS}, hard FROM deliveries ORDER BY day, email"
            ))
            .map_err(self.err("could not read"))?;
        let rows = st
            .query_map([], |r| Ok((row_to_delivery(r)?, r.get::<_, bool>(10)?)))
            .map_err(self.err("could not read"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("could not read"))
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerError {
        let path = self.path.clone();
        move |source| LedgerError::Sqlite {
            path,
            action,
            source,
        }
    }
}

const COLUMNS: &str =
    "day, email, state, attempts, unknowns, last_reply, message_id, created_at, updated_at, sent_at";

fn row_to_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let text = |i: usize| r.get::<_, String>(i);
    let bad = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let time = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
        let s = text(i)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(i, e.to_string()))
    };
    let day =
        EditionKey::parse(&text(0)?).ok_or_else(|| bad(0, "not a day or an ISO week".into()))?;
    let state = text(2)?.parse().map_err(|e| bad(2, e))?;
    let sent_at = match r.get::<_, Option<String>>(9)? {
        Some(_) => Some(time(9)?),
        None => None,
    };
    Ok(Delivery {
        day,
        email: text(1)?,
        state,
        attempts: r.get(3)?,
        unknowns: r.get(4)?,
        last_reply: r.get(5)?,
        message_id: r.get(6)?,
        created_at: time(7)?,
        updated_at: time(8)?,
        sent_at,
    })
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn rows_left_sending_become_unknown_on_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/ledger.db");
        let d = day("2021-02-12");
        {
            let l = Ledger::open(&path).unwrap();
            l.start_sending(d, "A@example.org", "<1@x>", t("2021-02-12T08:00:00Z"))
                .unwrap();
            l.start_sending(d, "b@example.org", "<2@x>", t("2021-02-12T08:00:00Z"))
                .unwrap();
            l.finish(
                d,
                "b@example.org",
                State::Sent,
                Some("250 ok"),
                t("2021-02-12T08:00:01Z"),
            )
            .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.recover(d, t("2021-02-12T09:00:00Z")).unwrap(), 1);
        let a = l.get(d, "a@example.org").unwrap().unwrap();
        assert_eq!((a.state, a.attempts, a.unknowns), (State::Unknown, 1, 1));
        let b = l.get(d, "b@example.org").unwrap().unwrap();
        assert_eq!(b.state, State::Sent);
        assert_eq!(b.sent_at, Some(t("2021-02-12T08:00:01Z")));
        assert_eq!(b.message_id.as_deref(), Some("<2@x>"));
    }

    #[test]
    fn second_lock_for_the_same_day_is_refused_other_days_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let l1 = Ledger::open(&path).unwrap();
        let l2 = Ledger::open(&path).unwrap();
        let _held = l1.lock_day(day("2021-02-12"), false).unwrap();
        let err = l2.lock_day(day("2021-02-12"), false).unwrap_err();
        assert!(matches!(err, LedgerError::Busy { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("another `hotpapers send` for 2021-02-12 is running"));
        l2.lock_day(day("2021-02-13"), false).unwrap();
    }

    #[test]
    fn a_weekly_row_is_keyed_by_its_iso_week_apart_from_the_day_rows() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let now = t("2021-02-12T08:00:00Z");
        let friday = EditionKey::week_of(day("2021-02-12"));
        assert_eq!(friday.to_string(), "2021-W06");
        assert_eq!(
            friday,
            EditionKey::week_of(day("2021-02-14")),
            "the Sunday is in the same week"
        );
        assert_ne!(friday, EditionKey::week_of(day("2021-02-15")));
        l.finish(friday, "a@example.org", State::Sent, Some("250"), now)
            .unwrap();
        assert_eq!(l.state(day("2021-02-12"), "a@example.org").unwrap(), None);
        let row = l
            .get(EditionKey::week_of(day("2021-02-14")), "a@example.org")
            .unwrap()
            .unwrap();
        assert_eq!((row.day, row.state), (friday, State::Sent));
        assert_eq!(EditionKey::parse("2021-W06"), Some(friday));
        assert_eq!(EditionKey::parse("2021-W60"), None);
        let _held = l.lock_day(friday, false).unwrap();
        assert!(dir.path().join("l.db.2021-W06.lock").exists());
    }

    #[test]
    fn consecutive_failures_stop_at_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let now = t("2021-02-12T08:00:00Z");
        let e = "x@example.org";
        l.finish(day("2021-02-01"), e, State::Failed, Some("550"), now)
            .unwrap();
        l.finish(day("2021-02-02"), e, State::Sent, None, now)
            .unwrap();
        l.finish(day("2021-02-03"), e, State::Failed, Some("550"), now)
            .unwrap();
        l.finish(day("2021-02-04"), e, State::Skipped, None, now)
            .unwrap();
        l.finish(day("2021-02-05"), e, State::Failed, Some("550"), now)
            .unwrap();
        assert_eq!(l.consecutive_failures(e).unwrap(), 2);
    }

    #[test]
    fn migrations_are_versioned_and_reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        drop(Ledger::open(&path).unwrap());
        let l = FileLedger::open(&path).unwrap();
        let v: i64 = l
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(v).unwrap(), MIGRATIONS.len());
        l.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(l);
        let err = Ledger::open(&path).unwrap_err();
        assert!(
            matches!(err, LedgerError::TooNew { found: 99, .. }),
            "{err}"
        );
    }
}
