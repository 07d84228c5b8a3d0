//! The command line. Each subcommand is a thin wrapper over `Store`/`app` functions; secrets
//! go to stdout alone (so `TOKEN=$(animam bootstrap --tenant acme)` works), everything else to
//! stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::scope::ScopeSet;
use crate::clock::to_rfc3339;
use crate::config::{self, Config, FlagOverrides};
use crate::store::tenants::is_valid_slug;
use crate::store::{Store, StoreError};

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
    match cli.command {
        Command::Serve { .. } => actix_web::rt::System::new().block_on(crate::app::serve(config)),
        Command::Bootstrap { tenant, name } => bootstrap(&config, &tenant, name.as_deref()),
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            let store = open(&config)?;
            check_slug(&slug)?;
            let tenant = store
                .create_tenant(&slug, name.as_deref().unwrap_or(&slug))
                .map_err(|e| e.to_string())?;
            eprintln!("Created tenant {} ({})", tenant.slug, tenant.id);
            Ok(())
        }
        Command::Tenant(TenantCommand::List) => {
            let store = open(&config)?;
            let tenants = store.list_tenants().map_err(|e| e.to_string())?;
            println!("{:<24} {:<28} {:<9} CREATED", "SLUG", "NAME", "ACTIVE");
            for t in tenants {
                println!(
                    "{:<24} {:<28} {:<9} {}",
                    t.slug,
                    t.name,
                    if t.is_activated { "yes" } else { "no" },
                    to_rfc3339(t.created_at)
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::List { tenant }) => {
            let store = open(&config)?;
            let tokens = store
                .list_tokens(tenant.as_deref())
                .map_err(|e| e.to_string())?;
            println!(
                "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} SCOPES",
                "ID", "TENANT", "NAME", "PREFIX", "LAST USED", "EXPIRES"
            );
            for t in tokens {
                println!(
                    "{:<26} {:<16} {:<20} {:<13} {:<21} {:<21} {}",
                    t.id,
                    t.tenant,
                    t.name,
                    t.prefix,
                    t.last_used_at.map_or("never".into(), to_rfc3339),
                    t.expires_at.map_or("never".into(), to_rfc3339),
                    t.scopes.join(",")
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let store = open(&config)?;
            match store.revoke_token(None, &id).map_err(|e| e.to_string())? {
                Some(t) => {
                    eprintln!("Revoked token {} ({}) of tenant {}", t.id, t.name, t.tenant);
                    Ok(())
                }
                None => Err(format!("no token with id {id}")),
            }
        }
        Command::LegacyKey { tenant } => {
            let store = open(&config)?;
            let key = store.mint_legacy_key(&tenant).map_err(|e| match e {
                StoreError::NotFound => {
                    format!("no tenant '{tenant}'; create it with `animam tenant create {tenant}`")
                }
                other => other.to_string(),
            })?;
            eprintln!(
                "Minted a new legacy X-API-Key for tenant {tenant} (any previous key no longer works). \
                 It is shown once, below; store it now."
            );
            println!("{key}");
            Ok(())
        }
    }
}

fn open(config: &Config) -> Result<Store, String> {
    Store::open(&config.data_dir).map_err(|e| e.to_string())
}

fn check_slug(slug: &str) -> Result<(), String> {
    if is_valid_slug(slug) {
        Ok(())
    } else {
        Err(format!(
            "invalid tenant slug '{slug}': use 2-63 characters of a-z, 0-9 and -, starting with a letter or digit"
        ))
    }
}

fn bootstrap(config: &Config, slug: &str, name: Option<&str>) -> Result<(), String> {
    check_slug(slug)?;
    let store = open(config)?;
    if store.get_tenant(slug).map_err(|e| e.to_string())?.is_none() {
        let tenant = store
            .create_tenant(slug, name.unwrap_or(slug))
            .map_err(|e| e.to_string())?;
        eprintln!("Created tenant {} ({})", tenant.slug, tenant.id);
    }
    let minted = store
        .create_token(slug, "bootstrap", ScopeSet::all(), None)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "Minted token {} with scope * for tenant {slug}. It is shown once, below; store it now.",
        minted.record.id
    );
    println!("{}", minted.secret);
    Ok(())
}
