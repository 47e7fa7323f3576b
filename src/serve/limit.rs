//! Token-bucket rate limits keyed by client address (and by the address being
//! subscribed), so that nobody can use the subscribe form to flood a mailbox
//! or our SMTP quota. Time comes from the caller, so tests can move it.
//!
//! A request costs O(1) however many buckets are held: buckets wait in a
//! queue in the order they were last touched, and each check looks at a few
//! at the front, forgetting those that have been full again for a while
//! (a bucket untouched for `burst × refill` is full, so forgetting it changes
//! nothing). The map never holds more than its capacity: when it is full of
//! buckets still in use, a new key is refused, as if it were limited.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// How many queued buckets one check looks at (and forgets if full): more
/// than the one bucket a check can add, so the queue keeps up.
const SWEEP_PER_CHECK: usize = 4;

/// A bucket per key: `burst` requests at once, then one per `refill`.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    burst: f64,
    refill_seconds: f64,
    /// Milliseconds after its last use at which a bucket is surely full again.
    full_after_ms: i64,
    capacity: usize,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    buckets: HashMap<K, Bucket>,
    /// Every key in `buckets` once, roughly oldest use first, with the time of
    /// its use when it was queued (a later use moves it back when it is seen).
    queue: VecDeque<(K, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// `burst` requests at once, then one more every `refill_seconds`; at most
    /// `capacity` keys remembered.
    pub(crate) fn new(burst: u32, refill_seconds: u32, capacity: usize) -> Self {
        let burst = burst.max(1);
        let refill_seconds = refill_seconds.max(1);
        Self {
            burst: f64::from(burst),
            refill_seconds: f64::from(refill_seconds),
            full_after_ms: i64::from(burst) * i64::from(refill_seconds) * 1000,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                queue: VecDeque::new(),
            }),
        }
    }

    /// Takes one token for `key` at `now`; `Err(seconds)` says how long until
    /// the next one.
    pub(crate) fn check(&self, key: &K, now: DateTime<Utc>) -> Result<(), u64> {
        let refused = whole_seconds(self.refill_seconds);
        let Ok(mut state) = self.state.lock() else {
            // A poisoned lock only means another request panicked; refuse safely.
            return Err(refused);
        };
        let state = &mut *state;
        self.sweep(state, now, SWEEP_PER_CHECK);
        if !state.buckets.contains_key(key) {
            if state.buckets.len() >= self.capacity {
                // Try harder before refusing: a flood may have left many to forget.
                self.sweep(state, now, state.queue.len());
            }
            if state.buckets.len() >= self.capacity {
                return Err(refused);
            }
            state.queue.push_back((key.clone(), now));
        }
        let bucket = state.buckets.entry(key.clone()).or_insert(Bucket {
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
            Err(whole_seconds(wait))
        }
    }

    /// Looks at up to `budget` buckets at the front of the queue: forgets
    /// those unused for `full_after`, moves back those used since they were
    /// queued, and stops at the first still in use.
    fn sweep(&self, state: &mut State<K>, now: DateTime<Utc>, budget: usize) {
        for _ in 0..budget {
            let Some(&(_, queued_at)) = state.queue.front() else {
                return;
            };
            if (now - queued_at).num_milliseconds() < self.full_after_ms {
                return;
            }
            let Some((key, _)) = state.queue.pop_front() else {
                return;
            };
            match state.buckets.get(&key) {
                Some(b) if (now - b.at).num_milliseconds() < self.full_after_ms => {
                    let at = b.at;
                    state.queue.push_back((key, at));
                }
                _ => {
                    state.buckets.remove(&key);
                }
            }
        }
    }

    /// How many keys are remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.buckets.len())
    }
}

/// Seconds to wait, rounded up, as the `Retry-After` header wants them.
fn whole_seconds(s: f64) -> u64 {
    // Non-negative and at most a few minutes by construction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = s.max(0.0).ceil().min(f64::from(u32::MAX)) as u64;
    whole
}

impl Bucket {
    fn level(&self, now: DateTime<Utc>, burst: f64, refill: f64) -> f64 {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        (self.tokens + elapsed / refill).min(burst)
    }
}

