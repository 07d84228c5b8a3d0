//! API token records: what the store keeps of a token (never its secret).

use serde::{Deserialize, Serialize};

use super::scope::ScopeSet;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub prefix: String,
    pub scopes: ScopeSet,
    /// BLAKE3 of the full token text, hex.
    pub hash: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    /// After a rotation with a grace period: the previous secret, valid until `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<GraceSecret>,
}

/// A token's previous secret, still accepted for a while after a rotation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GraceSecret {
    /// BLAKE3 of the previous token text, hex.
    pub hash: String,
    pub prefix: String,
    pub until: Timestamp,
}

/// A freshly minted secret for a rotation: its hash and public prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSecret {
    pub hash: String,
    pub prefix: String,
}

/// A token to store: minted and hashed by `auth`, so the store never sees the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub name: String,
    pub scopes: ScopeSet,
    pub hash: String,
    pub prefix: String,
    pub expires_at: Option<Timestamp>,
}
