//! `POST /chat/{slug}`: the public chat endpoint the website widget and AI agents call. No
//! credential: it is guarded by per-IP and per-tenant budgets, the tenant's allowed origins
//! (CORS) and its activation, in that order, before the body is read.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use super::fields::non_blank;
use super::{AppState, PeerSocket};
use crate::chat::agent::{self, Offered};
use crate::chat::answer;
use crate::chat::origin::{is_localhost, origin_allowed};
use crate::chat::turn::{self, LlmSource, Turn, TurnError, TurnRequest};
use crate::domain::{Channel, Metadata, Tenant};
use crate::error::{ApiError, ApiResult, ErrorCode};

const MAX_MESSAGE: usize = 15_000;
const MAX_SESSION_ID: usize = 100;
const MAX_PAGE_URL: usize = 2_000;
const MAX_VISITOR_ID: usize = 100;
const X_AGENT_MODEL: &str = "x-agent-model";
/// What browsers may send to the chat endpoint: the hosted API's documented chat headers.
const CHAT_REQUEST_HEADERS: &str =
    "Content-Type, X-Agent-Model, X-Visitor-Id, X-Visitor-Token, X-Animam-Locale";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    message: Option<String>,
    session_id: Option<String>,
    segment: Option<String>,
    stream: Option<bool>,
    page_url: Option<String>,
    visitor_id: Option<String>,
}

pub(super) fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// Adds the CORS headers that let the calling page read the response.
fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

pub(super) fn origin_refused() -> ApiError {
    ApiError::new(
        ErrorCode::OriginNotAllowed,
        "Origin not allowed for this tenant",
    )
}

/// The checks that come before the body, shared with the preflight.
pub(super) async fn admit(req: &HttpRequest, state: &AppState, slug: &str) -> ApiResult<Tenant> {
    if let Some(ip) = crate::auth::client_ip(req, &state.config.trusted_proxies) {
        state
            .chat_ip_limiter
            .check(&crate::auth::budget_key(&ip.to_string()))?;
    }
    let tenant = state
        .store
        .get_tenant(slug)
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    state.chat_tenant_limiter.check(slug)?;
    if let Some(origin) = origin(req)
        && !origin_allowed(&tenant.allowed_domains, origin)
    {
        return Err(origin_refused());
    }
    Ok(tenant)
}

/// `OPTIONS /chat/{slug}`: the CORS preflight.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let slug = path.into_inner();
    let result = admit(&req, &state, &slug).await.map(|_| {
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, CHAT_REQUEST_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .finish()
    });
    with_cors(&req, result)
}

/// `POST /chat/{slug}`.
pub async fn chat(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let slug = path.into_inner();
    with_cors(&req, respond(&req, &state, &slug, payload).await)
}

/// Lets the calling page read the answer, errors included, unless its origin was refused.
pub(super) fn with_cors(req: &HttpRequest, result: ApiResult<HttpResponse>) -> HttpResponse {
    let (mut response, refused) = match result {
        Ok(response) => (response, false),
        Err(e) => (e.error_response(), e.code == ErrorCode::OriginNotAllowed),
    };
    if let Some(origin) = origin(req)
        && !refused
    {
        allow_origin(response.headers_mut(), origin);
    }
    response
}

async fn respond(
    req: &HttpRequest,
    state: &web::Data<AppState>,
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
    let body = ApiJson::<ChatRequest>::from_request(req, &mut payload.into_inner())
        .await?
        .0;
    let request = turn_request(req, body)?;
    let turn = turn::prepare(&state.store, &state.config.chat, tenant, request)
        .await
        .map_err(turn_error)?;
    let Some(llm) = state.chat_llm_slot(&turn).await else {
        let (text, tools) = agent::offline(&turn);
        let reply = turn::record_with_tools(&state.store, &turn, text, LlmSource::Retrieval, tools)
            .await
            .map_err(turn_error)?;
        if !turn.stream {
            return Ok(HttpResponse::Ok().json(reply));
        }
        let mut body: String = delta_frames(&reply.message).collect();
        body.push_str(&sse_frame("done", &reply));
        return Ok(sse_response().body(body));
    };
    if turn.stream {
        return Ok(stream_from_llm(state.clone(), llm, turn));
    }
    let mut offered = Offered::builtin(&turn.tools);
    offered.add_mcp(state.mcp_tools.clone(), &turn.tenant).await;
    let generation = agent::run(llm, &turn, &state.store, &offered, |_| true);
    let Some(done) = unless_client_leaves(req, generation).await else {
        // Nobody is waiting for the answer: the LLM call is stopped and nothing is stored.
        log::info!("chat: the visitor left before the answer; generation stopped");
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "The client closed the connection",
        ));
    };
    let reply = turn::record_with_tools(&state.store, &turn, done.text, done.source, done.tools)
        .await
        .map_err(turn_error)?;
    Ok(HttpResponse::Ok().json(reply))
}

