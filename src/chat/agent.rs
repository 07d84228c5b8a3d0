//! The bot as an agent: the tenant's tools offered to the LLM as OpenAI function tools, the
//! calls it makes run by the server, their results sent back, for a bounded number of rounds;
//! and, without an LLM, the deterministic offline rules (escalate, offer the contact form).
//!
//! What the model may call is an [`OfferedTool`]: a function spec plus how to run it. Builtin
//! tools (the tenant's `/tools`) are one variant; external ones (a tenant's MCP server) are
//! meant to be another, added with [`Offered::push`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::answer::{self, AnswerKind, Lang};
use super::contact;
use super::llm::{Completion, LlmClient, LlmError, ToolCall};
use super::mcp_client::McpTools;
use super::turn::{CancelOnDrop, LlmSlot, LlmSource, Turn};
use crate::domain::submission::{FormField, form_fields, values_from_json};
use crate::domain::{NewSubmission, Tenant, Tool, ToolActivity, ToolType};
use crate::store::{Store, StoreError};

/// Rounds in which the model may call tools; one more request then asks for the answer with
/// `tool_choice: "none"`, so a model that keeps calling tools still ends with words.
pub const MAX_TOOL_ROUNDS: usize = 3;
/// Calls run per round; more are answered as failed without running, which bounds the work
/// one visitor message can cause.
const MAX_CALLS_PER_ROUND: usize = 8;
/// Added to the system prompt when tools are offered.
const TOOLS_RULE: &str = "\n\nYou can use the tools provided when the visitor's request calls for \
     them (taking their contact details, remembering what they tell about themselves, handing \
     over to a person); call a tool only with what the visitor actually said, and never claim a \
     tool succeeded unless its result says so.";
/// Longest function name the OpenAI API accepts.
const MAX_FUNCTION_NAME: usize = 64;
/// Fact values, as `POST /visitors/{id}/memory` accepts them.
const MAX_FACT_VALUE: usize = 2_000;

/// A tool the model can call.
#[derive(Debug, Clone)]
pub enum OfferedTool {
    /// One of the tenant's `/tools`, run by this server.
    Builtin(Tool),
    /// A tool of the tenant's own MCP server, run there.
    Mcp(McpOffer),
}

/// A tool found on the tenant's MCP server, with what it takes to call it.
#[derive(Debug, Clone)]
pub struct McpOffer {
    pub client: Arc<McpTools>,
    pub tenant: Arc<Tenant>,
    /// The name the server knows it by, shown in `toolExecutions`.
    pub name: String,
    /// The `mcp_...` name `McpTools::call` routes by (the offered function name may be
    /// shortened by [`Offered::push`]).
    pub exposed: String,
    pub description: String,
    pub parameters: Value,
}

impl OfferedTool {
    /// The name shown in `toolExecutions` and `toolResults`.
    pub fn display_name(&self) -> &str {
        match self {
            OfferedTool::Builtin(tool) => &tool.name,
            OfferedTool::Mcp(offer) => &offer.name,
        }
    }

    /// The `type` shown in `toolExecutions`.
    pub fn type_name(&self) -> &str {
        match self {
            OfferedTool::Builtin(tool) => tool.tool_type.as_str(),
            OfferedTool::Mcp(_) => "MCP",
        }
    }

    /// When to call it (ours), then what the tenant wrote about it: a tenant's description
    /// ("We answer within a day") rarely tells the model when the tool is for.
    fn description(&self) -> String {
        match self {
            OfferedTool::Mcp(offer) => offer.description.clone(),
            OfferedTool::Builtin(tool) => {
                let when = Self::when(tool);
                match tool.description.trim() {
                    "" => when,
                    theirs => format!("{when} {theirs}"),
                }
            }
        }
    }

    fn when(tool: &Tool) -> String {
        match tool.tool_type {
                ToolType::SubmitForm => format!(
                    "Submit the visitor's details with the form '{}', once the visitor has given them.",
                    tool.name
                ),
                ToolType::RememberFact => {
                    "Remember a fact the visitor told about themselves, for later conversations."
                        .to_string()
                }
                ToolType::EscalateToHuman => {
                    "Hand the conversation over to a person of the team, when the visitor asks for one or you cannot help."
                        .to_string()
                }
        }
    }

