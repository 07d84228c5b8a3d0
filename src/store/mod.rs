//! The store: the one place that knows how data is kept. Its methods name what they do
//! (`create_corpus`, `update_segment`, `record_exchange`, ...), take and return domain types
//! and fail with a typed [`StoreError`]. Nothing outside this module knows it is redb.
//!
//! - Reads run inline: a redb read transaction costs microseconds, less than a hop to a
//!   thread pool. The few reads that scan (the CSV export) run on the blocking pool.
//! - Every write is an operation for the one writer thread ([`writer`]): it checks its rules
//!   and writes inside one transaction with the batch it joined, so read-modify-write and
//!   referential rules hold under concurrency, and is answered only after the durable commit.
//! - What is derived from the data (the search index here, the credential table in `auth`)
//!   is updated after each commit, in commit order: the index by the store itself, everything
//!   else through [`Change`]s delivered to listeners.

mod audit;
mod backup;
pub mod check;
mod conversations;
mod corpus;
pub mod engine;
mod mcp_settings;
mod migrate;
pub mod pg;
mod recent;
mod replica;
mod segments;
mod sessions;
mod snapshot;
mod submissions;
pub mod tables;
mod tenants;
mod tokens;
mod tools;
pub mod visitors;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use engine::ReadTxn;
use redb::Database;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use conversations::{ConversationPage, ExportCursor, Recorded};
pub use mcp_settings::{McpSettings, McpSettingsWrite};
pub use submissions::{DueWebhook, SubmissionPage};
use tables::SCHEMA_VERSION;
use writer::Writer;

use crate::domain::TokenRecord;
use crate::search;

pub const DB_FILE: &str = "animam.redb";
pub use backup::BackupReport;

/// Why a store operation did not happen.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// The named thing (`"Corpus entry"`, `"Segment"`, ...) does not exist.
    NotFound(&'static str),
    /// The change would break a rule about existing data; the message says which.
    Conflict(String),
    /// A value refers to something that does not exist or breaks a rule of the store.
    Invalid { field: String, rule: String },
    /// The store cannot take writes now (shutting down, storage refusing); try again later.
    Unavailable(String),
    /// Anything else: a storage failure or a record that does not decode. Logged, never shown.
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn invalid(field: &str, rule: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.to_string(),
            rule: rule.into(),
        }
    }

    pub(crate) fn internal_msg(message: impl Into<String>) -> StoreError {
        StoreError::Internal(Arc::new(Plain(message.into())))
    }

    /// A refusal happens before an operation writes anything: the batch can go on.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::Invalid { .. }
        )
    }
}

#[derive(Debug)]
struct Plain(String);

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Plain {}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(what) => write!(f, "{what} not found"),
            StoreError::Conflict(m) => write!(f, "conflict: {m}"),
            StoreError::Invalid { field, rule } => write!(f, "{field}: {rule}"),
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
            StoreError::Internal(e) => write!(f, "store failure: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Internal(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// How long writes are refused outright after a storage failure before one tries again.
const RETRY_WRITES_AFTER: Duration = Duration::from_secs(1);

const PREVIOUS_IO: &str = "storage: an earlier write failed";

/// An error of the storage itself (the disk refused a write, the file cannot be read): the
/// store answers `Unavailable` and reopens the database, so writes recover once the cause
/// (a full disk, say) is gone.
fn storage_failure(e: &redb::StorageError) -> Option<StoreError> {
    match e {
        redb::StorageError::Io(io) => Some(StoreError::Unavailable(format!("storage: {io}"))),
        redb::StorageError::PreviousIo | redb::StorageError::DatabaseClosed => {
            Some(StoreError::Unavailable(PREVIOUS_IO.to_string()))
        }
        _ => None,
    }
}

macro_rules! internal_from {
    ($($t:ty => $storage:expr),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(err: $t) -> Self {
                let storage: fn(&$t) -> Option<&redb::StorageError> = $storage;
                match storage(&err).and_then(storage_failure) {
                    Some(unavailable) => unavailable,
                    None => StoreError::Internal(Arc::new(err)),
                }
            }
        }
    )*};
}
internal_from!(
    redb::Error => |e| match e {
        redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
            Some(&redb::StorageError::PreviousIo)
        }
        _ => None,
    },
    redb::TransactionError => |e| match e {
        redb::TransactionError::Storage(s) => Some(s),
        _ => None,
    },
    redb::TableError => |e| match e {
        redb::TableError::Storage(s) => Some(s),
        _ => None,
    },
    redb::StorageError => |e| Some(e),
    redb::CommitError => |e| match e {
        redb::CommitError::Storage(s) => Some(s),
        _ => None,
    },
);

