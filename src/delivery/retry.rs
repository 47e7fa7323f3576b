//! Retry and backoff for transient failures: exponential, capped, with
//! jitter, and a run that stops when the server fails too often in a row.

use std::time::Duration;

use super::SendOptions;

/// `backoff * 2^(attempt-1)`, capped at `max_backoff`, times a factor in
/// [0.5, 1) from `random` (in [0, 1)), so that connections do not retry in step.
pub(super) fn delay(opts: &SendOptions, attempt: u32, random: f64) -> Duration {
    let exp = opts
        .backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(opts.max_backoff);
    exp.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0 - f64::EPSILON))
}

/// Transient failures in a row, over all connections, after which the run
/// stops: the server is down, and every message would only use up its attempts.
pub(super) fn give_up_streak(opts: &SendOptions) -> u32 {
    let connections = u32::try_from(opts.concurrency).unwrap_or(u32::MAX);
    opts.max_attempts
        .saturating_mul(connections)
        .saturating_mul(4)
        .max(50)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_is_capped_and_jittered_between_half_and_all_of_it() {
        let mut opts = SendOptions::for_day(chrono::NaiveDate::MIN);
        opts.backoff = Duration::from_secs(2);
        opts.max_backoff = Duration::from_mins(2);
        assert_eq!(delay(&opts, 1, 0.0), Duration::from_secs(1));
        assert_eq!(delay(&opts, 3, 0.0), Duration::from_secs(4));
        assert!(delay(&opts, 3, 0.999) < Duration::from_secs(8));
        assert_eq!(delay(&opts, 30, 0.0), Duration::from_mins(1));
    }
}
