//! The store's behaviour suite (tests.rs), the very same file, run on PostgreSQL: each data
//! directory a test opens gets a fresh database of its own (the same one again when the
//! test reopens that directory), from the throwaway test cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[allow(unused_imports)]
use super::*;
use crate::store::pg::test_cluster::{TestDb, database};

const ON_POSTGRES: bool = true;

/// Kept for the whole run, so a reopened directory finds its data again.
static DATABASES: Mutex<Option<HashMap<PathBuf, TestDb>>> = Mutex::new(None);

fn test_options(dir: &Path) -> StoreOptions {
    let mut databases = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let db = databases
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_path_buf())
        .or_insert_with(database);
    let config = crate::config::StoreConfig {
        pool_size: 4,
        ..crate::config::StoreConfig::default()
    };
    StoreOptions {
        postgres: Some(pg::PgSettings::new(db.url(), &config)),
        ..StoreOptions::default()
    }
}

// The point: the very same suite, once more, on the other engine.
#[allow(clippy::duplicate_mod)]
#[path = "tests.rs"]
mod suite;

/// Two stores on one database, as two replicas: their writers race on the same rows, and
/// every rule holds. Writers take turns under the writers' lock before their snapshot is
/// taken, so no batch ever has to run again (without the lock, some did every run).
#[test]
fn two_replicas_writing_the_same_rows_keep_every_rule() {
    use crate::domain::NewCorpus;
    use futures_util::future::join_all;

    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path(), &test_options(dir.path())).unwrap();
    let b = Store::open(dir.path(), &test_options(dir.path())).unwrap();
    let entry = |i: usize| NewCorpus {
        title: format!("Entry {i}"),
        content: "content".into(),
        segment: Some("general".into()),
        priority: 5,
        tags: vec![],
        summary: None,
        is_active: true,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            a.create_tenant("acme", "Acme").await.unwrap();
            // One session, from both replicas at once: one conversation, every message.
            let turns = (0..20).map(|i| {
                let store = if i % 2 == 0 { &a } else { &b };
                store.record_exchange("acme", suite::exchange("s1"))
            });
            let recorded = join_all(turns).await;
            let mut ids: Vec<String> = recorded
                .into_iter()
                .map(|r| match r.unwrap() {
                    Recorded::Stored(c) => c.id,
                    other => panic!("not stored: {other:?}"),
                })
                .collect();
            ids.dedup();
            assert_eq!(ids.len(), 1, "one conversation per session");
            let (conversation, messages) = b
                .get_conversation_page("acme", &ids[0], 0, 100)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(conversation.message_count, 40);
            assert_eq!(messages.len(), 40);
            let tenant = a.get_tenant("acme").await.unwrap().unwrap();
            assert_eq!(tenant.conversations_used, 1);

            // A counter both replicas increment: no update lost.
            let creates = (0..30).map(|i| {
                let store = if i % 2 == 0 { &a } else { &b };
                store.create_corpus("acme", entry(i))
            });
            for created in join_all(creates).await {
                created.unwrap();
            }
            let txn = a.shared.engine().unwrap().begin_read().unwrap();
            let usage = txn
                .open_table(tables::SEGMENT_USAGE)
                .unwrap()
                .get(("acme", "general"))
                .unwrap()
                .map(|v| v.value());
            assert_eq!(usage, Some(30));
        });
    let conflicts = |s: &Store| {
        s.shared
            .conflicts
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!((conflicts(&a), conflicts(&b)), (0, 0), "batches run again");
}

