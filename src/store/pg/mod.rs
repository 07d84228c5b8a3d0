//! PostgreSQL infrastructure for the shared-database backend (issue 12): the connection pool
//! and its small runtime, the embedded schema migrations, and the change feed that keeps
//! replicas in step. The storage engine itself builds on these.

pub mod copy;
pub mod feed;
pub mod migrate;
pub mod pool;
pub mod presence;

pub use pool::{PgError, PgPool, PgSettings};

/// Whether `[store] backend = "postgres"` may be chosen at run time: true since the replicas
/// keep their in-memory state (search index, credentials) in step through the change feed
/// (`store::replica`). While false, the server refused to start on half a backend.
pub const BACKEND_AVAILABLE: bool = true;

/// The start-up error for `backend = "postgres"` while `BACKEND_AVAILABLE` is false.
pub const NOT_AVAILABLE: &str = "the postgres backend is not available in this build yet \
     (store.backend / ANIMAM_STORE_BACKEND): use backend = \"redb\"; `animam migrate` can \
     already prepare a PostgreSQL database";

/// What a replica does at start with `backend = "postgres"`: build the pool, connect (so a
/// wrong URL, password or database stops start-up with a clear message), and bring the schema
/// to this binary's version (refusing a newer one).
pub fn open(settings: PgSettings) -> Result<(PgPool, migrate::Report), PgError> {
    let pool = PgPool::new(settings)?;
    let version = pool.check()?;
    let report = migrate::migrate_pool(&pool)?;
    log::info!(
        "postgres: {} (PostgreSQL {version}), schema version {}",
        pool.settings().redacted_url(),
        report.to
    );
    Ok((pool, report))
}

#[cfg(test)]
#[path = "../../../tests/support/postgres.rs"]
pub(crate) mod test_cluster;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    #[test]
    fn open_connects_and_migrates_once() {
        let db = test_cluster::database();
        let settings = PgSettings::new(db.url(), &StoreConfig::default());
        let (_, first) = open(settings.clone()).unwrap();
        assert!(first.applied());
        let (pool, second) = open(settings).unwrap();
        assert!(!second.applied());
        assert_eq!(second.to, migrate::latest_version());
        pool.block_on(async {
            let client = pool.get().await.unwrap();
            migrate::ensure_current(&client).await.unwrap();
        });
        // A database that does not exist: a clear error, not a hang.
        let missing = test_cluster::with_database(db.url(), "no_such_database");
        let err = open(PgSettings::new(&missing, &StoreConfig::default())).unwrap_err();
        assert!(err.to_string().contains("no_such_database"), "{err}");
    }
}
