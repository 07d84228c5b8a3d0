//! The public chat end to end: grounded answers, fallback, sessions, SSE, agents, CORS,
//! activation, quotas, budgets, and the optional LLM against a fake endpoint.

use serde_json::{Value, json};

use crate::support::fake_llm::{FakeBehaviour, spawn_fake_llm};
use crate::support::{Resp, Server, ids};

fn ask(server: &Server, body: Value, headers: &[(&str, &str)]) -> Resp {
    server.request("POST", "/chat/acme", headers, Some(&body.to_string()))
}

fn ask_json(server: &Server, message: &str, session: &str) -> Value {
    let r = ask(
        server,
        json!({"message": message, "sessionId": session, "stream": false}),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// Parses an SSE body into (event, data) pairs.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (
                event,
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")),
            )
        })
        .collect()
}

/// A small support corpus; returns (refund, shipping, hours) ids.
fn seed(server: &Server) -> (String, String, String) {
    let refund = server.corpus(&json!({
        "title": "Refund policy",
        "content": "Our company was founded in 1990. Refunds are issued within 30 days of purchase, to the original payment method. Gift cards cannot be refunded.",
        "tags": ["billing"]
    }));
    let shipping = server.corpus(&json!({
        "title": "Shipping",
        "content": "We ship to every country in the European Union. Delivery takes 3 to 5 working days."
    }));
    let hours = server.corpus(&json!({
        "title": "Horaires d'ouverture",
        "content": "Le service client est joignable du lundi au vendredi, de 9h à 18h. Le remboursement est effectué sous 30 jours."
    }));
    (refund, shipping, hours)
}

#[test]
fn questions_are_answered_from_the_right_entry() {
    let server = Server::start();
    let (refund, shipping, hours) = seed(&server);
    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"botName": "Maxine"}),
    );

    let v = ask_json(&server, "How long do refunds take?", "s1");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Refunds are issued within 30 days"),
        "{v}"
    );
    assert!(
        !v["message"].as_str().unwrap().contains("founded in 1990"),
        "the passage, not the whole entry: {v}"
    );
    assert_eq!(
        v["sources"][0],
        json!({"id": refund, "title": "Refund policy"})
    );
    assert_eq!(v["llmSource"], "retrieval");
    assert_eq!(v["visitorType"], "human");
    assert_eq!(v["sessionId"], "s1");
    assert!(v["conversationId"].as_str().unwrap().starts_with("conv_"));
    assert_eq!(v["messageCount"], 2);
    assert!(v.get("agentModel").is_none());

    let v = ask_json(&server, "Do you deliver to the European Union?", "s2");
    assert_eq!(v["sources"][0]["id"], shipping.as_str(), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Delivery takes 3 to 5 working days")
            || v["message"].as_str().unwrap().contains("European Union")
    );

    let v = ask_json(&server, "Quand le service client est-il joignable ?", "s3");
    assert_eq!(v["sources"][0]["id"], hours.as_str(), "{v}");

    let v = ask_json(&server, "What is the capital of Mongolia?", "s4");
    assert_eq!(v["sources"], json!([]), "{v}");
    let text = v["message"].as_str().unwrap();
    assert!(
        text.starts_with("Sorry, I don't have information about that."),
        "{text}"
    );
    assert!(
        !text.contains("I'm Maxine"),
        "the name is not forced in: {text}"
    );
    assert_eq!(v["llmSource"], "retrieval");
}

#[test]
fn fallback_offers_the_segment_starters() {
    let server = Server::start();
    seed(&server);
    server.patch(
        "/tenants/acme/segments/general",
        &server.admin,
        &json!({"conversationStarters": [{"text": "Track my parcel", "emoji": "📦"}]}),
    );
    let v = ask_json(&server, "Tell me a joke about penguins", "s");
    let text = v["message"].as_str().unwrap();
    assert!(text.contains("- Track my parcel"), "{v}");
    assert!(
        !text.contains('📦'),
        "allowEmojis is off by default: {text}"
    );
    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"allowEmojis": true}),
    );
    let v = ask_json(&server, "Tell me a joke about penguins", "s2");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("📦 Track my parcel"),
        "{v}"
    );
}

