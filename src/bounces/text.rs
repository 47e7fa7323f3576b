//! Reading plain text: addresses, SMTP reply codes (`550`), enhanced status
//! codes (`5.1.1`), where the returned copy of the original message begins,
//! and RFC 3464 fields. Byte-oriented and linear in the input; no regex.

/// One address found in a text, lowercased, with the byte offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) address: String,
    pub(crate) start: usize,
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-.".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Every address (`local@domain.tld`) in `text`, in order, lowercased.
pub(crate) fn addresses(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = bytes[from..]
        .iter()
        .position(|&b| b == b'@')
        .map(|p| p + from)
    {
        from = at + 1;
        let mut start = at;
        while start > 0 && is_local_char(bytes[start - 1]) {
            start -= 1;
        }
        // `<'addr'>`, `'addr'`: a quote is a local character but wraps here.
        while start < at && matches!(bytes[start], b'.' | b'\'' | b'`' | b'=' | b'/') {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain_char(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start == at || end == at + 1 {
            continue;
        }
        let domain = &text[at + 1..end];
        let Some(tld) = domain.rsplit('.').next() else {
            continue;
        };
        if !domain.contains('.') || tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        let local = &text[start..at];
        if local.len() > 64 || domain.len() > 253 {
            continue;
        }
        out.push(Found {
            address: text[start..end].to_ascii_lowercase(),
            start,
        });
        from = end.max(from);
    }
    out
}

/// The first enhanced status code (`5.1.1`, also `#5.1.1`) in `text`: class
/// 2, 4 or 5, a one-digit subject, a detail of up to three digits, not part
/// of an IP address or a version number.
pub(crate) fn enhanced_status(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 5 <= b.len() {
        if matches!(b[i], b'2' | b'4' | b'5')
            && b[i + 1] == b'.'
            && b[i + 2].is_ascii_digit()
            && b[i + 3] == b'.'
            && b[i + 4].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let mut end = i + 5;
            while end < b.len() && end < i + 7 && b[end].is_ascii_digit() {
                end += 1;
            }
            let after_ok = end >= b.len()
                || !(b[end].is_ascii_digit()
                    || (b[end] == b'.' && b.get(end + 1).is_some_and(u8::is_ascii_digit)));
            if after_ok {
                return Some(text[i..end].to_owned());
            }
        }
        i += 1;
    }
    None
}

/// The first SMTP reply code in `text`: three digits starting 4 or 5,
/// alone (not in a number, a date or an address), followed by a space, a
/// dash, or the end.
pub(crate) fn reply_code(text: &str) -> Option<u16> {
    reply_code_at(text).map(|(code, _)| code)
}

/// The first SMTP reply code in `text` and where it starts.
fn reply_code_at(text: &str) -> Option<(u16, usize)> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 3 <= b.len() {
        if matches!(b[i], b'4' | b'5')
            // A reply code's second digit is 0 to 5 (RFC 5321 4.2.1).
            && (b'0'..=b'5').contains(&b[i + 1])
            && b[i + 2].is_ascii_digit()
            && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'(' | b'\'' | b'"' | b':' | b'[' | b'<' | b'='))
            && (i + 3 == b.len() || matches!(b[i + 3], b' ' | b'-' | b'\t' | b'\r' | b'\n'))
        {
            let code = u16::from(b[i] - b'0') * 100
                + u16::from(b[i + 1] - b'0') * 10
                + u16::from(b[i + 2] - b'0');
            return Some((code, i));
        }
        i += 1;
    }
    None
}

/// The enhanced status code right after the first SMTP reply code in
/// `text` (`550 5.7.1`, `550-5.7.1`, `550-'5.7.1`): the remote server's own,
/// where an MTA wraps it in a status of its own (`5.1.0 - Unknown address
/// error 550-'5.7.1 …'`).
pub(crate) fn reply_status(text: &str) -> Option<String> {
    let (_, at) = reply_code_at(text)?;
    let rest = text[at + 3..].trim_start_matches([' ', '-', '\'', '"', '#', '(']);
    let head = rest.get(..rest.len().min(12)).unwrap_or(rest);
    enhanced_status(head).filter(|s| rest.starts_with(s.as_str()))
}

