//! The YAML front matter between the leading `---` lines. This module and
//! `subscribers` are the only readers of YAML, so that `serde_yaml` (archived
//! upstream) can be swapped for a maintained fork in one line each.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::Deserialize;

/// The front matter fields a digest may carry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FrontMatter {
    pub(super) title: Option<String>,
    pub(super) date: Option<serde_yaml::Value>,
    pub(super) template: Option<String>,
    pub(super) draft: Option<bool>,
    pub(super) slug: Option<String>,
    pub(super) category: Option<String>,
    #[serde(default)]
    pub(super) tags: Option<Vec<String>>,
    pub(super) description: Option<String>,
    pub(super) social_image: Option<String>,
    /// Fields this version does not know; reported as warnings.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, serde_yaml::Value>,
}

/// A YAML error with its 1-based line inside the front matter, if known.
pub(super) struct YamlError {
    pub(super) line: Option<usize>,
    pub(super) message: String,
}

/// Flow collections (`[`, `{`) may nest this deep. The YAML scanner takes
/// time quadratic in the depth (100,000 `[` took 45 s before failing on its
/// recursion limit of 128), so deeper nesting is refused before it is scanned.
const MAX_FLOW_DEPTH: usize = 1000;

pub(super) fn parse(yaml: &str) -> Result<FrontMatter, YamlError> {
    if yaml.trim().is_empty() {
        return Err(YamlError {
            line: None,
            message: "the front matter is empty: expected `title:` and `date:`".into(),
        });
    }
    if let Some(line) = too_deep(yaml) {
        return Err(YamlError {
            line: Some(line),
            message: format!(
                "`[` and `{{` nest more than {MAX_FLOW_DEPTH} levels deep here: front matter holds a few flat fields"
            ),
        });
    }
    serde_yaml::from_str(yaml).map_err(|e| YamlError {
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    })
}

/// The 1-based line where the `[`/`{` nesting first exceeds
/// [`MAX_FLOW_DEPTH`]. Counted without regard to quoting, which can only
/// overcount, and only a text with a thousand unclosed brackets can tell.
fn too_deep(yaml: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, line) in yaml.lines().enumerate() {
        for b in line.bytes() {
            match b {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_FLOW_DEPTH {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The `date` value as text (YAML may have read it as a number or string).
pub(super) fn value_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the publication time: RFC 3339, the archive's `2021-02-13T22:40:53.Z`
/// (a stray `.` before `Z`), a date and time without zone (taken as UTC), or a
/// bare date (midnight UTC).
pub(super) fn parse_published(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    let repaired = s.replace(".Z", "Z").replace(".z", "Z");
    if let Ok(t) = DateTime::parse_from_rfc3339(&repaired) {
        return Some(t);
    }
    let utc = FixedOffset::east_opt(0)?;
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s.trim_end_matches(['Z', 'z', '.']), format) {
            return t.and_local_timezone(utc).single();
        }
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(utc).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_accepts_the_archive_form_and_rfc3339() {
        let t = parse_published("2021-02-13T22:40:53.Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-02-13T22:40:53+00:00");
        let t = parse_published("2021-02-13T22:40:53+09:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-02-13T22:40:53+09:00");
        let t = parse_published("2021-02-13T22:40:53.123Z").unwrap();
        assert_eq!(t.timestamp(), 1_613_256_053);
        assert!(parse_published("2021-02-13").is_some());
        assert!(parse_published("2021-02-30T00:00:00Z").is_none());
        assert!(parse_published("yesterday").is_none());
    }
}
