//! `hotpapers send --date D`: the day's email to every active subscriber,
//! exactly once (see [`crate::delivery`]), with a progress bar on a terminal and
//! log lines otherwise, and a summary on stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use chrono::NaiveDate;
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
use crate::model::Subscriber;
use crate::subscribers::SubscriberStore;

/// Runs `send`.
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
    let digest = archive
        .get(day)
        .ok_or_else(|| {
            anyhow!(
                "no digest for {day} in `{}` (expected `{day}.md`)",
                config.digests.display()
            )
        })?
        .clone();
    let store = SubscriberStore::open(&config.subscribers)?;
    let list = store.load().with_context(|| {
        format!(
            "could not read the subscribers in `{}`",
            config.subscribers.display()
        )
    })?;
    for w in list.warnings() {
        tracing::warn!("{w}");
    }
    let transport = delivery::transport_from_config(&config.delivery)?;
    if let Some(notice) = transport.notice() {
        eprintln!("{notice}");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // One newsletter, mailer and edition per process: leaked so the day's
    // messages (which borrow them) can be shared by the sending tasks.
    let newsletter: &'static Newsletter = Box::leak(Box::new(super::newsletter(config)?));
    let mailer: &'static Mailer = Box::leak(Box::new(super::mailer(config)?));
    let edition: &'static Edition<'static> =
        Box::leak(Box::new(newsletter.edition(&digest).with_context(
            || format!("could not prepare the {day} edition"),
        )?));
    let composer = Arc::new(EditionComposer {
        messages: mailer.edition(edition),
        clock: clock.clone(),
    });
    let total = list.active().count() as u64;
    let observer = Arc::new(Progress::new(total));
    let sender = Sender::new(transport, composer, clock)
        .with_store(store)
        .with_observer(observer.clone());
    let mut opts = SendOptions::from_config(&config.delivery, day);
    opts.limit = args.limit;
    opts.resend = args.resend;
    opts.wait = args.wait;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;

    if let Some(to) = &args.to {
        crate::subscribers::check_address(to)?;
        let subscriber = list
            .get(to)
            .cloned()
            .unwrap_or_else(|| Subscriber::new(to.clone()));
        return match runtime.block_on(sender.send_one(&subscriber)) {
            Ok(Some(reply)) => {
                println!("sent the {day} email to {to} (outside the ledger): {reply}");
                Ok(Outcome::Done)
            }
            Ok(None) => {
                println!("nothing to send to {to}: their filter leaves no paper on {day}");
                Ok(Outcome::Done)
            }
            Err(e) => Err(anyhow!("could not send to `{to}`: {e}")),
        };
    }

    let summary = if args.dry_run {
        sender.dry_run(&config.state, list.into_records(), &opts)?
    } else {
        let interrupt = sender.interrupt_flag();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupt.store(true, std::sync::atomic::Ordering::SeqCst);
                eprintln!(
                    "interrupted: finishing the messages in flight (Ctrl-C again to quit now)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    // Rows left `sending` become `unknown` on the next run.
                    std::process::exit(130);
                }
            }
        });
        runtime.block_on(sender.send_day(&config.state, list.into_records(), total, &opts))?
    };
    observer.finish();
    print_summary(day, &summary)?;
    Ok(if summary.interrupted {
        Outcome::Interrupted
    } else if summary.stopped.is_some() {
        Outcome::CouldNotRun
    } else if summary.failed > 0 || summary.deferred > 0 || summary.unknown > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}

fn print_summary(day: NaiveDate, s: &Summary) -> Result<()> {
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
    if s.recovered > 0 {
        writeln!(
            out,
            "{} message(s) were cut mid-transaction by an earlier interrupted run (unknown)",
            s.recovered
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
    total: u64,
    done: AtomicU64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total,
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
                let step = (self.total / 10).max(100);
                if done.is_multiple_of(step) || done == self.total {
                    tracing::info!("{done}/{} subscribers done", self.total);
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
