//! The newsletter email: one day's [`Digest`] → a rendered [`Letter`] per
//! subscriber (subject, HTML and text parts, the values the headers need),
//! and the double opt-in confirmation email. Pure: nothing is sent or
//! written here, and nothing here knows MIME: `delivery` assembles the
//! message (headers, Message-ID, encoding, DKIM) and sends it,
//! `cmd::preview` writes files.
//!
//! Templates are registered once in [`Newsletter::new`] and checked there by
//! rendering a sample, so a template mistake stops the program at start-up
//! with its file and line instead of reaching 10,000 inboxes. An [`Edition`]
//! renders (and CSS-inlines) once per distinct paper filter and fills in each
//! reader's address, name and unsubscribe link by substitution, which keeps
//! rendering far from being the bottleneck of sending.

mod clean;
mod sample;
mod text;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{MailSettings, SiteSettings};
use crate::model::{weekly_digest, Digest, PaperFilter, Subscriber, Week};
use crate::secret::TokenKey;
use crate::token::Signer;

use crate::templates::{self, TemplateError, Templates};
pub use clean::{clean_name, greeting_name, one_line, NAME_LIMIT};
use view::{ConfirmView, EmailView, Personal, SubjectView, SubscriberView, WeekView};

/// Most papers in a weekly edition for a reader who set no `max_papers`.
pub const WEEKLY_MAX_PAPERS: usize = 20;

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
    /// CSS inlining failed on the rendered HTML.
    #[error("cannot inline the CSS of `{template}`: {reason}")]
    Inline {
        /// The template rendered.
        template: &'static str,
        /// The inliner's message.
        reason: String,
    },
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

/// The newsletter's templates and settings, loaded once.
pub struct Newsletter {
    site: SiteSettings,
    mail: MailSettings,
    templates: Templates,
    signer: Signer,
    inliner: css_inline::CSSInliner<'static>,
}

impl std::fmt::Debug for Newsletter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Newsletter")
            .field("templates", &self.templates)
            .finish_non_exhaustive()
    }
}

impl Newsletter {
    /// Loads the templates (built-in, overridden file by file from
    /// `config.templates`) and renders a sample of every template so that a
    /// mistake is reported now.
    ///
    /// # Errors
    /// [`EmailError::Template`] with file and line for a template that does not
    /// parse or uses an unknown variable.
    pub fn new(
        site: &SiteSettings,
        mail: &MailSettings,
        secret: &TokenKey,
        templates: &std::path::Path,
    ) -> Result<Self, EmailError> {
        let templates = Templates::email(templates, mail.subject_template.as_deref())?;
        let inliner = css_inline::CSSInliner::options()
            .keep_style_tags(true)
            .remove_inlined_selectors(true)
            .keep_at_rules(true)
            .load_remote_stylesheets(false)
            .build();
        let newsletter = Self {
            site: site.clone(),
            mail: mail.clone(),
            templates,
            signer: Signer::new(secret.expose()),
            inliner,
        };
        newsletter.check_templates()?;
        Ok(newsletter)
    }

