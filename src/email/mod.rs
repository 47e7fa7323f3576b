//! The newsletter email: one day's [`Digest`] → a personalized, complete
//! [`lettre::Message`] per subscriber (multipart/alternative text + HTML,
//! list headers, stable Message-ID, optional DKIM), and the double opt-in
//! confirmation email. Pure: the date is passed in, nothing is sent or
//! written here (`deliver` sends, `cmd::preview` writes files).
//!
//! Templates are registered once in [`Newsletter::new`] and checked there by
//! rendering a sample, so a template mistake stops the program at start-up
//! with its file and line instead of reaching 10,000 inboxes. An [`Edition`]
//! renders (and CSS-inlines) once per distinct paper filter and fills in each
//! reader's address, name and unsubscribe link by substitution, which keeps
//! rendering far from being the bottleneck of sending.

mod dkim;
mod message;
mod text;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use lettre::message::dkim::DkimConfig;

use crate::config::Config;
use crate::model::{Digest, PaperFilter, Subscriber};
use crate::token::Signer;

use crate::templates::{self, TemplateError, Templates};
pub use dkim::SIGNED_HEADERS as DKIM_SIGNED_HEADERS;
use view::{ConfirmView, EmailView, Personal, SubjectView, SubscriberView};

/// Longest subject, in characters, before it is shortened at a word.
pub const SUBJECT_LIMIT: usize = 78;

/// Why an email could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// A template does not parse or does not render (strict mode: an unknown
    /// variable is an error).
    #[error("{}: {message}", position(file, *line, *column))]
    Template {
        /// The file (or built-in default, or setting) the template came from.
        file: String,
        /// Line in that file, when known.
        line: Option<usize>,
        /// Column in that line, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A template override exists but cannot be read.
    #[error("cannot read template `{}`", path.display())]
    ReadTemplate {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The DKIM key file cannot be read.
    #[error("cannot read DKIM key `{}`", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The DKIM key file is not a usable key.
    #[error("DKIM key `{}`: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A subscriber's address is not a valid mailbox.
    #[error("invalid recipient address `{address}`: {reason}")]
    Address {
        /// The address as given (control characters escaped).
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// CSS inlining failed on the rendered HTML.
    #[error("cannot inline the CSS of `{template}`: {reason}")]
    Inline {
        /// The template rendered.
        template: &'static str,
        /// The inliner's message.
        reason: String,
    },
    /// lettre refused to build the message.
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

impl From<TemplateError> for EmailError {
    fn from(e: TemplateError) -> Self {
        match e {
            TemplateError::Invalid {
                file,
                line,
                column,
                message,
            } => Self::Template {
                file,
                line,
                column,
                message,
            },
            TemplateError::Read { path, source } => Self::ReadTemplate { path, source },
        }
    }
}

/// The email template files, as paths relative to the templates folder (for
/// docs and tests).
#[must_use]
pub fn template_files() -> Vec<PathBuf> {
    templates::email_files()
}

fn position(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_owned(),
    }
}

/// A rendered email before it becomes a MIME message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The subject line (one line, shortened to [`SUBJECT_LIMIT`]).
    pub subject: String,
    /// The HTML part, CSS inlined.
    pub html: String,
    /// The plain-text part, wrapped at 72 columns.
    pub text: String,
}

/// The newsletter's templates, settings and signing key, loaded once.
pub struct Newsletter {
    config: Config,
    templates: Templates,
    signer: Signer,
    dkim: Option<DkimConfig>,
    inliner: css_inline::CSSInliner<'static>,
}

impl std::fmt::Debug for Newsletter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Newsletter")
            .field("templates", &self.templates)
            .field("dkim", &self.dkim.is_some())
            .finish_non_exhaustive()
    }
}

impl Newsletter {
    /// Loads the templates (built-in, overridden file by file from
    /// `config.templates`), the DKIM key if one is set, and renders a sample
    /// of every template so that a mistake is reported now.
    ///
    /// # Errors
    /// [`EmailError::Template`] with file and line for a template that does not
    /// parse or uses an unknown variable; key errors for an unusable DKIM key.
    pub fn new(config: &Config) -> Result<Self, EmailError> {
        let templates = Templates::email(&config.templates, config.subject_template.as_deref())?;
        let dkim = config
            .dkim_key
            .as_deref()
            .map(|path| dkim::load(path, &config.dkim_selector, config.from.email.domain()))
            .transpose()?;
        let inliner = css_inline::CSSInliner::options()
            .keep_style_tags(true)
            .remove_inlined_selectors(true)
            .keep_at_rules(true)
            .load_remote_stylesheets(false)
            .build();
        let newsletter = Self {
            config: config.clone(),
            templates,
            signer: Signer::new(config.secret.expose()),
            dkim,
            inliner,
        };
        newsletter.check_templates()?;
        Ok(newsletter)
    }

