//! `hotpapers send` through a real Postfix relay on loopback, as operators
//! run it: STARTTLS on the submission port and implicit TLS (smtps), AUTH
//! PLAIN and LOGIN against Cyrus SASL, a certificate from a private CA made
//! for the test (`tests/support/postfix.sh`), and the configuration mistakes
//! that must stop a run at once.
//!
//! Needs Debian's `postfix` and `sasl2-bin` (`tests/support/postfix.sh
//! install`, which `.ci/run` runs) and root; without them each test says it
//! was skipped, unless `HOTPAPERS_TEST_POSTFIX=require` (set by `.ci/run`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::postfix::Relay;
use crate::support::{fixture, hotpapers, run};

const SECRET: &str = "7d3f1a9c5e8b2046d1f7a3c9e5b8d2046a1f3c5e7b9d0a2c4e6f8a1b3c5d7e9f";

/// `send` for three readers through `url` with the relay's CA and `password`.
fn send(
    relay: &Relay,
    url: &str,
    ca: Option<&str>,
    password: &str,
) -> (i32, String, String, PathBuf) {
    let work = tempfile::tempdir().unwrap().keep();
    std::fs::write(
        work.join("subscribers.yaml"),
        "- email: ada@example.org\n  name: Ada\n- email: grace@example.org\n- email: alan@example.org\n",
    )
    .unwrap();
    let mut cmd = hotpapers();
    cmd.current_dir(&work)
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SUBSCRIBERS", work.join("subscribers.yaml"))
        .env("HOTPAPERS_STATE", work.join("state/hotpapers.db"))
        .env("HOTPAPERS_SECRET", SECRET)
        .env(
            "HOTPAPERS_FROM",
            "Hot Papers <digest@hotpapers.example.org>",
        )
        .env("HOTPAPERS_SMTP_URL", url)
        .env("HOTPAPERS_SMTP_USER", relay.get("SMTP_USER"))
        .env("HOTPAPERS_SMTP_PASSWORD", password)
        .env("RUST_LOG", "warn")
        .args(["send", "--date", "2021-02-19"]);
    if let Some(ca) = ca {
        cmd.env("HOTPAPERS_SMTP_CA", relay.get(ca));
    }
    let (out, stdout, stderr) = run(&mut cmd);
    (out.status.code().unwrap_or(-1), stdout, stderr, work)
}

fn ledger_sent(work: &Path) -> u64 {
    let ledger = hotpapers::ledger::Ledger::open(&work.join("state/hotpapers.db")).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2021, 2, 19).unwrap();
    ledger
        .counts(day)
        .unwrap()
        .get(&hotpapers::ledger::State::Sent)
        .copied()
        .unwrap_or(0)
}

#[test]
fn starttls_and_implicit_tls_with_auth_plain_deliver_through_postfix() {
    let Some(relay) = Relay::start(&[("SASL_MECHANISMS", "PLAIN LOGIN")]) else {
        return;
    };
    let password = relay.get("SMTP_PASSWORD").to_owned();
    let (code, stdout, stderr, work) =
        send(&relay, &relay.url("submission"), Some("CA"), &password);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("2021-02-19: sent 3,"), "{stdout}");
    assert_eq!(ledger_sent(&work), 3);
    let got = relay.wait_for(3);
    assert_eq!(got.len(), 3, "Postfix delivered every message");
    assert!(
        got.iter()
            .all(|m| m.contains("with ESMTPSA") || m.contains("with ESMTPS")),
        "each arrived over TLS with AUTH: {}",
        got[0].lines().take(12).collect::<Vec<_>>().join("\n")
    );
    for url in [relay.url("smtps"), relay.url("smtps-localhost")] {
        let (code, stdout, stderr, _) = send(&relay, &url, Some("CA"), &password);
        assert_eq!(code, 0, "{url}: {stdout}\n{stderr}");
    }
    assert_eq!(relay.wait_for(9).len(), 9);
}

#[test]
fn auth_login_is_used_when_the_server_offers_only_login() {
    let Some(relay) = Relay::start(&[("SASL_MECHANISMS", "LOGIN")]) else {
        return;
    };
    let password = relay.get("SMTP_PASSWORD").to_owned();
    for url in [relay.url("submission"), relay.url("smtps")] {
        let (code, stdout, stderr, _) = send(&relay, &url, Some("CA"), &password);
        assert_eq!(code, 0, "{url}: {stdout}\n{stderr}");
    }
    assert_eq!(relay.wait_for(6).len(), 6);
}

#[test]
fn an_untrusted_certificate_stops_the_run_at_once_and_says_how_to_trust_the_ca() {
    let Some(relay) = Relay::start(&[("SASL_MECHANISMS", "PLAIN LOGIN")]) else {
        return;
    };
    let password = relay.get("SMTP_PASSWORD").to_owned();
    for url in [relay.url("smtps"), relay.url("submission")] {
        for ca in [None, Some("OTHER_CA")] {
            let started = Instant::now();
            let (code, stdout, stderr, work) = send(&relay, &url, ca, &password);
            let took = started.elapsed();
            assert_eq!(code, 1, "{url} {ca:?}: {stdout}\n{stderr}");
            assert!(took < Duration::from_secs(10), "no retrying: {took:?}");
            assert!(stdout.contains("HOTPAPERS_SMTP_CA"), "{url}: {stdout}");
            assert!(
                stdout.contains("UnknownIssuer") || stdout.contains("certificate"),
                "{stdout}"
            );
            assert!(
                !stdout.contains("Connection error: Connection error"),
                "each cause once: {stdout}"
            );
            assert_eq!(ledger_sent(&work), 0, "nothing recorded as sent");
        }
    }
    assert!(relay.delivered().is_empty());
}

#[test]
fn a_refused_login_or_auth_only_after_starttls_is_a_configuration_error() {
    let Some(relay) = Relay::start(&[("SASL_MECHANISMS", "PLAIN LOGIN")]) else {
        return;
    };
    let started = Instant::now();
    let (code, stdout, stderr, work) = send(
        &relay,
        &relay.url("submission"),
        Some("CA"),
        "not-the-password",
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stdout.contains("535"), "the server's reply: {stdout}");
    assert!(stdout.contains("HOTPAPERS_SMTP_PASSWORD"), "{stdout}");
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));
    assert_eq!(ledger_sent(&work), 0);

    let password = relay.get("SMTP_PASSWORD").to_owned();
    let (code, stdout, stderr, work) = send(
        &relay,
        &relay.url("submission-no-tls"),
        Some("CA"),
        &password,
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("AUTH only after STARTTLS"), "{stdout}");
    assert!(
        stdout.contains("tls=required"),
        "says what to change: {stdout}"
    );
    assert_eq!(ledger_sent(&work), 0);
    assert!(relay.delivered().is_empty());
}
