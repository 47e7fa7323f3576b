//! The state in PostgreSQL (`HOTPAPERS_DATABASE_URL`): one database that
//! several `serve` and `send` processes, on one host or many, share.
//!
//! Without that setting nothing here is used and the state stays in files.
//! [`Database`] owns a small tokio runtime and a connection pool on it, so the
//! synchronous store interfaces ([`crate::subscribers::Store`]) can be served
//! from any thread, inside or outside another runtime. [`schema`] holds the
//! versioned migrations; [`subscribers`] the subscriber store.

pub mod import;
pub mod schema;
pub mod subscribers;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;

pub use schema::SCHEMA_VERSION;
pub use subscribers::PgStore;

/// Why the database could not be used.
#[derive(Debug, Error)]
pub enum DbError {
    /// `HOTPAPERS_DATABASE_URL` is not a usable connection string.
    #[error("invalid setting `HOTPAPERS_DATABASE_URL`: {0}")]
    Settings(String),
    /// No connection could be made.
    #[error("could not connect to the database {target}: {reason}")]
    Connect {
        /// The server, without the password.
        target: String,
        /// What the driver or server said.
        reason: String,
    },
    /// A statement failed.
    #[error("database {target}: could not {action}: {reason}")]
    Query {
        /// The server, without the password.
        target: String,
        /// What was being done.
        action: &'static str,
        /// What the server said.
        reason: String,
    },
    /// The schema was made by a newer hotpapers.
    #[error("database {target} has schema version {found}, newer than this program's {supported}; upgrade hotpapers")]
    TooNew {
        /// The server, without the password.
        target: String,
        /// The version found.
        found: i32,
        /// The newest this program knows.
        supported: i32,
    },
    /// The schema is older than this program (or absent).
    #[error("database {target} has schema version {found}, this program needs {needed}; run `hotpapers db migrate`")]
    NotMigrated {
        /// The server, without the password.
        target: String,
        /// The version found (0: no schema at all).
        found: i32,
        /// The version this program needs.
        needed: i32,
    },
    /// A stored value could not be read back.
    #[error("database {target}: {message}")]
    Data {
        /// The server, without the password.
        target: String,
        /// What is wrong with which row.
        message: String,
    },
    /// The database runtime stopped (a bug to report).
    #[error("the database worker stopped unexpectedly (a bug to report)")]
    Stopped,
}

/// `HOTPAPERS_DATABASE_URL`, parsed.
///
/// `postgres://` and `postgresql://` URLs and libpq's `key=value` strings;
/// a host that is a path (`host=/run/postgresql`, or `%2Frun%2Fpostgresql` in
/// a URL) is a unix socket folder. `sslmode` means what it means to libpq:
/// `disable`; `prefer` (the default) and `require` encrypt without checking
/// the certificate; `verify-ca` checks its CA, `verify-full` its CA and
/// name; trusted CAs are the system's plus the PEM file `sslrootcert` names
/// (with it, `require` checks the CA too).
#[derive(Clone)]
pub struct DatabaseSettings {
    config: tokio_postgres::Config,
    tls: TlsSettings,
    target: String,
}

/// How much of the server's certificate TLS checks: libpq's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// `prefer`, `require`: encrypted, the certificate taken as it is.
    Nothing,
    /// `verify-ca` (and `require` with `sslrootcert`): signed by a trusted CA.
    Chain,
    /// `verify-full`: that, and issued for the host connected to.
    Full,
}

