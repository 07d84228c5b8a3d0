//! The webhook delivery worker: takes due deliveries from the store's outbox, POSTs each
//! submission, signed, to its tool's URL on the blocking pool (never on an actix worker, never
//! in the visitor's request) and records each attempt. A failed attempt (network error,
//! timeout, non-2xx, redirect) is retried after `[chat] webhook_retry_base_ms` × 1, 6, 30, 180
//! until `webhook_max_attempts`; then the delivery is `failed`. The outbox is in the database,
//! so deliveries pending at a stop or a crash resume at the next start (at least once: an
//! attempt cut short by the stop is made again; receivers dedupe on `Animam-Delivery`).
//!
//! Signature, as Stripe's: `Animam-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the tenant's secret>`.

use std::time::Duration;

use actix_web::web;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::api::AppState;
use crate::api::submissions::{secret_context, webhook_payload};
use crate::clock::Timestamp;
use crate::config::ChatConfig;
use crate::store::DueWebhook;

/// Deliveries taken per round; they run concurrently on the blocking pool.
const BATCH: usize = 16;
/// Multiples of the base delay before each retry (10 s, 1 min, 5 min, 30 min by default).
const BACKOFF: [u64; 4] = [1, 6, 30, 180];
/// How long the worker waits after the store refused to record an attempt.
const RECORD_FAILURE_PAUSE: Duration = Duration::from_secs(30);
/// Longest error text kept on a submission.
const MAX_ERROR_CHARS: usize = 300;

/// Starts the worker on the current actix runtime; abort the handle to stop it.
pub fn start(state: web::Data<AppState>) -> actix_web::rt::task::JoinHandle<()> {
    let chat = &state.config.chat;
    // Poll often enough that a retry is not much later than due, at most once a second.
    let poll = Duration::from_millis(u64::from(chat.webhook_retry_base_ms).clamp(20, 1000));
    let agent = agent(chat);
    actix_web::rt::spawn(async move {
        loop {
            let delivered = round(&state, &agent).await;
            if delivered < BATCH {
                actix_web::rt::time::sleep(poll).await;
            }
        }
    })
}

fn agent(chat: &ChatConfig) -> ureq::Agent {
    let timeout = Duration::from_secs(u64::from(chat.webhook_timeout_secs));
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect would send the signed submission somewhere the tenant did not configure.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("animam-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One round: the due deliveries, attempted concurrently. Returns how many were taken.
async fn round(state: &web::Data<AppState>, agent: &ureq::Agent) -> usize {
    let due = match state.store.due_webhooks(Timestamp::now(), BATCH).await {
        Ok(due) => due,
        Err(e) => {
            log::error!("webhooks: cannot read the outbox: {e}");
            return 0;
        }
    };
    let taken = due.len();
    let attempts = due.into_iter().map(|job| {
        let state = state.clone();
        let agent = agent.clone();
        async move { attempt(&state, agent, job).await }
    });
    futures_util::future::join_all(attempts).await;
    taken
}

async fn attempt(state: &AppState, agent: ureq::Agent, job: DueWebhook) {
    let outcome = match signing_secret(state, &job.tenant).await {
        Ok(secret) => {
            let body = webhook_payload(&job.tenant, &job.submission);
            let url = job.url.clone();
            let delivery = job
                .submission
                .webhook
                .delivery_id
                .clone()
                .unwrap_or_else(|| job.submission.id.clone());
            let sent = tokio::task::spawn_blocking(move || {
                post(&agent, &url, &secret, &delivery, &body, Timestamp::now())
            })
            .await;
            sent.unwrap_or_else(|e| Err(format!("delivery task failed: {e}")))
        }
        Err(reason) => Err(reason),
    };
    let chat = &state.config.chat;
    let attempts = job.submission.webhook.attempts + 1;
    let retry_at = match &outcome {
        Err(_) if attempts < chat.webhook_max_attempts => {
            let factor = BACKOFF[(attempts as usize - 1).min(BACKOFF.len() - 1)];
            let delay_ms = u64::from(chat.webhook_retry_base_ms).saturating_mul(factor);
            let micros = i64::try_from(delay_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
            Some(Timestamp::from_micros(
                Timestamp::now().micros().saturating_add(micros),
            ))
        }
        _ => None,
    };
    let sub = &job.submission.id;
    match &outcome {
        Ok(()) => log::info!("webhook: {sub} of {} delivered", job.tenant),
        Err(e) if retry_at.is_some() => log::info!(
            "webhook: {sub} of {} failed (attempt {attempts}), will retry: {e}",
            job.tenant
        ),
        Err(e) => log::warn!(
            "webhook: {sub} of {} failed for good after {attempts} attempts: {e}",
            job.tenant
        ),
    }
    if let Err(e) = state
        .store
        .record_webhook_attempt(&job, outcome, retry_at)
        .await
    {
        // The job stays in the outbox and is attempted again: at least once. Waiting first
        // keeps a store that refuses writes (a full disk) from turning into a delivery to the
        // receiver at every poll.
        log::error!("webhook: cannot record the attempt of {sub}: {e}");
        actix_web::rt::time::sleep(RECORD_FAILURE_PAUSE).await;
    }
}

async fn signing_secret(state: &AppState, tenant: &str) -> Result<String, String> {
    let no_secret =
        || format!("no signing secret: POST /tenants/{tenant}/webhook-secret/rotate to make one");
    let sealed = state
        .store
        .webhook_secret(tenant)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or_else(no_secret)?;
    let record = state
        .store
        .get_tenant(tenant)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or_else(|| "the tenant is gone".to_string())?;
    state
        .secrets
        .open_string(&secret_context(&record), &sealed)
        .map_err(|e| format!("cannot open the signing secret ({e}); rotate it"))
}

/// `t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes a key of any length: this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// One delivery attempt; blocking.
fn post(
    agent: &ureq::Agent,
    url: &str,
    secret: &str,
    delivery: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), String> {
    let timestamp = now.micros() / 1_000_000;
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Animam-Signature", signature(secret, timestamp, body))
        .header("Animam-Event", "submission.created")
        .header("Animam-Delivery", delivery)
        .send(body)
        .map_err(|e| short(&format!("{e}")))?;
    let status = response.status();
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("HTTP {}", status.as_u16())),
    }
}

fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
