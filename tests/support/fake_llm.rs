//! A tiny fake OpenAI-compatible `/chat/completions` server for tests.
//!
//! Only std and serde_json, and no `crate::` paths, so the same file can be included as a
//! module from unit tests and from integration tests alike. Every connection is answered per
//! the `FakeBehaviour` given at spawn time and recorded for assertions.
// Each includer uses a different subset of this file.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// How the fake answers every request.
#[derive(Clone, Debug)]
pub enum FakeBehaviour {
    /// SSE: a role-only opener, one `delta.content` event per string (each flushed), a
    /// `finish_reason` event, then `data: [DONE]`.
    Stream(Vec<String>),
    /// A non-streaming `chat.completion` JSON with this `message.content`.
    Json(String),
    /// This status with an OpenAI-style JSON error body.
    Status(u16),
    /// Reads the request and never answers, until the client hangs up.
    Hang,
    /// Sends these deltas as SSE, then neither finishes nor closes.
    StreamThenHang(Vec<String>),
    /// A 200 `text/event-stream` response whose body is exactly this text.
    RawSse(String),
    /// SSE: one `word ` delta every this long, for a minute, unless the client hangs up
    /// first (counted in `FakeLlm::hangups`).
    Drip(Duration),
    /// Plays a script: the n-th request gets the n-th step (the last step once past the end).
    Script(Vec<ScriptStep>),
}

/// One answer of a `Script`.
#[derive(Clone, Debug)]
pub enum ScriptStep {
    /// Streamed text, one delta per string.
    Text(Vec<String>),
    /// Streamed tool calls `(id, function name, arguments)`, as the OpenAI API streams them:
    /// a first fragment with index, id and name, then the arguments in small pieces.
    ToolCalls(Vec<(String, String, String)>),
    /// Streamed text, then streamed tool calls, in one answer.
    TextThenCalls(Vec<String>, Vec<(String, String, String)>),
    /// The same tool calls in one non-streamed `chat.completion` JSON.
    JsonToolCalls(Vec<(String, String, String)>),
}

impl ScriptStep {
    pub fn text(text: &str) -> ScriptStep {
        ScriptStep::Text(vec![text.to_owned()])
    }

    /// One streamed tool call.
    pub fn call(id: &str, name: &str, arguments: &str) -> ScriptStep {
        ScriptStep::ToolCalls(vec![(id.to_owned(), name.to_owned(), arguments.to_owned())])
    }
}

/// What the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl RecordedRequest {
    /// The body as JSON (`Value::Null` if it is not JSON, so assertions fail readably).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct FakeLlm {
    /// Like `http://127.0.0.1:PORT/v1`: what an operator would put in `llm_base_url`.
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<RecordedRequest>>>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Answers the client stopped reading before their end (`Drip`).
    pub hangups: Arc<AtomicUsize>,
}

