//! The list's rules, in one place, behind the interface every store offers.
//!
//! What may happen to a reader — a confirmed sign-up (double opt-in), an
//! operator's `add` (which also reactivates), an unsubscribe or a bounce, an
//! import that never resubscribes anyone — is decided here, once, as changes
//! to a [`SubscriberList`]. The HTTP handlers, the CLI and the sender only say
//! which change they want. [`Store`] is the interface: the YAML files
//! ([`super::SubscriberStore`]) implement it today by applying these rules
//! under their lock; a database store implements the same operations.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{SubscriberError, SubscriberList};
use crate::model::{Cadence, Category, EmailAddress, Subscriber, SubscriberStatus, Weekday};

/// A sign-up the reader confirmed by following their link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The address the link was sent to.
    pub email: EmailAddress,
    /// The categories asked for on the form (empty: every paper).
    pub categories: BTreeSet<Category>,
    /// When the link was issued: an unsubscribe or bounce after it wins.
    pub issued: DateTime<Utc>,
}

/// What a confirmation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The reader is on the list now (new, or back after leaving).
    Added,
    /// They already were.
    AlreadyActive,
    /// The link predates a later unsubscribe or bounce: nothing changed.
    Stale,
}

/// An operator's `subscribers add`: adds, or updates and reactivates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    /// The address.
    pub email: EmailAddress,
    /// A display name, when given.
    pub name: Option<String>,
    /// Categories, when given (empty: leave as they are).
    pub categories: BTreeSet<Category>,
    /// Most papers per email, when given.
    pub max_papers: Option<usize>,
    /// Fewest retweets for a paper, when given.
    pub min_retweets: Option<u64>,
    /// Daily or weekly, when given.
    pub cadence: Option<Cadence>,
    /// A weekly reader's day, when given.
    pub weekday: Option<Weekday>,
    /// Author alerts, when given (empty: leave as they are).
    pub authors: Vec<String>,
    /// Keyword alerts, when given (empty: leave as they are).
    pub keywords: Vec<String>,
}

/// A reader's own choices, as the preferences page sets them: every field
/// is replaced (an empty list or `None` clears it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    /// Daily or weekly.
    pub cadence: Cadence,
    /// A weekly reader's day (`None`: the default, Friday).
    pub weekday: Option<Weekday>,
    /// Categories (empty: every paper).
    pub categories: BTreeSet<Category>,
    /// Most papers per email (`None`: the edition's default).
    pub max_papers: Option<usize>,
    /// Fewest retweets for a paper (`None`: no floor).
    pub min_retweets: Option<u64>,
    /// Author alerts.
    pub authors: Vec<String>,
    /// Keyword alerts.
    pub keywords: Vec<String>,
}

impl Preferences {
    /// The choices a record holds now.
    #[must_use]
    pub fn of(s: &Subscriber) -> Self {
        Self {
            cadence: s.cadence,
            weekday: s.weekday,
            categories: s.categories.clone(),
            max_papers: s.max_papers,
            min_retweets: s.min_retweets,
            authors: s.authors.clone(),
            keywords: s.keywords.clone(),
        }
    }
}

/// What an `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new record.
    New,
    /// An existing record updated (and made active again if it was not).
    Updated,
}

/// What a status change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// No such reader.
    NotFound,
    /// The reader already had that status.
    Unchanged,
    /// Changed now.
    Changed,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// New readers added.
    pub added: usize,
    /// Addresses already present (active, unsubscribed or bounced), left as they are.
    pub kept: usize,
}

/// The operations of a subscriber store. Each change is atomic: it happens
/// wholly or not at all, and concurrent changes from other processes are
/// never lost.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// A validated snapshot of every record.
    ///
    /// # Errors
    /// When the store cannot be read or holds invalid records.
    fn load(&self) -> Result<SubscriberList, SubscriberError>;

    /// Takes in a confirmed sign-up.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn confirm(&self, c: &Confirmation, now: DateTime<Utc>) -> Result<Confirmed, SubscriberError>;

    /// Adds or updates a reader on the operator's word, reactivating them.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn add(&self, r: &AddRequest, now: DateTime<Utc>) -> Result<Added, SubscriberError>;

    /// Sets a reader's status (unsubscribed, bounced, active).
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn set_status(
        &self,
        email: &str,
        status: SubscriberStatus,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError>;

    /// Replaces a reader's choices (the preferences page); their status,
    /// name and dates are left as they are.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn set_preferences(
        &self,
        email: &str,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, SubscriberError>;

    /// Adds the readers not yet present; never touches an existing record,
    /// so an unsubscribed or bounced address stays suppressed.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn import(
        &self,
        records: Vec<Subscriber>,
        now: DateTime<Utc>,
    ) -> Result<Imported, SubscriberError>;
}

