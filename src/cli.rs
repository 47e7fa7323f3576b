//! The command line, as clap derive types only. Doc comments here become the
//! `--help` text. Every setting is also read from a `HOTPAPERS_*` environment
//! variable (and so from `.env`); `config` turns these into one validated
//! [`crate::config::Config`].

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::defaults;
use crate::model::{Cadence, Weekday};

/// A `YYYY-MM-DD` day, parsed once, here: a bad one is a usage error.
fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|e| format!("invalid date `{s}`: {e} (expected YYYY-MM-DD)"))
}

/// The exit statuses, shown by `--help` (README "Exit status" says the same).
pub const EXIT_STATUS: &str = "\
Exit status:
  0    done: everything delivered, skipped or written
  1    could not run: bad settings, unreadable store or digest, mail server
       refused the session (TLS, authentication)
  2    usage error: unknown command or flag
  3    finished, but some items failed: mail failed or was deferred to the
       next run, a digest or subscriber record is invalid
  130  interrupted (Ctrl-C) after finishing the messages in flight";

/// Turns the daily Hot Papers digest into feeds and an email newsletter.
#[derive(Debug, Parser)]
#[command(
    name = "hotpapers",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,

    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse one digest file and print it (a summary, or JSON with --json).
    Parse(ParseArgs),
    /// Parse every digest in a folder and report ok / repaired / errors per file.
    Check(CheckArgs),
    /// Write the feeds (Atom, RSS, JSON Feed, OPML) and archive pages.
    Build(BuildArgs),
    /// Render one day's email to .eml, .html and .txt files without sending.
    Preview(PreviewArgs),
    /// Send one day's email to every active subscriber, exactly once.
    Send(SendArgs),
    /// Show the delivery ledger for one day.
    Status(StatusArgs),
    /// Set up and inspect the PostgreSQL database (`HOTPAPERS_DATABASE_URL`).
    #[command(subcommand)]
    Db(DbCommand),
    /// List, add, remove, import and check subscribers.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Serve the built site, subscribe/confirm and unsubscribe over HTTP.
    Serve(ServeArgs),
    /// Read returned mail: bounces, complaints, auto-replies.
    #[command(subcommand)]
    Bounces(BouncesCommand),
}