impl FakeLlm {
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.requests).last().cloned()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.requests).len()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` only notices the flag when a connection arrives: make one.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Starts the fake on an ephemeral loopback port; it stops accepting when dropped.
pub fn spawn_fake_llm(behaviour: FakeBehaviour) -> FakeLlm {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("fake llm: cannot bind loopback: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("fake llm: no local addr: {e}"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let hangups = Arc::new(AtomicUsize::new(0));
    {
        let requests = Arc::clone(&requests);
        let stop = Arc::clone(&stop);
        let hangups = Arc::clone(&hangups);
        let behaviour = Arc::new(behaviour);
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let requests = Arc::clone(&requests);
                let behaviour = Arc::clone(&behaviour);
                let hangups = Arc::clone(&hangups);
                thread::spawn(move || {
                    // A client that gives up mid-answer is expected in timeout tests.
                    if serve(conn, &behaviour, &requests).is_err() {
                        hangups.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
    }
    FakeLlm {
        base_url: format!("http://{addr}/v1"),
        requests,
        addr,
        stop,
        hangups,
    }
}

fn lock(requests: &Mutex<Vec<RecordedRequest>>) -> MutexGuard<'_, Vec<RecordedRequest>> {
    // A panicking test thread must not hide what was recorded from the other assertions.
    requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(
    conn: TcpStream,
    behaviour: &FakeBehaviour,
    requests: &Mutex<Vec<RecordedRequest>>,
) -> std::io::Result<()> {
    // Bounds every blocking read so no test can wedge a thread forever.
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    // Recorded before answering so a test that returns on the answer already sees it.
    let position = {
        let mut recorded = lock(requests);
        recorded.push(request);
        recorded.len() - 1
    };

    let mut out = conn;
    match behaviour {
        FakeBehaviour::Stream(chunks) => {
            write_sse_head(&mut out)?;
            send_event(
                &mut out,
                &serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
            )?;
            out.write_all(b": keep-alive\n\n")?;
            for chunk in chunks {
                send_event(&mut out, &delta_event(chunk))?;
            }
            send_event(
                &mut out,
                &serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            )?;
            out.write_all(b"data: [DONE]\n\n")?;
            out.flush()
        }
        FakeBehaviour::StreamThenHang(chunks) => {
            write_sse_head(&mut out)?;
            for chunk in chunks {
                send_event(&mut out, &delta_event(chunk))?;
            }
            wait_for_hangup(&mut reader)
        }
        FakeBehaviour::RawSse(raw) => {
            write_sse_head(&mut out)?;
            out.write_all(raw.as_bytes())?;
            out.flush()
        }
        FakeBehaviour::Json(content) => {
            let body = serde_json::json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop"
                }]
            });
            write_json(&mut out, 200, &body)
        }
        FakeBehaviour::Status(status) => {
            let body = serde_json::json!({
                "error": {"message": "fake upstream error", "type": "fake", "code": status}
            });
            write_json(&mut out, *status, &body)
        }
        FakeBehaviour::Hang => wait_for_hangup(&mut reader),
        FakeBehaviour::Script(steps) => match steps.get(position).or(steps.last()) {
            None => write_json(
                &mut out,
                500,
                &serde_json::json!({"error": {"message": "empty script"}}),
            ),
            Some(ScriptStep::Text(chunks)) => {
                write_sse_head(&mut out)?;
                for chunk in chunks {
                    send_event(&mut out, &delta_event(chunk))?;
                }
                send_event(&mut out, &finish_event("stop"))?;
                out.write_all(b"data: [DONE]\n\n")?;
                out.flush()
            }
            Some(ScriptStep::ToolCalls(calls)) => stream_calls(&mut out, &[], calls),
            Some(ScriptStep::TextThenCalls(chunks, calls)) => stream_calls(&mut out, chunks, calls),
            Some(ScriptStep::JsonToolCalls(calls)) => {
                let calls: Vec<serde_json::Value> = calls
                    .iter()
                    .map(|(id, name, arguments)| {
                        serde_json::json!({"id": id, "type": "function",
                            "function": {"name": name, "arguments": arguments}})
                    })
                    .collect();
                let body = serde_json::json!({
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": null, "tool_calls": calls},
                        "finish_reason": "tool_calls"
                    }]
                });
                write_json(&mut out, 200, &body)
            }
        },
        FakeBehaviour::Drip(every) => {
            write_sse_head(&mut out)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                send_event(&mut out, &delta_event("word "))?;
                thread::sleep(*every);
            }
            out.write_all(b"data: [DONE]\n\n")?;
            out.flush()
        }
    }
}

/// Reads one request head and its `Content-Length` body; `None` if the peer sent nothing
/// (e.g. the wake-up connection made by `Drop`).
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<RecordedRequest>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();

    let mut authorization = None;
    let mut content_type = None;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value),
            "content-type" => content_type = Some(value),
            "content-length" => content_length = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Some(RecordedRequest {
        method,
        path,
        authorization,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

fn delta_event(content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]
    })
}

/// Text deltas, then each call as OpenAI streams it: index, id and name first, then the
/// arguments five characters at a time.
fn stream_calls(
    out: &mut TcpStream,
    chunks: &[String],
    calls: &[(String, String, String)],
) -> std::io::Result<()> {
    write_sse_head(out)?;
    send_event(
        out,
        &serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]}),
    )?;
    for chunk in chunks {
        send_event(out, &delta_event(chunk))?;
    }
    for (index, (id, name, arguments)) in calls.iter().enumerate() {
        send_event(
            out,
            &tool_delta(serde_json::json!({
                "index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}
            })),
        )?;
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(5) {
            let piece: String = piece.iter().collect();
            send_event(
                out,
                &tool_delta(serde_json::json!({
                    "index": index, "function": {"arguments": piece}
                })),
            )?;
        }
    }
    send_event(out, &finish_event("tool_calls"))?;
    out.write_all(b"data: [DONE]\n\n")?;
    out.flush()
}

fn tool_delta(fragment: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"tool_calls": [fragment]}, "finish_reason": null}]
    })
}

fn finish_event(reason: &str) -> serde_json::Value {
    serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn write_sse_head(out: &mut TcpStream) -> std::io::Result<()> {
    // No Content-Length: the body runs until the connection closes, as streaming servers do.
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
          Connection: close\r\n\r\n",
    )?;
    out.flush()
}

fn send_event(out: &mut TcpStream, event: &serde_json::Value) -> std::io::Result<()> {
    out.write_all(format!("data: {event}\n\n").as_bytes())?;
    out.flush()
}

fn write_json(out: &mut TcpStream, status: u16, body: &serde_json::Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Fake",
    };
    out.write_all(
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    out.flush()
}

/// Keeps the connection open, answering nothing, until the client closes it (or the read
/// timeout set in `serve` passes), so timeout tests see a live but silent upstream.
fn wait_for_hangup(reader: &mut impl Read) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    while reader.read(&mut buf)? > 0 {}
    Ok(())
}
