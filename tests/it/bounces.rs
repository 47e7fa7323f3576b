//! `bounces::classify` and `hotpapers bounces classify`: each family of
//! returned mail in `tests/fixtures/bounces/` (see its README for where each
//! comes from) gives its kind, failed recipient, status, reason and verdict.

use std::time::{Duration, Instant};

use hotpapers::bounces::{classify, Kind, Reason, Report};

use crate::support::{fixture, hotpapers, run};

#[track_caller]
fn report(name: &str) -> Report {
    let raw = std::fs::read(fixture(&format!("bounces/{name}"))).expect("fixture reads");
    classify(&raw)
}

/// One failed recipient: address, status, reason, hard.
#[track_caller]
fn assert_bounce(name: &str, address: &str, status: Option<&str>, reason: Reason, hard: bool) {
    let r = report(name);
    assert_eq!(r.kind, Kind::Bounce, "{name}: {r:?}");
    let first = r
        .recipients
        .first()
        .unwrap_or_else(|| panic!("{name}: no recipient"));
    assert_eq!(first.address.as_deref(), Some(address), "{name}");
    assert_eq!(first.status.as_deref(), status, "{name}");
    assert_eq!(first.reason, reason, "{name}: {first:?}");
    assert_eq!(first.hard, hard, "{name}: {first:?}");
    if let Some(d) = &first.diagnostic {
        assert!(
            !d.contains('\n') && d.trim() == d,
            "{name}: diagnostic on one line, trimmed"
        );
    }
}

#[test]
fn real_postfix_dsns() {
    assert_bounce(
        "postfix-user-unknown.eml",
        "reader@nosuchuser.example",
        Some("5.1.1"),
        Reason::UserUnknown,
        true,
    );
    assert_bounce(
        "postfix-host-unknown.eml",
        "reader@nohost.example",
        Some("5.4.4"),
        Reason::HostUnknown,
        true,
    );
    assert_bounce(
        "postfix-mailbox-full-expired.eml",
        "reader@full.example",
        Some("5.0.0"),
        Reason::MailboxFull,
        false,
    );
    let r = report("postfix-delivered.eml");
    assert_eq!(r.kind, Kind::DeliveryReport);
    assert_eq!(
        r.recipients[0].address.as_deref(),
        Some("reader@delivered.example")
    );
}

#[test]
fn attribution_fields_of_a_real_postfix_dsn() {
    let r = report("postfix-user-unknown.eml");
    assert_eq!(r.to, ["bounces+tok42@hotpapers.example"]);
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("20261201.nosuchuser@hotpapers.example")
    );
    assert_eq!(r.original_headers.to, ["reader@nosuchuser.example"]);
    assert_eq!(
        r.original_headers.list_unsubscribe.as_deref(),
        Some("<mailto:unsubscribe+TOKEN123@hotpapers.example>")
    );
    assert!(r.message_id.is_some());
    assert!(r.received_at.is_some());
}

#[test]
fn rfc3464_reports_only_failed_recipients_as_bounces() {
    let r = report("rfc3464-multiple.eml");
    assert_eq!(r.kind, Kind::Bounce);
    assert_eq!(
        r.recipients.len(),
        1,
        "the delayed recipient is not a bounce: {r:?}"
    );
    let louis = &r.recipients[0];
    assert_eq!(louis.address.as_deref(), Some("louis@larry.slip.umd.edu"));
    assert_eq!(louis.status.as_deref(), Some("4.0.0"));
    assert_eq!(louis.reply_code, Some(426));
    assert!(!louis.hard, "a timeout is not a dead address");
}

#[test]
fn delay_and_success_dsns_are_delivery_reports() {
    let r = report("rfc3464-delayed.eml");
    assert_eq!(r.kind, Kind::DeliveryReport);
    assert!(r.recipients.iter().all(|r| !r.hard));
}

#[test]
fn mta_families_read_by_structure() {
    assert_bounce(
        "qmail.eml",
        "reader@example.org",
        Some("5.1.1"),
        Reason::UserUnknown,
        true,
    );
    assert_bounce(
        "exim.eml",
        "reader@example.org",
        Some("5.2.2"),
        Reason::MailboxFull,
        false,
    );
    assert_bounce(
        "sendmail.eml",
        "reader@example.org",
        Some("5.1.2"),
        Reason::HostUnknown,
        true,
    );
    assert_bounce(
        "office365.eml",
        "reader@example.org",
        Some("5.1.10"),
        Reason::UserUnknown,
        true,
    );
    assert_bounce(
        "gmail.eml",
        "reader@gmail.example",
        Some("5.1.1"),
        Reason::UserUnknown,
        true,
    );
    assert_bounce(
        "yahoo.eml",
        "reader@yahoo.example",
        None,
        Reason::UserUnknown,
        true,
    );
    assert_bounce(
        "yahoo-full.eml",
        "reader@yahoo.example",
        Some("5.2.2"),
        Reason::MailboxFull,
        false,
    );
}

