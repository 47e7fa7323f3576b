//! The send engine: one day's message to every active subscriber, exactly
//! once, through the [`Transport`], with the [`crate::ledger`] as the record
//! of what went out.
//!
//! Subscribers stream from a reader thread through a bounded queue; a
//! dispatcher runs each message as a task that builds it (through a
//! [`Compose`] — the email renderer in production, anything in tests), waits
//! for the rate limit and a connection, commits `sending`, runs the SMTP
//! transaction and commits the outcome. Transient failures are retried with
//! exponential backoff and jitter; permanent ones are recorded and may mark
//! the subscriber bounced; a cut after DATA is `unknown` and follows the
//! configured policy. Nothing here prints: progress goes to an [`Observer`].

mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use lettre::Message;
use rand::Rng;
use thiserror::Error;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::{Config, UnknownPolicy};
use crate::deliver::{Failure, Transport};
use crate::ledger::{Ledger, LedgerError, State};
use crate::model::{Subscriber, SubscriberStatus};
use crate::subscribers::{SubscriberError, SubscriberStore};

use writer::LedgerWriter;

/// A built message and the Message-ID it carries (kept in the ledger).
#[derive(Debug, Clone)]
pub struct Composed {
    /// The `Message-ID` header value, `<...@domain>`.
    pub message_id: String,
    /// The message, envelope included.
    pub message: Message,
}

/// Why a message could not be built.
pub type ComposeError = Box<dyn std::error::Error + Send + Sync>;

/// Builds one subscriber's message for the day; `None` when their filter
/// leaves nothing to send.
pub trait Compose: Send + Sync {
    /// The message for `subscriber`, or `None` to skip them.
    ///
    /// # Errors
    /// When rendering fails; the delivery is then recorded as failed.
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Composed>, ComposeError>;
}

impl<F> Compose for F
where
    F: Fn(&Subscriber) -> Result<Option<Composed>, ComposeError> + Send + Sync,
{
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Composed>, ComposeError> {
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
    /// The digest day.
    pub day: NaiveDate,
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
}

impl SendOptions {
    /// The settings of `config` for `day`, with the default backoff (2 s to 2 min).
    #[must_use]
    pub fn from_config(config: &Config, day: NaiveDate) -> Self {
        Self {
            day,
            limit: None,
            resend: false,
            wait: false,
            concurrency: config.connections,
            rate: config.rate,
            max_attempts: config.max_attempts,
            bounce_limit: config.bounce_limit,
            unknown_policy: config.unknown_policy,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
        }
    }
}

/// The final word on one message in a run, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the server.
    Sent,
    /// The filter left nothing to send.
    Skipped,
    /// Already sent in an earlier run.
    AlreadySent,
    /// Transient failures used up this run's attempts.
    Deferred,
    /// Refused permanently, or could not be built.
    Failed,
    /// Cut after DATA and left as unknown (policy `skip`).
    Unknown,
    /// A transient failure; it will be tried again.
    Retrying,
}

/// Receives progress as the run goes.
pub trait Observer: Send + Sync {
    /// How many active subscribers the run will look at.
    fn planned(&self, _total: u64) {}
    /// One subscriber's outcome (or a retry), with the reply or error.
    fn outcome(&self, _email: &str, _outcome: Outcome, _detail: Option<&str>) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Accepted by the server in this run (or, for a dry run, that would be sent).
    pub sent: u64,
    /// Nothing to send: the filter left no paper.
    pub skipped: u64,
    /// Sent in an earlier run.
    pub already_sent: u64,
    /// Transient failures; still due, the next run retries.
    pub deferred: u64,
    /// Permanent failures (this run or earlier ones), not retried.
    pub failed: u64,
    /// Deliveries of unknown outcome left alone (policy `skip`).
    pub unknown: u64,
    /// Rows an interrupted earlier run left mid-transaction.
    pub recovered: u64,
    /// Due but not tried: beyond `--limit`, or the run stopped.
    pub not_attempted: u64,
    /// `(address, reply)` of each permanent failure in this run.
    pub failures: Vec<(String, String)>,
    /// Addresses whose delivery is unknown and left alone.
    pub unknowns: Vec<String>,
    /// Subscribers marked bounced in this run.
    pub bounced: Vec<String>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// True for `--dry-run`.
    pub dry_run: bool,
    /// Stopped by an interrupt (Ctrl-C) before the end.
    pub interrupted: bool,
}

