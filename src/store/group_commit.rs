//! Group commit for chat exchanges. Every chat turn must be durable before it is answered, and
//! a durable redb commit costs about as much for one exchange as for fifty; so one writer
//! thread takes every exchange waiting at that moment and commits them together. Requests
//! wait for their own commit (nothing is acknowledged early); under load they share it.

use std::sync::mpsc;
use std::thread;

use super::conversations::{Exchange, Recorded};
use super::{Store, StoreError, StoreResult};

/// The most exchanges one commit takes, to bound the latency of the first in the batch.
const MAX_BATCH: usize = 128;

struct Job {
    exchange: Exchange,
    done: tokio::sync::oneshot::Sender<StoreResult<Recorded>>,
}

/// Handle to the writer thread. The thread ends when the last handle is dropped.
pub struct ExchangeWriter {
    jobs: mpsc::Sender<Job>,
}

impl ExchangeWriter {
    pub fn start(store: Store) -> std::io::Result<ExchangeWriter> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("animam-exchanges".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (exchanges, waiters): (Vec<Exchange>, Vec<_>) =
                        batch.into_iter().map(|j| (j.exchange, j.done)).unzip();
                    for (result, done) in
                        store.record_exchanges(&exchanges).into_iter().zip(waiters)
                    {
                        // The requester may have gone away; its exchange is stored regardless.
                        let _ = done.send(result);
                    }
                }
            })?;
        Ok(ExchangeWriter { jobs })
    }

    /// Stores the exchange durably; returns once its commit is done.
    pub async fn record(&self, exchange: Exchange) -> StoreResult<Recorded> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job { exchange, done })
            .map_err(|_| StoreError::Db("exchange writer stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Db("exchange writer dropped a job".into()))?
    }
}
