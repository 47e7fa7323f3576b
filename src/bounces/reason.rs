//! Why a recipient failed: the enhanced status code (RFC 3463, the RFC 5248
//! registry) first where it is specific, the reply text where the code is
//! generic or missing. Pure functions of their arguments.

use serde::{Deserialize, Serialize};

/// Why a delivery failed, from a fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The mailbox does not exist (5.1.1).
    UserUnknown,
    /// The domain does not exist or has no mail host (5.1.2).
    HostUnknown,
    /// The reader has moved to another address (5.1.6, 551).
    HasMoved,
    /// The mailbox or its host does not take mail (5.2.1, null MX, disabled
    /// or suspended accounts).
    NotAccepting,
    /// Over quota (5.2.2, 4.2.2).
    MailboxFull,
    /// Larger than the receiver takes (5.2.3, 5.3.4).
    MessageTooBig,
    /// Refused as spam, for reputation, content or a local rule: the sender's
    /// problem, not the reader's.
    Policy,
    /// SPF, DKIM or DMARC failed (5.7.23 to 5.7.26).
    AuthFailure,
    /// Too many messages or connections (4.7.0 with "rate", 4.7.28).
    RateLimited,
    /// Gave up retrying (4.4.7, 5.4.7).
    Expired,
    /// Could not connect or lost the connection (4.4.x).
    Network,
    /// Anything else, or not known.
    Other,
}

impl Reason {
    /// The address itself is dead: unknown user or host, moved, not accepting.
    /// [`hard`] also weighs whether the failure was permanent.
    #[must_use]
    pub fn is_address_dead(self) -> bool {
        matches!(
            self,
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved | Reason::NotAccepting
        )
    }
}

/// Whether a failure drops the reader: the reason (read from `text`) says
/// the address is dead; the failure is permanent (no 4xx reply code, no
/// 4.x.x status); a specific status code or the SMTP `transcript` (the lines
/// around the recipient) shows the address itself was refused, not the
/// message after DATA; and, for an account that is refused rather than
/// missing, the text does not say it is only disabled or suspended. When
/// unsure, not hard: a soft bounce called hard loses a reader, a hard one
/// called soft costs one more bounce.
#[must_use]
pub fn hard(
    reason: Reason,
    status: Option<&str>,
    reply_code: Option<u16>,
    text: &str,
    transcript: &str,
) -> bool {
    if !reason.is_address_dead() {
        return false;
    }
    if status.is_some_and(|s| s.starts_with('4')) || reply_code.is_some_and(|c| c / 100 == 4) {
        return false;
    }
    // The text alone is not enough: filters and gateways answer "user
    // unknown" with a bare 550 for mail they refuse. A specific status code
    // corroborates it, or a transcript showing the refusal answered RCPT TO.
    let transcript = transcript.to_ascii_lowercase();
    if refused_after_data(&transcript) || refused_before_rcpt(&transcript) {
        return false;
    }
    // A missing domain is found before any SMTP, and a move is announced in
    // the reply itself (551): neither needs the RCPT transcript.
    // Nor does a null MX (RFC 7505): the domain says in DNS that it takes
    // no mail.
    let self_evident = matches!(reason, Reason::HostUnknown | Reason::HasMoved)
        || reason == Reason::NotAccepting && any(&transcript, &["null mx", "no smtp service"]);
    if !self_evident
        && !status.is_some_and(|s| names_dead(reason, s))
        && !refused_at_rcpt(&transcript)
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if reason == Reason::NotAccepting && is_suspension(&lower) {
        return false;
    }
    // An account the report calls disabled or suspended may come back,
    // whatever code the refusal carried.
    if is_suspended(&transcript) {
        return false;
    }
    // A local delivery program's exit status (Postfix's "Command output:",
    // procmail, a pipe) is how a program ended, not proof of a dead address.
    if any(
        &transcript,
        &["command output:", "command died", "mailbox command"],
    ) {
        return false;
    }
    // The server itself says the failure may pass (Postfix's "Host not
    // found, try again" is a DNS timeout, not a missing domain).
    if [
        "try again later",
        "try again in",
        "found, try again",
        "temporar",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return false;
    }
    !refused_after_data(&lower)
}