/// The engines agree on every range: the same rows, in the same order, from either end,
/// within a tenant and across tenants (slugs chosen so that bytewise and dictionary order
/// differ), on a tenant table with string and signed integer components.
#[test]
fn ranges_read_the_same_rows_on_both_engines() {
    use std::ops::Bound;

    use crate::store::engine::{Engine, ReadTxn, WriteTxn};

    let pg_dir = tempfile::tempdir().unwrap();
    let pg_store = Store::open(pg_dir.path(), &test_options(pg_dir.path())).unwrap();
    let pg = pg_store.shared.engine().unwrap();
    let redb_dir = tempfile::tempdir().unwrap();
    let redb = Engine::Redb(std::sync::Arc::new(
        redb::Database::create(redb_dir.path().join("t.redb")).unwrap(),
    ));
    // Whatever the database's default collation (the test cluster's is often "C" already),
    // the tenant column sorts bytewise.
    let pool = pg_store.shared.pg.clone().unwrap();
    let collation: Option<String> = pool.block_on(async {
        let client = pool.get().await.unwrap();
        client
            .query_one(
                "SELECT collation_name::text FROM information_schema.columns \
                 WHERE table_name = 'conversations_by_start' AND column_name = 'tenant'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(collation.as_deref(), Some("C"));
    let tenants = ["a", "a-b", "ab", "a\u{e9}", "b", "B", "zz"];
    let ids = ["", "x", "x\u{0}y", "y", "\u{10FFFF}"];
    let starts = [i64::MIN, -5, 0, 7, i64::MAX];
    let fill = |txn: &WriteTxn| {
        let mut table = txn.open_table(tables::CONVERSATIONS_BY_START).unwrap();
        for t in tenants {
            for s in starts {
                for id in ids {
                    table.insert((t, s, id), ()).unwrap();
                }
            }
        }
    };
    for engine in [&pg, &redb] {
        let txn = engine.begin_write().unwrap();
        fill(&txn);
        txn.commit().unwrap();
    }
    type Key = (String, i64, String);
    let read = |txn: &ReadTxn,
                start: Bound<(&str, i64, &str)>,
                end: Bound<(&str, i64, &str)>,
                rev: bool,
                take: usize|
     -> Vec<Key> {
        let table = txn.open_table(tables::CONVERSATIONS_BY_START).unwrap();
        let range = table.range::<(&str, i64, &str)>((start, end)).unwrap();
        let rows: Box<dyn Iterator<Item = _>> = if rev {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        rows.take(take)
            .map(|row| {
                let (k, ()) = row.map(|(k, v)| (k, v.value())).unwrap();
                let (t, s, id) = k.value();
                (t.to_string(), s, id.to_string())
            })
            .collect()
    };
    let bounds = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(("a-b", i64::MIN, "")), Bound::Unbounded),
        (Bound::Unbounded, Bound::Excluded(("ab", 0, "x"))),
        (
            Bound::Excluded(("a", 7, "x")),
            Bound::Included(("b", -5, "y")),
        ),
        (
            Bound::Included(("ab", -5, "")),
            Bound::Excluded(("ab", 7, "\u{10FFFF}")),
        ),
        (
            Bound::Included(("zz", i64::MIN, "")),
            Bound::Included(("zz", i64::MAX, "\u{10FFFF}")),
        ),
    ];
    let (pg_txn, redb_txn) = (pg.begin_read().unwrap(), redb.begin_read().unwrap());
    for (start, end) in bounds {
        for rev in [false, true] {
            for take in [1, 3, 40, usize::MAX] {
                let want = read(&redb_txn, start, end, rev, take);
                let got = read(&pg_txn, start, end, rev, take);
                assert_eq!(got, want, "{start:?}..{end:?} rev {rev} take {take}");
            }
        }
    }
    // Both ends of one range at once meet in the middle without a row twice.
    let table = pg_txn.open_table(tables::CONVERSATIONS_BY_START).unwrap();
    let mut range = table.iter().unwrap();
    let mut seen = 0;
    while let Some(row) = if seen % 3 == 0 {
        range.next_back()
    } else {
        range.next()
    } {
        row.unwrap();
        seen += 1;
    }
    assert_eq!(seen, tenants.len() * starts.len() * ids.len());
    assert_eq!(table.len().unwrap(), seen as u64);
}

/// A command of the CLI opens the store without serving: it neither loads the search index
/// nor follows the change feed, so it starts at once and is not counted as a replica.
#[test]
fn a_store_opened_for_a_command_neither_indexes_nor_follows_the_feed() {
    use crate::domain::NewCorpus;

    let dir = tempfile::tempdir().unwrap();
    let replica = Store::open(dir.path(), &test_options(dir.path())).unwrap();
    let command_dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        replica.create_tenant("acme", "Acme").await.unwrap();
        replica
            .create_corpus(
                "acme",
                NewCorpus {
                    title: "Refunds".into(),
                    content: "Refunds within 30 days.".into(),
                    segment: None,
                    priority: 5,
                    tags: vec![],
                    summary: None,
                    is_active: true,
                },
            )
            .await
            .unwrap();
    });
    let command = Store::open(
        command_dir.path(),
        &StoreOptions {
            serving: false,
            ..test_options(dir.path())
        },
    )
    .unwrap();
    assert_eq!(replica.shared.index.tenant_len("acme"), 1);
    assert_eq!(command.shared.index.tenant_len("acme"), 0);
    assert!(command.shared.feed.lock().unwrap().is_none());
    assert!(replica.shared.feed.lock().unwrap().is_some());
    // It reads and writes the database all the same.
    runtime.block_on(async {
        assert!(command.get_tenant("acme").await.unwrap().is_some());
        // Only the replica follows the feed: once its connections are up, one is counted.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(replica.live_replicas().await, Some(1));
    });
}
