//! Replicas in step (issue 12): on PostgreSQL each replica follows the change feed
//! (`pg::feed`) and brings what it keeps in memory up to date with every committed change,
//! its own included (applying is idempotent: each change re-reads the row as it is now).
//!
//! - `corpus_terms` rows: the search index entry is upserted or removed.
//! - `corpus` rows: the copy kept for outages (`recent`) is dropped.
//! - `tokens` / `tenants` rows: a [`Change::TokenSynced`] / [`Change::TenantSynced`] goes to
//!   the listeners (the credential table).
//! - A gap in the feed (`Event::Missed`): the index is reloaded and a [`Change::Resync`] with
//!   every token and tenant goes to the listeners.
//!
//! The listener's callback runs on the pool's runtime and only queues; one thread of its own
//! does the reads, in feed order. It reads a row and applies it under `Shared::in_order`,
//! which the writer holds from a commit to its last effect, so a row read before a local
//! commit is never applied after that commit's own effects. A row the database cannot serve
//! now is read again until it can, the later changes waiting behind it.

use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use super::engine::keys::decode_key;
use super::pg::{PgPool, feed};
use super::tables::{CORPUS_TERMS, TENANTS, TOKENS};
use super::{Change, Effect, OpenError, Shared, StoreError, StoreResult, corpus, decode};
use crate::domain::{Tenant, TokenRecord};

