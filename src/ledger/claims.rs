//! Cooperative sending on a database: an edition's audience is queued once
//! as `pending` rows, and any number of workers (processes, on any host)
//! claim batches of due rows with `SELECT … FOR UPDATE SKIP LOCKED`, so no
//! two ever hold the same delivery. A claim is the worker's id in `worker`
//! and a lease in `lease_until`; the worker renews the lease while it works,
//! and every write it makes is fenced by its id ([`super::postgres`]), so a
//! worker whose lease ran out and was taken over changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Json;

use super::postgres::{cut_sql, PgLedger};
use super::{EditionKey, LedgerError, State};
use crate::db::DbError;
use crate::model::Subscriber;

/// Who an edition is for: true for an active reader who gets it.
pub type Audience = Arc<dyn Fn(&Subscriber) -> bool + Send + Sync>;

/// Which rows a run takes besides `pending` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRule {
    /// The run began at this time of the database: rows that got an
    /// outcome since then are this run's own (or a fellow worker's), and
    /// are not taken again.
    pub since: DateTime<Utc>,
    /// Take `unknown` rows (the policy is `resend`).
    pub unknowns: bool,
    /// Take `sent` rows too (`--resend`).
    pub resend: bool,
}

/// One claimed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The reader's address (the ledger's key).
    pub email: String,
    /// The row's state when claimed.
    pub state: State,
    /// The reader's record, when they are still active; `None` when they
    /// left (or were removed) since the edition was queued.
    pub subscriber: Option<Subscriber>,
}

/// What queueing an edition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Readers newly queued.
    pub added: u64,
    /// Whether an earlier worker had queued the edition (only readers
    /// changed since were looked at).
    pub again: bool,
}

/// Readers read per round trip while queueing.
const QUEUE_PAGE: i32 = 5_000;

/// A reader changed by a transaction that began up to this long before an
/// earlier queueing but committed after it is still looked at again.
const QUEUE_OVERLAP_MINUTES: i64 = 10;

impl PgLedger {
    /// The database's clock, which leases and `finished_at` are kept in.
    pub(crate) fn now(&self) -> Result<DateTime<Utc>, LedgerError> {
        let mut rows = self.query("read the time", "SELECT now()", vec![], |r| Ok(r.get(0)))?;
        rows.pop().ok_or_else(|| {
            LedgerError::Database(self.db.data_error("`SELECT now()` gave no row".into()))
        })
    }

