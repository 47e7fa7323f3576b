//! What came back, in the ledger beside what went out: one [`Event`] per
//! (report, recipient) — a bounce, a complaint, an unsubscribe by mail, an
//! auto-reply — keyed so that processing the same report again records
//! nothing new.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::{day_text, time_text, FileLedger, LedgerError};

/// One thing a returned message said about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The report's Message-ID (or a hash of its bytes when it has none).
    pub source: String,
    /// The failed recipient as the report names it (lowercased), or `""`.
    pub recipient: String,
    /// The reader it was attributed to (lowercased), when it was.
    pub email: Option<String>,
    /// The digest day of the message it is about, when known.
    pub day: Option<NaiveDate>,
    /// `bounce`, `complaint`, `unsubscribe`, `auto_reply`, `delivery_report`, `other`.
    pub kind: String,
    /// The classifier's reason (`user_unknown`, `mailbox_full`, `policy`…).
    pub reason: Option<String>,
    /// The enhanced status code (`5.1.1`).
    pub status: Option<String>,
    /// The SMTP reply code, when given.
    pub reply_code: Option<u16>,
    /// Whether the address itself is dead.
    pub hard: bool,
    /// The server's words, one line.
    pub diagnostic: Option<String>,
    /// The receiving domain (of the recipient).
    pub domain: Option<String>,
    /// When the report arrived (its Date, else when it was processed).
    pub received_at: DateTime<Utc>,
}

/// Per receiving domain: messages sent and what came back, over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCounts {
    /// The domain.
    pub domain: String,
    /// Messages accepted by the relay.
    pub sent: u64,
    /// Hard bounces.
    pub hard: u64,
    /// Soft bounces (full mailbox, policy, rate limits…).
    pub soft: u64,
    /// Complaints (feedback-loop reports).
    pub complaints: u64,
}

impl FileLedger {
    /// Records `event`; `false` when this report already recorded it.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn record_event(&self, e: &Event) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO events (source, recipient, email, day, kind, reason, status,
                    reply_code, hard, diagnostic, domain, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    e.source,
                    e.recipient,
                    e.email,
                    e.day.map(day_text),
                    e.kind,
                    e.reason,
                    e.status,
                    e.reply_code,
                    e.hard,
                    e.diagnostic,
                    e.domain,
                    time_text(e.received_at),
                ])
            })
            .map_err(self.err("could not record an event"))?;
        Ok(n > 0)
    }

    /// The events about messages of `day`, by recipient.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn events_of_day(&self, day: NaiveDate) -> Result<Vec<Event>, LedgerError> {
        self.events_where("day = ?1", &day_text(day))
    }

    /// Every event attributed to `email`, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn events_of(&self, email: &str) -> Result<Vec<Event>, LedgerError> {
        self.events_where("email = ?1", &email.to_lowercase())
    }

    /// Every event, for moving the ledger into a database.
    pub(crate) fn all_events(&self) -> Result<Vec<Event>, LedgerError> {
        self.events_where("?1 = ?1", "")
    }

    fn events_where(&self, condition: &str, value: &str) -> Result<Vec<Event>, LedgerError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT source, recipient, email, day, kind, reason, status, reply_code, hard,
                        diagnostic, domain, received_at
                 FROM events WHERE {condition} ORDER BY received_at, recipient"
            ))
            .map_err(self.err("could not read events"))?;
        let rows = st
            .query_map(params![value], |r| {
                let day: Option<String> = r.get(3)?;
                let at: String = r.get(11)?;
                Ok(Event {
                    source: r.get(0)?,
                    recipient: r.get(1)?,
                    email: r.get(2)?,
                    day: day.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    kind: r.get(4)?,
                    reason: r.get(5)?,
                    status: r.get(6)?,
                    reply_code: r.get(7)?,
                    hard: r.get(8)?,
                    diagnostic: r.get(9)?,
                    domain: r.get(10)?,
                    received_at: DateTime::parse_from_rfc3339(&at)
                        .map_or_else(|_| DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
                })
            })
            .map_err(self.err("could not read events"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("could not read events"))
    }

    /// Messages sent and events per receiving domain for the days in
    /// `[from, to]`, busiest domain first.
    ///
    /// # Errors
    /// On a database error.
    pub(crate) fn domain_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DomainCounts>, LedgerError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT lower(substr(email, instr(email, '@') + 1)), count(*) FROM deliveries
                 WHERE state = 'sent' AND day BETWEEN ?1 AND ?2 GROUP BY 1",
            )
            .map_err(self.err("could not read"))?;
        let sent = st
            .query_map(params![day_text(from), day_text(to)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err("could not read"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("could not read"))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT coalesce(domain, ''), kind, hard, count(*) FROM events
                 WHERE day BETWEEN ?1 AND ?2 AND kind IN ('bounce', 'complaint') GROUP BY 1, 2, 3",
            )
            .map_err(self.err("could not read events"))?;
        let events = st
            .query_map(params![day_text(from), day_text(to)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(self.err("could not read events"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("could not read events"))?;
        Ok(domain_table(sent, events))
    }
}

/// Per domain, from messages sent `(domain, n)` and events `(domain, kind,
/// hard, n)`: the table `bounces report` prints, busiest domain first.
pub(super) fn domain_table(
    sent: Vec<(String, i64)>,
    events: Vec<(String, String, bool, i64)>,
) -> Vec<DomainCounts> {
    let mut by_domain: std::collections::BTreeMap<String, DomainCounts> =
        std::collections::BTreeMap::new();
    for (domain, n) in sent {
        let entry = by_domain.entry(domain.clone()).or_default();
        entry.domain = domain;
        entry.sent = u64::try_from(n).unwrap_or(0);
    }
    for (domain, kind, hard, n) in events {
        let entry = by_domain.entry(domain.clone()).or_default();
        entry.domain = domain;
        let n = u64::try_from(n).unwrap_or(0);
        match (kind.as_str(), hard) {
            ("complaint", _) => entry.complaints += n,
            (_, true) => entry.hard += n,
            (_, false) => entry.soft += n,
        }
    }
    let mut v: Vec<DomainCounts> = by_domain.into_values().collect();
    v.sort_by(|a, b| b.sent.cmp(&a.sent).then(a.domain.cmp(&b.domain)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;

    fn event(source: &str, kind: &str, hard: bool) -> Event {
        Event {
            source: source.into(),
            recipient: "ada@example.org".into(),
            email: Some("ada@example.org".into()),
            day: NaiveDate::from_ymd_opt(2021, 2, 12),
            kind: kind.into(),
            reason: Some("user_unknown".into()),
            status: Some("5.1.1".into()),
            reply_code: Some(550),
            hard,
            diagnostic: Some("550 5.1.1 no such user".into()),
            domain: Some("example.org".into()),
            received_at: DateTime::parse_from_rfc3339("2021-02-12T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn the_same_report_records_nothing_new_and_counts_per_domain() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        assert!(l.record_event(&event("<r1@x>", "bounce", true)).unwrap());
        assert!(!l.record_event(&event("<r1@x>", "bounce", true)).unwrap());
        assert!(l
            .record_event(&event("<r2@x>", "complaint", false))
            .unwrap());
        let day = NaiveDate::from_ymd_opt(2021, 2, 12).unwrap();
        assert_eq!(l.events_of_day(day).unwrap().len(), 2);
        assert_eq!(l.events_of("ADA@example.org").unwrap().len(), 2);
        let counts = l.domain_counts(day, day).unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!((counts[0].hard, counts[0].complaints), (1, 1));
    }
}
