//! Bring-your-own MCP tools: a client for a tenant's own Model Context Protocol server over
//! the Streamable HTTP transport (spec 2025-06-18, which 2025-03-26 servers also answer).
//!
//! Each operation opens its own session: `initialize` (the server may hand back an
//! `Mcp-Session-Id`, sent on every later request), `notifications/initialized`, then
//! `tools/list` or `tools/call`, then a best-effort `DELETE` that ends the session. Answers
//! come as `application/json` or as a `text/event-stream` whose `data:` lines carry the
//! JSON-RPC response; both are read.
//!
//! Everything here blocks: call it from the LLM thread or `web::block`, never on an actix
//! worker. A broken, slow or dead server costs at most the configured timeout per request and
//! never fails a chat: discovery yields no tools and logs why, a call yields an error result.
//! The tenant's key only ever travels in the `Authorization` header: it is not logged, not in
//! `Debug`, and scrubbed from any server text quoted in an error.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::clock::Timestamp;
use crate::config::ChatConfig;
use crate::domain::Tenant;
use crate::secrets::SecretBox;
use crate::store::{McpSettings, Store};

/// The revision we speak; servers of 2025-03-26 answer it with their own, which we then send.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// What the model sees in front of every MCP tool's name, so they never collide with the
/// built-in tools and a call is routed here by its name alone.
pub const EXPOSED_PREFIX: &str = "mcp_";
/// OpenAI function names: `^[a-zA-Z0-9_-]{1,64}$`.
const MAX_FUNCTION_NAME: usize = 64;
/// Largest JSON-RPC answer read: a `tools/list` page with big schemas fits, a runaway server
/// cannot fill memory.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// The text of one tool result handed to the model; more is cut with a marker.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
const TRUNCATED_MARKER: &str = "\n[truncated: the tool's result was longer]";
/// Tool descriptions go into every prompt: keep them bounded.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// `tools/list` pages followed at most, against a server that never stops paging.
const MAX_LIST_PAGES: usize = 10;
/// A failed discovery is remembered this long at most, so a dead server does not cost a
/// timeout on every turn, yet a repaired one is used again soon.
const FAILURE_CACHE: Duration = Duration::from_secs(30);
/// Server text quoted in errors (and so in logs) stays short.
const EXCERPT_CHARS: usize = 200;

/// Why an MCP operation failed. No message holds the tenant's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpError {
    /// The tenant has no MCP server configured.
    NotConfigured,
    /// The sealed key does not open (another secret key, a damaged row).
    Key,
    /// The URL is not acceptable (any more: `mcp_allow_http_loopback` may have been turned off).
    Url(String),
    Timeout,
    /// The server answered a non-2xx status.
    Http(u16),
    /// Connection refused, DNS, TLS, reset...
    Transport(String),
    /// An answer that is not the JSON-RPC we asked for, or a JSON-RPC error.
    Protocol(String),
    /// The model named a tool the server does not (or no longer) offer.
    UnknownTool(String),
    /// The model's arguments are not a JSON object.
    BadArguments(String),
    /// The tool ran and reported a failure (`isError`); the text is its message.
    Tool(String),
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpError::NotConfigured => f.write_str("no MCP tools server is configured"),
            McpError::Key => f.write_str("the MCP API key cannot be opened with this secret key"),
            McpError::Url(why) => write!(f, "MCP tools URL refused: {why}"),
            McpError::Timeout => f.write_str("MCP server timed out"),
            McpError::Http(401 | 403) => f.write_str("MCP server refused the API key"),
            McpError::Http(status) => write!(f, "MCP server answered HTTP {status}"),
            McpError::Transport(why) => write!(f, "MCP server unreachable: {why}"),
            McpError::Protocol(why) => write!(f, "MCP protocol error: {why}"),
            McpError::UnknownTool(name) => write!(f, "no MCP tool named {name}"),
            McpError::BadArguments(why) => write!(f, "bad tool arguments: {why}"),
            McpError::Tool(message) => write!(f, "the tool failed: {message}"),
        }
    }
}

impl std::error::Error for McpError {}

