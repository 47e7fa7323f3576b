//! Regression tests for what an outside audit broke (issue "Hardening"), one
//! test per finding, named after it, run against the real binary.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support::{fixture, hotpapers, run};

const STRONG: &str = "5c1e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e";

fn send_cmd(dir: &Path, secret: Option<&str>) -> Command {
    let mut cmd = hotpapers();
    cmd.current_dir(dir)
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SUBSCRIBERS", dir.join("subscribers.yaml"))
        .env("HOTPAPERS_STATE", dir.join("state/hotpapers.db"))
        .env_remove("RUST_LOG");
    if let Some(s) = secret {
        cmd.env("HOTPAPERS_SECRET", s);
    }
    cmd
}

fn two_readers(dir: &Path) {
    std::fs::write(
        dir.join("subscribers.yaml"),
        "- email: ada@example.org\n  name: Ada\n- email: grace@example.org\n",
    )
    .unwrap();
}

#[test]
fn debug_logs_never_carry_smtp_credentials_or_tokens() {
    let (user, password) = ("hotpapers-user", "pw-Zq8!vN3#kL0");
    let server = SmtpServer::start(Behaviour {
        auth: Some((user.to_owned(), password.to_owned())),
        ..Behaviour::default()
    });
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets = [
        password.to_owned(),
        b64(format!("\0{user}\0{password}").as_bytes()),
        b64(password.as_bytes()),
    ];
    for (rust_log, verbosity) in [(None, "-vv"), (Some("trace"), "-vv"), (Some("debug"), "-v")] {
        let dir = tempfile::tempdir().unwrap();
        two_readers(dir.path());
        let mut cmd = send_cmd(dir.path(), Some(STRONG));
        cmd.env("HOTPAPERS_SMTP_URL", server.url())
            .env("HOTPAPERS_SMTP_USER", user)
            .env("HOTPAPERS_SMTP_PASSWORD", password)
            .args([verbosity, "send", "--date", "2021-02-19"]);
        if let Some(l) = rust_log {
            cmd.env("RUST_LOG", l);
        }
        let (out, stdout, stderr) = run(&mut cmd);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(!stderr.is_empty(), "a verbose run logs something");
        for s in &secrets {
            assert!(
                !stderr.contains(s.as_str()),
                "RUST_LOG={rust_log:?}: `{s}` is in the log"
            );
        }
        assert!(
            !stderr.contains("AUTH"),
            "no AUTH line is logged:\n{stderr}"
        );
        assert!(!stderr.contains("Wrote:"), "no wire trace is logged");
    }
    // Every token the messages carry (unsubscribe links), never in any log.
    let received = server.received();
    assert_eq!(received.len(), 6, "3 runs × 2 readers");
    let tokens: Vec<String> = received
        .iter()
        .filter_map(|m| m.header("List-Unsubscribe"))
        .filter_map(|h| {
            let start = h.find("token=")? + 6;
            let rest = &h[start..];
            Some(rest[..rest.find(['>', '&']).unwrap_or(rest.len())].to_owned())
        })
        .collect();
    assert_eq!(tokens.len(), 6);
    let dir = tempfile::tempdir().unwrap();
    two_readers(dir.path());
    let (_, _, stderr) = run(send_cmd(dir.path(), Some(STRONG))
        .env("HOTPAPERS_SMTP_URL", server.url())
        .env("HOTPAPERS_SMTP_USER", user)
        .env("HOTPAPERS_SMTP_PASSWORD", password)
        .env("RUST_LOG", "trace")
        .args(["-vv", "send", "--date", "2021-02-19", "--resend"]));
    for t in &tokens {
        assert!(!stderr.contains(t.as_str()), "token `{t}` is in the log");
    }
    assert!(
        !stderr.contains("ada@example.org\r\n"),
        "no message data in the log"
    );
}