/// Settings: each flag can also be set in the environment or in `.env`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings (flag, or environment / .env)")]
pub struct Settings {
    /// Folder of digest files.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_DIGESTS",
        default_value = defaults::DIGESTS
    )]
    pub digests: PathBuf,

    /// Folder (or single YAML file) of subscribers.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SUBSCRIBERS",
        default_value = defaults::SUBSCRIBERS
    )]
    pub subscribers: PathBuf,

    /// Folder whose files override the built-in templates, file by file.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_TEMPLATES",
        default_value = defaults::TEMPLATES
    )]
    pub templates: PathBuf,

    /// The delivery ledger (SQLite database file).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_STATE",
        default_value = defaults::STATE
    )]
    pub state: PathBuf,

    /// Public URL the built site is served from (absolute links in feeds and mail).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SITE_URL",
        default_value = defaults::SITE_URL
    )]
    pub site_url: String,

    /// Feed and site title.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_TITLE",
        default_value = defaults::TITLE
    )]
    pub title: String,

    /// Feed and site subtitle.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SUBTITLE",
        default_value = defaults::SUBTITLE
    )]
    pub subtitle: String,

    /// Language of the feeds and pages (BCP 47).
    #[arg(long, global = true, env = "HOTPAPERS_LANGUAGE", default_value = defaults::LANGUAGE)]
    pub language: String,

    /// How many of the latest digests the feeds hold.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_FEED_LIMIT",
        default_value_t = defaults::FEED_LIMIT
    )]
    pub feed_limit: usize,

    /// Sender of the newsletter, with display name.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_FROM",
        default_value = defaults::FROM
    )]
    pub from: String,

    /// Optional Reply-To address.
    #[arg(long, global = true, env = "HOTPAPERS_REPLY_TO")]
    pub reply_to: Option<String>,

    /// Postal address / contact line printed in every email footer (CAN-SPAM).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_POSTAL_ADDRESS",
        default_value = defaults::POSTAL_ADDRESS
    )]
    pub postal_address: String,

    /// Template for the subject line (handlebars); empty for the built-in one.
    #[arg(long, global = true, env = "HOTPAPERS_SUBJECT")]
    pub subject: Option<String>,

    /// Mailbox that receives `mailto:` unsubscribe requests.
    #[arg(long, global = true, env = "HOTPAPERS_UNSUBSCRIBE_MAILTO")]
    pub unsubscribe_mailto: Option<String>,

    /// Envelope sender base for bounces (VERP): each message's Return-Path is
    /// `LOCAL+TOKEN@DOMAIN`, so a bounce names its message and reader.
    #[arg(long, global = true, env = "HOTPAPERS_BOUNCE_ADDRESS")]
    pub bounce_address: Option<String>,

    /// Secret key for unsubscribe and confirmation tokens (HMAC-SHA256). Keep it private.
    #[arg(long, global = true, env = "HOTPAPERS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// DKIM private key file (PEM, RSA or Ed25519); signing is off without it.
    #[arg(long, global = true, env = "HOTPAPERS_DKIM_KEY")]
    pub dkim_key: Option<PathBuf>,

    /// Most papers in one email (the rest are on the site, and the email says so).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_MAX_PAPERS",
        default_value_t = defaults::MAX_PAPERS
    )]
    pub max_papers_per_email: usize,

    /// DKIM selector.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_DKIM_SELECTOR",
        default_value = defaults::DKIM_SELECTOR
    )]
    pub dkim_selector: String,

    /// PostgreSQL database holding subscribers (and, with them, what serve
    /// and send share): `postgres://USER:PASSWORD@HOST/DB?sslmode=…` or
    /// libpq's `host=… dbname=…`. Unset: the state stays in files.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// SMTP server URL (`smtp://host:port`, `smtps://host`, `smtp://host?tls=required`).
    /// Without it, messages are written as .eml files to the outbox folder.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SMTP_URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,

    /// SMTP user name.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SMTP_USER",
        hide_env_values = true
    )]
    pub smtp_user: Option<String>,

    /// SMTP password (environment or .env only; never logged).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SMTP_PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,

    /// SNS topic ARNs whose SES notifications `serve` accepts at
    /// `POST /webhooks/ses`, comma-separated (unset: the route is off).
    #[arg(long, global = true, env = "HOTPAPERS_SNS_TOPICS")]
    pub sns_topics: Option<String>,

    /// PEM signing certificate for SNS messages, used instead of fetching
    /// their `SigningCertURL` (tests, or a host that cannot reach AWS).
    #[arg(long, global = true, env = "HOTPAPERS_SNS_CERT")]
    pub sns_cert: Option<PathBuf>,

    /// Basic-auth user of `POST /webhooks/postmark` (with the password; unset: the route is off).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_POSTMARK_USER",
        hide_env_values = true
    )]
    pub postmark_user: Option<String>,

    /// Basic-auth password of `POST /webhooks/postmark` (environment or .env only).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_POSTMARK_PASSWORD",
        hide_env_values = true
    )]
    pub postmark_password: Option<String>,

    /// PEM file of CA certificates to trust for the SMTP server, besides the system's
    /// (for a relay whose certificate comes from a private CA).
    #[arg(long, global = true, env = "HOTPAPERS_SMTP_CA")]
    pub smtp_ca: Option<PathBuf>,

    /// Folder for .eml files when no SMTP URL is set.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_OUTBOX",
        default_value = defaults::OUTBOX
    )]
    pub outbox: PathBuf,

    /// Concurrent SMTP connections.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_CONNECTIONS",
        default_value_t = defaults::CONNECTIONS
    )]
    pub connections: usize,

    /// Maximum messages per second (0: no limit).
    #[arg(long, global = true, env = "HOTPAPERS_RATE", default_value_t = 0.0)]
    pub rate: f64,

    /// Attempts per message for transient failures before it is deferred.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_MAX_ATTEMPTS",
        default_value_t = defaults::MAX_ATTEMPTS
    )]
    pub max_attempts: u32,

    /// On a database: seconds a sender's claims last unless renewed (every
    /// third of it); another sender takes over a dead one's after this.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_LEASE",
        default_value_t = defaults::LEASE
    )]
    pub lease: u64,

    /// Soft-bounce score at which a subscriber is marked `bounced` (0.5 per day
    /// with soft bounces; starts over after 7 days without one; 0: never).
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_SOFT_BOUNCE_LIMIT",
        default_value_t = defaults::SOFT_BOUNCE_LIMIT
    )]
    pub soft_bounce_limit: f64,

    /// Hard bounces after which a subscriber is marked `bounced`.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_BOUNCE_LIMIT",
        default_value_t = defaults::BOUNCE_LIMIT
    )]
    pub bounce_limit: u32,

    /// What to do with messages whose delivery is unknown (the connection was cut
    /// after the message data was sent): `resend` or `skip`.
    #[arg(
        long,
        global = true,
        env = "HOTPAPERS_UNKNOWN_POLICY",
        default_value = defaults::UNKNOWN_POLICY
    )]
    pub unknown_policy: String,
}

