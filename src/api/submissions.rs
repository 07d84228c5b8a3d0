//! Contact-form submissions: the public `POST /chat/{slug}/submissions` a widget posts a
//! visitor's form to, and the tenant's `GET /tenants/{slug}/submissions` (list, one, CSV
//! export) with each submission's webhook delivery. Also the webhook's signing secret and the
//! check of a tool's `config.webhookUrl`.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::chat::{admit, origin, with_cors};
use super::csv_format;
use super::extract::{ApiJson, Params};
use super::fields::{known_keys, text};
use crate::auth::{Authed, need};
use crate::chat::origin::is_localhost;
use crate::domain::submission::{form_fields, values_from_json};
use crate::domain::{Actor, NewSubmission, Submission, Tenant, ToolType, WebhookDelivery};
use crate::error::{ApiError, ApiResult, ErrorCode};

const MAX_SESSION_ID: usize = 100;
const MAX_TOOL_ID: usize = 100;
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;
const MAX_WEBHOOK_URL: usize = 2000;
/// Prefix of a signing secret, as Stripe's `whsec_`: recognisable in a leaked config file.
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    last_attempt_at: Option<String>,
    delivered_at: Option<String>,
}

impl From<&WebhookDelivery> for WebhookView {
    fn from(w: &WebhookDelivery) -> Self {
        WebhookView {
            status: w.status.as_str(),
            attempts: w.attempts,
            last_error: w.last_error.clone(),
            last_attempt_at: w.last_attempt_at.map(|t| t.to_rfc3339()),
            delivered_at: w.delivered_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionView {
    id: String,
    tool_id: String,
    tool_name: String,
    conversation_id: Option<String>,
    session_id: Option<String>,
    visitor_id: Option<String>,
    values: BTreeMap<String, String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<WebhookView>,
}

impl SubmissionView {
    fn new(s: &Submission, with_webhook: bool) -> SubmissionView {
        SubmissionView {
            id: s.id.clone(),
            tool_id: s.tool_id.clone(),
            tool_name: s.tool_name.clone(),
            conversation_id: s.conversation_id.clone(),
            session_id: s.session_id.clone(),
            visitor_id: s.visitor_id.clone(),
            values: s.values.clone(),
            created_at: s.created_at.to_rfc3339(),
            webhook: with_webhook.then(|| WebhookView::from(&s.webhook)),
        }
    }
}

/// The body of a webhook delivery: the event, the tenant and the submission (without its
/// delivery status, which the receiver is in the middle of changing).
pub fn webhook_payload(tenant: &str, s: &Submission) -> Vec<u8> {
    let body = json!({
        "event": "submission.created",
        "tenant": tenant,
        "submission": SubmissionView::new(s, false),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The sealing context of a tenant's signing secret: a sealed secret copied into another
/// tenant's row does not open.
pub fn secret_context(tenant: &Tenant) -> String {
    format!("webhook-secret:{}", tenant.id)
}

/// Checks `config.webhookUrl`: `https://`, or `http://` to a loopback address when
/// `[chat] webhook_allow_http_loopback` is set.
pub fn check_webhook_url(value: &Value, allow_http_loopback: bool) -> ApiResult<()> {
    const FIELD: &str = "config.webhookUrl";
    let url = text(FIELD, value, 1, MAX_WEBHOOK_URL)?;
    if url.chars().any(char::is_whitespace) {
        return Err(ApiError::validation(FIELD, "must not contain spaces"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| ApiError::validation(FIELD, "must be an absolute https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(ApiError::validation(FIELD, "must name a host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if allow_http_loopback && is_loopback(host) => Ok(()),
        "http" => Err(ApiError::validation(
            FIELD,
            match allow_http_loopback {
                true => "must be https:// (http:// only to a loopback address)",
                false => {
                    "must be https:// (http:// to a loopback address needs [chat] webhook_allow_http_loopback)"
                }
            },
        )),
        _ => Err(ApiError::validation(FIELD, "must be an https:// URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A new secret: `whsec_` and 43 base62 characters (256 bits).
fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", crate::ids::random_base62(43))
}

/// A new signing secret, and its sealed form for the store.
fn sealed_new_secret(state: &AppState, tenant: &Tenant) -> (String, Vec<u8>) {
    let secret = new_secret();
    let sealed = state
        .secrets
        .seal(&secret_context(tenant), secret.as_bytes());
    (secret, sealed)
}

/// Gives the tenant a signing secret if it has none (its first webhook tool). Returns the
/// secret when this call created it, for the response that shows it once.
pub async fn ensure_secret(state: &AppState, slug: &str, by: Actor) -> ApiResult<Option<String>> {
    if state.store.webhook_secret(slug).await?.is_some() {
        return Ok(None);
    }
    let tenant = state
        .store
        .get_tenant(slug)
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    let (secret, sealed) = sealed_new_secret(state, &tenant);
    let stored = state
        .store
        .put_webhook_secret(slug, sealed, false, by)
        .await?;
    Ok(stored.then_some(secret))
}

/// `POST /tenants/{slug}/webhook-secret/rotate`: a new signing secret, shown once; the
/// previous one stops signing at once.
pub async fn rotate_secret(
    auth: Authed<need::SettingsWrite>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let tenant = state
        .store
        .get_tenant(auth.tenant())
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    let (secret, sealed) = sealed_new_secret(&state, &tenant);
    state
        .store
        .put_webhook_secret(auth.tenant(), sealed, true, auth.principal.actor())
        .await?;
    log::info!("webhook signing secret of tenant {} rotated", auth.tenant());
    Ok(HttpResponse::Created().json(json!({ "secret": secret })))
}

/// `OPTIONS /chat/{slug}/submissions`: the CORS preflight, as the chat's.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    super::chat::preflight(req, state, path).await
}

/// `POST /chat/{slug}/submissions`.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let slug = path.into_inner();
    with_cors(&req, record(&req, &state, &slug, payload).await)
}

async fn record(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let tenant = admit(req, state, slug).await?;
    if !tenant.is_activated && !origin(req).is_some_and(is_localhost) {
        return Err(ApiError::new(
            ErrorCode::TenantInactive,
            "This bot is not activated",
        ));
    }
    let body = ApiJson::<Map<String, Value>>::from_request(req, &mut payload.into_inner())
        .await?
        .0;
    known_keys(&body, &["sessionId", "toolId", "values"], None)?;
    let session_id = text(
        "sessionId",
        body.get("sessionId").unwrap_or(&Value::Null),
        1,
        MAX_SESSION_ID,
    )?;
    let tool_id = text(
        "toolId",
        body.get("toolId").unwrap_or(&Value::Null),
        1,
        MAX_TOOL_ID,
    )?;
    let values = body
        .get("values")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::validation("values", "must be an object of field values"))?;
    let values = values_from_json(values).map_err(|e| ApiError::validation(&e.field, e.rule))?;
    let submission = state
        .store
        .record_submission(
            slug,
            NewSubmission {
                tool_id,
                conversation_id: None,
                session_id: Some(session_id),
                visitor_id: None,
                values,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": submission.id,
        "toolId": submission.tool_id,
        "createdAt": submission.created_at.to_rfc3339(),
    })))
}

fn tool_filter(params: &Params) -> ApiResult<Option<String>> {
    params
        .str("toolId")
        .map(|t| text("toolId", &Value::from(t), 1, MAX_TOOL_ID))
        .transpose()
}

pub async fn list(
    auth: Authed<need::ToolsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["limit", "offset", "toolId"])?;
    let limit = params.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
    let offset = params.int("offset", 0, 0, 1_000_000_000)? as usize;
    let tool = tool_filter(&params)?;
    let page = state
        .store
        .list_submissions(auth.tenant(), tool.as_deref(), limit, offset)
        .await?;
    let views: Vec<SubmissionView> = page
        .submissions
        .iter()
        .map(|s| SubmissionView::new(s, true))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "submissions": views, "total": page.total, "limit": limit, "offset": offset,
    })))
}

pub async fn get(
    auth: Authed<need::ToolsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let found = state
        .store
        .get_submission(auth.tenant(), &path.1)
        .await?
        .ok_or_else(|| ApiError::not_found("Submission"))?;
    Ok(HttpResponse::Ok().json(SubmissionView::new(&found, true)))
}

/// The fixed columns of the export; a column per form field follows.
pub const CSV_COLUMNS: [&str; 7] = [
    "id",
    "toolId",
    "tool",
    "createdAt",
    "conversationId",
    "visitorId",
    "webhookStatus",
];

/// Submissions read from the store per chunk of the streamed export.
const EXPORT_CHUNK: usize = 500;

/// CSV, oldest first: the fixed columns, then one per form field (the current forms' fields
/// in tool order, then fields only older submissions have, by name). Cells are guarded
/// against spreadsheet formulas. Streamed like the conversations export: one short read per
/// chunk, the next only when the client has taken the previous one.
pub async fn export(
    auth: Authed<need::ToolsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["toolId"])?;
    let tool = tool_filter(&params)?;
    let tools = state.store.list_tools(auth.tenant()).await?;
    let mut fields: Vec<String> = Vec::new();
    for t in tools
        .iter()
        .filter(|t| t.tool_type == ToolType::SubmitForm)
        .filter(|t| tool.as_ref().is_none_or(|id| *id == t.id))
    {
        for f in form_fields(&t.config) {
            if !fields.contains(&f.name) {
                fields.push(f.name);
            }
        }
    }
    let stored = state
        .store
        .submission_value_names(auth.tenant(), tool.clone())
        .await?;
    for name in stored {
        if !fields.contains(&name) {
            fields.push(name);
        }
    }
    let mut writer = csv_format::writer();
    let header = CSV_COLUMNS
        .iter()
        .copied()
        .chain(fields.iter().map(String::as_str));
    csv_format::write_guarded(&mut writer, header).map_err(csv_error)?;
    let head = writer
        .into_inner()
        .map_err(|e| ApiError::internal(format!("csv: {}", e.error())))?;
    let body = export_stream(
        state.into_inner(),
        auth.tenant().to_string(),
        tool,
        fields,
        head,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"submissions-{}.csv\"", auth.tenant()),
        ))
        .streaming(body))
}

