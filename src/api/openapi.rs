//! The OpenAPI 3.1 document, built from the route table: every `RouteSpec` carries its [`Doc`]
//! (`RouteSpec::new` takes one), so a route cannot be routed without being documented, and
//! `GET /openapi.json`, `animam openapi` and docs/api.md all come from here.
//!
//! Schemas are written by hand beside the routes rather than derived from the Rust types:
//! several bodies are read field by field from a JSON map (partial updates with read-only
//! fields), and a schema has to state the limits the validators enforce (lengths, ranges,
//! patterns), which the types do not carry. The schemathesis test holds them to the server.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::Method;
use serde_json::{Map, Value, json};

use super::RouteSpec;
use crate::domain::{
    Channel, ContentPolicy, ConversationStatus, Scope, Tone, ToolType, VisitorAuthMode, VisitorType,
};

/// A query-string parameter a route takes.
pub struct Param {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

pub fn param(name: &'static str, description: &'static str, schema: Value) -> Param {
    Param {
        name,
        description,
        schema,
    }
}

/// A body: its media type and schema.
pub struct Body {
    pub media: &'static str,
    pub schema: Value,
}

/// What the document says about one route. Built with [`Doc::new`] and its setters.
pub struct Doc {
    pub summary: &'static str,
    pub description: &'static str,
    pub query: Vec<Param>,
    pub body: Option<Body>,
    /// Success answers: status, then one or more bodies (media types).
    pub ok: Vec<(u16, &'static str, Vec<Body>)>,
    /// Error statuses beyond those implied by the route's shape (credential, query, body).
    pub errors: Vec<u16>,
}

impl Doc {
    pub fn new(summary: &'static str) -> Doc {
        Doc {
            summary,
            description: "",
            query: Vec::new(),
            body: None,
            ok: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn describe(mut self, description: &'static str) -> Doc {
        self.description = description;
        self
    }

    pub fn query(mut self, params: Vec<Param>) -> Doc {
        self.query = params;
        self
    }

    /// A JSON request body (required).
    pub fn json_body(mut self, schema: Value) -> Doc {
        self.body = Some(Body {
            media: "application/json",
            schema,
        });
        self
    }

    pub fn body(mut self, media: &'static str, schema: Value) -> Doc {
        self.body = Some(Body { media, schema });
        self
    }

    /// A JSON success answer.
    pub fn ok(self, status: u16, description: &'static str, schema: Value) -> Doc {
        self.ok_as(status, description, vec![("application/json", schema)])
    }

    /// A success answer in one or more media types.
    pub fn ok_as(
        mut self,
        status: u16,
        description: &'static str,
        bodies: Vec<(&'static str, Value)>,
    ) -> Doc {
        let bodies = bodies
            .into_iter()
            .map(|(media, schema)| Body { media, schema })
            .collect();
        self.ok.push((status, description, bodies));
        self
    }

    pub fn errors(mut self, statuses: &[u16]) -> Doc {
        self.errors.extend_from_slice(statuses);
        self
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `#/components/schemas/NAME`.
pub fn r(name: &str) -> Value {
    schema_ref(name)
}

/// A string of `min..=max` characters.
pub fn text(min: u64, max: u64) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

pub fn nullable(mut schema: Value) -> Value {
    if let Some(t) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
        schema
    } else {
        json!({"anyOf": [schema, {"type": "null"}]})
    }
}

pub fn page_params() -> Vec<Param> {
    vec![
        param(
            "page",
            "Page number, from 1",
            json!({"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}),
        ),
        param(
            "limit",
            "Items per page",
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        ),
    ]
}

/// An instant as the API reads it: RFC 3339, or a bare date (that day's start in UTC).
fn instant() -> Value {
    json!({"anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
    ]})
}

/// The usage report's range and segment.
pub fn stats_params() -> Vec<Param> {
    vec![
        param(
            "from",
            "First day (RFC 3339 or a date; default: 29 days before `to`)",
            instant(),
        ),
        param(
            "to",
            "Last day (RFC 3339 or a date; default: today)",
            instant(),
        ),
        param(
            "segment",
            "Only this segment's figures",
            json!({"type": "string"}),
        ),
    ]
}

/// The conversation filters, shared by the list and the export.
pub fn conversation_filters() -> Vec<Param> {
    vec![
        param(
            "from",
            "Conversations started at or after this instant (RFC 3339, or a date)",
            instant(),
        ),
        param(
            "to",
            "Conversations started at or before this instant (RFC 3339, or a date)",
            instant(),
        ),
        param(
            "segment",
            "Only this segment's conversations",
            json!({"type": "string"}),
        ),
        param(
            "channel",
            "Only this channel",
            json!({"type": "string", "enum": Channel::names()}),
        ),
        param(
            "visitorType",
            "Only this kind of visitor",
            json!({"type": "string", "enum": VisitorType::names()}),
        ),
        param(
            "visitorId",
            "Only this visitor's conversations",
            json!({"type": "string"}),
        ),
        param(
            "toolType",
            "Only conversations in which a tool of this type was executed",
            json!({"type": "string", "enum": ToolType::names()}),
        ),
    ]
}

const SEGMENT_SLUG: &str = "^[a-z0-9-]{1,63}$";
const COLOR: &str = "^#[0-9a-fA-F]{6}$";

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// The named schemas of `components.schemas`.
fn schemas() -> Map<String, Value> {
    let s = json!({"type": "string"});
    let int = json!({"type": "integer", "minimum": 0});
    let starter = json!({
        "type": "object",
        "required": ["text", "emoji"],
        "properties": {"text": s, "emoji": nullable(s.clone())},
    });
    let starter_in = json!({
        "type": "object",
        "required": ["text"],
        "additionalProperties": false,
        "properties": {"text": text(1, 200), "emoji": nullable(text(1, 16))},
    });
    let scopes = json!({
        "type": "array",
        "items": {"type": "string", "enum": Scope::EVERY.map(Scope::as_str)},
    });
    let segment_fields = json!({
        "name": text(1, 100),
        "slug": {"type": "string", "pattern": SEGMENT_SLUG},
        "systemPrompt": text(0, 20_000),
        "welcomeMessage": text(0, 2_000),
        "conversationStarters": {"type": "array", "maxItems": 10, "items": starter_in},
        "isDefault": {"type": "boolean"},
        "isActive": {"type": "boolean"},
    });
    let segment_view = |with_prompt: bool| {
        let mut required = vec![
            "id",
            "slug",
            "name",
            "welcomeMessage",
            "conversationStarters",
            "isDefault",
            "isActive",
            "createdAt",
            "updatedAt",
        ];
        if with_prompt {
            required.push("systemPrompt");
        }
        json!({
            "type": "object",
            "required": required,
            "properties": {
                "id": s, "slug": s, "name": s, "systemPrompt": s, "welcomeMessage": s,
                "conversationStarters": {"type": "array", "items": r("Starter")},
                "isDefault": {"type": "boolean"}, "isActive": {"type": "boolean"},
                "createdAt": timestamp(), "updatedAt": timestamp(),
            },
        })
    };
    let corpus_fields = |required: &[&str]| {
        json!({
            "type": "object",
            "required": required,
            "additionalProperties": false,
            "properties": {
                "title": text(1, 200),
                "content": text(1, 50_000),
                "segment": nullable(json!({"type": "string", "pattern": SEGMENT_SLUG})),
                "priority": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": nullable(json!({"type": "array", "maxItems": 20, "items": text(1, 50)})),
                "summary": nullable(text(1, 1000)),
                "isActive": {"type": "boolean"},
            },
        })
    };
    let conversation_summary_props = json!({
        "id": s, "sessionId": s, "segment": s,
        "channel": {"type": "string", "enum": Channel::names()},
        "visitorType": {"type": "string", "enum": VisitorType::names()},
        "messageCount": int, "startedAt": timestamp(), "lastMessageAt": timestamp(),
        "preview": s, "createdAt": timestamp(), "firstUserMessage": s, "pageUrl": nullable(s.clone()),
        "status": {"type": "string", "enum": ConversationStatus::names(),
            "description": "`escalated` once a tool handed the conversation over to a person"},
        "toolCallsCount": {"type": "integer", "minimum": 0,
            "description": "Tool calls the bot made in this conversation, successful or not"},
    });
    let summary_required = [
        "id",
        "sessionId",
        "segment",
        "channel",
        "visitorType",
        "messageCount",
        "startedAt",
        "lastMessageAt",
        "preview",
        "createdAt",
        "firstUserMessage",
        "pageUrl",
        "status",
        "toolCallsCount",
    ];
    let mut detail_props = conversation_summary_props.clone();
    if let Some(props) = detail_props.as_object_mut() {
        props.insert("agentModel".into(), nullable(s.clone()));
        props.insert("visitorId".into(), nullable(s.clone()));
        props.insert(
            "messages".into(),
            json!({"type": "array", "items": r("Message")}),
        );
        props.insert("pagination".into(), r("Pagination"));
        props.insert(
            "metadata".into(),
            json!({
                "type": "object",
                "required": ["userAgent", "referrer", "pageUrl", "page"],
                "properties": {
                    "userAgent": nullable(s.clone()),
                    "referrer": nullable(s.clone()),
                    "pageUrl": nullable(s.clone()),
                    "page": nullable(s.clone()),
                },
            }),
        );
    }
    let mut detail_required = summary_required.to_vec();
    detail_required.extend(["agentModel", "visitorId", "messages", "metadata"]);
    let row_error = json!({
        "type": "object",
        "required": ["row", "field", "message"],
        "properties": {"row": int, "field": s, "message": s},
    });

    let all = json!({
        "Error": {
            "type": "object",
            "description": "Every error answer. `code` is stable and machine-readable; `error` is for people.",
            "required": ["error", "code"],
            "properties": {
                "error": s,
                "code": {"type": "string", "enum": crate::error::ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
            },
        },
        "Pagination": {
            "type": "object",
            "required": ["page", "limit", "total", "pages"],
            "properties": {"page": int, "limit": int, "total": int, "pages": int},
        },
        "Deleted": {
            "type": "object",
            "required": ["deleted", "id"],
            "properties": {"deleted": {"const": true}, "id": s},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": s},
        },
        "Tenant": {
            "type": "object",
            "required": ["id", "slug", "name", "plan", "isActivated", "botName", "botTitle",
                "botLore", "botTone", "useTutoiement", "allowEmojis", "primaryColor",
                "secondaryColor", "showAiBadge", "allowedDomains", "contentPolicy",
                "conversationsUsed", "conversationsLimit", "answerSensitivity", "createdAt",
                "updatedAt"],
            "properties": {
                "id": s, "slug": s, "name": s,
                "plan": {"type": "string", "enum": crate::domain::Plan::names()},
                "isActivated": {"type": "boolean"},
                "botName": s, "botTitle": s, "botLore": s,
                "botTone": {"type": "string", "enum": Tone::names()},
                "useTutoiement": {"type": "boolean"}, "allowEmojis": {"type": "boolean"},
                "primaryColor": s, "secondaryColor": s, "showAiBadge": {"type": "boolean"},
                "allowedDomains": {"type": "array", "items": s},
                "contentPolicy": {"type": "string", "enum": ContentPolicy::names()},
                "conversationsUsed": int,
                "conversationsLimit": nullable(int.clone()),
                "answerSensitivity": {"type": "number", "minimum": 0, "maximum": 1},
                "createdAt": timestamp(), "updatedAt": timestamp(),
                "parentId": nullable(s.clone()),
                "ageGateEnabled": {"type": "boolean"},
                "ageGateMinAge": {"type": "integer", "minimum": 1, "maximum": 99},
                "contentWarning": nullable(s.clone()),
                "botAvatar": nullable(s.clone()),
                "visitorAuthMode": nullable(json!({"type": "string", "enum": VisitorAuthMode::names()})),
                "bookingCtaEnabled": {"type": "boolean"},
                "answerGeneralQuestions": {"type": "boolean", "description": "With an LLM configured, let it answer questions the knowledge base does not cover (without sources). Default false: the fallback is sent and the model is not asked."},
                "voiceEnabled": {"type": "boolean"},
                "voiceProvider": nullable(s.clone()),
                "voicePhoneNumber": nullable(s.clone()),
                "voiceAssistantId": nullable(s.clone()),
                "voiceConfig": nullable(r("VoiceConfig")),
            },
        },
        "VoiceConfig": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "voiceId": nullable(text(1, 200)),
                "language": nullable(json!({"type": "string", "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"})),
                "firstMessage": nullable(text(1, 1000)),
                "endCallPhrases": nullable(json!({"type": "array", "maxItems": 20, "items": text(1, 100)})),
                "maxCallDuration": nullable(json!({"type": "integer", "minimum": 10, "maximum": 7200})),
            },
        },
        "TenantPatch": {
            "type": "object",
            "description": "Fields to change; those absent keep their value. id, slug, plan, createdAt, updatedAt and conversationsUsed are read-only (400).",
            "additionalProperties": false,
            "properties": {
                "name": text(1, 100), "botName": text(1, 100), "botTitle": text(0, 200),
                "botLore": text(0, 5000),
                "botTone": {"type": "string", "enum": Tone::names()},
                "contentPolicy": {"type": "string", "enum": ContentPolicy::names()},
                "isActivated": {"type": "boolean"}, "useTutoiement": {"type": "boolean"},
                "allowEmojis": {"type": "boolean"}, "showAiBadge": {"type": "boolean"},
                "primaryColor": {"type": "string", "pattern": COLOR},
                "secondaryColor": {"type": "string", "pattern": COLOR},
                "allowedDomains": {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 261}},
                "conversationsLimit": nullable(json!({"type": "integer", "minimum": 0, "maximum": 1_000_000_000})),
                "answerSensitivity": {"type": "number", "minimum": 0, "maximum": 1},
                "ageGateEnabled": {"type": "boolean"},
                "ageGateMinAge": {"type": "integer", "minimum": 1, "maximum": 99},
                "contentWarning": nullable(text(1, 1000)),
                "botAvatar": nullable(json!({"type": "string", "pattern": "^https?://[^/\\s]+[^\\s]*$", "maxLength": 2048})),
                "visitorAuthMode": nullable(json!({"type": "string", "enum": VisitorAuthMode::names()})),
                "bookingCtaEnabled": {"type": "boolean"},
                "answerGeneralQuestions": {"type": "boolean", "description": "With an LLM configured, let it answer questions the knowledge base does not cover (without sources). Default false: the fallback is sent and the model is not asked."},
                "voiceEnabled": {"type": "boolean"},
                "voiceProvider": nullable(text(1, 50)),
                "voicePhoneNumber": nullable(json!({"type": "string", "pattern": "^\\+[1-9][0-9]{1,14}$"})),
                "voiceAssistantId": nullable(text(1, 200)),
                "voiceConfig": nullable(r("VoiceConfig")),
            },
        },
        "CorpusEntry": {
            "type": "object",
            "required": ["id", "title", "content", "segment", "priority", "tags", "summary", "isActive", "createdAt", "updatedAt"],
            "properties": {
                "id": s, "title": s, "content": s, "segment": nullable(s.clone()),
                "priority": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": {"type": "array", "items": s},
                "summary": nullable(s.clone()), "isActive": {"type": "boolean"},
                "createdAt": timestamp(), "updatedAt": timestamp(),
            },
        },
        "CorpusCreate": corpus_fields(&["title", "content"]),
        "CorpusPatch": corpus_fields(&[]),
        "CorpusPage": {
            "type": "object",
            "required": ["corpus", "pagination"],
            "properties": {
                "corpus": {"type": "array", "items": r("CorpusEntry")},
                "pagination": r("Pagination"),
            },
        },
        "RowError": row_error,
        "ImportResult": {
            "type": "object",
            "required": ["created", "failed", "ids", "rows", "errors"],
            "properties": {
                "created": int, "failed": int,
                "ids": {"type": "array", "items": s},
                "rows": {"type": "array", "items": int},
                "errors": {"type": "array", "items": r("RowError")},
            },
        },
        "Starter": starter,
        "Segment": segment_view(true),
        "SegmentListItem": segment_view(false),
        "SegmentCreate": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": segment_fields.clone(),
        },
        "SegmentPatch": {
            "type": "object",
            "description": "Fields to change. `slug` is fixed at creation: sending another value is a 400.",
            "additionalProperties": false,
            "properties": segment_fields,
        },
        "ConversationSummary": {
            "type": "object",
            "required": summary_required,
            "properties": conversation_summary_props,
        },
        "ConversationPage": {
            "type": "object",
            "required": ["conversations", "pagination"],
            "properties": {
                "conversations": {"type": "array", "items": r("ConversationSummary")},
                "pagination": r("Pagination"),
            },
        },
        "Message": {
            "type": "object",
            "required": ["id", "role", "content", "timestamp"],
            "properties": {
                "id": s,
                "role": {"type": "string", "enum": crate::domain::Role::names()},
                "content": s, "timestamp": timestamp(),
            },
        },
        "Conversation": {
            "type": "object",
            "required": detail_required,
            "properties": detail_props,
        },
        "Token": {
            "type": "object",
            "required": ["id", "name", "prefix", "scopes", "createdAt", "lastUsedAt", "expiresAt"],
            "properties": {
                "id": s, "name": s, "prefix": s, "scopes": scopes,
                "createdAt": timestamp(),
                "lastUsedAt": nullable(timestamp()),
                "expiresAt": nullable(timestamp()),
            },
        },
        "TokenList": {
            "type": "object",
            "required": ["tokens"],
            "properties": {"tokens": {"type": "array", "items": r("Token")}},
        },
        "TokenCreate": {
            "type": "object",
            "required": ["name", "scopes"],
            "additionalProperties": false,
            "properties": {
                "name": text(1, 100),
                "scopes": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": Scope::EVERY.map(Scope::as_str)}},
                "expiresAt": nullable(json!({"type": "string", "format": "date-time"})),
            },
        },
        "CreatedToken": {
            "type": "object",
            "description": "`token` is the secret, shown in this answer only.",
            "required": ["id", "name", "token", "prefix", "scopes", "createdAt", "expiresAt"],
            "properties": {
                "id": s, "name": s,
                "token": {"type": "string", "pattern": "^ak_[0-9A-Za-z]{38}$"},
                "prefix": s, "scopes": scopes, "createdAt": timestamp(),
                "expiresAt": nullable(timestamp()),
            },
        },
        "ChatRequest": {
            "type": "object",
            "required": ["message", "sessionId"],
            "description": "Unknown fields are ignored (widgets of other versions).",
            "properties": {
                "message": text(1, 15_000),
                "sessionId": text(1, 100),
                "segment": nullable(s.clone()),
                "stream": nullable(json!({"type": "boolean"})),
                "pageUrl": nullable(text(1, 2_000)),
                "visitorId": nullable(text(1, 100)),
            },
        },
        "ChatReply": {
            "type": "object",
            "required": ["message", "sessionId", "conversationId", "messageCount", "visitorType", "sources", "llmSource",
                "toolExecutions", "toolResults", "contactSubmitted", "status"],
            "properties": {
                "message": s, "sessionId": s, "conversationId": s, "messageCount": int,
                "visitorType": {"type": "string", "enum": VisitorType::names()},
                "agentModel": s,
                "sources": {"type": "array", "items": {
                    "type": "object", "required": ["id", "title"],
                    "properties": {"id": s, "title": s},
                }},
                "llmSource": {"type": "string", "enum": ["retrieval", "llm"]},
                "toolExecutions": {
                    "type": "array",
                    "description": "Tools the bot ran in this turn; never their inputs",
                    "items": {
                        "type": "object", "required": ["name", "type", "success"],
                        "properties": {"name": s, "type": s, "success": {"type": "boolean"}},
                    },
                },
                "toolResults": {
                    "type": "object",
                    "description": "Tool name → whether its (last) run in this turn succeeded",
                    "additionalProperties": {"type": "boolean"},
                },
                "contactSubmitted": {"type": "boolean",
                    "description": "A contact form was submitted in this turn"},
                "status": {"type": "string", "enum": ConversationStatus::names(),
                    "description": "The conversation's status after this turn"},
                "form": {
                    "type": "object",
                    "description": "Without an LLM: a contact form (a SUBMIT_FORM tool) for the widget to render, offered when the visitor asks to be contacted or after a fallback; absent otherwise",
                    "required": ["toolId", "name", "description", "fields"],
                    "properties": {
                        "toolId": s, "name": s, "description": s,
                        "fields": {"type": "array", "items": {
                            "type": "object", "required": ["name", "label", "type", "required"],
                            "properties": {
                                "name": s, "label": s,
                                "type": {"type": "string", "enum": ["text", "email", "textarea", "tel", "select"]},
                                "required": {"type": "boolean"},
                                "options": {"type": "array", "items": s},
                            },
                        }},
                        "submitLabel": s,
                    },
                },
            },
        },
        "WidgetConfig": {
            "type": "object",
            "required": ["tenant", "botName", "botTitle", "showAiBadge", "primaryColor",
                "secondaryColor", "segment", "welcomeMessage", "conversationStarters"],
            "properties": {
                "tenant": s, "botName": s, "botTitle": s, "showAiBadge": {"type": "boolean"},
                "primaryColor": s, "secondaryColor": s, "segment": s, "welcomeMessage": s,
                "conversationStarters": {"type": "array", "items": r("Starter")},
                "botAvatar": nullable(s.clone()),
                "contentPolicy": {"type": "string", "enum": ContentPolicy::names()},
                "ageGateEnabled": {"type": "boolean"},
                "ageGateMinAge": int,
                "contentWarning": nullable(s.clone()),
            },
        },
        "StatsReport": {
            "type": "object",
            "required": ["from", "to", "segment", "totals", "perDay", "topCitedEntries", "unansweredQuestions"],
            "properties": {
                "from": timestamp(), "to": timestamp(), "segment": nullable(s.clone()),
                "totals": {
                    "type": "object",
                    "required": ["conversations", "messages", "answers", "fallbacks", "fallbackShare", "humanConversations", "agentConversations"],
                    "properties": {
                        "conversations": int, "messages": int, "answers": int, "fallbacks": int,
                        "fallbackShare": {"type": "number", "minimum": 0, "maximum": 1},
                        "humanConversations": int, "agentConversations": int,
                    },
                },
                "perDay": {"type": "array", "items": {
                    "type": "object", "required": ["date", "conversations", "messages"],
                    "properties": {"date": {"type": "string", "format": "date"}, "conversations": int, "messages": int},
                }},
                "topCitedEntries": {"type": "array", "items": {
                    "type": "object", "required": ["id", "title", "count"],
                    "properties": {"id": s, "title": nullable(s.clone()), "count": int},
                }},
                "unansweredQuestions": {"type": "array", "items": {
                    "type": "object", "required": ["question", "count"],
                    "properties": {"question": s, "count": int},
                }},
            },
        },
        "Visitor": {
            "type": "object",
            "required": ["id", "email", "externalId", "displayName", "phone", "authProvider", "metadata", "createdAt", "updatedAt"],
            "properties": {
                "id": s, "email": nullable(s.clone()), "externalId": nullable(s.clone()),
                "displayName": nullable(s.clone()), "phone": nullable(s.clone()),
                "authProvider": nullable(s.clone()), "metadata": {"type": "object"},
                "createdAt": timestamp(), "updatedAt": timestamp(),
                "conversationCount": int, "memoryCount": int,
            },
        },
        "VisitorWrite": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "email": nullable(json!({"type": "string", "format": "email", "minLength": 3, "maxLength": 254})),
                "externalId": nullable(text(1, 200)),
                "displayName": nullable(text(1, 200)),
                "phone": nullable(json!({"type": "string", "pattern": "^\\+[1-9][0-9]{1,14}$"})),
                "authProvider": nullable(text(1, 50)),
                "metadata": {"type": "object"},
            },
        },
        "VisitorPage": {
            "type": "object",
            "required": ["visitors", "total", "limit", "offset"],
            "properties": {
                "visitors": {"type": "array", "items": r("Visitor")},
                "total": int, "limit": int, "offset": int,
            },
        },
        "MemoryFact": {
            "type": "object",
            "required": ["key", "value", "source", "createdAt", "updatedAt"],
            "properties": {
                "key": s, "value": s, "source": {"type": "string", "enum": ["api", "chat"]},
                "createdAt": timestamp(), "updatedAt": timestamp(),
            },
        },
        "Memory": {
            "type": "object",
            "required": ["memory"],
            "properties": {"memory": {"type": "array", "items": r("MemoryFact")}},
        },
        "FactWrite": {
            "type": "object",
            "required": ["key", "value"],
            "additionalProperties": false,
            "properties": {
                "key": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
                "value": text(1, 2000),
            },
        },
        "DeletedFact": {
            "type": "object",
            "required": ["deleted", "key"],
            "properties": {"deleted": {"const": true}, "key": s},
        },
        "Tool": {
            "type": "object",
            "required": ["id", "name", "description", "type", "config", "segment", "isActive", "position", "createdAt", "updatedAt"],
            "properties": {
                "id": s, "name": s, "description": s,
                "type": {"type": "string", "enum": crate::domain::ToolType::names()},
                "config": {"type": "object"}, "segment": nullable(s.clone()),
                "isActive": {"type": "boolean"}, "position": int,
                "createdAt": timestamp(), "updatedAt": timestamp(),
                "webhookSecret": {
                    "type": "string", "pattern": "^whsec_[0-9A-Za-z]{43}$",
                    "description": "Only in the create or update answer that gave the tenant its first webhook (SUBMIT_FORM `config.webhookUrl`): the signing secret, shown once",
                },
            },
        },
        "ToolWrite": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": text(1, 100), "description": text(0, 1000),
                "type": {"type": "string", "enum": crate::domain::ToolType::names()},
                "config": {"type": "object"},
                "segment": nullable(text(1, 100)), "segmentId": nullable(text(1, 100)),
                "isActive": {"type": "boolean"},
                "position": {"type": "integer", "minimum": 0, "maximum": 1000},
            },
        },
        "McpTools": {
            "type": "object",
            "required": ["mcpToolsUrl", "hasApiKey", "mcpToolsMaxTools"],
            "properties": {
                "mcpToolsUrl": nullable(s.clone()),
                "hasApiKey": {"type": "boolean"},
                "mcpToolsMaxTools": {"type": "integer", "minimum": 1, "maximum": 20},
            },
        },
        "McpToolsWrite": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "mcpToolsUrl": nullable(json!({"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"})),
                "mcpToolsApiKey": nullable(json!({"type": "string", "maxLength": 4096, "pattern": "^[!-~]*$"})),
                "mcpToolsMaxTools": {"type": "integer", "minimum": 1, "maximum": 20},
            },
        },
        "SubmissionCreate": {
            "type": "object",
            "required": ["sessionId", "toolId", "values"],
            "additionalProperties": false,
            "properties": {
                "sessionId": text(1, 100),
                "toolId": text(1, 100),
                "values": {
                    "type": "object",
                    "description": "Field name -> value (strings); validated against the form: unknown fields, missing required ones, email, tel, select options and lengths are a 400 naming `values.<field>`",
                    "additionalProperties": {"type": ["string", "null"]},
                },
            },
        },
        "SubmissionCreated": {
            "type": "object",
            "required": ["id", "toolId", "createdAt"],
            "properties": {"id": s, "toolId": s, "createdAt": timestamp()},
        },
        "Submission": {
            "type": "object",
            "required": ["id", "toolId", "toolName", "conversationId", "sessionId", "visitorId", "values", "createdAt", "webhook"],
            "properties": {
                "id": s, "toolId": s, "toolName": s,
                "conversationId": nullable(s.clone()), "sessionId": nullable(s.clone()),
                "visitorId": nullable(s.clone()),
                "values": {"type": "object", "additionalProperties": {"type": "string"}},
                "createdAt": timestamp(),
                "webhook": {
                    "type": "object",
                    "required": ["status", "attempts", "lastError", "lastAttemptAt", "deliveredAt"],
                    "properties": {
                        "status": {"type": "string", "enum": crate::domain::DeliveryStatus::names()},
                        "attempts": int, "lastError": nullable(s.clone()),
                        "lastAttemptAt": nullable(timestamp()),
                        "deliveredAt": nullable(timestamp()),
                    },
                },
            },
        },
        "SubmissionPage": {
            "type": "object",
            "required": ["submissions", "total", "limit", "offset"],
            "properties": {
                "submissions": {"type": "array", "items": r("Submission")},
                "total": int, "limit": int, "offset": int,
            },
        },
        "WebhookSecret": {
            "type": "object",
            "required": ["secret"],
            "properties": {"secret": {"type": "string", "pattern": "^whsec_[0-9A-Za-z]{43}$"}},
        },
        "TenantCreate": {
            "type": "object",
            "required": ["slug"],
            "additionalProperties": false,
            "properties": {
                "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
                "name": nullable(text(1, 100)),
                "parentId": nullable(s.clone()),
            },
        },
        "TenantList": {
            "type": "object",
            "required": ["tenants"],
            "properties": {"tenants": {"type": "array", "items": r("Tenant")}},
        },
        "TokenRotate": {
            "type": "object",
            "additionalProperties": false,
            "properties": {"graceSeconds": {"type": "integer", "minimum": 0, "maximum": 2_592_000}},
        },
        "RotatedToken": {
            "type": "object",
            "required": ["id", "name", "token", "prefix", "scopes", "createdAt", "expiresAt", "previousValidUntil"],
            "properties": {
                "id": s, "name": s,
                "token": {"type": "string", "pattern": "^ak_[0-9A-Za-z]{38}$"},
                "prefix": s, "scopes": scopes, "createdAt": timestamp(),
                "expiresAt": nullable(timestamp()),
                "previousValidUntil": nullable(timestamp()),
            },
        },
        "TokenSelf": {
            "type": "object",
            "required": ["id", "name", "prefix", "scopes", "createdAt", "lastUsedAt", "expiresAt"],
            "properties": {
                "id": nullable(s.clone()), "name": s, "prefix": nullable(s.clone()),
                "scopes": {"type": "array", "items": s},
                "createdAt": nullable(timestamp()),
                "lastUsedAt": nullable(timestamp()),
                "expiresAt": nullable(timestamp()),
            },
        },
        "AuditPage": {
            "type": "object",
            "required": ["entries", "pagination"],
            "properties": {
                "entries": {"type": "array", "items": {
                    "type": "object",
                    "required": ["id", "at", "action", "actor", "target", "detail"],
                    "properties": {
                        "id": s, "at": timestamp(), "action": s, "actor": {"type": "object"},
                        "target": nullable(s.clone()), "detail": nullable(s.clone()),
                    },
                }},
                "pagination": r("Pagination"),
            },
        },
        "JsonRpcRequest": {
            "type": "object",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer", "null"]},
                "method": s,
                "params": {"type": "object"},
            },
        },
        "JsonRpcResponse": {
            "type": "object",
            "required": ["jsonrpc", "id"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer", "null"]},
                "result": {"type": "object"},
                "error": {"type": "object", "required": ["code", "message"],
                          "properties": {"code": {"type": "integer"}, "message": s}},
            },
        },
        "CompletionRequest": {
            "type": "object",
            "required": ["messages"],
            "description": "OpenAI chat-completions; other fields (temperature, tools, ...) are ignored.",
            "properties": {
                "model": s,
                "messages": {"type": "array", "items": {
                    "type": "object", "required": ["role", "content"],
                    "properties": {"role": s, "content": {"type": ["string", "array", "null"]}},
                }},
                "stream": {"type": "boolean"},
                "user": text(1, 100),
            },
        },
        "Completion": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices", "usage"],
            "properties": {
                "id": s, "object": {"const": "chat.completion"}, "created": int, "model": s,
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": "object"},
            },
        },
    });
    match all {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn status_text(status: u16, authed: bool) -> &'static str {
    match status {
        403 if !authed => {
            "Refused by the tenant's rules (`origin_not_allowed`, `tenant_inactive`, `quota_exceeded`)"
        }
        404 if !authed => "No such tenant or record",
        400 => {
            "Invalid request: the message names the field or parameter (`invalid_request`, `invalid_json`, `validation_failed`)"
        }
        401 => {
            "No credential, or one that is malformed or unknown (`missing_credentials`, `invalid_token`)"
        }
        403 => {
            "Credential expired or lacking the scope (`token_expired`, `insufficient_scope`), or refused by the tenant's rules"
        }
        404 => "No such tenant (also for another tenant's credential) or record",
        405 => "Method not allowed on this route",
        409 => "Conflicts with the stored state",
        413 => "Body over the size limit",
        429 => "Rate limit exceeded; `Retry-After` says when to retry",
        503 => {
            "The store cannot serve this now (shutting down, storage refusing writes); retry later (`unavailable`)"
        }
        _ => "Error",
    }
}

