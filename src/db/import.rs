//! `hotpapers db import-files`: moves a file installation (the subscriber
//! folder and the SQLite ledger, with its returned-mail events) into an
//! empty database in one transaction, then counts both sides.
//!
//! One transaction: an import that is killed or fails leaves the database
//! as empty as it was, and running it again starts over. Consent histories
//! travel inside the subscriber records; confirmation links are signed
//! tokens checked against those records, so there is nothing else to move.

use std::path::Path;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use super::{Database, DbError};
use crate::ledger::{Delivery, Event, FileLedger, LedgerError};
use crate::model::Subscriber;

/// What was moved, counted in the files and then in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Subscriber records (every status).
    pub subscribers: u64,
    /// Delivery rows of the ledger.
    pub deliveries: u64,
    /// Returned-mail events.
    pub events: u64,
}

/// Why the installation was not moved.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The database already holds a list or a ledger.
    #[error("the database already holds {subscribers} subscriber(s) and {deliveries} delivery row(s); `db import-files` moves an installation into an empty database")]
    NotEmpty {
        /// Subscribers there.
        subscribers: u64,
        /// Ledger rows there.
        deliveries: u64,
    },
    /// The counts differ after the move (a bug to report).
    #[error("after the move the database holds {found:?}, the files {expected:?} (a bug to report; the database was left as it is)")]
    Mismatch {
        /// Counted in the files.
        expected: Moved,
        /// Counted in the database.
        found: Moved,
    },
    /// The ledger file could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl Database {
    /// Moves `subscribers` and the ledger at `ledger_file` (if it exists) in.
    ///
    /// # Errors
    /// [`ImportError::NotEmpty`], a read or database error, or a count that
    /// does not match.
    pub fn import_files(
        &self,
        subscribers: Vec<Subscriber>,
        ledger_file: &Path,
    ) -> Result<Moved, ImportError> {
        let (deliveries, events) = if ledger_file.exists() {
            let ledger = FileLedger::open(ledger_file)?;
            (ledger.all_deliveries()?, ledger.all_events()?)
        } else {
            (Vec::new(), Vec::new())
        };
        let expected = Moved {
            subscribers: subscribers.len() as u64,
            deliveries: deliveries.len() as u64,
            events: events.len() as u64,
        };
        let before = self.counts()?;
        if before.subscribers > 0 || before.deliveries > 0 {
            return Err(ImportError::NotEmpty {
                subscribers: before.subscribers,
                deliveries: before.deliveries,
            });
        }
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(db.query_error("begin the move"))?;
            super::subscribers::add_new(&db, &tx, &subscribers).await?;
            copy_deliveries(&db, &tx, &deliveries).await?;
            copy_events(&db, &tx, &events).await?;
            tx.commit().await.map_err(db.query_error("commit the move"))
        })?;
        let found = self.counts()?;
        if found == expected {
            Ok(found)
        } else {
            Err(ImportError::Mismatch { expected, found })
        }
    }

    /// Rows in each table.
    pub(crate) fn counts(&self) -> Result<Moved, DbError> {
        self.run(|db| async move {
            let client = db.client().await?;
            let row = client
                .query_one(
                    "SELECT (SELECT count(*) FROM subscribers), (SELECT count(*) FROM deliveries),
                            (SELECT count(*) FROM events)",
                    &[],
                )
                .await
                .map_err(db.query_error("count the rows"))?;
            let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok(Moved {
                subscribers: n(0),
                deliveries: n(1),
                events: n(2),
            })
        })
    }
}

async fn copy_deliveries(
    db: &Database,
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[(Delivery, bool)],
) -> Result<(), DbError> {
    let sink = tx
        .copy_in(
            "COPY deliveries (day, email, state, attempts, unknowns, last_reply, message_id,
                created_at, updated_at, sent_at, hard) FROM STDIN BINARY",
        )
        .await
        .map_err(db.query_error("start copying the ledger"))?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::INT4,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::BOOL,
        ],
    );
    futures_util::pin_mut!(writer);
    for (d, hard) in rows {
        let attempts = i32::try_from(d.attempts).unwrap_or(i32::MAX);
        let unknowns = i32::try_from(d.unknowns).unwrap_or(i32::MAX);
        writer
            .as_mut()
            .write(&[
                &d.day.text(),
                &d.email,
                &d.state.as_str(),
                &attempts,
                &unknowns,
                &d.last_reply,
                &d.message_id,
                &d.created_at,
                &d.updated_at,
                &d.sent_at,
                hard,
            ])
            .await
            .map_err(db.query_error("copy a ledger row"))?;
    }
    writer
        .finish()
        .await
        .map_err(db.query_error("finish copying the ledger"))?;
    Ok(())
}

async fn copy_events(
    db: &Database,
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[Event],
) -> Result<(), DbError> {
    let sink = tx
        .copy_in(
            "COPY events (source, recipient, email, day, kind, reason, status, reply_code,
                hard, diagnostic, domain, received_at) FROM STDIN BINARY",
        )
        .await
        .map_err(db.query_error("start copying the events"))?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::DATE,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::BOOL,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
        ],
    );
    futures_util::pin_mut!(writer);
    for e in rows {
        let code = e.reply_code.map(i32::from);
        writer
            .as_mut()
            .write(&[
                &e.source,
                &e.recipient,
                &e.email,
                &e.day,
                &e.kind,
                &e.reason,
                &e.status,
                &code,
                &e.hard,
                &e.diagnostic,
                &e.domain,
                &e.received_at,
            ])
            .await
            .map_err(db.query_error("copy an event"))?;
    }
    writer
        .finish()
        .await
        .map_err(db.query_error("finish copying the events"))?;
    Ok(())
}
