//! The one writer. Every write of the store is an operation queued here; a dedicated thread
//! takes every operation waiting at that moment, runs them in order inside one redb write
//! transaction, commits once (durably), applies their effects (search index, change
//! listeners) in commit order, and only then answers each request. A durable commit costs
//! about as much for one operation as for a hundred, so under load requests share it; nothing
//! is acknowledged before its commit.
//!
//! An operation that refuses (not found, conflict, invalid) does so before writing anything,
//! so it fails alone and the batch goes on. An operation that fails otherwise (storage error)
//! may have written half its rows: the batch is abandoned and every operation of it is run
//! again in its own transaction, which is why operations are `FnMut`.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use super::conversations::DailyStats;
use super::engine::{WriteTxn, is_conflict};

use super::{Effect, Shared, StoreError, StoreResult};
use crate::clock::Timestamp;

/// The most operations one commit takes, to bound the latency of the first in the batch.
const MAX_BATCH: usize = 256;

/// What an operation sees: the open transaction, a clock and a place for its effects.
pub(super) struct Tx<'a> {
    pub txn: &'a WriteTxn,
    effects: Vec<Effect>,
    last_instant: &'a mut Timestamp,
    /// Daily statistics rows the batch's exchanges count in (see [`DailyStats`]).
    pub stats: DailyStats,
}

impl Tx<'_> {
    /// A creation instant, strictly after every one this writer handed out before, so
    /// "newest first" never depends on two records sharing a microsecond.
    pub fn unique_now(&mut self) -> Timestamp {
        let now = Timestamp::now().max(self.last_instant.next());
        *self.last_instant = now;
        now
    }

    /// Something to do once the transaction has committed (never if it does not).
    pub fn after_commit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }
}

enum Outcome {
    Done,
    Refused,
    Failed,
}

trait Job: Send {
    fn run(&mut self, tx: &mut Tx<'_>) -> Outcome;
    fn finish(self: Box<Self>, commit: &StoreResult<()>);
    /// The storage failure that made `run` fail, if that is what it was.
    fn failure(&self) -> Option<StoreError>;
}

struct TypedJob<T, F> {
    op: F,
    result: Option<StoreResult<T>>,
    done: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&mut Tx<'_>) -> StoreResult<T> + Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> Outcome {
        let result = (self.op)(tx);
        let outcome = match &result {
            Ok(_) => Outcome::Done,
            Err(e) if e.is_refusal() => Outcome::Refused,
            Err(_) => Outcome::Failed,
        };
        self.result = Some(result);
        outcome
    }

    fn failure(&self) -> Option<StoreError> {
        match &self.result {
            Some(Err(e @ StoreError::Unavailable(_))) => Some(e.clone()),
            Some(Err(e)) if is_conflict(e) => Some(e.clone()),
            _ => None,
        }
    }

    fn finish(self: Box<Self>, commit: &StoreResult<()>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) => Err(e.clone()),
            (None, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Err(StoreError::internal_msg("operation never ran")),
        };
        // The requester may have gone away; what committed stays committed.
        let _ = self.done.send(result);
    }
}

/// Handle to the writer thread; the thread ends once every handle is dropped.
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub fn start(shared: Arc<Shared>) -> std::io::Result<(Writer, thread::JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let thread = thread::Builder::new()
            .name("animam-writer".into())
            .spawn(move || run(&shared, &queue))?;
        Ok((Writer { jobs }, thread))
    }

    /// Queues `op` and waits for its commit.
    pub async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job = Box::new(TypedJob {
            op,
            result: None,
            done,
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?;
        result
            .await
            .map_err(|_| StoreError::internal_msg("the writer dropped an operation"))?
    }
}

/// What the writer keeps from one batch to the next.
#[derive(Default)]
struct Carried {
    last_instant: Timestamp,
    /// The statistics rows as the last commit left them. Only a store with one writer keeps
    /// them (PostgreSQL replicas write the same rows), and only after a commit: a failed
    /// batch may have changed them in memory, so they are read again.
    stats: DailyStats,
}

