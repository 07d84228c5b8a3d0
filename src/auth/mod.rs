//! Access control: secrets, the live credential table, and the guard every tenant route
//! takes. Scopes themselves are domain types (`domain::scope`).

pub mod client_ip;
pub mod credentials;
pub mod denied;
pub mod extractor;
pub mod rate_limit;
pub mod token;

use std::sync::Arc;

pub use client_ip::{budget_key, client_ip, client_ip_text};
pub use credentials::{Credential, Credentials};
pub use extractor::{AnyScope, Authed, Principal, authenticate, rate_limit_headers};
pub use rate_limit::RateLimiter;

pub use crate::domain::scope::need;

use crate::config::TrustedProxies;
use crate::error::ApiError;
pub use denied::DeniedLog;

/// What the guard needs, registered as app data by the server.
pub struct Guard {
    pub credentials: Arc<Credentials>,
    /// Per API credential.
    pub rate_limiter: RateLimiter,
    /// Failed authentications per client IP, shared by the API and the dashboard sign-in.
    pub failed_auth: RateLimiter,
    pub trusted_proxies: TrustedProxies,
    pub denied: Arc<DeniedLog>,
}

impl Guard {
    /// 429 while the client IP has used up its failed-authentication budget: checked before
    /// a credential is looked at, so a guess cannot be tested once the budget is spent.
    pub fn refuse_throttled(&self, ip: &str) -> Result<(), ApiError> {
        match self.failed_auth.exhausted(&budget_key(ip)) {
            Some(wait) => Err(ApiError::rate_limited(wait)),
            None => Ok(()),
        }
    }

    /// Counts one failed authentication for the client IP.
    pub fn count_failure(&self, ip: &str) {
        self.failed_auth.record(&budget_key(ip));
    }
}
