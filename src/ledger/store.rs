//! The ledger as its users see it, wherever it is kept: [`Ledger`] is the
//! SQLite file or the PostgreSQL database behind one set of operations, and
//! [`Place`] says which one the settings name.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::claims::{Audience, ClaimRule, Claimed, Queued};
use super::postgres::PgLedger;
use super::{Counts, Delivery, DomainCounts, EditionKey, Event, FileLedger, LedgerError, State};
use crate::db::{Database, SessionLock};

/// One change of a group a sender commits at once ([`Ledger::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// [`Ledger::start_sending`].
    Start {
        /// The reader.
        email: String,
        /// The message's Message-ID.
        message_id: String,
    },
    /// [`Ledger::finish_as`].
    Finish {
        /// The reader.
        email: String,
        /// The outcome.
        state: State,
        /// The server's reply.
        reply: Option<String>,
        /// Whether a failure counts toward marking the reader bounced.
        hard: bool,
    },
    /// [`Ledger::consecutive_failures`], read inside the group.
    ConsecutiveFailures {
        /// The reader.
        email: String,
    },
}

/// What one change of [`Ledger::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A start or an outcome was written.
    Recorded,
    /// A start or an outcome was not written: another worker holds the
    /// row now (this worker's lease ran out and it was taken over).
    HeldElsewhere,
    /// [`Change::ConsecutiveFailures`]: the count.
    Failures(u32),
}

/// Where the ledger is kept.
#[derive(Debug, Clone)]
pub enum Place {
    /// An SQLite file (`HOTPAPERS_STATE`).
    File(PathBuf),
    /// The PostgreSQL database (`HOTPAPERS_DATABASE_URL`).
    Database(Database),
}

impl Place {
    /// Opens the ledger (creating and migrating a file; a database's schema
    /// was checked when it was opened).
    ///
    /// # Errors
    /// When the file cannot be opened or migrated, or no session can be made.
    pub fn open(&self) -> Result<Ledger, LedgerError> {
        match self {
            Self::File(path) => Ledger::open(path),
            Self::Database(db) => Ok(Ledger(Backend::Database(PgLedger::open(db)?))),
        }
    }

    /// Whether anything was ever recorded there (a file that does not exist
    /// yet holds nothing; a database always has its tables).
    #[must_use]
    pub fn exists(&self) -> bool {
        match self {
            Self::File(path) => path.exists(),
            Self::Database(_) => true,
        }
    }

    /// The file or database, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("`{}`", path.display()),
            Self::Database(db) => format!("database {}", db.target()),
        }
    }
}

/// An open ledger.
#[derive(Debug)]
pub struct Ledger(Backend);

#[derive(Debug)]
enum Backend {
    File(FileLedger),
    Database(PgLedger),
}

/// Holds an edition's run lock until dropped; the lock goes with the
/// process too (the OS closes the file, the server the session).
#[derive(Debug)]
pub struct RunLock(LockKind);

#[derive(Debug)]
enum LockKind {
    File(File),
    Session(#[allow(dead_code)] SessionLock),
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let LockKind::File(file) = &self.0 {
            let _ = file.unlock();
        }
    }
}

/// Calls the same method on whichever backend holds the ledger.
macro_rules! on_backend {
    ($self:ident, $l:ident => $call:expr) => {
        match &$self.0 {
            Backend::File($l) => $call,
            Backend::Database($l) => $call,
        }
    };
}

