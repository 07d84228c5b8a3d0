//! `animam check`: reads the whole store (the redb file, or the PostgreSQL database through
//! the engine seam), record by record, and verifies that every record
//! decodes and that the tables derived from others agree with them:
//!
//! - CORPUS and CORPUS_TERMS hold the same keys, every term row decodes, and SEGMENT_USAGE
//!   counts exactly the entries naming each segment;
//! - every conversation has its CONVERSATION_SESSIONS and CONVERSATIONS_BY_START rows and
//!   every such row points at a conversation of that session and start; every message
//!   belongs to a conversation;
//! - every form submission decodes and every pending webhook delivery has its submission.
//!
//! With `quarantine`, records that do not decode are moved (key and bytes) to the QUARANTINE
//! table in one transaction, with the rows derived from them, so the server starts and serves
//! everything else; nothing is thrown away.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redb::{Database, ReadableDatabase};
use serde::de::DeserializeOwned;

use super::engine::{Engine, ReadTxn, Table, TableDef, WriteTxn};
use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, CONVERSATIONS_BY_START, CORPUS, CORPUS_TERMS, MESSAGES,
    META, SEGMENT_USAGE, SEGMENTS, SESSIONS, SUBMISSIONS, TENANTS, TOKENS, WEBHOOK_OUTBOX,
};
use super::{DB_FILE, OpenError, StoreResult};
use crate::domain::{
    Conversation, CorpusEntry, Message, Segment, Session, Submission, Tenant, TokenRecord,
};

/// "table key" -> the damaged record's bytes.
pub use super::tables::QUARANTINE;

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Records read, all tables together.
    pub records: u64,
    /// One sentence per problem, naming the table and key.
    pub problems: Vec<String>,
    /// Records moved to QUARANTINE by this run.
    pub quarantined: usize,
}

