//! Repairing mis-transcoded text before it is parsed.
//!
//! Digests travel through mail, copy-paste and editors. The usual damage is
//! UTF-8 bytes read as a single-byte code page and written back as UTF-8:
//! `Chloê` becomes `Chlo√™` (Mac Roman) or `ChloÃª` (Windows-1252 / Latin-1).
//! Every multi-byte UTF-8 character then turns into a run of two to four
//! non-ASCII characters, so repair works run by run: encode the run back to
//! the code page and decode the bytes as UTF-8.
//!
//! Clean text must never be "repaired". A document is only repaired when every
//! non-ASCII run in it decodes cleanly and at least one run carries a
//! character that real text almost never puts next to another non-ASCII one
//! (the code page's images of UTF-8 lead bytes such as `√`, `‚`, `„`, `Ã`,
//! `â`). A clean digest with Japanese, emoji or accents has runs that are not
//! encodable or not valid UTF-8, and is left alone.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use encoding_rs::{Encoding, MACINTOSH, WINDOWS_1252};

/// Which damage was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// UTF-8 that had been read as Mac Roman.
    MacRoman,
    /// UTF-8 that had been read as Windows-1252 or Latin-1.
    Windows1252,
    /// The file was not UTF-8 at all and was read as Windows-1252.
    DecodedWindows1252,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MacRoman => "UTF-8 text mis-decoded as Mac Roman was repaired",
            Self::Windows1252 => "UTF-8 text mis-decoded as Windows-1252 was repaired",
            Self::DecodedWindows1252 => "the file is not UTF-8; it was read as Windows-1252",
        })
    }
}

/// A code page whose mojibake can be undone.
struct CodePage {
    kind: Repair,
    /// char → byte for the high half (0x80..=0xFF).
    encode: HashMap<char, u8>,
    /// Characters that are this code page's image of a UTF-8 lead byte and
    /// rarely start a run of non-ASCII characters in real text.
    signatures: &'static [char],
}

fn code_page(encoding: &'static Encoding, kind: Repair, latin1: bool) -> CodePage {
    let mut encode = HashMap::new();
    for byte in 0x80u8..=0xFF {
        let bytes = [byte];
        let (decoded, _) = encoding.decode_without_bom_handling(&bytes);
        if let Some(c) = decoded.chars().next() {
            if c != '\u{FFFD}' {
                encode.insert(c, byte);
            }
        }
        if latin1 {
            // Latin-1 maps every byte to the code point of the same value;
            // text mis-decoded that way holds C1 controls in place of 0x80..0x9F.
            encode.entry(char::from(byte)).or_insert(byte);
        }
    }
    let signatures: &'static [char] = match kind {
        Repair::MacRoman => &[
            '√', '‚', '„', '\u{F8FF}', '≈', 'ƒ', '∆', '¬', '«', '»', '…', '◊', '⁄', '‹', '›', 'ﬁ',
            'ﬂ', '‡', '·', '‰', 'Â', 'Ê', 'Á', 'Ë', 'È', 'Í', 'Î', 'Ï', 'Ì',
        ],
        _ => &[
            'Ã', 'Â', 'â', 'ã', 'ð', 'Å', 'Ä', 'Î', 'Ï', 'Ð', 'Ñ', 'ä', 'å', 'æ', 'ç', 'è', 'é',
        ],
    };
    CodePage {
        kind,
        encode,
        signatures,
    }
}

fn code_pages() -> &'static [CodePage; 2] {
    static PAGES: OnceLock<[CodePage; 2]> = OnceLock::new();
    PAGES.get_or_init(|| {
        [
            code_page(MACINTOSH, Repair::MacRoman, false),
            code_page(WINDOWS_1252, Repair::Windows1252, true),
        ]
    })
}

/// Turns raw file bytes into text: strips a BOM, decodes UTF-8, or falls back
/// to Windows-1252 for files that are not UTF-8 (reported as a repair).
/// Returns `None` for binary data (NUL bytes or other control characters).
#[must_use]
pub fn decode(bytes: &[u8]) -> Option<(Cow<'_, str>, Option<Repair>)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if looks_binary(bytes) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some((Cow::Borrowed(text), None)),
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            Some((text, Some(Repair::DecodedWindows1252)))
        }
    }
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C)))
}

