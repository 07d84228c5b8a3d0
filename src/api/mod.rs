//! The HTTP API: one file per resource, and here the single route table that drives the
//! router and the route/scope tests.

pub mod audit;
pub mod chat;
pub mod conversations;
pub mod corpus;
mod csv_format;
pub mod extract;
pub mod fields;
pub mod mcp;
pub mod mcp_tools;
pub mod openai;
pub mod openapi;
pub mod segments;
mod state;
pub mod stats;
pub mod submissions;
pub mod tenant;
pub mod tokens;
pub mod tools;
pub mod visitors;
pub mod widget;

use actix_web::dev::Service;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpResponse, Responder, ResponseError, Route, web};
use serde::Serialize;

pub use openapi::Doc;
pub use state::{AppState, PeerSocket};

use crate::domain::Scope;
use crate::error::{ApiError, ErrorCode};

#[derive(Serialize, Debug, Clone, Copy)]
pub struct Pagination {
    pub page: usize,
    pub limit: usize,
    pub total: usize,
    pub pages: usize,
}

/// One entry of the route table. `scope` is documentation the tests hold the handler to: the
/// handler's `Authed<need::X>` argument is what enforces it, and the table-driven test checks
/// that exactly `X` (and `*`) gets through. `doc` is what `GET /openapi.json` says about the
/// route: `RouteSpec::new` requires it, so no route is served undocumented.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub scope: Option<Scope>,
    pub doc: Doc,
    /// Whether a credential of the tenant is needed. True for every route with a `scope`;
    /// also for routes open to any credential whatever its scopes (`tokens/self`).
    pub authenticated: bool,
    /// The handler as an actix route answering the given method.
    make: Box<dyn Fn(Method) -> Route>,
}

impl RouteSpec {
    fn new<F, Args>(
        method: Method,
        path: &'static str,
        scope: Option<Scope>,
        handler: F,
        doc: Doc,
    ) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        RouteSpec {
            method,
            path,
            scope,
            doc,
            authenticated: scope.is_some(),
            make: Box::new(move |method| web::method(method).to(handler.clone())),
        }
    }

    /// A route for any credential of the tenant, whatever its scopes (`AnyScope`).
    fn any_credential<F, Args>(method: Method, path: &'static str, handler: F, doc: Doc) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        RouteSpec {
            authenticated: true,
            ..RouteSpec::new(method, path, None, handler, doc)
        }
    }
}

