//! Turning a request path into a file under the built folder, refusing every
//! way out of it: `..` (plain or percent-encoded), encoded slashes and
//! backslashes, empty segments (`//etc/passwd`), NUL, drive letters, and
//! dot-files (`.git`, `.env`), which are never served.

use percent_encoding::percent_decode_str;

/// A request path that was checked and split into safe segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SitePath {
    /// Decoded segments, none empty, none starting with a dot.
    pub(crate) segments: Vec<String>,
    /// The path ended in `/` (a folder was asked for).
    pub(crate) trailing_slash: bool,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An attempt to leave the folder or a malformed path: 400.
    Traversal,
    /// A dot-file or dot-folder: answered 404, as if it did not exist.
    Hidden,
}

impl SitePath {
    /// Checks the raw (still percent-encoded) path of a request URI.
    pub(crate) fn parse(raw: &str) -> Result<Self, Refusal> {
        let rest = raw.strip_prefix('/').ok_or(Refusal::Traversal)?;
        let lower = rest.to_ascii_lowercase();
        // Encoded separators and NUL would change meaning after decoding.
        if rest.contains('\\') || ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e)) {
            return Err(Refusal::Traversal);
        }
        let trailing_slash = rest.is_empty() || rest.ends_with('/');
        let body = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if body.is_empty() {
            return Ok(Self {
                segments,
                trailing_slash,
            });
        }
        for raw_segment in body.split('/') {
            let segment = percent_decode_str(raw_segment)
                .decode_utf8()
                .map_err(|_| Refusal::Traversal)?;
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(Refusal::Traversal);
            }
            if segment.contains(['/', '\\', '\0', ':']) || segment.chars().any(char::is_control) {
                return Err(Refusal::Traversal);
            }
            if segment.starts_with('.') {
                return Err(Refusal::Hidden);
            }
            segments.push(segment.into_owned());
        }
        Ok(Self {
            segments,
            trailing_slash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_split_into_segments() {
        let p = SitePath::parse("/2021-02-12/").unwrap();
        assert_eq!(p.segments, ["2021-02-12"]);
        assert!(p.trailing_slash);
        let p = SitePath::parse("/categories/cs.CV.xml").unwrap();
        assert_eq!(p.segments, ["categories", "cs.CV.xml"]);
        assert!(!p.trailing_slash);
        assert_eq!(SitePath::parse("/").unwrap().segments, Vec::<String>::new());
        assert_eq!(
            SitePath::parse("/a%20b.html").unwrap().segments,
            ["a b.html"]
        );
    }

    #[test]
    fn every_way_out_of_the_folder_is_refused() {
        for p in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/%2e%2e/etc/passwd",
            "/..%2fetc%2fpasswd",
            "/a%2F..%2F..%2Fetc",
            "/..%5c..%5cwindows",
            "/a\\..\\b",
            "//etc/passwd",
            "/a//b",
            "/./a",
            "/c:/windows",
            "/a%00.html",
            "etc/passwd",
            "/%ff%fe",
        ] {
            assert_eq!(SitePath::parse(p), Err(Refusal::Traversal), "{p}");
        }
    }

    #[test]
    fn dot_files_are_hidden() {
        for p in ["/.env", "/.git/config", "/a/.htaccess", "/%2egit/HEAD"] {
            assert_eq!(SitePath::parse(p), Err(Refusal::Hidden), "{p}");
        }
    }
}
