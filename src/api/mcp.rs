//! `POST /mcp`: Animam as an MCP server (Streamable HTTP transport, JSON-RPC 2.0, answered
//! as `application/json`), so AI assistants can manage a tenant's knowledge base, segments
//! and conversations. Authenticated with the tenant's `ak_` bearer token; each tool needs the
//! scope of the REST route it mirrors, and `tools/list` shows only the tools the token may
//! call. Stateless: no `Mcp-Session-Id` is issued and there is no server-to-client stream
//! (`GET /mcp` is the router's 405, as Streamable HTTP allows).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Map, Value, json};

use super::AppState;
use super::conversations::{ConversationSummary, FILTERS, MessageView, filter_from};
use super::corpus::{CorpusFields, CorpusView, query};
use super::extract::{PageRequest, Params};
use super::segments::{SegmentView, change_segment};
use crate::auth::{Principal, authenticate};
use crate::domain::Scope;
use crate::error::ApiError;

/// Protocol revisions this server speaks; a client offering another gets the newest.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

struct Tool {
    name: &'static str,
    description: &'static str,
    scope: Scope,
    /// JSON Schema of the arguments.
    input: fn() -> Value,
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn corpus_fields(required: &[&str], with_id: bool) -> Value {
    let mut properties = json!({
        "title": {"type": "string", "maxLength": 200},
        "content": {"type": "string", "maxLength": 50000},
        "segment": {"type": ["string", "null"], "description": "an existing segment's slug; null: every segment"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": ["string", "null"]},
        "isActive": {"type": "boolean"}
    });
    if with_id {
        properties["id"] = json!({"type": "string"});
    }
    object(properties, required)
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "list_corpus",
        description: "List knowledge base entries, newest first, optionally of one segment.",
        scope: Scope::CorpusRead,
        input: || {
            object(
                json!({"page": {"type": "integer", "minimum": 1},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                       "segment": {"type": "string"}}),
                &[],
            )
        },
    },
    Tool {
        name: "search_corpus",
        description: "Search the knowledge base; best match first.",
        scope: Scope::CorpusRead,
        input: || {
            object(
                json!({"query": {"type": "string"},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                       "segment": {"type": "string"}}),
                &["query"],
            )
        },
    },
    Tool {
        name: "get_corpus_entry",
        description: "One knowledge base entry by id.",
        scope: Scope::CorpusRead,
        input: || object(json!({"id": {"type": "string"}}), &["id"]),
    },
    Tool {
        name: "create_corpus_entry",
        description: "Add a knowledge base entry.",
        scope: Scope::CorpusWrite,
        input: || corpus_fields(&["title", "content"], false),
    },
    Tool {
        name: "update_corpus_entry",
        description: "Change fields of a knowledge base entry; absent fields stay as they are.",
        scope: Scope::CorpusWrite,
        input: || corpus_fields(&["id"], true),
    },
    Tool {
        name: "delete_corpus_entry",
        description: "Delete a knowledge base entry.",
        scope: Scope::CorpusWrite,
        input: || object(json!({"id": {"type": "string"}}), &["id"]),
    },
    Tool {
        name: "list_segments",
        description: "List the segments (audiences with their own prompt, welcome and starters).",
        scope: Scope::SegmentsRead,
        input: || object(json!({}), &[]),
    },
    Tool {
        name: "update_segment",
        description: "Change fields of a segment (by id or slug): name, systemPrompt, \
                      welcomeMessage, conversationStarters, isDefault, isActive.",
        scope: Scope::SegmentsWrite,
        input: || {
            object(
                json!({"id": {"type": "string"}, "name": {"type": "string"},
                       "systemPrompt": {"type": "string"}, "welcomeMessage": {"type": "string"},
                       "conversationStarters": {"type": "array"},
                       "isDefault": {"type": "boolean"}, "isActive": {"type": "boolean"}}),
                &["id"],
            )
        },
    },
    Tool {
        name: "list_conversations",
        description: "List conversations, newest first, with optional filters.",
        scope: Scope::ConversationsRead,
        input: || {
            object(
                json!({"page": {"type": "integer", "minimum": 1},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                       "segment": {"type": "string"}, "channel": {"type": "string"},
                       "visitorType": {"type": "string", "enum": ["human", "agent"]},
                       "from": {"type": "string"}, "to": {"type": "string"}}),
                &[],
            )
        },
    },
    Tool {
        name: "get_conversation",
        description: "One conversation with its messages.",
        scope: Scope::ConversationsRead,
        input: || object(json!({"id": {"type": "string"}}), &["id"]),
    },
];

/// Every tool with the scope it needs (for the table-driven test).
pub fn tool_scopes() -> Vec<(&'static str, Scope)> {
    TOOLS.iter().map(|t| (t.name, t.scope)).collect()
}

fn rpc_result(id: &Value, result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn rpc_error(id: &Value, code: i64, message: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}
    }))
}

