//! Where the state lives: in files (the default: subscribers in YAML, the
//! ledger in SQLite), or in PostgreSQL when `HOTPAPERS_DATABASE_URL` is set.
//! Commands ask here for their stores and never look at the setting
//! themselves.

use std::sync::Arc;

use crate::config::Config;
use crate::db::{Database, PgStore};
use crate::ledger::Place;
use crate::subscribers::{Store, SubscriberError, SubscriberStore};

/// The subscriber store and the ledger the settings name, sharing one
/// connection pool when they are in the database.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The subscribers.
    pub subscribers: Arc<dyn Store>,
    /// The delivery ledger and returned-mail events.
    pub ledger: Place,
}

impl Stores {
    /// Opens both. With a database, its schema is checked first (an older
    /// or newer one is refused).
    ///
    /// # Errors
    /// When the folder is unusable, or the database cannot be reached or has
    /// another schema version.
    pub fn open(config: &Config) -> Result<Self, SubscriberError> {
        match &config.database {
            Some(settings) => {
                let db = Database::open(settings)?;
                Ok(Self {
                    subscribers: Arc::new(PgStore::new(db.clone())),
                    ledger: Place::Database(db),
                })
            }
            None => Ok(Self {
                subscribers: Arc::new(SubscriberStore::open(&config.subscribers)?),
                ledger: Place::File(config.state.clone()),
            }),
        }
    }
}

/// The subscriber store the settings name (see [`Stores::open`]).
///
/// # Errors
/// As [`Stores::open`].
pub fn subscriber_store(config: &Config) -> Result<Arc<dyn Store>, SubscriberError> {
    Stores::open(config).map(|s| s.subscribers)
}

/// The ledger the settings name (see [`Stores::open`]).
///
/// # Errors
/// As [`Stores::open`].
pub fn ledger_place(config: &Config) -> Result<Place, SubscriberError> {
    match &config.database {
        Some(_) => Stores::open(config).map(|s| s.ledger),
        None => Ok(Place::File(config.state.clone())),
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
