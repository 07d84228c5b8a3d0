//! What every handler shares.

use std::sync::Arc;

use crate::auth::{Credentials, RateLimiter};
use crate::chat::AnswerKind;
use crate::chat::mcp_client::McpTools;
use crate::chat::turn::{Llm, LlmSlot, Turn};
use crate::config::Config;
use crate::secrets::SecretBox;
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
    /// Seals secrets the server must read back (MCP keys, webhook signing secrets).
    pub secrets: SecretBox,
    /// The tenants' own MCP tools servers: discovery (cached) and calls.
    pub mcp_tools: Arc<McpTools>,
}

impl AppState {
    /// A slot for an LLM call on this turn: only with an LLM configured, for a turn worth
    /// one (answered from the corpus), and while the cap on concurrent calls allows it.
    pub fn llm_slot(&self, turn: &Turn) -> Option<LlmSlot> {
        self.llm
            .as_ref()
            .filter(|_| turn.wants_llm())
            .and_then(|llm| llm.try_slot())
    }

    /// [`llm_slot`](Self::llm_slot) for the chat, where the tenant's MCP tools may act on a
    /// message the corpus does not answer ("where is my order A-42?").
    /// (Async: on PostgreSQL, the look at the tenant's MCP settings is a round trip.)
    pub async fn chat_llm_slot(&self, turn: &Turn) -> Option<LlmSlot> {
        let llm = self.llm.as_ref()?;
        let wanted = turn.wants_llm()
            || (turn.retrieval.kind == AnswerKind::Fallback
                && matches!(
                    self.store.mcp_settings_async(&turn.tenant.slug).await,
                    Ok(Some(_))
                ));
        wanted.then(|| llm.try_slot()).flatten()
    }
}

/// A duplicate descriptor of the connection's socket, put in the connection's data at accept
/// (`app`): lets a handler notice that its client went away, and the body deadline stop
/// reading a body.
pub struct PeerSocket(pub socket2::Socket);

impl PeerSocket {
    /// True once the client closed the connection (or reset it).
    pub fn client_gone(&self) -> bool {
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match self.0.peek(&mut probe) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        }
    }
}
