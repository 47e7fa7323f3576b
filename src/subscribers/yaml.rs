//! Reading and writing one subscriber file: a YAML sequence of records. The
//! only place in the store that knows the file format (`serde_yaml`).

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
///
/// A block-style list (each record starting with `- ` in the first column, as
/// the store writes it) is parsed record by record: `serde_yaml` buffers every
/// event of a document before deserializing, which for 100,000 records costs
/// far more memory than the records themselves. It also reports every bad
/// record, not only the first. Anything else is parsed as one document.
pub(super) fn parse(path: &Path, text: &str) -> Result<Parsed, Vec<Problem>> {
    let header = header(text);
    let Some(chunks) = block_records(text) else {
        return parse_whole(path, text, header);
    };
    let mut records = Vec::with_capacity(chunks.len());
    let mut lines = Vec::with_capacity(chunks.len());
    let mut problems = Vec::new();
    for (line, chunk) in chunks {
        match serde_yaml::from_str::<Vec<Subscriber>>(chunk) {
            Ok(mut one) if one.len() == 1 => {
                records.extend(one.pop());
                lines.push(line);
            }
            // Not one record per top-level item after all: let the whole
            // document decide.
            Ok(_) => return parse_whole(path, text, header),
            Err(e) => problems.push(Problem {
                path: path.to_owned(),
                line: e.location().map_or(line, |l| line + l.line() - 1),
                message: clean_message(&e.to_string()),
            }),
        }
    }
    if problems.is_empty() {
        Ok(Parsed {
            header,
            records,
            lines,
        })
    } else {
        Err(problems)
    }
}

/// The text of each top-level `- ` item with its 1-based first line, when the
/// file is a block list with only comments, blank lines or `---` before it.
fn block_records(text: &str) -> Option<Vec<(usize, &str)>> {
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        if line == "-" || line.starts_with("- ") {
            starts.push((i + 1, offset));
        } else if starts.is_empty() {
            let t = line.trim();
            if !(t.is_empty() || t.starts_with('#') || t == "---") {
                return None;
            }
        }
        offset += raw.len();
    }
    if starts.is_empty() {
        return None;
    }
    let ends = starts
        .iter()
        .skip(1)
        .map(|&(_, o)| o)
        .chain(std::iter::once(text.len()));
    Some(
        starts
            .iter()
            .zip(ends)
            .map(|(&(line, start), end)| (line, &text[start..end]))
            .collect(),
    )
}

fn parse_whole(path: &Path, text: &str, header: String) -> Result<Parsed, Vec<Problem>> {
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
    // Flow style or other layouts: the line of each record is not known.
    let lines = vec![0; records.len()];
    Ok(Parsed {
        header,
        records,
        lines,
    })
}

/// The file text for `records`, under the kept header, one blank line between
/// records. A record that cannot be serialized is an error, never an empty
/// list: the caller then leaves the file as it was.
pub(super) fn render<T: serde::Serialize>(header: &str, records: &[T]) -> Result<Vec<u8>, String> {
    let body = serde_yaml::to_string(records).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(header.len() + body.len() + records.len());
    out.push_str(header);
    for (i, line) in body.lines().enumerate() {
        if i > 0 && line.starts_with("- ") {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out.into_bytes())
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

/// `serde_yaml` says `[2].colour: unknown field ... at line 7 column 3`; the
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

/// Reads a YAML subscriber file for `subscribers import`: every good record
/// with its line, and `FILE:LINE: what is wrong` for each bad one (a record
/// that does not parse, or whose address is invalid), so that one bad record
/// does not stop the rest.
///
/// # Errors
/// When the file cannot be read.
pub fn read_yaml(file: &Path) -> Result<super::CsvRows, super::SubscriberError> {
    let text = std::fs::read_to_string(file).map_err(|source| super::SubscriberError::Io {
        action: "could not read",
        path: file.to_owned(),
        source,
    })?;
    let mut rows = super::CsvRows::default();
    let items: Vec<(usize, Result<Subscriber, Problem>)> = match block_records(&text) {
        Some(chunks) => chunks
            .into_iter()
            .map(|(line, chunk)| {
                let parsed = match serde_yaml::from_str::<Vec<Subscriber>>(chunk) {
                    Ok(mut one) if one.len() == 1 => Ok(one
                        .pop()
                        .unwrap_or_else(|| unreachable!("a list of one has one"))),
                    Ok(_) => Err(Problem {
                        path: file.to_owned(),
                        line,
                        message: "expected one subscriber record per `- ` item".to_owned(),
                    }),
                    Err(e) => Err(Problem {
                        path: file.to_owned(),
                        line: e.location().map_or(line, |l| line + l.line() - 1),
                        message: clean_message(&e.to_string()),
                    }),
                };
                (line, parsed)
            })
            .collect(),
        None => match parse_whole(file, &text, String::new()) {
            Ok(parsed) => parsed
                .records
                .into_iter()
                .zip(parsed.lines)
                .map(|(r, line)| (line, Ok(r)))
                .collect(),
            Err(problems) => {
                rows.bad.extend(problems.iter().map(ToString::to_string));
                return Ok(rows);
            }
        },
    };
    for (line, item) in items {
        match item.and_then(
            |s| match crate::model::EmailAddress::parse(s.email.trim()) {
                Ok(_) => Ok(s),
                Err(e) => Err(Problem {
                    path: file.to_owned(),
                    line,
                    message: e.to_string(),
                }),
            },
        ) {
            Ok(s) => rows.records.push((line as u64, s)),
            Err(p) => rows.bad.push(p.to_string()),
        }
    }
    Ok(rows)
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
    fn every_bad_record_is_reported_and_flow_lists_still_parse() {
        let text = "# list\n- email: a@example.org\n  colour: x\n- email: b@example.org\n- email: c@example.org\n  max_papers: lots\n";
        let err = parse(Path::new("s.yaml"), text).err().unwrap();
        let lines: Vec<usize> = err.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 6]);
        let flow = parse(
            Path::new("s.yaml"),
            "[{email: a@example.org}, {email: b@example.org}]\n",
        )
        .ok()
        .unwrap();
        assert_eq!(flow.records.len(), 2);
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
        let text = String::from_utf8(render("# list\n", &records).unwrap()).unwrap();
        let parsed = parse(Path::new("s.yaml"), &text).ok().unwrap();
        assert_eq!(parsed.records, records);
        assert_eq!(parsed.header, "# list\n");
        assert_eq!(parsed.lines, [2, 7]);
    }

    #[test]
    fn a_record_that_cannot_be_serialized_is_an_error_not_an_empty_list() {
        struct Unwritable;
        impl serde::Serialize for Unwritable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("cannot write this record"))
            }
        }
        let err = render("# list\n", &[Unwritable]).unwrap_err();
        assert!(err.contains("cannot write this record"), "{err}");
    }
}