/// Checks a tenant's MCP URL: `https://`, or `http://` to a loopback host when allowed. No
/// user:password (the key has its own field, and a URL ends up in logs).
pub fn check_url(url: &str, allow_http_loopback: bool) -> Result<(), String> {
    if url.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("must be an https:// URL".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain credentials; send the key as mcpToolsApiKey".into());
    }
    let (host, port) = split_host_port(authority).ok_or("must name a host")?;
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err("has an invalid port".into());
    }
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
    {
        return Err("must name a valid host".into());
    }
    if https {
        return Ok(());
    }
    match (is_loopback(host), allow_http_loopback) {
        (true, true) => Ok(()),
        (true, false) => Err(
            "must be https:// (http:// to a loopback host needs [chat] mcp_allow_http_loopback)"
                .into(),
        ),
        (false, _) => Err("must be https:// (http:// only for a loopback host)".into()),
    }
}

/// `host[:port]` or `[v6][:port]`; the host without brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(is_v4_loopback),
        Err(_) => false,
    }
}

fn is_v4_loopback(v4: Ipv4Addr) -> bool {
    v4.is_loopback()
}

/// Scheme and host of a URL, for logs: paths and queries sometimes embed secrets.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// The name the model sees: `mcp_` and the tool's name with every character outside
/// `[A-Za-z0-9_-]` made `_`, at most 64 characters in all.
pub fn exposed_name(original: &str) -> String {
    let mut name = String::from(EXPOSED_PREFIX);
    for c in original.chars() {
        if name.len() >= MAX_FUNCTION_NAME {
            break;
        }
        name.push(match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
            _ => '_',
        });
    }
    name
}

/// Whether a tool call the model made is one of ours.
pub fn is_mcp_tool(exposed: &str) -> bool {
    exposed.starts_with(EXPOSED_PREFIX)
}

/// A tool found on the tenant's server.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredTool {
    /// `mcp_...`, the name offered to the model.
    pub exposed: String,
    /// The name the server knows it by.
    pub name: String,
    /// `{"type":"function","function":{name, description, parameters}}`.
    pub spec: Value,
}

/// `text` cut to at most `max` bytes on a character boundary, with a marker when cut.
pub fn truncate_result(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max.saturating_sub(TRUNCATED_MARKER.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(TRUNCATED_MARKER);
    text
}

/// The tools of one `tools/list` page as function specs, skipping nameless ones and names
/// that collide once sanitised (the first wins).
fn tools_of_page(result: &Value, into: &mut Vec<DiscoveredTool>, max: usize) {
    let Some(tools) = result.get("tools").and_then(Value::as_array) else {
        return;
    };
    for tool in tools {
        if into.len() >= max {
            return;
        }
        let Some(name) = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let exposed = exposed_name(name);
        if into.iter().any(|t| t.exposed == exposed) {
            continue;
        }
        let description: String = tool
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(MAX_DESCRIPTION_CHARS)
            .collect();
        // OpenAI wants an object schema; a tool without one takes no arguments.
        let parameters = match tool.get("inputSchema") {
            Some(schema @ Value::Object(o))
                if o.get("type").and_then(Value::as_str) == Some("object") =>
            {
                schema.clone()
            }
            _ => json!({"type": "object", "properties": {}}),
        };
        into.push(DiscoveredTool {
            spec: json!({
                "type": "function",
                "function": {"name": exposed, "description": description, "parameters": parameters},
            }),
            exposed,
            name: name.to_owned(),
        });
    }
}

/// The text a `tools/call` result gives the model: its text blocks joined, other blocks
/// named, `structuredContent` when there is no text. `Err` when the tool set `isError`.
fn result_text(result: &Value) -> Result<String, McpError> {
    let mut parts: Vec<String> = Vec::new();
    for block in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Some("resource") => match block.pointer("/resource/text").and_then(Value::as_str) {
                Some(text) => parts.push(text.to_owned()),
                None => parts.push("[binary resource omitted]".to_owned()),
            },
            Some(other) => parts.push(format!("[{other} content omitted]")),
            None => {}
        }
    }
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        parts.push(structured.to_string());
    }
    let text = truncate_result(parts.join("\n"), MAX_RESULT_BYTES);
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return Err(McpError::Tool(excerpt(&text)));
    }
    Ok(text)
}

/// Single-line and length-capped.
fn excerpt(raw: &str) -> String {
    let flat = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// The JSON-RPC response to request `id` in an `application/json` body: one object, or a
/// batch holding it.
pub fn response_from_json(body: &[u8], id: u64) -> Result<Value, McpError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        McpError::Protocol(format!(
            "answer is not JSON: {}",
            excerpt(&String::from_utf8_lossy(body))
        ))
    })?;
    let found = match value {
        Value::Array(items) => items.into_iter().find(|m| is_response_to(m, id)),
        single if is_response_to(&single, id) => Some(single),
        _ => None,
    };
    found
        .ok_or_else(|| McpError::Protocol(format!("no response to request {id}")))
        .and_then(rpc_result)
}