impl Summary {
    /// Messages accepted per second of wall time.
    #[must_use]
    pub fn messages_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }

    /// Whether every due message is delivered or skipped.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.stopped.is_none()
            && !self.interrupted
            && self.failed == 0
            && self.deferred == 0
            && self.unknown == 0
            && self.not_attempted == 0
    }
}

/// Sends one day's messages.
pub struct Sender {
    transport: Arc<Transport>,
    composer: Arc<dyn Compose>,
    clock: Arc<dyn Clock>,
    store: Option<SubscriberStore>,
    observer: Arc<dyn Observer>,
    interrupt: Arc<AtomicBool>,
}

/// Counters shared by the tasks of a run.
#[derive(Default)]
struct Tally {
    summary: Summary,
}

struct Run {
    transport: Arc<Transport>,
    composer: Arc<dyn Compose>,
    clock: Arc<dyn Clock>,
    store: Option<SubscriberStore>,
    observer: Arc<dyn Observer>,
    writer: LedgerWriter,
    opts: SendOptions,
    tally: Mutex<Tally>,
    stop: AtomicBool,
    interrupt: Arc<AtomicBool>,
    connections: Semaphore,
    rate: Option<RateLimiter>,
    /// Transient failures since the last success: a dead server stops the run.
    failing_streak: AtomicU32,
}

struct Job {
    subscriber: Subscriber,
}