    /// Renders every template against a sample digest that takes every branch
    /// the default templates have (with and without PDF, tweet, abstract,
    /// reader name, filter notes).
    fn check_templates(&self) -> Result<(), EmailError> {
        let digest = message::sample_digest();
        let edition = self.edition(&digest)?;
        let mut named = Subscriber::new("reader@example.org");
        named.name = Some("Sample Reader".to_owned());
        let mut filtered = Subscriber::new("other@example.org");
        filtered.categories = digest.papers[0]
            .categories
            .iter()
            .take(1)
            .cloned()
            .collect();
        filtered.max_papers = Some(1);
        filtered.min_retweets = Some(1);
        for reader in [&named, &filtered] {
            edition.render_for(reader)?;
        }
        self.render_confirmation("reader@example.org", "https://example.org/confirm?token=x")?;
        Ok(())
    }

    /// One day's edition: renders per distinct filter, on demand, and caches.
    ///
    /// # Errors
    /// None today; kept fallible so that a digest can be refused here later.
    pub fn edition(&self, digest: &Digest) -> Result<Edition<'_>, EmailError> {
        Ok(Edition {
            newsletter: self,
            digest: digest.clone(),
            prepared: Mutex::new(BTreeMap::new()),
        })
    }

    /// `SITE_URL/unsubscribe?token=…` for `email`; the token is the signed
    /// (HMAC-SHA256) lowercased address, verified by `serve`.
    pub fn unsubscribe_url(&self, email: &str) -> String {
        let mut url = self
            .config
            .site_url
            .join("unsubscribe")
            .unwrap_or_else(|_| self.config.site_url.clone());
        url.query_pairs_mut()
            .append_pair("token", &self.signer.unsubscribe_token(email));
        url.into()
    }

    /// The double opt-in email: one link, why the reader gets it, and that
    /// they can ignore it if they did not ask.
    ///
    /// # Errors
    /// An invalid address, a template error, or a message lettre refuses.
    pub fn confirmation(
        &self,
        email: &str,
        confirm_url: &str,
        date: DateTime<Utc>,
    ) -> Result<lettre::Message, EmailError> {
        let rendered = self.render_confirmation(email, confirm_url)?;
        message::confirmation(self, email, &rendered, date)
    }

    fn render_confirmation(
        &self,
        email: &str,
        confirm_url: &str,
    ) -> Result<RenderedEmail, EmailError> {
        let view = ConfirmView {
            title: self.config.title.clone(),
            subtitle: self.config.subtitle.clone(),
            language: self.config.language.clone(),
            email: email.trim().to_owned(),
            confirm_url: confirm_url.to_owned(),
            site_url: self.config.site_url.to_string(),
            postal_address: self.config.postal_address.clone(),
            from_email: self.config.from.email.to_string(),
        };
        let subject = self
            .templates
            .render_text(templates::CONFIRM_SUBJECT, &view)?;
        let html = self.templates.render_html(templates::CONFIRM_HTML, &view)?;
        let html = self.inline(templates::CONFIRM_HTML, &html)?;
        let text = self.templates.render_text(templates::CONFIRM_TXT, &view)?;
        Ok(RenderedEmail {
            subject: message::clean_subject(&subject),
            html,
            text: text::wrap(&text),
        })
    }

    /// Inlines the CSS; the result ends with a newline, like the text part,
    /// so that the line-by-line encoding of the message body matches it.
    fn inline(&self, template: &'static str, html: &str) -> Result<String, EmailError> {
        let mut inlined = self.inliner.inline(html).map_err(|e| EmailError::Inline {
            template,
            reason: e.to_string(),
        })?;
        if !inlined.ends_with('\n') {
            inlined.push('\n');
        }
        Ok(inlined)
    }

    /// The validated settings this newsletter was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// One rendering per (filter, whether the reader has a name); `None` when the
/// filter leaves no paper.
type Prepared = Option<Arc<PreparedEmail>>;

#[derive(Debug)]
struct PreparedEmail {
    html: String,
    text: String,
    /// The same parts, quoted-printable encoded line by line for the message.
    html_qp: Vec<Chunk>,
    text_qp: Vec<Chunk>,
    subject: SubjectView,
}

