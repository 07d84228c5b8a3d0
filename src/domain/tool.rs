//! Tools the bot can use in a conversation (contact form, remembering a fact, handing over to
//! a person), configured per tenant and optionally per segment.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tenant::named_enum;
use crate::clock::Timestamp;

named_enum!(
    /// The tool types this edition runs.
    ToolType {
        SubmitForm => "SUBMIT_FORM",
        RememberFact => "REMEMBER_FACT",
        EscalateToHuman => "ESCALATE_TO_HUMAN",
    }
);

/// Types the hosted API documents that need services this edition does not have.
pub const HOSTED_ONLY_TYPES: &[&str] = &[
    "BOOK_MEETING",
    "GENERATE_QUOTE",
    "CHECK_AVAILABILITY",
    "CREATE_TICKET",
    "SEND_EMAIL",
    "WEBHOOK",
    "PAYMENT_LINK",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tool_type: ToolType,
    pub config: Map<String, Value>,
    /// Segment slug; `None`: every segment.
    pub segment: Option<String>,
    pub is_active: bool,
    pub position: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A validated new tool.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTool {
    pub name: String,
    pub description: String,
    pub tool_type: ToolType,
    pub config: Map<String, Value>,
    pub segment: Option<String>,
    pub is_active: bool,
    pub position: u32,
}

/// A validated partial update; `segment: Some(None)` makes the tool apply everywhere. A new
/// `config` is validated against the tool's type by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub config: Option<Map<String, Value>>,
    pub segment: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub position: Option<u32>,
}

impl ToolPatch {
    pub fn apply(&self, t: &mut Tool) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                slot.clone_from(value);
            }
        }
        set(&mut t.name, &self.name);
        set(&mut t.description, &self.description);
        set(&mut t.config, &self.config);
        set(&mut t.segment, &self.segment);
        set(&mut t.is_active, &self.is_active);
        set(&mut t.position, &self.position);
    }
}