/// The statuses an operation documents as `Error` bodies.
fn error_statuses(spec: &RouteSpec) -> Vec<u16> {
    let doc = &spec.doc;
    let mut statuses = Vec::new();
    if !doc.query.is_empty() || doc.body.is_some() {
        statuses.push(400);
    }
    if spec.authenticated {
        statuses.extend([401, 403, 404, 429]);
    }
    if doc.body.is_some() {
        statuses.push(413);
    }
    // Every route that reaches a tenant's data can meet a store that refuses for now.
    if spec.path.contains("{slug}") {
        statuses.push(503);
    }
    statuses.extend(&doc.errors);
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

fn operation(spec: &RouteSpec) -> Value {
    let doc = &spec.doc;
    let mut parameters: Vec<Value> = path_params(spec.path)
        .into_iter()
        .map(|name| {
            let description = match name {
                "slug" => "Tenant slug",
                "id" => "Record id",
                _ => "",
            };
            json!({
                "name": name, "in": "path", "required": true, "description": description,
                "schema": {"type": "string", "minLength": 1},
            })
        })
        .collect();
    parameters.extend(doc.query.iter().map(|p| {
        json!({
            "name": p.name, "in": "query", "required": false,
            "description": p.description, "schema": p.schema,
        })
    }));
    let mut responses = Map::new();
    for (status, description, bodies) in &doc.ok {
        let content: Map<String, Value> = bodies
            .iter()
            .map(|b| (b.media.to_string(), json!({"schema": b.schema})))
            .collect();
        responses.insert(
            status.to_string(),
            json!({"description": description, "content": content}),
        );
    }
    for status in error_statuses(spec) {
        let mut response = json!({
            "description": status_text(status, spec.authenticated),
            "content": {"application/json": {"schema": r("Error")}},
        });
        if status == 429 || status == 503 {
            response["headers"] = json!({
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
            });
        }
        responses.insert(status.to_string(), response);
    }
    let mut description = doc.description.to_string();
    let mut op = json!({
        "operationId": operation_id(spec),
        "summary": doc.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match spec.scope {
        Some(scope) => {
            let scope_line = format!(
                "Requires scope `{}` (a `*` token or the legacy key also pass).",
                scope.as_str()
            );
            description = if description.is_empty() {
                scope_line
            } else {
                format!("{description}\n\n{scope_line}")
            };
            op["security"] = json!([{"bearerToken": []}, {"legacyApiKey": []}]);
            op["x-required-scope"] = json!(scope.as_str());
            op["tags"] = json!([tag(spec.path)]);
        }
        None if spec.authenticated => {
            let line = "Any credential of the tenant, whatever its scopes.";
            description = if description.is_empty() {
                line.to_string()
            } else {
                format!("{description}\n\n{line}")
            };
            op["security"] = json!([{"bearerToken": []}, {"legacyApiKey": []}]);
            op["tags"] = json!([tag(spec.path)]);
        }
        None => {
            op["security"] = json!([]);
            op["tags"] = json!(["public"]);
        }
    }
    op["description"] = json!(description);
    if let Some(body) = &doc.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {body.media: {"schema": body.schema}},
        });
    }
    op
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// `tenants`, `corpus`, `segments`...: the resource a tenant route belongs to.
fn tag(path: &str) -> &str {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .nth(1)
        .unwrap_or("tenant")
}

/// `get_tenants_slug_corpus_id`: unique per (method, path).
fn operation_id(spec: &RouteSpec) -> String {
    let mut id = spec.method.as_str().to_ascii_lowercase();
    for part in spec.path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    id
}

/// The whole document, from the route table.
pub fn document() -> Value {
    document_of(&super::routes())
}

pub fn document_of(routes: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for spec in routes {
        let entry = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_ascii_lowercase()] = operation(spec);
    }
    // A creation (201 with an `id`) links to the operations on the record it made, so API
    // tools (and the fuzzer's stateful phase) can follow it.
    for spec in routes {
        let Some(created) = spec.doc.ok.iter().find(|(status, _, _)| *status == 201) else {
            continue;
        };
        let record_path = format!("{}/{{id}}", spec.path);
        let links: Map<String, Value> = routes
            .iter()
            .filter(|other| other.path == record_path)
            .map(|other| {
                (
                    operation_id(other),
                    json!({
                        "operationId": operation_id(other),
                        "parameters": {"slug": "$request.path.slug", "id": "$response.body#/id"},
                    }),
                )
            })
            .collect();
        if links.is_empty() {
            continue;
        }
        let status = created.0.to_string();
        if let Some(response) = paths
            .get_mut(spec.path)
            .and_then(|item| item.get_mut(spec.method.as_str().to_ascii_lowercase()))
            .and_then(|op| op["responses"].get_mut(&status))
        {
            response["links"] = Value::Object(links);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Animam API (self-hosted)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The chatbot API of the self-hosted Animam server. Tenant routes take an API token (`Authorization: Bearer ak_...`) or the tenant's legacy key (`X-API-Key: lk_...`); each names the scope it requires in `x-required-scope`. Every error is `{\"error\": \"...\", \"code\": \"...\"}`.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerToken": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "ak_ + 38 base62 characters",
                    "description": "An API token: scoped, revocable, optionally expiring.",
                },
                "legacyApiKey": {
                    "type": "apiKey", "in": "header", "name": "X-API-Key",
                    "description": "The tenant's legacy key (`lk_...`, one per tenant, full access).",
                },
            },
            "schemas": schemas(),
        },
    })
}

