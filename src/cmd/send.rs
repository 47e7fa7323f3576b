//! `hotpapers send --date D`: the day's email to every active subscriber,
//! exactly once (see [`crate::delivery`]), and the weekly edition to the
//! weekly readers due that day, with a progress bar on a terminal and
//! log lines otherwise, and a summary on stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::{printable, Outcome};
use crate::cli::SendArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::{
    self, Compose, ComposeError, EditionMessages, Mailer, Observer, Outgoing, SendOptions, Sender,
    Summary,
};
use crate::digest;
use crate::email::{Edition, Newsletter};
use crate::ledger::{Audience, EditionKey, Place};
use crate::model::{Cadence, Subscriber, Week};

/// Runs `send`: the daily edition of the day to daily readers (none when
/// there is no digest that day: weekends and holidays are not errors), and
/// the weekly edition of the seven days ending on it to the weekly readers
/// whose weekday it is. Each is its own ledger run, keyed by the day or the
/// ISO week.
#[allow(clippy::too_many_lines)] // one straight sequence of steps
pub(super) fn run(config: &Config, args: &SendArgs) -> Result<Outcome> {
    let day = args.date;
    if config.delivery.smtp.is_some() {
        config.require_strong_secret("mail goes over SMTP")?;
    }
    let archive = digest::load_archive(&config.digests).with_context(|| {
        format!(
            "could not read the digests in `{}`",
            config.digests.display()
        )
    })?;
    // A digest file of the day that does not parse is not a day off.
    if let Some(broken) = archive
        .problems
        .iter()
        .find(|p| problem_day(p) == Some(day))
    {
        return Err(anyhow!("the digest of {day} cannot be read: {broken}"));
    }
    let stores = crate::state::Stores::open(config)?;
    let store = stores.subscribers.clone();
    // On a database the workers queue and claim the readers there: the
    // list is read whole only for a dry run or `--to`.
    let shared = matches!(stores.ledger, Place::Database(_));
    let list = if shared && !args.dry_run && args.to.is_none() {
        None
    } else {
        let list = store.load().with_context(|| {
            format!(
                "could not read the subscribers in {}",
                crate::state::subscribers_place(config)
            )
        })?;
        for w in list.warnings() {
            tracing::warn!("{w}");
        }
        Some(list)
    };
    let transport = delivery::transport_from_config(&config.delivery)?;
    if let Some(notice) = transport.notice() {
        eprintln!("{notice}");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // One newsletter, mailer and edition per process: leaked so the day's
    // messages (which borrow them) can be shared by the sending tasks.
    let newsletter: &'static Newsletter = Box::leak(Box::new(super::newsletter(config)?));
    let mailer: &'static Mailer = Box::leak(Box::new(super::mailer(config)?));
    let daily: Option<&'static Edition<'static>> = match archive.get(day) {
        Some(digest) => Some(Box::leak(Box::new(
            newsletter
                .edition(digest)
                .with_context(|| format!("could not prepare the {day} edition"))?,
        ))),
        None => None,
    };
    let week = Week::ending(day);
    let weekly: &'static Edition<'static> =
        Box::leak(Box::new(newsletter.weekly_edition(week, archive.iter())));
    let (mut daily_readers, mut weekly_readers) = (Vec::new(), Vec::new());
    for s in list
        .iter()
        .flat_map(crate::subscribers::SubscriberList::iter)
    {
        match s.edition_on(day) {
            Some(false) => daily_readers.push(s.clone()),
            Some(true) => weekly_readers.push(s.clone()),
            None => {}
        }
    }
    let active = |v: &[Subscriber]| v.iter().filter(|s| s.is_active()).count() as u64;
    let (daily_due, weekly_due) = (active(&daily_readers), active(&weekly_readers));
    let audience = |weekly: bool| -> Audience {
        Arc::new(move |s: &Subscriber| s.is_active() && s.edition_on(day) == Some(weekly))
    };
    // The weekly edition is sent once per week: a digest of the week that
    // does not parse would be left out of it for good, so it stops the run.
    let broken_week = archive
        .problems
        .iter()
        .find(|p| problem_day(p).is_some_and(|d| week.contains(d)));
    if let Some(broken) = broken_week {
        let weekly_readers_due = if list.is_some() {
            weekly_due > 0
        } else {
            let opts = SendOptions::from_config(&config.delivery, EditionKey::week_of(day));
            queued_readers(&stores.ledger, audience(true), &opts)? > 0
        };
        if weekly_readers_due {
            return Err(anyhow!(
                "the weekly edition of {} cannot be made: {broken}",
                week.iso_key()
            ));
        }
    }
    let weekly_has_papers = !weekly.digest().papers.is_empty();
    // Each run adds what it plans to the bar (on a database, once queued).
    let observer = Arc::new(Progress::new());
    let sender_for = |edition: &'static Edition<'static>| {
        let composer = Arc::new(EditionComposer {
            messages: mailer.edition(edition),
            clock: clock.clone(),
        });
        Sender::new(transport.clone(), composer, clock.clone())
            .with_store(store.clone())
            .with_observer(observer.clone())
    };
    let options = |key: EditionKey| {
        let mut opts = SendOptions::from_config(&config.delivery, key);
        opts.limit = args.limit;
        opts.resend = args.resend;
        opts.wait = args.wait;
        opts
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;

    if let Some(to) = &args.to {
        crate::subscribers::check_address(to)?;
        let subscriber = list
            .as_ref()
            .and_then(|l| l.get(to))
            .cloned()
            .unwrap_or_else(|| Subscriber::new(to.clone()));
        let (edition, what) = if subscriber.cadence == Cadence::Weekly {
            (
                weekly,
                format!("weekly email of {} to {}", week.start, week.end),
            )
        } else {
            let edition = daily.ok_or_else(|| {
                anyhow!(
                    "no digest for {day} in `{}` (expected `{day}.md`)",
                    config.digests.display()
                )
            })?;
            (edition, format!("{day} email"))
        };
        return match runtime.block_on(sender_for(edition).send_one(&subscriber)) {
            Ok(Some(reply)) => {
                println!("sent the {what} to {to} (outside the ledger): {reply}");
                Ok(Outcome::Done)
            }
            Ok(None) => {
                println!("nothing to send to {to}: their filter leaves no paper in the {what}");
                Ok(Outcome::Done)
            }
            Err(e) => Err(anyhow!("could not send to `{to}`: {e}")),
        };
    }

    let readers = |listed: Vec<Subscriber>, due: u64, weekly: bool| {
        if list.is_some() {
            Readers::Listed(listed, due)
        } else {
            Readers::Queued(audience(weekly))
        }
    };
    let count = |due: u64| {
        if list.is_some() {
            format!("{due} ")
        } else {
            String::new()
        }
    };
    let mut runs: Vec<(String, Sender, Readers, SendOptions)> = Vec::new();
    let mut notes = Vec::new();
    match daily {
        Some(edition) => runs.push((
            day.format("%Y-%m-%d").to_string(),
            sender_for(edition),
            readers(daily_readers, daily_due, false),
            options(day.into()),
        )),
        None => notes.push(format!(
            "{day}: no digest in `{}`: nothing to send to {}daily reader(s)",
            config.digests.display(),
            count(daily_due)
        )),
    }
    let week_label = format!("week {} ({} to {})", week.iso_key(), week.start, week.end);
    if weekly_due > 0 || list.is_none() {
        if weekly_has_papers {
            runs.push((
                week_label,
                sender_for(weekly),
                readers(weekly_readers, weekly_due, true),
                options(EditionKey::week_of(day)),
            ));
        } else {
            notes.push(format!(
                "{week_label}: no papers: nothing to send to {}weekly reader(s)",
                count(weekly_due)
            ));
        }
    }

    let interrupts: Vec<_> = runs.iter().map(|r| r.1.interrupt_flag()).collect();
    if !args.dry_run {
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                for flag in &interrupts {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                eprintln!(
                    "interrupted: finishing the messages in flight (Ctrl-C again to quit now)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    // Rows left `sending` become `unknown` on the next run.
                    std::process::exit(130);
                }
            }
        });
    }
    let mut outcome = Outcome::Done;
    let mut summaries = Vec::new();
    for (label, sender, readers, opts) in runs {
        let summary = match readers {
            Readers::Listed(readers, _) if args.dry_run => {
                sender.dry_run(&stores.ledger, readers.into_iter(), &opts)?
            }
            Readers::Listed(readers, due) => runtime.block_on(sender.send_day(
                &stores.ledger,
                readers.into_iter(),
                due,
                &opts,
            ))?,
            Readers::Queued(audience) => {
                runtime.block_on(sender.send_queued(&stores.ledger, audience, &opts))?
            }
        };
        let this = if summary.interrupted {
            Outcome::Interrupted
        } else if summary.stopped.is_some() {
            Outcome::CouldNotRun
        } else if summary.failed > 0
            || summary.deferred > 0
            || summary.unknown > 0
            || !summary.lost.is_empty()
        {
            Outcome::SomeFailed
        } else {
            Outcome::Done
        };
        outcome = worse(outcome, this);
        let stop = summary.interrupted || summary.stopped.is_some();
        summaries.push((label, summary));
        if stop {
            break;
        }
    }
    observer.finish();
    let mut out = std::io::stdout().lock();
    for note in &notes {
        writeln!(out, "{note}")?;
    }
    drop(out);
    for (label, summary) in &summaries {
        print_summary(label, summary)?;
    }
    Ok(outcome)
}

