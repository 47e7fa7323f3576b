//! Errors from reading digests: always the file, the line, what was expected
//! and what was found.

use std::path::PathBuf;

use thiserror::Error;

/// A digest file that could not be read or does not follow the format.
#[derive(Debug, Error)]
pub enum DigestError {
    /// The file does not follow the digest format at `line` (1-based).
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The digest file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// The file could not be read at all.
    #[error("{}: could not read the file: {source}", path.display())]
    Io {
        /// The digest file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two digest files give the same day.
    #[error("{}: duplicate digest for {date}: also in `{}`", path.display(), other.display())]
    DuplicateDate {
        /// The file that was skipped.
        path: PathBuf,
        /// The day both files give.
        date: chrono::NaiveDate,
        /// The file that was kept.
        other: PathBuf,
    },
}

impl DigestError {
    /// The file the error is about.
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Syntax { path, .. }
            | Self::Io { path, .. }
            | Self::DuplicateDate { path, .. } => path,
        }
    }

    /// The line the error is about, when it has one.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Syntax { line, .. } => Some(*line),
            _ => None,
        }
    }
}