/// `GET /openapi.json`, built once.
pub async fn serve_document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

/// The methods in the order the reference lists them.
const METHOD_ORDER: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// docs/api.md: the reference generated from the document (`animam openapi --markdown`).
pub fn markdown(doc: &Value) -> String {
    let mut out = String::new();
    out.push_str(
        "# Animam API reference (self-hosted)\n\n\
         <!-- Generated from the OpenAPI document by `animam openapi --markdown > docs/api.md`; \
         do not edit by hand (a test fails when this file is stale). -->\n\n",
    );
    out.push_str(doc["info"]["description"].as_str().unwrap_or(""));
    out.push_str(
        "\n\nThe machine-readable document is served at `GET /openapi.json` (OpenAPI 3.1).\n\n",
    );
    out.push_str(DIFFERENCES);
    out.push_str("\n## Routes\n\n| method | path | scope | summary |\n|---|---|---|---|\n");
    let empty = Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    let ops = || {
        paths.iter().flat_map(|(path, item)| {
            METHOD_ORDER.iter().filter_map(move |m| {
                item.get(m.as_str().to_ascii_lowercase())
                    .map(|op| (m.as_str(), path.as_str(), op))
            })
        })
    };
    for (method, path, op) in ops() {
        out.push_str(&format!(
            "| {method} | `{path}` | {} | {} |\n",
            op["x-required-scope"]
                .as_str()
                .map_or("public".to_string(), |s| format!("`{s}`")),
            op["summary"].as_str().unwrap_or("")
        ));
    }
    for (method, path, op) in ops() {
        out.push_str(&format!("\n### {method} `{path}`\n\n"));
        out.push_str(op["summary"].as_str().unwrap_or(""));
        out.push_str(".\n\n");
        if let Some(d) = op["description"].as_str().filter(|d| !d.is_empty()) {
            out.push_str(d);
            out.push_str("\n\n");
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params.is_empty() {
            out.push_str("| parameter | in | schema | description |\n|---|---|---|---|\n");
            for p in params {
                out.push_str(&format!(
                    "| `{}` | {} | `{}` | {} |\n",
                    p["name"].as_str().unwrap_or(""),
                    p["in"].as_str().unwrap_or(""),
                    p["schema"],
                    p["description"].as_str().unwrap_or("")
                ));
            }
            out.push('\n');
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (media, body) in content {
                out.push_str(&format!(
                    "Request body (`{media}`): {}\n\n",
                    schema_text(&body["schema"])
                ));
            }
        }
        out.push_str("| status | body | meaning |\n|---|---|---|\n");
        if let Some(responses) = op["responses"].as_object() {
            for (status, response) in responses {
                let bodies: Vec<String> = response["content"]
                    .as_object()
                    .map(|c| {
                        c.iter()
                            .map(|(media, b)| format!("`{media}`: {}", schema_text(&b["schema"])))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| {status} | {} | {} |\n",
                    bodies.join(", "),
                    response["description"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out.push_str("\n## Schemas\n\n");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            out.push_str(&format!("### {name}\n\n"));
            if let Some(d) = schema["description"].as_str() {
                out.push_str(d);
                out.push_str("\n\n");
            }
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match schema["properties"].as_object() {
                Some(props) => {
                    out.push_str("| field | schema | required |\n|---|---|---|\n");
                    for (field, s) in props {
                        out.push_str(&format!(
                            "| `{field}` | {} | {} |\n",
                            schema_text(s),
                            if required.contains(&field.as_str()) {
                                "yes"
                            } else {
                                ""
                            }
                        ));
                    }
                    if schema["additionalProperties"] == json!(false) {
                        out.push_str("\nOther fields are refused (400 naming the field).\n");
                    }
                }
                None => out.push_str(&format!("`{schema}`\n")),
            }
            out.push('\n');
        }
    }
    out
}

/// A `$ref` as a link to its section, anything else as compact JSON.
fn schema_text(schema: &Value) -> String {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            format!("[{name}](#{})", name.to_ascii_lowercase())
        }
        None => {
            // The description as text: its backquotes would end the code span.
            let mut bare = schema.clone();
            let description = bare
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .and_then(|d| d.as_str().map(str::to_string));
            let code = format!("`{}`", bare.to_string().replace('|', "\\|"));
            match description {
                Some(d) => format!("{code} ({})", d.replace('|', "\\|")),
                None => code,
            }
        }
    }
}

const DIFFERENCES: &str = "## Differences from the hosted API

- **Errors carry a `code`**: every error body is `{\"error\": \"...\", \"code\": \"...\"}`; `code`
  is one of a fixed list (the `Error` schema) and is what a client should branch on.
- **Id formats**: records have prefixed random ids (`ten_...`, `corp_...`, `seg_...`,
  `conv_...`, `msg_...`, `tok_...`); tokens are `ak_` + 32 base62 characters + a 6-character checksum, legacy keys
  `lk_` + the same. Treat ids as opaque strings.
- **Write scopes do not imply read**: `corpus:write` alone cannot list the corpus; grant
  `corpus:read` too. Only `*` (and the legacy key) holds everything.
- **A corpus entry's `segment` must exist**: naming a segment that does not exist is a 400;
  `null` clears it. A segment that entries use cannot be deleted (409).
- **Strict input**: unknown body fields and unknown query parameters are a 400 naming them
  (except on the public chat endpoint, which ignores unknown body fields); `page`/`limit` out
  of range are a 400, not clamped.
- **One plan**: `plan` is always `self-hosted`; `conversationsLimit` is the operator's to set.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once_with_its_scope() {
        let routes = super::super::routes();
        let doc = document_of(&routes);
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                documented.push((method.to_ascii_uppercase(), path.clone()));
                let spec = routes
                    .iter()
                    .find(|s| s.path == path && s.method.as_str() == method.to_ascii_uppercase())
                    .expect("a documented operation is routed");
                assert_eq!(
                    op["x-required-scope"].as_str(),
                    spec.scope.map(Scope::as_str),
                    "{method} {path}"
                );
            }
        }
        let mut routed: Vec<(String, String)> = routes
            .iter()
            .map(|s| (s.method.to_string(), s.path.to_string()))
            .collect();
        routed.sort();
        documented.sort();
        assert_eq!(routed, documented);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "unresolved $ref {name}");
        }
    }

    #[test]
    fn docs_api_md_is_generated_from_the_document() {
        let current = include_str!("../../docs/api.md");
        assert!(
            markdown(&document()) == current,
            "docs/api.md is stale: refresh it with\n  cargo run -q -- openapi --markdown > docs/api.md"
        );
    }
}
