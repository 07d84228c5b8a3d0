//! Denied requests (401/403) go to the audit log, batched and bounded: at most
//! `denied_per_ip_per_minute` entries per client IP and [`MAX_PER_MINUTE`] in all, so an
//! attacker cannot fill the disk with them (beyond the bounds they are only counted in the
//! log line of the next batch). Entries queue in memory and one task writes each batch
//! through the store's writer in one transaction.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::rate_limit::RateLimiter;
use crate::domain::NewAudit;
use crate::store::Store;

/// Denied-request entries written per minute across every IP.
pub const MAX_PER_MINUTE: u32 = 600;
/// How long the first entry of a batch waits for others.
const BATCH_DELAY: Duration = Duration::from_millis(100);

pub struct DeniedLog {
    store: Store,
    per_ip: RateLimiter,
    overall: RateLimiter,
    pending: Mutex<Vec<(String, NewAudit)>>,
    scheduled: AtomicBool,
    dropped: AtomicU64,
}

impl DeniedLog {
    pub fn new(store: Store, per_ip_per_minute: u32) -> Arc<DeniedLog> {
        Arc::new(DeniedLog {
            store,
            per_ip: RateLimiter::per_minute(per_ip_per_minute),
            overall: RateLimiter::per_minute(MAX_PER_MINUTE),
            pending: Mutex::default(),
            scheduled: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues an entry for `tenant` if the bounds allow; must run on the server's runtime.
    pub fn record(self: &Arc<Self>, ip: &str, tenant: &str, entry: NewAudit) {
        if !self.per_ip.is_on()
            || self.per_ip.check(&super::budget_key(ip)).is_err()
            || self.overall.check("").is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((tenant.to_string(), entry));
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let log = self.clone();
            actix_web::rt::spawn(async move {
                actix_web::rt::time::sleep(BATCH_DELAY).await;
                log.flush().await;
            });
        }
    }

    /// Writes what is queued (also called at shutdown).
    pub async fn flush(&self) {
        self.scheduled.store(false, Ordering::Release);
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!("audit: {dropped} denied requests over the audit bounds were not recorded");
        }
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        if let Err(e) = self.store.record_denied(batch).await {
            log::error!("audit: {count} denied requests could not be recorded: {e}");
        }
    }

    pub fn forget_idle(&self) {
        self.per_ip.forget_idle();
        self.overall.forget_idle();
    }
}