    /// Renders every template against a sample digest that takes every branch
    /// the default templates have (with and without PDF, tweet, abstract,
    /// reader name, filter notes).
    fn check_templates(&self) -> Result<(), EmailError> {
        let digest = sample::digest();
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
        filtered.keywords = vec!["sample".to_owned()];
        let weekly = self.weekly_edition(Week::ending(digest.date), [&digest]);
        for reader in [&named, &filtered] {
            edition.render_for(reader)?;
            weekly.render_for(reader)?;
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
            week: None,
            prepared: Mutex::new(BTreeMap::new()),
        })
    }

    /// The weekly edition of `week` from the digests of its days (others
    /// are ignored): every paper once, ranked by retweets
    /// ([`weekly_digest`]), rendered with the `weekly.*` templates.
    #[must_use]
    pub fn weekly_edition<'d>(
        &self,
        week: Week,
        digests: impl IntoIterator<Item = &'d Digest>,
    ) -> Edition<'_> {
        let digests: Vec<&Digest> = digests
            .into_iter()
            .filter(|d| week.contains(d.date))
            .collect();
        let days: Vec<chrono::NaiveDate> = digests.iter().map(|d| d.date).collect();
        Edition {
            newsletter: self,
            digest: weekly_digest(week, digests),
            week: Some(WeekView::new(&self.site, week, &days)),
            prepared: Mutex::new(BTreeMap::new()),
        }
    }

    /// `SITE_URL/unsubscribe?token=…` for `email`; the token is the signed
    /// (HMAC-SHA256) lowercased address, verified by `serve`.
    #[must_use]
    pub fn unsubscribe_url(&self, email: &str) -> String {
        let mut url = self
            .site
            .url
            .join("unsubscribe")
            .unwrap_or_else(|_| self.site.url.clone());
        url.query_pairs_mut()
            .append_pair("token", &self.signer.unsubscribe_token(email));
        url.into()
    }

    /// `SITE_URL/preferences?token=…` for `email`; the token is sealed for
    /// the preferences page only (an unsubscribe token does not open it).
    #[must_use]
    pub fn preferences_url(&self, email: &str) -> String {
        let mut url = self
            .site
            .url
            .join("preferences")
            .unwrap_or_else(|_| self.site.url.clone());
        url.query_pairs_mut()
            .append_pair("token", &self.signer.preferences_token(email));
        url.into()
    }

    /// The double opt-in email: one link, why the reader gets it, and that
    /// they can ignore it if they did not ask.
    ///
    /// # Errors
    /// A template error.
    pub fn render_confirmation(
        &self,
        email: &str,
        confirm_url: &str,
    ) -> Result<RenderedEmail, EmailError> {
        let view = ConfirmView {
            title: self.site.title.clone(),
            subtitle: self.site.subtitle.clone(),
            language: self.site.language.clone(),
            email: email.trim().to_owned(),
            confirm_url: confirm_url.to_owned(),
            site_url: self.site.url.to_string(),
            postal_address: self.mail.postal_address.clone(),
            from_email: self.mail.from.email.to_string(),
        };
        let subject = self
            .templates
            .render_text(templates::CONFIRM_SUBJECT, &view)?;
        let html = self.templates.render_html(templates::CONFIRM_HTML, &view)?;
        let html = self.inline(templates::CONFIRM_HTML, &html)?;
        let text = self.templates.render_text(templates::CONFIRM_TXT, &view)?;
        Ok(RenderedEmail {
            subject: clean::clean_subject(&subject),
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

    /// The site settings this newsletter was made with.
    #[must_use]
    pub fn site(&self) -> &SiteSettings {
        &self.site
    }

    /// The mail settings this newsletter was made with.
    #[must_use]
    pub fn mail(&self) -> &MailSettings {
        &self.mail
    }
}

/// One rendering per (filter, whether the reader has a name); `None` when the
/// filter leaves no paper.
type Prepared = Option<Arc<PreparedEmail>>;

#[derive(Debug)]
struct PreparedEmail {
    html: String,
    text: String,
    /// The same parts split into shared lines and lines with placeholders.
    body: Arc<Rendering>,
    subject: SubjectView,
}

/// Which shared rendering a reader gets: their paper filter, and whether
/// they have a name (the greeting differs). Readers with the same key share
/// one rendering, so whatever is derived from it can be cached by this key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RenderKey(PaperFilter, bool);

/// A rendered body part, split by line into what every reader with the same
/// [`RenderKey`] shares and the lines holding a reader's own values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Lines without personal values, each ending in `\n`.
    Shared(String),
    /// One line (without its `\n`) holding placeholders; fill it with
    /// [`Reader::fill_html_line`] or [`Reader::fill_text_line`].
    Personal(String),
}

/// One shared rendering: the HTML (CSS inlined) and the text part (wrapped
/// at 72 columns), as [`Segment`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    /// The HTML part.
    pub html: Vec<Segment>,
    /// The plain-text part.
    pub text: Vec<Segment>,
}

fn segments(rendered: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut shared = String::with_capacity(rendered.len());
    for line in rendered.lines() {
        if line.contains(view::OPEN) {
            if !shared.is_empty() {
                out.push(Segment::Shared(std::mem::take(&mut shared)));
            }
            out.push(Segment::Personal(line.to_owned()));
        } else {
            shared.push_str(line);
            shared.push('\n');
        }
    }
    if !shared.is_empty() {
        out.push(Segment::Shared(shared));
    }
    out
}

