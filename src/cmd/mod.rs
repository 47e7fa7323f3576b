//! One file per subcommand, wiring the pipeline stages. This is the only layer
//! that writes files, talks to the network or prints to stdout.

mod bounces;
mod build;
mod check;
mod db;
mod parse;
mod preview;
mod send;
mod serve;
mod status;
mod subscribers;

use std::process::ExitCode;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, Settings};
use crate::config::{Config, ConfigBuilder};

/// How a command ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done (0).
    Done,
    /// Could not run at all: bad settings, unreadable input (1).
    CouldNotRun,
    /// Ran to the end, but some items failed: mail failed or was deferred to
    /// the next run, a digest or a subscriber record is invalid (3). Not 2,
    /// which is clap's usage error, so cron can tell the two apart.
    SomeFailed,
    /// Stopped by Ctrl-C after finishing what was in flight (130).
    Interrupted,
    /// A temporary failure an MTA should retry (75, `EX_TEMPFAIL`): the
    /// message stays with the MTA.
    TempFail,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::CouldNotRun => ExitCode::from(1),
            Outcome::SomeFailed => ExitCode::from(3),
            Outcome::Interrupted => ExitCode::from(130),
            Outcome::TempFail => ExitCode::from(75),
        }
    }
}

/// Sets up tracing on stderr: warnings by default, `-v` info... `-q` errors only.
/// `RUST_LOG` overrides the levels, but never lifts the cap on dependencies.
pub fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,hotpapers=info",
        (false, 1) => "info,hotpapers=debug",
        (false, _) => "info,hotpapers=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Secrets are never logged, at any verbosity: below `info` the libraries
    // trace their wire traffic (lettre writes every SMTP line at `debug`,
    // `AUTH PLAIN <base64 of user and password>` and the whole message data,
    // so every reader's unsubscribe token, included), so they stop at `info`
    // whatever `-vv` or `RUST_LOG` ask. hotpapers' own logs carry no secret,
    // token or message body at any level.
    let caps = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("hotpapers", LevelFilter::TRACE);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter.and(caps));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Text for a terminal, with control characters escaped (`\r`, `\n`, `\u{1b}`…):
/// a name holding a line break must not print a fake row, nor an escape
/// sequence reach the terminal. Everything else, accents and emoji
/// included, is shown as it is.
#[must_use]
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Controls, and the bidi overrides and isolates that reorder what follows.
fn is_unprintable(c: char) -> bool {
    c.is_control() || crate::text::is_bidi_control(c)
}

/// The settings of the command line (flag > environment > `.env` > default,
/// which clap has already merged), as a builder of the validated [`Config`].
#[must_use]
pub fn builder_from(s: &Settings) -> ConfigBuilder {
    Config::builder()
        .digests(s.digests.clone())
        .subscribers(s.subscribers.clone())
        .templates(s.templates.clone())
        .state(s.state.clone())
        .site_url(s.site_url.clone())
        .title(s.title.clone())
        .subtitle(s.subtitle.clone())
        .language(s.language.clone())
        .feed_limit(s.feed_limit)
        .from(s.from.clone())
        .reply_to(s.reply_to.clone())
        .postal_address(s.postal_address.clone())
        .subject(s.subject.clone())
        .unsubscribe_mailto(s.unsubscribe_mailto.clone())
        .bounce_address(s.bounce_address.clone())
        .secret(s.secret.clone())
        .dkim_key(s.dkim_key.clone())
        .dkim_selector(s.dkim_selector.clone())
        .max_papers(s.max_papers_per_email)
        .smtp_url(s.smtp_url.clone())
        .smtp_user(s.smtp_user.clone())
        .smtp_password(s.smtp_password.clone())
        .smtp_ca(s.smtp_ca.clone())
        .outbox(s.outbox.clone())
        .connections(s.connections)
        .rate(s.rate)
        .max_attempts(s.max_attempts)
        .bounce_limit(s.bounce_limit)
        .soft_bounce_limit(s.soft_bounce_limit)
        .unknown_policy(s.unknown_policy.clone())
        .lease(s.lease)
        .sns_topics(s.sns_topics.clone())
        .sns_cert(s.sns_cert.clone())
        .postmark_user(s.postmark_user.clone())
        .postmark_password(s.postmark_password.clone())
        .database_url(s.database_url.clone())
}

/// The newsletter renderer for these settings.
fn newsletter(config: &Config) -> Result<crate::email::Newsletter> {
    crate::email::Newsletter::new(
        &config.site,
        &config.mail,
        &config.secret,
        &config.templates,
    )
    .context("could not load the email templates")
}

/// The message assembler (sender, list headers, DKIM) for these settings.
fn mailer(config: &Config) -> Result<crate::delivery::Mailer> {
    crate::delivery::Mailer::new(&config.site.title, &config.mail, &config.secret)
        .context("could not load the DKIM key")
}

/// Runs the parsed command line.
///
/// # Errors
/// When the command could not run; per-item failures are reported and give
/// [`Outcome::SomeFailed`] instead.
pub fn run(cli: Cli) -> Result<Outcome> {
    let mut builder = builder_from(&cli.settings);
    match &cli.command {
        Command::Build(args) => builder = builder.out(args.site.out.clone()),
        Command::Serve(args) => {
            builder = builder.out(args.site.out.clone()).addr(args.addr.clone());
        }
        _ => {}
    }
    let config = builder.build()?;
    match cli.command {
        Command::Parse(args) => parse::run(&args),
        Command::Check(args) => check::run(&config, &args),
        Command::Build(args) => build::run(&config, &args),
        Command::Preview(args) => preview::run(&config, &args),
        Command::Send(args) => send::run(&config, &args),
        Command::Status(args) => status::run(&config, &args),
        Command::Db(cmd) => db::run(&config, &cmd),
        Command::Subscribers(cmd) => subscribers::run(&config, &cmd),
        Command::Serve(args) => serve::run(&config, &args),
        Command::Bounces(cmd) => bounces::run(&config, &cmd),
    }
}
