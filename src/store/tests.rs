//! The store's behaviour suite. It runs twice: here on redb, and as
//! `tests_postgres::suite` on PostgreSQL, where `test_options` (from the parent module)
//! gives each data directory a database of its own. Tests of what only the redb file has
//! (its lock, upgrades of old files, the index snapshot, `animam check`) return at once
//! when `ON_POSTGRES`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use futures_util::future::join_all;

use redb::ReadableDatabase as _;

use super::tables::META;
use super::*;
use crate::domain::{
    Channel, CorpusPatch, Exchange, Metadata, NewConversation, NewCorpus, NewSegment, SegmentPatch,
    VisitorType,
};

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn open(dir: &Path) -> Store {
    let store = Store::open(dir, &test_options(dir)).unwrap();
    assert_eq!(
        store.shared.pg.is_some(),
        ON_POSTGRES,
        "the suite's backend"
    );
    store
}

fn entry(title: &str, segment: Option<&str>) -> NewCorpus {
    NewCorpus {
        title: title.into(),
        content: format!("{title} content"),
        segment: segment.map(str::to_string),
        priority: 5,
        tags: vec![],
        summary: None,
        is_active: true,
    }
}

/// A full-access token of hash "abab...", named "t".
pub(super) fn new_token() -> crate::domain::NewToken {
    crate::domain::NewToken {
        name: "t".into(),
        scopes: crate::domain::ScopeSet::all(),
        hash: "ab".repeat(32),
        prefix: "ak_x".into(),
        expires_at: None,
    }
}

/// A one-message exchange of session `session` (shared with the PostgreSQL-only and
/// submissions tests).
pub(super) fn exchange(session: &str) -> Exchange {
    Exchange {
        start: NewConversation {
            session_id: session.into(),
            segment: "general".into(),
            channel: Channel::Api,
            visitor_type: VisitorType::Human,
            agent_model: None,
            visitor_id: None,
            metadata: Metadata::default(),
        },
        user_message: "hi".into(),
        user_at: Timestamp::now(),
        reply: "hello".into(),
        outcome: Default::default(),
        max_messages: 1000,
        tools: Default::default(),
    }
}

use crate::clock::Timestamp;

/// Exchanges sent together share write batches; the day's statistics row is read once and
/// written once per batch, and must still count every one of them.
#[test]
fn exchanges_committed_in_one_batch_are_all_counted_in_the_day_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let sessions: Vec<String> = (0..60).map(|n| format!("s{n}")).collect();
        let results = futures_util::future::join_all(
            sessions
                .iter()
                .map(|session| store.record_exchange("acme", exchange(session))),
        )
        .await;
        assert!(results.iter().all(|r| matches!(r, Ok(Recorded::Stored(_)))));
        // One more, alone, on top of what the batches wrote.
        store.record_exchange("acme", exchange("s0")).await.unwrap();
        let today = crate::domain::stats::day_of(Timestamp::now());
        let rows = store
            .usage_stats("acme", today - 1, today + 1, None)
            .await
            .unwrap();
        let conversations: u64 = rows.iter().map(|(_, day)| day.conversations).sum();
        let messages: u64 = rows.iter().map(|(_, day)| day.messages).sum();
        assert_eq!((conversations, messages), (60, 122));
    });
}

/// The day's statistics row of `acme`'s "general" segment, as committed.
fn todays_stats(store: &Store) -> crate::domain::stats::DayStats {
    let today = crate::domain::stats::day_of(Timestamp::now());
    let txn = store.shared.engine().unwrap().begin_read().unwrap();
    let table = txn.open_table(tables::STATS_DAILY).unwrap();
    let row = table.get(("acme", today, "general")).unwrap().unwrap();
    decode("stats_daily", "test", row.value()).unwrap()
}

/// A batch that fails after counting an exchange commits nothing, and the next batch must
/// not start from what the failed one had counted in memory.
#[test]
fn a_failed_batch_leaves_no_count_in_the_day_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        store.record_exchange("acme", exchange("s1")).await.unwrap();
        let failed = store
            .write(|tx| {
                let today = crate::domain::stats::day_of(Timestamp::now());
                tx.stats.row(tx.txn, "acme", today, "general")?.messages += 100;
                Err::<(), _>(StoreError::internal_msg("failed after counting"))
            })
            .await;
        assert!(failed.is_err());
        store.record_exchange("acme", exchange("s1")).await.unwrap();
        assert_eq!(todays_stats(&store).messages, 4);
    });
}