fn csv_error(e: csv::Error) -> ApiError {
    ApiError::internal(format!("csv: {e}"))
}

fn export_stream(
    state: std::sync::Arc<AppState>,
    tenant: String,
    tool: Option<String>,
    fields: Vec<String>,
    head: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> + 'static {
    struct Progress {
        state: std::sync::Arc<AppState>,
        tenant: String,
        tool: Option<String>,
        fields: Vec<String>,
        head: Option<Vec<u8>>,
        after: Option<String>,
        done: bool,
    }
    let start = Progress {
        state,
        tenant,
        tool,
        fields,
        head: Some(head),
        after: None,
        done: false,
    };
    futures_util::stream::unfold(start, |mut p| async move {
        if let Some(head) = p.head.take() {
            return Some((Ok(web::Bytes::from(head)), p));
        }
        if p.done {
            return None;
        }
        let chunk = p
            .state
            .store
            .export_submissions_chunk(&p.tenant, p.tool.clone(), p.after.take(), EXPORT_CHUNK)
            .await;
        let result = match chunk {
            Ok((rows, next)) => {
                p.done = next.is_none();
                p.after = next;
                rows_csv(&rows, &p.fields).map(web::Bytes::from)
            }
            Err(e) => Err(ApiError::from(e)),
        };
        if result.is_err() {
            // Nothing more can be sent: the client sees the body cut short (the cause is
            // logged by the error).
            p.done = true;
        }
        Some((result.map_err(|e| std::io::Error::other(e.message)), p))
    })
}

