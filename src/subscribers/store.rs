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
use crate::model::{
    Cadence, Category, Channel, Consent, EmailAddress, EventKind, SignUp, Subscriber,
    SubscriberStatus, Weekday,
};

/// A sign-up the reader confirmed by following their link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The address the link was sent to.
    pub email: EmailAddress,
    /// The categories asked for on the form (empty: every paper).
    pub categories: BTreeSet<Category>,
    /// When the link was issued: an unsubscribe or bounce after it wins.
    pub issued: DateTime<Utc>,
    /// The form version and client the sign-up came from, if known.
    pub signup: Option<SignUp>,
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

    /// Sets a reader's status (unsubscribed, bounced, active), recording
    /// the change and its channel in the consent history.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn set_status(
        &self,
        email: &str,
        status: SubscriberStatus,
        via: Channel,
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

    /// How many records a large import hands to [`Store::import`] at a time:
    /// all at once for files (each call rewrites them), in bounded chunks
    /// for a database (each chunk its own transaction, so memory stays flat
    /// and a killed import resumes: what it added is kept, not added twice).
    fn import_chunk(&self) -> usize {
        usize::MAX
    }
}

/// The rules, as changes to a snapshot (a store applies them atomically).
pub(crate) mod rules {
    use super::{
        AddRequest, Added, Channel, Confirmation, Confirmed, Consent, DateTime, EventKind,
        Imported, Preferences, StatusChange, Subscriber, SubscriberList, SubscriberStatus, Utc,
    };

    /// The names of the choices that differ between two versions of a record,
    /// for the consent history; `None` when none does.
    fn changed_fields(before: &Subscriber, after: &Subscriber) -> Option<String> {
        let mut names = Vec::new();
        if before.name != after.name {
            names.push("name");
        }
        if before.cadence != after.cadence {
            names.push("cadence");
        }
        if before.weekday != after.weekday {
            names.push("weekday");
        }
        if before.categories != after.categories {
            names.push("categories");
        }
        if before.max_papers != after.max_papers {
            names.push("max_papers");
        }
        if before.min_retweets != after.min_retweets {
            names.push("min_retweets");
        }
        if before.authors != after.authors {
            names.push("authors");
        }
        if before.keywords != after.keywords {
            names.push("keywords");
        }
        (!names.is_empty()).then(|| names.join(", "))
    }

    pub(crate) fn confirm(
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
        let signup = c.signup.clone().unwrap_or_default();
        let consent = record.consent.get_or_insert_with(Consent::default);
        consent.asked_at = Some(c.issued);
        consent.confirmed_at = Some(now);
        consent.source = Some(Channel::Form);
        consent.form_version = signup.form_version;
        consent.client_network = signup.client_network;
        consent.user_agent = signup.user_agent;
        record.record_event(now, EventKind::Subscribed, Channel::Form, None);
        list.upsert(record);
        Confirmed::Added
    }

    pub(crate) fn add(list: &mut SubscriberList, r: &AddRequest, now: DateTime<Utc>) -> Added {
        let (mut s, added) = match list.get(r.email.as_str()) {
            Some(existing) => (existing.clone(), Added::Updated),
            None => {
                let mut s = Subscriber::new(r.email.as_str());
                s.subscribed_at = Some(now);
                s.consent = Some(Consent {
                    confirmed_at: Some(now),
                    source: Some(Channel::Cli),
                    ..Consent::default()
                });
                s.record_event(now, EventKind::Subscribed, Channel::Cli, None);
                (s, Added::New)
            }
        };
        let before = s.clone();
        if s.status != SubscriberStatus::Active {
            s.status = SubscriberStatus::Active;
            s.status_changed_at = Some(now);
            s.record_event(now, EventKind::Subscribed, Channel::Cli, None);
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
        if added == Added::Updated {
            if let Some(fields) = changed_fields(&before, &s) {
                s.record_event(now, EventKind::Changed, Channel::Cli, Some(fields));
            }
        }
        list.upsert(s);
        added
    }

    pub(crate) fn set_status(
        list: &mut SubscriberList,
        email: &str,
        status: SubscriberStatus,
        via: Channel,
        now: DateTime<Utc>,
    ) -> StatusChange {
        let Some(existing) = list.get(email) else {
            return StatusChange::NotFound;
        };
        if existing.status == status {
            return StatusChange::Unchanged;
        }
        let mut s = existing.clone();
        s.status = status;
        s.status_changed_at = Some(now);
        let event = if status == SubscriberStatus::Active {
            EventKind::Subscribed
        } else {
            EventKind::Withdrawn
        };
        s.record_event(now, event, via, None);
        list.upsert(s);
        StatusChange::Changed
    }

    pub(crate) fn set_preferences(
        list: &mut SubscriberList,
        email: &str,
        p: &Preferences,
        now: DateTime<Utc>,
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
        let fields = changed_fields(existing, &s);
        s.record_event(now, EventKind::Changed, Channel::Preferences, fields);
        list.upsert(s);
        StatusChange::Changed
    }

    pub(crate) fn import(
        list: &mut SubscriberList,
        records: Vec<Subscriber>,
        now: DateTime<Utc>,
    ) -> Imported {
        let mut done = Imported::default();
        for mut s in records {
            if list.get(&s.email).is_some() {
                done.kept += 1;
            } else {
                imported(&mut s, now);
                list.upsert(s);
                done.added += 1;
            }
        }
        done
    }

    /// A record an import adds, as it is stored: its sign-up time (now, when
    /// the file gave none) and, without consent on record, the import as its
    /// source.
    pub(crate) fn imported(s: &mut Subscriber, now: DateTime<Utc>) {
        let at = *s.subscribed_at.get_or_insert(now);
        if s.consent.is_none() {
            s.consent = Some(Consent {
                confirmed_at: Some(at),
                source: Some(Channel::Import),
                ..Consent::default()
            });
            s.record_event(now, EventKind::Subscribed, Channel::Import, None);
        }
    }
}