#[derive(Debug, Clone)]
struct TlsSettings {
    root_cert: Option<PathBuf>,
    verify: Verify,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl DatabaseSettings {
    /// Parses a connection string. The error never repeats the string, which
    /// may hold a password.
    ///
    /// # Errors
    /// [`DbError::Settings`], saying what was expected.
    pub fn parse(text: &str) -> Result<Self, DbError> {
        let text = text.trim();
        let (text, tls) = take_libpq_only(text)?;
        let config = tokio_postgres::Config::from_str(&text).map_err(|e| {
            DbError::Settings(format!(
                "{e} (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…, \
                 or libpq's `host=… dbname=…`)"
            ))
        })?;
        if config.get_hosts().is_empty() {
            return Err(DbError::Settings(
                "no host (expected postgres://USER@HOST/DATABASE, or a socket folder as host)"
                    .to_owned(),
            ));
        }
        let target = describe_target(&config);
        Ok(Self {
            config,
            tls,
            target,
        })
    }

    /// The server and database, without user or password, for messages.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// Takes out what tokio-postgres does not parse or means otherwise:
/// libpq's `verify-ca` and `verify-full` modes (passed on as `require`) and
/// `sslrootcert`, and notes how much TLS is to check.
fn take_libpq_only(text: &str) -> Result<(String, TlsSettings), DbError> {
    let mut root_cert = None;
    let mut mode = None;
    let mut kept = Vec::new();
    let url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let text = if url {
        let Some((base, query)) = text.split_once('?') else {
            return Ok((text.to_owned(), tls_settings(None, None)));
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| DbError::Settings(format!("`{key}` is not UTF-8")))?;
            match key {
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                "sslmode" => {
                    mode = Some(value.clone().into_owned());
                    kept.push(format!("sslmode={}", driver_mode(&value)));
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if text.contains('\'') {
        // Quoted values: left to the driver whole.
        text.to_owned()
    } else {
        for word in text.split_whitespace() {
            match word.split_once('=') {
                Some(("sslrootcert", v)) => root_cert = Some(PathBuf::from(v)),
                Some(("sslmode", v)) => {
                    mode = Some(v.to_owned());
                    kept.push(format!("sslmode={}", driver_mode(v)));
                }
                _ => kept.push(word.to_owned()),
            }
        }
        kept.join(" ")
    };
    Ok((text, tls_settings(mode.as_deref(), root_cert)))
}

/// The driver's name for a libpq mode (it knows `disable`, `prefer`, `require`).
fn driver_mode(mode: &str) -> &str {
    match mode {
        "verify-ca" | "verify-full" => "require",
        other => other,
    }
}

fn tls_settings(mode: Option<&str>, root_cert: Option<PathBuf>) -> TlsSettings {
    let verify = match mode {
        Some("verify-full") => Verify::Full,
        Some("verify-ca") => Verify::Chain,
        // libpq: `require` with a root certificate checks the chain.
        Some("require") if root_cert.is_some() => Verify::Chain,
        _ => Verify::Nothing,
    };
    TlsSettings { root_cert, verify }
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
            }
        })
        .collect();
    format!(
        "`{}` on {}",
        config.get_dbname().unwrap_or("(the user's database)"),
        hosts.join(", ")
    )
}

/// What a driver error says, with the server's own message when there is one
/// (tokio-postgres' `Display` alone is only "db error").
pub(crate) fn reason(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(" (");
            s.push_str(detail);
            s.push(')');
        }
        return s;
    }
    match e.source() {
        Some(inner) => format!("{e}: {inner}"),
        None => e.to_string(),
    }
}

/// A connection pool to the database, on its own runtime.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: deadpool_postgres::Pool,
    pg_config: tokio_postgres::Config,
    tls: TlsSettings,
    target: String,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; this never blocks.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// Most connections a process keeps open (each `send` worker and `serve`).
const POOL_SIZE: usize = 8;

impl Database {
    /// Connects and checks that the schema is this program's.
    ///
    /// # Errors
    /// When the server cannot be reached, or the schema is older
    /// ([`DbError::NotMigrated`]) or newer ([`DbError::TooNew`]).
    pub fn open(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let db = Self::connect(settings)?;
        db.check_schema()?;
        Ok(db)
    }

    /// Connects without looking at the schema (`db migrate`, `db status`).
    ///
    /// # Errors
    /// When the server cannot be reached or the CA file cannot be read.
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let target = settings.target.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hotpapers-db")
            .enable_all()
            .build()
            .map_err(|e| DbError::Connect {
                target: target.clone(),
                reason: format!("could not start the database worker: {e}"),
            })?;
        let manager_config = deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        };
        let manager = if settings.config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable
        {
            deadpool_postgres::Manager::from_config(
                settings.config.clone(),
                tokio_postgres::NoTls,
                manager_config,
            )
        } else {
            let tls = tls_config(&settings.tls).map_err(|reason| DbError::Connect {
                target: target.clone(),
                reason,
            })?;
            deadpool_postgres::Manager::from_config(
                settings.config.clone(),
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            )
        };
        let pool = {
            let _entered = runtime.enter();
            deadpool_postgres::Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| DbError::Connect {
                    target: target.clone(),
                    reason: e.to_string(),
                })?
        };
        let db = Self {
            inner: Arc::new(Inner {
                pool,
                pg_config: settings.config.clone(),
                tls: settings.tls.clone(),
                target,
                runtime: Some(runtime),
            }),
        };
        // Fail now, with the reason, rather than at the first query.
        db.run(|db| async move { db.client().await.map(drop) })?;
        Ok(db)
    }

    /// The server and database, for messages.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Runs `f` on the database runtime and waits for it. Safe to call from
    /// any thread, also from inside another tokio runtime (it blocks that
    /// thread, as file I/O would).
    ///
    /// # Errors
    /// `f`'s error, or [`DbError::Stopped`] if the runtime is gone.
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = Result<T, DbError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(self.clone());
        let Some(rt) = self.inner.runtime.as_ref() else {
            return Err(DbError::Stopped);
        };
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| DbError::Stopped)?
    }

    /// A pooled connection.
    ///
    /// # Errors
    /// [`DbError::Connect`] when no connection can be made.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        self.inner.pool.get().await.map_err(|e| {
            let reason = match &e {
                deadpool_postgres::PoolError::Backend(pg) => reason(pg),
                other => other.to_string(),
            };
            DbError::Connect {
                target: self.inner.target.clone(),
                reason,
            }
        })
    }

    /// Turns a driver error into [`DbError::Query`] naming what was done.
    pub(crate) fn query_error(
        &self,
        action: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> DbError + '_ {
        move |e| DbError::Query {
            target: self.inner.target.clone(),
            action,
            reason: reason(&e),
        }
    }

    /// A [`DbError::Data`] about a stored value.
    pub(crate) fn data_error(&self, message: String) -> DbError {
        DbError::Data {
            target: self.inner.target.clone(),
            message,
        }
    }
}

