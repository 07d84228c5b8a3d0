//! The audit log's records: who did what to a tenant's access or settings, and which
//! requests were denied. Append-only; the store prunes by age and count.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.rotated")]
    TokenRotated,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    #[serde(rename = "legacy_key.minted")]
    LegacyKeyMinted,
    #[serde(rename = "settings.changed")]
    SettingsChanged,
    #[serde(rename = "corpus.imported")]
    CorpusImported,
    /// The form-webhook signing secret was created (first webhook tool) or rotated.
    #[serde(rename = "webhook_secret.changed")]
    WebhookSecretChanged,
    #[serde(rename = "request.denied")]
    RequestDenied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    /// An API token (`tokenId`, `prefix`).
    Token,
    /// The tenant's legacy `X-API-Key`.
    LegacyKey,
    /// A dashboard session, opened with the token `tokenId`.
    Dashboard,
    /// The command line, on the server's machine.
    Cli,
    /// No credential recognised (denied requests).
    Unknown,
}

/// Who acted: never a secret, at most a token's public prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub kind: ActorKind,
    pub token_id: Option<String>,
    pub prefix: Option<String>,
    /// The client address (see `auth::client_ip`); none for the CLI.
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            kind: ActorKind::Cli,
            token_id: None,
            prefix: None,
            ip: None,
        }
    }
}

/// An entry to append; the store gives it its id and instant.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub action: AuditAction,
    pub actor: Actor,
    /// What was acted on (a token id, ...).
    pub target: Option<String>,
    /// A short, secret-free description (`401 invalid_token GET /tenants/acme/corpus`).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub tenant: String,
    pub at: Timestamp,
    pub action: AuditAction,
    pub actor: Actor,
    pub target: Option<String>,
    pub detail: Option<String>,
}
