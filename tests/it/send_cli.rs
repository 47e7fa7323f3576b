//! `hotpapers send` and `status` as the operator runs them: the real binary,
//! a real SMTP server on loopback, SIGKILL in the middle of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use hotpapers::ledger::{Ledger, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support::{fixture, hotpapers, run};

/// A file or folder of the repository itself. Only the quick-start test
/// reads the operator's `digests/` and `subscribers/`: it runs the README's
/// command on what a fresh checkout ships.
fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The seed of the tests that draw at random: `HOTPAPERS_TEST_SEED` if set
/// (to replay a failure), else a fixed default.
fn test_seed() -> u64 {
    match std::env::var("HOTPAPERS_TEST_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("HOTPAPERS_TEST_SEED=`{s}` is not a whole number")),
        Err(_) => 20_210_212,
    }
}

fn write_subscribers(dir: &Path, n: usize) {
    let mut yaml = String::with_capacity(n * 40);
    for i in 0..n {
        yaml.push_str(&format!("- email: reader{i}@example.org\n"));
    }
    std::fs::write(dir.join("subscribers.yaml"), yaml).unwrap();
}

const SECRET: &str = "5c1e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e";

/// The binary set up for a temp folder and (optionally) an SMTP server.
fn send_cmd(dir: &Path, smtp: Option<&SmtpServer>) -> Command {
    let mut cmd = hotpapers();
    cmd.current_dir(dir)
        .env("HOTPAPERS_DIGESTS", fixture("samples"))
        .env("HOTPAPERS_SUBSCRIBERS", dir.join("subscribers.yaml"))
        .env("HOTPAPERS_STATE", dir.join("state/hotpapers.db"))
        .env("HOTPAPERS_SECRET", SECRET)
        .env("RUST_LOG", "warn");
    if let Some(s) = smtp {
        cmd.env("HOTPAPERS_SMTP_URL", s.url());
    }
    cmd
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 2, 12).unwrap()
}

#[test]
fn the_quick_start_command_writes_eml_files_to_the_outbox_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("subscribers/subscribers.yaml"),
        dir.path().join("subscribers.yaml"),
    )
    .unwrap();
    let quick_start = |dir: &Path| {
        let mut cmd = send_cmd(dir, None);
        cmd.env("HOTPAPERS_DIGESTS", repo("digests"))
            .args(["send", "--date", "2021-02-12"]);
        cmd
    };
    let (out, stdout, stderr) = run(&mut quick_start(dir.path()));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("writing each message as an .eml file in `outbox`"),
        "{stderr}"
    );
    let emls: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!emls.is_empty());
    assert!(
        stdout.starts_with(&format!("2021-02-12: sent {},", emls.len())),
        "{stdout}"
    );
    for eml in &emls {
        assert!(
            !eml.contains("richard@example.com") && !eml.contains("kurt@example.net"),
            "the unsubscribed and the bounced are never mailed"
        );
    }
    let (out, stdout, _) = run(&mut quick_start(dir.path()));
    assert!(out.status.success());
    assert!(stdout.starts_with("2021-02-12: sent 0,"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        emls.len()
    );
}

#[test]
fn some_permanent_failures_exit_3_and_status_shows_the_ledger() {
    let server = SmtpServer::start(Behaviour {
        reject: ["reader1@example.org".to_owned()].into(),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), 3);
    let (out, stdout, stderr) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("failed: reader1@example.org: 550 5.1.1 no such mailbox here"),
        "{stdout}"
    );
    let (out, stdout, _) = run(send_cmd(dir.path(), None).args(["status", "--date", "2021-02-12"]));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout.starts_with("2021-02-12: 3 deliveries recorded: sent 2, failed 1\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reader1@example.org\tfailed\tattempts 1\t"),
        "{stdout}"
    );
}

