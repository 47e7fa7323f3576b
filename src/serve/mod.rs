//! `hotpapers serve`: the built site over HTTP, plus what a static folder
//! cannot do — subscribe (double opt-in), confirm, unsubscribe, and the
//! reader's preferences page.
//!
//! Sits beside `cmd` at the end of the flow: it reads what `build` wrote and
//! edits the subscriber store through the same lock as the `subscribers`
//! commands. Nothing depends on it. Request logs never contain query strings,
//! since those carry tokens.
//!
//! `accept` is the server loop (timeouts, connection cap), `headers` the
//! security headers around every answer, `files` the built folder (a feed's
//! page for a browser, chosen by `negotiate`), `subscribe` the endpoints,
//! `preferences` the reader's own choices, `mail` the queue their
//! confirmation emails leave from, and `limit` the rate limits.

mod accept;
mod files;
mod headers;
mod limit;
mod mail;
mod negotiate;
mod path;
mod preferences;
mod search;
mod subscribe;
mod webhook;

use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use files::StaticFiles;
use limit::RateLimiter;
use mail::{Composer, MailQueue};

use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::{Mailer, Transport};
use crate::email::Newsletter;
use crate::subscribers::Store;
use crate::templates::Templates;
use crate::token::Signer;

/// Subscribe requests one client address may make at once, then one per
/// [`CLIENT_REFILL_SECONDS`].
const CLIENT_BURST: u32 = 5;
const CLIENT_REFILL_SECONDS: u32 = 120;
/// Confirmation emails one mailbox may get at once, then one per
/// [`MAILBOX_REFILL_SECONDS`], however many clients ask.
const MAILBOX_BURST: u32 = 3;
const MAILBOX_REFILL_SECONDS: u32 = 3600;
/// Most client buckets (IPv4 addresses, IPv6 /64s) and mailboxes remembered at
/// once; beyond that a newcomer is refused until old buckets are full again
/// (10 minutes for clients, 3 hours for mailboxes).
const MAX_BUCKETS: usize = 100_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The built folder is missing or unreadable.
    #[error("cannot serve `{path}` (run `hotpapers build` first?)")]
    Site {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The page templates do not load.
    #[error(transparent)]
    Templates(#[from] crate::templates::TemplateError),
    /// The email templates or DKIM key do not load.
    #[error(transparent)]
    Email(#[from] crate::email::EmailError),
    /// The DKIM key does not load.
    #[error(transparent)]
    Mailer(#[from] crate::delivery::MessageError),
    /// The subscriber store cannot be opened.
    #[error(transparent)]
    Subscribers(#[from] crate::subscribers::SubscriberError),
}

/// Everything the handlers share: the built folder, the settings, the pages,
/// and what subscribing needs (store, mailer, signer, clock, limits).
pub struct Site {
    files: StaticFiles,
    config: Config,
    templates: Templates,
    store: Arc<dyn Store>,
    ledger: crate::ledger::Place,
    mail: MailQueue,
    signer: Signer,
    clock: Arc<dyn Clock>,
    per_client: RateLimiter<IpAddr>,
    per_mailbox: RateLimiter<String>,
    intake: webhook::Intake,
    searcher: search::Searcher,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("files", &self.files)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// Serves the built folder `out` with the settings in `config`, mailing
    /// confirmations through `transport`, reading the time from `clock`.
    ///
    /// # Errors
    /// When `out` is not a readable folder, or templates, the DKIM key or the
    /// subscriber store do not load.
    pub fn new(
        out: &Path,
        config: &Config,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServeError> {
        let files = StaticFiles::new(out).map_err(|source| ServeError::Site {
            path: out.to_owned(),
            source,
        })?;
        let stores = crate::state::Stores::open(config)?;
        Ok(Self {
            files,
            config: config.clone(),
            templates: Templates::site(&config.templates)?,
            store: stores.subscribers,
            ledger: stores.ledger,
            mail: MailQueue::new(Composer {
                site_url: config.site.url.clone(),
                newsletter: Newsletter::new(
                    &config.site,
                    &config.mail,
                    &config.secret,
                    &config.templates,
                )?,
                mailer: Mailer::new(&config.site.title, &config.mail, &config.secret)?,
                transport,
                signer: Signer::new(config.secret.expose()),
            }),
            signer: Signer::new(config.secret.expose()),
            clock,
            per_client: RateLimiter::new(CLIENT_BURST, CLIENT_REFILL_SECONDS, MAX_BUCKETS),
            per_mailbox: RateLimiter::new(MAILBOX_BURST, MAILBOX_REFILL_SECONDS, MAX_BUCKETS),
            intake: webhook::Intake::new(Mailer::new(
                &config.site.title,
                &config.mail,
                &config.secret,
            )?),
            searcher: search::Searcher::default(),
        })
    }
}

/// The application [`run`] serves: the routes and the site behind them,
/// whose confirmation emails `run` sends in the background.
#[derive(Debug)]
pub struct App {
    router: Router,
    site: Arc<Site>,
}

/// The application: routes, request logging, a time limit per request, and
/// around everything the security headers (`headers`), so that errors and
/// 304s carry them too.
pub fn router(site: Arc<Site>) -> App {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/subscribe", post(subscribe::subscribe))
        .route(
            "/confirm",
            get(subscribe::confirm_page).post(subscribe::confirm),
        )
        .route(
            "/unsubscribe",
            get(subscribe::unsubscribe_page).post(subscribe::unsubscribe),
        )
        .route(
            "/preferences",
            get(preferences::preferences_page).post(preferences::change_preferences),
        )
        .route("/search", get(search::search))
        .route("/search.json", get(search::search_json))
        .route("/webhooks/ses", post(webhook::ses))
        .route("/webhooks/postmark", post(webhook::postmark))
        .fallback(static_file)
        .with_state(Arc::clone(&site))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            accept::REQUEST_TIMEOUT,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The path only: query strings carry tokens.
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                        "response"
                    );
                }),
        )
        .layer(axum::middleware::from_fn(headers::security_headers));
    App { router, site }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for requests in flight (a subscriber file being written
/// finishes) and for the confirmation emails queued. Slow and idle clients
/// are timed out and connections capped (see `accept`).
///
/// # Errors
/// None today: a failing `accept` is retried. The `Result` is kept for callers.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mail = app.site.mail.start();
    accept::serve(listener, app.router, shutdown).await;
    mail.finish().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called (inside the runtime), not when the future is first polled, so a
/// signal that arrives right after `serve` says it is listening is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut term, mut int) = signals;
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        "ok\n",
    )
}

async fn static_file(State(site): State<Arc<Site>>, req: Request) -> Response {
    let uri = req.uri();
    site.files
        .respond(req.method(), uri.path(), uri.query(), req.headers())
}
