//! Corpus CRUD, validation, listing and search over HTTP.

use serde_json::json;

use crate::support::{self, Server};

const BASE: &str = "/tenants/acme/corpus";

#[test]
fn create_get_patch_delete_round_trip() {
    let server = Server::start();
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Support"}),
    );
    let created = server.post(
        BASE,
        &server.admin,
        &json!({"title": "Refund policy", "content": "Refunds within 30 days.", "segment": "support", "priority": 8, "tags": ["billing"]}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let entry = created.json();
    let id = entry["id"].as_str().unwrap();
    assert!(id.starts_with("corp_"));
    assert_eq!(entry["title"], "Refund policy");
    assert_eq!(entry["segment"], "support");
    assert_eq!(entry["priority"], 8);
    assert_eq!(entry["tags"], json!(["billing"]));
    assert!(entry["createdAt"].as_str().unwrap().ends_with('Z'));

    let fetched = server.get(&format!("{BASE}/{id}"), &server.admin);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), entry);

    let patched = server.patch(
        &format!("{BASE}/{id}"),
        &server.admin,
        &json!({"title": "Refunds", "segment": null}),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    let patched = patched.json();
    assert_eq!(patched["title"], "Refunds");
    assert_eq!(patched["segment"], json!(null));
    assert_eq!(
        patched["content"], "Refunds within 30 days.",
        "untouched fields kept"
    );
    assert_eq!(patched["priority"], 8);

    let deleted = server.delete(&format!("{BASE}/{id}"), &server.admin);
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json(), json!({"deleted": true, "id": id}));
    server
        .get(&format!("{BASE}/{id}"), &server.admin)
        .assert_error(404, "Corpus entry not found", "not_found");
    server
        .delete(&format!("{BASE}/{id}"), &server.admin)
        .assert_error(404, "Corpus entry not found", "not_found");
    server
        .patch(
            &format!("{BASE}/{id}"),
            &server.admin,
            &json!({"title": "x"}),
        )
        .assert_error(404, "Corpus entry not found", "not_found");
}

#[test]
fn defaults_apply_when_optional_fields_are_absent() {
    let server = Server::start();
    let r = server.post(BASE, &server.admin, &json!({"title": "T", "content": "C"}));
    assert_eq!(r.status, 201);
    let v = r.json();
    assert_eq!(v["priority"], 5);
    assert_eq!(v["segment"], json!(null));
    assert_eq!(v["tags"], json!([]));
}

#[test]
fn every_field_limit_is_a_400_naming_the_field() {
    let server = Server::start();
    let ok = || json!({"title": "T", "content": "C"});
    let with = |key: &str, value: serde_json::Value| {
        let mut body = ok();
        body[key] = value;
        body
    };
    let cases = vec![
        (json!({"content": "C"}), "title: is required"),
        (json!({"title": "T"}), "content: is required"),
        (
            with("title", json!("")),
            "title: must be 1 to 200 characters",
        ),
        (
            with("title", json!("   ")),
            "title: must be 1 to 200 characters",
        ),
        (
            with("title", json!("x".repeat(201))),
            "title: must be 1 to 200 characters",
        ),
        (
            with("content", json!("")),
            "content: must be 1 to 50000 characters",
        ),
        (
            with("content", json!("x".repeat(50_001))),
            "content: must be 1 to 50000 characters",
        ),
        (
            with("priority", json!(0)),
            "priority: must be a whole number from 1 to 10",
        ),
        (
            with("priority", json!(11)),
            "priority: must be a whole number from 1 to 10",
        ),
        (
            with("tags", json!(vec!["t"; 21])),
            "tags: must have at most 20 entries",
        ),
        (
            with("tags", json!(["ok", ""])),
            "tags[1]: must be 1 to 50 characters",
        ),
        (
            with("tags", json!(["x".repeat(51)])),
            "tags[0]: must be 1 to 50 characters",
        ),
        (
            with("segment", json!("Not A Slug")),
            "segment: must be a segment slug (1-63 characters of a-z, 0-9 and -)",
        ),
    ];
    for (body, message) in cases {
        server
            .post(BASE, &server.admin, &body)
            .assert_error(400, message, "validation_failed");
    }
    // Wrong JSON types name the field too.
    for (body, field) in [
        (with("title", json!(5)), "title"),
        (with("priority", json!("high")), "priority"),
        (with("priority", json!(5.5)), "priority"),
        (with("tags", json!("billing")), "tags"),
    ] {
        let r = server.post(BASE, &server.admin, &body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["code"], "validation_failed");
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{}",
            r.text
        );
    }
    let r = server.post(BASE, &server.admin, &with("colour", json!("red")));
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("colour"),
        "{}",
        r.text
    );
    // Limits are inclusive.
    let edge = json!({"title": "é".repeat(200), "content": "x".repeat(50_000), "priority": 10, "tags": vec!["t".repeat(50); 20]});
    assert_eq!(server.post(BASE, &server.admin, &edge).status, 201);
    // PATCH validates the same way.
    let id = server.corpus(&ok());
    server
        .patch(
            &format!("{BASE}/{id}"),
            &server.admin,
            &json!({"priority": 0}),
        )
        .assert_error(
            400,
            "priority: must be a whole number from 1 to 10",
            "validation_failed",
        );
}

