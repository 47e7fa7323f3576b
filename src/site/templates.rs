//! The page templates: built-in defaults compiled into the binary, each
//! replaceable by a file of the same name in the templates folder (like the
//! email templates). Handlebars strict mode, so a misspelt field in an
//! override is an error at start-up, not an empty string on the site.

use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

use super::SiteError;

/// One template: registered name, file name under the templates folder, default.
struct Spec {
    name: &'static str,
    file: &'static str,
    default: &'static str,
}

macro_rules! spec {
    ($name:expr, $file:literal) => {
        Spec {
            name: $name,
            file: $file,
            default: include_str!(concat!("../../templates/", $file)),
        }
    };
}

/// Every page template, by file name (listed in the README's "Web" section).
const SPECS: &[Spec] = &[
    spec!(LAYOUT, "site.html.hbs"),
    spec!(INDEX, "site-index.html.hbs"),
    spec!(DAY, "site-day.html.hbs"),
    spec!(CATEGORY, "site-category.html.hbs"),
    spec!(PAGE, "page.html.hbs"),
];

/// The page around every body: head, feeds, style, header, footer.
pub(crate) const LAYOUT: &str = "site";
/// `OUT/index.html`.
pub(crate) const INDEX: &str = "site-index";
/// `OUT/YYYY-MM-DD/index.html`.
pub(crate) const DAY: &str = "site-day";
/// `OUT/categories/<cat>/index.html`.
pub(crate) const CATEGORY: &str = "site-category";
/// The pages `serve` answers with (confirm, unsubscribe, messages).
pub(crate) const PAGE: &str = "page";

/// The registered page templates.
pub struct SiteTemplates {
    registry: Handlebars<'static>,
    /// (registered name, where it came from), for error messages.
    sources: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for SiteTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteTemplates")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl SiteTemplates {
    /// The built-in templates, each replaced by `dir/FILE` when that file exists.
    ///
    /// # Errors
    /// An override that cannot be read or does not compile, naming the file.
    pub fn load(dir: &Path) -> Result<Self, SiteError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(crate::html::escape_owned);
        let mut sources = Vec::with_capacity(SPECS.len());
        for spec in SPECS {
            let path = dir.join(spec.file);
            let (source, shown) = match std::fs::read_to_string(&path) {
                Ok(s) => (s, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    spec.default.to_owned(),
                    format!("built-in templates/{}", spec.file),
                ),
                Err(source) => return Err(SiteError::ReadTemplate { path, source }),
            };
            registry
                .register_template_string(spec.name, source)
                .map_err(|e| SiteError::Template {
                    file: shown.clone(),
                    message: e.to_string(),
                })?;
            sources.push((spec.name, shown));
        }
        Ok(Self { registry, sources })
    }

    /// Only the built-in templates (for tests and tools without a folder).
    ///
    /// # Errors
    /// Never in practice: the built-in templates are tested to compile.
    pub fn builtin() -> Result<Self, SiteError> {
        Self::load(&PathBuf::from("/nonexistent/hotpapers-templates"))
    }

    /// Renders `name` with `data`.
    pub(crate) fn render(&self, name: &str, data: &impl Serialize) -> Result<String, SiteError> {
        self.registry
            .render(name, data)
            .map_err(|e| SiteError::Render {
                file: self
                    .sources
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or_else(|| name.to_owned(), |(_, s)| s.clone()),
                message: e.to_string(),
            })
    }
}