/// PostgreSQL replicas write the same statistics rows, so each batch reads them again; on
/// redb the writer is the only one that writes them (the file lock keeps other processes
/// out) and carries them from one batch to the next instead of decoding a busy day's row
/// again for every batch. A row changed behind the writer's back shows which it did.
#[test]
fn statistics_rows_are_read_again_only_where_another_writer_may_change_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        store.record_exchange("acme", exchange("s1")).await.unwrap();
        let mut elsewhere = todays_stats(&store);
        elsewhere.messages += 10;
        let today = crate::domain::stats::day_of(Timestamp::now());
        let txn = store.shared.engine().unwrap().begin_write().unwrap();
        txn.open_table(tables::STATS_DAILY)
            .unwrap()
            .insert(
                ("acme", today, "general"),
                encode(&elsewhere).unwrap().as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
        store.record_exchange("acme", exchange("s1")).await.unwrap();
        let expected = if ON_POSTGRES { 14 } else { 4 };
        assert_eq!(todays_stats(&store).messages, expected);
    });
}

#[test]
fn schema_version_is_recorded_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let txn = store.shared.engine().unwrap().begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            let stored = read_u32(meta.get("schema_version").unwrap().unwrap().value());
            assert_eq!(stored.unwrap(), SCHEMA_VERSION);
            meta.insert("schema_version", 99u32.to_le_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
        store.close(Duration::from_secs(1));
    }
    match Store::open(dir.path(), &test_options(dir.path())) {
        Err(OpenError::NewerSchema(99)) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn a_held_database_is_reported_plainly() {
    if ON_POSTGRES {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _held = open(dir.path());
    let err = Store::open(dir.path(), &StoreOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("stop it first"), "{err}");
}

#[test]
fn close_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).close(Duration::from_secs(1));
    open(dir.path()).close(Duration::from_secs(1));
}

#[test]
fn tenants_without_a_default_segment_get_one_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        run(store.create_tenant("acme", "Acme")).unwrap();
        // As a tenant created before segments existed would be.
        let txn = store.shared.engine().unwrap().begin_write().unwrap();
        txn.open_table(tables::SEGMENTS)
            .unwrap()
            .retain(|_, _| false)
            .unwrap();
        txn.commit().unwrap();
        store.close(Duration::from_secs(1));
    }
    let store = open(dir.path());
    let default = run(store.default_segment("acme")).unwrap().unwrap();
    assert_eq!(default.slug, "general");
    assert_eq!(run(store.list_segments("acme")).unwrap().len(), 1);
}

#[test]
fn concurrent_updates_of_one_entry_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        for trial in 0..20 {
            let created = store
                .create_corpus("acme", entry(&format!("t{trial}"), None))
                .await
                .unwrap();
            let patches = [
                CorpusPatch {
                    title: Some("new title".into()),
                    ..Default::default()
                },
                CorpusPatch {
                    priority: Some(9),
                    ..Default::default()
                },
                CorpusPatch {
                    tags: Some(vec!["tagged".into()]),
                    ..Default::default()
                },
            ];
            let results = join_all(
                patches
                    .into_iter()
                    .map(|p| store.update_corpus("acme", &created.id, p)),
            )
            .await;
            for r in results {
                r.unwrap();
            }
            let now = store
                .get_corpus("acme", &created.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(now.title, "new title", "trial {trial}");
            assert_eq!(now.priority, 9, "trial {trial}");
            assert_eq!(now.tags, vec!["tagged"], "trial {trial}");
            assert_eq!(now.revision, 3);
        }
    });
}

#[test]
fn a_segment_in_use_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        store
            .create_segment("acme", NewSegment::named("pricing", "Pricing"))
            .await
            .unwrap();
        let a = store
            .create_corpus("acme", entry("a", Some("pricing")))
            .await
            .unwrap();
        let b = store
            .create_corpus("acme", entry("b", Some("pricing")))
            .await
            .unwrap();
        match store.delete_segment("acme", "pricing").await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("used by 2 corpus entries"), "{m}"),
            other => panic!("{other:?}"),
        }
        store.delete_corpus("acme", &a.id).await.unwrap();
        store
            .update_corpus(
                "acme",
                &b.id,
                CorpusPatch {
                    segment: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        store.delete_segment("acme", "pricing").await.unwrap();
        // And a write naming the deleted segment is refused, not orphaned.
        match store
            .create_corpus("acme", entry("c", Some("pricing")))
            .await
        {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "segment"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn deleting_a_segment_and_using_it_concurrently_never_orphans_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        for round in 0..20 {
            let slug = format!("s{round}");
            store
                .create_segment("acme", NewSegment::named(&slug, "S"))
                .await
                .unwrap();
            let create = store.create_corpus("acme", entry("x", Some(&slug)));
            let delete = store.delete_segment("acme", &slug);
            let (created, deleted) = futures_util::future::join(create, delete).await;
            assert!(
                created.is_ok() != deleted.is_ok(),
                "exactly one must win: {created:?} / {deleted:?}"
            );
        }
    });
}

