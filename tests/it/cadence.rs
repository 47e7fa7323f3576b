//! Issue #14, cadence: `send --date D` run by cron every day of a month,
//! through the real binary and a real SMTP server on loopback, with daily
//! and weekly readers: who got which edition on which day.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support::{hotpapers, run};

const SECRET: &str = "5c1e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A digest folder for February 2021 as the real feed had it: a digest on
/// every weekday but the 15th (a holiday), none on weekends. Each is one of
/// the three real digests of that month, retitled, so papers recur across
/// days as they do in the real feed.
fn february_digests(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("digests");
    let sources: Vec<String> = ["2021-02-05", "2021-02-12", "2021-02-19"]
        .iter()
        .map(|d| std::fs::read_to_string(repo.join(format!("{d}.md"))).unwrap())
        .collect();
    let originals = ["2021-02-05", "2021-02-12", "2021-02-19"];
    std::fs::create_dir_all(dir).unwrap();
    let mut d = day("2021-02-01");
    let mut n = 0;
    while d.month() == 2 {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && d != day("2021-02-15") {
            let i = n % 3;
            let text = sources[i].replace(
                &format!("Hot Papers {}", originals[i]),
                &format!("Hot Papers {d}"),
            );
            std::fs::write(dir.join(format!("{d}.md")), text).unwrap();
            n += 1;
        }
        d = d + Days::new(1);
    }
}

fn send(dir: &Path, smtp: &SmtpServer, d: NaiveDate) -> (i32, String, String) {
    let (out, stdout, stderr) = run(hotpapers()
        .current_dir(dir)
        .env("HOTPAPERS_DIGESTS", dir.join("digests"))
        .env("HOTPAPERS_SUBSCRIBERS", dir.join("subscribers.yaml"))
        .env("HOTPAPERS_STATE", dir.join("state/hotpapers.db"))
        .env("HOTPAPERS_SECRET", SECRET)
        .env("HOTPAPERS_SMTP_URL", smtp.url())
        .env("RUST_LOG", "warn")
        .args(["send", "--date", &d.to_string()]));
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// (recipient, edition label from the Message-ID: `2021-02-12` or `2021-W06`)
/// of every message the server accepted.
fn deliveries(smtp: &SmtpServer) -> Vec<(String, String)> {
    smtp.received()
        .iter()
        .map(|r| {
            let id = r.header("Message-ID").unwrap();
            let label = id
                .trim_start_matches('<')
                .split('.')
                .next()
                .unwrap()
                .to_owned();
            (r.to[0].clone(), label)
        })
        .collect()
}

const READERS: &str = "\
# Old records load unchanged beside the new fields.
- email: daily@example.org
  name: Dee Daily
  subscribed_at: 2021-01-04T09:00:00Z

- email: friday@example.org
  cadence: weekly

- email: sunday@example.org
  cadence: weekly
  weekday: sunday
  max_papers: 5

- email: alert@example.org
  categories:
  - astro-ph.GA
  authors:
  - didier chetelat

- email: gone@example.org
  cadence: weekly
  status: unsubscribed
";

#[test]
fn a_month_of_daily_runs_mails_daily_readers_each_digest_day_and_weekly_readers_once_a_week() {
    let dir = tempfile::tempdir().unwrap();
    february_digests(&dir.path().join("digests"));
    std::fs::write(dir.path().join("subscribers.yaml"), READERS).unwrap();
    let smtp = SmtpServer::start(Behaviour::default());

    let mut got: BTreeMap<NaiveDate, Vec<(String, String)>> = BTreeMap::new();
    let mut seen = 0;
    let mut d = day("2021-02-01");
    while d.month() == 2 {
        let (code, stdout, stderr) = send(dir.path(), &smtp, d);
        assert_eq!(
            code, 0,
            "{d}: a day without a digest is no error\n{stdout}\n{stderr}"
        );
        let has_digest = dir.path().join(format!("digests/{d}.md")).exists();
        assert_eq!(
            stdout.contains(&format!("{d}: no digest")),
            !has_digest,
            "{d}: the summary says when daily readers got nothing\n{stdout}"
        );
        let all = deliveries(&smtp);
        got.insert(d, all[seen..].to_vec());
        seen = all.len();
        d = d + Days::new(1);
    }

    let days_of = |who: &str| -> Vec<(String, String)> {
        got.iter()
            .flat_map(|(d, v)| {
                v.iter()
                    .filter(|(to, _)| to == who)
                    .map(move |(_, label)| (d.to_string(), label.clone()))
            })
            .collect()
    };
    let daily = days_of("daily@example.org");
    assert_eq!(daily.len(), 19, "every weekday but the holiday: {daily:?}");
    assert!(
        daily.iter().all(|(d, label)| d == label),
        "the daily edition of each day, on its day: {daily:?}"
    );
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        days_of("friday@example.org"),
        pairs(&[
            ("2021-02-05", "2021-W05"),
            ("2021-02-12", "2021-W06"),
            ("2021-02-19", "2021-W07"),
            ("2021-02-26", "2021-W08"),
        ]),
        "weekly readers default to Friday"
    );
    assert_eq!(
        days_of("sunday@example.org"),
        pairs(&[
            ("2021-02-07", "2021-W05"),
            ("2021-02-14", "2021-W06"),
            ("2021-02-21", "2021-W07"),
            ("2021-02-28", "2021-W08"),
        ]),
        "a Sunday has no digest, yet the weekly edition goes out"
    );
    assert!(days_of("gone@example.org").is_empty());

    // Alerts: no paper of the month is in astro-ph.GA, so the alert reader
    // gets mail exactly on the days a paper by their author trended, with
    // that paper first and marked.
    let author_days: Vec<String> = got
        .keys()
        .filter(|d| {
            std::fs::read_to_string(dir.path().join(format!("digests/{d}.md")))
                .is_ok_and(|t| t.contains("Didier Ch\u{e9}telat"))
        })
        .map(ToString::to_string)
        .collect();
    assert_eq!(author_days.len(), 6, "{author_days:?}");
    let alert_days: Vec<String> = days_of("alert@example.org")
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(alert_days, author_days);
    let alert_mail = smtp
        .received()
        .into_iter()
        .find(|r| r.to[0] == "alert@example.org")
        .unwrap();
    let alert_text = mail_parser::MessageParser::default()
        .parse(alert_mail.data.as_bytes())
        .unwrap()
        .body_text(0)
        .unwrap()
        .replace("\r\n", "\n");
    let first = alert_text
        .split_once("-----\n")
        .map(|(_, paper)| paper)
        .unwrap_or_default();
    assert!(
        first.starts_with("Your alert: author Didier Ch\u{e9}telat\n1. Combinatorial optimization"),
        "{alert_text}"
    );

    // The weekly edition: the seven days, each paper once, a subject naming the week.
    let weekly: Vec<_> = smtp
        .received()
        .into_iter()
        .filter(|r| r.to[0] == "friday@example.org")
        .collect();
    let w06 = &weekly[1];
    let subject = w06.header("Subject").unwrap();
    assert!(
        subject.contains("week of") || subject.starts_with("=?"),
        "{subject}"
    );
    let body = mail_parser::MessageParser::default()
        .parse(w06.data.as_bytes())
        .unwrap();
    let text = body.body_text(0).unwrap().into_owned();
    assert_eq!(
        text.lines().next(),
        Some("Hot Papers: the week of 6\u{2013}12 February 2021"),
        "{text}"
    );
    let abs_links: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Abstract: "))
        .collect();
    let mut unique = abs_links.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(abs_links.len(), unique.len(), "one entry per arXiv id");
    assert_eq!(
        abs_links.len(),
        20,
        "20 papers by default in a weekly edition"
    );
    let sunday = smtp
        .received()
        .into_iter()
        .find(|r| r.to[0] == "sunday@example.org")
        .unwrap();
    let sunday_text = mail_parser::MessageParser::default()
        .parse(sunday.data.as_bytes())
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    assert_eq!(
        sunday_text
            .lines()
            .filter(|l| l.starts_with("Abstract: "))
            .count(),
        5,
        "the reader's own max_papers"
    );

    // Exactly once per reader per week: re-running any day of the week, or
    // moving the weekday within it, sends nothing new.
    let before = smtp.received().len();
    for d in ["2021-02-12", "2021-02-13", "2021-02-14"] {
        let (code, stdout, _) = send(dir.path(), &smtp, day(d));
        assert_eq!(code, 0, "{stdout}");
    }
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        READERS.replace(
            "  cadence: weekly\n\n- email: sunday",
            "  cadence: weekly\n  weekday: saturday\n\n- email: sunday",
        ),
    )
    .unwrap();
    let (code, stdout, _) = send(dir.path(), &smtp, day("2021-02-13"));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("week 2021-W06"), "{stdout}");
    assert_eq!(smtp.received().len(), before, "nothing new: {stdout}");

    // A week with no papers sends nothing, and says so.
    let (code, stdout, _) = send(dir.path(), &smtp, day("2021-03-07"));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("week 2021-W09 (2021-03-01 to 2021-03-07): no papers: nothing to send to 1 weekly reader(s)"),
        "{stdout}"
    );
    assert_eq!(smtp.received().len(), before);
}