/// The transcript shows the refusal answered `RCPT TO` (or is Postfix's
/// RCPT-stage "Recipient address rejected").
fn refused_at_rcpt(lower: &str) -> bool {
    // qmail-remote says "does not like recipient" for a refused RCPT (and
    // "does not like sender", "failed on DATA command" otherwise).
    any(
        lower,
        &[
            "rcpt",
            "recipient address rejected",
            "does not like recipient",
        ],
    )
}

/// The refusal answered the greeting or the envelope sender (`HELO`,
/// `MAIL FROM`), before any recipient was tried: whatever the text says
/// about a domain or a user, it is about the sender.
fn refused_before_rcpt(lower: &str) -> bool {
    any(
        lower,
        &[
            "my name was rejected",
            "does not like sender",
            "in reply to mail from",
            "in reply to helo",
            "in reply to ehlo",
            "after mail from",
            "after helo",
            "after ehlo",
        ],
    )
}

/// The refusal answered the message (`DATA` or its end), not `RCPT TO`: the
/// server had accepted the address, so whatever the text says, it is the
/// message that was refused (a filter), not a dead address. With
/// pipelining, Sendmail files a refused RCPT under `>>> DATA`; the `503 Need
/// RCPT` that follows then says the address was refused after all.
#[must_use]
pub(crate) fn refused_after_data(lower: &str) -> bool {
    let rcpt_refused = [
        "need rcpt",
        "valid rcpt",
        "no valid recipients",
        "rcpt commands were rejected",
    ]
    .iter()
    .any(|p| lower.contains(p))
        || lower.lines().any(|l| {
            let l = l.trim_start_matches(['<', ' ']);
            l.starts_with("503 ") || l.starts_with("503-")
        });
    if rcpt_refused {
        return false;
    }
    [
        "end of data",
        "after data",
        "in reply to data",
        "end-of-data",
        "data command",
    ]
    .iter()
    .any(|p| lower.contains(p))
        || lower
            .lines()
            .any(|l| matches!(l.trim(), "data" | ">>> data"))
}

/// A status whose subject and detail say the address is dead in the way
/// `reason` says: a missing mailbox is x.1.1, x.1.3 or x.1.10; a mailbox
/// that takes no mail x.2.1, x.3.2 or x.7.27 (and x.1.10, null MX); a
/// missing host x.1.2 or x.4.4; a move x.1.6. A status that names another
/// cause corroborates nothing: `550 5.2.1 … User Unknown` (disabled, says
/// the code; missing, says the text) needs the transcript to be believed.
fn names_dead(reason: Reason, status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    let code = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match reason {
        Reason::UserUnknown => matches!(code, ("1", "1" | "3" | "10")),
        Reason::NotAccepting => matches!(code, ("2", "1") | ("3", "2") | ("7", "27") | ("1", "10")),
        Reason::HostUnknown => matches!(code, ("1", "2") | ("4", "4")),
        Reason::HasMoved => code == ("1", "6"),
        _ => false,
    }
}

/// The (lowercase) text says an account exists but is switched off for now.
pub(crate) fn is_suspended(lower: &str) -> bool {
    any(
        lower,
        &["disabled", "suspended", "deactivated", "on hold", "frozen"],
    )
}

fn is_suspension(lower: &str) -> bool {
    any(
        lower,
        &[
            "disabled",
            "suspended",
            "inactive",
            "deactivated",
            "not active",
            "blocked",
            "locked",
            "frozen",
            "temporarily",
            "on hold",
        ],
    )
}

