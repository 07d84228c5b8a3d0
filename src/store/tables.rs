//! Every table of the store, in one place: the one list both engines (and the PostgreSQL
//! migrations, which create one SQL table per entry of [`ALL`]) derive their tables from.
//! Values are JSON unless noted. A tenant's rows are keyed `(tenant_slug, ...)`, so one
//! tenant's rows are a contiguous range and, on PostgreSQL, carry the tenant in their own
//! column (see `engine`); global tables hold rows that belong to no tenant.

use super::engine::{Scope, TableDef};

/// `schema_version` (u32 LE) and `analyzer_version` (u32 LE).
pub const META: TableDef<&str, &[u8]> = TableDef::global("meta");
/// slug -> Tenant
pub const TENANTS: TableDef<&str, &[u8]> = TableDef::tenant("tenants");
/// token id -> TokenRecord (holds the BLAKE3 hash, never the secret)
pub const TOKENS: TableDef<&str, &[u8]> = TableDef::global("tokens");
/// (tenant, corpus id) -> CorpusEntry
pub const CORPUS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("corpus");
/// (tenant, corpus id) -> binary index row (see `corpus::IndexRow`): the entry's analysed
/// terms, committed in the same transaction as the entry, from which the in-memory search
/// index is rebuilt at start-up.
pub const CORPUS_TERMS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("corpus_terms");
/// (tenant, segment slug) -> number of corpus entries naming that segment, kept in the same
/// transaction as every corpus write so a segment in use can be refused deletion.
pub const SEGMENT_USAGE: TableDef<(&str, &str), u64> = TableDef::tenant("segment_usage");
/// (tenant, segment id) -> Segment
pub const SEGMENTS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("segments");
/// (tenant, conversation id) -> Conversation
pub const CONVERSATIONS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("conversations");
/// (tenant, sessionId) -> conversation id: one conversation per session.
pub const CONVERSATION_SESSIONS: TableDef<(&str, &str), &str> =
    TableDef::tenant("conversation_sessions");
/// (tenant, startedAt µs, conversation id) -> (): newest-first listing and date filters.
pub const CONVERSATIONS_BY_START: TableDef<(&str, i64, &str), ()> =
    TableDef::tenant("conversations_by_start");
/// (tenant, conversation id, sequence number) -> Message
pub const MESSAGES: TableDef<(&str, &str, u32), &[u8]> = TableDef::tenant("messages");

/// (tenant, UTC day since the epoch, segment slug) -> DayStats: usage statistics, updated in
/// the write of each chat exchange.
pub const STATS_DAILY: TableDef<(&str, i32, &str), &[u8]> = TableDef::tenant("stats_daily");

/// (tenant, tool id) -> Tool
pub const TOOLS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("tools");
/// (tenant, visitor id) -> Visitor
pub const VISITORS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("visitors");
/// (tenant, "email:<lowercased>" | "external:<id>") -> visitor id: identifiers are unique.
pub const VISITOR_KEYS: TableDef<(&str, &str), &str> = TableDef::tenant("visitor_keys");
/// (tenant, visitor id, key) -> MemoryFact
pub const VISITOR_MEMORY: TableDef<(&str, &str, &str), &[u8]> = TableDef::tenant("visitor_memory");
/// (tenant, visitor id, conversation id) -> (): a visitor's conversations, for counting and
/// for deleting them with the visitor.
pub const VISITOR_CONVERSATIONS: TableDef<(&str, &str, &str), ()> =
    TableDef::tenant("visitor_conversations");

