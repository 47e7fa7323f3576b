//! The subscriber store in PostgreSQL: the same [`Store`] as the YAML files,
//! with the same rules (`subscribers::rules`) applied to one record
//! at a time inside a transaction.
//!
//! A change to one address takes a transaction-scoped advisory lock on it
//! before reading, so changes to one reader from any number of `serve`
//! instances and CLI runs happen one after another and none is lost, while
//! changes to different readers never wait for each other. An import copies
//! its rows in with `COPY` and adds them with `ON CONFLICT DO NOTHING`, so an
//! address already present (unsubscribed, bounced, or added meanwhile) is
//! never touched.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, Type};

use super::{Database, DbError};
use crate::model::{Channel, Subscriber, SubscriberStatus};
use crate::subscribers::{
    key, rules, AddRequest, Added, Confirmation, Confirmed, Imported, Preferences, Problem,
    StatusChange, Store, SubscriberError, SubscriberList,
};

/// Rows per `COPY` and per transaction of a large import.
const IMPORT_CHUNK: usize = 20_000;

/// The subscriber store on a [`Database`].
#[derive(Debug, Clone)]
pub struct PgStore {
    db: Database,
}

impl PgStore {
    /// The store on `db` (whose schema [`Database::open`] checked).
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The name problems are reported under: the database, then the row.
    fn origin(&self) -> PathBuf {
        PathBuf::from(format!("database {}, row", self.db.target()))
    }

    /// Applies `change` to the record of `email` (absent or present) under
    /// the address's lock, and writes the record back if it changed.
    fn change<T: Send + 'static>(
        &self,
        email: &str,
        change: impl FnOnce(&mut SubscriberList) -> T + Send + 'static,
    ) -> Result<T, SubscriberError> {
        let email = key(email);
        let origin = self.origin();
        let result = self.db.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(db.query_error("begin a change"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                &[&email],
            )
            .await
            .map_err(db.query_error("lock a subscriber"))?;
            let row = tx
                .query_opt(
                    "SELECT record, position FROM subscribers WHERE email = $1 FOR UPDATE",
                    &[&email],
                )
                .await
                .map_err(db.query_error("read a subscriber"))?;
            let (records, lines) = match row {
                Some(row) => {
                    let position: i64 = row.get(1);
                    let record = decode(&db, &email, position, row.get(0))?;
                    (vec![record], vec![line(position)])
                }
                None => (Vec::new(), Vec::new()),
            };
            let before = records.first().cloned();
            let mut list = match SubscriberList::from_records(origin, records, lines) {
                Ok(list) => list,
                Err(e) => return Ok(Err(e)),
            };
            let value = change(&mut list);
            if let Err(e) = list.revalidate() {
                return Ok(Err(e));
            }
            let after = list.get(&email).cloned();
            if let Some(after) = after.filter(|a| Some(a) != before.as_ref()) {
                tx.execute(
                    "INSERT INTO subscribers (email, status, record, updated_at)
                     VALUES ($1, $2, $3, now())
                     ON CONFLICT (email) DO UPDATE
                     SET status = excluded.status, record = excluded.record,
                         updated_at = excluded.updated_at",
                    &[&email, &status_text(after.status), &Json(&after)],
                )
                .await
                .map_err(db.query_error("write a subscriber"))?;
            }
            tx.commit()
                .await
                .map_err(db.query_error("commit a change"))?;
            Ok(Ok(value))
        })?;
        result
    }
}

/// Adds those of `rows` whose address is not present yet, in their order,
/// inside `tx`; returns how many were added. `rows` hold no address twice.
///
/// The fast way: look the chunk's addresses up, then `COPY` the new ones
/// straight into the table. Should another process add one of them in
/// between (the copy then fails on the key), the chunk goes the careful way
/// instead: copied into a temporary table and added with `ON CONFLICT DO
/// NOTHING`.
pub(super) async fn add_new(
    db: &Database,
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[Subscriber],
) -> Result<usize, DbError> {
    let mut added = 0;
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let keys: Vec<String> = chunk.iter().map(Subscriber::key).collect();
        let present: std::collections::HashSet<String> = tx
            .query(
                "SELECT email FROM subscribers WHERE email = ANY($1)",
                &[&keys],
            )
            .await
            .map_err(db.query_error("look up the imported addresses"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let fresh: Vec<&Subscriber> = chunk
            .iter()
            .zip(&keys)
            .filter(|(_, k)| !present.contains(*k))
            .map(|(s, _)| s)
            .collect();
        tx.batch_execute("SAVEPOINT import_copy")
            .await
            .map_err(db.query_error("prepare an import"))?;
        match copy_into(tx, "subscribers", &fresh).await {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT import_copy")
                    .await
                    .map_err(db.query_error("copy an import"))?;
                added += fresh.len();
            }
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                tracing::debug!("an address of the import was added meanwhile: this chunk goes through ON CONFLICT");
                tx.batch_execute("ROLLBACK TO SAVEPOINT import_copy")
                    .await
                    .map_err(db.query_error("copy an import"))?;
                added += add_new_carefully(db, tx, &fresh).await?;
            }
            Err(e) => return Err(db.query_error("copy an import")(e)),
        }
    }
    Ok(added)
}

/// `COPY table (email, status, record)` of `rows`, binary (`updated_at`
/// is the table's default: the server's time).
async fn copy_into(
    tx: &deadpool_postgres::Transaction<'_>,
    table: &str,
    rows: &[&Subscriber],
) -> Result<(), tokio_postgres::Error> {
    let sink = tx
        .copy_in(&format!(
            "COPY {table} (email, status, record) FROM STDIN BINARY"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT, Type::JSONB]);
    futures_util::pin_mut!(writer);
    for s in rows {
        writer
            .as_mut()
            .write(&[&s.key(), &status_text(s.status), &Json(s)])
            .await?;
    }
    writer.finish().await.map(drop)
}

