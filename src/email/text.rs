//! The plain-text part's layout: lines wrapped at 72 columns, keeping each
//! line's indentation and `> ` quote marks on its continuation lines, never
//! breaking a word (so URLs stay whole and clickable, even when longer than
//! a line), and at most one blank line in a row.
//!
//! A line holding a reader's value (a placeholder) is left whole here and
//! wrapped once, when the value is filled in: wrapping it before would break
//! it at the placeholder's width and again at the value's.

use textwrap::{Options, WordSeparator, WordSplitter};

/// Column limit of the plain-text part.
pub(crate) const WIDTH: usize = 72;

/// Wraps rendered plain text for mail.
pub(crate) fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run == 1 && !out.is_empty() {
                out.push('\n');
            }
            continue;
        }
        blank_run = 0;
        if line.contains(super::view::OPEN) {
            out.push_str(line);
            out.push('\n');
        } else {
            wrap_line(line, &mut out);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Appends one line (no newline inside), wrapped, to `out`.
pub(crate) fn wrap_line(line: &str, out: &mut String) {
    if textwrap::core::display_width(line) <= WIDTH {
        out.push_str(line);
        out.push('\n');
        return;
    }
    let prefix = prefix_of(line);
    let body = &line[prefix.len()..];
    let width = WIDTH
        .saturating_sub(textwrap::core::display_width(prefix))
        .max(20);
    let options = Options::new(width)
        .word_separator(WordSeparator::AsciiSpace)
        .word_splitter(WordSplitter::NoHyphenation)
        .break_words(false);
    for piece in textwrap::wrap(body, &options) {
        out.push_str(prefix);
        out.push_str(piece.trim_end());
        out.push('\n');
    }
}

/// The indentation and quote marks that start a line ("  ", "> ", "> > ").
fn prefix_of(line: &str) -> &str {
    let mut end = 0;
    let bytes = line.as_bytes();
    loop {
        match bytes.get(end) {
            Some(b' ' | b'\t') => end += 1,
            Some(b'>') if matches!(bytes.get(end + 1), Some(b' ') | None) => end += 1,
            _ => break,
        }
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_72_columns() {
        let text = "word ".repeat(40);
        for line in wrap(&text).lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
    }

    #[test]
    fn urls_are_never_broken_even_when_longer_than_a_line() {
        let url = format!("https://example.org/{}?a=b-c-d", "x-y".repeat(40));
        let text = format!("Read the rest at {url} if you like.");
        let wrapped = wrap(&text);
        assert!(wrapped.lines().any(|l| l == url), "{wrapped}");
    }

    #[test]
    fn quoted_lines_keep_their_quote_mark_when_wrapped() {
        let text = format!("> {}", "quoted words ".repeat(12));
        let wrapped = wrap(&text);
        assert!(wrapped.lines().count() > 1);
        assert!(wrapped.lines().all(|l| l.starts_with("> ")), "{wrapped}");
    }

    #[test]
    fn hyphenated_words_are_not_split() {
        let text = format!("{} state-of-the-art", "a".repeat(60));
        assert!(wrap(&text).contains("state-of-the-art"));
    }

    #[test]
    fn lines_with_a_readers_value_are_left_for_the_fill_to_wrap() {
        let line = format!(
            "You get this because {}E{} subscribed {}",
            super::super::view::OPEN,
            super::super::view::CLOSE,
            "word ".repeat(20)
        );
        assert_eq!(wrap(&line), format!("{}\n", line.trim_end()));
    }

    #[test]
    fn runs_of_blank_lines_collapse_to_one() {
        assert_eq!(wrap("a\n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