pub type StoreResult<T> = Result<T, StoreError>;

/// Why the store could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another process (normally `animam serve`) holds the database file.
    Locked(PathBuf),
    /// The file was written by a newer animam with a schema this build does not know.
    NewerSchema(u32),
    Other(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Locked(path) => write!(
                f,
                "the database {} is in use by another animam process (a running `animam serve`?); stop it first",
                path.display()
            ),
            OpenError::NewerSchema(v) => write!(
                f,
                "the database has schema version {v}, newer than this animam supports ({SCHEMA_VERSION}); upgrade animam"
            ),
            OpenError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<StoreError> for OpenError {
    fn from(err: StoreError) -> Self {
        OpenError::Other(err.to_string())
    }
}

/// A committed change that something outside the store derives state from.
#[derive(Debug, Clone)]
pub enum Change {
    TokenCreated(TokenRecord),
    TokenRevoked(TokenRecord),
    /// The token got a new secret; `previous` is the record before (its hash stops working,
    /// or works until `current.grace` ends).
    TokenRotated {
        previous: Box<TokenRecord>,
        current: Box<TokenRecord>,
    },
    /// A child tenant was created under `parent`: the parent's credentials reach it.
    ChildTenantCreated {
        child: String,
        parent: String,
    },
    /// The tenant's legacy key hash went from `previous` to `current`.
    LegacyKeyChanged {
        tenant: String,
        previous: Option<String>,
        current: Option<String>,
    },
    /// Another replica (or this one) changed the token `id`; `current` is its record now
    /// (`None`: gone). Sent on PostgreSQL, from the change feed.
    TokenSynced {
        id: String,
        current: Option<Box<TokenRecord>>,
    },
    /// The tenant `slug` changed (from the change feed); `current` is its record now.
    TenantSynced {
        slug: String,
        current: Option<Box<crate::domain::Tenant>>,
    },
    /// The feed had a gap: here is every token and tenant, to rebuild from.
    Resync {
        tokens: Vec<TokenRecord>,
        tenants: Vec<crate::domain::Tenant>,
    },
}

pub type ChangeListener = Arc<dyn Fn(&Change) + Send + Sync>;

/// What a write does after its commit.
pub(crate) enum Effect {
    IndexUpsert {
        tenant: String,
        meta: search::DocMeta,
        terms: Arc<search::AnalyzedDoc>,
    },
    IndexRemove {
        tenant: String,
        id: String,
    },
    Notify(Change),
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// redb's page cache. Reads of hot records come from it; it is most of the resident memory.
    pub cache_bytes: usize,
    /// `Some` to keep the data in this PostgreSQL database (`[store] backend = "postgres"`)
    /// instead of the file in the data directory.
    pub postgres: Option<pg::PgSettings>,
    /// Open as a serving replica: on PostgreSQL, load the search index and follow the change
    /// feed. A command of the CLI needs neither (it reads and writes the database, and no
    /// query of its uses the index): without them it starts in milliseconds, however large
    /// the corpus, and is not counted among the replicas sharing the rate limits. (redb
    /// always loads its index: closing the store writes the index snapshot the server
    /// starts from.)
    pub serving: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions::from(&crate::config::StoreConfig::default())
    }
}