/// A run of a body part: lines without personal values, encoded once per
/// filter, or one line holding placeholders, encoded per reader. Encoding
/// line by line gives the same bytes as encoding the whole part, since
/// quoted-printable starts afresh after every hard line break.
#[derive(Debug)]
enum Chunk {
    Encoded(Vec<u8>),
    Personal(String),
}

fn precode(rendered: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut encoded = Vec::with_capacity(rendered.len() + rendered.len() / 8);
    for line in rendered.lines() {
        if line.contains(view::OPEN) {
            if !encoded.is_empty() {
                chunks.push(Chunk::Encoded(std::mem::take(&mut encoded)));
            }
            chunks.push(Chunk::Personal(line.to_owned()));
        } else {
            encode_line(line, &mut encoded);
        }
    }
    if !encoded.is_empty() {
        chunks.push(Chunk::Encoded(encoded));
    }
    chunks
}

/// One line as quoted-printable (soft breaks at 76 columns), then CRLF.
fn encode_line(line: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&quoted_printable::encode(line.as_bytes()));
    out.extend_from_slice(b"\r\n");
}

/// The encoded part for one reader; `rewrap` for the text part, whose lines
/// must stay within 72 columns once the values are in.
fn encode_chunks(chunks: &[Chunk], value: impl Fn(Personal) -> String, rewrap: bool) -> Vec<u8> {
    let size: usize = chunks
        .iter()
        .map(|c| match c {
            Chunk::Encoded(b) => b.len(),
            Chunk::Personal(l) => l.len() + 64,
        })
        .sum();
    let mut out = Vec::with_capacity(size + 256);
    for chunk in chunks {
        match chunk {
            Chunk::Encoded(bytes) => out.extend_from_slice(bytes),
            Chunk::Personal(line) => {
                let filled = fill(line, &value);
                if rewrap {
                    let mut wrapped = String::with_capacity(filled.len() + 8);
                    text::wrap_line(&filled, &mut wrapped);
                    for l in wrapped.lines() {
                        encode_line(l, &mut out);
                    }
                } else {
                    encode_line(&filled, &mut out);
                }
            }
        }
    }
    out
}

/// One day's newsletter, ready to personalize. Shareable between threads.
#[derive(Debug)]
pub struct Edition<'n> {
    newsletter: &'n Newsletter,
    digest: Digest,
    prepared: Mutex<BTreeMap<(PaperFilter, bool), Prepared>>,
}

/// One reader's values for the placeholders of a shared rendering.
struct Reader {
    email: String,
    name: Option<String>,
    unsubscribe: String,
}

impl Reader {
    fn value(&self, p: Personal) -> &str {
        match p {
            Personal::Email => &self.email,
            Personal::Name => self.name.as_deref().unwrap_or(""),
            Personal::Unsubscribe => &self.unsubscribe,
        }
    }
}

