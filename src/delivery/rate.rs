//! The rate limit across all connections of a run (`HOTPAPERS_RATE`).

use std::sync::Mutex;
use std::time::Duration;

/// Spaces message starts evenly at `rate` per second across all workers.
pub(super) struct RateLimiter {
    interval: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    /// `rate` messages per second, the first one allowed at `start` (from the run's clock).
    pub(super) fn new(rate: f64, start: std::time::Instant) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / rate.max(1e-6)),
            next: Mutex::new(tokio::time::Instant::from_std(start)),
        }
    }

    pub(super) async fn wait(&self) {
        let at = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // tokio's clock, which follows the runtime (and its test pausing).
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}
