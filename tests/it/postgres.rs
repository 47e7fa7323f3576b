//! A fresh PostgreSQL database per test, on the server
//! `HOTPAPERS_TEST_DATABASE_URL` names (`tests/support/postgres.sh test`
//! starts a throwaway one and sets it; `.ci/run` does the same).
//!
//! Without the variable the database tests return early and one line says
//! so, unless `HOTPAPERS_TEST_POSTGRES=require`, which makes them fail.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use hotpapers::db::{Database, DatabaseSettings};

/// A database of its own for one test, with this program's schema.
pub(crate) struct TestDb {
    /// Its connection string (with the password: tests only).
    pub(crate) url: String,
    /// The same, parsed.
    pub(crate) settings: DatabaseSettings,
}

impl TestDb {
    /// An open, migrated connection pool on it.
    pub(crate) fn open(&self) -> Database {
        Database::open(&self.settings).expect("the test database opens")
    }
}

static SKIPPED: Once = Once::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The server's URL, or `None` (said once) when none is set.
pub(crate) fn server_url() -> Option<String> {
    if let Some(url) = std::env::var("HOTPAPERS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    assert!(
        std::env::var("HOTPAPERS_TEST_POSTGRES").as_deref() != Ok("require"),
        "HOTPAPERS_TEST_POSTGRES=require, but HOTPAPERS_TEST_DATABASE_URL is not set"
    );
    // Straight to the process's stderr: libtest captures only the print macros.
    SKIPPED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: the PostgreSQL tests were skipped (no HOTPAPERS_TEST_DATABASE_URL; \
             run them with `bash tests/support/postgres.sh test`)"
        );
    });
    None
}

/// A new, empty, migrated database; `None` when there is no server.
pub(crate) fn database() -> Option<TestDb> {
    let db = empty_database()?;
    db.open_unchecked().migrate().expect("migrations apply");
    Some(db)
}

/// A new database with no schema at all.
pub(crate) fn empty_database() -> Option<TestDb> {
    let server = server_url()?;
    let name = format!(
        "hp_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let admin = Database::connect(&DatabaseSettings::parse(&server).expect("a valid test URL"))
        .expect("the test server answers");
    let create = format!("CREATE DATABASE {name}");
    admin
        .run(move |db| async move {
            let client = db.client().await?;
            client
                .batch_execute(&create)
                .await
                .map_err(|e| hotpapers::db::DbError::Data {
                    target: db.target().to_owned(),
                    message: format!("CREATE DATABASE: {e:?}"),
                })
        })
        .expect("a test database is created");
    let mut url = url::Url::parse(&server).expect("the test URL is a URL");
    url.set_path(&name);
    let url = url.to_string();
    let settings = DatabaseSettings::parse(&url).unwrap();
    Some(TestDb { url, settings })
}

impl TestDb {
    /// A pool that has not looked at the schema.
    pub(crate) fn open_unchecked(&self) -> Database {
        Database::connect(&self.settings).expect("the test database answers")
    }

    /// Runs SQL on it (setting up a case the program itself never makes).
    pub(crate) fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        self.open_unchecked()
            .run(move |db| async move {
                let client = db.client().await?;
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| hotpapers::db::DbError::Data {
                        target: db.target().to_owned(),
                        message: format!("{e:?}"),
                    })
            })
            .expect("the SQL runs");
    }
}
