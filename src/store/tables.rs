//! Every redb table, in one place. Values are JSON unless noted; keys scoped to a tenant are
//! `(tenant_slug, id)` tuples so one tenant's rows are a contiguous range.

use redb::TableDefinition;

/// `schema_version` (u32 LE) and `analyzer_version` (u32 LE).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// slug -> Tenant
pub const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// token id -> TokenRecord (holds the BLAKE3 hash, never the secret)
pub const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// (tenant, corpus id) -> CorpusEntry
pub const CORPUS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("corpus");
/// (tenant, corpus id) -> binary index row (see `corpus::IndexRow`): the entry's analysed
/// terms, committed in the same transaction as the entry, from which the in-memory search
/// index is rebuilt at start-up.
pub const CORPUS_TERMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("corpus_terms");
/// (tenant, segment slug) -> number of corpus entries naming that segment, kept in the same
/// transaction as every corpus write so a segment in use can be refused deletion.
pub const SEGMENT_USAGE: TableDefinition<(&str, &str), u64> = TableDefinition::new("segment_usage");
/// (tenant, segment id) -> Segment
pub const SEGMENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("segments");
/// (tenant, conversation id) -> Conversation
pub const CONVERSATIONS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("conversations");
/// (tenant, sessionId) -> conversation id: one conversation per session.
pub const CONVERSATION_SESSIONS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("conversation_sessions");
/// (tenant, startedAt µs, conversation id) -> (): newest-first listing and date filters.
pub const CONVERSATIONS_BY_START: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("conversations_by_start");
/// (conversation id, sequence number) -> Message
pub const MESSAGES: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("messages");

/// (tenant, UTC day since the epoch, segment slug) -> DayStats: usage statistics, updated in
/// the write of each chat exchange.
pub const STATS_DAILY: TableDefinition<(&str, i32, &str), &[u8]> =
    TableDefinition::new("stats_daily");

/// (tenant, tool id) -> Tool
pub const TOOLS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tools");
/// (tenant, visitor id) -> Visitor
pub const VISITORS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("visitors");
/// (tenant, "email:<lowercased>" | "external:<id>") -> visitor id: identifiers are unique.
pub const VISITOR_KEYS: TableDefinition<(&str, &str), &str> = TableDefinition::new("visitor_keys");
/// (tenant, visitor id, key) -> MemoryFact
pub const VISITOR_MEMORY: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("visitor_memory");
/// (tenant, visitor id, conversation id) -> (): a visitor's conversations, for counting and
/// for deleting them with the visitor.
pub const VISITOR_CONVERSATIONS: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("visitor_conversations");

/// tenant -> McpSettings: the tenant's MCP tools server, its API key sealed (never in clear).
pub const MCP_SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("mcp_settings");
/// (tenant, submission id) -> Submission. Ids start with their instant, so a tenant's range is
/// in the order the forms were submitted.
pub const SUBMISSIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("submissions");
/// (due µs, tenant, submission id) -> OutboxJob: webhook deliveries still to attempt, written
/// in the submission's own transaction so an acknowledged submission's webhook survives a
/// crash; the delivery worker takes the due ones in order.
pub const WEBHOOK_OUTBOX: TableDefinition<(i64, &str, &str), &[u8]> =
    TableDefinition::new("webhook_outbox");
/// tenant -> its webhook signing secret, sealed by `secrets::SecretBox` (never in clear).
pub const WEBHOOK_SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("webhook_secrets");

/// BLAKE3 (hex) of a dashboard session's cookie value -> Session (never the value itself)
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// (tenant, audit id) -> AuditEntry. Ids start with their instant (the writer's strictly
/// increasing clock), so a tenant's range is in chronological order.
pub const AUDIT: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("audit");
/// tenant -> number of its AUDIT rows, kept in the same transaction as every append and
/// prune, so retention knows what to prune without counting rows.
pub const AUDIT_COUNT: TableDefinition<&str, u64> = TableDefinition::new("audit_count");

/// 2: one timestamp unit (µs) in every record, and SEGMENT_USAGE.
pub const SCHEMA_VERSION: u32 = 2;
