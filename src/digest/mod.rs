//! Reading digest files into the model: bytes → repaired text → [`Digest`].
//!
//! First stage of the pipeline; it knows nothing of feeds or mail. The only
//! I/O here is reading the files it is pointed at.

mod archive;
mod error;
mod front_matter;
mod parse;
mod repair;
mod tweet;

use std::path::Path;

pub use archive::{digest_files, load_archive, Archive, LoadedDigest};
pub use error::DigestError;
pub use parse::{parse_digest, Warning};
pub use repair::{decode, repair, Repair};

use crate::model::Digest;

/// Files larger than this are not digests (a day is 30–60 KB); refusing them
/// bounds time and memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A digest read from a file, with what had to be repaired and what looked odd.
#[derive(Debug, Clone)]
pub struct ParsedDigest {
    /// The parsed digest.
    pub digest: Digest,
    /// The text repair that was applied, if any.
    pub repair: Option<Repair>,
    /// Oddities that did not stop the parse.
    pub warnings: Vec<Warning>,
}

/// Reads and parses one digest file.
///
/// # Errors
/// When the file cannot be read, is too large, is binary, or does not follow
/// the format; the error names the file and line.
pub fn read_digest(path: &Path) -> Result<ParsedDigest, DigestError> {
    parse_bytes(path, &read_digest_bytes(path)?)
}

/// The bytes of a digest file, refused when it is larger than any digest.
///
/// # Errors
/// When the file cannot be read or is too large.
pub fn read_digest_bytes(path: &Path) -> Result<Vec<u8>, DigestError> {
    let io = |source| DigestError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(DigestError::Syntax {
            path: path.to_owned(),
            line: 1,
            message: format!(
                "the file is {size} bytes: expected a digest of at most {MAX_FILE_BYTES} bytes"
            ),
        });
    }
    std::fs::read(path).map_err(io)
}

/// Parses the bytes of a digest: decode, repair mojibake, parse.
///
/// # Errors
/// As [`read_digest`].
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<ParsedDigest, DigestError> {
    let Some((text, decoded)) = decode(bytes) else {
        let line = first_binary_line(bytes);
        return Err(DigestError::Syntax {
            path: path.to_owned(),
            line,
            message: "expected a text file, found binary data (control characters)".into(),
        });
    };
    let (text, repaired) = repair(&text);
    let (digest, warnings) = parse_digest(path, &text)?;
    Ok(ParsedDigest {
        digest,
        repair: decoded.or(repaired),
        warnings,
    })
}

fn first_binary_line(bytes: &[u8]) -> usize {
    let at = bytes
        .iter()
        .position(|&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C)))
        .unwrap_or(0);
    // A handful of calls, on error paths only: no need for a SIMD counter.
    #[allow(clippy::naive_bytecount)]
    let lines = bytes[..at].iter().filter(|&&b| b == b'\n').count();
    1 + lines
}
