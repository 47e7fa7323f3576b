//! The engine of a run: subscribers stream from a reader thread through a
//! bounded queue; a dispatcher runs each message as a task that builds it
//! (through [`Compose`]), waits for the rate limit and a connection, commits
//! `sending`, hands it to the [`Transport`] and commits the outcome.
//! Transient failures are retried ([`super::retry`]); permanent ones are
//! recorded and may mark the subscriber bounced ([`super::bounce`]); a cut
//! after DATA is `unknown` and follows the configured policy; a session or
//! configuration failure stops the run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::bounce::{self, Verdict};
use super::ledger_writer::LedgerWriter;
use super::plan::{Decision, Plan};
use super::rate::RateLimiter;
use super::report::{Observer, Outcome, Silent, Summary};
use super::transport::{Failure, Transport};
use super::{retry, Compose, SendError, SendOptions};
use crate::clock::Clock;
use crate::config::UnknownPolicy;
use crate::ledger::{Audience, ClaimRule, Ledger, LedgerError, Place, State};
use crate::model::Subscriber;
use crate::subscribers::Store;

/// Sends one day's messages.
pub struct Sender {
    transport: Arc<dyn Transport>,
    composer: Arc<dyn Compose>,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn Store>>,
    observer: Arc<dyn Observer>,
    interrupt: Arc<AtomicBool>,
}

/// Counters shared by the tasks of a run.
#[derive(Default)]
struct Tally {
    summary: Summary,
}