/// `hotpapers parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The digest file.
    pub file: PathBuf,
    /// Print the parsed digest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `hotpapers check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Folder of digests (default: the configured digest folder).
    pub dir: Option<PathBuf>,
}

/// The site folder: where `build` writes and what `serve` serves (one
/// setting, `HOTPAPERS_OUT`, for both commands).
#[derive(Debug, Clone, Args)]
pub struct SiteFolder {
    /// Folder of the built site.
    #[arg(long, env = "HOTPAPERS_OUT", default_value = defaults::OUT)]
    pub out: PathBuf,
}

/// `hotpapers build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Output folder.
    #[command(flatten)]
    pub site: SiteFolder,
    /// Exit non-zero when any digest fails to parse (the build still writes the rest).
    #[arg(long)]
    pub strict: bool,
}

/// `hotpapers preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The digest day, `YYYY-MM-DD`.
    #[arg(long, value_parser = parse_day)]
    pub date: NaiveDate,
    /// Render for this subscriber (default: an unfiltered example subscriber).
    #[arg(long)]
    pub subscriber: Option<String>,
    /// The weekly edition of the seven days ending on `--date` instead.
    #[arg(long)]
    pub weekly: bool,
    /// Output folder.
    #[arg(long, default_value = "preview")]
    pub out: PathBuf,
}

/// `hotpapers send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The digest day, `YYYY-MM-DD`.
    #[arg(long, value_parser = parse_day)]
    pub date: NaiveDate,
    /// Render and count, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send this day's email to this one address only, outside the ledger.
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<String>,
    /// Send at most this many messages in this run.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Send again to subscribers already sent to for this day.
    #[arg(long)]
    pub resend: bool,
    /// Wait for another running send of the same day instead of refusing.
    #[arg(long)]
    pub wait: bool,
}

/// `hotpapers status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The digest day, `YYYY-MM-DD`.
    #[arg(long, value_parser = parse_day)]
    pub date: NaiveDate,
}

