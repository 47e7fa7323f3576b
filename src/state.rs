//! Where the state lives: in files (the default: subscribers in YAML, the
//! ledger in SQLite), or in PostgreSQL when `HOTPAPERS_DATABASE_URL` is set.
//! Commands ask here for their stores and never look at the setting
//! themselves.

use std::sync::Arc;

use crate::config::Config;
use crate::db::{Database, PgStore};
use crate::subscribers::{Store, SubscriberError, SubscriberStore};

/// The subscriber store the settings name. With a database, its schema is
/// checked first (an older or newer one is refused).
///
/// # Errors
/// When the folder is unusable, or the database cannot be reached or has
/// another schema version.
pub fn subscriber_store(config: &Config) -> Result<Arc<dyn Store>, SubscriberError> {
    match &config.database {
        Some(settings) => Ok(Arc::new(PgStore::new(Database::open(settings)?))),
        None => Ok(Arc::new(SubscriberStore::open(&config.subscribers)?)),
    }
}

/// A short description of where subscribers are kept, for messages.
#[must_use]
pub fn subscribers_place(config: &Config) -> String {
    match &config.database {
        Some(settings) => format!("database {}", settings.target()),
        None => format!("`{}`", config.subscribers.display()),
    }
}
