//! Per-key request budgets (per credential on the API). Counters live in memory only.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Governor};

use crate::error::ApiError;

pub struct RateLimiter {
    /// `None` when the limit is off (0 per minute).
    inner: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> Self {
        RateLimiter {
            inner: NonZeroU32::new(limit).map(|n| Governor::keyed(Quota::per_minute(n))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request for `key`; 429 with a Retry-After when over budget.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forgets keys whose budget is full again, so memory does not grow with old keys.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
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
    }
}
