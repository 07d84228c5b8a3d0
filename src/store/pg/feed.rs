//! The change feed that keeps replicas in step.
//!
//! Every write transaction records the keys it changed with `record_changes`, in the same
//! transaction: one row per key in `changes`, numbered from the single-row `change_seq`
//! counter, and a `NOTIFY animam_changes` that PostgreSQL delivers at commit. Taking the
//! numbers with `UPDATE change_seq ... RETURNING` holds the counter's row lock to the end of
//! the transaction, so the next writer gets its numbers only once this one committed (or
//! rolled back, and then the same numbers again): sequence order is commit order, with no
//! gaps, and whatever prefix of the feed a reader sees is final. (bigserial numbers are handed
//! out when asked, not at commit: a reader could see 8 before 7 commits and skip 7 for good.)
//! The cost is that write transactions serialize on that row from their `record_changes` to
//! their commit: call it last, just before committing.
//!
//! Each replica runs a `Listener`: a connection of its own that LISTENs, and on each
//! notification (or every `poll_every`, which also covers lost notifications and databases
//! without LISTEN/NOTIFY such as CockroachDB) reads `changes` past the last sequence it handed
//! on, in order, in batches, and gives each change to a callback. After a lost connection it
//! reconnects with backoff and catches up from where it was, so a replica that missed
//! notifications (restart, network blip) converges.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::pool::{PgError, PgPool};

/// The NOTIFY channel; the payload is the transaction's last sequence number.
pub const CHANNEL: &str = "animam_changes";

/// One changed key, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    /// '' for the global tables.
    pub tenant: String,
    /// The store table's name.
    pub table: String,
    /// The row's key, in the store's order-preserving encoding.
    pub key: Vec<u8>,
}

/// Records `changes` (tenant, table, key) in `tx` and notifies the listeners at commit.
/// Returns the last sequence number taken (`None` for no changes: nothing is written, and the
/// counter's lock is not taken). Call it last in the transaction: from here to the commit,
/// other writers wait for the counter (see the module's doc).
pub async fn record_changes(
    tx: &impl deadpool_postgres::GenericClient,
    changes: &[(&str, &str, &[u8])],
) -> Result<Option<i64>, PgError> {
    record_changes_with(tx, changes, true).await
}

/// `record_changes`, with `notify` false for a database that has no `pg_notify`
/// (CockroachDB; see `notify_supported`): the listeners then find the changes by polling.
pub async fn record_changes_with(
    tx: &impl deadpool_postgres::GenericClient,
    changes: &[(&str, &str, &[u8])],
    notify: bool,
) -> Result<Option<i64>, PgError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let count = changes.len() as i64;
    let last: i64 = tx
        .query_one(
            "UPDATE change_seq SET seq = seq + $1 WHERE id RETURNING seq",
            &[&count],
        )
        .await?
        .get(0);
    let first = last - count + 1;
    let seqs: Vec<i64> = (first..=last).collect();
    let tenants: Vec<&str> = changes.iter().map(|c| c.0).collect();
    let tables: Vec<&str> = changes.iter().map(|c| c.1).collect();
    let keys: Vec<&[u8]> = changes.iter().map(|c| c.2).collect();
    // One statement for all rows (unnest of parallel arrays: PostgreSQL, CockroachDB and
    // YugabyteDB all have it).
    tx.execute(
        "INSERT INTO changes (seq, tenant, tbl, k) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[])",
        &[&seqs, &tenants, &tables, &keys],
    )
    .await?;
    // Delivered at commit, dropped on rollback. Where NOTIFY does not exist the listeners
    // poll, so the feed does not depend on it.
    if notify {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &last.to_string()])
            .await?;
    }
    Ok(Some(last))
}

/// Whether the database has `pg_notify` (PostgreSQL, YugabyteDB; not CockroachDB): asked once
/// at start, to choose between `record_changes` and `record_changes_with(.., false)`.
pub async fn notify_supported(client: &Client) -> Result<bool, PgError> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE proname = 'pg_notify')",
            &[],
        )
        .await?
        .get(0))
}

/// The sequence number of the last committed change: where a replica that has just loaded
/// its state starts listening. Read it in the same (REPEATABLE READ) transaction as that
/// state, so nothing falls between the two.
pub async fn last_seq(client: &Client) -> Result<i64, PgError> {
    Ok(client
        .query_one("SELECT seq FROM change_seq WHERE id", &[])
        .await?
        .get(0))
}

