//! Schema set-up at open: creates the tables of a new file, upgrades an older schema in one
//! transaction, refuses a newer one, and repairs invariants (every tenant has a default
//! segment).
//!
//! Schemas 1 and 2 kept typed redb tables; their definitions live on in [`legacy`], used
//! only to upgrade such a file.

use std::collections::HashMap;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde_json::{Map, Value};

use super::engine::{Engine, WriteTxn, keys::encode_key, raw_definition};
use super::tables::{self, META, SCHEMA_VERSION};
use super::{OpenError, StoreError, StoreResult, decode, encode, read_u32, segments, snapshot};
use crate::domain::{CorpusEntry, Tenant};

/// The tables of schema 2 as redb typed them (schema 1 had the same ones, fewer of them).
pub(super) mod legacy {
    use redb::TableDefinition;

    pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    pub const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
    pub const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
    pub const CORPUS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("corpus");
    pub const CORPUS_TERMS: TableDefinition<(&str, &str), &[u8]> =
        TableDefinition::new("corpus_terms");
    pub const SEGMENT_USAGE: TableDefinition<(&str, &str), u64> =
        TableDefinition::new("segment_usage");
    pub const SEGMENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("segments");
    pub const CONVERSATIONS: TableDefinition<(&str, &str), &[u8]> =
        TableDefinition::new("conversations");
    pub const CONVERSATION_SESSIONS: TableDefinition<(&str, &str), &str> =
        TableDefinition::new("conversation_sessions");
    pub const CONVERSATIONS_BY_START: TableDefinition<(&str, i64, &str), ()> =
        TableDefinition::new("conversations_by_start");
    /// (conversation id, sequence number): the one tenant row not keyed by its tenant.
    pub const MESSAGES: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("messages");
    pub const STATS_DAILY: TableDefinition<(&str, i32, &str), &[u8]> =
        TableDefinition::new("stats_daily");
    pub const TOOLS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tools");
    pub const VISITORS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("visitors");
    pub const VISITOR_KEYS: TableDefinition<(&str, &str), &str> =
        TableDefinition::new("visitor_keys");
    pub const VISITOR_MEMORY: TableDefinition<(&str, &str, &str), &[u8]> =
        TableDefinition::new("visitor_memory");
    pub const VISITOR_CONVERSATIONS: TableDefinition<(&str, &str, &str), ()> =
        TableDefinition::new("visitor_conversations");
    pub const MCP_SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("mcp_settings");
    pub const SUBMISSIONS: TableDefinition<(&str, &str), &[u8]> =
        TableDefinition::new("submissions");
    pub const WEBHOOK_OUTBOX: TableDefinition<(i64, &str, &str), &[u8]> =
        TableDefinition::new("webhook_outbox");
    pub const WEBHOOK_SECRETS: TableDefinition<&str, &[u8]> =
        TableDefinition::new("webhook_secrets");
    pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
    pub const AUDIT: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("audit");
    pub const AUDIT_COUNT: TableDefinition<&str, u64> = TableDefinition::new("audit_count");
    pub const QUARANTINE: TableDefinition<&str, &[u8]> = TableDefinition::new("quarantine");
}

/// Creates or upgrades the schema. Also takes (removes) the marker of the index snapshot the
/// last clean close left, in the same transaction, and returns it unless an upgrade just
/// changed the stored entries under it: whatever happens from here on, an index snapshot
/// is only trusted at the open right after the close that wrote it.
pub(super) fn prepare(db: &Database) -> Result<Option<Vec<u8>>, OpenError> {
    let stored = stored_version(db)?;
    if let Some(v) = stored
        && v > SCHEMA_VERSION
    {
        return Err(OpenError::NewerSchema(v));
    }
    let txn = db.begin_write().map_err(StoreError::from)?;
    if let Some(v) = stored
        && v < 3
    {
        log::info!("store: upgrading the database from schema {v} to {SCHEMA_VERSION}");
        legacy_create_tables(&txn)?;
        if v == 1 {
            v1_to_v2(&txn)?;
        }
        v2_to_v3(&txn)?;
    }
    let marker = prepare_in(WriteTxn::redb(txn))?;
    Ok(marker.filter(|_| stored == Some(SCHEMA_VERSION)))
}

