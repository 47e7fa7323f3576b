//! What a reader types, read into a query: words and `"quoted phrases"`
//! (every one must match, in the title, the authors or the abstract),
//! `author:` and `title:` (a word or a quoted phrase), `category:` (or
//! `cat:`), `after:` and `before:` (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`,
//! inclusive), and arXiv ids (`2102.06171`, `hep-th/9901001`, with or
//! without `arXiv:` and a version). Anything else with a colon, an
//! unbalanced quote, a bad date or a query too long is a [`QueryError`]
//! the results page shows; nothing a reader types reaches tantivy's own
//! query syntax.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{Datelike as _, NaiveDate};
use tantivy::query::{
    BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

/// The longest query read, in characters.
pub const MAX_QUERY: usize = 300;
/// The most terms and filters in one query.
pub const MAX_TERMS: usize = 24;

/// Why a query cannot run; the message is for the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing to search for.
    #[error("Type a word to search for.")]
    Empty,
    /// Longer than [`MAX_QUERY`].
    #[error("That query is too long: keep it under {MAX_QUERY} characters.")]
    TooLong,
    /// More than [`MAX_TERMS`] parts.
    #[error("That query has too many parts: use at most {MAX_TERMS} words and filters.")]
    TooManyTerms,
    /// An opening `"` without its closing one.
    #[error("A quote is not closed: put a \" at the end of the phrase.")]
    UnbalancedQuote,
    /// `xyz:` that is not a filter.
    #[error("`{0}:` is not a filter here: use author:, title:, category:, after: or before:.")]
    UnknownField(String),
    /// A filter without a value.
    #[error("`{0}:` needs a value, as in {0}:{1}.")]
    MissingValue(String, &'static str),
    /// A date that does not parse.
    #[error("`{0}` is not a date: write YYYY-MM-DD, YYYY-MM or YYYY.")]
    BadDate(String),
}

/// One part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A word or phrase anywhere (title, authors, abstract).
    Text(String),
    /// In the title only.
    Title(String),
    /// Among the authors.
    Author(String),
    /// An arXiv category.
    Category(String),
    /// An arXiv id.
    Id(String),
}

/// A query ready to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedQuery {
    /// Every part must match.
    pub parts: Vec<Part>,
    /// Days from, inclusive.
    pub after: Option<NaiveDate>,
    /// Days to, inclusive.
    pub before: Option<NaiveDate>,
}

/// Splits on white space, keeping `"…"` (and `field:"…"`) together.
fn tokens(input: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in input.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(QueryError::UnbalancedQuote);
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// An arXiv id in `token` (`2102.06171`, `2102.06171v2`, `arXiv:2102.06171`,
/// `hep-th/9901001`), without its version, lowercased.
fn arxiv_id(token: &str) -> Option<String> {
    let t = token.trim_matches(|c: char| matches!(c, ',' | ';' | '(' | ')' | '[' | ']'));
    let t = t
        .strip_prefix("arXiv:")
        .or_else(|| t.strip_prefix("arxiv:"))
        .unwrap_or(t);
    let without_version = match t.rfind('v') {
        Some(i) if i > 0 && t[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < t.len() => {
            &t[..i]
        }
        _ => t,
    };
    let new_style = without_version.split_once('.').is_some_and(|(a, b)| {
        a.len() == 4
            && a.chars().all(|c| c.is_ascii_digit())
            && (4..=5).contains(&b.len())
            && b.chars().all(|c| c.is_ascii_digit())
    });
    let old_style = without_version.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '.')
            && b.len() == 7
            && b.chars().all(|c| c.is_ascii_digit())
    });
    (new_style || old_style).then(|| without_version.to_ascii_lowercase())
}

