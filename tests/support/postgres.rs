//! A PostgreSQL for tests: each test gets a fresh, empty database of its own.
//!
//! With `ANIMAM_TEST_PG_URL` set (as `.ci/run` does), databases are created on that server
//! (the URL must let its role CREATE DATABASE). Without it, the first test of the process
//! starts a throwaway cluster with the machine's PostgreSQL server binaries (Debian's
//! /usr/lib/postgresql/N/bin, or `ANIMAM_TEST_PG_BIN`) in a temp directory on a free loopback
//! port, as the `postgres` user when running as root (initdb refuses root). A watchdog process
//! stops that cluster and removes its directory once this process is gone, however it ends,
//! so no postgres outlives the test run. With neither a URL nor binaries, tests that ask for a
//! database fail with a message saying so: they never pass silently.
//!
//! `private_cluster()` starts a cluster for one test alone (the same binaries, the same
//! cleanup), which it may stop and start again on the same port and data directory: a
//! database outage must not hit the tests sharing the other one.
//!
//! Only std, tokio and tokio-postgres, and no `crate::` paths, so the same file is included by
//! the library's unit tests (src/store/pg) and by the integration tests.
// Each includer uses a different subset of this file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A database created for one test, dropped (with its connections) when this is dropped.
pub struct TestDb {
    url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// `postgres://...` for this database alone.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a throwaway cluster goes away whole anyway; on a developer's own
        // server this keeps test databases from piling up.
        let _ = admin_sql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// Where databases are created: the admin URL (a database on the server to connect to).
struct Cluster {
    admin_url: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The admin URL of the test server (starting the throwaway cluster if needed); panics with
/// the reason when there is none.
pub fn server_url() -> String {
    cluster().admin_url.clone()
}

fn cluster() -> &'static Cluster {
    let cluster = CLUSTER.get_or_init(|| match std::env::var("ANIMAM_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(Cluster {
            admin_url: url.trim().to_string(),
        }),
        _ => start_local(),
    });
    match cluster {
        Ok(c) => c,
        Err(reason) => panic!(
            "PostgreSQL tests need a server and none could be had: {reason}. Set \
             ANIMAM_TEST_PG_URL=postgres://user@host:port/db (a role that may CREATE \
             DATABASE), or install the PostgreSQL server binaries (Debian: \
             apt-get install postgresql) so the tests start a throwaway cluster"
        ),
    }
}

/// A fresh empty database for one test.
pub fn database() -> TestDb {
    let cluster = cluster();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "animam_t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    );
    if let Err(e) = admin_sql(&cluster.admin_url, &format!("CREATE DATABASE \"{name}\"")) {
        panic!("cannot create test database {name}: {e}");
    }
    TestDb {
        url: with_database(&cluster.admin_url, &name),
        name,
        admin_url: cluster.admin_url.clone(),
    }
}

/// `url` with its database (the path) replaced by `name`, parameters kept.
pub fn with_database(url: &str, name: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!("{}/{name}{query}", &url[..authority_end])
}

/// Runs `sql` on a connection of its own, on a thread of its own (so it works from inside an
/// async test too).
fn admin_sql(url: &str, sql: &str) -> Result<(), String> {
    let url = url.to_string();
    let sql = sql.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let driver = tokio::spawn(connection);
            let result = client
                .batch_execute(&sql)
                .await
                .map_err(|e| match e.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => e.to_string(),
                });
            drop(client);
            let _ = driver.await;
            result
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_string())?
}

/// The directory of initdb/pg_ctl: `ANIMAM_TEST_PG_BIN`, else the newest
/// /usr/lib/postgresql/N/bin.
fn find_bin() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("ANIMAM_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "ANIMAM_TEST_PG_BIN={} has no initdb",
                dir.display()
            ))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no /usr/lib/postgresql (PostgreSQL server binaries not installed)")?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

