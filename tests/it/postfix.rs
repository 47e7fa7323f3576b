//! A throwaway Postfix instance for the tests (`tests/support/postfix.sh`):
//! TLS and AUTH on its submission and smtps ports, a catch-all Maildir, and a
//! relay mode whose refused recipients come back as real DSNs.
//!
//! Needs Debian's `postfix` and `sasl2-bin` (`tests/support/postfix.sh
//! install`, which `.ci/run` runs) and root; without them a test that asks
//! for one says it was skipped, unless `HOTPAPERS_TEST_POSTFIX=require`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/postfix.sh");

/// A throwaway Postfix instance; stopped when dropped.
pub(crate) struct Relay {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Relay {
    /// Starts one with `env` for `postfix.sh start` (its knobs: AUTH
    /// mechanisms, relay mode…); `None` when Postfix is not available here
    /// (and not required).
    pub(crate) fn start(env: &[(&str, &str)]) -> Option<Self> {
        let required = std::env::var("HOTPAPERS_TEST_POSTFIX").is_ok_and(|v| v == "require");
        let usable = Path::new("/usr/sbin/postfix").exists()
            && Path::new("/usr/sbin/saslpasswd2").exists()
            && is_root();
        if !usable {
            assert!(
                !required,
                "HOTPAPERS_TEST_POSTFIX=require, but Postfix, saslpasswd2 or root is missing"
            );
            eprintln!(
                "skipped: the Postfix TLS tests need root and `tests/support/postfix.sh install`"
            );
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("hotpapers-relay-")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = tmp.path().join("postfix");
        let out = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(&dir)
            .envs(env.iter().copied())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "postfix.sh start failed:\n{}\n{}",
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

    pub(crate) fn url(&self, scheme_port: &str) -> String {
        match scheme_port {
            "submission" => format!(
                "smtp://127.0.0.1:{}?tls=required",
                self.get("SUBMISSION_PORT")
            ),
            "submission-no-tls" => format!("smtp://127.0.0.1:{}", self.get("SUBMISSION_PORT")),
            "smtps" => format!("smtps://127.0.0.1:{}", self.get("SMTPS_PORT")),
            "smtps-localhost" => format!("smtps://localhost:{}", self.get("SMTPS_PORT")),
            other => panic!("no such endpoint {other}"),
        }
    }

    /// Messages delivered into the Maildir so far.
    pub(crate) fn delivered(&self) -> Vec<String> {
        let new = Path::new(self.get("MAILDIR")).join("new");
        std::fs::read_dir(new)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `n` messages are in the Maildir (Postfix delivers after
    /// accepting), then gives them.
    pub(crate) fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.delivered();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Relay {
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
