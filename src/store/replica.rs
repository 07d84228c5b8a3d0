//! Replicas in step (issue 12): on PostgreSQL each replica follows the change feed
//! (`pg::feed`) and brings what it keeps in memory up to date with every committed change,
//! its own included (applying is idempotent: each change re-reads the row as it is now).
//!
//! - `corpus_terms` rows: the search index entry is upserted or removed.
//! - `tokens` / `tenants` rows: a [`Change::TokenSynced`] / [`Change::TenantSynced`] goes to
//!   the listeners (the credential table).
//! - A gap in the feed (`Event::Missed`): the index is reloaded and a [`Change::Resync`] with
//!   every token and tenant goes to the listeners.
//!
//! The listener's callback runs on the pool's runtime and only queues; one thread of its own
//! does the reads, in feed order.

use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use super::engine::keys::decode_key;
use super::pg::{PgPool, feed};
use super::tables::{CORPUS_TERMS, TENANTS, TOKENS};
use super::{Change, Effect, OpenError, Shared, StoreResult, corpus, decode};
use crate::domain::{Tenant, TokenRecord};

/// How often the listener catches up when no notification came (lost ones included).
const POLL_EVERY: Duration = Duration::from_millis(500);

enum Work {
    Key { table: String, key: Vec<u8> },
    Reload,
}

/// The last committed sequence number: read it before loading the state, so every change
/// after the load is applied (some maybe twice, which is harmless).
pub(super) fn last_seq(pool: &PgPool) -> Result<i64, String> {
    pool.block_on(async {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        feed::last_seq(&client).await.map_err(|e| e.to_string())
    })
}

/// Starts following the feed after `from`. The listener stops when dropped.
pub(super) fn follow(
    shared: &Arc<Shared>,
    pool: &PgPool,
    from: i64,
) -> Result<feed::Listener, OpenError> {
    let (queue, work) = mpsc::channel::<Work>();
    let weak: Weak<Shared> = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name("animam-replica".into())
        .spawn(move || {
            while let Ok(item) = work.recv() {
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = apply(&shared, item) {
                    log::error!("change feed: a change could not be applied here: {e}");
                }
            }
        })
        .map_err(|e| OpenError::Other(format!("cannot start the change feed thread: {e}")))?;
    let options = feed::ListenerOptions {
        poll_every: POLL_EVERY,
        ..feed::ListenerOptions::default()
    };
    feed::spawn_event_listener(pool, from, options, move |event| {
        let item = match event {
            feed::Event::Change(change) => match change.table.as_str() {
                "corpus_terms" | "tokens" | "tenants" => Work::Key {
                    table: change.table,
                    key: change.key,
                },
                _ => return,
            },
            feed::Event::Missed { after, next } => {
                log::warn!(
                    "change feed: changes {} to {} were pruned before this replica read them; \
                     reloading the in-memory state",
                    after + 1,
                    next - 1
                );
                Work::Reload
            }
        };
        let _ = queue.send(item);
    })
    .map_err(|e| OpenError::Other(format!("cannot start the change feed: {e}")))
}

fn apply(shared: &Shared, item: Work) -> StoreResult<()> {
    let engine = shared.engine()?;
    match item {
        Work::Key { table, key } => {
            let txn = engine.begin_read()?;
            match table.as_str() {
                "corpus_terms" => {
                    let Some((tenant, id)) = decode_key::<(&str, &str)>(&key) else {
                        return Ok(());
                    };
                    let row = txn
                        .open_table(CORPUS_TERMS)?
                        .get((tenant.as_str(), id.as_str()))?
                        .map(|v| v.value().to_vec());
                    match row
                        .as_deref()
                        .and_then(|b| corpus::decode_index_row(&id, b))
                    {
                        Some((meta, terms)) => shared.index.upsert(&tenant, meta, &terms),
                        None => {
                            shared.index.remove(&tenant, &id);
                        }
                    }
                }
                "tokens" => {
                    let Some(id) = decode_key::<&str>(&key) else {
                        return Ok(());
                    };
                    let current: Option<TokenRecord> = match txn.open_table(TOKENS)?.get(&*id)? {
                        Some(v) => Some(decode("tokens", &id, v.value())?),
                        None => None,
                    };
                    drop(txn);
                    shared.apply(Effect::Notify(Change::TokenSynced {
                        id,
                        current: current.map(Box::new),
                    }));
                }
                "tenants" => {
                    let Some(slug) = decode_key::<&str>(&key) else {
                        return Ok(());
                    };
                    let current: Option<Tenant> = match txn.open_table(TENANTS)?.get(&*slug)? {
                        Some(v) => Some(decode("tenants", &slug, v.value())?),
                        None => None,
                    };
                    drop(txn);
                    shared.apply(Effect::Notify(Change::TenantSynced {
                        slug,
                        current: current.map(Box::new),
                    }));
                }
                _ => {}
            }
        }
        Work::Reload => {
            corpus::load_index(&engine, &shared.index)?;
            let txn = engine.begin_read()?;
            let mut tokens = Vec::new();
            for row in txn.open_table(TOKENS)?.iter()? {
                let (key, value) = row?;
                tokens.push(decode("tokens", key.value(), value.value())?);
            }
            let mut tenants = Vec::new();
            for row in txn.open_table(TENANTS)?.iter()? {
                let (key, value) = row?;
                tenants.push(decode("tenants", key.value(), value.value())?);
            }
            drop(txn);
            shared.apply(Effect::Notify(Change::Resync { tokens, tenants }));
        }
    }
    Ok(())
}
