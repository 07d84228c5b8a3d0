//! `POST /chat/{slug}`: the public chat endpoint the website widget and AI agents call. No
//! credential: it is guarded by per-IP and per-tenant budgets, the tenant's allowed origins
//! (CORS) and its activation, in that order, before the body is read.

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use super::fields::non_blank;
use crate::app::AppState;
use crate::chat::answer::{self, Answer, Persona, Retrieved, SegmentInfo};
use crate::chat::llm::{ChatMessage, LlmClient};
use crate::chat::origin::{is_localhost, origin_allowed};
use crate::chat::relevance;
use crate::clock::{now_ms, unique_now_us};
use crate::error::{ApiError, ApiResult};
use crate::store::conversations::{Conversation, Exchange, Message, Recorded, has_quota};
use crate::store::segments::Segment;
use crate::store::tenants::Tenant;

const MAX_MESSAGE: usize = 15_000;
const MAX_SESSION_ID: usize = 100;
const MAX_PAGE_URL: usize = 2_000;
const MAX_VISITOR_ID: usize = 100;
/// How many earlier messages of the conversation the LLM sees.
const LLM_HISTORY: usize = 20;
const X_AGENT_MODEL: &str = "x-agent-model";

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

#[derive(Serialize, Clone)]
struct SourceRef {
    id: String,
    title: String,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    message: String,
    session_id: String,
    conversation_id: String,
    message_count: u32,
    visitor_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_model: Option<String>,
    sources: Vec<SourceRef>,
    llm_source: &'static str,
}

/// Everything about one chat turn decided before the answer is produced.
struct Turn {
    tenant: Tenant,
    segment: Segment,
    message: String,
    session_id: String,
    agent_model: Option<String>,
    stream: bool,
    fresh: Conversation,
    history: Vec<(String, String)>,
    retrieval: Answer,
}

fn origin(req: &HttpRequest) -> Option<&str> {
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

const ORIGIN_REFUSED: &str = "origin_not_allowed";

fn origin_refused() -> ApiError {
    ApiError::forbidden(ORIGIN_REFUSED, "Origin not allowed for this tenant")
}

/// The checks that come before the body, shared with the preflight.
async fn admit(req: &HttpRequest, state: &AppState, slug: &str) -> ApiResult<Tenant> {
    if let Some(peer) = req.peer_addr() {
        state.chat_ip_limiter.check(&peer.ip().to_string())?;
    }
    let lookup = slug.to_string();
    let tenant = state
        .store
        .blocking(move |s| s.get_tenant(&lookup))
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
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Content-Type, X-Agent-Model",
            ))
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
fn with_cors(req: &HttpRequest, result: ApiResult<HttpResponse>) -> HttpResponse {
    let (mut response, refused) = match result {
        Ok(response) => (response, false),
        Err(e) => (e.error_response(), e.code == ORIGIN_REFUSED),
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
        return Err(ApiError::forbidden(
            "tenant_inactive",
            "This bot is not activated",
        ));
    }
    let body = ApiJson::<ChatRequest>::from_request(req, &mut payload.into_inner())
        .await?
        .0;
    let turn = prepare(req, state, tenant, body).await?;
    let Some(llm) = state.llm.clone() else {
        let text = turn.retrieval.text.clone();
        let envelope = record(state, &turn, text, "retrieval").await?;
        if !turn.stream {
            return Ok(HttpResponse::Ok().json(envelope));
        }
        let mut body: String = delta_frames(&envelope.message).collect();
        body.push_str(&sse_frame("done", &envelope));
        return Ok(sse_response().body(body));
    };
    if turn.stream {
        return Ok(stream_from_llm(state.clone(), llm, turn));
    }
    let (text, source) = generate(llm, &turn, |_| true).await;
    let envelope = record(state, &turn, text, source).await?;
    Ok(HttpResponse::Ok().json(envelope))
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

/// Validates the request, picks the segment, loads the conversation so far and retrieves.
async fn prepare(
    req: &HttpRequest,
    state: &AppState,
    tenant: Tenant,
    body: ChatRequest,
) -> ApiResult<Turn> {
    let raw_message = body
        .message
        .ok_or_else(|| ApiError::validation("message", "is required"))?;
    let raw_message = non_blank("message", raw_message, MAX_MESSAGE)?;
    let session_id = optional_text("sessionId", body.session_id, MAX_SESSION_ID)?
        .ok_or_else(|| ApiError::validation("sessionId", "is required"))?;
    let page_url = optional_text("pageUrl", body.page_url, MAX_PAGE_URL)?;
    let visitor_id = optional_text("visitorId", body.visitor_id, MAX_VISITOR_ID)?;

    let header_model = match req.headers().get(X_AGENT_MODEL) {
        None => None,
        Some(v) => match v.to_str().map(str::trim) {
            Ok(m) if !m.is_empty() && m.chars().count() <= 100 => Some(m.to_string()),
            _ => {
                return Err(ApiError::validation(
                    "X-Agent-Model",
                    "must be 1 to 100 characters",
                ));
            }
        },
    };
    let (prefix_model, message) = answer::split_agent_prefix(&raw_message);
    if message.trim().is_empty() {
        return Err(ApiError::validation(
            "message",
            "must have text after the [AGENT:...] marker",
        ));
    }
    let agent_model = header_model.or_else(|| prefix_model.map(str::to_string));
    let message = message.to_string();
    let stream = body.stream.unwrap_or(agent_model.is_none());

    let slug = tenant.slug.clone();
    let wanted = body.segment;
    let session = session_id.clone();
    let (segment, existing) = state
        .store
        .blocking(move |s| -> ApiResult<_> {
            let segment = match &wanted {
                Some(w) => s
                    .find_segment(&slug, w)?
                    .filter(|seg| seg.slug == *w && seg.is_active)
                    .ok_or_else(|| {
                        ApiError::validation("segment", format!("no active segment '{w}'"))
                    })?,
                None => s.default_segment(&slug)?.ok_or_else(|| {
                    ApiError::internal(format!("tenant {slug} has no default segment"))
                })?,
            };
            Ok((segment, s.session_conversation(&slug, &session)?))
        })
        .await?;
    if existing.is_none() && !has_quota(&tenant) {
        return Err(quota_reached());
    }

    let mut fresh = Conversation::start(&session_id, &segment.slug, &message, unique_now_us());
    fresh.channel = if origin(req).is_some() {
        "widget"
    } else {
        "api"
    }
    .to_string();
    if let Some(model) = &agent_model {
        fresh.visitor_type = "agent".to_string();
        fresh.agent_model = Some(model.clone());
    }
    fresh.visitor_id = visitor_id;
    fresh.metadata.page_url = page_url;
    fresh.metadata.user_agent = header_text(req, header::USER_AGENT, 500);
    fresh.metadata.referrer = header_text(req, header::REFERER, MAX_PAGE_URL);
    let history: Vec<(String, String)> = existing
        .map(|(_, messages)| {
            let skip = messages.len().saturating_sub(LLM_HISTORY);
            messages
                .into_iter()
                .skip(skip)
                .map(|m| (m.role, m.content))
                .collect()
        })
        .unwrap_or_default();

    let previous_user_message = history
        .iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, content)| content.clone());
    let retrieval = retrieve(state, &tenant, &segment, &message, previous_user_message).await?;
    Ok(Turn {
        tenant,
        segment,
        message,
        session_id,
        agent_model,
        stream,
        fresh,
        history,
        retrieval,
    })
}

