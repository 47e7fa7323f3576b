//! `bounces::classify`, one fixture per format (`tests/fixtures/bounces/`,
//! whose README says where each comes from): what kind of mail it is, and
//! for each recipient the address, status, reply code, reason and whether
//! it is hard; then hostile input. Real DSNs, an ARF complaint and mailto
//! unsubscribes are also classified end to end in `bounce_loop.rs`.

use std::time::{Duration, Instant};

use hotpapers::bounces::{classify, Kind, Reason, Recipient, Report};

use crate::support::{fixture, hotpapers, run};

fn classified(name: &str) -> Report {
    let path = fixture(&format!("bounces/{name}"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    classify(&raw)
}

/// A recipient as the tests state it: address, status, reply code, reason, hard.
type Facts<'a> = (Option<&'a str>, Option<&'a str>, Option<u16>, Reason, bool);

fn facts(r: &Recipient) -> Facts<'_> {
    (
        r.address.as_deref(),
        r.status.as_deref(),
        r.reply_code,
        r.reason,
        r.hard,
    )
}

/// The fixture is of `kind` and names exactly `expected`, in order.
#[track_caller]
fn assert_recipients(name: &str, kind: Kind, expected: &[Facts<'_>]) -> Report {
    let r = classified(name);
    assert_eq!(r.kind, kind, "{name}: {r:?}");
    let got: Vec<Facts<'_>> = r.recipients.iter().map(facts).collect();
    assert_eq!(got, expected, "{name}");
    r
}

/// Not a bounce, and about nobody in particular.
#[track_caller]
fn assert_kind_only(name: &str, kind: Kind) {
    let r = classified(name);
    assert_eq!(r.kind, kind, "{name}: {r:?}");
    assert!(r.recipients.iter().all(|r| !r.hard), "{name}: {r:?}");
}

// Real Postfix DSNs (Postfix 3.7, Debian; see the fixtures' README).

#[test]
fn postfix_unknown_user_is_a_hard_bounce() {
    let r = assert_recipients(
        "postfix-user-unknown.eml",
        Kind::Bounce,
        &[(
            Some("reader@nosuchuser.example"),
            Some("5.1.1"),
            None,
            Reason::UserUnknown,
            true,
        )],
    );
    assert!(
        r.to.contains(&"bounces+tok42@hotpapers.example".to_owned()),
        "{:?}",
        r.to
    );
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("2026-12-01.user@hotpapers.example")
    );
    assert_eq!(
        r.recipients[0].diagnostic.as_deref(),
        Some("User unknown in virtual mailbox table")
    );
}

#[test]
fn postfix_unknown_host_is_a_hard_bounce() {
    assert_recipients(
        "postfix-host-unknown.eml",
        Kind::Bounce,
        &[(
            Some("reader@nosuchhost.example"),
            Some("5.4.4"),
            None,
            Reason::HostUnknown,
            true,
        )],
    );
}

/// Postfix turns a 4.2.2 that ran out of queue time into `Status: 5.0.0`:
/// the mailbox is full, the address is alive.
#[test]
fn postfix_full_mailbox_that_expired_is_soft() {
    assert_recipients(
        "postfix-mailbox-full-expired.eml",
        Kind::Bounce,
        &[(
            Some("reader@fullbox.example"),
            Some("5.0.0"),
            None,
            Reason::MailboxFull,
            false,
        )],
    );
}

#[test]
fn postfix_success_notice_is_a_delivery_report() {
    assert_recipients(
        "postfix-delivered.eml",
        Kind::DeliveryReport,
        &[(
            Some("reader@delivered.example"),
            Some("2.0.0"),
            None,
            Reason::Other,
            false,
        )],
    );
}

/// A real DSN, written by Postfix (Debian): the next hop refused the
/// connection and `maximal_queue_lifetime = 0` returned it at once.
#[test]
fn a_real_postfix_dsn_names_its_recipient_status_and_the_verp_address() {
    let r = assert_recipients(
        "postfix-connection-refused.eml",
        Kind::Bounce,
        &[(
            Some("x@example.org"),
            Some("4.4.1"),
            None,
            Reason::Network,
            false,
        )],
    );
    assert!(
        r.to.contains(&"bounces+abc@bounce.example.test".to_owned()),
        "{:?}",
        r.to
    );
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("2021-02-19.abc@hotpapers.example.org")
    );
}

// RFC examples.

/// RFC 3464 appendix B.2: two failed recipients and one delayed; the delayed
/// one is not a failure. A bare `550 user unknown` under a generic `5.0.0`
/// is not enough to drop a reader (filters answer so too).
#[test]
fn rfc3464_multi_recipient_dsn_lists_the_failed_ones() {
    assert_recipients(
        "rfc3464-multiple.eml",
        Kind::Bounce,
        &[
            (
                Some("arathib@vnet.ibm.com"),
                Some("5.0.0"),
                Some(550),
                Reason::Other,
                false,
            ),
            (
                Some("wsnell@sdcc13.ucsd.edu"),
                Some("5.0.0"),
                Some(550),
                Reason::UserUnknown,
                false,
            ),
        ],
    );
}

#[test]
fn a_delay_dsn_is_a_delivery_report() {
    assert_recipients(
        "rfc3464-delayed.eml",
        Kind::DeliveryReport,
        &[(
            Some("reader@example.net"),
            Some("4.4.1"),
            None,
            Reason::Network,
            false,
        )],
    );
}