/// A damaged record: where it is.
enum Damaged {
    Str(&'static str, String),
    Pair(&'static str, String, String),
    Message(String, String, u32),
}

/// Checks `<data_dir>/animam.redb`; `progress` receives a line per table.
pub fn check(
    data_dir: &Path,
    quarantine: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<CheckReport, OpenError> {
    let path = data_dir.join(DB_FILE);
    if !path.is_file() {
        return Err(OpenError::Other(format!(
            "no database at {}",
            path.display()
        )));
    }
    let db = Database::create(&path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Locked(path.clone()),
        other => OpenError::Other(format!("cannot open {}: {other}", path.display())),
    })?;
    let mut report = CheckReport::default();
    let txn = ReadTxn::redb(db.begin_read().map_err(super::StoreError::from)?);
    let (damaged, usage) = scan(&txn, &mut report, progress)?;
    drop(txn);
    if quarantine && !damaged.is_empty() {
        report.quarantined = move_to_quarantine(&db, &damaged, &usage)?;
        progress(&format!(
            "quarantine: moved {} damaged records to the quarantine table",
            report.quarantined
        ));
    }
    Ok(report)
}

/// The same verification on a database this process holds open (the server's, through
/// the admin socket): one read transaction, so it sees a consistent state while serving.
/// Quarantining needs the server stopped.
pub fn check_open(db: &Database, progress: &mut dyn FnMut(&str)) -> StoreResult<CheckReport> {
    let mut report = CheckReport::default();
    scan(&ReadTxn::redb(db.begin_read()?), &mut report, progress)?;
    Ok(report)
}

/// The same verification through the engine seam, for the PostgreSQL backend: one
/// REPEATABLE READ, READ ONLY transaction, so replicas may go on writing meanwhile. The
/// tables and rules are the redb file's (both engines hold the same encoded rows).
pub fn check_engine(engine: &Engine, progress: &mut dyn FnMut(&str)) -> StoreResult<CheckReport> {
    let mut report = CheckReport::default();
    scan(&engine.begin_read()?, &mut report, progress)?;
    Ok(report)
}

fn json_ok<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

fn scan(
    txn: &ReadTxn,
    report: &mut CheckReport,
    progress: &mut dyn FnMut(&str),
) -> StoreResult<(Vec<Damaged>, Usage)> {
    let mut damaged = Vec::new();
    let problem = |report: &mut CheckReport, text: String| report.problems.push(text);

    // Single-key JSON tables.
    macro_rules! simple {
        ($table:expr, $name:literal, $ty:ty) => {{
            let before = report.problems.len();
            let mut n = 0u64;
            if let Some(table) = open(txn, $table)? {
                for row in table.iter()? {
                    let (key, value) = row?;
                    n += 1;
                    if let Err(e) = json_ok::<$ty>(value.value()) {
                        let key = key.value().to_string();
                        problem(
                            report,
                            format!("table {}, key {key:?}: does not decode: {e}", $name),
                        );
                        damaged.push(Damaged::Str($name, key));
                    }
                }
            }
            report.records += n;
            progress(&format!(
                "{}: {n} records, {} problems",
                $name,
                report.problems.len() - before
            ));
        }};
    }
    simple!(TENANTS, "tenants", Tenant);
    simple!(TOKENS, "tokens", TokenRecord);
    simple!(SESSIONS, "sessions", Session);
    if let Some(meta) = open(txn, META)? {
        report.records += meta.len()?;
    }

    // (tenant, id) JSON tables.
    macro_rules! paired {
        ($table:expr, $name:literal, $ty:ty, $keep:expr) => {{
            let before = report.problems.len();
            let mut n = 0u64;
            let mut good: BTreeMap<(String, String), $ty> = BTreeMap::new();
            if let Some(table) = open(txn, $table)? {
                for row in table.iter()? {
                    let (key, value) = row?;
                    n += 1;
                    let (tenant, id) = key.value();
                    match json_ok::<$ty>(value.value()) {
                        Ok(record) => {
                            if $keep {
                                good.insert((tenant.to_string(), id.to_string()), record);
                            }
                        }
                        Err(e) => {
                            problem(
                                report,
                                format!(
                                    "table {}, key ({tenant:?}, {id:?}): does not decode: {e}",
                                    $name
                                ),
                            );
                            damaged.push(Damaged::Pair($name, tenant.to_string(), id.to_string()));
                        }
                    }
                }
            }
            report.records += n;
            progress(&format!(
                "{}: {n} records, {} problems",
                $name,
                report.problems.len() - before
            ));
            good
        }};
    }
    let corpus = paired!(CORPUS, "corpus", CorpusEntry, true);
    let _segments = paired!(SEGMENTS, "segments", Segment, false);
    let conversations = paired!(CONVERSATIONS, "conversations", Conversation, true);
    let submissions = paired!(SUBMISSIONS, "submissions", Submission, true);

    // Pending webhook deliveries: each has its submission (a damaged one is quarantined with
    // its delivery).
    if let Some(outbox) = open(txn, WEBHOOK_OUTBOX)? {
        let damaged_submissions: BTreeSet<(String, String)> = damaged
            .iter()
            .filter_map(|d| match d {
                Damaged::Pair("submissions", t, i) => Some((t.clone(), i.clone())),
                _ => None,
            })
            .collect();
        for row in outbox.iter()? {
            let (key, _) = row?;
            report.records += 1;
            let (due, tenant, id) = key.value();
            let submission = (tenant.to_string(), id.to_string());
            if !submissions.contains_key(&submission) && !damaged_submissions.contains(&submission)
            {
                problem(
                    report,
                    format!(
                        "table webhook_outbox, key ({due}, {tenant:?}, {id:?}): no such submission"
                    ),
                );
            }
        }
    }

    // The corpus's derived tables.
    let before = report.problems.len();
    let mut term_keys = BTreeSet::new();
    let mut n = 0u64;
    if let Some(terms) = open(txn, CORPUS_TERMS)? {
        for row in terms.iter()? {
            let (key, value) = row?;
            n += 1;
            let (tenant, id) = key.value();
            if super::corpus::decode_index_row(id, value.value()).is_none() {
                problem(
                    report,
                    format!("table corpus_terms, key ({tenant:?}, {id:?}): does not decode"),
                );
                damaged.push(Damaged::Pair(
                    "corpus_terms",
                    tenant.to_string(),
                    id.to_string(),
                ));
            }
            term_keys.insert((tenant.to_string(), id.to_string()));
        }
    }
    report.records += n;
    for key in corpus.keys().filter(|k| !term_keys.contains(*k)) {
        problem(
            report,
            format!("table corpus, key {key:?}: no corpus_terms row (not searchable)"),
        );
    }
    let damaged_corpus: BTreeSet<(String, String)> = damaged
        .iter()
        .filter_map(|d| match d {
            Damaged::Pair("corpus", t, i) => Some((t.clone(), i.clone())),
            _ => None,
        })
        .collect();
    for key in term_keys
        .iter()
        .filter(|k| !corpus.contains_key(*k) && !damaged_corpus.contains(*k))
    {
        problem(
            report,
            format!("table corpus_terms, key {key:?}: no corpus entry"),
        );
    }
    let mut usage: Usage = BTreeMap::new();
    for ((tenant, _), entry) in &corpus {
        if let Some(segment) = &entry.segment {
            *usage.entry((tenant.clone(), segment.clone())).or_default() += 1;
        }
    }
    let mut stored_usage = BTreeMap::new();
    if let Some(table) = open(txn, SEGMENT_USAGE)? {
        for row in table.iter()? {
            let (key, value) = row?;
            let (tenant, segment) = key.value();
            report.records += 1;
            stored_usage.insert((tenant.to_string(), segment.to_string()), value.value());
        }
    }
    if damaged_corpus.is_empty() {
        let keys: BTreeSet<_> = usage.keys().chain(stored_usage.keys()).cloned().collect();
        for key in keys {
            let (want, have) = (
                usage.get(&key).copied().unwrap_or(0),
                stored_usage.get(&key).copied().unwrap_or(0),
            );
            if want != have {
                problem(
                    report,
                    format!(
                        "table segment_usage, key {key:?}: counts {have} entries, the corpus has {want}"
                    ),
                );
            }
        }
    }
    progress(&format!(
        "corpus indexes (corpus_terms, segment_usage): {n} term rows, {} problems",
        report.problems.len() - before
    ));

    // The conversations' derived tables.
    let before = report.problems.len();
    let damaged_conversations: BTreeSet<(String, String)> = damaged
        .iter()
        .filter_map(|d| match d {
            Damaged::Pair("conversations", t, i) => Some((t.clone(), i.clone())),
            _ => None,
        })
        .collect();
    let known = |key: &(String, String)| {
        conversations.contains_key(key) || damaged_conversations.contains(key)
    };
    let mut sessions = BTreeSet::new();
    if let Some(table) = open(txn, CONVERSATION_SESSIONS)? {
        for row in table.iter()? {
            let (key, value) = row?;
            report.records += 1;
            let (tenant, session) = key.value();
            let id = (tenant.to_string(), value.value().to_string());
            match conversations.get(&id) {
                Some(c) if c.session_id == session => {}
                Some(_) => problem(
                    report,
                    format!(
                        "table conversation_sessions, key ({tenant:?}, {session:?}): points to {:?} of another session",
                        id.1
                    ),
                ),
                None if known(&id) => {}
                None => problem(
                    report,
                    format!(
                        "table conversation_sessions, key ({tenant:?}, {session:?}): points to missing conversation {:?}",
                        id.1
                    ),
                ),
            }
            sessions.insert(id);
        }
    }
    let mut starts = BTreeSet::new();
    if let Some(table) = open(txn, CONVERSATIONS_BY_START)? {
        for row in table.iter()? {
            let (key, _) = row?;
            report.records += 1;
            let (tenant, started, id) = key.value();
            let id = (tenant.to_string(), id.to_string());
            match conversations.get(&id) {
                Some(c) if c.started_at.micros() == started => {}
                Some(_) => problem(
                    report,
                    format!(
                        "table conversations_by_start, key ({tenant:?}, {started}, {:?}): start differs from the conversation's",
                        id.1
                    ),
                ),
                None if known(&id) => {}
                None => problem(
                    report,
                    format!(
                        "table conversations_by_start, key ({tenant:?}, {started}, {:?}): no such conversation",
                        id.1
                    ),
                ),
            }
            starts.insert(id);
        }
    }
    for key in conversations.keys() {
        if !sessions.contains(key) {
            problem(
                report,
                format!("table conversations, key {key:?}: no conversation_sessions row"),
            );
        }
        if !starts.contains(key) {
            problem(
                report,
                format!(
                    "table conversations, key {key:?}: no conversations_by_start row (not listed)"
                ),
            );
        }
    }
    let mut counts: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut n = 0u64;
    if let Some(table) = open(txn, MESSAGES)? {
        for row in table.iter()? {
            let (key, value) = row?;
            n += 1;
            let (tenant, conversation, seq) = key.value();
            let id = (tenant.to_string(), conversation.to_string());
            if let Err(e) = json_ok::<Message>(value.value()) {
                problem(
                    report,
                    format!(
                        "table messages, key ({tenant:?}, {conversation:?}, {seq}): does not decode: {e}"
                    ),
                );
                damaged.push(Damaged::Message(id.0.clone(), id.1.clone(), seq));
            }
            if !known(&id) {
                problem(
                    report,
                    format!(
                        "table messages, key ({tenant:?}, {conversation:?}, {seq}): no such conversation"
                    ),
                );
            }
            *counts.entry(id).or_default() += 1;
        }
    }
    report.records += n;
    // Conversations some of whose messages were quarantined miss them knowingly.
    let mut quarantined_from = BTreeSet::new();
    if let Some(table) = open(txn, QUARANTINE)? {
        for row in table.iter()? {
            let (key, _) = row?;
            // `messages ("tenant", "conversation", seq)`, or before schema 3
            // `messages ("conversation", seq)`: the conversation is the last quoted part.
            if let Some(rest) = key.value().strip_prefix("messages (")
                && let Some(id) = rest.split('"').skip(1).step_by(2).last()
            {
                quarantined_from.insert(id.to_string());
            }
        }
        progress(&format!("quarantine: {} records kept aside", table.len()?));
    }
    for (key, c) in &conversations {
        let id = &key.1;
        let have = counts.get(key).copied().unwrap_or(0);
        let knowingly_fewer = have < c.message_count && quarantined_from.contains(id);
        if have != c.message_count && !knowingly_fewer {
            problem(
                report,
                format!(
                    "table conversations, key {id:?}: messageCount {} but {have} messages stored",
                    c.message_count
                ),
            );
        }
    }
    progress(&format!(
        "conversation indexes and messages: {n} messages, {} problems",
        report.problems.len() - before
    ));
    Ok((damaged, usage))
}

/// A `(tenant, id)`-keyed table of JSON records.
type PairTable = TableDef<(&'static str, &'static str), &'static [u8]>;

/// (tenant, segment) -> entries naming it, counted from the entries that decode.
type Usage = BTreeMap<(String, String), u64>;

/// A table of the check's snapshot (one never created reads as empty).
fn open<K: super::engine::Key, V: super::engine::Value>(
    txn: &ReadTxn,
    table: TableDef<K, V>,
) -> StoreResult<Option<Table<'_, K, V>>> {
    txn.open_table(table).map(Some)
}

/// Moves every damaged record to QUARANTINE with what derives from it (a corpus entry's term
/// row; a conversation's session and listing rows and its messages), recounts segment usage
/// when corpus entries moved, and leaves no trusted index snapshot (the next start rebuilds).
fn move_to_quarantine(db: &Database, damaged: &[Damaged], usage: &Usage) -> StoreResult<usize> {
    let txn = WriteTxn::redb(db.begin_write()?);
    let mut moved = 0;
    {
        let mut quarantine = txn.open_table(QUARANTINE)?;
        let mut keep = |name: String, bytes: Option<Vec<u8>>| -> StoreResult<()> {
            if let Some(bytes) = bytes {
                quarantine.insert(name.as_str(), bytes.as_slice())?;
                moved += 1;
            }
            Ok(())
        };
        for d in damaged {
            match d {
                Damaged::Str(name, key) => {
                    let table = match *name {
                        "tenants" => TENANTS,
                        "tokens" => TOKENS,
                        _ => SESSIONS,
                    };
                    let bytes = txn
                        .open_table(table)?
                        .remove(key.as_str())?
                        .map(|v| v.value().to_vec());
                    keep(format!("{name} {key:?}"), bytes)?;
                }
                Damaged::Pair(name, tenant, id) => {
                    let tables: &[(&str, PairTable)] = match *name {
                        "corpus" | "corpus_terms" => {
                            &[("corpus", CORPUS), ("corpus_terms", CORPUS_TERMS)]
                        }
                        "segments" => &[("segments", SEGMENTS)],
                        "submissions" => &[("submissions", SUBMISSIONS)],
                        _ => &[("conversations", CONVERSATIONS)],
                    };
                    if *name == "submissions" {
                        // Its delivery would only find the submission missing.
                        let mut outbox = txn.open_table(WEBHOOK_OUTBOX)?;
                        let jobs: Vec<i64> = outbox
                            .iter()?
                            .filter_map(|row| match row {
                                Ok((k, _)) => {
                                    let (due, t, i) = k.value();
                                    (t == tenant && i == id).then_some(Ok(due))
                                }
                                Err(e) => Some(Err(e)),
                            })
                            .collect::<Result<_, _>>()?;
                        for due in jobs {
                            let bytes = outbox
                                .remove((due, tenant.as_str(), id.as_str()))?
                                .map(|v| v.value().to_vec());
                            keep(format!("webhook_outbox ({due}, {tenant:?}, {id:?})"), bytes)?;
                        }
                    }
                    if *name == "conversations" {
                        unlink_conversation(&txn, tenant, id)?;
                        let mut messages = txn.open_table(MESSAGES)?;
                        let (t, c) = (tenant.as_str(), id.as_str());
                        let seqs: Vec<u32> = messages
                            .range((t, c, 0u32)..=(t, c, u32::MAX))?
                            .map(|row| row.map(|(k, _)| k.value().2))
                            .collect::<Result<_, _>>()?;
                        for seq in seqs {
                            let bytes = messages.remove((t, c, seq))?.map(|v| v.value().to_vec());
                            keep(format!("messages ({tenant:?}, {id:?}, {seq})"), bytes)?;
                        }
                    }
                    for (table_name, table) in tables {
                        let bytes = txn
                            .open_table(*table)?
                            .remove((tenant.as_str(), id.as_str()))?
                            .map(|v| v.value().to_vec());
                        keep(format!("{table_name} ({tenant:?}, {id:?})"), bytes)?;
                    }
                }
                Damaged::Message(tenant, conversation, seq) => {
                    let bytes = txn
                        .open_table(MESSAGES)?
                        .remove((tenant.as_str(), conversation.as_str(), *seq))?
                        .map(|v| v.value().to_vec());
                    keep(
                        format!("messages ({tenant:?}, {conversation:?}, {seq})"),
                        bytes,
                    )?;
                }
            }
        }
    }
    if damaged
        .iter()
        .any(|d| matches!(d, Damaged::Pair("corpus" | "corpus_terms", _, _)))
    {
        let mut table = txn.open_table(SEGMENT_USAGE)?;
        table.retain(|_, _| false)?;
        for ((tenant, segment), count) in usage {
            table.insert((tenant.as_str(), segment.as_str()), *count)?;
        }
    }
    super::snapshot::take_marker(&txn)?;
    txn.commit()?;
    Ok(moved)
}

/// Removes the session and listing rows of conversation `id`.
fn unlink_conversation(txn: &WriteTxn, tenant: &str, id: &str) -> StoreResult<()> {
    let mut sessions = txn.open_table(CONVERSATION_SESSIONS)?;
    let stale: Vec<String> = sessions
        .range((tenant, "")..)?
        .map(|row| {
            row.map(|(k, v)| {
                (
                    k.value().0 == tenant,
                    k.value().1.to_string(),
                    v.value() == id,
                )
            })
        })
        .take_while(|row| !matches!(row, Ok((false, _, _))))
        .filter_map(|row| match row {
            Ok((_, session, true)) => Some(Ok(session)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()?;
    for session in stale {
        sessions.remove((tenant, session.as_str()))?;
    }
    let mut starts = txn.open_table(CONVERSATIONS_BY_START)?;
    let stale: Vec<i64> = starts
        .range((tenant, i64::MIN, "")..=(tenant, i64::MAX, "\u{10FFFF}"))?
        .filter_map(|row| match row {
            Ok((k, _)) if k.value().2 == id => Some(Ok(k.value().1)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()?;
    for started in stale {
        starts.remove((tenant, started, id))?;
    }
    Ok(())
}
