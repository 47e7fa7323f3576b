//! A Maildir of returned mail: what is still to process (everything in
//! `new/`, and messages in `cur/` without the Seen flag), and marking a
//! message processed by moving it to `cur/` with `:2,S` — one rename, so a
//! message is either still pending or done, whatever moment a crash comes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A Maildir folder (with `new/` and `cur/`).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// One message waiting to be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Where it is now.
    pub path: PathBuf,
    /// Its unique name (without the `:2,` info part).
    pub unique: String,
    /// Its flags so far (sorted letters after `:2,`).
    pub flags: String,
}

/// The flag that says a message was processed (Seen).
const PROCESSED: char = 'S';

impl Maildir {
    /// The Maildir at `root`.
    ///
    /// # Errors
    /// When `root/new` or `root/cur` is not a folder.
    pub fn open(root: &Path) -> io::Result<Self> {
        for sub in ["new", "cur"] {
            let p = root.join(sub);
            if !p.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("`{}` is not a Maildir (no `{sub}/` folder)", root.display()),
                ));
            }
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// Messages to process, oldest name first: all of `new/`, and the ones
    /// in `cur/` not yet flagged processed. Dot-files are not messages.
    ///
    /// # Errors
    /// When a folder cannot be read.
    pub fn pending(&self) -> io::Result<Vec<Pending>> {
        let mut out = Vec::new();
        for (sub, from_new) in [("new", true), ("cur", false)] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                let (unique, flags) = match name.split_once(":2,") {
                    Some((u, f)) => (u.to_owned(), f.to_owned()),
                    None => (name.clone(), String::new()),
                };
                if !from_new && flags.contains(PROCESSED) {
                    continue;
                }
                out.push(Pending {
                    path: entry.path(),
                    unique,
                    flags,
                });
            }
        }
        out.sort_by(|a, b| a.unique.cmp(&b.unique));
        Ok(out)
    }

    /// Moves `message` to `cur/` flagged processed (keeping its other flags),
    /// and makes the move durable.
    ///
    /// # Errors
    /// When the rename or the folder sync fails; the message is then still pending.
    pub fn mark_processed(&self, message: &Pending) -> io::Result<PathBuf> {
        let mut flags: Vec<char> = message.flags.chars().collect();
        flags.push(PROCESSED);
        flags.sort_unstable();
        flags.dedup();
        let flags: String = flags.into_iter().collect();
        let cur = self.root.join("cur");
        let target = cur.join(format!("{}:2,{flags}", message.unique));
        fs::rename(&message.path, &target)?;
        fs::File::open(&cur)?.sync_all()?;
        if let Some(from) = message.path.parent().filter(|p| *p != cur) {
            fs::File::open(from)?.sync_all()?;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_unseen_cur_messages_are_pending_and_processing_moves_them_once() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("new/1.a.host"), "x").unwrap();
        fs::write(dir.path().join("cur/2.b.host:2,F"), "y").unwrap();
        fs::write(dir.path().join("cur/3.c.host:2,S"), "z").unwrap();
        fs::write(dir.path().join("new/.hidden"), "").unwrap();
        let m = Maildir::open(dir.path()).unwrap();
        let pending = m.pending().unwrap();
        let names: Vec<&str> = pending.iter().map(|p| p.unique.as_str()).collect();
        assert_eq!(names, ["1.a.host", "2.b.host"]);
        for p in &pending {
            m.mark_processed(p).unwrap();
        }
        assert!(m.pending().unwrap().is_empty());
        assert!(dir.path().join("cur/1.a.host:2,S").exists());
        assert!(dir.path().join("cur/2.b.host:2,FS").exists());
        assert!(Maildir::open(&dir.path().join("new")).is_err());
    }
}
