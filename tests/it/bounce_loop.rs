//! The whole loop with a real MTA: Postfix relays the newsletter to a next
//! hop that refuses some recipients after Postfix accepted the message, so
//! Postfix's own bounce daemon writes the DSNs, to each message's VERP
//! address, into a Maildir; `bounces process --maildir` then marks exactly
//! the hard-bounced readers, keeps the soft-bounced ones, and the next
//! `send` skips the bounced.

use std::path::Path;
use std::process::Command;

use crate::postfix::Relay;
use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support::{fixture, hotpapers, run};

pub(crate) const SECRET: &str = "0b7e3c9a5d1f8e2b4a6c0d9e7f1a3b5c8d2e4f6a9b1c3d5e7f0a2b4c6d8e1f3a";

pub(crate) fn cmd(work: &Path) -> Command {
    let mut c = hotpapers();
    c.current_dir(work)
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SUBSCRIBERS", work.join("subscribers.yaml"))
        .env("HOTPAPERS_STATE", work.join("state/hotpapers.db"))
        .env("HOTPAPERS_SECRET", SECRET)
        .env(
            "HOTPAPERS_FROM",
            "Hot Papers <digest@hotpapers.example.org>",
        )
        .env("HOTPAPERS_BOUNCE_ADDRESS", "bounces@bounce.example.test")
        .env("RUST_LOG", "warn");
    c
}

