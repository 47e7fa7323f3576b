//! `hotpapers bounces classify FILE… [--json]`: what each returned message
//! is, and whom it is about, one line per file.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{printable, Outcome};
use crate::bounces::imap::{ImapLogin, ImapUrl, Mailbox};
use crate::bounces::maildir::Maildir;
use crate::bounces::process::{Action, Limits, Processed, Processor};
use crate::bounces::{self, Kind, Report};
use crate::cli::BouncesCommand;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::secret::Password;

/// Runs a `bounces` subcommand.
pub(super) fn run(config: &Config, cmd: &BouncesCommand) -> Result<Outcome> {
    match cmd {
        BouncesCommand::Classify { files, json } => classify(files, *json),
        BouncesCommand::Process {
            maildir,
            imap,
            imap_user,
            imap_password,
            imap_ca,
            imap_processed,
            stdin,
        } => {
            let source = match (maildir, imap) {
                (Some(dir), _) => Source::Maildir(dir),
                (None, Some(url)) => Source::Imap(imap_login(
                    url,
                    imap_user.as_deref(),
                    imap_password.as_deref(),
                    imap_ca.as_deref(),
                    imap_processed,
                )?),
                (None, None) if stdin.is_some() => Source::Stdin,
                (None, None) => anyhow::bail!(
                    "give --maildir DIR, --imap URL, or - for one message on standard input"
                ),
            };
            process(config, &source)
        }
        BouncesCommand::Report { days } => report(config, *days),
    }
}

/// What a run did, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    messages: usize,
    seen_before: usize,
    kinds: std::collections::BTreeMap<&'static str, usize>,
    bounced: Vec<String>,
    unsubscribed: Vec<String>,
    unattributed: usize,
}

impl Tally {
    fn add(&mut self, p: &Processed) {
        self.messages += 1;
        if p.new_events == 0 {
            self.seen_before += 1;
        }
        let kind = match p.report.kind {
            Kind::Bounce => "bounce",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "auto-reply",
            Kind::DeliveryReport => "delivery report",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Other => "other",
        };
        *self.kinds.entry(kind).or_default() += 1;
        for a in &p.actions {
            match a {
                Action::Bounced(e) => self.bounced.push(e.clone()),
                Action::Unsubscribed(e) => self.unsubscribed.push(e.clone()),
                Action::Unattributed => self.unattributed += 1,
                Action::SoftScore(..) | Action::Recorded(_) => {}
            }
        }
    }

    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(
            out,
            "processed {} message(s){}{}; marked bounced {}, unsubscribed {}, unattributed {}",
            self.messages,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(": {}", kinds.join(", "))
            },
            if self.seen_before > 0 {
                format!(" ({} seen before)", self.seen_before)
            } else {
                String::new()
            },
            self.bounced.len(),
            self.unsubscribed.len(),
            self.unattributed
        )?;
        for e in &self.bounced {
            writeln!(out, "marked bounced: {}", printable(e))?;
        }
        for e in &self.unsubscribed {
            writeln!(out, "unsubscribed: {}", printable(e))?;
        }
        Ok(())
    }
}

/// Where `bounces process` reads.
enum Source<'a> {
    Maildir(&'a Path),
    Imap(ImapLogin),
    Stdin,
}

/// The IMAP settings, checked before anything is opened.
fn imap_login(
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
    ca_file: Option<&Path>,
    processed: &str,
) -> Result<ImapLogin> {
    let url = ImapUrl::parse(url)?;
    let user = user
        .filter(|u| !u.trim().is_empty())
        .context("--imap needs HOTPAPERS_IMAP_USER (and HOTPAPERS_IMAP_PASSWORD)")?;
    let password = password
        .filter(|p| !p.is_empty())
        .context("--imap needs HOTPAPERS_IMAP_PASSWORD")?;
    if processed.trim().is_empty() || !crate::bounces::imap::is_plain_name(processed) {
        anyhow::bail!(
            "HOTPAPERS_IMAP_PROCESSED / --imap-processed `{}`: {}",
            printable(processed),
            crate::bounces::imap::NAME_RULE
        );
    }
    if processed == url.mailbox {
        anyhow::bail!(
            "--imap-processed `{}` is the mailbox being read: processed mail must go elsewhere",
            printable(processed)
        );
    }
    Ok(ImapLogin {
        url,
        user: user.to_owned(),
        password: Password::new(password.to_owned()),
        ca_file: ca_file.map(Path::to_path_buf),
        processed: processed.to_owned(),
    })
}

