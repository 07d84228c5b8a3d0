//! Bring-your-own MCP tools: the settings API (validation, the key never shown, never logged,
//! never in clear in the database file), and the client against a real MCP server nobody on
//! the team wrote: the official Python SDK's FastMCP on Streamable HTTP (SSE and JSON
//! answers), for discovery, calls, the cache, timeouts and a dead server.

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::mcp_tools_server::{Answers, McpToolsServer, free_port};
use animam::chat::mcp_client::{MAX_RESULT_BYTES, McpError, McpTools};
use animam::config::ChatConfig;
use animam::domain::{Actor, Tenant};
use animam::secrets::SecretBox;
use animam::store::{McpSettingsWrite, Store, StoreOptions};

const KEY: &str = "mcpkey-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4";

fn settings(server: &Server) -> Value {
    let r = server.get("/tenants/acme/mcp-tools", &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn put(server: &Server, body: Value) -> crate::support::Resp {
    server.call("PUT", "/tenants/acme/mcp-tools", &server.admin, Some(&body))
}

fn assert_refused(server: &Server, body: Value, field: &str) {
    let r = put(server, body.clone());
    assert_eq!(r.status, 400, "{body}: {}", r.text);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.starts_with(&format!("{field}: ")), "{body}: {error}");
    assert!(!r.text.contains(KEY), "{}", r.text);
}

#[test]
fn mcp_tools_settings_crud_validation_and_the_key_kept_secret() {
    let mut server = Server::start();
    let empty = json!({"mcpToolsUrl": null, "hasApiKey": false, "mcpToolsMaxTools": 10});
    assert_eq!(settings(&server), empty);

    assert_refused(&server, json!({"mcpToolsMaxTools": 5}), "mcpToolsUrl");
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "http://tools.example.com/mcp"}),
        "mcpToolsUrl",
    );
    // Loopback http needs the setting, off by default.
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "http://127.0.0.1:9000/mcp"}),
        "mcpToolsUrl",
    );
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "ftp://x.example.com"}),
        "mcpToolsUrl",
    );
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "https://user:pw@x.example.com/mcp"}),
        "mcpToolsUrl",
    );
    assert_refused(&server, json!({"mcpToolsUrl": 7}), "mcpToolsUrl");
    for max in [json!(0), json!(21), json!("5"), json!(2.5), json!(-1)] {
        assert_refused(
            &server,
            json!({"mcpToolsUrl": "https://x.example.com/mcp", "mcpToolsMaxTools": max}),
            "mcpToolsMaxTools",
        );
    }
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "https://x.example.com/mcp", "mcpToolsApiKey": 12}),
        "mcpToolsApiKey",
    );
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "https://x.example.com/mcp", "mcpToolsApiKey": "two words"}),
        "mcpToolsApiKey",
    );
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "https://x.example.com/mcp", "mcpToolsApiKey": "clé-secrète"}),
        "mcpToolsApiKey",
    );
    assert_refused(
        &server,
        json!({"mcpToolsUrl": "https://x.example.com/mcp", "mcpToolsKey": KEY}),
        "mcpToolsKey",
    );
    assert_eq!(settings(&server), empty, "nothing refused was stored");

    let r = put(
        &server,
        json!({"mcpToolsUrl": "https://tools.example.com/mcp", "mcpToolsApiKey": KEY, "mcpToolsMaxTools": 3}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let configured = json!({"mcpToolsUrl": "https://tools.example.com/mcp", "hasApiKey": true, "mcpToolsMaxTools": 3});
    assert_eq!(r.json(), configured);
    assert!(!r.text.contains(KEY));
    assert_eq!(settings(&server), configured);

    // Fields not sent keep their value, the key included.
    let r = put(&server, json!({"mcpToolsMaxTools": 20}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["hasApiKey"], true);
    assert_eq!(r.json()["mcpToolsUrl"], "https://tools.example.com/mcp");
    assert_eq!(r.json()["mcpToolsMaxTools"], 20);
    // "" and null clear the key.
    for clear in [json!(""), json!(null)] {
        put(&server, json!({"mcpToolsApiKey": KEY}));
        assert_eq!(settings(&server)["hasApiKey"], true);
        let r = put(&server, json!({"mcpToolsApiKey": clear}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["hasApiKey"], false, "{clear}");
    }
    put(&server, json!({"mcpToolsApiKey": KEY}));

    // The other tenant sees none of it.
    let other = server.get("/tenants/globex/mcp-tools", &server.other_admin);
    assert_eq!(other.json(), empty);

    // Changes are audited, without the key.
    let audit = server.get("/tenants/acme/audit", &server.admin);
    assert!(audit.text.contains("mcp-tools"), "{}", audit.text);
    assert!(!audit.text.contains(KEY));

    let r = server.delete("/tenants/acme/mcp-tools", &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), empty);
    assert_eq!(settings(&server), empty);
    let r = server.delete("/tenants/acme/mcp-tools", &server.admin);
    assert_eq!(r.status, 200, "deleting nothing is fine: {}", r.text);

    // A null URL removes the configuration too.
    put(
        &server,
        json!({"mcpToolsUrl": "https://tools.example.com/mcp", "mcpToolsApiKey": KEY}),
    );
    let r = put(&server, json!({"mcpToolsUrl": null}));
    assert_eq!(r.json(), empty);
    put(
        &server,
        json!({"mcpToolsUrl": "https://tools.example.com/mcp", "mcpToolsApiKey": KEY}),
    );

    // The key never reached the log, and the database file holds it sealed only.
    server.stop();
    assert!(!server.log().contains(KEY), "{}", server.log());
    let db = std::fs::read(server.data_dir().join("animam.redb")).unwrap();
    assert!(
        !db.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "the key is in clear in the database file"
    );
    assert!(
        db.windows(b"tools.example.com".len())
            .any(|w| w == b"tools.example.com"),
        "the search for the key would have found it: the URL is there"
    );
    // It still opens after a restart (the secret key file is kept in the data directory).
    server.launch(&[]);
    assert_eq!(settings(&server)["hasApiKey"], true);
}

#[test]
fn mcp_tools_http_loopback_only_with_the_setting() {
    let server = Server::start_with(&[("ANIMAM_CHAT_MCP_ALLOW_HTTP_LOOPBACK", "true")]);
    for url in [
        "http://127.0.0.1:9000/mcp",
        "http://127.1.2.3/mcp",
        "http://localhost:8000/mcp",
        "http://[::1]:8000/mcp",
    ] {
        let r = put(&server, json!({"mcpToolsUrl": url}));
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        assert_eq!(r.json()["mcpToolsUrl"], url);
    }
    for url in ["http://10.0.0.1/mcp", "http://tools.example.com/mcp"] {
        assert_refused(&server, json!({"mcpToolsUrl": url}), "mcpToolsUrl");
    }
}

// ---- The client, in process, against the official SDK's server ------------------------------

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every log record of this process, so tests can check what the client logged.
struct Capture;
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        CAPTURED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{} {}", record.target(), record.args()));
    }
    fn flush(&self) {}
}

