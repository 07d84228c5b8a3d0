//! The shared engine: every store table is a PostgreSQL table `(tenant, k, v)` (created by
//! `store::pg::migrate`), `k` the whole encoded key, `tenant` its first component for tables
//! of [`Scope::Tenant`] and `''` for global ones, so every tenant row's primary key starts
//! with its tenant.
//!
//! A write transaction is one SQL transaction at SERIALIZABLE: the store's rules (one
//! conversation per session, a segment's usage count...) are read-then-write, and replicas
//! write concurrently, so only serializable execution keeps them. A serialization failure is
//! reported as [`Conflict`]; the writer runs the whole batch again (its operations are
//! `FnMut` for that). Every key a transaction changes is recorded in the change feed
//! (`pg::feed`) just before its commit, which other replicas follow.
//!
//! Write transactions also take turns, across replicas, under one session advisory lock
//! taken *before* BEGIN ([`LOCK_WRITERS`]). They serialize anyway: every one updates the
//! feed's single counter row, whose lock is held to commit. But a transaction that began
//! before another's commit and then updates that row (or any row the other wrote: a
//! tenant's daily statistics, a segment's usage) fails with a serialization error and runs
//! again: with three replicas writing, the benchmark saw 1,825 such failures, and batches
//! that exhausted their retries. Taking the lock first means each transaction's snapshot is
//! taken after the previous writer committed, so writers through the store never conflict;
//! SERIALIZABLE stays as the guard for anything else writing to the database.
//!
//! A read transaction is a REPEATABLE READ, READ ONLY one: a consistent snapshot, like
//! redb's. Ranges are read in pages from either end, so `take(n)` and `rev()` cost what they
//! return, not the whole range.
//!
//! The store's code is synchronous; the queries' futures are driven to completion on the
//! calling thread (`block_on` below) while the pool's own runtime drives the sockets.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::keys::leading_str;
use super::{RawRange, RawTable, Scope};
use crate::store::pg::PgPool;
use crate::store::{StoreError, StoreResult};

/// Taken before a write transaction begins, released after its end, both in the same round
/// trips as BEGIN and COMMIT/ROLLBACK (separate simple queries, pipelined: the server runs
/// each whatever the previous one's outcome). Key: "animam-w" in ASCII, apart from the
/// migrators' `pg_advisory_xact_lock`. A replica that dies holding it loses its session, and
/// the lock with it; one that hangs inside its transaction is cut by
/// `idle_in_transaction_session_timeout` (set with the BEGIN).
const LOCK_WRITERS: &str = "SELECT pg_advisory_lock(7020664787624078711)";
const UNLOCK_WRITERS: &str = "SELECT pg_advisory_unlock(7020664787624078711)";
/// The BEGIN of a write transaction. A writer paused inside its transaction (a frozen VM)
/// would hold every replica's writes: after 10 s idle the server ends its session.
const BEGIN_WRITE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE; \
     SET LOCAL idle_in_transaction_session_timeout = 10000";

/// Rows fetched by a range's first round trip from either end: most ranges are read for a
/// few rows (`first`, `is_empty`, a page of 20).
const FIRST_PAGE: i64 = 32;
/// Rows fetched per later round trip.
const PAGE: i64 = 256;
/// How long a statement waits before the server is asked whether it answers at all (most
/// answer in a millisecond; a hung server must not hold a request for a statement timeout).
const PROBE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// A serialization failure or deadlock: the transaction lost a race with another writer and
/// must be run again from the start.
#[derive(Debug)]
pub struct Conflict(String);

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "write conflict, retrying: {}", self.0)
    }
}

impl std::error::Error for Conflict {}

/// Whether `error` is a [`Conflict`] (worth running the transaction again).
pub fn is_conflict(error: &StoreError) -> bool {
    matches!(error, StoreError::Internal(e) if e.is::<Conflict>())
}

fn sql_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Internal(Arc::new(Conflict(e.to_string())))
        }
        Some(_) => StoreError::Internal(Arc::new(e)),
        // No SQLSTATE: the connection failed (closed, timed out): the database is not there.
        None => StoreError::Unavailable(format!("database: {e}")),
    }
}

