//! Access control: secrets, the live credential table, and the guard every tenant route
//! takes. Scopes themselves are domain types (`domain::scope`).

pub mod credentials;
pub mod extractor;
pub mod rate_limit;
pub mod token;

use std::sync::Arc;

pub use credentials::{Credential, Credentials};
pub use extractor::{Authed, Principal, authenticate_own_tenant};
pub use rate_limit::RateLimiter;

pub use crate::domain::scope::need;

/// What the guard needs, registered as app data by the server.
pub struct Guard {
    pub credentials: Arc<Credentials>,
    /// Per API credential.
    pub rate_limiter: RateLimiter,
}