#[test]
fn a_digest_of_the_day_that_does_not_parse_is_not_a_day_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("digests")).unwrap();
    std::fs::write(
        dir.path().join("digests/2021-02-12.md"),
        "---\ntitle: [\n---\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("subscribers.yaml"), READERS).unwrap();
    let smtp = SmtpServer::start(Behaviour::default());
    let (code, stdout, stderr) = send(dir.path(), &smtp, day("2021-02-12"));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the digest of 2021-02-12 cannot be read"),
        "{stderr}"
    );
    assert!(smtp.received().is_empty());
}

#[test]
fn a_broken_digest_of_the_week_stops_the_weekly_edition_but_not_another_days_daily() {
    let dir = tempfile::tempdir().unwrap();
    february_digests(&dir.path().join("digests"));
    // Wednesday the 10th no longer parses; Friday the 12th is fine.
    std::fs::write(
        dir.path().join("digests/2021-02-10.md"),
        "---\ntitle: [\n---\n",
    )
    .unwrap();
    let smtp = SmtpServer::start(Behaviour::default());
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        "- email: weekly@example.org\n  cadence: weekly\n  weekday: friday\n",
    )
    .unwrap();
    // Sent without that day, the week's edition would miss it for good.
    let (code, stdout, stderr) = send(dir.path(), &smtp, day("2021-02-12"));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the weekly edition of 2021-W06 cannot be made"),
        "{stderr}"
    );
    assert!(smtp.received().is_empty());
    // A daily reader on Thursday is not held up by Wednesday's file.
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        "- email: daily@example.org\n",
    )
    .unwrap();
    let (code, stdout, stderr) = send(dir.path(), &smtp, day("2021-02-11"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(smtp.received().len(), 1);
}
