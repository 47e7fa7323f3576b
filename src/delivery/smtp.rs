//! The SMTP transport: a small pool of lettre `AsyncSmtpConnection`s driven
//! step by step (MAIL, RCPT, DATA, then the data), because the exactly-once
//! ledger must know whether the data went out, and lettre's pooled transport
//! reports a dropped connection the same way whatever the step.
//!
//! The URL is parsed once, here ([`SmtpSettings::parse`]). Every socket is
//! ours, with `TCP_NODELAY` (lettre writes a message and its final dot
//! separately, and Nagle's algorithm would hold the dot for the peer's
//! delayed ACK, ~40 ms a message), implicit TLS included. Failures are
//! classified by step and reply code ([`DeliverError::from_reply`]); what no
//! retry can fix (an untrusted certificate, refused credentials, AUTH offered
//! only after STARTTLS) is a [`DeliverError::Config`] that stops the run.
//! Credentials are never logged, and never sent unencrypted beyond loopback.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)] // see `ImplicitTls`
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::sync::Semaphore;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::transport::{error_text, BoxFuture, DeliverError, Outgoing, Reply, Step, Transport};
pub use crate::config::{SmtpSettingError, SmtpSettings, TlsMode};

/// How long one SMTP step (connect, a command, the data) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(1);

/// Sends over SMTP with at most N connections, reused between messages.
pub struct SmtpTransport {
    settings: SmtpSettings,
    tls: Option<TlsParameters>,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SmtpTransport({}:{}, {:?})",
            self.settings.host, self.settings.port, self.settings.tls
        )
    }
}

impl SmtpTransport {
    /// A transport for `settings` with at most `connections` open at once.
    ///
    /// # Errors
    /// When the CA file cannot be read or holds no certificate.
    pub fn new(settings: SmtpSettings, connections: usize) -> Result<Self, SmtpSettingError> {
        let tls = match settings.tls {
            TlsMode::None => None,
            _ => Some(tls_parameters(&settings)?),
        };
        let hello = settings
            .hello
            .clone()
            .map_or_else(ClientId::default, ClientId::Domain);
        let credentials = settings.user.as_ref().map(|u| {
            Credentials::new(
                u.clone(),
                settings
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            )
        });
        Ok(Self {
            settings,
            tls,
            hello,
            credentials,
            timeout: DEFAULT_TIMEOUT,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(connections.max(1)),
        })
    }

