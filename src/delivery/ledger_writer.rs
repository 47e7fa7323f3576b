//! The ledger's single writer: one thread owns the SQLite connection and
//! commits the state changes of all workers in groups (one disk sync for many
//! changes). A worker's change is acknowledged only after its group is
//! committed, so "committed before the SMTP transaction" still holds.

use std::sync::mpsc as std_mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::ledger::{Applied, Change as Op, EditionKey, Ledger, State};

/// Most state changes committed together.
const GROUP: usize = 512;

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Applied, String>>,
}

/// A handle to the writer thread; clone freely.
#[derive(Clone)]
pub(super) struct LedgerWriter {
    tx: std_mpsc::Sender<Request>,
}

impl LedgerWriter {
    /// Starts the writer thread on `ledger` for `day`.
    pub(super) fn spawn(
        ledger: Ledger,
        day: EditionKey,
        clock: std::sync::Arc<dyn Clock>,
    ) -> (Self, thread::JoinHandle<()>) {
        let (tx, rx) = std_mpsc::channel::<Request>();
        let handle = thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while group.len() < GROUP {
                    match rx.try_recv() {
                        Ok(r) => group.push(r),
                        Err(_) => break,
                    }
                }
                let now = clock.now();
                let ops: Vec<Op> = group.iter().map(|r| r.op.clone()).collect();
                let results = ledger.apply(day, &ops, now);
                match results {
                    Ok(values) => {
                        for (r, v) in group.into_iter().zip(values) {
                            let _ = r.reply.send(Ok(v));
                        }
                    }
                    Err(e) => {
                        let msg = error_chain(&e);
                        for r in group {
                            let _ = r.reply.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
        (Self { tx }, handle)
    }

    async fn call(&self, op: Op) -> Result<Applied, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { op, reply })
            .map_err(|_| "the ledger writer stopped".to_owned())?;
        rx.await
            .map_err(|_| "the ledger writer stopped".to_owned())?
    }

    /// Commits `sending` (one more attempt) before a transaction; `false`
    /// when another worker holds the row now (nothing was written, and
    /// the message must not be sent).
    pub(super) async fn begin(&self, email: &str, message_id: &str) -> Result<bool, String> {
        self.call(Op::Start {
            email: email.to_owned(),
            message_id: message_id.to_owned(),
        })
        .await
        .map(|a| a != Applied::HeldElsewhere)
    }

    /// Commits an outcome; `hard` says whether a failure counts toward
    /// marking the reader bounced. `false` when another worker holds the
    /// row now: the outcome was not written over theirs.
    pub(super) async fn finish(
        &self,
        email: &str,
        state: State,
        reply: Option<&str>,
        hard: bool,
    ) -> Result<bool, String> {
        self.call(Op::Finish {
            email: email.to_owned(),
            state,
            reply: reply.map(str::to_owned),
            hard,
        })
        .await
        .map(|a| a != Applied::HeldElsewhere)
    }

    /// Permanent failures in a row for this address, over all days.
    pub(super) async fn consecutive_failures(&self, email: &str) -> Result<u32, String> {
        match self
            .call(Op::ConsecutiveFailures {
                email: email.to_owned(),
            })
            .await?
        {
            Applied::Failures(n) => Ok(n),
            Applied::Recorded | Applied::HeldElsewhere => Ok(0),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
