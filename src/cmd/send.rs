//! `hotpapers send --date D`: the day's email to every active subscriber,
//! exactly once (see [`crate::send`]), with a progress bar on a terminal and
//! log lines otherwise, and a summary on stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use sha2::{Digest as _, Sha256};

use super::Outcome;
use crate::cli::SendArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::deliver::Transport;
use crate::digest;
use crate::model::{Digest, Subscriber};
use crate::send::{Compose, ComposeError, Composed, Observer, SendOptions, Sender, Summary};
use crate::subscribers::SubscriberStore;
use crate::token::Signer;

/// Runs `send`.
pub(super) fn run(config: &Config, args: &SendArgs) -> Result<Outcome> {
    let day = parse_day(&args.date)?;
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
    let transport = Transport::from_config(config)?;
    if let Some(dir) = transport.outbox_dir() {
        eprintln!(
            "no SMTP server set (HOTPAPERS_SMTP_URL): writing each message as an .eml file in `{}`",
            dir.display()
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let composer = Arc::new(PlainComposer::new(config, digest, clock.clone()));
    let total = list.active().count() as u64;
    let observer = Arc::new(Progress::new(total));
    let sender = Sender::new(Arc::new(transport), composer, clock)
        .with_store(store)
        .with_observer(observer.clone());
    let mut opts = SendOptions::from_config(config, day);
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
        runtime.block_on(sender.send_day(&config.state, list.into_records(), total, &opts))?
    };
    observer.finish();
    print_summary(day, &summary)?;
    Ok(if summary.stopped.is_some() {
        Outcome::CouldNotRun
    } else if summary.failed > 0 || summary.deferred > 0 || summary.unknown > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}

pub(super) fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| anyhow!("invalid date `{s}`: {e} (expected YYYY-MM-DD)"))
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
        writeln!(out, "failed: {email}: {reply}")?;
    }
    for email in &s.unknowns {
        writeln!(out, "unknown (not resent, policy `skip`): {email}")?;
    }
    for email in &s.bounced {
        writeln!(out, "marked bounced: {email}")?;
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
    fn outcome(&self, email: &str, outcome: crate::send::Outcome, detail: Option<&str>) {
        use crate::send::Outcome as O;
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
                let step = (self.total / 10).max(1);
                if done.is_multiple_of(step) || done == self.total {
                    tracing::info!("{done}/{} subscribers done", self.total);
                }
            }
        }
    }
}

/// A plain-text edition of the digest, used until the email renderer
/// (`crate::email`) is wired in: the subscriber's filtered papers with links,
/// a stable Message-ID per (day, subscriber) and one-click unsubscribe headers.
struct PlainComposer {
    digest: Digest,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    title: String,
    site: String,
    postal: String,
    mailto: String,
    signer: Signer,
    clock: Arc<dyn Clock>,
    unsubscribe_base: String,
}

impl PlainComposer {
    fn new(config: &Config, digest: Digest, clock: Arc<dyn Clock>) -> Self {
        Self {
            digest,
            from: config.from.clone(),
            reply_to: config.reply_to.clone(),
            title: config.title.clone(),
            site: config.site_url.to_string(),
            postal: config.postal_address.clone(),
            mailto: config.unsubscribe_mailto.clone(),
            signer: Signer::new(&config.secret),
            clock,
            unsubscribe_base: config.site_link("unsubscribe"),
        }
    }
}

impl Compose for PlainComposer {
    fn compose(&self, subscriber: &Subscriber) -> Result<Option<Composed>, ComposeError> {
        let selection = subscriber.filter().select(&self.digest);
        if selection.papers.is_empty() {
            return Ok(None);
        }
        let day = self.digest.date.format("%Y-%m-%d").to_string();
        let hash = hex::encode(Sha256::digest(subscriber.key().as_bytes()));
        let message_id = format!(
            "<hotpapers.{day}.{}@{}>",
            &hash[..20],
            self.from.email.domain()
        );
        let unsubscribe = format!(
            "{}?token={}",
            self.unsubscribe_base,
            self.signer.unsubscribe_token(&subscriber.key())
        );
        let mut body = format!("{} {day}\n\n", self.title);
        for p in &selection.papers {
            body.push_str(&format!(
                "{}. {}\n   {}\n   {} retweets, {} favorites\n   {}\n\n",
                p.rank,
                p.title,
                p.authors.join(", "),
                p.retweets,
                p.favorites,
                p.canonical_url()
            ));
        }
        body.push_str(&format!(
            "--\nThe whole digest: {}{day}/\nUnsubscribe: {unsubscribe}\n{}\n",
            self.site, self.postal
        ));
        let to = match &subscriber.name {
            Some(n) => Mailbox::new(Some(n.clone()), subscriber.email.trim().parse()?),
            None => Mailbox::new(None, subscriber.email.trim().parse()?),
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!(
                "{} {day}: {}",
                self.title,
                selection.papers.first().map_or("", |p| p.title.as_str())
            ))
            .message_id(Some(message_id.clone()))
            .date(self.clock.now().into())
            .header(ListUnsubscribe(format!(
                "<{unsubscribe}>, <mailto:{}>",
                self.mailto
            )))
            .header(ListUnsubscribePost);
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        let message = builder.header(ContentType::TEXT_PLAIN).body(body)?;
        Ok(Some(Composed {
            message_id,
            message,
        }))
    }
}

/// `List-Unsubscribe` (RFC 2369).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone)]
struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(
            Self::name(),
            "List-Unsubscribe=One-Click".to_owned(),
        )
    }
}
