//! Versioned migrations: `hotpapers db migrate` applies the ones a database
//! lacks, in order, each in the transaction that records it; every other
//! command only checks the version and refuses a database older or newer
//! than itself.

use super::{Database, DbError};

/// The migrations, oldest first; a migration, once released, never changes.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "subscribers",
        include_str!("../../migrations/0001_subscribers.sql"),
    ),
    (
        2,
        "ledger",
        include_str!("../../migrations/0002_ledger.sql"),
    ),
    (
        3,
        "claims",
        include_str!("../../migrations/0003_claims.sql"),
    ),
];

/// The schema version this program reads and writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Any fixed number: migrators of every process take this advisory lock, so
/// two `db migrate` runs never apply the same step twice.
const MIGRATION_LOCK: i64 = 0x686f_7470_6170_6572; // "hotpaper"

/// What `db migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The version before.
    pub from: i32,
    /// The version now.
    pub to: i32,
    /// The names of the migrations applied, in order.
    pub applied: Vec<&'static str>,
}

impl Database {
    /// The schema version of the database (0: none yet).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn schema_version(&self) -> Result<i32, DbError> {
        self.run(|db| async move {
            let client = db.client().await?;
            version(&db, &client).await
        })
    }

    /// Refuses a schema that is not this program's.
    ///
    /// # Errors
    /// [`DbError::NotMigrated`] or [`DbError::TooNew`].
    pub fn check_schema(&self) -> Result<(), DbError> {
        let found = self.schema_version()?;
        self.compare(found)
    }

    fn compare(&self, found: i32) -> Result<(), DbError> {
        match found.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(DbError::NotMigrated {
                target: self.target().to_owned(),
                found,
                needed: SCHEMA_VERSION,
            }),
            std::cmp::Ordering::Greater => Err(DbError::TooNew {
                target: self.target().to_owned(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// Applies every migration the database lacks, each in its own
    /// transaction with its version row (a failed step leaves the last good
    /// version); refuses a database newer than this program.
    ///
    /// # Errors
    /// [`DbError::TooNew`], or the failing statement.
    pub fn migrate(&self) -> Result<Migrated, DbError> {
        self.run(|db| async move {
            let mut client = db.client().await?;
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS hotpapers_schema (
                        version    integer     PRIMARY KEY,
                        name       text        NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )",
                )
                .await
                .or_else(|e| {
                    // Two first migrations at once: the other made it.
                    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                        Ok(())
                    } else {
                        Err(db.query_error("create the schema table")(e))
                    }
                })?;
            let from = version(&db, &client).await?;
            if from > SCHEMA_VERSION {
                db.compare(from)?;
            }
            let mut applied = Vec::new();
            let mut to = from;
            for &(number, name, sql) in MIGRATIONS {
                let tx = client
                    .transaction()
                    .await
                    .map_err(db.query_error("begin a migration"))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await
                    .map_err(db.query_error("lock the schema"))?;
                let current = version(&db, &tx).await?;
                if number <= current {
                    to = current;
                    continue;
                }
                tx.batch_execute(sql)
                    .await
                    .map_err(db.query_error("apply a migration"))?;
                tx.execute(
                    "INSERT INTO hotpapers_schema (version, name) VALUES ($1, $2)",
                    &[&number, &name],
                )
                .await
                .map_err(db.query_error("record a migration"))?;
                tx.commit()
                    .await
                    .map_err(db.query_error("commit a migration"))?;
                applied.push(name);
                to = number;
            }
            Ok(Migrated { from, to, applied })
        })
    }
}

async fn version(
    db: &Database,
    client: &impl deadpool_postgres::GenericClient,
) -> Result<i32, DbError> {
    match client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM hotpapers_schema",
            &[],
        )
        .await
    {
        Ok(row) => Ok(row.get(0)),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(0),
        Err(e) => Err(db.query_error("read the schema version")(e)),
    }
}