struct Run {
    transport: Arc<dyn Transport>,
    composer: Arc<dyn Compose>,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn Store>>,
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
        transport: Arc<dyn Transport>,
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
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
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
        ledger: &Place,
        subscribers: I,
        total: u64,
        opts: &SendOptions,
    ) -> Result<Summary, SendError>
    where
        I: Iterator<Item = Subscriber> + Send + 'static,
    {
        let started = self.clock.instant();
        let day = opts.day;
        let wait = opts.wait;
        let place = ledger.clone();
        // Opening and locking may block (`--wait`): off the async threads.
        let (ledger, lock, reader) = tokio::task::spawn_blocking(move || {
            let ledger = place.open()?;
            let lock = ledger.lock_day(day, wait)?;
            let reader = place.open()?;
            Ok::<_, LedgerError>((ledger, lock, reader))
        })
        .await
        .map_err(|e| SendError::Internal(e.to_string()))??;
        let recovered = ledger.recover(day, self.clock.now())? as u64;
        let (writer, writer_thread) = LedgerWriter::spawn(ledger, day, self.clock.clone());
        self.observer.planned(total);

        let run = self.run(writer, opts);
        run.tally().summary.recovered = recovered;

        // The reader thread decides, row by row, who is due and queues them.
        let (job_tx, job_rx) = mpsc::channel::<Job>(opts.concurrency.max(1) * 8);
        let producer_run = run.clone();
        let producer = tokio::task::spawn_blocking(move || {
            produce(&producer_run, &reader, subscribers, &job_tx)
        });
        dispatch(&run, job_rx).await?;
        producer
            .await
            .map_err(|e| SendError::Internal(e.to_string()))??;
        self.transport.close().await;
        let summary = run.take_summary();
        drop(run);
        let _ = writer_thread.join();
        drop(lock);
        Ok(self.finish(summary, started))
    }

    /// Sends an edition kept in a database, as one of any number of
    /// cooperating workers (on this host or others): queues the audience
    /// (once per edition; a later worker adds only readers changed since),
    /// takes over deliveries whose worker died, then claims batches of due
    /// deliveries until none is left, renewing its lease as it goes. No two
    /// workers hold the same delivery, and a worker that lost its lease
    /// writes nothing over the new holder's record.
    ///
    /// # Errors
    /// When the ledger is not a database, or the database fails.
    pub async fn send_queued(
        &self,
        ledger: &Place,
        audience: Audience,
        opts: &SendOptions,
    ) -> Result<Summary, SendError> {
        let started = self.clock.instant();
        let day = opts.day;
        let place = ledger.clone();
        let lease = opts.lease;
        let run_opts = opts.clone();
        let queue_audience = audience.clone();
        let now = self.clock.now();
        let Joined {
            writer,
            claimer,
            renewer,
            rule,
            queued,
            recovered,
            remaining,
            worker,
        } = tokio::task::spawn_blocking(move || join(&place, queue_audience, &run_opts, now))
            .await
            .map_err(|e| SendError::Internal(e.to_string()))??;
        let (writer, writer_thread) = LedgerWriter::spawn(writer, day, self.clock.clone());
        self.observer.planned(remaining);
        let run = self.run(writer, opts);
        {
            let mut t = run.tally();
            t.summary.recovered = recovered as u64;
            t.summary.queued = queued.added;
            t.summary.worker = Some(worker);
        }
        let renewal = Renewal::start(renewer, day, lease);

        let (job_tx, job_rx) = mpsc::channel::<Job>(opts.concurrency.max(1) * 8);
        let producer_run = run.clone();
        let producer = tokio::task::spawn_blocking(move || {
            let result = produce_claims(&producer_run, &claimer, &audience, rule, &job_tx);
            drop(job_tx);
            (result, claimer)
        });
        let dispatched = dispatch(&run, job_rx).await;
        let (claiming, claimer) = producer
            .await
            .map_err(|e| SendError::Internal(e.to_string()))?;
        self.transport.close().await;
        renewal.stop();
        // Claims not tried (a stopped run) go back at once, not after the
        // lease; should that fail, they come due when it has passed.
        let elsewhere = tokio::task::spawn_blocking(move || {
            let claims = claimer.claims()?;
            if let Err(e) = claims.release_untried(day) {
                tracing::warn!("could not give back this worker's untried claims: {e}");
            }
            claims
                .held_elsewhere(day)
                .map_err(|e| tracing::warn!("could not count other workers' claims: {e}"))
                .ok()
        })
        .await
        .ok()
        .flatten();
        dispatched?;
        claiming?;
        let mut summary = run.take_summary();
        summary.elsewhere = elsewhere.unwrap_or(0);
        drop(run);
        let _ = writer_thread.join();
        Ok(self.finish(summary, started))
    }

    /// The shared state of one run's tasks.
    fn run(&self, writer: LedgerWriter, opts: &SendOptions) -> Arc<Run> {
        Arc::new(Run {
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
            rate: opts.rate.map(|r| RateLimiter::new(r, self.clock.instant())),
            failing_streak: AtomicU32::new(0),
        })
    }

    /// The summary's last figures, and its lists in order.
    fn finish(&self, mut summary: Summary, started: std::time::Instant) -> Summary {
        summary.elapsed = self.clock.instant().saturating_duration_since(started);
        summary.interrupted = self.interrupt.load(Ordering::SeqCst);
        summary.failures.sort();
        summary.unknowns.sort();
        summary.bounced.sort();
        summary.lost.sort();
        summary
    }

    /// Builds every due message and counts, sends nothing, writes nothing.
    ///
    /// # Errors
    /// When an existing ledger cannot be read.
    pub fn dry_run<I>(
        &self,
        ledger: &Place,
        subscribers: I,
        opts: &SendOptions,
    ) -> Result<Summary, SendError>
    where
        I: Iterator<Item = Subscriber>,
    {
        let started = self.clock.instant();
        let ledger = if ledger.exists() {
            Some(ledger.open()?)
        } else {
            None
        };
        let mut s = Summary {
            dry_run: true,
            ..Summary::default()
        };
        let mut plan = Plan::new(opts);
        for sub in subscribers.filter(Subscriber::is_active) {
            let state = match &ledger {
                Some(l) => l.state(opts.day, &sub.key())?,
                None => None,
            };
            match plan.decide(state) {
                Decision::AlreadySent => s.already_sent += 1,
                Decision::Failed => s.failed += 1,
                Decision::LeftUnknown => s.unknown += 1,
                Decision::Later => s.not_attempted += 1,
                Decision::Send => match self.composer.compose(&sub) {
                    Ok(Some(_)) => s.sent += 1,
                    Ok(None) => s.skipped += 1,
                    Err(e) => {
                        s.failed += 1;
                        s.failures.push((
                            sub.email.clone(),
                            format!("could not build the message: {e}"),
                        ));
                    }
                },
            }
        }
        s.elapsed = self.clock.instant().saturating_duration_since(started);
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
        let reply = self.transport.send(&c).await.map_err(|e| e.to_string());
        self.transport.close().await;
        reply.map(Some)
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
    let mut plan = Plan::new(&run.opts);
    for sub in subscribers.filter(Subscriber::is_active) {
        let state = reader.state(run.opts.day, &sub.key())?;
        let decision = match plan.decide(state) {
            Decision::Send if run.stopping() => Decision::Later,
            d => d,
        };
        match decision {
            Decision::AlreadySent => {
                run.tally().summary.already_sent += 1;
                run.observer.outcome(&sub.email, Outcome::AlreadySent, None);
            }
            Decision::Failed => {
                run.tally().summary.failed += 1;
                run.observer.outcome(&sub.email, Outcome::Failed, None);
            }
            Decision::LeftUnknown => {
                let mut t = run.tally();
                t.summary.unknown += 1;
                t.summary.unknowns.push(sub.email.clone());
                drop(t);
                run.observer.outcome(&sub.email, Outcome::Unknown, None);
            }
            Decision::Later => run.tally().summary.not_attempted += 1,
            Decision::Send => {
                if jobs.blocking_send(Job { subscriber: sub }).is_err() {
                    return Err(SendError::Internal("the send queue closed early".into()));
                }
            }
        }
    }
    Ok(())
}

