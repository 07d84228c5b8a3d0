//! `animam migrate --from DIR --to URL`: a redb store copied into an empty PostgreSQL
//! database, table by table, as the encoded rows both engines share (`tables::ALL`; the key
//! bytes as they are, the tenant column decoded from the key of tenant tables). And back:
//! `--from URL --to DIR` writes a new redb store from a PostgreSQL database.
//!
//! One read snapshot of the source and one write transaction on the target: a copy that fails
//! leaves the target as it was. At the end each table's row count is read back from the target
//! and compared with the source's.

use std::path::Path;

use futures_util::TryStreamExt;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};

use super::migrate;
use super::pool::{PgError, PgPool};
use crate::store::Store;
use crate::store::engine::{Scope, keys, raw_definition};
use crate::store::tables::ALL;

/// Rows sent per INSERT.
const BATCH: usize = 1000;

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: usize,
    pub rows: u64,
    /// The schema version of the target after the copy.
    pub schema_version: i32,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn pg(e: impl Into<PgError>) -> String {
    e.into().to_string()
}

/// Copies every table of `store` into the database of `pool` (migrated first, and refused
/// unless every store table there is empty). `progress(table, rows done, rows in table)` is
/// called as the copy goes.
pub fn redb_to_postgres(
    store: &Store,
    pool: &PgPool,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<CopyReport, String> {
    if store.shared.pg.is_some() {
        return Err("the source must be a redb store, not the PostgreSQL backend".to_string());
    }
    let migrated = migrate::migrate_pool(pool).map_err(pg)?;
    let db = store.shared.db().map_err(text)?;
    let snapshot = db.begin_read().map_err(text)?;
    // As the backup does: a table outside the list would be left behind silently.
    for table in snapshot.list_tables().map_err(text)? {
        if !ALL.iter().any(|(name, _)| *name == table.name()) {
            return Err(format!(
                "table {} is not in the list of tables (src/store/tables.rs); nothing copied",
                table.name()
            ));
        }
    }
    pool.block_on(async {
        let mut client = pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        for (name, _) in ALL {
            let used: bool = tx
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {name})"), &[])
                .await
                .map_err(pg)?
                .get(0);
            if used {
                return Err(format!(
                    "the target database is not empty (table {name} has rows): copy into a \
                     new, empty database"
                ));
            }
        }
        let mut expected = Vec::with_capacity(ALL.len());
        for (name, scope) in ALL {
            let table = match snapshot.open_table(raw_definition(name)) {
                Ok(table) => table,
                // Never written to in this store: nothing to copy.
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    expected.push((*name, 0));
                    progress(name, 0, 0);
                    continue;
                }
                Err(e) => return Err(format!("{name}: {e}")),
            };
            let total = table.len().map_err(text)?;
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO {name} (tenant, k, v) \
                     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])"
                ))
                .await
                .map_err(pg)?;
            let mut tenants: Vec<String> = Vec::with_capacity(BATCH);
            let mut ks: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
            let mut vs: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
            let mut done = 0u64;
            progress(name, 0, total);
            let mut rows = table.iter().map_err(text)?;
            loop {
                let row = rows.next().transpose().map_err(text)?;
                if let Some((k, v)) = &row {
                    let key = k.value();
                    tenants.push(match scope {
                        Scope::Tenant => keys::leading_str(key).ok_or_else(|| {
                            format!("{name}: a key that does not start with a tenant: {key:02x?}")
                        })?,
                        Scope::Global => String::new(),
                    });
                    ks.push(key.to_vec());
                    vs.push(v.value().to_vec());
                }
                if ks.len() == BATCH || (row.is_none() && !ks.is_empty()) {
                    tx.execute(&insert, &[&tenants, &ks, &vs])
                        .await
                        .map_err(|e| format!("{name}: {}", pg(e)))?;
                    done += ks.len() as u64;
                    tenants.clear();
                    ks.clear();
                    vs.clear();
                    progress(name, done, total);
                }
                if row.is_none() {
                    break;
                }
            }
            expected.push((*name, done));
        }
        tx.commit().await.map_err(pg)?;

        // The verification count: what PostgreSQL now holds, table by table.
        let mut rows = 0;
        for (name, want) in &expected {
            let got: i64 = client
                .query_one(&format!("SELECT count(*) FROM {name}"), &[])
                .await
                .map_err(pg)?
                .get(0);
            if got as u64 != *want {
                return Err(format!(
                    "verification failed: {name} has {got} rows in PostgreSQL, {want} in the \
                     redb store"
                ));
            }
            rows += want;
        }
        Ok(CopyReport {
            tables: expected.len(),
            rows,
            schema_version: migrated.to,
        })
    })
}