/// Up to `limit` changes after `after`, in order.
pub async fn changes_after(
    client: &Client,
    after: i64,
    limit: i64,
) -> Result<Vec<Change>, PgError> {
    let rows = client
        .query(
            "SELECT seq, tenant, tbl, k FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Change {
            seq: row.get(0),
            tenant: row.get(1),
            table: row.get(2),
            key: row.get(3),
        })
        .collect())
}

/// Deletes the changes older than `keep` (by commit time; at least the last one is always
/// kept, so `changes` tells how far the feed went). Replicas that were away longer than `keep`
/// get an `Event::Missed` and must reload their state. Returns the rows deleted.
pub async fn prune_changes(client: &Client, keep: Duration) -> Result<u64, PgError> {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    Ok(client
        .execute(
            "DELETE FROM changes WHERE at < now() - $1::bigint * interval '1 millisecond' \
             AND seq < (SELECT max(seq) FROM changes)",
            &[&keep_ms],
        )
        .await?)
}

/// How a listener behaves.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// Catch up at least this often, notification or not: the bound on how late a change
    /// is seen when notifications are lost or unavailable.
    pub poll_every: Duration,
    /// Changes read per query.
    pub batch: i64,
    /// LISTEN for notifications. Off for databases without LISTEN/NOTIFY (CockroachDB): the
    /// feed then works by polling alone, `poll_every` being its latency. (A database that
    /// refuses LISTEN gets the same by itself, with a warning.)
    pub listen: bool,
    /// First and largest wait before reconnecting after a lost connection (doubling between).
    pub backoff: (Duration, Duration),
    /// How long connecting (with LISTEN) or one catch-up query may go unanswered before the
    /// connection is given up and made anew. A database that hangs with its sockets open (a
    /// frozen host) otherwise holds the listener forever, still taken for connected.
    pub answer_within: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            poll_every: Duration::from_secs(5),
            batch: 1000,
            listen: true,
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            answer_within: Duration::from_secs(35),
        }
    }
}

/// A running listener (a task on the pool's runtime). Dropping it stops it.
pub struct Listener {
    last: Arc<AtomicI64>,
    /// Since when its connection is up (`None` while it is down).
    connected: Arc<Mutex<Option<Instant>>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// The last sequence number handed to the callback.
    pub fn last_seq(&self) -> i64 {
        self.last.load(Ordering::Acquire)
    }

    /// Whether its connection is up now (for health reporting).
    pub fn connected(&self) -> bool {
        self.connected_since().is_some()
    }