/// Every route of the API, each with its documentation. New routes are appended: resources
/// are registered with literal paths before those with parameters (see `configure`), so
/// `tokens/self` is not taken for a token id.
pub fn routes() -> Vec<RouteSpec> {
    use Method as M;
    use Scope as S;
    use openapi::{conversation_filters, page_params, param, r, stats_params};
    use serde_json::json;
    let tenant = "/tenants/{slug}";
    let csv = || json!({"type": "string"});
    vec![
        RouteSpec::new(
            M::GET,
            "/health",
            None,
            health,
            Doc::new("Health check").ok(200, "The server is up", r("Health")),
        ),
        RouteSpec::new(
            M::POST,
            "/chat/{slug}",
            None,
            chat::chat,
            Doc::new("Ask the tenant's bot")
                .describe(
                    "Public: no credential. Guarded by per-IP and per-tenant budgets (429), the \
                     tenant's `allowedDomains` for browsers (403 `origin_not_allowed`), its \
                     activation (403 `tenant_inactive`) and its conversation quota (403 \
                     `quota_exceeded`). Without `\"stream\": false`, browsers get Server-Sent \
                     Events (`delta` frames, then `done` with the reply); AI agents (an \
                     `X-Agent-Model` header or an `[AGENT:model]` prefix) get JSON.",
                )
                .json_body(r("ChatRequest"))
                .ok_as(
                    200,
                    "The bot's reply (stored before it is sent)",
                    vec![
                        ("application/json", r("ChatReply")),
                        (
                            "text/event-stream",
                            json!({
                                "type": "object",
                                "description": "One event: `delta` ({\"text\"}), then `done` (a ChatReply) or `error` (an Error)",
                                "required": ["event", "data"],
                                "properties": {
                                    "event": {"type": "string", "enum": ["delta", "done", "error"]},
                                    "data": {"type": "string"},
                                },
                            }),
                        ),
                    ],
                )
                .errors(&[400, 403, 404, 409, 413, 429]),
        ),
        RouteSpec::new(
            M::OPTIONS,
            "/chat/{slug}",
            None,
            chat::preflight,
            Doc::new("CORS preflight of the chat")
                .ok_as(204, "The origin may call the chat", vec![])
                .errors(&[403, 404, 429]),
        ),
        RouteSpec::new(
            M::GET,
            "/widget.js",
            None,
            widget::script,
            Doc::new("The embeddable chat widget").ok_as(
                200,
                "The script",
                vec![("text/javascript", json!({"type": "string"}))],
            ),
        ),
        RouteSpec::new(
            M::GET,
            "/widget/config/{slug}",
            None,
            widget::config,
            Doc::new("The widget's public settings")
                .describe("Public; CORS by the tenant's `allowedDomains` like the chat.")
                .query(vec![param(
                    "segment",
                    "Segment slug or id (default segment otherwise)",
                    json!({"type": "string"}),
                )])
                .ok(200, "Public settings", r("WidgetConfig"))
                .errors(&[403, 404]),
        ),
        RouteSpec::new(
            M::GET,
            tenant,
            Some(S::SettingsRead),
            tenant::get,
            Doc::new("Read the tenant's settings").ok(200, "The tenant", r("Tenant")),
        ),
        RouteSpec::new(
            M::PUT,
            tenant,
            Some(S::SettingsWrite),
            tenant::update,
            Doc::new("Change the tenant's settings (partial, like PATCH)")
                .json_body(r("TenantPatch"))
                .ok(200, "The tenant as changed", r("Tenant")),
        ),
        RouteSpec::new(
            M::PATCH,
            tenant,
            Some(S::SettingsWrite),
            tenant::update,
            Doc::new("Change the tenant's settings")
                .json_body(r("TenantPatch"))
                .ok(200, "The tenant as changed", r("Tenant")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus",
            Some(S::CorpusRead),
            corpus::list,
            Doc::new("List or search the corpus")
                .describe("Newest first, or by relevance with `search`.")
                .query({
                    let mut q = page_params();
                    q.push(param(
                        "segment",
                        "Only entries of this segment",
                        json!({"type": "string", "pattern": "^[a-z0-9-]{1,63}$"}),
                    ));
                    q.push(param(
                        "search",
                        "Full-text search (ranked)",
                        json!({"type": "string", "maxLength": 1000}),
                    ));
                    q
                })
                .ok(200, "One page", r("CorpusPage")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/corpus",
            Some(S::CorpusWrite),
            corpus::create,
            Doc::new("Add a corpus entry")
                .json_body(r("CorpusCreate"))
                .ok(201, "Created", r("CorpusEntry")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/corpus/import",
            Some(S::CorpusWrite),
            corpus::import,
            Doc::new("Import corpus entries from CSV")
                .describe(
                    "Header `title,content,segment,priority,tags` (tags separated by `;`). All \
                     or nothing by default: any bad row is a 400 listing every bad row and \
                     field (`errors`), nothing written; `mode=partial` writes the good rows.",
                )
                .query(vec![param(
                    "mode",
                    "`all` (default) or `partial`",
                    json!({"type": "string", "enum": ["all", "partial"]}),
                )])
                .body("text/csv", csv())
                .ok(201, "Rows written", r("ImportResult")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus/export",
            Some(S::CorpusRead),
            corpus::export,
            Doc::new("Export the corpus as CSV").ok_as(
                200,
                "The columns of the import",
                vec![("text/csv", csv())],
            ),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusRead),
            corpus::get,
            Doc::new("Read a corpus entry").ok(200, "The entry", r("CorpusEntry")),
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusWrite),
            corpus::update,
            Doc::new("Change a corpus entry")
                .json_body(r("CorpusPatch"))
                .ok(200, "The entry as changed", r("CorpusEntry"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusWrite),
            corpus::delete,
            Doc::new("Delete a corpus entry").ok(200, "Deleted", r("Deleted")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/segments",
            Some(S::SegmentsRead),
            segments::list,
            Doc::new("List segments").ok(
                200,
                "Every segment (without `systemPrompt`)",
                json!({"type": "array", "items": r("SegmentListItem")}),
            ),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/segments",
            Some(S::SegmentsWrite),
            segments::create,
            Doc::new("Create a segment")
                .describe("The slug is derived from the name when absent; it cannot change later.")
                .json_body(r("SegmentCreate"))
                .ok(201, "Created", r("Segment"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsRead),
            segments::get,
            Doc::new("Read a segment (by id or slug)").ok(200, "The segment", r("Segment")),
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsWrite),
            segments::update,
            Doc::new("Change a segment (by id or slug)")
                .json_body(r("SegmentPatch"))
                .ok(200, "The segment as changed", r("Segment"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsWrite),
            segments::delete,
            Doc::new("Delete a segment (by id or slug)")
                .describe("409 for the default segment and for a segment that corpus entries use.")
                .ok(200, "Deleted", r("Deleted"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations",
            Some(S::ConversationsRead),
            conversations::list,
            Doc::new("List conversations")
                .describe("Newest first; `from`/`to` filter by `startedAt`.")
                .query({
                    let mut q = page_params();
                    q.extend(conversation_filters());
                    q
                })
                .ok(200, "One page", r("ConversationPage")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations/export",
            Some(S::ConversationsRead),
            conversations::export,
            Doc::new("Export conversations as CSV (one row per message)")
                .query(conversation_filters())
                .ok_as(200, "CSV", vec![("text/csv", csv())]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations/{id}",
            Some(S::ConversationsRead),
            conversations::get,
            Doc::new("Read a conversation with one page of its messages")
                .describe("Messages oldest first, 100 per page by default (at most 1000).")
                .query(vec![
                    param(
                        "page",
                        "Page of messages, from 1",
                        json!({"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}),
                    ),
                    param(
                        "limit",
                        "Messages per page",
                        json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                    ),
                ])
                .ok(200, "The conversation", r("Conversation")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/tokens",
            Some(S::TokensRead),
            tokens::list,
            Doc::new("List API tokens (never their secrets)").ok(200, "Tokens", r("TokenList")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/tokens",
            Some(S::TokensWrite),
            tokens::create,
            Doc::new("Mint an API token")
                .describe("Only scopes the caller holds can be granted (403 otherwise). The secret is in this answer only.")
                .json_body(r("TokenCreate"))
                .ok(201, "Minted", r("CreatedToken")),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/tokens/{id}",
            Some(S::TokensWrite),
            tokens::delete,
            Doc::new("Revoke an API token")
                .describe("Effective for every request before this answer. A token may only revoke tokens whose scopes it holds.")
                .ok(200, "Revoked", r("Deleted")),
        ),
        RouteSpec::new(
            M::GET,
            "/openapi.json",
            None,
            openapi::serve_document,
            Doc::new("This OpenAPI 3.1 document").ok(
                200,
                "The document",
                json!({"type": "object", "required": ["openapi", "paths"]}),
            ),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/stats",
            Some(S::StatsRead),
            stats::get,
            Doc::new("Usage statistics")
                .describe(
                    "Per day: conversations and messages; for the range: human and agent \
                     conversations, the share of answers that fell back, the most cited \
                     entries and the most asked questions the bot could not answer. Default \
                     range: the last 30 days; at most 366.",
                )
                .query(stats_params())
                .ok(200, "The report", r("StatsReport")),
        ),
        // Authenticated per tool call, each tool needing its REST route's scope (tests/mcp.rs
        // checks every tool against every scope and other tenants' tokens).
        RouteSpec::new(
            M::POST,
            "/mcp",
            None,
            mcp::handle,
            Doc::new("MCP server (Streamable HTTP, JSON-RPC)")
                .describe(
                    "Needs the tenant's `ak_` token as a bearer (401 otherwise); the tenant is \
                     the token's. Methods: initialize, ping, tools/list (the tools the token's \
                     scopes allow), tools/call (each tool needs the scope of the REST route it \
                     mirrors; a refusal is an `isError` result). Notifications get 202.",
                )
                .json_body(r("JsonRpcRequest"))
                .ok(200, "The JSON-RPC response", r("JsonRpcResponse"))
                .ok_as(202, "A notification, accepted", vec![])
                .errors(&[400, 401]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/visitors",
            Some(S::VisitorsRead),
            visitors::list,
            Doc::new("List visitors")
                .describe("Newest first; `search` matches email, display name and external id.")
                .query(vec![
                    param("limit", "Visitors per page", json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50})),
                    param("offset", "Visitors to skip", json!({"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0})),
                    param("search", "Text to look for", json!({"type": "string", "maxLength": 200})),
                ])
                .ok(200, "One page", r("VisitorPage")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/visitors",
            Some(S::VisitorsWrite),
            visitors::create,
            Doc::new("Create a visitor")
                .describe("At least one of `email` and `externalId`; both are unique per tenant (409).")
                .json_body(r("VisitorWrite"))
                .ok(201, "Created", r("Visitor"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/visitors/{id}",
            Some(S::VisitorsRead),
            visitors::get,
            Doc::new("Read a visitor, with its conversation and memory counts")
                .ok(200, "The visitor", r("Visitor")),
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/visitors/{id}",
            Some(S::VisitorsWrite),
            visitors::update,
            Doc::new("Change a visitor")
                .json_body(r("VisitorWrite"))
                .ok(200, "The visitor as changed", r("Visitor"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/visitors/{id}",
            Some(S::VisitorsWrite),
            visitors::delete,
            Doc::new("Delete a visitor with its conversations and memory")
                .describe("In one transaction.")
                .ok(200, "Deleted", r("Deleted")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/visitors/{id}/memory",
            Some(S::VisitorsRead),
            visitors::memory,
            Doc::new("What the bot remembers about a visitor").ok(200, "The facts", r("Memory")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/visitors/{id}/memory",
            Some(S::VisitorsWrite),
            visitors::remember,
            Doc::new("Create or update a fact by key")
                .json_body(r("FactWrite"))
                .ok(201, "Created", r("MemoryFact"))
                .ok(200, "Updated", r("MemoryFact")),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/visitors/{id}/memory/{key}",
            Some(S::VisitorsWrite),
            visitors::forget,
            Doc::new("Forget a fact").ok(200, "Deleted", r("DeletedFact")),
        ),
        RouteSpec::new(
            M::POST,
            "/voice/{slug}/chat",
            Some(S::CorpusRead),
            openai::completions,
            voice_doc("The bot as an OpenAI chat-completions endpoint"),
        ),
        // Where the official OpenAI clients post, given base URL `/voice/{slug}`.
        RouteSpec::new(
            M::POST,
            "/voice/{slug}/chat/completions",
            Some(S::CorpusRead),
            openai::completions,
            voice_doc("The same, where OpenAI clients post"),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/tools",
            Some(S::ToolsRead),
            tools::list,
            Doc::new("List the bot's tools")
                .describe("A bare array, by position then age.")
                .ok(200, "The tools", json!({"type": "array", "items": r("Tool")})),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/tools",
            Some(S::ToolsWrite),
            tools::create,
            Doc::new("Create a tool")
                .describe(
                    "Types SUBMIT_FORM (config.fields: name, label, type text|email|textarea|tel|select, \
                     required, options for a select), REMEMBER_FACT (optional config.keys) and \
                     ESCALATE_TO_HUMAN (optional config.message). Other hosted types are a 400. \
                     The segment is named by `segment` (slug) or `segmentId`.",
                )
                .json_body(r("ToolWrite"))
                .ok(201, "Created", r("Tool")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/tools/{id}",
            Some(S::ToolsRead),
            tools::get,
            Doc::new("Read a tool").ok(200, "The tool", r("Tool")),
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/tools/{id}",
            Some(S::ToolsWrite),
            tools::update,
            Doc::new("Change a tool")
                .describe("Only the fields sent; `type` is fixed at creation.")
                .json_body(r("ToolWrite"))
                .ok(200, "The tool as changed", r("Tool")),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/tools/{id}",
            Some(S::ToolsWrite),
            tools::delete,
            Doc::new("Delete a tool").ok(200, "Deleted", r("Deleted")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants",
            Some(S::All),
            tenant::create_child,
            Doc::new("Create a child tenant")
                .describe(
                    "A child of the caller's tenant (a `*` token of the parent). The parent's \
                     credentials reach the child's routes with the scopes they hold; the \
                     child's never reach the parent or its siblings. One level: a child has no \
                     children. `parentId`, when sent, must be the caller's tenant id.",
                )
                .json_body(r("TenantCreate"))
                .ok(201, "Created", r("Tenant"))
                .errors(&[409]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants",
            Some(S::SettingsRead),
            tenant::list_children,
            Doc::new("The caller's child tenants").ok(200, "The children", r("TenantList")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/tokens/{id}/rotate",
            Some(S::TokensWrite),
            tokens::rotate,
            Doc::new("Rotate an API token's secret")
                .describe(
                    "A new secret for the same token (id, name, scopes, expiry), shown once; the \
                     previous secret keeps working for `graceSeconds` (default 0, at most 30 \
                     days). A token may only rotate tokens whose scopes it holds (403); an \
                     expired token cannot be rotated (409). An empty body means no grace.",
                )
                .json_body(r("TokenRotate"))
                .ok(200, "Rotated", r("RotatedToken"))
                .errors(&[409]),
        ),
        RouteSpec::any_credential(
            M::GET,
            "/tenants/{slug}/tokens/self",
            tokens::whoami,
            Doc::new("The calling credential")
                .describe(
                    "Any credential of the tenant, whatever its scopes; never a secret. The \
                     legacy key has no record: `id`, `prefix` and `createdAt` are null.",
                )
                .ok(200, "The credential", r("TokenSelf")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/mcp-tools",
            Some(S::SettingsRead),
            mcp_tools::get,
            Doc::new("Read the tenant's MCP tools server settings")
                .describe(
                    "The URL of the tenant's own MCP server (null when none), whether an API key \
                     is set (the key itself is never shown) and how many of its tools the bot \
                     may offer.",
                )
                .ok(200, "The settings", r("McpTools")),
        ),
        RouteSpec::new(
            M::PUT,
            "/tenants/{slug}/mcp-tools",
            Some(S::SettingsWrite),
            mcp_tools::put,
            Doc::new("Configure the tenant's MCP tools server")
                .describe(
                    "Fields not sent keep their value. `mcpToolsUrl` must be https:// (http:// to \
                     a loopback host only when `[chat] mcp_allow_http_loopback` is on); null \
                     removes the configuration. `mcpToolsApiKey` is sent as a bearer token to \
                     the server and stored encrypted; null or \"\" clears it. \
                     `mcpToolsMaxTools`: 1 to 20, default 10. With an LLM configured, the \
                     server's tools are offered to the model prefixed `mcp_`.",
                )
                .json_body(r("McpToolsWrite"))
                .ok(200, "The settings as saved", r("McpTools")),
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/mcp-tools",
            Some(S::SettingsWrite),
            mcp_tools::delete,
            Doc::new("Remove the tenant's MCP tools server")
                .describe("The URL and the key are forgotten; the bot offers no MCP tools.")
                .ok(200, "The settings, now empty", r("McpTools")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/audit",
            Some(S::TokensRead),
            audit::list,
            Doc::new("The audit log")
                .describe(
                    "Newest first: tokens created, rotated and revoked, legacy keys minted, \
                     settings changed, imports, and denied requests (with client IP and token \
                     prefix, never a secret).",
                )
                .query(page_params())
                .ok(200, "One page", r("AuditPage")),
        ),
        RouteSpec::new(
            M::POST,
            "/chat/{slug}/submissions",
            None,
            submissions::submit,
            Doc::new("Submit a contact form")
                .describe(
                    "Public: no credential, guarded like the chat (budgets, `allowedDomains`, \
                     activation). The tool must be an active SUBMIT_FORM of the tenant (404 / \
                     400 `toolId`); values are checked against its form (400 naming \
                     `values.<field>`). Linked to the conversation of `sessionId` and its \
                     visitor when there is one. A tool with `config.webhookUrl` gets the \
                     submission POSTed, signed, by a background worker.",
                )
                .json_body(r("SubmissionCreate"))
                .ok(201, "Stored (and its webhook queued)", r("SubmissionCreated"))
                .errors(&[400, 403, 404, 413, 429]),
        ),
        RouteSpec::new(
            M::OPTIONS,
            "/chat/{slug}/submissions",
            None,
            submissions::preflight,
            Doc::new("CORS preflight of the form submission")
                .ok_as(204, "The origin may submit", vec![])
                .errors(&[403, 404, 429]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/submissions",
            Some(S::ToolsRead),
            submissions::list,
            Doc::new("List form submissions")
                .describe("Newest first, each with its webhook delivery status.")
                .query(vec![
                    param(
                        "limit",
                        "Page size (default 50)",
                        json!({"type": "integer", "minimum": 1, "maximum": 200}),
                    ),
                    param(
                        "offset",
                        "Submissions to skip",
                        json!({"type": "integer", "minimum": 0, "maximum": 1_000_000_000}),
                    ),
                    param(
                        "toolId",
                        "Only submissions of this tool",
                        json!({"type": "string", "minLength": 1, "maxLength": 100}),
                    ),
                ])
                .ok(200, "One page", r("SubmissionPage")),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/submissions/export",
            Some(S::ToolsRead),
            submissions::export,
            Doc::new("Export form submissions as CSV")
                .describe(
                    "Oldest first: id, toolId, tool, createdAt, conversationId, visitorId, \
                     webhookStatus, then a column per form field. Cells starting like a \
                     spreadsheet formula are prefixed with `'`.",
                )
                .query(vec![param(
                    "toolId",
                    "Only submissions of this tool",
                    json!({"type": "string", "minLength": 1, "maxLength": 100}),
                )])
                .ok_as(200, "The submissions", vec![("text/csv", csv())]),
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/submissions/{id}",
            Some(S::ToolsRead),
            submissions::get,
            Doc::new("Read a form submission").ok(200, "The submission", r("Submission")),
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/webhook-secret/rotate",
            Some(S::SettingsWrite),
            submissions::rotate_secret,
            Doc::new("Rotate the webhook signing secret")
                .describe(
                    "A new secret for the `Animam-Signature` header of form webhooks, shown \
                     once; the previous one stops signing at once. The first SUBMIT_FORM tool \
                     with a `webhookUrl` creates the tenant's secret and shows it once \
                     (`webhookSecret` in that response). Stored encrypted, never readable.",
                )
                .ok(201, "The new secret", r("WebhookSecret")),
        ),
    ]
}

fn voice_doc(summary: &'static str) -> Doc {
    use openapi::r;
    use serde_json::json;
    Doc::new(summary)
        .describe(
            "OpenAI chat-completions in (`messages`; the last `user` message is the question), \
             `chat.completion` out, or `chat.completion.chunk` events ending `data: [DONE]` with \
             `stream: true`. Stored as a conversation of channel `voice`, one per `user` (or \
             voice `call.id`).",
        )
        .json_body(r("CompletionRequest"))
        .ok_as(
            200,
            "The bot's answer",
            vec![
                ("application/json", r("Completion")),
                (
                    "text/event-stream",
                    json!({"type": "string", "description": "`data: {chat.completion.chunk}` lines, then `data: [DONE]`"}),
                ),
            ],
        )
        .errors(&[403, 409])
}

/// Every tenant route starts with this; they are registered inside one scope of that prefix.
const TENANT_PREFIX: &str = "/tenants/{slug}";

/// Registers the table: one actix resource per path, answering 405 for other methods.
///
/// actix matches a request against resources one after the other, with a regular expression
/// for each pattern that has a `{param}`. Tenant routes sit in one `/tenants/{slug}` scope, so
/// a request meets one regex for the prefix and then mostly plain string comparisons, instead
/// of a regex per tenant route (that matching was ~14% of a `GET corpus/{id}`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let specs = routes();
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for spec in &specs {
        let mut made = vec![(spec.make)(spec.method.clone())];
        // Every GET also answers HEAD (actix sends the headers without the body).
        if spec.method == Method::GET {
            made.push((spec.make)(Method::HEAD));
        }
        match by_path.iter_mut().find(|(path, _)| *path == spec.path) {
            Some((_, routes)) => routes.extend(made),
            None => by_path.push((spec.path, made)),
        }
    }
    // A literal path only ever matches itself: registering it before paths with `{params}`
    // keeps `/tokens/self` from being read as `/tokens/{id}`. The sort is stable.
    by_path.sort_by_key(|(path, _)| path.matches('{').count());
    let resource = |path: &str, full_path: &str, routes: Vec<Route>| {
        // The 405 names the methods the path answers (RFC 9110 `Allow`).
        let mut methods: Vec<&str> = Vec::new();
        for spec in specs.iter().filter(|s| s.path == full_path) {
            methods.push(spec.method.as_str());
            if spec.method == Method::GET {
                methods.push("HEAD");
            }
        }
        let allow = methods.join(", ");
        routes.into_iter().fold(
            web::resource(path).default_service(web::to(move || {
                let allow = allow.clone();
                async move { method_not_allowed(allow) }
            })),
            |resource, route| resource.route(route),
        )
    };
    let mut tenant_scope = web::scope(TENANT_PREFIX).default_service(web::to(route_not_found));
    for (path, routes) in by_path {
        match path.strip_prefix(TENANT_PREFIX) {
            Some(rest) => tenant_scope = tenant_scope.service(resource(rest, path, routes)),
            None => {
                cfg.service(resource(path, path, routes));
            }
        }
    }
    // Every answer of a tenant route whose credential was counted carries the budget.
    cfg.service(tenant_scope.wrap_fn(|req, service| {
        let call = service.call(req);
        async move {
            let mut response = call.await?;
            crate::auth::rate_limit_headers(&mut response);
            Ok(response)
        }
    }));
}

/// `{"status":"ok"}`, or 503 `{"status":"degraded","reason":...}` while writes are failing
/// (a full disk, say): reads still work, and writes recover with the first that succeeds.
async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.store.degraded() {
        None => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Some(reason) => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "degraded",
            "reason": format!("writes are failing: {reason}"),
        })),
    }
}

fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        "Method not allowed on this route",
    )
    .error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("Route"))
}
