//! The delivery stage: one day's message to every due subscriber, exactly
//! once, with the [`crate::ledger`] as the record of what went out.
//!
//! Its parts, in the order a message meets them:
//! - `plan`: who is due, from the ledger (the real run and the dry run alike);
//! - [`Compose`]: builds each reader's message ([`Outgoing`]): in production
//!   the email renderer's letter in a MIME message ([`message`]: headers,
//!   Message-ID, quoted-printable, DKIM), anything in tests;
//! - `rate`: the rate limit across connections;
//! - `ledger_writer`: commits `sending` before any byte goes out and the
//!   outcome after, in group commits from one writer thread;
//! - [`Transport`]: [`smtp`] (a pool of connections driven step by step) or
//!   the [`outbox`] folder;
//! - `retry`: backoff for transient failures; `bounce`: what a permanent
//!   failure does to the subscriber;
//! - [`report`]: outcomes for the progress display and the run's [`Summary`].
//!
//! Nothing here prints: progress goes to an [`Observer`].

mod bounce;
mod dkim;
mod engine;
mod ledger_writer;
pub mod message;
pub mod outbox;
mod plan;
mod rate;
pub mod report;
mod retry;
pub mod smtp;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::config::{DeliverySettings, UnknownPolicy};
use crate::ledger::{EditionKey, LedgerError};
use crate::model::Subscriber;
use crate::subscribers::SubscriberError;

pub use dkim::DkimSigner;
pub use engine::Sender;
pub use message::{EditionMessages, Mailer, MessageError, DKIM_SIGNED_HEADERS};
pub use outbox::Outbox;
pub use report::{Observer, Outcome, Silent, Summary};
pub use smtp::{SmtpSettings, SmtpTransport};
pub use transport::{DeliverError, Failure, Outgoing, Reply, Step, Transport};

/// Why a message could not be built.
pub type ComposeError = Box<dyn std::error::Error + Send + Sync>;

/// Builds one subscriber's message for the day; `None` when their filter
/// leaves nothing to send.
pub trait Compose: Send + Sync {
    /// The message for `subscriber`, or `None` to skip them.
    ///
    /// # Errors
    /// When rendering fails; the delivery is then recorded as failed.
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Outgoing>, ComposeError>;
}

impl<F> Compose for F
where
    F: Fn(&Subscriber) -> Result<Option<Outgoing>, ComposeError> + Send + Sync,
{
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Outgoing>, ComposeError> {
        self(subscriber)
    }
}

/// Why a run could not happen at all.
#[derive(Debug, Error)]
pub enum SendError {
    /// The ledger could not be opened or locked (another run, a bad file).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The subscriber list could not be read.
    #[error(transparent)]
    Subscribers(#[from] SubscriberError),
    /// An internal invariant broke.
    #[error("internal error: {0}; this is a bug, please report it")]
    Internal(String),
}

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// What the ledger keys this run's rows by: the digest day, or the week
    /// of a weekly edition.
    pub day: EditionKey,
    /// At most this many messages in this run (the rest stay for the next run).
    pub limit: Option<usize>,
    /// Send again to subscribers already sent to for this day.
    pub resend: bool,
    /// Wait for another run of the same day instead of refusing.
    pub wait: bool,
    /// Concurrent SMTP transactions.
    pub concurrency: usize,
    /// Messages per second, if limited.
    pub rate: Option<f64>,
    /// SMTP attempts per message in this run.
    pub max_attempts: u32,
    /// Consecutive hard bounces (over days) that mark a subscriber bounced; 0 never.
    pub bounce_limit: u32,
    /// What to do with deliveries of unknown outcome.
    pub unknown_policy: UnknownPolicy,
    /// Delay before the first retry; doubles each time, with jitter.
    pub backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
    /// On a database: how long this worker's claims last without renewal
    /// (renewed every third of it while the run goes on).
    pub lease: Duration,
}

impl SendOptions {
    /// The built-in defaults for `day`: 4 connections, no rate limit, 5
    /// attempts, 3 bounces, resend unknowns, backoff 2 s to 2 min.
    #[must_use]
    pub fn for_day(day: impl Into<EditionKey>) -> Self {
        Self {
            day: day.into(),
            limit: None,
            resend: false,
            wait: false,
            concurrency: 4,
            rate: None,
            max_attempts: 5,
            bounce_limit: 3,
            unknown_policy: UnknownPolicy::Resend,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_mins(2),
            lease: Duration::from_mins(1),
        }
    }

    /// Which rows a cooperative run that began at `since` (the database's
    /// time) takes besides `pending` ones.
    #[must_use]
    pub fn claim_rule(&self, since: chrono::DateTime<chrono::Utc>) -> crate::ledger::ClaimRule {
        crate::ledger::ClaimRule {
            since,
            unknowns: self.unknown_policy == UnknownPolicy::Resend,
            resend: self.resend,
        }
    }

    /// The delivery settings for `day`, with the default backoff (2 s to 2 min).
    #[must_use]
    pub fn from_config(d: &DeliverySettings, day: impl Into<EditionKey>) -> Self {
        Self {
            concurrency: d.connections,
            rate: d.rate,
            max_attempts: d.max_attempts,
            bounce_limit: d.bounce_limit,
            unknown_policy: d.unknown_policy,
            lease: d.lease,
            ..Self::for_day(day)
        }
    }
}

/// The transport the settings ask for: SMTP when `HOTPAPERS_SMTP_URL` is set,
/// else the outbox folder.
///
/// # Errors
/// On a CA file that cannot be used, naming the setting.
pub fn transport_from_config(
    d: &DeliverySettings,
) -> Result<Arc<dyn Transport>, smtp::SmtpSettingError> {
    match &d.smtp {
        Some(settings) => Ok(Arc::new(SmtpTransport::new(
            settings.clone(),
            d.connections,
        )?)),
        None => Ok(Arc::new(Outbox::new(d.outbox.clone()))),
    }
}