/// `prepare` for a PostgreSQL database, whose tables `pg::migrate` made: records the schema
/// version (refusing a newer one) and repairs the invariants. A replica keeps no index
/// snapshot, so there is no marker to take.
pub(super) fn prepare_shared(engine: &Engine) -> Result<(), OpenError> {
    let stored = engine
        .begin_read()?
        .open_table(META)?
        .get("schema_version")?
        .map(|v| read_u32(v.value()))
        .transpose()?;
    if let Some(v) = stored
        && v > SCHEMA_VERSION
    {
        return Err(OpenError::NewerSchema(v));
    }
    // Replicas write meanwhile: like theirs, this write waits for its turn under the
    // writers' lock (engine::postgres), so it never loses a race to them.
    prepare_in(engine.begin_write()?)?;
    Ok(())
}

/// What every open does in its first write, whatever the engine: every table exists, the
/// index snapshot's marker is taken (returned), the version is recorded, every tenant has
/// its default segment.
fn prepare_in(txn: WriteTxn) -> StoreResult<Option<Vec<u8>>> {
    create_tables(&txn)?;
    let snapshot_marker = snapshot::take_marker(&txn)?;
    txn.open_table(META)?
        .insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
    let added = ensure_default_segments(&txn)?;
    if added > 0 {
        log::info!("store: created the default segment for {added} tenant(s)");
    }
    txn.commit()?;
    Ok(snapshot_marker)
}

/// The schema version of the file, whichever format its META table is in; `None` for a new
/// file.
fn stored_version(db: &Database) -> StoreResult<Option<u32>> {
    let txn = db.begin_read()?;
    match txn.open_table(raw_definition(META.name())) {
        Ok(meta) => meta
            .get(encode_key::<&str>("schema_version").as_slice())?
            .map(|v| read_u32(v.value()))
            .transpose(),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        // Typed: a file of schema 1 or 2.
        Err(redb::TableError::TableTypeMismatch { .. }) => txn
            .open_table(legacy::META)?
            .get("schema_version")?
            .map(|v| read_u32(v.value()))
            .transpose(),
        Err(e) => Err(e.into()),
    }
}

/// Every table exists, so every engine's tables match the list.
fn create_tables(txn: &WriteTxn) -> StoreResult<()> {
    for (name, _) in tables::ALL {
        txn.create_table(name)?;
    }
    Ok(())
}

/// What schema 2 created at open, so the upgrades below meet every table.
fn legacy_create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    txn.open_table(legacy::META)?;
    txn.open_table(legacy::TENANTS)?;
    txn.open_table(legacy::TOKENS)?;
    txn.open_table(legacy::CORPUS)?;
    txn.open_table(legacy::CORPUS_TERMS)?;
    txn.open_table(legacy::SEGMENT_USAGE)?;
    txn.open_table(legacy::SEGMENTS)?;
    txn.open_table(legacy::CONVERSATIONS)?;
    txn.open_table(legacy::CONVERSATION_SESSIONS)?;
    txn.open_table(legacy::CONVERSATIONS_BY_START)?;
    txn.open_table(legacy::MESSAGES)?;
    txn.open_table(legacy::STATS_DAILY)?;
    txn.open_table(legacy::VISITORS)?;
    txn.open_table(legacy::TOOLS)?;
    txn.open_table(legacy::VISITOR_KEYS)?;
    txn.open_table(legacy::VISITOR_MEMORY)?;
    txn.open_table(legacy::VISITOR_CONVERSATIONS)?;
    txn.open_table(legacy::SESSIONS)?;
    txn.open_table(legacy::MCP_SETTINGS)?;
    txn.open_table(legacy::SUBMISSIONS)?;
    txn.open_table(legacy::WEBHOOK_OUTBOX)?;
    txn.open_table(legacy::WEBHOOK_SECRETS)?;
    Ok(())
}