/// Whether a line holds an SMTP reply or an enhanced status code.
pub(crate) fn has_reply(line: &str) -> bool {
    reply_code(line).is_some() || enhanced_status(line).is_some()
}

/// Where the human-readable part of a bounce ends: the first marker of the
/// returned message, or the first run of header lines of a message.
pub(crate) fn human_part(text: &str) -> &str {
    const MARKERS: &[&str] = &[
        "original message",
        "copy of the message",
        "copy of your message",
        "message follows",
        "the header of the original",
        "original headers",
        "original message headers",
        "unsent message below",
        "returned message",
        "message was attached",
        "headers of your message",
        "content-type: message/rfc822",
        "content-type: text/rfc822-headers",
    ];
    let mut offset = 0;
    let mut run = 0;
    let mut run_start = 0;
    let mut run_has_message_header = false;
    for line in text.split_inclusive('\n') {
        let lower = line.trim().to_ascii_lowercase();
        // A marker is a separator line (`--- Below this line is a copy of
        // the message.`), not a sentence that mentions the returned message.
        let separator = lower.starts_with(|c: char| !c.is_ascii_alphanumeric())
            || lower.contains("follow")
            || lower.contains("below")
            || lower.ends_with(':')
            || lower.len() < 40;
        if lower.len() < 120 && separator && MARKERS.iter().any(|m| lower.contains(m)) {
            return &text[..offset];
        }
        match header_name(line) {
            Some(name) => {
                if run == 0 {
                    run_start = offset;
                    run_has_message_header = false;
                }
                run += 1;
                let name = name.to_ascii_lowercase();
                run_has_message_header |= matches!(
                    name.as_str(),
                    "received"
                        | "return-path"
                        | "message-id"
                        | "dkim-signature"
                        | "mime-version"
                        | "date"
                        | "from"
                );
                if run >= 3 && run_has_message_header {
                    return &text[..run_start];
                }
            }
            None if line.starts_with([' ', '\t']) && run > 0 => {}
            None => run = 0,
        }
        offset += line.len();
    }
    text
}

/// The name of a header line (`Name: value`, unindented), if it is one.
pub(crate) fn header_name(line: &str) -> Option<&str> {
    let colon = line.find(':')?;
    let name = &line[..colon];
    (!name.is_empty()
        && name.len() < 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.as_bytes()[0].is_ascii_alphabetic())
    .then_some(name)
}

/// The RFC 3464 fields of one recipient (or of one `message/delivery-status`
/// block that has no recipient field).
#[derive(Debug, Default, Clone)]
pub(crate) struct DsnRecipient {
    pub(crate) final_recipient: Option<String>,
    pub(crate) original_recipient: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) status: Option<String>,
    /// The comment after the code in `Status: 5.4.4 (…)`, without parentheses.
    pub(crate) status_comment: Option<String>,
    pub(crate) diagnostic: Option<String>,
    pub(crate) remote_mta: Option<String>,
}

impl DsnRecipient {
    fn has_recipient(&self) -> bool {
        self.final_recipient.is_some() || self.original_recipient.is_some()
    }
    fn is_empty(&self) -> bool {
        !self.has_recipient()
            && self.action.is_none()
            && self.status.is_none()
            && self.diagnostic.is_none()
    }
}

/// Unfolded `Name: value` lines, and `None` for a blank line.
fn fields(text: &str) -> Vec<Option<(String, String)>> {
    let mut out: Vec<Option<(String, String)>> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push(None);
        } else if line.starts_with([' ', '\t']) {
            if let Some(Some((_, value))) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some(name) = header_name(line) {
            let value = line[name.len() + 1..].trim().to_owned();
            out.push(Some((name.to_ascii_lowercase(), value)));
        } else {
            out.push(None);
        }
    }
    out
}

/// The value of a typed field (`rfc822; user@example.org`, `smtp; 550 …`)
/// without its type.
fn untyped(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if kind.len() < 20 && !kind.contains(' ') => rest.trim(),
        _ => value.trim(),
    }
}

