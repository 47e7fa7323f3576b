//! Every setting, as plain validated data: [`Config`], made by a
//! [`ConfigBuilder`] (the command line fills one in `cmd/`, tests fill one
//! directly). It holds no library types and no command-line types, and it is
//! split by who needs what: renderers of feeds and pages get
//! [`SiteSettings`], the newsletter [`MailSettings`] as well, the sender
//! [`DeliverySettings`]. Secrets are in [`crate::secret`] boxes that never
//! print.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use thiserror::Error;
use url::Url;

use crate::model::EmailAddress;
use crate::secret::{Password, TokenKey, HOW_TO_MAKE_ONE};

/// Built-in defaults, shared with the command line's `--help`.
pub mod defaults {
    /// `HOTPAPERS_DIGESTS`.
    pub const DIGESTS: &str = "digests";
    /// `HOTPAPERS_SUBSCRIBERS`.
    pub const SUBSCRIBERS: &str = "subscribers";
    /// `HOTPAPERS_TEMPLATES`.
    pub const TEMPLATES: &str = "templates";
    /// `HOTPAPERS_STATE`.
    pub const STATE: &str = "state/hotpapers.db";
    /// `HOTPAPERS_OUT`.
    pub const OUT: &str = "public";
    /// `HOTPAPERS_ADDR`.
    pub const ADDR: &str = "127.0.0.1:8080";
    /// `HOTPAPERS_SITE_URL`: a local preview, where the built-in token key is acceptable.
    pub const SITE_URL: &str = "http://127.0.0.1:8080/";
    /// `HOTPAPERS_TITLE`.
    pub const TITLE: &str = "Hot Papers";
    /// `HOTPAPERS_SUBTITLE`.
    pub const SUBTITLE: &str = "The arXiv papers most talked about on Twitter, every day";
    /// `HOTPAPERS_LANGUAGE`.
    pub const LANGUAGE: &str = "en";
    /// `HOTPAPERS_FEED_LIMIT`.
    pub const FEED_LIMIT: usize = 30;
    /// `HOTPAPERS_FROM`.
    pub const FROM: &str = "Hot Papers <digest@hotpapers.example.org>";
    /// `HOTPAPERS_POSTAL_ADDRESS`.
    pub const POSTAL_ADDRESS: &str = "Hot Papers, 1 Example Street, Example City, EX 00000";
    /// `HOTPAPERS_MAX_PAPERS`.
    pub const MAX_PAPERS: usize = 50;
    /// `HOTPAPERS_DKIM_SELECTOR`.
    pub const DKIM_SELECTOR: &str = "hotpapers";
    /// `HOTPAPERS_OUTBOX`.
    pub const OUTBOX: &str = "outbox";
    /// `HOTPAPERS_CONNECTIONS`.
    pub const CONNECTIONS: usize = 4;
    /// `HOTPAPERS_MAX_ATTEMPTS`.
    pub const MAX_ATTEMPTS: u32 = 5;
    /// `HOTPAPERS_BOUNCE_LIMIT`: one hard bounce says the address is dead.
    pub const BOUNCE_LIMIT: u32 = 1;
    /// `HOTPAPERS_SOFT_BOUNCE_LIMIT`: five days of soft bounces in a row.
    pub const SOFT_BOUNCE_LIMIT: f64 = 2.5;
    /// `HOTPAPERS_UNKNOWN_POLICY`.
    pub const UNKNOWN_POLICY: &str = "resend";
    /// `HOTPAPERS_LEASE`: seconds a worker's claims last without renewal.
    pub const LEASE: u64 = 60;
}

/// A setting that does not make sense.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A setting has an invalid value.
    #[error("invalid setting `{name}` = `{value}`: {reason}")]
    Invalid {
        /// The environment name of the setting.
        name: &'static str,
        /// The offending value (never a secret).
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The token key may not protect real mail or a public site.
    #[error("{weakness}, and {purpose}: anyone could forge its unsubscribe and confirmation links; {HOW_TO_MAKE_ONE}")]
    WeakSecret {
        /// What is wrong with the key.
        weakness: crate::secret::Weakness,
        /// Why a strong key is needed here.
        purpose: &'static str,
    },
}