fn pool_error(e: crate::store::pg::PgError) -> StoreError {
    match e {
        crate::store::pg::PgError::Unavailable(m) => StoreError::Unavailable(m),
        other => StoreError::internal_msg(other.to_string()),
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on this thread. The client's futures only exchange messages with the
/// connection task, which the pool's runtime drives, so they need no runtime here; unlike
/// tokio's `block_on` this also works on a thread that belongs to another runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// One pooled connection holding a transaction. The BEGIN is not sent on its own: it goes
/// with the first statement, in the same round trip (the client pipelines them, the server
/// runs them in order), and a transaction that ran no statement has nothing to end.
struct Conn {
    /// Taken only by `drop`, which hands it to the pool's runtime to end the transaction.
    client: Option<deadpool_postgres::Object>,
    pool: PgPool,
    /// The BEGIN statement, until it has been sent.
    begin: Cell<Option<&'static str>>,
    /// (tenant, table, key) of every row written, for the change feed.
    changed: RefCell<Vec<(String, &'static str, Vec<u8>)>>,
    /// Whether the transaction still needs a ROLLBACK when dropped.
    open: Cell<bool>,
    /// A statement got no answer in time: the connection is dropped, not pooled again.
    broken: Cell<bool>,
    /// A write transaction: [`LOCK_WRITERS`] goes with the BEGIN, [`UNLOCK_WRITERS`] with
    /// the end.
    writer: bool,
}

impl Conn {
    fn begin(pool: &PgPool, begin: &'static str, writer: bool) -> StoreResult<Conn> {
        let getter = pool.clone();
        // Checking out may open a connection, which spawns its task: on the pool's runtime.
        let client = block_on(pool.handle().spawn(async move { getter.get().await }))
            .map_err(|e| StoreError::internal_msg(format!("database pool: {e}")))?
            .map_err(pool_error)?;
        Ok(Conn {
            client: Some(client),
            pool: pool.clone(),
            begin: Cell::new(Some(begin)),
            changed: RefCell::new(Vec::new()),
            open: Cell::new(true),
            broken: Cell::new(false),
            writer,
        })
    }

    /// Drives `statement` to its answer, or gives up on a database that does not answer:
    /// when the statement is still waiting after [`PROBE_AFTER`], a fresh connection asks
    /// the server whether it answers at all (within the connect timeout); if not, or in any
    /// case once the server would have cancelled the statement itself and said so
    /// (`PgSettings::answer_within`), the database is taken for unreachable (503) and this
    /// connection is not used again. A slow statement on a live server goes on.
    fn wait<T>(
        &self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let limit = self.pool.settings().answer_within();
        // The timers belong to the pool's runtime, which drives them; this thread only polls.
        let (timed, probe_at) = {
            let _runtime = self.pool.handle().enter();
            (
                tokio::time::timeout(limit, statement),
                tokio::time::sleep(PROBE_AFTER),
            )
        };
        let answered = block_on(async {
            let mut timed = std::pin::pin!(timed);
            tokio::select! {
                biased;
                answer = &mut timed => return answer.ok(),
                () = probe_at => {}
            }
            let pool = self.pool.clone();
            let alive = self
                .pool
                .handle()
                .spawn(async move { pool.answers().await });
            tokio::select! {
                biased;
                answer = &mut timed => answer.ok(),
                alive = alive => match alive {
                    Ok(false) => None,
                    _ => timed.await.ok(),
                },
            }
        });
        match answered {
            Some(answer) => answer.map_err(sql_error),
            None => {
                self.broken.set(true);
                Err(StoreError::Unavailable(
                    "database: a statement got no answer and the server does not answer".into(),
                ))
            }
        }
    }

    fn client(&self) -> StoreResult<&deadpool_postgres::Object> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::internal_msg("database: the connection is gone"))
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<tokio_postgres::Row>> {
        let client = self.client()?;
        let statement = async {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        };
        match self.begin.take() {
            // Polled first, so sent first: the server takes the writers' lock (waiting for
            // it), begins, then runs the statement, all in one round trip.
            Some(begin) => self.wait(async {
                let lock = async {
                    if self.writer {
                        client.batch_execute(LOCK_WRITERS).await
                    } else {
                        Ok(())
                    }
                };
                let (locked, began, rows) =
                    futures_util::future::join3(lock, client.batch_execute(begin), statement).await;
                locked.and(began).and(rows)
            }),
            None => self.wait(statement),
        }
    }

    /// Whether a statement ran, so there is a transaction to end.
    fn started(&self) -> bool {
        let pending = self.begin.take();
        self.begin.set(pending);
        pending.is_none()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if self.broken.get() {
            // Out of the pool for good, and the idle ones with it: they lead to the same
            // server, which stopped answering.
            drop(deadpool_postgres::Object::take(client));
            self.pool.forget_idle();
            return;
        }
        if self.open.get() && self.started() {
            // Back to the pool without a transaction (or the writers' lock) left on it,
            // without making the caller wait for the round trip: the connection returns to
            // the pool when the ROLLBACK is done; if anything failed, it is dropped instead.
            let writer = self.writer;
            self.pool.handle().spawn(async move {
                let unlock = async {
                    if writer {
                        client.batch_execute(UNLOCK_WRITERS).await
                    } else {
                        Ok(())
                    }
                };
                let (rolled_back, unlocked) =
                    futures_util::future::join(client.batch_execute("ROLLBACK"), unlock).await;
                if rolled_back.and(unlocked).is_err() {
                    drop(deadpool_postgres::Object::take(client));
                }
            });
        }
    }
}

pub(super) struct PgRead {
    conn: Conn,
}

impl PgRead {
    pub fn begin(pool: &PgPool) -> StoreResult<PgRead> {
        Ok(PgRead {
            conn: Conn::begin(
                pool,
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                false,
            )?,
        })
    }

    pub fn table(&self, name: &'static str, scope: Scope) -> Box<dyn RawTable + '_> {
        Box::new(PgTable {
            conn: &self.conn,
            name,
            scope,
            writable: false,
        })
    }
}

pub(super) struct PgWrite {
    conn: Conn,
}

impl PgWrite {
    pub fn begin(pool: &PgPool) -> StoreResult<PgWrite> {
        Ok(PgWrite {
            conn: Conn::begin(pool, BEGIN_WRITE, true)?,
        })
    }

    pub fn table(&self, name: &'static str, scope: Scope) -> Box<dyn RawTable + '_> {
        Box::new(PgTable {
            conn: &self.conn,
            name,
            scope,
            writable: true,
        })
    }

    /// Records the changed keys in the feed, then commits. A conflict at commit is reported
    /// as [`Conflict`] like one at any statement.
    pub fn commit(self) -> StoreResult<()> {
        let changed = std::mem::take(&mut *self.conn.changed.borrow_mut());
        let rows: Vec<(&str, &str, &[u8])> = changed
            .iter()
            .map(|(tenant, table, key)| (tenant.as_str(), *table, key.as_slice()))
            .collect();
        if !self.conn.started() {
            // Nothing ran: nothing to record or commit.
            self.conn.open.set(false);
            return Ok(());
        }
        let client = self.conn.client()?;
        let recorded = async { Ok(crate::store::pg::feed::record_changes(client, &rows).await) };
        self.conn.wait(recorded)?.map_err(|e| match e {
            crate::store::pg::PgError::Unavailable(m) => StoreError::Unavailable(m),
            crate::store::pg::PgError::Query(m)
                if m.contains("(40001)") || m.contains("(40P01)") =>
            {
                StoreError::Internal(Arc::new(Conflict(m)))
            }
            other => StoreError::internal_msg(other.to_string()),
        })?;
        // Unanswered, the commit's outcome is unknown: not acknowledged (503), like a
        // failure; the client's retry meets the data as it is.
        let committed = self.conn.wait(async {
            let (committed, unlocked) = futures_util::future::join(
                client.batch_execute("COMMIT"),
                client.batch_execute(UNLOCK_WRITERS),
            )
            .await;
            if unlocked.is_err() {
                // The lock may still be held: this session must not be pooled again.
                self.conn.broken.set(true);
            }
            committed
        });
        // Committed or failed, the transaction is over either way.
        self.conn.open.set(false);
        committed
    }
}

struct PgTable<'c> {
    conn: &'c Conn,
    name: &'static str,
    scope: Scope,
    writable: bool,
}

impl PgTable<'_> {
    /// The tenant column of the row with key `key`.
    fn tenant_of(&self, key: &[u8]) -> StoreResult<String> {
        match self.scope {
            Scope::Global => Ok(String::new()),
            Scope::Tenant => leading_str(key).ok_or_else(|| {
                StoreError::internal_msg(format!("a key without a tenant in table {}", self.name))
            }),
        }
    }

    fn read_only(&self) -> StoreResult<()> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::internal_msg(
                "a write through a read transaction",
            ))
        }
    }
}