#[test]
fn public_or_weak_secrets_are_refused_for_smtp_and_public_serve() {
    let weak: [Option<String>; 5] = [
        None,
        Some("hotpapers-development-secret-do-not-use-in-production".into()),
        Some("change-me-to-64-random-hex-characters".into()),
        Some("a".repeat(16)),
        Some("0".repeat(64)),
    ];
    let server = SmtpServer::start(Behaviour::default());
    for secret in &weak {
        let dir = tempfile::tempdir().unwrap();
        two_readers(dir.path());
        let (out, _, stderr) = run(send_cmd(dir.path(), secret.as_deref())
            .env("HOTPAPERS_SMTP_URL", server.url())
            .args(["send", "--date", "2021-02-19"]));
        assert_eq!(out.status.code(), Some(1), "{secret:?}: {stderr}");
        assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
        let (out, _, stderr) = run(send_cmd(dir.path(), secret.as_deref())
            .env("HOTPAPERS_SMTP_URL", server.url())
            .args(["send", "--date", "2021-02-19", "--to", "ada@example.org"]));
        assert_eq!(out.status.code(), Some(1), "--to too: {stderr}");
        let (out, _, stderr) = run(send_cmd(dir.path(), secret.as_deref()).args([
            "--site-url",
            "https://papers.example.org/",
            "serve",
            "--addr",
            "127.0.0.1:0",
        ]));
        assert_eq!(out.status.code(), Some(1), "serve, public URL: {stderr}");
        assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
        if let Some(s) = secret {
            assert!(!stderr.contains(s.as_str()), "the secret is not echoed");
        }
    }
    assert!(server.received().is_empty(), "nothing was sent");
    // The outbox (nothing leaves the machine) still works with the built-in key.
    let dir = tempfile::tempdir().unwrap();
    two_readers(dir.path());
    let (out, _, stderr) = run(send_cmd(dir.path(), None).args(["send", "--date", "2021-02-19"]));
    assert!(out.status.success(), "{stderr}");
}

/// Audit finding 8: a 5,000-character display name made a 5,028-octet `To:`
/// line, the server answered `500 Line too long`, and that counted toward
/// marking the reader bounced.
#[test]
fn a_long_display_name_is_cut_and_no_header_line_passes_998_octets() {
    let dir = tempfile::tempdir().unwrap();
    let name = "Ada Lovelace ".repeat(400);
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        format!("- email: ada@example.org\n  name: {}\n", name.trim()),
    )
    .unwrap();
    let server = SmtpServer::start(Behaviour::default());
    let (out, stdout, stderr) = run(send_cmd(dir.path(), Some(STRONG))
        .env("HOTPAPERS_SMTP_URL", server.url())
        .args(["send", "--date", "2021-02-19"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let received = server.received();
    assert_eq!(received.len(), 1);
    let data = &received[0].data;
    let head = data.split("\r\n\r\n").next().unwrap();
    for line in head.split("\r\n") {
        assert!(line.len() <= 998, "{} octets: {}", line.len(), &line[..60]);
    }
    let to = received[0].header("To").unwrap();
    assert!(
        to.len() < 200,
        "the name is cut (64 characters, encoded): {to}"
    );
    assert!(to.contains("ada@example.org"), "{to}");
}

/// Audit finding 10: CLI output passed raw control characters through
/// (`subscribers list` printed fake rows for a name holding CR/LF, `parse`
/// sent ESC to the terminal).
#[test]
fn human_readable_output_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.yaml");
    std::fs::write(
        &list,
        "- email: eve@example.org\n  name: \"Eve\\r\\nmallory@example.org\\tactive\\t\\u001b[31mred\"\n",
    )
    .unwrap();
    let (out, stdout, _) = run(hotpapers()
        .env("HOTPAPERS_SUBSCRIBERS", &list)
        .args(["subscribers", "list"]));
    assert!(out.status.success());
    assert_eq!(stdout.lines().count(), 1, "one row per reader: {stdout:?}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("\\r\\n") && stdout.contains("\\u{1b}"),
        "{stdout:?}"
    );

    let digest = dir.path().join("2021-03-01.md");
    let text = std::fs::read_to_string(fixture("valid/minimal.md"))
        .unwrap()
        .replacen("title:", "title: \"\\e[2J\\e[31mowned\" #", 1);
    std::fs::write(&digest, text).unwrap();
    let (_, stdout, stderr) = run(hotpapers().arg("parse").arg(&digest));
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// Audit finding 7: rewriting the subscriber file made a 0600 file 0644,
/// exposing readers' addresses and names.
#[cfg(unix)]
#[test]
fn rewriting_the_subscriber_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.yaml");
    std::fs::write(&list, "- email: ada@example.org\n").unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, _, stderr) = run(hotpapers().env("HOTPAPERS_SUBSCRIBERS", &list).args([
        "subscribers",
        "add",
        "grace@example.org",
    ]));
    assert!(out.status.success(), "{stderr}");
    let mode = std::fs::metadata(&list).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A list the store creates is private from the start.
    let fresh = dir.path().join("new/subscribers.yaml");
    let (out, _, stderr) = run(hotpapers().env("HOTPAPERS_SUBSCRIBERS", &fresh).args([
        "subscribers",
        "add",
        "grace@example.org",
    ]));
    assert!(out.status.success(), "{stderr}");
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// Audit finding 13: a full disk during a subscriber write left the
/// temporary file behind. The disk is made "full" for the process with a
/// file-size limit (writes fail with EFBIG; SIGXFSZ is ignored).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_during_a_subscriber_write_leaves_the_old_file_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.yaml");
    let original: String = (0..200)
        .map(|i| format!("- email: reader{i}@example.org\n"))
        .collect();
    std::fs::write(&list, &original).unwrap();
    let binary = env!("CARGO_BIN_EXE_hotpapers");
    let (out, _, stderr) = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 4; exec '{binary}' subscribers add grace@example.org"
        ))
        .current_dir(dir.path())
        .env("HOTPAPERS_SUBSCRIBERS", &list));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not write"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&list).unwrap(), original);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock" && n != "subscribers.yaml.lock")
        .collect();
    assert_eq!(names, ["subscribers.yaml"], "no temporary file left");
}

