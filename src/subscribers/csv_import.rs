//! Reading a CSV file of readers for `subscribers import`: a header row with
//! an `email` column (and optionally `name`, `categories`, `max_papers`,
//! `min_retweets`), one reader per row. Bad rows are reported by line and
//! left out; the good ones go to [`super::Store::import`].

use std::collections::BTreeSet;
use std::path::Path;

use super::SubscriberError;
use crate::model::{Category, EmailAddress, Subscriber};

/// The readable rows of a CSV file, and what is wrong with the others.
#[derive(Debug, Default)]
pub struct CsvRows {
    /// `(line, record)` of every good row.
    pub records: Vec<(u64, Subscriber)>,
    /// `FILE:LINE: what is wrong` of every bad row.
    pub bad: Vec<String>,
}

/// Reads `file`.
///
/// # Errors
/// When the file cannot be read or has no `email` column in its header row.
pub fn read_csv(file: &Path) -> Result<CsvRows, SubscriberError> {
    let mut all = CsvRows::default();
    read_csv_in_chunks(file, usize::MAX, |rows| {
        all.records.extend(rows.records);
        all.bad.extend(rows.bad);
        Ok(())
    })?;
    Ok(all)
}

/// Reads `file` and hands its rows to `f` at most `chunk` good rows at a
/// time, so that a large file never has to be held whole.
///
/// # Errors
/// When the file cannot be read or has no `email` column in its header
/// row, or `f`'s first error.
pub fn read_csv_in_chunks(
    file: &Path,
    chunk: usize,
    mut f: impl FnMut(CsvRows) -> Result<(), SubscriberError>,
) -> Result<(), SubscriberError> {
    let io = |action: &'static str| {
        let path = file.to_owned();
        move |e: csv::Error| SubscriberError::Io {
            action,
            path,
            source: std::io::Error::other(e),
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(io("could not read"))?;
    let headers = reader
        .headers()
        .map_err(io("could not read the header row of"))?
        .clone();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("email")) {
        return Err(SubscriberError::Rejected(format!(
            "{}:1: the header row has no `email` column",
            file.display()
        )));
    }
    let columns = Columns::of(&headers);
    let mut rows = CsvRows::default();
    for row in reader.records() {
        if rows.records.len() >= chunk {
            f(std::mem::take(&mut rows))?;
        }
        match row {
            Ok(row) => {
                let line = row.position().map_or(0, csv::Position::line);
                match record_from_row(&columns, &row) {
                    Ok(s) => rows.records.push((line, s)),
                    Err(e) => rows.bad.push(format!("{}:{line}: {e}", file.display())),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                rows.bad.push(format!("{}:{line}: {e}", file.display()));
            }
        }
    }
    f(rows)
}

/// Categories given as `cs.LG, stat.ML` (commas, semicolons or spaces).
///
/// # Errors
/// The first one that is not an arXiv category.
pub fn parse_categories<'a>(
    items: impl Iterator<Item = &'a str>,
) -> Result<BTreeSet<Category>, String> {
    items
        .flat_map(|s| s.split([',', ';', ' ']))
        .filter(|s| !s.trim().is_empty())
        .map(Category::parse)
        .collect()
}

/// Where each known column is, found once from the header row.
struct Columns([Option<usize>; 6]);

const COLUMNS: [&str; 6] = [
    "email",
    "name",
    "greeting_name",
    "categories",
    "max_papers",
    "min_retweets",
];

impl Columns {
    fn of(headers: &csv::StringRecord) -> Self {
        Self(COLUMNS.map(|name| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        }))
    }
}

/// One CSV row made into a record, or what is wrong with it.
fn record_from_row(columns: &Columns, row: &csv::StringRecord) -> Result<Subscriber, String> {
    let field = |name: &str| {
        let at = COLUMNS.iter().position(|c| *c == name)?;
        columns.0[at]
            .and_then(|i| row.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let email = field("email").ok_or_else(|| "no `email`".to_owned())?;
    let email = EmailAddress::parse(email).map_err(|e| e.to_string())?;
    let mut s = Subscriber::new(email.as_str());
    s.name = field("name").map(str::to_owned);
    s.greeting_name = field("greeting_name").map(str::to_owned);
    s.categories = parse_categories(field("categories").into_iter())?;
    s.max_papers = field("max_papers")
        .map(|v| {
            v.parse()
                .map_err(|_| format!("`max_papers` `{v}` is not a number"))
        })
        .transpose()?;
    s.min_retweets = field("min_retweets")
        .map(|v| {
            v.parse()
                .map_err(|_| format!("`min_retweets` `{v}` is not a number"))
        })
        .transpose()?;
    Ok(s)
}
