//! The one template loader, for the email, the site pages, the digest HTML of
//! the feeds and pages, and the feed stylesheet.
//!
//! Every template is compiled into the binary (`templates/` of the source
//! tree) and can be replaced, file by file, by a file of the same name in the
//! templates folder (`HOTPAPERS_TEMPLATES`); other files there are ignored.
//! Handlebars runs in strict mode, so a misspelt variable is an error, not an
//! empty string. HTML templates escape `{{value}}` with [`crate::html::escape`];
//! text templates (plain-text email, subjects) do not escape. Every error names
//! the file, and the line and column when handlebars knows them
//! (`FILE:LINE:COL: …`).
//!
//! Templates are compiled once, when loaded; renderers borrow the set. No I/O
//! but reading the template files, when a set is loaded ([`Templates::site`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use handlebars::{Handlebars, RenderError, RenderErrorReason};
use serde::Serialize;
use sha2::Digest as _;

/// A template that does not load, parse or render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A template does not parse or does not render (strict mode: an unknown
    /// variable is an error).
    #[error("{}: {message}", position(file, *line, *column))]
    Invalid {
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
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `file:line:col`, or as much of it as is known.
fn position(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_owned(),
    }
}

/// Which renderer a template belongs to; each loads only its own, so a
/// mistake in an email template does not stop `build`, nor a page template
/// `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    /// The newsletter and the confirmation email.
    Email,
    /// The archive pages and the pages `serve` answers with.
    Site,
    /// A digest as HTML: feed entry content and the body of a day's page.
    Digest,
    /// `feed.xsl`, copied as it is.
    Stylesheet,
}

/// How a template is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Handlebars producing HTML: values escaped.
    Html,
    /// Handlebars producing plain text: nothing escaped.
    Text,
    /// Not a template: its bytes are the output.
    Verbatim,
}

/// One template file: its registered name, its path under the templates
/// folder, and the built-in default.
struct Spec {
    name: &'static str,
    file: &'static str,
    set: Set,
    kind: Kind,
    partial: bool,
    default: &'static str,
}

macro_rules! spec {
    ($name:expr, $file:literal, $set:ident, $kind:ident) => {
        spec!($name, $file, $set, $kind, false)
    };
    ($name:expr, $file:literal, $set:ident, $kind:ident, $partial:expr) => {
        Spec {
            name: $name,
            file: $file,
            set: Set::$set,
            kind: Kind::$kind,
            partial: $partial,
            default: include_str!(concat!("../templates/", $file)),
        }
    };
}

/// Every template, by file name. The README's "Templates" and "Web" sections
/// list them.
const SPECS: &[Spec] = &[
    spec!(EMAIL_HTML, "email.html.hbs", Email, Html),
    spec!(EMAIL_TXT, "email.txt.hbs", Email, Text),
    spec!(EMAIL_SUBJECT, "email.subject.hbs", Email, Text),
    spec!(WEEKLY_HTML, "weekly.html.hbs", Email, Html),
    spec!(WEEKLY_TXT, "weekly.txt.hbs", Email, Text),
    spec!(WEEKLY_SUBJECT, "weekly.subject.hbs", Email, Text),
    spec!(CONFIRM_HTML, "confirm.html.hbs", Email, Html),
    spec!(CONFIRM_TXT, "confirm.txt.hbs", Email, Text),
    spec!(CONFIRM_SUBJECT, "confirm.subject.hbs", Email, Text),
    spec!("paper_html", "partials/paper.html.hbs", Email, Html, true),
    spec!("paper_txt", "partials/paper.txt.hbs", Email, Text, true),
    spec!("footer_html", "partials/footer.html.hbs", Email, Html, true),
    spec!("footer_txt", "partials/footer.txt.hbs", Email, Text, true),
    spec!(SITE_LAYOUT, "site.html.hbs", Site, Html),
    spec!(SITE_INDEX, "site-index.html.hbs", Site, Html),
    spec!(SITE_DAY, "site-day.html.hbs", Site, Html),
    spec!(SITE_CATEGORY, "site-category.html.hbs", Site, Html),
    spec!(SITE_CATEGORIES, "site-categories.html.hbs", Site, Html),
    spec!(SITE_NOT_FOUND, "site-404.html.hbs", Site, Html),
    spec!(SITE_SEARCH, "site-search.html.hbs", Site, Html),
    spec!(SITE_FEED, "site-feed.html.hbs", Site, Html),
    spec!(SITE_PAGE, "page.html.hbs", Site, Html),
    spec!(SITE_PREFERENCES, "preferences.html.hbs", Site, Html),
    spec!(DIGEST_HTML, "digest.html.hbs", Digest, Html),
    spec!(FEED_PAPER_HTML, "feed-paper.html.hbs", Digest, Html),
    spec!(
        "digest_paper",
        "partials/digest-paper.html.hbs",
        Digest,
        Html,
        true
    ),
    spec!(STYLESHEET, "feed.xsl", Stylesheet, Verbatim),
];

