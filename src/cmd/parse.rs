//! `hotpapers parse FILE [--json]`: one digest, as JSON or a short summary.

use std::io::Write;

use anyhow::{Context, Result};

use super::{printable, Outcome};
use crate::cli::ParseArgs;
use crate::digest;

/// Parses the file and prints it.
pub(super) fn run(args: &ParseArgs) -> Result<Outcome> {
    let parsed = digest::read_digest(&args.file)?;
    report_repairs(&args.file, &parsed);
    let d = &parsed.digest;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, d).context("could not write JSON")?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} ({}): {} papers",
            printable(&d.title),
            d.date,
            d.papers.len()
        )?;
        for p in d.papers.iter().take(5) {
            writeln!(
                out,
                "  {:>2}. {} [{}] {} retweets, {} tweets",
                p.rank,
                printable(&p.title),
                p.arxiv_id,
                p.retweets,
                p.tweets.len()
            )?;
        }
        if d.papers.len() > 5 {
            writeln!(out, "  … and {} more", d.papers.len() - 5)?;
        }
    }
    Ok(Outcome::Done)
}

/// Logs the repair and warnings of one parsed file.
pub(super) fn report_repairs(path: &std::path::Path, parsed: &digest::ParsedDigest) {
    if let Some(r) = parsed.repair {
        tracing::warn!("{}: {r}", path.display());
    }
    for w in &parsed.warnings {
        tracing::warn!("{}:{}: {}", path.display(), w.line, printable(&w.message));
    }
}
