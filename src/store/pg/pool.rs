//! The connection pool (deadpool-postgres over tokio-postgres) and the small tokio runtime
//! that drives it.
//!
//! The store's code is synchronous: it runs on the writer thread and on the blocking pool,
//! never on actix's workers. It reaches PostgreSQL through `PgPool::block_on`, which runs a
//! future to completion on the calling thread while the pool's own runtime (two worker
//! threads, named `animam-pg`) drives the sockets and timers. Calling `block_on` from an async
//! worker would stall that worker and panics in tokio by design: don't.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use crate::config::{StoreConfig, redact_url};

/// What a pool needs: the URL and the limits from `[store]`.
#[derive(Clone)]
pub struct PgSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl PgSettings {
    /// The `[store]` settings with `url` (from `store.url` or a `--to` flag).
    pub fn new(url: &str, config: &StoreConfig) -> Self {
        PgSettings {
            url: url.to_string(),
            pool_size: config.pool_size,
            connect_timeout: Duration::from_secs(config.connect_timeout_secs.into()),
            statement_timeout: Duration::from_secs(config.statement_timeout_secs.into()),
        }
    }

    /// How long a statement may go unanswered before the database is taken for unreachable:
    /// by then the server would have cancelled it itself (`statement_timeout`), and then
    /// answered within a connect timeout.
    pub fn answer_within(&self) -> Duration {
        self.statement_timeout + self.connect_timeout
    }

    /// The URL with its password hidden, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The tokio-postgres configuration: the URL's, plus the connect timeout, the statement
    /// timeout (sent as a start-up option, so it holds on every pooled connection from its
    /// first statement) and an application name that shows in `pg_stat_activity`.
    pub fn pg_config(&self) -> Result<tokio_postgres::Config, PgError> {
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|e| {
            PgError::Config(format!(
                "store.url {} is not valid: {e}",
                self.redacted_url()
            ))
        })?;
        // TLS is not built in: `require` (and stronger) would fail on every connection with
        // an obscure message, so refuse it here with a clear one. `prefer` (the default)
        // falls back to plain TCP.
        if config.get_ssl_mode() == SslMode::Require {
            return Err(PgError::Config(
                "store.url asks for sslmode=require, but this build has no TLS support: use \
                 sslmode=disable or prefer on loopback or a private network"
                    .to_string(),
            ));
        }
        config.connect_timeout(self.connect_timeout);
        // A database that stops answering on an established connection (a host gone, a
        // network cut) is noticed by the kernel: unacknowledged data (and keepalive probes,
        // sent after 10 s of silence) fail the connection after the connect timeout, instead
        // of a query waiting for TCP's own retries, many minutes.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(self.connect_timeout);
        }
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("animam");
        }
        // Added to the URL's own `options` unless those set a statement timeout themselves.
        let timeout = format!(
            "-c statement_timeout={}",
            self.statement_timeout.as_millis()
        );
        let options = match config.get_options() {
            Some(given) if given.contains("statement_timeout") => given.to_string(),
            Some(given) => format!("{given} {timeout}"),
            None => timeout,
        };
        config.options(options);
        Ok(config)
    }
}

/// An error from PostgreSQL, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgError {
    /// Bad settings: fix the configuration.
    Config(String),
    /// The database cannot be reached (refused, timed out, connection lost, pool exhausted):
    /// answer 503 and retry later.
    Unavailable(String),
    /// The database answered with an error (a constraint, a syntax error, a timeout of the
    /// statement...).
    Query(String),
    /// The database's schema is not one this binary can use (see `migrate`).
    Schema(String),
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Config(m) | PgError::Query(m) | PgError::Schema(m) => f.write_str(m),
            PgError::Unavailable(m) => write!(f, "database unavailable: {m}"),
        }
    }
}

impl std::error::Error for PgError {}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        // A server-side error carries an SQLSTATE; anything else (I/O, closed connection,
        // connect timeout) means the database is not there for us right now.
        match e.as_db_error() {
            Some(db) => PgError::Query(format!(
                "{} ({}): {}",
                db.message(),
                db.code().code(),
                db.detail().unwrap_or("")
            )),
            None => PgError::Unavailable(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => PgError::Unavailable(other.to_string()),
        }
    }
}