/// What to do with a message whose delivery is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// Send it again: a possible duplicate rather than a lost message.
    Resend,
    /// Leave it: a possible loss rather than a duplicate.
    Skip,
}

/// What the feeds and pages need: the public site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSettings {
    /// Public site URL, always ending in `/`.
    pub url: Url,
    /// Feed and site title.
    pub title: String,
    /// Feed and site subtitle.
    pub subtitle: String,
    /// Language tag of feeds and pages.
    pub language: String,
    /// Number of latest digests in the feeds.
    pub feed_limit: usize,
}

impl SiteSettings {
    /// An absolute URL on the site for a relative path (`2021-02-12/`, `atom.xml`).
    #[must_use]
    pub fn link(&self, path: &str) -> String {
        self.url
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| format!("{}{path}", self.url), String::from)
    }

    /// Whether the URL is the built-in local one (`serve` for a preview).
    #[must_use]
    pub fn is_local_default(&self) -> bool {
        self.url.as_str() == defaults::SITE_URL
    }
}

/// A mailbox with an optional display name (`Hot Papers <digest@example.org>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Display name, one line.
    pub name: Option<String>,
    /// The address.
    pub email: EmailAddress,
}

impl Sender {
    /// Parses `Name <address>` or a bare address.
    fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (name, address) = match (raw.rfind('<'), raw.ends_with('>')) {
            (Some(open), true) => {
                let name = raw[..open].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| crate::text::one_line(name)),
                    &raw[open + 1..raw.len() - 1],
                )
            }
            _ => (None, raw),
        };
        let email = EmailAddress::parse(address).map_err(|e| e.reason)?;
        Ok(Self { name, email })
    }
}

impl std::fmt::Display for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.email),
            None => write!(f, "{}", self.email),
        }
    }
}

/// What the newsletter and its messages need besides the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The sender.
    pub from: Sender,
    /// Optional Reply-To.
    pub reply_to: Option<Sender>,
    /// Postal / contact line for the footer.
    pub postal_address: String,
    /// Custom subject template, if set.
    pub subject_template: Option<String>,
    /// Address for `mailto:` unsubscribe (defaults to `unsubscribe@<from domain>`);
    /// each reader's is `unsubscribe+TOKEN@…` from it.
    pub unsubscribe_mailto: EmailAddress,
    /// VERP base of the envelope sender (`HOTPAPERS_BOUNCE_ADDRESS`): each
    /// message's is `bounces+TOKEN@…` from it; `None`: the From address.
    pub bounce_address: Option<EmailAddress>,
    /// DKIM key file, if signing is on.
    pub dkim_key: Option<PathBuf>,
    /// DKIM selector.
    pub dkim_selector: String,
    /// Most papers in one email (`HOTPAPERS_MAX_PAPERS`): a 10,000-paper
    /// digest must not become a 40 MB message.
    pub max_papers: usize,
}

/// How the mail server is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP (`smtp://`, port 25).
    None,
    /// STARTTLS when offered (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS or stop (`?tls=required`, port 587).
    Required,
    /// Implicit TLS from the first byte (`smtps://`, port 465).
    Implicit,
}

/// The mail server, as `HOTPAPERS_SMTP_URL` (and the user, password and CA
/// settings) describe it; parsed once.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name or address (no brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Encryption.
    pub tls: TlsMode,
    /// The EHLO name (the URL's path), or the library's default.
    pub hello: Option<String>,
    /// User name, from the URL or `HOTPAPERS_SMTP_USER`.
    pub user: Option<String>,
    /// Password, from the URL or `HOTPAPERS_SMTP_PASSWORD`.
    pub password: Option<Password>,
    /// Extra CA certificates to trust (`HOTPAPERS_SMTP_CA`), besides the system's.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints the password.
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("hello", &self.hello)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Why `HOTPAPERS_SMTP_URL` or its companions cannot be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid setting `{setting}`: {reason}")]
pub struct SmtpSettingError {
    /// The setting's environment name.
    pub setting: &'static str,
    /// What is wrong and what was expected.
    pub reason: String,
}