#[test]
fn malformed_json_and_oversized_bodies() {
    let server = Server::start_with(&[("ANIMAM_MAX_BODY_KIB", "8")]);
    let auth = format!("Bearer {}", server.admin);
    let headers = [("authorization", auth.as_str())];
    let r = server.request("POST", BASE, &headers, Some("{\"title\": "));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_json");
    let r = server.request("POST", BASE, &headers, Some(""));
    assert_eq!(r.json()["code"], "invalid_json");
    let big = json!({"title": "T", "content": "x".repeat(9 * 1024)}).to_string();
    server
        .request("POST", BASE, &headers, Some(&big))
        .assert_error(
            413,
            "Request body is larger than the limit of 8 KiB",
            "payload_too_large",
        );
}

#[test]
fn list_paginates_newest_first_and_filters_by_segment() {
    let server = Server::start();
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Pricing"}),
    );
    let mut ids = Vec::new();
    for i in 0..25 {
        let segment = if i % 5 == 0 {
            json!("pricing")
        } else {
            json!(null)
        };
        ids.push(server.corpus(
            &json!({"title": format!("Entry {i}"), "content": "text", "segment": segment}),
        ));
    }
    let page1 = server.get(BASE, &server.admin).json();
    assert_eq!(
        page1["pagination"],
        json!({"page": 1, "limit": 20, "total": 25, "pages": 2})
    );
    let newest_first: Vec<String> = ids.iter().rev().take(20).cloned().collect();
    assert_eq!(support::ids(&page1["corpus"]), newest_first);

    let page2 = server
        .get(&format!("{BASE}?page=2&limit=20"), &server.admin)
        .json();
    assert_eq!(page2["corpus"].as_array().unwrap().len(), 5);
    assert_eq!(page2["corpus"][4]["id"], ids[0].as_str());

    let pricing = server
        .get(&format!("{BASE}?segment=pricing&limit=2"), &server.admin)
        .json();
    assert_eq!(
        pricing["pagination"],
        json!({"page": 1, "limit": 2, "total": 5, "pages": 3})
    );
    assert!(
        pricing["corpus"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["segment"] == "pricing")
    );

    for (query, message) in [
        ("limit=101", "limit: must be a whole number from 1 to 100"),
        ("limit=0", "limit: must be a whole number from 1 to 100"),
        ("page=0", "page: must be a whole number from 1 to 1000000"),
        ("page=abc", "page: must be a whole number from 1 to 1000000"),
    ] {
        server
            .get(&format!("{BASE}?{query}"), &server.admin)
            .assert_error(400, message, "validation_failed");
    }
}

