//! Visitors and memory: CRUD in the hosted API's shapes, unique identifiers, chats linked by
//! `visitorId` or `X-Visitor-Id`, facts in the LLM prompt, and a delete that takes the
//! visitor's conversations and memory with it.

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_llm::{FakeBehaviour, spawn_fake_llm};

const BASE: &str = "/tenants/acme/visitors";

fn chat(server: &Server, body: Value, headers: &[(&str, &str)]) -> Value {
    let r = server.request("POST", "/chat/acme", headers, Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[test]
fn visitors_memory_and_linked_conversations() {
    let server = Server::start();
    let r = server.post(
        BASE,
        &server.admin,
        &json!({"email": "ann@example.com", "displayName": "Ann", "metadata": {"plan": "pro"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let ann = r.json()["id"].as_str().unwrap().to_string();
    assert!(ann.starts_with("vis_"));
    let bob = server
        .post(
            BASE,
            &server.admin,
            &json!({"externalId": "crm-42", "phone": "+33612345678"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Validation and uniqueness.
    for (body, message) in [
        (
            json!({"displayName": "Nobody"}),
            "email: a visitor needs an email or an externalId",
        ),
        (
            json!({"email": "not-an-email"}),
            "email: must be an email address",
        ),
        (
            json!({"externalId": "x", "phone": "0612"}),
            "phone: must be an E.164 phone number like +33123456789",
        ),
        (
            json!({"externalId": "x", "metadata": [1]}),
            "metadata: must be an object",
        ),
        (
            json!({"externalId": "x", "id": "vis_me"}),
            "id: is read-only",
        ),
    ] {
        server
            .post(BASE, &server.admin, &body)
            .assert_error(400, message, "validation_failed");
    }
    let dup = server.post(BASE, &server.admin, &json!({"email": "ANN@example.com"}));
    assert_eq!(dup.status, 409, "{}", dup.text);

    // List, search, paging.
    let list = server.get(BASE, &server.admin).json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["limit"], 50);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["visitors"][0]["id"], bob, "newest first");
    let found = server
        .get(&format!("{BASE}?search=crm-4"), &server.admin)
        .json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["visitors"][0]["externalId"], "crm-42");
    let page = server
        .get(&format!("{BASE}?limit=1&offset=1"), &server.admin)
        .json();
    assert_eq!(page["visitors"][0]["id"], ann);
    assert_eq!(
        server
            .get(&format!("{BASE}?limit=201"), &server.admin)
            .status,
        400
    );

    // Memory: create, update, list, forget.
    let memory = format!("{BASE}/{ann}/memory");
    let r = server.post(
        &memory,
        &server.admin,
        &json!({"key": "language", "value": "fr"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["source"], "api");
    let r = server.post(
        &memory,
        &server.admin,
        &json!({"key": "language", "value": "de"}),
    );
    assert_eq!(r.status, 200, "an existing key is updated");
    server.post(
        &memory,
        &server.admin,
        &json!({"key": "plan", "value": "pro"}),
    );
    server
        .post(
            &memory,
            &server.admin,
            &json!({"key": "no spaces", "value": "x"}),
        )
        .assert_error(
            400,
            "key: must be 1 to 100 letters, digits, _, - or .",
            "validation_failed",
        );
    let facts = server.get(&memory, &server.admin).json();
    assert_eq!(facts["memory"][0]["key"], "language");
    assert_eq!(facts["memory"][0]["value"], "de");
    assert_eq!(
        server
            .delete(&format!("{memory}/plan"), &server.admin)
            .json(),
        json!({"deleted": true, "key": "plan"})
    );
    assert_eq!(
        server
            .delete(&format!("{memory}/plan"), &server.admin)
            .status,
        404
    );

    // Chats: linked by body or header; an unknown id is not stored.
    chat(
        &server,
        json!({"message": "hello", "sessionId": "s1", "visitorId": ann, "stream": false}),
        &[],
    );
    chat(
        &server,
        json!({"message": "hi", "sessionId": "s2", "stream": false}),
        &[("x-visitor-id", &ann)],
    );
    chat(
        &server,
        json!({"message": "hey", "sessionId": "s3", "visitorId": "vis_nobody", "stream": false}),
        &[],
    );
    chat(
        &server,
        json!({"message": "yo", "sessionId": "s4", "visitorId": bob, "stream": false}),
        &[],
    );
    let detail = server.get(&format!("{BASE}/{ann}"), &server.admin).json();
    assert_eq!(detail["conversationCount"], 2);
    assert_eq!(detail["memoryCount"], 1);
    let mine = server
        .get(
            &format!("/tenants/acme/conversations?visitorId={ann}"),
            &server.admin,
        )
        .json();
    assert_eq!(mine["pagination"]["total"], 2);
    let all = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    let stranger = all["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sessionId"] == "s3")
        .unwrap()["id"]
        .clone();
    let stranger = server
        .get(
            &format!("/tenants/acme/conversations/{}", stranger.as_str().unwrap()),
            &server.admin,
        )
        .json();
    assert_eq!(
        stranger["visitorId"],
        json!(null),
        "unknown visitor ids are not stored"
    );

    // PATCH only what is given; identifiers stay unique.
    let r = server.patch(
        &format!("{BASE}/{ann}"),
        &server.admin,
        &json!({"displayName": "Ann B."}),
    );
    assert_eq!(r.json()["displayName"], "Ann B.");
    assert_eq!(r.json()["email"], "ann@example.com");
    let r = server.patch(
        &format!("{BASE}/{bob}"),
        &server.admin,
        &json!({"email": "ann@example.com"}),
    );
    assert_eq!(r.status, 409);

    // Delete: the visitor, its memory and its conversations go; others stay.
    assert_eq!(
        server
            .delete(&format!("{BASE}/{ann}"), &server.admin)
            .status,
        200
    );
    assert_eq!(
        server.get(&format!("{BASE}/{ann}"), &server.admin).status,
        404
    );
    assert_eq!(server.get(&memory, &server.admin).status, 404);
    let left = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    assert_eq!(left["pagination"]["total"], 2, "s3 and s4 remain: {left}");
    // The email is free again, and a new chat with the old session starts afresh.
    assert_eq!(
        server
            .post(BASE, &server.admin, &json!({"email": "ann@example.com"}))
            .status,
        201
    );
    let again = chat(
        &server,
        json!({"message": "back", "sessionId": "s1", "stream": false}),
        &[],
    );
    assert_eq!(again["messageCount"], 2);
    // Other tenants see none of it.
    assert_eq!(
        server
            .get(
                &format!("/tenants/acme/visitors/{bob}"),
                &server.other_admin
            )
            .status,
        404
    );
}

#[test]
fn the_llm_hears_what_is_remembered_about_the_visitor() {
    let fake = spawn_fake_llm(FakeBehaviour::Stream(vec!["Noted.".into()]));
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "m"),
    ]);
    server.corpus(
        &json!({"title": "Refund policy", "content": "Refunds are issued within 30 days."}),
    );
    let id = server
        .post(BASE, &server.admin, &json!({"externalId": "crm-7"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.post(
        &format!("{BASE}/{id}/memory"),
        &server.admin,
        &json!({"key": "preferred_name", "value": "Max"}),
    );
    chat(
        &server,
        json!({"message": "How long do refunds take?", "sessionId": "m1", "visitorId": id, "stream": false}),
        &[],
    );
    let sent = fake.last_request().unwrap().json();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("- preferred_name: Max"), "{system}");
}