/// The JSON-RPC response to request `id` in a `text/event-stream`, read event by event and
/// returned as soon as it arrives (the server may keep the stream open). Notifications and
/// server requests on the stream are skipped.
pub fn response_from_sse(reader: &mut impl BufRead, id: u64) -> Result<Value, McpError> {
    let mut data = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(map_io)?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if n == 0 || text.is_empty() {
            // End of one event: its data lines, joined, are one JSON-RPC message.
            if !data.is_empty() {
                if let Ok(message) = serde_json::from_str::<Value>(&data)
                    && is_response_to(&message, id)
                {
                    return rpc_result(message);
                }
                data.clear();
            }
            if n == 0 {
                return Err(McpError::Protocol(format!(
                    "stream ended without a response to request {id}"
                )));
            }
            continue;
        }
        if let Some(value) = text.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing we need.
    }
}

fn is_response_to(message: &Value, id: u64) -> bool {
    let matches = match message.get("id") {
        Some(Value::Number(n)) => n.as_u64() == Some(id),
        Some(Value::String(s)) => s == &id.to_string(),
        _ => false,
    };
    matches && (message.get("result").is_some() || message.get("error").is_some())
}

fn rpc_result(message: Value) -> Result<Value, McpError> {
    if let Some(error) = message.get("error").filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let text = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(McpError::Protocol(format!(
            "server error {code}: {}",
            excerpt(text)
        )));
    }
    match message {
        Value::Object(mut o) => Ok(o.remove("result").unwrap_or(Value::Null)),
        _ => Ok(Value::Null),
    }
}

fn map_ureq(e: ureq::Error) -> McpError {
    match e {
        ureq::Error::Timeout(_) => McpError::Timeout,
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            McpError::Timeout
        }
        ureq::Error::BodyExceedsLimit(_) => {
            McpError::Protocol(format!("answer over {MAX_RESPONSE_BYTES} bytes"))
        }
        other => McpError::Transport(excerpt(&other.to_string())),
    }
}

fn map_io(e: std::io::Error) -> McpError {
    // ureq reports its own failures (timeouts, the size limit) through the body reader.
    map_ureq(ureq::Error::from(e))
}

/// One session with a tenant's server, for one operation.
struct Session<'a> {
    agent: &'a ureq::Agent,
    url: &'a str,
    key: Option<&'a str>,
    deadline: Instant,
    session_id: Option<String>,
    protocol: Option<String>,
    next_id: u64,
}