/// The careful way: through a temporary table, adding with `ON CONFLICT DO
/// NOTHING` in the rows' order (the temporary table's own order).
async fn add_new_carefully(
    db: &Database,
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[&Subscriber],
) -> Result<usize, DbError> {
    tx.batch_execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS import_rows (
            ord bigserial, email text, status text, record jsonb
         ) ON COMMIT DROP;
         TRUNCATE import_rows",
    )
    .await
    .map_err(db.query_error("prepare an import"))?;
    copy_into(tx, "import_rows", rows)
        .await
        .map_err(db.query_error("copy an import"))?;
    let added = tx
        .execute(
            "INSERT INTO subscribers (email, status, record)
             SELECT email, status, record FROM import_rows ORDER BY ord
             ON CONFLICT (email) DO NOTHING",
            &[],
        )
        .await
        .map_err(db.query_error("add the imported subscribers"))?;
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

fn status_text(s: SubscriberStatus) -> &'static str {
    match s {
        SubscriberStatus::Active => "active",
        SubscriberStatus::Unsubscribed => "unsubscribed",
        SubscriberStatus::Bounced => "bounced",
    }
}

/// A row's place, for problems (`…, row N`).
fn line(position: i64) -> usize {
    usize::try_from(position).unwrap_or(0)
}

fn decode(
    db: &Database,
    email: &str,
    position: i64,
    value: serde_json::Value,
) -> Result<Subscriber, DbError> {
    serde_json::from_value(value).map_err(|e| {
        db.data_error(format!(
            "the record of `{email}` (row {position}) is not a subscriber record: {e}"
        ))
    })
}

impl Store for PgStore {
    fn load(&self) -> Result<SubscriberList, SubscriberError> {
        let (records, lines) = self.db.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT email, record, position FROM subscribers ORDER BY position",
                    &[],
                )
                .await
                .map_err(db.query_error("read the subscribers"))?;
            let mut records = Vec::with_capacity(rows.len());
            let mut lines = Vec::with_capacity(rows.len());
            for row in rows {
                let email: String = row.get(0);
                let position: i64 = row.get(2);
                records.push(decode(&db, &email, position, row.get(1))?);
                lines.push(line(position));
            }
            Ok((records, lines))
        })?;
        SubscriberList::from_records(self.origin(), records, lines)
    }

    fn confirm(&self, c: &Confirmation, now: DateTime<Utc>) -> Result<Confirmed, SubscriberError> {
        let (c, email) = (c.clone(), c.email.as_str().to_owned());
        self.change(&email, move |list| rules::confirm(list, &c, now))
    }

    fn add(&self, r: &AddRequest, now: DateTime<Utc>) -> Result<Added, SubscriberError> {
        let (r, email) = (r.clone(), r.email.as_str().to_owned());
        self.change(&email, move |list| rules::add(list, &r, now))
    }

    fn set_status(
        &self,
        email: &str,
        status: SubscriberStatus,
        via: Channel,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError> {
        let address = email.to_owned();
        self.change(email, move |list| {
            rules::set_status(list, &address, status, via, now)
        })
    }

    fn set_preferences(
        &self,
        email: &str,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError> {
        let address = email.to_owned();
        let preferences = preferences.clone();
        self.change(email, move |list| {
            rules::set_preferences(list, &address, &preferences, now)
        })
    }

    fn import_chunk(&self) -> usize {
        IMPORT_CHUNK
    }

    fn import(
        &self,
        records: Vec<Subscriber>,
        now: DateTime<Utc>,
    ) -> Result<Imported, SubscriberError> {
        let total = records.len();
        // Checked as a load checks a record; the first of two equal
        // addresses wins, as in the files.
        let mut seen = std::collections::HashSet::with_capacity(total);
        let mut rows = Vec::with_capacity(total);
        let mut problems = Vec::new();
        for (i, mut s) in records.into_iter().enumerate() {
            if let Err(e) = crate::model::EmailAddress::parse(s.email.trim()) {
                problems.push(Problem {
                    path: PathBuf::from("import"),
                    line: i + 1,
                    message: e.to_string(),
                });
                continue;
            }
            if seen.insert(s.key()) {
                rules::imported(&mut s, now);
                rows.push(s);
            }
        }
        if !problems.is_empty() {
            return Err(SubscriberError::Invalid { problems });
        }
        let added = self.db.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(db.query_error("begin an import"))?;
            let added = add_new(&db, &tx, &rows).await?;
            tx.commit()
                .await
                .map_err(db.query_error("commit an import"))?;
            Ok(added)
        })?;
        Ok(Imported {
            added,
            kept: total - added,
        })
    }
}

/// How many readers have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Mailed.
    pub active: u64,
    /// Left the list.
    pub unsubscribed: u64,
    /// Suppressed after bounces or complaints.
    pub bounced: u64,
}

impl Database {
    /// Readers per status, counted by the server.
    ///
    /// # Errors
    /// When the table cannot be read.
    pub fn subscriber_counts(&self) -> Result<StatusCounts, DbError> {
        self.run(|db| async move {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT status, count(*) FROM subscribers GROUP BY status",
                    &[],
                )
                .await
                .map_err(db.query_error("count the subscribers"))?;
            let mut counts = StatusCounts::default();
            for row in rows {
                let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
                match row.get::<_, &str>(0) {
                    "active" => counts.active = n,
                    "unsubscribed" => counts.unsubscribed = n,
                    _ => counts.bounced += n,
                }
            }
            Ok(counts)
        })
    }
}
