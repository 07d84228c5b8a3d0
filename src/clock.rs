//! Time, in one type and one unit: a [`Timestamp`] is microseconds since the Unix epoch, as
//! stored and compared everywhere; the API shows it as RFC 3339 UTC in whole seconds
//! (`2024-01-15T10:30:00Z`).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub fn now() -> Timestamp {
        Timestamp((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64)
    }

    pub const fn from_micros(us: i64) -> Timestamp {
        Timestamp(us)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// The next instant after `self` (for strictly increasing creation instants).
    pub fn next(self) -> Timestamp {
        Timestamp(self.0.saturating_add(1))
    }

    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }

    /// RFC 3339 UTC, whole seconds.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1_000_000))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
    }

    /// Any RFC 3339 timestamp (any offset, optional fraction).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000)
            .ok()
            .map(Timestamp)
    }

    /// What the API accepts for an instant: RFC 3339, or a bare date (`2026-12-02`) meaning
    /// that day's start in UTC, as the hosted API's examples write them.
    pub fn parse_api(text: &str) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(text).or_else(|| {
            let date = time::Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
            let start = date.midnight().assume_utc();
            i64::try_from(start.unix_timestamp_nanos() / 1_000)
                .ok()
                .map(Timestamp)
        })
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}us)", self.to_rfc3339(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_in_utc() {
        assert_eq!(
            Timestamp::from_micros(1_705_314_600_123_456).to_rfc3339(),
            "2024-01-15T10:30:00Z"
        );
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-15T10:30:00Z"),
            Some(Timestamp::from_secs(1_705_314_600))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-15T11:30:00.5+01:00"),
            Some(Timestamp::from_micros(1_705_314_600_500_000))
        );
        assert_eq!(Timestamp::parse_rfc3339("2024-01-15"), None);
        assert_eq!(
            Timestamp::parse_api("2024-01-15"),
            Timestamp::parse_rfc3339("2024-01-15T00:00:00Z")
        );
        assert_eq!(
            Timestamp::parse_api("2024-01-15T10:30:00Z"),
            Timestamp::parse_rfc3339("2024-01-15T10:30:00Z")
        );
        assert_eq!(Timestamp::parse_api("2024-02-30"), None);
        assert_eq!(Timestamp::parse_api("15/01/2024"), None);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn now_is_close_to_the_wall_clock() {
        let now = Timestamp::now().micros() / 1_000_000;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - wall).abs() <= 1);
    }
}
