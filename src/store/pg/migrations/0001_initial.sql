-- Schema version 1: one ordered key-value table per store table, and the change feed.
--
-- Each store table (src/store/tables.rs, `tables::ALL`) is a table of its own name holding the store's
-- order-preserving byte encodings: (tenant, k) -> v. Rows of a tenant carry its slug in
-- `tenant` (the first column of the primary key, so the schema distributes by tenant on
-- Citus as-is); `k` is the whole encoded key (the tenant included, so k order is key order).
-- Global tables (meta, tokens, webhook_outbox, sessions, quarantine) use tenant = ''.
--
-- `tenant` sorts bytewise (COLLATE "C"): `k` starts with the tenant's encoding, so ordering
-- by (tenant, k) is ordering by k, and a range across tenants walks the primary key's index.
--
-- Only plain types (text, bytea, bigint, timestamptz) and plain primary keys: nothing that
-- CockroachDB or YugabyteDB lack (no sequences or serials, no triggers, no extensions, no
-- partial or expression indexes).
CREATE TABLE meta (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE tenants (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE tokens (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE corpus (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE corpus_terms (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE segment_usage (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE segments (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE conversations (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE conversation_sessions (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE conversations_by_start (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE messages (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE stats_daily (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE tools (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE visitors (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE visitor_keys (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE visitor_memory (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE visitor_conversations (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE mcp_settings (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE submissions (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE webhook_outbox (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE webhook_secrets (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE sessions (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE audit (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE audit_count (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));
CREATE TABLE quarantine (tenant text COLLATE "C" NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tenant, k));

-- The change feed: every write transaction appends one row per changed key, numbered from the
-- single-row counter below. A writer takes its numbers with UPDATE change_seq ... RETURNING,
-- which holds the counter's row lock until the transaction ends, so a later writer gets its
-- numbers only after the earlier one committed (or rolled back, handing the same numbers on):
-- seq order is commit order, without gaps. A bigserial would not do: its values are taken
-- when a transaction asks, not when it commits, so a reader could see seq 8 before a slower
-- transaction commits seq 7, skip 7 for good, and never converge.
CREATE TABLE changes (
    seq bigint PRIMARY KEY,
    tenant text NOT NULL,
    tbl text NOT NULL,
    k bytea NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE change_seq (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL
);
INSERT INTO change_seq (id, seq) VALUES (true, 0);
