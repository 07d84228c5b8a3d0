//! Schema set-up at open: creates the tables of a new file, upgrades an older schema in one
//! transaction, refuses a newer one, and repairs invariants (every tenant has a default
//! segment).

use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};
use serde_json::{Map, Value};

use super::tables::{self, META, SCHEMA_VERSION};
use super::{OpenError, StoreResult, decode, encode, schema_version, segments, snapshot};
use crate::domain::{CorpusEntry, Tenant};

/// Creates or upgrades the schema. Also takes (removes) the marker of the index snapshot the
/// last clean close left, in the same transaction, and returns it unless an upgrade just
/// changed the stored entries under it: whatever happens from here on, an index snapshot
/// is only trusted at the open right after the close that wrote it.
pub(super) fn prepare(db: &Database) -> Result<Option<Vec<u8>>, OpenError> {
    let stored = schema_version(&db.begin_read().map_err(super::StoreError::from)?)?;
    if let Some(v) = stored
        && v > SCHEMA_VERSION
    {
        return Err(OpenError::NewerSchema(v));
    }
    let txn = db.begin_write().map_err(super::StoreError::from)?;
    create_tables(&txn)?;
    let snapshot_marker = snapshot::take_marker(&txn)?;
    if stored == Some(1) {
        log::info!("store: upgrading the database from schema 1 to {SCHEMA_VERSION}");
        v1_to_v2(&txn)?;
    }
    txn.open_table(META)
        .map_err(super::StoreError::from)?
        .insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())
        .map_err(super::StoreError::from)?;
    let added = ensure_default_segments(&txn)?;
    if added > 0 {
        log::info!("store: created the default segment for {added} tenant(s)");
    }
    txn.commit().map_err(super::StoreError::from)?;
    Ok(snapshot_marker.filter(|_| stored == Some(SCHEMA_VERSION)))
}

/// Every table exists, so read transactions never meet a missing one.
fn create_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(tables::META)?;
    txn.open_table(tables::TENANTS)?;
    txn.open_table(tables::TOKENS)?;
    txn.open_table(tables::CORPUS)?;
    txn.open_table(tables::CORPUS_TERMS)?;
    txn.open_table(tables::SEGMENT_USAGE)?;
    txn.open_table(tables::SEGMENTS)?;
    txn.open_table(tables::CONVERSATIONS)?;
    txn.open_table(tables::CONVERSATION_SESSIONS)?;
    txn.open_table(tables::CONVERSATIONS_BY_START)?;
    txn.open_table(tables::MESSAGES)?;
    txn.open_table(tables::STATS_DAILY)?;
    txn.open_table(tables::VISITORS)?;
    txn.open_table(tables::TOOLS)?;
    txn.open_table(tables::VISITOR_KEYS)?;
    txn.open_table(tables::VISITOR_MEMORY)?;
    txn.open_table(tables::VISITOR_CONVERSATIONS)?;
    txn.open_table(tables::SESSIONS)?;
    txn.open_table(tables::MCP_SETTINGS)?;
    txn.open_table(tables::SUBMISSIONS)?;
    txn.open_table(tables::WEBHOOK_OUTBOX)?;
    txn.open_table(tables::WEBHOOK_SECRETS)?;
    Ok(())
}

fn ensure_default_segments(txn: &WriteTransaction) -> StoreResult<usize> {
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
fn v1_to_v2(txn: &WriteTransaction) -> StoreResult<()> {
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
    rewrite_str(txn, tables::TENANTS, ms(&["created_at", "updated_at"]))?;
    rewrite_str(
        txn,
        tables::TOKENS,
        ms(&["created_at", "expires_at", "last_used_at"]),
    )?;
    rewrite_pair(txn, tables::CORPUS, |r| {
        ms(&["updated_at"])(r);
        rename("created_us", "created_at")(r);
    })?;
    rewrite_pair(txn, tables::SEGMENTS, ms(&["created_at", "updated_at"]))?;
    rewrite_pair(txn, tables::CONVERSATIONS, |r| {
        ms(&["last_message_at"])(r);
        rename("started_us", "started_at")(r);
    })?;
    let messages: Vec<((String, u32), Vec<u8>)> = txn
        .open_table(tables::MESSAGES)?
        .iter()?
        .map(|row| {
            let (k, v) = row?;
            let (id, seq) = k.value();
            Ok(((id.to_string(), seq), v.value().to_vec()))
        })
        .collect::<StoreResult<_>>()?;
    let mut table = txn.open_table(tables::MESSAGES)?;
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
    txn: &WriteTransaction,
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
    txn: &WriteTransaction,
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

fn count_segment_usage(txn: &WriteTransaction) -> StoreResult<()> {
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in txn.open_table(tables::CORPUS)?.iter()? {
        let (key, value) = row?;
        let (tenant, id) = key.value();
        let entry: CorpusEntry = decode("corpus", (tenant, id), value.value())?;
        if let Some(segment) = entry.segment {
            *counts.entry((tenant.to_string(), segment)).or_default() += 1;
        }
    }
    let mut usage = txn.open_table(tables::SEGMENT_USAGE)?;
    for ((tenant, segment), n) in counts {
        usage.insert((tenant.as_str(), segment.as_str()), n)?;
    }
    Ok(())
}
