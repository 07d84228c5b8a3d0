//! The PostgreSQL schema: versioned SQL migrations embedded in the binary, applied at start
//! (and by `animam migrate`).
//!
//! All of it runs in one transaction that first takes a transaction-scoped advisory lock, so
//! replicas started together apply each migration once: the first takes the lock and
//! migrates, the others wait for its commit, then find the schema current and do nothing. A
//! database whose schema is newer than this binary knows (a newer replica migrated it) is
//! refused: this binary would misread it.

use tokio_postgres::Client;

use super::pool::{PgError, PgPool};

/// One migration: its version (1, 2, ... without gaps), a short name, and its SQL.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// The schema version this binary expects.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Key of the advisory lock that serializes migrators (any constant shared by all replicas:
/// "animam" in ASCII).
const LOCK_KEY: i64 = 0x616e_696d_616d;

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The version found (0: an empty database).
    pub from: i32,
    /// The version now.
    pub to: i32,
}

impl Report {
    pub fn applied(&self) -> bool {
        self.to != self.from
    }
}

/// Brings the database to `latest_version()`, or fails leaving it as it was.
pub async fn migrate(client: &mut Client) -> Result<Report, PgError> {
    migrate_with(client, MIGRATIONS).await
}

/// `migrate` through a pool, from a plain thread.
pub fn migrate_pool(pool: &PgPool) -> Result<Report, PgError> {
    pool.block_on(async {
        let mut client = pool.get().await?;
        // deadpool's wrapper derefs to the tokio-postgres client.
        migrate(&mut client).await
    })
}

/// The version the database is at (0 when it has none), without changing anything.
pub async fn current_version(client: &Client) -> Result<i32, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0)::int FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Checks at start-up that the database's schema is exactly this binary's.
pub async fn ensure_current(client: &Client) -> Result<(), PgError> {
    let found = current_version(client).await?;
    let known = latest_version();
    if found == known {
        return Ok(());
    }
    Err(if found > known {
        newer(found, known)
    } else {
        PgError::Schema(format!(
            "the database's schema is at version {found}, this binary needs {known}: run \
             `animam migrate`"
        ))
    })
}

fn newer(found: i32, known: i32) -> PgError {
    PgError::Schema(format!(
        "the database's schema is at version {found}, newer than this binary knows \
         ({known}): a newer animam migrated it; run that version (or newer) instead"
    ))
}

/// The Citus calls that distribute the schema: the tenant tables by `tenant` (each tenant's
/// rows together on one worker, colocated across tables), the global ones (and the feed and
/// the migrations' own table) copied to every worker. The README shows exactly this text.
pub fn citus_sql() -> String {
    let mut sql = String::new();
    for (name, scope) in crate::store::tables::ALL {
        if *scope == crate::store::engine::Scope::Tenant {
            sql.push_str(&format!(
                "SELECT create_distributed_table('{name}', 'tenant');\n"
            ));
        }
    }
    let global = crate::store::tables::ALL
        .iter()
        .filter(|(_, scope)| *scope == crate::store::engine::Scope::Global)
        .map(|(name, _)| *name);
    for name in global.chain(["changes", "change_seq", "schema_migrations"]) {
        sql.push_str(&format!("SELECT create_reference_table('{name}');\n"));
    }
    sql
}

