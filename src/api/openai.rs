//! `POST /voice/{slug}/chat` (and `/voice/{slug}/chat/completions`): the bot behind the
//! OpenAI chat-completions wire format, the hosted API's "custom LLM" endpoint for voice
//! assistants. Any OpenAI client talks to a tenant's bot with base URL
//! `https://HOST/voice/{slug}` and a tenant token (`corpus:read`: it asks the knowledge base)
//! as its API key. Each exchange is stored as a conversation of channel `voice`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::extract::ApiJson;
use crate::auth::{Authed, need};
use crate::chat::turn::{self, LlmSource, TurnRequest};
use crate::clock::Timestamp;
use crate::domain::{Channel, Metadata};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;

const MAX_MESSAGE: usize = 15_000;
const MAX_SESSION_ID: usize = 100;
/// The `model` echoed back when the request names none.
const DEFAULT_MODEL: &str = "animam";

/// The part of an OpenAI chat-completions request the bot uses; other fields (temperature,
/// tools, ...) are accepted and ignored, as OpenAI-compatible servers do.
#[derive(Deserialize)]
pub struct CompletionRequest {
    model: Option<String>,
    messages: Option<Vec<Value>>,
    stream: Option<bool>,
    /// OpenAI's end-user id: one conversation per user.
    user: Option<String>,
    /// Voice platforms (e.g. Vapi) send the call here: one conversation per call.
    call: Option<Value>,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: ChoiceMessage<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct ChoiceMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// Token counts are not measured here; the fields exist because clients read them.
#[derive(Serialize, Default)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChunkChoice<'a>; 1],
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// The text of a message's `content`: a string, or OpenAI's list of parts (text parts kept).
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

/// The visitor's question: the last `user` message.
fn question(messages: &[Value]) -> ApiResult<String> {
    for (i, m) in messages.iter().enumerate() {
        if !m.is_object() {
            return Err(ApiError::validation(
                &format!("messages[{i}]"),
                "must be an object {role, content}",
            ));
        }
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or_else(|| ApiError::validation("messages", "must contain a user message"))?;
    let text = last_user
        .get("content")
        .and_then(content_text)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::validation("messages", "the last user message must have text content")
        })?;
    if text.chars().count() > MAX_MESSAGE {
        return Err(ApiError::validation(
            "messages",
            format!("the last user message must be at most {MAX_MESSAGE} characters"),
        ));
    }
    Ok(text)
}

/// One conversation per OpenAI `user` or per voice call; without either, per request.
fn session_id(body: &CompletionRequest) -> ApiResult<String> {
    let named = body.user.clone().or_else(|| {
        body.call
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(|id| format!("call:{id}"))
    });
    match named {
        Some(id) if !id.trim().is_empty() && id.chars().count() <= MAX_SESSION_ID => Ok(id),
        Some(_) => Err(ApiError::validation(
            "user",
            format!("must be 1 to {MAX_SESSION_ID} characters"),
        )),
        None => Ok(new_id("voice_")),
    }
}

pub async fn completions(
    auth: Authed<need::CorpusRead>,
    state: web::Data<AppState>,
    body: ApiJson<CompletionRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let messages = body
        .messages
        .as_deref()
        .ok_or_else(|| ApiError::validation("messages", "is required"))?;
    let message = question(messages)?;
    let model = match body.model.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m.chars().take(100).collect(),
        _ => DEFAULT_MODEL.to_string(),
    };
    let tenant = state
        .store
        .get_tenant(auth.tenant())
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    let request = TurnRequest {
        message,
        session_id: session_id(&body)?,
        segment: None,
        stream: Some(false),
        agent_model: None,
        channel: Channel::Voice,
        visitor_id: None,
        metadata: Metadata::default(),
    };
    let mut turn = turn::prepare(&state.store, &state.config.chat, tenant, request)
        .await
        .map_err(super::chat::turn_error)?;
    // An OpenAI completion has no place for the tools' envelope: this endpoint answers only,
    // and a message the knowledge base cannot answer is not worth an LLM call here.
    turn.tools.clear();
    let (text, source) = match state.llm_slot(&turn) {
        Some(slot) => turn::generate(slot, &turn, |_| true).await,
        None => (turn.retrieval.text.clone(), LlmSource::Retrieval),
    };
    let reply = turn::record(&state.store, &turn, text, source)
        .await
        .map_err(super::chat::turn_error)?;
    let id = format!("chatcmpl-{}", reply.conversation_id);
    let created = Timestamp::now().micros() / 1_000_000;
    if !body.stream.unwrap_or(false) {
        return Ok(HttpResponse::Ok().json(Completion {
            id: &id,
            object: "chat.completion",
            created,
            model: &model,
            choices: [Choice {
                index: 0,
                message: ChoiceMessage {
                    role: "assistant",
                    content: &reply.message,
                },
                finish_reason: "stop",
            }],
            usage: Usage::default(),
        }));
    }
    let chunk = |delta: Delta<'_>, finish_reason| {
        let chunk = Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model: &model,
            choices: [ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
        };
        let json = serde_json::to_string(&chunk).unwrap_or_else(|_| "{}".to_string());
        format!("data: {json}\n\n")
    };
    let mut body = chunk(
        Delta {
            role: Some("assistant"),
            content: Some(""),
        },
        None,
    );
    for piece in crate::chat::answer::chunks(&reply.message, 24) {
        body.push_str(&chunk(
            Delta {
                role: None,
                content: Some(&piece),
            },
            None,
        ));
    }
    body.push_str(&chunk(Delta::default(), Some("stop")));
    body.push_str("data: [DONE]\n\n");
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_question_is_the_last_user_message_in_either_content_form() {
        let messages = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "Hi"}),
            json!({"role": "assistant", "content": "Hello!"}),
            json!({"role": "user", "content": [{"type": "text", "text": "Refunds?"},
                                                {"type": "image_url", "image_url": {"url": "x"}}]}),
        ];
        assert_eq!(question(&messages).unwrap(), "Refunds?");
        let err = question(&[json!({"role": "system", "content": "x"})]).unwrap_err();
        assert!(err.message.starts_with("messages: "), "{}", err.message);
        let err = question(&[json!("user: hi")]).unwrap_err();
        assert!(err.message.starts_with("messages[0]: "), "{}", err.message);
        let err = question(&[json!({"role": "user", "content": "  "})]).unwrap_err();
        assert!(err.message.starts_with("messages: "), "{}", err.message);
    }
}
