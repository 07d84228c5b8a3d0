//! The application: shared state, the actix app (routes, limits, logging) and `serve`, which
//! runs it until SIGTERM/SIGINT and then flushes in-memory bookkeeping.

pub mod admin;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Service, ServiceRequest};
use actix_web::http::Uri;
use actix_web::http::uri::PathAndQuery;
use actix_web::middleware::Logger;
use actix_web::web::{self, PayloadConfig};
use actix_web::{App, HttpServer};

use crate::api::{self, AppState};
use crate::auth::{Credentials, DeniedLog, Guard, RateLimiter, client_ip_text};
use crate::chat::mcp_client::McpTools;
use crate::chat::turn::{Llm, llm_client};
use crate::config::{Config, TrustedProxies};
use crate::secrets::SecretBox;
use crate::store::{Store, StoreOptions};
use crate::web as web_ui;

mod limits;
mod webhooks;

/// How often in-memory bookkeeping (token last-used times) is written to the store. The
/// contract allows last-used to lag by up to a minute.
const FLUSH_INTERVAL: Duration = Duration::from_secs(20);
/// How often a replica counts the replicas sharing its rate limits (always 1 on redb; a
/// `pg_stat_activity` query on PostgreSQL).
const COUNT_REPLICAS_EVERY: Duration = Duration::from_secs(2);
/// How long in-flight requests get to finish after a stop signal.
const SHUTDOWN_GRACE_SECS: u64 = 30;

/// Everything the app needs, built once from an open store.
#[derive(Clone)]
pub struct Services {
    pub state: web::Data<AppState>,
    pub guard: web::Data<Guard>,
}

impl Services {
    pub async fn new(store: Store, config: Config) -> Result<Services, String> {
        let credentials = Credentials::attach(&store)
            .await
            .map_err(|e| format!("cannot load credentials: {e}"))?;
        let secrets = SecretBox::load(&config.data_dir).map_err(|e| e.to_string())?;
        let guard = Guard {
            credentials: credentials.clone(),
            rate_limiter: RateLimiter::per_minute(config.rate_limit_per_minute),
            failed_auth: RateLimiter::per_minute(config.failed_auth_per_ip_per_minute),
            trusted_proxies: config.trusted_proxies.clone(),
            denied: DeniedLog::new(store.clone(), config.audit.denied_per_ip_per_minute),
        };
        let state = AppState {
            chat_ip_limiter: RateLimiter::per_minute(config.chat.rate_limit_per_ip_per_minute),
            chat_tenant_limiter: RateLimiter::per_minute(
                config.chat.rate_limit_per_tenant_per_minute,
            ),
            sign_in_limiter: RateLimiter::per_minute(config.dashboard.sign_in_per_ip_per_minute),
            llm: llm_client(&config.chat)
                .map(|client| Arc::new(Llm::new(client, config.chat.llm_max_concurrent))),
            mcp_tools: Arc::new(McpTools::new(store.clone(), secrets.clone(), &config.chat)),
            credentials,
            store,
            config,
            secrets,
        };
        Ok(Services {
            state: web::Data::new(state),
            guard: web::Data::new(guard),
        })
    }

    /// Registers everything on an actix `App`; shared by `serve` and in-process tests.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
        let services = self.clone();
        move |cfg| {
            // Dashboard forms carry whole CSV imports.
            let form_limit = services.state.config.import_max_body_bytes();
            cfg.app_data(PayloadConfig::new(services.state.config.max_body_bytes()))
                .app_data(web::FormConfig::default().limit(form_limit))
                .app_data(services.state)
                .app_data(services.guard)
                .configure(web_ui::configure)
                .configure(api::configure)
                .default_service(web::to(api::route_not_found));
        }
    }

    /// Counts the replicas serving the database and gives each rate limit's share to this
    /// one (`RateLimiter::share_among`). Budgets that bound this process's own work (the
    /// denied-request audit) stay whole.
    async fn share_limits(&self, known: &mut u32) {
        let Some(replicas) = self.state.store.live_replicas().await else {
            return;
        };
        if replicas == *known {
            return;
        }
        log::info!(
            "{replicas} replica(s) serve this database: each enforces 1/{replicas} of every \
             rate limit"
        );
        *known = replicas;
        for limiter in [
            &self.guard.rate_limiter,
            &self.guard.failed_auth,
            &self.state.chat_ip_limiter,
            &self.state.chat_tenant_limiter,
            &self.state.sign_in_limiter,
        ] {
            limiter.share_among(replicas);
        }
    }

    async fn flush_bookkeeping(&self) {
        self.guard.rate_limiter.forget_idle();
        self.state.chat_ip_limiter.forget_idle();
        self.state.chat_tenant_limiter.forget_idle();
        self.state.sign_in_limiter.forget_idle();
        self.guard.failed_auth.forget_idle();
        self.guard.denied.forget_idle();
        self.guard.denied.flush().await;
        let audit = &self.state.config.audit;
        let max_age = (audit.max_age_days > 0).then(|| i64::from(audit.max_age_days) * 86_400);
        match self
            .state
            .store
            .prune_audit(
                crate::clock::Timestamp::now(),
                max_age,
                audit.max_entries_per_tenant as usize,
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => log::debug!("pruned {n} audit entries"),
            Err(e) => log::error!("pruning the audit log failed: {e}"),
        }
        let idle = i64::from(self.state.config.dashboard.session_idle_secs);
        match self
            .state
            .store
            .delete_over_sessions(crate::clock::Timestamp::now(), idle)
            .await
        {
            Ok(0) => {}
            Ok(n) => log::debug!("removed {n} ended dashboard sessions"),
            Err(e) => log::error!("removing ended dashboard sessions failed: {e}"),
        }
        match self
            .state
            .credentials
            .flush_last_used(&self.state.store)
            .await
        {
            Ok(0) => {}
            Ok(n) => log::debug!("flushed last-used time of {n} tokens"),
            Err(e) => log::error!("flushing token last-used times failed: {e}"),
        }
    }
}

