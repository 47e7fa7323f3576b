//! Returned mail read from an IMAPS mailbox (`bounces process --imap URL`):
//! every message in the mailbox is fetched (without setting `\Seen`),
//! handed to the caller, and moved to the processed folder only once the
//! caller has acted on it. A run killed between acting and moving finds the
//! message again next time, and acting on it again records nothing new (the
//! ledger keys events by report and recipient), so nothing is lost or
//! counted twice.

use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use futures_util::TryStreamExt as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::MAX_INPUT;
use crate::secret::Password;

/// How long one IMAP exchange (connect, a command and its answer) may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_mins(1);

/// The default port of IMAP over implicit TLS (RFC 8314).
const IMAPS_PORT: u16 = 993;

/// Where to read: `imaps://host[:port][/MAILBOX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The server's name, as its certificate must name it.
    pub host: String,
    /// The port (993 by default).
    pub port: u16,
    /// The mailbox the bounces arrive in (`INBOX` by default).
    pub mailbox: String,
}

/// Why the mailbox could not be read; nothing was moved that was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The URL is not an `imaps://` URL.
    #[error("--imap `{url}`: {why}")]
    Url {
        /// The URL as given (no password is ever part of it).
        url: String,
        /// What was expected.
        why: String,
    },
    /// The CA file could not be read.
    #[error("HOTPAPERS_IMAP_CA `{path}`: {why}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// Could not connect, or the TLS handshake failed.
    #[error("could not connect to the IMAP server {host}:{port}: {why}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// What went wrong.
        why: String,
    },
    /// The server refused the login.
    #[error("the IMAP server refused the login of `{user}`: {why} (check HOTPAPERS_IMAP_USER and HOTPAPERS_IMAP_PASSWORD)")]
    Login {
        /// The user name.
        user: String,
        /// The server's answer.
        why: String,
    },
    /// A command failed.
    #[error("IMAP {command} failed: {why}")]
    Command {
        /// What was asked (`SELECT INBOX`, `UID MOVE 12 Processed`).
        command: String,
        /// The server's answer, or the connection's error.
        why: String,
    },
}

impl ImapUrl {
    /// Parses `imaps://host[:port][/MAILBOX]`; the mailbox is percent-decoded.
    ///
    /// # Errors
    /// Another scheme (plain `imap://` would send the password in the
    /// clear), a user or password in the URL (they belong in the settings),
    /// no host.
    pub fn parse(raw: &str) -> Result<Self, ImapError> {
        let shown = redacted(raw);
        let bad = |why: &str| ImapError::Url {
            url: shown.clone(),
            why: why.to_owned(),
        };
        let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if url.scheme() != "imaps" {
            return Err(bad(
                "expected `imaps://host[:port]/MAILBOX` (IMAP over TLS; plain `imap://` is not offered)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "the user and password go in HOTPAPERS_IMAP_USER and HOTPAPERS_IMAP_PASSWORD, not in the URL",
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let path = url.path().trim_start_matches('/');
        let mailbox = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| bad("the mailbox name is not UTF-8"))?
            .into_owned();
        if !is_plain_name(&mailbox) {
            return Err(bad(NAME_RULE));
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(IMAPS_PORT),
            mailbox: if mailbox.is_empty() {
                "INBOX".to_owned()
            } else {
                mailbox
            },
        })
    }
}

/// What a mailbox or folder name may hold here.
pub const NAME_RULE: &str = "expected a mailbox name of printable ASCII without `\"`, `\\`, `%` or `*` (a name with other characters goes in the server's modified UTF-7 form)";

/// Printable ASCII, no quoting or wildcard characters: safe in every command.
#[must_use]
pub fn is_plain_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | '*') || c == ' ')
}

/// `raw` with any user information between `://` and `@` hidden: an error
/// must never print a password.
fn redacted(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => raw.to_owned(),
    }
}

/// What is needed to log in.
#[derive(Debug, Clone)]
pub struct ImapLogin {
    /// Where.
    pub url: ImapUrl,
    /// `HOTPAPERS_IMAP_USER`.
    pub user: String,
    /// `HOTPAPERS_IMAP_PASSWORD`.
    pub password: Password,
    /// `HOTPAPERS_IMAP_CA`: CA certificates to trust besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// The folder processed mail is moved to (made when missing).
    pub processed: String,
}