fn url_error(reason: impl Into<String>) -> SmtpSettingError {
    SmtpSettingError {
        setting: "HOTPAPERS_SMTP_URL",
        reason: reason.into(),
    }
}

impl SmtpSettings {
    /// Parses `smtp://[user[:password]@]host[:port][/ehlo-name][?tls=required|opportunistic]`
    /// or `smtps://…`; `user` and `password` (settings of their own) apply
    /// when the URL has none. The URL is never echoed in errors (it may hold
    /// a password).
    ///
    /// # Errors
    /// On a URL that is not SMTP, has no host, or an unknown `tls` value or parameter.
    pub fn parse(
        raw: &str,
        user: Option<&str>,
        password: Option<Password>,
        ca_file: Option<&Path>,
    ) -> Result<Self, SmtpSettingError> {
        let url = Url::parse(raw.trim()).map_err(|e| url_error(format!("not a URL ({e})")))?;
        let mut tls_param = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => tls_param = Some(value.into_owned()),
                other => {
                    return Err(url_error(format!(
                        "unknown parameter `{other}` (expected only `tls`)"
                    )))
                }
            }
        }
        let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None | Some("none")) => (TlsMode::None, 25),
            ("smtp", Some("required")) => (TlsMode::Required, 587),
            ("smtp", Some("opportunistic")) => (TlsMode::Opportunistic, 587),
            ("smtps", None) => (TlsMode::Implicit, 465),
            ("smtp" | "smtps", Some(other)) => {
                return Err(url_error(format!(
                    "unknown `tls={other}` (expected `required` or `opportunistic`, or smtps:// for implicit TLS)"
                )))
            }
            (scheme, _) => {
                return Err(url_error(format!(
                    "unknown scheme `{scheme}` (expected smtp:// or smtps://)"
                )))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| url_error("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let hello = match url.path().trim_matches('/') {
            "" => None,
            name => Some(name.to_owned()),
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (user, password) = if url.username().is_empty() {
            (user.map(str::to_owned).filter(|u| !u.is_empty()), password)
        } else {
            (
                Some(decode(url.username())),
                url.password()
                    .map(|p| Password::new(decode(p)))
                    .or(password),
            )
        };
        Ok(Self {
            port: url.port().unwrap_or(default_port),
            host,
            tls,
            hello,
            user,
            password,
            ca_file: ca_file.map(Path::to_owned),
        })
    }

    /// Whether the server is on this machine (a password may then go unencrypted).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback())
    }
}

/// What the sender needs besides the messages.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The mail server; `None` means the outbox folder.
    pub smtp: Option<SmtpSettings>,
    /// Outbox folder for .eml files.
    pub outbox: PathBuf,
    /// Concurrent SMTP connections (at least 1).
    pub connections: usize,
    /// Messages per second; `None` for no limit.
    pub rate: Option<f64>,
    /// Attempts per message for transient failures.
    pub max_attempts: u32,
    /// Hard bounces (refused at RCPT, or reported) before a subscriber is marked bounced.
    pub bounce_limit: u32,
    /// Soft-bounce score (0.5 a day, stale after 7 quiet days) at which a
    /// subscriber is marked bounced; 0: never.
    pub soft_bounce_limit: f64,
    /// Policy for messages of unknown delivery.
    pub unknown_policy: UnknownPolicy,
    /// On a database: how long a worker's claims last without renewal.
    pub lease: std::time::Duration,
}

