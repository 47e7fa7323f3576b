//! One specification of the delivery ledger, run against both places it can
//! be kept: the SQLite file and PostgreSQL (`ledger::files::…`,
//! `ledger::postgres::…`; the latter skipped without a test server).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hotpapers::ledger::{EditionKey, Event, LedgerError, Place, State};

pub(crate) struct Fixture {
    pub(crate) place: Place,
    _keep: Box<dyn std::any::Any>,
}

fn files() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture {
        place: Place::File(dir.path().join("state/hotpapers.db")),
        _keep: Box::new(dir),
    }
}

fn postgres() -> Option<Fixture> {
    let db = crate::postgres::database()?;
    Some(Fixture {
        place: Place::Database(db.open()),
        _keep: Box::new(db.url),
    })
}

macro_rules! for_both_ledgers {
    ($(fn $name:ident($place:ident: &Place) $body:block)*) => {
        $( fn $name($place: &Place) $body )*
        mod files {
            $( #[test] fn $name() { super::$name(&super::files().place); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                let Some(fixture) = super::postgres() else { return };
                super::$name(&fixture.place);
            } )*
        }
    };
}

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 2, 12, 8, 0, second).unwrap()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 2, 12).unwrap()
}

fn event(source: &str, kind: &str, hard: bool) -> Event {
    Event {
        source: source.into(),
        recipient: "ada@example.org".into(),
        email: Some("ada@example.org".into()),
        day: Some(day()),
        kind: kind.into(),
        reason: Some("user_unknown".into()),
        status: Some("5.1.1".into()),
        reply_code: Some(550),
        hard,
        diagnostic: Some("550 5.1.1 no such user".into()),
        domain: Some("example.org".into()),
        received_at: at(30),
    }
}

