//! Token management: creation shows the secret once, listing never does, scopes cannot be
//! escalated, revocation is immediate, last-used is tracked.

use serde_json::json;

use crate::support::Server;

const BASE: &str = "/tenants/acme/tokens";

#[test]
fn create_list_revoke() {
    let server = Server::start();
    let r = server.post(BASE, &server.admin, &json!({"name": "ci", "scopes": ["corpus:read", "corpus:write"], "expiresAt": "2099-01-01"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("ak_") && token.len() >= 33);
    assert_eq!(created["prefix"], &token[..12]);
    assert_eq!(created["scopes"], json!(["corpus:read", "corpus:write"]));
    assert_eq!(created["expiresAt"], "2099-01-01T00:00:00Z");
    assert_eq!(server.get("/tenants/acme/corpus", token).status, 200);

    let list = server.get(BASE, &server.admin);
    assert_eq!(list.status, 200);
    assert!(!list.text.contains(token), "listing never shows a secret");
    let listed = list.json()["tokens"].as_array().unwrap().clone();
    let ci = listed.iter().find(|t| t["id"] == created["id"]).unwrap();
    assert_eq!(ci["name"], "ci");
    assert_eq!(ci["prefix"], created["prefix"]);
    assert!(ci["lastUsedAt"].as_str().is_some(), "used once above: {ci}");
    let keys: Vec<&String> = ci.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");

    let id = created["id"].as_str().unwrap();
    let r = server.delete(&format!("{BASE}/{id}"), &server.admin);
    assert_eq!(r.json(), json!({"deleted": true, "id": id}));
    server
        .get("/tenants/acme/corpus", token)
        .assert_error(401, "Unauthorized", "invalid_token");
    server
        .delete(&format!("{BASE}/{id}"), &server.admin)
        .assert_error(404, "Token not found", "not_found");
}

#[test]
fn no_privilege_escalation() {
    let server = Server::start();
    let (_, writer) = server.token(&["tokens:write", "corpus:read"]);
    let r = server.post(
        BASE,
        &writer,
        &json!({"name": "x", "scopes": ["corpus:read"]}),
    );
    assert_eq!(r.status, 201, "may grant what it holds");
    server
        .post(
            BASE,
            &writer,
            &json!({"name": "x", "scopes": ["corpus:read", "corpus:write"]}),
        )
        .assert_error(
            403,
            "Cannot grant scope not held: corpus:write",
            "insufficient_scope",
        );
    server
        .post(BASE, &writer, &json!({"name": "x", "scopes": ["*"]}))
        .assert_error(403, "Cannot grant scope not held: *", "insufficient_scope");
}

#[test]
fn creation_is_validated() {
    let server = Server::start();
    let valid = "corpus:read, corpus:write, conversations:read, settings:read, settings:write, tokens:read, tokens:write, segments:read, segments:write, stats:read, visitors:read, visitors:write, tools:read, tools:write, *";
    for (body, message) in [
        (json!({"scopes": ["*"]}), "name: is required".to_string()),
        (
            json!({"name": "", "scopes": ["*"]}),
            "name: must be 1 to 100 characters".into(),
        ),
        (
            json!({"name": "x".repeat(101), "scopes": ["*"]}),
            "name: must be 1 to 100 characters".into(),
        ),
        (json!({"name": "n"}), "scopes: is required".into()),
        (
            json!({"name": "n", "scopes": []}),
            "scopes: must not be empty".into(),
        ),
        (
            json!({"name": "n", "scopes": ["corpus:admin"]}),
            format!("scopes: unknown scope 'corpus:admin'; valid scopes are: {valid}"),
        ),
        (
            json!({"name": "n", "scopes": ["*"], "expiresAt": "2001-01-01T00:00:00Z"}),
            "expiresAt: must be in the future".into(),
        ),
        (
            json!({"name": "n", "scopes": ["*"], "expiresAt": "2001-01-01"}),
            "expiresAt: must be in the future".into(),
        ),
        (
            json!({"name": "n", "scopes": ["*"], "expiresAt": "tomorrow"}),
            "expiresAt: must be an RFC 3339 timestamp like 2030-01-15T10:30:00Z or a date like 2030-01-15".into(),
        ),
    ] {
        server
            .post(BASE, &server.admin, &body)
            .assert_error(400, &message, "validation_failed");
    }
}

#[test]
fn other_tenants_tokens_cannot_be_revoked() {
    let server = Server::start();
    let globex = server
        .post(
            "/tenants/globex/tokens",
            &server.other_admin,
            &json!({"name": "g", "scopes": ["corpus:read"]}),
        )
        .json();
    let id = globex["id"].as_str().unwrap();
    server
        .delete(&format!("{BASE}/{id}"), &server.admin)
        .assert_error(404, "Token not found", "not_found");
    assert_eq!(
        server
            .get("/tenants/globex/corpus", globex["token"].as_str().unwrap())
            .status,
        200
    );
}

#[test]
fn rate_limit_per_credential() {
    let server = Server::start_with(&[("ANIMAM_RATE_LIMIT_PER_MINUTE", "3")]);
    for _ in 0..3 {
        assert_eq!(server.get("/tenants/acme", &server.admin).status, 200);
    }
    let r = server.get("/tenants/acme", &server.admin);
    r.assert_error(429, "Rate limit exceeded", "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let r = server.request(
        "GET",
        "/tenants/acme",
        &[("x-api-key", &server.legacy)],
        None,
    );
    assert_eq!(r.status, 200, "another credential has its own budget");
}

#[test]
fn no_revoking_upwards() {
    let server = Server::start();
    let (_, writer) = server.token(&["tokens:write"]);
    let bootstrap_id = server.get(BASE, &server.admin).json()["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .delete(&format!("{BASE}/{bootstrap_id}"), &writer)
        .assert_error(
            403,
            "Cannot revoke a token holding a scope you lack: *",
            "insufficient_scope",
        );
    let (reader_id, _) = server.token(&["corpus:read"]);
    assert_eq!(
        server
            .delete(&format!("{BASE}/{reader_id}"), &writer)
            .status,
        403,
        "corpus:read is not held by a tokens:write-only token"
    );
    let (peer_id, _) = server.token(&["tokens:write"]);
    assert_eq!(
        server.delete(&format!("{BASE}/{peer_id}"), &writer).status,
        200
    );
    assert_eq!(server.get("/tenants/acme", &server.admin).status, 200);
}