#[test]
fn ses_notifications_by_mail() {
    // The JSON is wrapped mid-string, as mail transports do.
    let r = report("ses-notification.eml");
    assert_eq!(r.kind, Kind::Bounce);
    let first = &r.recipients[0];
    assert_eq!(first.address.as_deref(), Some("reader@example.org"));
    assert_eq!(first.status.as_deref(), Some("5.1.1"));
    assert_eq!(first.reply_code, Some(550));
    assert_eq!((first.reason, first.hard), (Reason::UserUnknown, true));
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("20260424.6@hotpapers.example")
    );
}

#[test]
fn the_senders_problems_are_not_hard() {
    assert_bounce(
        "gmail-policy.eml",
        "reader@gmail.example",
        Some("5.7.26"),
        Reason::AuthFailure,
        false,
    );
    // SES wraps the remote reply: its own 5.0.0 and 5.3.0 yield to the remote 5.7.1.
    assert_bounce(
        "ses.eml",
        "reader@example.org",
        Some("5.7.1"),
        Reason::Policy,
        false,
    );
    // Refused after DATA: the address was accepted, the message was not.
    assert_bounce(
        "sendmail-transcript.eml",
        "reader@example.org",
        Some("5.7.1"),
        Reason::Policy,
        false,
    );
}

#[test]
fn arf_is_a_complaint() {
    let r = report("rfc5965-arf.eml");
    assert_eq!(r.kind, Kind::Complaint);
    assert_eq!(
        r.recipients[0].address.as_deref(),
        Some("reader@example.com")
    );
    assert!(!r.recipients[0].hard);
    assert_eq!(r.original_headers.original_rcpt_to, ["reader@example.com"]);
    assert_eq!(
        r.original_headers.original_mail_from.as_deref(),
        Some("somespammer@example.net")
    );
}

#[test]
fn auto_replies_are_not_bounces() {
    for name in ["auto-reply-rfc3834.eml", "vacation.eml", "challenge.eml"] {
        assert_eq!(report(name).kind, Kind::AutoReply, "{name}");
    }
}

#[test]
fn mail_to_the_unsubscribe_address_and_other_mail() {
    let r = report("unsubscribe.eml");
    assert_eq!(r.kind, Kind::Unsubscribe);
    assert_eq!(r.to, ["unsubscribe+token123@hotpapers.example"]);
    assert_eq!(report("plain.eml").kind, Kind::Other);
}

#[test]
fn line_ends_crlf_and_cr_alone_read_the_same() {
    let raw = std::fs::read(fixture("bounces/qmail.eml")).unwrap();
    let lf = classify(&raw);
    let crlf: Vec<u8> = raw
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    let cr: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'\n' { b'\r' } else { b })
        .collect();
    assert_eq!(classify(&crlf).recipients, lf.recipients);
    assert_eq!(classify(&cr).recipients, lf.recipients);
}

#[track_caller]
fn quickly_other(raw: &[u8]) {
    let start = Instant::now();
    let r = classify(raw);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        r.kind == Kind::Other || r.recipients.iter().all(|r| !r.hard),
        "{r:?}"
    );
}

#[test]
fn hostile_input_is_bounded() {
    // Deep MIME nesting.
    let mut deep = String::from("From: a@b.example\nSubject: x\n");
    for i in 0..20_000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    quickly_other(deep.as_bytes());
    // Nested attached messages.
    let mut nested = String::new();
    for _ in 0..5_000 {
        nested.push_str("From: MAILER-DAEMON@x.example\nContent-Type: message/rfc822\n\n");
    }
    quickly_other(nested.as_bytes());
    // 20 MB: read up to the cap only.
    let mut big = b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n".to_vec();
    big.resize(20 * 1024 * 1024, b'@');
    quickly_other(&big);
    // Garbage, and nothing.
    let garbage: Vec<u8> = (0..1_000_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    quickly_other(&garbage);
    quickly_other(b"");
    quickly_other(b"\xff\xfe:\n\n\x00");
}

#[test]
fn cli_prints_one_json_line_per_file_and_reports_unreadable_ones() {
    let (out, stdout, stderr) = run(hotpapers().args([
        "bounces",
        "classify",
        "--json",
        fixture("bounces/qmail.eml").to_str().unwrap(),
        "/nonexistent/bounce.eml",
        fixture("bounces/vacation.eml").to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("could not read `/nonexistent/bounce.eml`"),
        "{stderr}"
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["file"].as_str().unwrap().ends_with("qmail.eml"));
    assert_eq!(lines[0]["kind"], "bounce");
    let rcpt = &lines[0]["recipients"][0];
    assert_eq!(rcpt["address"], "reader@example.org");
    assert_eq!(rcpt["status"], "5.1.1");
    assert_eq!(rcpt["reply_code"], 550);
    assert_eq!(rcpt["reason"], "user_unknown");
    assert_eq!(rcpt["hard"], true);
    assert_eq!(lines[1]["kind"], "auto_reply");
    assert!(
        lines[0].get("message_id").is_none(),
        "attribution fields stay out of the JSON"
    );

    let (out, stdout, _) = run(hotpapers().args([
        "bounces",
        "classify",
        fixture("bounces/qmail.eml").to_str().unwrap(),
    ]));
    assert!(out.status.success());
    assert!(
        stdout
            .trim_end()
            .ends_with("qmail.eml: bounce reader@example.org user_unknown 5.1.1 hard"),
        "{stdout}"
    );
}