#[test]
fn a_date_that_is_no_date_is_a_usage_error_and_a_day_without_digest_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), 1);
    let (out, _, stderr) = run(send_cmd(dir.path(), None).args(["send", "--date", "2021-13-01"]));
    assert_eq!(out.status.code(), Some(2), "parsed by the command line");
    assert!(stderr.contains("invalid date `2021-13-01`"), "{stderr}");
    // Weekends and holidays have no digest; cron runs every day (issue #14).
    let (out, stdout, stderr) =
        run(send_cmd(dir.path(), None).args(["send", "--date", "1999-01-01"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("1999-01-01: no digest in `"), "{stdout}");
    assert!(
        stdout.contains("nothing to send to 1 daily reader(s)"),
        "{stdout}"
    );
    assert!(!dir.path().join("outbox").exists(), "nothing was written");
}

#[test]
fn a_second_send_for_the_same_day_refuses_while_the_first_runs() {
    let server = SmtpServer::start(Behaviour {
        reply_delay: Duration::from_millis(3),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), 150);
    let mut first = send_cmd(dir.path(), Some(&server))
        .args(["send", "--date", "2021-02-12"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| !server.received().is_empty());
    let (out, _, stderr) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another `hotpapers send` for 2021-02-12 is running"),
        "{stderr}"
    );
    assert!(first.wait().unwrap().success());
    let counts = server.count_by_recipient();
    assert_eq!(counts.len(), 150);
    assert!(counts.values().all(|&n| n == 1));
}

#[test]
fn killed_with_sigkill_at_several_moments_every_subscriber_still_gets_exactly_one() {
    const N: usize = 1000;
    let server = SmtpServer::start(Behaviour {
        reply_delay: Duration::from_micros(300),
        data_delay: Duration::from_millis(2),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), N);
    let seed = test_seed();
    let replay = format!("(replay with HOTPAPERS_TEST_SEED={seed})");
    // Printed first, so even a panic outside the assertions below (a timeout
    // in `wait_for`) can be replayed: cargo shows a failed test's output.
    eprintln!("kill moments drawn with seed {seed} {replay}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills = Vec::new();
    for threshold in [50, 300, 550, 800] {
        let before = server.received().len();
        let mut child = send_cmd(dir.path(), Some(&server))
            .args(["send", "--date", "2021-02-12"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let target = threshold + rng.gen_range(0..40);
        wait_for(|| server.received().len() >= target.max(before + 1));
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "killed by a signal, not finished {replay}"
        );
        kills.push(server.received().len());
    }
    let (out, stdout, stderr) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{replay}\n{stdout}\n{stderr}");

    let ledger = Ledger::open(&dir.path().join("state/hotpapers.db")).unwrap();
    let counts = server.count_by_recipient();
    let mut duplicates = Vec::new();
    for i in 0..N {
        let email = format!("reader{i}@example.org");
        let row = ledger.get(day(), &email).unwrap().unwrap();
        assert_eq!(row.state, State::Sent, "{email} {replay}");
        let n = counts.get(&email).copied().unwrap_or(0) as u32;
        assert!(n >= 1, "{email} never received its message {replay}");
        assert!(
            n <= 1 + row.unknowns,
            "{email} received {n} copies but only {} cut(s) were recorded as unknown {replay}",
            row.unknowns
        );
        if n > 1 {
            duplicates.push(email);
        }
    }
    eprintln!(
        "seed {seed}: received after each kill: {kills:?}; duplicates (all listed unknown): {}",
        duplicates.len()
    );
}

#[test]
fn a_weekly_send_killed_with_sigkill_resumes_and_each_weekly_reader_gets_one_edition() {
    const N: usize = 400;
    let server = SmtpServer::start(Behaviour {
        reply_delay: Duration::from_micros(300),
        data_delay: Duration::from_millis(2),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    // Weekly readers due on Fridays, and 2021-02-12 is a Friday.
    let mut yaml = String::new();
    for i in 0..N {
        yaml.push_str(&format!(
            "- email: reader{i}@example.org\n  cadence: weekly\n  weekday: friday\n"
        ));
    }
    std::fs::write(dir.path().join("subscribers.yaml"), yaml).unwrap();
    for threshold in [40, 200] {
        let before = server.received().len();
        let mut child = send_cmd(dir.path(), Some(&server))
            .args(["send", "--date", "2021-02-12"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(|| server.received().len() >= threshold.max(before + 1));
        child.kill().unwrap(); // SIGKILL
        assert!(
            child.wait().unwrap().code().is_none(),
            "killed, not finished"
        );
    }
    let (out, stdout, stderr) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Running the day again sends nothing new.
    let received = server.received().len();
    let (out, stdout, stderr) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(server.received().len(), received, "{stdout}");

    let ledger = Ledger::open(&dir.path().join("state/hotpapers.db")).unwrap();
    let week = hotpapers::ledger::EditionKey::week_of(day());
    let counts = server.count_by_recipient();
    for i in 0..N {
        let email = format!("reader{i}@example.org");
        let row = ledger.get(week, &email).unwrap().unwrap();
        assert_eq!(row.state, State::Sent, "{email}");
        let n = counts.get(&email).copied().unwrap_or(0) as u32;
        assert!(n >= 1, "{email} never received the weekly edition");
        assert!(
            n <= 1 + row.unknowns,
            "{email} received {n} copies but only {} cut(s) were recorded as unknown",
            row.unknowns
        );
        assert!(ledger.get(day(), &email).unwrap().is_none(), "no daily row");
    }
}

#[test]
fn ctrl_c_finishes_the_messages_in_flight_exits_130_and_leaves_nothing_unknown() {
    let server = SmtpServer::start(Behaviour {
        reply_delay: Duration::from_millis(1),
        data_delay: Duration::from_millis(5),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), 300);
    let child = send_cmd(dir.path(), Some(&server))
        .args(["send", "--date", "2021-02-12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| server.received().len() >= 20);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("interrupted: run the same command again"),
        "{stdout}"
    );
    let sent_before = server.received().len();
    assert!(sent_before < 300, "stopped early");

    let (out, stdout, _) =
        run(send_cmd(dir.path(), Some(&server)).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("cut mid-transaction"), "{stdout}");
    let counts = server.count_by_recipient();
    assert_eq!(counts.len(), 300);
    assert!(
        counts.values().all(|&n| n == 1),
        "a graceful stop never duplicates"
    );
}

#[track_caller]
fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_usage_error_exits_2_apart_from_undelivered_mail_and_help_lists_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(send_cmd(dir.path(), None).args(["send", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let (out, _, stderr) = run(send_cmd(dir.path(), None).arg("send"));
    assert_eq!(out.status.code(), Some(2), "a missing --date: {stderr}");
    let (out, stdout, _) = run(send_cmd(dir.path(), None).arg("--help"));
    assert!(out.status.success());
    for line in [
        "0    done",
        "1    could not run",
        "2    usage error",
        "3    finished, but some items failed",
        "130  interrupted",
    ] {
        assert!(stdout.contains(line), "--help lists `{line}`:\n{stdout}");
    }
}

#[test]
fn with_a_bounce_address_each_message_has_a_verp_return_path_naming_its_day_and_reader() {
    let server = SmtpServer::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    write_subscribers(dir.path(), 2);
    let (out, stdout, stderr) = run(send_cmd(dir.path(), Some(&server))
        .env("HOTPAPERS_BOUNCE_ADDRESS", "bounces@bounce.example.org")
        .args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let signer = hotpapers::token::Signer::new(SECRET.as_bytes());
    let received = server.received();
    assert_eq!(received.len(), 2);
    for m in &received {
        let token = m
            .from
            .strip_prefix("bounces+")
            .and_then(|r| r.strip_suffix("@bounce.example.org"))
            .unwrap_or_else(|| panic!("VERP sender: {}", m.from));
        assert!(m.from.len() - "@bounce.example.org".len() <= 64);
        let claim = signer.verify_bounce_token(token).unwrap();
        assert_eq!(claim.day, day());
        assert_eq!(claim.address_id, signer.address_id(&m.to[0]));
        assert_eq!(
            m.header("From").unwrap(),
            "\"Hot Papers\" <digest@hotpapers.example.org>",
            "the From header is unchanged"
        );
    }
}