fn header_text(req: &HttpRequest, name: header::HeaderName, max: usize) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    Some(value.chars().take(max).collect())
}

fn quota_reached() -> ApiError {
    ApiError::forbidden(
        "quota_exceeded",
        "Conversation limit reached for this tenant",
    )
}

fn persona(tenant: &Tenant) -> Persona {
    Persona {
        bot_name: tenant.bot_name.clone(),
        bot_title: tenant.bot_title.clone(),
        bot_lore: tenant.bot_lore.clone(),
        tone: tenant.bot_tone.clone(),
        tutoiement: tenant.use_tutoiement,
        emojis: tenant.allow_emojis,
    }
}

fn segment_info(segment: &Segment) -> SegmentInfo {
    SegmentInfo {
        system_prompt: segment.system_prompt.clone(),
        welcome_message: segment.welcome_message.clone(),
        starters: segment
            .conversation_starters
            .iter()
            .map(|s| match &s.emoji {
                Some(emoji) => format!("{emoji} {}", s.text),
                None => s.text.clone(),
            })
            .collect(),
    }
}

/// Answers small talk, or ranks the segment's and the global entries against the message and
/// builds the retrieval answer (also the fallback when an LLM fails).
async fn retrieve(
    state: &AppState,
    tenant: &Tenant,
    segment: &Segment,
    message: &str,
    previous_user_message: Option<String>,
) -> ApiResult<Answer> {
    let lang = answer::detect_lang(message);
    if let Some(kind) = answer::small_talk(message, lang) {
        return Ok(answer::small_talk_reply(
            kind,
            &persona(tenant),
            lang,
            &segment_info(segment),
        ));
    }
    let slug = tenant.slug.clone();
    let segment_slug = segment.slug.clone();
    let text = message.to_string();
    let max_chars = state.config.chat.answer_max_chars as usize;
    let sources: Vec<Retrieved> = state
        .store
        .blocking(move |s| {
            relevance::retrieve(
                s,
                &relevance::Retrieval {
                    tenant: &slug,
                    segment: &segment_slug,
                    message: &text,
                    previous_user_message: previous_user_message.as_deref(),
                    max_chars,
                    sensitivity: relevance::Sensitivity::default(),
                },
            )
        })
        .await?;
    Ok(answer::compose(
        &persona(tenant),
        lang,
        sources,
        &segment_info(segment),
    ))
}

