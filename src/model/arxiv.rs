//! arXiv identifiers and subject categories, validated once so that later
//! stages can use them in URLs and file names without checking again.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An arXiv identifier without version: new style `2102.06171` or old style
/// `hep-th/9901001`. Safe to put in URLs and file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArxivId(String);

impl ArxivId {
    /// Parses an identifier, dropping a trailing version (`v2`).
    ///
    /// # Errors
    /// When the text is not an arXiv identifier.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let base = strip_version(s);
        if is_new_style(base) || is_old_style(base) {
            Ok(Self(base.to_owned()))
        } else {
            Err(format!("`{s}` is not an arXiv identifier"))
        }
    }

    /// Takes the identifier from an abs or pdf URL
    /// (`https://arxiv.org/abs/2102.06171v2`, `http://arxiv.org/pdf/2102.06171.pdf`).
    ///
    /// # Errors
    /// When the URL is not an arXiv abs/pdf URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
        let host = parsed.host_str().unwrap_or_default();
        if !(host == "arxiv.org" || host.ends_with(".arxiv.org")) {
            return Err(format!("`{url}` is not an arxiv.org URL"));
        }
        let path = parsed.path();
        let rest = path
            .strip_prefix("/abs/")
            .or_else(|| path.strip_prefix("/pdf/"))
            .ok_or_else(|| format!("`{url}` is not an arXiv abs or pdf URL"))?;
        let rest = rest.trim_end_matches('/');
        let rest = rest.strip_suffix(".pdf").unwrap_or(rest);
        Self::parse(rest).map_err(|_| format!("`{url}` does not end in an arXiv identifier"))
    }

    /// The identifier as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://arxiv.org/abs/ID`.
    #[must_use]
    pub fn abs_url(&self) -> String {
        format!("https://arxiv.org/abs/{}", self.0)
    }

    /// `https://arxiv.org/pdf/ID`.
    #[must_use]
    pub fn pdf_url(&self) -> String {
        format!("https://arxiv.org/pdf/{}", self.0)
    }
}

fn strip_version(s: &str) -> &str {
    if let Some(pos) = s.rfind('v') {
        let (head, tail) = s.split_at(pos);
        if tail.len() > 1 && tail[1..].bytes().all(|b| b.is_ascii_digit()) && !head.is_empty() {
            return head;
        }
    }
    s
}

/// `YYMM.NNNN` or `YYMM.NNNNN`.
fn is_new_style(s: &str) -> bool {
    let Some((yymm, num)) = s.split_once('.') else {
        return false;
    };
    yymm.len() == 4
        && yymm.bytes().all(|b| b.is_ascii_digit())
        && (4..=5).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// `archive[.SC]/YYMMNNN`.
fn is_old_style(s: &str) -> bool {
    let Some((archive, num)) = s.split_once('/') else {
        return false;
    };
    !archive.is_empty()
        && archive
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'.')
        && num.len() == 7
        && num.bytes().all(|b| b.is_ascii_digit())
}

impl TryFrom<String> for ArxivId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ArxivId> for String {
    fn from(id: ArxivId) -> Self {
        id.0
    }
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An arXiv subject category such as `cs.CV`, `stat.ML`, `hep-th` or
/// `q-bio.NC`. Only letters, digits, `-` and `.`, so it is safe in file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);

impl Category {
    /// Validates a category code.
    ///
    /// # Errors
    /// When the text has characters an arXiv category never has.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.as_bytes()[0].is_ascii_alphabetic()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !s.contains("..");
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("`{s}` is not an arXiv category"))
        }
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The arXiv group the category belongs to ("Computer Science", "Physics",
    /// …), as arXiv's taxonomy groups its archives; "Other" for a code outside it.
    #[must_use]
    pub fn group(&self) -> &'static str {
        let archive = self.0.split('.').next().unwrap_or_default();
        match archive {
            "cs" => "Computer Science",
            "econ" => "Economics",
            "eess" => "Electrical Engineering and Systems Science",
            "math" => "Mathematics",
            "q-bio" => "Quantitative Biology",
            "q-fin" => "Quantitative Finance",
            "stat" => "Statistics",
            "astro-ph" | "cond-mat" | "gr-qc" | "hep-ex" | "hep-lat" | "hep-ph" | "hep-th"
            | "math-ph" | "nlin" | "nucl-ex" | "nucl-th" | "physics" | "quant-ph" => "Physics",
            _ => "Other",
        }
    }

    /// The arXiv listing page for the category.
    #[must_use]
    pub fn list_url(&self) -> String {
        format!("https://arxiv.org/list/{}/recent", self.0)
    }
}

impl TryFrom<String> for Category {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> Self {
        c.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_abs_and_pdf_urls_without_version() {
        let id = ArxivId::from_url("https://arxiv.org/abs/2102.06171v3").unwrap();
        assert_eq!(id.as_str(), "2102.06171");
        let id = ArxivId::from_url("http://export.arxiv.org/pdf/2102.06171.pdf").unwrap();
        assert_eq!(id.as_str(), "2102.06171");
        let id = ArxivId::from_url("https://arxiv.org/abs/hep-th/9901001").unwrap();
        assert_eq!(id.as_str(), "hep-th/9901001");
        assert!(ArxivId::from_url("https://example.org/abs/2102.06171").is_err());
        assert!(ArxivId::from_url("https://arxiv.org/abs/../../etc").is_err());
    }

    #[test]
    fn categories_fall_in_arxiv_groups() {
        let group = |c: &str| Category::parse(c).unwrap().group();
        assert_eq!(group("cs.CV"), "Computer Science");
        assert_eq!(group("math.OC"), "Mathematics");
        assert_eq!(group("math-ph"), "Physics");
        assert_eq!(group("hep-th"), "Physics");
        assert_eq!(group("cond-mat.stat-mech"), "Physics");
        assert_eq!(group("physics.optics"), "Physics");
        assert_eq!(group("q-bio.NC"), "Quantitative Biology");
        assert_eq!(group("stat.ML"), "Statistics");
        assert_eq!(
            group("eess.IV"),
            "Electrical Engineering and Systems Science"
        );
        assert_eq!(group("bogus.XX"), "Other");
    }

    #[test]
    fn categories_reject_path_characters() {
        assert!(Category::parse("cs.CV").is_ok());
        assert!(Category::parse("q-bio.NC").is_ok());
        assert!(Category::parse("hep-th").is_ok());
        assert!(Category::parse("../x").is_err());
        assert!(Category::parse("cs/CV").is_err());
        assert!(Category::parse("").is_err());
    }
}
