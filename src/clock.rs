//! Time as the store keeps it (milliseconds since the Unix epoch) and as the API shows it
//! (RFC 3339 UTC, whole seconds: `2024-01-15T10:30:00Z`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Microseconds since the epoch, strictly increasing within this process: two records made in
/// the same instant still get distinct, correctly ordered creation times ("newest first" must
/// not depend on random ids). It runs ahead of the wall clock only beyond a million calls a second.
pub fn unique_now_us() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64;
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    now.max(previous + 1)
}

pub fn to_rfc3339(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// Parses any RFC 3339 timestamp (any offset, optional fraction) into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_instants_strictly_increase() {
        let mut last = unique_now_us();
        for _ in 0..10_000 {
            let next = unique_now_us();
            assert!(next > last);
            last = next;
        }
        assert!((last / 1000 - now_ms()).abs() < 1000);
    }

    #[test]
    fn formats_whole_seconds_in_utc() {
        assert_eq!(to_rfc3339(1_705_314_600_123), "2024-01-15T10:30:00Z");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2024-01-15T10:30:00Z"),
            Some(1_705_314_600_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15T11:30:00.5+01:00"),
            Some(1_705_314_600_500)
        );
        assert_eq!(parse_rfc3339("2024-01-15"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
