//! A reader's email address, validated once, at the door (the subscribe
//! form, `subscribers add` and `import`, the subscriber files, `send --to`),
//! with the rules the SMTP envelope will apply: what passes here is what a
//! relay accepts in `RCPT TO`, so no reader is taken in whom no message can
//! reach.
//!
//! The rules (RFC 5321 §4.1.2 and §4.5.3.1, RFC 6531 for non-ASCII): a
//! dot-atom local part of at most 64 octets (no quoted strings, no comments),
//! a domain of dot-separated labels (letters, digits, hyphens inside;
//! non-ASCII allowed) with at least one dot, at most 255 octets, no address
//! literal (`[127.0.0.1]`); 254 octets in all.

use std::fmt;

/// A validated address, as given (trimmed); compare with [`EmailAddress::key`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{shown}`: {reason}")]
pub struct AddressError {
    /// The address as given, control characters escaped.
    pub shown: String,
    /// What is wrong.
    pub reason: String,
}

/// Longest address (RFC 5321 path limit minus the angle brackets).
const MAX_LENGTH: usize = 254;

impl EmailAddress {
    /// Validates `raw` (surrounding spaces are ignored).
    ///
    /// # Errors
    /// The first rule the address breaks.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let refuse = |reason: String| AddressError {
            shown: shorten(raw).escape_debug().to_string(),
            reason,
        };
        let s = raw.trim();
        // The envelope is built by lettre: what it refuses is refused first,
        // in its words; then the envelope rules it does not check.
        s.parse::<lettre::Address>()
            .map_err(|e| refuse(e.to_string()))?;
        if s.len() > MAX_LENGTH {
            return Err(refuse("it is longer than 254 characters".into()));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refuse("it contains spaces or control characters".into()));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(refuse("it has no `@`".into()));
        };
        check_local(local).map_err(|r| refuse(r.into()))?;
        check_domain(domain).map_err(|r| refuse(r.into()))?;
        Ok(Self(s.to_owned()))
    }

    /// The address as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address (lowercased).
    #[must_use]
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The mailbox without a `+tag` in its local part, lowercased: what a
    /// per-mailbox limit should count (`flood+1@x`, `flood+2@x` are one mailbox).
    #[must_use]
    pub fn mailbox_key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let base = local.split_once('+').map_or(local, |(b, _)| b);
        format!("{}@{}", base.to_lowercase(), domain.to_lowercase())
    }

    /// The part after the `@`, lowercased.
    #[must_use]
    pub fn domain(&self) -> String {
        self.0
            .rsplit_once('@')
            .map_or_else(String::new, |(_, d)| d.to_lowercase())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(77).collect();
        out.push_str("...");
        out
    }
}

/// RFC 5322 `atext`, plus any non-ASCII character (RFC 6531).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn check_local(local: &str) -> Result<(), &'static str> {
    if local.is_empty() {
        return Err("nothing before the `@`");
    }
    if local.len() > 64 {
        return Err("the part before the `@` is longer than 64 octets");
    }
    if local.starts_with('"') {
        return Err("quoted local parts are not accepted");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("misplaced dot before the `@`");
    }
    if !local.chars().all(|c| c == '.' || is_atext(c)) {
        return Err("a character that is not allowed before the `@`");
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("nothing after the `@`");
    }
    if domain.starts_with('[') {
        return Err("address literals like `[127.0.0.1]` are not accepted");
    }
    if domain.len() > 255 {
        return Err("the domain is longer than 255 octets");
    }
    if !domain.contains('.') {
        return Err("the domain has no dot");
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("the domain has an empty or overlong label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with `-`");
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return Err("a character that is not allowed in a domain");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted_as_given() {
        for a in [
            "ada@example.org",
            "Ada.Lovelace+news@Example.ORG",
            "o'brien@mail.example.co.uk",
            "δοκιμή@παράδειγμα.δοκιμή",
            "x_y-z@sub-domain.example.org",
        ] {
            assert_eq!(EmailAddress::parse(a).unwrap().as_str(), a);
        }
        assert_eq!(
            EmailAddress::parse("  ada@example.org ").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn what_the_envelope_would_refuse_is_refused_at_the_door() {
        for a in [
            "\"quoted local\"@example.org",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
            "eve@example.org\r\nBcc: victim@example.org",
            "eve@example.org, victim@example.org",
            "Eve <eve@example.org>",
            "not an address",
            "a..b@example.org",
            ".a@example.org",
            "a@localhost",
            "a@-example.org",
            "a@example..org",
            "@example.org",
            "a@",
            "",
        ] {
            assert!(EmailAddress::parse(a).is_err(), "{a:?}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert!(EmailAddress::parse(&long_local).is_err());
        let long = format!("a@{}.org", "b".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }

    #[test]
    fn errors_escape_control_characters_and_stay_short() {
        let err = EmailAddress::parse(&format!("a\r\n{}", "b".repeat(500))).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn the_mailbox_key_drops_the_tag_and_the_case() {
        let a = EmailAddress::parse("Flood+1@Example.org").unwrap();
        let b = EmailAddress::parse("flood+2@example.ORG").unwrap();
        assert_eq!(a.mailbox_key(), "flood@example.org");
        assert_eq!(a.mailbox_key(), b.mailbox_key());
        assert_ne!(a.key(), b.key());
    }
}
