//! The bot's tools: CRUD in the hosted API's shapes, each type's configuration validated,
//! hosted-only types refused in plain words.

use serde_json::json;

use crate::support::Server;

const BASE: &str = "/tenants/acme/tools";

#[test]
fn tools_are_created_listed_changed_and_deleted_with_their_config_checked() {
    let server = Server::start();
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Sales"}),
    );
    let form = json!({
        "name": "Contact form", "type": "SUBMIT_FORM", "segment": "sales", "position": 2,
        "config": {"fields": [
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]}
        ]}
    });
    let r = server.post(BASE, &server.admin, &form);
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tool_"));
    assert_eq!(created["segment"], "sales");
    assert_eq!(created["isActive"], true);
    let segment_id = server
        .get("/tenants/acme/segments/general", &server.admin)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = server.post(
        BASE,
        &server.admin,
        &json!({"name": "Memory", "type": "REMEMBER_FACT", "segmentId": segment_id,
                "config": {"keys": ["preferred_name"]}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["segment"], "general");
    server.post(
        BASE,
        &server.admin,
        &json!({"name": "Human", "type": "ESCALATE_TO_HUMAN"}),
    );

    let list = server.get(BASE, &server.admin).json();
    let names: Vec<&str> = list
        .as_array()
        .expect("a bare array")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Memory", "Human", "Contact form"],
        "by position, then age"
    );

    for (body, message) in [
        (
            json!({"name": "x", "type": "BOOK_MEETING"}),
            "type: BOOK_MEETING is not available self-hosted; available: SUBMIT_FORM, REMEMBER_FACT, ESCALATE_TO_HUMAN",
        ),
        (
            json!({"name": "x", "type": "TELEPORT"}),
            "type: must be one of SUBMIT_FORM, REMEMBER_FACT, ESCALATE_TO_HUMAN",
        ),
        (
            json!({"name": "x", "type": "SUBMIT_FORM", "config": {}}),
            "config.fields: must be a list of 1 to 20 fields",
        ),
        (
            json!({"name": "x", "type": "SUBMIT_FORM", "config": {"fields": [{"name": "a", "label": "A", "type": "date"}]}}),
            "config.fields[0].type: must be one of text, email, textarea, tel, select",
        ),
        (
            json!({"name": "x", "type": "SUBMIT_FORM", "config": {"fields": [{"name": "a", "label": "A", "type": "select"}]}}),
            "config.fields[0].options: a select needs 1 to 50 non-empty options",
        ),
        (
            json!({"name": "x", "type": "SUBMIT_FORM", "config": {"fields": [
            {"name": "a", "label": "A", "type": "text"}, {"name": "a", "label": "B", "type": "text"}]}}),
            "config.fields[1].name: is used by another field",
        ),
        (
            json!({"name": "x", "type": "ESCALATE_TO_HUMAN", "config": {"webhook": "x"}}),
            "config.webhook: unknown field",
        ),
        (
            json!({"name": "x", "type": "REMEMBER_FACT", "config": {"keys": ["no spaces"]}}),
            "config.keys[0]: must be 1 to 100 letters, digits, _, - or .",
        ),
        (
            json!({"name": "x", "type": "ESCALATE_TO_HUMAN", "segment": "nosuch"}),
            "segment: no segment 'nosuch'",
        ),
        (
            json!({"name": "", "type": "ESCALATE_TO_HUMAN"}),
            "name: must be 1 to 100 characters",
        ),
        (
            json!({"name": "x", "type": "ESCALATE_TO_HUMAN", "colour": "red"}),
            "colour: unknown field",
        ),
    ] {
        server
            .post(BASE, &server.admin, &body)
            .assert_error(400, message, "validation_failed");
    }

    // PATCH: only what is sent; a new config is checked against the tool's own type.
    let path = format!("{BASE}/{id}");
    let r = server.patch(
        &path,
        &server.admin,
        &json!({"isActive": false, "segment": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["isActive"], false);
    assert_eq!(r.json()["segment"], json!(null));
    assert_eq!(r.json()["config"]["fields"][0]["name"], "email");
    server
        .patch(&path, &server.admin, &json!({"config": {"message": "hi"}}))
        .assert_error(400, "config.message: unknown field", "validation_failed");
    server
        .patch(&path, &server.admin, &json!({"type": "REMEMBER_FACT"}))
        .assert_error(
            400,
            "type: is fixed at creation: create another tool",
            "validation_failed",
        );
    assert_eq!(
        server.get(&path, &server.admin).json()["name"],
        "Contact form"
    );

    assert_eq!(server.delete(&path, &server.admin).status, 200);
    assert_eq!(server.get(&path, &server.admin).status, 404);
    assert_eq!(server.get(&path, &server.other_admin).status, 404);
    assert_eq!(
        server
            .get(BASE, &server.admin)
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