/// One reader's copy of an edition: the shared rendering, the reader's
/// values for its placeholders, and their subject.
#[derive(Debug, Clone)]
pub struct Letter {
    /// Identifies the shared rendering.
    pub key: RenderKey,
    /// The shared rendering.
    pub body: Arc<Rendering>,
    /// The reader's values.
    pub reader: Reader,
    /// The subject line (one line, shortened to [`SUBJECT_LIMIT`]).
    pub subject: String,
}

/// One day's newsletter, ready to personalize. Shareable between threads.
#[derive(Debug)]
pub struct Edition<'n> {
    newsletter: &'n Newsletter,
    digest: Digest,
    /// Set for a weekly edition: which week, and its days.
    week: Option<WeekView>,
    prepared: Mutex<BTreeMap<RenderKey, Prepared>>,
}

/// One reader's values for the placeholders of a shared rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    email: String,
    /// The display name (the `To` phrase).
    name: Option<String>,
    /// What the greeting calls them ([`greeting_name`]).
    greeting: Option<String>,
    unsubscribe: String,
    preferences: String,
}

impl Reader {
    fn value(&self, p: Personal) -> &str {
        match p {
            Personal::Email => &self.email,
            Personal::Name => self
                .name
                .as_deref()
                .or(self.greeting.as_deref())
                .unwrap_or(""),
            Personal::Greeting => self.greeting.as_deref().unwrap_or(""),
            Personal::Unsubscribe => &self.unsubscribe,
            Personal::Preferences => &self.preferences,
        }
    }

    /// The address, trimmed.
    #[must_use]
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The display name on one line, if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The reader's one-click unsubscribe link.
    #[must_use]
    pub fn unsubscribe_url(&self) -> &str {
        &self.unsubscribe
    }

    /// The reader's preferences page.
    #[must_use]
    pub fn preferences_url(&self) -> &str {
        &self.preferences
    }

    /// A [`Segment::Personal`] line of the HTML part with the values in, escaped.
    #[must_use]
    pub fn fill_html_line(&self, line: &str) -> String {
        fill(line, |p| crate::html::escape_owned(self.value(p)))
    }

    /// A [`Segment::Personal`] line of the text part with the values in,
    /// wrapped again at 72 columns (the values may be longer than their
    /// placeholders): one or more lines, `\n` between them.
    #[must_use]
    pub fn fill_text_line(&self, line: &str) -> String {
        let filled = fill(line, |p| self.value(p).to_owned());
        let mut wrapped = String::with_capacity(filled.len() + 8);
        text::wrap_line(&filled, &mut wrapped);
        wrapped
    }
}

