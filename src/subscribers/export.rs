//! Writing records out for the operator: one reader's record (`subscribers
//! show`) and every record (`subscribers export`), consent history included.
//! Returns text; the command prints it.

use super::SubscriberError;
use crate::model::{Category, Subscriber};

/// Records as YAML, in the subscriber files' own format.
///
/// # Errors
/// When serialization fails (a bug to report).
pub fn to_yaml(records: &[&Subscriber]) -> Result<String, SubscriberError> {
    serde_yaml::to_string(records).map_err(|e| SubscriberError::Export(e.to_string()))
}

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 20] = [
    "email",
    "name",
    "greeting_name",
    "status",
    "cadence",
    "weekday",
    "categories",
    "max_papers",
    "min_retweets",
    "authors",
    "keywords",
    "subscribed_at",
    "status_changed_at",
    "consent_asked_at",
    "consent_confirmed_at",
    "consent_source",
    "form_version",
    "client_network",
    "user_agent",
    "consent_events",
];

/// Records as CSV with a header row: lists joined with `,` (categories,
/// keywords) or `; ` (authors), the consent events as `TIME EVENT via
/// CHANNEL [FIELDS]` joined with `; `. A cell starting with `=`, `+`, `-` or
/// `@` gets a leading `'` so a spreadsheet does not run it as a formula.
///
/// # Errors
/// When writing fails (a bug to report).
pub fn to_csv(records: &[&Subscriber]) -> Result<String, SubscriberError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| SubscriberError::Export(e.to_string());
    w.write_record(CSV_HEADER).map_err(fail)?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    for s in records {
        let consent = s.consent.clone().unwrap_or_default();
        let events: Vec<String> = consent
            .events
            .iter()
            .map(|e| {
                let what = match e.event {
                    crate::model::EventKind::Subscribed => "subscribed",
                    crate::model::EventKind::Changed => "changed",
                    crate::model::EventKind::Withdrawn => "withdrawn",
                };
                let at = time(Some(e.at));
                match &e.fields {
                    Some(f) => format!("{at} {what} via {} ({f})", e.via.as_str()),
                    None => format!("{at} {what} via {}", e.via.as_str()),
                }
            })
            .collect();
        let row = [
            s.email.clone(),
            s.name.clone().unwrap_or_default(),
            s.greeting_name.clone().unwrap_or_default(),
            status_name(s.status),
            s.cadence.as_str().to_owned(),
            s.weekday.map(|d| d.as_str().to_owned()).unwrap_or_default(),
            s.categories
                .iter()
                .map(Category::as_str)
                .collect::<Vec<_>>()
                .join(","),
            s.max_papers.map(|n| n.to_string()).unwrap_or_default(),
            s.min_retweets.map(|n| n.to_string()).unwrap_or_default(),
            s.authors.join("; "),
            s.keywords.join(","),
            time(s.subscribed_at),
            time(s.status_changed_at),
            time(consent.asked_at),
            time(consent.confirmed_at),
            consent
                .source
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            consent.form_version.clone().unwrap_or_default(),
            consent.client_network.clone().unwrap_or_default(),
            consent.user_agent.clone().unwrap_or_default(),
            events.join("; "),
        ];
        w.write_record(row.iter().map(|c| defuse(c)))
            .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SubscriberError::Export(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| SubscriberError::Export(e.to_string()))
}

fn status_name(status: crate::model::SubscriberStatus) -> String {
    match status {
        crate::model::SubscriberStatus::Active => "active",
        crate::model::SubscriberStatus::Unsubscribed => "unsubscribed",
        crate::model::SubscriberStatus::Bounced => "bounced",
    }
    .to_owned()
}

/// A cell a spreadsheet would read as a formula, made plain text.
fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}