impl<'a> Session<'a> {
    fn open(
        agent: &'a ureq::Agent,
        url: &'a str,
        key: Option<&'a str>,
        budget: Duration,
    ) -> Result<Session<'a>, McpError> {
        let mut session = Session {
            agent,
            url,
            key,
            deadline: Instant::now() + budget,
            session_id: None,
            protocol: None,
            next_id: 1,
        };
        let init = session.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "animam", "version": env!("CARGO_PKG_VERSION")},
            }),
        )?;
        // The revision the server chose is the one every later request announces.
        session.protocol = Some(
            init.get("protocolVersion")
                .and_then(Value::as_str)
                .filter(|v| v.len() <= 20 && v.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or(PROTOCOL_VERSION)
                .to_owned(),
        );
        session.post(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            None,
        )?;
        Ok(session)
    }

    /// The time left of the operation's budget, or `Timeout` when it is spent.
    fn remaining(&self) -> Result<Duration, McpError> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(McpError::Timeout)
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, McpError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.post(&message, Some(id)).map(Option::unwrap_or_default)
    }

    /// POSTs one message; for a request (`id`), reads and returns its result.
    fn post(&mut self, message: &Value, id: Option<u64>) -> Result<Option<Value>, McpError> {
        let mut request = self
            .agent
            .post(self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(key) = self.key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        if let Some(session) = &self.session_id {
            request = request.header("Mcp-Session-Id", session);
        }
        if let Some(version) = &self.protocol {
            request = request.header("MCP-Protocol-Version", version);
        }
        let response = request
            .config()
            .timeout_global(Some(self.remaining()?))
            .build()
            .send(message.to_string())
            .map_err(map_ureq)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(McpError::Http(status));
        }
        if self.session_id.is_none()
            && let Some(session) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            // The spec allows visible ASCII only; anything else would not go back out.
            if session.is_empty() || !session.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(McpError::Protocol("invalid Mcp-Session-Id".into()));
            }
            self.session_id = Some(session.to_owned());
        }
        let Some(id) = id else {
            return Ok(None);
        };
        let is_sse = response
            .body()
            .mime_type()
            .is_some_and(|m| m.eq_ignore_ascii_case("text/event-stream"));
        let mut reader = response
            .into_body()
            .into_with_config()
            .limit(MAX_RESPONSE_BYTES)
            .reader();
        if is_sse {
            response_from_sse(&mut BufReader::new(reader), id).map(Some)
        } else {
            let mut raw = Vec::new();
            reader.read_to_end(&mut raw).map_err(map_io)?;
            response_from_json(&raw, id).map(Some)
        }
    }

    /// Ends the session on the server, if it made one. Best effort: the server forgets idle
    /// sessions anyway, so a failure here changes nothing.
    fn close(self) {
        let Some(session) = &self.session_id else {
            return;
        };
        let Ok(remaining) = self.remaining() else {
            return;
        };
        let mut request = self
            .agent
            .delete(self.url)
            .header("Mcp-Session-Id", session)
            .config()
            .timeout_global(Some(remaining.min(Duration::from_secs(1))))
            .build();
        if let Some(key) = self.key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        if let Some(version) = &self.protocol {
            request = request.header("MCP-Protocol-Version", version);
        }
        let _ = request.call();
    }
}

