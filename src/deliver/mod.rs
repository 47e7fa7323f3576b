//! Hands finished `lettre::Message`s to the mail server, or to the outbox
//! folder as `.eml` files when no SMTP URL is set, and says precisely how a
//! failed delivery failed: transient (retry), permanent (record, maybe
//! bounce), unknown (the connection was cut after the message data went out,
//! so the server may have it), or a session failure that stops the run.
//!
//! SMTP runs on a small pool of lettre `AsyncSmtpConnection`s driven command
//! by command (MAIL, RCPT, DATA, then the data): lettre's pooled transport
//! reports a dropped connection the same way whatever the phase, and the
//! exactly-once ledger needs to know whether the data had been sent.
//!
//! Knows nothing of subscribers or the ledger; credentials are never logged.

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use thiserror::Error;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::Config;

/// How long one SMTP step (connect, a command, the data) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a message was not delivered, in the terms the sender acts on.
#[derive(Debug, Error)]
pub enum DeliverError {
    /// A temporary failure (4xx reply, refused or reset connection, timeout
    /// before the data was sent): the server surely does not have the message.
    #[error("temporary failure: {reply}")]
    Transient {
        /// The server reply or network error.
        reply: String,
    },
    /// The server refused this message for good (5xx).
    #[error("permanent failure: {reply}")]
    Permanent {
        /// The server reply.
        reply: String,
    },
    /// The connection was lost (or timed out) after the message data was
    /// sent and before the server answered: it may have been delivered.
    #[error("delivery unknown: {reply}")]
    Unknown {
        /// The network error.
        reply: String,
    },
    /// The server refused the session itself (authentication, TLS, a
    /// permanent greeting): no message can go through, stop the run.
    #[error("the mail server refused the session: {reply}")]
    Session {
        /// The server reply or error.
        reply: String,
    },
    /// The SMTP settings are unusable.
    #[error("invalid SMTP setting: {0}")]
    Config(String),
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
    /// Nothing can be delivered now.
    Session,
}

impl DeliverError {
    /// The class of failure.
    #[must_use]
    pub fn failure(&self) -> Failure {
        match self {
            Self::Transient { .. } => Failure::Transient,
            Self::Permanent { .. } => Failure::Permanent,
            Self::Unknown { .. } => Failure::Unknown,
            Self::Session { .. } | Self::Config(_) => Failure::Session,
        }
    }

    /// Whether trying again later can succeed without risking a duplicate.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.failure() == Failure::Transient
    }

    /// The reply or error text, for the ledger.
    #[must_use]
    pub fn reply(&self) -> &str {
        match self {
            Self::Transient { reply }
            | Self::Permanent { reply }
            | Self::Unknown { reply }
            | Self::Session { reply }
            | Self::Config(reply) => reply,
        }
    }
}

/// Where messages go: an SMTP server or the outbox folder.
pub struct Transport {
    inner: Inner,
}

enum Inner {
    Smtp(SmtpPool),
    Outbox {
        dir: PathBuf,
        files: AsyncFileTransport<Tokio1Executor>,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints credentials.
        match &self.inner {
            Inner::Smtp(p) => write!(f, "Transport::Smtp({}:{})", p.host, p.port),
            Inner::Outbox { dir, .. } => write!(f, "Transport::Outbox({})", dir.display()),
        }
    }
}

impl Transport {
    /// SMTP from `config.smtp_url` with at most `config.connections`
    /// connections, or the outbox folder when no URL is set.
    ///
    /// # Errors
    /// [`DeliverError::Config`] for a URL lettre cannot use.
    pub fn from_config(config: &Config) -> Result<Self, DeliverError> {
        match &config.smtp_url {
            Some(url) => {
                let credentials = match (&config.smtp_user, &config.smtp_password) {
                    (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.expose().to_owned())),
                    (Some(u), None) => Some(Credentials::new(u.clone(), String::new())),
                    _ => None,
                };
                let pool = SmtpPool::from_url(url, credentials, config.connections)?;
                Ok(Self {
                    inner: Inner::Smtp(pool),
                })
            }
            None => Ok(Self::outbox(config.outbox.clone())),
        }
    }

    /// Writes each message as `<id>.eml` into `dir` (created on first send).
    #[must_use]
    pub fn outbox(dir: PathBuf) -> Self {
        let files = AsyncFileTransport::new(&dir);
        Self {
            inner: Inner::Outbox { dir, files },
        }
    }

    /// The outbox folder, when this transport writes files.
    #[must_use]
    pub fn outbox_dir(&self) -> Option<&std::path::Path> {
        match &self.inner {
            Inner::Outbox { dir, .. } => Some(dir),
            Inner::Smtp(_) => None,
        }
    }

    /// Sets how long each SMTP step may take (tests use short ones).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let Inner::Smtp(p) = &mut self.inner {
            p.timeout = timeout;
        }
        self
    }

    /// Delivers one message.
    ///
    /// # Errors
    /// Classified as in [`DeliverError`].
    pub async fn send(&self, message: &Message) -> Result<(), DeliverError> {
        self.deliver(message).await.map(|_| ())
    }

    /// Delivers one message and returns the server's acceptance reply
    /// (`250 ...`) or where the file was written.
    ///
    /// # Errors
    /// Classified as in [`DeliverError`].
    pub async fn deliver(&self, message: &Message) -> Result<String, DeliverError> {
        match &self.inner {
            Inner::Smtp(pool) => pool.send(message.envelope(), &message.formatted()).await,
            Inner::Outbox { dir, files } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| DeliverError::Session {
                        reply: format!("could not create the outbox `{}`: {e}", dir.display()),
                    })?;
                files
                    .send(message.clone())
                    .await
                    .map(|id| format!("written to {}", dir.join(format!("{id}.eml")).display()))
                    .map_err(|e| DeliverError::Session {
                        reply: format!("could not write to the outbox `{}`: {e}", dir.display()),
                    })
            }
        }
    }

    /// Closes idle connections politely (QUIT).
    pub async fn close(&self) {
        if let Inner::Smtp(pool) = &self.inner {
            let idle: Vec<_> = pool
                .idle
                .lock()
                .map(|mut v| v.drain(..).collect())
                .unwrap_or_default();
            for mut conn in idle {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
            }
        }
    }
}