#[test]
fn one_conversation_per_session_across_turns() {
    let server = Server::start();
    seed(&server);
    let first = ask_json(&server, "How long do refunds take?", "session-a");
    let second = ask_json(&server, "And shipping?", "session-a");
    assert_eq!(first["conversationId"], second["conversationId"]);
    assert_eq!(second["messageCount"], 4);
    let other = ask_json(&server, "Hello", "session-b");
    assert_ne!(other["conversationId"], first["conversationId"]);
    assert_eq!(
        server.get("/tenants/acme", &server.admin).json()["conversationsUsed"],
        2
    );

    let id = first["conversationId"].as_str().unwrap();
    let c = server
        .get(&format!("/tenants/acme/conversations/{id}"), &server.admin)
        .json();
    let roles: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["user", "assistant", "user", "assistant"]);
    assert_eq!(c["messages"][2]["content"], "And shipping?");
    assert_eq!(c["messages"][3]["content"], second["message"]);
}

#[test]
fn humans_get_sse_by_default() {
    let server = Server::start();
    let (refund, _, _) = seed(&server);
    let r = ask(
        &server,
        json!({"message": "refund delay?", "sessionId": "sse"}),
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&r.text);
    let (last, deltas) = events.split_last().unwrap();
    assert_eq!(last.0, "done");
    assert!(deltas.len() > 1, "several delta frames");
    assert!(
        deltas
            .iter()
            .all(|(e, d)| e == "delta" && d["text"].is_string())
    );
    let streamed: String = deltas
        .iter()
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, last.1["message"].as_str().unwrap());
    assert_eq!(last.1["sources"][0]["id"], refund.as_str());
    assert_eq!(last.1["messageCount"], 2);
    // Stored before the stream ended.
    let id = last.1["conversationId"].as_str().unwrap();
    let c = server
        .get(&format!("/tenants/acme/conversations/{id}"), &server.admin)
        .json();
    assert_eq!(c["messages"][1]["content"], last.1["message"]);
}