fn captured() -> Vec<String> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        static LOGGER: Capture = Capture;
        if log::set_logger(&LOGGER).is_ok() {
            // Debug, not trace: at trace ureq_proto dumps raw requests (the app caps it too).
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
    CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A store with one tenant, its MCP settings, and the client over them.
struct Fixture {
    store: Store,
    tools: McpTools,
    tenant: Tenant,
    secrets: SecretBox,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(timeout_secs: u32, cache_secs: u32) -> Fixture {
        captured();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let tenant = run(store.create_tenant("shop", "Shop")).unwrap();
        let secrets = SecretBox::from_key(&[7; 32]);
        let chat = ChatConfig {
            mcp_allow_http_loopback: true,
            mcp_timeout_secs: timeout_secs,
            mcp_cache_secs: cache_secs,
            ..ChatConfig::default()
        };
        let tools = McpTools::new(store.clone(), secrets.clone(), &chat);
        Fixture {
            store,
            tools,
            tenant,
            secrets,
            _dir: dir,
        }
    }

    fn configure(&self, url: &str, key: Option<&str>, max_tools: u32) {
        let context = McpTools::key_context(&self.tenant.id);
        let write = McpSettingsWrite {
            url: url.to_string(),
            api_key_sealed: Some(key.map(|k| self.secrets.seal(&context, k.as_bytes()))),
            max_tools,
        };
        run(self.store.put_mcp_settings("shop", write, Actor::cli())).unwrap();
    }

    fn offered_names(&self) -> Vec<String> {
        self.tools
            .offered(&self.tenant)
            .iter()
            .map(|spec| spec["function"]["name"].as_str().unwrap().to_string())
            .collect()
    }
}

const ALL_TOOLS: [&str; 5] = [
    "mcp_lookup_order",
    "mcp_get_weather",
    "mcp_slow_report",
    "mcp_failing_lookup",
    "mcp_huge_export",
];

fn discovery_and_calls(answers: Answers) {
    let mcp = McpToolsServer::start(Some(KEY), answers);
    let fixture = Fixture::new(5, 300);
    fixture.configure(&mcp.url, Some(KEY), 10);

    let offered = fixture.tools.offered(&fixture.tenant);
    let mut names: Vec<&str> = offered
        .iter()
        .map(|s| s["function"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut want = ALL_TOOLS.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let lookup = offered
        .iter()
        .find(|s| s["function"]["name"] == "mcp_lookup_order")
        .unwrap();
    assert_eq!(lookup["type"], "function");
    assert_eq!(
        lookup["function"]["description"],
        "Look up an order's shipping status by its id."
    );
    let parameters = &lookup["function"]["parameters"];
    assert_eq!(parameters["type"], "object");
    assert_eq!(parameters["properties"]["order_id"]["type"], "string");
    assert_eq!(parameters["required"], json!(["order_id"]));

    let text = fixture
        .tools
        .call(
            &fixture.tenant,
            "mcp_lookup_order",
            r#"{"order_id":"A-42"}"#,
        )
        .unwrap();
    assert_eq!(text, "Order A-42: shipped on 2026-12-01, arriving Tuesday.");
    // The sanitised name reaches the tool by its real name.
    let text = fixture
        .tools
        .call(&fixture.tenant, "mcp_get_weather", r#"{"city":"Lyon"}"#)
        .unwrap();
    assert_eq!(text, "Sunny in Lyon.");

    match fixture
        .tools
        .call(&fixture.tenant, "mcp_failing_lookup", "{}")
    {
        Err(McpError::Tool(message)) => {
            assert!(message.contains("the order system is down"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let huge = fixture
        .tools
        .call(&fixture.tenant, "mcp_huge_export", "")
        .unwrap();
    assert!(huge.len() <= MAX_RESULT_BYTES, "{}", huge.len());
    assert!(huge.ends_with("[truncated: the tool's result was longer]"));
    assert_eq!(
        fixture.tools.call(&fixture.tenant, "mcp_nope", "{}"),
        Err(McpError::UnknownTool("mcp_nope".into()))
    );
    assert!(matches!(
        fixture
            .tools
            .call(&fixture.tenant, "mcp_lookup_order", "[1]"),
        Err(McpError::BadArguments(_))
    ));

    // What went over the wire: the key on every request, the session and protocol headers on
    // every request after `initialize`, and one discovery for all these calls (the cache).
    let requests = mcp.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r["authorization"], format!("Bearer {KEY}"), "{r}");
        if r["rpc"] == "initialize" {
            assert_eq!(r["session"], Value::Null);
            assert_eq!(r["accept"], "application/json, text/event-stream");
        } else {
            assert!(r["session"].is_string(), "{r}");
            assert_eq!(r["protocol"], "2025-06-18", "{r}");
        }
    }
    assert_eq!(mcp.count("tools/list"), 1, "{requests:#?}");
    assert!(mcp.count("notifications/initialized") >= 1);
    assert_eq!(mcp.count("tools/call"), 4);

    let logs = captured();
    assert!(
        logs.iter()
            .any(|l| l.contains("mcp: tenant shop discovered 5 tools")),
        "{logs:#?}"
    );
    assert!(logs.iter().all(|l| !l.contains(KEY)), "the key was logged");
}

#[test]
fn mcp_tools_discovery_and_calls_over_sse_answers() {
    discovery_and_calls(Answers::Sse);
}

#[test]
fn mcp_tools_discovery_and_calls_over_json_answers() {
    discovery_and_calls(Answers::Json);
}

#[test]
fn mcp_tools_are_capped_cached_and_rediscovered() {
    let mcp = McpToolsServer::start(None, Answers::Sse);
    let fixture = Fixture::new(5, 2);
    fixture.configure(&mcp.url, None, 2);
    assert_eq!(
        fixture.offered_names().len(),
        2,
        "capped by mcpToolsMaxTools"
    );
    assert_eq!(fixture.offered_names().len(), 2);
    assert_eq!(mcp.count("tools/list"), 1, "the second turn uses the cache");
    assert!(
        mcp.requests().iter().all(|r| r["authorization"].is_null()),
        "no key, no Authorization header"
    );

    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(fixture.offered_names().len(), 2);
    assert_eq!(mcp.count("tools/list"), 2, "listed again once expired");

    // A settings change is seen at once, whatever the cache's age.
    fixture.configure(&mcp.url, None, 4);
    assert_eq!(fixture.offered_names().len(), 4);
    assert_eq!(mcp.count("tools/list"), 3);

    // Removing the settings removes the tools.
    run(fixture.store.delete_mcp_settings("shop", Actor::cli())).unwrap();
    assert!(fixture.offered_names().is_empty());
    assert_eq!(
        fixture
            .tools
            .call(&fixture.tenant, "mcp_lookup_order", "{}"),
        Err(McpError::NotConfigured)
    );
}

#[test]
fn mcp_tools_slow_wrong_key_and_dead_servers_fail_soft() {
    let mcp = McpToolsServer::start(Some(KEY), Answers::Sse);
    let fixture = Fixture::new(2, 300);
    fixture.configure(&mcp.url, Some(KEY), 10);
    assert_eq!(fixture.offered_names().len(), ALL_TOOLS.len());

    let started = Instant::now();
    let result = fixture
        .tools
        .call(&fixture.tenant, "mcp_slow_report", r#"{"seconds": 30}"#);
    assert_eq!(result, Err(McpError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A wrong key: no tools, a logged reason, never the key.
    let wrong = "mcpkey-wrong-0000000000000000000000000";
    fixture.configure(&mcp.url, Some(wrong), 10);
    assert!(fixture.offered_names().is_empty());
    let logs = captured();
    assert!(
        logs.iter()
            .any(|l| l.contains("mcp: tenant shop offers no MCP tools")
                && l.contains("refused the API key")),
        "{logs:#?}"
    );
    assert!(logs.iter().all(|l| !l.contains(KEY) && !l.contains(wrong)));

    // A dead server (nothing listens on the port): no tools, quickly, and a call fails.
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());
    fixture.configure(&dead, Some(KEY), 10);
    let started = Instant::now();
    assert!(fixture.offered_names().is_empty());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        captured()
            .iter()
            .any(|l| l.contains("offers no MCP tools") && l.contains("unreachable")),
    );
    // The failure is remembered for a while: the next turn does not try again.
    let started = Instant::now();
    assert!(fixture.offered_names().is_empty());
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(matches!(
        fixture
            .tools
            .call(&fixture.tenant, "mcp_lookup_order", "{}"),
        Err(McpError::UnknownTool(_))
    ));
}

// ---- End to end: the chat offers the MCP tools to the (fake) model and runs its call --------

#[test]
fn mcp_tools_are_offered_in_the_chat_and_their_results_reach_the_model() {
    use crate::support::fake_llm::{FakeBehaviour, ScriptStep, spawn_fake_llm};

    let mcp = McpToolsServer::start(Some(KEY), Answers::Sse);
    let fake = spawn_fake_llm(FakeBehaviour::Script(vec![
        // Turn 1: the model looks the order up, then answers from the result.
        ScriptStep::call("call_1", "mcp_lookup_order", r#"{"order_id":"A-42"}"#),
        ScriptStep::text("Your order A-42 has shipped."),
        // Turn 2: words only, which are not used: nothing relevant was found and no tool
        // acted, so the visitor gets the fallback rather than the model's own knowledge.
        ScriptStep::text("Anything else?"),
        // Turn 3, streamed to the visitor: the weather tool (a sanitised name), then words.
        ScriptStep::call("call_2", "mcp_get_weather", r#"{"city":"Lyon"}"#),
        ScriptStep::text("Sunny in Lyon today."),
        // Turn 4, the MCP server gone: with nothing to offer, the model is not called.
    ]));
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "fake-model"),
        ("ANIMAM_CHAT_MCP_ALLOW_HTTP_LOOPBACK", "true"),
    ]);
    let r = put(
        &server,
        json!({"mcpToolsUrl": mcp.url, "mcpToolsApiKey": KEY, "mcpToolsMaxTools": 20}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    let chat = |message: &str| {
        let body = json!({"message": message, "sessionId": "mcp-e2e", "stream": false});
        let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    };
    // Nothing in the corpus answers this: the MCP tools are what makes it worth the model.
    let reply = chat("Where is my order A-42?");
    assert_eq!(reply["message"], "Your order A-42 has shipped.", "{reply}");
    assert_eq!(
        reply["toolExecutions"],
        json!([{"name": "lookup_order", "type": "MCP", "success": true}])
    );
    assert_eq!(reply["toolResults"], json!({"lookup_order": true}));

    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let offered = requests[0].json()["tools"].clone();
    let lookup = offered
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "mcp_lookup_order")
        .unwrap_or_else(|| panic!("not offered: {offered}"));
    assert_eq!(
        lookup["function"]["parameters"]["properties"]["order_id"]["type"],
        "string"
    );
    assert_eq!(offered.as_array().unwrap().len(), ALL_TOOLS.len());
    // Round 2 carries the tool's result back to the model.
    let messages = requests[1].json()["messages"].clone();
    let last = messages.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "tool");
    assert_eq!(last["tool_call_id"], "call_1");
    let content: Value = serde_json::from_str(last["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content,
        json!({"success": true, "result": "Order A-42: shipped on 2026-12-01, arriving Tuesday."})
    );
    assert_eq!(mcp.count("tools/call"), 1);

    // The next turn reuses the discovered tools.
    let reply = chat("Thanks! Where is order B-7?");
    assert_eq!(reply["llmSource"], "retrieval", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Sorry, I don't have information")),
        "{reply}"
    );
    assert_eq!(reply["toolExecutions"], json!([]));
    assert_eq!(mcp.count("tools/list"), 1, "{:#?}", mcp.requests());
    assert!(
        fake.last_request().unwrap().json()["tools"]
            .as_array()
            .is_some_and(|t| t.len() == ALL_TOOLS.len())
    );

    // Streamed (SSE), the same loop runs and `done` carries the executions.
    let body = json!({"message": "Weather in Lyon?", "sessionId": "mcp-e2e", "stream": true});
    let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
    let events = crate::chat::sse_events(&r.text);
    let (event, done) = events.last().unwrap().clone();
    assert_eq!(event, "done", "{}", r.text);
    assert_eq!(
        done["toolExecutions"],
        json!([{"name": "get.weather", "type": "MCP", "success": true}])
    );
    assert!(r.text.contains("Sunny in Lyon today."), "{}", r.text);
    let messages = fake.last_request().unwrap().json()["messages"].clone();
    let last = messages.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["content"].as_str().unwrap().contains("Sunny in Lyon."),
        "{last}"
    );

    // The server dies: the chat goes on without its tools, and the reason is logged.
    drop(mcp);
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());
    put(&server, json!({"mcpToolsUrl": dead}));
    let started = Instant::now();
    let asked = fake.request_count();
    let reply = chat("And order C-9?");
    assert_eq!(reply["llmSource"], "retrieval", "{reply}");
    assert_eq!(reply["toolExecutions"], json!([]));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        fake.request_count(),
        asked,
        "the model was called with no tools"
    );
    assert!(server.log_shows("offers no MCP tools"));

    let log = server.log();
    assert!(!log.contains(KEY), "the key is in the log");
    assert!(
        !log.contains("Bearer"),
        "an Authorization header is in the log"
    );
    let conversations = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    assert_eq!(conversations["conversations"][0]["toolCallsCount"], 2);
}
