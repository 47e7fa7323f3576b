//! The state in PostgreSQL as the operator meets it: `db migrate`, the
//! schema check every command makes, the CLI, `send` and `serve` on a
//! database instead of files, two web servers on one database.

use std::path::Path;
use std::process::Command;

use hotpapers::model::SubscriberStatus;
use hotpapers::subscribers::Store;

use crate::postgres::{database, empty_database, TestDb};
use crate::serve::{form, post_form, raw_client, site_dir, token_of, Running};
use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support::{fixture, hotpapers, run};

const SECRET: &str = "5c1e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e";

fn on(db: &TestDb, dir: &Path) -> Command {
    let mut cmd = hotpapers();
    cmd.current_dir(dir)
        .env("HOTPAPERS_DATABASE_URL", &db.url)
        .env("HOTPAPERS_DIGESTS", fixture("samples"))
        // Where the files would be: nothing may be written there (but by
        // the tests that use the files on purpose).
        .env("HOTPAPERS_SUBSCRIBERS", dir.join("subscribers"))
        .env("HOTPAPERS_STATE", dir.join("state/hotpapers.db"))
        .env("HOTPAPERS_SECRET", SECRET)
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn every_command_refuses_a_database_without_this_programs_schema() {
    let Some(db) = empty_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(on(&db, dir.path()).args(["subscribers", "list"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("has schema version 0, this program needs 3; run `hotpapers db migrate`"),
        "{stderr}"
    );
    let (out, stdout, stderr) = run(on(&db, dir.path()).args(["db", "migrate"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("schema version 0 → 3 (subscribers, ledger, claims)"),
        "{stdout}"
    );
    let (out, stdout, _) = run(on(&db, dir.path()).args(["db", "migrate"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("schema version 3, nothing to do"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(db.url.split('@').next().unwrap()),
        "no password shown"
    );

    // A newer hotpapers migrated it further: this one refuses to touch it.
    db.execute("INSERT INTO hotpapers_schema (version, name) VALUES (99, 'from the future')");
    for args in [
        &["subscribers", "list"][..],
        &["db", "migrate"],
        &["send", "--date", "2021-02-12"],
    ] {
        let (out, _, stderr) = run(on(&db, dir.path()).args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr
                .contains("has schema version 99, newer than this program's 3; upgrade hotpapers"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.path().join("subscribers").exists());
}

#[test]
fn migrations_from_several_hosts_at_once_apply_once() {
    let Some(db) = empty_database() else { return };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| db.open_unchecked().migrate().map(|m| m.to)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.unwrap(), hotpapers::db::SCHEMA_VERSION);
    }
    assert_eq!(
        db.open().schema_version().unwrap(),
        hotpapers::db::SCHEMA_VERSION
    );
}

#[test]
fn a_unix_socket_url_reaches_the_same_database() {
    let Some(db) = database() else { return };
    let Ok(socket) = std::env::var("HOTPAPERS_TEST_DATABASE_SOCKET_URL") else {
        return;
    };
    let mut url = url::Url::parse(&socket).unwrap();
    url.set_path(url::Url::parse(&db.url).unwrap().path());
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(on(&db, dir.path()).args(["subscribers", "add", "ada@example.org"]));
    assert!(out.status.success(), "{stderr}");
    let (out, stdout, stderr) = run(on(&db, dir.path())
        .env("HOTPAPERS_DATABASE_URL", url.as_str())
        .args(["subscribers", "list"]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("ada@example.org\tactive"), "{stdout}");
}

#[test]
fn import_export_and_send_work_from_the_database_alone() {
    let Some(db) = database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("list.csv");
    std::fs::write(
        &csv,
        "email,name,categories\nada@example.org,Ada,cs.LG\nnot an address,Bad,\nbob@example.org,Bob,\ngone@example.org,Gone,\n",
    )
    .unwrap();
    let (out, stdout, _) = run(on(&db, dir.path())
        .args(["subscribers", "import"])
        .arg(&csv));
    assert_eq!(
        out.status.code(),
        Some(3),
        "a bad row is reported: {stdout}"
    );
    assert!(stdout.contains("list.csv:3:"), "{stdout}");
    assert!(
        stdout.contains("imported 3 new subscriber(s); 0 already present"),
        "{stdout}"
    );
    let (out, _, _) = run(on(&db, dir.path()).args(["subscribers", "remove", "gone@example.org"]));
    assert!(out.status.success());
    // A YAML file too; the unsubscribed address stays unsubscribed.
    let yaml = dir.path().join("more.yaml");
    std::fs::write(
        &yaml,
        "- email: gone@example.org\n- email: cy@example.org\n  name: Cy\n- email: [oops\n",
    )
    .unwrap();
    let (out, stdout, _) = run(on(&db, dir.path())
        .args(["subscribers", "import"])
        .arg(&yaml));
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("more.yaml:4:"), "{stdout}");
    assert!(
        stdout.contains("imported 1 new subscriber(s); 1 already present"),
        "{stdout}"
    );

    let (out, stdout, _) =
        run(on(&db, dir.path()).args(["subscribers", "export", "--format", "csv"]));
    assert!(out.status.success());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "a header and four readers: {stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("gone@example.org,") && l.contains("unsubscribed")),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(on(&db, dir.path()).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    let mut sent: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .filter_map(|e| {
            let bytes = std::fs::read(e.unwrap().path()).ok()?;
            let msg = mail_parser::MessageParser::default().parse(&bytes)?;
            Some(msg.to()?.first()?.address()?.to_owned())
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        ["ada@example.org", "bob@example.org", "cy@example.org"]
    );
    assert!(
        !dir.path().join("subscribers").exists(),
        "no subscriber file was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_confirm_replay_and_unsubscribe_through_serve_on_the_database() {
    let Some(db) = database() else { return };
    let dir = site_dir();
    let server = Running::start_on_database(&dir, &db.url).await;
    let client = raw_client();
    let (status, _) = post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "ada@example.org")]),
    )
    .await;
    assert!(status.is_success());
    assert!(
        server.record("ada@example.org").is_none(),
        "nobody before the confirmation"
    );
    let link = server.confirm_link("ada@example.org").await;
    let (status, body) = post_form(
        &client,
        &server.url("/confirm"),
        form(&[("token", &token_of(&link))]),
    )
    .await;
    assert!(status.is_success(), "{body}");
    assert!(server.record("ada@example.org").unwrap().is_active());

    server.clock.advance(chrono::Duration::minutes(5));
    let (status, _) = post_form(
        &client,
        &server.unsubscribe_link("ada@example.org"),
        "List-Unsubscribe=One-Click".into(),
    )
    .await;
    assert!(status.is_success());
    assert_eq!(
        server.record("ada@example.org").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    // The old confirmation link, replayed after the unsubscribe, changes nothing.
    server.clock.advance(chrono::Duration::minutes(5));
    let (status, body) = post_form(
        &client,
        &server.url("/confirm"),
        form(&[("token", &token_of(&link))]),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        server.record("ada@example.org").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    assert!(!dir
        .out
        .parent()
        .unwrap()
        .join("subscribers/subscribers.yaml")
        .metadata()
        .is_ok_and(|m| m.len() > 60));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_web_servers_take_unsubscribes_while_the_cli_adds_readers_and_nothing_is_lost() {
    let Some(db) = database() else { return };
    let store = hotpapers::db::PgStore::new(db.open());
    let readers: Vec<hotpapers::model::Subscriber> = (0..30)
        .map(|i| hotpapers::model::Subscriber::new(format!("r{i}@example.org")))
        .collect();
    store.import(readers, chrono::Utc::now()).unwrap();
    let (a_dir, b_dir) = (site_dir(), site_dir());
    let a = Running::start_on_database(&a_dir, &db.url).await;
    let b = Running::start_on_database(&b_dir, &db.url).await;
    let cli_dir = tempfile::tempdir().unwrap();
    let adder = {
        let url = db.url.clone();
        let dir = cli_dir.path().to_owned();
        std::thread::spawn(move || {
            for i in 0..10 {
                let mut cmd = hotpapers();
                cmd.current_dir(&dir).env("HOTPAPERS_DATABASE_URL", &url);
                let (out, _, stderr) =
                    run(cmd.args(["subscribers", "add", &format!("new{i}@example.org")]));
                assert!(out.status.success(), "{stderr}");
            }
        })
    };
    let client = raw_client();
    let links: Vec<String> = (0..30)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            server.unsubscribe_link(&format!("r{i}@example.org"))
        })
        .collect();
    let posts = links
        .iter()
        .map(|link| post_form(&client, link, "List-Unsubscribe=One-Click".into()));
    for (status, body) in futures_util::future::join_all(posts).await {
        assert!(status.is_success(), "{body}");
    }
    adder.join().unwrap();
    let list = store.load().unwrap();
    assert_eq!(list.len(), 40);
    assert_eq!(
        list.iter()
            .filter(|s| s.status == SubscriberStatus::Unsubscribed)
            .count(),
        30
    );
    let active: Vec<&str> = list.active().map(|s| s.email.as_str()).collect();
    assert_eq!(active.len(), 10, "{active:?}");
    assert!(active.iter().all(|e| e.starts_with("new")));
    a.stop().await;
    b.stop().await;
}

/// `n` readers `reader{i}@example.org` in the database.
fn readers_in(db: &TestDb, n: usize) {
    let readers = (0..n)
        .map(|i| hotpapers::model::Subscriber::new(format!("reader{i}@example.org")))
        .collect();
    hotpapers::db::PgStore::new(db.open())
        .import(readers, chrono::Utc::now())
        .unwrap();
}

/// `send --date 2021-02-12` on a host of its own (`dir`), in the background,
/// with claims that last `lease` seconds.
fn spawn_send(db: &TestDb, dir: &Path, server: &SmtpServer, lease: u32) -> std::process::Child {
    on(db, dir)
        .env("HOTPAPERS_SMTP_URL", server.url())
        .env("HOTPAPERS_LEASE", lease.to_string())
        .args(["send", "--date", "2021-02-12"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the server has `n` messages; panics after `seconds`.
fn wait_for_messages(server: &SmtpServer, n: usize, seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while server.received().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {n} messages after {seconds} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The `(worker, rows)` of a day, from `status` (`… by host:pid/tag`).
fn rows_by_worker(stdout: &str) -> std::collections::BTreeMap<String, usize> {
    let mut by = std::collections::BTreeMap::new();
    for line in stdout.lines() {
        if let Some((_, worker)) = line.rsplit_once("\tby ") {
            *by.entry(worker.to_owned()).or_insert(0) += 1;
        }
    }
    by
}

#[test]
fn three_workers_share_a_day_one_is_killed_and_a_fourth_takes_its_claims_after_the_lease() {
    use hotpapers::ledger::{Place, State};
    const N: usize = 600;
    const LEASE: u32 = 3;
    let Some(db) = database() else { return };
    readers_in(&db, N);
    let server = SmtpServer::start(Behaviour {
        reply_delay: std::time::Duration::from_micros(300),
        data_delay: std::time::Duration::from_millis(3),
        ..Behaviour::default()
    });
    // Three hosts: each its own folder (so its own files), one database.
    let hosts: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut workers: Vec<_> = hosts[..3]
        .iter()
        .map(|h| spawn_send(&db, h.path(), &server, LEASE))
        .collect();
    wait_for_messages(&server, 150, 60);
    workers[0].kill().unwrap(); // SIGKILL: its claims stay, under a lease
    let killed = workers.remove(0);
    let killed_pid = killed.id();
    let killed = killed.wait_with_output().unwrap();
    assert!(killed.status.code().is_none(), "killed, not finished");
    for w in workers {
        let out = w.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // They cooperated instead of refusing each other.
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("2021-02-12: sent "), "{stdout}");
    }
    assert!(
        server.received().len() < N + 10,
        "the killed worker's claims were not left alone while its lease ran"
    );
    // Once its lease has passed, a fourth worker takes the rest over.
    std::thread::sleep(std::time::Duration::from_secs(u64::from(LEASE) + 1));
    let (out, stdout, stderr) = run(on(&db, hosts[3].path())
        .env("HOTPAPERS_SMTP_URL", server.url())
        .env("HOTPAPERS_LEASE", LEASE.to_string())
        .args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}{stderr}");

    let ledger = Place::Database(db.open()).open().unwrap();
    let counts = server.count_by_recipient();
    let mut cut = 0;
    for i in 0..N {
        let email = format!("reader{i}@example.org");
        let row = ledger.get(day(), &email).unwrap().unwrap();
        assert_eq!(row.state, State::Sent, "{email}");
        let n = u32::try_from(counts.get(&email).copied().unwrap_or(0)).unwrap();
        assert!(n >= 1, "{email} never received its message");
        // A second copy only where the ledger records a cut mid-transaction.
        assert!(
            n <= 1 + row.unknowns,
            "{email}: {n} copies, {} cut(s) recorded",
            row.unknowns
        );
        cut += row.unknowns;
    }
    assert!(
        cut <= 4 * 8,
        "{cut} cuts: more than the killed worker had in flight"
    );
    // `status`, from another host, shows which worker sent what: all four
    // took part, the killed one included.
    let (out, stdout, _) =
        run(on(&db, tempfile::tempdir().unwrap().path()).args(["status", "--date", "2021-02-12"]));
    assert!(out.status.success());
    assert!(
        stdout.starts_with(&format!("2021-02-12: {N} deliveries recorded: sent {N}")),
        "{stdout}"
    );
    let by = rows_by_worker(&stdout);
    assert_eq!(by.len(), 4, "{by:?}");
    assert!(
        by.keys().any(|w| w.contains(&format!(":{killed_pid}/"))),
        "{by:?}"
    );
    assert!(by.values().all(|&n| n > 0), "{by:?}");
}

#[test]
fn a_reader_who_unsubscribes_during_a_run_is_not_sent_to() {
    use hotpapers::ledger::Place;
    const N: usize = 300;
    let Some(db) = database() else { return };
    readers_in(&db, N);
    let server = SmtpServer::start(Behaviour {
        reply_delay: std::time::Duration::from_millis(2),
        ..Behaviour::default()
    });
    let host = tempfile::tempdir().unwrap();
    // One connection: the last reader's turn comes late.
    let worker = on(&db, host.path())
        .env("HOTPAPERS_CONNECTIONS", "1")
        .env("HOTPAPERS_SMTP_URL", server.url())
        .args(["send", "--date", "2021-02-12"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_messages(&server, 1, 60);
    // From another instance (a web server, say), while the run goes on.
    let last = "reader99@example.org"; // last in address order
    hotpapers::db::PgStore::new(db.open())
        .set_status(
            last,
            hotpapers::model::SubscriberStatus::Unsubscribed,
            hotpapers::model::Channel::OneClick,
            chrono::Utc::now(),
        )
        .unwrap();
    let out = worker.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = server.count_by_recipient();
    assert_eq!(counts.get(last), None, "sent after they unsubscribed");
    let ledger = Place::Database(db.open()).open().unwrap();
    assert_eq!(
        ledger.get(day(), last).unwrap(),
        None,
        "their queued row stays"
    );
    assert_eq!(
        ledger.counts(day()).unwrap().values().sum::<u64>(),
        u64::try_from(N - 1).unwrap()
    );
}

fn day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2021, 2, 12).unwrap()
}

#[test]
fn a_file_installation_moves_into_the_database_with_its_history() {
    let Some(db) = database() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("subscribers")).unwrap();
    std::fs::write(
        dir.path().join("subscribers/subscribers.yaml"),
        "- email: ada@example.org\n  name: Ada\n- email: bob@example.org\n- email: gone@example.org\n  status: unsubscribed\n",
    )
    .unwrap();
    // The day sent from the files first.
    let mut files = on(&db, dir.path());
    files.env_remove("HOTPAPERS_DATABASE_URL");
    let (out, stdout, stderr) = run(files.args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    let sent_before = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .count();

    let (out, stdout, stderr) = run(on(&db, dir.path()).args(["db", "import-files"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("3 subscriber(s)"), "{stdout}");
    assert!(
        stdout.contains("2 delivery row(s) and 0 event(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("counts checked"), "{stdout}");

    let (_, list, _) = run(on(&db, dir.path()).args(["subscribers", "list"]));
    assert!(list.contains("gone@example.org\tunsubscribed"), "{list}");
    assert!(list.contains("ada@example.org\tactive\tAda"), "{list}");
    let (_, status, _) = run(on(&db, dir.path()).args(["status", "--date", "2021-02-12"]));
    assert!(
        status.starts_with("2021-02-12: 2 deliveries recorded: sent 2"),
        "{status}"
    );
    // The day, sent again from the database, sends nothing twice.
    let (out, stdout, stderr) = run(on(&db, dir.path()).args(["send", "--date", "2021-02-12"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        sent_before
    );
    // Twice is refused: the database is no longer empty.
    let (out, _, stderr) = run(on(&db, dir.path()).args(["db", "import-files"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("already holds 3 subscriber(s) and 2 delivery row(s)"),
        "{stderr}"
    );
}

/// `N` CSV rows: row 2 repeated (in capitals) far later, one bad row.
fn large_csv(path: &Path, n: usize) {
    use std::fmt::Write as _;
    let mut csv = String::from("email,name\n");
    for i in 0..n {
        match i {
            29_999 => csv.push_str("not an address,Bad\n"),
            44_999 => csv.push_str("READER1@EXAMPLE.ORG,Again\n"),
            _ => writeln!(csv, "reader{i}@example.org,Reader {i}").unwrap(),
        }
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn a_large_import_goes_in_chunks_keeps_the_first_of_two_rows_and_resumes_after_a_kill() {
    const N: usize = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("large.csv");
    large_csv(&csv, N);
    let Some(db) = database() else { return };
    let (out, stdout, _) = run(on(&db, dir.path())
        .args(["subscribers", "import"])
        .arg(&csv));
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("large.csv:30001:"), "{stdout}");
    assert!(
        stdout.contains("imported 59998 new subscriber(s); 1 already present"),
        "{stdout}"
    );
    let store = hotpapers::db::PgStore::new(db.open());
    let list = store.load().unwrap();
    assert_eq!(list.len(), N - 2);
    assert_eq!(
        list.get("reader1@example.org").unwrap().name.as_deref(),
        Some("Reader 1")
    );

    // Killed partway, then run again: every reader once.
    let Some(db) = database() else { return };
    let mut child = on(&db, dir.path())
        .args(["subscribers", "import"])
        .arg(&csv)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    child.kill().unwrap();
    let _ = child.wait();
    let (_, stdout, _) = run(on(&db, dir.path())
        .args(["subscribers", "import"])
        .arg(&csv));
    let store = hotpapers::db::PgStore::new(db.open());
    assert_eq!(store.load().unwrap().len(), N - 2, "{stdout}");
}

/// The test server's URL with `query` in place of its own.
fn with_query(db: &TestDb, query: &str) -> String {
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_query(Some(query));
    url.to_string()
}

#[test]
fn tls_verifies_the_server_against_sslrootcert_and_refuses_another_ca() {
    let Some(db) = database() else { return };
    let (Ok(ca), Ok(other)) = (
        std::env::var("HOTPAPERS_TEST_DATABASE_CA"),
        std::env::var("HOTPAPERS_TEST_DATABASE_OTHER_CA"),
    ) else {
        return;
    };
    let ssl_of = |url: &str| {
        let settings = hotpapers::db::DatabaseSettings::parse(url).unwrap();
        let db = hotpapers::db::Database::connect(&settings)?;
        db.run(|db| async move {
            let client = db.client().await?;
            let row = client
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .map_err(|e| hotpapers::db::DbError::Data {
                    target: db.target().to_owned(),
                    message: e.to_string(),
                })?;
            Ok(row.get::<_, bool>(0))
        })
    };
    let verified = with_query(&db, &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert!(ssl_of(&verified).unwrap(), "TLS with the right CA");
    let required = with_query(&db, &format!("sslmode=require&sslrootcert={ca}"));
    assert!(ssl_of(&required).unwrap());
    // libpq's `prefer` (the default) and `require` encrypt without checking
    // the certificate: a server whose CA is not known still answers.
    assert!(ssl_of(&db.url).unwrap(), "the default encrypts");
    assert!(ssl_of(&with_query(&db, "sslmode=require")).unwrap());
    let chain = with_query(&db, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert!(ssl_of(&chain).unwrap());
    assert!(
        !ssl_of(&with_query(&db, "sslmode=disable")).unwrap(),
        "no TLS when disabled"
    );
    let wrong = with_query(&db, &format!("sslmode=verify-full&sslrootcert={other}"));
    let refused = ssl_of(&wrong).unwrap_err().to_string();
    assert!(
        refused.starts_with("could not connect to the database"),
        "{refused}"
    );
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    // The commands take the same URL.
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(on(&db, dir.path())
        .env("HOTPAPERS_DATABASE_URL", &verified)
        .args(["db", "status"]));
    assert!(out.status.success(), "{stdout}{stderr}");
}

#[test]
fn claims_never_overlap_and_a_worker_whose_lease_was_taken_over_writes_nothing() {
    use hotpapers::ledger::{
        Applied, Audience, Change, ClaimRule, LedgerError, Place, Queued, State,
    };
    use std::time::Duration;
    let Some(db) = database() else { return };
    readers_in(&db, 10);
    let place = Place::Database(db.open());
    // Two workers: `a` with a short lease, `b` with the default one.
    let a = place.open().unwrap().with_lease(Duration::from_millis(600));
    let b = place.open().unwrap();
    let (ca, cb) = (a.claims().unwrap(), b.claims().unwrap());
    assert_ne!(ca.worker(), cb.worker());
    let everyone: Audience = std::sync::Arc::new(|_| true);
    let rule = ClaimRule {
        since: ca.now().unwrap(),
        unknowns: true,
        resend: false,
    };
    assert_eq!(
        ca.queue(day(), everyone.clone()).unwrap(),
        Queued {
            added: 10,
            again: false
        }
    );
    assert_eq!(
        cb.queue(day(), everyone).unwrap(),
        Queued {
            added: 0,
            again: true
        }
    );

    let first = ca.claim(day(), 4, rule).unwrap();
    let second = cb.claim(day(), 100, rule).unwrap();
    assert_eq!((first.len(), second.len()), (4, 6));
    assert!(first
        .iter()
        .all(|c| second.iter().all(|d| d.email != c.email)));
    assert!(first
        .iter()
        .all(|c| c.state == State::Pending
            && c.subscriber.as_ref().is_some_and(|s| s.email == c.email)));
    assert!(
        cb.claim(day(), 100, rule).unwrap().is_empty(),
        "all ten are held"
    );

    // `a` starts one of its four, then stalls past its lease.
    let now = chrono::Utc::now();
    let x = first[0].email.clone();
    a.start_sending(day(), &x, "<a@x>", now).unwrap();
    std::thread::sleep(Duration::from_millis(900));
    // `b` takes the cut one over as unknown, and the three `a` never tried.
    assert_eq!(cb.recover_expired(day(), now).unwrap(), 1);
    let taken = cb.claim(day(), 100, rule).unwrap();
    assert_eq!(taken.len(), 4);
    assert_eq!(
        taken.iter().find(|c| c.email == x).unwrap().state,
        State::Unknown
    );
    b.start_sending(day(), &x, "<b@x>", now).unwrap();
    b.finish(day(), &x, State::Sent, Some("250 by b"), now)
        .unwrap();

    // `a` wakes up: nothing it writes lands on rows `b` holds.
    let lost = a
        .finish(day(), &x, State::Sent, Some("250 by a"), now)
        .unwrap_err();
    assert!(matches!(lost, LedgerError::LeaseLost { .. }), "{lost}");
    let lost = a
        .start_sending(day(), &first[1].email, "<a2@x>", now)
        .unwrap_err();
    assert!(matches!(lost, LedgerError::LeaseLost { .. }), "{lost}");
    assert_eq!(ca.renew(day()).unwrap(), 0, "it holds nothing any more");
    // In a sender's group only the change on a taken row is refused.
    let applied = a
        .apply(
            day(),
            &[
                Change::Finish {
                    email: x.clone(),
                    state: State::Failed,
                    reply: Some("550 by a".into()),
                    hard: true,
                },
                Change::Start {
                    email: "someone-else@example.org".into(),
                    message_id: "<a3@x>".into(),
                },
            ],
            now,
        )
        .unwrap();
    assert_eq!(applied, [Applied::HeldElsewhere, Applied::Recorded]);
    let row = b.get(day(), &x).unwrap().unwrap();
    assert_eq!(
        (
            row.state,
            row.last_reply.as_deref(),
            row.message_id.as_deref(),
            row.unknowns
        ),
        (State::Sent, Some("250 by b"), Some("<b@x>"), 1)
    );
    let holders = b.workers(day()).unwrap().unwrap();
    let holder = &holders.iter().find(|(e, _)| *e == x).unwrap().1;
    assert_eq!(holder, cb.worker());
}

#[test]
fn renewing_a_lease_skips_the_rows_the_workers_own_writer_has_locked() {
    use hotpapers::ledger::{Audience, Place};
    use std::time::Duration;
    let Some(db) = database() else { return };
    readers_in(&db, 2);
    let writer = Place::Database(db.open()).open().unwrap();
    let claims = writer.claims().unwrap();
    let everyone: Audience = std::sync::Arc::new(|_| true);
    claims.queue(day(), everyone).unwrap();
    let since = claims.now().unwrap();
    let opts = hotpapers::delivery::SendOptions::for_day(day());
    let held = claims.claim(day(), 2, opts.claim_rule(since)).unwrap();
    assert_eq!(held.len(), 2);
    let second_session = claims.session().unwrap();
    // The writer's group holds the first row's lock while the renewal
    // runs: the renewal must renew the other row and return, not wait
    // (waiting deadlocks with a group that then wants a row it renewed).
    let (go, went) = std::sync::mpsc::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let renewal = std::thread::spawn(move || {
        if went.recv().is_ok() {
            let _ = tx.send(second_session.claims().map(|c| c.renew(day())));
        }
    });
    let renewed = writer
        .batch(|w| {
            w.start_sending(day(), &held[0].email, "<1@x>", chrono::Utc::now())?;
            go.send(()).unwrap();
            let renewed = rx.recv_timeout(Duration::from_secs(10));
            assert!(renewed.is_ok(), "the renewal waited on the writer's lock");
            Ok(renewed.unwrap())
        })
        .unwrap();
    renewal.join().unwrap();
    assert_eq!(renewed.unwrap().unwrap(), 1);
}
