//! A throwaway Dovecot IMAPS server for the tests (`tests/support/dovecot.sh`):
//! one user, implicit TLS with a test CA, mail delivered by dovecot-lda.
//!
//! Needs Debian's `dovecot-imapd` (`tests/support/dovecot.sh install`, which
//! `.ci/run` runs) and root; without them a test that asks for one says it
//! was skipped, unless `HOTPAPERS_TEST_DOVECOT=require`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/dovecot.sh");

/// A running instance; stopped when dropped.
pub(crate) struct Dovecot {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Dovecot {
    /// Starts one; `None` when Dovecot is not available here (and not required).
    pub(crate) fn start() -> Option<Self> {
        let required = std::env::var("HOTPAPERS_TEST_DOVECOT").is_ok_and(|v| v == "require");
        let usable = Path::new("/usr/sbin/dovecot").exists() && is_root();
        if !usable {
            assert!(
                !required,
                "HOTPAPERS_TEST_DOVECOT=require, but Dovecot or root is missing"
            );
            eprintln!("skipped: the IMAP tests need root and `tests/support/dovecot.sh install`");
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("hotpapers-imap-")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = tmp.path().join("dovecot");
        let out = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "dovecot.sh start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(Self {
            _tmp: tmp,
            dir,
            env,
        })
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// `imaps://localhost:PORT/MAILBOX`.
    pub(crate) fn url(&self, mailbox: &str) -> String {
        format!("imaps://localhost:{}/{mailbox}", self.get("IMAPS_PORT"))
    }

    /// Delivers `message` to the user's INBOX, as an MTA does.
    pub(crate) fn deliver(&self, message: &str) {
        let mut child = Command::new("bash")
            .arg(SCRIPT)
            .arg("deliver")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(message.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dovecot-lda: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// How many messages a folder holds (`""` is INBOX), read from the
    /// server's own Maildir.
    pub(crate) fn count(&self, folder: &str) -> usize {
        let root = Path::new(self.get("MAILDIR"));
        let dir = if folder.is_empty() {
            root.to_path_buf()
        } else {
            root.join(format!(".{folder}"))
        };
        ["new", "cur"]
            .iter()
            .map(|sub| std::fs::read_dir(dir.join(sub)).map_or(0, Iterator::count))
            .sum()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
