//! The bot as an agent: tools offered to a (fake) model, its calls run by the server and
//! their results sent back, bounded rounds, the reply envelope and conversations that keep
//! count; and the offline rules without an LLM.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_llm::{FakeBehaviour, FakeLlm, ScriptStep, spawn_fake_llm};

fn with_llm(fake: &FakeLlm) -> Server {
    Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "fake-model"),
    ])
}

fn tool(server: &Server, body: Value) -> String {
    let r = server.post("/tenants/acme/tools", &server.admin, &body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_string()
}

fn chat(server: &Server, body: Value) -> Value {
    let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn chat_sse(server: &Server, body: Value) -> Value {
    let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
    let events = crate::chat::sse_events(&r.text);
    let (event, done) = events.last().unwrap().clone();
    assert_eq!(event, "done", "{}", r.text);
    done
}

/// Each execution shows exactly name, type and success: never what the model sent.
fn assert_sanitised(reply: &Value, secret: &str) {
    for execution in reply["toolExecutions"].as_array().unwrap() {
        let mut keys: Vec<&String> = execution.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["name", "success", "type"], "{execution}");
    }
    assert!(
        !reply["toolExecutions"].to_string().contains(secret),
        "{reply}"
    );
}

fn conversations(server: &Server, query: &str) -> Vec<Value> {
    let r = server.get(
        &format!("/tenants/acme/conversations{query}"),
        &server.admin,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["conversations"].as_array().unwrap().clone()
}

#[test]
fn the_model_calls_tools_and_the_server_runs_them_and_reports_back() {
    let fake = spawn_fake_llm(FakeBehaviour::Script(vec![
        // Turn 1: a good call and one to a tool that does not exist, then bad JSON, then words.
        ScriptStep::ToolCalls(vec![
            (
                "call_1".into(),
                "remember_facts".into(),
                r#"{"key":"city","value":"Lyon-sur-Secret"}"#.into(),
            ),
            ("call_2".into(), "teleport".into(), "{}".into()),
        ]),
        ScriptStep::call("call_3", "remember_facts", r#"{"key": "#),
        ScriptStep::Text(vec!["Noted, ".into(), "Lyon.".into()]),
        // Turn 2, streamed to the visitor: escalation, then words.
        ScriptStep::TextThenCalls(
            vec!["One ".into(), "moment.".into()],
            vec![(
                "call_4".into(),
                "human_handover".into(),
                r#"{"reason":"asked for a person"}"#.into(),
            )],
        ),
        ScriptStep::text("A person will reply soon."),
    ]));
    let server = with_llm(&fake);
    tool(
        &server,
        json!({"name": "Remember facts", "type": "REMEMBER_FACT", "description": "Keep what the visitor says about themselves"}),
    );
    tool(
        &server,
        json!({"name": "Human handover", "type": "ESCALATE_TO_HUMAN"}),
    );
    // Inactive tools and other segments' tools are not offered.
    tool(
        &server,
        json!({"name": "Dormant", "type": "ESCALATE_TO_HUMAN", "isActive": false}),
    );
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Sales"}),
    );
    tool(
        &server,
        json!({"name": "Sales only", "type": "ESCALATE_TO_HUMAN", "segment": "sales"}),
    );
    let visitor = server
        .post(
            "/tenants/acme/visitors",
            &server.admin,
            &json!({"email": "ann@example.com"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let reply = chat(
        &server,
        json!({"message": "I live in Lyon, please keep that in mind", "sessionId": "s1",
               "visitorId": visitor, "stream": false}),
    );
    assert_eq!(reply["message"], "Noted, Lyon.");
    assert_eq!(reply["llmSource"], "llm");
    assert_eq!(
        reply["toolExecutions"],
        json!([
            {"name": "Remember facts", "type": "REMEMBER_FACT", "success": true},
            {"name": "Remember facts", "type": "REMEMBER_FACT", "success": false},
        ])
    );
    assert_eq!(reply["toolResults"], json!({"Remember facts": false}));
    assert_eq!(reply["contactSubmitted"], false);
    assert_eq!(reply["status"], "active");
    assert!(reply.get("form").is_none(), "{reply}");
    assert_sanitised(&reply, "Lyon-sur-Secret");

    let memory = server
        .get(
            &format!("/tenants/acme/visitors/{visitor}/memory"),
            &server.admin,
        )
        .json();
    let facts = memory
        .as_array()
        .or_else(|| memory["memory"].as_array())
        .or_else(|| memory["facts"].as_array())
        .unwrap_or_else(|| panic!("{memory}"));
    assert_eq!(facts[0]["key"], "city");
    assert_eq!(facts[0]["value"], "Lyon-sur-Secret");
    assert_eq!(facts[0]["source"], "chat");

    let requests: Vec<Value> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(requests.len(), 3);
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["remember_facts", "human_handover"]);
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("use the tools provided"), "{system}");
    let description = requests[0]["tools"][0]["function"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.starts_with("Remember a fact")
            && description.ends_with("Keep what the visitor says about themselves"),
        "{description}"
    );
    assert_eq!(
        requests[0]["tools"][0]["function"]["parameters"]["required"],
        json!(["key", "value"])
    );
    // Round 2 carries the assistant's calls and one result per call.
    let round2 = requests[1]["messages"].as_array().unwrap();
    let n = round2.len();
    assert_eq!(round2[n - 3]["role"], "assistant");
    assert_eq!(round2[n - 3]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        round2[n - 3]["tool_calls"][0]["function"]["arguments"],
        r#"{"key":"city","value":"Lyon-sur-Secret"}"#
    );
    assert_eq!(round2[n - 2]["role"], "tool");
    assert_eq!(round2[n - 2]["tool_call_id"], "call_1");
    let result: Value = serde_json::from_str(round2[n - 2]["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["success"], true);
    assert_eq!(round2[n - 1]["tool_call_id"], "call_2");
    assert!(
        round2[n - 1]["content"]
            .as_str()
            .unwrap()
            .contains("no tool is named 'teleport'")
    );
    let round3 = requests[2]["messages"].as_array().unwrap();
    let last = round3.last().unwrap();
    assert_eq!(last["tool_call_id"], "call_3");
    assert!(
        last["content"].as_str().unwrap().contains("not valid JSON"),
        "{last}"
    );

    // Streamed: text of both rounds as it comes, and the `done` event carries the same fields.
    let r = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(
            &json!({"message": "I would like a person to take over please", "sessionId": "s2", "stream": true})
                .to_string(),
        ),
    );
    let events = crate::chat::sse_events(&r.text);
    let streamed: String = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    let (last_event, done) = events.last().unwrap().clone();
    assert_eq!(last_event, "done", "{}", r.text);
    assert_eq!(done["message"], "One moment.\n\nA person will reply soon.");
    assert_eq!(streamed, done["message"].as_str().unwrap());
    assert_eq!(
        done["toolExecutions"],
        json!([{"name": "Human handover", "type": "ESCALATE_TO_HUMAN", "success": true}])
    );
    assert_eq!(done["toolResults"], json!({"Human handover": true}));
    assert_eq!(done["contactSubmitted"], false);
    assert_eq!(done["status"], "escalated");

    let all = conversations(&server, "");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["sessionId"], "s2");
    assert_eq!(all[0]["status"], "escalated");
    assert_eq!(all[0]["toolCallsCount"], 1);
    assert_eq!(all[1]["status"], "active");
    assert_eq!(all[1]["toolCallsCount"], 2);
    let escalated = conversations(&server, "?toolType=ESCALATE_TO_HUMAN");
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["sessionId"], "s2");
    let remembered = conversations(&server, "?toolType=REMEMBER_FACT");
    assert_eq!(remembered.len(), 1);
    assert_eq!(remembered[0]["sessionId"], "s1");
    assert!(conversations(&server, "?toolType=SUBMIT_FORM").is_empty());
    server
        .get(
            "/tenants/acme/conversations?toolType=TELEPORT",
            &server.admin,
        )
        .assert_error(
            400,
            "toolType: must be one of SUBMIT_FORM, REMEMBER_FACT, ESCALATE_TO_HUMAN",
            "validation_failed",
        );
    let id = escalated[0]["id"].as_str().unwrap();
    let detail = server
        .get(&format!("/tenants/acme/conversations/{id}"), &server.admin)
        .json();
    assert_eq!(detail["status"], "escalated");
    assert_eq!(detail["toolCallsCount"], 1);
    assert!(!server.log().contains("Lyon-sur-Secret"));
}

#[test]
fn rounds_are_bounded_and_failed_calls_never_break_the_chat() {
    // A model that never stops calling, in plain (non-streamed) JSON completions.
    let fake = spawn_fake_llm(FakeBehaviour::Script(vec![ScriptStep::JsonToolCalls(
        vec![(
            "call_x".into(),
            "memory".into(),
            r#"{"key":"pet","value":"cat"}"#.into(),
        )],
    )]));
    let server = with_llm(&fake);
    tool(&server, json!({"name": "Memory", "type": "REMEMBER_FACT"}));
    tool(
        &server,
        json!({"name": "Contact", "type": "SUBMIT_FORM", "config": {"fields": [
            {"name": "email", "label": "Email", "type": "email", "required": true}]}}),
    );
    // No visitor: the fact cannot be remembered, which the model is told.
    let reply = chat(
        &server,
        json!({"message": "I have a cat named Felix", "sessionId": "loop", "stream": false}),
    );
    assert_eq!(
        fake.request_count(),
        4,
        "3 rounds with tools, then the answer"
    );
    let requests: Vec<Value> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json())
        .collect();
    for request in &requests[..3] {
        assert!(request.get("tool_choice").is_none(), "{request}");
    }
    assert_eq!(requests[3]["tool_choice"], "none");
    let last = requests[3]["messages"].as_array().unwrap().last().unwrap();
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("not linked to a visitor"),
        "{last}"
    );
    // The model said nothing: the retrieval answer, and the failed calls.
    assert_eq!(reply["llmSource"], "retrieval");
    assert!(!reply["message"].as_str().unwrap().is_empty());
    assert_eq!(reply["toolExecutions"].as_array().unwrap().len(), 3);
    assert!(
        reply["toolExecutions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["success"] == false && e["type"] == "REMEMBER_FACT")
    );
    assert_eq!(reply["toolResults"], json!({"Memory": false}));
    assert_sanitised(&reply, "cat");
    assert!(server.log_shows("after 3 rounds"));

    // Bad form values are a failed execution reported to the model, not a 500; good ones are
    // stored as a submission.
    let fake = spawn_fake_llm(FakeBehaviour::Script(vec![
        ScriptStep::call("f1", "contact", r#"{"email":"not-an-email"}"#),
        ScriptStep::call(
            "f2",
            "contact",
            r#"{"email":"ann@example.com","topic":"Sales"}"#,
        ),
        ScriptStep::text("Thanks, we will write to you."),
    ]));
    let server = with_llm(&fake);
    tool(
        &server,
        json!({"name": "Contact", "type": "SUBMIT_FORM", "config": {"fields": [
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]}]}}),
    );
    let reply = chat(
        &server,
        json!({"message": "Please write to me at ann@example.com", "sessionId": "f", "stream": false}),
    );
    assert_eq!(reply["message"], "Thanks, we will write to you.");
    assert_eq!(
        reply["toolExecutions"],
        json!([
            {"name": "Contact", "type": "SUBMIT_FORM", "success": false},
            {"name": "Contact", "type": "SUBMIT_FORM", "success": true},
        ])
    );
    assert_eq!(reply["toolResults"], json!({"Contact": true}));
    assert_eq!(reply["contactSubmitted"], true);
    assert_sanitised(&reply, "ann@example.com");
    let requests: Vec<Value> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json())
        .collect();
    let form = &requests[0]["tools"][0]["function"];
    assert_eq!(form["name"], "contact");
    assert_eq!(form["parameters"]["properties"]["email"]["format"], "email");
    assert_eq!(
        form["parameters"]["properties"]["topic"]["enum"],
        json!(["Sales", "Support"])
    );
    assert_eq!(form["parameters"]["required"], json!(["email"]));
    let result_of = |request: &Value| {
        let last = request["messages"].as_array().unwrap().last().unwrap();
        let content = last["content"].as_str().unwrap();
        serde_json::from_str::<Value>(content).unwrap()
    };
    let refused = result_of(&requests[1]);
    assert_eq!(refused["success"], false);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("values.email: must be an email address"),
        "{refused}"
    );
    let stored = result_of(&requests[2]);
    assert_eq!(stored["success"], true);
    assert!(
        stored["submissionId"].as_str().unwrap().starts_with("sub_"),
        "{stored}"
    );
    let with_form = conversations(&server, "?toolType=SUBMIT_FORM");
    assert_eq!(with_form.len(), 1);
    assert_eq!(with_form[0]["toolCallsCount"], 2);
    // Stored once, with the values the store validated, and the session.
    let r = server.get("/tenants/acme/submissions", &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    let submissions = r.json()["submissions"].as_array().unwrap().clone();
    assert_eq!(submissions.len(), 1, "{submissions:?}");
    assert_eq!(submissions[0]["id"], stored["submissionId"]);
    assert_eq!(
        submissions[0]["values"],
        json!({"email": "ann@example.com", "topic": "Sales"})
    );
    assert_eq!(submissions[0]["sessionId"], "f");
    // Submitted before the first turn's conversation existed, linked to it all the same.
    assert_eq!(submissions[0]["conversationId"], with_form[0]["id"]);
    assert_eq!(submissions[0]["toolName"], "Contact");
}

