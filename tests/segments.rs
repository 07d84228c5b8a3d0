//! Segments: the default `general`, CRUD, moving the default, and the 409s that keep one.

use serde_json::json;

use crate::support::Server;

const BASE: &str = "/tenants/acme/segments";

#[test]
fn every_tenant_starts_with_a_default_general_segment() {
    let server = Server::start();
    let list = server.get(BASE, &server.admin);
    assert_eq!(list.status, 200);
    let list = list.json();
    let segments = list.as_array().unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0]["slug"], "general");
    assert_eq!(segments[0]["isDefault"], true);
    assert!(
        segments[0].get("systemPrompt").is_none(),
        "listing leaves prompts out"
    );
    let one = server.get(&format!("{BASE}/general"), &server.admin).json();
    assert_eq!(one["systemPrompt"], "");
    assert_eq!(
        server
            .get(
                &format!("{BASE}/{}", one["id"].as_str().unwrap()),
                &server.admin
            )
            .json(),
        one
    );
}

#[test]
fn create_patch_move_default_delete() {
    let server = Server::start();
    let r = server.post(BASE, &server.admin, &json!({
        "name": "Après-vente", "systemPrompt": "Be brief.", "welcomeMessage": "Hello!",
        "conversationStarters": [{"text": "Where is my order?", "emoji": "📦"}, {"text": "Returns"},
                                 {"text": "Hours", "emoji": ""}]
    }));
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert_eq!(created["slug"], "apres-vente", "slug derived from the name");
    assert_eq!(
        created["conversationStarters"],
        json!([{"text": "Where is my order?", "emoji": "📦"}, {"text": "Returns", "emoji": null},
               {"text": "Hours", "emoji": null}]),
        "the hosted API's examples send an empty emoji for none"
    );
    assert!(created["id"].as_str().unwrap().starts_with("seg_"));
    assert_eq!(created["isDefault"], false);
    assert_eq!(created["isActive"], true);

    server
        .post(
            BASE,
            &server.admin,
            &json!({"name": "Other", "slug": "apres-vente"}),
        )
        .assert_error(
            409,
            "A segment with slug 'apres-vente' already exists",
            "conflict",
        );

    let r = server.patch(
        &format!("{BASE}/apres-vente"),
        &server.admin,
        &json!({"isDefault": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let general = server.get(&format!("{BASE}/general"), &server.admin).json();
    assert_eq!(general["isDefault"], false, "the default moved");
    let defaults = server.get(BASE, &server.admin).json();
    assert_eq!(
        defaults
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["isDefault"] == true)
            .count(),
        1
    );

    let default_msg =
        "A tenant must have a default segment: make another segment the default first";
    server
        .delete(&format!("{BASE}/apres-vente"), &server.admin)
        .assert_error(409, default_msg, "conflict");
    server
        .patch(
            &format!("{BASE}/apres-vente"),
            &server.admin,
            &json!({"isDefault": false}),
        )
        .assert_error(409, default_msg, "conflict");
    server
        .patch(
            &format!("{BASE}/apres-vente"),
            &server.admin,
            &json!({"isActive": false}),
        )
        .assert_error(409, "The default segment cannot be inactive", "conflict");

    let r = server.delete(&format!("{BASE}/general"), &server.admin);
    assert_eq!(r.json(), json!({"deleted": true, "id": general["id"]}));
    server
        .get(&format!("{BASE}/general"), &server.admin)
        .assert_error(404, "Segment not found", "not_found");
}

#[test]
fn segment_fields_are_validated() {
    let server = Server::start();
    for (body, message) in [
        (json!({}), "name: is required"),
        (json!({"name": ""}), "name: must be 1 to 100 characters"),
        (
            json!({"name": "x", "slug": "Bad Slug"}),
            "slug: must be 1-63 characters of a-z, 0-9 and -",
        ),
        (
            json!({"name": "!!!"}),
            "slug: is required when the name has no letters or digits",
        ),
        (
            json!({"name": "x", "conversationStarters": "hi"}),
            "conversationStarters: must be a list of {text, emoji}",
        ),
        (
            json!({"name": "x", "conversationStarters": [{"text": ""}]}),
            "conversationStarters[0].text: must be 1 to 200 characters",
        ),
        (
            json!({"name": "x", "conversationStarters": [{"text": "a", "icon": "x"}]}),
            "conversationStarters[0].icon: unknown field",
        ),
        (
            json!({"name": "x", "isActive": "yes"}),
            "isActive: must be true or false",
        ),
        (json!({"name": "x", "colour": 1}), "colour: unknown field"),
    ] {
        server
            .post(BASE, &server.admin, &body)
            .assert_error(400, message, "validation_failed");
    }
    server
        .patch(
            &format!("{BASE}/general"),
            &server.admin,
            &json!({"slug": "renamed"}),
        )
        .assert_error(
            400,
            "slug: cannot be changed (corpus entries refer to it)",
            "validation_failed",
        );
}

#[test]
fn corpus_entries_may_only_name_existing_segments() {
    let server = Server::start();
    server
        .post(
            "/tenants/acme/corpus",
            &server.admin,
            &json!({"title": "T", "content": "C", "segment": "pricing"}),
        )
        .assert_error(
            400,
            "segment: no segment 'pricing'; create it under /segments first",
            "validation_failed",
        );
    server.post(BASE, &server.admin, &json!({"name": "Pricing"}));
    let r = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "T", "content": "C", "segment": "pricing"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}