/// Asks the LLM (on the blocking pool), passing each delta to `on_delta`. Falls back to the
/// retrieval answer when the LLM fails before saying anything.
async fn generate(
    llm: std::sync::Arc<LlmClient>,
    turn: &Turn,
    mut on_delta: impl FnMut(&str) -> bool + Send + 'static,
) -> (String, &'static str) {
    let messages: Vec<ChatMessage> = answer::llm_messages(
        &persona(&turn.tenant),
        &segment_info(&turn.segment),
        &turn.retrieval.sources,
        &turn.history,
        &turn.message,
    );
    let outcome = web::block(move || {
        let mut streamed = String::new();
        let result = llm.stream_chat(&messages, &mut |delta| {
            streamed.push_str(delta);
            on_delta(delta)
        });
        (result, streamed)
    })
    .await;
    match outcome {
        Ok((Ok(text), _)) => (text, "llm"),
        Ok((Err(e), streamed)) if !streamed.is_empty() => {
            log::warn!(
                "chat: LLM stopped mid-answer ({e}); keeping the {} characters received",
                streamed.chars().count()
            );
            (streamed, "llm")
        }
        Ok((Err(e), _)) => {
            log::warn!("chat: LLM failed ({e}); answering from retrieval");
            (turn.retrieval.text.clone(), "retrieval")
        }
        Err(e) => {
            log::error!("chat: LLM worker failed ({e}); answering from retrieval");
            (turn.retrieval.text.clone(), "retrieval")
        }
    }
}

/// Stores the exchange (one durable commit) and builds the envelope.
async fn record(
    state: &AppState,
    turn: &Turn,
    reply: String,
    llm_source: &'static str,
) -> ApiResult<Envelope> {
    let exchange = Exchange {
        tenant: turn.tenant.slug.clone(),
        fresh: turn.fresh.clone(),
        messages: vec![
            Message::new("user", &turn.message, turn.fresh.last_message_at),
            Message::new("assistant", &reply, now_ms()),
        ],
    };
    let recorded = state.exchanges.record(exchange).await?;
    let conversation = match recorded {
        Recorded::Stored(conversation) => conversation,
        Recorded::QuotaExceeded => return Err(quota_reached()),
        Recorded::TenantGone => return Err(ApiError::tenant_not_found()),
    };
    let sources = turn
        .retrieval
        .sources
        .iter()
        .map(|r| SourceRef {
            id: r.id.clone(),
            title: r.title.clone(),
        })
        .collect();
    Ok(Envelope {
        message: reply,
        session_id: turn.session_id.clone(),
        conversation_id: conversation.id,
        message_count: conversation.message_count,
        visitor_type: if turn.agent_model.is_some() {
            "agent"
        } else {
            "human"
        },
        agent_model: turn.agent_model.clone(),
        sources,
        llm_source,
    })
}

/// SSE from an LLM: deltas are forwarded as they arrive; the exchange is stored before the
/// final `done` frame.
fn stream_from_llm(
    state: web::Data<AppState>,
    llm: std::sync::Arc<LlmClient>,
    turn: Turn,
) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    actix_web::rt::spawn(async move {
        let delta_tx = tx.clone();
        let (text, source) = generate(llm, &turn, move |delta| {
            let frame = sse_frame("delta", &serde_json::json!({ "text": delta }));
            // A closed channel means the visitor left: stop generating.
            delta_tx.blocking_send(Bytes::from(frame)).is_ok()
        })
        .await;
        if source == "retrieval" {
            for frame in delta_frames(&text) {
                let _ = tx.send(frame.into()).await;
            }
        }
        let last = match record(&state, &turn, text, source).await {
            Ok(envelope) => sse_frame("done", &envelope),
            Err(e) => sse_frame(
                "error",
                &serde_json::json!({ "error": e.message, "code": e.code }),
            ),
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

/// The LLM client, when `[chat] llm_base_url` is configured.
pub fn llm_client(config: &crate::config::ChatConfig) -> Option<LlmClient> {
    let base = config.llm_base_url.as_deref()?;
    let model = config.llm_model.as_deref()?;
    let key = config
        .llm_api_key_env
        .as_deref()
        .and_then(|name| std::env::var(name).ok());
    let total = Duration::from_secs(u64::from(config.llm_timeout_secs));
    let first_byte = total.min(Duration::from_secs(10));
    Some(LlmClient::new(base, model, key, first_byte, total))
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