/// A message that is not a JSON-RPC request at all: HTTP 400 (as Streamable HTTP asks) with
/// the API's error body, the JSON-RPC code in the message.
fn refused(code: i64, message: impl Into<String>) -> HttpResponse {
    ApiError::validation("body", format!("{} (JSON-RPC {code})", message.into())).error_response()
}

/// `POST /mcp`.
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let principal = authenticate(&req)?;
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(refused(PARSE_ERROR, format!("the body is not JSON: {e}")));
        }
    };
    let Some(message) = message.as_object() else {
        return Ok(refused(
            INVALID_REQUEST,
            "a request must be one JSON-RPC object (batches are not supported)",
        ));
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Ok(refused(INVALID_REQUEST, "jsonrpc must be \"2.0\""));
    }
    if message
        .get("id")
        .is_some_and(|id| !(id.is_string() || id.is_i64() || id.is_u64() || id.is_null()))
    {
        return Ok(refused(
            INVALID_REQUEST,
            "id must be a string or an integer",
        ));
    }
    // This server never sends requests, so a client never has responses to send it.
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Ok(refused(INVALID_REQUEST, "method is required"));
    };
    let params = match message.get("params") {
        None => Map::new(),
        Some(Value::Object(params)) => params.clone(),
        Some(_) => return Ok(refused(INVALID_REQUEST, "params must be an object")),
    };
    let Some(id) = message.get("id").filter(|id| !id.is_null()) else {
        // A notification: accepted, nothing to answer.
        return Ok(HttpResponse::build(StatusCode::ACCEPTED).finish());
    };
    Ok(match method {
        "initialize" => rpc_result(id, initialize(&params)),
        "ping" => rpc_result(id, json!({})),
        "tools/list" => rpc_result(id, json!({"tools": tools_for(&principal)})),
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return Ok(rpc_error(id, INVALID_PARAMS, "params.name is required"));
            };
            let Some(tool) = TOOLS.iter().find(|t| t.name == name) else {
                return Ok(rpc_error(
                    id,
                    INVALID_PARAMS,
                    format!("unknown tool '{name}'"),
                ));
            };
            let arguments = params
                .get("arguments")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let outcome = if principal.scopes.grants(tool.scope) {
                call(&state, &principal.tenant, tool.name, &arguments).await
            } else {
                Err(ApiError::missing_scope(tool.scope))
            };
            rpc_result(id, tool_result(outcome))
        }
        other => rpc_error(id, METHOD_NOT_FOUND, format!("unknown method '{other}'")),
    })
}

fn initialize(params: &Map<String, Value>) -> Value {
    let offered = params.get("protocolVersion").and_then(Value::as_str);
    let version = offered
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "animam", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Manage this tenant's chatbot: its knowledge base (corpus), segments \
                         and conversations. Each tool needs the scope of the matching REST route."
    })
}

fn tools_for(principal: &Principal) -> Vec<Value> {
    TOOLS
        .iter()
        .filter(|t| principal.scopes.grants(t.scope))
        .map(|t| {
            json!({
                "name": t.name,
                "description": format!("{} Needs the `{}` scope.", t.description, t.scope.as_str()),
                "inputSchema": (t.input)(),
            })
        })
        .collect()
}

/// A tool's outcome as MCP content: the same JSON the REST route answers, or its error
/// (`isError`, so the assistant sees why).
fn tool_result(outcome: Result<Value, ApiError>) -> Value {
    match outcome {
        Ok(value) => json!({
            "content": [{"type": "text", "text": value.to_string()}],
            "structuredContent": value,
            "isError": false
        }),
        Err(e) => json!({
            "content": [{"type": "text", "text": e.message}],
            "structuredContent": {"error": e.message, "code": e.code.as_str()},
            "isError": true
        }),
    }
}