#[test]
fn a_refused_write_fails_alone_in_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let writes = (0..50).map(|i| {
            let segment = (i % 10 == 0).then_some("missing");
            store.create_corpus("acme", entry(&format!("e{i}"), segment))
        });
        let results = join_all(writes).await;
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
        let page = store.list_corpus("acme", None, 0, 100).await.unwrap();
        assert_eq!(page.total, 45);
    });
}

#[test]
fn exchanges_share_conversations_by_session_and_respect_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        store
            .update_tenant(
                "acme",
                crate::domain::TenantPatch {
                    conversations_limit: Some(Some(2)),
                    ..Default::default()
                },
                crate::domain::Actor::cli(),
            )
            .await
            .unwrap();
        let stored = |r: Recorded| match r {
            Recorded::Stored(c) => c,
            Recorded::QuotaExceeded => panic!("quota"),
            Recorded::ConversationFull => panic!("full"),
        };
        let first = stored(store.record_exchange("acme", exchange("s1")).await.unwrap());
        let second = stored(store.record_exchange("acme", exchange("s1")).await.unwrap());
        assert_eq!(first.id, second.id, "same session, same conversation");
        assert_eq!((first.message_count, second.message_count), (2, 4));
        stored(store.record_exchange("acme", exchange("s2")).await.unwrap());
        assert!(matches!(
            store.record_exchange("acme", exchange("s3")).await.unwrap(),
            Recorded::QuotaExceeded
        ));
        assert!(matches!(
            store.record_exchange("nosuch", exchange("s4")).await,
            Err(StoreError::NotFound("Tenant"))
        ));
        let tenant = store.get_tenant("acme").await.unwrap().unwrap();
        assert_eq!(tenant.conversations_used, 2);
        let (_, last) = store
            .session_conversation("acme", "s1", 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last.len(), 3, "only the last messages a turn needs");
        let (_, all) = store
            .get_conversation_page("acme", &first.id, 0, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), 4);
    });
}

#[test]
fn a_conversation_stops_at_its_cap_and_reads_in_pages_and_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let capped = |session: &str| Exchange {
            max_messages: 7,
            ..exchange(session)
        };
        for _ in 0..3 {
            assert!(matches!(
                store.record_exchange("acme", capped("long")).await.unwrap(),
                Recorded::Stored(_)
            ));
        }
        // 6 messages stored; one more exchange would make 8 > 7.
        assert!(matches!(
            store.record_exchange("acme", capped("long")).await.unwrap(),
            Recorded::ConversationFull
        ));
        let (conversation, _) = store
            .session_conversation("acme", "long", 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conversation.message_count, 6);
        let page = |offset, limit| {
            let store = store.clone();
            let id = conversation.id.clone();
            async move {
                store
                    .get_conversation_page("acme", &id, offset, limit)
                    .await
                    .unwrap()
                    .unwrap()
                    .1
                    .len()
            }
        };
        assert_eq!(
            (page(0, 4).await, page(4, 4).await, page(8, 4).await),
            (4, 2, 0)
        );

        // Two more conversations; the export reads every message once, in chunks of 4.
        for session in ["b", "c"] {
            store
                .record_exchange("acme", exchange(session))
                .await
                .unwrap();
        }
        let mut cursor = crate::store::ExportCursor::default();
        let mut seen = Vec::new();
        let mut chunks = 0;
        loop {
            let (rows, done) = store
                .export_chunk("acme", &Default::default(), &mut cursor, 4)
                .await
                .unwrap();
            chunks += 1;
            let n: usize = rows.iter().map(|(_, m)| m.len()).sum();
            assert!(n <= 4, "a chunk holds at most its budget");
            for (c, messages) in rows {
                seen.extend(messages.into_iter().map(|m| (c.session_id.clone(), m.id)));
            }
            if done {
                break;
            }
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
        let unique: std::collections::HashSet<_> = seen.iter().map(|(_, id)| id).collect();
        assert_eq!(unique.len(), 10, "no message twice");
        assert_eq!(seen[0].0, "c", "newest conversation first");
        assert!(chunks >= 3);
    });
}

