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
/// serializable transactions (a conflict runs the loser's batch again) keep every rule.
#[test]
fn two_replicas_writing_the_same_rows_keep_every_rule() {
    use crate::domain::{Channel, Exchange, Metadata, NewConversation, NewCorpus, VisitorType};
    use futures_util::future::join_all;

    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path(), &test_options(dir.path())).unwrap();
    let b = Store::open(dir.path(), &test_options(dir.path())).unwrap();
    let exchange = || Exchange {
        start: NewConversation {
            session_id: "s1".into(),
            segment: "general".into(),
            channel: Channel::Api,
            visitor_type: VisitorType::Human,
            agent_model: None,
            visitor_id: None,
            metadata: Metadata::default(),
        },
        user_message: "hi".into(),
        user_at: crate::clock::Timestamp::now(),
        reply: "hello".into(),
        outcome: Default::default(),
        max_messages: 1000,
        tools: Default::default(),
    };
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
                store.record_exchange("acme", exchange())
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
}