/// Undoes UTF-8 → code page → UTF-8 mojibake, repeatedly (text can be damaged
/// twice). Returns the text unchanged and `None` when it is clean.
#[must_use]
pub fn repair(text: &str) -> (Cow<'_, str>, Option<Repair>) {
    let mut current = Cow::Borrowed(text);
    let mut done = None;
    for _ in 0..3 {
        let Some((fixed, kind)) = code_pages()
            .iter()
            .find_map(|page| repair_with(&current, page).map(|fixed| (fixed, page.kind)))
        else {
            break;
        };
        current = Cow::Owned(fixed);
        done.get_or_insert(kind);
    }
    (current, done)
}

/// The repaired text if the whole document is mojibake of this code page.
fn repair_with(text: &str, page: &CodePage) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut saw_signature = false;
    let mut rest = text;
    let mut bytes = Vec::new();
    while let Some(start) = rest.find(|c: char| !c.is_ascii()) {
        out.push_str(&rest[..start]);
        let run_len = rest[start..]
            .find(|c: char| c.is_ascii())
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        bytes.clear();
        for c in run.chars() {
            bytes.push(*page.encode.get(&c)?);
        }
        let decoded = std::str::from_utf8(&bytes).ok()?;
        if !decoded.chars().all(plausible) {
            return None;
        }
        saw_signature |= run.chars().any(|c| page.signatures.contains(&c));
        out.push_str(decoded);
        rest = &rest[start + run_len..];
    }
    out.push_str(rest);
    saw_signature.then_some(out)
}

/// A character that real text holds: not a control, not a lone combining mark.
fn plausible(c: char) -> bool {
    !(c.is_control()
        || ('\u{0300}'..='\u{036F}').contains(&c)
        || ('\u{0483}'..='\u{0489}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn garble(text: &str, encoding: &'static Encoding) -> String {
        // What the broken transcoder did: read UTF-8 bytes as the code page.
        encoding
            .decode_without_bom_handling(text.as_bytes())
            .0
            .into_owned()
    }

    #[test]
    fn mac_roman_mojibake_is_repaired() {
        let (fixed, kind) = repair("Chlo√™ and Ond≈ôej C√≠fka");
        assert_eq!(fixed, "Chloê and Ondřej Cífka");
        assert_eq!(kind, Some(Repair::MacRoman));
    }

    #[test]
    fn windows_1252_mojibake_is_repaired() {
        let clean = "Chloê said “hi” — 日本語 🎉";
        let garbled = garble(clean, WINDOWS_1252);
        assert_ne!(garbled, clean);
        let (fixed, kind) = repair(&garbled);
        assert_eq!(fixed, clean);
        assert_eq!(kind, Some(Repair::Windows1252));
    }

    #[test]
    fn japanese_and_emoji_garbled_as_mac_roman_come_back() {
        let clean = "論文を公開しました 🎉 Ondřej";
        let garbled = garble(clean, MACINTOSH);
        let (fixed, kind) = repair(&garbled);
        assert_eq!(fixed, clean);
        assert_eq!(kind, Some(Repair::MacRoman));
    }

    #[test]
    fn clean_text_is_never_touched() {
        for clean in [
            "Chloê Ondřej Cífka",
            "論文を公開しました 🎉",
            "“Étude” – é à ü ß",
            "–é and “É",
            "plain ascii",
            "São Paulo, ações, Zürich, Kraków",
        ] {
            let (fixed, kind) = repair(clean);
            assert_eq!(fixed, clean);
            assert_eq!(kind, None, "{clean}");
        }
    }

    #[test]
    fn non_utf8_bytes_are_read_as_windows_1252() {
        let (text, kind) = decode(b"Chlo\xea \x93quoted\x94").unwrap();
        assert_eq!(text, "Chloê “quoted”");
        assert_eq!(kind, Some(Repair::DecodedWindows1252));
    }

    #[test]
    fn binary_data_is_refused() {
        assert!(decode(b"\x00\x01\x02garbage").is_none());
    }
}
