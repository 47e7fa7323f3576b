//! Writing generated files: only when their bytes changed, and atomically, so
//! a web server or a feed reader never sees half a file and an unchanged feed
//! keeps its modification time (and its HTTP caching validators).
//!
//! Used by the commands in `cmd/`; renderers never write.

use std::fs;
use std::io;
use std::path::Path;

use crate::atomic::{self, NewFileMode};

/// Writes `bytes` to `path` unless the file already holds exactly these bytes.
/// Parent folders are created; the write is [`atomic::replace`] (an existing
/// file keeps its mode, a new one is 0644 so a web server can read it).
///
/// Returns `true` when the file was written, `false` when it was unchanged.
///
/// # Errors
/// When the folder cannot be created or the file cannot be read, written or
/// renamed.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    write_changed(path, bytes, atomic::replace)
}

/// [`write_if_changed`] with [`atomic::replace_deferred`]: durable once the
/// caller has called [`atomic::sync_filesystem`].
///
/// # Errors
/// As [`write_if_changed`].
pub fn write_if_changed_deferred(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    write_changed(path, bytes, atomic::replace_deferred)
}

fn write_changed(
    path: &Path,
    bytes: &[u8],
    replace: fn(&Path, &[u8], NewFileMode) -> io::Result<()>,
) -> io::Result<bool> {
    let unchanged = match fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.len() == bytes.len() as u64 && fs::read(path)? == bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    if unchanged {
        return Ok(false);
    }
    replace(path, bytes, NewFileMode::Public)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_new_then_skips_identical_then_rewrites_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/feed.xml");
        assert!(
            write_if_changed(&path, b"one").unwrap(),
            "new file is written"
        );
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert!(
            !write_if_changed(&path, b"one").unwrap(),
            "same bytes: untouched"
        );
        assert!(
            write_if_changed(&path, b"two").unwrap(),
            "changed bytes: rewritten"
        );
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(
            write_if_changed(&path, b"twe").unwrap(),
            "same length, different bytes"
        );
        let left: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["feed.xml"], "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_world_readable_and_old_modes_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        write_if_changed(&path, b"x").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_if_changed(&path, b"y").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_folder_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_if_changed(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");
    }
}
