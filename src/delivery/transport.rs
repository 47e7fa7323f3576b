//! Where a finished message goes: the one [`Transport`] trait, what it takes
//! (an [`Outgoing`] message: raw bytes for an envelope) and what it answers
//! (the server's acceptance, or a [`DeliverError`] that says at which
//! [`Step`] it failed, with which reply code, and so what the engine does).
//!
//! Implementations: [`super::smtp::SmtpTransport`] and [`super::outbox::Outbox`];
//! tests may add their own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use lettre::address::Envelope;
use thiserror::Error;

/// A future a transport returns (boxed, so `Transport` can be a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One message ready to go: its envelope, its Message-ID (for the ledger and
/// the outbox file name) and its bytes, CRLF line ends, as the server gets them.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `MAIL FROM` and `RCPT TO`.
    pub envelope: Envelope,
    /// The `Message-ID` header value, `<...@domain>`.
    pub message_id: String,
    /// The whole message: headers, blank line, body.
    pub bytes: Vec<u8>,
}

impl Outgoing {
    /// A lettre message as it goes on the wire, its envelope and Message-ID.
    #[must_use]
    pub fn from_message(message: &lettre::Message) -> Self {
        let message_id = message
            .headers()
            .get_raw("Message-ID")
            .unwrap_or_default()
            .trim()
            .to_owned();
        Self {
            envelope: message.envelope().clone(),
            message_id,
            bytes: message.formatted(),
        }
    }
}

/// Sends messages. `Send + Sync`: one transport serves every sending task.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Delivers one message; `Ok` holds the server's acceptance (`250 ...`)
    /// or where the message was written.
    fn send<'a>(&'a self, message: &'a Outgoing) -> BoxFuture<'a, Result<String, DeliverError>>;

    /// Ends idle connections politely; called once at the end of a run.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Said once at the start of a run, when messages do not leave the machine.
    fn notice(&self) -> Option<String> {
        None
    }
}

/// Where in the SMTP exchange a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Resolving and opening the TCP connection.
    Connect,
    /// The TLS handshake (implicit TLS or after STARTTLS).
    Tls,
    /// The greeting and EHLO.
    Greeting,
    /// STARTTLS.
    StartTls,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, before any message byte was sent.
    Data,
    /// The message data and its final reply: from here on the server may
    /// have the message.
    Content,
    /// Writing to the outbox folder.
    Outbox,
}

impl Step {
    /// Whether the step is part of one message's transaction (not the session).
    #[must_use]
    pub fn is_transaction(self) -> bool {
        matches!(self, Self::Mail | Self::Rcpt | Self::Data | Self::Content)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Tls => "TLS handshake",
            Self::Greeting => "greeting",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::Content => "message data",
            Self::Outbox => "outbox",
        })
    }
}

/// A server reply or the error that stood in for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The step that failed.
    pub step: Step,
    /// The SMTP reply code, when the server answered (`None`: a network or TLS error).
    pub code: Option<u16>,
    /// The reply text (the server's first line), or the error, each cause once.
    pub text: String,
}

impl Reply {
    /// A server's answer.
    #[must_use]
    pub fn coded(step: Step, code: u16, text: impl Into<String>) -> Self {
        Self {
            step,
            code: Some(code),
            text: text.into(),
        }
    }

    /// A failure without a reply (network, TLS, timeout).
    #[must_use]
    pub fn uncoded(step: Step, text: impl Into<String>) -> Self {
        Self {
            step,
            code: None,
            text: text.into(),
        }
    }
}

