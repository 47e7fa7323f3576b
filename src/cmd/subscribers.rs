//! `hotpapers subscribers list | add | remove | import | check | show |
//! export`: changes go
//! through the store's rules ([`Store`]: locked, atomic), the same ones the
//! web server uses, so they never race it or lose a record.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{printable, Outcome};
use crate::cli::{ExportFormat, SubscribersCommand};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::model::{Cadence, Category, Channel, Subscriber, SubscriberStatus};
use crate::subscribers::{
    check_address, parse_categories, read_csv_in_chunks, read_yaml, to_csv, to_yaml, AddRequest,
    Added, CsvRows, Imported, StatusChange, Store, SubscriberError,
};

/// Runs one `subscribers` subcommand.
pub(super) fn run(config: &Config, cmd: &SubscribersCommand) -> Result<Outcome> {
    let store = crate::state::subscriber_store(config)?;
    let now = SystemClock.now();
    let mut out = std::io::stdout().lock();
    match cmd {
        SubscribersCommand::List => {
            let list = store.load()?;
            for s in list.iter() {
                let cats: Vec<&str> = s.categories.iter().map(Category::as_str).collect();
                let cadence = match s.cadence {
                    Cadence::Daily => "daily".to_owned(),
                    Cadence::Weekly => format!("weekly:{}", s.weekday().as_str()),
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{cadence}\t{}\t{}",
                    printable(&s.email),
                    status_name(s.status),
                    printable(s.name.as_deref().unwrap_or("")),
                    cats.join(","),
                    printable(&s.authors.join("; ")),
                    printable(&s.keywords.join(", "))
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
            cadence,
            weekday,
            authors,
            keywords,
        } => {
            let request = AddRequest {
                email: check_address(email)?,
                name: name.clone(),
                categories: parse_categories(categories.iter().map(String::as_str))
                    .map_err(|e| anyhow!(e))?,
                max_papers: max_papers.map(|m| m as usize),
                min_retweets: *min_retweets,
                cadence: *cadence,
                weekday: *weekday,
                authors: clean_list(authors),
                keywords: clean_list(keywords),
            };
            let added = store.add(&request, now)?;
            let verb = match added {
                Added::New => "added",
                Added::Updated => "updated",
            };
            writeln!(out, "{verb} {}", printable(email))?;
            Ok(Outcome::Done)
        }
        SubscribersCommand::Remove { email } => {
            match store.set_status(email, SubscriberStatus::Unsubscribed, Channel::Cli, now)? {
                StatusChange::NotFound => bail!("no subscriber `{}`", printable(email)),
                StatusChange::Changed | StatusChange::Unchanged => {
                    writeln!(
                        out,
                        "unsubscribed {} (kept as suppression)",
                        printable(email)
                    )?;
                }
            }
            Ok(Outcome::Done)
        }
        SubscribersCommand::Import { file } => import(store.as_ref(), file, now, &mut out),
        SubscribersCommand::Show { email } => {
            let list = store.load()?;
            let Some(record) = list.get(email.trim()) else {
                bail!("no subscriber `{}`", printable(email));
            };
            if record.consent.is_none() {
                eprintln!("note: this record predates consent records: it has no consent history");
            }
            out.write_all(to_yaml(&[record])?.as_bytes())?;
            Ok(Outcome::Done)
        }
        SubscribersCommand::Export { format } => {
            let list = store.load()?;
            let records: Vec<&Subscriber> = list.iter().collect();
            let text = match format {
                ExportFormat::Yaml => to_yaml(&records)?,
                ExportFormat::Csv => to_csv(&records)?,
            };
            out.write_all(text.as_bytes())?;
            eprintln!("{} subscribers exported", records.len());
            Ok(Outcome::Done)
        }
        SubscribersCommand::Check => match store.load() {
            Ok(list) => {
                for w in list.warnings() {
                    writeln!(out, "warning: {}", printable(&w.to_string()))?;
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
                    writeln!(out, "error: {}", printable(&p.to_string()))?;
                }
                Ok(Outcome::SomeFailed)
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// The entries trimmed, empty ones dropped.
fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn status_name(s: SubscriberStatus) -> &'static str {
    match s {
        SubscriberStatus::Active => "active",
        SubscriberStatus::Unsubscribed => "unsubscribed",
        SubscriberStatus::Bounced => "bounced",
    }
}

/// Imports new addresses; existing ones (including unsubscribed and bounced,
/// the suppression list) are left exactly as they are.
fn import(
    store: &dyn Store,
    file: &Path,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut impl Write,
) -> Result<Outcome> {
    let mut done = Imported::default();
    let mut bad = Vec::new();
    let mut take = |rows: CsvRows| -> Result<(), SubscriberError> {
        let records = rows.records.into_iter().map(|(_, s)| s).collect();
        let chunk = store.import(records, now)?;
        done.added += chunk.added;
        done.kept += chunk.kept;
        bad.extend(rows.bad);
        Ok(())
    };
    if file
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
    {
        take(read_yaml(file)?)?;
    } else {
        // The next chunk is read while the last one is written.
        let chunk = store.import_chunk();
        let (tx, rx) = std::sync::mpsc::sync_channel::<CsvRows>(1);
        std::thread::scope(|scope| -> Result<(), SubscriberError> {
            let reader = scope.spawn(move || {
                read_csv_in_chunks(file, chunk, |rows| {
                    // A closed channel: the writer stopped on an error it
                    // reports itself; stop reading.
                    tx.send(rows)
                        .map_err(|_| SubscriberError::Rejected("the import stopped".to_owned()))
                })
            });
            // By value: an error drops the receiver, which stops the reader.
            let written = rx.into_iter().try_for_each(&mut take);
            let read = reader.join().unwrap_or_else(|_| {
                Err(SubscriberError::Rejected(
                    "the CSV reader stopped unexpectedly (a bug to report)".to_owned(),
                ))
            });
            written.and(read)
        })?;
    }
    for b in &bad {
        writeln!(out, "skipped: {}", printable(b))?;
    }
    writeln!(
        out,
        "imported {} new subscriber(s); {} already present (left unchanged); {} row(s) skipped",
        done.added,
        done.kept,
        bad.len()
    )?;
    Ok(if bad.is_empty() {
        Outcome::Done
    } else {
        Outcome::SomeFailed
    })
}
