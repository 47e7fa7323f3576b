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

/// How the greeting addresses a reader: their `greeting_name` when set,
/// else the first name of their display name ("Alan Turing" → "Alan",
/// "Turing, Alan" → "Alan", "Dr. Alan Turing" → "Dr. Turing"); cleaned like
/// [`clean_name`]. A name of one word (or a script without spaces) is used
/// whole.
#[must_use]
pub fn greeting_name(name: Option<&str>, greeting: Option<&str>) -> Option<String> {
    if let Some(greeting) = clean_name(greeting) {
        return Some(greeting);
    }
    let name = clean_name(name)?;
    let given = match name.split_once(',') {
        // "Family, Given": unless the part after the comma is a suffix.
        Some((family, given)) if !family.trim().is_empty() && !is_suffix(given) => given,
        _ => &name,
    };
    let words: Vec<&str> = given.split_whitespace().collect();
    let first = match words.as_slice() {
        [] => return Some(name),
        [title, .., last] if is_title(title) => return Some(format!("{title} {last}")),
        [first, ..] => *first,
    };
    Some(first.trim_end_matches(',').to_owned()).filter(|f| !f.is_empty())
}

/// Forms of address that go with the family name, not the given one.
fn is_title(word: &str) -> bool {
    const TITLES: &[&str] = &[
        "dr",
        "prof",
        "professor",
        "mr",
        "mrs",
        "ms",
        "mx",
        "sir",
        "dame",
    ];
    TITLES.contains(&word.trim_end_matches('.').to_lowercase().as_str())
}

/// "Jr.", "III": what may follow a comma without being a given name.
fn is_suffix(text: &str) -> bool {
    const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "phd", "md"];
    let word = text.trim().trim_end_matches('.').to_lowercase();
    SUFFIXES.contains(&word.as_str())
}

/// A subject on one line, shortened to [`SUBJECT_LIMIT`] characters at a word.
pub(super) fn clean_subject(subject: &str) -> String {
    super::view::shorten_at_word(&one_line(subject), SUBJECT_LIMIT)
}

pub use crate::text::one_line;

#[cfg(test)]
mod tests {
    use super::greeting_name;

    fn greet(name: &str) -> Option<String> {
        greeting_name(Some(name), None)
    }

    #[test]
    fn the_greeting_uses_the_first_name() {
        assert_eq!(greet("Alan Turing").as_deref(), Some("Alan"));
        assert_eq!(greet("Ada King Lovelace").as_deref(), Some("Ada"));
        assert_eq!(greet("Ada").as_deref(), Some("Ada"));
        assert_eq!(greet("  Grace   Hopper ").as_deref(), Some("Grace"));
    }

    #[test]
    fn family_name_first_with_a_comma_is_understood() {
        assert_eq!(greet("Turing, Alan").as_deref(), Some("Alan"));
        assert_eq!(greet("Alan Turing, Jr.").as_deref(), Some("Alan"));
    }

    #[test]
    fn a_title_keeps_the_family_name() {
        assert_eq!(greet("Dr. Alan Turing").as_deref(), Some("Dr. Turing"));
        assert_eq!(greet("Prof Emmy Noether").as_deref(), Some("Prof Noether"));
    }

    #[test]
    fn a_name_without_spaces_is_used_whole() {
        assert_eq!(greet("山田太郎").as_deref(), Some("山田太郎"));
    }

    #[test]
    fn greeting_name_wins_and_is_cleaned() {
        assert_eq!(
            greeting_name(Some("Alan Turing"), Some("Prof.\nTuring")).as_deref(),
            Some("Prof. Turing")
        );
        assert_eq!(greeting_name(None, Some("Al")).as_deref(), Some("Al"));
        assert_eq!(greeting_name(None, Some("  ")), None);
        assert_eq!(greeting_name(None, None), None);
    }
}
