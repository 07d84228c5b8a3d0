//! Blocking client for OpenAI-compatible `POST {base}/chat/completions` with `"stream": true`.
//!
//! It is meant to run on a blocking thread (`web::block` or a std thread): the caller forwards
//! each delta to the visitor through a channel and stops the call by returning `false` from
//! `on_delta` when the visitor has gone away.
//!
//! The API key never leaves this module except in the `Authorization` header: `Debug` masks it,
//! nothing here logs it, and error excerpts taken from the upstream's replies are scrubbed of
//! it in case a server echoes it back. ureq itself redacts `Authorization` in its debug logs,
//! but at trace level `ureq_proto` hex-dumps raw request bytes, key and conversation included:
//! the logger setup must cap `ureq_proto` at debug whatever `RUST_LOG` says.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// Upper bound on what one completion may send back; a runaway upstream must not be able to
/// fill memory with a never-ending line or body.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// How much of an error body is read to build the excerpt: enough for a JSON error object,
/// little enough that a misbehaving server cannot make us slurp a huge page.
const ERROR_BODY_READ_BYTES: u64 = 4096;
/// Error excerpts end up in logs and maybe in admin-facing messages: keep them short.
const EXCERPT_CHARS: usize = 200;

/// One message of the conversation sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "system".to_owned(),
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "user".to_owned(),
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "assistant".to_owned(),
            content: content.into(),
        }
    }
}

/// Why a completion failed. None of the messages contain the API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LlmError {
    /// Connect, first byte or the whole call took longer than configured.
    Timeout,
    /// The upstream answered with a non-2xx status; the string is a short excerpt of its body.
    Http(u16, String),
    /// The connection could not be made or broke (DNS, refused, TLS, reset, ...).
    Transport(String),
    /// The upstream answered 2xx but with something that is not a completion.
    Protocol(String),
    /// The upstream answered a well-formed completion without any text.
    Empty,
    /// `on_delta` asked to stop, normally because the visitor disconnected.
    Cancelled,
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::Timeout => f.write_str("LLM request timed out"),
            LlmError::Http(status, excerpt) if excerpt.is_empty() => {
                write!(f, "LLM upstream answered HTTP {status}")
            }
            LlmError::Http(status, excerpt) => {
                write!(f, "LLM upstream answered HTTP {status}: {excerpt}")
            }
            LlmError::Transport(msg) => write!(f, "LLM transport error: {msg}"),
            LlmError::Protocol(msg) => write!(f, "LLM protocol error: {msg}"),
            LlmError::Empty => f.write_str("LLM returned no text"),
            LlmError::Cancelled => f.write_str("LLM request cancelled"),
        }
    }
}

impl std::error::Error for LlmError {}

/// A configured upstream. Cheap to share behind an `Arc`; the agent pools connections.
pub struct LlmClient {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct CompletionRequest<'a, M: Serialize> {
    model: &'a str,
    messages: &'a [M],
    // `temperature` is deliberately not sent: some hosted models reject any value but their
    // default, and a failed chat is worse than a slightly less deterministic one.
    stream: bool,
    /// OpenAI-style function tools; absent rather than empty, which some servers refuse.
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tools: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a str>,
}

/// A function call the model asked for. `arguments` is the model's JSON text, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// What one completion produced: text (streamed to `on_delta` as it came), tool calls, or both.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
}

/// Rebuilds tool calls from streamed `delta.tool_calls` fragments: the first fragment of a
/// call carries its `index`, `id` and `function.name`, later ones only `index` and a piece of
/// `function.arguments`.
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    calls: Vec<(u64, ToolCall)>,
}

