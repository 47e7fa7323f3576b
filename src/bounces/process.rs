//! Acting on what comes back: each returned message is classified, each of
//! its recipients attributed to a reader — by the VERP token of the address
//! it came back to, the mailto unsubscribe token, else by its content (the
//! failed recipient, the returned message's Message-ID, the complaint's
//! original recipient) — recorded as an event in the ledger, and acted on
//! through the subscriber store:
//!
//! - a hard bounce marks the reader bounced (after `bounce_limit` of them, 1 by default);
//! - soft bounces add to a score, at most one count per day, 0.5 each, that
//!   goes stale after [`SOFT_STALE_DAYS`] days without one (Mailman's rule);
//!   past the soft limit the reader is marked bounced;
//! - a policy or authentication rejection is the sender's problem: recorded
//!   and counted per receiving domain, never held against the reader;
//! - a complaint or a mail to the mailto unsubscribe address unsubscribes at once;
//! - auto-replies, delay and success notices are recorded and change nothing.
//!
//! Every change is idempotent (the store's statuses, the ledger's events
//! keyed by report and recipient), so a report processed twice — after a
//! crash between acting and moving it — changes nothing more.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest as _, Sha256};

use super::{classify, Kind, Reason, Report};
use crate::delivery::Mailer;
use crate::ledger::{Event, Ledger, LedgerError};
use crate::model::{Channel, EmailAddress, SubscriberStatus};
use crate::subscribers::{StatusChange, Store, SubscriberError};
use crate::token::Signer;

/// Days without a soft bounce after which a reader's soft score starts over.
pub const SOFT_STALE_DAYS: i64 = 7;
/// What one day with soft bounces adds to the score.
pub const SOFT_STEP: f64 = 0.5;

/// Why a report could not be processed (nothing was lost: process it again).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The ledger could not be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The subscriber store could not be read or written.
    #[error(transparent)]
    Store(#[from] SubscriberError),
}

/// The limits that turn bounces into a `bounced` reader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Hard bounces (distinct reports) that mark a reader bounced; 0: never.
    pub hard: u32,
    /// Soft score at which a reader is marked bounced; 0: never.
    pub soft: f64,
}

/// What was done about one recipient of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Marked bounced now.
    Bounced(String),
    /// A soft bounce: the reader's score now.
    SoftScore(String, f64),
    /// Unsubscribed now (a complaint, a mailto unsubscribe).
    Unsubscribed(String),
    /// Recorded; nothing to change (already so, a policy rejection, an auto-reply…).
    Recorded(Option<String>),
    /// Nobody on the list could be named.
    Unattributed,
}

/// What processing one message did.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The classifier's verdict.
    pub report: Report,
    /// One per recipient (or one for the message).
    pub actions: Vec<Action>,
    /// Events recorded for the first time (0 when the report was seen before).
    pub new_events: usize,
}

/// Processes returned mail for one installation.
pub struct Processor<'a> {
    ledger: &'a Ledger,
    store: &'a dyn Store,
    mailer: &'a Mailer,
    signer: Signer,
    bounce_base: Option<EmailAddress>,
    mailto_base: EmailAddress,
    limits: Limits,
}

impl std::fmt::Debug for Processor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The name serde gives a kind or a reason (`bounce`, `user_unknown`): the
/// one `bounces classify --json` prints, kept in the ledger.
fn name_of(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "other".to_owned(),
    }
}

fn parse_reason(name: &str) -> Option<Reason> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// A failure the sender or the message caused (spam policy, SPF/DKIM/DMARC,
/// rate limits, size): counted per domain, never against the reader.
fn is_senders_problem(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::Policy | Reason::AuthFailure | Reason::RateLimited | Reason::MessageTooBig
    )
}

/// The parts of an address, lowercased: `(local, domain)`.
fn split(address: &str) -> Option<(String, String)> {
    let a = address.trim().trim_matches(['<', '>']).to_lowercase();
    let (l, d) = a.rsplit_once('@')?;
    Some((l.to_owned(), d.to_owned()))
}

/// The token of `address` if it is `base`'s `local+TOKEN@domain`.
fn token_for(address: &str, base: &EmailAddress) -> Option<String> {
    let (local, domain) = split(address)?;
    let (base_local, base_domain) = split(base.as_str())?;
    let base_local = base_local
        .split_once('+')
        .map_or(base_local.as_str(), |(b, _)| b)
        .to_owned();
    if domain != base_domain {
        return None;
    }
    local
        .strip_prefix(&format!("{base_local}+"))
        .map(str::to_owned)
}