/// The bounce webhooks of `serve` (each off until configured).
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// `HOTPAPERS_SNS_TOPICS`: the SNS topic ARNs whose SES notifications
    /// `POST /webhooks/ses` accepts; empty: the route is off. The signature
    /// proves only that SNS sent a message, not whose topic it is.
    pub sns_topics: Vec<String>,
    /// `HOTPAPERS_SNS_CERT`: a PEM signing certificate used instead of
    /// fetching `SigningCertURL` (tests; hosts that cannot reach AWS).
    pub sns_cert: Option<PathBuf>,
    /// `HOTPAPERS_POSTMARK_USER` and `HOTPAPERS_POSTMARK_PASSWORD`: the basic
    /// auth `POST /webhooks/postmark` requires; `None`: the route is off.
    pub postmark: Option<(String, Password)>,
}

/// Every setting, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder of digest files.
    pub digests: PathBuf,
    /// Folder or file of subscribers.
    pub subscribers: PathBuf,
    /// Folder of template overrides (may not exist).
    pub templates: PathBuf,
    /// Ledger database file.
    pub state: PathBuf,
    /// Output folder of `build`, served by `serve`.
    pub out: PathBuf,
    /// Where `serve` listens.
    pub addr: String,
    /// The public site.
    pub site: SiteSettings,
    /// The newsletter's sender side.
    pub mail: MailSettings,
    /// Sending.
    pub delivery: DeliverySettings,
    /// The providers' bounce webhooks `serve` answers.
    pub webhooks: WebhookSettings,
    /// HMAC key for tokens (the built-in development key when none is set).
    pub secret: TokenKey,
    /// `HOTPAPERS_DATABASE_URL`: the state in PostgreSQL; `None`: in files.
    pub database: Option<crate::db::DatabaseSettings>,
}

impl Config {
    /// A builder with every built-in default.
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Refuses a token key that is built in, published, or weak, since
    /// `purpose` (real mail, a public site) lets anyone who knows it forge links.
    ///
    /// # Errors
    /// [`ConfigError::WeakSecret`], saying how to make a good key.
    pub fn require_strong_secret(&self, purpose: &'static str) -> Result<(), ConfigError> {
        self.secret
            .check_strength()
            .map_err(|weakness| ConfigError::WeakSecret { weakness, purpose })
    }
}

/// Settings as given (text, as from the environment), validated by [`ConfigBuilder::build`].
#[derive(Debug, Clone)]
#[allow(missing_docs)] // each setter's name is its setting
pub struct ConfigBuilder {
    digests: PathBuf,
    subscribers: PathBuf,
    templates: PathBuf,
    state: PathBuf,
    out: PathBuf,
    addr: String,
    site_url: String,
    title: String,
    subtitle: String,
    language: String,
    feed_limit: usize,
    from: String,
    reply_to: Option<String>,
    postal_address: String,
    subject: Option<String>,
    unsubscribe_mailto: Option<String>,
    bounce_address: Option<String>,
    secret: Option<String>,
    dkim_key: Option<PathBuf>,
    dkim_selector: String,
    max_papers: usize,
    smtp_url: Option<String>,
    smtp_user: Option<String>,
    smtp_password: Option<String>,
    smtp_ca: Option<PathBuf>,
    outbox: PathBuf,
    connections: usize,
    rate: f64,
    max_attempts: u32,
    bounce_limit: u32,
    soft_bounce_limit: f64,
    unknown_policy: String,
    lease: u64,
    sns_topics: Option<String>,
    sns_cert: Option<PathBuf>,
    postmark_user: Option<String>,
    postmark_password: Option<String>,
    database_url: Option<String>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        use defaults as d;
        Self {
            digests: d::DIGESTS.into(),
            subscribers: d::SUBSCRIBERS.into(),
            templates: d::TEMPLATES.into(),
            state: d::STATE.into(),
            out: d::OUT.into(),
            addr: d::ADDR.into(),
            site_url: d::SITE_URL.into(),
            title: d::TITLE.into(),
            subtitle: d::SUBTITLE.into(),
            language: d::LANGUAGE.into(),
            feed_limit: d::FEED_LIMIT,
            from: d::FROM.into(),
            reply_to: None,
            postal_address: d::POSTAL_ADDRESS.into(),
            subject: None,
            unsubscribe_mailto: None,
            bounce_address: None,
            secret: None,
            dkim_key: None,
            dkim_selector: d::DKIM_SELECTOR.into(),
            max_papers: d::MAX_PAPERS,
            smtp_url: None,
            smtp_user: None,
            smtp_password: None,
            smtp_ca: None,
            outbox: d::OUTBOX.into(),
            connections: d::CONNECTIONS,
            rate: 0.0,
            max_attempts: d::MAX_ATTEMPTS,
            bounce_limit: d::BOUNCE_LIMIT,
            soft_bounce_limit: d::SOFT_BOUNCE_LIMIT,
            unknown_policy: d::UNKNOWN_POLICY.into(),
            lease: d::LEASE,
            sns_topics: None,
            sns_cert: None,
            postmark_user: None,
            postmark_password: None,
            database_url: None,
        }
    }
}