    fn parameters(&self) -> Value {
        match self {
            OfferedTool::Builtin(tool) => parameters(tool),
            OfferedTool::Mcp(offer) => offer.parameters.clone(),
        }
    }
}

/// One offered function: its unique name and the tool behind it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub function: String,
    pub tool: OfferedTool,
}

/// The functions offered to the model in one turn, names unique.
#[derive(Debug, Clone, Default)]
pub struct Offered {
    offers: Vec<Offer>,
}

impl Offered {
    /// The tenant's active tools for the turn's segment, in their list order (position, then
    /// age), so their function names are the same from one turn to the next.
    pub fn builtin(tools: &[Tool]) -> Offered {
        let mut offered = Offered::default();
        for tool in tools {
            let base = function_base(&tool.name, tool.tool_type);
            offered.push(&base, OfferedTool::Builtin(tool.clone()));
        }
        offered
    }

    /// Adds a tool under `name`, made unique (`_2`, `_3`, ...) and valid for the API. Builtin
    /// names never start with `mcp_`, which is left to external MCP tools.
    pub fn push(&mut self, name: &str, tool: OfferedTool) {
        let function = unique_name(name, &self.offers);
        self.offers.push(Offer { function, tool });
    }

    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    /// Adds the tenant's MCP tools (none without a configured server, or when it fails).
    /// Discovery may go over the network: it runs on the blocking pool.
    pub async fn add_mcp(&mut self, client: Arc<McpTools>, tenant: &Tenant) {
        let tenant = Arc::new(tenant.clone());
        let (found_by, for_tenant) = (client.clone(), tenant.clone());
        let discovered =
            match tokio::task::spawn_blocking(move || found_by.discovered(&for_tenant)).await {
                Ok(discovered) => discovered,
                Err(e) => {
                    log::error!("chat: MCP discovery did not run ({e})");
                    return;
                }
            };
        for tool in discovered.iter() {
            let function = &tool.spec["function"];
            self.push(
                &tool.exposed,
                OfferedTool::Mcp(McpOffer {
                    client: client.clone(),
                    tenant: tenant.clone(),
                    name: tool.name.clone(),
                    exposed: tool.exposed.clone(),
                    description: function["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    parameters: function["parameters"].clone(),
                }),
            );
        }
    }

    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// The `tools` array of the completion request.
    pub fn specs(&self) -> Vec<Value> {
        self.offers
            .iter()
            .map(|offer| {
                json!({
                    "type": "function",
                    "function": {
                        "name": offer.function,
                        "description": offer.tool.description(),
                        "parameters": offer.tool.parameters(),
                    }
                })
            })
            .collect()
    }

    fn find(&self, function: &str) -> Option<&Offer> {
        self.offers.iter().find(|o| o.function == function)
    }
}

/// A function name from a tool name: lowercase ASCII letters, digits and `_`, runs of anything
/// else as one `_`; the type's name when nothing is left; never `mcp_...`.
pub fn function_base(tool_name: &str, tool_type: ToolType) -> String {
    let mut name = String::new();
    for c in tool_name.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_');
    let name = if name.is_empty() {
        tool_type.as_str().to_ascii_lowercase()
    } else {
        name.to_string()
    };
    if name.starts_with("mcp_") {
        format!("tool_{name}")
    } else {
        name
    }
}

fn unique_name(base: &str, taken: &[Offer]) -> String {
    // The API accepts ^[a-zA-Z0-9_-]{1,64}$; room is kept for a `_NN` suffix.
    let base: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
            _ => '_',
        })
        .take(MAX_FUNCTION_NAME - 4)
        .collect();
    let base = if base.is_empty() {
        "tool".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|o| o.function == name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The JSON Schema of a builtin tool's arguments.
pub fn parameters(tool: &Tool) -> Value {
    match tool.tool_type {
        ToolType::SubmitForm => {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in form_fields(&tool.config) {
                let mut schema = json!({"type": "string", "description": field.label});
                match field.kind.as_str() {
                    "email" => schema["format"] = json!("email"),
                    "tel" => {
                        schema["description"] = json!(format!("{} (phone number)", field.label));
                        schema["pattern"] = json!(TEL_PATTERN);
                    }
                    "textarea" => {
                        schema["description"] = json!(format!("{} (free text)", field.label));
                    }
                    "select" if !field.options.is_empty() => schema["enum"] = json!(field.options),
                    _ => {}
                }
                if field.required {
                    required.push(field.name.clone());
                }
                properties.insert(field.name, schema);
            }
            json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            })
        }
        ToolType::RememberFact => {
            let keys = remember_keys(tool);
            let key = if keys.is_empty() {
                json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$",
                    "description": "A short name for the fact, e.g. preferred_name"})
            } else {
                json!({"type": "string", "enum": keys})
            };
            json!({
                "type": "object",
                "properties": {
                    "key": key,
                    "value": {"type": "string", "description": "What to remember"},
                },
                "required": ["key", "value"],
                "additionalProperties": false,
            })
        }
        ToolType::EscalateToHuman => json!({
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "Why a person should take over"},
            },
            "required": ["reason"],
            "additionalProperties": false,
        }),
    }
}

