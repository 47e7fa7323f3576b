//! What a run reports: each message's [`Outcome`] to an [`Observer`] as it
//! goes (the progress bar, log lines), and the [`Summary`] at the end (the
//! summary line, the exit status).

use std::time::Duration;

/// The final word on one message in a run, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the server.
    Sent,
    /// The filter left nothing to send.
    Skipped,
    /// Already sent in an earlier run.
    AlreadySent,
    /// Transient failures used up this run's attempts.
    Deferred,
    /// Refused permanently, or could not be built.
    Failed,
    /// Cut after DATA and left as unknown (policy `skip`).
    Unknown,
    /// A transient failure; it will be tried again.
    Retrying,
}

/// Receives progress as the run goes.
pub trait Observer: Send + Sync {
    /// How many active subscribers the run will look at.
    fn planned(&self, _total: u64) {}
    /// One subscriber's outcome (or a retry), with the reply or error.
    fn outcome(&self, _email: &str, _outcome: Outcome, _detail: Option<&str>) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Accepted by the server in this run (or, for a dry run, that would be sent).
    pub sent: u64,
    /// Nothing to send: the filter left no paper.
    pub skipped: u64,
    /// Sent in an earlier run.
    pub already_sent: u64,
    /// Transient failures; still due, the next run retries.
    pub deferred: u64,
    /// Permanent failures (this run or earlier ones), not retried.
    pub failed: u64,
    /// Deliveries of unknown outcome left alone (policy `skip`).
    pub unknown: u64,
    /// Rows an interrupted earlier run left mid-transaction.
    pub recovered: u64,
    /// Due but not tried: beyond `--limit`, or the run stopped.
    pub not_attempted: u64,
    /// `(address, reply)` of each permanent failure in this run.
    pub failures: Vec<(String, String)>,
    /// Addresses whose delivery is unknown and left alone.
    pub unknowns: Vec<String>,
    /// Subscribers marked bounced in this run.
    pub bounced: Vec<String>,
    /// Deliveries another worker took over after this one's lease ran
    /// out: this worker's start or outcome was not written over theirs.
    pub lost: Vec<String>,
    /// On a database: readers newly queued for the edition by this worker.
    pub queued: u64,
    /// On a database: due rows other workers held (under a live lease)
    /// when this worker found nothing more to claim.
    pub elsewhere: u64,
    /// On a database: this worker's id, as the ledger's rows record it.
    pub worker: Option<String>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// True for `--dry-run`.
    pub dry_run: bool,
    /// Stopped by an interrupt (Ctrl-C) before the end.
    pub interrupted: bool,
}

impl Summary {
    /// Messages accepted per second of wall time.
    #[must_use]
    pub fn messages_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }

    /// Whether every due message is delivered or skipped.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.stopped.is_none()
            && !self.interrupted
            && self.failed == 0
            && self.deferred == 0
            && self.unknown == 0
            && self.not_attempted == 0
            && self.lost.is_empty()
    }
}