/// The reason for one recipient, from its enhanced status code (`5.1.1`),
/// its SMTP reply code and the text around it (the diagnostic first).
#[must_use]
pub fn reason(status: Option<&str>, reply_code: Option<u16>, text: &str) -> Reason {
    let lower = text.to_ascii_lowercase();
    let from_text = from_text(&lower);
    let strong_text = strong_from_text(&lower);
    let Some(status) = status else {
        return match from_text {
            Reason::Other => from_reply_code(reply_code, &lower),
            r => r,
        };
    };
    let mut parts = status.split('.');
    let class = parts.next().unwrap_or("");
    let subject = parts.next().unwrap_or("");
    let detail = parts.next().unwrap_or("");
    let soft_text = matches!(
        strong_text,
        Reason::Policy
            | Reason::AuthFailure
            | Reason::RateLimited
            | Reason::MailboxFull
            | Reason::MessageTooBig
    );
    let specific = match (subject, detail) {
        ("1", "0" | "1" | "10" | "3") => Some(Reason::UserUnknown),
        ("1", "2") => Some(Reason::HostUnknown),
        ("1", "6") => Some(Reason::HasMoved),
        ("1", "7" | "8") => Some(Reason::Policy),
        ("2", "1") => Some(if from_text == Reason::UserUnknown {
            Reason::UserUnknown
        } else {
            Reason::NotAccepting
        }),
        ("2", "2") => Some(Reason::MailboxFull),
        ("2", "3") | ("3", "4") => Some(Reason::MessageTooBig),
        ("4", "7") => Some(Reason::Expired),
        ("4", "1" | "2" | "3" | "4" | "5" | "6") => Some(Reason::Network),
        ("7", "23" | "24" | "25" | "26") => Some(Reason::AuthFailure),
        ("3", "2") | ("7", "27") => Some(Reason::NotAccepting),
        ("7", "28") => Some(Reason::RateLimited),
        ("7", _) => Some(match from_text {
            Reason::AuthFailure | Reason::RateLimited => from_text,
            Reason::NotAccepting if is_suspension(&lower) => Reason::NotAccepting,
            _ if class == "4" && any(&lower, RATE) => Reason::RateLimited,
            _ => Reason::Policy,
        }),
        _ => None,
    };
    match specific {
        // A specific code that says the address is dead yields to a text that
        // says the refusal was about the message or the sender.
        Some(r) if r.is_address_dead() && soft_text => strong_text,
        // A routing status (4.4.x) names its cause in the text, but not by
        // the weak words of policy: "Connection refused" is the network.
        Some(Reason::Network) if strong_text != Reason::Other => strong_text,
        Some(r) => r,
        None => match from_text {
            Reason::Other => from_reply_code(reply_code, &lower),
            r => r,
        },
    }
}

fn from_reply_code(reply_code: Option<u16>, lower: &str) -> Reason {
    match reply_code {
        Some(552) if any(lower, &["size", "big", "large"]) => Reason::MessageTooBig,
        Some(551) if any(lower, &["try ", "moved", "forward"]) => Reason::HasMoved,
        Some(421 | 450 | 451) if any(lower, RATE) => Reason::RateLimited,
        _ => Reason::Other,
    }
}

const RATE: &[&str] = &[
    "rate limit",
    "ratelimit",
    "rate-limit",
    "too many",
    "throttl",
    "sending rate",
    "exceeded the rate",
    "too fast",
    "frequency",
    "limit exceeded",
    "exceeded the maximum number of",
    "receiving mail at a rate",
];

/// The reason a text gives, or [`Reason::Other`]. The order matters: the
/// soft reasons that blame the message or the sender are tried first, so a
/// "mailbox unavailable" that is really a blocklist is not called dead.
#[must_use]
pub(crate) fn from_text(lower: &str) -> Reason {
    text_reason(lower, true)
}

/// As [`from_text`], without the weak words of policy (`rejected`,
/// `denied`), which say nothing against a specific status code.
fn strong_from_text(lower: &str) -> Reason {
    text_reason(lower, false)
}

