//! Visitors a tenant knows (by email or its own id), and the facts remembered about them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Visitor {
    pub id: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub auth_provider: Option<String>,
    pub metadata: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A validated new visitor: at least one of `email` and `external_id`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewVisitor {
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub auth_provider: Option<String>,
    pub metadata: Map<String, Value>,
}

/// A validated partial update; `Some(None)` clears a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitorPatch {
    pub email: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub auth_provider: Option<Option<String>>,
    pub metadata: Option<Map<String, Value>>,
}

impl VisitorPatch {
    pub fn apply(&self, v: &mut Visitor) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                slot.clone_from(value);
            }
        }
        set(&mut v.email, &self.email);
        set(&mut v.external_id, &self.external_id);
        set(&mut v.display_name, &self.display_name);
        set(&mut v.phone, &self.phone);
        set(&mut v.auth_provider, &self.auth_provider);
        set(&mut v.metadata, &self.metadata);
    }
}

impl Visitor {
    /// Each identifier that must be unique within the tenant, as an index key.
    pub fn unique_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(email) = &self.email {
            keys.push(format!("email:{}", email.to_lowercase()));
        }
        if let Some(external) = &self.external_id {
            keys.push(format!("external:{external}"));
        }
        keys
    }
}

/// One remembered fact, by key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryFact {
    pub key: String,
    pub value: String,
    /// Who wrote it: `api` (a tenant's integration) or `chat` (the bot during a conversation).
    pub source: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A visitor with what the detail view counts.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitorDetail {
    pub visitor: Visitor,
    pub conversation_count: u64,
    pub memory_count: u64,
}
