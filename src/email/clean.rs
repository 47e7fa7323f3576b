//! Text that goes into one-line places (subjects, display names): control
//! characters and line breaks become spaces, so no value can add a header line.

use super::SUBJECT_LIMIT;

/// Longest display name, in characters: a name is a greeting and a `To:`
/// phrase, and a 5,000-character one made a header line no server accepts.
pub const NAME_LIMIT: usize = 64;

/// A display name on one line, without control characters, shortened to
/// [`NAME_LIMIT`] characters at a word; `None` if empty.
#[must_use]
pub fn clean_name(name: Option<&str>) -> Option<String> {
    let cleaned = super::view::shorten_at_word(&one_line(name?), NAME_LIMIT);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A subject on one line, shortened to [`SUBJECT_LIMIT`] characters at a word.
pub(super) fn clean_subject(subject: &str) -> String {
    super::view::shorten_at_word(&one_line(subject), SUBJECT_LIMIT)
}

pub use crate::text::one_line;
