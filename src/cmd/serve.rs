//! `hotpapers serve`: binds the address, serves the built folder and the
//! subscription endpoints until Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::ServeArgs;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::delivery;
use crate::serve;

/// Runs the server until a shutdown signal; requests in flight finish first.
pub(super) fn run(config: &Config, args: &ServeArgs) -> Result<Outcome> {
    let loopback = args.addr.parse::<std::net::SocketAddr>().map_or_else(
        |_| config.addr.starts_with("localhost:"),
        |a| a.ip().to_canonical().is_loopback(),
    );
    if config.delivery.smtp.is_some() {
        config.require_strong_secret("`serve` mails confirmation links over SMTP")?;
    } else if !config.site.is_local_default() {
        config.require_strong_secret("`serve` answers for a public site URL")?;
    } else if !loopback {
        config.require_strong_secret("`serve` listens beyond this machine")?;
    } else if config.secret.is_built_in() {
        tracing::warn!(
            "HOTPAPERS_SECRET is not set: links are signed with the public development key (fine for a local preview only)"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let transport = delivery::transport_from_config(&config.delivery)
            .context("cannot set up mail delivery")?;
        let site = Arc::new(serve::Site::new(
            &config.out,
            config,
            transport,
            Arc::new(SystemClock),
        )?);
        let listener = tokio::net::TcpListener::bind(&config.addr)
            .await
            .with_context(|| format!("cannot listen on `{}`", config.addr))?;
        let local = listener.local_addr().context("no local address")?;
        // Installed before saying so: a SIGTERM right after the line below counts.
        let shutdown = serve::shutdown_signal();
        tracing::info!(addr = %local, out = %config.out.display(), "serving");
        // Tests and scripts read this line to learn the port when `--addr` ends in `:0`.
        eprintln!("listening on http://{local}/");
        serve::run(listener, serve::router(site), shutdown)
            .await
            .context("the server stopped")
    })?;
    Ok(Outcome::Done)
}
