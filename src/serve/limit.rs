//! Token-bucket rate limits keyed by client address (and by the address being
//! subscribed), so that nobody can use the subscribe form to flood a mailbox
//! or our SMTP quota. Time comes from the caller, so tests can move it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Buckets are forgotten once this many are held and they are full again.
const PRUNE_AT: usize = 10_000;

/// A bucket per key: `burst` requests at once, then one per `refill`.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    burst: f64,
    refill_seconds: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// `burst` requests at once, then one more every `refill_seconds`.
    pub(crate) fn new(burst: u32, refill_seconds: u32) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill_seconds: f64::from(refill_seconds.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`; `Err(seconds)` says how long until
    /// the next one.
    pub(crate) fn check(&self, key: &K, now: DateTime<Utc>) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock only means another request panicked; refuse safely.
            return Err(self.refill_seconds as u64);
        };
        if buckets.len() >= PRUNE_AT {
            let (burst, refill) = (self.burst, self.refill_seconds);
            buckets.retain(|_, b| b.level(now, burst, refill) < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let level = bucket.level(now, self.burst, self.refill_seconds);
        if level >= 1.0 {
            *bucket = Bucket {
                tokens: level - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: level,
                at: now,
            };
            let wait = ((1.0 - level) * self.refill_seconds).ceil();
            Err(wait as u64)
        }
    }
}

impl Bucket {
    fn level(&self, now: DateTime<Utc>, burst: f64, refill: f64) -> f64 {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        (self.tokens + elapsed / refill).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_burst_then_one_per_refill_period_per_key() {
        let limiter = RateLimiter::new(3, 60);
        let t0 = Utc.with_ymd_and_hms(2021, 2, 12, 8, 0, 0).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", t0), Ok(()));
        }
        assert_eq!(limiter.check(&"a", t0), Err(60));
        assert_eq!(
            limiter.check(&"b", t0),
            Ok(()),
            "other keys are not affected"
        );
        assert_eq!(limiter.check(&"a", t0 + Duration::seconds(30)), Err(30));
        assert_eq!(limiter.check(&"a", t0 + Duration::seconds(60)), Ok(()));
        assert!(limiter.check(&"a", t0 + Duration::seconds(61)).is_err());
    }
}
