//! Characters no output may carry, in one place: what the digest parser
//! removes from the text it puts in the model, what the tweet sanitizer
//! leaves out of its HTML and what the feed writers check for before a
//! document leaves them.
//!
//! A leaf module: it knows nothing of digests, feeds or mail, and does no I/O.
//!
//! * **Forbidden** ([`is_forbidden`]): what XML 1.0 (§2.2 `Char`) does not
//!   allow — the C0 controls but tab, line feed and carriage return, U+FFFE
//!   and U+FFFF (lone surrogates cannot be in a Rust string; an entity naming
//!   one is read as U+FFFD) — plus what HTML calls a parse error in its input
//!   stream and a mail header cannot show: DEL, the C1 controls and the
//!   noncharacters (U+FDD0–U+FDEF and the last two code points of every
//!   plane). No feed, page or message is valid with one of them in it.
//! * **Bidirectional controls** ([`is_bidi_control`]): the embeddings,
//!   overrides and isolates U+202A–U+202E and U+2066–U+2069. They are valid
//!   characters, but in a title or a name they reorder what the reader sees
//!   around them (a name that displays as another, `exe.pdf` shown as
//!   `fdp.exe`), so display text goes without them.

use std::borrow::Cow;

/// Whether `c` may not appear in XML 1.0, in HTML text or in a mail header
/// (see the module comment).
#[must_use]
pub fn is_forbidden(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        '\0'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{FDD0}'..='\u{FDEF}' => true,
        // U+FFFE, U+FFFF, U+1FFFE, U+1FFFF, … U+10FFFF: the noncharacters
        // that end each plane.
        c => u32::from(c) & 0xFFFE == 0xFFFE,
    }
}

/// Whether `c` is a bidirectional embedding, override or isolate
/// (U+202A–U+202E, U+2066–U+2069).
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` may not appear in display text: a forbidden character or a
/// bidirectional control.
#[must_use]
pub fn is_unsafe_in_display(c: char) -> bool {
    is_forbidden(c) || is_bidi_control(c)
}

/// `text` without the characters `remove` matches; borrows when there is none.
#[must_use]
pub fn without(text: &str, remove: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&remove) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| !remove(c)).collect())
}

/// `text` without forbidden characters ([`is_forbidden`]).
#[must_use]
pub fn without_forbidden(text: &str) -> Cow<'_, str> {
    without(text, is_forbidden)
}

/// `text` on one line, for a subject or a display name: every run of
/// whitespace and control characters (CR, LF, TAB, NUL…) becomes one space,
/// the other characters display text may not carry (noncharacters, bidi
/// controls) are dropped, and the ends are trimmed. No header line can be
/// added and no display reordered through it.
#[must_use]
pub fn one_line(text: &str) -> String {
    let kept = without(text, |c| {
        is_unsafe_in_display(c) && !c.is_whitespace() && !c.is_control()
    });
    kept.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` as display text: without forbidden characters and bidirectional
/// controls ([`is_unsafe_in_display`]).
#[must_use]
pub fn display_text(text: &str) -> Cow<'_, str> {
    without(text, is_unsafe_in_display)
}

/// The first forbidden character of `text` and its byte offset.
#[must_use]
pub fn first_forbidden(text: &str) -> Option<(usize, char)> {
    // Only these bytes can start a forbidden character: ASCII controls,
    // and the lead bytes of U+0080–U+009F (C2), U+FDD0–U+FDEF and U+FFFE/F
    // (EF), and the planes' last two (F0–F4). Each is a character boundary,
    // so whole feeds are checked at the speed of a byte scan.
    let may_start = |b: u8| b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xEF || b >= 0xF0;
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes[from..].iter().position(|&b| may_start(b)) {
        let start = from + at;
        let c = text[start..].chars().next()?;
        if is_forbidden(c) {
            return Some((start, c));
        }
        from = start + c.len_utf8();
    }
    None
}

/// `U+0001, U+FFFE`: the distinct characters of `text` that `matches`
/// selects, in order of first appearance, for messages.
#[must_use]
pub fn code_points(text: &str, matches: impl Fn(char) -> bool) -> String {
    let mut seen: Vec<char> = Vec::new();
    for c in text.chars().filter(|&c| matches(c)) {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen.iter()
        .map(|c| format!("U+{:04X}", u32::from(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_is_what_xml_html_and_headers_refuse() {
        for c in [
            '\0',
            '\u{1}',
            '\u{8}',
            '\u{B}',
            '\u{C}',
            '\u{1F}',
            '\u{7F}',
            '\u{85}',
            '\u{9F}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
        ] {
            assert!(is_forbidden(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'a',
            '\u{A0}',
            '\u{FDCF}',
            '\u{FDF0}',
            '\u{FFFD}',
            '\u{1F600}',
            '\u{202E}',
            'é',
            '日',
        ] {
            assert!(!is_forbidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn display_text_also_drops_bidi_controls_and_borrows_clean_text() {
        assert_eq!(display_text("a\u{202E}b\u{2066}c\u{1}\u{FFFE}"), "abc");
        assert_eq!(without_forbidden("a\u{202E}b\u{1}"), "a\u{202E}b");
        assert!(matches!(display_text("Chloê 日本"), Cow::Borrowed(_)));
        assert_eq!(
            code_points("\u{1}x\u{FFFE}\u{1}", is_forbidden),
            "U+0001, U+FFFE"
        );
        assert_eq!(first_forbidden("ab\u{FFFF}"), Some((2, '\u{FFFF}')));
    }

    #[test]
    fn the_byte_scan_finds_what_a_scan_of_every_character_finds() {
        let naive = |t: &str| t.char_indices().find(|&(_, c)| is_forbidden(c));
        let mut text = String::new();
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            text.clear();
            text.push_str("aé€");
            text.push(c);
            text.push('z');
            assert_eq!(
                first_forbidden(&text),
                naive(&text),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }
}