/// The date a filter names: the first day (`after:`) or the last (`before:`) of it.
fn date(value: &str, last: bool) -> Result<NaiveDate, QueryError> {
    let bad = || QueryError::BadDate(value.chars().take(40).collect());
    let parts: Vec<&str> = value.split('-').collect();
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => NaiveDate::from_ymd_opt(
            i32::try_from(number(y)?).map_err(|_| bad())?,
            number(m)?,
            number(d)?,
        )
        .ok_or_else(bad),
        [y, m] if y.len() == 4 => {
            let y = i32::try_from(number(y)?).map_err(|_| bad())?;
            let first = NaiveDate::from_ymd_opt(y, number(m)?, 1).ok_or_else(bad)?;
            if last {
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .ok_or_else(bad)?;
                next.pred_opt().ok_or_else(bad)
            } else {
                Ok(first)
            }
        }
        [y] if y.len() == 4 => {
            let y = i32::try_from(number(y)?).map_err(|_| bad())?;
            NaiveDate::from_ymd_opt(y, if last { 12 } else { 1 }, if last { 31 } else { 1 })
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

fn unquote(value: &str) -> String {
    value.trim_matches('"').to_owned()
}

/// Reads what a reader typed.
///
/// # Errors
/// A [`QueryError`] saying what to change.
pub fn parse(input: &str) -> Result<ParsedQuery, QueryError> {
    if input.chars().count() > MAX_QUERY {
        return Err(QueryError::TooLong);
    }
    let cleaned: String = input
        .chars()
        .map(|c| {
            if c.is_control() || crate::text::is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let tokens = tokens(&cleaned)?;
    if tokens.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    let mut q = ParsedQuery::default();
    for token in tokens {
        if let Some(id) = arxiv_id(&token) {
            q.parts.push(Part::Id(id));
            continue;
        }
        let field = token.split_once(':').filter(|(f, _)| {
            !f.is_empty() && !f.contains('"') && f.chars().all(|c| c.is_ascii_alphabetic())
        });
        let Some((field, value)) = field else {
            let text = unquote(&token);
            if !text.trim().is_empty() {
                q.parts.push(Part::Text(text));
            }
            continue;
        };
        let name = field.to_ascii_lowercase();
        let example = match name.as_str() {
            "author" | "authors" => "turing",
            "title" => "\"neural networks\"",
            "category" | "cat" => "cs.LG",
            "after" | "before" => "2021-02-01",
            "http" | "https" => {
                q.parts.push(Part::Text(unquote(&token)));
                continue;
            }
            _ => return Err(QueryError::UnknownField(field.chars().take(40).collect())),
        };
        let value = unquote(value);
        if value.trim().is_empty() {
            return Err(QueryError::MissingValue(name, example));
        }
        match name.as_str() {
            "author" | "authors" => q.parts.push(Part::Author(value)),
            "title" => q.parts.push(Part::Title(value)),
            "category" | "cat" => q.parts.push(Part::Category(value.to_ascii_lowercase())),
            "after" => q.after = Some(date(&value, false)?),
            _ => q.before = Some(date(&value, true)?),
        }
    }
    if q.parts.is_empty() && q.after.is_none() && q.before.is_none() {
        return Err(QueryError::Empty);
    }
    Ok(q)
}

fn day_number(d: NaiveDate) -> u64 {
    u64::try_from(d.year()).unwrap_or(0) * 10_000 + u64::from(d.month()) * 100 + u64::from(d.day())
}

/// `text` in `field`, through the field's own analyzer: one token a term,
/// several a phrase; `None` when it has no token (punctuation only).
fn in_field(index: &tantivy::Index, field: Field, text: &str) -> Option<Box<dyn Query>> {
    let mut analyzer = index.tokenizer_for_field(field).ok()?;
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while let Some(token) = stream.next() {
        terms.push((token.position, Term::from_field_text(field, &token.text)));
    }
    match terms.len() {
        0 => None,
        1 => Some(Box::new(TermQuery::new(
            terms.remove(0).1,
            IndexRecordOption::WithFreqs,
        ))),
        _ => Some(Box::new(PhraseQuery::new_with_offset(terms))),
    }
}

impl ParsedQuery {
    /// The tantivy query: every part must match; a text part in the title
    /// (×3), the authors (×2) or the abstract.
    pub(super) fn to_tantivy(
        &self,
        index: &tantivy::Index,
        fields: &BTreeMap<&'static str, Field>,
    ) -> Box<dyn Query> {
        let field = |name: &str| fields[name];
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for part in &self.parts {
            let q: Option<Box<dyn Query>> = match part {
                Part::Text(text) => {
                    let any: Vec<(Occur, Box<dyn Query>)> =
                        [("title", 3.0), ("authors", 2.0), ("abstract", 1.0)]
                            .into_iter()
                            .filter_map(|(name, boost)| {
                                in_field(index, field(name), text).map(|q| {
                                    (
                                        Occur::Should,
                                        Box::new(BoostQuery::new(q, boost)) as Box<dyn Query>,
                                    )
                                })
                            })
                            .collect();
                    (!any.is_empty()).then(|| Box::new(BooleanQuery::new(any)) as Box<dyn Query>)
                }
                Part::Title(text) => in_field(index, field("title"), text),
                Part::Author(text) => in_field(index, field("authors"), text),
                Part::Category(cat) => in_field(index, field("category"), cat),
                Part::Id(id) => in_field(index, field("id"), id),
            };
            // A part with no word in it (`--`) matches nothing rather than everything.
            must.push((Occur::Must, q.unwrap_or_else(|| Box::new(EmptyQuery))));
        }
        if self.after.is_some() || self.before.is_some() {
            let day = field("day");
            let lower = self.after.map_or(Bound::Unbounded, |d| {
                Bound::Included(Term::from_field_u64(day, day_number(d)))
            });
            let upper = self.before.map_or(Bound::Unbounded, |d| {
                Bound::Included(Term::from_field_u64(day, day_number(d)))
            });
            must.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        Box::new(BooleanQuery::new(must))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_filters_and_ids() {
        let q = parse(r#"normalizer-free "image recognition" author:brock cat:cs.LG after:2021-02 before:2021"#).unwrap();
        assert_eq!(
            q.parts,
            [
                Part::Text("normalizer-free".into()),
                Part::Text("image recognition".into()),
                Part::Author("brock".into()),
                Part::Category("cs.lg".into()),
            ]
        );
        assert_eq!(q.after, NaiveDate::from_ymd_opt(2021, 2, 1));
        assert_eq!(q.before, NaiveDate::from_ymd_opt(2021, 12, 31));
        assert_eq!(
            parse("arXiv:2102.06171v2").unwrap().parts,
            [Part::Id("2102.06171".into())]
        );
        assert_eq!(
            parse("hep-th/9901001").unwrap().parts,
            [Part::Id("hep-th/9901001".into())]
        );
        assert_eq!(
            parse("before:2021-02").unwrap().before,
            NaiveDate::from_ymd_opt(2021, 2, 28)
        );
    }

    #[test]
    fn what_cannot_run_says_why() {
        assert_eq!(parse("   "), Err(QueryError::Empty));
        assert_eq!(parse("\"open phrase"), Err(QueryError::UnbalancedQuote));
        assert_eq!(
            parse("color:red"),
            Err(QueryError::UnknownField("color".into()))
        );
        assert!(matches!(
            parse("author:"),
            Err(QueryError::MissingValue(..))
        ));
        assert!(matches!(
            parse("after:yesterday"),
            Err(QueryError::BadDate(_))
        ));
        assert!(matches!(
            parse("after:2021-02-30"),
            Err(QueryError::BadDate(_))
        ));
        assert_eq!(parse(&"a".repeat(MAX_QUERY + 1)), Err(QueryError::TooLong));
        assert_eq!(
            parse(&"a ".repeat(MAX_TERMS + 1)),
            Err(QueryError::TooManyTerms)
        );
        // tantivy's own syntax is only text here.
        assert_eq!(
            parse("title:[a TO z]").unwrap().parts,
            [
                Part::Title("[a".into()),
                Part::Text("TO".into()),
                Part::Text("z]".into())
            ]
        );
    }
}