/// What `domain::submission` accepts: 5 to 20 digits with separators, at most 40 characters.
const TEL_PATTERN: &str = "^[+0-9 ().-]{5,40}$";

/// A SUBMIT_FORM field as the reply's `form` shows it to the widget.
#[derive(Debug, Clone, Serialize)]
pub struct FormFieldView {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl From<FormField> for FormFieldView {
    fn from(f: FormField) -> Self {
        FormFieldView {
            name: f.name,
            label: f.label,
            kind: f.kind,
            required: f.required,
            options: f.options,
        }
    }
}

fn remember_keys(tool: &Tool) -> Vec<String> {
    tool.config
        .get("keys")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One tool run, as the reply shows it: never the arguments nor the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolExecution {
    pub name: String,
    #[serde(rename = "type")]
    pub tool_type: String,
    pub success: bool,
}

/// A contact form the widget can render, to be posted to `POST /chat/{slug}/submissions`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormOffer {
    pub tool_id: String,
    pub name: String,
    pub description: String,
    pub fields: Vec<FormFieldView>,
    /// The button's text (`config.submitLabel`), when the tenant set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submit_label: Option<String>,
}

impl FormOffer {
    fn of(tool: &Tool) -> FormOffer {
        FormOffer {
            tool_id: tool.id.clone(),
            name: tool.name.clone(),
            description: tool.description.clone(),
            fields: form_fields(&tool.config)
                .into_iter()
                .map(FormFieldView::from)
                .collect(),
            submit_label: tool
                .config
                .get("submitLabel")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// What the tools did in a turn.
#[derive(Debug, Clone, Default)]
pub struct ToolsOutcome {
    pub executions: Vec<ToolExecution>,
    /// What the conversation keeps of them.
    pub activity: ToolActivity,
    pub contact_submitted: bool,
    /// Offered to the visitor without an LLM.
    pub form: Option<FormOffer>,
}

impl ToolsOutcome {
    fn record(&mut self, offer: &Offer, done: &Executed) {
        self.executions.push(ToolExecution {
            name: offer.tool.display_name().to_string(),
            tool_type: offer.tool.type_name().to_string(),
            success: done.success,
        });
        self.activity.calls = self.activity.calls.saturating_add(1);
        // External tools (MCP) count as calls but have no builtin type nor effect here.
        match &offer.tool {
            OfferedTool::Builtin(tool) => {
                if !self.activity.types.contains(&tool.tool_type) {
                    self.activity.types.push(tool.tool_type);
                }
                if done.success {
                    match tool.tool_type {
                        ToolType::EscalateToHuman => self.activity.escalated = true,
                        ToolType::SubmitForm => self.contact_submitted = true,
                        ToolType::RememberFact => {}
                    }
                }
            }
            OfferedTool::Mcp(_) => {}
        }
    }

    /// `toolResults`: name → success (the last call of a name wins).
    pub fn results(&self) -> BTreeMap<String, bool> {
        self.executions
            .iter()
            .map(|e| (e.name.clone(), e.success))
            .collect()
    }
}

/// What running one call gave: the success flag, and the JSON sent back to the model.
struct Executed {
    success: bool,
    result: Value,
}

impl Executed {
    fn ok(result: Value) -> Executed {
        Executed {
            success: true,
            result,
        }
    }

    fn failed(error: impl Into<String>) -> Executed {
        Executed {
            success: false,
            result: json!({"success": false, "error": error.into()}),
        }
    }
}

/// What a call may act on.
struct Context<'a> {
    store: &'a Store,
    tenant: &'a str,
    session_id: &'a str,
    visitor_id: Option<&'a str>,
}

/// The arguments as a JSON object (an empty text counts as `{}`).
fn arguments(raw: &str) -> Result<Map<String, Value>, String> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the arguments must be a JSON object".to_string()),
        Err(_) => Err("the arguments are not valid JSON".to_string()),
    }
}

async fn execute(ctx: &Context<'_>, tool: &OfferedTool, raw: &str) -> Executed {
    let args = match arguments(raw) {
        Ok(args) => args,
        Err(e) => return Executed::failed(e),
    };
    match tool {
        OfferedTool::Builtin(tool) => execute_builtin(ctx, tool, &args).await,
        OfferedTool::Mcp(offer) => execute_mcp(offer, raw).await,
    }
}

/// Runs an MCP tool on the blocking pool; its text goes back to the model as `result`.
async fn execute_mcp(offer: &McpOffer, raw: &str) -> Executed {
    let (client, tenant) = (offer.client.clone(), offer.tenant.clone());
    let (exposed, raw) = (offer.exposed.clone(), raw.to_string());
    match tokio::task::spawn_blocking(move || client.call(&tenant, &exposed, &raw)).await {
        Ok(Ok(text)) => Executed::ok(json!({"success": true, "result": text})),
        Ok(Err(e)) => Executed::failed(e.to_string()),
        Err(e) => {
            log::error!("chat: MCP tool call did not run ({e})");
            Executed::failed("the tool could not be run")
        }
    }
}

async fn execute_builtin(ctx: &Context<'_>, tool: &Tool, args: &Map<String, Value>) -> Executed {
    let text = |key: &str| args.get(key).and_then(Value::as_str).map(str::trim);
    match tool.tool_type {
        ToolType::RememberFact => {
            let Some(visitor) = ctx.visitor_id else {
                return Executed::failed(
                    "this conversation is not linked to a visitor: nothing can be remembered",
                );
            };
            let key = text("key").unwrap_or_default();
            let valid_key = (1..=100).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid_key {
                return Executed::failed("key: must be 1 to 100 letters, digits, _, - or .");
            }
            let keys = remember_keys(tool);
            if !keys.is_empty() && !keys.iter().any(|k| k == key) {
                return Executed::failed(format!("key: must be one of {}", keys.join(", ")));
            }
            let value = text("value").unwrap_or_default();
            if value.is_empty() || value.chars().count() > MAX_FACT_VALUE {
                return Executed::failed(format!(
                    "value: must be 1 to {MAX_FACT_VALUE} characters"
                ));
            }
            match ctx
                .store
                .remember(ctx.tenant, visitor, key, value, "chat")
                .await
            {
                Ok(_) => Executed::ok(json!({"success": true, "remembered": key})),
                Err(StoreError::NotFound(_)) => Executed::failed("the visitor no longer exists"),
                Err(e) => {
                    log::error!("chat: tenant {}: REMEMBER_FACT failed: {e}", ctx.tenant);
                    Executed::failed("the fact could not be stored")
                }
            }
        }
        ToolType::EscalateToHuman => {
            let mut result = json!({"success": true, "status": "escalated"});
            if let Some(message) = tool.config.get("message").and_then(Value::as_str) {
                result["messageForVisitor"] = json!(message);
            }
            Executed::ok(result)
        }
        ToolType::SubmitForm => {
            let values = match values_from_json(args) {
                Ok(values) => values,
                Err(e) => return Executed::failed(e.to_string()),
            };
            // The store validates the values against the form in the transaction that keeps
            // them, as for a submission from the widget. The conversation of a first turn is
            // only created once the turn is recorded: the session links them.
            let new = NewSubmission {
                tool_id: tool.id.clone(),
                conversation_id: None,
                session_id: Some(ctx.session_id.to_string()),
                visitor_id: ctx.visitor_id.map(str::to_string),
                values,
            };
            match ctx.store.record_submission(ctx.tenant, new).await {
                Ok(submission) => {
                    Executed::ok(json!({"success": true, "submissionId": submission.id}))
                }
                Err(StoreError::Invalid { field, rule }) => {
                    Executed::failed(format!("{field}: {rule}"))
                }
                Err(StoreError::NotFound(_)) => Executed::failed("this form no longer exists"),
                Err(e) => {
                    log::error!("chat: tenant {}: SUBMIT_FORM failed: {e}", ctx.tenant);
                    Executed::failed("the form could not be stored")
                }
            }
        }
    }
}

/// Everything a finished agent turn produced.
pub struct AgentReply {
    pub text: String,
    /// Whether `text` already went out through `on_delta`; otherwise the caller sends it.
    pub streamed: bool,
    pub source: LlmSource,
    pub tools: ToolsOutcome,
}

type OnDelta = Box<dyn FnMut(&str) -> bool + Send>;

/// Between the texts of two rounds (a model may say something before calling a tool, then
/// answer after): streamed before the later round's first delta.
const PARAGRAPH: &str = "\n\n";

/// One completion on a thread of its own, as `turn::generate` does it; the slot's permit and
/// the delta sink travel with it and come back for the next round. `separate`: text came in
/// an earlier round, so this one's starts with a [`PARAGRAPH`].
struct Round {
    result: Result<Completion, LlmError>,
    streamed: String,
    carried: Carried,
}

/// What one round hands to the next: the LLM slot's permit and the visitor's delta sink.
struct Carried {
    /// Never read: holding it is holding the slot.
    _permit: tokio::sync::OwnedSemaphorePermit,
    on_delta: OnDelta,
}

async fn round(
    client: Arc<LlmClient>,
    mut carried: Carried,
    messages: Vec<Value>,
    specs: Vec<Value>,
    tool_choice: Option<&'static str>,
    cancelled: Arc<AtomicBool>,
    mut separate: bool,
) -> Option<Round> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("llm".to_string())
        .spawn(move || {
            let mut streamed = String::new();
            let result = client.complete(&messages, &specs, tool_choice, &mut |delta| {
                if cancelled.load(Ordering::Relaxed) {
                    return false;
                }
                if separate {
                    separate = false;
                    streamed.push_str(PARAGRAPH);
                    if !(carried.on_delta)(PARAGRAPH) {
                        return false;
                    }
                }
                streamed.push_str(delta);
                (carried.on_delta)(delta)
            });
            // When nobody waits any more, dropping the round here gives the slot back.
            let _ = done_tx.send(Round {
                result,
                streamed,
                carried,
            });
        });
    if let Err(e) = spawned {
        log::error!("chat: cannot start an LLM thread ({e})");
        return None;
    }
    done_rx.await.ok()
}

