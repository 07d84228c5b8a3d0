//! The bot: from a visitor's message and the tenant's corpus to a stored reply. No actix
//! types; `api::chat` does the HTTP and the streaming around it.

pub mod agent;
pub mod answer;
pub mod contact;
pub mod llm;
pub mod mcp_client;
pub mod origin;
pub mod relevance;
pub mod smalltalk;
pub mod turn;

pub use answer::{Answer, AnswerKind, Lang, Persona, Retrieved, SegmentInfo};