fn text_reason(lower: &str, weak: bool) -> Reason {
    const AUTH: &[&str] = &[
        "spf",
        "dkim",
        "dmarc",
        "sender policy framework",
        "authentication information",
        "fails to pass authentication",
        "not authenticated",
        "unauthenticated",
        "domainkeys",
    ];
    // Words that blame the sender or the message whatever else is said.
    const POLICY: &[&str] = &[
        "spam",
        "blocked",
        "block list",
        "blocklist",
        "blacklist",
        "black list",
        "denylist",
        "rbl",
        "dnsbl",
        "spamhaus",
        "spamcop",
        "sorbs",
        "barracuda",
        "cloudmark",
        "reputation",
        "is listed",
        "are listed",
        "listed on",
        "listed at",
        "listed by",
        "junk",
        "virus",
        "malware",
        "phish",
        "unsolicited",
        "bulk mail",
        "relay access",
        "relaying",
        "unable to relay",
        "relay not",
        "not relay",
        "relay denied",
        "sender address",
        "sender domain",
        "sender verify",
        "sender rejected",
        "sender is",
        "mail from",
        "reverse dns",
        "ptr record",
        "rdns",
        "reverse lookup",
        "not compliant",
        "rfc 5322",
        "rfc5322",
        "rfc 2822",
        "helo",
        "ehlo",
        // qmail-remote: the HELO name or the envelope sender was refused.
        "my name was rejected",
        "does not like sender",
        "your ip",
        "client host",
        "greylist",
        "graylist",
        "banned",
        "abuse",
        // The recipient's own filter: "refused due to recipient preferences".
        "preferences",
    ];
    // Words that blame the sender only when nothing says the address is dead.
    const WEAK_POLICY: &[&str] = &[
        "policy",
        "policies",
        "not allowed",
        "denied",
        "prohibited",
        "filter",
        "header",
        "content",
        "security",
        "suspicious",
        "refused to accept",
        "not permitted",
        "unauthorized",
        "authentication required",
        "rejected",
        "refused",
    ];
    const FULL: &[&str] = &[
        "over quota",
        "overquota",
        "quota exceeded",
        "exceeded quota",
        "exceeds quota",
        "exceeds its quota",
        "over its quota",
        "quota",
        "mailbox full",
        "mailbox is full",
        "mailbox has exceeded",
        "full mailbox",
        "inbox is full",
        "mailfolder is full",
        "mail box full",
        "insufficient storage",
        "storage allocation",
        "exceeded storage",
        "out of storage",
        "not enough storage",
        "disk full",
        "too much mail",
        "mailbox size limit",
        "disk space",
    ];
    const TOO_BIG: &[&str] = &[
        "too big",
        "too large",
        "message size",
        "size limit",
        "exceeds the maximum size",
        "exceeds size",
        "maximum message size",
        "message length exceeds",
        "exceeded the maximum size",
    ];
    const HOST: &[&str] = &[
        "host not found",
        "host unknown",
        "unknown host",
        "domain not found",
        "domain does not exist",
        "domain doesn't exist",
        "no such domain",
        "unknown domain",
        "domain name not found",
        "host or domain name not found",
        "unrouteable mail domain",
        "unroutable mail domain",
        "no mx",
        "mx record",
        "nxdomain",
        "dns error",
        "name or service not known",
        "non-existent domain",
        "nonexistent domain",
        "domain is not",
        "no valid host",
        "mail exchanger",
        "dns lookup failure",
        "couldn't find any host",
        "could not find any host",
        "invalid domain",
        "illegal host",
    ];
    const MOVED: &[&str] = &[
        "has moved",
        "user has moved",
        "no longer at",
        "forwarding address",
        "address has changed",
        "changed address",
        "new address",
    ];
    const NOT_ACCEPTING: &[&str] = &[
        "does not accept mail",
        "doesn't accept mail",
        "not accepting mail",
        "not accepting network messages",
        "no smtp service",
        "accepts no mail",
        "null mx",
        "mailbox disabled",
        "mailbox is disabled",
        "account disabled",
        "account is disabled",
        "account has been disabled",
        "has been disabled",
        "deactivated",
        "inactive",
        "suspended",
        "no longer active",
        "not active",
        "account has been closed",
        "account closed",
        "mailbox closed",
        "account expired",
        "expired account",
        "locked",
        "frozen",
    ];
    const USER: &[&str] = &[
        "user unknown",
        "unknown user",
        "unknown recipient",
        "recipient unknown",
        "unknown address",
        "address unknown",
        "unknown mailbox",
        "unknown local part",
        "unknown or illegal alias",
        "no such user",
        "no such recipient",
        "no such mailbox",
        "no such address",
        "no such account",
        "no such person",
        "does not exist",
        "doesn't exist",
        "not exist",
        "nonexistent",
        "non-existent",
        "invalid recipient",
        "invalid mailbox",
        "invalid address",
        "invalid user",
        "user invalid",
        "mailbox unavailable",
        "mailbox not available",
        "user not found",
        "address not found",
        "mailbox not found",
        "recipient not found",
        "recipientnotfound",
        "not found",
        "not a valid",
        "undeliverable address",
        "no mailbox",
        "user doesn't have",
        "doesn't have a",
        "does not have an account",
        "unrouteable address",
        "unroutable address",
        "no valid recipients",
        "not our customer",
        "bad destination mailbox",
        "bad recipient",
        "no account",
        "not a known user",
        "unknown account",
        "no user",
        "not listed in",
        "wasn't found",
        "was not found",
        "mailbox is unavailable",
        "not valid",
        "no longer",
    ];
    const EXPIRED: &[&str] = &[
        "retry timeout exceeded",
        "retry time not reached",
        "delivery time expired",
        "expired",
        "too long",
        "giving up",
        "have given up",
        "gave up",
        "could not be delivered within",
        "was undeliverable within",
        "for more than",
        "for past",
    ];
    const NETWORK: &[&str] = &[
        "connection refused",
        "connection timed out",
        "timed out",
        "timeout",
        "network",
        "unreachable",
        "lost connection",
        "connection reset",
        "connection closed",
        "no route to host",
        "could not connect",
        "couldn't connect",
        "unable to connect",
        "tls",
        "no answer",
        "conversation with",
        "temporary failure",
        "temporarily",
    ];
    let cleaned = without_names(lower);
    let lower = cleaned.as_str();
    if any(lower, AUTH) {
        Reason::AuthFailure
    } else if any(lower, RATE) {
        Reason::RateLimited
    } else if any(lower, FULL) {
        Reason::MailboxFull
    } else if any(lower, TOO_BIG) {
        Reason::MessageTooBig
    } else if any(lower, POLICY) {
        Reason::Policy
    } else if any(lower, HOST) {
        Reason::HostUnknown
    } else if any(lower, MOVED) {
        Reason::HasMoved
    } else if any(lower, NOT_ACCEPTING) {
        Reason::NotAccepting
    } else if any(lower, USER) {
        Reason::UserUnknown
    } else if weak && any(lower, WEAK_POLICY) {
        Reason::Policy
    } else if any(lower, EXPIRED) {
        Reason::Expired
    } else if any(lower, NETWORK) {
        Reason::Network
    } else {
        Reason::Other
    }
}

