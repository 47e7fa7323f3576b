//! `hotpapers db migrate | status`: the PostgreSQL schema.

use anyhow::{bail, Context, Result};

use super::Outcome;
use crate::cli::DbCommand;
use crate::config::Config;
use crate::db::{Database, SCHEMA_VERSION};
use crate::subscribers::SubscriberStore;

pub(super) fn run(config: &Config, cmd: &DbCommand) -> Result<Outcome> {
    let Some(settings) = &config.database else {
        bail!(
            "no database is set: `hotpapers db` needs HOTPAPERS_DATABASE_URL \
             (postgres://USER:PASSWORD@HOST/DATABASE); without it the state stays in files"
        );
    };
    let db = Database::connect(settings)?;
    match cmd {
        DbCommand::Migrate => {
            let done = db.migrate()?;
            if done.applied.is_empty() {
                println!(
                    "database {}: schema version {}, nothing to do",
                    db.target(),
                    done.to
                );
            } else {
                println!(
                    "database {}: schema version {} → {} ({})",
                    db.target(),
                    done.from,
                    done.to,
                    done.applied.join(", ")
                );
            }
        }
        DbCommand::ImportFiles => {
            db.check_schema()?;
            let list = SubscriberStore::open(&config.subscribers)?
                .load()
                .with_context(|| {
                    format!(
                        "could not read the subscribers in `{}`",
                        config.subscribers.display()
                    )
                })?;
            let moved = db.import_files(list.into_records().collect(), &config.state)?;
            println!(
                "moved into database {}: {} subscriber(s) from `{}`, {} delivery row(s) and {} event(s) from `{}`; counts checked",
                db.target(),
                moved.subscribers,
                config.subscribers.display(),
                moved.deliveries,
                moved.events,
                config.state.display()
            );
        }
        DbCommand::Status => {
            let version = db.schema_version()?;
            println!(
                "database {}: schema version {version} (this program's: {SCHEMA_VERSION})",
                db.target()
            );
            db.check_schema()?;
            let counts = db
                .subscriber_counts()
                .context("could not count the subscribers")?;
            println!(
                "subscribers: {} active, {} unsubscribed, {} bounced",
                counts.active, counts.unsubscribed, counts.bounced
            );
            let rows = db.counts()?;
            println!(
                "ledger: {} delivery row(s), {} event(s)",
                rows.deliveries, rows.events
            );
        }
    }
    Ok(Outcome::Done)
}
