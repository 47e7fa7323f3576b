//! One specification of the subscriber store, run against both
//! implementations: the YAML files and PostgreSQL. Each body below becomes a
//! test in `store::files` and in `store::postgres` (skipped, with one line
//! saying so, without a test server).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotpapers::model::{
    Cadence, Category, Channel, EmailAddress, EventKind, Subscriber, SubscriberStatus,
};
use hotpapers::subscribers::{
    AddRequest, Added, Confirmation, Confirmed, Imported, Preferences, StatusChange, Store,
};

/// A store and whatever keeps it alive (a temporary folder, a database).
pub(crate) struct Fixture {
    pub(crate) store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any>,
}

pub(crate) fn files() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store =
        hotpapers::subscribers::SubscriberStore::open(&dir.path().join("subscribers")).unwrap();
    Fixture {
        store: Arc::new(store),
        _keep: Box::new(dir),
    }
}

pub(crate) fn postgres() -> Option<Fixture> {
    let db = crate::postgres::database()?;
    let store = hotpapers::db::PgStore::new(db.open());
    Some(Fixture {
        store: Arc::new(store),
        _keep: Box::new(db.url),
    })
}

/// Each `name(store) { body }` runs once per store, as `files::name` and
/// `postgres::name`.
macro_rules! for_both_stores {
    ($($(#[$meta:meta])* fn $name:ident($store:ident: &dyn Store) $body:block)*) => {
        $(
            $(#[$meta])*
            fn $name($store: &dyn Store) $body
        )*
        mod files {
            $(
                #[test]
                fn $name() {
                    let fixture = super::files();
                    super::$name(fixture.store.as_ref());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(fixture) = super::postgres() else { return };
                    super::$name(fixture.store.as_ref());
                }
            )*
        }
    };
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 2, day, hour, 0, 0).unwrap()
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn confirmation(email: &str, issued: DateTime<Utc>) -> Confirmation {
    Confirmation {
        email: address(email),
        categories: BTreeSet::from([Category::parse("cs.LG").unwrap()]),
        issued,
        signup: None,
    }
}

fn add_request(email: &str) -> AddRequest {
    AddRequest {
        email: address(email),
        name: None,
        categories: BTreeSet::new(),
        max_papers: None,
        min_retweets: None,
        cadence: None,
        weekday: None,
        authors: Vec::new(),
        keywords: Vec::new(),
    }
}

fn record(store: &dyn Store, email: &str) -> Subscriber {
    store
        .load()
        .unwrap()
        .get(email)
        .cloned()
        .unwrap_or_else(|| panic!("no record for {email}"))
}

for_both_stores! {
    fn a_confirmed_sign_up_is_active_with_its_consent(store: &dyn Store) {
        assert_eq!(store.confirm(&confirmation("Ada@Example.org", at(1, 9)), at(1, 10)).unwrap(), Confirmed::Added);
        let ada = record(store, "ada@example.org");
        assert_eq!(ada.status, SubscriberStatus::Active);
        assert_eq!(ada.categories.len(), 1);
        let consent = ada.consent.unwrap();
        assert_eq!(consent.asked_at, Some(at(1, 9)));
        assert_eq!(consent.confirmed_at, Some(at(1, 10)));
        assert_eq!(consent.source, Some(Channel::Form));
        assert_eq!(consent.events.last().unwrap().event, EventKind::Subscribed);
    }

    fn a_replayed_confirmation_changes_nothing(store: &dyn Store) {
        let c = confirmation("ada@example.org", at(1, 9));
        store.confirm(&c, at(1, 10)).unwrap();
        let before = record(store, "ada@example.org");
        assert_eq!(store.confirm(&c, at(1, 11)).unwrap(), Confirmed::AlreadyActive);
        assert_eq!(record(store, "ada@example.org"), before);
        // After an unsubscribe, the old link (issued before it) is refused…
        store.set_status("ada@example.org", SubscriberStatus::Unsubscribed, Channel::OneClick, at(2, 8)).unwrap();
        assert_eq!(store.confirm(&c, at(2, 9)).unwrap(), Confirmed::Stale);
        assert_eq!(record(store, "ada@example.org").status, SubscriberStatus::Unsubscribed);
        // …and a new sign-up after it is taken.
        assert_eq!(store.confirm(&confirmation("ada@example.org", at(3, 9)), at(3, 10)).unwrap(), Confirmed::Added);
        assert_eq!(record(store, "ada@example.org").status, SubscriberStatus::Active);
    }

    fn an_unsubscribe_is_kept_as_suppression_with_its_channel(store: &dyn Store) {
        store.add(&add_request("ada@example.org"), at(1, 9)).unwrap();
        assert_eq!(
            store.set_status("ADA@example.org", SubscriberStatus::Unsubscribed, Channel::Mailto, at(2, 9)).unwrap(),
            StatusChange::Changed
        );
        assert_eq!(
            store.set_status("ada@example.org", SubscriberStatus::Unsubscribed, Channel::Link, at(2, 10)).unwrap(),
            StatusChange::Unchanged
        );
        assert_eq!(
            store.set_status("nobody@example.org", SubscriberStatus::Unsubscribed, Channel::Link, at(2, 10)).unwrap(),
            StatusChange::NotFound
        );
        let ada = record(store, "ada@example.org");
        assert_eq!(ada.status, SubscriberStatus::Unsubscribed);
        assert_eq!(ada.status_changed_at, Some(at(2, 9)));
        let last = ada.consent.unwrap().events.pop().unwrap();
        assert_eq!((last.event, last.via), (EventKind::Withdrawn, Channel::Mailto));
        assert_eq!(store.load().unwrap().active().count(), 0);
    }

    fn an_import_never_resubscribes_an_unsubscribed_or_bounced_address(store: &dyn Store) {
        store.add(&add_request("gone@example.org"), at(1, 9)).unwrap();
        store.add(&add_request("dead@example.org"), at(1, 9)).unwrap();
        store.set_status("gone@example.org", SubscriberStatus::Unsubscribed, Channel::OneClick, at(2, 9)).unwrap();
        store.set_status("dead@example.org", SubscriberStatus::Bounced, Channel::Bounce, at(2, 9)).unwrap();
        let records = ["Gone@example.org", "dead@example.org", "new@example.org", "NEW@example.org", "other@example.org"]
            .into_iter()
            .map(Subscriber::new)
            .collect();
        assert_eq!(store.import(records, at(3, 9)).unwrap(), Imported { added: 2, kept: 3 });
        let list = store.load().unwrap();
        assert_eq!(list.get("gone@example.org").unwrap().status, SubscriberStatus::Unsubscribed);
        assert_eq!(list.get("dead@example.org").unwrap().status, SubscriberStatus::Bounced);
        let new = list.get("new@example.org").unwrap();
        assert_eq!(new.email, "new@example.org", "the first of two spellings wins");
        assert_eq!(new.consent.as_ref().unwrap().source, Some(Channel::Import));
        assert_eq!(list.active().count(), 2);
    }

    fn an_operator_add_updates_and_reactivates(store: &dyn Store) {
        assert_eq!(store.add(&add_request("ada@example.org"), at(1, 9)).unwrap(), Added::New);
        store.set_status("ada@example.org", SubscriberStatus::Bounced, Channel::Bounce, at(2, 9)).unwrap();
        let mut again = add_request("ada@example.org");
        again.name = Some("Ada Lovelace".to_owned());
        again.cadence = Some(Cadence::Weekly);
        assert_eq!(store.add(&again, at(3, 9)).unwrap(), Added::Updated);
        let ada = record(store, "ada@example.org");
        assert_eq!(ada.status, SubscriberStatus::Active);
        assert_eq!(ada.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(ada.cadence, Cadence::Weekly);
        let events = ada.consent.unwrap().events;
        assert_eq!(events.last().unwrap().fields.as_deref(), Some("name, cadence"));
    }

    fn preferences_replace_the_choices_and_leave_the_status(store: &dyn Store) {
        store.add(&add_request("ada@example.org"), at(1, 9)).unwrap();
        let mut p = Preferences::of(&record(store, "ada@example.org"));
        p.max_papers = Some(5);
        p.keywords = vec!["diffusion".to_owned()];
        assert_eq!(store.set_preferences("ada@example.org", &p, at(2, 9)).unwrap(), StatusChange::Changed);
        assert_eq!(store.set_preferences("ada@example.org", &p, at(2, 10)).unwrap(), StatusChange::Unchanged);
        assert_eq!(store.set_preferences("bob@example.org", &p, at(2, 10)).unwrap(), StatusChange::NotFound);
        let ada = record(store, "ada@example.org");
        assert_eq!(Preferences::of(&ada), p);
        assert_eq!(ada.status, SubscriberStatus::Active);
    }

    fn the_order_readers_arrived_in_is_kept(store: &dyn Store) {
        for (i, email) in ["c@example.org", "a@example.org", "b@example.org"].iter().enumerate() {
            store.add(&add_request(email), at(1, 9) + Duration::minutes(i64::try_from(i).unwrap())).unwrap();
        }
        let order: Vec<String> = store.load().unwrap().iter().map(|s| s.email.clone()).collect();
        assert_eq!(order, ["c@example.org", "a@example.org", "b@example.org"]);
    }

    fn concurrent_changes_are_all_kept(store: &dyn Store) {
        store.add(&add_request("shared@example.org"), at(1, 9)).unwrap();
        let before = record(store, "shared@example.org").consent.unwrap().events.len();
        let changed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..6 {
                let changed = &changed;
                scope.spawn(move || {
                    for i in 0..8 {
                        store.add(&add_request(&format!("t{t}-{i}@example.org")), at(1, 10)).unwrap();
                        // Everyone also flips the same reader; each change that
                        // reports `Changed` must leave exactly one event.
                        let status = if (t + i) % 2 == 0 { SubscriberStatus::Unsubscribed } else { SubscriberStatus::Active };
                        if store.set_status("shared@example.org", status, Channel::Cli, at(1, 11)).unwrap() == StatusChange::Changed {
                            changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let list = store.load().unwrap();
        assert_eq!(list.len(), 1 + 6 * 8);
        let events = list.get("shared@example.org").unwrap().consent.as_ref().unwrap().events.len();
        let changed = changed.into_inner();
        assert!(changed > 0);
        assert_eq!(events - before, changed, "a change was lost or doubled");
    }

    fn two_imports_of_one_list_at_once_add_each_reader_once(store: &dyn Store) {
        let list = || (0..3000).map(|i| Subscriber::new(format!("r{i}@example.org"))).collect::<Vec<_>>();
        let results: Vec<Imported> = std::thread::scope(|scope| {
            let a = scope.spawn(|| store.import(list(), at(1, 9)).unwrap());
            let b = scope.spawn(|| store.import(list(), at(1, 9)).unwrap());
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(results.iter().map(|r| r.added).sum::<usize>(), 3000, "{results:?}");
        assert_eq!(results.iter().map(|r| r.kept).sum::<usize>(), 3000, "{results:?}");
        assert_eq!(store.load().unwrap().len(), 3000);
    }
}