macro_rules! setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Sets `", stringify!($name), "`.")]
            #[must_use]
            pub fn $name(mut self, value: impl Into<$ty>) -> Self {
                self.$name = value.into();
                self
            }
        )*
    };
}

macro_rules! optional_setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Sets `", stringify!($name), "` (`None`: unset).")]
            #[must_use]
            pub fn $name(mut self, value: Option<impl Into<$ty>>) -> Self {
                self.$name = value.map(Into::into);
                self
            }
        )*
    };
}

impl ConfigBuilder {
    setters! {
        digests: PathBuf, subscribers: PathBuf, templates: PathBuf, state: PathBuf,
        out: PathBuf, addr: String, site_url: String, title: String, subtitle: String,
        language: String, feed_limit: usize, from: String, postal_address: String,
        dkim_selector: String, max_papers: usize, outbox: PathBuf, connections: usize, rate: f64,
        max_attempts: u32, bounce_limit: u32, soft_bounce_limit: f64, unknown_policy: String,
        lease: u64,
    }

    optional_setters! {
        reply_to: String, subject: String, unsubscribe_mailto: String, bounce_address: String,
        secret: String,
        dkim_key: PathBuf, smtp_url: String, smtp_user: String, smtp_password: String,
        smtp_ca: PathBuf, sns_topics: String, sns_cert: PathBuf, postmark_user: String,
        postmark_password: String, database_url: String,
    }

