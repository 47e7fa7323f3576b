//! `hotpapers status --date D`: the delivery ledger for one day — counts per
//! state, then one line per subscriber (address, state, attempts, times, reply).

use std::io::Write;

use anyhow::{Context, Result};

use super::{printable, Outcome};
use crate::cli::StatusArgs;
use crate::config::Config;

/// Prints the day's ledger; [`Outcome::SomeFailed`] if any delivery failed or is unknown.
pub(super) fn run(config: &Config, args: &StatusArgs) -> Result<Outcome> {
    match print(config, args) {
        // `status | head` closing the pipe early is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(Outcome::Done)
        }
        other => other,
    }
}

fn print(config: &Config, args: &StatusArgs) -> Result<Outcome> {
    let day = args.date;
    let mut out = std::io::stdout().lock();
    let place = crate::state::ledger_place(config)?;
    if !place.exists() {
        writeln!(
            out,
            "{day}: nothing recorded (no ledger at {})",
            place.describe()
        )?;
        return Ok(Outcome::Done);
    }
    let ledger = place
        .open()
        .with_context(|| format!("could not open the ledger {}", place.describe()))?;
    // With a database, several hosts may have sent the day: say which.
    let workers: std::collections::HashMap<String, String> = ledger
        .workers(day)?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let counts = ledger.counts(day)?;
    let total: u64 = counts.values().sum();
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    writeln!(
        out,
        "{day}: {total} deliveries recorded{}{}",
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    )?;
    if !workers.is_empty() {
        let mut by: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for w in workers.values().filter(|w| !w.is_empty()) {
            *by.entry(w.as_str()).or_insert(0) += 1;
        }
        let list: Vec<String> = by
            .iter()
            .map(|(w, n)| format!("{} ({n})", printable(w)))
            .collect();
        writeln!(
            out,
            "last written by {} worker(s): {}",
            by.len(),
            list.join(", ")
        )?;
    }
    let mut problems = false;
    for d in ledger.day(day)? {
        problems |= matches!(
            d.state,
            crate::ledger::State::Failed | crate::ledger::State::Unknown
        );
        let by = workers
            .get(&d.email)
            .filter(|w| !w.is_empty())
            .map(|w| format!("\tby {}", printable(w)))
            .unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\tattempts {}{}\t{}\t{}{by}",
            d.email,
            d.state,
            d.attempts,
            if d.unknowns > 0 {
                format!(" (cut mid-transaction {}x)", d.unknowns)
            } else {
                String::new()
            },
            d.sent_at
                .unwrap_or(d.updated_at)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.last_reply
                .as_deref()
                .unwrap_or("")
                .replace(['\r', '\n'], " ")
        )?;
    }
    let events = ledger.events_of_day(day)?;
    if !events.is_empty() {
        writeln!(out, "{} event(s) came back:", events.len())?;
    }
    for e in &events {
        writeln!(
            out,
            "{}	{}{}	{}	{}	{}",
            printable(e.email.as_deref().unwrap_or(&e.recipient)),
            e.kind,
            e.reason
                .as_deref()
                .map(|r| format!(" ({r}{})", if e.hard { ", hard" } else { "" }))
                .unwrap_or_default(),
            e.status.as_deref().unwrap_or(""),
            e.received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            printable(e.diagnostic.as_deref().unwrap_or("")),
        )?;
    }
    Ok(if problems {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}