/// Runs `work` unless the client closes its connection first (checked every 250 ms); then
/// `work` is dropped, which stops an LLM call.
async fn unless_client_leaves<F: std::future::Future>(
    req: &HttpRequest,
    work: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let Some(socket) = req.conn_data::<PeerSocket>() else {
        return Some(work.await);
    };
    let watch = async {
        loop {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
            if socket.client_gone() {
                return;
            }
        }
    };
    match select(std::pin::pin!(work), std::pin::pin!(watch)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

pub(super) fn turn_error(e: TurnError) -> ApiError {
    match e {
        TurnError::Invalid { field, rule } => ApiError::validation(field, rule),
        TurnError::QuotaExceeded => ApiError::new(
            ErrorCode::QuotaExceeded,
            "Conversation limit reached for this tenant",
        ),
        TurnError::ConversationFull { max } => ApiError::new(
            ErrorCode::ConversationFull,
            format!(
                "This conversation has reached its limit of {max} messages; start a new conversation (a new sessionId)"
            ),
        ),
        TurnError::Store(e) => e.into(),
    }
}

/// A finished answer as `delta` frames of a few words each.
fn delta_frames(text: &str) -> impl Iterator<Item = String> {
    answer::chunks(text, 24)
        .into_iter()
        .map(|chunk| sse_frame("delta", &serde_json::json!({ "text": chunk })))
}

fn sse_response() -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells reverse proxies such as nginx not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"));
    builder
}

fn sse_frame(event: &str, data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_string());
    format!("event: {event}\ndata: {json}\n\n")
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    value.map(|v| non_blank(field, v, max)).transpose()
}

/// Checks the request field by field and reads what the headers say about the visitor.
fn turn_request(req: &HttpRequest, body: ChatRequest) -> ApiResult<TurnRequest> {
    let raw_message = body
        .message
        .ok_or_else(|| ApiError::validation("message", "is required"))?;
    let raw_message = non_blank("message", raw_message, MAX_MESSAGE)?;
    let session_id = optional_text("sessionId", body.session_id, MAX_SESSION_ID)?
        .ok_or_else(|| ApiError::validation("sessionId", "is required"))?;
    let page_url = optional_text("pageUrl", body.page_url, MAX_PAGE_URL)?;
    // The body's visitorId, else the hosted API's X-Visitor-Id header.
    let visitor_id = match body.visitor_id {
        Some(id) => Some(id),
        None => req
            .headers()
            .get("x-visitor-id")
            .map(|v| {
                v.to_str()
                    .map(str::to_string)
                    .map_err(|_| ApiError::validation("X-Visitor-Id", "must be visible ASCII text"))
            })
            .transpose()?,
    };
    let visitor_id = optional_text("visitorId", visitor_id, MAX_VISITOR_ID)?;

    let header_model = match req.headers().get(X_AGENT_MODEL) {
        None => None,
        Some(v) => Some(answer::agent_model_name(v.to_str().map_err(|_| {
            ApiError::validation("X-Agent-Model", "must be visible ASCII text")
        })?)),
    };
    let (prefix_model, message) = answer::split_agent_prefix(&raw_message);
    if message.trim().is_empty() {
        return Err(ApiError::validation(
            "message",
            "must have text after the [AGENT:...] marker",
        ));
    }
    Ok(TurnRequest {
        agent_model: header_model.or(prefix_model),
        message: message.to_string(),
        session_id,
        segment: body.segment,
        stream: body.stream,
        channel: if origin(req).is_some() {
            Channel::Widget
        } else {
            Channel::Api
        },
        visitor_id,
        metadata: Metadata {
            user_agent: header_text(req, header::USER_AGENT, 500),
            referrer: header_text(req, header::REFERER, MAX_PAGE_URL),
            page_url,
        },
    })
}

fn header_text(req: &HttpRequest, name: header::HeaderName, max: usize) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    Some(value.chars().take(max).collect())
}

/// SSE from an LLM: deltas are forwarded as they arrive; the exchange is stored before the
/// final `done` frame.
fn stream_from_llm(state: web::Data<AppState>, llm: turn::LlmSlot, turn: Turn) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    actix_web::rt::spawn(async move {
        let delta_tx = tx.clone();
        let mut offered = Offered::builtin(&turn.tools);
        offered.add_mcp(state.mcp_tools.clone(), &turn.tenant).await;
        let done = agent::run(llm, &turn, &state.store, &offered, move |delta| {
            let frame = sse_frame("delta", &serde_json::json!({ "text": delta }));
            // A closed channel means the visitor left: stop generating.
            delta_tx.blocking_send(Bytes::from(frame)).is_ok()
        })
        .await;
        if !done.streamed {
            for frame in delta_frames(&done.text) {
                let _ = tx.send(frame.into()).await;
            }
        }
        let recorded =
            turn::record_with_tools(&state.store, &turn, done.text, done.source, done.tools).await;
        let last = match recorded {
            Ok(reply) => sse_frame("done", &reply),
            Err(e) => {
                let e = turn_error(e);
                sse_frame(
                    "error",
                    &serde_json::json!({ "error": e.message, "code": e.code.as_str() }),
                )
            }
        };
        let _ = tx.send(last.into()).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, std::convert::Infallible>(frame), rx))
    });
    sse_response().streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_single_line_json() {
        let frame = sse_frame("delta", &serde_json::json!({"text": "a\nb"}));
        assert_eq!(frame, "event: delta\ndata: {\"text\":\"a\\nb\"}\n\n");
    }
}