impl From<&crate::config::StoreConfig> for StoreOptions {
    fn from(config: &crate::config::StoreConfig) -> Self {
        let postgres = match (&config.backend, &config.url) {
            (crate::config::StoreBackend::Postgres, Some(url)) => {
                Some(pg::PgSettings::new(url, config))
            }
            _ => None,
        };
        StoreOptions {
            cache_bytes: config.cache_mib as usize * 1024 * 1024,
            postgres,
            serving: true,
        }
    }
}

/// What the writer thread and the readers share.
struct Shared {
    /// `None` while a failed database is being reopened (and always with PostgreSQL).
    db: RwLock<Option<Arc<Database>>>,
    /// The shared database, when the store runs on PostgreSQL.
    pg: Option<pg::PgPool>,
    path: PathBuf,
    cache_bytes: usize,
    /// Why writes are failing, while they are.
    degraded: std::sync::Mutex<Option<String>>,
    /// When a write last failed on the storage: until [`RETRY_WRITES_AFTER`] has passed,
    /// writes are refused without touching the disk (each failure costs a reopen, and a
    /// reopen after a failure repairs the whole file).
    last_failure: std::sync::Mutex<Option<std::time::Instant>>,
    index: search::Index,
    listeners: RwLock<Vec<ChangeListener>>,
    /// On PostgreSQL, the change feed listener that keeps this replica in step.
    feed: std::sync::Mutex<Option<pg::feed::Listener>>,
    /// Held by the writer from a commit to the end of applying its effects, and by the feed
    /// thread (`replica`) from reading a changed row to applying what it read: each of those
    /// reads then sees either none or all of a local commit and is applied on the same side
    /// of that commit's effects, so a row read before a commit is never applied after it
    /// (a token revoked here is never brought back by an older read of its row).
    in_order: std::sync::Mutex<()>,
    /// On PostgreSQL, corpus entries served lately: search pages while the database is away.
    recent: recent::RecentEntries,
    /// Write batches run again because they lost a race with another writer.
    conflicts: std::sync::atomic::AtomicU64,
    /// Test hook: called by the feed thread between reading a row and applying it.
    #[cfg(test)]
    after_feed_read: std::sync::Mutex<Option<FeedReadHook>>,
}

#[cfg(test)]
type FeedReadHook = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

impl Shared {
    /// See the field: taken around a commit and its effects, and around a feed read and its
    /// application.
    fn in_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.in_order.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The test hook between a feed read and its application (nothing outside tests).
    fn feed_read(&self, _table: &str, _key: &[u8]) {
        #[cfg(test)]
        {
            let hook = self
                .after_feed_read
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(hook) = hook {
                hook(_table, _key);
            }
        }
    }

    /// The engine to begin transactions on.
    fn engine(&self) -> StoreResult<engine::Engine> {
        match &self.pg {
            Some(pool) => Ok(engine::Engine::Postgres(pool.clone())),
            None => self.db().map(engine::Engine::Redb),
        }
    }