/// Runs the turn with the LLM and the offered tools: each round streams the model's text to
/// `on_delta`, runs the calls it asked for and sends their results back, until it answers
/// without calls or the rounds run out. Falls back to the retrieval answer when the model
/// said nothing. Dropping the future stops the running call at its next delta.
///
/// When the corpus had nothing relevant (the model is called only because it may act), the
/// model's words are kept only if one of its tool calls succeeded; otherwise the visitor gets
/// the fallback, so a general question is never answered from the model's own knowledge.
/// Its text is then held back until that is known.
pub async fn run(
    slot: LlmSlot,
    turn: &Turn,
    store: &Store,
    offered: &Offered,
    on_delta: impl FnMut(&str) -> bool + Send + 'static,
) -> AgentReply {
    let acting_only =
        turn.retrieval.kind == AnswerKind::Fallback && !turn.tenant.extra.answer_general_questions;
    if acting_only && offered.is_empty() {
        // Nothing to act with (the MCP server is down, say): nothing for the model to do.
        return without_the_model(turn);
    }
    let on_delta: OnDelta = if acting_only {
        Box::new(|_: &str| true)
    } else {
        Box::new(on_delta)
    };
    let mut messages: Vec<Value> = turn
        .llm_messages()
        .into_iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    if !offered.is_empty()
        && let Some(Value::String(system)) = messages.first_mut().and_then(|m| m.get_mut("content"))
    {
        // The knowledge-base rule alone would keep the model from acting on a request.
        system.push_str(TOOLS_RULE);
    }
    let specs = offered.specs();
    let ctx = Context {
        store,
        tenant: &turn.tenant.slug,
        session_id: &turn.session_id,
        visitor_id: turn.visitor_id(),
    };
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let LlmSlot { client, permit } = slot;
    let mut carried = Some(Carried {
        _permit: permit,
        on_delta,
    });
    let mut text = String::new();
    let mut tools = ToolsOutcome::default();
    for number in 0..=MAX_TOOL_ROUNDS {
        let Some(carrying) = carried.take() else {
            break;
        };
        let last = number == MAX_TOOL_ROUNDS;
        let choice = last.then_some("none");
        let Some(done) = round(
            client.clone(),
            carrying,
            messages.clone(),
            specs.clone(),
            choice,
            cancelled.clone(),
            !text.is_empty(),
        )
        .await
        else {
            break;
        };
        carried = Some(done.carried);
        let completion = match done.result {
            Ok(completion) => completion,
            Err(e) => {
                if done.streamed.is_empty() {
                    log::warn!("chat: LLM failed in round {} ({e})", number + 1);
                } else {
                    log::warn!(
                        "chat: LLM stopped mid-answer ({e}); keeping the {} characters received",
                        done.streamed.chars().count()
                    );
                    text.push_str(&done.streamed);
                }
                break;
            }
        };
        if !completion.text.is_empty() && !text.is_empty() {
            // As streamed: see `round`.
            text.push_str(PARAGRAPH);
        }
        text.push_str(&completion.text);
        if completion.tool_calls.is_empty() {
            break;
        }
        if last {
            log::info!(
                "chat: tenant {}: the model still asked for {} tool calls after {MAX_TOOL_ROUNDS} rounds; answering with what there is",
                turn.tenant.slug,
                completion.tool_calls.len()
            );
            break;
        }
        run_calls(
            &ctx,
            offered,
            &completion,
            number,
            &mut messages,
            &mut tools,
        )
        .await;
    }
    if text.trim().is_empty() {
        log::warn!("chat: the LLM gave no answer; answering from retrieval");
    } else if acting_only && !tools.executions.iter().any(|e| e.success) {
        log::info!("chat: nothing relevant and no tool acted; the model's answer is not used");
        if tools.executions.is_empty() {
            return without_the_model(turn);
        }
    } else {
        return AgentReply {
            text,
            streamed: !acting_only,
            source: LlmSource::Llm,
            tools,
        };
    }
    AgentReply {
        text: turn.retrieval.text.clone(),
        streamed: false,
        source: LlmSource::Retrieval,
        tools,
    }
}

