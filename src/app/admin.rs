//! Administrative operations (the CLI's commands) and the local admin socket that lets them run
//! while `animam serve` holds the database.
//!
//! The socket is `<data_dir>/admin.sock`, owner-only (0600, in a 0700 directory), created by
//! `serve` once the database is open and removed at a clean stop. Its protocol is one JSON
//! [`Request`] line answered by one JSON line: the command's stdout and stderr text, or an
//! error. The server runs the very same [`execute`] the CLI runs on the file when no server
//! does, so both paths share every rule and message.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::token::{SecretKind, mint};
use crate::clock::Timestamp;
use crate::domain::tenant::is_valid_slug;
use crate::domain::{Actor, NewToken, ScopeSet};
use crate::store::{DB_FILE, Store, StoreError};

/// The socket's file name in the data directory.
pub const SOCKET_FILE: &str = "admin.sock";
/// A request line longer than this is refused (commands are short).
const MAX_REQUEST: u64 = 64 * 1024;

/// An administrative command, as the CLI parsed it.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Bootstrap {
        tenant: String,
        name: Option<String>,
    },
    TenantCreate {
        slug: String,
        name: Option<String>,
    },
    TenantList,
    TokenList {
        tenant: Option<String>,
    },
    TokenRevoke {
        id: String,
    },
    LegacyKey {
        tenant: String,
    },
    /// `out` is absolute: the server resolves nothing against its own working directory.
    Backup {
        out: PathBuf,
    },
    /// `animam check` without `--quarantine`: read-only, so it can run while serving.
    Check,
}

impl Request {
    /// For logs: the command without its arguments.
    fn name(&self) -> &'static str {
        match self {
            Request::Bootstrap { .. } => "bootstrap",
            Request::TenantCreate { .. } => "tenant create",
            Request::TenantList => "tenant list",
            Request::TokenList { .. } => "token list",
            Request::TokenRevoke { .. } => "token revoke",
            Request::LegacyKey { .. } => "legacy-key",
            Request::Backup { .. } => "backup",
            Request::Check => "check",
        }
    }
}

/// What a command prints: secrets and tables on stdout, messages on stderr.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn out(&mut self, line: impl AsRef<str>) {
        self.stdout.push_str(line.as_ref());
        self.stdout.push('\n');
    }

    fn err(&mut self, line: impl AsRef<str>) {
        self.stderr.push_str(line.as_ref());
        self.stderr.push('\n');
    }
}

#[derive(Serialize, Deserialize)]
struct Response {
    output: Output,
    error: Option<String>,
}

/// Runs one command against an open store. Errors are plain sentences for the operator.
pub async fn execute(store: &Store, request: Request) -> Result<Output, String> {
    let text = |e: StoreError| e.to_string();
    let mut o = Output::default();
    match request {
        Request::Bootstrap { tenant, name } => {
            check_slug(&tenant)?;
            if store.get_tenant(&tenant).await.map_err(text)?.is_none() {
                let created = store
                    .create_tenant(&tenant, name.as_deref().unwrap_or(&tenant))
                    .await
                    .map_err(text)?;
                o.err(format!("Created tenant {} ({})", created.slug, created.id));
            }
            let minted = mint(SecretKind::ApiToken);
            let record = store
                .create_token(
                    &tenant,
                    NewToken {
                        name: "bootstrap".into(),
                        scopes: ScopeSet::all(),
                        hash: minted.hash,
                        prefix: minted.prefix,
                        expires_at: None,
                    },
                    Actor::cli(),
                )
                .await
                .map_err(text)?;
            o.err(format!(
                "Minted token {} with scope * for tenant {tenant}. It is shown once, below; store it now.",
                record.id
            ));
            o.out(minted.secret);
        }
        Request::TenantCreate { slug, name } => {
            check_slug(&slug)?;
            let tenant = store
                .create_tenant(&slug, name.as_deref().unwrap_or(&slug))
                .await
                .map_err(text)?;
            o.err(format!(
                "Created tenant {} ({})",
                printable(&tenant.slug),
                tenant.id
            ));
        }
        Request::TenantList => {
            let tenants = store.list_tenants().await.map_err(text)?;
            o.out(format!(
                "{:<24} {:<28} {:<9} CREATED",
                "SLUG", "NAME", "ACTIVE"
            ));
            for t in tenants {
                o.out(format!(
                    "{:<24} {:<28} {:<9} {}",
                    printable(&t.slug),
                    printable(&t.name),
                    if t.is_activated { "yes" } else { "no" },
                    t.created_at.to_rfc3339()
                ));
            }
        }
        Request::TokenList { tenant } => {
            let tokens = store.list_tokens(tenant.as_deref()).await.map_err(text)?;
            o.out(format!(
                "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} SCOPES",
                "ID", "TENANT", "NAME", "PREFIX", "LAST USED", "EXPIRES"
            ));
            for t in tokens {
                o.out(format!(
                    "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} {}",
                    t.id,
                    printable(&t.tenant),
                    printable(&t.name),
                    t.prefix,
                    t.last_used_at.map_or("never".into(), Timestamp::to_rfc3339),
                    t.expires_at.map_or("never".into(), Timestamp::to_rfc3339),
                    t.scopes.names().join(",")
                ));
            }
        }
        Request::TokenRevoke { id } => match store.revoke_token(None, &id, Actor::cli()).await {
            Ok(t) => o.err(format!(
                "Revoked token {} ({}) of tenant {}",
                t.id,
                printable(&t.name),
                printable(&t.tenant)
            )),
            Err(StoreError::NotFound(_)) => {
                return Err(format!("no token with id {}", printable(&id)));
            }
            Err(e) => return Err(e.to_string()),
        },
        Request::LegacyKey { tenant } => {
            let minted = mint(SecretKind::LegacyKey);
            store
                .set_legacy_key(&tenant, minted.hash, Actor::cli())
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(_) => format!(
                        "no tenant '{t}'; create it with `animam tenant create {t}`",
                        t = printable(&tenant)
                    ),
                    other => other.to_string(),
                })?;
            o.err(format!(
                "Minted a new legacy X-API-Key for tenant {} (any previous key no longer works). \
                 It is shown once, below; store it now.",
                printable(&tenant)
            ));
            o.out(minted.secret);
        }
        Request::Check => {
            let copy = store.clone();
            let (lines, report) = tokio::task::spawn_blocking(move || {
                let mut lines = Vec::new();
                let report = copy.check_live(&mut |line| lines.push(printable(line)));
                (lines, report)
            })
            .await
            .map_err(|e| format!("check failed: {e}"))?;
            let report = report.map_err(|e| format!("check failed: {e}"))?;
            for line in lines {
                o.err(format!("check: {line}"));
            }
            for problem in &report.problems {
                o.err(format!("problem: {}", printable(problem)));
            }
            o.err(format!(
                "check: {} records read, {} problems",
                report.records,
                report.problems.len()
            ));
            if !report.problems.is_empty() {
                return Err(format!(
                    "{}{} problems found; stop the server and run `animam check --quarantine` to \
                     move damaged records aside",
                    o.stderr,
                    report.problems.len()
                ));
            }
        }
        Request::Backup { out } => {
            let copy = store.clone();
            let path = out.clone();
            let report = tokio::task::spawn_blocking(move || copy.backup(&path))
                .await
                .map_err(|e| format!("backup failed: {e}"))?
                .map_err(|e| format!("backup failed: {e}"))?;
            let restore = if report.from_postgres {
                format!(
                    "It is a redb store of the whole database: to restore it, move it to \
                     DIR/{DB_FILE} and copy it into a new, empty database with `animam migrate \
                     --from DIR --to postgres://...`, or serve DIR with the redb backend."
                )
            } else {
                format!("To restore it, stop the server and move it to <data-dir>/{DB_FILE}.")
            };
            o.err(format!(
                "Wrote a consistent backup to {} ({} rows in {} tables, {} bytes). {restore}",
                out.display(),
                report.rows,
                report.tables,
                report.bytes
            ));
        }
    }
    Ok(o)
}