#[test]
fn postfix_dsns_for_refused_readers_mark_exactly_the_hard_bounced_and_the_next_send_skips_them() {
    // The next hop: refuses one reader for good, one mailbox is full (4xx,
    // which `maximal_queue_lifetime = 0` turns into a DSN at once).
    let hop = SmtpServer::start(Behaviour {
        reject: ["dead@example.org".to_owned()].into(),
        defer_times: [("full@example.org".to_owned(), 1000)].into(),
        ..Behaviour::default()
    });
    let relay_host = format!("[127.0.0.1]:{}", hop.addr.port());
    let Some(relay) = Relay::start(&[
        ("RELAY_HOST", relay_host.as_str()),
        ("LOCAL_DOMAINS", "bounce.example.test"),
    ]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("subscribers.yaml"),
        "- email: alive@example.org\n- email: dead@example.org\n- email: full@example.org\n",
    )
    .unwrap();
    let url = format!("smtp://127.0.0.1:{}", relay.get("SMTP_PORT"));
    let (out, stdout, stderr) = run(cmd(work.path()).env("HOTPAPERS_SMTP_URL", &url).args([
        "send",
        "--date",
        "2021-02-19",
    ]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("2021-02-19: sent 3,"),
        "the relay took all three: {stdout}"
    );
    let dsns = relay.wait_for(2);
    assert_eq!(dsns.len(), 2, "one DSN per refused reader");
    assert!(
        dsns.iter().all(|d| d.contains("bounces+")),
        "to the VERP address"
    );
    assert_eq!(hop.count_by_recipient().get("alive@example.org"), Some(&1));

    let maildir = Path::new(relay.get("MAILDIR"));
    let (out, stdout, stderr) = run(cmd(work.path())
        .args(["bounces", "process", "--maildir"])
        .arg(maildir));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let (_, list, _) = run(cmd(work.path()).args(["subscribers", "list"]));
    assert!(list.contains("dead@example.org\tbounced"), "{list}");
    assert_eq!(last_channel(work.path(), "dead@example.org"), "bounce");
    assert!(
        list.contains("full@example.org\tactive"),
        "soft: kept\n{list}"
    );
    assert!(list.contains("alive@example.org\tactive"), "{list}");
    // Processed once: in cur/ with the Seen flag, and a second run records nothing new.
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 2, "{cur:?}");
    assert!(cur.iter().all(|n| n.ends_with(":2,S")), "{cur:?}");
    let (_, status, _) = run(cmd(work.path()).args(["status", "--date", "2021-02-19"]));
    assert!(status.contains("2 event(s) came back"), "{status}");
    assert!(
        status.contains("dead@example.org\tbounce (user_unknown, hard)"),
        "{status}"
    );
    assert!(status.contains("full@example.org\tbounce"), "{status}");

    // The next day's send skips the bounced reader.
    let (out, stdout, stderr) = run(cmd(work.path()).env("HOTPAPERS_SMTP_URL", &url).args([
        "send",
        "--date",
        "2021-03-05",
    ]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("2021-03-05: sent 2,"), "{stdout}");
}

/// Two readers, sent 2021-02-19 (the outbox stands in for SMTP), so that
/// their VERP tokens name a delivery.
pub(crate) fn sent_to_two(work: &Path) {
    two_readers(work);
    let (out, stdout, stderr) = run(cmd(work)
        .env("HOTPAPERS_OUTBOX", work.join("outbox"))
        .args(["send", "--date", "2021-02-19"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

fn two_readers(work: &Path) {
    std::fs::write(
        work.join("subscribers.yaml"),
        "- email: ada@example.org\n- email: grace@example.org\n",
    )
    .unwrap();
}

fn pipe(work: &Path, message: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = cmd(work)
        .args(["bounces", "process", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The channel of the reader's last consent event (`via:` in `subscribers show`).
fn last_channel(work: &Path, email: &str) -> String {
    let (_, shown, stderr) = run(cmd(work).args(["subscribers", "show", email]));
    shown
        .lines()
        .filter_map(|l| l.trim().strip_prefix("via: "))
        .next_back()
        .unwrap_or_else(|| panic!("no consent event for {email}: {shown}{stderr}"))
        .to_owned()
}

pub(crate) fn status_of(work: &Path, email: &str) -> String {
    let (_, list, _) = run(cmd(work).args(["subscribers", "list"]));
    list.lines()
        .find(|l| l.starts_with(&format!("{email}\t")))
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or("missing")
        .to_owned()
}

#[test]
fn a_mail_to_the_readers_mailto_unsubscribes_exactly_that_reader_and_a_forged_one_nobody() {
    let work = tempfile::tempdir().unwrap();
    two_readers(work.path());
    let forged =
        hotpapers::token::Signer::new(b"someone else's key").mailto_token("ada@example.org");
    let mail = |token: &str| {
        format!(
            "From: Ada <ada@example.org>\r\nTo: unsubscribe+{token}@hotpapers.example.org\r\n\
             Subject: unsubscribe\r\nMessage-ID: <u-{token}@example.org>\r\n\
             Date: Fri, 19 Feb 2021 09:00:00 +0000\r\n\r\nunsubscribe\r\n"
        )
    };
    let (code, stdout, stderr) = pipe(work.path(), &mail(&forged));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        status_of(work.path(), "ada@example.org"),
        "active",
        "forged: nobody"
    );
    let real = hotpapers::token::Signer::new(SECRET.as_bytes()).mailto_token("ada@example.org");
    let (code, stdout, stderr) = pipe(work.path(), &mail(&real));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("unsubscribed: ada@example.org"), "{stdout}");
    assert_eq!(status_of(work.path(), "ada@example.org"), "unsubscribed");
    assert_eq!(status_of(work.path(), "grace@example.org"), "active");
    // The withdrawal is on record with its channel.
    assert_eq!(last_channel(work.path(), "ada@example.org"), "mailto");
}

#[test]
fn a_complaint_unsubscribes_the_reader_its_feedback_report_names() {
    let work = tempfile::tempdir().unwrap();
    two_readers(work.path());
    let arf = "From: Feedback Loop <fbl@isp.example.net>\r\n\
To: abuse@hotpapers.example.org\r\n\
Subject: FW: Hot Papers\r\n\
Message-ID: <fbl-1@isp.example.net>\r\n\
Date: Fri, 19 Feb 2021 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
--b\r\nContent-Type: message/feedback-report\r\n\r\n\
Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n\
Original-Rcpt-To: grace@example.org\r\nOriginal-Mail-From: digest@hotpapers.example.org\r\n\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\n\
From: Hot Papers <digest@hotpapers.example.org>\r\nTo: grace@example.org\r\n\
Subject: Hot Papers 2021-02-19\r\nMessage-ID: <2021-02-19.x@hotpapers.example.org>\r\n\r\nbody\r\n\
--b--\r\n";
    let (code, stdout, stderr) = pipe(work.path(), arf);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("complaint 1"), "{stdout}");
    assert_eq!(status_of(work.path(), "grace@example.org"), "unsubscribed");
    assert_eq!(status_of(work.path(), "ada@example.org"), "active");
    assert_eq!(last_channel(work.path(), "grace@example.org"), "complaint");
    // The same report again changes and records nothing new.
    let (_, stdout, _) = pipe(work.path(), arf);
    assert!(stdout.contains("seen before"), "{stdout}");
}

/// A DSN to `bounces+TOKEN@` for `email` on 2021-02-19, in RFC 3464 form.
pub(crate) fn dsn(n: usize, email: &str, token: &str) -> String {
    format!(
        "Return-Path: <>\r\nTo: bounces+{token}@bounce.example.test\r\n\
From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-{n}@mx.example.org>\r\nDate: Fri, 19 Feb 2021 11:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n<{email}>: host mx.example.org said: 550 5.1.1 unknown user\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
Final-Recipient: rfc822; {email}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 unknown user\r\n\r\n--b--\r\n"
    )
}

#[test]
fn bounces_process_killed_midway_loses_and_repeats_nothing() {
    let work = tempfile::tempdir().unwrap();
    let n = 300;
    let yaml: String = (0..n)
        .map(|i| format!("- email: r{i}@example.org\n"))
        .collect();
    std::fs::write(work.path().join("subscribers.yaml"), yaml).unwrap();
    // A ledger that knows these readers were sent 2021-02-19 (the outbox stands in for SMTP).
    let (out, stdout, stderr) = run(cmd(work.path())
        .env("HOTPAPERS_OUTBOX", work.path().join("outbox"))
        .args(["send", "--date", "2021-02-19"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let maildir = work.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let signer = hotpapers::token::Signer::new(SECRET.as_bytes());
    let day = chrono::NaiveDate::from_ymd_opt(2021, 2, 19).unwrap();
    for i in 0..n {
        let email = format!("r{i}@example.org");
        std::fs::write(
            maildir.join(format!("new/{i:04}.dsn.host")),
            dsn(i, &email, &signer.bounce_token(day, &email)),
        )
        .unwrap();
    }
    // Kill it a few times at different moments, then let it finish.
    for wait_ms in [30u64, 120, 250] {
        let mut child = cmd(work.path())
            .args(["bounces", "process", "--maildir"])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, stdout, stderr) = run(cmd(work.path())
        .args(["bounces", "process", "--maildir"])
        .arg(&maildir));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), n, "every message processed, once");
    assert!(std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .next()
        .is_none());
    let ledger = hotpapers::ledger::Ledger::open(&work.path().join("state/hotpapers.db")).unwrap();
    let events = ledger.events_of_day(day).unwrap();
    assert_eq!(
        events.len(),
        n,
        "one event per report: none lost, none repeated"
    );
    let (_, list, _) = run(cmd(work.path()).args(["subscribers", "list"]));
    assert_eq!(list.matches("\tbounced").count(), n, "{list}");
}