async fn migrate_with(client: &mut Client, migrations: &[Migration]) -> Result<Report, PgError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let tx = client.transaction().await?;
    // Held until commit or rollback; a second migrator waits here.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    // Quiet: the "already exists, skipping" notice of every run after the first would be
    // logged by tokio-postgres as if it were news.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let from: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::int FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if from > known {
        return Err(newer(from, known));
    }
    for migration in migrations.iter().filter(|m| m.version > from) {
        tx.batch_execute(migration.sql).await.map_err(|e| {
            PgError::Schema(format!(
                "migration {} ({}) failed: {}",
                migration.version,
                migration.name,
                PgError::from(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&migration.version],
        )
        .await?;
        log::info!(
            "postgres: applied migration {} ({})",
            migration.version,
            migration.name
        );
    }
    tx.commit().await?;
    Ok(Report { from, to: known })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::store::pg::{PgSettings, test_cluster};
    use crate::store::tables;

    fn pool(url: &str) -> PgPool {
        PgPool::new(PgSettings::new(url, &StoreConfig::default())).unwrap()
    }

    /// The table names the store declares: `tables::ALL`, the one list both engines follow.
    fn store_tables() -> Vec<String> {
        tables::ALL
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn the_readme_has_the_citus_calls_for_every_table() {
        let readme = include_str!("../../../README.md");
        let sql = citus_sql();
        assert!(
            readme.contains(&sql),
            "README's Citus block must be exactly:\n{sql}"
        );
        for (name, _) in tables::ALL {
            assert!(sql.contains(&format!("'{name}'")), "{name}");
        }
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
    }

    #[test]
    fn fresh_database_gets_every_store_table_then_a_second_run_is_a_no_op() {
        let db = test_cluster::database();
        let pool = pool(db.url());
        let report = migrate_pool(&pool).unwrap();
        assert_eq!(
            report,
            Report {
                from: 0,
                to: latest_version()
            }
        );
        let tables: Vec<String> = pool.block_on(async {
            let client = pool.get().await.unwrap();
            ensure_current(&client).await.unwrap();
            client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public'",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        });
        let expected = store_tables();
        assert!(expected.len() > 20, "{expected:?}");
        for table in expected.iter().map(String::as_str).chain([
            "changes",
            "change_seq",
            "schema_migrations",
        ]) {
            assert!(tables.iter().any(|t| t == table), "{table} missing");
        }
        // Every KV table has the (tenant, k) primary key.
        let pk_columns: i64 = pool.block_on(async {
            let client = pool.get().await.unwrap();
            client
                .query_one(
                    "SELECT count(*) FROM information_schema.key_column_usage \
                     WHERE table_schema = 'public' AND table_name = 'corpus' \
                     AND column_name IN ('tenant', 'k')",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        });
        assert_eq!(pk_columns, 2);

        let again = migrate_pool(&pool).unwrap();
        assert_eq!(again.from, latest_version());
        assert!(!again.applied());
        let rows: i64 = pool.block_on(async {
            let client = pool.get().await.unwrap();
            client
                .query_one("SELECT count(*) FROM schema_migrations", &[])
                .await
                .unwrap()
                .get(0)
        });
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let db = test_cluster::database();
        let pool = pool(db.url());
        migrate_pool(&pool).unwrap();
        let future = latest_version() + 1;
        pool.block_on(async {
            let client = pool.get().await.unwrap();
            client
                .execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&future],
                )
                .await
                .unwrap();
        });
        let err = migrate_pool(&pool).unwrap_err();
        assert!(matches!(err, PgError::Schema(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("version {future}")) && message.contains("newer"),
            "{message}"
        );
        let err = pool.block_on(async {
            let client = pool.get().await.unwrap();
            ensure_current(&client).await.unwrap_err()
        });
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn concurrent_migrators_serialize() {
        let db = test_cluster::database();
        // A slow first migration makes the overlap certain: both start before either ends.
        const SLOW: &[Migration] = &[Migration {
            version: 1,
            name: "slow",
            sql: "SELECT pg_sleep(0.5); CREATE TABLE only_once (x int);",
        }];
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let url = db.url().to_string();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let pool = pool(&url);
                    pool.block_on(async {
                        let mut client = pool.get().await.unwrap();
                        barrier.wait();
                        migrate_with(&mut client, SLOW).await
                    })
                })
            })
            .collect();
        let reports: Vec<Report> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        // Exactly one applied it; the others waited for its commit and found it done.
        assert_eq!(
            reports.iter().filter(|r| r.applied()).count(),
            1,
            "{reports:?}"
        );
        assert!(reports.iter().all(|r| r.to == 1));
    }
}
