//! Online backup: one read transaction (a consistent snapshot of the last commit, while
//! writes go on) copied table by table into a fresh redb file, which is a complete database a
//! server can open in place of `animam.redb`.

use std::path::Path;

use redb::{
    Database, Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    Value, WriteTransaction,
};

use super::check::QUARANTINE;
use super::tables::*;
use super::{Store, StoreError, StoreResult};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// Copies one table; a table the source never created is skipped. Returns the rows copied.
fn copy<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    definition: TableDefinition<K, V>,
) -> StoreResult<Option<u64>> {
    let source = match from.open_table(definition) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_table(definition)?;
    let mut rows = 0;
    for item in source.iter()? {
        let (key, value) = item?;
        target.insert(key.value(), value.value())?;
        rows += 1;
    }
    Ok(Some(rows))
}

impl Store {
    /// Writes a consistent copy of the database to `out`, which must not exist. The copy is
    /// made under `<out>.partial` and renamed when complete, so `out` is never half-written.
    /// Blocking: run it off the async workers.
    pub fn backup(&self, out: &Path) -> StoreResult<BackupReport> {
        if out.exists() {
            return Err(StoreError::Invalid {
                field: "out".into(),
                rule: format!("{} already exists; choose a new file", out.display()),
            });
        }
        let mut partial = out.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let result = self.backup_to(&partial);
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, out).map_err(|e| {
            StoreError::internal_msg(format!(
                "cannot rename the backup to {}: {e}",
                out.display()
            ))
        })?;
        Ok(report)
    }

    fn backup_to(&self, path: &Path) -> StoreResult<BackupReport> {
        let io = |e: std::io::Error| {
            StoreError::internal_msg(format!("cannot write {}: {e}", path.display()))
        };
        // Created owner-only before any row is written: it holds what the database holds.
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
        }
        let snapshot = self.shared.db()?.begin_read()?;
        let copy_db = Database::create(path).map_err(|e| {
            StoreError::internal_msg(format!("cannot create {}: {e}", path.display()))
        })?;
        let tx = copy_db.begin_write()?;
        let mut copied: Vec<&str> = Vec::new();
        let mut rows = 0;
        macro_rules! tables {
            ($($table:expr),* $(,)?) => {
                $(
                    if let Some(n) = copy(&snapshot, &tx, $table)? {
                        copied.push($table.name());
                        rows += n;
                    }
                )*
            };
        }
        // Every table of tables.rs. A table missing here is caught below, not left out.
        tables!(
            META,
            TENANTS,
            TOKENS,
            CORPUS,
            CORPUS_TERMS,
            SEGMENT_USAGE,
            SEGMENTS,
            CONVERSATIONS,
            CONVERSATION_SESSIONS,
            CONVERSATIONS_BY_START,
            MESSAGES,
            SESSIONS,
            STATS_DAILY,
            VISITORS,
            TOOLS,
            VISITOR_KEYS,
            VISITOR_MEMORY,
            VISITOR_CONVERSATIONS,
            MCP_SETTINGS,
            QUARANTINE,
            AUDIT,
            AUDIT_COUNT,
            SUBMISSIONS,
            WEBHOOK_OUTBOX,
            WEBHOOK_SECRETS,
        );
        for table in snapshot.list_tables()? {
            if !copied.contains(&table.name()) {
                return Err(StoreError::internal_msg(format!(
                    "table {} is not in the backup's list (src/store/backup.rs); no backup written",
                    table.name()
                )));
            }
        }
        tx.commit()?;
        drop(copy_db);
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        Ok(BackupReport {
            tables: copied.len(),
            rows,
            bytes,
        })
    }
}