fn id(args: &[&str]) -> Result<u32, String> {
    let out = Command::new("id")
        .args(args)
        .output()
        .map_err(|e| format!("id: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "id {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("id: {e}"))
}

/// A command run as `owner` (uid, gid) when given: the server binaries refuse root.
fn as_owner(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = owner {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A cluster's directory and binaries, initialised (initdb) but not necessarily running.
struct Local {
    bin: PathBuf,
    /// (uid, gid) the server runs as, when this process is root.
    owner: Option<(u32, u32)>,
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
}

impl Local {
    /// A new cluster in a temp directory, with its watchdog: once this process is gone, the
    /// server is stopped and the directory removed.
    fn init(label: &str) -> Result<Local, String> {
        let bin = find_bin()?;
        // As root, the cluster belongs to the `postgres` user Debian's packages create.
        let owner = if id(&["-u"])? == 0 {
            let uid = id(&["-u", "postgres"]).map_err(|e| {
                format!("running as root, and there is no `postgres` user to own the cluster ({e})")
            })?;
            Some((uid, id(&["-g", "postgres"])?))
        } else {
            None
        };
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "animam-{label}-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            stamp % 1_000_000
        ));
        std::fs::create_dir(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", root.display()))?;
        }
        let local = Local {
            data: root.join("data"),
            log: root.join("server.log"),
            bin,
            owner,
            root,
        };

        // The watchdog first, so even a failed start is cleaned up: once this process is
        // gone, stop the server (immediate: it is throwaway) and remove the directory. Its
        // own session (setsid) keeps a Ctrl-C to the test run from killing it before it
        // cleans up.
        let watchdog = format!(
            "trap '' INT HUP; while [ -d /proc/{pid} ]; do sleep 0.2; done; \
             '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = local.bin.join("pg_ctl").display(),
            data = local.data.display(),
            root = local.root.display(),
        );
        let setsid = Path::new("/usr/bin/setsid");
        let mut cmd = if setsid.is_file() {
            let mut cmd = as_owner(setsid, owner);
            cmd.args(["sh", "-c", &watchdog]);
            cmd
        } else {
            let mut cmd = as_owner(Path::new("/bin/sh"), owner);
            cmd.args(["-c", &watchdog]);
            cmd
        };
        cmd.current_dir(&local.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;

        let out = as_owner(&local.bin.join("initdb"), owner)
            .current_dir(&local.root)
            .args(["-D"])
            .arg(&local.data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(local)
    }

    /// `pg_ctl start` on `port`, waiting until it accepts connections.
    fn start(&self, port: u16) -> Result<(), String> {
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            self.root.display()
        );
        let started = Instant::now();
        let out = self
            .pg_ctl()
            .args(["-l"])
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            eprintln!(
                "test PostgreSQL cluster on 127.0.0.1:{port} in {} (started in {} ms)",
                self.root.display(),
                started.elapsed().as_millis()
            );
            return Ok(());
        }
        Err(format!(
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        ))
    }

    /// `pg_ctl stop` in `mode` (`fast`: clients are disconnected, the data is flushed),
    /// waiting until the server is gone.
    fn stop(&self, mode: &str) -> Result<(), String> {
        let out = self
            .pg_ctl()
            .args(["-m", mode, "-w", "-t", "60", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = as_owner(&self.bin.join("pg_ctl"), self.owner);
        cmd.current_dir(&self.root).args(["-D"]).arg(&self.data);
        cmd
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start_local() -> Result<Cluster, String> {
    let local = Local::init("pg")?;
    // A free loopback port; another process could take it before the server binds it, so
    // retry a few times.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        match local.start(port) {
            Ok(()) => {
                return Ok(Cluster {
                    admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                });
            }
            Err(e) => last_error = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last_error)
}

/// A cluster of one test's own, which it may stop and start again (on the same port and
/// data directory): for what the shared one must not go through, a database outage. Needs
/// the server binaries even where `ANIMAM_TEST_PG_URL` names a server. Stopped and removed
/// when dropped (and by its watchdog if the process dies first).
pub struct PrivateCluster {
    local: Local,
    port: u16,
}

/// A running private cluster; panics with the reason when none can be had.
pub fn private_cluster() -> PrivateCluster {
    let started = Local::init("pg-private").and_then(|local| {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            match local.start(port) {
                Ok(()) => return Ok(PrivateCluster { local, port }),
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last_error)
    });
    started.unwrap_or_else(|reason| {
        panic!(
            "this test needs a PostgreSQL cluster of its own and none could be started: \
             {reason}. Install the PostgreSQL server binaries (Debian: apt-get install \
             postgresql) or set ANIMAM_TEST_PG_BIN"
        )
    })
}

impl PrivateCluster {
    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: its clients are disconnected), as an outage would.
    pub fn stop(&self) {
        self.local
            .stop("fast")
            .unwrap_or_else(|e| panic!("stopping the private cluster: {e}"));
    }

    /// Starts it again on the same port and data directory.
    pub fn start(&self) {
        self.local
            .start(self.port)
            .unwrap_or_else(|e| panic!("restarting the private cluster: {e}"));
    }

    /// Stops every process of the server (SIGSTOP) without closing a connection: a database
    /// that no longer answers, as a hung host would be. `thaw` lets it go on.
    pub fn freeze(&self) {
        self.signal_all("-STOP")
            .unwrap_or_else(|e| panic!("freezing the private cluster: {e}"));
    }

    pub fn thaw(&self) {
        self.signal_all("-CONT")
            .unwrap_or_else(|e| panic!("thawing the private cluster: {e}"));
    }

    /// The postmaster (first line of postmaster.pid) and its children, by parent pid.
    fn signal_all(&self, signal: &str) -> Result<(), String> {
        let pid_file = std::fs::read_to_string(self.local.data.join("postmaster.pid"))
            .map_err(|e| format!("the server is not running: {e}"))?;
        let postmaster: u32 = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("no pid in postmaster.pid")?;
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces, so from the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        let status = Command::new("kill")
            .arg(signal)
            .args(pids.iter().map(u32::to_string))
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {signal} {pids:?}: {status}"))
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // A frozen server would not stop.
        let _ = self.signal_all("-CONT");
        let _ = self.local.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.local.root);
    }
}
