//! `hotpapers serve`: the built site over HTTP, plus the three things a
//! static folder cannot do — subscribe (double opt-in), confirm, unsubscribe.
//!
//! Sits beside `cmd` at the end of the flow: it reads what `build` wrote and
//! edits the subscriber store through the same lock as the `subscribers`
//! commands. Nothing depends on it. Request logs never contain query strings,
//! since those carry tokens.

mod files;
mod path;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tracing::Span;

use files::StaticFiles;

/// The Content-Security-Policy of every HTML page: no scripts at all, inline
/// styles only, forms post back to this site.
pub(crate) const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

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
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Site {
    files: StaticFiles,
}

impl Site {
    /// Serves the built folder `out`.
    ///
    /// # Errors
    /// [`ServeError::Site`] when `out` is not a readable folder.
    pub fn new(out: &Path) -> Result<Self, ServeError> {
        let files = StaticFiles::new(out).map_err(|source| ServeError::Site {
            path: out.to_owned(),
            source,
        })?;
        Ok(Self { files })
    }
}

/// The application: routes, request logging.
pub fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(static_file)
        .with_state(site)
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
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for requests in flight (a subscriber file being written finishes).
///
/// # Errors
/// When accepting connections fails.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
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