/// One message waiting in the mailbox.
#[derive(Debug)]
pub struct Fetched {
    /// Its UID in the mailbox.
    pub uid: u32,
    /// Its bytes (at most [`MAX_INPUT`]); `None` when the server sent none.
    pub raw: Option<Vec<u8>>,
}

/// A logged-in session on the bounce mailbox.
pub struct Mailbox {
    session: Session<TlsStream<TcpStream>>,
    processed: String,
    can_move: bool,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("processed", &self.processed)
            .finish_non_exhaustive()
    }
}

fn command_error(command: &str, e: impl std::fmt::Display) -> ImapError {
    ImapError::Command {
        command: command.to_owned(),
        why: server_text(&e.to_string()),
    }
}

/// The server's own words out of async-imap's rendering of a NO or BAD
/// answer (`no response: code: None, info: Some("[AUTHENTICATIONFAILED] …")`).
fn server_text(shown: &str) -> String {
    let Some((head, rest)) = shown.split_once("code: ") else {
        return shown.to_owned();
    };
    let info = rest
        .split_once("info: Some(\"")
        .and_then(|(_, i)| i.rsplit_once("\")"))
        .map(|(i, _)| i.replace("\\\"", "\""));
    match info {
        Some(info) if head.starts_with("bad") => format!("BAD {info}"),
        Some(info) => format!("NO {info}"),
        None => shown.to_owned(),
    }
}

async fn timed<T, E: std::fmt::Display>(
    command: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(EXCHANGE_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(command_error(command, e)),
        Err(_) => Err(command_error(
            command,
            format!("no answer in {} s", EXCHANGE_TIMEOUT.as_secs()),
        )),
    }
}

