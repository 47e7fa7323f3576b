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

const SECRET: &str = "0b7e3c9a5d1f8e2b4a6c0d9e7f1a3b5c8d2e4f6a9b1c3d5e7f0a2b4c6d8e1f3a";

fn cmd(work: &Path) -> Command {
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