    fn db(&self) -> StoreResult<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable("storage: the database is being reopened".into())
            })
    }

    /// After a storage failure: marks writes as failing (logged once) and replaces the
    /// database handle, whose backend refuses everything once a write has failed, by a
    /// fresh one, so reads go on and the next write tries the disk again.
    fn storage_failed(&self, reason: &str) {
        {
            let mut degraded = self.degraded.lock().unwrap_or_else(|p| p.into_inner());
            if degraded.is_none() {
                log::error!(
                    "store: writes failing ({reason}); they are answered 503 and retried with each new write"
                );
            }
            *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now());
            // Keep the first cause: later writes on the failed handle only say "earlier".
            if degraded.is_none() || reason != PREVIOUS_IO {
                *degraded = Some(reason.to_string());
            }
        }
        self.reopen();
    }

    /// Drops the database handle and opens the file again (one handle per file: the old one
    /// must be gone first). On failure the handle stays absent and the next write retries.
    fn reopen(&self) {
        if self.pg.is_some() {
            // A pool replaces broken connections itself.
            return;
        }
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        let old = slot.take();
        drop(old);
        for attempt in 0..50 {
            match Database::builder()
                .set_cache_size(self.cache_bytes)
                .create(&self.path)
            {
                Ok(db) => {
                    *slot = Some(Arc::new(db));
                    log::info!("store: database reopened after a storage failure");
                    return;
                }
                // A reader may still hold the old handle for an instant.
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if attempt < 49 => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    log::error!("store: cannot reopen the database yet: {e}");
                    return;
                }
            }
        }
    }

    /// While writes fail, and for [`RETRY_WRITES_AFTER`] after the last failure, the refusal
    /// to answer instead of trying.
    fn refuse_writes(&self) -> Option<StoreError> {
        let reason = self
            .degraded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let last = (*self.last_failure.lock().unwrap_or_else(|p| p.into_inner()))?;
        (last.elapsed() < RETRY_WRITES_AFTER).then_some(StoreError::Unavailable(reason))
    }

    /// A commit went through: writes work.
    fn storage_ok(&self) {
        let mut degraded = self.degraded.lock().unwrap_or_else(|p| p.into_inner());
        if degraded.take().is_some() {
            log::info!("store: writes work again");
        }
    }

    fn apply(&self, effect: Effect) {
        match effect {
            Effect::IndexUpsert {
                tenant,
                meta,
                terms,
            } => self.index.upsert(&tenant, meta, &terms),
            Effect::IndexRemove { tenant, id } => {
                self.index.remove(&tenant, &id);
            }
            Effect::Notify(change) => {
                let listeners = self.listeners.read().unwrap_or_else(|p| p.into_inner());
                for listener in listeners.iter() {
                    listener(&change);
                }
            }
        }
    }
}

/// The handle shared by every worker; cloning is cheap.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    writer: Arc<Writer>,
    data_dir: Arc<PathBuf>,
}