#[test]
fn segment_rules_hold_inside_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let off = SegmentPatch {
            is_default: Some(false),
            ..Default::default()
        };
        assert!(matches!(
            store.update_segment("acme", "general", off).await,
            Err(StoreError::Conflict(_))
        ));
        let mut moving = NewSegment::named("faq", "FAQ");
        moving.is_default = true;
        store.create_segment("acme", moving).await.unwrap();
        let all = store.list_segments("acme").await.unwrap();
        assert_eq!(all.iter().filter(|s| s.is_default).count(), 1);
        assert_eq!(all[0].slug, "faq");
        assert!(matches!(
            store.delete_segment("acme", "faq").await,
            Err(StoreError::Conflict(_))
        ));
        store.delete_segment("acme", "general").await.unwrap();
    });
}

/// A schema-1 file (milliseconds in most timestamps, no usage counts) opens as schema 2.
#[test]
fn schema_one_is_upgraded() {
    if ON_POSTGRES {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::create(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(migrate::legacy::META)
                .unwrap()
                .insert("schema_version", 1u32.to_le_bytes().as_slice())
                .unwrap();
            let tenant = serde_json::json!({
                "id": "ten_1", "slug": "acme", "name": "Acme", "plan": "self-hosted",
                "is_activated": true, "bot_name": "Assistant", "bot_title": "",
                "bot_lore": "", "bot_tone": "NEUTRAL", "use_tutoiement": false,
                "allow_emojis": false, "primary_color": "#4f46e5",
                "secondary_color": "#ffffff", "show_ai_badge": true,
                "allowed_domains": [], "content_policy": "SFW", "conversations_used": 0,
                "conversations_limit": null, "created_at": 1_700_000_000_000i64,
                "updated_at": 1_700_000_000_000i64
            });
            txn.open_table(migrate::legacy::TENANTS)
                .unwrap()
                .insert("acme", serde_json::to_vec(&tenant).unwrap().as_slice())
                .unwrap();
            let segment = serde_json::json!({
                "id": "seg_1", "slug": "pricing", "name": "Pricing", "system_prompt": "",
                "welcome_message": "", "conversation_starters": [], "is_default": false,
                "is_active": true, "created_at": 1_700_000_000_000i64,
                "updated_at": 1_700_000_000_000i64
            });
            txn.open_table(migrate::legacy::SEGMENTS)
                .unwrap()
                .insert(
                    ("acme", "seg_1"),
                    serde_json::to_vec(&segment).unwrap().as_slice(),
                )
                .unwrap();
            let corpus = serde_json::json!({
                "id": "corp_1", "title": "Refunds", "content": "Within 30 days.",
                "segment": "pricing", "priority": 5, "tags": [],
                "created_us": 1_700_000_000_000_123i64, "updated_at": 1_700_000_001_000i64
            });
            txn.open_table(migrate::legacy::CORPUS)
                .unwrap()
                .insert(
                    ("acme", "corp_1"),
                    serde_json::to_vec(&corpus).unwrap().as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    run(async {
        let tenant = store.get_tenant("acme").await.unwrap().unwrap();
        assert_eq!(tenant.created_at, Timestamp::from_secs(1_700_000_000));
        let entry = store.get_corpus("acme", "corp_1").await.unwrap().unwrap();
        assert_eq!(entry.created_at.micros(), 1_700_000_000_000_123);
        assert_eq!(entry.updated_at, Timestamp::from_secs(1_700_000_001));
        // Re-analysed at open (no analyzer version), so it is searchable.
        let query = search::analyze_query("refunds");
        let (page, _) = store
            .search_corpus("acme", &query, search::SegmentFilter::Any, 0, 10)
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        // The usage count was built: the segment is in use.
        assert!(matches!(
            store.delete_segment("acme", "pricing").await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.default_segment("acme").await.unwrap().is_some());
    });
}

#[test]
fn sessions_touch_expire_and_end_with_their_token() {
    use crate::domain::{ScopeSet, Session};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let token = store
            .create_token("acme", new_token(), crate::domain::Actor::cli())
            .await
            .unwrap();
        let start = Timestamp::from_secs(1_000);
        let session = |token_id: &str| Session {
            tenant: "acme".into(),
            token_id: token_id.into(),
            token_hash: "ab".repeat(32),
            scopes: ScopeSet::all(),
            created_at: start,
            last_seen_at: start,
            expires_at: start.plus_secs(100),
        };
        store
            .create_session("s1", session(&token.id))
            .await
            .unwrap();
        store
            .create_session("s2", session("tok_other"))
            .await
            .unwrap();
        store
            .touch_session("s2", start.plus_secs(50))
            .await
            .unwrap();
        assert_eq!(
            store.get_session("s2").await.unwrap().unwrap().last_seen_at,
            start.plus_secs(50)
        );
        // Idle for 10 s at 1020: s1 is over, s2 (seen at 1050) is not yet.
        let removed = store
            .delete_over_sessions(start.plus_secs(55), 10)
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(store.get_session("s1").await.unwrap().is_none());
        store
            .create_session("s3", session(&token.id))
            .await
            .unwrap();
        store
            .revoke_token(None, &token.id, crate::domain::Actor::cli())
            .await
            .unwrap();
        assert!(store.get_session("s3").await.unwrap().is_none(), "revoked");
        assert!(store.get_session("s2").await.unwrap().is_some());
        assert!(store.delete_session("s2").await.unwrap());
        assert!(!store.delete_session("s2").await.unwrap());
    });
}

/// Ids of the tenant's entries matching `words`, as the search index sees them.
fn found(store: &Store, tenant: &str, words: &str) -> Vec<String> {
    let query = search::analyze_query(words);
    let (page, _) =
        run(store.search_corpus(tenant, &query, search::SegmentFilter::Any, 0, 50)).unwrap();
    let mut ids: Vec<String> = page.entries.into_iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

#[test]
fn a_clean_close_leaves_an_index_snapshot_trusted_only_by_the_next_open() {
    if ON_POSTGRES {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("index.snapshot");
    let store = open(dir.path());
    let first = run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        store
            .create_corpus("acme", entry("refunds", None))
            .await
            .unwrap()
    });
    store.close(Duration::from_secs(1));
    assert!(snapshot.exists());

    // The next open loads the snapshot, not the stored terms: with the terms rows gone
    // behind the store's back, the entry is still found.
    {
        let db = Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = engine::WriteTxn::redb(db.begin_write().unwrap());
        txn.open_table(tables::CORPUS_TERMS)
            .unwrap()
            .retain(|_, _| false)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    assert!(!snapshot.exists(), "an open consumes the snapshot");
    assert_eq!(found(&store, "acme", "refunds"), [first.id]);
    let second = run(store.create_corpus("acme", entry("refunds again", None))).unwrap();
    store.close(Duration::from_secs(1));
    let older = std::fs::read(&snapshot).unwrap();

    // A snapshot from an earlier close is ignored: this one misses the third entry.
    let store = open(dir.path());
    let third = run(store.create_corpus("acme", entry("refunds thrice", None))).unwrap();
    store.close(Duration::from_secs(1));
    std::fs::write(&snapshot, &older).unwrap();
    let store = open(dir.path());
    let mut all = vec![second.id.clone(), third.id.clone()];
    all.sort();
    assert_eq!(
        found(&store, "acme", "refunds"),
        all,
        "rebuilt from the rows (the first entry's terms row was removed above)"
    );
    store.close(Duration::from_secs(1));

    // A damaged snapshot is not trusted either.
    let mut damaged = std::fs::read(&snapshot).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    std::fs::write(&snapshot, &damaged).unwrap();
    let store = open(dir.path());
    assert_eq!(found(&store, "acme", "refunds"), all);
    drop(store);
}

#[test]
fn an_open_that_ends_without_a_clean_close_leaves_no_trusted_snapshot() {
    if ON_POSTGRES {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(store.create_tenant("acme", "Acme")).unwrap();
    store.close(Duration::from_secs(1));
    let saved = std::fs::read(dir.path().join("index.snapshot")).unwrap();
    let store = open(dir.path());
    let added = run(store.create_corpus("acme", entry("refunds", None))).unwrap();
    // Like a crash: the writer stops, nothing is flushed, the snapshot stays consumed.
    drop(store);
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(dir.path().join("index.snapshot"), &saved).unwrap();
    let store = open(dir.path());
    assert_eq!(found(&store, "acme", "refunds"), [added.id]);
}

#[test]
fn check_finds_damage_names_it_and_quarantines_it() {
    if ON_POSTGRES {
        return;
    }
    use crate::store::check;
    use crate::store::tables::{CONVERSATIONS, CORPUS, MESSAGES, TOKENS};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (bad_entry, good_entry, conversation) = run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let bad = store
            .create_corpus("acme", entry("Refunds", Some("general")))
            .await
            .unwrap();
        let good = store
            .create_corpus("acme", entry("Shipping", Some("general")))
            .await
            .unwrap();
        let Recorded::Stored(c) = store.record_exchange("acme", exchange("s1")).await.unwrap()
        else {
            panic!("not stored")
        };
        store.record_exchange("acme", exchange("s2")).await.unwrap();
        (bad.id, good.id, c.id)
    });
    store.close(std::time::Duration::from_secs(5));
    let clean = check::check(dir.path(), false, &mut |_| {}).unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert!(clean.records > 10);

    // Damage a corpus entry, a message and the other conversation's record.
    {
        let db = redb::Database::create(dir.path().join(DB_FILE)).unwrap();
        let txn = engine::WriteTxn::redb(db.begin_write().unwrap());
        txn.open_table(CORPUS)
            .unwrap()
            .insert(
                ("acme", bad_entry.as_str()),
                b"{\"title\": \"\xff".as_slice(),
            )
            .unwrap();
        txn.open_table(MESSAGES)
            .unwrap()
            .insert(
                ("acme", conversation.as_str(), 1u32),
                b"not json".as_slice(),
            )
            .unwrap();
        let other = {
            let table = txn.open_table(CONVERSATIONS).unwrap();
            let ids: Vec<String> = table
                .iter()
                .unwrap()
                .map(|r| r.unwrap().0.value().1.to_string())
                .filter(|id| *id != conversation)
                .collect();
            ids[0].clone()
        };
        txn.open_table(CONVERSATIONS)
            .unwrap()
            .insert(("acme", other.as_str()), b"[1,2".as_slice())
            .unwrap();
        let token_ids: Vec<String> = txn
            .open_table(TOKENS)
            .unwrap()
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value().to_string())
            .collect();
        assert!(token_ids.is_empty());
        txn.commit().unwrap();
    }

    // A read of the damaged entry names its table and key.
    let store = open(dir.path());
    let err = run(store.get_corpus("acme", &bad_entry)).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("table corpus, key (\"acme\", \"{bad_entry}\")")),
        "{err}"
    );
    store.close(std::time::Duration::from_secs(5));

    let mut lines = Vec::new();
    let found = check::check(dir.path(), false, &mut |l| lines.push(l.to_string())).unwrap();
    let text = found.problems.join("\n");
    assert!(
        text.contains(&format!(
            "table corpus, key (\"acme\", \"{bad_entry}\"): does not decode"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "table messages, key (\"acme\", \"{conversation}\", 1): does not decode"
        )),
        "{text}"
    );
    assert!(
        text.contains("table conversations, key (\"acme\", \"conv_"),
        "{text}"
    );
    assert_eq!(found.problems.len(), 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("corpus: 2 records, 1 problems")),
        "{lines:?}"
    );

    let moved = check::check(dir.path(), true, &mut |_| {}).unwrap();
    // Corpus entry and its terms row, the message, the conversation and its 2 messages.
    assert_eq!(moved.quarantined, 6);
    let after = check::check(dir.path(), false, &mut |_| {}).unwrap();
    assert!(after.problems.is_empty(), "{:?}", after.problems);

    // The store opens and serves everything else.
    let store = open(dir.path());
    run(async {
        assert!(
            store
                .get_corpus("acme", &bad_entry)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_corpus("acme", &good_entry)
                .await
                .unwrap()
                .is_some()
        );
        let (c, messages) = store
            .session_conversation("acme", "s1", 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.id, messages.len()), (conversation, 1));
        // The quarantined conversation's session starts afresh.
        assert!(matches!(
            store.record_exchange("acme", exchange("s2")).await.unwrap(),
            Recorded::Stored(c) if c.message_count == 2
        ));
    });
}

