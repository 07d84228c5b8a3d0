//! The command line. Each admin subcommand becomes an `app::admin::Request`, run by the server
//! through its admin socket when one is serving, on the database file otherwise; secrets go to
//! stdout alone (so `TOKEN=$(animam bootstrap --tenant acme)` works), everything else to
//! stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::admin::{self, Request, printable};
use crate::config::{self, FlagOverrides};
use crate::store::{Store, StoreOptions};

#[derive(Parser, Debug)]
#[command(
    name = "animam",
    version,
    about = "Self-hosted, single-binary server for the Animam chatbot API",
    long_about = "Self-hosted, single-binary server for the Animam chatbot API.\n\n\
        Data lives in an embedded database file (<data-dir>/animam.redb). Settings come from \
        flags, then ANIMAM_* environment variables, then animam.toml, then defaults.\n\n\
        Quick start:\n  TOKEN=$(animam bootstrap --tenant acme)\n  animam serve",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Directory holding animam.redb [env: ANIMAM_DATA_DIR] [default: data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Settings file [env: ANIMAM_CONFIG] [default: ./animam.toml if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server until SIGTERM or SIGINT.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080; port 0 picks a free port
        /// [env: ANIMAM_LISTEN] [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Create a tenant if absent and mint a full-access (`*`) API token for it. The token is
    /// printed alone on stdout, once; it cannot be shown again.
    Bootstrap {
        /// Tenant slug: 2-63 characters of a-z, 0-9 and -
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// Display name for a new tenant [default: the slug]
        #[arg(long)]
        name: Option<String>,
    },
    /// Create or list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// List or revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Mint the tenant's legacy X-API-Key (full access), replacing any previous one. The key
    /// is printed alone on stdout, once.
    LegacyKey {
        /// Tenant slug
        #[arg(long, value_name = "SLUG")]
        tenant: String,
    },
    /// Write a consistent copy of the database to FILE, also while `animam serve` runs (it
    /// keeps serving). To restore: stop the server, move FILE to <data-dir>/animam.redb. With
    /// the postgres backend, FILE is a redb copy of one snapshot of the whole database, taken
    /// while replicas serve; `animam migrate --from DIR --to URL` copies it back.
    Backup {
        /// The backup file to create (must not exist)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify the whole database file: every record decodes and the indexes agree with the
    /// records. Prints what it found; exits non-zero when anything is wrong. Also while the
    /// server runs (it checks through it), and with the postgres backend against the database
    /// (one snapshot, replicas serving; --quarantine is redb only).
    Check {
        /// Move records that do not decode to the `quarantine` table (kept, not deleted), with
        /// the rows derived from them, then check again
        #[arg(long)]
        quarantine: bool,
    },
    /// Prepare a PostgreSQL database for `[store] backend = "postgres"`: apply the schema
    /// migrations embedded in this binary (versioned; safe to run again and while replicas
    /// start: migrators take turns under an advisory lock) and report the schema version. A
    /// database migrated by a newer animam is refused, unchanged. With --from, also copy a
    /// redb store into it (it must be empty), with progress and a verification count.
    #[command(after_help = "Examples:\n  animam migrate                      \
        # the database of store.url / ANIMAM_STORE_URL\n  \
        animam migrate --to postgres://animam:PASSWORD@127.0.0.1:5432/animam\n  \
        animam migrate --from data/ --to postgres://...   # copy a redb store (server stopped)\n  \
        animam migrate --from postgres://... --to data2/  # and back, into a new data directory")]
    Migrate {
        /// The PostgreSQL database, postgres://user:password@host:port/db
        /// [default: store.url, env: ANIMAM_STORE_URL]; a new data directory when --from is
        /// a PostgreSQL URL
        #[arg(long, value_name = "URL|DIR")]
        to: Option<String>,
        /// A redb data directory to copy into the (empty) database, everything in it: tenants,
        /// tokens (as hashes), corpus, conversations... (stop the server using it first); or a
        /// PostgreSQL URL to copy into a new redb data directory given by --to
        #[arg(long, value_name = "DIR|URL")]
        from: Option<String>,
    },
    /// Print the OpenAPI 3.1 document the server serves at /openapi.json (needs no data).
    Openapi {
        /// Print the Markdown API reference instead (docs/api.md is this output)
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Tenant slug: 2-63 characters of a-z, 0-9 and -
        slug: String,
        /// Display name [default: the slug]
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// List tokens (never their secrets).
    List {
        /// Only this tenant's tokens
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
    },
    /// Revoke a token by id (tok_...). It stops working at once.
    Revoke {
        /// Token id, as shown by `animam token list`
        id: String,
    },
}

/// Runs the parsed command. Errors are plain sentences for the operator.
pub fn run(cli: Cli) -> Result<(), String> {
    let flags = FlagOverrides {
        listen: match &cli.command {
            Command::Serve { listen } => listen.clone(),
            _ => None,
        },
        data_dir: cli.global.data_dir.clone(),
    };
    let config = config::load(cli.global.config.as_deref(), &flags).map_err(|e| e.to_string())?;
    log::debug!("configuration: {config:?}");
    if let Command::Migrate { to, from } = &cli.command {
        return migrate(&config, to.as_deref(), from.as_deref());
    }
    if config.store.backend == config::StoreBackend::Postgres
        && !crate::store::pg::BACKEND_AVAILABLE
        && !matches!(cli.command, Command::Openapi { .. })
    {
        return Err(crate::store::pg::NOT_AVAILABLE.to_string());
    }
    if let Command::Serve { .. } = cli.command {
        return actix_web::rt::System::new().block_on(crate::app::serve(config));
    }
    if let Command::Openapi { markdown } = cli.command {
        let document = crate::api::openapi::document();
        if markdown {
            print!("{}", crate::api::openapi::markdown(&document));
        } else {
            let text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
            println!("{text}");
        }
        return Ok(());
    }
    let creates_data = matches!(
        cli.command,
        Command::Bootstrap { .. } | Command::Tenant(TenantCommand::Create { .. })
    );
    // With PostgreSQL the data is the database's: commands run against it directly, beside
    // the replicas (no lock to take), wherever they are started.
    let postgres = config.store.backend == config::StoreBackend::Postgres;
    if !postgres && !creates_data && !config.data_dir.is_dir() {
        return Err(format!(
            "no data directory at {}; create data first with `animam bootstrap --tenant SLUG`, \
             or point --data-dir at an existing one",
            config.data_dir.display()
        ));
    }
    if let Command::Check { quarantine } = cli.command
        && (quarantine || !postgres)
    {
        if postgres {
            return Err(
                "animam check --quarantine moves records inside a redb file; with \
                 PostgreSQL, run `animam check` (read-only) and repair from a backup or with \
                 SQL"
                .into(),
            );
        }
        // A running server checks its own open database (quarantining needs it stopped).
        if !quarantine && let Some(result) = admin::call(&config.data_dir, &Request::Check) {
            let output = result?;
            eprint!("{}", output.stderr);
            return Ok(());
        }
        return check(&config.data_dir, quarantine);
    }
    let request = match cli.command {
        // PostgreSQL only (redb's check is handled above): through the engine seam.
        Command::Check { .. } => Request::Check,
        Command::Serve { .. } | Command::Openapi { .. } | Command::Migrate { .. } => {
            return Err("not an admin command".into());
        }
        Command::Bootstrap { tenant, name } => Request::Bootstrap { tenant, name },
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            Request::TenantCreate { slug, name }
        }
        Command::Tenant(TenantCommand::List) => Request::TenantList,
        Command::Token(TokenCommand::List { tenant }) => Request::TokenList { tenant },
        Command::Token(TokenCommand::Revoke { id }) => Request::TokenRevoke { id },
        Command::LegacyKey { tenant } => Request::LegacyKey { tenant },
        Command::Backup { out } => Request::Backup {
            out: std::path::absolute(&out)
                .map_err(|e| format!("cannot resolve {}: {e}", out.display()))?,
        },
    };
    // A running server holds the database: it runs the command for us.
    let output = match admin::call(&config.data_dir, &request) {
        Some(result) => result?,
        None => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start: {e}"))?;
            let options = StoreOptions {
                serving: false,
                ..StoreOptions::from(&config.store)
            };
            let store = Store::open(&config.data_dir, &options).map_err(|e| e.to_string())?;
            let result = runtime.block_on(admin::execute(&store, request));
            store.close(std::time::Duration::from_secs(5));
            result?
        }
    };
    eprint!("{}", output.stderr);
    print!("{}", output.stdout);
    Ok(())
}

/// `animam migrate`: the schema of the PostgreSQL database at `to` (else `store.url`) brought
/// to this binary's version. Progress on stderr; the URL only ever shown without its password.
fn migrate(config: &config::Config, to: Option<&str>, from: Option<&str>) -> Result<(), String> {
    use crate::store::pg::{PgPool, PgSettings, migrate};
    let is_url = |s: &str| s.starts_with("postgres://") || s.starts_with("postgresql://");
    // From PostgreSQL back to redb: the database is --from, the data directory --to.
    let back = from.filter(|f| is_url(f));
    let url = match (back, to) {
        (Some(url), _) => config::parse_store_url("--from", url).map_err(|e| e.to_string())?,
        (None, Some(url)) => config::parse_store_url("--to", url).map_err(|e| e.to_string())?,
        (None, None) => config.store.url.clone().ok_or(
            "no database to migrate: give --to postgres://... or set store.url \
             (ANIMAM_STORE_URL)",
        )?,
    };
    let mut settings = PgSettings::new(&url, &config.store);
    settings.pool_size = 1;
    let pool = PgPool::new(settings).map_err(|e| e.to_string())?;
    let target = pool.settings().redacted_url();
    let version = pool
        .check()
        .map_err(|e| format!("cannot reach {target}: {e}"))?;
    eprintln!("migrate: {target} (PostgreSQL {version})");
    if back.is_some() {
        let dir = to.ok_or("--from postgres://... needs --to DIR, a new data directory")?;
        let dir = std::path::Path::new(dir);
        let started = std::time::Instant::now();
        let report = crate::store::pg::copy::postgres_to_redb(&pool, dir, &mut progress_bar())
            .map_err(|e| format!("copy from {target} failed (nothing was kept): {e}"))?;
        eprintln!(
            "copy: {} rows in {} tables copied from {target} to {} in {} ms; verified: every \
             table's row count matches",
            report.rows,
            report.tables,
            dir.join("animam.redb").display(),
            started.elapsed().as_millis()
        );
        return Ok(());
    }
    if let Some(from) = from {
        return copy(config, std::path::Path::new(from), &pool, &target);
    }
    let report = migrate::migrate_pool(&pool).map_err(|e| format!("{target}: {e}"))?;
    if report.applied() {
        eprintln!(
            "migrate: schema version {} -> {} applied",
            report.from, report.to
        );
    } else {
        eprintln!(
            "migrate: schema already at version {}, nothing to do",
            report.to
        );
    }
    println!("{}", report.to);
    Ok(())
}

/// A copy's progress on stderr: a bar redrawn at most every 100 ms on a terminal, else one
/// line per table when it is done.
fn progress_bar() -> impl FnMut(&str, u64, u64) {
    use std::io::{IsTerminal, Write};
    let terminal = std::io::stderr().is_terminal();
    let mut last_drawn = std::time::Instant::now();
    move |table: &str, done: u64, total: u64| {
        let finished = done == total;
        if terminal {
            if !finished && last_drawn.elapsed() < std::time::Duration::from_millis(100) {
                return;
            }
            last_drawn = std::time::Instant::now();
            let filled = (done * 30).checked_div(total).unwrap_or(30).min(30) as usize;
            eprint!(
                "\rcopy: {table:<24} [{}{}] {done}/{total}",
                "#".repeat(filled),
                "-".repeat(30 - filled)
            );
            if finished {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if finished {
            eprintln!("copy: {table}: {total} rows");
        }
    }
}

/// `animam migrate --from DIR`: the copy, with a progress bar on stderr and the verification
/// count last.
fn copy(
    config: &config::Config,
    from: &std::path::Path,
    pool: &crate::store::pg::PgPool,
    target: &str,
) -> Result<(), String> {
    if !from.join("animam.redb").is_file() {
        return Err(format!(
            "no redb store at {}",
            from.join("animam.redb").display()
        ));
    }
    // The source is the redb file in `from`, whatever `[store] backend` says.
    let options = StoreOptions {
        postgres: None,
        ..StoreOptions::from(&config.store)
    };
    let store = Store::open(from, &options).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let result = crate::store::pg::copy::redb_to_postgres(&store, pool, &mut progress_bar());
    store.close(std::time::Duration::from_secs(5));
    let report = result.map_err(|e| format!("copy to {target} failed (nothing was kept): {e}"))?;
    eprintln!(
        "copy: {} rows in {} tables copied from {} to {target} in {} ms; verified: every \
         table's row count matches",
        report.rows,
        report.tables,
        from.display(),
        started.elapsed().as_millis()
    );
    println!("{}", report.schema_version);
    Ok(())
}

/// `animam check`: progress and problems on stderr, a summary last.
fn check(data_dir: &std::path::Path, quarantine: bool) -> Result<(), String> {
    use crate::store::check;
    let mut progress = |line: &str| eprintln!("check: {}", printable(line));
    let started = std::time::Instant::now();
    let mut report =
        check::check(data_dir, quarantine, &mut progress).map_err(|e| e.to_string())?;
    for problem in &report.problems {
        eprintln!("problem: {}", printable(problem));
    }
    if report.quarantined > 0 {
        eprintln!(
            "check: {} records moved to the quarantine table; checking again",
            report.quarantined
        );
        report = check::check(data_dir, false, &mut progress).map_err(|e| e.to_string())?;
        for problem in &report.problems {
            eprintln!("problem: {}", printable(problem));
        }
    }
    eprintln!(
        "check: {} records read in {} ms, {} problems",
        report.records,
        started.elapsed().as_millis(),
        report.problems.len()
    );
    match report.problems.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} problems found in {}{}",
            data_dir.display(),
            if quarantine {
                ""
            } else {
                "; `animam check --quarantine` moves damaged records aside"
            }
        )),
    }
}
