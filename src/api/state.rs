//! What every handler shares.

use std::sync::Arc;

use crate::auth::{Credentials, RateLimiter};
use crate::chat::turn::Llm;
use crate::config::Config;
use crate::store::Store;

pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub credentials: Arc<Credentials>,
    /// Public chat, per client IP and per tenant.
    pub chat_ip_limiter: RateLimiter,
    pub chat_tenant_limiter: RateLimiter,
    /// Dashboard sign-in attempts, per client IP.
    pub sign_in_limiter: RateLimiter,
    /// Set when `[chat] llm_base_url` is configured: the client and its cap on calls.
    pub llm: Option<Arc<Llm>>,
}
