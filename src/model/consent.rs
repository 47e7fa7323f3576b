//! A reader's consent on record (GDPR Art. 7): how the sign-up came about
//! and, append-only, every later change of choices and the withdrawal.
//!
//! Only what proves consent is kept: times, the channel, the wording version
//! of the form, the sign-up client's address truncated to its network (/24,
//! /48) and its user agent (bounded, control characters removed).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The wording version of the built-in subscribe form. Bump it when the
/// text a reader agrees to changes; an overriding template may send its own
/// in a hidden `form_version` field.
pub const SUBSCRIBE_FORM_VERSION: &str = "2026-12-01";

/// Longest user agent kept, in characters.
pub const MAX_USER_AGENT: usize = 200;

/// Where a consent event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The web form's double opt-in.
    Form,
    /// `hotpapers subscribers add`, or another operator command.
    Cli,
    /// `hotpapers subscribers import`.
    Import,
    /// The preferences page (a change, or its Unsubscribe button).
    Preferences,
    /// The RFC 8058 one-click unsubscribe a mail client posts.
    OneClick,
    /// The button of the unsubscribe page the email's link opens.
    Link,
    /// A mail to the reader's `mailto:` unsubscribe address.
    Mailto,
    /// A spam complaint (feedback-loop report).
    Complaint,
    /// Hard bounces: the address does not take mail.
    Bounce,
}

impl Channel {
    /// The name as records write it (`one-click`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Form => "form",
            Channel::Cli => "cli",
            Channel::Import => "import",
            Channel::Preferences => "preferences",
            Channel::OneClick => "one-click",
            Channel::Link => "link",
            Channel::Mailto => "mailto",
            Channel::Complaint => "complaint",
            Channel::Bounce => "bounce",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Consent given (a confirmed sign-up, an operator's add or import).
    Subscribed,
    /// The reader's choices changed.
    Changed,
    /// Consent withdrawn (unsubscribe, complaint) or mail stopped (bounce).
    Withdrawn,
}

/// One entry of the append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub event: EventKind,
    /// Through which channel.
    pub via: Channel,
    /// For a change: the fields changed (`cadence, categories`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
}

/// Where a web sign-up came from, carried inside the (sealed) confirmation
/// link until the reader confirms: nothing is stored before that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUp {
    /// The wording version of the form.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub form_version: Option<String>,
    /// The client's network ([`truncate_address`]).
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub client_network: Option<String>,
    /// The client's user agent ([`clean_user_agent`]).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The sign-up's details and the history since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// When the sign-up was asked for (the confirmation link was issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_at: Option<DateTime<Utc>>,
    /// When it was confirmed (the link's button posted, or the operator added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Where: `form`, `cli` or `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Channel>,
    /// The wording version of the form the reader filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_version: Option<String>,
    /// The sign-up client's network (`203.0.113.0/24`, `2001:db8:1::/48`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_network: Option<String>,
    /// The sign-up client's user agent, bounded, control characters removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Every later event, oldest first; never rewritten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ConsentEvent>,
}

/// The network of an address: /24 for IPv4 (IPv4-mapped IPv6 included),
/// /48 for IPv6.
#[must_use]
pub fn truncate_address(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
    }
}

/// A user agent as kept: control characters removed, at most
/// [`MAX_USER_AGENT`] characters, `None` when nothing is left.
#[must_use]
pub fn clean_user_agent(ua: &str) -> Option<String> {
    let kept: String = ua
        .chars()
        .filter(|&c| !c.is_control() && !crate::text::is_unsafe_in_display(c))
        .take(MAX_USER_AGENT)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

/// A form version as kept: letters, digits, `.`, `-`, `_`, at most 32;
/// `None` for anything else.
#[must_use]
pub fn clean_form_version(v: &str) -> Option<String> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_kept_as_their_network_only() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        assert_eq!(truncate_address(v4), "203.0.113.0/24");
        let mapped: IpAddr = "::ffff:198.51.100.9".parse().unwrap();
        assert_eq!(truncate_address(mapped), "198.51.100.0/24");
        let v6: IpAddr = "2001:db8:abcd:12:1:2:3:4".parse().unwrap();
        assert_eq!(truncate_address(v6), "2001:db8:abcd::/48");
    }

    #[test]
    fn user_agents_are_bounded_and_lose_control_characters() {
        assert_eq!(
            clean_user_agent("Mozilla/5.0\r\nX-Evil: 1\u{7}").as_deref(),
            Some("Mozilla/5.0X-Evil: 1")
        );
        assert_eq!(clean_user_agent(&"a".repeat(500)).unwrap().len(), 200);
        assert_eq!(clean_user_agent("\n\t "), None);
        assert_eq!(clean_form_version("v2<script>"), None);
        assert_eq!(
            clean_form_version(" 2026-12-01 ").as_deref(),
            Some("2026-12-01")
        );
    }
}