/// Schema 3 keeps every table as encoded key bytes -> value bytes (the engine-neutral form,
/// see `engine::keys`) and keys MESSAGES by tenant first. Each typed table is copied row by
/// row into a raw twin, which then takes its name: streamed, so the upgrade needs no memory
/// in proportion to the file, and all in the open's one transaction.
fn v2_to_v3(txn: &redb::WriteTransaction) -> StoreResult<()> {
    let existing: Vec<String> = txn.list_tables()?.map(|t| t.name().to_string()).collect();
    let exists = |name: &str| existing.iter().any(|t| t == name);
    macro_rules! convert {
        ($def:expr, $key:ty, |$k:ident, $v:ident| $value:expr) => {
            if exists($def.name()) {
                convert(txn, $def, |$k, $v| (encode_key::<$key>($k), $value))?;
            }
        };
    }
    let bytes = |v: &[u8]| v.to_vec();
    convert!(legacy::META, &str, |k, v| bytes(v));
    convert!(legacy::TENANTS, &str, |k, v| bytes(v));
    convert!(legacy::TOKENS, &str, |k, v| bytes(v));
    convert!(legacy::CORPUS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::CORPUS_TERMS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::SEGMENT_USAGE, (&str, &str), |k, v| v
        .to_le_bytes()
        .to_vec());
    convert!(legacy::SEGMENTS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::CONVERSATIONS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::CONVERSATION_SESSIONS, (&str, &str), |k, v| v
        .as_bytes()
        .to_vec());
    convert!(legacy::CONVERSATIONS_BY_START, (&str, i64, &str), |k, v| {
        let () = v;
        Vec::new()
    });
    convert!(legacy::STATS_DAILY, (&str, i32, &str), |k, v| bytes(v));
    convert!(legacy::TOOLS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::VISITORS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::VISITOR_KEYS, (&str, &str), |k, v| v
        .as_bytes()
        .to_vec());
    convert!(legacy::VISITOR_MEMORY, (&str, &str, &str), |k, v| bytes(v));
    convert!(legacy::VISITOR_CONVERSATIONS, (&str, &str, &str), |k, v| {
        let () = v;
        Vec::new()
    });
    convert!(legacy::MCP_SETTINGS, &str, |k, v| bytes(v));
    convert!(legacy::SUBMISSIONS, (&str, &str), |k, v| bytes(v));
    convert!(legacy::WEBHOOK_OUTBOX, (i64, &str, &str), |k, v| bytes(v));
    convert!(legacy::WEBHOOK_SECRETS, &str, |k, v| bytes(v));
    convert!(legacy::SESSIONS, &str, |k, v| bytes(v));
    convert!(legacy::AUDIT, (&str, &str), |k, v| bytes(v));
    convert!(legacy::AUDIT_COUNT, &str, |k, v| v.to_le_bytes().to_vec());
    convert!(legacy::QUARANTINE, &str, |k, v| bytes(v));
    if exists(legacy::MESSAGES.name()) {
        // A message's tenant is its conversation's (already converted above).
        let mut tenant_of: HashMap<String, String> = HashMap::new();
        let conversations = txn.open_table(raw_definition(tables::CONVERSATIONS.name()))?;
        for row in conversations.iter()? {
            let (key, _) = row?;
            let (tenant, id) = super::engine::keys::decode_key::<(&str, &str)>(key.value())
                .ok_or_else(|| StoreError::internal_msg("damaged key in table conversations"))?;
            tenant_of.insert(id, tenant);
        }
        drop(conversations);
        // A message of no conversation (which `animam check` reports) keeps tenant "", so
        // it stays where check finds it.
        convert(txn, legacy::MESSAGES, |(id, seq), v| {
            let tenant = tenant_of.get(id).map_or("", String::as_str);
            (
                encode_key::<(&str, &str, u32)>((tenant, id, seq)),
                v.to_vec(),
            )
        })?;
    }
    Ok(())
}

/// Copies a typed table into its raw twin (`row` gives the encoded key and value bytes),
/// drops it and gives the twin its name.
fn convert<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    mut row: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> (Vec<u8>, Vec<u8>),
) -> StoreResult<()> {
    let twin_name = format!("{}.v3", def.name());
    let twin = raw_definition(&twin_name);
    {
        let old = txn.open_table(def)?;
        let mut new = txn.open_table(twin)?;
        for item in old.iter()? {
            let (k, v) = item?;
            let (key, value) = row(k.value(), v.value());
            new.insert(key.as_slice(), value.as_slice())?;
        }
    }
    txn.delete_table(def)?;
    txn.rename_table(twin, raw_definition(def.name()))?;
    Ok(())
}

fn ensure_default_segments(txn: &WriteTxn) -> StoreResult<usize> {
    let mut slugs = Vec::new();
    for row in txn.open_table(tables::TENANTS)?.iter()? {
        let (key, value) = row?;
        let tenant: Tenant = decode("tenants", key.value(), value.value())?;
        slugs.push(tenant.slug);
    }
    let mut added = 0;
    for slug in slugs {
        added += usize::from(segments::ensure_default(txn, &slug)?);
    }
    Ok(added)
}