impl ToolCallAssembler {
    /// Adds one event's `delta.tool_calls` array.
    pub fn feed(&mut self, fragments: &Value) {
        let Some(fragments) = fragments.as_array() else {
            return;
        };
        for (position, fragment) in fragments.iter().enumerate() {
            // Some servers leave out `index` when they send one call per event.
            let index = fragment
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let at = match self.calls.iter().position(|(i, _)| *i == index) {
                Some(at) => at,
                None => {
                    self.calls.push((
                        index,
                        ToolCall {
                            id: String::new(),
                            name: String::new(),
                            arguments: String::new(),
                        },
                    ));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[at].1;
            if let Some(id) = fragment.get("id").and_then(Value::as_str)
                && call.id.is_empty()
            {
                call.id = id.to_owned();
            }
            if let Some(name) = fragment.pointer("/function/name").and_then(Value::as_str)
                && call.name != name
            {
                // OpenAI sends the name once; a server that repeats it whole must not double it.
                call.name.push_str(name);
            }
            match fragment.pointer("/function/arguments") {
                Some(Value::String(part)) => call.arguments.push_str(part),
                // A few servers send the arguments as an object rather than JSON text.
                Some(object @ Value::Object(_)) => call.arguments.push_str(&object.to_string()),
                _ => {}
            }
        }
    }

    /// The calls in index order.
    pub fn finish(mut self) -> Vec<ToolCall> {
        self.calls.sort_by_key(|(i, _)| *i);
        self.calls.into_iter().map(|(_, call)| call).collect()
    }
}

/// The tool calls of a non-streamed `message`.
fn message_tool_calls(message: Option<&Value>) -> Vec<ToolCall> {
    let mut assembler = ToolCallAssembler::default();
    if let Some(calls) = message.and_then(|m| m.get("tool_calls")) {
        assembler.feed(calls);
    }
    assembler.finish()
}

/// Text only: the answer of a call that offered no tools.
fn text_only(completion: Result<Completion, LlmError>) -> Result<String, LlmError> {
    let completion = completion?;
    if completion.text.trim().is_empty() {
        return Err(LlmError::Empty);
    }
    Ok(completion.text)
}

impl LlmClient {
    /// `first_byte_timeout`: max wait for the connection and for the response headers;
    /// `total_timeout`: the whole call, including reading the streamed body.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        first_byte_timeout: Duration,
        total_timeout: Duration,
    ) -> LlmClient {
        let config = ureq::Agent::config_builder()
            // Non-2xx bodies carry the upstream's explanation, which we want in the error.
            .http_status_as_error(false)
            // Following a redirect would replay the bearer key to wherever it points; an
            // operator should configure the final URL instead.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(first_byte_timeout))
            .timeout_recv_response(Some(first_byte_timeout))
            .timeout_global(Some(total_timeout))
            .user_agent(concat!("animam/", env!("CARGO_PKG_VERSION")))
            .build();
        LlmClient {
            agent: config.into(),
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            // An env var that is set but blank means "no key", not "send `Bearer `".
            api_key: api_key
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
        }
    }

    /// Streams a completion. Calls `on_delta` with each text chunk as it arrives; if it returns
    /// false the call stops early and returns `Err(LlmError::Cancelled)`. Returns the full text
    /// on success.
    pub fn stream_chat(
        &self,
        messages: &[ChatMessage],
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<String, LlmError> {
        text_only(self.complete(messages, &[], None, on_delta))
    }

    /// Streams a completion that may offer `tools` (OpenAI function tools) to the model, with
    /// an optional `tool_choice` (`"none"` forbids calls). `messages` may be [`ChatMessage`]s
    /// or raw JSON messages (assistant `tool_calls`, `role: tool` results). Text reaches
    /// `on_delta` as it arrives; tool calls are assembled and returned with the text. `Empty`
    /// only when there is neither.
    pub fn complete<M: Serialize>(
        &self,
        messages: &[M],
        tools: &[Value],
        tool_choice: Option<&str>,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let body = serde_json::to_string(&CompletionRequest {
            model: &self.model,
            messages,
            stream: true,
            tools,
            tool_choice: tool_choice.filter(|_| !tools.is_empty()),
        })
        .map_err(|e| LlmError::Protocol(format!("cannot encode request: {e}")));
        let result = body.and_then(|body| self.call(body, on_delta, started));
        match &result {
            Ok(done) => log::debug!(
                "llm: completion from {} done in {} ms ({} chars, {} tool calls)",
                self.url,
                started.elapsed().as_millis(),
                done.text.chars().count(),
                done.tool_calls.len()
            ),
            Err(e) => log::debug!(
                "llm: completion from {} failed after {} ms: {e}",
                self.url,
                started.elapsed().as_millis()
            ),
        }
        result
    }

    fn call(
        &self,
        body: String,
        on_delta: &mut dyn FnMut(&str) -> bool,
        started: Instant,
    ) -> Result<Completion, LlmError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream, application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(|e| self.map_ureq(e))?;

        let status = response.status().as_u16();
        log::debug!(
            "llm: POST {} -> {status} after {} ms",
            self.url,
            started.elapsed().as_millis()
        );
        let is_json = response
            .body()
            .mime_type()
            .is_some_and(|m| m.eq_ignore_ascii_case("application/json"));
        let reader = response
            .into_body()
            .into_with_config()
            .limit(MAX_BODY_BYTES)
            .reader();

        if !(200..300).contains(&status) {
            let mut raw = Vec::new();
            // The status is what matters; a body we fail to read just makes the excerpt empty.
            let _ = reader.take(ERROR_BODY_READ_BYTES).read_to_end(&mut raw);
            return Err(LlmError::Http(
                status,
                self.excerpt(&String::from_utf8_lossy(&raw)),
            ));
        }

        if is_json {
            self.read_json_completion(reader, on_delta)
        } else {
            self.read_sse_completion(BufReader::new(reader), on_delta)
        }
    }

    /// A server that ignores `stream` answers one plain completion: hand it over as one delta.
    fn read_json_completion(
        &self,
        mut reader: impl Read,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let mut raw = Vec::new();
        reader.read_to_end(&mut raw).map_err(|e| self.map_io(e))?;
        let value: Value = serde_json::from_slice(&raw).map_err(|_| {
            LlmError::Protocol(format!(
                "response is not JSON: {}",
                self.excerpt(&String::from_utf8_lossy(&raw))
            ))
        })?;
        self.check_error_object(&value)?;
        let Some(choices) = value.get("choices").and_then(Value::as_array) else {
            return Err(LlmError::Protocol(format!(
                "response has no choices: {}",
                self.excerpt(&value.to_string())
            )));
        };
        let message = choices.first().and_then(|c| c.get("message"));
        let text = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let tool_calls = message_tool_calls(message);
        if text.trim().is_empty() && tool_calls.is_empty() {
            return Err(LlmError::Empty);
        }
        if !text.is_empty() && !on_delta(text) {
            return Err(LlmError::Cancelled);
        }
        Ok(Completion {
            text: text.to_owned(),
            tool_calls,
        })
    }

    #[cfg(test)]
    fn read_sse(
        &self,
        reader: impl BufRead,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<String, LlmError> {
        text_only(self.read_sse_completion(reader, on_delta))
    }

    /// Reads `data:` lines one at a time so each delta reaches the visitor as soon as it lands.
    fn read_sse_completion(
        &self,
        mut reader: impl BufRead,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let mut full = String::new();
        let mut tool_calls = ToolCallAssembler::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            // Bytes, not `read_line`: a line is only decoded once complete, so a multi-byte
            // character split across TCP reads is never judged invalid.
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| self.map_io(e))?;
            if n == 0 {
                // Some servers close without `[DONE]`; what arrived is still the answer.
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            let Some(data) = text.strip_prefix("data:") else {
                // Blank separators, `:` comments and `event:`/`id:`/`retry:` carry no text.
                continue;
            };
            let data = data.strip_prefix(' ').unwrap_or(data);
            if data.trim() == "[DONE]" {
                break;
            }
            if data.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(data).map_err(|_| {
                LlmError::Protocol(format!("stream event is not JSON: {}", self.excerpt(data)))
            })?;
            self.check_error_object(&value)?;
            if let Some(fragments) = value.pointer("/choices/0/delta/tool_calls") {
                tool_calls.feed(fragments);
            }
            let delta = value
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if delta.is_empty() {
                // Role-only openers, tool call fragments and the closing `finish_reason`
                // event have no content.
                continue;
            }
            full.push_str(delta);
            if !on_delta(delta) {
                return Err(LlmError::Cancelled);
            }
        }
        let tool_calls = tool_calls.finish();
        if full.trim().is_empty() && tool_calls.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(Completion {
            text: full,
            tool_calls,
        })
    }

    /// OpenAI and most compatible servers report failures inside a 2xx stream as
    /// `{"error": {"message": ...}}`; surfacing that beats a confusing `Empty`.
    fn check_error_object(&self, value: &Value) -> Result<(), LlmError> {
        let Some(error) = value.get("error").filter(|e| !e.is_null()) else {
            return Ok(());
        };
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string());
        Err(LlmError::Protocol(format!(
            "upstream error: {}",
            self.excerpt(&message)
        )))
    }