/// Text from the database made safe for a terminal: control characters (escape sequences,
/// CR/LF that would forge a row) are shown escaped instead of acted upon.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn check_slug(slug: &str) -> Result<(), String> {
    if is_valid_slug(slug) {
        Ok(())
    } else {
        Err(format!(
            "invalid tenant slug '{}': use 2-63 characters of a-z, 0-9 and -, starting with a letter or digit",
            printable(slug)
        ))
    }
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Sends `request` to the server listening in `data_dir`. `None` when no server listens there
/// (no socket, or a stale one): the caller then works on the file itself.
pub fn call(data_dir: &Path, request: &Request) -> Option<Result<Output, String>> {
    let path = socket_path(data_dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return None;
        }
        Err(e) => {
            return Some(Err(format!(
                "cannot reach the running server through {}: {e}",
                path.display()
            )));
        }
    };
    let mut exchange = || -> std::io::Result<Response> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer)?;
        Ok(serde_json::from_str(&answer)?)
    };
    Some(match exchange() {
        Ok(Response {
            error: None,
            output,
        }) => Ok(output),
        Ok(Response {
            error: Some(error), ..
        }) => Err(error),
        Err(e) => Err(format!(
            "the running server did not answer on {}: {e}",
            path.display()
        )),
    })
}

/// The listening socket of a running server.
pub struct AdminSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl AdminSocket {
    /// Listens on `<data_dir>/admin.sock`. Called with the database already open by this
    /// process, so a socket file left there is stale and is replaced.
    pub fn start(store: Store, data_dir: &Path) -> std::io::Result<AdminSocket> {
        use std::os::unix::fs::PermissionsExt;
        let path = socket_path(data_dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("admin-socket".into())
            .spawn(move || serve(listener, store, &stopping))?;
        Ok(AdminSocket { path, stop, thread })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, lets a command in progress finish, removes the socket and drops the
    /// thread's store handle (so the store can close).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, store: Store, stop: &AtomicBool) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error!("admin socket: cannot start its runtime: {e}");
            return;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, &store, &runtime) {
                    log::warn!("admin socket: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                log::warn!("admin socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn answer(
    stream: UnixStream,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            log::info!("admin socket: {}", request.name());
            match runtime.block_on(execute(store, request)) {
                Ok(output) => Response {
                    output,
                    error: None,
                },
                Err(error) => Response {
                    output: Output::default(),
                    error: Some(error),
                },
            }
        }
        Err(e) => Response {
            output: Output::default(),
            error: Some(format!("invalid admin request: {e}")),
        },
    };
    let mut text = serde_json::to_vec(&response)?;
    text.push(b'\n');
    (&stream).write_all(&text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(super::printable("x\r\ny"), "x\\r\\ny");
        assert_eq!(super::printable("Café"), "Café");
    }
}
