//! Per-key request budgets (per credential, per client IP, per tenant). Counters live in
//! memory only.
//!
//! "N a minute" means at most N in *any* 60-second window: each key keeps the instants of
//! the requests it was granted in the last minute (a sliding log, at most N of them), and a
//! request is granted only when fewer than N fall in the minute before it. A token bucket
//! (GCRA with a burst of N) would let a full burst through and then refill during the same
//! minute, close to 2N in the first minute. The log costs 8 bytes per counted request of an
//! active key (8 KB for a key using a 1000/min budget fully) and is dropped once idle.
//!
//! Several replicas over one database (PostgreSQL) each keep their own counters and enforce
//! a share of each limit: N/R, rounded up, with R the replicas live now
//! ([`RateLimiter::share_among`]). A load balancer spreading a client's requests evenly
//! (round robin, least connections) then admits about N a minute in all, without a round
//! trip per request; one that pins a client to one replica admits it N/R.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::ApiError;

const SHARDS: usize = 16;
const WINDOW: Duration = Duration::from_secs(60);

/// Where a key stands after a request: what the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the oldest counted request leaves the window, so one more is allowed
    /// (0 when the key has counted nothing).
    pub reset_secs: u64,
}

pub struct RateLimiter {
    /// The configured limit, for all replicas together; 0 = off.
    limit: u32,
    /// The replicas sharing `limit` (1 on a single server).
    replicas: AtomicU32,
    window_ms: u64,
    epoch: Instant,
    hasher: RandomState,
    /// Per key, the instants (ms since `epoch`) of the requests counted in the window,
    /// oldest first.
    shards: Vec<Mutex<HashMap<String, VecDeque<u64>>>>,
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> Self {
        RateLimiter::with_window(limit, WINDOW)
    }

    fn with_window(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            replicas: AtomicU32::new(1),
            window_ms: window.as_millis() as u64,
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.limit > 0
    }

    /// From now on this replica is one of `replicas` sharing the limit: it admits its share,
    /// `limit / replicas` rounded up (never 0, so a limit stays usable on every replica).
    pub fn share_among(&self, replicas: u32) {
        self.replicas.store(replicas.max(1), Ordering::Relaxed);
    }

    /// What this replica admits per key and window.
    fn share(&self) -> u32 {
        self.limit
            .div_ceil(self.replicas.load(Ordering::Relaxed).max(1))
            .max(1)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs `f` on the key's log with expired instants dropped (an empty log for a key
    /// never seen, which is only kept if `f` counts something in it).
    fn with_log<T>(&self, key: &str, now: u64, f: impl FnOnce(&mut VecDeque<u64>) -> T) -> T {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = map.get_mut(key) else {
            let mut log = VecDeque::new();
            let out = f(&mut log);
            if !log.is_empty() {
                map.insert(key.to_string(), log);
            }
            return out;
        };
        while log.front().is_some_and(|&t| t + self.window_ms <= now) {
            log.pop_front();
        }
        f(log)
    }

    fn budget(&self, log: &VecDeque<u64>, now: u64) -> Budget {
        let reset_ms = log
            .front()
            .map_or(0, |&oldest| (oldest + self.window_ms).saturating_sub(now));
        let share = self.share();
        Budget {
            limit: share,
            remaining: share.saturating_sub(log.len() as u32),
            reset_secs: reset_ms.div_ceil(1000),
        }
    }

    /// Counts one request for `key` if the budget allows it. `Ok` with the budget left
    /// after it, `Err` with the budget (nothing left; `reset_secs` says when to retry);
    /// `Ok(None)` when the limit is off.
    pub fn admit(&self, key: &str) -> Result<Option<Budget>, Budget> {
        self.admit_at(key, self.now_ms())
    }

    fn admit_at(&self, key: &str, now: u64) -> Result<Option<Budget>, Budget> {
        if !self.is_on() {
            return Ok(None);
        }
        let share = self.share() as usize;
        self.with_log(key, now, |log| {
            if log.len() >= share {
                let mut refused = self.budget(log, now);
                refused.reset_secs = refused.reset_secs.max(1);
                return Err(refused);
            }
            log.push_back(now);
            Ok(Some(self.budget(log, now)))
        })
    }

    /// Counts one request for `key`; 429 with a Retry-After when over budget.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.admit(key)
            .map(|_| ())
            .map_err(|refused| ApiError::rate_limited(refused.reset_secs))
    }

    /// Seconds to wait when `key` has used its whole budget, without counting anything:
    /// for budgets of failures, checked before an attempt and counted after a failure.
    pub fn exhausted(&self, key: &str) -> Option<u64> {
        self.exhausted_at(key, self.now_ms())
    }

    fn exhausted_at(&self, key: &str, now: u64) -> Option<u64> {
        if !self.is_on() {
            return None;
        }
        let share = self.share() as usize;
        self.with_log(key, now, |log| {
            (log.len() >= share).then(|| self.budget(log, now).reset_secs.max(1))
        })
    }