/// Audit finding 9: addresses that `subscribers check` and `/subscribe`
/// accepted but the envelope refuses.
#[test]
fn addresses_the_envelope_refuses_are_refused_at_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.yaml");
    std::fs::write(
        &list,
        "- email: ok@example.org\n- email: '\"quoted local\"@example.org'\n- email: x@[127.0.0.1]\n",
    )
    .unwrap();
    let (out, stdout, _) = run(hotpapers()
        .env("HOTPAPERS_SUBSCRIBERS", &list)
        .args(["subscribers", "check"]));
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains(":2: invalid address"), "{stdout}");
    assert!(stdout.contains(":3: invalid address"), "{stdout}");
    for bad in ["\"quoted local\"@example.org", "x@[127.0.0.1]"] {
        let (out, _, stderr) = run(hotpapers()
            .env("HOTPAPERS_SUBSCRIBERS", dir.path().join("other.yaml"))
            .args(["subscribers", "add", bad]));
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
    }
}

/// Audit finding 11, in the mail: a bidi override in a reader's name flipped
/// what the To: display shows.
#[test]
fn bidi_overrides_never_reach_the_to_display() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subscribers.yaml"),
        "- email: ada@example.org\n  name: \"Ada \\u202Egpj.exe\"\n",
    )
    .unwrap();
    let server = SmtpServer::start(Behaviour::default());
    let (out, stdout, stderr) = run(send_cmd(dir.path(), Some(STRONG))
        .env("HOTPAPERS_SMTP_URL", server.url())
        .args(["send", "--date", "2021-02-19"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let received = server.received();
    let m = mail_parser::MessageParser::default()
        .parse(received[0].data.as_bytes())
        .unwrap();
    let to = m.to().unwrap().first().unwrap().name().unwrap().to_owned();
    assert_eq!(to, "Ada gpj.exe");
    assert!(!received[0].data.contains('\u{202E}'));
}