#[test]
fn audit_is_newest_first_and_pruned_by_count_and_age() {
    use crate::domain::{Actor, AuditAction, NewAudit};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let denied = |n: usize| NewAudit {
            action: AuditAction::RequestDenied,
            actor: Actor::cli(),
            target: None,
            detail: Some(format!("#{n}")),
        };
        let batch = (0..5).map(|n| ("acme".to_string(), denied(n))).collect();
        assert_eq!(store.record_denied(batch).await.unwrap(), 5);
        let ghost = vec![("ghost".to_string(), denied(9))];
        assert_eq!(
            store.record_denied(ghost).await.unwrap(),
            0,
            "no such tenant"
        );
        async fn details(store: &Store) -> (Vec<String>, usize) {
            let (page, total) = store.list_audit("acme", 0, 100).await.unwrap();
            let details: Vec<String> = page.into_iter().filter_map(|e| e.detail).collect();
            (details, total)
        }
        assert_eq!(details(&store).await.1, 5);
        assert_eq!(details(&store).await.0[0], "#4", "newest first");

        let now = Timestamp::now();
        assert_eq!(store.prune_audit(now, None, 10).await.unwrap(), 0);
        assert_eq!(store.prune_audit(now, None, 2).await.unwrap(), 3);
        assert_eq!(
            details(&store).await,
            (vec!["#4".to_string(), "#3".to_string()], 2)
        );
        // A day later, a one-hour age limit removes the rest.
        let later = now.plus_secs(86_400);
        assert_eq!(store.prune_audit(later, Some(3600), 10).await.unwrap(), 2);
        assert_eq!(details(&store).await, (vec![], 0));
    });
}