/// `hotpapers bounces ...`.
#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Classify each message file (a bounce, complaint, auto-reply, delivery
    /// report, unsubscribe or other) and name its failed recipients.
    Classify {
        /// Message files (RFC 5322, as in a Maildir or a `.eml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per line: file, kind, recipients.
        #[arg(long)]
        json: bool,
    },
    /// Act on returned mail: mark hard-bounced readers bounced, score soft
    /// bounces, unsubscribe on complaints and mailto unsubscribes; every event
    /// goes to the ledger. Each message is processed once.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["maildir", "imap", "stdin"])))]
    Process {
        /// A Maildir: every message in `new/` and the unseen ones in `cur/`,
        /// each moved to `cur/` flagged Seen once processed.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["stdin", "imap"])]
        maildir: Option<PathBuf>,
        /// An IMAPS mailbox, `imaps://host[:port]/MAILBOX` (INBOX by default):
        /// every message in it, each moved to `--imap-processed` once processed.
        #[arg(long, value_name = "URL", conflicts_with = "stdin")]
        imap: Option<String>,
        /// IMAP user name.
        #[arg(long, env = "HOTPAPERS_IMAP_USER", hide_env_values = true)]
        imap_user: Option<String>,
        /// IMAP password (environment or .env only; never logged).
        #[arg(long, env = "HOTPAPERS_IMAP_PASSWORD", hide_env_values = true)]
        imap_password: Option<String>,
        /// PEM file of CA certificates to trust for the IMAP server, besides the system's.
        #[arg(long, env = "HOTPAPERS_IMAP_CA")]
        imap_ca: Option<PathBuf>,
        /// The folder processed mail is moved to (made when missing).
        #[arg(
            long,
            value_name = "FOLDER",
            env = "HOTPAPERS_IMAP_PROCESSED",
            default_value = "Processed"
        )]
        imap_processed: String,
        /// `-`: one message on standard input (an MTA's pipe transport);
        /// exit 75 on a temporary failure so the MTA tries again.
        #[arg(value_name = "-", value_parser = clap::builder::PossibleValuesParser::new(["-"]))]
        stdin: Option<String>,
    },
    /// Bounce and complaint rates per receiving domain over the last days.
    Report {
        /// Days to look back (digest days), today included.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// `hotpapers subscribers ...`.
#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// List subscribers.
    List,
    /// Add (or reactivate) a subscriber.
    Add {
        /// The address.
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// arXiv categories of interest, comma-separated (empty: all).
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// Most papers per email.
        #[arg(long)]
        max_papers: Option<u32>,
        /// Only papers with at least this many retweets.
        #[arg(long)]
        min_retweets: Option<u64>,
        /// `daily` (every digest) or `weekly` (one email of the week).
        #[arg(long, value_parser = parse_cadence)]
        cadence: Option<Cadence>,
        /// The day a weekly email goes out, `monday` … `sunday` (default friday).
        #[arg(long, value_parser = parse_weekday)]
        weekday: Option<Weekday>,
        /// Author alerts, `;`-separated: their papers are always included, first.
        #[arg(long, value_delimiter = ';')]
        authors: Vec<String>,
        /// Keyword alerts, comma-separated: papers whose title or abstract
        /// holds one are always included, first.
        #[arg(long, value_delimiter = ',')]
        keywords: Vec<String>,
    },
    /// Mark a subscriber unsubscribed (kept as suppression).
    Remove {
        /// The address.
        email: String,
    },
    /// Import subscribers from a CSV file with a header row (`email`, `name`,
    /// `categories`...) or a YAML file; existing addresses are left as they are.
    Import {
        /// The CSV file (an `email` column, and optionally name, categories…),
        /// or a YAML file of records as in the subscriber folder (`.yaml`, `.yml`).
        file: PathBuf,
    },
    /// Validate the subscriber files.
    Check,
    /// Print one subscriber's record and consent history (YAML).
    Show {
        /// The address (compared case-insensitively).
        email: String,
    },
    /// Write every record, consent history included, to standard output.
    Export {
        /// `yaml` (the records as stored) or `csv` (one row a reader; the
        /// consent events in one column, `; `-separated).
        #[arg(long, value_enum, default_value = "yaml")]
        format: ExportFormat,
    },
}

/// The format of `subscribers export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// YAML, as the subscriber files hold it.
    Yaml,
    /// CSV with a header row.
    Csv,
}

fn parse_cadence(s: &str) -> Result<Cadence, String> {
    s.parse()
}

fn parse_weekday(s: &str) -> Result<Weekday, String> {
    s.parse()
}

/// `hotpapers serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOTPAPERS_ADDR", default_value = defaults::ADDR)]
    pub addr: String,
    /// Folder of the built site.
    #[command(flatten)]
    pub site: SiteFolder,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

/// `hotpapers db ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations the database lacks (safe to run again,
    /// and from several hosts at once).
    Migrate,
    /// Show the database's schema version and what it holds.
    Status,
    /// Move this installation's files (the subscriber folder, the SQLite
    /// ledger and its events) into the empty database, in one transaction,
    /// and check the counts.
    ImportFiles,
}