fn string_arg(args: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::validation(name, "is required and must be a string"))
}

/// Arguments as query parameters, for the listing rules shared with the REST routes.
fn as_params(args: &Map<String, Value>) -> Params {
    Params::new(
        args.iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
    )
}

fn to_value(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("json: {e}")))
}

async fn call(
    state: &AppState,
    tenant: &str,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let store = &state.store;
    match tool {
        "list_corpus" | "search_corpus" => {
            let params = as_params(args);
            params.only(&["page", "limit", "segment", "query"])?;
            let page = PageRequest::from_params(&params)?;
            let search = match tool {
                "search_corpus" => Some(string_arg(args, "query")?),
                _ => None,
            };
            let found = query(
                state,
                tenant,
                params.str("segment"),
                search.as_deref(),
                &page,
            )
            .await?;
            let entries: Vec<CorpusView> =
                found.entries.into_iter().map(CorpusView::from).collect();
            to_value(json!({"corpus": entries, "pagination": page.pagination(found.total)}))
        }
        "get_corpus_entry" => {
            let entry = store
                .get_corpus(tenant, &string_arg(args, "id")?)
                .await?
                .ok_or_else(|| ApiError::not_found("Corpus entry"))?;
            to_value(CorpusView::from(entry))
        }
        "create_corpus_entry" => {
            let fields: CorpusFields = serde_json::from_value(Value::Object(args.clone()))
                .map_err(|e| ApiError::validation("arguments", e.to_string()))?;
            let created = store.create_corpus(tenant, fields.into_new()?).await?;
            to_value(CorpusView::from(created))
        }
        "update_corpus_entry" => {
            let id = string_arg(args, "id")?;
            let mut fields = args.clone();
            fields.remove("id");
            let fields: CorpusFields = serde_json::from_value(Value::Object(fields))
                .map_err(|e| ApiError::validation("arguments", e.to_string()))?;
            let updated = store
                .update_corpus(tenant, &id, fields.into_patch()?)
                .await?;
            to_value(CorpusView::from(updated))
        }
        "delete_corpus_entry" => {
            let id = string_arg(args, "id")?;
            store.delete_corpus(tenant, &id).await?;
            Ok(json!({"deleted": true, "id": id}))
        }
        "list_segments" => {
            let segments = store.list_segments(tenant).await?;
            let views: Vec<SegmentView> = segments
                .into_iter()
                .map(|s| SegmentView::new(s, true))
                .collect();
            to_value(json!({"segments": views}))
        }
        "update_segment" => {
            let key = string_arg(args, "id")?;
            let mut changes = args.clone();
            changes.remove("id");
            let updated = change_segment(state, tenant, &key, &changes).await?;
            to_value(SegmentView::new(updated, true))
        }
        "list_conversations" => {
            let params = as_params(args);
            let mut known = vec!["page", "limit"];
            known.extend(FILTERS);
            params.only(&known)?;
            let page = PageRequest::from_params(&params)?;
            let filter = filter_from(&params)?;
            let found = store
                .list_conversations(tenant, filter, page.offset(), page.limit)
                .await?;
            let items: Vec<ConversationSummary> = found
                .conversations
                .iter()
                .map(ConversationSummary::from)
                .collect();
            to_value(json!({"conversations": items, "pagination": page.pagination(found.total)}))
        }
        "get_conversation" => {
            // The first 1,000 messages, like the dashboard's transcript.
            let (conversation, messages) = store
                .get_conversation_page(tenant, &string_arg(args, "id")?, 0, 1000)
                .await?
                .ok_or_else(|| ApiError::not_found("Conversation"))?;
            let messages: Vec<MessageView> = messages.into_iter().map(MessageView::from).collect();
            let mut detail = to_value(ConversationSummary::from(&conversation))?;
            detail["messages"] = to_value(messages)?;
            Ok(detail)
        }
        other => Err(ApiError::internal(format!(
            "tool {other} has no implementation"
        ))),
    }
}
