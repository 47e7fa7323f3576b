//! The accept loop and the connections: HTTP/1.1 over hyper, with the limits
//! `axum::serve` does not have, so that slow or idle clients cannot starve
//! the server of sockets or file descriptors.
//!
//! - Headers must arrive within [`HEADER_READ_TIMEOUT`], counted from when the
//!   server starts waiting for a request — so an idle keep-alive connection is
//!   closed after the same time.
//! - A request must be answered within [`REQUEST_TIMEOUT`] (a body sent slowly
//!   gets `408`); work handed to a blocking thread still finishes.
//! - At most [`MAX_CONNECTIONS`] connections at once, fewer when the file
//!   limit is lower (a reserve is kept for files, the store and SMTP). When
//!   full, a new connection closes the oldest one that is not in a handler
//!   (waiting for headers, idle, or writing its last answer), so a flood of
//!   stalled sockets cannot keep a real request out; if every one is busy,
//!   the new one is closed.
//! - Running out of descriptors in `accept` (EMFILE, ENFILE) neither stops nor
//!   spins the loop: it closes a few idle connections, waits
//!   [`ACCEPT_BACKOFF`] and goes on.
//! - At shutdown it stops listening, lets requests in flight finish (for at
//!   most [`SHUTDOWN_GRACE`]) and closes idle connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service as _;

/// Time for a client to send a request's headers, and for an idle
/// keep-alive connection to start its next request.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time from a request's headers to its answer (a slow body gets 408).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once, at most.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// File descriptors left to the rest of the server when the file limit
/// bounds the connections.
const RESERVED_FDS: usize = 32;
/// The pause after `accept` fails for want of resources.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// Idle connections closed each time `accept` runs out of descriptors.
const SHED_ON_EMFILE: usize = 4;
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the
/// requests in flight (at most [`SHUTDOWN_GRACE`]).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let connections = Arc::new(Connections::new(connection_cap()));
    let tracker = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    let mut failures: u64 = 0;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or buffers: free one, pause, go on.
                // Said once, then every 500 failures (10 s of backing off).
                if failures.is_multiple_of(500) {
                    tracing::warn!("accepting connections: {e}; closing an idle one and retrying");
                }
                failures += 1;
                for _ in 0..SHED_ON_EMFILE {
                    connections.shed_oldest_idle();
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Some(slot) = connections.admit() else {
            tracing::debug!("every connection is busy: closing a new one");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let stopping = stopping.clone();
        tracker.spawn(connection(stream, peer, app, slot, stopping));
    }
    drop(listener);
    stopping.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {} s: stopped",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Errors of one connection that `accept` reports; the next one may be fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}

/// [`MAX_CONNECTIONS`], or fewer when the file limit leaves less room.
fn connection_cap() -> usize {
    let cap = match open_file_limit() {
        Some(limit) => limit.saturating_sub(RESERVED_FDS).min(MAX_CONNECTIONS),
        None => MAX_CONNECTIONS,
    };
    cap.max(1)
}

#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    usize::try_from(limit.rlim_cur).ok()
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

/// One connection until it closes, is shed, or shutdown finishes it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    slot: Slot,
    stopping: CancellationToken,
) {
    let busy = Arc::clone(&slot.busy);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let guard = Busy::enter(&busy);
        let mut app = app.clone();
        async move {
            let res = app.call(req).await;
            drop(guard);
            res
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection closed: {e}");
            }
        }
        () = stopping.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                () = slot.shed.cancelled() => {}
            }
        }
        () = slot.shed.cancelled() => {
            tracing::debug!("connection closed to make room");
        }
    }
}

/// The connections alive, oldest first, and whether each is in a handler.
#[derive(Debug)]
struct Connections {
    cap: usize,
    live: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    by_age: BTreeMap<u64, Live>,
}

#[derive(Debug)]
struct Live {
    busy: Arc<AtomicUsize>,
    shed: CancellationToken,
}

/// A connection's place; gives it back when dropped.
#[derive(Debug)]
struct Slot {
    id: u64,
    busy: Arc<AtomicUsize>,
    shed: CancellationToken,
    connections: Arc<Connections>,
}

impl Connections {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            live: Mutex::new(Registry::default()),
        }
    }

    /// A place for a new connection, making room by shedding the oldest idle
    /// one if needed; `None` when every connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.live.lock().ok()?;
        if live.by_age.len() >= self.cap && !Self::shed_in(&mut live) {
            return None;
        }
        let id = live.next;
        live.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let shed = CancellationToken::new();
        live.by_age.insert(
            id,
            Live {
                busy: Arc::clone(&busy),
                shed: shed.clone(),
            },
        );
        Some(Slot {
            id,
            busy,
            shed,
            connections: Arc::clone(self),
        })
    }

    /// Closes the oldest connection not in a handler; false if none.
    fn shed_oldest_idle(&self) -> bool {
        self.live
            .lock()
            .is_ok_and(|mut live| Self::shed_in(&mut live))
    }

    fn shed_in(live: &mut Registry) -> bool {
        let oldest = live
            .by_age
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| live.by_age.remove(&id)) {
            Some(c) => {
                c.shed.cancel();
                true
            }
            None => false,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut live) = self.connections.live.lock() {
            live.by_age.remove(&self.id);
        }
    }
}

/// Marks a connection as in a handler while alive.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(busy))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_5_a_full_table_sheds_the_oldest_idle_connection_never_a_busy_one() {
        let table = Arc::new(Connections::new(2));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let _in_handler = Busy::enter(&first.busy);
        let third = table.admit().expect("room made");
        assert!(!first.shed.is_cancelled(), "busy: kept");
        assert!(second.shed.is_cancelled(), "idle: shed");
        let _also_busy = Busy::enter(&third.busy);
        assert!(table.admit().is_none(), "all busy: the new one is refused");
        drop(first);
        assert!(
            table.admit().is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn the_cap_leaves_room_under_the_file_limit() {
        let cap = connection_cap();
        assert!((1..=MAX_CONNECTIONS).contains(&cap));
        if let Some(limit) = open_file_limit() {
            assert!(cap <= limit.saturating_sub(RESERVED_FDS).max(1));
        }
    }
}