fn rows_csv(rows: &[Submission], fields: &[String]) -> ApiResult<Vec<u8>> {
    let mut writer = csv_format::writer();
    for s in rows {
        let created = s.created_at.to_rfc3339();
        let fixed = [
            s.id.as_str(),
            &s.tool_id,
            &s.tool_name,
            &created,
            s.conversation_id.as_deref().unwrap_or(""),
            s.visitor_id.as_deref().unwrap_or(""),
            s.webhook.status.as_str(),
        ];
        let values = fields
            .iter()
            .map(|f| s.values.get(f).map(String::as_str).unwrap_or(""));
        csv_format::write_guarded(&mut writer, fixed.into_iter().chain(values))
            .map_err(csv_error)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(format!("csv: {}", e.error())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_or_loopback_http_when_allowed() {
        let ok = |u: &str, allow: bool| check_webhook_url(&Value::from(u), allow).is_ok();
        assert!(ok("https://hooks.example.com/x", false));
        assert!(!ok("http://hooks.example.com/x", false));
        assert!(!ok("http://127.0.0.1:9000/x", false));
        assert!(ok("http://127.0.0.1:9000/x", true));
        assert!(ok("http://[::1]:9000/x", true));
        assert!(ok("http://localhost/x", true));
        assert!(!ok("http://example.com@evil.example/x", true));
        assert!(!ok("http://127.0.0.1.evil.example/x", true));
        assert!(!ok("ftp://127.0.0.1/x", true));
        assert!(!ok("https:///x", false));
        assert!(!ok("not a url", false));
    }
}
