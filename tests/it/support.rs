//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file or folder under `tests/fixtures/`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The real `hotpapers` binary, run from a clean environment so a developer's
/// `.env` or `HOTPAPERS_*` variables cannot change the outcome.
///
/// It runs in `tests/fixtures/workdir/`, which holds no `digests/` or
/// `subscribers/` (a test that leaves a folder to its default fails there
/// instead of reading the operator's at the repository root) and an empty
/// `.env` (which stops the search for one before the repository root).
/// Tests that need a working folder of their own set `current_dir` again.
pub(crate) fn hotpapers() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpapers"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOTPAPERS_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(fixture("workdir"));
    cmd
}

/// Runs a command and returns its output as text, with stdout and stderr.
pub(crate) fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `hotpapers serve --out OUT` started from `cmd` (with the caller's
/// settings) on a free loopback port; killed when dropped. Its log is read
/// on so that it never blocks on a full pipe.
pub(crate) struct Served {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) base: String,
}

impl Served {
    pub(crate) fn start(cmd: &mut Command, out: &Path) -> Self {
        use std::io::BufRead;
        let mut child = cmd
            .args(["serve", "--addr", "127.0.0.1:0", "--out"])
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let base = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "serve exited early"
            );
            if let Some(rest) = line.trim().strip_prefix("listening on ") {
                break rest.trim_end_matches('/').to_owned();
            }
        };
        std::thread::spawn(move || for _ in stderr.lines() {});
        Self { child, base }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