    /// Validates every setting.
    ///
    /// # Errors
    /// On the first invalid setting, naming it.
    pub fn build(self) -> Result<Config, ConfigError> {
        let webhooks = self.webhooks()?;
        let mut site = self.site_url.trim().to_owned();
        if !site.ends_with('/') {
            site.push('/');
        }
        let url = Url::parse(&site).map_err(|e| invalid("HOTPAPERS_SITE_URL", &site, e))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                "HOTPAPERS_SITE_URL",
                &site,
                "expected an http or https URL",
            ));
        }
        if self.max_papers == 0 {
            return Err(invalid("HOTPAPERS_MAX_PAPERS", "0", "expected at least 1"));
        }
        if self.feed_limit == 0 {
            return Err(invalid("HOTPAPERS_FEED_LIMIT", "0", "expected at least 1"));
        }
        // Both go into every feed, page and the mail: none of them may carry
        // a character XML forbids or one that reorders the text around it.
        for (name, value) in [
            ("HOTPAPERS_TITLE", &self.title),
            ("HOTPAPERS_SUBTITLE", &self.subtitle),
        ] {
            if let Some(c) = value
                .chars()
                .find(|&c| crate::text::is_unsafe_in_display(c))
            {
                return Err(invalid(
                    name,
                    &crate::text::display_text(value),
                    format!(
                        "U+{:04X} is not allowed in feeds, pages or mail headers",
                        u32::from(c)
                    ),
                ));
            }
        }
        let from =
            Sender::parse(&self.from).map_err(|e| invalid("HOTPAPERS_FROM", &self.from, e))?;
        let reply_to = self
            .reply_to
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| Sender::parse(r).map_err(|e| invalid("HOTPAPERS_REPLY_TO", r, e)))
            .transpose()?;
        let unsubscribe_mailto = match self.unsubscribe_mailto.as_deref().filter(|m| !m.is_empty())
        {
            Some(m) => EmailAddress::parse(m)
                .map_err(|e| invalid("HOTPAPERS_UNSUBSCRIBE_MAILTO", m, e.reason))?,
            None => EmailAddress::parse(&format!("unsubscribe@{}", from.email.domain()))
                .map_err(|e| invalid("HOTPAPERS_FROM", &self.from, e.reason))?,
        };
        let bounce_address = self
            .bounce_address
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| {
                let a = EmailAddress::parse(b)
                    .map_err(|e| invalid("HOTPAPERS_BOUNCE_ADDRESS", b, e.reason))?;
                if a.as_str().rsplit_once('@').is_some_and(|(l, _)| l.len() + 27 > 64) {
                    return Err(invalid(
                        "HOTPAPERS_BOUNCE_ADDRESS",
                        b,
                        "the part before `@` must leave room for a 26-character token (at most 37 characters)",
                    ));
                }
                Ok(a)
            })
            .transpose()?;
        let smtp = self
            .smtp_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(|url| {
                SmtpSettings::parse(
                    url,
                    self.smtp_user.as_deref(),
                    self.smtp_password.clone().map(Password::new),
                    self.smtp_ca.as_deref(),
                )
            })
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                name: e.setting,
                value: "(hidden: it may hold a password)".to_owned(),
                reason: e.reason,
            })?;
        if self.connections == 0 {
            return Err(invalid("HOTPAPERS_CONNECTIONS", "0", "expected at least 1"));
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(invalid(
                "HOTPAPERS_RATE",
                &self.rate.to_string(),
                "expected a number of messages per second, 0 for no limit",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid(
                "HOTPAPERS_MAX_ATTEMPTS",
                "0",
                "expected at least 1",
            ));
        }
        if self.lease == 0 {
            return Err(invalid(
                "HOTPAPERS_LEASE",
                "0",
                "expected seconds, at least 1 (a worker renews its claims every third of it)",
            ));
        }
        if !(self.soft_bounce_limit.is_finite() && self.soft_bounce_limit >= 0.0) {
            return Err(invalid(
                "HOTPAPERS_SOFT_BOUNCE_LIMIT",
                &self.soft_bounce_limit.to_string(),
                "expected a score (0.5 per day with soft bounces), 0 for never",
            ));
        }
        let database = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(crate::db::DatabaseSettings::parse)
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                name: "HOTPAPERS_DATABASE_URL",
                value: "(hidden: it may hold a password)".to_owned(),
                reason: match e {
                    crate::db::DbError::Settings(reason) => reason,
                    other => other.to_string(),
                },
            })?;
        let unknown_policy = match self.unknown_policy.as_str() {
            "resend" => UnknownPolicy::Resend,
            "skip" => UnknownPolicy::Skip,
            other => {
                return Err(invalid(
                    "HOTPAPERS_UNKNOWN_POLICY",
                    other,
                    "expected `resend` or `skip`",
                ))
            }
        };
        Ok(Config {
            digests: self.digests,
            subscribers: self.subscribers,
            templates: self.templates,
            state: self.state,
            out: self.out,
            addr: self.addr,
            site: SiteSettings {
                url,
                title: self.title,
                subtitle: self.subtitle,
                language: self.language,
                feed_limit: self.feed_limit,
            },
            mail: MailSettings {
                from,
                reply_to,
                postal_address: self.postal_address,
                subject_template: self.subject.filter(|t| !t.trim().is_empty()),
                unsubscribe_mailto,
                bounce_address,
                dkim_key: self.dkim_key,
                dkim_selector: self.dkim_selector,
                max_papers: self.max_papers,
            },
            delivery: DeliverySettings {
                smtp,
                outbox: self.outbox,
                connections: self.connections,
                rate: (self.rate > 0.0).then_some(self.rate),
                max_attempts: self.max_attempts,
                bounce_limit: self.bounce_limit,
                soft_bounce_limit: self.soft_bounce_limit,
                unknown_policy,
                lease: std::time::Duration::from_secs(self.lease),
            },
            webhooks,
            secret: TokenKey::new(self.secret.as_deref().filter(|x| !x.trim().is_empty())),
            database,
        })
    }

    fn webhooks(&self) -> Result<WebhookSettings, ConfigError> {
        let mut sns_topics = Vec::new();
        for arn in self
            .sns_topics
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let parts: Vec<&str> = arn.split(':').collect();
            let valid = parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "sns"
                && parts[3..].iter().all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                });
            if !valid {
                return Err(invalid(
                    "HOTPAPERS_SNS_TOPICS",
                    arn,
                    "expected topic ARNs `arn:aws:sns:REGION:ACCOUNT:NAME`, comma-separated",
                ));
            }
            sns_topics.push(arn.to_owned());
        }
        let user = self
            .postmark_user
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let password = self.postmark_password.as_deref().filter(|p| !p.is_empty());
        let postmark = match (user, password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if user.contains(':') {
                    return Err(invalid(
                        "HOTPAPERS_POSTMARK_USER",
                        user,
                        "a basic-auth user name cannot hold `:`",
                    ));
                }
                if password.chars().count() < 16 {
                    return Err(invalid(
                        "HOTPAPERS_POSTMARK_PASSWORD",
                        "(hidden)",
                        "use at least 16 random characters: whoever guesses it can unsubscribe readers",
                    ));
                }
                Some((user.to_owned(), Password::new(password.to_owned())))
            }
            (Some(_), None) => {
                return Err(invalid(
                    "HOTPAPERS_POSTMARK_PASSWORD",
                    "",
                    "HOTPAPERS_POSTMARK_USER is set: the webhook needs both",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "HOTPAPERS_POSTMARK_USER",
                    "",
                    "HOTPAPERS_POSTMARK_PASSWORD is set: the webhook needs both",
                ))
            }
        };
        Ok(WebhookSettings {
            sns_topics,
            sns_cert: self.sns_cert.clone(),
            postmark,
        })
    }
}

