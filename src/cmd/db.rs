//! `hotpapers db migrate | status`: the PostgreSQL schema.

use anyhow::{bail, Context, Result};

use super::Outcome;
use crate::cli::DbCommand;
use crate::config::Config;
use crate::db::{Database, SCHEMA_VERSION};

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
        }
    }
    Ok(Outcome::Done)
}