    /// Counts one event (a failure) for `key`, keeping at most its share in the log.
    pub fn record(&self, key: &str) {
        self.record_at(key, self.now_ms());
    }

    fn record_at(&self, key: &str, now: u64) {
        if !self.is_on() {
            return;
        }
        let share = self.share() as usize;
        self.with_log(key, now, |log| {
            log.push_back(now);
            while log.len() > share {
                log.pop_front();
            }
        });
    }

    /// Forgets keys with nothing counted in the window, so memory does not grow with old keys.
    pub fn forget_idle(&self) {
        let now = self.now_ms();
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, log| log.back().is_some_and(|&t| t + self.window_ms > now));
            map.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_per_key_and_refusal_says_when_to_retry() {
        let limiter = RateLimiter::per_minute(2);
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let refused = limiter.check("a").unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        assert!(refused.retry_after.unwrap() >= 1);
        assert!(limiter.check("b").is_ok(), "other keys keep their budget");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::per_minute(0);
        for _ in 0..10_000 {
            assert!(limiter.check("a").is_ok());
        }
        assert_eq!(limiter.admit("a"), Ok(None));
        limiter.record("a");
        assert_eq!(limiter.exhausted("a"), None);
    }

    /// However requests are spread, no 60-second window grants more than the limit.
    #[test]
    fn no_window_of_a_minute_grants_more_than_the_limit() {
        let limit = 100;
        let limiter = RateLimiter::per_minute(limit);
        let mut granted = Vec::new();
        // A request every 50 ms for three minutes: 3600 attempts.
        for step in 0..3600u64 {
            let now = step * 50;
            if limiter.admit_at("k", now).is_ok() {
                granted.push(now);
            }
        }
        for (i, &start) in granted.iter().enumerate() {
            let in_window = granted[i..]
                .iter()
                .take_while(|&&t| t < start + 60_000)
                .count();
            assert!(in_window <= limit as usize, "{in_window} from {start} ms");
        }
        assert_eq!(granted.len(), 300, "the full budget, once a minute");
    }

    #[test]
    fn headers_count_down_and_reset_when_the_oldest_leaves() {
        let limiter = RateLimiter::per_minute(3);
        let b = limiter.admit_at("k", 1_000).unwrap().unwrap();
        assert_eq!((b.limit, b.remaining, b.reset_secs), (3, 2, 60));
        let b = limiter.admit_at("k", 11_000).unwrap().unwrap();
        assert_eq!((b.remaining, b.reset_secs), (1, 50));
        limiter.admit_at("k", 12_000).unwrap();
        let refused = limiter.admit_at("k", 30_500).unwrap_err();
        assert_eq!((refused.remaining, refused.reset_secs), (0, 31));
        assert!(
            limiter.admit_at("k", 61_000).is_ok(),
            "the first left the window"
        );
    }

    #[test]
    fn failures_block_until_the_window_passes() {
        let limiter = RateLimiter::per_minute(2);
        limiter.record_at("ip", 0);
        assert_eq!(limiter.exhausted_at("ip", 0), None);
        limiter.record_at("ip", 5_000);
        assert_eq!(limiter.exhausted_at("ip", 5_000), Some(55));
        assert_eq!(limiter.exhausted_at("other", 5_000), None);
        assert_eq!(limiter.exhausted_at("ip", 60_000), None);
    }

    #[test]
    fn replicas_each_admit_their_share_rounded_up() {
        let limiter = RateLimiter::per_minute(10);
        limiter.share_among(3);
        for i in 0..4 {
            let b = limiter.admit_at("k", i).unwrap().unwrap();
            assert_eq!(
                (b.limit, b.remaining),
                (4, 3 - i as u32),
                "10 / 3 rounds up to 4"
            );
        }
        assert!(limiter.admit_at("k", 10).is_err());
        // A replica leaves: the two left admit half each, counting what was already granted.
        limiter.share_among(2);
        assert!(limiter.admit_at("k", 20).is_ok());
        assert_eq!(limiter.admit_at("k", 21).unwrap_err().limit, 5);
        // More replicas than the limit: each still admits one, never none.
        let tiny = RateLimiter::per_minute(2);
        tiny.share_among(5);
        assert!(tiny.admit_at("k", 0).is_ok());
        assert!(tiny.admit_at("k", 1).is_err());
        // Failures are bounded by the share too; 0 replicas (never reported) counts as 1.
        let failures = RateLimiter::per_minute(4);
        failures.share_among(0);
        failures.record_at("ip", 0);
        failures.record_at("ip", 1);
        failures.record_at("ip", 2);
        assert_eq!(failures.exhausted_at("ip", 3), None);
        failures.share_among(2);
        assert_eq!(failures.exhausted_at("ip", 3), Some(60));
    }
}