impl Sender {
    /// An engine over a transport and a composer.
    #[must_use]
    pub fn new(
        transport: Arc<Transport>,
        composer: Arc<dyn Compose>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            transport,
            composer,
            clock,
            store: None,
            observer: Arc::new(Silent),
            interrupt: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that, once set (on Ctrl-C), stops the run gracefully: no new
    /// transaction starts, those in flight finish and are recorded.
    #[must_use]
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Marks subscribers `bounced` in this store after too many hard bounces.
    #[must_use]
    pub fn with_store(mut self, store: SubscriberStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Reports progress to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Sends the day's message to every active subscriber not yet sent to.
    ///
    /// # Errors
    /// When the ledger cannot be opened or locked (another run holds the day).
    /// Per-message failures are in the [`Summary`] instead.
    pub async fn send_day<I>(
        &self,
        ledger_path: &Path,
        subscribers: I,
        total: u64,
        opts: &SendOptions,
    ) -> Result<Summary, SendError>
    where
        I: Iterator<Item = Subscriber> + Send + 'static,
    {
        let started = Instant::now();
        let day = opts.day;
        let wait = opts.wait;
        let path = ledger_path.to_owned();
        // Opening and locking may block (`--wait`): off the async threads.
        let (ledger, lock, reader) = tokio::task::spawn_blocking(move || {
            let ledger = Ledger::open(&path)?;
            let lock = ledger.lock_day(day, wait)?;
            let reader = Ledger::open(&path)?;
            Ok::<_, LedgerError>((ledger, lock, reader))
        })
        .await
        .map_err(|e| SendError::Internal(e.to_string()))??;
        let recovered = ledger.recover(day, self.clock.now())? as u64;
        let (writer, writer_thread) = LedgerWriter::spawn(ledger, day, self.clock.clone());
        self.observer.planned(total);

        let run = Arc::new(Run {
            transport: self.transport.clone(),
            composer: self.composer.clone(),
            clock: self.clock.clone(),
            store: self.store.clone(),
            observer: self.observer.clone(),
            writer,
            opts: opts.clone(),
            tally: Mutex::new(Tally::default()),
            stop: AtomicBool::new(false),
            interrupt: self.interrupt.clone(),
            connections: Semaphore::new(opts.concurrency.max(1)),
            rate: opts.rate.map(RateLimiter::new),
            failing_streak: AtomicU32::new(0),
        });
        run.tally().summary.recovered = recovered;

        // The reader thread decides, row by row, who is due and queues them.
        let (job_tx, mut job_rx) = mpsc::channel::<Job>(opts.concurrency.max(1) * 8);
        let producer_run = run.clone();
        let producer = tokio::task::spawn_blocking(move || {
            produce(&producer_run, &reader, subscribers, &job_tx)
        });

        // Built messages in flight, retries waiting included: bounds memory
        // (a message is held two or three times over while it is sent).
        let in_flight = Arc::new(Semaphore::new(opts.concurrency.max(1) * 16));
        let mut tasks = JoinSet::new();
        while let Some(job) = job_rx.recv().await {
            if run.stopping() {
                run.tally().summary.not_attempted += 1;
                continue;
            }
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| SendError::Internal(e.to_string()))?;
            let r = run.clone();
            tasks.spawn(async move {
                r.deliver(job.subscriber).await;
                drop(permit);
            });
            while let Some(done) = tasks.try_join_next() {
                done.map_err(|e| SendError::Internal(e.to_string()))?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| SendError::Internal(e.to_string()))?;
        }
        producer
            .await
            .map_err(|e| SendError::Internal(e.to_string()))??;
        self.transport.close().await;
        let mut summary = std::mem::take(&mut run.tally().summary);
        drop(run);
        let _ = writer_thread.join();
        drop(lock);
        summary.elapsed = started.elapsed();
        summary.interrupted = self.interrupt.load(Ordering::SeqCst);
        summary.failures.sort();
        summary.unknowns.sort();
        summary.bounced.sort();
        Ok(summary)
    }

    /// Builds every due message and counts, sends nothing, writes nothing.
    ///
    /// # Errors
    /// When an existing ledger cannot be read.
    pub fn dry_run<I>(
        &self,
        ledger_path: &Path,
        subscribers: I,
        opts: &SendOptions,
    ) -> Result<Summary, SendError>
    where
        I: Iterator<Item = Subscriber>,
    {
        let started = Instant::now();
        let ledger = if ledger_path.exists() {
            Some(Ledger::open(ledger_path)?)
        } else {
            None
        };
        let mut s = Summary {
            dry_run: true,
            ..Summary::default()
        };
        let mut due = 0usize;
        for sub in subscribers.filter(Subscriber::is_active) {
            let state = match &ledger {
                Some(l) => l.state(opts.day, &sub.key())?,
                None => None,
            };
            match state {
                Some(State::Sent) if !opts.resend => {
                    s.already_sent += 1;
                    continue;
                }
                Some(State::Failed) => {
                    s.failed += 1;
                    continue;
                }
                Some(State::Unknown) if opts.unknown_policy == UnknownPolicy::Skip => {
                    s.unknown += 1;
                    continue;
                }
                _ => {}
            }
            if opts.limit.is_some_and(|l| due >= l) {
                s.not_attempted += 1;
                continue;
            }
            due += 1;
            match self.composer.compose(&sub) {
                Ok(Some(_)) => s.sent += 1,
                Ok(None) => s.skipped += 1,
                Err(e) => {
                    s.failed += 1;
                    s.failures.push((
                        sub.email.clone(),
                        format!("could not build the message: {e}"),
                    ));
                }
            }
        }
        s.elapsed = started.elapsed();
        Ok(s)
    }

    /// Sends the day's message to one address outside the ledger (`--to`).
    ///
    /// # Errors
    /// The composer's or the transport's error, as text.
    pub async fn send_one(&self, subscriber: &Subscriber) -> Result<Option<String>, String> {
        let composed = self
            .composer
            .compose(subscriber)
            .map_err(|e| format!("could not build the message: {e}"))?;
        let Some(c) = composed else {
            return Ok(None);
        };
        let reply = self
            .transport
            .deliver(&c.message)
            .await
            .map_err(|e| e.to_string())?;
        self.transport.close().await;
        Ok(Some(reply))
    }
}

/// Walks the subscribers, decides who is due from the ledger and queues them.
fn produce<I>(
    run: &Run,
    reader: &Ledger,
    subscribers: I,
    jobs: &mpsc::Sender<Job>,
) -> Result<(), SendError>
where
    I: Iterator<Item = Subscriber>,
{
    let mut queued = 0usize;
    for sub in subscribers.filter(Subscriber::is_active) {
        let key = sub.key();
        let state = reader.state(run.opts.day, &key)?;
        match state {
            Some(State::Sent) if !run.opts.resend => {
                run.tally().summary.already_sent += 1;
                run.observer.outcome(&sub.email, Outcome::AlreadySent, None);
                continue;
            }
            Some(State::Failed) => {
                run.tally().summary.failed += 1;
                run.observer.outcome(&sub.email, Outcome::Failed, None);
                continue;
            }
            Some(State::Unknown) if run.opts.unknown_policy == UnknownPolicy::Skip => {
                let mut t = run.tally();
                t.summary.unknown += 1;
                t.summary.unknowns.push(sub.email.clone());
                drop(t);
                run.observer.outcome(&sub.email, Outcome::Unknown, None);
                continue;
            }
            _ => {}
        }
        if run.stopping() || run.opts.limit.is_some_and(|l| queued >= l) {
            run.tally().summary.not_attempted += 1;
            continue;
        }
        queued += 1;
        if jobs.blocking_send(Job { subscriber: sub }).is_err() {
            return Err(SendError::Internal("the send queue closed early".into()));
        }
    }
    Ok(())
}

impl Run {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A panicking task cannot leave the counters half-updated in a way
        // that matters more than losing the whole summary.
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.interrupt.load(Ordering::SeqCst)
    }