/// tenant -> McpSettings: the tenant's MCP tools server, its API key sealed (never in clear).
pub const MCP_SETTINGS: TableDef<&str, &[u8]> = TableDef::tenant("mcp_settings");
/// (tenant, submission id) -> Submission. Ids start with their instant, so a tenant's range is
/// in the order the forms were submitted.
pub const SUBMISSIONS: TableDef<(&str, &str), &[u8]> = TableDef::tenant("submissions");
/// (due µs, tenant, submission id) -> OutboxJob: webhook deliveries still to attempt, written
/// in the submission's own transaction so an acknowledged submission's webhook survives a
/// crash; the delivery worker takes the due ones in order. Global: it is one queue ordered by
/// due time across tenants (the tenant is in the key, second).
pub const WEBHOOK_OUTBOX: TableDef<(i64, &str, &str), &[u8]> = TableDef::global("webhook_outbox");
/// tenant -> its webhook signing secret, sealed by `secrets::SecretBox` (never in clear).
pub const WEBHOOK_SECRETS: TableDef<&str, &[u8]> = TableDef::tenant("webhook_secrets");

/// BLAKE3 (hex) of a dashboard session's cookie value -> Session (never the value itself)
pub const SESSIONS: TableDef<&str, &[u8]> = TableDef::global("sessions");

/// (tenant, audit id) -> AuditEntry. Ids start with their instant (the writer's strictly
/// increasing clock), so a tenant's range is in chronological order.
pub const AUDIT: TableDef<(&str, &str), &[u8]> = TableDef::tenant("audit");
/// tenant -> number of its AUDIT rows, kept in the same transaction as every append and
/// prune, so retention knows what to prune without counting rows.
pub const AUDIT_COUNT: TableDef<&str, u64> = TableDef::tenant("audit_count");

/// `"<table> <key>"` -> the bytes of a record `animam check --quarantine` moved aside.
pub const QUARANTINE: TableDef<&str, &[u8]> = TableDef::global("quarantine");

/// Every table: name and scope. Backup copies these, open creates them, the PostgreSQL
/// migrations create one SQL table for each (named after `name`).
pub const ALL: &[(&str, Scope)] = &[
    (META.name(), META.scope()),
    (TENANTS.name(), TENANTS.scope()),
    (TOKENS.name(), TOKENS.scope()),
    (CORPUS.name(), CORPUS.scope()),
    (CORPUS_TERMS.name(), CORPUS_TERMS.scope()),
    (SEGMENT_USAGE.name(), SEGMENT_USAGE.scope()),
    (SEGMENTS.name(), SEGMENTS.scope()),
    (CONVERSATIONS.name(), CONVERSATIONS.scope()),
    (CONVERSATION_SESSIONS.name(), CONVERSATION_SESSIONS.scope()),
    (
        CONVERSATIONS_BY_START.name(),
        CONVERSATIONS_BY_START.scope(),
    ),
    (MESSAGES.name(), MESSAGES.scope()),
    (STATS_DAILY.name(), STATS_DAILY.scope()),
    (TOOLS.name(), TOOLS.scope()),
    (VISITORS.name(), VISITORS.scope()),
    (VISITOR_KEYS.name(), VISITOR_KEYS.scope()),
    (VISITOR_MEMORY.name(), VISITOR_MEMORY.scope()),
    (VISITOR_CONVERSATIONS.name(), VISITOR_CONVERSATIONS.scope()),
    (MCP_SETTINGS.name(), MCP_SETTINGS.scope()),
    (SUBMISSIONS.name(), SUBMISSIONS.scope()),
    (WEBHOOK_OUTBOX.name(), WEBHOOK_OUTBOX.scope()),
    (WEBHOOK_SECRETS.name(), WEBHOOK_SECRETS.scope()),
    (SESSIONS.name(), SESSIONS.scope()),
    (AUDIT.name(), AUDIT.scope()),
    (AUDIT_COUNT.name(), AUDIT_COUNT.scope()),
    (QUARANTINE.name(), QUARANTINE.scope()),
];

/// 2: one timestamp unit (µs) in every record, and SEGMENT_USAGE.
/// 3: every table is encoded key bytes -> value bytes (see `engine::keys`), and MESSAGES is
/// keyed by tenant first.
pub const SCHEMA_VERSION: u32 = 3;
