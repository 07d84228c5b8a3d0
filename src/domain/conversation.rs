//! Conversations of the public chat: one per (tenant, sessionId), with their messages.

use serde::{Deserialize, Serialize};

use super::tenant::named_enum;
use super::tool::ToolType;
use crate::clock::Timestamp;

/// How many characters of the first user message the listing shows.
pub const PREVIEW_CHARS: usize = 120;

named_enum!(
    /// Where a conversation came from: `widget` for browser requests (they carry an Origin),
    /// `api` for the rest.
    Channel {
        Widget => "widget",
        Api => "api",
        Voice => "voice",
    }
);

named_enum!(
    /// A person, or an AI agent that said so (`X-Agent-Model` or an `[AGENT:...]` prefix).
    VisitorType {
        Human => "human",
        Agent => "agent",
    }
);

named_enum!(
    /// `escalated` once a tool handed the conversation over to a person; it stays so.
    ConversationStatus {
        Active => "active",
        Escalated => "escalated",
    }
);

/// Rows written before conversations had a status read as active.
impl Default for ConversationStatus {
    fn default() -> Self {
        ConversationStatus::Active
    }
}

named_enum!(
    Role {
        User => "user",
        Assistant => "assistant",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Metadata {
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub page_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub session_id: String,
    pub segment: String,
    pub channel: Channel,
    pub visitor_type: VisitorType,
    pub agent_model: Option<String>,
    pub visitor_id: Option<String>,
    pub message_count: u32,
    /// Unique per store: orders "newest first".
    pub started_at: Timestamp,
    pub last_message_at: Timestamp,
    pub preview: String,
    pub metadata: Metadata,
    // The three fields below came with tools (issue 10): older rows lack them and read as an
    // active conversation in which no tool ran.
    #[serde(default)]
    pub status: ConversationStatus,
    /// Tool calls the bot made in this conversation, successful or not.
    #[serde(default)]
    pub tool_calls_count: u32,
    /// Each type of tool executed at least once, for the `toolType` filter.
    #[serde(default)]
    pub tool_types: Vec<ToolType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    pub role: Role,
    pub content: String,
    pub timestamp: Timestamp,
}

/// What a conversation starts with when a session speaks for the first time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    pub session_id: String,
    pub segment: String,
    pub channel: Channel,
    pub visitor_type: VisitorType,
    pub agent_model: Option<String>,
    pub visitor_id: Option<String>,
    pub metadata: Metadata,
}

/// One chat turn to store: the visitor's message and the reply, in the session's
/// conversation (started from `start` when the session has none yet).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub start: NewConversation,
    pub user_message: String,
    pub user_at: Timestamp,
    pub reply: String,
    /// For the usage statistics: whether the bot fell back, what it cited.
    pub outcome: crate::domain::stats::ExchangeOutcome,
    /// The most messages the conversation may hold after this exchange.
    pub max_messages: u32,
    /// What the bot's tools did during this exchange.
    pub tools: ToolActivity,
}

/// The tools run during one exchange, as the conversation keeps count of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolActivity {
    /// Every call, builtin or external, successful or not.
    pub calls: u32,
    /// Types of the builtin tools called.
    pub types: Vec<ToolType>,
    /// A successful ESCALATE_TO_HUMAN: the conversation becomes `escalated`.
    pub escalated: bool,
}

/// Filters shared by the list and the CSV export; `None` = no constraint.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Bounds on `startedAt`, inclusive.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub segment: Option<String>,
    pub channel: Option<Channel>,
    pub visitor_type: Option<VisitorType>,
    pub visitor_id: Option<String>,
    /// Conversations in which a tool of this type was executed.
    pub tool_type: Option<ToolType>,
}

impl ConversationFilter {
    pub fn accepts(&self, c: &Conversation) -> bool {
        self.segment.as_ref().is_none_or(|s| *s == c.segment)
            && self
                .visitor_id
                .as_ref()
                .is_none_or(|v| c.visitor_id.as_ref() == Some(v))
            && self.channel.is_none_or(|ch| ch == c.channel)
            && self.visitor_type.is_none_or(|v| v == c.visitor_type)
            && self.tool_type.is_none_or(|t| c.tool_types.contains(&t))
    }
}
