//! One validated [`Config`], built once from the command line, which clap has
//! already merged with `HOTPAPERS_*` environment variables, `.env` and the
//! built-in defaults (in that order of precedence). Nothing else reads settings.

use std::path::PathBuf;

use lettre::message::Mailbox;
use thiserror::Error;
use url::Url;

use crate::cli::Settings;
use crate::delivery::SmtpSettings;
use crate::secret::{Password, TokenKey, HOW_TO_MAKE_ONE};

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
    /// A setting that is needed for this command is missing.
    #[error("setting `{0}` is required when sending over SMTP")]
    Missing(&'static str),
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

/// Validated settings for every command.
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
    /// Public site URL, always ending in `/`.
    pub site_url: Url,
    /// Feed and site title.
    pub title: String,
    /// Feed and site subtitle.
    pub subtitle: String,
    /// Language tag of feeds and pages.
    pub language: String,
    /// Number of latest digests in the feeds.
    pub feed_limit: usize,
    /// Sender mailbox with display name.
    pub from: Mailbox,
    /// Optional Reply-To mailbox.
    pub reply_to: Option<Mailbox>,
    /// Postal / contact line for the footer.
    pub postal_address: String,
    /// Custom subject template, if set.
    pub subject_template: Option<String>,
    /// Address for `mailto:` unsubscribe (defaults to `unsubscribe@<from domain>`).
    pub unsubscribe_mailto: String,
    /// HMAC key for tokens (the built-in development key when none is set).
    pub secret: TokenKey,
    /// DKIM key file, if signing is on.
    pub dkim_key: Option<PathBuf>,
    /// DKIM selector.
    pub dkim_selector: String,
    /// The mail server (URL, credentials, CA), parsed once; `None` means the outbox.
    pub smtp: Option<SmtpSettings>,
    /// Outbox folder for .eml files.
    pub outbox: PathBuf,
    /// Concurrent SMTP connections (at least 1).
    pub connections: usize,
    /// Messages per second; `None` for no limit.
    pub rate: Option<f64>,
    /// Attempts per message for transient failures.
    pub max_attempts: u32,
    /// Consecutive hard bounces before a subscriber is marked bounced.
    pub bounce_limit: u32,
    /// Policy for messages of unknown delivery.
    pub unknown_policy: UnknownPolicy,
}