/// Schema 1 kept milliseconds in most timestamps and microseconds in the two ordering keys;
/// schema 2 keeps microseconds everywhere. It also counts each segment's corpus entries.
fn v1_to_v2(txn: &redb::WriteTransaction) -> StoreResult<()> {
    let ms = |fields: &'static [&'static str]| {
        move |record: &mut Map<String, Value>| {
            for field in fields {
                if let Some(n) = record.get(*field).and_then(Value::as_i64) {
                    record.insert(field.to_string(), Value::from(n.saturating_mul(1000)));
                }
            }
        }
    };
    let rename = |from: &'static str, to: &'static str| {
        move |record: &mut Map<String, Value>| {
            if let Some(v) = record.remove(from) {
                record.insert(to.to_string(), v);
            }
        }
    };
    rewrite_str(txn, legacy::TENANTS, ms(&["created_at", "updated_at"]))?;
    rewrite_str(
        txn,
        legacy::TOKENS,
        ms(&["created_at", "expires_at", "last_used_at"]),
    )?;
    rewrite_pair(txn, legacy::CORPUS, |r| {
        ms(&["updated_at"])(r);
        rename("created_us", "created_at")(r);
    })?;
    rewrite_pair(txn, legacy::SEGMENTS, ms(&["created_at", "updated_at"]))?;
    rewrite_pair(txn, legacy::CONVERSATIONS, |r| {
        ms(&["last_message_at"])(r);
        rename("started_us", "started_at")(r);
    })?;
    let messages: Vec<((String, u32), Vec<u8>)> = txn
        .open_table(legacy::MESSAGES)?
        .iter()?
        .map(|row| {
            let (k, v) = row?;
            let (id, seq) = k.value();
            Ok(((id.to_string(), seq), v.value().to_vec()))
        })
        .collect::<StoreResult<_>>()?;
    let mut table = txn.open_table(legacy::MESSAGES)?;
    for ((id, seq), bytes) in messages {
        let fixed = fix_json("messages", &id, &bytes, ms(&["timestamp"]))?;
        table.insert((id.as_str(), seq), fixed.as_slice())?;
    }
    count_segment_usage(txn)
}

fn fix_json(
    table: &str,
    key: &str,
    bytes: &[u8],
    fix: impl Fn(&mut Map<String, Value>),
) -> StoreResult<Vec<u8>> {
    let mut record: Map<String, Value> = decode(table, key, bytes)?;
    fix(&mut record);
    encode(&record)
}

fn rewrite_str(
    txn: &redb::WriteTransaction,
    def: TableDefinition<&str, &[u8]>,
    fix: impl Fn(&mut Map<String, Value>),
) -> StoreResult<()> {
    let rows: Vec<(String, Vec<u8>)> = txn
        .open_table(def)?
        .iter()?
        .map(|row| {
            let (k, v) = row?;
            Ok((k.value().to_string(), v.value().to_vec()))
        })
        .collect::<StoreResult<_>>()?;
    let mut table = txn.open_table(def)?;
    for (key, bytes) in rows {
        let fixed = fix_json(def.name(), &key, &bytes, &fix)?;
        table.insert(key.as_str(), fixed.as_slice())?;
    }
    Ok(())
}

fn rewrite_pair(
    txn: &redb::WriteTransaction,
    def: TableDefinition<(&str, &str), &[u8]>,
    fix: impl Fn(&mut Map<String, Value>),
) -> StoreResult<()> {
    let rows: Vec<(String, String, Vec<u8>)> = txn
        .open_table(def)?
        .iter()?
        .map(|row| {
            let (k, v) = row?;
            let (a, b) = k.value();
            Ok((a.to_string(), b.to_string(), v.value().to_vec()))
        })
        .collect::<StoreResult<_>>()?;
    let mut table = txn.open_table(def)?;
    for (a, b, bytes) in rows {
        let fixed = fix_json(def.name(), &format!("{a}/{b}"), &bytes, &fix)?;
        table.insert((a.as_str(), b.as_str()), fixed.as_slice())?;
    }
    Ok(())
}

fn count_segment_usage(txn: &redb::WriteTransaction) -> StoreResult<()> {
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in txn.open_table(legacy::CORPUS)?.iter()? {
        let (key, value) = row?;
        let (tenant, id) = key.value();
        let entry: CorpusEntry = decode("corpus", (tenant, id), value.value())?;
        if let Some(segment) = entry.segment {
            *counts.entry((tenant.to_string(), segment)).or_default() += 1;
        }
    }
    let mut usage = txn.open_table(legacy::SEGMENT_USAGE)?;
    for ((tenant, segment), n) in counts {
        usage.insert((tenant.as_str(), segment.as_str()), n)?;
    }
    Ok(())
}