impl Edition<'_> {
    /// `subscriber`'s copy: the shared rendering of their filter, their
    /// values and subject; `None` when their filter leaves no paper (the
    /// sender reports it as skipped).
    ///
    /// # Errors
    /// A template error.
    pub fn letter_for(&self, subscriber: &Subscriber) -> Result<Option<Letter>, EmailError> {
        let Some((key, prepared, reader)) = self.personalize(subscriber)? else {
            return Ok(None);
        };
        Ok(Some(Letter {
            subject: self.subject(&prepared, &reader)?,
            key,
            body: prepared.body.clone(),
            reader,
        }))
    }

    /// The rendering shared by `subscriber`'s filter, and the values to fill
    /// into it for them; `None` when the filter leaves no paper.
    fn personalize(
        &self,
        subscriber: &Subscriber,
    ) -> Result<Option<(RenderKey, Arc<PreparedEmail>, Reader)>, EmailError> {
        let greeting = clean::greeting_name(
            subscriber.name.as_deref(),
            subscriber.greeting_name.as_deref(),
        );
        let name = clean::clean_name(subscriber.name.as_deref());
        let key = RenderKey(subscriber.filter(), greeting.is_some());
        let Some(prepared) = self.prepare(&key)? else {
            return Ok(None);
        };
        let email = subscriber.email.trim().to_owned();
        let unsubscribe = self.newsletter.unsubscribe_url(&email);
        let preferences = self.newsletter.preferences_url(&email);
        Ok(Some((
            key,
            prepared,
            Reader {
                email,
                name,
                greeting,
                unsubscribe,
                preferences,
            },
        )))
    }

    fn subject(&self, prepared: &PreparedEmail, reader: &Reader) -> Result<String, EmailError> {
        let mut view = prepared.subject.clone();
        view.subscriber = SubscriberView {
            email: reader.email.clone(),
            name: reader.name.clone(),
            greeting: reader.greeting.clone(),
        };
        let template = if self.week.is_some() {
            templates::WEEKLY_SUBJECT
        } else {
            templates::EMAIL_SUBJECT
        };
        let subject = self.newsletter.templates.render_text(template, &view)?;
        Ok(clean::clean_subject(&subject))
    }

    /// The subject, HTML and text `subscriber` would get; `None` when their
    /// filter leaves no paper.
    ///
    /// # Errors
    /// A template error.
    pub fn render_for(&self, subscriber: &Subscriber) -> Result<Option<RenderedEmail>, EmailError> {
        let Some((_, prepared, reader)) = self.personalize(subscriber)? else {
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

    /// The newsletter (templates, settings) this edition renders with.
    pub fn newsletter(&self) -> &Newsletter {
        self.newsletter
    }

    /// The digest this edition renders (for a weekly edition, the week's
    /// papers merged, dated the week's last day).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether this is a weekly edition.
    #[must_use]
    pub fn is_weekly(&self) -> bool {
        self.week.is_some()
    }

    /// What names this edition in Message-IDs: the day (`2021-02-12`), or
    /// the ISO week of a weekly edition (`2021-W06`), as the ledger keys it.
    #[must_use]
    pub fn label(&self) -> String {
        match &self.week {
            Some(w) => w.iso.clone(),
            None => self.digest.date.format("%Y-%m-%d").to_string(),
        }
    }

    fn prepare(&self, key: &RenderKey) -> Result<Prepared, EmailError> {
        if let Some(p) = self.lock().get(key) {
            return Ok(p.clone());
        }
        let n = self.newsletter;
        // The operator's cap on one email's size, on top of the reader's own limit.
        let mut filter = key.0.clone();
        if self.week.is_some() {
            filter.max_papers.get_or_insert(WEEKLY_MAX_PAPERS);
        }
        let mut capped = filter.clone();
        capped.max_papers = Some(
            capped
                .max_papers
                .map_or(n.mail.max_papers, |m| m.min(n.mail.max_papers)),
        );
        let selection = capped.select(&self.digest);
        let prepared =
            match EmailView::new(&n.site, &n.mail, &self.digest, &filter, &selection, key.1) {
                None => None,
                Some(mut view) => {
                    let (html_template, text_template) = match &self.week {
                        Some(week) => {
                            view.links.digest.clone_from(&week.link);
                            view.week = Some(week.clone());
                            view.preheader = view::preheader(&view.papers, "This week\u{2019}s");
                            // The weekly cap is the edition's, not the reader's.
                            if key.0.max_papers.is_none() && view.over_limit > 0 {
                                view.limit_note = Some(view::edition_limit_note(
                                    view.over_limit,
                                    WEEKLY_MAX_PAPERS.min(n.mail.max_papers),
                                ));
                            }
                            (templates::WEEKLY_HTML, templates::WEEKLY_TXT)
                        }
                        None => (templates::EMAIL_HTML, templates::EMAIL_TXT),
                    };
                    let html = n.templates.render_html(html_template, &view)?;
                    let html = n.inline(html_template, &html)?;
                    let text = text::wrap(&n.templates.render_text(text_template, &view)?);
                    Some(Arc::new(PreparedEmail {
                        body: Arc::new(Rendering {
                            html: segments(&html),
                            text: segments(&text),
                        }),
                        html,
                        text,
                        subject: SubjectView {
                            title: view.title,
                            date: view.date,
                            paper_count: view.paper_count,
                            top_paper: view.top_paper,
                            subscriber: view.subscriber,
                            week: view.week,
                        },
                    }))
                }
            };
        self.lock().insert(key.clone(), prepared.clone());
        Ok(prepared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RenderKey, Prepared>> {
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
            Personal::Greeting => "G".to_owned(),
            Personal::Unsubscribe => "U".to_owned(),
            Personal::Preferences => "P".to_owned(),
        });
        assert_eq!(filled, "a E@x b U c \u{E000}x \u{E000}");
    }
}