/// The turn as answered with no LLM configured (see [`offline`]).
fn without_the_model(turn: &Turn) -> AgentReply {
    let (text, tools) = offline(turn);
    AgentReply {
        text,
        streamed: false,
        source: LlmSource::Retrieval,
        tools,
    }
}

/// Runs one round's calls and appends the assistant's `tool_calls` message and one `tool`
/// message per call to `messages`.
async fn run_calls(
    ctx: &Context<'_>,
    offered: &Offered,
    completion: &Completion,
    round: usize,
    messages: &mut Vec<Value>,
    tools: &mut ToolsOutcome,
) {
    // Every call needs an id its result can name; a server that sent none gets ours.
    let calls: Vec<ToolCall> = completion
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: if call.id.is_empty() {
                format!("call_{round}_{i}")
            } else {
                call.id.clone()
            },
            ..call.clone()
        })
        .collect();
    messages.push(json!({
        "role": "assistant",
        "content": if completion.text.is_empty() { Value::Null } else { json!(completion.text) },
        "tool_calls": calls.iter().map(|c| json!({
            "id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": c.arguments},
        })).collect::<Vec<_>>(),
    }));
    for (i, call) in calls.iter().enumerate() {
        let done = match offered.find(&call.name) {
            None => Executed::failed(format!("no tool is named '{}'", call.name)),
            Some(_) if i >= MAX_CALLS_PER_ROUND => Executed::failed(format!(
                "at most {MAX_CALLS_PER_ROUND} tool calls are run per round"
            )),
            Some(offer) => {
                let done = execute(ctx, &offer.tool, &call.arguments).await;
                tools.record(offer, &done);
                done
            }
        };
        if !done.success {
            log::info!(
                "chat: tenant {}: tool call '{}' failed: {}",
                ctx.tenant,
                call.name,
                done.result["error"]
            );
        }
        messages.push(json!({
            "role": "tool",
            "tool_call_id": call.id,
            "content": done.result.to_string(),
        }));
    }
}

