//! `hotpapers build [--out DIR] [--strict]`: the site from the digests
//! folder ([`crate::build`]), reusing what the last build left; a broken
//! digest is reported with its file and line and left out.

use std::io::Write;

use anyhow::{Context, Result};

use super::Outcome;
use crate::build::{self, Inputs};
use crate::cli::BuildArgs;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::templates::Templates;

/// Builds the site into `config.out`. Only `--strict` turns a broken digest
/// into a failing exit status.
pub(super) fn run(config: &Config, args: &BuildArgs) -> Result<Outcome> {
    // One template set, compiled once, for the feeds and the pages.
    let templates = Templates::site(&config.templates).context("could not load the templates")?;
    let report = build::build(Inputs {
        digests: &config.digests,
        out: &config.out,
        site: &config.site,
        templates: &templates,
        clock: &SystemClock,
    })
    .with_context(|| format!("could not build the site into `{}`", config.out.display()))?;
    for (path, notice) in &report.notices {
        match notice.line {
            Some(line) => tracing::warn!(
                "{}:{line}: {}",
                path.display(),
                super::printable(&notice.message)
            ),
            None => tracing::warn!("{}: {}", path.display(), notice.message),
        }
    }
    for problem in &report.problems {
        tracing::error!("{problem} (left out of the feeds)");
    }
    tracing::debug!(
        search = ?report.search,
        parsed = report.parsed,
        rendered = report.rendered,
        "build"
    );

    let mut out = std::io::stdout().lock();
    let removed = if report.removed > 0 {
        format!(", {} removed", report.removed)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} digests read, {} in the feeds, {} failed; {} files in `{}`: {} written, {} unchanged{removed}",
        report.days,
        report.in_feeds,
        report.problems.len(),
        report.files,
        config.out.display(),
        report.written,
        report.files - report.written,
    )?;
    Ok(if args.strict && !report.problems.is_empty() {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}
