//! The records of the domain and their rules, shared by every layer: plain data with no
//! storage or HTTP types, so `store`, `chat`, `auth` and `api` can all depend on it.

pub mod audit;
pub mod conversation;
pub mod corpus;
pub mod scope;
pub mod segment;
pub mod session;
pub mod stats;
pub mod submission;
pub mod tenant;
pub mod token;
pub mod tool;
pub mod visitor;

pub use audit::{Actor, ActorKind, AuditAction, AuditEntry, NewAudit};
pub use conversation::{
    Channel, Conversation, ConversationFilter, ConversationStatus, Exchange, Message, Metadata,
    NewConversation, Role, ToolActivity, VisitorType,
};
pub use corpus::{CorpusEntry, CorpusPage, CorpusPatch, NewCorpus};
pub use scope::{Scope, ScopeSet};
pub use segment::{NewSegment, Segment, SegmentPatch, Starter};
pub use session::Session;
pub use submission::{
    DeliveryStatus, FieldError, FormField, NewSubmission, Submission, WebhookDelivery,
};
pub use tenant::{
    ContentPolicy, ParentRef, Plan, Tenant, TenantExtra, TenantPatch, Tone, VisitorAuthMode,
    VoiceConfig,
};
pub use token::{GraceSecret, NewSecret, NewToken, TokenRecord};
pub use tool::{NewTool, Tool, ToolPatch, ToolType};
pub use visitor::{MemoryFact, NewVisitor, Visitor, VisitorDetail, VisitorPatch};