/// A quoted IMAP string (RFC 3501 `quoted`), for messages and the one
/// command argument async-imap sends as it is (LIST's pattern); names are
/// checked to be printable ASCII without `"`, `\`, `%` or `*`.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is skipped, as lettre does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let ca_error = |why: String| ImapError::CaFile {
            path: path.display().to_string(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ca_error(format!("not a PEM certificate ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| ca_error(format!("a certificate rustls refuses ({e})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error(
                "no `-----BEGIN CERTIFICATE-----` in it".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Connect {
            host: String::new(),
            port: 0,
            why: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Mailbox {
    /// Connects over TLS, logs in, selects the mailbox and makes sure the
    /// processed folder exists.
    ///
    /// # Errors
    /// Each step's failure, naming the server, the user or the command.
    pub async fn open(login: &ImapLogin) -> Result<Self, ImapError> {
        let url = &login.url;
        let connect_error = |why: String| ImapError::Connect {
            host: url.host.clone(),
            port: url.port,
            why,
        };
        let config = tls_config(login.ca_file.as_deref())?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| connect_error(format!("not a host name ({e})")))?;
        let tls = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
            tcp.set_nodelay(true)?;
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
        })
        .await
        .map_err(|_| connect_error(format!("no answer in {} s", EXCHANGE_TIMEOUT.as_secs())))?
        .map_err(|e| {
            let why = e.to_string();
            if why.contains("certificate") {
                connect_error(format!(
                    "{why}: if the server's certificate comes from a private CA, set HOTPAPERS_IMAP_CA to that CA's PEM file"
                ))
            } else {
                connect_error(why)
            }
        })?;
        let mut client = Client::new(tls);
        match tokio::time::timeout(EXCHANGE_TIMEOUT, client.read_response()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Err(connect_error(
                    "the server closed the connection before its greeting".into(),
                ))
            }
            Ok(Err(e)) => return Err(connect_error(e.to_string())),
            Err(_) => return Err(connect_error("no greeting".into())),
        }
        let session = tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            client.login(&login.user, login.password.expose()),
        )
        .await
        .map_err(|_| connect_error("no answer to LOGIN".into()))?
        .map_err(|(e, _)| ImapError::Login {
            user: login.user.clone(),
            why: server_text(&e.to_string()),
        })?;
        let mut mailbox = Self {
            session,
            processed: login.processed.clone(),
            can_move: false,
        };
        let caps = timed("CAPABILITY", mailbox.session.capabilities()).await?;
        mailbox.can_move = caps.has_str("MOVE");
        let select = format!("SELECT {}", quoted(&url.mailbox));
        timed(&select, mailbox.session.select(&url.mailbox)).await?;
        mailbox.ensure_processed_folder().await?;
        Ok(mailbox)
    }

    async fn ensure_processed_folder(&mut self) -> Result<(), ImapError> {
        let folder = quoted(&self.processed);
        let list = format!("LIST \"\" {folder}");
        let names: Vec<_> = timed(&list, async {
            self.session
                .list(Some(""), Some(&folder))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if names.is_empty() {
            let create = format!("CREATE {folder}");
            timed(&create, self.session.create(&self.processed)).await?;
        }
        Ok(())
    }

    /// The UIDs of every message in the mailbox, oldest first.
    ///
    /// # Errors
    /// When the search fails.
    pub async fn pending(&mut self) -> Result<Vec<u32>, ImapError> {
        let mut uids: Vec<u32> = timed("UID SEARCH ALL", self.session.uid_search("ALL"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The message `uid`, its first [`MAX_INPUT`] bytes, without marking it seen.
    ///
    /// # Errors
    /// When the fetch fails.
    pub async fn fetch(&mut self, uid: u32) -> Result<Fetched, ImapError> {
        let query = format!("(UID BODY.PEEK[]<0.{MAX_INPUT}>)");
        let command = format!("UID FETCH {uid} {query}");
        let fetches: Vec<_> = timed(&command, async {
            self.session
                .uid_fetch(uid.to_string(), &query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let raw = fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
            .map(|b| b[..b.len().min(MAX_INPUT)].to_vec());
        Ok(Fetched { uid, raw })
    }

    /// Moves `uid` to the processed folder: `UID MOVE` (RFC 6851) where the
    /// server has it, else copy, flag `\Deleted` and expunge.
    ///
    /// # Errors
    /// When the server refuses; the message then stays where it was.
    pub async fn mark_processed(&mut self, uid: u32) -> Result<(), ImapError> {
        let folder = quoted(&self.processed);
        let set = uid.to_string();
        if self.can_move {
            let command = format!("UID MOVE {uid} {folder}");
            return timed(&command, self.session.uid_mv(&set, &self.processed)).await;
        }
        let command = format!("UID COPY {uid} {folder}");
        timed(&command, self.session.uid_copy(&set, &self.processed)).await?;
        let command = format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)");
        timed(&command, async {
            self.session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        timed("EXPUNGE", async {
            self.session.expunge().await?.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(())
    }

    /// Logs out (a failure here loses nothing).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(EXCHANGE_TIMEOUT, self.session.logout()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imaps_url_names_host_port_and_mailbox() {
        let url = ImapUrl::parse("imaps://imap.example.org/Bounces%20In").unwrap();
        assert_eq!(url.host, "imap.example.org");
        assert_eq!(url.port, 993);
        assert_eq!(url.mailbox, "Bounces In");
        let url = ImapUrl::parse("imaps://127.0.0.1:10993").unwrap();
        assert_eq!((url.port, url.mailbox.as_str()), (10993, "INBOX"));
    }

    #[test]
    fn plain_imap_and_credentials_in_the_url_are_refused() {
        let err = ImapUrl::parse("imap://imap.example.org/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("imaps://"), "{err}");
        let err = ImapUrl::parse("imaps://me:secret@imap.example.org/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("HOTPAPERS_IMAP_USER"), "{err}");
        assert!(
            !err.contains("secret"),
            "the password is never shown: {err}"
        );
    }

    #[test]
    fn the_servers_answer_is_shown_in_its_own_words() {
        assert_eq!(
            server_text(
                r#"no response: code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "NO [AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_text("connection lost"), "connection lost");
    }

    #[test]
    fn a_mailbox_name_that_could_break_the_command_is_refused() {
        assert!(ImapUrl::parse("imaps://h/a%22b").is_err());
        assert!(ImapUrl::parse("imaps://h/a%0D%0AX%20LOGOUT").is_err());
    }
}
