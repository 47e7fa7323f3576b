//! The ledger in PostgreSQL: the same rows and the same rules as the SQLite
//! file, on one session of its own, so that a group of changes is one
//! transaction exactly as in the file (`BEGIN` … `COMMIT` on that session).
//!
//! The per-edition run lock is a session-level advisory lock on another
//! connection: held across every host on the database, and released by the
//! server the moment its holder's connection closes (the process exited or
//! died), so a second host can take over the edition at once.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;

use super::{
    Applied, Change, Counts, Delivery, DomainCounts, EditionKey, Event, LedgerError, State,
};
use crate::db::{Database, DbError, SessionLock};

/// One session of the database, used by one [`super::Ledger`].
pub(crate) struct PgLedger {
    pub(super) db: Database,
    pub(super) client: Arc<Mutex<deadpool_postgres::Object>>,
    pub(super) worker: String,
    /// Seconds a claim or a `sending` row is this worker's without renewal.
    pub(super) lease: f64,
}

impl std::fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLedger")
            .field("db", &self.db)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

pub(super) type Params = Vec<Box<dyn ToSql + Send + Sync>>;

/// The form the driver takes parameters in.
pub(super) fn as_refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The name of this worker in the `worker` column: host and process id,
/// and a random tag, so a later process that happens to get the same id
/// is still another worker (the column is what fences writes).
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let mut tag = [0u8; 3];
    let _ = aws_lc_rs::rand::fill(&mut tag);
    format!(
        "{host}:{}/{:02x}{:02x}{:02x}",
        std::process::id(),
        tag[0],
        tag[1],
        tag[2]
    )
}

impl PgLedger {
    /// A session of its own on `db` (whose schema was checked).
    pub(crate) fn open(db: &Database) -> Result<Self, LedgerError> {
        let client = db.run(|db| async move { db.client().await })?;
        Ok(Self {
            db: db.clone(),
            client: Arc::new(Mutex::new(client)),
            worker: worker_name(),
            lease: DEFAULT_LEASE,
        })
    }

    /// Another session of the same worker (its id and lease): a worker
    /// writes, claims and renews on sessions of their own.
    pub(crate) fn sibling(&self) -> Result<Self, LedgerError> {
        let client = self.db.run(|db| async move { db.client().await })?;
        Ok(Self {
            db: self.db.clone(),
            client: Arc::new(Mutex::new(client)),
            worker: self.worker.clone(),
            lease: self.lease,
        })
    }

    /// This worker's id, as the `worker` column holds it.
    pub(crate) fn worker(&self) -> &str {
        &self.worker
    }

    pub(crate) fn set_lease(&mut self, lease: std::time::Duration) {
        self.lease = lease.as_secs_f64().max(0.001);
    }

    /// Runs one statement on the session; returns the rows changed.
    pub(super) fn execute(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params,
    ) -> Result<u64, LedgerError> {
        let client = self.client.clone();
        Ok(self.db.run(move |db| async move {
            let c = client.lock().await;
            let st = c
                .prepare_cached(sql)
                .await
                .map_err(db.query_error(action))?;
            let refs = as_refs(&params);
            c.execute(&st, &refs).await.map_err(db.query_error(action))
        })?)
    }

