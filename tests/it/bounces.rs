//! `bounces::classify` on hostile input. The classifier's per-family tests
//! and their fixtures (`tests/fixtures/bounces/README.md` lists them) were
//! lost before they were committed (`*.eml` was ignored by git) and are to
//! be written again; real DSNs, an ARF complaint and mailto unsubscribes are
//! classified end to end in `bounce_loop.rs`.

use std::time::{Duration, Instant};

use hotpapers::bounces::{classify, Kind};

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

/// A real DSN, written by Postfix (Debian) in this session: the next hop
/// refused the connection and `maximal_queue_lifetime = 0` returned it at once.
#[test]
fn a_real_postfix_dsn_names_its_recipient_status_and_the_verp_address() {
    let raw = std::fs::read(crate::support::fixture(
        "bounces/postfix-connection-refused.eml",
    ))
    .unwrap();
    let r = classify(&raw);
    assert_eq!(r.kind, Kind::Bounce, "{r:?}");
    let first = &r.recipients[0];
    assert_eq!(first.address.as_deref(), Some("x@example.org"));
    assert_eq!(first.status.as_deref(), Some("4.4.1"));
    assert!(!first.hard, "a refused connection is no dead address");
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