#[test]
fn agents_are_detected_and_get_json() {
    let server = Server::start();
    seed(&server);
    let r = ask(
        &server,
        json!({"message": "refund?", "sessionId": "bot-1"}),
        &[("x-agent-model", "gpt-4o")],
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    assert_eq!(v["visitorType"], "agent");
    assert_eq!(v["agentModel"], "gpt-4o");

    let v = ask(
        &server,
        json!({"message": "[AGENT:claude-x] refund?", "sessionId": "bot-2"}),
        &[],
    )
    .json();
    assert_eq!(v["visitorType"], "agent");
    assert_eq!(v["agentModel"], "claude-x");
    let c = server
        .get(
            &format!(
                "/tenants/acme/conversations/{}",
                v["conversationId"].as_str().unwrap()
            ),
            &server.admin,
        )
        .json();
    assert_eq!(c["messages"][0]["content"], "refund?", "marker stripped");
    assert_eq!(c["visitorType"], "agent");
    assert_eq!(c["agentModel"], "claude-x");

    let r = ask(
        &server,
        json!({"message": "refund?", "sessionId": "bot-3", "stream": true}),
        &[("x-agent-model", "gpt-4o")],
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "explicit stream wins"
    );
}

#[test]
fn cors_allows_listed_origins_and_refuses_others() {
    let server = Server::start();
    seed(&server);
    let body = json!({"message": "refund?", "sessionId": "cors", "stream": false});
    let r = ask(&server, body.clone(), &[("origin", "https://evil.example")]);
    assert_eq!(r.status, 200, "empty allowedDomains allows any origin");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://evil.example")
    );

    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"allowedDomains": ["*.acme.com", "localhost:3000"]}),
    );
    let r = ask(
        &server,
        body.clone(),
        &[("origin", "https://shop.acme.com")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.acme.com")
    );
    let r = ask(&server, body.clone(), &[("origin", "https://evil.example")]);
    r.assert_error(
        403,
        "Origin not allowed for this tenant",
        "origin_not_allowed",
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(
        ask(&server, body.clone(), &[]).status,
        200,
        "no Origin: server-to-server"
    );

    let pre = server.request(
        "OPTIONS",
        "/chat/acme",
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert!(
        pre.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        pre.header("access-control-allow-headers")
            .unwrap()
            .to_lowercase()
            .contains("content-type")
    );
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    for documented in [
        "x-agent-model",
        "x-visitor-id",
        "x-visitor-token",
        "x-animam-locale",
    ] {
        assert!(allowed.contains(documented), "{documented} in {allowed}");
    }
    let pre = server.request(
        "OPTIONS",
        "/chat/acme",
        &[("origin", "http://localhost:4000")],
        None,
    );
    pre.assert_error(
        403,
        "Origin not allowed for this tenant",
        "origin_not_allowed",
    );

    let c = server
        .get("/tenants/acme/conversations?channel=widget", &server.admin)
        .json();
    assert!(c["pagination"]["total"].as_u64().unwrap() >= 1);
}

#[test]
fn inactive_tenants_answer_only_localhost() {
    let server = Server::start();
    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"isActivated": false}),
    );
    let body = json!({"message": "hi", "sessionId": "x", "stream": false});
    ask(&server, body.clone(), &[("origin", "https://acme.com")]).assert_error(
        403,
        "This bot is not activated",
        "tenant_inactive",
    );
    ask(&server, body.clone(), &[]).assert_error(
        403,
        "This bot is not activated",
        "tenant_inactive",
    );
    assert_eq!(
        ask(&server, body, &[("origin", "http://localhost:5173")]).status,
        200
    );
}

