//! Animam as an MCP server: the official MCP Python SDK's client manages a tenant through
//! `POST /mcp`, and a table checks every tool against every scope and other tenants' tokens.

use serde_json::{Value, json};

use crate::openai_compat::venv_python;
use crate::support::{Resp, Server};
use animam::domain::Scope;

fn rpc(server: &Server, token: &str, method: &str, params: Value) -> Resp {
    let auth = format!("Bearer {token}");
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    server.request(
        "POST",
        "/mcp",
        &[
            ("authorization", &auth),
            ("accept", "application/json, text/event-stream"),
        ],
        Some(&body.to_string()),
    )
}

fn call(server: &Server, token: &str, tool: &str, arguments: Value) -> Value {
    let r = rpc(
        server,
        token,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["result"].clone()
}

#[test]
fn the_official_mcp_client_manages_a_tenant() {
    let server = Server::start();
    let chat = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(&json!({"message": "hello", "sessionId": "mcp", "stream": false}).to_string()),
    );
    let conversation = chat.json()["conversationId"].as_str().unwrap().to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_client.py");
    let out = std::process::Command::new(venv_python())
        .arg(script)
        .args([&server.base, &server.admin, &conversation])
        .output()
        .expect("run the MCP client");
    assert!(
        out.status.success(),
        "MCP client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let mut every_tool: Vec<&str> = animam::api::mcp::tool_scopes()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    every_tool.sort_unstable();
    assert_eq!(seen["server"], "animam");
    assert_eq!(seen["protocol"], "2025-11-25");
    assert_eq!(
        seen["tools"],
        json!(every_tool),
        "a `*` token sees every tool"
    );
    assert_eq!(seen["created_title"], "Gift cards");
    assert_eq!(seen["search_first"], true);
    assert_eq!(seen["updated_priority"], 9);
    assert_eq!(seen["got_priority"], 9);
    assert_eq!(seen["bad_is_error"], true);
    assert_eq!(seen["bad_text"], "content: is required");
    assert_eq!(seen["segments"], json!(["general"]));
    assert_eq!(seen["welcome"], "Hi from MCP");
    assert_eq!(seen["conversations"], 1);
    assert_eq!(seen["transcript_roles"], json!(["user", "assistant"]));
    assert_eq!(seen["deleted"], true);
    assert_eq!(seen["left"], 0);
    // The REST API sees what the tools did.
    let segment = server
        .get("/tenants/acme/segments/general", &server.admin)
        .json();
    assert_eq!(segment["welcomeMessage"], "Hi from MCP");
}

#[test]
fn every_tool_against_every_scope_and_other_tenants() {
    let server = Server::start();
    let entry = server.corpus(&json!({"title": "Refunds", "content": "Within 30 days."}));
    let tools = animam::api::mcp::tool_scopes();
    for scope in Scope::EVERY.into_iter().filter(|s| *s != Scope::All) {
        let (_, token) = server.token(&[scope.as_str()]);
        let listed = rpc(&server, &token, "tools/list", json!({})).json();
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        for (tool, needed) in &tools {
            assert_eq!(
                names.contains(tool),
                *needed == scope,
                "{tool} listed for {scope}"
            );
            if *needed != scope {
                let result = call(&server, &token, tool, json!({"id": entry}));
                assert_eq!(result["isError"], true, "{tool} with {scope}");
                assert_eq!(
                    result["structuredContent"],
                    json!({"error": format!("Missing required scope: {needed}"), "code": "insufficient_scope"}),
                    "{tool} with {scope}"
                );
            }
        }
    }
    // Another tenant's token works on its own tenant only: acme's entry does not exist there.
    let result = call(
        &server,
        &server.other_admin,
        "get_corpus_entry",
        json!({"id": entry}),
    );
    assert_eq!(result["isError"], true);
    assert_eq!(result["structuredContent"]["code"], "not_found");
    let listed = call(&server, &server.other_admin, "list_corpus", json!({}));
    assert_eq!(listed["structuredContent"]["pagination"]["total"], 0);
    let own = call(
        &server,
        &server.admin,
        "get_corpus_entry",
        json!({"id": entry}),
    );
    assert_eq!(own["structuredContent"]["title"], "Refunds");

    // Credentials are checked like everywhere else, before anything is read.
    let none = server.request("POST", "/mcp", &[], Some("{}"));
    none.assert_error(401, "Unauthorized", "missing_credentials");
    let revoked = server.token(&["*"]);
    server.delete(
        &format!("/tenants/acme/tokens/{}", revoked.0),
        &server.admin,
    );
    rpc(&server, &revoked.1, "tools/list", json!({})).assert_error(
        401,
        "Unauthorized",
        "invalid_token",
    );
    // JSON-RPC errors for what is not a valid call.
    let unknown = rpc(&server, &server.admin, "resources/list", json!({})).json();
    assert_eq!(unknown["error"]["code"], -32601);
    let no_tool = rpc(
        &server,
        &server.admin,
        "tools/call",
        json!({"name": "drop_all"}),
    )
    .json();
    assert_eq!(no_tool["error"]["code"], -32602);
    let bad_args = call(
        &server,
        &server.admin,
        "list_corpus",
        json!({"limit": 1000}),
    );
    assert_eq!(bad_args["isError"], true);
    let auth = format!("Bearer {}", server.admin);
    let note = server.request(
        "POST",
        "/mcp",
        &[("authorization", &auth)],
        Some(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
    );
    assert_eq!(note.status, 202);
    for not_a_request in [
        "[]",
        r#"{"id": 1, "method": "ping"}"#,
        r#"{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}"#,
        r#"{"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}"#,
        r#"{"jsonrpc": "2.0", "id": 1}"#,
    ] {
        let r = server.request(
            "POST",
            "/mcp",
            &[("authorization", &auth)],
            Some(not_a_request),
        );
        assert_eq!(r.status, 400, "{not_a_request}: {}", r.text);
        assert_eq!(r.json()["code"], "validation_failed");
    }
    assert_eq!(server.get("/mcp", &server.admin).status, 405);
}
