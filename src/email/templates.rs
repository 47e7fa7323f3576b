//! The template set: built-in defaults compiled into the binary, each one
//! replaceable by a file of the same name in the templates folder. Two
//! handlebars registries, both in strict mode: one escaping for HTML, one
//! not escaping for plain text and subjects.

use std::path::{Path, PathBuf};

use handlebars::{Handlebars, RenderError, RenderErrorReason, TemplateError};
use serde::Serialize;

use super::EmailError;

/// Whether a template produces HTML (escaped) or plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
}

/// One template file: its registered name, its path under the templates
/// folder, and the built-in default.
struct Spec {
    name: &'static str,
    file: &'static str,
    kind: Kind,
    partial: bool,
    default: &'static str,
}

macro_rules! spec {
    ($name:literal, $file:literal, $kind:expr, $partial:expr) => {
        Spec {
            name: $name,
            file: $file,
            kind: $kind,
            partial: $partial,
            default: include_str!(concat!("../../templates/", $file)),
        }
    };
}

/// Every template, by file name. The README's "Templates" section lists them.
const SPECS: &[Spec] = &[
    spec!("email.html", "email.html.hbs", Kind::Html, false),
    spec!("email.txt", "email.txt.hbs", Kind::Text, false),
    spec!("email.subject", "email.subject.hbs", Kind::Text, false),
    spec!("confirm.html", "confirm.html.hbs", Kind::Html, false),
    spec!("confirm.txt", "confirm.txt.hbs", Kind::Text, false),
    spec!("confirm.subject", "confirm.subject.hbs", Kind::Text, false),
    spec!("paper_html", "partials/paper.html.hbs", Kind::Html, true),
    spec!("paper_txt", "partials/paper.txt.hbs", Kind::Text, true),
    spec!("footer_html", "partials/footer.html.hbs", Kind::Html, true),
    spec!("footer_txt", "partials/footer.txt.hbs", Kind::Text, true),
];

/// Names of the templates rendered directly.
pub(crate) const EMAIL_HTML: &str = "email.html";
pub(crate) const EMAIL_TXT: &str = "email.txt";
pub(crate) const EMAIL_SUBJECT: &str = "email.subject";
pub(crate) const CONFIRM_HTML: &str = "confirm.html";
pub(crate) const CONFIRM_TXT: &str = "confirm.txt";
pub(crate) const CONFIRM_SUBJECT: &str = "confirm.subject";

/// The registered templates and where each came from (for error messages).
pub(crate) struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// (registered name, file shown in errors), for every template.
    sources: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Registers the built-in templates, each replaced by `dir/FILE` when that
    /// file exists, and `subject` (a template string from the settings) in
    /// place of the subject template when given.
    pub(crate) fn load(dir: &Path, subject: Option<&str>) -> Result<Self, EmailError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_escape_fn(crate::html::escape_owned);
        html.register_helper("thousands", Box::new(thousands));
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        text.register_helper("thousands", Box::new(thousands));
        let mut sources = Vec::with_capacity(SPECS.len());
        for spec in SPECS {
            let path = dir.join(spec.file);
            let (source, shown) = if spec.name == EMAIL_SUBJECT && subject.is_some() {
                (
                    subject.unwrap_or_default().to_owned(),
                    "setting HOTPAPERS_SUBJECT".to_owned(),
                )
            } else {
                match std::fs::read_to_string(&path) {
                    Ok(s) => (s, path.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                        spec.default.to_owned(),
                        format!("built-in templates/{}", spec.file),
                    ),
                    Err(source) => return Err(EmailError::ReadTemplate { path, source }),
                }
            };
            let registry = match spec.kind {
                Kind::Html => &mut html,
                Kind::Text => &mut text,
            };
            let registered = if spec.partial {
                registry.register_partial(spec.name, source)
            } else {
                registry.register_template_string(spec.name, source)
            };
            registered.map_err(|e| template_error(&shown, &e))?;
            sources.push((spec.name, shown));
        }
        Ok(Self {
            html,
            text,
            sources,
        })
    }

    /// Renders an HTML template.
    pub(crate) fn render_html<T: Serialize>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<String, EmailError> {
        self.html
            .render(name, data)
            .map_err(|e| self.render_error(name, &e))
    }

    /// Renders a plain-text template (no escaping).
    pub(crate) fn render_text<T: Serialize>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<String, EmailError> {
        self.text
            .render(name, data)
            .map_err(|e| self.render_error(name, &e))
    }

    /// The file a template came from, for messages.
    fn shown(&self, name: &str) -> String {
        self.sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| name.to_owned(), |(_, s)| s.clone())
    }

    fn render_error(&self, rendering: &str, e: &RenderError) -> EmailError {
        let shown = self.shown(e.template_name.as_deref().unwrap_or(rendering));
        let message = match e.reason() {
            RenderErrorReason::MissingVariable(Some(path)) => {
                format!("unknown variable `{path}` (templates run in strict mode; see README, Templates)")
            }
            RenderErrorReason::MissingVariable(None) => {
                "unknown variable (templates run in strict mode; see README, Templates)".to_owned()
            }
            other => other.to_string(),
        };
        EmailError::Template {
            file: shown,
            line: e.line_no,
            column: e.column_no,
            message,
        }
    }
}

fn template_error(shown: &str, e: &TemplateError) -> EmailError {
    let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
    EmailError::Template {
        file: shown.to_owned(),
        line,
        column,
        message: e.reason().to_string(),
    }
}

handlebars::handlebars_helper!(thousands: |n: u64| group_thousands(n));

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

/// The template files, as paths relative to the templates folder (for docs
/// and tests).
pub fn template_files() -> Vec<PathBuf> {
    SPECS.iter().map(|s| PathBuf::from(s.file)).collect()
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
}