/// The rules, as changes to a snapshot (a store applies them atomically).
pub(super) mod rules {
    use super::{
        AddRequest, Added, Confirmation, Confirmed, DateTime, Imported, Preferences, StatusChange,
        Subscriber, SubscriberList, SubscriberStatus, Utc,
    };

    pub(in crate::subscribers) fn confirm(
        list: &mut SubscriberList,
        c: &Confirmation,
        now: DateTime<Utc>,
    ) -> Confirmed {
        let existing = list.get(c.email.as_str()).cloned();
        if let Some(s) = &existing {
            if s.is_active() {
                return Confirmed::AlreadyActive;
            }
            if s.status_changed_at.is_some_and(|t| t >= c.issued) {
                return Confirmed::Stale;
            }
        }
        let mut record = existing.unwrap_or_else(|| Subscriber::new(c.email.as_str()));
        let reactivated = record.status != SubscriberStatus::Active;
        record.categories.clone_from(&c.categories);
        record.status = SubscriberStatus::Active;
        record.subscribed_at = Some(now);
        if reactivated {
            record.status_changed_at = Some(now);
        }
        list.upsert(record);
        Confirmed::Added
    }

    pub(in crate::subscribers) fn add(
        list: &mut SubscriberList,
        r: &AddRequest,
        now: DateTime<Utc>,
    ) -> Added {
        let (mut s, added) = match list.get(r.email.as_str()) {
            Some(existing) => (existing.clone(), Added::Updated),
            None => {
                let mut s = Subscriber::new(r.email.as_str());
                s.subscribed_at = Some(now);
                (s, Added::New)
            }
        };
        if s.status != SubscriberStatus::Active {
            s.status = SubscriberStatus::Active;
            s.status_changed_at = Some(now);
        }
        if r.name.is_some() {
            s.name.clone_from(&r.name);
        }
        if !r.categories.is_empty() {
            s.categories.clone_from(&r.categories);
        }
        if let Some(m) = r.max_papers {
            s.max_papers = Some(m);
        }
        if r.min_retweets.is_some() {
            s.min_retweets = r.min_retweets;
        }
        if let Some(c) = r.cadence {
            s.cadence = c;
        }
        if r.weekday.is_some() {
            s.weekday = r.weekday;
        }
        if !r.authors.is_empty() {
            s.authors.clone_from(&r.authors);
        }
        if !r.keywords.is_empty() {
            s.keywords.clone_from(&r.keywords);
        }
        list.upsert(s);
        added
    }

    pub(in crate::subscribers) fn set_status(
        list: &mut SubscriberList,
        email: &str,
        status: SubscriberStatus,
        now: DateTime<Utc>,
    ) -> StatusChange {
        if list.get(email).is_none() {
            StatusChange::NotFound
        } else if list.set_status(email, status, now) {
            StatusChange::Changed
        } else {
            StatusChange::Unchanged
        }
    }

    pub(in crate::subscribers) fn set_preferences(
        list: &mut SubscriberList,
        email: &str,
        p: &Preferences,
        _now: DateTime<Utc>,
    ) -> StatusChange {
        let Some(existing) = list.get(email) else {
            return StatusChange::NotFound;
        };
        if Preferences::of(existing) == *p {
            return StatusChange::Unchanged;
        }
        let mut s = existing.clone();
        s.cadence = p.cadence;
        s.weekday = p.weekday;
        s.categories.clone_from(&p.categories);
        s.max_papers = p.max_papers;
        s.min_retweets = p.min_retweets;
        s.authors.clone_from(&p.authors);
        s.keywords.clone_from(&p.keywords);
        list.upsert(s);
        StatusChange::Changed
    }

    pub(in crate::subscribers) fn import(
        list: &mut SubscriberList,
        records: Vec<Subscriber>,
        now: DateTime<Utc>,
    ) -> Imported {
        let mut done = Imported::default();
        for mut s in records {
            if list.get(&s.email).is_some() {
                done.kept += 1;
            } else {
                s.subscribed_at.get_or_insert(now);
                list.upsert(s);
                done.added += 1;
            }
        }
        done
    }
}