    /// Queues `day` for every active reader in `audience` who has no row
    /// for it yet, in one transaction under the edition's lock: the first
    /// worker reads the whole list, a later one only the readers changed
    /// since (so a reader who joined or came back is not missed, and three
    /// workers starting together do not read a large list three times).
    pub(crate) fn queue(&self, day: EditionKey, audience: Audience) -> Result<Queued, LedgerError> {
        let client = self.client.clone();
        Ok(self.db.run(move |db| async move {
            let key = day.text();
            let mut c = client.lock().await;
            let tx = c
                .transaction()
                .await
                .map_err(db.query_error("begin queueing an edition"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 13))",
                &[&format!("queue {key}")],
            )
            .await
            .map_err(db.query_error("lock the edition's queue"))?;
            let before: Option<DateTime<Utc>> = tx
                .query_opt("SELECT queued_at FROM editions WHERE day = $1", &[&key])
                .await
                .map_err(db.query_error("read the edition's queue"))?
                .map(|r| r.get(0));
            let portal = match before {
                None => {
                    tx.bind(
                        "SELECT email, record FROM subscribers WHERE status = 'active'",
                        &[],
                    )
                    .await
                }
                Some(t) => {
                    let from = t - chrono::Duration::minutes(QUEUE_OVERLAP_MINUTES);
                    tx.bind(
                        "SELECT email, record FROM subscribers
                         WHERE status = 'active' AND updated_at >= $1",
                        &[&from],
                    )
                    .await
                }
            }
            .map_err(db.query_error("read the subscribers"))?;
            let insert = tx
                .prepare(
                    "INSERT INTO deliveries (day, email, state, created_at, updated_at)
                     SELECT $1, e, 'pending', now(), now() FROM unnest($2::text[]) AS e
                     ON CONFLICT (day, email) DO NOTHING",
                )
                .await
                .map_err(db.query_error("queue readers"))?;
            let mut added = 0;
            loop {
                let rows = tx
                    .query_portal(&portal, QUEUE_PAGE)
                    .await
                    .map_err(db.query_error("read the subscribers"))?;
                if rows.is_empty() {
                    break;
                }
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    let email: String = row.get(0);
                    let Json(subscriber) = row
                        .try_get::<_, Json<Subscriber>>(1)
                        .map_err(|e| record_error(&db, &email, &e))?;
                    if subscriber.is_active() && audience(&subscriber) {
                        due.push(email);
                    }
                }
                if !due.is_empty() {
                    added += tx
                        .execute(&insert, &[&key, &due])
                        .await
                        .map_err(db.query_error("queue readers"))?;
                }
            }
            tx.execute(
                "INSERT INTO editions (day, queued_at) VALUES ($1, now())
                 ON CONFLICT (day) DO UPDATE SET queued_at = excluded.queued_at",
                &[&key],
            )
            .await
            .map_err(db.query_error("record the edition's queue"))?;
            tx.commit()
                .await
                .map_err(db.query_error("commit the edition's queue"))?;
            Ok(Queued {
                added,
                again: before.is_some(),
            })
        })?)
    }

    /// Marks `sending` rows whose lease ran out (their worker died or
    /// stalled) as `unknown`, and takes them over; returns how many.
    pub(crate) fn recover_expired(
        &self,
        day: EditionKey,
        now: DateTime<Utc>,
    ) -> Result<usize, LedgerError> {
        self.mark_cut(
            "take over interrupted deliveries",
            RECOVER_EXPIRED_SQL,
            day,
            now,
        )
    }

    /// Claims up to `n` due rows of `day` for this worker, in address
    /// order; rows another worker holds are skipped, not waited for.
    pub(crate) fn claim(
        &self,
        day: EditionKey,
        n: usize,
        rule: ClaimRule,
    ) -> Result<Vec<Claimed>, LedgerError> {
        let sql = if rule.resend {
            CLAIM_AGAIN_SQL
        } else {
            CLAIM_SQL
        };
        let rows = self.query(
            "claim deliveries",
            sql,
            vec![
                Box::new(day.text()),
                Box::new(i64::try_from(n).unwrap_or(i64::MAX)),
                Box::new(rule.unknowns),
                Box::new(rule.since),
                Box::new(self.worker.clone()),
                Box::new(self.lease),
            ],
            |r| {
                let email: String = r.get(0);
                let state: String = r.get(1);
                let subscriber = r
                    .try_get::<_, Option<Json<Subscriber>>>(2)
                    .map_err(|e| {
                        format!("the record of `{email}` is not a subscriber record: {e}")
                    })?
                    .map(|Json(s)| s);
                Ok(Claimed {
                    state: state.parse()?,
                    email,
                    subscriber,
                })
            },
        )?;
        let mut rows = rows;
        rows.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(rows)
    }

    /// Gives claimed rows back without an attempt: a `pending` row of a
    /// reader no longer in the audience goes; any other gets no lease and
    /// counts as looked at by this run.
    pub(crate) fn release(&self, day: EditionKey, emails: Vec<String>) -> Result<(), LedgerError> {
        if emails.is_empty() {
            return Ok(());
        }
        let client = self.client.clone();
        let worker = self.worker.clone();
        Ok(self.db.run(move |db| async move {
            let key = day.text();
            let c = client.lock().await;
            c.execute(
                "DELETE FROM deliveries
                 WHERE day = $1 AND email = ANY($2) AND worker = $3 AND state = 'pending'",
                &[&key, &emails, &worker],
            )
            .await
            .map_err(db.query_error("give back claims"))?;
            c.execute(
                "UPDATE deliveries SET lease_until = NULL, finished_at = now()
                 WHERE day = $1 AND email = ANY($2) AND worker = $3",
                &[&key, &emails, &worker],
            )
            .await
            .map_err(db.query_error("give back claims"))
            .map(drop)
        })?)
    }

    /// Gives back every claim of this worker not tried (a stopped run):
    /// other workers may take them at once instead of after the lease.
    pub(crate) fn release_untried(&self, day: EditionKey) -> Result<u64, LedgerError> {
        self.execute(
            "give back claims",
            "UPDATE deliveries SET lease_until = NULL
             WHERE day = $1 AND worker = $2 AND lease_until IS NOT NULL AND state <> 'sending'",
            vec![Box::new(day.text()), Box::new(self.worker.clone())],
        )
    }

    /// Extends the lease of every row this worker holds; returns how many.
    /// Rows locked this instant are skipped, not waited for: they are the
    /// worker's own writer's (a start renews the lease itself, an outcome
    /// ends it), and waiting on them while holding others deadlocks with
    /// that writer's group, which locks rows in another order.
    pub(crate) fn renew(&self, day: EditionKey) -> Result<u64, LedgerError> {
        self.execute(
            "renew the lease",
            "UPDATE deliveries d SET lease_until = now() + make_interval(secs => $3)
             FROM (SELECT day, email FROM deliveries
                   WHERE day = $1 AND worker = $2 AND lease_until IS NOT NULL
                   FOR UPDATE SKIP LOCKED) held
             WHERE d.day = held.day AND d.email = held.email",
            vec![
                Box::new(day.text()),
                Box::new(self.worker.clone()),
                Box::new(self.lease),
            ],
        )
    }

    /// Rows still to do for a run under `rule` (whoever does them).
    pub(crate) fn remaining(&self, day: EditionKey, rule: ClaimRule) -> Result<u64, LedgerError> {
        let sql = if rule.resend {
            REMAINING_AGAIN_SQL
        } else {
            REMAINING_SQL
        };
        let n = self.query(
            "count due deliveries",
            sql,
            vec![
                Box::new(day.text()),
                Box::new(rule.unknowns),
                Box::new(rule.since),
            ],
            |r| Ok(r.get::<_, i64>(0)),
        )?;
        Ok(n.first().copied().unwrap_or(0).unsigned_abs())
    }

    /// Rows of `day` another worker holds under a live lease.
    pub(crate) fn held_elsewhere(&self, day: EditionKey) -> Result<u64, LedgerError> {
        let n = self.query(
            "count claims",
            "SELECT count(*) FROM deliveries
             WHERE day = $1 AND lease_until > now() AND worker <> $2",
            vec![Box::new(day.text()), Box::new(self.worker.clone())],
            |r| Ok(r.get::<_, i64>(0)),
        )?;
        Ok(n.first().copied().unwrap_or(0).unsigned_abs())
    }
}

