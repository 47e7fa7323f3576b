//! `hotpapers bounces classify FILE… [--json]`: what each returned message
//! is, and whom it is about, one line per file.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{printable, Outcome};
use crate::bounces::{self, Report};
use crate::cli::BouncesCommand;

/// Runs a `bounces` subcommand.
pub(super) fn run(cmd: &BouncesCommand) -> Result<Outcome> {
    match cmd {
        BouncesCommand::Classify { files, json } => classify(files, *json),
    }
}

#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)?
        .take(u64::try_from(bounces::MAX_INPUT).unwrap_or(u64::MAX))
        .read_to_end(&mut raw)?;
    Ok(raw)
}

fn classify(files: &[std::path::PathBuf], json: bool) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let mut outcome = Outcome::Done;
    for path in files {
        let raw = match read_capped(path) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!(
                    "error: could not read `{}`: {e}",
                    printable(&path.display().to_string())
                );
                outcome = Outcome::SomeFailed;
                continue;
            }
        };
        let report = bounces::classify(&raw);
        let file = path.display().to_string();
        let written = if json {
            let line = serde_json::to_string(&Line {
                file: &file,
                report: &report,
            })?;
            writeln!(out, "{line}")
        } else {
            writeln!(out, "{}", human(&file, &report))
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(outcome),
            other => other?,
        }
    }
    Ok(outcome)
}

/// `FILE: kind`, then per recipient `address reason status hard|soft`.
fn human(file: &str, report: &Report) -> String {
    let kind = serde_json::to_value(report.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = format!("{}: {kind}", printable(file));
    for r in &report.recipients {
        let reason = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            line,
            " {} {reason} {} {}",
            printable(r.address.as_deref().unwrap_or("-")),
            r.status.as_deref().unwrap_or("-"),
            if r.hard { "hard" } else { "soft" },
        );
    }
    line
}