impl Store {
    /// Opens the store the options name: the PostgreSQL database of `options.postgres`, or
    /// else (creating if needed) `<data_dir>/animam.redb`. Migrates an older schema, loads
    /// the search index and starts the writer.
    pub fn open(data_dir: &Path, options: &StoreOptions) -> Result<Store, OpenError> {
        create_private_dir(data_dir)?;
        if let Some(settings) = &options.postgres {
            return Store::open_postgres(data_dir, settings.clone(), options.serving);
        }
        let path = data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Locked(path.clone()),
                other => OpenError::Other(format!("cannot open {}: {other}", path.display())),
            })?;
        restrict_to_owner(&path)?;
        let marker = migrate::prepare(&db)?;
        let db = Arc::new(db);
        let index = match snapshot::load(data_dir, marker.as_deref()) {
            Some(index) => index,
            None => {
                let index = search::Index::default();
                corpus::load_index(&engine::Engine::Redb(db.clone()), &index)?;
                index
            }
        };
        Store::start(data_dir, Some(db), None, path, options.cache_bytes, index)
    }

    /// `open` on PostgreSQL: connects, brings the SQL schema to this binary's version
    /// (`pg::open`), then does what every open does, on the shared database.
    fn open_postgres(
        data_dir: &Path,
        settings: pg::PgSettings,
        serving: bool,
    ) -> Result<Store, OpenError> {
        // `pg::open` drives the pool with tokio's `block_on`, which refuses to run on a thread
        // of another runtime (`serve` opens the store from one): on a thread of its own.
        let (pool, from) = std::thread::spawn(move || {
            let (pool, _) = pg::open(settings).map_err(|e| e.to_string())?;
            let from = replica::last_seq(&pool)?;
            Ok::<_, String>((pool, from))
        })
        .join()
        .map_err(|_| OpenError::Other("postgres: the start-up thread panicked".into()))?
        .map_err(OpenError::Other)?;
        let engine = engine::Engine::Postgres(pool.clone());
        migrate::prepare_shared(&engine)?;
        // The feed position is taken before the state is loaded: a change in between is
        // applied again, which is harmless.
        let index = search::Index::default();
        if serving {
            corpus::load_index(&engine, &index)?;
        }
        let store = Store::start(data_dir, None, Some(pool.clone()), PathBuf::new(), 0, index)?;
        if serving {
            let listener = replica::follow(&store.shared, &pool, from)?;
            *store.shared.feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener);
        }
        Ok(store)
    }

    fn start(
        data_dir: &Path,
        db: Option<Arc<Database>>,
        pg: Option<pg::PgPool>,
        path: PathBuf,
        cache_bytes: usize,
        index: search::Index,
    ) -> Result<Store, OpenError> {
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            pg,
            path,
            cache_bytes,
            degraded: std::sync::Mutex::new(None),
            last_failure: std::sync::Mutex::new(None),
            index,
            listeners: RwLock::new(Vec::new()),
            feed: std::sync::Mutex::new(None),
            in_order: std::sync::Mutex::new(()),
            recent: recent::RecentEntries::default(),
            conflicts: std::sync::atomic::AtomicU64::new(0),
            #[cfg(test)]
            after_feed_read: std::sync::Mutex::new(None),
        });
        let (writer, _thread) = Writer::start(shared.clone())
            .map_err(|e| OpenError::Other(format!("cannot start the store writer: {e}")))?;
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        Ok(Store {
            shared,
            writer: Arc::new(writer),
            data_dir: Arc::new(data_dir),
        })
    }

    /// The absolute data directory, for logs.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Calls `listener` with every committed [`Change`], in commit order, before the write
    /// that made it is answered.
    pub fn subscribe(&self, listener: ChangeListener) {
        self.shared
            .listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Waits (up to `grace`) for the other handles to go, leaves the search index snapshot
    /// and closes the database cleanly, so the next start neither repairs nor rebuilds.
    pub fn close(self, grace: Duration) {
        let Store {
            shared,
            writer,
            data_dir,
        } = self;
        drop(writer);
        let deadline = std::time::Instant::now() + grace;
        let mut shared = shared;
        loop {
            match Arc::try_unwrap(shared) {
                Ok(inner) => {
                    if inner.pg.is_some() {
                        // Replicas rebuild their index from the shared rows at each start.
                        return;
                    }
                    let db = inner.db.into_inner().unwrap_or_else(|p| p.into_inner());
                    let left = match &db {
                        Some(db) => snapshot::leave(db, &inner.index, &data_dir),
                        None => Err(StoreError::Unavailable("no database".into())),
                    };
                    if let Err(e) = left {
                        log::warn!(
                            "search index: no snapshot left ({e}); the next start rebuilds it"
                        );
                    }
                    return;
                }
                Err(still_shared) if std::time::Instant::now() < deadline => {
                    shared = still_shared;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => {
                    log::warn!("store: still in use at shutdown; the next start may repair it");
                    return;
                }
            }
        }
    }

    /// `animam check` on the open database (see [`check::check_open`]).
    pub fn check_live(&self, progress: &mut dyn FnMut(&str)) -> StoreResult<check::CheckReport> {
        if self.shared.pg.is_some() {
            return check::check_engine(&self.shared.engine()?, progress);
        }
        let db = self.shared.db()?;
        check::check_open(&db, progress)
    }

    fn read<T>(&self, work: impl FnOnce(&ReadTxn) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.shared.engine()?.begin_read()?;
        work(&txn)
    }

    /// A read from an async method. On redb it runs inline (a read transaction costs
    /// microseconds, less than a hop to a thread pool); on PostgreSQL it runs on the blocking
    /// pool, so its round trips never hold up an async worker. Hence `'static`: a caller
    /// moves owned copies of its arguments in.
    async fn read_owned<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTxn) -> StoreResult<T> + Send + 'static,
    {
        if self.shared.pg.is_none() {
            return self.read(work);
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || work(&shared.engine()?.begin_read()?))
            .await
            .map_err(|e| StoreError::internal_msg(format!("blocking read: {e}")))?
    }

    /// Whether a read is a network round trip (PostgreSQL) rather than microseconds (redb):
    /// callers of the few synchronous reads (`rank_corpus`, `mcp_settings`) then move them
    /// off the async workers.
    pub fn reads_are_round_trips(&self) -> bool {
        self.shared.pg.is_some()
    }

    /// How many replicas serve this store's database, this one included: 1 on redb (one
    /// process holds the file); on PostgreSQL, the replicas following the change feed now.
    /// `None` when that cannot be asked (the database unreachable): keep the last answer.
    pub async fn live_replicas(&self) -> Option<u32> {
        let Some(pool) = self.shared.pg.clone() else {
            return Some(1);
        };
        // The query runs on the pool's runtime; awaiting its handle works from any runtime.
        let asked = pool.handle().clone().spawn(async move {
            let client = pool.get().await?;
            pg::presence::live_replicas(&client).await
        });
        let counted = match asked.await {
            Ok(counted) => counted.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        counted
            .map_err(|e| log::debug!("counting replicas: {e}"))
            .ok()
    }

    /// Why writes are failing now (a full disk, say), or `None` when they work. On
    /// PostgreSQL the change feed's connection tells too: while it is down the database is
    /// away for this replica even before a write meets it (and its in-memory state may fall
    /// behind); once it is up again, a write failure from before it met a database that has
    /// come back, which the next write will find (no need to wait for one to say so).
    pub fn degraded(&self) -> Option<String> {
        let failing = self
            .shared
            .degraded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let feed = self.shared.feed.lock().unwrap_or_else(|p| p.into_inner());
        let Some(listener) = feed.as_ref() else {
            return failing;
        };
        let Some(up_since) = listener.connected_since() else {
            return Some("the database is unreachable (the change feed is reconnecting)".into());
        };
        let last_failure = *self
            .shared
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failing.filter(|_| last_failure.is_some_and(|failed| failed > up_since))
    }

    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut writer::Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(op).await
    }

    /// Runs a long read (a scan) on the blocking pool so it never holds up a worker.
    async fn read_blocking<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| StoreError::internal_msg(format!("blocking read: {e}")))?
    }
}