/// The bucket a client address counts against: IPv4 clients one each (an
/// IPv4-mapped IPv6 address, as a socket bound to `[::]` reports them, is the
/// IPv4 address), IPv6 clients one per /64, the smallest network a host is
/// given, so that one host cannot take a fresh bucket per address.
pub(crate) fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2021, 2, 12, 8, 0, 0).unwrap()
    }

    #[test]
    fn a_burst_then_one_per_refill_period_per_key() {
        let limiter = RateLimiter::new(3, 60, 100);
        let t0 = t0();
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

    #[test]
    fn audit_17_the_map_stays_bounded_under_a_flood_of_distinct_addresses() {
        let limiter = RateLimiter::new(5, 120, 1000);
        let t0 = t0();
        let mut refused = 0;
        for i in 0..50_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            if limiter.check(&client_bucket(ip), t0).is_err() {
                refused += 1;
            }
            assert!(limiter.len() <= 1000);
        }
        assert_eq!(
            refused, 49_000,
            "new keys are refused while the map is full"
        );
        // A client already known is still served by its own bucket.
        assert_eq!(limiter.check(&IpAddr::from([0, 0, 0, 7]), t0), Ok(()));
        // Once the flood's buckets are full again they are forgotten and
        // newcomers get their own.
        let later = t0 + Duration::seconds(5 * 120);
        assert_eq!(limiter.check(&IpAddr::from([192, 0, 2, 1]), later), Ok(()));
        assert!(limiter.len() <= 1000);
    }

    #[test]
    fn audit_17_buckets_expire_without_a_full_scan() {
        let limiter = RateLimiter::new(5, 120, 100_000);
        let t0 = t0();
        for i in 0..60_000u32 {
            let _ = limiter.check(&i, t0);
        }
        assert_eq!(limiter.len(), 60_000);
        // A bucket used since is kept, with what it has left.
        let busy = u32::MAX;
        for _ in 0..5 {
            assert_eq!(limiter.check(&busy, t0 + Duration::seconds(300)), Ok(()));
        }
        // Once full again the flood's buckets are forgotten a few per request,
        // so the map drains while it is used, with no request scanning it.
        let later = t0 + Duration::seconds(600);
        let mut requests = 0;
        while limiter.len() > 2 {
            let _ = limiter.check(&(u32::MAX - 1), later);
            requests += 1;
            assert!(
                requests <= 60_000 / (SWEEP_PER_CHECK - 1),
                "the queue does not drain"
            );
        }
        // 300 s at one token per 120 s: two of the five are back.
        assert_eq!(limiter.check(&busy, later), Ok(()));
        assert_eq!(limiter.check(&busy, later), Ok(()));
        assert!(limiter.check(&busy, later).is_err());
    }

    #[test]
    fn audit_17_ipv6_clients_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_bucket(a), client_bucket(b));
        assert_ne!(client_bucket(a), client_bucket(other));
        assert_eq!(
            client_bucket(a),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        let limiter = RateLimiter::new(2, 60, 100);
        assert_eq!(limiter.check(&client_bucket(a), t0()), Ok(()));
        assert_eq!(limiter.check(&client_bucket(b), t0()), Ok(()));
        assert!(limiter.check(&client_bucket(a), t0()).is_err());
        assert_eq!(limiter.check(&client_bucket(other), t0()), Ok(()));
    }

    #[test]
    fn audit_6_an_ipv4_mapped_address_is_its_ipv4_address() {
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(client_bucket(mapped), IpAddr::from([203, 0, 113, 7]));
        let mapped_other: IpAddr = "::ffff:203.0.113.8".parse().unwrap();
        assert_ne!(
            client_bucket(mapped),
            client_bucket(mapped_other),
            "not lumped into one /64"
        );
    }

    /// Run with `cargo test --release --lib per_request_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn per_request_cost_at_60000_buckets() {
        use crate::clock::Clock as _;
        let limiter = RateLimiter::new(5, 120, 100_000);
        let t0 = t0();
        for i in 0..60_000u32 {
            let _ = limiter.check(&IpAddr::from(i.to_be_bytes()), t0);
        }
        let n = 200_000u32;
        let clock = crate::clock::SystemClock;
        let start = clock.instant();
        for i in 0..n {
            let at = t0 + Duration::milliseconds(i.into());
            let _ = limiter.check(&IpAddr::from((i % 60_000).to_be_bytes()), at);
        }
        eprintln!("{:?} per request at 60,000 buckets", start.elapsed() / n);
    }
}