for_both_ledgers! {
    fn each_state_change_is_recorded_and_a_cut_transaction_becomes_unknown(place: &Place) {
        let l = place.open().unwrap();
        l.start_sending(day(), "A@example.org", "<1@x>", at(0)).unwrap();
        l.start_sending(day(), "b@example.org", "<2@x>", at(0)).unwrap();
        l.finish(day(), "b@example.org", State::Sent, Some("250 ok"), at(1)).unwrap();
        drop(l);
        // A later run (here: a new session) finds `a` cut mid-transaction.
        let l = place.open().unwrap();
        assert_eq!(l.recover(day(), at(5)).unwrap(), 1);
        let a = l.get(day(), "a@example.org").unwrap().unwrap();
        assert_eq!((a.state, a.attempts, a.unknowns), (State::Unknown, 1, 1));
        assert_eq!(a.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(a.updated_at, at(5));
        let b = l.get(day(), "B@example.org").unwrap().unwrap();
        assert_eq!((b.state, b.sent_at, b.last_reply.as_deref()), (State::Sent, Some(at(1)), Some("250 ok")));
        // Sending again counts a second attempt.
        l.start_sending(day(), "a@example.org", "<3@x>", at(6)).unwrap();
        l.finish(day(), "a@example.org", State::Sent, Some("250 ok"), at(7)).unwrap();
        let a = l.get(day(), "a@example.org").unwrap().unwrap();
        assert_eq!((a.state, a.attempts, a.unknowns), (State::Sent, 2, 1));
        let counts = l.counts(day()).unwrap();
        assert_eq!(counts.get(&State::Sent), Some(&2));
        let emails: Vec<String> = l.day(day()).unwrap().into_iter().map(|d| d.email).collect();
        assert_eq!(emails, ["a@example.org", "b@example.org"]);
        assert!(l.get(EditionKey::week_of(day()), "a@example.org").unwrap().is_none(), "a week is another edition");
    }

    fn a_failed_group_records_nothing_and_a_good_one_everything(place: &Place) {
        let l = place.open().unwrap();
        let failed: Result<(), LedgerError> = l.batch(|l| {
            l.start_sending(day(), "a@example.org", "<1@x>", at(0))?;
            l.start_sending(day(), "b@example.org", "<2@x>", at(0))?;
            Err(LedgerError::Busy { day: day().into(), path: "test".into() })
        });
        assert!(failed.is_err());
        assert!(l.get(day(), "a@example.org").unwrap().is_none());
        l.batch(|l| {
            l.start_sending(day(), "a@example.org", "<1@x>", at(0))?;
            l.finish(day(), "a@example.org", State::Deferred, Some("451 later"), at(1))
        })
        .unwrap();
        let other = place.open().unwrap();
        assert_eq!(other.state(day(), "a@example.org").unwrap(), Some(State::Deferred));
    }

    fn hard_failures_in_a_row_are_counted_and_a_send_ends_the_streak(place: &Place) {
        let l = place.open().unwrap();
        let days = [10, 11, 12].map(|d| NaiveDate::from_ymd_opt(2021, 2, d).unwrap());
        l.finish(days[0], "a@example.org", State::Sent, None, at(0)).unwrap();
        l.finish_as(days[1], "a@example.org", State::Failed, Some("550"), true, at(1)).unwrap();
        // A policy refusal is the sender's problem: not counted.
        l.finish_as(days[2], "a@example.org", State::Failed, Some("550 5.7.1"), false, at(2)).unwrap();
        assert_eq!(l.consecutive_failures("A@example.org").unwrap(), 1);
        l.finish_as(days[2], "a@example.org", State::Failed, Some("550 5.1.1"), true, at(3)).unwrap();
        assert_eq!(l.consecutive_failures("a@example.org").unwrap(), 2);
        assert_eq!(l.consecutive_failures("nobody@example.org").unwrap(), 0);
    }

    fn the_same_report_records_nothing_new_and_counts_per_domain(place: &Place) {
        let l = place.open().unwrap();
        assert!(l.record_event(&event("<r1@x>", "bounce", true)).unwrap());
        assert!(!l.record_event(&event("<r1@x>", "bounce", true)).unwrap());
        assert!(l.record_event(&event("<r2@x>", "complaint", false)).unwrap());
        let got = l.events_of_day(day()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], event("<r1@x>", "bounce", true));
        assert_eq!(l.events_of("ADA@example.org").unwrap().len(), 2);
        l.finish(day(), "ada@example.org", State::Sent, None, at(0)).unwrap();
        l.finish(day(), "bob@example.org", State::Sent, None, at(0)).unwrap();
        let counts = l.domain_counts(day(), day()).unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!((counts[0].sent, counts[0].hard, counts[0].complaints), (2, 1, 1));
    }

    fn an_edition_has_one_sender_at_a_time_until_the_lock_is_let_go(place: &Place) {
        let first = place.open().unwrap();
        let second = place.open().unwrap();
        let held = first.lock_day(day(), false).unwrap();
        let refused = second.lock_day(day(), false).unwrap_err();
        assert!(
            refused.to_string().starts_with("another `hotpapers send` for 2021-02-12 is running"),
            "{refused}"
        );
        // Another edition is free.
        let _week = second.lock_day(EditionKey::week_of(day()), false).unwrap();
        drop(held);
        second.lock_day(day(), false).unwrap();
    }

    fn a_group_of_changes_applies_in_order_and_reads_its_own_writes(place: &Place) {
        use hotpapers::ledger::{Applied, Change};
        let l = place.open().unwrap();
        let changes = [
            Change::Start { email: "a@example.org".into(), message_id: "<1@x>".into() },
            Change::Finish { email: "a@example.org".into(), state: State::Failed, reply: Some("550 5.1.1".into()), hard: true },
            Change::ConsecutiveFailures { email: "a@example.org".into() },
            Change::Start { email: "b@example.org".into(), message_id: "<2@x>".into() },
        ];
        assert_eq!(l.apply(day(), &changes, at(3)).unwrap(), [Applied::Recorded, Applied::Recorded, Applied::Failures(1), Applied::Recorded]);
        let other = place.open().unwrap();
        let a = other.get(day(), "a@example.org").unwrap().unwrap();
        assert_eq!((a.state, a.attempts, a.updated_at), (State::Failed, 1, at(3)));
        assert_eq!(other.state(day(), "b@example.org").unwrap(), Some(State::Sending));
    }
}
