//! `bounces process --imap`: returned mail read from a real IMAPS server
//! (Dovecot), acted on, and moved to the processed folder only once acted on.

use std::path::Path;
use std::process::Command;

use crate::bounce_loop::{cmd, dsn, sent_to_two, status_of, SECRET};
use crate::dovecot::Dovecot;
use crate::support::run;

fn imap(work: &Path, server: &Dovecot) -> Command {
    let mut c = cmd(work);
    c.env("HOTPAPERS_IMAP_USER", server.get("IMAP_USER"))
        .env("HOTPAPERS_IMAP_PASSWORD", server.get("IMAP_PASSWORD"))
        .env("HOTPAPERS_IMAP_CA", server.get("CA"))
        .args(["bounces", "process", "--imap", &server.url("INBOX")]);
    c
}

fn token(email: &str) -> String {
    let day = chrono::NaiveDate::from_ymd_opt(2021, 2, 19).unwrap();
    hotpapers::token::Signer::new(SECRET.as_bytes()).bounce_token(day, email)
}

const VACATION: &str = "From: Grace <grace@example.org>\r\nTo: digest@hotpapers.example.org\r\n\
Subject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.org>\r\n\
Date: Fri, 19 Feb 2021 12:00:00 +0000\r\n\r\nI am away until March.\r\n";

#[test]
fn imaps_intake_acts_on_every_message_and_moves_each_to_the_processed_folder() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    sent_to_two(work.path());
    server.deliver(&dsn(1, "ada@example.org", &token("ada@example.org")));
    server.deliver(VACATION);
    assert_eq!(server.count(""), 2);

    let (out, stdout, stderr) = run(&mut imap(work.path(), &server));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("processed 2 message(s)"), "{stdout}");
    assert!(
        stdout.contains("marked bounced: ada@example.org"),
        "{stdout}"
    );
    assert_eq!(status_of(work.path(), "ada@example.org"), "bounced");
    assert_eq!(
        status_of(work.path(), "grace@example.org"),
        "active",
        "an auto-reply is no bounce"
    );
    assert_eq!(server.count(""), 0, "INBOX is empty");
    assert_eq!(server.count("Processed"), 2, "both moved, the folder made");

    // Nothing left: a second run does nothing.
    let (out, stdout, stderr) = run(&mut imap(work.path(), &server));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("processed 0 message(s)"), "{stdout}");

    // A copy of a report already acted on (the run that acted on it was
    // killed before the move) records nothing new and is moved.
    server.deliver(&dsn(1, "ada@example.org", &token("ada@example.org")));
    let (out, stdout, stderr) = run(&mut imap(work.path(), &server));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("(1 seen before)"), "{stdout}");
    let ledger = hotpapers::ledger::Ledger::open(&work.path().join("state/hotpapers.db")).unwrap();
    assert_eq!(ledger.events_of("ada@example.org").unwrap().len(), 1);
    assert_eq!(server.count("Processed"), 3);
}

#[test]
fn an_untrusted_server_or_a_refused_login_fails_clearly_and_moves_nothing() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    sent_to_two(work.path());
    server.deliver(&dsn(1, "ada@example.org", &token("ada@example.org")));

    let (out, stdout, stderr) =
        run(imap(work.path(), &server).env("HOTPAPERS_IMAP_CA", server.get("OTHER_CA")));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("HOTPAPERS_IMAP_CA"), "{stderr}");

    let (out, stdout, stderr) =
        run(imap(work.path(), &server).env("HOTPAPERS_IMAP_PASSWORD", "not-the-password"));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("refused the login"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    let (out, _, stderr) = run(imap(work.path(), &server).env_remove("HOTPAPERS_IMAP_USER"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("HOTPAPERS_IMAP_USER"), "{stderr}");

    assert_eq!(status_of(work.path(), "ada@example.org"), "active");
    assert_eq!(server.count(""), 1, "still in INBOX");
}