/// A pool of connections to one database and the runtime that drives them. Cheap to clone.
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    settings: PgSettings,
    handle: tokio::runtime::Handle,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without waiting for its tasks: dropping a runtime the usual way blocks, which tokio
        // forbids (panics) when the last clone of the pool goes away on an async thread.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for PgPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgPool")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl PgPool {
    /// Builds the pool and its runtime. Connects lazily: the first query opens the first
    /// connection (so a replica can start while the database is still coming up), `check`
    /// connects at once.
    pub fn new(settings: PgSettings) -> Result<Self, PgError> {
        let pg_config = settings.pg_config()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // Two threads: the pool's connection tasks and the feed listener are I/O-bound;
            // the work itself runs on the callers' threads.
            .worker_threads(2)
            .thread_name("animam-pg")
            .enable_all()
            .build()
            .map_err(|e| PgError::Config(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                // A connection whose socket closed is dropped on its way back; a verified
                // recycle would cost a round trip per checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Pool construction spawns nothing, but deadpool's timeouts need the runtime
        // entered to find their timer.
        let _enter = runtime.enter();
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size as usize)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .build()
            .map_err(|e| PgError::Config(format!("cannot build the connection pool: {e}")))?;
        drop(_enter);
        log::info!(
            "postgres: pool of {} connections to {}",
            settings.pool_size,
            settings.redacted_url()
        );
        Ok(PgPool {
            inner: Arc::new(Inner {
                pool,
                settings,
                handle: runtime.handle().clone(),
                runtime: Some(runtime),
            }),
        })
    }

    pub fn settings(&self) -> &PgSettings {
        &self.inner.settings
    }

    /// The underlying deadpool pool, for async code running on `handle()`.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The runtime's handle: spawn long-lived tasks (the feed listener) on it.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.inner.handle
    }

    /// Runs `future` to completion on this thread, the pool's runtime driving its I/O. For
    /// the writer thread and the blocking pool only: from an async worker it panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle().block_on(future)
    }

    /// Closes the idle connections: after one stopped answering, the others, opened to the
    /// same server, are suspect. Checkouts then open new ones (bounded by the connect
    /// timeout) rather than wait on an old one.
    pub fn forget_idle(&self) {
        let _ = self.inner.pool.retain(|_, _| false);
    }

    /// Whether the server answers at all: a fresh connection (not a pooled one, which may
    /// be what hangs) and `SELECT 1`, within the connect timeout. An error from the server
    /// (too many connections, say) is an answer: it is there. Run it on the pool's runtime.
    pub async fn answers(&self) -> bool {
        let Ok(mut config) = self.settings().pg_config() else {
            return false;
        };
        config.application_name("animam-probe");
        let probe = async {
            let (client, connection) = config.connect(NoTls).await?;
            let driver = tokio::spawn(connection);
            client.simple_query("SELECT 1").await?;
            drop(client);
            let _ = driver.await;
            Ok::<(), tokio_postgres::Error>(())
        };
        match tokio::time::timeout(self.settings().connect_timeout, probe).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => e.as_db_error().is_some(),
            Err(_) => false,
        }
    }

    /// A connection from the pool (async).
    pub async fn get(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.inner.pool.get().await?)
    }

    /// Connects now and asks the server's version: start-up fails early and clearly on a
    /// wrong URL, password or database.
    pub fn check(&self) -> Result<String, PgError> {
        self.block_on(async {
            let client = self.get().await?;
            let row = client.query_one("SHOW server_version", &[]).await?;
            Ok(row.get::<_, String>(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg::test_cluster;

    #[test]
    fn settings_hide_the_password_and_refuse_tls() {
        let config = StoreConfig::default();
        let settings = PgSettings::new("postgres://u:hunter2@127.0.0.1/db", &config);
        assert!(!format!("{settings:?}").contains("hunter2"));
        let pg = settings.pg_config().unwrap();
        assert_eq!(
            pg.get_options(),
            Some("-c statement_timeout=30000"),
            "the statement timeout rides on every connection"
        );
        assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(5)));
        let custom = PgSettings::new("postgres://h/db?options=-c%20search_path%3Dx", &config);
        assert_eq!(
            custom.pg_config().unwrap().get_options(),
            Some("-c search_path=x -c statement_timeout=30000")
        );
        let tls = PgSettings::new("postgres://u:hunter2@h/db?sslmode=require", &config);
        let err = tls.pg_config().unwrap_err().to_string();
        assert!(err.contains("sslmode") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn pool_runs_queries_and_enforces_the_statement_timeout() {
        let db = test_cluster::database();
        let mut config = StoreConfig {
            pool_size: 2,
            statement_timeout_secs: 1,
            ..StoreConfig::default()
        };
        config.connect_timeout_secs = 5;
        let pool = PgPool::new(PgSettings::new(db.url(), &config)).unwrap();
        let version = pool.check().unwrap();
        assert!(version.starts_with(char::is_numeric), "{version}");
        // From several plain threads at once, as the writer and the blocking pool will.
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    pool.block_on(async {
                        let client = pool.get().await?;
                        let row = client.query_one("SELECT $1::int + 1", &[&i]).await?;
                        Ok::<i32, PgError>(row.get(0))
                    })
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap().unwrap(), i as i32 + 1);
        }
        let slow = pool.block_on(async {
            let client = pool.get().await?;
            client.execute("SELECT pg_sleep(3)", &[]).await?;
            Ok::<(), PgError>(())
        });
        match slow {
            Err(PgError::Query(m)) => assert!(m.contains("57014"), "{m}"),
            other => panic!("expected a statement timeout, got {other:?}"),
        }
    }

    #[test]
    fn the_last_clone_may_go_away_on_an_async_thread() {
        let pool = PgPool::new(PgSettings::new(
            "postgres://u@127.0.0.1:1/db",
            &StoreConfig::default(),
        ))
        .unwrap();
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        other.block_on(async move { drop(pool) });
    }

    #[test]
    fn unreachable_database_is_unavailable_not_a_hang() {
        // A port nothing listens on: refused at once, reported as Unavailable.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = StoreConfig {
            connect_timeout_secs: 1,
            ..StoreConfig::default()
        };
        let url = format!("postgres://u:pw@127.0.0.1:{port}/db");
        let pool = PgPool::new(PgSettings::new(&url, &config)).unwrap();
        let started = std::time::Instant::now();
        let err = pool.check().unwrap_err();
        assert!(matches!(err, PgError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("pw@"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
