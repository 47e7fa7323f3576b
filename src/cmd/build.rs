//! `hotpapers build [--out DIR] [--strict]`: parse and check every digest of
//! the archive, render the feeds from the good ones, write only the files
//! whose bytes changed.

use std::io::Write;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::Outcome;
use crate::cli::BuildArgs;
use crate::config::Config;
use crate::digest;
use crate::feed;
use crate::output::write_if_changed;
use crate::site;
use crate::templates::Templates;

/// Builds the feeds into `config.out`. A broken digest is reported with its file
/// and line and left out; only `--strict` turns that into a failing exit status.
pub(super) fn run(config: &Config, args: &BuildArgs) -> Result<Outcome> {
    let archive = digest::load_archive(&config.digests).with_context(|| {
        format!(
            "could not read the digests in `{}`",
            config.digests.display()
        )
    })?;
    for loaded in archive.digests.values() {
        super::parse::report_repairs(&loaded.path, &loaded.parsed);
    }
    let mut problems: Vec<&digest::DigestError> = archive.problems.iter().collect();
    problems.sort_by(|a, b| a.path().cmp(b.path()));
    for problem in &problems {
        tracing::error!("{problem} (left out of the feeds)");
    }

    // One template set, compiled once, for the feeds and the pages.
    let templates = Templates::site(&config.templates).context("could not load the templates")?;
    let latest = archive.latest(config.site.feed_limit);
    let feeds = feed::FeedSet::new(&latest, &config.site, &templates)
        .context("could not render the feeds")?;
    let mut files = feeds.files().context("could not render the feeds")?;
    // Beside the feeds, a page for each, for a reader who opens one in a browser.
    let feed_pages = site::render_feed_pages(&feeds, &config.site, &templates)
        .context("could not render the feed pages")?;

    // The archive pages: every published digest, not only the feeds' latest.
    let everything: Vec<&crate::model::Digest> = archive.iter().collect();
    let pages = site::render_pages(&everything, &config.site, &templates)
        .context("could not render the archive pages")?;
    files.extend(
        pages
            .into_iter()
            .chain(feed_pages)
            .map(|page| feed::OutputFile {
                path: page.path,
                bytes: page.html.into_bytes(),
            }),
    );
    // Beside each day page, its papers as BibTeX.
    files.extend(
        site::render_bibliographies(&everything)
            .into_iter()
            .map(|bib| feed::OutputFile {
                path: bib.path,
                bytes: bib.text.into_bytes(),
            }),
    );

    // robots.txt, the sitemap, the favicon.
    files.extend(
        site::site_files(&everything, &config.site)
            .into_iter()
            .map(|file| feed::OutputFile {
                path: file.path,
                bytes: file.bytes,
            }),
    );

    // In parallel: most of the time of a first build goes to waiting for the
    // disk (each file is flushed before its rename).
    let changed: Vec<bool> = files
        .par_iter()
        .map(|file| {
            let path = config.out.join(&file.path);
            write_if_changed(&path, &file.bytes)
                .with_context(|| format!("could not write `{}`", path.display()))
        })
        .collect::<Result<_>>()?;
    // The search index of every published paper (a new one only when they changed).
    let indexed = crate::search::write_index(&config.out, &everything)
        .context("could not write the search index")?;
    tracing::debug!(?indexed, "search index");
    let written = changed.iter().filter(|&&w| w).count();
    let unchanged = changed.len() - written;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} digests read, {} in the feeds, {} failed; {} files in `{}`: {written} written, {unchanged} unchanged",
        archive.len(),
        latest.len(),
        problems.len(),
        files.len(),
        config.out.display(),
    )?;
    Ok(if args.strict && !problems.is_empty() {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}