#[test]
fn tool_activity_counts_and_escalation_sticks_and_old_rows_read_as_active() {
    use crate::domain::{ConversationFilter, ConversationStatus, ToolActivity, ToolType};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    run(async {
        store.create_tenant("acme", "Acme").await.unwrap();
        let stored = |r: Recorded| match r {
            Recorded::Stored(c) => c,
            other => panic!("not stored: {other:?}"),
        };
        let with_tools = |tools: ToolActivity| Exchange {
            tools,
            ..exchange("s1")
        };
        let first = stored(
            store
                .record_exchange(
                    "acme",
                    with_tools(ToolActivity {
                        calls: 2,
                        types: vec![ToolType::EscalateToHuman],
                        escalated: true,
                    }),
                )
                .await
                .unwrap(),
        );
        assert_eq!(first.status, ConversationStatus::Escalated);
        let second = stored(
            store
                .record_exchange(
                    "acme",
                    with_tools(ToolActivity {
                        calls: 1,
                        types: vec![ToolType::RememberFact, ToolType::EscalateToHuman],
                        escalated: false,
                    }),
                )
                .await
                .unwrap(),
        );
        assert_eq!(second.status, ConversationStatus::Escalated, "it stays");
        assert_eq!(second.tool_calls_count, 3);
        assert_eq!(
            second.tool_types,
            [ToolType::EscalateToHuman, ToolType::RememberFact]
        );
        stored(store.record_exchange("acme", exchange("s2")).await.unwrap());
        let filter = ConversationFilter {
            tool_type: Some(ToolType::RememberFact),
            ..Default::default()
        };
        let page = store
            .list_conversations("acme", filter, 0, 10)
            .await
            .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.conversations[0].id, second.id);
    });
    // A row written before tools existed has none of their fields.
    let mut old = serde_json::to_value(exchange_conversation()).unwrap();
    for key in ["status", "tool_calls_count", "tool_types"] {
        old.as_object_mut().unwrap().remove(key);
    }
    let read: crate::domain::Conversation = serde_json::from_value(old).unwrap();
    assert_eq!(read.status, ConversationStatus::Active);
    assert_eq!(read.tool_calls_count, 0);
    assert!(read.tool_types.is_empty());
}

