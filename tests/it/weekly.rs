//! The weekly edition (issue #14), rendered as `send` builds it: snapshots
//! of its text, HTML and headers, checked like the daily email's.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hotpapers::config::Config;
use hotpapers::delivery::Mailer;
use hotpapers::email::Newsletter;
use hotpapers::model::{Digest, Subscriber, Week};
use hotpapers::secret::TokenKey;

use crate::support::fixture;

const SECRET: &str = "a test secret that is long enough";

fn newsletter() -> Newsletter {
    let c: Config = Config::builder()
        .secret(Some(SECRET))
        .site_url("https://hotpapers.example.org/")
        .build()
        .expect("valid settings");
    Newsletter::new(&c.site, &c.mail, &c.secret, &c.templates).expect("templates load")
}

fn corpus(day: &str) -> Digest {
    hotpapers::digest::read_digest(&fixture(&format!("corpus/{day}---Hot-Papers.md")))
        .expect("fixture parses")
        .digest
}

/// The week of 13–19 March 2021: the digest of the 19th, and the one of the
/// 5th moved to the 16th with the 19th's third paper in it, counted higher.
fn week_digests() -> Vec<Digest> {
    let friday = corpus("2021-03-19");
    let mut tuesday = corpus("2021-03-05");
    tuesday.date = NaiveDate::from_ymd_opt(2021, 3, 16).unwrap();
    let mut again = friday.papers[2].clone();
    again.retweets = 100_000;
    tuesday.papers.push(again);
    vec![tuesday, friday, corpus("2021-03-05")]
}

fn week() -> Week {
    Week::ending(NaiveDate::from_ymd_opt(2021, 3, 19).unwrap())
}

fn sent_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 3, 19, 7, 30, 0).unwrap()
}

fn reader() -> Subscriber {
    let mut s = Subscriber::new("ada@example.org");
    s.name = Some("Ada Lovelace".to_owned());
    s
}

#[test]
fn the_weekly_edition_holds_each_paper_once_and_says_which_week() {
    let n = newsletter();
    let digests = week_digests();
    let edition = n.weekly_edition(week(), &digests);
    assert!(edition.is_weekly());
    assert_eq!(edition.label(), "2021-W11");
    let papers = &edition.digest().papers;
    let friday = &digests[1];
    assert_eq!(
        papers.len(),
        digests[0].papers.len() + friday.papers.len() - 1,
        "the 5th is outside the week; the paper of two days is one entry"
    );
    assert_eq!(
        papers[0].arxiv_id, friday.papers[2].arxiv_id,
        "its best count ranks it first"
    );
    let r = edition.render_for(&reader()).unwrap().unwrap();
    assert!(
        r.subject
            .starts_with("Hot Papers, week of 13\u{2013}19 March 2021: "),
        "{}",
        r.subject
    );
    assert_eq!(
        r.text.matches("\nAbstract: ").count(),
        20,
        "20 papers unless the reader sets another limit"
    );
    insta::assert_snapshot!("weekly_2021-W11.txt", r.text);
    insta::assert_snapshot!("weekly_2021-W11.html", r.html);
}

#[test]
fn the_weekly_message_is_deterministic_with_a_week_message_id() {
    let n = newsletter();
    let digests = week_digests();
    let mailer = Mailer::new(&n.site().title, n.mail(), &TokenKey::new(Some(SECRET))).unwrap();
    let build = || {
        let edition = n.weekly_edition(week(), &digests);
        mailer
            .edition(&edition)
            .message_for(&reader(), sent_at())
            .unwrap()
            .unwrap()
            .bytes
    };
    let raw = build();
    assert_eq!(raw, build(), "same input, same bytes");
    let text = String::from_utf8(raw).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.contains("Message-ID: <2021-W11."), "{head}");
    assert!(
        head.contains("List-Unsubscribe: <https://hotpapers.example.org/unsubscribe?token="),
        "{head}"
    );
    insta::assert_snapshot!("weekly_2021-W11.headers", head);
}