#[test]
fn without_an_llm_the_bot_escalates_and_offers_the_form() {
    let server = Server::start();
    let plain = chat(
        &server,
        json!({"message": "Can someone call me back?", "sessionId": "none", "stream": false}),
    );
    // No tools: nothing changes, and the envelope still has its fields.
    assert_eq!(plain["toolExecutions"], json!([]));
    assert_eq!(plain["toolResults"], json!({}));
    assert_eq!(plain["contactSubmitted"], false);
    assert_eq!(plain["status"], "active");
    assert!(plain.get("form").is_none());

    let form_id = tool(
        &server,
        json!({"name": "Contact form", "type": "SUBMIT_FORM", "description": "We reply within a day",
               "config": {"submitLabel": "Call me", "fields": [
                   {"name": "email", "label": "Email", "type": "email", "required": true},
                   {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]}]}}),
    );
    let human = tool(
        &server,
        json!({"name": "Human", "type": "ESCALATE_TO_HUMAN",
               "config": {"message": "A colleague will take over shortly."}}),
    );

    let reply = chat(
        &server,
        json!({"message": "Can someone call me back?", "sessionId": "a", "stream": false}),
    );
    assert_eq!(reply["status"], "escalated");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.starts_with("A colleague will take over shortly."),
        "{message}"
    );
    assert_eq!(
        reply["toolExecutions"],
        json!([{"name": "Human", "type": "ESCALATE_TO_HUMAN", "success": true}])
    );
    assert_eq!(reply["form"]["toolId"], form_id.as_str());
    assert_eq!(reply["form"]["name"], "Contact form");
    assert_eq!(reply["form"]["description"], "We reply within a day");
    assert_eq!(reply["form"]["submitLabel"], "Call me");
    assert_eq!(
        reply["form"]["fields"],
        json!([
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "topic", "label": "Topic", "type": "select", "required": false,
             "options": ["Sales", "Support"]},
        ])
    );

    // French, streamed, without the escalation tool: the form only.
    server.patch(
        &format!("/tenants/acme/tools/{human}"),
        &server.admin,
        &json!({"isActive": false}),
    );
    let done = chat_sse(
        &server,
        json!({"message": "Je voudrais être rappelé", "sessionId": "b", "stream": true}),
    );
    assert_eq!(done["status"], "active");
    assert_eq!(done["toolExecutions"], json!([]));
    assert_eq!(done["form"]["toolId"], form_id.as_str());
    assert!(
        done["message"].as_str().unwrap().contains("formulaire"),
        "{done}"
    );

    // After a fallback the form is offered too, the answer unchanged.
    let fallback = chat(
        &server,
        json!({"message": "What is the airspeed of an unladen swallow?", "sessionId": "c", "stream": false}),
    );
    assert_eq!(fallback["form"]["toolId"], form_id.as_str());
    assert_eq!(fallback["status"], "active");

    // The widget posts the offered form to the public endpoint, with the session.
    let r = server.request(
        "POST",
        "/chat/acme/submissions",
        &[],
        Some(
            &json!({"sessionId": "a", "toolId": form_id, "values": {"email": "bo@example.com"}})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let submissions = server
        .get("/tenants/acme/submissions", &server.admin)
        .json()["submissions"]
        .clone();
    assert_eq!(submissions[0]["values"], json!({"email": "bo@example.com"}));

    let escalated = conversations(&server, "?toolType=ESCALATE_TO_HUMAN");
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["sessionId"], "a");
    assert_eq!(submissions[0]["conversationId"], escalated[0]["id"]);
    assert_eq!(escalated[0]["status"], "escalated");
    assert_eq!(escalated[0]["toolCallsCount"], 1);
}