/// How often the listener catches up when no notification came (lost ones included).
const POLL_EVERY: Duration = Duration::from_millis(500);
/// First and longest pause before trying the database again (the feed's reconnection, a
/// changed row that could not be read): a replica is back in step within about a second of
/// the database.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

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
                let mut pause = RETRY_FIRST;
                loop {
                    let Some(shared) = weak.upgrade() else {
                        return;
                    };
                    match apply(&shared, &item) {
                        Ok(()) => break,
                        // The database is away: the change is applied once it is back (the
                        // row is re-read then, as it is then), in order, the later ones
                        // waiting behind it. Dropping it would leave this replica stale.
                        Err(StoreError::Unavailable(reason)) => {
                            if pause == RETRY_FIRST {
                                log::warn!(
                                    "change feed: cannot read a changed row ({reason}); \
                                     retrying until the database answers"
                                );
                            }
                            drop(shared);
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(RETRY_MAX);
                        }
                        Err(e) => {
                            log::error!("change feed: a change could not be applied here: {e}");
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| OpenError::Other(format!("cannot start the change feed thread: {e}")))?;
    let options = feed::ListenerOptions {
        poll_every: POLL_EVERY,
        backoff: (RETRY_FIRST, RETRY_MAX),
        answer_within: pool.settings().answer_within(),
        ..feed::ListenerOptions::default()
    };
    feed::spawn_event_listener(pool, from, options, move |event| {
        let item = match event {
            feed::Event::Change(change) => match change.table.as_str() {
                "corpus" | "corpus_terms" | "tokens" | "tenants" => Work::Key {
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

fn apply(shared: &Shared, item: &Work) -> StoreResult<()> {
    let engine = shared.engine()?;
    match item {
        // A changed entry: its copy kept for outages is stale (no read needed).
        Work::Key { table, key } if table == "corpus" => {
            if let Some((tenant, id)) = decode_key::<(&str, &str)>(key) {
                shared.recent.forget(&tenant, &id);
            }
        }
        Work::Key { table, key } => {
            // The connection first: the writer holds one while it waits for `in_order`.
            // PostgreSQL takes the read's snapshot at its first statement, under the lock.
            let txn = engine.begin_read()?;
            let _in_order = shared.in_order();
            match table.as_str() {
                "corpus_terms" => {
                    let Some((tenant, id)) = decode_key::<(&str, &str)>(key) else {
                        return Ok(());
                    };
                    let row = txn
                        .open_table(CORPUS_TERMS)?
                        .get((tenant.as_str(), id.as_str()))?
                        .map(|v| v.value().to_vec());
                    drop(txn);
                    shared.feed_read(table, key);
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
                    let Some(id) = decode_key::<&str>(key) else {
                        return Ok(());
                    };
                    let current: Option<TokenRecord> = match txn.open_table(TOKENS)?.get(&*id)? {
                        Some(v) => Some(decode("tokens", &id, v.value())?),
                        None => None,
                    };
                    drop(txn);
                    shared.feed_read(table, key);
                    shared.apply(Effect::Notify(Change::TokenSynced {
                        id,
                        current: current.map(Box::new),
                    }));
                }
                "tenants" => {
                    let Some(slug) = decode_key::<&str>(key) else {
                        return Ok(());
                    };
                    let current: Option<Tenant> = match txn.open_table(TENANTS)?.get(&*slug)? {
                        Some(v) => Some(decode("tenants", &slug, v.value())?),
                        None => None,
                    };
                    drop(txn);
                    shared.feed_read(table, key);
                    shared.apply(Effect::Notify(Change::TenantSynced {
                        slug,
                        current: current.map(Box::new),
                    }));
                }
                _ => {}
            }
        }
        Work::Reload => {
            // Under the lock throughout, for the same reason; these reads take connections
            // while holding it, which only waits if the pool is empty (and a reload is rare).
            let _in_order = shared.in_order();
            shared.recent.forget_all();
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::clock::Timestamp;
    use crate::config::StoreConfig;
    use crate::domain::Actor;
    use crate::store::pg::{PgSettings, test_cluster};
    use crate::store::tests::new_token;
    use crate::store::{Store, StoreOptions};

    /// A store (a replica) on the test database `db`.
    fn replica(db: &test_cluster::TestDb) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            postgres: Some(PgSettings::new(db.url(), &StoreConfig::default())),
            ..StoreOptions::default()
        };
        Store::open(dir.path(), &options).unwrap()
    }

    fn new_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The window the shared order closes: the feed thread reads a token's row, a local
    /// revocation commits and applies, and only then does the feed thread apply what it
    /// read. Paused there by the hook, an older read must not land after the revocation.
    #[test]
    fn a_feed_read_from_before_a_local_commit_is_not_applied_after_it() {
        let db = test_cluster::database();
        let store = replica(&db);
        let runtime = new_runtime();
        runtime
            .block_on(store.create_tenant("acme", "Acme"))
            .unwrap();

        // Whether the credential listeners last heard of the token as present, in order.
        let heard: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let log = heard.clone();
        store.subscribe(Arc::new(move |change| {
            let entry = match change {
                Change::TokenCreated(r) => (r.id.clone(), true),
                Change::TokenRevoked(r) => (r.id.clone(), false),
                Change::TokenSynced { id, current } => (id.clone(), current.is_some()),
                _ => return,
            };
            log.lock().unwrap().push(entry);
        }));

        // The feed thread stops once, after reading a token row and before applying it.
        let (reached_tx, reached) = mpsc::channel::<()>();
        let (go, go_rx) = mpsc::channel::<()>();
        let (reached_tx, go_rx) = (Mutex::new(reached_tx), Mutex::new(go_rx));
        let armed = AtomicBool::new(true);
        *store.shared.after_feed_read.lock().unwrap() = Some(Arc::new(move |table, _key| {
            if table == "tokens" && armed.swap(false, Ordering::SeqCst) {
                let _ = reached_tx.lock().unwrap().send(());
                let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            }
        }));

        let token = runtime
            .block_on(store.create_token("acme", new_token(), Actor::cli()))
            .unwrap();
        // The feed thread has read the token as present and waits.
        reached
            .recv_timeout(Duration::from_secs(10))
            .expect("the feed thread reads the new token's row");

        // Revoke it meanwhile. Without the shared order this commits and applies at once,
        // and the read above lands after it; with it, the revocation waits for that read
        // to be applied first (so give up waiting for it after a while, then let go).
        let (revoked_tx, revoked) = mpsc::channel();
        let revoker = {
            let store = store.clone();
            let id = token.id.clone();
            std::thread::spawn(move || {
                let result = new_runtime().block_on(store.revoke_token(None, &id, Actor::cli()));
                let _ = revoked_tx.send(());
                result
            })
        };
        let _ = revoked.recv_timeout(Duration::from_millis(500));
        go.send(()).unwrap();
        revoker.join().unwrap().unwrap();

        // Wait for the feed to bring the revocation's own entry (its row, read as gone).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let heard = heard.lock().unwrap().clone();
            let gone = heard
                .iter()
                .filter(|(id, present)| *id == token.id && !present)
                .count();
            if gone >= 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the feed never brought the revocation: {heard:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let heard: Vec<bool> = heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| *id == token.id)
            .map(|(_, present)| *present)
            .collect();
        let first_gone = heard.iter().position(|p| !p).unwrap();
        assert!(
            heard[first_gone..].iter().all(|p| !p),
            "after the revocation was applied, an older read made the token present again: \
             {heard:?}"
        );
    }

    /// Replicas flush the last-used times they saw on their own schedule: one flushing an
    /// older use after another flushed a later one must not move the stored time back.
    #[test]
    fn last_used_times_flushed_out_of_order_never_go_back() {
        let db = test_cluster::database();
        let (a, b) = (replica(&db), replica(&db));
        let runtime = new_runtime();
        runtime.block_on(a.create_tenant("acme", "Acme")).unwrap();
        let token = runtime
            .block_on(a.create_token("acme", new_token(), Actor::cli()))
            .unwrap();
        let (earlier, later) = (Timestamp::from_secs(1_000), Timestamp::from_secs(2_000));
        let written = runtime
            .block_on(b.record_token_use(vec![(token.id.clone(), later)]))
            .unwrap();
        assert_eq!(written, 1);
        let written = runtime
            .block_on(a.record_token_use(vec![(token.id.clone(), earlier)]))
            .unwrap();
        assert_eq!(written, 0, "an older use is not written over a later one");
        let stored = runtime.block_on(a.get_token(&token.id)).unwrap().unwrap();
        assert_eq!(stored.last_used_at, Some(later));
    }

    /// The copies a replica keeps for outages follow the feed: an entry changed through
    /// another replica is no longer answered from the old copy.
    #[test]
    fn an_entry_changed_elsewhere_is_no_longer_kept_for_outages() {
        use crate::domain::{CorpusPatch, NewCorpus};
        let db = test_cluster::database();
        let (a, b) = (replica(&db), replica(&db));
        let runtime = new_runtime();
        runtime.block_on(a.create_tenant("acme", "Acme")).unwrap();
        let entry = runtime
            .block_on(a.create_corpus(
                "acme",
                NewCorpus {
                    title: "Hours".into(),
                    content: "Open at nine.".into(),
                    segment: None,
                    priority: 5,
                    tags: vec![],
                    summary: None,
                    is_active: true,
                },
            ))
            .unwrap();
        let ids = vec![entry.id.clone()];
        // Served by B, so kept (once the feed brought the creation: a read that crossed a
        // change of the corpus is not kept).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let served = runtime.block_on(b.get_corpus("acme", &entry.id)).unwrap();
            assert_eq!(served.map(|e| e.content), Some("Open at nine.".into()));
            if b.shared.recent.get_all("acme", &ids).is_some() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "B never kept it");
            std::thread::sleep(Duration::from_millis(5));
        }
        runtime
            .block_on(a.update_corpus(
                "acme",
                &entry.id,
                CorpusPatch {
                    content: Some("Open at ten.".into()),
                    ..CorpusPatch::default()
                },
            ))
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.shared.recent.get_all("acme", &ids).is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "B still keeps the entry as it was"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let served = runtime.block_on(b.get_corpus("acme", &entry.id)).unwrap();
        assert_eq!(served.map(|e| e.content), Some("Open at ten.".into()));
    }
}