#[test]
fn chat_requests_are_validated() {
    let server = Server::start();
    for (body, message) in [
        (json!({"sessionId": "s"}), "message: is required"),
        (
            json!({"message": "", "sessionId": "s"}),
            "message: must be 1 to 15000 characters",
        ),
        (
            json!({"message": "x".repeat(15_001), "sessionId": "s"}),
            "message: must be 1 to 15000 characters",
        ),
        (json!({"message": "hi"}), "sessionId: is required"),
        (
            json!({"message": "hi", "sessionId": "s".repeat(101)}),
            "sessionId: must be 1 to 100 characters",
        ),
        (
            json!({"message": "hi", "sessionId": "s", "segment": "nope"}),
            "segment: no active segment 'nope'",
        ),
        (
            json!({"message": "[AGENT:x]  ", "sessionId": "s"}),
            "message: must have text after the [AGENT:...] marker",
        ),
    ] {
        ask(&server, body, &[]).assert_error(400, message, "validation_failed");
    }
    assert_eq!(
        ask(
            &server,
            json!({"message": "x".repeat(15_000), "sessionId": "s", "stream": false}),
            &[]
        )
        .status,
        200
    );
    server
        .request(
            "POST",
            "/chat/nosuch",
            &[],
            Some(r#"{"message":"hi","sessionId":"s"}"#),
        )
        .assert_error(404, "Tenant not found", "tenant_not_found");
    let r = server.request("POST", "/chat/acme", &[], Some("{broken"));
    assert_eq!(r.json()["code"], "invalid_json");
}

#[test]
fn public_chat_has_a_per_ip_budget() {
    let server = Server::start_with(&[("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "2")]);
    let body = json!({"message": "hi", "sessionId": "s", "stream": false});
    assert_eq!(ask(&server, body.clone(), &[]).status, 200);
    assert_eq!(ask(&server, body.clone(), &[]).status, 200);
    let r = ask(&server, body, &[]);
    r.assert_error(429, "Rate limit exceeded", "rate_limited");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
}

#[test]
fn public_chat_has_a_per_tenant_budget() {
    let server = Server::start_with(&[("ANIMAM_CHAT_RATE_LIMIT_PER_TENANT_PER_MINUTE", "2")]);
    let body = json!({"message": "hi", "sessionId": "s", "stream": false});
    assert_eq!(ask(&server, body.clone(), &[]).status, 200);
    assert_eq!(ask(&server, body.clone(), &[]).status, 200);
    ask(&server, body.clone(), &[]).assert_error(429, "Rate limit exceeded", "rate_limited");
    let other = server.request("POST", "/chat/globex", &[], Some(&body.to_string()));
    assert_eq!(
        other.status, 200,
        "another tenant has its own budget: {}",
        other.text
    );
}

#[test]
fn conversation_quota_stops_new_sessions_only() {
    let server = Server::start();
    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"conversationsLimit": 1}),
    );
    ask_json(&server, "hi", "first");
    ask(
        &server,
        json!({"message": "hi", "sessionId": "second", "stream": false}),
        &[],
    )
    .assert_error(
        403,
        "Conversation limit reached for this tenant",
        "quota_exceeded",
    );
    assert_eq!(ask_json(&server, "again", "first")["messageCount"], 4);
}

#[test]
fn segments_isolate_their_entries() {
    let server = Server::start();
    for name in ["Pricing", "Support"] {
        server.post(
            "/tenants/acme/segments",
            &server.admin,
            &json!({"name": name}),
        );
    }
    let pricing = server.corpus(&json!({"title": "Enterprise plan", "content": "The enterprise plan costs 99 euros per seat.", "segment": "pricing"}));
    let global = server.corpus(
        &json!({"title": "Company", "content": "Acme sells enterprise software to banks."}),
    );
    let ask_in = |segment: &str, question: &str| {
        let r = ask(
            &server,
            json!({"message": question, "sessionId": format!("{segment}-{question}"), "segment": segment, "stream": false}),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r.json()["sources"])
    };
    let cost = "How much does the enterprise plan cost?";
    assert_eq!(ask_in("pricing", cost).first(), Some(&pricing));
    let support = ask_in("support", cost);
    assert!(!support.contains(&pricing), "{support:?}");
    let customers = ask_in("support", "Who does Acme sell its software to?");
    assert_eq!(
        customers.first(),
        Some(&global),
        "global entries reach every segment"
    );
}

#[test]
fn conversations_list_filters_and_export() {
    let server = Server::start();
    seed(&server);
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Sales"}),
    );
    ask(
        &server,
        json!({"message": "refund, \"quoted\", with commas\nand a newline", "sessionId": "h1", "stream": false, "pageUrl": "https://acme.com/help"}),
        &[
            ("user-agent", "TestBrowser/1.0"),
            ("referer", "https://acme.com/"),
        ],
    );
    ask(
        &server,
        json!({"message": "shipping?", "sessionId": "a1", "stream": false, "segment": "sales"}),
        &[("x-agent-model", "bot")],
    );
    ask(
        &server,
        json!({"message": "hours?", "sessionId": "w1", "stream": false}),
        &[("origin", "https://acme.com")],
    );

    let list = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    assert_eq!(list["pagination"]["total"], 3);
    let sessions: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(sessions, vec!["w1", "a1", "h1"], "newest first");
    let first = &list["conversations"][2];
    assert_eq!(
        first["preview"],
        "refund, \"quoted\", with commas\nand a newline"
    );
    assert_eq!(first["messageCount"], 2);
    // The hosted API's names for the same facts.
    assert_eq!(first["createdAt"], first["startedAt"]);
    assert_eq!(first["firstUserMessage"], first["preview"]);
    assert_eq!(first["pageUrl"], "https://acme.com/help");
    assert_eq!(list["conversations"][0]["pageUrl"], json!(null));
    for key in [
        "id",
        "segment",
        "channel",
        "visitorType",
        "startedAt",
        "lastMessageAt",
    ] {
        assert!(first.get(key).is_some(), "{key}");
    }

    let count = |query: &str| {
        server
            .get(
                &format!("/tenants/acme/conversations?{query}"),
                &server.admin,
            )
            .json()["pagination"]["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("visitorType=agent"), 1);
    assert_eq!(count("visitorType=human"), 2);
    assert_eq!(count("segment=sales"), 1);
    assert_eq!(count("channel=widget"), 1);
    assert_eq!(count("channel=api"), 2);
    assert_eq!(
        count("from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z"),
        3
    );
    assert_eq!(count("from=2999-01-01T00:00:00Z"), 0);
    // Dates alone are the day's start in UTC, as the hosted API's examples write them.
    assert_eq!(count("from=2000-01-01&to=2999-01-01"), 3);
    assert_eq!(count("from=2999-01-01"), 0);
    assert_eq!(count("limit=1&page=2"), 3);
    server
        .get("/tenants/acme/conversations?from=yesterday", &server.admin)
        .assert_error(
            400,
            "from: must be an RFC 3339 timestamp like 2024-01-15T10:30:00Z or a date like 2024-01-15",
            "validation_failed",
        );
    server
        .get(
            "/tenants/acme/conversations?visitorType=robot",
            &server.admin,
        )
        .assert_error(
            400,
            "visitorType: must be one of human, agent",
            "validation_failed",
        );

    let id = first["id"].as_str().unwrap();
    let detail = server
        .get(&format!("/tenants/acme/conversations/{id}"), &server.admin)
        .json();
    assert_eq!(
        detail["metadata"],
        json!({"userAgent": "TestBrowser/1.0", "referrer": "https://acme.com/",
               "pageUrl": "https://acme.com/help", "page": "https://acme.com/help"})
    );
    assert!(
        detail["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert!(
        detail["messages"][0]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    server
        .get("/tenants/acme/conversations/conv_nope", &server.admin)
        .assert_error(404, "Conversation not found", "not_found");
    server
        .get(
            &format!("/tenants/globex/conversations/{id}"),
            &server.other_admin,
        )
        .assert_error(404, "Conversation not found", "not_found");

    let export = server.get("/tenants/acme/conversations/export", &server.admin);
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        animam::api::conversations::CSV_HEADER
            .map(String::from)
            .to_vec()
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6, "one row per message");
    let h1: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[1] == "h1").collect();
    assert_eq!(&h1[0][7], "user");
    assert_eq!(
        &h1[0][8], "refund, \"quoted\", with commas\nand a newline",
        "RFC 4180 quoting round-trips"
    );
    assert_eq!(&h1[1][7], "assistant");
    let agents = server.get(
        "/tenants/acme/conversations/export?visitorType=agent",
        &server.admin,
    );
    assert_eq!(
        csv::Reader::from_reader(agents.text.as_bytes())
            .records()
            .count(),
        2,
        "same filters as the list"
    );
}

#[test]
fn an_llm_writes_the_answer_when_configured() {
    let fake = spawn_fake_llm(FakeBehaviour::Stream(vec![
        "Refunds ".into(),
        "take ".into(),
        "30 days.".into(),
    ]));
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "fake-model"),
        ("ANIMAM_CHAT_LLM_API_KEY_ENV", "FAKE_LLM_KEY"),
        ("FAKE_LLM_KEY", "sk-test-secret"),
    ]);
    seed(&server);
    server.patch(
        "/tenants/acme/segments/general",
        &server.admin,
        &json!({"systemPrompt": "Always be brief."}),
    );
    let first = ask_json(&server, "How long do refunds take?", "llm");
    assert_eq!(first["message"], "Refunds take 30 days.");
    assert_eq!(first["llmSource"], "llm");
    let request = fake.last_request().unwrap();
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer sk-test-secret")
    );
    let sent = request.json();
    assert_eq!(sent["model"], "fake-model");
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Always be brief.") && system.contains("Refunds are issued within 30 days"),
        "{system}"
    );
    assert!(
        system.contains("Content policy: safe for work") && !system.contains("years old"),
        "{system}"
    );

    let r = ask(
        &server,
        json!({"message": "And gift cards?", "sessionId": "llm"}),
        &[],
    );
    let events = crate::chat::sse_events(&r.text);
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        deltas,
        vec!["Refunds ", "take ", "30 days."],
        "LLM deltas forwarded as they come"
    );
    assert_eq!(events.last().unwrap().1["messageCount"], 4);
    let history = fake.last_request().unwrap().json()["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        history.len(),
        4,
        "system + previous exchange + question: {history:?}"
    );
    assert!(!server.log().contains("sk-test-secret"));
}

