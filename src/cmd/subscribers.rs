//! `hotpapers subscribers list | add | remove | import | check`: edits go
//! through [`SubscriberStore::update`] (locked, atomic), so they never race
//! the web server or lose a record.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::Outcome;
use crate::cli::SubscribersCommand;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::model::{Category, Subscriber, SubscriberStatus};
use crate::subscribers::{check_address, SubscriberError, SubscriberStore};

/// Runs one `subscribers` subcommand.
pub(super) fn run(config: &Config, cmd: &SubscribersCommand) -> Result<Outcome> {
    let store = SubscriberStore::open(&config.subscribers)?;
    let now = SystemClock.now();
    let mut out = std::io::stdout().lock();
    match cmd {
        SubscribersCommand::List => {
            let list = store.load()?;
            for s in list.iter() {
                let cats: Vec<&str> = s.categories.iter().map(Category::as_str).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    s.email,
                    status_name(s.status),
                    s.name.as_deref().unwrap_or(""),
                    cats.join(",")
                )?;
            }
            let active = list.active().count();
            eprintln!("{} subscribers, {active} active", list.len());
            Ok(Outcome::Done)
        }
        SubscribersCommand::Add {
            email,
            name,
            categories,
            max_papers,
            min_retweets,
        } => {
            check_address(email)?;
            let categories = parse_categories(categories.iter().map(String::as_str))?;
            let added = store.update(|list| {
                let mut s = match list.get(email) {
                    Some(existing) => existing.clone(),
                    None => {
                        let mut s = Subscriber::new(email.trim());
                        s.subscribed_at = Some(now);
                        s
                    }
                };
                let is_new = list.get(email).is_none();
                if s.status != SubscriberStatus::Active {
                    s.status = SubscriberStatus::Active;
                    s.status_changed_at = Some(now);
                }
                if name.is_some() {
                    s.name.clone_from(name);
                }
                if !categories.is_empty() {
                    s.categories.clone_from(&categories);
                }
                if let Some(m) = max_papers {
                    s.max_papers = Some(*m as usize);
                }
                if min_retweets.is_some() {
                    s.min_retweets = *min_retweets;
                }
                list.upsert(s);
                Ok(is_new)
            })?;
            writeln!(out, "{} {email}", if added { "added" } else { "updated" })?;
            Ok(Outcome::Done)
        }
        SubscribersCommand::Remove { email } => {
            let found = store.update(|list| {
                let found = list.get(email).is_some();
                list.set_status(email, SubscriberStatus::Unsubscribed, now);
                Ok(found)
            })?;
            if !found {
                bail!("no subscriber `{email}`");
            }
            writeln!(out, "unsubscribed {email} (kept as suppression)")?;
            Ok(Outcome::Done)
        }
        SubscribersCommand::Import { file } => import(&store, file, now, &mut out),
        SubscribersCommand::Check => match store.load() {
            Ok(list) => {
                for w in list.warnings() {
                    writeln!(out, "warning: {w}")?;
                }
                let count = |st| list.iter().filter(|s| s.status == st).count();
                writeln!(
                    out,
                    "{} subscribers: {} active, {} unsubscribed, {} bounced",
                    list.len(),
                    count(SubscriberStatus::Active),
                    count(SubscriberStatus::Unsubscribed),
                    count(SubscriberStatus::Bounced)
                )?;
                Ok(Outcome::Done)
            }
            Err(SubscriberError::Invalid { problems }) => {
                for p in &problems {
                    writeln!(out, "error: {p}")?;
                }
                Ok(Outcome::SomeFailed)
            }
            Err(e) => Err(e.into()),
        },
    }
}

fn status_name(s: SubscriberStatus) -> &'static str {
    match s {
        SubscriberStatus::Active => "active",
        SubscriberStatus::Unsubscribed => "unsubscribed",
        SubscriberStatus::Bounced => "bounced",
    }
}

fn parse_categories<'a>(items: impl Iterator<Item = &'a str>) -> Result<BTreeSet<Category>> {
    items
        .flat_map(|s| s.split([',', ';', ' ']))
        .filter(|s| !s.trim().is_empty())
        .map(|s| Category::parse(s).map_err(|e| anyhow!(e)))
        .collect()
}

/// One CSV row made into a record, or what is wrong with it.
fn record_from_row(
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Subscriber> {
    let field = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .and_then(|i| row.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let email = field("email").ok_or_else(|| anyhow!("no `email`"))?;
    check_address(email)?;
    let mut s = Subscriber::new(email);
    s.name = field("name").map(str::to_owned);
    s.categories = parse_categories(field("categories").into_iter())?;
    s.max_papers = field("max_papers")
        .map(|v| {
            v.parse()
                .map_err(|_| anyhow!("`max_papers` `{v}` is not a number"))
        })
        .transpose()?;
    s.min_retweets = field("min_retweets")
        .map(|v| {
            v.parse()
                .map_err(|_| anyhow!("`min_retweets` `{v}` is not a number"))
        })
        .transpose()?;
    s.subscribed_at = Some(now);
    Ok(s)
}

/// Imports new addresses; existing ones (including unsubscribed and bounced,
/// the suppression list) are left exactly as they are.
fn import(
    store: &SubscriberStore,
    file: &Path,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut impl Write,
) -> Result<Outcome> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("could not read `{}`", file.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("could not read the header row of `{}`", file.display()))?
        .clone();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("email")) {
        bail!("{}:1: the header row has no `email` column", file.display());
    }
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for row in reader.records() {
        match row {
            Ok(row) => {
                let line = row.position().map_or(0, csv::Position::line);
                match record_from_row(&headers, &row, now) {
                    Ok(s) => records.push((line, s)),
                    Err(e) => bad.push(format!("{}:{line}: {e}", file.display())),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                bad.push(format!("{}:{line}: {e}", file.display()));
            }
        }
    }
    let (added, kept) = store.update(|list| {
        let (mut added, mut kept) = (0usize, 0usize);
        for (_, s) in records {
            if list.get(&s.email).is_some() {
                kept += 1;
            } else {
                list.upsert(s);
                added += 1;
            }
        }
        Ok((added, kept))
    })?;
    for b in &bad {
        writeln!(out, "skipped: {b}")?;
    }
    writeln!(
        out,
        "imported {added} new subscriber(s); {kept} already present (left unchanged); {} row(s) skipped",
        bad.len()
    )?;
    Ok(if bad.is_empty() {
        Outcome::Done
    } else {
        Outcome::SomeFailed
    })
}