fn exchange_conversation() -> crate::domain::Conversation {
    crate::domain::Conversation {
        id: "conv_1".into(),
        session_id: "s".into(),
        segment: "general".into(),
        channel: Channel::Api,
        visitor_type: VisitorType::Human,
        agent_model: None,
        visitor_id: None,
        message_count: 2,
        started_at: Timestamp::now(),
        last_message_at: Timestamp::now(),
        preview: "hi".into(),
        metadata: Metadata::default(),
        status: crate::domain::ConversationStatus::Escalated,
        tool_calls_count: 1,
        tool_types: vec![],
    }
}

/// A schema-2 file, as the code before the engine seam wrote it (typed redb tables, messages
/// keyed without their tenant), opens as schema 3 with every record where it was. The file
/// is built by reading a current store's rows and writing them through the old typed
/// definitions, so every table holds real records.
#[test]
fn schema_two_typed_tables_are_converted_in_place() {
    if ON_POSTGRES {
        return;
    }
    use super::migrate::legacy;
    use redb::ReadableTable as _;
    let current = tempfile::tempdir().unwrap();
    let (corpus_id, conversation) = {
        let store = open(current.path());
        let ids = run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            store.create_tenant("bolt", "Bolt").await.unwrap();
            let e = store
                .create_corpus("acme", entry("Refunds", Some("general")))
                .await
                .unwrap();
            let Recorded::Stored(c) = store.record_exchange("acme", exchange("s1")).await.unwrap()
            else {
                panic!("not stored")
            };
            store.record_exchange("bolt", exchange("s9")).await.unwrap();
            (e.id, c.id)
        });
        store.close(Duration::from_secs(5));
        ids
    };

    let old_dir = tempfile::tempdir().unwrap();
    {
        let from = Database::open(current.path().join(DB_FILE)).unwrap();
        let from = ReadTxn::redb(from.begin_read().unwrap());
        let db = Database::create(old_dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        macro_rules! copy {
            ($new:expr, $old:expr) => {
                copy!($new, $old, |k| k)
            };
            ($new:expr, $old:expr, |$k:pat_param| $key:expr) => {{
                let mut to = txn.open_table($old).unwrap();
                for row in from.open_table($new).unwrap().iter().unwrap() {
                    let (k, v) = row.unwrap();
                    let $k = k.value();
                    to.insert($key, v.value()).unwrap();
                }
            }};
        }
        copy!(tables::META, legacy::META);
        copy!(tables::TENANTS, legacy::TENANTS);
        copy!(tables::TOKENS, legacy::TOKENS);
        copy!(tables::CORPUS, legacy::CORPUS);
        copy!(tables::CORPUS_TERMS, legacy::CORPUS_TERMS);
        copy!(tables::SEGMENT_USAGE, legacy::SEGMENT_USAGE);
        copy!(tables::SEGMENTS, legacy::SEGMENTS);
        copy!(tables::CONVERSATIONS, legacy::CONVERSATIONS);
        copy!(tables::CONVERSATION_SESSIONS, legacy::CONVERSATION_SESSIONS);
        copy!(
            tables::CONVERSATIONS_BY_START,
            legacy::CONVERSATIONS_BY_START
        );
        copy!(tables::MESSAGES, legacy::MESSAGES, |(_, c, seq)| (c, seq));
        copy!(tables::STATS_DAILY, legacy::STATS_DAILY);
        copy!(tables::AUDIT, legacy::AUDIT);
        copy!(tables::AUDIT_COUNT, legacy::AUDIT_COUNT);
        let mut meta = txn.open_table(legacy::META).unwrap();
        meta.insert("schema_version", 2u32.to_le_bytes().as_slice())
            .unwrap();
        drop(meta);
        // A message whose conversation is gone: kept, and still reported by check.
        let mut messages = txn.open_table(legacy::MESSAGES).unwrap();
        let first = (messages.get((conversation.as_str(), 0u32)).unwrap())
            .map(|v| v.value().to_vec())
            .unwrap();
        messages
            .insert(("conv_gone", 0u32), first.as_slice())
            .unwrap();
        drop(messages);
        txn.commit().unwrap();
    }

    let store = open(old_dir.path());
    run(async {
        assert_eq!(store.list_tenants().await.unwrap().len(), 2);
        let entry = store.get_corpus("acme", &corpus_id).await.unwrap().unwrap();
        assert_eq!(entry.title, "Refunds");
        let query = search::analyze_query("refunds");
        let (page, _) = store
            .search_corpus("acme", &query, search::SegmentFilter::Any, 0, 10)
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        // The usage count came along: the segment is in use.
        assert!(matches!(
            store.delete_segment("acme", "general").await,
            Err(StoreError::Conflict(_))
        ));
        let (_, messages) = store
            .get_conversation_page("acme", &conversation, 0, 10)
            .await
            .unwrap()
            .unwrap();
        let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["hi", "hello"]);
        // Another tenant does not see acme's messages.
        assert!(
            store
                .get_conversation_page("bolt", &conversation, 0, 10)
                .await
                .unwrap()
                .is_none()
        );
        // Writes go on from where the old file was.
        let Recorded::Stored(c) = store.record_exchange("acme", exchange("s1")).await.unwrap()
        else {
            panic!("not stored")
        };
        assert_eq!((c.id.as_str(), c.message_count), (conversation.as_str(), 4));
    });
    store.close(Duration::from_secs(5));

    let found = check::check(old_dir.path(), false, &mut |_| {}).unwrap();
    assert_eq!(
        found.problems,
        ["table messages, key (\"\", \"conv_gone\", 0): no such conversation"]
    );
    // No typed table is left: every table opens as bytes -> bytes.
    let db = Database::open(old_dir.path().join(DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    for name in &names {
        let raw = txn.open_table(engine::raw_definition(name)).unwrap();
        let populated = [
            "meta",
            "corpus",
            "segment_usage",
            "conversations",
            "messages",
        ];
        if populated.contains(&name.as_str()) {
            assert!(raw.iter().unwrap().next().is_some(), "{name} is empty");
        }
        assert!(tables::ALL.iter().any(|(t, _)| t == name), "{name}");
    }
    assert!(names.iter().any(|n| n == "messages"));
}