impl Reply {
    /// The enhanced status code at the start of the text (RFC 3463: `5.1.1`).
    #[must_use]
    pub fn enhanced_status(&self) -> Option<(u8, u16, u16)> {
        let word = self.text.split_whitespace().next()?;
        let mut parts = word.split('.');
        let class = parts.next()?.parse().ok()?;
        let subject = parts.next()?.parse().ok()?;
        let detail = parts.next()?.parse().ok()?;
        (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
    }

    /// Whether the server refused the address itself: a 5xx to RCPT TO,
    /// unless its enhanced status says otherwise (`5.7.x`: policy or
    /// authentication, `5.3.x` / `5.4.x`: the server or the network, `5.6.x`:
    /// the content). Only such a refusal counts toward marking a reader
    /// bounced; anything else is the sender's or the message's problem.
    #[must_use]
    pub fn is_address_refused(&self) -> bool {
        let permanent = self.code.is_some_and(|c| (500..600).contains(&c));
        if !permanent || self.step != Step::Rcpt {
            return false;
        }
        match self.enhanced_status() {
            // Addressing (5.1.x) but not the sender's address (5.1.7, 5.1.8);
            // a disabled mailbox (5.2.1), not a full one (5.2.2) or too big a
            // message (5.2.3).
            Some((_, 1, detail)) => !matches!(detail, 7 | 8),
            Some(status) => status.1 == 2 && status.2 == 1,
            None => true,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) if self.text.is_empty() => write!(f, "{code}"),
            Some(code) => write!(f, "{code} {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// Why a message was not delivered, in the terms the engine acts on.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DeliverError {
    /// A temporary failure (4xx, a refused or reset connection, a timeout
    /// before the data was sent): the server surely does not have the message.
    #[error("temporary failure at {}: {reply}", reply.step)]
    Transient {
        /// What the server said, or the network error.
        reply: Reply,
    },
    /// The server refused this message for good (5xx to MAIL, RCPT, DATA or the data).
    #[error("permanent failure at {}: {reply}", reply.step)]
    Permanent {
        /// What the server said.
        reply: Reply,
    },
    /// The connection was lost or timed out after the message data was sent
    /// and before the server answered: it may have been delivered.
    #[error("delivery unknown: {reply}")]
    Unknown {
        /// The network error.
        reply: Reply,
    },
    /// The server refuses the session (5xx greeting or EHLO): nothing can go
    /// through now; the run stops.
    #[error("the mail server refused the session at {}: {reply}", reply.step)]
    Session {
        /// What the server said.
        reply: Reply,
    },
    /// The settings cannot work with this server (an untrusted certificate,
    /// refused credentials, AUTH offered only after STARTTLS): the run stops
    /// at once and the operator has to change something.
    #[error("{reply}; {fix}")]
    Config {
        /// What happened.
        reply: Reply,
        /// What to change.
        fix: String,
    },
}

/// The class of a [`DeliverError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Retry later.
    Transient,
    /// Record, do not retry.
    Permanent,
    /// May have been delivered.
    Unknown,
    /// Nothing can be delivered now: stop the run.
    Session,
    /// Nothing can be delivered with these settings: stop the run.
    Config,
}

impl DeliverError {
    /// The class of failure.
    #[must_use]
    pub fn failure(&self) -> Failure {
        match self {
            Self::Transient { .. } => Failure::Transient,
            Self::Permanent { .. } => Failure::Permanent,
            Self::Unknown { .. } => Failure::Unknown,
            Self::Session { .. } => Failure::Session,
            Self::Config { .. } => Failure::Config,
        }
    }

    /// What the server said, or the error that stood in for a reply.
    #[must_use]
    pub fn reply(&self) -> &Reply {
        match self {
            Self::Transient { reply }
            | Self::Permanent { reply }
            | Self::Unknown { reply }
            | Self::Session { reply }
            | Self::Config { reply, .. } => reply,
        }
    }

    /// Classifies a failure by its step and reply code alone: a 4xx is
    /// temporary; a 5xx refuses the message during a transaction and the
    /// session before one; no reply at all is temporary before the data was
    /// sent and unknown after.
    #[must_use]
    pub fn from_reply(reply: Reply) -> Self {
        match (reply.code, reply.step) {
            (Some(c), _) if (400..500).contains(&c) => Self::Transient { reply },
            (Some(_), step) if step.is_transaction() => Self::Permanent { reply },
            (Some(_), _) => Self::Session { reply },
            (None, Step::Content) => Self::Unknown { reply },
            (None, _) => Self::Transient { reply },
        }
    }
}

/// The text of an error and its causes, each said once: libraries that put
/// their source's text in their own message (lettre does) would otherwise
/// repeat it, as in "Connection error: Connection error: invalid peer
/// certificate: `UnknownIssuer`: …".
#[must_use]
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let mut text = e.to_string();
        let next = e.source();
        if let Some(n) = next {
            let inner = n.to_string();
            if let Some(own) = text.strip_suffix(&inner) {
                text = own.trim_end_matches([':', ' ']).to_owned();
            }
        }
        let text = text.trim().to_owned();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        current = next;
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified_by_code_and_step_not_by_their_text() {
        let at = |step, code: Option<u16>| {
            DeliverError::from_reply(Reply {
                step,
                code,
                text: "550 looks permanent but is not the code".into(),
            })
            .failure()
        };
        assert_eq!(at(Step::Rcpt, Some(451)), Failure::Transient);
        assert_eq!(at(Step::Content, Some(452)), Failure::Transient);
        assert_eq!(at(Step::Rcpt, Some(550)), Failure::Permanent);
        assert_eq!(at(Step::Content, Some(554)), Failure::Permanent);
        assert_eq!(at(Step::Greeting, Some(554)), Failure::Session);
        assert_eq!(at(Step::Connect, None), Failure::Transient);
        assert_eq!(at(Step::Data, None), Failure::Transient);
        assert_eq!(at(Step::Content, None), Failure::Unknown);
    }

    #[test]
    fn only_a_refused_address_counts_toward_a_bounce() {
        let rcpt = |code, text: &str| Reply::coded(Step::Rcpt, code, text).is_address_refused();
        assert!(rcpt(550, "5.1.1 no such mailbox here"));
        assert!(
            rcpt(550, "user unknown"),
            "no enhanced status: the RCPT refusal decides"
        );
        assert!(rcpt(550, "5.2.1 mailbox disabled"));
        assert!(
            !rcpt(550, "5.7.1 message refused as spam"),
            "policy: the sender's problem"
        );
        assert!(!rcpt(552, "5.2.2 mailbox full"));
        assert!(!rcpt(553, "5.1.8 bad sender address"));
        assert!(!rcpt(450, "4.1.1 try later"));
        let at = |step| Reply::coded(step, 500, "5.5.2 line too long").is_address_refused();
        assert!(!at(Step::Content), "the message's problem");
        assert!(!at(Step::Mail) && !at(Step::Data));
        assert_eq!(
            Reply::coded(Step::Rcpt, 550, "5.1.1 x").enhanced_status(),
            Some((5, 1, 1))
        );
    }

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<Wrap>>);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match &self.1 {
                Some(inner) => write!(f, "{}: {inner}", self.0),
                None => f.write_str(self.0),
            }
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|w| w as _)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = Wrap(
            "Connection error",
            Some(Box::new(Wrap(
                "Connection error",
                Some(Box::new(Wrap(
                    "invalid peer certificate: UnknownIssuer",
                    None,
                ))),
            ))),
        );
        assert_eq!(
            error_text(&e),
            "Connection error: invalid peer certificate: UnknownIssuer"
        );
    }
}