/// Who a run goes to: a list read here, or, on a database, the readers
/// the workers queue and claim there.
enum Readers {
    /// The readers, and how many of them are active.
    Listed(Vec<Subscriber>, u64),
    /// Who gets the edition.
    Queued(Audience),
}

/// Queues an edition on the database (as a worker would) and counts the
/// readers it is due to under `opts`.
fn queued_readers(ledger: &Place, audience: Audience, opts: &SendOptions) -> Result<u64> {
    let ledger = ledger.open()?.with_lease(opts.lease);
    let claims = ledger
        .claims()
        .ok_or_else(|| anyhow!("queueing needs the ledger in a database"))?;
    let since = claims.now()?;
    claims.queue(opts.day, audience)?;
    Ok(claims.remaining(opts.day, opts.claim_rule(since))?)
}

/// The outcome that says more: interrupted, then could not run, then failed.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Interrupted => 3,
        Outcome::CouldNotRun => 2,
        Outcome::SomeFailed => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn print_summary(day: &str, s: &Summary) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let verb = if s.dry_run { "would send" } else { "sent" };
    writeln!(
        out,
        "{day}: {verb} {}, skipped {} (filter left nothing) + {} (already sent), deferred {}, failed {}, unknown {}{} in {:.1}s ({:.1} msgs/s)",
        s.sent,
        s.skipped,
        s.already_sent,
        s.deferred,
        s.failed,
        s.unknown,
        if s.not_attempted > 0 {
            format!(", left for a later run {}", s.not_attempted)
        } else {
            String::new()
        },
        s.elapsed.as_secs_f64(),
        s.messages_per_second()
    )?;
    if let Some(worker) = &s.worker {
        writeln!(
            out,
            "worker {}: queued {} new reader(s) for this edition",
            printable(worker),
            s.queued
        )?;
    }
    if s.recovered > 0 {
        writeln!(
            out,
            "{} message(s) were cut mid-transaction by an earlier interrupted run (unknown)",
            s.recovered
        )?;
    }
    if s.elsewhere > 0 {
        writeln!(
            out,
            "{} delivery(ies) are held by other workers still running",
            s.elsewhere
        )?;
    }
    for email in &s.lost {
        writeln!(
            out,
            "taken over by another worker after this one's lease ran out (not recorded here): {}",
            printable(email)
        )?;
    }
    for (email, reply) in &s.failures {
        writeln!(out, "failed: {}: {}", printable(email), printable(reply))?;
    }
    for email in &s.unknowns {
        writeln!(
            out,
            "unknown (not resent, policy `skip`): {}",
            printable(email)
        )?;
    }
    for email in &s.bounced {
        writeln!(out, "marked bounced: {}", printable(email))?;
    }
    if s.interrupted {
        writeln!(
            out,
            "interrupted: run the same command again to send the rest"
        )?;
    }
    if let Some(reason) = &s.stopped {
        writeln!(out, "stopped early: {reason}")?;
    }
    Ok(())
}