impl Config {
    /// Validates the settings.
    ///
    /// # Errors
    /// On the first invalid setting, naming it.
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let mut site = s.site_url.trim().to_owned();
        if !site.ends_with('/') {
            site.push('/');
        }
        let site_url = Url::parse(&site).map_err(|e| invalid("HOTPAPERS_SITE_URL", &site, e))?;
        if !matches!(site_url.scheme(), "http" | "https") {
            return Err(invalid(
                "HOTPAPERS_SITE_URL",
                &site,
                "expected an http or https URL",
            ));
        }
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| invalid("HOTPAPERS_FROM", &s.from, e))?;
        let reply_to = s
            .reply_to
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                r.parse::<Mailbox>()
                    .map_err(|e| invalid("HOTPAPERS_REPLY_TO", r, e))
            })
            .transpose()?;
        let unsubscribe_mailto = match s.unsubscribe_mailto.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => {
                crate::model::EmailAddress::parse(m)
                    .map_err(|e| invalid("HOTPAPERS_UNSUBSCRIBE_MAILTO", m, e.reason))?;
                m.to_owned()
            }
            None => format!("unsubscribe@{}", from.email.domain()),
        };
        let smtp = s
            .smtp_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(|url| {
                SmtpSettings::parse(
                    url,
                    s.smtp_user.as_deref(),
                    s.smtp_password.clone().map(Password::new),
                    s.smtp_ca.as_deref(),
                )
            })
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                name: e.setting,
                value: "(hidden: it may hold a password)".to_owned(),
                reason: e.reason,
            })?;
        let secret = TokenKey::new(s.secret.as_deref().filter(|x| !x.trim().is_empty()));
        if s.connections == 0 {
            return Err(invalid("HOTPAPERS_CONNECTIONS", "0", "expected at least 1"));
        }
        if !(s.rate.is_finite() && s.rate >= 0.0) {
            return Err(invalid(
                "HOTPAPERS_RATE",
                &s.rate.to_string(),
                "expected a number of messages per second, 0 for no limit",
            ));
        }
        if s.max_attempts == 0 {
            return Err(invalid(
                "HOTPAPERS_MAX_ATTEMPTS",
                "0",
                "expected at least 1",
            ));
        }
        let unknown_policy = match s.unknown_policy.as_str() {
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
        if s.feed_limit == 0 {
            return Err(invalid("HOTPAPERS_FEED_LIMIT", "0", "expected at least 1"));
        }
        Ok(Self {
            digests: s.digests.clone(),
            subscribers: s.subscribers.clone(),
            templates: s.templates.clone(),
            state: s.state.clone(),
            site_url,
            title: s.title.clone(),
            subtitle: s.subtitle.clone(),
            language: s.language.clone(),
            feed_limit: s.feed_limit,
            from,
            reply_to,
            postal_address: s.postal_address.clone(),
            subject_template: s.subject.clone().filter(|t| !t.trim().is_empty()),
            unsubscribe_mailto,
            secret,
            dkim_key: s.dkim_key.clone(),
            dkim_selector: s.dkim_selector.clone(),
            smtp,
            outbox: s.outbox.clone(),
            connections: s.connections,
            rate: (s.rate > 0.0).then_some(s.rate),
            max_attempts: s.max_attempts,
            bounce_limit: s.bounce_limit,
            unknown_policy,
        })
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

    /// Whether the site URL is the built-in local one (`serve` for a preview).
    #[must_use]
    pub fn site_is_local_default(&self) -> bool {
        self.site_url.as_str() == crate::cli::DEFAULT_SITE_URL
    }

    /// An absolute URL on the site for a relative path (`2021-02-12/`, `atom.xml`).
    #[must_use]
    pub fn site_link(&self, path: &str) -> String {
        self.site_url
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| format!("{}{path}", self.site_url), String::from)
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
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["hotpapers"];
        argv.extend_from_slice(args);
        argv.push("check");
        let cli = crate::cli::Cli::try_parse_from(argv).expect("arguments parse");
        Config::from_settings(&cli.settings)
    }

    #[test]
    fn site_url_always_ends_with_a_slash() {
        let c = config(&["--site-url", "https://example.org/papers"]).unwrap();
        assert_eq!(c.site_url.as_str(), "https://example.org/papers/");
        assert_eq!(
            c.site_link("atom.xml"),
            "https://example.org/papers/atom.xml"
        );
    }

    #[test]
    fn a_weak_or_public_secret_is_refused_with_how_to_make_one() {
        for args in [
            vec![],
            vec!["--secret", "change-me-to-64-random-hex-characters"],
            vec!["--secret", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
            vec!["--secret", "0123456789abcdef"],
        ] {
            let c = config(&args).unwrap();
            let err = c.require_strong_secret("mail goes over SMTP").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("openssl rand -hex 32"), "{text}");
            assert!(
                !text.contains("aaaaaaaa") && !text.contains("0123456789abcdef"),
                "{text}"
            );
        }
        let strong = "9f2c4e81b07a3d5f6e19c8a2b4d70f3e5a61c9d28e7b04f1a3c56d9e2b8f7a10";
        let c = config(&["--secret", strong]).unwrap();
        assert!(c.require_strong_secret("mail goes over SMTP").is_ok());
        assert!(!format!("{c:?}").contains(strong), "Debug hides the key");
    }

    #[test]
    fn bad_from_names_the_setting() {
        let err = config(&["--from", "not an address"]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid setting `HOTPAPERS_FROM`"));
    }
}
