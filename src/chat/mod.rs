//! The bot: from a visitor's message and the tenant's corpus to an answer. Pure logic, no
//! actix types; `api::chat` does the HTTP, the store and the streaming around it.

pub mod answer;
pub mod llm;
pub mod origin;
pub mod relevance;
pub mod smalltalk;

pub use answer::{Answer, AnswerKind, Lang, Persona, Retrieved, SegmentInfo};
