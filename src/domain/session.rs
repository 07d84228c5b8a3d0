//! Dashboard sessions: what the store keeps of a signed-in browser (never its secret).

use serde::{Deserialize, Serialize};

use super::scope::ScopeSet;
use crate::clock::Timestamp;

/// A dashboard session, stored under the BLAKE3 hash of its cookie value. It carries the
/// tenant and scopes of the API token it was opened with, and that token's id and hash so
/// every request can check the token is still live (revoked or expired ends the session).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub tenant: String,
    pub token_id: String,
    /// BLAKE3 (hex) of the API token: the key of its live credential.
    pub token_hash: String,
    pub scopes: ScopeSet,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Absolute expiry, fixed at sign-in.
    pub expires_at: Timestamp,
}

impl Session {
    /// True when the session has ended by itself: past its absolute expiry, or idle longer
    /// than `idle_secs`.
    pub fn is_over(&self, now: Timestamp, idle_secs: i64) -> bool {
        now >= self.expires_at || now >= self.last_seen_at.plus_secs(idle_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_expiry() {
        let start = Timestamp::from_secs(1_000);
        let session = Session {
            tenant: "acme".into(),
            token_id: "tok_1".into(),
            token_hash: "00".into(),
            scopes: ScopeSet::all(),
            created_at: start,
            last_seen_at: start,
            expires_at: start.plus_secs(100),
        };
        assert!(!session.is_over(start.plus_secs(9), 10));
        assert!(session.is_over(start.plus_secs(10), 10), "idle");
        let mut active = session.clone();
        active.last_seen_at = start.plus_secs(95);
        assert!(!active.is_over(start.plus_secs(99), 10));
        assert!(active.is_over(start.plus_secs(100), 10), "absolute");
    }
}