impl Ledger {
    /// Opens (creating if needed) the SQLite file and applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated, or is from a newer version.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Ok(Self(Backend::File(FileLedger::open(path)?)))
    }

    /// Sets how long this worker's claims and `sending` rows last without
    /// renewal (a database's; a file has no leases).
    #[must_use]
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        if let Backend::Database(l) = &mut self.0 {
            l.set_lease(lease);
        }
        self
    }

    /// The claims of a ledger several workers share (a database's); `None`
    /// for a file, where one run at a time holds an edition.
    #[must_use]
    pub fn claims(&self) -> Option<Claims<'_>> {
        match &self.0 {
            Backend::File(_) => None,
            Backend::Database(l) => Some(Claims(l)),
        }
    }

    /// Takes the exclusive lock for sending `day`: refuses if another run holds
    /// it (on this host, or on any host for a database), or waits for it
    /// when `wait` is set.
    ///
    /// # Errors
    /// [`LedgerError::Busy`] or [`LedgerError::BusyOnDatabase`] when another
    /// run holds it and `wait` is false.
    pub fn lock_day(&self, day: impl Into<EditionKey>, wait: bool) -> Result<RunLock, LedgerError> {
        let day = day.into();
        Ok(RunLock(match &self.0 {
            Backend::File(l) => LockKind::File(l.lock_day(day, wait)?),
            Backend::Database(l) => LockKind::Session(l.lock_day(day, wait)?),
        }))
    }

    /// Marks rows a dead run left in `sending` as `unknown`; returns how many.
    /// Call only while holding the day's [`RunLock`].
    ///
    /// # Errors
    /// On a database error.
    pub fn recover(
        &self,
        day: impl Into<EditionKey>,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.recover(day, now))
    }

    /// The row for (day, email), if any.
    ///
    /// # Errors
    /// On a database error.
    pub fn get(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
    ) -> Result<Option<Delivery>, LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.get(day, email))
    }

    /// The state of (day, email), if it has a row.
    ///
    /// # Errors
    /// On a database error.
    pub fn state(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
    ) -> Result<Option<State>, LedgerError> {
        Ok(self.get(day, email)?.map(|d| d.state))
    }

    /// Records the start of an SMTP transaction: state `sending`, one more attempt.
    /// Committed before any byte goes to the server.
    ///
    /// # Errors
    /// On a database error.
    pub fn start_sending(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.start_sending(day, email, message_id, now))
    }

    /// Records an outcome (any state but `sending`) with the server's reply.
    ///
    /// # Errors
    /// On a database error.
    pub fn finish(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
        state: State,
        reply: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.finish_as(day, email, state, reply, true, now)
    }

    /// [`Ledger::finish`], saying for a `failed` outcome whether it is `hard`:
    /// the address itself was refused, so it counts toward marking the
    /// reader bounced. A failure the sender or the message caused (a policy
    /// rejection, a line too long) is recorded as failed, never counted.
    ///
    /// # Errors
    /// On a database error.
    pub fn finish_as(
        &self,
        day: impl Into<EditionKey>,
        email: &str,
        state: State,
        reply: Option<&str>,
        hard: bool,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.finish_as(day, email, state, reply, hard, now))
    }

    /// How many of this address's most recent deliveries, newest first, failed
    /// permanently in a row (a `sent` ends the streak; skipped days do not count).
    ///
    /// # Errors
    /// On a database error.
    pub fn consecutive_failures(&self, email: &str) -> Result<u32, LedgerError> {
        on_backend!(self, l => l.consecutive_failures(email))
    }

    /// Runs `f` inside one transaction (group commit: many state changes,
    /// one disk sync). Nothing in it is durable until this returns `Ok`.
    ///
    /// # Errors
    /// The first error of `f`, or of BEGIN/COMMIT; the transaction is then rolled back.
    pub fn batch<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        on_backend!(self, l => l.batch(|| f(self)))
    }

    /// Applies `changes` to `day` in one transaction, in order: one disk
    /// sync for the group (and, in PostgreSQL, one round trip: the
    /// statements are pipelined on the ledger's session). Returns what each
    /// change did: on a database a start or an outcome on a row another
    /// worker now holds is not written ([`Applied::HeldElsewhere`]), and
    /// the rest of the group is. Nothing is durable unless this returns `Ok`.
    ///
    /// # Errors
    /// The first error; the whole group is then rolled back.
    pub fn apply(
        &self,
        day: impl Into<EditionKey>,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>, LedgerError> {
        let day = day.into();
        match &self.0 {
            Backend::Database(l) => l.apply(day, changes, now),
            Backend::File(_) => self.batch(|l| {
                changes
                    .iter()
                    .map(|c| match c {
                        Change::Start { email, message_id } => l
                            .start_sending(day, email, message_id, now)
                            .map(|()| Applied::Recorded),
                        Change::Finish {
                            email,
                            state,
                            reply,
                            hard,
                        } => l
                            .finish_as(day, email, *state, reply.as_deref(), *hard, now)
                            .map(|()| Applied::Recorded),
                        Change::ConsecutiveFailures { email } => {
                            l.consecutive_failures(email).map(Applied::Failures)
                        }
                    })
                    .collect()
            }),
        }
    }

    /// Rows per state for one day.
    ///
    /// # Errors
    /// On a database error.
    pub fn counts(&self, day: impl Into<EditionKey>) -> Result<Counts, LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.counts(day))
    }

    /// Every row of one day, by address.
    ///
    /// # Errors
    /// On a database error.
    pub fn day(&self, day: impl Into<EditionKey>) -> Result<Vec<Delivery>, LedgerError> {
        let day = day.into();
        on_backend!(self, l => l.day(day))
    }

    /// Which process wrote each row of a day last (`host:pid`), by address;
    /// `None` for a file ledger, which has one sender host by design.
    ///
    /// # Errors
    /// On a database error.
    pub fn workers(
        &self,
        day: impl Into<EditionKey>,
    ) -> Result<Option<Vec<(String, String)>>, LedgerError> {
        match &self.0 {
            Backend::File(_) => Ok(None),
            Backend::Database(l) => l.workers(day.into()).map(Some),
        }
    }

    /// Records `event`; `false` when this report already recorded it.
    ///
    /// # Errors
    /// On a database error.
    pub fn record_event(&self, e: &Event) -> Result<bool, LedgerError> {
        on_backend!(self, l => l.record_event(e))
    }

    /// The events about messages of `day`, by recipient.
    ///
    /// # Errors
    /// On a database error.
    pub fn events_of_day(&self, day: NaiveDate) -> Result<Vec<Event>, LedgerError> {
        on_backend!(self, l => l.events_of_day(day))
    }

    /// Every event attributed to `email`, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn events_of(&self, email: &str) -> Result<Vec<Event>, LedgerError> {
        on_backend!(self, l => l.events_of(email))
    }

    /// Messages sent and events per receiving domain for the days in
    /// `[from, to]`, busiest domain first.
    ///
    /// # Errors
    /// On a database error.
    pub fn domain_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DomainCounts>, LedgerError> {
        on_backend!(self, l => l.domain_counts(from, to))
    }
}