/// The reply without an LLM (documented in README, "Tools"): when the visitor asks to be
/// contacted or to talk to a person, an active ESCALATE_TO_HUMAN escalates the conversation
/// and an active SUBMIT_FORM is offered as a `form`; after a fallback the form is offered too.
/// Returns the reply text (the retrieval answer unless a tool changes it) and what was done.
pub fn offline(turn: &Turn) -> (String, ToolsOutcome) {
    let mut outcome = ToolsOutcome::default();
    let text = turn.retrieval.text.clone();
    let escalate = turn
        .tools
        .iter()
        .find(|t| t.tool_type == ToolType::EscalateToHuman);
    let form = turn
        .tools
        .iter()
        .find(|t| t.tool_type == ToolType::SubmitForm);
    let lang = answer::detect_lang(&turn.message);
    if contact::asks_for_contact(&turn.message) {
        let mut said = Vec::new();
        if let Some(tool) = escalate {
            let offer = Offer {
                function: function_base(&tool.name, tool.tool_type),
                tool: OfferedTool::Builtin(tool.clone()),
            };
            outcome.record(&offer, &Executed::ok(Value::Null));
            said.push(
                tool.config
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| escalated_text(lang).to_string()),
            );
        }
        if let Some(tool) = form {
            outcome.form = Some(FormOffer::of(tool));
            said.push(form_text(lang).to_string());
        }
        if !said.is_empty() {
            return (said.join(" "), outcome);
        }
    }
    if turn.retrieval.kind == AnswerKind::Fallback
        && let Some(tool) = form
    {
        outcome.form = Some(FormOffer::of(tool));
    }
    (text, outcome)
}