impl Edition<'_> {
    /// The complete message for `subscriber`, dated `date`; `None` when their
    /// filter leaves no paper (the sender reports it as skipped).
    ///
    /// # Errors
    /// An invalid subscriber address, a template error, or a message lettre
    /// refuses.
    pub fn message_for(
        &self,
        subscriber: &Subscriber,
        date: DateTime<Utc>,
    ) -> Result<Option<lettre::Message>, EmailError> {
        let Some((prepared, reader)) = self.personalize(subscriber)? else {
            return Ok(None);
        };
        let subject = self.subject(&prepared, &reader)?;
        let parts = message::EncodedParts {
            text: encode_chunks(&prepared.text_qp, |p| reader.value(p).to_owned(), true),
            html: encode_chunks(
                &prepared.html_qp,
                |p| crate::html::escape_owned(reader.value(p)),
                false,
            ),
        };
        message::newsletter(self, subscriber, &subject, parts, &reader.unsubscribe, date).map(Some)
    }

    /// The rendering shared by `subscriber`'s filter, and the values to fill
    /// into it for them; `None` when the filter leaves no paper.
    fn personalize(
        &self,
        subscriber: &Subscriber,
    ) -> Result<Option<(Arc<PreparedEmail>, Reader)>, EmailError> {
        let name = message::clean_name(subscriber.name.as_deref());
        let Some(prepared) = self.prepare(subscriber.filter(), name.is_some())? else {
            return Ok(None);
        };
        let email = subscriber.email.trim().to_owned();
        let unsubscribe = self.newsletter.unsubscribe_url(&email);
        Ok(Some((
            prepared,
            Reader {
                email,
                name,
                unsubscribe,
            },
        )))
    }

    fn subject(&self, prepared: &PreparedEmail, reader: &Reader) -> Result<String, EmailError> {
        let mut view = prepared.subject.clone();
        view.subscriber = SubscriberView {
            email: reader.email.clone(),
            name: reader.name.clone(),
        };
        let subject = self
            .newsletter
            .templates
            .render_text(templates::EMAIL_SUBJECT, &view)?;
        Ok(message::clean_subject(&subject))
    }

    /// The subject, HTML and text `subscriber` would get; `None` when their
    /// filter leaves no paper.
    ///
    /// # Errors
    /// A template error.
    pub fn render_for(&self, subscriber: &Subscriber) -> Result<Option<RenderedEmail>, EmailError> {
        let Some((prepared, reader)) = self.personalize(subscriber)? else {
            return Ok(None);
        };
        Ok(Some(RenderedEmail {
            subject: self.subject(&prepared, &reader)?,
            html: fill(&prepared.html, |p| {
                crate::html::escape_owned(reader.value(p))
            }),
            text: fill_text(&prepared.text, |p| reader.value(p).to_owned()),
        }))
    }

    /// The Message-ID for `subscriber`'s copy of this edition:
    /// `<YYYY-MM-DD.HASH@sender-domain>`, the same on every resend.
    pub fn message_id(&self, subscriber: &Subscriber) -> String {
        message::newsletter_id(self.newsletter, self.digest.date, &subscriber.email)
    }

    /// The digest this edition renders.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    fn prepare(&self, filter: PaperFilter, has_name: bool) -> Result<Prepared, EmailError> {
        let key = (filter, has_name);
        if let Some(p) = self.lock().get(&key) {
            return Ok(p.clone());
        }
        let n = self.newsletter;
        let selection = key.0.select(&self.digest);
        let prepared = match EmailView::new(&n.config, &self.digest, &key.0, &selection, has_name) {
            None => None,
            Some(view) => {
                let html = n.templates.render_html(templates::EMAIL_HTML, &view)?;
                let html = n.inline(templates::EMAIL_HTML, &html)?;
                let text = text::wrap(&n.templates.render_text(templates::EMAIL_TXT, &view)?);
                Some(Arc::new(PreparedEmail {
                    html_qp: precode(&html),
                    text_qp: precode(&text),
                    html,
                    text,
                    subject: SubjectView {
                        title: view.title,
                        date: view.date,
                        paper_count: view.paper_count,
                        top_paper: view.top_paper,
                        subscriber: view.subscriber,
                    },
                }))
            }
        };
        self.lock().insert(key, prepared.clone());
        Ok(prepared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(PaperFilter, bool), Prepared>> {
        // The map is only inserted into; a panic elsewhere cannot leave it half-written.
        self.prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `rendered` with every personal placeholder replaced by `value(which)`.
fn fill(rendered: &str, value: impl Fn(Personal) -> String) -> String {
    let mut out = String::with_capacity(rendered.len() + 256);
    let mut rest = rendered;
    while let Some(start) = rest.find(view::OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + view::OPEN.len_utf8()..];
        let mut chars = after.chars();
        match (chars.next().and_then(Personal::from_key), chars.next()) {
            (Some(p), Some(view::CLOSE)) => {
                out.push_str(&value(p));
                rest = chars.as_str();
            }
            // Not a placeholder (the character came from the content): keep it.
            _ => {
                out.push(view::OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// [`fill`] for the wrapped text part: a line that held a placeholder is
/// wrapped again, since the value may be longer than the placeholder.
fn fill_text(rendered: &str, value: impl Fn(Personal) -> String) -> String {
    let mut out = String::with_capacity(rendered.len() + 256);
    for line in rendered.split_inclusive('\n') {
        if line.contains(view::OPEN) {
            text::wrap_line(fill(line, &value).trim_end_matches('\n'), &mut out);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn editions_can_be_shared_between_sending_threads() {
        assert_send_sync::<Newsletter>();
        assert_send_sync::<Edition<'static>>();
    }

    #[test]
    fn placeholders_are_filled_and_stray_marks_kept() {
        let text = format!(
            "a {} b {} c \u{E000}x \u{E000}",
            Personal::Email.placeholder(),
            Personal::Unsubscribe.placeholder()
        );
        let filled = fill(&text, |p| match p {
            Personal::Email => "E@x".to_owned(),
            Personal::Name => "N".to_owned(),
            Personal::Unsubscribe => "U".to_owned(),
        });
        assert_eq!(filled, "a E@x b U c \u{E000}x \u{E000}");
    }
}
