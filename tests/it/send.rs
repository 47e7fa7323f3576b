//! The send engine against a real SMTP server on loopback TCP
//! (`smtp_server`): exactly once, retries, bounces, unknowns, faults.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use hotpapers::clock::FixedClock;
use hotpapers::config::{Config, UnknownPolicy};
use hotpapers::delivery::{
    self, Compose, ComposeError, Outgoing, SendError, SendOptions, Sender, SmtpTransport, Summary,
};
use hotpapers::ledger::{Ledger, Place, State};
use hotpapers::model::{Digest, Subscriber, SubscriberStatus};
use hotpapers::subscribers::SubscriberStore;
use lettre::message::header::ContentType;
use lettre::Message;

use crate::smtp_server::{Behaviour, RandomFaults, SmtpServer};
use crate::support::fixture;

const DAY: &str = "2021-02-12";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2021-02-12T07:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A test edition: the real digest, each subscriber's real filter, a small
/// plain-text body; `None` when the filter keeps no paper.
struct TestEdition {
    digest: Digest,
}

impl TestEdition {
    /// The digest of `date` from `tests/fixtures/samples/` or, for the other
    /// days, `tests/fixtures/corpus/`.
    fn load(date: &str) -> Arc<Self> {
        let sample = fixture(&format!("samples/{date}.md"));
        let path = if sample.exists() {
            sample
        } else {
            fixture(&format!("corpus/{date}---Hot-Papers.md"))
        };
        let digest = hotpapers::digest::read_digest(&path).unwrap().digest;
        Arc::new(Self { digest })
    }
}

impl Compose for TestEdition {
    fn compose(&self, s: &Subscriber) -> Result<Option<Outgoing>, ComposeError> {
        let selection = s.filter().select(&self.digest);
        if selection.papers.is_empty() {
            return Ok(None);
        }
        let d = self.digest.date;
        let message_id = format!("<{d}.{}@test.example.org>", s.key().replace('@', "."));
        let body: String = selection
            .papers
            .iter()
            .map(|p| format!("{}. {}\n", p.rank, p.title))
            .collect();
        let message = Message::builder()
            .from("Hot Papers <digest@example.org>".parse()?)
            .to(s.email.parse()?)
            .subject(format!("Hot Papers {d}"))
            .message_id(Some(message_id.clone()))
            .date(now().into())
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Hello {}\n{body}",
                s.name.as_deref().unwrap_or("reader")
            ))?;
        let outgoing = Outgoing::from_message(&message);
        assert_eq!(outgoing.message_id, message_id);
        Ok(Some(outgoing))
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    server: SmtpServer,
    config: Config,
}

impl Fixture {
    /// `n` active subscribers `reader{i}@example.org`, plus one unsubscribed
    /// and one bounced record.
    fn new(n: usize, behaviour: Behaviour) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = String::new();
        for i in 0..n {
            yaml.push_str(&format!(
                "- email: reader{i}@example.org\n  name: Reader {i}\n"
            ));
        }
        yaml.push_str("- email: gone@example.org\n  status: unsubscribed\n");
        yaml.push_str("- email: dead@example.org\n  status: bounced\n");
        std::fs::write(dir.path().join("subscribers.yaml"), yaml).unwrap();
        let server = SmtpServer::start(behaviour);
        let config = config_for(dir.path(), Some(&server.url()));
        Self {
            dir,
            server,
            config,
        }
    }

    fn store(&self) -> SubscriberStore {
        SubscriberStore::open(&self.dir.path().join("subscribers.yaml")).unwrap()
    }

    fn opts(&self, date: &str) -> SendOptions {
        let mut o = SendOptions::from_config(&self.config.delivery, day(date));
        o.backoff = Duration::from_millis(5);
        o.max_backoff = Duration::from_millis(40);
        o
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.config.state).unwrap()
    }

    async fn send(&self, opts: &SendOptions) -> Result<Summary, SendError> {
        self.send_with(opts, Duration::from_secs(10)).await
    }

    async fn send_with(&self, opts: &SendOptions, timeout: Duration) -> Result<Summary, SendError> {
        let date = opts.day.to_string();
        let settings = self.config.delivery.smtp.clone().expect("an SMTP test");
        let transport = SmtpTransport::new(settings, self.config.delivery.connections)
            .unwrap()
            .with_timeout(timeout);
        let sender = Sender::new(
            Arc::new(transport),
            TestEdition::load(&date),
            Arc::new(FixedClock(now())),
        )
        .with_store(std::sync::Arc::new(self.store()));
        let list = self.store().load().unwrap();
        let total = list.active().count() as u64;
        sender
            .send_day(
                &Place::File(self.config.state.clone()),
                list.into_records(),
                total,
                opts,
            )
            .await
    }
}