/// Lists a server's tools, following `nextCursor`, keeping at most `max`.
pub fn discover(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
    max: usize,
    budget: Duration,
) -> Result<Vec<DiscoveredTool>, McpError> {
    let mut session = Session::open(agent, url, key, budget)?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut outcome = Ok(());
    for _ in 0..MAX_LIST_PAGES {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let page = match session.request("tools/list", params) {
            Ok(page) => page,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        tools_of_page(&page, &mut tools, max);
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if cursor.is_none() || tools.len() >= max {
            break;
        }
    }
    session.close();
    outcome.map(|()| tools)
}

/// Runs one tool (by the server's name for it) and returns its text for the model.
pub fn call_tool(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
    name: &str,
    arguments: Map<String, Value>,
    budget: Duration,
) -> Result<String, McpError> {
    let mut session = Session::open(agent, url, key, budget)?;
    let result = session.request("tools/call", json!({"name": name, "arguments": arguments}));
    session.close();
    result_text(&result?)
}

/// The agent every MCP request goes through: no redirects (they would replay the bearer key
/// to wherever they point), non-2xx as answers so we can name the status.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_connect(Some(timeout))
        .timeout_global(Some(timeout))
        .user_agent(concat!("animam/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

struct Cached {
    /// The settings' `updated_at` the tools were discovered with.
    version: Timestamp,
    expires: Instant,
    tools: Arc<Vec<DiscoveredTool>>,
}

/// The tenants' MCP tools, as offered to the model and run on its request. Held in the app
/// state; cheap to call every turn thanks to a per-tenant cache.
pub struct McpTools {
    store: Store,
    secrets: SecretBox,
    agent: ureq::Agent,
    timeout: Duration,
    cache_ttl: Duration,
    allow_http_loopback: bool,
    cache: Mutex<HashMap<String, Cached>>,
}

impl fmt::Debug for McpTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTools")
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl McpTools {
    pub fn new(store: Store, secrets: SecretBox, chat: &ChatConfig) -> McpTools {
        let timeout = Duration::from_secs(u64::from(chat.mcp_timeout_secs));
        McpTools {
            store,
            secrets,
            agent: agent(timeout),
            timeout,
            cache_ttl: Duration::from_secs(u64::from(chat.mcp_cache_secs)),
            allow_http_loopback: chat.mcp_allow_http_loopback,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The context a tenant's key is sealed under: a sealed key copied to another tenant's
    /// row does not open.
    pub fn key_context(tenant_id: &str) -> String {
        format!("mcp-key:{tenant_id}")
    }

    /// Forgets what was discovered for a tenant (its settings changed or went away).
    pub fn invalidate(&self, tenant_slug: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant_slug);
    }

    /// The function specs to offer the model for this tenant: none without a configured
    /// server, and none (with a logged reason) when the server fails. Blocking.
    pub fn offered(&self, tenant: &Tenant) -> Vec<Value> {
        self.discovered(tenant)
            .iter()
            .map(|t| t.spec.clone())
            .collect()
    }

    /// Runs the tool the model called by its exposed (`mcp_...`) name with the model's JSON
    /// arguments. Blocking.
    pub fn call(
        &self,
        tenant: &Tenant,
        exposed: &str,
        arguments_json: &str,
    ) -> Result<String, McpError> {
        let arguments = match arguments_json.trim() {
            "" => Map::new(),
            text => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(o)) => o,
                Ok(_) => return Err(McpError::BadArguments("must be a JSON object".into())),
                Err(e) => return Err(McpError::BadArguments(format!("not JSON: {e}"))),
            },
        };
        let (settings, key) = self.connection(tenant)?;
        let tools = self.discovered(tenant);
        let tool = tools
            .iter()
            .find(|t| t.exposed == exposed)
            .ok_or_else(|| McpError::UnknownTool(exposed.to_owned()))?;
        let started = Instant::now();
        let result = call_tool(
            &self.agent,
            &settings.url,
            key.as_deref(),
            &tool.name,
            arguments,
            self.timeout,
        )
        .map_err(|e| scrub(e, key.as_deref()));
        match &result {
            Ok(text) => log::info!(
                "mcp: tenant {} called {} at {} in {} ms ({} bytes)",
                tenant.slug,
                tool.name,
                origin(&settings.url),
                started.elapsed().as_millis(),
                text.len()
            ),
            Err(e) => log::warn!(
                "mcp: tenant {} call of {} at {} failed after {} ms: {e}",
                tenant.slug,
                tool.name,
                origin(&settings.url),
                started.elapsed().as_millis()
            ),
        }
        result
    }

    /// The tenant's settings and opened key.
    fn connection(&self, tenant: &Tenant) -> Result<(McpSettings, Option<String>), McpError> {
        let settings = self
            .store
            .mcp_settings(&tenant.slug)
            .map_err(|e| McpError::Transport(format!("store: {e}")))?
            .ok_or(McpError::NotConfigured)?;
        check_url(&settings.url, self.allow_http_loopback).map_err(McpError::Url)?;
        let key = match &settings.api_key_sealed {
            Some(sealed) => Some(
                self.secrets
                    .open_string(&McpTools::key_context(&tenant.id), sealed)
                    .map_err(|_| McpError::Key)?,
            ),
            None => None,
        };
        Ok((settings, key))
    }

    /// Whether the tenant has an MCP server configured (a store read, no network).
    pub fn configured(&self, tenant_slug: &str) -> bool {
        matches!(self.store.mcp_settings(tenant_slug), Ok(Some(_)))
    }

    /// The tenant's tools, from the cache while fresh and built with the current settings;
    /// none when there is no server or it fails (the reason is logged). Blocking.
    pub fn discovered(&self, tenant: &Tenant) -> Arc<Vec<DiscoveredTool>> {
        let (settings, key) = match self.connection(tenant) {
            Ok(found) => found,
            Err(McpError::NotConfigured) => {
                self.invalidate(&tenant.slug);
                return Arc::default();
            }
            Err(e) => {
                log::warn!("mcp: tenant {} offers no MCP tools: {e}", tenant.slug);
                return Arc::default();
            }
        };
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tenant.slug)
            .filter(|c| c.version == settings.updated_at && c.expires > Instant::now())
        {
            return cached.tools.clone();
        }
        let started = Instant::now();
        let found = discover(
            &self.agent,
            &settings.url,
            key.as_deref(),
            settings.max_tools as usize,
            self.timeout,
        )
        .map_err(|e| scrub(e, key.as_deref()));
        let (tools, ttl) = match found {
            Ok(tools) => {
                log::info!(
                    "mcp: tenant {} discovered {} tools at {} in {} ms",
                    tenant.slug,
                    tools.len(),
                    origin(&settings.url),
                    started.elapsed().as_millis()
                );
                (Arc::new(tools), self.cache_ttl)
            }
            Err(e) => {
                log::warn!(
                    "mcp: tenant {} offers no MCP tools: {} after {} ms: {e}",
                    tenant.slug,
                    origin(&settings.url),
                    started.elapsed().as_millis()
                );
                (Arc::default(), self.cache_ttl.min(FAILURE_CACHE))
            }
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            tenant.slug.clone(),
            Cached {
                version: settings.updated_at,
                expires: Instant::now() + ttl,
                tools: tools.clone(),
            },
        );
        tools
    }
}

/// Server text quoted in an error never carries the key, even if the server echoed it.
fn scrub(e: McpError, key: Option<&str>) -> McpError {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return e;
    };
    let clean = |s: String| s.replace(key, "***");
    match e {
        McpError::Transport(s) => McpError::Transport(clean(s)),
        McpError::Protocol(s) => McpError::Protocol(clean(s)),
        McpError::Tool(s) => McpError::Tool(clean(s)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn urls_need_https_or_allowed_loopback_http() {
        assert_eq!(check_url("https://tools.example.com/mcp", false), Ok(()));
        assert_eq!(
            check_url("HTTPS://tools.example.com:8443/mcp?x=1", false),
            Ok(())
        );
        assert!(check_url("http://tools.example.com/mcp", true).is_err());
        assert!(check_url("http://127.0.0.1:8000/mcp", false).is_err());
        for ok in [
            "http://127.0.0.1:8000/mcp",
            "http://127.9.9.9/mcp",
            "http://localhost:1/mcp",
            "http://[::1]:8000/mcp",
        ] {
            assert_eq!(check_url(ok, true), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://x.example.com",
            "https://",
            "https://user:pw@x.example.com/mcp",
            "https://x.example.com:99999/",
            "https://x.example.com:0/",
            "https://x y.example.com/",
            "http://128.0.0.1/",
            "http://localhost.evil.com/",
            "tools.example.com/mcp",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_hides_paths_queries_and_credentials() {
        assert_eq!(
            origin("https://u:p@x.example.com:8443/secret/path?key=1"),
            "https://x.example.com:8443"
        );
    }

    #[test]
    fn exposed_names_are_prefixed_valid_openai_function_names() {
        assert_eq!(exposed_name("lookup_order"), "mcp_lookup_order");
        assert_eq!(exposed_name("get.weather/now é"), "mcp_get_weather_now__");
        let long = exposed_name(&"x".repeat(100));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("mcp_"));
        for name in [exposed_name("a-b_C9"), exposed_name("日本")] {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name}"
            );
        }
        assert!(is_mcp_tool("mcp_x") && !is_mcp_tool("SUBMIT_FORM"));
    }

    #[test]
    fn tool_pages_become_function_specs_capped_and_deduplicated() {
        let page = json!({"tools": [
            {"name": "lookup_order", "description": "Find an order",
             "inputSchema": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
            {"name": "lookup.order", "inputSchema": {"type": "object"}},
            {"name": "", "inputSchema": {}},
            {"name": "no_schema"},
            {"name": "third"},
        ]});
        let mut tools = Vec::new();
        tools_of_page(&page, &mut tools, 2);
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].name, "lookup_order");
        assert_eq!(
            tools[0].spec,
            json!({"type": "function", "function": {
                "name": "mcp_lookup_order", "description": "Find an order",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            }})
        );
        assert_eq!(tools[1].name, "no_schema");
        assert_eq!(
            tools[1].spec["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn json_answers_single_or_batch() {
        let one = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#;
        assert_eq!(response_from_json(one, 3), Ok(json!({"tools": []})));
        let batch = br#"[{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"4","result":{"ok":true}}]"#;
        assert_eq!(response_from_json(batch, 4), Ok(json!({"ok": true})));
        assert!(matches!(
            response_from_json(one, 9),
            Err(McpError::Protocol(_))
        ));
        assert!(matches!(
            response_from_json(b"<html>", 1),
            Err(McpError::Protocol(_))
        ));
        let err = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool"}}"#;
        assert_eq!(
            response_from_json(err, 1),
            Err(McpError::Protocol(
                "server error -32602: Unknown tool".into()
            ))
        );
    }

    #[test]
    fn sse_answers_skip_notifications_and_join_data_lines() {
        let raw = concat!(
            ": ping\r\n\r\n",
            "event: message\r\n",
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\n\r\n",
            "event: message\nid: 7\n",
            "data: {\"jsonrpc\":\"2.0\",\n",
            "data:\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n",
            // After the response nothing more is read: a held-open stream does not hang.
            "data: never parsed",
        );
        let result = response_from_sse(&mut Cursor::new(raw.as_bytes()), 2);
        assert_eq!(
            result,
            Ok(json!({"content": [{"type": "text", "text": "hi"}]}))
        );
        // The last event counts even without its blank line.
        let unterminated = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
        assert_eq!(
            response_from_sse(&mut Cursor::new(unterminated.as_bytes()), 1),
            Ok(json!({}))
        );
        assert!(matches!(
            response_from_sse(&mut Cursor::new(b"data: {}\n\n".as_slice()), 1),
            Err(McpError::Protocol(_))
        ));
    }

    #[test]
    fn results_join_text_flag_errors_and_truncate() {
        let ok = json!({"content": [
            {"type": "text", "text": "Order 42"},
            {"type": "image", "data": "...", "mimeType": "image/png"},
            {"type": "text", "text": "shipped"},
        ]});
        assert_eq!(
            result_text(&ok),
            Ok("Order 42\n[image content omitted]\nshipped".into())
        );
        let structured = json!({"content": [], "structuredContent": {"n": 1}});
        assert_eq!(result_text(&structured), Ok("{\"n\":1}".into()));
        let failed =
            json!({"content": [{"type": "text", "text": "no such order"}], "isError": true});
        assert_eq!(
            result_text(&failed),
            Err(McpError::Tool("no such order".into()))
        );
        let big = json!({"content": [{"type": "text", "text": "é".repeat(MAX_RESULT_BYTES)}]});
        let text = result_text(&big).unwrap_or_default();
        assert!(text.len() <= MAX_RESULT_BYTES, "{}", text.len());
        assert!(text.ends_with(TRUNCATED_MARKER));
    }

    /// A minimal MCP server that pages its tools: `a`, `b` then (cursor `p2`) `c`. Answers
    /// JSON, closes each connection, records each request's first line, session header and
    /// JSON-RPC method.
    fn paging_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut first, mut length, mut session) = (String::new(), 0, String::new());
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if let Some(v) = lower.strip_prefix("mcp-session-id:") {
                        session = v.trim().to_owned();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let message: Value = serde_json::from_slice(&body).unwrap_or_default();
                let method = message["method"].as_str().unwrap_or_default().to_owned();
                log.lock().unwrap().push(format!(
                    "{} {method} session={session}",
                    first.split(' ').next().unwrap_or_default()
                ));
                let result = match method.as_str() {
                    "initialize" => json!({"protocolVersion": "2025-03-26", "capabilities": {}}),
                    "tools/list" if message["params"]["cursor"] == "p2" => {
                        json!({"tools": [{"name": "c"}]})
                    }
                    "tools/list" => {
                        json!({"tools": [{"name": "a"}, {"name": "b"}], "nextCursor": "p2"})
                    }
                    _ => Value::Null,
                };
                let (status, body) = match result {
                    Value::Null => ("202 Accepted", String::new()),
                    result => (
                        "200 OK",
                        json!({"jsonrpc": "2.0", "id": message["id"], "result": result})
                            .to_string(),
                    ),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nMcp-Session-Id: s-1\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, seen)
    }

    #[test]
    fn discovery_follows_next_cursor_up_to_the_cap_with_the_session_header() {
        let (url, seen) = paging_server();
        let agent = agent(Duration::from_secs(2));
        let names = |max| {
            discover(&agent, &url, None, max, Duration::from_secs(2))
                .unwrap()
                .into_iter()
                .map(|t| t.exposed)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(10), ["mcp_a", "mcp_b", "mcp_c"]);
        assert_eq!(
            seen.lock().unwrap().clone(),
            [
                "POST initialize session=",
                "POST notifications/initialized session=s-1",
                "POST tools/list session=s-1",
                "POST tools/list session=s-1",
                "DELETE  session=s-1",
            ]
        );
        seen.lock().unwrap().clear();
        assert_eq!(names(2), ["mcp_a", "mcp_b"]);
        let lists = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("tools/list"))
            .count();
        assert_eq!(lists, 1, "no second page once the cap is reached");
    }

    #[test]
    fn errors_never_quote_the_key() {
        let e = scrub(
            McpError::Protocol("server error 1: bad key sk-123".into()),
            Some("sk-123"),
        );
        assert_eq!(
            e.to_string(),
            "MCP protocol error: server error 1: bad key ***"
        );
    }
}
