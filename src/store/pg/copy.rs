//! `animam migrate --from DIR --to URL`: a redb store copied into an empty PostgreSQL
//! database, table by table, as the encoded rows both engines share (`tables::ALL`; the key
//! bytes as they are, the tenant column decoded from the key of tenant tables).
//!
//! One redb read transaction (a consistent snapshot) and one PostgreSQL transaction: a copy
//! that fails leaves the target as empty as it was. At the end each table's row count is read
//! back from PostgreSQL and compared with the source's.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

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
    let migrated = migrate::migrate_pool(pool).map_err(pg)?;
    let db = store.shared.db().map_err(text)?;
    let snapshot = db.begin_read().map_err(text)?;
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