pub(crate) fn config_for(dir: &Path, smtp_url: Option<&str>) -> Config {
    Config::builder()
        .secret(Some(
            "5c1e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e",
        ))
        .state(dir.join("state/hotpapers.db"))
        .subscribers(dir.join("subscribers.yaml"))
        .outbox(dir.join("outbox"))
        .from("Hot Papers <digest@example.org>")
        .smtp_url(smtp_url)
        .build()
        .unwrap()
}

fn reader(i: usize) -> String {
    format!("reader{i}@example.org")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_active_subscriber_gets_exactly_one_message_and_a_rerun_sends_nothing() {
    let f = Fixture::new(40, Behaviour::default());
    let summary = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!((summary.sent, summary.failed, summary.deferred), (40, 0, 0));
    assert!(summary.complete());

    let counts = f.server.count_by_recipient();
    assert_eq!(counts.len(), 40, "only active subscribers are mailed");
    assert!(counts.values().all(|&n| n == 1));
    assert!(!counts.contains_key("gone@example.org") && !counts.contains_key("dead@example.org"));
    let msg = f
        .server
        .received()
        .into_iter()
        .find(|m| m.to == [reader(7)])
        .unwrap();
    assert_eq!(msg.from, "digest@example.org");
    assert_eq!(msg.header("To").as_deref(), Some("reader7@example.org"));
    assert_eq!(
        msg.header("Message-ID").as_deref(),
        Some("<2021-02-12.reader7.example.org@test.example.org>")
    );
    assert!(msg.data.contains("Hello Reader 7"), "{}", msg.data);

    let row = f.ledger().get(day(DAY), &reader(7)).unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Sent, 1));
    assert!(row.last_reply.unwrap().starts_with("250"));

    let again = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!((again.sent, again.already_sent), (0, 40));
    assert_eq!(f.server.received().len(), 40, "the rerun sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_4xx_is_retried_with_backoff_then_delivered() {
    let behaviour = Behaviour {
        defer_times: HashMap::from([(reader(3), 2)]),
        ..Behaviour::default()
    };
    let f = Fixture::new(10, behaviour);
    let summary = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!((summary.sent, summary.deferred, summary.failed), (10, 0, 0));
    assert_eq!(f.server.rcpt_attempts(&reader(3)), 3);
    assert_eq!(f.server.count_by_recipient()[&reader(3)], 1);
    let row = f.ledger().get(day(DAY), &reader(3)).unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Sent, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_beyond_max_attempts_are_deferred_to_the_next_run() {
    let behaviour = Behaviour {
        defer_times: HashMap::from([(reader(1), 4)]),
        ..Behaviour::default()
    };
    let f = Fixture::new(3, behaviour);
    let mut opts = f.opts(DAY);
    opts.max_attempts = 2;
    let first = f.send(&opts).await.unwrap();
    assert_eq!((first.sent, first.deferred), (2, 1));
    assert_eq!(
        f.ledger().state(day(DAY), &reader(1)).unwrap(),
        Some(State::Deferred)
    );
    let second = f.send(&opts).await.unwrap();
    assert_eq!(
        (second.sent, second.deferred, second.already_sent),
        (0, 1, 2)
    );
    let third = f.send(&opts).await.unwrap();
    assert_eq!(third.sent, 1);
    assert_eq!(f.server.count_by_recipient()[&reader(1)], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_550_is_recorded_not_retried_and_the_others_are_still_sent() {
    let behaviour = Behaviour {
        reject: [reader(2)].into(),
        ..Behaviour::default()
    };
    let f = Fixture::new(8, behaviour);
    // About retrying, not bouncing: the reader stays on the list.
    let mut opts = f.opts(DAY);
    opts.bounce_limit = 0;
    let summary = f.send(&opts).await.unwrap();
    assert_eq!((summary.sent, summary.failed), (7, 1));
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(summary.failures[0].0, reader(2));
    assert!(
        summary.failures[0].1.starts_with("550"),
        "{:?}",
        summary.failures
    );
    assert_eq!(f.server.rcpt_attempts(&reader(2)), 1, "never retried");
    let row = f.ledger().get(day(DAY), &reader(2)).unwrap().unwrap();
    assert_eq!(row.state, State::Failed);
    assert!(row.last_reply.unwrap().contains("no such mailbox"));
    // A rerun does not try again either.
    let again = f.send(&opts).await.unwrap();
    assert_eq!((again.sent, again.failed), (0, 1));
    assert_eq!(f.server.rcpt_attempts(&reader(2)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_is_marked_bounced_after_bounce_limit_consecutive_hard_bounces() {
    let behaviour = Behaviour {
        reject: [reader(0)].into(),
        ..Behaviour::default()
    };
    let f = Fixture::new(2, behaviour);
    let mut opts = f.opts("2021-02-05");
    opts.bounce_limit = 2;
    let first = f.send(&opts).await.unwrap();
    assert!(first.bounced.is_empty());
    assert!(f
        .store()
        .load()
        .unwrap()
        .get(&reader(0))
        .unwrap()
        .is_active());

    opts.day = day("2021-02-12").into();
    let second = f.send(&opts).await.unwrap();
    assert_eq!(second.bounced, [reader(0)]);
    let list = f.store().load().unwrap();
    let s = list.get(&reader(0)).unwrap();
    assert_eq!(s.status, SubscriberStatus::Bounced);
    assert_eq!(s.status_changed_at, Some(now()));

    opts.day = day("2021-02-19").into();
    let third = f.send(&opts).await.unwrap();
    assert_eq!((third.sent, third.failed), (1, 0));
    assert_eq!(
        f.server.rcpt_attempts(&reader(0)),
        2,
        "bounced: not mailed again"
    );
}

/// Audit finding 8 (and issue 11's rule): a refusal the sender or the message
/// caused — a spam-policy `550 5.7.1`, a `500 line too long` to the data — is
/// recorded as failed but never counts toward marking the reader bounced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_the_sender_or_the_message_caused_never_mark_a_reader_bounced() {
    let behaviour = Behaviour {
        policy_reject: [reader(0)].into(),
        reject_data: [reader(1)].into(),
        ..Behaviour::default()
    };
    let f = Fixture::new(3, behaviour);
    let mut opts = f.opts("2021-02-05");
    opts.bounce_limit = 1;
    for date in ["2021-02-05", "2021-02-12", "2021-02-19"] {
        opts.day = day(date).into();
        let s = f.send(&opts).await.unwrap();
        assert_eq!((s.sent, s.failed), (1, 2), "{date}: {s:?}");
        assert!(s.bounced.is_empty(), "{date}: {:?}", s.bounced);
    }
    let list = f.store().load().unwrap();
    assert!(list.get(&reader(0)).unwrap().is_active());
    assert!(list.get(&reader(1)).unwrap().is_active());
    let ledger = f.ledger();
    let row = ledger.get(day("2021-02-19"), &reader(0)).unwrap().unwrap();
    assert_eq!(row.state, State::Failed);
    assert_eq!(ledger.consecutive_failures(&reader(0)).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_after_data_is_unknown_and_resent_under_the_default_policy() {
    let behaviour = Behaviour {
        drop_after_data_times: HashMap::from([(reader(4), 1)]),
        ..Behaviour::default()
    };
    let f = Fixture::new(6, behaviour);
    assert_eq!(f.config.delivery.unknown_policy, UnknownPolicy::Resend);
    let summary = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!((summary.sent, summary.unknown), (6, 0));
    // The server had accepted the first copy: the documented duplicate.
    assert_eq!(f.server.count_by_recipient()[&reader(4)], 2);
    let row = f.ledger().get(day(DAY), &reader(4)).unwrap().unwrap();
    assert_eq!((row.state, row.unknowns, row.attempts), (State::Sent, 1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_after_data_is_left_unknown_under_the_skip_policy() {
    let behaviour = Behaviour {
        drop_after_data_times: HashMap::from([(reader(4), 1)]),
        ..Behaviour::default()
    };
    let f = Fixture::new(6, behaviour);
    let mut opts = f.opts(DAY);
    opts.unknown_policy = UnknownPolicy::Skip;
    let summary = f.send(&opts).await.unwrap();
    assert_eq!((summary.sent, summary.unknown), (5, 1));
    assert_eq!(summary.unknowns, [reader(4)]);
    assert_eq!(f.server.count_by_recipient()[&reader(4)], 1);
    assert_eq!(
        f.ledger().state(day(DAY), &reader(4)).unwrap(),
        Some(State::Unknown)
    );
    let again = f.send(&opts).await.unwrap();
    assert_eq!((again.sent, again.unknown), (0, 1));
    assert_eq!(f.server.count_by_recipient()[&reader(4)], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_data_is_resent_and_arrives_once() {
    let behaviour = Behaviour {
        drop_mid_data_times: HashMap::from([(reader(1), 2)]),
        ..Behaviour::default()
    };
    let f = Fixture::new(4, behaviour);
    let summary = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!(summary.sent, 4);
    assert_eq!(f.server.count_by_recipient()[&reader(1)], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_random_faults_all_deliverable_mail_arrives_once_and_550s_fail_once() {
    let rejected: Vec<String> = (0..150).step_by(37).map(reader).collect();
    let behaviour = Behaviour {
        reject: rejected.iter().cloned().collect(),
        random: Some(RandomFaults {
            seed: 5,
            p_421: 0.05,
            p_451: 0.05,
            p_drop_mid_data: 0.03,
            p_drop_after_data: 0.02,
            p_stall: 0.01,
            stall: Duration::from_millis(400),
        }),
        ..Behaviour::default()
    };
    let f = Fixture::new(150, behaviour);
    let mut opts = f.opts(DAY);
    opts.max_attempts = 30;
    let summary = f
        .send_with(&opts, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(
        summary.failed,
        rejected.len() as u64,
        "{:?}",
        summary.failures
    );
    assert_eq!(summary.sent, 150 - rejected.len() as u64, "{summary:?}");
    assert!(summary.stopped.is_none());
    let counts = f.server.count_by_recipient();
    let ledger = f.ledger();
    let mut duplicates = 0;
    for i in 0..150 {
        let r = reader(i);
        let row = ledger.get(day(DAY), &r).unwrap().unwrap();
        if rejected.contains(&r) {
            // (A stall may time out an RCPT before its 550 arrives; that
            // attempt is retried. Once a 550 is read, the row is final.)
            assert_eq!(row.state, State::Failed, "{r}");
            assert!(row.last_reply.unwrap().starts_with("550"), "{r}");
            assert!(!counts.contains_key(&r));
            continue;
        }
        assert_eq!(row.state, State::Sent, "{r}");
        let n = counts.get(&r).copied().unwrap_or(0);
        // Extra copies only where the ledger recorded a cut after the data.
        assert!(
            n >= 1 && n as u32 <= 1 + row.unknowns,
            "{r}: received {n}, unknowns {}",
            row.unknowns
        );
        duplicates += n - 1;
    }
    assert!(f.server.connections() > 4, "faults forced reconnections");
    eprintln!("duplicates from cuts after DATA: {duplicates}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_for_the_same_day_at_once_cannot_both_send() {
    let behaviour = Behaviour {
        reply_delay: Duration::from_millis(2),
        ..Behaviour::default()
    };
    let f = Fixture::new(30, behaviour);
    let opts = f.opts(DAY);
    let (a, b) = tokio::join!(f.send(&opts), f.send(&opts));
    let (ok, busy): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1);
    let err = busy.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(
        err.contains("another `hotpapers send` for 2021-02-12 is running"),
        "{err}"
    );
    assert!(f.server.count_by_recipient().values().all(|&n| n == 1));
    // With `wait`, a second run waits its turn and finds nothing left to send.
    let mut waiting = f.opts(DAY);
    waiting.wait = true;
    let (a, b) = tokio::join!(f.send(&waiting), f.send(&waiting));
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_sends_at_most_n_and_the_next_run_continues_resend_sends_again() {
    let f = Fixture::new(10, Behaviour::default());
    let mut opts = f.opts(DAY);
    opts.limit = Some(4);
    let first = f.send(&opts).await.unwrap();
    assert_eq!((first.sent, first.not_attempted), (4, 6));
    opts.limit = None;
    let second = f.send(&opts).await.unwrap();
    assert_eq!((second.sent, second.already_sent), (6, 4));
    assert!(f.server.count_by_recipient().values().all(|&n| n == 1));
    opts.resend = true;
    let third = f.send(&opts).await.unwrap();
    assert_eq!(third.sent, 10);
    assert!(f.server.count_by_recipient().values().all(|&n| n == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_spaces_messages_across_all_connections() {
    let f = Fixture::new(21, Behaviour::default());
    let mut opts = f.opts(DAY);
    opts.rate = Some(100.0);
    let started = std::time::Instant::now();
    let summary = f.send(&opts).await.unwrap();
    assert_eq!(summary.sent, 21);
    // 21 starts at 100/s: the last one no sooner than 200 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_builds_and_counts_but_sends_and_records_nothing() {
    let f = Fixture::new(5, Behaviour::default());
    let sender = Sender::new(
        delivery::transport_from_config(&f.config.delivery).unwrap(),
        TestEdition::load(DAY),
        Arc::new(FixedClock(now())),
    );
    let list = f.store().load().unwrap();
    let s = sender
        .dry_run(
            &Place::File(f.config.state.clone()),
            list.into_records(),
            &f.opts(DAY),
        )
        .unwrap();
    assert_eq!((s.sent, s.dry_run), (5, true));
    assert!(f.server.received().is_empty());
    assert!(!f.config.state.exists(), "no ledger written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_whose_filter_keeps_nothing_is_skipped_and_recorded() {
    let f = Fixture::new(2, Behaviour::default());
    f.store()
        .update(|list| {
            let mut s = Subscriber::new("niche@example.org");
            s.categories
                .insert(hotpapers::model::Category::parse("q-fin.TR").unwrap());
            list.upsert(s);
            Ok(())
        })
        .unwrap();
    let summary = f.send(&f.opts(DAY)).await.unwrap();
    assert_eq!((summary.sent, summary.skipped), (2, 1));
    assert_eq!(
        f.ledger().state(day(DAY), "niche@example.org").unwrap(),
        Some(State::Skipped)
    );
    assert_eq!(f.server.rcpt_attempts("niche@example.org"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_then_deferred_with_its_cause() {
    // A port with nothing listening: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        "- email: a@example.org\n- email: b@example.org\n",
    )
    .unwrap();
    let config = config_for(dir.path(), Some(&format!("smtp://127.0.0.1:{port}")));
    let mut opts = SendOptions::from_config(&config.delivery, day(DAY));
    opts.backoff = Duration::from_millis(1);
    opts.max_backoff = Duration::from_millis(2);
    opts.max_attempts = 3;
    let store = SubscriberStore::open(&dir.path().join("subscribers.yaml")).unwrap();
    let sender = Sender::new(
        delivery::transport_from_config(&config.delivery).unwrap(),
        TestEdition::load(DAY),
        Arc::new(FixedClock(now())),
    );
    let list = store.load().unwrap();
    let s = sender
        .send_day(
            &Place::File(config.state.clone()),
            list.into_records(),
            2,
            &opts,
        )
        .await
        .unwrap();
    assert_eq!((s.sent, s.deferred), (0, 2));
    let ledger = Ledger::open(&config.state).unwrap();
    let row = ledger.get(day(DAY), "a@example.org").unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Deferred, 3));
    assert!(
        row.last_reply.unwrap().contains("Connection"),
        "names the cause"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_smtp_url_messages_are_written_to_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        "- email: a@example.org\n- email: b@example.org\n",
    )
    .unwrap();
    let config = config_for(dir.path(), None);
    let transport = delivery::transport_from_config(&config.delivery).unwrap();
    assert!(transport.notice().is_some_and(|n| n.contains("outbox")));
    let store = SubscriberStore::open(&dir.path().join("subscribers.yaml")).unwrap();
    let sender = Sender::new(
        transport,
        TestEdition::load(DAY),
        Arc::new(FixedClock(now())),
    );
    let s = sender
        .send_day(
            &Place::File(config.state.clone()),
            store.load().unwrap().into_records(),
            2,
            &SendOptions::from_config(&config.delivery, day(DAY)),
        )
        .await
        .unwrap();
    assert_eq!(s.sent, 2);
    let files: Vec<_> = std::fs::read_dir(&config.delivery.outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files.len(), 2);
    assert!(files.iter().any(|f| f.contains("To: a@example.org")));
}