    fn map_ureq(&self, e: ureq::Error) -> LlmError {
        match e {
            ureq::Error::Timeout(_) => LlmError::Timeout,
            ureq::Error::Io(io) if is_timeout_kind(&io) => LlmError::Timeout,
            other => LlmError::Transport(self.excerpt(&other.to_string())),
        }
    }

    fn map_io(&self, e: std::io::Error) -> LlmError {
        // ureq reports its own failures, timeouts included, through the body reader as a
        // wrapped `ureq::Error`; unwrapping it keeps timeouts distinguishable.
        self.map_ureq(ureq::Error::from(e))
    }

    /// Single-line, length-capped and key-free text fit for an error message.
    fn excerpt(&self, raw: &str) -> String {
        let mut flat = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(key) = &self.api_key {
            flat = flat.replace(key.as_str(), "***");
        }
        if flat.chars().count() <= EXCERPT_CHARS {
            return flat;
        }
        // One char is kept for the ellipsis so the excerpt stays within the cap.
        match flat.char_indices().nth(EXCERPT_CHARS - 1) {
            Some((cut, _)) => {
                let mut short = flat[..cut].to_owned();
                short.push('…');
                short
            }
            None => flat,
        }
    }
}

fn is_timeout_kind(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
#[path = "../../tests/support/fake_llm.rs"]
mod fake_llm;

#[cfg(test)]
mod tests {
    use super::*;
    use fake_llm::{FakeBehaviour, spawn_fake_llm};
    use std::io::Cursor;

    const KEY: &str = "sk-test-secret-1234";

    fn client(base_url: &str, key: Option<&str>) -> LlmClient {
        LlmClient::new(
            base_url,
            "test-model",
            key.map(str::to_owned),
            Duration::from_millis(300),
            Duration::from_secs(5),
        )
    }

    fn conversation() -> Vec<ChatMessage> {
        vec![
            ChatMessage::system("You are Animam."),
            ChatMessage::user("Hello?"),
        ]
    }

    fn chunks(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Runs `stream_chat` and returns the deltas seen alongside the result.
    fn collect(client: &LlmClient) -> (Vec<String>, Result<String, LlmError>) {
        let mut seen = Vec::new();
        let result = client.stream_chat(&conversation(), &mut |d| {
            seen.push(d.to_owned());
            true
        });
        (seen, result)
    }

    #[test]
    fn streamed_deltas_arrive_in_order_and_concatenate() {
        let fake = spawn_fake_llm(FakeBehaviour::Stream(chunks(&[
            "Hel", "lo, ", "wörld", "!",
        ])));
        let (seen, result) = collect(&client(&fake.base_url, Some(KEY)));
        assert_eq!(seen, ["Hel", "lo, ", "wörld", "!"]);
        assert_eq!(result, Ok("Hello, wörld!".to_owned()));
    }

    #[test]
    fn request_carries_model_messages_stream_and_bearer_key() {
        let fake = spawn_fake_llm(FakeBehaviour::Stream(chunks(&["ok"])));
        // Trailing slash must not produce `//chat/completions`.
        let base = format!("{}/", fake.base_url);
        let (_, result) = collect(&client(&base, Some(KEY)));
        assert_eq!(result, Ok("ok".to_owned()));

        let requests = fake.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        let req = &requests[0];
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/chat/completions");
        assert_eq!(
            req.authorization.as_deref(),
            Some("Bearer sk-test-secret-1234")
        );
        let body = req.json();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["stream"], true);
        assert_eq!(
            body["messages"],
            serde_json::json!([
                {"role": "system", "content": "You are Animam."},
                {"role": "user", "content": "Hello?"}
            ])
        );
    }

    #[test]
    fn no_authorization_header_without_a_key() {
        for key in [None, Some(""), Some("  ")] {
            let fake = spawn_fake_llm(FakeBehaviour::Stream(chunks(&["ok"])));
            let (_, result) = collect(&client(&fake.base_url, key));
            assert_eq!(result, Ok("ok".to_owned()));
            let requests = fake.requests.lock().unwrap();
            assert_eq!(requests[0].authorization, None, "key {key:?}");
        }
    }

    #[test]
    fn plain_json_completion_is_accepted_as_one_delta() {
        let fake = spawn_fake_llm(FakeBehaviour::Json("The whole answer.".to_owned()));
        let (seen, result) = collect(&client(&fake.base_url, None));
        assert_eq!(seen, ["The whole answer."]);
        assert_eq!(result, Ok("The whole answer.".to_owned()));
    }

    #[test]
    fn http_500_maps_to_http_error_with_short_excerpt() {
        let fake = spawn_fake_llm(FakeBehaviour::Status(500));
        let (seen, result) = collect(&client(&fake.base_url, Some(KEY)));
        assert!(seen.is_empty());
        match result {
            Err(LlmError::Http(500, excerpt)) => {
                assert!(excerpt.contains("fake upstream error"), "{excerpt}");
                assert!(excerpt.chars().count() <= EXCERPT_CHARS);
            }
            other => panic!("expected Http(500), got {other:?}"),
        }
    }

    #[test]
    fn hang_times_out_after_first_byte_timeout() {
        let fake = spawn_fake_llm(FakeBehaviour::Hang);
        let started = Instant::now();
        let (seen, result) = collect(&client(&fake.base_url, None));
        let elapsed = started.elapsed();
        assert_eq!(result, Err(LlmError::Timeout));
        assert!(seen.is_empty());
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "took {elapsed:?}"
        );
    }

    #[test]
    fn stalled_stream_hits_total_timeout_after_delivering_deltas() {
        let fake = spawn_fake_llm(FakeBehaviour::StreamThenHang(chunks(&["partial ", "text"])));
        let client = LlmClient::new(
            &fake.base_url,
            "m",
            None,
            Duration::from_millis(300),
            Duration::from_millis(800),
        );
        let started = Instant::now();
        let (seen, result) = collect(&client);
        assert_eq!(seen, ["partial ", "text"]);
        assert_eq!(result, Err(LlmError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn on_delta_returning_false_cancels_promptly() {
        // The upstream would hang after the chunks, so only cancellation can return quickly.
        let fake = spawn_fake_llm(FakeBehaviour::StreamThenHang(chunks(&["one", "two"])));
        let client = LlmClient::new(
            &fake.base_url,
            "m",
            None,
            Duration::from_millis(300),
            Duration::from_secs(10),
        );
        let mut seen = Vec::new();
        let started = Instant::now();
        let result = client.stream_chat(&conversation(), &mut |d| {
            seen.push(d.to_owned());
            false
        });
        assert_eq!(result, Err(LlmError::Cancelled));
        assert_eq!(seen, ["one"]);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", client("http://127.0.0.1:9/v1", Some(KEY)));
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        let shown = format!("{:?}", client("http://127.0.0.1:9/v1", None));
        assert!(shown.contains("api_key: None"), "{shown}");
    }

    #[test]
    fn errors_never_echo_the_key() {
        let fake = spawn_fake_llm(FakeBehaviour::RawSse(format!(
            "data: {{\"error\":{{\"message\":\"bad key {KEY}\"}}}}\n\n"
        )));
        let (_, result) = collect(&client(&fake.base_url, Some(KEY)));
        let err = result.unwrap_err();
        assert!(matches!(err, LlmError::Protocol(_)), "{err:?}");
        assert!(!err.to_string().contains(KEY), "{err}");
        assert!(err.to_string().contains("bad key ***"), "{err}");
    }

    /// Collects every log record of the process, ureq's own included, at debug level: at
    /// trace `ureq_proto` hex-dumps the raw request, key included (see the module docs).
    struct Capture;

    static CAPTURED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            let line = format!("{} {}", record.target(), record.args());
            CAPTURED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(line);
        }
        fn flush(&self) {}
    }

    #[test]
    fn logs_never_contain_the_key_or_authorization_header() {
        static LOGGER: Capture = Capture;
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            log::set_logger(&LOGGER).unwrap();
            log::set_max_level(log::LevelFilter::Debug);
        });
        for behaviour in [
            FakeBehaviour::Stream(chunks(&["fine"])),
            FakeBehaviour::Status(401),
            FakeBehaviour::RawSse(format!("data: {{\"error\":{{\"message\":\"{KEY}\"}}}}\n\n")),
        ] {
            let fake = spawn_fake_llm(behaviour);
            let _ = collect(&client(&fake.base_url, Some(KEY)));
        }
        let captured = CAPTURED.lock().unwrap().clone();
        assert!(
            captured.iter().any(|l| l.contains("llm: POST")),
            "capture did not work: {captured:?}"
        );
        for line in &captured {
            assert!(!line.contains(KEY), "{line}");
            assert!(!line.contains("Bearer"), "{line}");
        }
    }

    #[test]
    fn connection_refused_is_transport() {
        // Bind then drop to get a port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (_, result) = collect(&client(&format!("http://127.0.0.1:{port}/v1"), None));
        assert!(matches!(result, Err(LlmError::Transport(_))), "{result:?}");
    }

    #[test]
    fn stream_of_only_role_and_finish_events_is_empty() {
        let fake = spawn_fake_llm(FakeBehaviour::Stream(Vec::new()));
        let (seen, result) = collect(&client(&fake.base_url, None));
        assert!(seen.is_empty());
        assert_eq!(result, Err(LlmError::Empty));
    }

    #[test]
    fn garbage_event_is_protocol_error() {
        let fake = spawn_fake_llm(FakeBehaviour::RawSse("data: not json\n\n".to_owned()));
        let (_, result) = collect(&client(&fake.base_url, None));
        assert!(matches!(result, Err(LlmError::Protocol(_))), "{result:?}");
    }

    fn parse(raw: &str) -> (Vec<String>, Result<String, LlmError>) {
        let client = client("http://127.0.0.1:9/v1", None);
        let mut seen = Vec::new();
        let result = client.read_sse(Cursor::new(raw.as_bytes().to_vec()), &mut |d| {
            seen.push(d.to_owned());
            true
        });
        (seen, result)
    }

    #[test]
    fn sse_parser_tolerates_crlf_comments_other_fields_and_null_content() {
        let raw = concat!(
            ": keep-alive\r\n\r\n",
            "event: message\r\nid: 1\r\nretry: 10\r\n",
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":null}}]}\r\n\r\n",
            "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"b\\nc\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n",
            "data: [DONE]\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\r\n\r\n",
        );
        let (seen, result) = parse(raw);
        assert_eq!(seen, ["a", "b\nc"]);
        assert_eq!(result, Ok("ab\nc".to_owned()));
    }

    #[test]
    fn sse_stream_without_done_keeps_text_but_without_text_is_empty() {
        let (_, result) = parse("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
        assert_eq!(result, Ok("x".to_owned()));
        let (_, result) = parse(": nothing here\n\n");
        assert_eq!(result, Err(LlmError::Empty));
        let (_, result) = parse("data: [DONE]\n\n");
        assert_eq!(result, Err(LlmError::Empty));
    }

    #[test]
    fn excerpt_is_capped_flattened_and_scrubbed() {
        let client = client("http://127.0.0.1:9/v1", Some(KEY));
        let long = format!("line one\n\tkey={KEY} {}", "é".repeat(500));
        let excerpt = client.excerpt(&long);
        assert!(excerpt.starts_with("line one key=*** é"), "{excerpt}");
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS);
        assert!(excerpt.ends_with('…'));
        assert!(!excerpt.contains(KEY));
    }

    #[test]
    fn tool_call_fragments_assemble_by_index_in_any_interleaving() {
        let mut assembler = ToolCallAssembler::default();
        for fragment in [
            serde_json::json!([{"index": 1, "id": "call_b", "type": "function",
                "function": {"name": "escalate", "arguments": ""}}]),
            serde_json::json!([{"index": 0, "id": "call_a", "function": {"name": "remember_fact"}}]),
            serde_json::json!([{"index": 0, "function": {"arguments": "{\"key\":"}}]),
            serde_json::json!([{"index": 1, "function": {"arguments": "{\"reason\":\"x\"}"}}]),
            serde_json::json!([{"index": 0, "function": {"arguments": "\"name\",\"value\":\"Zoé\"}"}}]),
            // A server repeating the whole name must not double it.
            serde_json::json!([{"index": 0, "function": {"name": "remember_fact"}}]),
        ] {
            assembler.feed(&fragment);
        }
        assert_eq!(
            assembler.finish(),
            [
                ToolCall {
                    id: "call_a".into(),
                    name: "remember_fact".into(),
                    arguments: r#"{"key":"name","value":"Zoé"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "escalate".into(),
                    arguments: r#"{"reason":"x"}"#.into()
                },
            ]
        );
    }

    #[test]
    fn streamed_and_json_tool_calls_reach_the_caller_with_the_tools_offered() {
        use fake_llm::ScriptStep;
        let args = r#"{"key":"favourite_colour","value":"teal"}"#;
        for step in [
            ScriptStep::call("call_1", "remember", args),
            ScriptStep::JsonToolCalls(vec![("call_1".into(), "remember".into(), args.into())]),
        ] {
            let fake = spawn_fake_llm(FakeBehaviour::Script(vec![step]));
            let tools = [serde_json::json!({"type": "function", "function": {"name": "remember"}})];
            let mut seen = Vec::new();
            let done = client(&fake.base_url, None)
                .complete(&conversation(), &tools, None, &mut |d| {
                    seen.push(d.to_owned());
                    true
                })
                .unwrap();
            assert!(seen.is_empty(), "{seen:?}");
            assert_eq!(done.text, "");
            assert_eq!(
                done.tool_calls,
                [ToolCall {
                    id: "call_1".into(),
                    name: "remember".into(),
                    arguments: args.into()
                }]
            );
            let body = fake.last_request().unwrap().json();
            assert_eq!(body["tools"][0]["function"]["name"], "remember");
            assert!(body.get("tool_choice").is_none());
        }
        // Without tools, neither key is sent, and a tool-call-only answer is no text.
        let fake = spawn_fake_llm(FakeBehaviour::Script(vec![ScriptStep::call(
            "c", "remember", args,
        )]));
        let (_, result) = collect(&client(&fake.base_url, None));
        assert_eq!(result, Err(LlmError::Empty));
        let body = fake.last_request().unwrap().json();
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    }
}
