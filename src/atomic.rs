//! The one way this program replaces a file: write a temporary file in the
//! same folder, sync it, give it the old file's mode (and owner, where the
//! process may), rename it over the old one, and sync the folder. A crash or a
//! full disk at any point leaves the old file or the new one, never half of
//! either, and never a stray temporary file (it is removed on every error).
//!
//! Used by the generated site (`output`), the subscriber files and the send
//! state; nothing else writes files in place.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Permissions of a file that does not exist yet (an existing file keeps its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewFileMode {
    /// 0644: published files a web server must read.
    Public,
    /// 0600: state that holds readers' addresses or tokens.
    Private,
}

impl NewFileMode {
    #[cfg(unix)]
    fn bits(self) -> u32 {
        match self {
            Self::Public => 0o644,
            Self::Private => 0o600,
        }
    }
}

/// Replaces `path` with `bytes` atomically and durably; parent folders are
/// created. An existing file keeps its permissions and (when allowed) its
/// owner and group; a new one gets `mode`.
///
/// # Errors
/// When the folder cannot be created or synced, or the temporary file cannot
/// be written or renamed; the old file is then as it was.
pub fn replace(path: &Path, bytes: &[u8], mode: NewFileMode) -> io::Result<()> {
    replace_with(path, bytes, mode, Sync::Now)
}

/// [`replace`] without waiting for the disk: atomic for every reader at
/// once, durable only after [`sync_filesystem`]. For the many files of one
/// build, each flushed by a single call at its end instead of two fsyncs
/// apiece; what records that the files are done (the build's cache) is
/// written after that call, with [`replace`].
///
/// # Errors
/// As [`replace`].
pub fn replace_deferred(path: &Path, bytes: &[u8], mode: NewFileMode) -> io::Result<()> {
    replace_with(path, bytes, mode, Sync::Later)
}

/// Makes every file written under `dir` (and the rest of its file system)
/// durable: `syncfs` on Linux, `sync` on other Unix systems.
///
/// # Errors
/// When `dir` cannot be opened or the kernel reports a write error.
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let folder = fs::File::open(dir)?;
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::syncfs(folder.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = dir;
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    Now,
    Later,
}

fn replace_with(path: &Path, bytes: &[u8], mode: NewFileMode, sync: Sync) -> io::Result<()> {
    let existing = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Some(meta),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("`{}` exists and is not a file", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    // Dropped (and so deleted) on every early return below.
    let mut tmp = tempfile::Builder::new()
        .prefix(".hotpapers-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if sync == Sync::Now {
        tmp.as_file().sync_all()?;
    }
    match &existing {
        Some(meta) => {
            tmp.as_file().set_permissions(meta.permissions())?;
            keep_owner(tmp.as_file(), meta);
        }
        None => set_new_mode(tmp.as_file(), mode)?,
    }
    tmp.persist(path).map_err(|e| e.error)?;
    match sync {
        Sync::Now => sync_folder(dir),
        Sync::Later => Ok(()),
    }
}

/// Creates `path` empty with `mode` if it does not exist (for files another
/// library opens, such as the SQLite ledger, so they start private).
///
/// # Errors
/// When the folder or the file cannot be created.
pub fn create_if_missing(path: &Path, mode: NewFileMode) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode.bits());
    }
    #[cfg(not(unix))]
    let _ = mode;
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The rename is durable only once the folder entry is on disk.
fn sync_folder(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(unix)]
fn set_new_mode(file: &fs::File, mode: NewFileMode) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode.bits()))
}

#[cfg(not(unix))]
fn set_new_mode(_file: &fs::File, _mode: NewFileMode) -> io::Result<()> {
    Ok(())
}

/// Best effort: only root may give a file away; anyone may keep their own.
#[cfg(unix)]
fn keep_owner(file: &fs::File, meta: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_file: &fs::File, _meta: &fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    #[test]
    fn rewriting_a_private_file_keeps_it_private_and_new_files_get_the_asked_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let list = dir.path().join("subscribers.yaml");
        fs::write(&list, "old").unwrap();
        fs::set_permissions(&list, fs::Permissions::from_mode(0o600)).unwrap();
        replace(&list, b"new", NewFileMode::Public).unwrap();
        assert_eq!(fs::read(&list).unwrap(), b"new");
        assert_eq!(mode(&list), 0o600, "the old file's mode is kept");
        let fresh = dir.path().join("state/new.yaml");
        replace(&fresh, b"x", NewFileMode::Private).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        let page = dir.path().join("index.html");
        replace(&page, b"x", NewFileMode::Public).unwrap();
        assert_eq!(mode(&page), 0o644);
        let db = dir.path().join("state/ledger.db");
        create_if_missing(&db, NewFileMode::Private).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("in-the-way");
        fs::create_dir(&target).unwrap();
        let err = replace(&target, b"x", NewFileMode::Public).unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");
        // A parent that is a file: nothing can be created there.
        let file = dir.path().join("file");
        fs::write(&file, "old").unwrap();
        let blocked = file.join("child");
        assert!(replace(&blocked, b"x", NewFileMode::Public).is_err());
        assert_eq!(names(dir.path()), ["file", "in-the-way"]);
        assert_eq!(fs::read(&file).unwrap(), b"old");
    }
}
