//! Everything that touches redb. Handlers see domain records and `Store` methods only; redb
//! types, transactions and encodings stay in this module.
//!
//! The methods are synchronous (the CLI calls them directly); request handlers reach them
//! through [`Store::blocking`], which runs them on actix's blocking pool. Every write commits
//! with redb's default `Immediate` durability before the method returns, so an acknowledged
//! write survives a crash.

pub mod conversations;
pub mod corpus;
mod credentials;
pub mod group_commit;
pub mod segments;
pub mod tables;
pub mod tenants;
pub mod tokens;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Database, ReadableTable};

use credentials::Credentials;
pub use credentials::{Credential, CredentialKind};
use tables::{META, SCHEMA_VERSION};

use crate::search;

pub const DB_FILE: &str = "animam.redb";

#[derive(Debug)]
pub enum StoreError {
    /// Another process (normally `animam serve`) holds the database file.
    Locked(PathBuf),
    /// The file was written by a newer animam with a schema this build does not know.
    NewerSchema(u32),
    Conflict(String),
    NotFound,
    Db(String),
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked(path) => write!(
                f,
                "the database {} is in use by another animam process (a running `animam serve`?); stop it first",
                path.display()
            ),
            StoreError::NewerSchema(v) => write!(
                f,
                "the database has schema version {v}, newer than this animam supports ({SCHEMA_VERSION}); upgrade animam"
            ),
            StoreError::Conflict(m) => write!(f, "conflict: {m}"),
            StoreError::NotFound => write!(f, "not found"),
            StoreError::Db(m) => write!(f, "database error: {m}"),
            StoreError::Corrupt(m) => write!(f, "corrupt record: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(err: $t) -> Self {
                StoreError::Db(err.to_string())
            }
        }
    )*};
}
db_error_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The handle shared by every worker; cloning is cheap.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    credentials: Credentials,
    index: search::Index,
    /// Held from the start of a corpus write transaction until the in-memory index reflects
    /// it, so the index applies commits in commit order.
    corpus_writes: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/animam.redb`, checks the schema version and
    /// loads the in-memory credential table and search index.
    pub fn open(data_dir: &Path) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Db(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(path.clone()),
            other => StoreError::Db(format!("cannot open {}: {other}", path.display())),
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                credentials: Credentials::default(),
                index: search::Index::default(),
                corpus_writes: Mutex::new(()),
            }),
        };
        store.init_schema()?;
        store.ensure_default_segments()?;
        store.load_credentials()?;
        store.load_index()?;
        Ok(store)
    }

    /// Runs store work on the blocking thread pool so request handlers never block a worker.
    pub async fn blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
    {
        let store = self.clone();
        actix_web::web::block(move || work(&store))
            .await
            .map_err(|e| E::from(StoreError::Db(format!("blocking pool: {e}"))))?
    }

    fn db(&self) -> &Database {
        &self.inner.db
    }

    pub fn index(&self) -> &search::Index {
        &self.inner.index
    }

    fn corpus_write_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .corpus_writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn init_schema(&self) -> StoreResult<()> {
        let txn = self.db().begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let stored = meta
                .get("schema_version")?
                .map(|v| read_u32(v.value()))
                .transpose()?;
            match stored {
                Some(v) if v > SCHEMA_VERSION => return Err(StoreError::NewerSchema(v)),
                Some(_) => {}
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
            }
            // Create every table so read transactions never meet a missing one.
            txn.open_table(tables::TENANTS)?;
            txn.open_table(tables::TOKENS)?;
            txn.open_table(tables::CORPUS)?;
            txn.open_table(tables::CORPUS_TERMS)?;
            txn.open_table(tables::SEGMENTS)?;
            txn.open_table(tables::CONVERSATIONS)?;
            txn.open_table(tables::CONVERSATION_SESSIONS)?;
            txn.open_table(tables::CONVERSATIONS_BY_START)?;
            txn.open_table(tables::MESSAGES)?;
        }
        txn.commit()?;
        Ok(())
    }
}

fn read_u32(bytes: &[u8]) -> StoreResult<u32> {
    bytes
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::Corrupt("bad u32 in meta".into()))
}

/// Iterates the rows of one tenant in a `(tenant, id)`-keyed table.
fn tenant_rows<'a, T>(
    table: &'a T,
    tenant: &'a str,
) -> StoreResult<impl Iterator<Item = StoreResult<(String, Vec<u8>)>> + 'a>
where
    T: ReadableTable<(&'static str, &'static str), &'static [u8]>,
{
    let range = table.range((tenant, "")..)?;
    Ok(range
        .map(move |row| -> StoreResult<Option<(String, Vec<u8>)>> {
            let (key, value) = row?;
            let (t, id) = key.value();
            Ok((t == tenant).then(|| (id.to_string(), value.value().to_vec())))
        })
        .take_while(|row| !matches!(row, Ok(None)))
        .filter_map(|row| row.transpose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_recorded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let txn = store.db().begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                let stored = read_u32(meta.get("schema_version").unwrap().unwrap().value());
                assert_eq!(stored.unwrap(), SCHEMA_VERSION);
                meta.insert("schema_version", 99u32.to_le_bytes().as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        match Store::open(dir.path()) {
            Err(StoreError::NewerSchema(99)) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a newer schema must be refused"),
        }
    }

    #[test]
    fn tenants_without_a_default_segment_get_one_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.create_tenant("acme", "Acme").unwrap();
            // As a tenant created before segments existed would be.
            let txn = store.db().begin_write().unwrap();
            txn.delete_table(tables::SEGMENTS).unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let default = store.default_segment("acme").unwrap().unwrap();
        assert_eq!(default.slug, segments::DEFAULT_SEGMENT_SLUG);
        assert_eq!(store.list_segments("acme").unwrap().len(), 1);
    }

    #[test]
    fn a_held_database_is_reported_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("stop it first"), "{err}");
    }
}