    fn halt(&self, reason: String) {
        let mut t = self.tally();
        if t.summary.stopped.is_none() {
            t.summary.stopped = Some(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// One subscriber's message: build, then attempt until an outcome.
    async fn deliver(&self, subscriber: Subscriber) {
        let key = subscriber.key();
        let email = subscriber.email.as_str();
        // Inline: the edition renders once per distinct filter, so building
        // one message is short; blocking-pool threads would cost memory instead.
        let composed = match self.composer.compose(&subscriber) {
            Ok(Some(c)) => c,
            Ok(None) => {
                if self.record(&key, State::Skipped, None).await {
                    self.tally().summary.skipped += 1;
                    self.observer.outcome(email, Outcome::Skipped, None);
                }
                return;
            }
            Err(e) => {
                let reply = format!("could not build the message: {e}");
                if self.record(&key, State::Failed, Some(&reply)).await {
                    let mut t = self.tally();
                    t.summary.failed += 1;
                    t.summary.failures.push((email.to_owned(), reply.clone()));
                    drop(t);
                    self.observer.outcome(email, Outcome::Failed, Some(&reply));
                }
                return;
            }
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if self.stopping() {
                self.tally().summary.not_attempted += 1;
                return;
            }
            let Ok(permit) = self.connections.acquire().await else {
                return;
            };
            if let Some(rate) = &self.rate {
                rate.wait().await;
            }
            if self.stopping() {
                self.tally().summary.not_attempted += 1;
                return;
            }
            // Durable before the first byte goes to the server.
            if let Err(e) = self.writer.begin(&key, &composed.message_id).await {
                self.halt(format!("the ledger could not be written: {e}"));
                self.tally().summary.not_attempted += 1;
                return;
            }
            let result = self.transport.deliver(&composed.message).await;
            drop(permit);
            let err = match result {
                Ok(reply) => {
                    self.failing_streak.store(0, Ordering::SeqCst);
                    if self.record(&key, State::Sent, Some(&reply)).await {
                        self.tally().summary.sent += 1;
                        self.observer.outcome(email, Outcome::Sent, None);
                    }
                    return;
                }
                Err(e) => e,
            };
            let reply = err.reply().to_owned();
            match err.failure() {
                Failure::Permanent => {
                    self.failing_streak.store(0, Ordering::SeqCst);
                    if !self.record(&key, State::Failed, Some(&reply)).await {
                        return;
                    }
                    {
                        let mut t = self.tally();
                        t.summary.failed += 1;
                        t.summary.failures.push((email.to_owned(), reply.clone()));
                    }
                    self.observer.outcome(email, Outcome::Failed, Some(&reply));
                    self.maybe_bounce(&key, email).await;
                    return;
                }
                Failure::Session => {
                    let _ = self.record(&key, State::Deferred, Some(&reply)).await;
                    self.tally().summary.deferred += 1;
                    self.halt(err.to_string());
                    return;
                }
                Failure::Unknown => {
                    if !self.record(&key, State::Unknown, Some(&reply)).await {
                        return;
                    }
                    if self.opts.unknown_policy == UnknownPolicy::Skip {
                        let mut t = self.tally();
                        t.summary.unknown += 1;
                        t.summary.unknowns.push(email.to_owned());
                        drop(t);
                        self.observer.outcome(email, Outcome::Unknown, Some(&reply));
                        return;
                    }
                }
                Failure::Transient => {
                    if !self.record(&key, State::Deferred, Some(&reply)).await {
                        return;
                    }
                }
            }
            // Transient, or unknown under `resend`.
            let streak = self.failing_streak.fetch_add(1, Ordering::SeqCst) + 1;
            let give_up_streak =
                (self.opts.max_attempts * self.opts.concurrency as u32 * 4).max(50);
            if streak >= give_up_streak {
                self.halt(format!(
                    "the mail server failed {streak} times in a row without a success; last: {reply}"
                ));
            }
            if attempt >= self.opts.max_attempts || self.stopping() {
                if err.failure() == Failure::Unknown {
                    // Leave it due for the next run, not in limbo.
                    let _ = self.record(&key, State::Deferred, Some(&reply)).await;
                }
                self.tally().summary.deferred += 1;
                self.observer
                    .outcome(email, Outcome::Deferred, Some(&reply));
                return;
            }
            self.observer
                .outcome(email, Outcome::Retrying, Some(&reply));
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Commits an outcome; on a ledger failure stops the run and returns false.
    async fn record(&self, key: &str, state: State, reply: Option<&str>) -> bool {
        match self.writer.finish(key, state, reply).await {
            Ok(()) => true,
            Err(e) => {
                self.halt(format!("the ledger could not be written: {e}"));
                false
            }
        }
    }

    async fn maybe_bounce(&self, key: &str, email: &str) {
        let (Some(store), limit) = (&self.store, self.opts.bounce_limit) else {
            return;
        };
        if limit == 0 {
            return;
        }
        let streak = match self.writer.consecutive_failures(key).await {
            Ok(n) => n,
            Err(e) => {
                self.halt(format!("the ledger could not be read: {e}"));
                return;
            }
        };
        if streak < limit {
            return;
        }
        let store = store.clone();
        let now = self.clock.now();
        let k = key.to_owned();
        let changed = tokio::task::spawn_blocking(move || {
            store.update(|list| Ok(list.set_status(&k, SubscriberStatus::Bounced, now)))
        })
        .await;
        match changed {
            Ok(Ok(true)) => self.tally().summary.bounced.push(email.to_owned()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!("could not mark `{email}` bounced: {e}"),
            Err(e) => tracing::warn!("could not mark `{email}` bounced: {e}"),
        }
    }

    /// `backoff * 2^(attempt-1)`, capped, times a random factor in [0.5, 1).
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.opts.max_backoff);
        exp.mul_f64(rand::thread_rng().gen_range(0.5..1.0))
    }
}

/// Spaces message starts evenly at `rate` per second across all workers.
struct RateLimiter {
    interval: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    fn new(rate: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / rate.max(1e-6)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}