impl<'a> Processor<'a> {
    /// A processor over the ledger and store, with the sender's settings (for
    /// tokens and Message-IDs) and the bounce limits.
    #[must_use]
    pub fn new(
        ledger: &'a Ledger,
        store: &'a dyn Store,
        mailer: &'a Mailer,
        secret: &[u8],
        bounce_base: Option<EmailAddress>,
        mailto_base: EmailAddress,
        limits: Limits,
    ) -> Self {
        Self {
            ledger,
            store,
            mailer,
            signer: Signer::new(secret),
            bounce_base,
            mailto_base,
            limits,
        }
    }

    /// Classifies `raw` and acts on it at `now`.
    ///
    /// # Errors
    /// When the ledger or the store fails; nothing is half-done that a
    /// second run would not finish.
    pub fn process(&self, raw: &[u8], now: DateTime<Utc>) -> Result<Processed, ProcessError> {
        let report = classify(raw);
        let source = report
            .message_id
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(raw))));
        self.process_report(report, &source, now)
    }

    /// Acts on a report that did not come as a message (a provider's
    /// webhook), keyed by `source` (the provider's id of the notification),
    /// so that a notification delivered twice records nothing new.
    ///
    /// # Errors
    /// As [`Processor::process`].
    pub fn process_report(
        &self,
        report: Report,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Processed, ProcessError> {
        let source = source.to_owned();
        let received_at = report.received_at.unwrap_or(now);
        let (token_day, token_email) = self.attribute_by_token(&report)?;
        let mut actions = Vec::new();
        let mut new_events = 0;
        let recipients: Vec<_> = if report.recipients.is_empty() {
            vec![None]
        } else {
            report.recipients.iter().map(Some).collect()
        };
        for r in recipients {
            let named = r.and_then(|r| r.address.clone());
            let email = match &token_email {
                Some(e) => Some(e.clone()),
                None => self.attribute_by_content(&report, named.as_deref())?,
            };
            let day = token_day.or_else(|| Self::day_of_original(&report));
            let reason = r.map(|r| r.reason);
            let hard = r.is_some_and(|r| r.hard) && report.kind == Kind::Bounce;
            let event = Event {
                source: source.clone(),
                recipient: named.clone().or_else(|| email.clone()).unwrap_or_default(),
                email: email.clone(),
                day,
                kind: name_of(report.kind),
                reason: reason.map(name_of),
                status: r.and_then(|r| r.status.clone()),
                reply_code: r.and_then(|r| r.reply_code),
                hard,
                diagnostic: r.and_then(|r| r.diagnostic.clone()),
                domain: named
                    .as_deref()
                    .or(email.as_deref())
                    .and_then(split)
                    .map(|(_, d)| d),
                received_at,
            };
            if self.ledger.record_event(&event)? {
                new_events += 1;
            }
            let Some(email) = email else {
                actions.push(Action::Unattributed);
                continue;
            };
            actions.push(self.act(&report, reason, hard, &email, now)?);
        }
        Ok(Processed {
            report,
            actions,
            new_events,
        })
    }

    fn act(
        &self,
        report: &Report,
        reason: Option<Reason>,
        hard: bool,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Action, ProcessError> {
        match report.kind {
            Kind::Complaint | Kind::Unsubscribe => {
                let via = if report.kind == Kind::Complaint {
                    Channel::Complaint
                } else {
                    Channel::Mailto
                };
                match self
                    .store
                    .set_status(email, SubscriberStatus::Unsubscribed, via, now)?
                {
                    StatusChange::Changed => Ok(Action::Unsubscribed(email.to_owned())),
                    _ => Ok(Action::Recorded(Some(email.to_owned()))),
                }
            }
            Kind::Bounce if hard => {
                let hard_reports = self
                    .ledger
                    .events_of(email)?
                    .iter()
                    .filter(|e| e.kind == "bounce" && e.hard)
                    .map(|e| e.source.clone())
                    .collect::<BTreeSet<_>>()
                    .len();
                if self.limits.hard > 0
                    && hard_reports >= usize::try_from(self.limits.hard).unwrap_or(usize::MAX)
                {
                    return self.mark_bounced(email, now);
                }
                Ok(Action::Recorded(Some(email.to_owned())))
            }
            Kind::Bounce if reason.is_some_and(|r| !is_senders_problem(r)) => {
                let score = self.soft_score(email)?;
                if self.limits.soft > 0.0 && score >= self.limits.soft {
                    return self.mark_bounced(email, now);
                }
                Ok(Action::SoftScore(email.to_owned(), score))
            }
            _ => Ok(Action::Recorded(Some(email.to_owned()))),
        }
    }

    fn mark_bounced(&self, email: &str, now: DateTime<Utc>) -> Result<Action, ProcessError> {
        Ok(
            match self
                .store
                .set_status(email, SubscriberStatus::Bounced, Channel::Bounce, now)?
            {
                StatusChange::Changed => Action::Bounced(email.to_owned()),
                _ => Action::Recorded(Some(email.to_owned())),
            },
        )
    }

    /// [`SOFT_STEP`] per distinct day with a soft bounce (not the sender's
    /// problem), counting back from the latest until a gap of more than
    /// [`SOFT_STALE_DAYS`] days.
    fn soft_score(&self, email: &str) -> Result<f64, ProcessError> {
        let days: BTreeSet<NaiveDate> = self
            .ledger
            .events_of(email)?
            .iter()
            .filter(|e| e.kind == "bounce" && !e.hard)
            .filter(|e| {
                e.reason
                    .as_deref()
                    .and_then(parse_reason)
                    .is_some_and(|r| !is_senders_problem(r))
            })
            .map(|e| e.received_at.date_naive())
            .collect();
        let mut count = 0u32;
        let mut previous: Option<NaiveDate> = None;
        for day in days.iter().rev() {
            if previous.is_some_and(|p| (p - *day).num_days() > SOFT_STALE_DAYS) {
                break;
            }
            count += 1;
            previous = Some(*day);
        }
        Ok(f64::from(count) * SOFT_STEP)
    }

    /// The day and reader named by a VERP or mailto token in the addresses
    /// the report was delivered to. A forged or mangled token is logged and
    /// ignored (the content may still name the reader).
    fn attribute_by_token(
        &self,
        report: &Report,
    ) -> Result<(Option<NaiveDate>, Option<String>), ProcessError> {
        for to in &report.to {
            if let Some(base) = &self.bounce_base {
                if let Some(token) = token_for(to, base) {
                    match self.signer.verify_bounce_token(&token) {
                        Ok(claim) => {
                            let email = self
                                .ledger
                                .day(claim.day)?
                                .into_iter()
                                .map(|d| d.email)
                                .find(|e| self.signer.address_id(e) == claim.address_id);
                            if email.is_some() {
                                return Ok((Some(claim.day), email));
                            }
                            tracing::warn!(
                                "a bounce token names a reader nobody was sent to on {}",
                                claim.day
                            );
                            return Ok((Some(claim.day), None));
                        }
                        Err(e) => tracing::warn!("ignored a bounce address whose token is {e}"),
                    }
                }
            }
            if let Some(token) = token_for(to, &self.mailto_base) {
                match self.signer.verify_mailto_token(&token) {
                    Ok(id) => {
                        let list = self.store.load()?;
                        let email = list
                            .iter()
                            .map(|s| s.email.trim().to_lowercase())
                            .find(|e| self.signer.address_id(e) == id);
                        if email.is_none() {
                            tracing::warn!("a mailto unsubscribe token names nobody on the list");
                        }
                        return Ok((None, email));
                    }
                    Err(e) => tracing::warn!("ignored an unsubscribe address whose token is {e}"),
                }
            }
        }
        Ok((None, None))
    }

    /// A reader named by the report's content: the failed recipient, the
    /// complaint's original recipient, or the returned message's Message-ID.
    fn attribute_by_content(
        &self,
        report: &Report,
        named: Option<&str>,
    ) -> Result<Option<String>, ProcessError> {
        let list = self.store.load()?;
        let candidates = named
            .into_iter()
            .map(str::to_owned)
            .chain(report.original_headers.original_rcpt_to.iter().cloned())
            .chain(report.original_headers.to.iter().cloned());
        for c in candidates {
            if let Some(s) = list.get(c.trim().trim_matches(['<', '>'])) {
                return Ok(Some(s.email.trim().to_lowercase()));
            }
        }
        if let (Some(id), Some(day)) = (&report.original_message_id, Self::day_of_original(report))
        {
            let wanted = format!("<{}>", id.trim().trim_matches(['<', '>']));
            for d in self.ledger.day(day)? {
                if self.mailer.message_id(day, &d.email) == wanted {
                    return Ok(Some(d.email));
                }
            }
        }
        Ok(None)
    }

    /// The digest day from the returned message's Message-ID
    /// (`<YYYY-MM-DD.HASH@domain>`, as this program writes them).
    fn day_of_original(report: &Report) -> Option<NaiveDate> {
        let id = report.original_message_id.as_deref()?;
        let id = id.trim().trim_start_matches('<');
        NaiveDate::parse_from_str(id.get(..10)?, "%Y-%m-%d").ok()
    }
}