impl RawTable for PgTable<'_> {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let tenant = self.tenant_of(key)?;
        let sql = format!("SELECT v FROM {} WHERE tenant = $1 AND k = $2", self.name);
        let rows = self.conn.query(&sql, &[&tenant, &key])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RawRange<'_>> {
        // Within one tenant when both bounds are, so the query stays on its rows (and, on
        // Citus, on its shard); across tenants otherwise, in key order all the same.
        let tenant = match self.scope {
            Scope::Global => Some(String::new()),
            Scope::Tenant => match (start, end) {
                (
                    Bound::Included(a) | Bound::Excluded(a),
                    Bound::Included(b) | Bound::Excluded(b),
                ) => match (leading_str(a), leading_str(b)) {
                    (Some(a), Some(b)) if a == b => Some(a),
                    _ => None,
                },
                _ => None,
            },
        };
        Ok(Box::new(PgRange {
            table: self,
            tenant,
            start: owned(start),
            end: owned(end),
            front: VecDeque::new(),
            back: VecDeque::new(),
            failed: false,
            fetches: 0,
        }))
    }

    fn len(&self) -> StoreResult<u64> {
        let sql = format!("SELECT count(*) FROM {}", self.name);
        let rows = self.conn.query(&sql, &[])?;
        let n: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(n as u64)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.read_only()?;
        let tenant = self.tenant_of(key)?;
        // The old value from the snapshot before the upsert (a data-modifying CTE does not
        // see its own statement's changes).
        let sql = format!(
            "WITH old AS (SELECT v FROM {t} WHERE tenant = $1 AND k = $2), \
             up AS (INSERT INTO {t} (tenant, k, v) VALUES ($1, $2, $3) \
                    ON CONFLICT (tenant, k) DO UPDATE SET v = EXCLUDED.v) \
             SELECT v FROM old",
            t = self.name
        );
        let rows = self.conn.query(&sql, &[&tenant, &key, &value])?;
        self.conn
            .changed
            .borrow_mut()
            .push((tenant, self.name, key.to_vec()));
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn remove(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.read_only()?;
        let tenant = self.tenant_of(key)?;
        let sql = format!(
            "DELETE FROM {} WHERE tenant = $1 AND k = $2 RETURNING v",
            self.name
        );
        let rows = self.conn.query(&sql, &[&tenant, &key])?;
        let old = rows.first().map(|row| row.get::<_, Vec<u8>>(0));
        if old.is_some() {
            self.conn
                .changed
                .borrow_mut()
                .push((tenant, self.name, key.to_vec()));
        }
        Ok(old)
    }
}