    /// Sets how long each SMTP step may take (tests use short ones).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliverError> {
        let tcp = self.open_tcp().await?;
        let mut encrypted = false;
        let stream: Box<dyn AsyncTokioStream> = match (self.settings.tls, &self.tls) {
            (TlsMode::Implicit, Some(params)) => {
                let peer = tcp.peer_addr().ok();
                #[allow(deprecated)] // lettre's own TLS stream, over our NODELAY socket
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                self.timed(Step::Tls, stream.upgrade_tls(params.clone()))
                    .await?
                    .map_err(|e| self.tls_error(&e))?;
                encrypted = true;
                Box::new(ImplicitTls {
                    stream: stream.compat(),
                    peer,
                })
            }
            _ => Box::new(tcp),
        };
        let conn = self
            .timed(
                Step::Greeting,
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
            )
            .await?
            .map_err(|e| self.classify(&e, Step::Greeting))?;
        let mut conn = conn;
        match (self.settings.tls, &self.tls) {
            (TlsMode::Required | TlsMode::Opportunistic, Some(params)) if conn.can_starttls() => {
                self.timed(Step::StartTls, conn.starttls(params.clone(), &self.hello))
                    .await?
                    .map_err(|e| self.starttls_error(&e))?;
                encrypted = true;
            }
            (TlsMode::Required, _) => {
                return Err(DeliverError::Config {
                    reply: Reply::uncoded(Step::StartTls, "the server does not offer STARTTLS"),
                    fix: "the URL says tls=required: use the server's submission port (587) or smtps:// (465), or drop tls=required if the connection is trusted".to_owned(),
                })
            }
            _ => {}
        }
        if let Some(creds) = &self.credentials {
            self.authenticate(&mut conn, creds, encrypted).await?;
        }
        Ok(conn)
    }

    async fn authenticate(
        &self,
        conn: &mut AsyncSmtpConnection,
        creds: &Credentials,
        encrypted: bool,
    ) -> Result<(), DeliverError> {
        let config = |text: &str, fix: &str| DeliverError::Config {
            reply: Reply::uncoded(Step::Auth, text),
            fix: fix.to_owned(),
        };
        if !encrypted && !self.settings.is_loopback() {
            return Err(config(
                &format!(
                    "refusing to send the SMTP password unencrypted to {}",
                    self.settings.host
                ),
                "use smtps:// (port 465) or add ?tls=required to HOTPAPERS_SMTP_URL",
            ));
        }
        let info = conn.server_info();
        let offered = [Mechanism::Plain, Mechanism::Login]
            .iter()
            .any(|m| info.supports_auth_mechanism(*m));
        if !offered {
            return Err(if !encrypted && conn.can_starttls() {
                config(
                    "the server offers AUTH only after STARTTLS",
                    "add ?tls=required to HOTPAPERS_SMTP_URL (or use smtps://)",
                )
            } else {
                config(
                    "the server offers no AUTH PLAIN or LOGIN",
                    "check HOTPAPERS_SMTP_URL (the submission port is usually 587), or unset HOTPAPERS_SMTP_USER if the server needs no login",
                )
            });
        }
        match self
            .timed(
                Step::Auth,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], creds),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => match self.classify(&e, Step::Auth) {
                DeliverError::Session { reply } => Err(DeliverError::Config {
                    reply,
                    fix: "the server refused the login: check HOTPAPERS_SMTP_USER and HOTPAPERS_SMTP_PASSWORD".to_owned(),
                }),
                other => Err(other),
            },
        }
    }

    async fn open_tcp(&self) -> Result<tokio::net::TcpStream, DeliverError> {
        let (host, port) = (self.settings.host.as_str(), self.settings.port);
        let failed = |e: std::io::Error| {
            DeliverError::from_reply(Reply::uncoded(
                Step::Connect,
                format!("could not connect to {host}:{port}: {e}"),
            ))
        };
        let addrs = self
            .timed(Step::Connect, tokio::net::lookup_host((host, port)))
            .await?
            .map_err(failed)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
        for addr in addrs {
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    tcp.set_nodelay(true).map_err(failed)?;
                    return Ok(tcp);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = std::io::ErrorKind::TimedOut.into(),
            }
        }
        Err(failed(last))
    }

    async fn deliver(&self, message: &Outgoing) -> Result<String, DeliverError> {
        let _permit = self.permits.acquire().await.map_err(|_| {
            DeliverError::from_reply(Reply::uncoded(Step::Connect, "the transport was closed"))
        })?;
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        let (mut conn, was_reused) = match reused {
            Some(c) if !c.has_broken() => (c, true),
            _ => (self.connect().await?, false),
        };
        let mut result = self
            .transaction(&mut conn, &message.envelope, &message.bytes)
            .await;
        if was_reused
            && matches!(&result, Err(e) if e.reply().code.is_none() && e.reply().step != Step::Content)
        {
            // The server closed an idle connection: nothing was sent, reconnect once.
            conn = self.connect().await?;
            result = self
                .transaction(&mut conn, &message.envelope, &message.bytes)
                .await;
        }
        match result {
            Ok(reply) => {
                self.give_back(conn);
                Ok(reply)
            }
            Err(e) if e.reply().code.is_some() => {
                // A refused transaction leaves a usable connection after RSET.
                if matches!(
                    tokio::time::timeout(self.timeout, conn.command("RSET\r\n")).await,
                    Ok(Ok(_))
                ) {
                    self.give_back(conn);
                }
                Err(e)
            }
            Err(e) => {
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
    ) -> Result<String, DeliverError> {
        let mut options = Vec::new();
        let non_ascii_address = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(DeliverError::Permanent {
                    reply: Reply::uncoded(
                        Step::Mail,
                        "the address is not ASCII and the server does not support SMTPUTF8",
                    ),
                });
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.command(
            Step::Mail,
            conn.command(Mail::new(envelope.from().cloned(), options)),
        )
        .await?;
        for to in envelope.to() {
            self.command(Step::Rcpt, conn.command(Rcpt::new(to.clone(), vec![])))
                .await?;
        }
        self.command(Step::Data, conn.command(Data)).await?;
        let r = self.command(Step::Content, conn.message(bytes)).await?;
        let text = r.message().next().unwrap_or_default();
        Ok(format!("{} {text}", r.code()).trim_end().to_owned())
    }

    /// One command under the timeout, its failure classified.
    async fn command<T>(
        &self,
        step: Step,
        fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, DeliverError> {
        self.timed(step, fut)
            .await?
            .map_err(|e| self.classify(&e, step))
    }

    /// Runs `fut` under the step timeout; a timeout is a reply-less failure at `step`.
    async fn timed<T>(
        &self,
        step: Step,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, DeliverError> {
        tokio::time::timeout(self.timeout, fut).await.map_err(|_| {
            DeliverError::from_reply(Reply::uncoded(
                step,
                format!("no answer within {}s", self.timeout.as_secs_f32()),
            ))
        })
    }

    /// A lettre error as a reply: its code when the server answered, else the
    /// error text with each cause once.
    fn classify(&self, e: &lettre::transport::smtp::Error, step: Step) -> DeliverError {
        if let Some(code) = e.status() {
            let code = u16::from(code);
            let text = server_text(e);
            return DeliverError::from_reply(Reply::coded(step, code, text));
        }
        if is_certificate_error(e) {
            return self.tls_error(e);
        }
        DeliverError::from_reply(Reply::uncoded(step, error_text(e)))
    }

    /// A failed handshake: a certificate or protocol problem is the
    /// operator's to fix; a dropped connection during it is only transient.
    fn tls_error(&self, e: &lettre::transport::smtp::Error) -> DeliverError {
        if !is_certificate_error(e) && !is_tls_protocol_error(e) {
            return DeliverError::from_reply(Reply::uncoded(Step::Tls, error_text(e)));
        }
        let host = &self.settings.host;
        DeliverError::Config {
            reply: Reply::uncoded(
                Step::Tls,
                format!(
                    "TLS with {host}:{} failed: {}",
                    self.settings.port,
                    root_cause(e)
                ),
            ),
            fix: if is_certificate_error(e) {
                format!("the server's certificate is not trusted for `{host}`: if it comes from a private CA, set HOTPAPERS_SMTP_CA to that CA's PEM file; check that the URL names the host the certificate was made for")
            } else {
                "check the port: smtps:// expects implicit TLS (465), ?tls=required expects STARTTLS (587)".to_owned()
            },
        }
    }

    fn starttls_error(&self, e: &lettre::transport::smtp::Error) -> DeliverError {
        if e.status().is_some() {
            return self.classify(e, Step::StartTls);
        }
        self.tls_error(e)
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, message: &'a Outgoing) -> BoxFuture<'a, Result<String, DeliverError>> {
        Box::pin(self.deliver(message))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let idle: Vec<_> = self
                .idle
                .lock()
                .map(|mut v| v.drain(..).collect())
                .unwrap_or_default();
            for mut c in idle {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.quit()).await;
            }
        })
    }
}

/// lettre's TLS stream over our own socket, as the plain stream lettre's
/// connection takes: lettre opens implicit-TLS sockets itself, without
/// `TCP_NODELAY`, so we open the socket, let lettre upgrade it (its TLS
/// settings, its certificate checks), and hand the result back.
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls {
    stream: tokio_util::compat::Compat<AsyncNetworkStream>,
    peer: Option<std::net::SocketAddr>,
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.peer
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "no peer"))
    }
}