    /// Runs one query on the session and maps its rows.
    pub(super) fn query<T: Send + 'static>(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params,
        map: fn(&tokio_postgres::Row) -> Result<T, String>,
    ) -> Result<Vec<T>, LedgerError> {
        let client = self.client.clone();
        Ok(self.db.run(move |db| async move {
            let c = client.lock().await;
            let st = c
                .prepare_cached(sql)
                .await
                .map_err(db.query_error(action))?;
            let refs = as_refs(&params);
            let rows = c.query(&st, &refs).await.map_err(db.query_error(action))?;
            rows.iter()
                .map(|r| map(r).map_err(|m| db.data_error(format!("{action}: {m}"))))
                .collect::<Result<Vec<T>, DbError>>()
        })?)
    }

    pub(crate) fn lock_day(&self, day: EditionKey, wait: bool) -> Result<SessionLock, LedgerError> {
        match self.db.lock(&format!("send {day}"), wait)? {
            Some(lock) => Ok(lock),
            None => Err(LedgerError::BusyOnDatabase {
                day,
                target: self.db.target().to_owned(),
            }),
        }
    }

    pub(crate) fn recover(
        &self,
        day: EditionKey,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        self.mark_cut("recover interrupted deliveries", RECOVER_SQL, day, now)
    }

    /// Runs one of the statements that mark cut `sending` rows `unknown`
    /// and take them over ([`RECOVER_SQL`], `RECOVER_EXPIRED_SQL`); returns
    /// how many.
    pub(super) fn mark_cut(
        &self,
        action: &'static str,
        sql: &'static str,
        day: EditionKey,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        let n = self.execute(
            action,
            sql,
            vec![
                Box::new(day.text()),
                Box::new(now),
                Box::new(self.worker.clone()),
            ],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn get(
        &self,
        day: EditionKey,
        email: &str,
    ) -> Result<Option<Delivery>, LedgerError> {
        let mut rows = self.query(
            "read a delivery",
            "SELECT day, email, state, attempts, unknowns, last_reply, message_id,
                    created_at, updated_at, sent_at
             FROM deliveries WHERE day = $1 AND email = $2",
            vec![Box::new(day.text()), Box::new(email.to_lowercase())],
            row_to_delivery,
        )?;
        Ok(rows.pop())
    }

    pub(crate) fn start_sending(
        &self,
        day: EditionKey,
        email: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let n = self.execute(
            "record the start of a delivery",
            START_SQL,
            self.start_params(day, email, message_id, now),
        )?;
        fenced(n, day, email)
    }

    fn start_params(
        &self,
        day: EditionKey,
        email: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Params {
        vec![
            Box::new(day.text()),
            Box::new(email.to_lowercase()),
            Box::new(message_id.to_owned()),
            Box::new(now),
            Box::new(self.worker.clone()),
            Box::new(self.lease),
        ]
    }

    pub(crate) fn finish_as(
        &self,
        day: EditionKey,
        email: &str,
        state: State,
        reply: Option<&str>,
        hard: bool,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let n = self.execute(
            "record a delivery outcome",
            FINISH_SQL,
            self.finish_params(day, email, state, reply, hard, now),
        )?;
        fenced(n, day, email)
    }

    fn finish_params(
        &self,
        day: EditionKey,
        email: &str,
        state: State,
        reply: Option<&str>,
        hard: bool,
        now: DateTime<Utc>,
    ) -> Params {
        vec![
            Box::new(day.text()),
            Box::new(email.to_lowercase()),
            Box::new(state.as_str()),
            Box::new(reply.map(str::to_owned)),
            Box::new(now),
            Box::new(i32::from(state == State::Unknown)),
            Box::new((state == State::Sent).then_some(now)),
            Box::new(hard),
            Box::new(self.worker.clone()),
        ]
    }

    /// A group of changes in one transaction and one round trip: the
    /// statements are sent together (tokio-postgres pipelines the queries
    /// of one connection polled at once) and run in order.
    pub(crate) fn apply(
        &self,
        day: EditionKey,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>, LedgerError> {
        let statements: Vec<(&'static str, Params, bool)> = changes
            .iter()
            .map(|c| match c {
                Change::Start { email, message_id } => (
                    START_SQL,
                    self.start_params(day, email, message_id, now),
                    false,
                ),
                Change::Finish {
                    email,
                    state,
                    reply,
                    hard,
                } => (
                    FINISH_SQL,
                    self.finish_params(day, email, *state, reply.as_deref(), *hard, now),
                    false,
                ),
                Change::ConsecutiveFailures { email } => (
                    FAILURES_SQL,
                    vec![Box::new(email.to_lowercase()) as Box<dyn ToSql + Send + Sync>],
                    true,
                ),
            })
            .collect();
        let client = self.client.clone();
        Ok(self.db.run(move |db| async move {
            let c = client.lock().await;
            c.batch_execute("BEGIN")
                .await
                .map_err(db.query_error("begin a transaction"))?;
            let results = futures_util::future::try_join_all(statements.iter().map(
                |(sql, params, reads)| {
                    let c = &c;
                    async move {
                        let st = c.prepare_cached(sql).await?;
                        let refs = as_refs(params);
                        if *reads {
                            let rows = c.query(&st, &refs).await?;
                            Ok(Applied::Failures(streak(
                                rows.iter().map(|r| r.get::<_, &str>(0)),
                            )))
                        } else {
                            let n = c.execute(&st, &refs).await?;
                            Ok(if n == 0 {
                                Applied::HeldElsewhere
                            } else {
                                Applied::Recorded
                            })
                        }
                    }
                },
            ))
            .await;
            match results {
                Ok(values) => {
                    c.batch_execute("COMMIT")
                        .await
                        .map_err(db.query_error("commit a group of changes"))?;
                    Ok(values)
                }
                Err(e) => {
                    let _ = c.batch_execute("ROLLBACK").await;
                    Err(db.query_error("record a group of changes")(e))
                }
            }
        })?)
    }

    pub(crate) fn consecutive_failures(&self, email: &str) -> Result<u32, LedgerError> {
        let states = self.query(
            "read a reader's deliveries",
            FAILURES_SQL,
            vec![Box::new(email.to_lowercase())],
            |r| Ok(r.get::<_, String>(0)),
        )?;
        Ok(streak(states.iter().map(String::as_str)))
    }

    /// A statement without parameters, by the simple protocol (`BEGIN`…).
    fn simple(&self, action: &'static str, sql: &'static str) -> Result<(), LedgerError> {
        let client = self.client.clone();
        Ok(self.db.run(move |db| async move {
            let c = client.lock().await;
            c.batch_execute(sql).await.map_err(db.query_error(action))
        })?)
    }

    /// `BEGIN`, `f`, `COMMIT` on this session; `ROLLBACK` when `f` fails.
    pub(crate) fn batch<T>(
        &self,
        f: impl FnOnce() -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.simple("begin a transaction", "BEGIN")?;
        match f().and_then(|value| self.simple("commit", "COMMIT").map(|()| value)) {
            Ok(value) => Ok(value),
            Err(e) => {
                let _ = self.simple("roll back", "ROLLBACK");
                Err(e)
            }
        }
    }

    pub(crate) fn counts(&self, day: EditionKey) -> Result<Counts, LedgerError> {
        let rows = self.query(
            "count deliveries",
            "SELECT state, count(*) FROM deliveries WHERE day = $1 GROUP BY state",
            vec![Box::new(day.text())],
            |r| Ok((r.get::<_, String>(0), r.get::<_, i64>(1))),
        )?;
        let mut counts = Counts::new();
        for (state, n) in rows {
            if let Ok(state) = state.parse() {
                counts.insert(state, n.unsigned_abs());
            }
        }
        Ok(counts)
    }

    pub(crate) fn day(&self, day: EditionKey) -> Result<Vec<Delivery>, LedgerError> {
        self.query(
            "read a day's deliveries",
            "SELECT day, email, state, attempts, unknowns, last_reply, message_id,
                    created_at, updated_at, sent_at
             FROM deliveries WHERE day = $1 ORDER BY email",
            vec![Box::new(day.text())],
            row_to_delivery,
        )
    }

    /// Which worker wrote each row of a day last, by address.
    pub(crate) fn workers(&self, day: EditionKey) -> Result<Vec<(String, String)>, LedgerError> {
        self.query(
            "read a day's workers",
            "SELECT email, coalesce(worker, '') FROM deliveries WHERE day = $1 ORDER BY email",
            vec![Box::new(day.text())],
            |r| Ok((r.get(0), r.get(1))),
        )
    }

    pub(crate) fn record_event(&self, e: &Event) -> Result<bool, LedgerError> {
        let n = self.execute(
            "record an event",
            "INSERT INTO events (source, recipient, email, day, kind, reason, status,
                reply_code, hard, diagnostic, domain, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (source, recipient) DO NOTHING",
            vec![
                Box::new(e.source.clone()),
                Box::new(e.recipient.clone()),
                Box::new(e.email.clone()),
                Box::new(e.day),
                Box::new(e.kind.clone()),
                Box::new(e.reason.clone()),
                Box::new(e.status.clone()),
                Box::new(e.reply_code.map(i32::from)),
                Box::new(e.hard),
                Box::new(e.diagnostic.clone()),
                Box::new(e.domain.clone()),
                Box::new(e.received_at),
            ],
        )?;
        Ok(n > 0)
    }

    pub(crate) fn events_of_day(&self, day: NaiveDate) -> Result<Vec<Event>, LedgerError> {
        self.query(
            "read events",
            "SELECT source, recipient, email, day, kind, reason, status, reply_code, hard,
                    diagnostic, domain, received_at
             FROM events WHERE day = $1 ORDER BY received_at, recipient",
            vec![Box::new(day)],
            row_to_event,
        )
    }

    pub(crate) fn events_of(&self, email: &str) -> Result<Vec<Event>, LedgerError> {
        self.query(
            "read events",
            "SELECT source, recipient, email, day, kind, reason, status, reply_code, hard,
                    diagnostic, domain, received_at
             FROM events WHERE email = $1 ORDER BY received_at, recipient",
            vec![Box::new(email.to_lowercase())],
            row_to_event,
        )
    }

    pub(crate) fn domain_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DomainCounts>, LedgerError> {
        // Days are text in `deliveries` (weeks too); a day's text sorts as its date.
        let sent = self.query(
            "count sent messages",
            "SELECT lower(split_part(email, '@', 2)), count(*) FROM deliveries
             WHERE state = 'sent' AND day BETWEEN $1 AND $2 AND day NOT LIKE '%W%' GROUP BY 1",
            vec![
                Box::new(super::day_text(from)),
                Box::new(super::day_text(to)),
            ],
            |r| Ok((r.get::<_, String>(0), r.get::<_, i64>(1))),
        )?;
        let events = self.query(
            "count events",
            "SELECT coalesce(domain, ''), kind, hard, count(*) FROM events
             WHERE day BETWEEN $1 AND $2 AND kind IN ('bounce', 'complaint') GROUP BY 1, 2, 3",
            vec![Box::new(from), Box::new(to)],
            |r| {
                Ok((
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, bool>(2),
                    r.get::<_, i64>(3),
                ))
            },
        )?;
        Ok(super::events::domain_table(sent, events))
    }
}

/// Marks a day's `sending` rows matching the condition `unknown` (cut
/// mid-transaction, with `reply` as the last reply), and takes them over.
macro_rules! cut_sql {
    ($reply:literal, $condition:literal) => {
        concat!(
            "UPDATE deliveries SET state = 'unknown', unknowns = unknowns + 1,
                last_reply = '",
            $reply,
            "', updated_at = $2, worker = $3, lease_until = NULL
             WHERE day = $1 AND state = 'sending'",
            $condition
        )
    };
}
pub(super) use cut_sql;

/// Every `sending` row: for a run that holds the edition's lock.
const RECOVER_SQL: &str = cut_sql!("the run was interrupted during the SMTP transaction", "");

/// Seconds a claim lasts without renewal unless set (`HOTPAPERS_LEASE`).
const DEFAULT_LEASE: f64 = 60.0;

/// A fenced write changed no row: another worker holds it now.
fn fenced(rows: u64, day: EditionKey, email: &str) -> Result<(), LedgerError> {
    if rows == 0 {
        Err(LedgerError::LeaseLost {
            day,
            email: email.to_lowercase(),
        })
    } else {
        Ok(())
    }
}

/// `sending` and one more attempt, with a fresh lease; written only where
/// this worker holds the row (or nobody ever did): a worker whose lease
/// was taken over changes nothing.
const START_SQL: &str =
    "INSERT INTO deliveries (day, email, state, attempts, message_id, created_at, updated_at, worker, lease_until)
     VALUES ($1, $2, 'sending', 1, $3, $4, $4, $5, now() + make_interval(secs => $6))
     ON CONFLICT (day, email) DO UPDATE SET state = 'sending',
        attempts = deliveries.attempts + 1, message_id = $3, updated_at = $4, worker = $5,
        lease_until = excluded.lease_until
     WHERE deliveries.worker = $5 OR deliveries.worker IS NULL";

/// An outcome, which ends the claim (`lease_until` cleared); fenced as
/// [`START_SQL`] is.
const FINISH_SQL: &str =
    "INSERT INTO deliveries (day, email, state, unknowns, last_reply, created_at, updated_at, sent_at, hard, worker, finished_at)
     VALUES ($1, $2, $3, $6, $4, $5, $5, $7, $8, $9, now())
     ON CONFLICT (day, email) DO UPDATE SET state = $3, unknowns = deliveries.unknowns + $6,
        last_reply = $4, updated_at = $5, sent_at = COALESCE($7, deliveries.sent_at),
        hard = $8, worker = $9, lease_until = NULL, finished_at = now()
     WHERE deliveries.worker = $9 OR deliveries.worker IS NULL";

/// The failures before the first `sent` in [`FAILURES_SQL`]'s states.
fn streak<'a>(states: impl Iterator<Item = &'a str>) -> u32 {
    let n = states.take_while(|s| *s == "failed").count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A reader's sent and hard-failed deliveries, newest first: the failures
/// before the first `sent` are the streak.
const FAILURES_SQL: &str = "SELECT state FROM deliveries
     WHERE email = $1 AND (state = 'sent' OR (state = 'failed' AND hard))
     ORDER BY updated_at DESC, day DESC";

fn row_to_delivery(r: &tokio_postgres::Row) -> Result<Delivery, String> {
    let day: String = r.get(0);
    let state: String = r.get(2);
    Ok(Delivery {
        day: EditionKey::parse(&day)
            .ok_or_else(|| format!("`{day}` is not a day or an ISO week"))?,
        email: r.get(1),
        state: state.parse()?,
        attempts: u32::try_from(r.get::<_, i32>(3)).unwrap_or(0),
        unknowns: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
        last_reply: r.get(5),
        message_id: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
        sent_at: r.get(9),
    })
}

#[allow(clippy::unnecessary_wraps)] // the shape `PgLedger::query` maps rows with
fn row_to_event(r: &tokio_postgres::Row) -> Result<Event, String> {
    Ok(Event {
        source: r.get(0),
        recipient: r.get(1),
        email: r.get(2),
        day: r.get(3),
        kind: r.get(4),
        reason: r.get(5),
        status: r.get(6),
        reply_code: r
            .get::<_, Option<i32>>(7)
            .and_then(|c| u16::try_from(c).ok()),
        hard: r.get(8),
        diagnostic: r.get(9),
        domain: r.get(10),
        received_at: r.get(11),
    })
}