#[derive(Clone)]
enum Tls {
    None,
    Wrapper(TlsParameters),
    Required(TlsParameters),
    Opportunistic(TlsParameters),
}

struct SmtpPool {
    host: String,
    port: u16,
    tls: Tls,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
}

/// Where in the SMTP transaction a step failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Envelope,
    Content,
}

impl SmtpPool {
    fn from_url(
        raw: &str,
        credentials: Option<Credentials>,
        connections: usize,
    ) -> Result<Self, DeliverError> {
        // lettre's own parser first, so errors read as lettre users expect.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| DeliverError::Config(format!("HOTPAPERS_SMTP_URL: {e}")))?;
        let url = Url::parse(raw)
            .map_err(|e| DeliverError::Config(format!("HOTPAPERS_SMTP_URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| DeliverError::Config("HOTPAPERS_SMTP_URL: no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let params = || {
            TlsParameters::new(host.clone())
                .map_err(|e| DeliverError::Config(format!("HOTPAPERS_SMTP_URL: TLS: {e}")))
        };
        let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required(params()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(params()?), 587),
            ("smtps", _) => (Tls::Wrapper(params()?), 465),
            (scheme, tls) => {
                return Err(DeliverError::Config(format!(
                    "HOTPAPERS_SMTP_URL: unknown scheme `{scheme}` or tls `{}`",
                    tls.unwrap_or("")
                )))
            }
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let from_url = (!url.username().is_empty()).then(|| {
            Credentials::new(
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        Ok(Self {
            port: url.port().unwrap_or(default_port),
            host,
            tls,
            hello,
            credentials: from_url.or(credentials),
            timeout: DEFAULT_TIMEOUT,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(connections.max(1)),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliverError> {
        let greeting = match &self.tls {
            // Implicit TLS: lettre opens the socket and wraps it.
            Tls::Wrapper(p) => {
                self.step(
                    AsyncSmtpConnection::connect_tokio1(
                        (self.host.as_str(), self.port),
                        Some(self.timeout),
                        &self.hello,
                        Some(p.clone()),
                        None,
                    ),
                    Phase::Envelope,
                )
                .await
            }
            // Our own socket, with TCP_NODELAY: lettre writes the message and
            // its final dot separately, and Nagle's algorithm would hold the
            // dot for the peer's delayed ACK (~40 ms per message).
            _ => {
                let tcp = self.open_tcp().await?;
                self.step(
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
                    Phase::Envelope,
                )
                .await
            }
        };
        let mut conn = greeting.map_err(|e| match e {
            // A 5xx greeting or EHLO refuses every message.
            DeliverError::Permanent { reply } => DeliverError::Session { reply },
            other => other,
        })?;
        match &self.tls {
            Tls::Required(p) | Tls::Opportunistic(p) if conn.can_starttls() => {
                self.step(conn.starttls(p.clone(), &self.hello), Phase::Envelope)
                    .await
                    .map_err(|e| DeliverError::Session {
                        reply: format!("STARTTLS: {}", e.reply()),
                    })?;
            }
            Tls::Required(_) => {
                return Err(DeliverError::Session {
                    reply: "the server does not offer STARTTLS, and the URL says tls=required"
                        .into(),
                })
            }
            _ => {}
        }
        if let Some(creds) = &self.credentials {
            self.step(
                conn.auth(&[Mechanism::Plain, Mechanism::Login], creds),
                Phase::Envelope,
            )
            .await
            .map_err(|e| match e {
                DeliverError::Transient { reply } => DeliverError::Transient { reply },
                other => DeliverError::Session {
                    reply: format!("authentication: {}", other.reply()),
                },
            })?;
        }
        Ok(conn)
    }

    async fn open_tcp(&self) -> Result<tokio::net::TcpStream, DeliverError> {
        let transient = |e: std::io::Error| DeliverError::Transient {
            reply: format!("Connection error: {}:{}: {e}", self.host, self.port),
        };
        let addrs = tokio::time::timeout(
            self.timeout,
            tokio::net::lookup_host((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| transient(std::io::ErrorKind::TimedOut.into()))?
        .map_err(transient)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
        for addr in addrs {
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    tcp.set_nodelay(true).map_err(transient)?;
                    return Ok(tcp);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = std::io::ErrorKind::TimedOut.into(),
            }
        }
        Err(transient(last))
    }

    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<String, DeliverError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DeliverError::Session {
                reply: "the transport was closed".into(),
            })?;
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        let (mut conn, was_reused) = match reused {
            Some(c) if !c.has_broken() => (c, true),
            _ => (self.connect().await?, false),
        };
        let mut result = self.transaction(&mut conn, envelope, bytes).await;
        if was_reused
            && matches!(&result, Err((Phase::Envelope, e)) if e.failure() == Failure::Transient && !is_reply(e))
        {
            // The server closed an idle connection: nothing was sent, reconnect once.
            conn = self.connect().await?;
            result = self.transaction(&mut conn, envelope, bytes).await;
        }
        match result {
            Ok(reply) => {
                self.give_back(conn);
                Ok(reply)
            }
            Err((_, e)) if is_reply(&e) => {
                // A refused transaction leaves a usable connection after RSET.
                if matches!(
                    tokio::time::timeout(self.timeout, conn.command("RSET\r\n")).await,
                    Ok(Ok(_))
                ) {
                    self.give_back(conn);
                }
                Err(e)
            }
            Err((_, e)) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.abort()).await;
                Err(e)
            }
        }
    }

    fn give_back(&self, conn: AsyncSmtpConnection) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(conn);
        }
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<String, (Phase, DeliverError)> {
        let mut options = Vec::new();
        let non_ascii_address = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err((
                    Phase::Envelope,
                    DeliverError::Permanent {
                        reply: "the address is not ASCII and the server does not support SMTPUTF8"
                            .into(),
                    },
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let env = |e| (Phase::Envelope, e);
        self.step(
            conn.command(Mail::new(envelope.from().cloned(), options)),
            Phase::Envelope,
        )
        .await
        .map_err(env)?;
        for to in envelope.to() {
            self.step(conn.command(Rcpt::new(to.clone(), vec![])), Phase::Envelope)
                .await
                .map_err(env)?;
        }
        self.step(conn.command(Data), Phase::Envelope)
            .await
            .map_err(env)?;
        self.step(conn.message(bytes), Phase::Content)
            .await
            .map(|r| {
                let text = r.message().next().unwrap_or_default();
                format!("{} {text}", r.code()).trim_end().to_owned()
            })
            .map_err(|e| (Phase::Content, e))
    }

    /// Runs one SMTP step under the timeout and classifies its failure.
    async fn step<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
        phase: Phase,
    ) -> Result<T, DeliverError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(&e, phase)),
            Err(_) => {
                let reply = format!("no answer within {}s", self.timeout.as_secs_f32());
                Err(match phase {
                    Phase::Envelope => DeliverError::Transient { reply },
                    Phase::Content => DeliverError::Unknown { reply },
                })
            }
        }
    }
}

/// Whether the error carries an SMTP reply code (the connection is still in sync).
fn is_reply(e: &DeliverError) -> bool {
    let r = e.reply();
    r.len() >= 3 && r.as_bytes()[..3].iter().all(u8::is_ascii_digit)
}

/// 4xx → transient, 5xx → permanent; no reply at all → transient before the
/// data was sent, unknown after.
fn classify(e: &lettre::transport::smtp::Error, phase: Phase) -> DeliverError {
    if let Some(code) = e.status() {
        let text = e
            .to_string()
            .split_once(": ")
            .map_or_else(String::new, |(_, m)| m.to_owned());
        let reply = format!("{code} {text}").trim_end().to_owned();
        return if e.is_permanent() {
            DeliverError::Permanent { reply }
        } else {
            DeliverError::Transient { reply }
        };
    }
    let mut reply = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reply.push_str(": ");
        reply.push_str(&s.to_string());
        source = s.source();
    }
    match phase {
        Phase::Envelope => DeliverError::Transient { reply },
        Phase::Content => DeliverError::Unknown { reply },
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_percent_decoded_and_never_printed() {
        let pool = SmtpPool::from_url(
            "smtp://us%40er:p%2Fss@127.0.0.1:2525/client.example",
            None,
            2,
        )
        .unwrap();
        assert_eq!(pool.port, 2525);
        let t = Transport {
            inner: Inner::Smtp(pool),
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("p/ss") && !shown.contains("p%2Fss"),
            "{shown}"
        );
        assert_eq!(percent_decode("p%2Fss%"), "p/ss%");
    }

    #[test]
    fn unknown_scheme_is_a_config_error() {
        let err = SmtpPool::from_url("http://127.0.0.1", None, 1)
            .err()
            .unwrap();
        assert!(matches!(err, DeliverError::Config(_)), "{err}");
    }
}