/// lettre's TLS setup: the system's roots (and `SSL_CERT_FILE`), plus the CA file.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, SmtpSettingError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let ca_error = |reason: String| SmtpSettingError {
            setting: "HOTPAPERS_SMTP_CA",
            reason,
        };
        let pem = std::fs::read(path)
            .map_err(|e| ca_error(format!("cannot read `{}`: {e}", path.display())))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(ca_error(format!(
                "`{}` holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| ca_error(format!("`{}`: {}", path.display(), error_text(&e))))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| SmtpSettingError {
        setting: "HOTPAPERS_SMTP_URL",
        reason: format!("TLS setup: {}", error_text(&e)),
    })
}

/// The server's text after the code (`5.1.1 no such mailbox here`).
fn server_text(e: &lettre::transport::smtp::Error) -> String {
    // lettre's Display is "permanent error (550): 5.1.1 no such mailbox here".
    let shown = e.to_string();
    shown
        .split_once("): ")
        .map_or_else(String::new, |(_, m)| m.trim().to_owned())
}

fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    causes(e).find_map(|c| {
        c.downcast_ref::<rustls::Error>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        })
    })
}

fn is_certificate_error(e: &lettre::transport::smtp::Error) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

fn is_tls_protocol_error(e: &lettre::transport::smtp::Error) -> bool {
    e.is_tls() || rustls_error(e).is_some()
}

fn root_cause(e: &lettre::transport::smtp::Error) -> String {
    match rustls_error(e) {
        Some(r) => r.to_string(),
        None => error_text(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_setting_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for ca in [dir.path().join("missing.pem"), empty] {
            let s = SmtpSettings::parse("smtps://mail.example.org", None, None, Some(&ca)).unwrap();
            let err = SmtpTransport::new(s, 1).unwrap_err();
            assert_eq!(err.setting, "HOTPAPERS_SMTP_CA", "{err}");
        }
    }
}