/// `bounces process --maildir DIR | --imap URL | -`.
fn process(config: &Config, source: &Source<'_>) -> Result<Outcome> {
    let stdin = matches!(source, Source::Stdin);
    let opened = (|| -> Result<_> {
        let stores = crate::state::Stores::open(config)?;
        let ledger = stores
            .ledger
            .open()
            .with_context(|| format!("could not open the ledger {}", stores.ledger.describe()))?;
        let store = stores.subscribers;
        let mailer = super::mailer(config)?;
        Ok((ledger, store, mailer))
    })();
    let (ledger, store, mailer) = match opened {
        Ok(parts) => parts,
        // The MTA keeps the message and tries again later.
        Err(e) if stdin => {
            eprintln!("error: {}", printable(&format!("{e:#}")));
            return Ok(Outcome::TempFail);
        }
        Err(e) => return Err(e),
    };
    let processor = Processor::new(
        &ledger,
        store.as_ref(),
        &mailer,
        config.secret.expose(),
        config.mail.bounce_address.clone(),
        config.mail.unsubscribe_mailto.clone(),
        Limits {
            hard: config.delivery.bounce_limit,
            soft: config.delivery.soft_bounce_limit,
        },
    );
    let mut tally = Tally::default();
    let unreadable = match source {
        Source::Stdin => {
            let cap = u64::try_from(bounces::MAX_INPUT).unwrap_or(u64::MAX);
            let mut raw = Vec::new();
            if let Err(e) = std::io::stdin().take(cap).read_to_end(&mut raw) {
                eprintln!("error: could not read the message on standard input: {e}");
                return Ok(Outcome::TempFail);
            }
            match processor.process(&raw, SystemClock.now()) {
                Ok(p) => tally.add(&p),
                Err(e) => {
                    eprintln!("error: {}", printable(&e.to_string()));
                    return Ok(Outcome::TempFail);
                }
            }
            0
        }
        Source::Maildir(dir) => process_maildir(&processor, dir, &mut tally)?,
        Source::Imap(login) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("could not start the async runtime")?;
            runtime.block_on(process_imap(&processor, login, &mut tally))?
        }
    };
    tally.print(&mut std::io::stdout().lock())?;
    Ok(if unreadable > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}

/// Every pending message of the Maildir; returns how many were left in place.
fn process_maildir(processor: &Processor<'_>, dir: &Path, tally: &mut Tally) -> Result<usize> {
    let maildir = Maildir::open(dir)?;
    let mut unreadable = 0usize;
    for pending in maildir.pending()? {
        let raw = match read_capped(&pending.path) {
            Ok(raw) => raw,
            Err(e) => {
                unreadable += 1;
                eprintln!("left in place: `{}`: {e}", pending.path.display());
                continue;
            }
        };
        let p = processor
            .process(&raw, SystemClock.now())
            .with_context(|| format!("could not process `{}`", pending.path.display()))?;
        tally.add(&p);
        maildir
            .mark_processed(&pending)
            .with_context(|| format!("could not move `{}` to cur/", pending.path.display()))?;
    }
    Ok(unreadable)
}