#[test]
fn with_nothing_relevant_the_model_may_act_but_never_answers_from_its_own_knowledge() {
    let fake = spawn_fake_llm(FakeBehaviour::Script(vec![
        // A general question: the model answers it with words only.
        ScriptStep::text("Our business hours are 9 to 5."),
        // A request to act: the model calls the form, then confirms.
        ScriptStep::call("f1", "contact", r#"{"email":"ann@example.com"}"#),
        ScriptStep::text("Thanks, we will write to you."),
    ]));
    let server = with_llm(&fake);
    let form_id = tool(
        &server,
        json!({"name": "contact", "type": "SUBMIT_FORM",
               "config": {"fields": [{"name": "email", "label": "Email", "type": "email", "required": true}]}}),
    );

    // The model was asked (it might have acted), but its invented answer is not sent: the
    // visitor gets the fallback and the form, as without an LLM.
    let reply = chat(
        &server,
        json!({"message": "What are your business hours?", "sessionId": "g", "stream": false}),
    );
    assert_eq!(fake.request_count(), 1);
    assert_eq!(reply["llmSource"], "retrieval", "{reply}");
    assert!(
        !reply["message"].as_str().unwrap().contains("9 to 5"),
        "{reply}"
    );
    assert_eq!(reply["sources"], json!([]));
    assert_eq!(reply["form"]["toolId"], form_id.as_str());

    // Streamed, an acting turn: the model's words are sent once its tool call succeeded.
    let done = chat_sse(
        &server,
        json!({"message": "Please write to me at ann@example.com", "sessionId": "h", "stream": true}),
    );
    assert_eq!(done["llmSource"], "llm", "{done}");
    assert_eq!(done["message"], "Thanks, we will write to you.");
    assert_eq!(done["contactSubmitted"], true);
}