/// RFC 5965 appendix B.2: the reported reader is the `Original-Rcpt-To`.
#[test]
fn an_arf_report_is_a_complaint_about_the_original_recipient() {
    let r = assert_recipients(
        "rfc5965-arf.eml",
        Kind::Complaint,
        &[(Some("user@example.com"), None, None, Reason::Policy, false)],
    );
    assert_eq!(
        r.recipients[0].diagnostic.as_deref(),
        Some("feedback-type: abuse")
    );
    assert_eq!(r.original_headers.original_rcpt_to, ["user@example.com"]);
    assert_eq!(
        r.original_headers.original_mail_from.as_deref(),
        Some("somespammer@example.net")
    );
}

// Bounces in an MTA's own words: the recipient line, the quoted reply.

#[test]
fn qmail_names_the_recipient_then_quotes_the_remote_host() {
    let r = assert_recipients(
        "qmail.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.org"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("2026-12-01.qmail@hotpapers.example")
    );
}

#[test]
fn exim_quotes_the_reply_to_rcpt_to() {
    assert_recipients(
        "exim.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.net"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
}

#[test]
fn sendmail_without_a_dsn_part_reads_its_transcript() {
    assert_recipients(
        "sendmail.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.com"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
}

/// "User unknown" in reply to DATA: the server had taken the address, so it
/// is the message that was refused (a filter), never a dead address.
#[test]
fn sendmail_refusal_after_data_is_not_hard() {
    let r = assert_recipients(
        "sendmail-transcript.eml",
        Kind::Bounce,
        &[(
            Some("reader2@example.com"),
            Some("5.0.0"),
            Some(550),
            Reason::UserUnknown,
            false,
        )],
    );
    assert_eq!(
        r.recipients[0].diagnostic.as_deref(),
        Some("(reason: 550 User unknown)")
    );
}

#[test]
fn office365_remote_server_returned_a_missing_recipient() {
    assert_recipients(
        "office365.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.com"),
            Some("5.1.10"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
}

#[test]
fn gmail_address_not_found_is_hard() {
    assert_recipients(
        "gmail.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.com"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
}

/// A DMARC refusal is the sender's problem: counted, never a dropped reader.
#[test]
fn gmail_dmarc_refusal_is_an_auth_failure_and_soft() {
    assert_recipients(
        "gmail-policy.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.com"),
            Some("5.7.26"),
            Some(550),
            Reason::AuthFailure,
            false,
        )],
    );
}

#[test]
fn yahoo_remote_host_said_user_unknown() {
    assert_recipients(
        "yahoo.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.net"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
}

#[test]
fn yahoo_full_mailbox_is_soft() {
    assert_recipients(
        "yahoo-full.eml",
        Kind::Bounce,
        &[(
            Some("reader2@example.net"),
            Some("5.2.2"),
            Some(552),
            Reason::MailboxFull,
            false,
        )],
    );
}

/// SES wraps the remote reply in a status of its own (`5.1.0 - Unknown
/// address error 550-'5.7.1 …'`): the remote server's code is the one that
/// counts, and here it is a blocklist, not a dead address.
#[test]
fn ses_wrapped_reply_is_read_for_the_remote_status() {
    assert_recipients(
        "ses.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.org"),
            Some("5.7.1"),
            Some(550),
            Reason::Policy,
            false,
        )],
    );
}

/// SNS mails the SES notification as JSON, its lines wrapped mid-string.
#[test]
fn ses_notification_by_mail_is_read_from_its_json() {
    let r = assert_recipients(
        "ses-notification.eml",
        Kind::Bounce,
        &[(
            Some("reader@example.com"),
            Some("5.1.1"),
            Some(550),
            Reason::UserUnknown,
            true,
        )],
    );
    assert_eq!(
        r.original_message_id.as_deref(),
        Some("2026-12-01.ses-sns@hotpapers.example")
    );
}

// Mail that is not a bounce.

#[test]
fn rfc3834_auto_reply_is_not_a_bounce() {
    assert_kind_only("auto-reply-rfc3834.eml", Kind::AutoReply);
}

#[test]
fn vacation_known_by_its_subject_alone_is_an_auto_reply() {
    assert_kind_only("vacation.eml", Kind::AutoReply);
}

#[test]
fn challenge_response_is_an_auto_reply() {
    assert_kind_only("challenge.eml", Kind::AutoReply);
}

#[test]
fn mail_to_the_unsubscribe_address_is_an_unsubscribe() {
    let r = classified("unsubscribe.eml");
    assert_eq!(r.kind, Kind::Unsubscribe, "{r:?}");
    assert!(
        r.to.contains(&"unsubscribe+tok42@hotpapers.example".to_owned()),
        "{:?}",
        r.to
    );
}

/// "550 of the 600 questions, and section 5.1.1": numbers in prose make no
/// bounce.
#[test]
fn an_ordinary_reply_is_other() {
    let r = classified("plain.eml");
    assert_eq!(r.kind, Kind::Other, "{r:?}");
    assert!(r.recipients.is_empty(), "{r:?}");
}

/// The JSON line of `bounces classify --json`, the shape other tools read.
#[test]
fn classify_json_has_one_line_per_file_in_the_documented_shape() {
    let (out, stdout, stderr) = run(hotpapers().args([
        "bounces",
        "classify",
        "--json",
        fixture("bounces/qmail.eml").to_str().unwrap(),
        fixture("bounces/vacation.eml").to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0]["file"].as_str().unwrap().ends_with("qmail.eml"));
    assert_eq!(lines[0]["kind"], "bounce");
    assert_eq!(
        lines[0]["recipients"][0],
        serde_json::json!({
            "address": "reader@example.org",
            "status": "5.1.1",
            "reply_code": 550,
            "reason": "user_unknown",
            "hard": true,
            "diagnostic": "Remote host said: 550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown in local recipient table Giving up on 192.0.2.25."
        })
    );
    assert_eq!(lines[1]["kind"], "auto_reply");
    assert_eq!(lines[1]["recipients"], serde_json::json!([]));
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