fn record_error(db: &crate::db::Database, email: &str, e: &tokio_postgres::Error) -> DbError {
    db.data_error(format!(
        "the record of `{email}` is not a subscriber record: {e}"
    ))
}

/// The rows a run takes: `pending` ones, and `deferred`, `skipped` (and
/// `unknown` when `$unknowns`) ones that got their outcome before the run
/// began (`$since`). The first condition is the partial index's, so a claim
/// walks only rows not yet done.
macro_rules! due_rows {
    ($states:expr, $unknowns:literal, $since:literal) => {
        concat!(
            "day = $1 AND state IN (",
            $states,
            ") AND state <> 'sending'
             AND (state = 'pending' OR ((state <> 'unknown' OR ",
            $unknowns,
            ") AND (finished_at IS NULL OR finished_at < ",
            $since,
            ")))"
        )
    };
}

/// Claims the due rows no live lease holds, skipping those another
/// claim has locked this instant, and returns each with the reader's
/// record if they are still active.
macro_rules! claim_sql {
    ($states:expr) => {
        concat!(
            "WITH due AS (
                SELECT day, email FROM deliveries
                WHERE ",
            due_rows!($states, "$3", "$4"),
            " AND (lease_until IS NULL OR lease_until < now())
                ORDER BY email LIMIT $2
                FOR UPDATE SKIP LOCKED)
             UPDATE deliveries d SET worker = $5, lease_until = now() + make_interval(secs => $6)
             FROM due WHERE d.day = due.day AND d.email = due.email
             RETURNING d.email, d.state,
                (SELECT s.record FROM subscribers s WHERE s.email = d.email AND s.status = 'active')"
        )
    };
}

/// The states of [`due_rows`] (those of the partial index `deliveries_due`).
macro_rules! open_states {
    () => {
        "'pending', 'sending', 'deferred', 'skipped', 'unknown'"
    };
}

/// [`open_states`] and `sent`, for `--resend`.
macro_rules! all_states {
    () => {
        "'pending', 'sending', 'deferred', 'skipped', 'unknown', 'sent'"
    };
}

/// The `sending` rows whose lease ran out (or that never had one).
const RECOVER_EXPIRED_SQL: &str = cut_sql!(
    "the worker sending it stopped during the SMTP transaction",
    " AND (lease_until IS NULL OR lease_until < now())"
);

const CLAIM_SQL: &str = claim_sql!(open_states!());
const CLAIM_AGAIN_SQL: &str = claim_sql!(all_states!());
const REMAINING_SQL: &str = concat!(
    "SELECT count(*) FROM deliveries WHERE ",
    due_rows!(open_states!(), "$2", "$3")
);
const REMAINING_AGAIN_SQL: &str = concat!(
    "SELECT count(*) FROM deliveries WHERE ",
    due_rows!(all_states!(), "$2", "$3")
);