#[test]
fn general_questions_reach_the_llm_only_when_the_tenant_allows_it() {
    let fake = spawn_fake_llm(FakeBehaviour::Stream(vec!["Paris is the capital.".into()]));
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "fake-model"),
    ]);
    seed(&server);
    // Off by default: the fallback, and the model is not asked.
    let off = ask_json(&server, "What is the capital of France?", "general-off");
    assert_eq!(off["llmSource"], "retrieval", "{off}");
    assert_eq!(fake.request_count(), 0);

    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"answerGeneralQuestions": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["answerGeneralQuestions"], true);
    let on = ask_json(&server, "What is the capital of France?", "general-on");
    assert_eq!(on["message"], "Paris is the capital.");
    assert_eq!(on["llmSource"], "llm");
    assert_eq!(on["sources"], json!([]), "sources say what the answer used");
    assert_eq!(fake.request_count(), 1);

    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"answerGeneralQuestions": "yes"}),
    );
    r.assert_error(
        400,
        "answerGeneralQuestions: must be true or false",
        "validation_failed",
    );
}

#[test]
fn a_failing_llm_falls_back_to_retrieval() {
    for behaviour in [FakeBehaviour::Status(500), FakeBehaviour::Hang] {
        let fake = spawn_fake_llm(behaviour);
        let server = Server::start_with(&[
            ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
            ("ANIMAM_CHAT_LLM_MODEL", "m"),
            ("ANIMAM_CHAT_LLM_TIMEOUT_SECS", "1"),
        ]);
        let (refund, _, _) = seed(&server);
        let v = ask_json(&server, "How long do refunds take?", "s");
        assert_eq!(v["llmSource"], "retrieval");
        assert_eq!(v["sources"][0]["id"], refund.as_str());
        assert!(v["message"].as_str().unwrap().contains("within 30 days"));
        assert!(server.log_shows("answering from retrieval"));
    }
}

/// The hosted API truncates agent model names to 100 characters, and an `[AGENT:...]` marker
/// behaves exactly like the header, an empty one included.
#[test]
fn agent_names_are_truncated_and_markers_match_the_header() {
    let server = Server::start();
    let long = "m".repeat(150);
    let r = ask(
        &server,
        json!({"message": "hello", "sessionId": "a1", "stream": false}),
        &[("x-agent-model", &long)],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["visitorType"], "agent");
    assert_eq!(r.json()["agentModel"], "m".repeat(100));
    for (message, model) in [
        (format!("[AGENT:{long}] hello"), "m".repeat(100)),
        ("[AGENT:] hello".to_string(), "unknown".to_string()),
        ("[AGENT:   ] hello".to_string(), "unknown".to_string()),
    ] {
        let v = ask_json(&server, &message, &format!("a-{}", model.len()));
        assert_eq!(v["visitorType"], "agent", "{message}");
        assert_eq!(v["agentModel"], model.as_str(), "{message}");
    }
}