/// The text without addresses and header-like names (`X-Outbound-
/// Mail-Relay;`), whose words (`filtered@…`, `relay`) say nothing.
fn without_names(lower: &str) -> String {
    lower
        .split_whitespace()
        .filter(|w| !w.contains('@') && !w.starts_with("x-"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routing_status_reads_its_cause_without_weak_words() {
        assert_eq!(
            reason(
                Some("4.4.1"),
                None,
                "connect to x[192.0.2.1]:25: Connection refused"
            ),
            Reason::Network
        );
        assert_eq!(
            reason(Some("5.4.4"), Some(550), "550 5.4.4 Invalid domain"),
            Reason::HostUnknown
        );
    }

    #[test]
    fn specific_codes_win_over_vague_text() {
        assert_eq!(
            reason(Some("5.1.1"), Some(550), "User Unknown"),
            Reason::UserUnknown
        );
        assert_eq!(
            reason(Some("5.2.2"), Some(552), "sorry"),
            Reason::MailboxFull
        );
        assert_eq!(
            reason(Some("5.1.1"), Some(550), "blocked by spamhaus"),
            Reason::Policy
        );
        assert_eq!(
            reason(Some("5.7.1"), Some(550), "DMARC policy"),
            Reason::AuthFailure
        );
        assert_eq!(
            reason(Some("4.7.0"), Some(421), "too many connections"),
            Reason::RateLimited
        );
    }

    #[test]
    fn generic_codes_read_the_text() {
        assert_eq!(
            reason(Some("5.0.0"), Some(550), "no such user here"),
            Reason::UserUnknown
        );
        assert_eq!(
            reason(None, Some(552), "Mailbox is full"),
            Reason::MailboxFull
        );
        assert_eq!(
            reason(None, Some(550), "Domain does not exist"),
            Reason::HostUnknown
        );
        assert_eq!(
            reason(None, Some(550), "Sender address rejected: Domain not found"),
            Reason::Policy
        );
    }

    #[test]
    fn temporary_and_suspended_are_never_hard() {
        let dead = Reason::UserUnknown;
        assert!(hard(dead, Some("5.1.1"), Some(550), "", ""));
        assert!(!hard(dead, Some("4.1.1"), Some(450), "", ""));
        let text = "account suspended";
        assert!(!hard(
            Reason::NotAccepting,
            Some("5.2.1"),
            Some(550),
            text,
            ""
        ));
        assert!(!hard(Reason::Policy, Some("5.7.1"), Some(550), "", ""));
    }

    #[test]
    fn a_status_corroborates_only_the_death_it_names() {
        let dead = Reason::UserUnknown;
        let said = "550 5.2.1 <a@b.example>... User Unknown";
        assert!(!hard(dead, Some("5.2.1"), Some(550), said, said));
        let rcpt = format!("{said} (in reply to RCPT TO command)");
        assert!(hard(dead, Some("5.2.1"), Some(550), said, &rcpt));
        assert!(hard(Reason::NotAccepting, Some("5.2.1"), Some(550), "", ""));
    }

    #[test]
    fn disabled_accounts_programs_and_sender_refusals_are_never_hard() {
        let dead = Reason::UserUnknown;
        let disabled = "The user(s) account is disabled.\n550 user unknown";
        assert!(!hard(dead, Some("5.1.1"), Some(550), "", disabled));
        let program = "user unknown. Command output: procmail: No such user";
        assert!(!hard(dead, Some("5.1.1"), None, program, program));
        let helo = "Connected to 192.0.2.1 but my name was rejected.";
        assert!(!hard(Reason::HostUnknown, None, Some(501), "", helo));
        let null_mx = "an MX or SRV record indicated no SMTP service";
        assert!(hard(Reason::NotAccepting, None, None, null_mx, null_mx));
    }

    #[test]
    fn text_alone_is_hard_only_with_a_transcript_of_rcpt() {
        let dead = Reason::UserUnknown;
        assert!(!hard(
            dead,
            None,
            Some(550),
            "user unknown",
            "550 user unknown"
        ));
        let rcpt = ">>> RCPT TO:<a@b.example>\n<<< 550 user unknown";
        assert!(hard(dead, None, Some(550), "user unknown", rcpt));
        let data = "(in reply to end of DATA command)";
        assert!(!hard(dead, Some("5.1.1"), Some(550), "", data));
        let pipelined = ">>> DATA\n<<< 550 5.1.1 user unknown\n<<< 503 5.0.0 Need RCPT";
        assert!(hard(dead, Some("5.1.1"), Some(550), "", pipelined));
    }
}