fn create_private_dir(dir: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            OpenError::Other(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })
}

/// Conversations and token hashes live in the file: only its owner may read it.
fn restrict_to_owner(path: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| OpenError::Other(format!("cannot restrict {}: {e}", path.display())))
}

/// JSON for a record.
fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Internal(Arc::new(e)))
}

/// A record back from JSON; a damaged one is an error that names its table and key.
fn decode<T: DeserializeOwned>(table: &str, key: impl fmt::Debug, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::internal_msg(format!("damaged record in table {table}, key {key:?}: {e}"))
    })
}

fn read_u32(bytes: &[u8]) -> StoreResult<u32> {
    bytes
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::internal_msg("bad u32 in table meta"))
}

/// The records of `tenant` in a `(tenant, id) -> JSON` table, decoded, in id order.
fn tenant_records<'a, T: DeserializeOwned>(
    table: &'a engine::Table<'_, (&'static str, &'static str), &'static [u8]>,
    tenant: &'a str,
) -> StoreResult<impl Iterator<Item = StoreResult<(String, T)>> + 'a> {
    let name = table.name();
    Ok(tenant_rows(table, tenant)?.map(move |row| {
        let (id, bytes) = row?;
        let record = decode(name, (tenant, &id), &bytes)?;
        Ok((id, record))
    }))
}

/// The rows of one tenant in a `(tenant, id)`-keyed table.
fn tenant_rows<'a>(
    table: &'a engine::Table<'_, (&'static str, &'static str), &'static [u8]>,
    tenant: &'a str,
) -> StoreResult<impl Iterator<Item = StoreResult<(String, Vec<u8>)>> + 'a> {
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

/// The behaviour suite (tests.rs) runs here on redb.
#[cfg(test)]
const ON_POSTGRES: bool = false;

#[cfg(test)]
fn test_options(_dir: &Path) -> StoreOptions {
    StoreOptions::default()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_postgres;