    /// Since when its connection is up, `None` while it is down: a write failure from
    /// before then met a database that has come back since.
    pub fn connected_since(&self) -> Option<Instant> {
        *self.connected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops it and waits until the callback will not be called again.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// What a listener hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Change(Change),
    /// The changes after `after` and before `next` are gone from `changes` (pruned by
    /// `prune_changes` while this replica was away): its in-memory state may miss them and
    /// must be reloaded from the tables. Delivery goes on from `next`.
    Missed {
        after: i64,
        next: i64,
    },
}

/// Starts a listener on the pool's runtime that hands every change after `from_seq` to
/// `callback`, in sequence order, each once (within this listener's life). The callback runs
/// on the runtime: it must be quick (update in-memory state, send on a channel). Changes
/// pruned before it saw them are logged as an error; `spawn_event_listener` lets the caller
/// act on them.
pub fn spawn_listener<F>(
    pool: &PgPool,
    from_seq: i64,
    options: ListenerOptions,
    mut callback: F,
) -> Result<Listener, PgError>
where
    F: FnMut(Change) + Send + 'static,
{
    spawn_event_listener(pool, from_seq, options, move |event| match event {
        Event::Change(change) => callback(change),
        Event::Missed { after, next } => log::error!(
            "change feed: changes {} to {} were pruned before this replica read them; its \
             in-memory state may be stale until it restarts",
            after + 1,
            next - 1
        ),
    })
}

/// `spawn_listener`, handing on `Event`s: changes, and the gaps pruning left.
pub fn spawn_event_listener<F>(
    pool: &PgPool,
    from_seq: i64,
    options: ListenerOptions,
    callback: F,
) -> Result<Listener, PgError>
where
    F: FnMut(Event) + Send + 'static,
{
    let mut config = pool.settings().pg_config()?;
    // Its own connection, not a pooled one: LISTEN belongs to a session, and notifications
    // arrive on that connection's socket. Named so it can be told apart in pg_stat_activity.
    config.application_name(super::presence::FEED_APPLICATION_NAME);
    let last = Arc::new(AtomicI64::new(from_seq));
    let connected = Arc::new(Mutex::new(None));
    let (stop, stop_rx) = watch::channel(false);
    let task = pool.handle().spawn(run(
        config,
        options,
        callback,
        last.clone(),
        connected.clone(),
        stop_rx,
    ));
    Ok(Listener {
        last,
        connected,
        stop,
        task: Some(task),
    })
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn run<F: FnMut(Event)>(
    config: tokio_postgres::Config,
    options: ListenerOptions,
    mut callback: F,
    last: Arc<AtomicI64>,
    connected: Arc<Mutex<Option<Instant>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = options.backoff.0;
    loop {
        if *stop.borrow() {
            return;
        }
        let outcome = session(
            &config,
            &options,
            &mut callback,
            &last,
            &connected,
            &mut stop,
            &mut backoff,
        )
        .await;
        *connected.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match outcome {
            Ok(()) => return,
            Err(e) => {
                log::warn!(
                    "change feed: {e}; reconnecting in {} ms (at seq {})",
                    backoff.as_millis(),
                    last.load(Ordering::Acquire)
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(options.backoff.1);
            }
        }
    }
}

/// Aborts the connection's task when the session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One connection's life: connect, LISTEN, catch up, then catch up again on each
/// notification and tick. `Ok` when stopped, `Err` when the connection failed.
async fn session<F: FnMut(Event)>(
    config: &tokio_postgres::Config,
    options: &ListenerOptions,
    callback: &mut F,
    last: &AtomicI64,
    connected: &Mutex<Option<Instant>>,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), PgError> {
    let unanswered = || {
        PgError::Unavailable(format!(
            "the feed's database gave no answer within {} ms",
            options.answer_within.as_millis()
        ))
    };
    // The connect timeout of `config` bounds the TCP connect only, not the start-up
    // exchange a frozen server never answers.
    let (client, mut connection) =
        tokio::time::timeout(options.answer_within, config.connect(NoTls))
            .await
            .map_err(|_| unanswered())??;
    // The connection's socket is read by this task, which passes notifications on; it ends
    // (dropping `wake`) when the connection does.
    let (wake, mut woken) = mpsc::unbounded_channel::<()>();
    let _driver = AbortOnDrop(tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if wake.send(()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    log::debug!("change feed connection: {e}");
                    return;
                }
            }
        }
    }));
    let listen = async {
        if options.listen {
            client.batch_execute(&format!("LISTEN {CHANNEL}")).await
        } else {
            Ok(())
        }
    };
    let listened = tokio::time::timeout(options.answer_within, listen)
        .await
        .map_err(|_| unanswered())?;
    if let Err(e) = listened {
        // A database that answers LISTEN with an error lacks it (CockroachDB): poll instead
        // of failing. Anything else (a lost connection) is a reason to reconnect.
        if e.as_db_error().is_none() {
            return Err(e.into());
        }
        log::warn!(
            "change feed: the database refused LISTEN ({}); polling every {} ms instead",
            PgError::from(e),
            options.poll_every.as_millis()
        );
    }
    *connected.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    *backoff = options.backoff.0;
    let mut ticker = tokio::time::interval(options.poll_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Catch up first: on (re)connecting this is what brings a listener that missed
        // notifications back in step.
        loop {
            let from = last.load(Ordering::Acquire);
            let changes = tokio::time::timeout(
                options.answer_within,
                changes_after(&client, from, options.batch),
            )
            .await
            .map_err(|_| unanswered())??;
            let full = changes.len() as i64 == options.batch;
            for change in changes {
                let seq = change.seq;
                // Numbers have no gaps (see the module's doc), so a jump means pruning.
                let expected = last.load(Ordering::Acquire) + 1;
                if seq != expected {
                    callback(Event::Missed {
                        after: expected - 1,
                        next: seq,
                    });
                }
                callback(Event::Change(change));
                last.store(seq, Ordering::Release);
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            woke = woken.recv() => {
                if woke.is_none() {
                    return Err(PgError::Unavailable("the feed's connection closed".into()));
                }
                // Many commits, one catch-up.
                while woken.try_recv().is_ok() {}
            }
            _ = ticker.tick() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::store::pg::{PgSettings, migrate, test_cluster};
    use std::sync::mpsc as std_mpsc;
    use std::time::Instant;

    fn migrated(db: &test_cluster::TestDb) -> PgPool {
        let pool = PgPool::new(PgSettings::new(db.url(), &StoreConfig::default())).unwrap();
        migrate::migrate_pool(&pool).unwrap();
        pool
    }

    /// One committed write transaction that changed `keys` of table `t` for tenant `acme`.
    fn write(pool: &PgPool, keys: &[&str]) -> i64 {
        pool.block_on(async {
            let mut client = pool.get().await.unwrap();
            let tx = client.transaction().await.unwrap();
            let changes: Vec<(&str, &str, &[u8])> =
                keys.iter().map(|k| ("acme", "t", k.as_bytes())).collect();
            let last = record_changes(&tx, &changes).await.unwrap().unwrap();
            tx.commit().await.unwrap();
            last
        })
    }

    /// A listener from `from` whose changes arrive on the returned channel.
    fn listen(
        pool: &PgPool,
        from: i64,
        options: ListenerOptions,
    ) -> (Listener, std_mpsc::Receiver<Change>) {
        let (tx, rx) = std_mpsc::channel();
        let listener = spawn_listener(pool, from, options, move |c| {
            let _ = tx.send(c);
        })
        .unwrap();
        (listener, rx)
    }

    fn collect(rx: &std_mpsc::Receiver<Change>, n: usize) -> Vec<Change> {
        (0..n)
            .map(|i| {
                rx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|_| panic!("change {} of {n} never came", i + 1))
            })
            .collect()
    }

    fn quick() -> ListenerOptions {
        ListenerOptions {
            poll_every: Duration::from_secs(30),
            backoff: (Duration::from_millis(50), Duration::from_millis(200)),
            ..ListenerOptions::default()
        }
    }

    #[test]
    fn a_waiting_writer_numbers_after_the_commit_and_a_rollback_leaves_no_gap() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        let (taken_tx, taken_rx) = std_mpsc::channel();
        let first = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                pool.block_on(async {
                    let mut client = pool.get().await.unwrap();
                    let tx = client.transaction().await.unwrap();
                    let seq = record_changes(&tx, &[("acme", "t", b"a")]).await.unwrap();
                    taken_tx.send(()).unwrap();
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    // Taken before the commit: the second writer may be released (and
                    // return) before this thread takes another look at the clock.
                    let committing = Instant::now();
                    tx.commit().await.unwrap();
                    (seq, committing)
                })
            })
        };
        taken_rx.recv().unwrap();
        let started = Instant::now();
        let second = write(&pool, &["b"]);
        let second_done = Instant::now();
        let (first_seq, first_committing) = first.join().unwrap();
        assert_eq!(first_seq, Some(1));
        assert_eq!(second, 2);
        assert!(
            second_done > first_committing && started.elapsed() >= Duration::from_millis(300),
            "the second writer got its number only after the first committed"
        );

        // A rolled-back transaction's numbers go to the next writer.
        pool.block_on(async {
            let mut client = pool.get().await.unwrap();
            let tx = client.transaction().await.unwrap();
            let seq = record_changes(&tx, &[("acme", "t", b"x")]).await.unwrap();
            assert_eq!(seq, Some(3));
            tx.rollback().await.unwrap();
            let tx = client.transaction().await.unwrap();
            assert_eq!(record_changes(&tx, &[]).await.unwrap(), None);
            tx.commit().await.unwrap();
        });
        assert_eq!(write(&pool, &["c", "d"]), 4);
        let all = pool.block_on(async {
            let client = pool.get().await.unwrap();
            assert_eq!(last_seq(&client).await.unwrap(), 4);
            changes_after(&client, 0, 100).await.unwrap()
        });
        let seen: Vec<(i64, &[u8])> = all.iter().map(|c| (c.seq, c.key.as_slice())).collect();
        assert_eq!(seen, vec![(1, &b"a"[..]), (2, b"b"), (3, b"c"), (4, b"d")]);
    }

    #[test]
    fn concurrent_writers_are_delivered_in_commit_order_without_gaps() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        let (listener, rx) = listen(&pool, 0, quick());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let a = format!("w{w}-{i}-a");
                        let b = format!("w{w}-{i}-b");
                        write(&pool, &[&a, &b]);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let got = collect(&rx, 200);
        let seqs: Vec<i64> = got.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        // Each transaction's two keys are adjacent: numbers are taken per transaction.
        for pair in got.chunks(2) {
            let a = String::from_utf8_lossy(&pair[0].key).to_string();
            let b = String::from_utf8_lossy(&pair[1].key).to_string();
            assert_eq!(a.trim_end_matches("-a"), b.trim_end_matches("-b"));
            assert_eq!(
                (pair[0].tenant.as_str(), pair[0].table.as_str()),
                ("acme", "t")
            );
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "each once"
        );
        assert_eq!(listener.last_seq(), 200);
        assert!(listener.connected());
    }

    #[test]
    fn a_late_listener_catches_up_from_its_seq() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        for i in 0..30 {
            write(&pool, &[&format!("k{i}")]);
        }
        // Small batches: the catch-up takes several queries.
        let options = ListenerOptions {
            batch: 7,
            ..quick()
        };
        let (_listener, rx) = listen(&pool, 10, options);
        let got = collect(&rx, 20);
        assert_eq!(got.first().map(|c| c.seq), Some(11));
        assert_eq!(got.last().map(|c| c.seq), Some(30));
        write(&pool, &["after"]);
        assert_eq!(collect(&rx, 1)[0].key, b"after");
    }

    #[test]
    fn a_disconnected_listener_reconnects_and_converges() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        let (listener, rx) = listen(&pool, 0, quick());
        write(&pool, &["before"]);
        assert_eq!(collect(&rx, 1)[0].seq, 1);
        // Cut its connection (as a network blip or a database restart would), then write
        // while it is away: the notifications of these commits are lost to it.
        let killed: i64 = pool.block_on(async {
            let client = pool.get().await.unwrap();
            client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = 'animam-feed' AND datname = current_database()",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        });
        assert_eq!(killed, 1);
        for i in 0..5 {
            write(&pool, &[&format!("while-away-{i}")]);
        }
        let got = collect(&rx, 5);
        assert_eq!(
            got.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while !listener.connected() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(listener.connected());
        write(&pool, &["back"]);
        assert_eq!(collect(&rx, 1)[0].seq, 7);
        pool.block_on(listener.stop());
        write(&pool, &["after stop"]);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn without_notifications_the_feed_converges_by_polling() {
        // The CockroachDB mode: no LISTEN, a catch-up every poll_every.
        let db = test_cluster::database();
        let pool = migrated(&db);
        let options = ListenerOptions {
            listen: false,
            poll_every: Duration::from_millis(100),
            ..quick()
        };
        let (_listener, rx) = listen(&pool, 0, options);
        pool.block_on(async {
            let mut client = pool.get().await.unwrap();
            assert!(notify_supported(&client).await.unwrap());
            let tx = client.transaction().await.unwrap();
            record_changes_with(&tx, &[("acme", "t", b"polled")], false)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        });
        let started = Instant::now();
        assert_eq!(collect(&rx, 1)[0].key, b"polled");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn commit_to_callback_latency_is_well_under_a_second() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        let (tx, rx) = std_mpsc::channel();
        // Polling far apart: only the notification can be this quick.
        let _listener = spawn_listener(&pool, 0, quick(), move |c| {
            let _ = tx.send((c, Instant::now()));
        })
        .unwrap();
        // Let it connect and LISTEN.
        write(&pool, &["warm-up"]);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut latencies = Vec::new();
        for i in 0..30 {
            // From just before the commit is sent: the commit's own round trip included.
            let committed = pool.block_on(async {
                let mut client = pool.get().await.unwrap();
                let tx = client.transaction().await.unwrap();
                let key = format!("k{i}");
                record_changes(&tx, &[("acme", "t", key.as_bytes())])
                    .await
                    .unwrap();
                let at = Instant::now();
                tx.commit().await.unwrap();
                at
            });
            let (_, seen) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            latencies.push(seen.saturating_duration_since(committed));
            std::thread::sleep(Duration::from_millis(10));
        }
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        let max = latencies[latencies.len() - 1];
        eprintln!(
            "change feed latency, commit to callback, 30 commits: median {:.2} ms, max {:.2} ms",
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        );
        assert!(max < Duration::from_millis(500), "{latencies:?}");
    }

    #[test]
    fn a_listener_behind_pruned_changes_is_told_what_it_missed() {
        let db = test_cluster::database();
        let pool = migrated(&db);
        for i in 0..10 {
            write(&pool, &[&format!("old-{i}")]);
        }
        let pruned = pool.block_on(async {
            let client = pool.get().await.unwrap();
            prune_changes(&client, Duration::ZERO).await.unwrap()
        });
        assert_eq!(pruned, 9, "all but the last");
        let (tx, rx) = std_mpsc::channel();
        let _listener = spawn_event_listener(&pool, 3, quick(), move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(first, Event::Missed { after: 3, next: 10 });
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            Event::Change(c) => assert_eq!((c.seq, c.key), (10, b"old-9".to_vec())),
            other => panic!("{other:?}"),
        }
        write(&pool, &["new"]);
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            Event::Change(c) => assert_eq!(c.seq, 11),
            other => panic!("{other:?}"),
        }
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