/// The newsletter's HTML part.
pub(crate) const EMAIL_HTML: &str = "email.html";
/// The newsletter's text part.
pub(crate) const EMAIL_TXT: &str = "email.txt";
/// The newsletter's subject.
pub(crate) const EMAIL_SUBJECT: &str = "email.subject";
/// The weekly edition's HTML part.
pub(crate) const WEEKLY_HTML: &str = "weekly.html";
/// The weekly edition's text part.
pub(crate) const WEEKLY_TXT: &str = "weekly.txt";
/// The weekly edition's subject.
pub(crate) const WEEKLY_SUBJECT: &str = "weekly.subject";
/// The confirmation email's HTML part.
pub(crate) const CONFIRM_HTML: &str = "confirm.html";
/// The confirmation email's text part.
pub(crate) const CONFIRM_TXT: &str = "confirm.txt";
/// The confirmation email's subject.
pub(crate) const CONFIRM_SUBJECT: &str = "confirm.subject";
/// The page around every body: head, feeds, style, header, footer.
pub(crate) const SITE_LAYOUT: &str = "site";
/// `OUT/index.html`.
pub(crate) const SITE_INDEX: &str = "site-index";
/// `OUT/YYYY-MM-DD/index.html`.
pub(crate) const SITE_DAY: &str = "site-day";
/// `OUT/categories/<cat>/index.html`.
pub(crate) const SITE_CATEGORY: &str = "site-category";
/// `OUT/categories/index.html`: every category, by arXiv group.
pub(crate) const SITE_CATEGORIES: &str = "site-categories";
/// `OUT/404.html`.
pub(crate) const SITE_NOT_FOUND: &str = "site-404";
/// `serve`'s `/search` results page.
pub(crate) const SITE_SEARCH: &str = "site-search";
/// `OUT/feeds/<feed>.html`: a feed's page, for a browser.
pub(crate) const SITE_FEED: &str = "site-feed";
/// The pages `serve` answers with (confirm, unsubscribe, messages).
pub(crate) const SITE_PAGE: &str = "page";
/// `serve`'s `/preferences` page: a reader's choices in a form.
pub(crate) const SITE_PREFERENCES: &str = "preferences";
/// A digest as HTML (feed entry content, the body of a day's page).
pub(crate) const DIGEST_HTML: &str = "digest.html";
/// A paper entry of the papers feeds: the paper and the days it trended.
pub(crate) const FEED_PAPER_HTML: &str = "feed-paper.html";
/// The feed stylesheet (`feed.xsl`).
const STYLESHEET: &str = "feed.xsl";