fn run(shared: &Shared, queue: &mpsc::Receiver<Box<dyn Job>>) {
    let mut carried = Carried::default();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(refused) = shared.refuse_writes() {
            let refused = Err(refused);
            for job in batch {
                job.finish(&refused);
            }
            continue;
        }
        if let Err(failed) = commit_retrying(shared, &mut batch, &mut carried) {
            if let StoreError::Unavailable(reason) = &failed {
                // The handle refuses everything after a storage failure: reopen before the
                // retries, which then meet the storage as it is now.
                shared.storage_failed(reason);
                if shared.pg.is_some() {
                    // The database is unreachable: no operation of the batch would fare
                    // better alone, and each try may cost up to a connect timeout.
                    let failed = Err(failed);
                    for job in batch {
                        job.finish(&failed);
                    }
                    continue;
                }
            }
            if batch.len() > 1 {
                log::warn!(
                    "store: a batch of {} writes failed ({failed}); retrying each alone",
                    batch.len()
                );
            }
            for job in batch {
                let mut single = vec![job];
                let result = commit_retrying(shared, &mut single, &mut carried);
                match &result {
                    Err(StoreError::Unavailable(reason)) => shared.storage_failed(reason),
                    Err(e) => log::error!("store: write failed: {e}"),
                    Ok(()) => shared.storage_ok(),
                }
                for job in single {
                    job.finish(&result);
                }
            }
        } else {
            shared.storage_ok();
            for job in batch {
                job.finish(&Ok(()));
            }
        }
    }
}

/// How often a batch that lost a race with another writer (PostgreSQL: a serialization
/// failure) is run again before its operations are tried alone.
const CONFLICT_RETRIES: u32 = 20;

/// `commit_batch`, run again while it fails on a conflict with another writer (another
/// replica), after a short, growing, jittered pause so the two do not collide again.
fn commit_retrying(
    shared: &Shared,
    batch: &mut [Box<dyn Job>],
    carried: &mut Carried,
) -> StoreResult<()> {
    let mut attempt = 0;
    loop {
        match commit_batch(shared, batch, carried) {
            Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                shared
                    .conflicts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::debug!("store: the batch lost a race with another writer ({e}); again");
                let pause = rand::random_range(0..1000 * u64::from(attempt.min(10)));
                thread::sleep(std::time::Duration::from_micros(pause));
            }
            other => return other,
        }
    }
}

/// Runs and commits `batch`; on success applies the effects (the caller then answers each
/// job). On failure nothing of the batch is committed and the jobs are left to the caller.
fn commit_batch(
    shared: &Shared,
    batch: &mut [Box<dyn Job>],
    carried: &mut Carried,
) -> StoreResult<()> {
    if shared.pg.is_none()
        && shared
            .db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    {
        shared.reopen();
    }
    let txn = shared.engine()?.begin_write()?;
    let mut tx = Tx {
        txn: &txn,
        effects: Vec::new(),
        last_instant: &mut carried.last_instant,
        stats: std::mem::take(&mut carried.stats),
    };
    for job in batch.iter_mut() {
        let mark = tx.effects.len();
        match job.run(&mut tx) {
            Outcome::Done => {}
            Outcome::Refused => tx.effects.truncate(mark),
            Outcome::Failed => {
                return Err(job
                    .failure()
                    .unwrap_or_else(|| StoreError::internal_msg("an operation failed mid-write")));
            }
        }
    }
    let effects = std::mem::take(&mut tx.effects);
    let mut stats = std::mem::take(&mut tx.stats);
    drop(tx);
    stats.write(&txn)?;
    // From the commit to the last effect, the feed thread neither reads nor applies: what
    // it read before this commit is applied before these effects, never after them.
    let _in_order = shared.in_order();
    txn.commit()?;
    if shared.pg.is_none() {
        carried.stats = stats.carried();
    }
    for effect in effects {
        shared.apply(effect);
    }
    Ok(())
}
