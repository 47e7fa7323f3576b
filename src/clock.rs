//! The only place that reads the current time or draws a random number.
//! Everything else takes a [`Clock`] so that feeds, `Date:` headers, ledger
//! rows and retry delays are reproducible in tests with [`FixedClock`].

use std::time::Instant;

use chrono::{DateTime, Utc};

/// A source of the current time and of randomness.
pub trait Clock: Send + Sync {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// A monotonic instant, for measuring how long something took.
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the time
    fn instant(&self) -> Instant {
        Instant::now()
    }

    /// A number drawn uniformly from [0, 1), for retry jitter.
    fn random(&self) -> f64 {
        #[allow(clippy::disallowed_methods)] // the one sanctioned source of randomness
        rand::random::<f64>()
    }
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the time
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same instant, and whose "random" draws are
/// always one half (retry delays are then exactly 3/4 of the backoff).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }

    fn random(&self) -> f64 {
        0.5
    }
}