fn escalated_text(lang: Lang) -> &'static str {
    match lang {
        Lang::French => {
            "J'ai transmis votre demande à une personne de l'équipe, qui reviendra vers vous."
        }
        Lang::English => {
            "I've passed your request on to a person from the team, who will get back to you."
        }
    }
}

fn form_text(lang: Lang) -> &'static str {
    match lang {
        Lang::French => {
            "Laissez vos coordonnées dans le formulaire ci-dessous et nous vous recontacterons."
        }
        Lang::English => "Leave your details in the form below and we'll get back to you.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn tool(name: &str, tool_type: ToolType, config: Value) -> Tool {
        Tool {
            id: format!("tool_{name}"),
            name: name.to_string(),
            description: String::new(),
            tool_type,
            config: config.as_object().cloned().unwrap_or_default(),
            segment: None,
            is_active: true,
            position: 0,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    fn contact_form() -> Tool {
        tool(
            "Contact form",
            ToolType::SubmitForm,
            json!({"fields": [
                {"name": "email", "label": "Email", "type": "email", "required": true},
                {"name": "phone", "label": "Phone", "type": "tel"},
                {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]},
                {"name": "note", "label": "Note", "type": "textarea"},
                {"name": "name", "label": "Name", "type": "text", "required": true},
            ]}),
        )
    }

    #[test]
    fn function_names_are_valid_deterministic_and_unique() {
        let tools = [
            contact_form(),
            tool("Contact form!", ToolType::SubmitForm, json!({"fields": []})),
            tool("Été 2024 — rappel", ToolType::EscalateToHuman, json!({})),
            tool("€€€", ToolType::RememberFact, json!({})),
            tool("MCP bridge", ToolType::EscalateToHuman, json!({})),
            tool(&"x".repeat(100), ToolType::EscalateToHuman, json!({})),
            tool(&"x".repeat(100), ToolType::EscalateToHuman, json!({})),
        ];
        let names: Vec<String> = Offered::builtin(&tools)
            .offers()
            .iter()
            .map(|o| o.function.clone())
            .collect();
        assert_eq!(
            names[..5],
            [
                "contact_form",
                "contact_form_2",
                "t_2024_rappel",
                "remember_fact",
                "tool_mcp_bridge",
            ]
        );
        assert_eq!(names[5], "x".repeat(60));
        assert_eq!(names[6], format!("{}_2", "x".repeat(60)));
        for name in &names {
            assert!(
                (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name}"
            );
        }
        let mut external = Offered::builtin(&tools[..1]);
        external.push(
            "mcp_weather.get forecast",
            OfferedTool::Builtin(contact_form()),
        );
        external.push("", OfferedTool::Builtin(contact_form()));
        let pushed: Vec<&str> = external
            .offers()
            .iter()
            .map(|o| o.function.as_str())
            .collect();
        assert_eq!(pushed, ["contact_form", "mcp_weather_get_forecast", "tool"]);
        let again: Vec<String> = Offered::builtin(&tools)
            .offers()
            .iter()
            .map(|o| o.function.clone())
            .collect();
        assert_eq!(names, again);
    }

    #[test]
    fn schemas_follow_each_type() {
        assert_eq!(
            parameters(&contact_form()),
            json!({
                "type": "object",
                "properties": {
                    "email": {"type": "string", "description": "Email", "format": "email"},
                    "phone": {"type": "string", "description": "Phone (phone number)", "pattern": TEL_PATTERN},
                    "topic": {"type": "string", "description": "Topic", "enum": ["Sales", "Support"]},
                    "note": {"type": "string", "description": "Note (free text)"},
                    "name": {"type": "string", "description": "Name"},
                },
                "required": ["email", "name"],
                "additionalProperties": false,
            })
        );
        let remember = parameters(&tool(
            "m",
            ToolType::RememberFact,
            json!({"keys": ["city"]}),
        ));
        assert_eq!(remember["required"], json!(["key", "value"]));
        assert_eq!(remember["properties"]["key"]["enum"], json!(["city"]));
        let free = parameters(&tool("m", ToolType::RememberFact, json!({})));
        assert!(free["properties"]["key"]["pattern"].is_string());
        let escalate = parameters(&tool("h", ToolType::EscalateToHuman, json!({})));
        assert_eq!(escalate["required"], json!(["reason"]));
        let spec = Offered::builtin(&[contact_form()]).specs();
        assert_eq!(spec[0]["type"], "function");
        assert_eq!(spec[0]["function"]["name"], "contact_form");
        assert!(
            spec[0]["function"]["description"]
                .as_str()
                .unwrap()
                .contains("Contact form")
        );
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(arguments(""), Ok(Map::new()));
        assert!(arguments("{\"a\":1}").is_ok());
        assert!(arguments("[1]").is_err());
        assert!(arguments("{\"key\": ").is_err());
    }
}
