//! The bot behind the OpenAI chat-completions wire format, driven by the official `openai`
//! Python package (installed in `.ci/venv` by `.ci/run`): non-streaming and streaming
//! answers, conversations stored with channel `voice`, a wrong key refused.

use serde_json::{Value, json};

use crate::support::Server;

/// The Python of the test virtualenv, or a failure saying how to make it.
pub fn venv_python() -> std::path::PathBuf {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/run` once (it makes the test virtualenv), or \
         `python3 -m venv .ci/venv && .ci/venv/bin/pip install -r .ci/requirements.txt`",
        python.display()
    );
    python
}

#[test]
fn the_official_openai_client_talks_to_the_bot() {
    let server = Server::start();
    server.corpus(&json!({
        "title": "Refund policy",
        "content": "Refunds are issued within 30 days of purchase."
    }));
    let (_, token) = server.token(&["corpus:read"]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_client.py");
    let out = std::process::Command::new(venv_python())
        .arg(script)
        .args([&server.base, &token])
        .output()
        .expect("run the openai client");
    assert!(
        out.status.success(),
        "openai client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(seen["object"], "chat.completion");
    assert_eq!(seen["model"], "voice-1");
    assert_eq!(seen["role"], "assistant");
    assert_eq!(seen["finish"], "stop");
    let content = seen["content"].as_str().unwrap();
    assert!(content.contains("30 days"), "{content}");
    assert_eq!(
        seen["streamed"], content,
        "streamed and plain answers agree"
    );
    assert_eq!(seen["stream_finish"], "stop");
    assert_eq!(seen["refused"], 401);

    let conversations = server
        .get("/tenants/acme/conversations?channel=voice", &server.admin)
        .json();
    assert_eq!(
        conversations["pagination"]["total"], 1,
        "one conversation for the caller: {conversations}"
    );
    assert_eq!(conversations["conversations"][0]["messageCount"], 4);
}

#[test]
fn completion_requests_are_validated() {
    let server = Server::start();
    let (_, token) = server.token(&["corpus:read"]);
    let auth = format!("Bearer {token}");
    for (body, message) in [
        (json!({"model": "m"}), "messages: is required"),
        (
            json!({"messages": [{"role": "system", "content": "x"}]}),
            "messages: must contain a user message",
        ),
        (
            json!({"messages": ["hi"]}),
            "messages[0]: must be an object {role, content}",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "user": ""}),
            "user: must be 1 to 100 characters",
        ),
    ] {
        let r = server.request(
            "POST",
            "/voice/acme/chat",
            &[("authorization", &auth)],
            Some(&body.to_string()),
        );
        r.assert_error(400, message, "validation_failed");
    }
}
