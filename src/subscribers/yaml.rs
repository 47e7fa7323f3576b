//! Reading and writing one subscriber file: a YAML sequence of records. The
//! only place in the store that knows the file format (serde_yaml).

use std::path::Path;

use crate::model::Subscriber;

use super::Problem;

/// One file's records with the line each starts on.
pub(super) struct Parsed {
    /// Leading comment and blank lines, kept on rewrite.
    pub(super) header: String,
    pub(super) records: Vec<Subscriber>,
    /// 1-based line of each record; 0 when the layout does not tell.
    pub(super) lines: Vec<usize>,
}

/// Parses a file; YAML and field errors come back as `file:line` problems.
pub(super) fn parse(path: &Path, text: &str) -> Result<Parsed, Vec<Problem>> {
    let header = header(text);
    let records: Vec<Subscriber> = match serde_yaml::from_str::<Option<Vec<Subscriber>>>(text) {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            return Err(vec![Problem {
                path: path.to_owned(),
                line,
                message: clean_message(&e.to_string()),
            }]);
        }
    };
    // Block-style sequences start each record with `-` in the first column;
    // when that count does not match (flow style), lines are unknown.
    let starts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "-" || l.starts_with("- "))
        .map(|(i, _)| i + 1)
        .collect();
    let lines = if starts.len() == records.len() {
        starts
    } else {
        vec![0; records.len()]
    };
    Ok(Parsed {
        header,
        records,
        lines,
    })
}

/// The file text for `records`, under the kept header, one blank line between records.
pub(super) fn render(header: &str, records: &[Subscriber]) -> Vec<u8> {
    let body = serde_yaml::to_string(records).unwrap_or_else(|_| "[]\n".to_owned());
    let mut out = String::with_capacity(header.len() + body.len() + records.len());
    out.push_str(header);
    for (i, line) in body.lines().enumerate() {
        if i > 0 && line.starts_with("- ") {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

fn header(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else {
            break;
        }
    }
    // A header that is only blank lines is no header.
    if out.trim().is_empty() {
        String::new()
    } else {
        out
    }
}

/// serde_yaml says `[2].colour: unknown field ... at line 7 column 3`; the
/// place is printed as `file:line`, and the record index is implied by it.
fn clean_message(msg: &str) -> String {
    let mut m = msg;
    if let Some(i) = m.find(" at line ") {
        m = &m[..i];
    }
    m = m.strip_prefix('.').unwrap_or(m);
    if m.starts_with('[') {
        if let Some(close) = m.find(']') {
            let rest = &m[close + 1..];
            m = rest
                .strip_prefix(": ")
                .or_else(|| rest.strip_prefix('.'))
                .unwrap_or(rest);
        }
    }
    m.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_reported_at_its_line() {
        let text = "- email: a@example.org\n- email: b@example.org\n  colour: blue\n";
        let err = parse(Path::new("s.yaml"), text).err().unwrap();
        assert_eq!(err[0].line, 3);
        assert!(
            err[0].message.starts_with("unknown field `colour`"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn empty_and_comment_only_files_hold_no_records() {
        for text in ["", "# nobody yet\n", "[]\n"] {
            let p = parse(Path::new("s.yaml"), text).ok().unwrap();
            assert!(p.records.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn render_then_parse_round_trips() {
        let mut s = Subscriber::new("a@example.org");
        s.name = Some("Ada".into());
        s.categories
            .insert(crate::model::Category::parse("cs.LG").unwrap());
        let records = vec![s, Subscriber::new("b@example.org")];
        let text = String::from_utf8(render("# list\n", &records)).unwrap();
        let parsed = parse(Path::new("s.yaml"), &text).ok().unwrap();
        assert_eq!(parsed.records, records);
        assert_eq!(parsed.header, "# list\n");
        assert_eq!(parsed.lines, [2, 7]);
    }
}