/// Writes a new redb store at `dir/animam.redb` (which must not exist) from the database of
/// `pool`, whose schema must be this binary's. The file is written as `animam.redb.partial`
/// and renamed once complete and verified.
pub fn postgres_to_redb(
    pool: &PgPool,
    dir: &Path,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<CopyReport, String> {
    let target = dir.join("animam.redb");
    if target.exists() {
        return Err(format!(
            "{} already exists: copy into a new data directory",
            target.display()
        ));
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let partial = dir.join("animam.redb.partial");
    let _ = std::fs::remove_file(&partial);
    let result = write_redb(pool, &partial, progress);
    match result {
        Ok(report) => {
            std::fs::rename(&partial, &target)
                .map_err(|e| format!("cannot rename to {}: {e}", target.display()))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Writes every table of the database of `pool` into a new redb file at `path` (created here,
/// owner-only; it must not exist), from one snapshot, and verifies the row counts. The
/// caller removes the file if this fails.
pub(crate) fn write_redb(
    pool: &PgPool,
    path: &Path,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<CopyReport, String> {
    {
        // Owner-only before any row is written: it will hold what the database holds.
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let db = redb::Database::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let write = db.begin_write().map_err(text)?;
    let expected = pool.block_on(async {
        let mut client = pool.get().await.map_err(pg)?;
        migrate::ensure_current(&client).await.map_err(pg)?;
        // One snapshot of every table, even while replicas write.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let mut expected = Vec::with_capacity(ALL.len());
        for (name, _) in ALL {
            let total: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {name}"), &[])
                .await
                .map_err(pg)?
                .get(0);
            let total = total as u64;
            if total > 0 {
                progress(name, 0, total);
            }
            let mut table = write.open_table(raw_definition(name)).map_err(text)?;
            let rows = tx
                .query_raw(
                    &format!("SELECT k, v FROM {name}"),
                    std::iter::empty::<i32>(),
                )
                .await
                .map_err(pg)?;
            let mut rows = std::pin::pin!(rows);
            let mut done = 0u64;
            while let Some(row) = rows.try_next().await.map_err(pg)? {
                let k: &[u8] = row.get(0);
                let v: &[u8] = row.get(1);
                table.insert(k, v).map_err(text)?;
                done += 1;
                if done.is_multiple_of(BATCH as u64) {
                    progress(name, done, total);
                }
            }
            // The last report, unless the loop just made it.
            if done == 0 || !done.is_multiple_of(BATCH as u64) {
                progress(name, done, total);
            }
            expected.push((*name, done));
        }
        tx.commit().await.map_err(pg)?;
        Ok::<_, String>(expected)
    })?;
    write.commit().map_err(text)?;

    // The verification count: what the new file holds, table by table.
    let read = db.begin_read().map_err(text)?;
    let mut rows = 0;
    for (name, want) in &expected {
        let got = match read.open_table(raw_definition(name)) {
            Ok(table) => table.len().map_err(text)?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(format!("{name}: {e}")),
        };
        if got != *want {
            return Err(format!(
                "verification failed: {name} has {got} rows in the redb file, {want} in \
                 PostgreSQL"
            ));
        }
        rows += want;
    }
    Ok(CopyReport {
        tables: expected.len(),
        rows,
        schema_version: migrate::latest_version(),
    })
}