/// A worker that joined an edition: its sessions (writes, claims,
/// renewals), what it queued and took over, and what is left.
struct Joined {
    writer: Ledger,
    claimer: Ledger,
    renewer: Ledger,
    rule: ClaimRule,
    queued: crate::ledger::Queued,
    recovered: usize,
    remaining: u64,
    worker: String,
}

/// Joins the edition `opts.day` on the database `place`: opens this
/// worker's sessions, queues the audience, takes over what dead workers
/// left cut, and counts what is due.
fn join(
    place: &Place,
    audience: Audience,
    opts: &SendOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Joined, SendError> {
    let not_shared =
        || SendError::Internal("cooperative sending needs the ledger in a database".into());
    let writer = place.open()?.with_lease(opts.lease);
    let sessions = writer.claims().ok_or_else(not_shared)?;
    let (claimer, renewer) = (sessions.session()?, sessions.session()?);
    let claims = claimer.claims().ok_or_else(not_shared)?;
    let rule = opts.claim_rule(claims.now()?);
    let queued = claims.queue(opts.day, audience)?;
    let recovered = claims.recover_expired(opts.day, now)?;
    let remaining = claims.remaining(opts.day, rule)?;
    let worker = claims.worker().to_owned();
    Ok(Joined {
        writer,
        claimer,
        renewer,
        rule,
        queued,
        recovered,
        remaining,
        worker,
    })
}

/// Runs each queued job as a task, with at most a bounded number of built
/// messages in flight (retries waiting included): bounds memory, since a
/// message is held two or three times over while it is sent.
async fn dispatch(run: &Arc<Run>, mut jobs: mpsc::Receiver<Job>) -> Result<(), SendError> {
    let in_flight = Arc::new(Semaphore::new(run.opts.concurrency.max(1) * 16));
    let mut tasks = JoinSet::new();
    while let Some(job) = jobs.recv().await {
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
    Ok(())
}

/// Claims batches of due deliveries and queues them, until none is left
/// (or the run stops, or `--limit` is reached). A claimed reader who left
/// the audience since the edition was queued is given back untried.
fn produce_claims(
    run: &Run,
    claimer: &Ledger,
    audience: &Audience,
    rule: ClaimRule,
    jobs: &mpsc::Sender<Job>,
) -> Result<(), SendError> {
    let claims = claimer
        .claims()
        .ok_or_else(|| SendError::Internal("claims need a database".into()))?;
    let day = run.opts.day;
    // Enough to keep every connection busy while the next batch is claimed.
    let batch = (run.opts.concurrency.max(1) * 16).clamp(32, 512);
    let mut queued = 0usize;
    loop {
        if run.stopping() {
            break;
        }
        let n = match run.opts.limit {
            Some(limit) => batch.min(limit.saturating_sub(queued)),
            None => batch,
        };
        if n == 0 {
            break;
        }
        let batch_claimed = claims.claim(day, n, rule)?;
        if batch_claimed.is_empty() {
            // A worker may have died since this one began: its cut
            // deliveries come due once its lease has passed.
            let taken = claims.recover_expired(day, run.clock.now())?;
            if taken == 0 {
                break;
            }
            run.tally().summary.recovered += taken as u64;
            continue;
        }
        let mut gone = Vec::new();
        for c in batch_claimed {
            match c.subscriber {
                Some(s) if audience(&s) => {
                    queued += 1;
                    if jobs.blocking_send(Job { subscriber: s }).is_err() {
                        return Err(SendError::Internal("the send queue closed early".into()));
                    }
                }
                _ => gone.push(c.email),
            }
        }
        claims.release(day, gone)?;
    }
    if run.opts.limit.is_some_and(|l| queued >= l) {
        let left = claims.remaining(day, rule)?;
        run.tally().summary.not_attempted += left;
    }
    Ok(())
}

/// Renews a worker's lease every third of it on a session of its own,
/// until stopped.
struct Renewal {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Renewal {
    fn start(ledger: Ledger, day: crate::ledger::EditionKey, lease: std::time::Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let every = lease / 3;
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                if let Some(claims) = ledger.claims() {
                    if let Err(e) = claims.renew(day) {
                        tracing::warn!("could not renew this worker's lease: {e}");
                    }
                }
            }
        });
        Self { stop, thread }
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

impl Run {
    fn take_summary(&self) -> Summary {
        std::mem::take(&mut self.tally().summary)
    }

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
            match self.writer.begin(&key, &composed.message_id).await {
                Ok(true) => {}
                Ok(false) => {
                    self.lost(email);
                    return;
                }
                Err(e) => {
                    self.halt(format!("the ledger could not be written: {e}"));
                    self.tally().summary.not_attempted += 1;
                    return;
                }
            }
            let result = self.transport.send(&composed).await;
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
            let reply = err.reply().to_string();
            match err.failure() {
                Failure::Permanent => {
                    self.failing_streak.store(0, Ordering::SeqCst);
                    let hard = err.reply().is_address_refused();
                    if !self
                        .record_as(&key, State::Failed, Some(&reply), hard)
                        .await
                    {
                        return;
                    }
                    {
                        let mut t = self.tally();
                        t.summary.failed += 1;
                        t.summary.failures.push((email.to_owned(), reply.clone()));
                    }
                    self.observer.outcome(email, Outcome::Failed, Some(&reply));
                    if !hard {
                        // The sender's or the message's problem, not the reader's.
                        return;
                    }
                    let verdict = bounce::after_refusal(
                        self.store.as_ref(),
                        &self.writer,
                        &key,
                        self.opts.bounce_limit,
                        self.clock.now(),
                    )
                    .await;
                    match verdict {
                        Ok(Verdict::Bounced) => self.tally().summary.bounced.push(email.to_owned()),
                        Ok(Verdict::Active) => {}
                        Err(e) => self.halt(e),
                    }
                    return;
                }
                Failure::Session | Failure::Config => {
                    // Nothing was sent; the message stays due for the next run.
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
            if streak >= retry::give_up_streak(&self.opts) {
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
            tokio::time::sleep(retry::delay(&self.opts, attempt, self.clock.random())).await;
        }
    }

    /// Another worker holds this delivery now: counted, never written over.
    fn lost(&self, email: &str) {
        self.tally().summary.lost.push(email.to_owned());
        tracing::warn!(
            "{email}: another worker took this delivery over after this worker's lease ran out; its record is left as that worker wrote it"
        );
    }

    /// Commits an outcome; on a ledger failure stops the run and returns false.
    async fn record(&self, key: &str, state: State, reply: Option<&str>) -> bool {
        self.record_as(key, state, reply, false).await
    }

    /// [`Run::record`], saying whether a failure counts toward a bounce.
    async fn record_as(&self, key: &str, state: State, reply: Option<&str>, hard: bool) -> bool {
        match self.writer.finish(key, state, reply, hard).await {
            Ok(true) => true,
            Ok(false) => {
                self.lost(key);
                false
            }
            Err(e) => {
                self.halt(format!("the ledger could not be written: {e}"));
                false
            }
        }
    }
}