fn invalid(name: &'static str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_url_always_ends_with_a_slash() {
        let c = Config::builder()
            .site_url("https://example.org/papers")
            .build()
            .unwrap();
        assert_eq!(c.site.url.as_str(), "https://example.org/papers/");
        assert_eq!(
            c.site.link("atom.xml"),
            "https://example.org/papers/atom.xml"
        );
    }

    #[test]
    fn a_weak_or_public_secret_is_refused_with_how_to_make_one() {
        for secret in [
            None,
            Some("change-me-to-64-random-hex-characters"),
            Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            Some("0123456789abcdef"),
        ] {
            let c = Config::builder().secret(secret).build().unwrap();
            let err = c.require_strong_secret("mail goes over SMTP").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("openssl rand -hex 32"), "{text}");
            assert!(
                !text.contains("aaaaaaaa") && !text.contains("0123456789abcdef"),
                "{text}"
            );
        }
        let strong = "9f2c4e81b07a3d5f6e19c8a2b4d70f3e5a61c9d28e7b04f1a3c56d9e2b8f7a10";
        let c = Config::builder().secret(Some(strong)).build().unwrap();
        assert!(c.require_strong_secret("mail goes over SMTP").is_ok());
        assert!(!format!("{c:?}").contains(strong), "Debug hides the key");
    }

    /// Audit finding 3 and 11, the settings' side: the title and subtitle
    /// reach every feed without passing the digest parser.
    #[test]
    fn a_title_with_a_forbidden_or_bidi_character_is_refused() {
        for (title, subtitle, name) in [
            ("Hot\u{1} Papers", "x", "HOTPAPERS_TITLE"),
            ("Hot Papers", "x\u{FFFE}", "HOTPAPERS_SUBTITLE"),
            ("Hot \u{202E}srepaP", "x", "HOTPAPERS_TITLE"),
        ] {
            let e = Config::builder()
                .title(title)
                .subtitle(subtitle)
                .build()
                .unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { name: n, .. } if *n == name),
                "{e}"
            );
        }
        assert!(Config::builder()
            .title("Hot Papers \u{65e5}")
            .build()
            .is_ok());
    }

    #[test]
    fn bad_from_names_the_setting() {
        let err = Config::builder()
            .from("not an address")
            .build()
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid setting `HOTPAPERS_FROM`"));
    }

    #[test]
    fn the_sender_keeps_its_name_and_the_mailto_defaults_to_its_domain() {
        let c = Config::builder()
            .from("\"Hot Papers\" <digest@papers.example.org>")
            .build()
            .unwrap();
        assert_eq!(c.mail.from.name.as_deref(), Some("Hot Papers"));
        assert_eq!(c.mail.from.email.as_str(), "digest@papers.example.org");
        assert_eq!(
            c.mail.unsubscribe_mailto.as_str(),
            "unsubscribe@papers.example.org"
        );
    }

    fn parse(url: &str) -> Result<SmtpSettings, SmtpSettingError> {
        SmtpSettings::parse(url, None, None, None)
    }

    #[test]
    fn the_smtp_url_is_parsed_once_with_its_defaults() {
        let s = parse("smtp://us%40er:p%2Fss@127.0.0.1:2525/client.example").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, TlsMode::None)
        );
        assert_eq!(s.user.as_deref(), Some("us@er"));
        assert_eq!(s.password.as_ref().map(Password::expose), Some("p/ss"));
        assert_eq!(s.hello.as_deref(), Some("client.example"));
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("p/ss") && !shown.contains("p%2Fss"),
            "{shown}"
        );
        assert_eq!(parse("smtps://mail.example.org").unwrap().port, 465);
        let sub = parse("smtp://mail.example.org?tls=required").unwrap();
        assert_eq!((sub.port, sub.tls), (587, TlsMode::Required));
        assert_eq!(parse("smtp://[::1]:25").unwrap().host, "::1");
    }

    #[test]
    fn audit_6_an_ipv4_mapped_loopback_smtp_host_is_loopback() {
        assert!(parse("smtp://[::ffff:127.0.0.1]:2525")
            .unwrap()
            .is_loopback());
        assert!(parse("smtp://localhost:2525").unwrap().is_loopback());
        assert!(!parse("smtp://[::ffff:192.0.2.1]:2525")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn smtp_settings_apply_when_the_url_has_no_credentials() {
        let s = SmtpSettings::parse(
            "smtp://mail.example.org:587?tls=required",
            Some("newsletter"),
            Some(Password::new("secret".into())),
            None,
        )
        .unwrap();
        assert_eq!(s.user.as_deref(), Some("newsletter"));
        assert_eq!(s.password.as_ref().map(Password::expose), Some("secret"));
    }

    #[test]
    fn bad_smtp_urls_name_the_setting_and_never_echo_a_password() {
        for url in [
            "http://127.0.0.1",
            "smtp://u:hunter2@host?tls=maybe",
            "smtp://u:hunter2@host?tsl=required",
            "smtp://",
            "not a url hunter2",
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid setting `HOTPAPERS_SMTP_URL`"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
            let err = Config::builder()
                .smtp_url(Some(url))
                .build()
                .unwrap_err()
                .to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