/// The per-recipient fields of an RFC 3464 `message/delivery-status` body
/// (or of text that quotes one).
pub(crate) fn dsn_recipients(text: &str) -> Vec<DsnRecipient> {
    let mut out = Vec::new();
    let mut current = DsnRecipient::default();
    for field in fields(text) {
        let Some((name, value)) = field else {
            if current.has_recipient() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        };
        let address = || {
            addresses(untyped(&value))
                .into_iter()
                .next()
                .map(|f| f.address)
        };
        match name.as_str() {
            "final-recipient" => {
                if current.final_recipient.is_some() {
                    out.push(std::mem::take(&mut current));
                }
                current.final_recipient = address();
            }
            "x-actual-recipient" if current.final_recipient.is_none() => {
                current.final_recipient = address();
            }
            "original-recipient" => {
                if current.original_recipient.is_some()
                    || current.final_recipient.is_some() && current.action.is_some()
                {
                    out.push(std::mem::take(&mut current));
                }
                current.original_recipient = address();
            }
            "action" => current.action = Some(value.to_ascii_lowercase()),
            "status" => {
                current.status = enhanced_status(&value);
                current.status_comment = value
                    .split_once('(')
                    .map(|(_, c)| one_line(c.trim_end().trim_end_matches(')')))
                    .filter(|c| !c.is_empty());
            }
            "diagnostic-code" => current.diagnostic = Some(one_line(untyped(&value))),
            "remote-mta" => current.remote_mta = Some(untyped(&value).to_owned()),
            _ => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.retain(|r| !r.is_empty());
    out
}

/// `text` on one line: whitespace runs (line breaks included) become one
/// space, trimmed, at most 500 characters.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(500));
    for word in text.split_whitespace() {
        if out.len() + word.len() + 1 > 500 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_in_brackets_and_prose() {
        let found: Vec<_> = addresses("<Kijitora@Example.JP>: x; to 'neko@example.org'. a@b")
            .into_iter()
            .map(|f| f.address)
            .collect();
        assert_eq!(found, ["kijitora@example.jp", "neko@example.org"]);
    }

    #[test]
    fn reads_codes_but_not_ips_versions_or_dates() {
        assert_eq!(
            enhanced_status("said: 550 5.1.1 <a@b.c>"),
            Some("5.1.1".into())
        );
        assert_eq!(enhanced_status("(#5.5.0)"), Some("5.5.0".into()));
        assert_eq!(enhanced_status("host 5.1.1.1 and Exim 4.92.3"), None);
        assert_eq!(reply_code("said: 550-5.1.1 x"), Some(550));
        assert_eq!(reply_code("Thu, 24 Apr 2013 00:00:00 +0900"), None);
        assert_eq!(reply_code("[192.0.2.550]"), None);
    }

    #[test]
    fn the_human_part_stops_at_the_returned_message() {
        let text = "Sorry.\n\n<a@b.example>: 550 no\n\n--- Below this line is a copy of the message.\n\nFrom: x@y.example\n";
        assert_eq!(human_part(text), "Sorry.\n\n<a@b.example>: 550 no\n\n");
        let text = "Oops\nReceived: from x\n\tby y\nFrom: a@b.example\nTo: c@d.example\n";
        assert_eq!(human_part(text), "Oops\n");
    }

    #[test]
    fn dsn_fields_per_recipient() {
        let r = dsn_recipients(
            "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1\n  no such user\n\nFinal-Recipient: rfc822;<c@d.example>\nAction: delayed\nStatus: 4.4.1\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].final_recipient.as_deref(), Some("a@b.example"));
        assert_eq!(r[0].diagnostic.as_deref(), Some("550 5.1.1 no such user"));
        assert_eq!(r[1].action.as_deref(), Some("delayed"));
        let r =
            dsn_recipients("Final-Recipient: rfc822;a@b.example\nStatus: 5.4.4 (Illegal host)\n");
        assert_eq!(r[0].status.as_deref(), Some("5.4.4"));
        assert_eq!(r[0].status_comment.as_deref(), Some("Illegal host"));
    }
}