#[test]
fn search_ranks_best_match_first_and_forgets_deleted_entries() {
    let server = Server::start();
    let refund = server.corpus(&json!({"title": "Refund policy", "content": "You can get a refund within 30 days of purchase.", "tags": ["billing"]}));
    let shipping = server.corpus(&json!({"title": "Shipping", "content": "We ship worldwide in 5 days. Refund questions go to billing."}));
    server.corpus(&json!({"title": "Opening hours", "content": "We are open Monday to Friday."}));

    assert_eq!(
        server.search_ids("refunds"),
        vec![refund.clone(), shipping.clone()]
    );
    let r = server
        .get(&format!("{BASE}?search=refunds"), &server.admin)
        .json();
    assert_eq!(r["pagination"]["total"], 2);

    server.delete(&format!("{BASE}/{refund}"), &server.admin);
    assert_eq!(server.search_ids("refund"), vec![shipping.clone()]);

    server.patch(
        &format!("{BASE}/{shipping}"),
        &server.admin,
        &json!({"content": "We ship worldwide."}),
    );
    assert!(
        server.search_ids("refund").is_empty(),
        "patched-away words no longer match"
    );

    let other = server
        .get(
            "/tenants/globex/corpus?search=shipping",
            &server.other_admin,
        )
        .json();
    assert_eq!(
        other["corpus"],
        json!([]),
        "tenants never see each other's entries"
    );
}

/// `summary` and `isActive` (hosted-API fields): an inactive entry is kept and listed, but
/// neither search nor the chat finds it until it is active again, across restarts too.
#[test]
fn inactive_entries_are_kept_but_never_searched_or_answered() {
    let mut server = Server::start();
    let r = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "Gift cards", "content": "Gift cards never expire.",
                "summary": "They never expire.", "isActive": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["summary"], "They never expire.");
    assert_eq!(r.json()["isActive"], false);
    let defaults = server.corpus(&json!({"title": "Other", "content": "Unrelated."}));
    let other = server
        .get(&format!("/tenants/acme/corpus/{defaults}"), &server.admin)
        .json();
    assert_eq!(other["summary"], json!(null));
    assert_eq!(other["isActive"], true);

    let searched = |server: &Server| {
        server
            .get("/tenants/acme/corpus?search=gift%20cards", &server.admin)
            .json()["pagination"]["total"]
            .as_u64()
            .unwrap()
    };
    let answered_from = |server: &Server| {
        let body = json!({"message": "Do gift cards expire?", "sessionId": "s", "stream": false});
        let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
        r.json()["sources"].as_array().map_or(0, |s| s.len() as u64)
    };
    let listed = server.get("/tenants/acme/corpus", &server.admin).json();
    assert_eq!(
        listed["pagination"]["total"], 2,
        "inactive entries are listed"
    );
    assert_eq!(searched(&server), 0);
    assert_eq!(answered_from(&server), 0);

    for (active, expected) in [(true, 1), (false, 0), (true, 1)] {
        let r = server.patch(
            &format!("/tenants/acme/corpus/{id}"),
            &server.admin,
            &json!({"isActive": active}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(searched(&server), expected, "isActive {active}");
        assert_eq!(answered_from(&server), expected, "isActive {active}");
    }
    let r = server.patch(
        &format!("/tenants/acme/corpus/{id}"),
        &server.admin,
        &json!({"isActive": false, "summary": null}),
    );
    assert_eq!(r.json()["summary"], json!(null));
    server.restart();
    assert_eq!(searched(&server), 0, "still inactive after a restart");
    server.kill();
    server.launch(&[]);
    assert_eq!(
        searched(&server),
        0,
        "and after a crash (index rebuilt from rows)"
    );
    let r = server.patch(
        &format!("/tenants/acme/corpus/{id}"),
        &server.admin,
        &json!({"isActive": "no"}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().starts_with("isActive"),
        "{}",
        r.text
    );
    let r = server.patch(
        &format!("/tenants/acme/corpus/{id}"),
        &server.admin,
        &json!({"summary": "x".repeat(1001)}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().starts_with("summary: "),
        "{}",
        r.text
    );
}
