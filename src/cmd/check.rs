//! `hotpapers check [DIR]`: parse every digest and say, per file, ok,
//! repaired, or what is wrong.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::cli::CheckArgs;
use crate::config::Config;
use crate::digest;

/// Checks the folder; [`Outcome::SomeFailed`] if any file fails.
pub(super) fn run(config: &Config, args: &CheckArgs) -> Result<Outcome> {
    let dir = args.dir.as_deref().unwrap_or(&config.digests);
    let archive = digest::load_archive(dir)?;
    let mut out = std::io::stdout().lock();
    let mut rows: Vec<(std::path::PathBuf, String)> = Vec::new();
    for loaded in archive.digests.values().chain(&archive.drafts) {
        let p = &loaded.parsed;
        let mut status = match p.repair {
            Some(r) => format!("repaired ({r})"),
            None => "ok".to_owned(),
        };
        if p.digest.draft {
            status.push_str(", draft (not published)");
        }
        status.push_str(": ");
        status.push_str(&p.digest.papers.len().to_string());
        status.push_str(" papers");
        rows.push((loaded.path.clone(), status));
        for w in &p.warnings {
            rows.push((
                loaded.path.clone(),
                format!("warning: line {}: {}", w.line, w.message),
            ));
        }
    }
    for e in &archive.problems {
        rows.push((e.path().to_owned(), format!("error: {e}")));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, status) in &rows {
        writeln!(out, "{}: {status}", path.display())?;
    }
    let failed = archive.problems.len();
    writeln!(
        out,
        "{} digests ok, {} drafts, {failed} failed",
        archive.len(),
        archive.drafts.len()
    )?;
    Ok(if failed == 0 {
        Outcome::Done
    } else {
        Outcome::SomeFailed
    })
}