fn owned(bound: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A range read page by page from both ends. `start`/`end` shrink past every row handed
/// out, so the two ends never hand out the same row.
struct PgRange<'t> {
    table: &'t PgTable<'t>,
    tenant: Option<String>,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    front: VecDeque<(Vec<u8>, Vec<u8>)>,
    back: VecDeque<(Vec<u8>, Vec<u8>)>,
    failed: bool,
    /// Round trips so far (the first fetches less).
    fetches: u32,
}

impl PgRange<'_> {
    fn fetch(&mut self, descending: bool) -> StoreResult<VecDeque<(Vec<u8>, Vec<u8>)>> {
        let limit = if self.fetches == 0 { FIRST_PAGE } else { PAGE };
        self.fetches += 1;
        // Across tenants, bounds compare (tenant, k) pairs: the primary key's order, which is
        // k's order (tenant is the decoded start of k and sorts bytewise), so the index
        // serves the range. Within one tenant (or a global table) `tenant = $1` and k.
        let across = self.tenant.is_none() && self.table.scope == Scope::Tenant;
        let bound_tenants = [&self.start, &self.end].map(|bound| match bound {
            Bound::Included(k) | Bound::Excluded(k) => leading_str(k).unwrap_or_default(),
            Bound::Unbounded => String::new(),
        });
        let mut conditions = Vec::new();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(tenant) = &self.tenant {
            params.push(tenant);
            conditions.push(format!("tenant = ${}", params.len()));
        }
        for (bound, op, tenant) in [
            (&self.start, [">=", ">"], &bound_tenants[0]),
            (&self.end, ["<=", "<"], &bound_tenants[1]),
        ] {
            let (k, op) = match bound {
                Bound::Included(k) => (k, op[0]),
                Bound::Excluded(k) => (k, op[1]),
                Bound::Unbounded => continue,
            };
            if across {
                params.push(tenant);
                params.push(k);
                conditions.push(format!(
                    "(tenant, k) {op} (${}, ${})",
                    params.len() - 1,
                    params.len()
                ));
            } else {
                params.push(k);
                conditions.push(format!("k {op} ${}", params.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let direction = if descending { "DESC" } else { "ASC" };
        let order = if across {
            format!("tenant {direction}, k {direction}")
        } else {
            format!("k {direction}")
        };
        let sql = format!(
            "SELECT k, v FROM {} {filter} ORDER BY {order} LIMIT {limit}",
            self.table.name
        );
        let rows = self.table.conn.query(&sql, &params)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The empty range once `start` and `end` have met.
    fn exhausted(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a >= b
            }
            _ => false,
        }
    }
}

impl Iterator for PgRange<'_> {
    type Item = StoreResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.front.is_empty() {
            if self.exhausted() {
                return None;
            }
            match self.fetch(false) {
                Ok(page) => self.front = page,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let row = self.front.pop_front()?;
        self.start = Bound::Excluded(row.0.clone());
        // Rows the other end fetched but has not handed out, at or before this one, are
        // this end's now (already handed out).
        self.back.retain(|(k, _)| *k > row.0);
        Some(Ok(row))
    }
}

impl DoubleEndedIterator for PgRange<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.back.is_empty() {
            if self.exhausted() {
                return None;
            }
            match self.fetch(true) {
                Ok(page) => self.back = page,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let row = self.back.pop_front()?;
        self.end = Bound::Excluded(row.0.clone());
        self.front.retain(|(k, _)| *k < row.0);
        Some(Ok(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::store::pg::{PgSettings, test_cluster};

    /// The probe that tells a hung server from a slow statement: a statement still waiting
    /// after `PROBE_AFTER` on a server that answers goes on to its answer.
    #[test]
    fn a_slow_statement_on_a_live_server_is_not_given_up() {
        let db = test_cluster::database();
        let pool = PgPool::new(PgSettings::new(db.url(), &StoreConfig::default())).unwrap();
        let runtime_pool = pool.clone();
        assert!(pool.block_on(async move { runtime_pool.answers().await }));
        let conn = Conn::begin(&pool, "BEGIN", false).unwrap();
        let started = std::time::Instant::now();
        let rows = conn.query("SELECT 7 FROM pg_sleep(1.5)", &[]).unwrap();
        assert_eq!(rows[0].get::<_, i32>(0), 7);
        assert!(started.elapsed() >= PROBE_AFTER);
        assert!(!conn.broken.get());

        // Nothing listening: no answer.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let nowhere = PgPool::new(PgSettings::new(
            &format!("postgres://u@127.0.0.1:{port}/db"),
            &StoreConfig::default(),
        ))
        .unwrap();
        let probe = nowhere.clone();
        assert!(!nowhere.block_on(async move { probe.answers().await }));
    }
}