/// The cooperative side of a database ledger: queueing an edition, and
/// claiming, renewing and giving back deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a>(&'a PgLedger);

impl Claims<'_> {
    /// This worker's id (`host:pid/tag`), as rows record it.
    #[must_use]
    pub fn worker(&self) -> &str {
        self.0.worker()
    }

    /// Another session of this worker (the same id and lease), for work
    /// done in parallel: a worker's writes, claims and renewals.
    ///
    /// # Errors
    /// When no session can be made.
    pub fn session(&self) -> Result<Ledger, LedgerError> {
        Ok(Ledger(Backend::Database(self.0.sibling()?)))
    }

    /// The database's time now.
    ///
    /// # Errors
    /// On a database error.
    pub fn now(&self) -> Result<DateTime<Utc>, LedgerError> {
        self.0.now()
    }

    /// Queues the edition for the active readers of `audience` who have
    /// no row for it yet.
    ///
    /// # Errors
    /// On a database error, or a reader's record that does not read.
    pub fn queue(
        &self,
        day: impl Into<EditionKey>,
        audience: Audience,
    ) -> Result<Queued, LedgerError> {
        self.0.queue(day.into(), audience)
    }

    /// Takes over `sending` rows whose lease ran out, as `unknown`.
    ///
    /// # Errors
    /// On a database error.
    pub fn recover_expired(
        &self,
        day: impl Into<EditionKey>,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        self.0.recover_expired(day.into(), now)
    }

    /// Claims up to `n` due rows no other worker holds.
    ///
    /// # Errors
    /// On a database error, or a reader's record that does not read.
    pub fn claim(
        &self,
        day: impl Into<EditionKey>,
        n: usize,
        rule: ClaimRule,
    ) -> Result<Vec<Claimed>, LedgerError> {
        self.0.claim(day.into(), n, rule)
    }

    /// Gives claimed rows back untried (the reader left the audience).
    ///
    /// # Errors
    /// On a database error.
    pub fn release(
        &self,
        day: impl Into<EditionKey>,
        emails: Vec<String>,
    ) -> Result<(), LedgerError> {
        self.0.release(day.into(), emails)
    }

    /// Gives back every claim of this worker not tried yet.
    ///
    /// # Errors
    /// On a database error.
    pub fn release_untried(&self, day: impl Into<EditionKey>) -> Result<u64, LedgerError> {
        self.0.release_untried(day.into())
    }

    /// Renews the lease on every row this worker holds.
    ///
    /// # Errors
    /// On a database error.
    pub fn renew(&self, day: impl Into<EditionKey>) -> Result<u64, LedgerError> {
        self.0.renew(day.into())
    }

    /// Rows still due under `rule`, whoever holds them.
    ///
    /// # Errors
    /// On a database error.
    pub fn remaining(
        &self,
        day: impl Into<EditionKey>,
        rule: ClaimRule,
    ) -> Result<u64, LedgerError> {
        self.0.remaining(day.into(), rule)
    }

    /// Rows another worker holds under a live lease.
    ///
    /// # Errors
    /// On a database error.
    pub fn held_elsewhere(&self, day: impl Into<EditionKey>) -> Result<u64, LedgerError> {
        self.0.held_elsewhere(day.into())
    }
}