/// A compiled set of templates and where each came from (for error messages).
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// (registered name, file shown in errors), for every template.
    sources: Vec<(&'static str, String)>,
    /// `feed.xsl` when the set has it.
    stylesheet: Option<Cow<'static, [u8]>>,
    /// SHA-256 of every template's name and source: what a build's cache
    /// is made with.
    fingerprint: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// What `build` and `serve` use: the page templates, the digest HTML and
    /// the feed stylesheet, each replaced by `dir/FILE` when that file exists.
    ///
    /// # Errors
    /// An override that cannot be read or does not compile, naming the file,
    /// line and column.
    pub fn site(dir: &Path) -> Result<Self, TemplateError> {
        Self::load(dir, &[Set::Site, Set::Digest, Set::Stylesheet], None)
    }

    /// [`Templates::site`] with only the built-in templates (for tests and
    /// tools without a folder).
    ///
    /// # Errors
    /// Never in practice: the built-in templates are tested to compile.
    pub fn site_builtin() -> Result<Self, TemplateError> {
        Self::load(
            Path::new("/nonexistent/hotpapers-templates"),
            &[Set::Site, Set::Digest, Set::Stylesheet],
            None,
        )
    }

    /// The email templates, each replaced by `dir/FILE` when that file
    /// exists, and `subject` (a template string from the settings) in place of
    /// the subject template when given.
    pub(crate) fn email(dir: &Path, subject: Option<&str>) -> Result<Self, TemplateError> {
        Self::load(dir, &[Set::Email], subject)
    }

    /// The built-in digest templates, compiled once for the whole process
    /// (for renderers called without a template set).
    pub(crate) fn builtin_digest() -> &'static Self {
        static BUILTIN: OnceLock<Templates> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Self::load(
                Path::new("/nonexistent/hotpapers-templates"),
                &[Set::Digest, Set::Stylesheet],
                None,
            )
            .unwrap_or_else(|e| panic!("the built-in templates compile (a bug): {e}"))
        })
    }

    fn load(dir: &Path, sets: &[Set], subject: Option<&str>) -> Result<Self, TemplateError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_escape_fn(crate::html::escape_owned);
        html.register_helper("thousands", Box::new(thousands));
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        text.register_helper("thousands", Box::new(thousands));
        let mut sources = Vec::with_capacity(SPECS.len());
        let mut stylesheet = None;
        let mut fingerprint = sha2::Sha256::new();
        for spec in SPECS.iter().filter(|s| sets.contains(&s.set)) {
            let path = dir.join(spec.file);
            let subject = subject.filter(|_| spec.name == EMAIL_SUBJECT);
            let (source, shown): (Cow<'static, [u8]>, String) = if let Some(subject) = subject {
                (
                    subject.as_bytes().to_vec().into(),
                    "setting HOTPAPERS_SUBJECT".to_owned(),
                )
            } else {
                match std::fs::read(&path) {
                    Ok(bytes) => (bytes.into(), path.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                        spec.default.as_bytes().into(),
                        format!("built-in templates/{}", spec.file),
                    ),
                    Err(source) => return Err(TemplateError::Read { path, source }),
                }
            };
            for part in [spec.name.as_bytes(), &source] {
                fingerprint.update((part.len() as u64).to_le_bytes());
                fingerprint.update(part);
            }
            let registry = match spec.kind {
                Kind::Verbatim => {
                    stylesheet = Some(source);
                    sources.push((spec.name, shown));
                    continue;
                }
                Kind::Html => &mut html,
                Kind::Text => &mut text,
            };
            let source =
                String::from_utf8(source.into_owned()).map_err(|_| TemplateError::Invalid {
                    file: shown.clone(),
                    line: None,
                    column: None,
                    message: "not UTF-8 text".to_owned(),
                })?;
            let registered = if spec.partial {
                registry.register_partial(spec.name, source)
            } else {
                registry.register_template_string(spec.name, source)
            };
            registered.map_err(|e| {
                let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
                TemplateError::Invalid {
                    file: shown.clone(),
                    line,
                    column,
                    message: e.reason().to_string(),
                }
            })?;
            sources.push((spec.name, shown));
        }
        Ok(Self {
            html,
            text,
            sources,
            stylesheet,
            fingerprint: hex::encode(fingerprint.finalize()),
        })
    }

    /// A fingerprint of every template of the set (names and sources): equal
    /// for two sets that render the same.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Renders an HTML template.
    pub(crate) fn render_html<T: Serialize>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<String, TemplateError> {
        self.html
            .render(name, data)
            .map_err(|e| self.render_error(name, &e))
    }

    /// Renders a plain-text template (no escaping).
    pub(crate) fn render_text<T: Serialize>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<String, TemplateError> {
        self.text
            .render(name, data)
            .map_err(|e| self.render_error(name, &e))
    }

    /// The feed stylesheet: `feed.xsl` of the templates folder, else the
    /// built-in one.
    pub(crate) fn stylesheet(&self) -> &[u8] {
        self.stylesheet
            .as_deref()
            .unwrap_or_else(|| Self::builtin_digest().stylesheet())
    }

    /// The file a template came from, for messages.
    fn shown(&self, name: &str) -> String {
        self.sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| name.to_owned(), |(_, s)| s.clone())
    }

    fn render_error(&self, rendering: &str, e: &RenderError) -> TemplateError {
        let file = self.shown(e.template_name.as_deref().unwrap_or(rendering));
        let message = match e.reason() {
            RenderErrorReason::MissingVariable(Some(path)) => {
                format!("unknown variable `{path}` (templates run in strict mode; see README, Templates)")
            }
            RenderErrorReason::MissingVariable(None) => {
                "unknown variable (templates run in strict mode; see README, Templates)".to_owned()
            }
            other => other.to_string(),
        };
        TemplateError::Invalid {
            file,
            line: e.line_no,
            column: e.column_no,
            message,
        }
    }
}

/// The helpers every template can call (a private module: the macro makes
/// public items).
mod helpers {
    handlebars::handlebars_helper!(thousands: |n: u64| super::group_thousands(n));
}
use helpers::thousands;

/// `2068` → `2,068`: counts are easier to compare at a glance.
pub(crate) fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_with_commas() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(2068), "2,068");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_readme_lists_every_template() {
        let readme = include_str!("../README.md");
        for spec in SPECS {
            assert!(
                readme.contains(&format!("`{}`", spec.file)),
                "{}",
                spec.file
            );
        }
    }

    #[test]
    fn every_built_in_template_compiles() {
        let all = [Set::Email, Set::Site, Set::Digest, Set::Stylesheet];
        let t = Templates::load(Path::new("/nonexistent"), &all, None).unwrap();
        assert_eq!(t.sources.len(), SPECS.len(), "names are unique");
        assert!(t.stylesheet().starts_with(b"<?xml"));
    }

    #[test]
    fn an_override_replaces_one_file_and_its_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("site-day.html.hbs"), "ok\n{{#if x}}\n").unwrap();
        let err = Templates::site(dir.path()).unwrap_err().to_string();
        let file = dir.path().join("site-day.html.hbs");
        assert!(err.starts_with(&format!("{}:", file.display())), "{err}");
        std::fs::write(dir.path().join("site-day.html.hbs"), "ok\n  {{titel}}\n").unwrap();
        let t = Templates::site(dir.path()).unwrap();
        let err = t
            .render_html(SITE_DAY, &serde_json::json!({}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}:2:3: unknown variable `titel` (templates run in strict mode; see README, Templates)",
                file.display()
            )
        );
    }
}