/// A progress bar on a terminal; otherwise a log line per failure and every 10%.
struct Progress {
    bar: Option<ProgressBar>,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn planned(&self, total: u64) {
        self.total.fetch_add(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(total);
        }
    }

    fn outcome(&self, email: &str, outcome: delivery::Outcome, detail: Option<&str>) {
        use delivery::Outcome as O;
        let detail = detail.unwrap_or("");
        match outcome {
            O::Failed => tracing::warn!("{email}: failed: {detail}"),
            O::Retrying => tracing::info!("{email}: will retry: {detail}"),
            O::Deferred => tracing::warn!("{email}: deferred to the next run: {detail}"),
            O::Unknown => tracing::warn!("{email}: delivery unknown: {detail}"),
            _ => {}
        }
        if outcome == O::Retrying {
            return;
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let total = self.total.load(Ordering::Relaxed);
                let step = (total / 10).max(100);
                if done.is_multiple_of(step) || done == total {
                    tracing::info!("{done}/{total} subscribers done");
                }
            }
        }
    }
}

/// The day's messages as the engine's composer: one render per distinct
/// filter (cached by the edition), encoded once (cached by the messages),
/// personalized per reader.
struct EditionComposer {
    messages: EditionMessages<'static>,
    clock: Arc<dyn Clock>,
}

impl Compose for EditionComposer {
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Outgoing>, ComposeError> {
        Ok(self.messages.message_for(subscriber, self.clock.now())?)
    }
}

/// The day a digest that failed to load is for, as its file name says
/// (`2021-02-12.md`, `2021-02-12---Hot-Papers.md`): the title inside could
/// not be read.
fn problem_day(problem: &digest::DigestError) -> Option<chrono::NaiveDate> {
    let name = problem.path().file_name()?.to_str()?;
    chrono::NaiveDate::parse_from_str(name.get(..10)?, "%Y-%m-%d").ok()
}