/// Every message of the IMAP mailbox, each moved once acted on; returns
/// how many were left in place.
async fn process_imap(
    processor: &Processor<'_>,
    login: &ImapLogin,
    tally: &mut Tally,
) -> Result<usize> {
    let mut mailbox = Mailbox::open(login).await?;
    let mut unreadable = 0usize;
    let where_ = format!(
        "{}:{}/{}",
        login.url.host, login.url.port, login.url.mailbox
    );
    for uid in mailbox.pending().await? {
        let fetched = mailbox.fetch(uid).await?;
        let Some(raw) = fetched.raw else {
            unreadable += 1;
            eprintln!(
                "left in place: UID {uid} in {}: the server sent no message body",
                printable(&where_)
            );
            continue;
        };
        let p = processor
            .process(&raw, SystemClock.now())
            .with_context(|| format!("could not process UID {uid} in {}", printable(&where_)))?;
        tally.add(&p);
        mailbox.mark_processed(uid).await?;
    }
    mailbox.close().await;
    Ok(unreadable)
}

/// `bounces report [--days N]`: rates per receiving domain, with warnings
/// past the lines providers draw (bounces 2%, complaints 0.1%; Gmail's is 0.3%).
fn report(config: &Config, days: u32) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let place = crate::state::ledger_place(config)?;
    if !place.exists() {
        writeln!(out, "nothing recorded (no ledger at {})", place.describe())?;
        return Ok(Outcome::Done);
    }
    let ledger = place
        .open()
        .with_context(|| format!("could not open the ledger {}", place.describe()))?;
    let to = SystemClock.now().date_naive();
    let from = to - chrono::Days::new(u64::from(days.max(1) - 1));
    let counts = ledger.domain_counts(from, to)?;
    let (sent, hard, soft, complaints) = counts.iter().fold((0, 0, 0, 0), |t, c| {
        (t.0 + c.sent, t.1 + c.hard, t.2 + c.soft, t.3 + c.complaints)
    });
    let rate = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            n as f64 * 100.0 / of as f64
        }
    };
    writeln!(
        out,
        "{from} to {to}: {sent} sent; bounces {} ({:.2}%: {hard} hard, {soft} soft); complaints {complaints} ({:.3}%)",
        hard + soft,
        rate(hard + soft, sent),
        rate(complaints, sent)
    )?;
    writeln!(out, "domain\tsent\thard\tsoft\tcomplaints\tbounce %")?;
    for c in &counts {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{:.2}",
            printable(if c.domain.is_empty() {
                "(unknown)"
            } else {
                &c.domain
            }),
            c.sent,
            c.hard,
            c.soft,
            c.complaints,
            rate(c.hard + c.soft, c.sent)
        )?;
    }
    if rate(hard + soft, sent) > 2.0 {
        writeln!(
            out,
            "warning: the bounce rate is over 2%: providers suspend senders past a few percent"
        )?;
    }
    if rate(complaints, sent) > 0.1 {
        writeln!(
            out,
            "warning: the complaint rate is over 0.1% (Gmail's line is 0.3%)"
        )?;
    }
    Ok(Outcome::Done)
}

#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)?
        .take(u64::try_from(bounces::MAX_INPUT).unwrap_or(u64::MAX))
        .read_to_end(&mut raw)?;
    Ok(raw)
}

fn classify(files: &[std::path::PathBuf], json: bool) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let mut outcome = Outcome::Done;
    for path in files {
        let raw = match read_capped(path) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!(
                    "error: could not read `{}`: {e}",
                    printable(&path.display().to_string())
                );
                outcome = Outcome::SomeFailed;
                continue;
            }
        };
        let report = bounces::classify(&raw);
        let file = path.display().to_string();
        let written = if json {
            let line = serde_json::to_string(&Line {
                file: &file,
                report: &report,
            })?;
            writeln!(out, "{line}")
        } else {
            writeln!(out, "{}", human(&file, &report))
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(outcome),
            other => other?,
        }
    }
    Ok(outcome)
}

/// `FILE: kind`, then per recipient `address reason status hard|soft`.
fn human(file: &str, report: &Report) -> String {
    let kind = serde_json::to_value(report.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = format!("{}: {kind}", printable(file));
    for r in &report.recipients {
        let reason = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            line,
            " {} {reason} {} {}",
            printable(r.address.as_deref().unwrap_or("-")),
            r.status.as_deref().unwrap_or("-"),
            if r.hard { "hard" } else { "soft" },
        );
    }
    line
}