/// One access-log line per request. `%U` is the path without the query string, so nothing a
/// client puts in a query (tokens included) reaches the log; headers are never logged. The
/// client is `auth::client_ip` (actix's `%a` would believe any `X-Forwarded-For`).
fn access_log(trusted: TrustedProxies) -> Logger {
    Logger::new(r#"%{client}xi "%{method}xi %U" %s %b %Dms"#)
        .custom_request_replace("client", move |req| client_ip_text(req.request(), &trusted))
        .custom_request_replace("method", |req| req.method().to_string())
}

/// `/tenants/acme/corpus/` and `/tenants//acme/corpus` reach the route of
/// `/tenants/acme/corpus`. Instead of actix's `NormalizePath`, which runs a regex over every
/// path (a sixth of the time of a `GET corpus/{id}` in the profile), the path is rewritten
/// only when a byte scan finds a doubled or trailing slash.
fn normalize_path(req: &mut ServiceRequest) {
    let path = req.path();
    if !(path.len() > 1 && path.ends_with('/') || path.contains("//")) {
        return;
    }
    let mut normalized = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    let query = req.query_string();
    if !query.is_empty() {
        normalized.push('?');
        normalized.push_str(query);
    }
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(path_and_query) = PathAndQuery::try_from(normalized) else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
}

/// Opens the store and serves until a stop signal.
pub async fn serve(config: Config) -> Result<(), String> {
    // Installed before anything is announced, so a stop signal sent as soon as the address is
    // logged is already handled gracefully.
    let stop = stop_signal().map_err(|e| format!("cannot listen for stop signals: {e}"))?;
    limits::raise_open_files_limit();
    let store = Store::open(&config.data_dir, &StoreOptions::from(&config.store))
        .map_err(|e| e.to_string())?;
    let data_dir = store.data_dir().to_path_buf();
    let services = Services::new(store, config.clone()).await?;
    let app_services = services.clone();
    let bounds = config.limits.clone();
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let body_limit = secs(bounds.body_timeout_secs);
    let cap = limits::ConnectionCap::new(bounds.max_connections_per_ip);
    let server = HttpServer::new(move || {
        App::new()
            .wrap_fn(|mut req, service| {
                normalize_path(&mut req);
                service.call(req)
            })
            .wrap_fn(limits::body_deadline(body_limit))
            .wrap(access_log(
                app_services.state.config.trusted_proxies.clone(),
            ))
            .configure(app_services.configure())
    })
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .client_request_timeout(secs(bounds.header_timeout_secs))
    .client_disconnect_timeout(secs(bounds.disconnect_timeout_secs))
    .keep_alive(match bounds.keep_alive_secs {
        0 => actix_web::http::KeepAlive::Disabled,
        n => actix_web::http::KeepAlive::Timeout(secs(n)),
    })
    .on_connect(move |connection, extensions| cap.on_connect(connection, extensions))
    .bind(config.listen)
    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    // The CLI's commands reach the open database through this socket while we serve; it
    // exists before the address is announced.
    let admin_socket = match admin::AdminSocket::start(services.state.store.clone(), &data_dir) {
        Ok(socket) => {
            log::info!("admin socket at {}", socket.path().display());
            Some(socket)
        }
        Err(e) => {
            log::warn!(
                "no admin socket in {} ({e}): CLI commands must wait for the server to stop",
                data_dir.display()
            );
            None
        }
    };
    for addr in server.addrs() {
        log::info!(
            "animam listening on http://{addr} (data in {})",
            data_dir.display()
        );
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let name = stop.await;
        log::info!("{name} received: finishing in-flight requests");
        handle.stop(true).await;
    });
    let delivering = webhooks::start(services.state.clone());
    let flusher = services.clone();
    let flushing = actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            flusher.flush_bookkeeping().await;
        }
    });
    let counter = services.clone();
    let counting = actix_web::rt::spawn(async move {
        let mut known = 1;
        let mut tick = actix_web::rt::time::interval(COUNT_REPLICAS_EVERY);
        loop {
            tick.tick().await;
            counter.share_limits(&mut known).await;
        }
    });
    let served = server.await;
    counting.abort();
    if let Some(socket) = admin_socket {
        socket.stop();
    }
    served.map_err(|e| format!("server error: {e}"))?;
    flushing.abort();
    let _ = flushing.await;
    // A delivery cut short here stays in the outbox and is made at the next start.
    delivering.abort();
    let _ = delivering.await;
    services.flush_bookkeeping().await;
    let store = services.state.store.clone();
    drop(services);
    store.close(Duration::from_secs(5));
    log::info!("animam stopped");
    Ok(())
}

/// A future resolving on SIGTERM or SIGINT (both mean a graceful stop), with the handlers
/// installed when this returns.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    use futures_util::future::{Either, select};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        match select(std::pin::pin!(term.recv()), std::pin::pin!(int.recv())).await {
            Either::Left(_) => "SIGTERM",
            Either::Right(_) => "SIGINT",
        }
    })
}
