//! The command line. Each subcommand is a thin wrapper over `Store`/`app` functions; secrets
//! go to stdout alone (so `TOKEN=$(animam bootstrap --tenant acme)` works), everything else to
//! stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::token::{SecretKind, mint};
use crate::clock::Timestamp;
use crate::config::{self, FlagOverrides};
use crate::domain::tenant::is_valid_slug;
use crate::domain::{Actor, NewToken, ScopeSet};
use crate::store::{Store, StoreError, StoreOptions};

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
    if let Command::Serve { .. } = cli.command {
        return actix_web::rt::System::new().block_on(crate::app::serve(config));
    }
    let creates_data = matches!(
        cli.command,
        Command::Bootstrap { .. } | Command::Tenant(TenantCommand::Create { .. })
    );
    if !creates_data && !config.data_dir.is_dir() {
        return Err(format!(
            "no data directory at {}; create data first with `animam bootstrap --tenant SLUG`, \
             or point --data-dir at an existing one",
            config.data_dir.display()
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let store = Store::open(&config.data_dir, &StoreOptions::from(&config.store))
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(admin(&store, cli.command));
    store.close(std::time::Duration::from_secs(5));
    result
}

async fn admin(store: &Store, command: Command) -> Result<(), String> {
    let text = |e: StoreError| e.to_string();
    match command {
        Command::Serve { .. } => Err("serve is not an admin command".into()),
        Command::Bootstrap { tenant, name } => bootstrap(store, &tenant, name.as_deref()).await,
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            check_slug(&slug)?;
            let tenant = store
                .create_tenant(&slug, name.as_deref().unwrap_or(&slug))
                .await
                .map_err(text)?;
            eprintln!("Created tenant {} ({})", printable(&tenant.slug), tenant.id);
            Ok(())
        }
        Command::Tenant(TenantCommand::List) => {
            let tenants = store.list_tenants().await.map_err(text)?;
            println!("{:<24} {:<28} {:<9} CREATED", "SLUG", "NAME", "ACTIVE");
            for t in tenants {
                println!(
                    "{:<24} {:<28} {:<9} {}",
                    printable(&t.slug),
                    printable(&t.name),
                    if t.is_activated { "yes" } else { "no" },
                    t.created_at.to_rfc3339()
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::List { tenant }) => {
            let tokens = store.list_tokens(tenant.as_deref()).await.map_err(text)?;
            println!(
                "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} SCOPES",
                "ID", "TENANT", "NAME", "PREFIX", "LAST USED", "EXPIRES"
            );
            for t in tokens {
                println!(
                    "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} {}",
                    t.id,
                    printable(&t.tenant),
                    printable(&t.name),
                    t.prefix,
                    t.last_used_at.map_or("never".into(), Timestamp::to_rfc3339),
                    t.expires_at.map_or("never".into(), Timestamp::to_rfc3339),
                    t.scopes.names().join(",")
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            match store.revoke_token(None, &id, Actor::cli()).await {
                Ok(t) => {
                    eprintln!(
                        "Revoked token {} ({}) of tenant {}",
                        t.id,
                        printable(&t.name),
                        printable(&t.tenant)
                    );
                    Ok(())
                }
                Err(StoreError::NotFound(_)) => Err(format!("no token with id {}", printable(&id))),
                Err(e) => Err(e.to_string()),
            }
        }
        Command::LegacyKey { tenant } => {
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
            eprintln!(
                "Minted a new legacy X-API-Key for tenant {} (any previous key no longer works). \
                 It is shown once, below; store it now.",
                printable(&tenant)
            );
            println!("{}", minted.secret);
            Ok(())
        }
    }
}

/// Text from the database made safe for a terminal: control characters (escape sequences,
/// CR/LF that would forge a row) are shown escaped instead of acted upon.
fn printable(text: &str) -> String {
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

async fn bootstrap(store: &Store, slug: &str, name: Option<&str>) -> Result<(), String> {
    check_slug(slug)?;
    let text = |e: StoreError| e.to_string();
    if store.get_tenant(slug).await.map_err(text)?.is_none() {
        let tenant = store
            .create_tenant(slug, name.unwrap_or(slug))
            .await
            .map_err(text)?;
        eprintln!("Created tenant {} ({})", tenant.slug, tenant.id);
    }
    let minted = mint(SecretKind::ApiToken);
    let record = store
        .create_token(
            slug,
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
    eprintln!(
        "Minted token {} with scope * for tenant {slug}. It is shown once, below; store it now.",
        record.id
    );
    println!("{}", minted.secret);
    Ok(())
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