/// A lock held, across every host on the database, by one session of its
/// own: the server releases it when this is dropped or the process dies
/// (its connection closes), never later.
pub struct SessionLock {
    _client: tokio_postgres::Client,
    /// The runtime its connection runs on, kept as long as the lock.
    _db: Database,
}

impl fmt::Debug for SessionLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionLock")
    }
}

impl Database {
    /// Takes the advisory lock `name` on a connection of its own (not the
    /// pool's: a pooled session would keep it after use). `None` when
    /// another session holds it and `wait` is false.
    ///
    /// # Errors
    /// When no connection can be made.
    pub fn lock(&self, name: &str, wait: bool) -> Result<Option<SessionLock>, DbError> {
        let name = name.to_owned();
        let config = self.inner.pg_config.clone();
        let tls_settings = self.inner.tls.clone();
        self.run(move |db| async move {
            let connect_error = |reason: String| DbError::Connect {
                target: db.target().to_owned(),
                reason,
            };
            let client = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| connect_error(reason(&e)))?;
                tokio::spawn(connection);
                client
            } else {
                let tls = tls_config(&tls_settings).map_err(connect_error)?;
                let (client, connection) = config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                    .await
                    .map_err(|e| connect_error(reason(&e)))?;
                tokio::spawn(connection);
                client
            };
            let sql = if wait {
                "SELECT pg_advisory_lock(hashtextextended($1, 11)), true"
            } else {
                "SELECT 1, pg_try_advisory_lock(hashtextextended($1, 11))"
            };
            let row = client
                .query_one(sql, &[&name])
                .await
                .map_err(db.query_error("take a lock"))?;
            let taken: bool = row.get(1);
            Ok(taken.then(|| SessionLock {
                _client: client,
                _db: db.clone(),
            }))
        })
    }
}

/// The TLS client for `tls`, with the crypto provider the rest of the
/// program uses: the system's CAs plus `sslrootcert`, checked as far as the
/// mode asks.
fn tls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &tls.root_cert {
        let pem = std::fs::read(path)
            .map_err(|e| format!("could not read `sslrootcert` `{}`: {e}", path.display()))?;
        let mut added = 0;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls::pki_types::CertificateDer<'static> =
                cert.map_err(|e| format!("`sslrootcert` `{}`: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("`sslrootcert` `{}`: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "`sslrootcert` `{}` holds no PEM certificate",
                path.display()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let config = match tls.verify {
        Verify::Full => builder.with_webpki_verifier(webpki),
        verify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LibpqVerifier {
                webpki,
                provider,
                check_chain: verify == Verify::Chain,
            })),
    };
    Ok(config.with_no_client_auth())
}

/// libpq's `verify-ca` (the chain, not the name) and `prefer`/`require`
/// (nothing about the certificate; the handshake's signatures still).
#[derive(Debug)]
struct LibpqVerifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    check_chain: bool,
}

impl rustls::client::danger::ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn urls_and_key_value_strings_parse_and_never_show_the_password() {
        for (text, target) in [
            (
                "postgres://u:secret@db.example:6543/list",
                "`list` on db.example:6543",
            ),
            (
                "postgresql://u:secret@127.0.0.1/list?sslmode=verify-full",
                "`list` on 127.0.0.1:5432",
            ),
            (
                "postgresql://u@%2Frun%2Fpostgresql:5433/list",
                "`list` on /run/postgresql/.s.PGSQL.5433",
            ),
            (
                "host=/run/postgresql dbname=list user=u password=secret",
                "`list` on /run/postgresql/.s.PGSQL.5432",
            ),
        ] {
            let s = DatabaseSettings::parse(text).unwrap();
            assert_eq!(s.target(), target, "{text}");
            assert!(!format!("{s:?}").contains("secret"));
        }
        let s = DatabaseSettings::parse(
            "postgres://u@h/d?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(s.tls.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(s.tls.verify, Verify::Chain);
        for (mode, verify) in [
            ("", Verify::Nothing),
            ("?sslmode=prefer", Verify::Nothing),
            ("?sslmode=require", Verify::Nothing),
            ("?sslmode=verify-full", Verify::Full),
        ] {
            let s = DatabaseSettings::parse(&format!("postgres://u@h/d{mode}")).unwrap();
            assert_eq!(s.tls.verify, verify, "{mode}");
        }
        assert_eq!(
            s.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn bad_strings_say_what_was_expected_without_echoing_them() {
        for text in [
            "mysql://u:secret@h/d",
            "postgres://u:secret@h/d?sslmode=sometimes",
            "postgres://u:secret@h:notaport/d",
        ] {
            let e = DatabaseSettings::parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with("invalid setting `HOTPAPERS_DATABASE_URL`"),
                "{e}"
            );
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
