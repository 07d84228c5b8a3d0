//! The application: shared state, the actix app (routes, limits, logging) and `serve`, which
//! runs it until SIGTERM/SIGINT and then flushes in-memory bookkeeping.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::Logger;
use actix_web::web::{self, PayloadConfig};
use actix_web::{App, HttpServer};

use crate::api;
use crate::auth::rate_limit::RateLimiter;
use crate::chat::llm::LlmClient;
use crate::config::Config;
use crate::store::Store;
use crate::store::group_commit::ExchangeWriter;

/// How often in-memory bookkeeping (token last-used times) is written to the store. The
/// contract allows last-used to lag by up to a minute.
const FLUSH_INTERVAL: Duration = Duration::from_secs(20);
/// How long in-flight requests get to finish after a stop signal.
const SHUTDOWN_GRACE_SECS: u64 = 30;

pub struct AppState {
    pub store: Store,
    pub config: Config,
    /// Per API credential.
    pub rate_limiter: RateLimiter,
    /// Public chat, per client IP and per tenant.
    pub chat_ip_limiter: RateLimiter,
    pub chat_tenant_limiter: RateLimiter,
    /// Set when `[chat] llm_base_url` is configured.
    pub llm: Option<Arc<LlmClient>>,
    /// Group-commits chat exchanges.
    pub exchanges: ExchangeWriter,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> io::Result<Self> {
        Ok(AppState {
            rate_limiter: RateLimiter::per_minute(config.rate_limit_per_minute),
            chat_ip_limiter: RateLimiter::per_minute(config.chat.rate_limit_per_ip_per_minute),
            chat_tenant_limiter: RateLimiter::per_minute(
                config.chat.rate_limit_per_tenant_per_minute,
            ),
            llm: api::chat::llm_client(&config.chat).map(Arc::new),
            exchanges: ExchangeWriter::start(store.clone())?,
            store,
            config,
        })
    }
}

/// Registers everything on an actix `App`; shared by `serve` and in-process tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(PayloadConfig::new(state.config.max_body_bytes()))
            .app_data(state)
            .configure(api::configure)
            .default_service(web::to(api::route_not_found));
    }
}

/// One access-log line per request. `%U` is the path without the query string, so nothing a
/// client puts in a query (tokens included) reaches the log; headers are never logged.
fn access_log() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
        .custom_request_replace("method", |req| req.method().to_string())
}

/// Opens the store and serves until a stop signal.
pub async fn serve(config: Config) -> Result<(), String> {
    // Installed before anything is announced, so a stop signal sent as soon as the address is
    // logged is already handled gracefully.
    let stop = stop_signal().map_err(|e| format!("cannot listen for stop signals: {e}"))?;
    let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
    let state = AppState::new(store, config.clone())
        .map_err(|e| format!("cannot start the exchange writer: {e}"))?;
    let state = web::Data::new(state);
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(access_log())
            .configure(configure(app_state.clone()))
    })
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .bind(config.listen)
    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    for addr in server.addrs() {
        log::info!(
            "animam listening on http://{addr} (data in {})",
            config.data_dir.display()
        );
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let name = stop.await;
        log::info!("{name} received: finishing in-flight requests");
        handle.stop(true).await;
    });
    let flusher_state = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            flush_bookkeeping(&flusher_state).await;
        }
    });
    server.await.map_err(|e| format!("server error: {e}"))?;
    flush_bookkeeping(&state).await;
    log::info!("animam stopped");
    Ok(())
}

async fn flush_bookkeeping(state: &AppState) {
    state.rate_limiter.forget_idle();
    state.chat_ip_limiter.forget_idle();
    state.chat_tenant_limiter.forget_idle();
    match state.store.blocking(|s| s.flush_last_used()).await {
        Ok(0) => {}
        Ok(n) => log::debug!("flushed last-used time of {n} tokens"),
        Err(e) => log::error!("flushing token last-used times failed: {e}"),
    }
}

/// A future resolving on SIGTERM or SIGINT (both mean a graceful stop), with the handlers
/// installed when this returns.
fn stop_signal() -> io::Result<impl std::future::Future<Output = &'static str>> {
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
