//! Online backup: one read transaction (a consistent snapshot of the last commit, while
//! writes go on) copied table by table into a fresh redb file, which is a complete database a
//! server can open in place of `animam.redb`. On the PostgreSQL backend the same file is
//! written from one snapshot of the database (`pg::copy`), while replicas serve.

use std::path::Path;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableHandle, WriteTransaction,
};

use super::engine::raw_definition;
use super::tables::ALL;
use super::{Store, StoreError, StoreResult};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Written from the PostgreSQL database rather than from this process's redb file.
    pub from_postgres: bool,
}

/// Copies one table, bytes as they are; a table the source never created is skipped.
/// Returns the rows copied.
fn copy(from: &ReadTransaction, to: &WriteTransaction, name: &str) -> StoreResult<Option<u64>> {
    let definition = raw_definition(name);
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
        if let Some(pool) = &self.shared.pg {
            // The same kind of file from PostgreSQL: one REPEATABLE READ snapshot of every
            // table (replicas go on writing), written as a redb store, which is what
            // `animam migrate --from DIR` copies back into a database.
            let report = super::pg::copy::write_redb(pool, path, &mut |_, _, _| {})
                .map_err(StoreError::internal_msg)?;
            return Ok(BackupReport {
                tables: report.tables,
                rows: report.rows,
                bytes: std::fs::metadata(path).map_err(io)?.len(),
                from_postgres: true,
            });
        }
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
        // Every table of tables.rs. A table missing there is caught below, not left out.
        for (name, _) in ALL {
            if let Some(n) = copy(&snapshot, &tx, name)? {
                copied.push(name);
                rows += n;
            }
        }
        for table in snapshot.list_tables()? {
            if !copied.contains(&table.name()) {
                return Err(StoreError::internal_msg(format!(
                    "table {} is not in the list of tables (src/store/tables.rs); no backup written",
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
            from_postgres: false,
        })
    }
}
