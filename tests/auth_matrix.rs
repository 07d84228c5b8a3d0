//! Every route of the route table against every scope and every kind of bad credential.

use serde_json::{Value, json};

use crate::support::{Resp, Server};
use animam::clock::Timestamp;
use animam::domain::Scope;

/// A concrete request for a route: path with ids filled in and a valid body. Resources a
/// request consumes (DELETE) are created afresh for each call.
fn concrete(server: &Server, method: &str, path: &str) -> Option<(String, Option<Value>, u16)> {
    let entry = || server.corpus(&json!({"title": "Matrix", "content": "Matrix entry"}));
    // Creates a record through the API and returns its id.
    let created = |path: &str, body: Value| {
        let r = server.post(path, &server.admin, &body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_string()
    };
    let segment = || created("/tenants/acme/segments", json!({"name": unique("Fixture")}));
    let visitor = || {
        created(
            "/tenants/acme/visitors",
            json!({"externalId": unique("fixture-visitor")}),
        )
    };
    let form = || {
        created(
            "/tenants/acme/tools",
            json!({"name": "Contact", "type": "SUBMIT_FORM", "config": {"fields": [
                {"name": "email", "label": "Email", "type": "email", "required": true}
            ]}}),
        )
    };
    let out = match (method, path) {
        ("GET", "/health") => ("/health".to_string(), None, 200),
        ("POST", "/chat/{slug}") => (
            "/chat/acme".into(),
            Some(json!({"message": "hi", "sessionId": "matrix", "stream": false})),
            200,
        ),
        ("OPTIONS", "/chat/{slug}") => ("/chat/acme".into(), None, 204),
        ("GET", "/widget.js") => ("/widget.js".into(), None, 200),
        ("GET", "/openapi.json") => ("/openapi.json".into(), None, 200),
        ("GET", "/widget/config/{slug}") => ("/widget/config/acme".into(), None, 200),
        ("GET", "/tenants/{slug}") => ("/tenants/acme".into(), None, 200),
        ("GET", "/tenants/{slug}/conversations") => {
            ("/tenants/acme/conversations".into(), None, 200)
        }
        ("GET", "/tenants/{slug}/conversations/export") => {
            ("/tenants/acme/conversations/export".into(), None, 200)
        }
        ("GET", "/tenants/{slug}/conversations/{id}") => {
            let r = server.request(
                "POST",
                "/chat/acme",
                &[],
                Some(r#"{"message":"hi","sessionId":"fixture","stream":false}"#),
            );
            let id = r.json()["conversationId"].as_str().unwrap().to_string();
            (format!("/tenants/acme/conversations/{id}"), None, 200)
        }
        ("PUT" | "PATCH", "/tenants/{slug}") => {
            ("/tenants/acme".into(), Some(json!({"botName": "Max"})), 200)
        }
        ("GET", "/tenants/{slug}/corpus") => ("/tenants/acme/corpus".into(), None, 200),
        ("POST", "/tenants/{slug}/corpus") => (
            "/tenants/acme/corpus".into(),
            Some(json!({"title": "T", "content": "C"})),
            201,
        ),
        ("POST", "/tenants/{slug}/corpus/import") => (
            "/tenants/acme/corpus/import".into(),
            // A JSON string stands for a raw (non-JSON) body: see `raw`.
            Some(Value::String(
                "title,content,segment,priority,tags\r\nT,C,,,\r\n".into(),
            )),
            201,
        ),
        ("GET", "/tenants/{slug}/corpus/export") => {
            ("/tenants/acme/corpus/export".into(), None, 200)
        }
        ("GET", "/tenants/{slug}/corpus/{id}") => {
            (format!("/tenants/acme/corpus/{}", entry()), None, 200)
        }
        ("PATCH", "/tenants/{slug}/corpus/{id}") => (
            format!("/tenants/acme/corpus/{}", entry()),
            Some(json!({"priority": 7})),
            200,
        ),
        ("DELETE", "/tenants/{slug}/corpus/{id}") => {
            (format!("/tenants/acme/corpus/{}", entry()), None, 200)
        }
        ("GET", "/tenants/{slug}/segments") => ("/tenants/acme/segments".into(), None, 200),
        ("POST", "/tenants/{slug}/segments") => (
            "/tenants/acme/segments".into(),
            Some(json!({"name": unique("Segment")})),
            201,
        ),
        ("GET", "/tenants/{slug}/segments/{id}") => {
            ("/tenants/acme/segments/general".into(), None, 200)
        }
        ("PATCH", "/tenants/{slug}/segments/{id}") => (
            format!("/tenants/acme/segments/{}", segment()),
            Some(json!({"welcomeMessage": "Hi"})),
            200,
        ),
        ("DELETE", "/tenants/{slug}/segments/{id}") => {
            (format!("/tenants/acme/segments/{}", segment()), None, 200)
        }
        ("GET", "/tenants/{slug}/tokens") => ("/tenants/acme/tokens".into(), None, 200),
        // A token may only grant what it holds, so the new token asks for tokens:write.
        ("POST", "/tenants/{slug}/tokens") => (
            "/tenants/acme/tokens".into(),
            Some(json!({"name": "made", "scopes": ["tokens:write"]})),
            201,
        ),
        ("DELETE", "/tenants/{slug}/tokens/{id}") => {
            // Holds no more than a `tokens:write` caller, so revoking it is not "upwards".
            let (id, _) = server.token(&["tokens:write"]);
            (format!("/tenants/acme/tokens/{id}"), None, 200)
        }
        ("GET", "/tenants/{slug}/stats") => ("/tenants/acme/stats".into(), None, 200),
        ("GET", "/tenants/{slug}/tools") => ("/tenants/acme/tools".into(), None, 200),
        ("POST", "/tenants/{slug}/tools") => (
            "/tenants/acme/tools".into(),
            Some(json!({"name": "Handover", "type": "ESCALATE_TO_HUMAN"})),
            201,
        ),
        ("GET" | "PATCH" | "DELETE", "/tenants/{slug}/tools/{id}") => (
            format!(
                "/tenants/acme/tools/{}",
                created(
                    "/tenants/acme/tools",
                    json!({"name": "Handover", "type": "ESCALATE_TO_HUMAN"})
                )
            ),
            (method == "PATCH").then(|| json!({"position": 2})),
            200,
        ),
        ("POST", "/tenants") => {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let slug = format!("child-{}", NEXT.fetch_add(1, Ordering::Relaxed));
            ("/tenants".into(), Some(json!({"slug": slug})), 201)
        }
        ("GET", "/tenants") => ("/tenants".into(), None, 200),
        ("GET", "/tenants/{slug}/visitors") => ("/tenants/acme/visitors".into(), None, 200),
        ("POST", "/tenants/{slug}/visitors") => (
            "/tenants/acme/visitors".into(),
            Some(json!({"externalId": unique("visitor")})),
            201,
        ),
        ("GET" | "PATCH" | "DELETE", "/tenants/{slug}/visitors/{id}") => (
            format!("/tenants/acme/visitors/{}", visitor()),
            (method == "PATCH").then(|| json!({"displayName": "Ann"})),
            200,
        ),
        ("GET", "/tenants/{slug}/visitors/{id}/memory") => (
            format!("/tenants/acme/visitors/{}/memory", visitor()),
            None,
            200,
        ),
        ("POST", "/tenants/{slug}/visitors/{id}/memory") => (
            format!("/tenants/acme/visitors/{}/memory", visitor()),
            Some(json!({"key": "plan", "value": "pro"})),
            201,
        ),
        ("DELETE", "/tenants/{slug}/visitors/{id}/memory/{key}") => {
            let id = visitor();
            server.post(
                &format!("/tenants/acme/visitors/{id}/memory"),
                &server.admin,
                &json!({"key": "plan", "value": "pro"}),
            );
            (
                format!("/tenants/acme/visitors/{id}/memory/plan"),
                None,
                200,
            )
        }
        // Authenticated per tool call, not by the route: tests/mcp.rs holds its table of
        // every tool against every scope and other tenants' tokens. Without a credential: 401.
        ("POST", "/mcp") => ("/mcp".into(), Some(json!({})), 401),
        ("POST", "/voice/{slug}/chat" | "/voice/{slug}/chat/completions") => (
            path.replace("{slug}", "acme"),
            Some(json!({"messages": [{"role": "user", "content": "hello"}]})),
            200,
        ),
        ("POST", "/tenants/{slug}/tokens/{id}/rotate") => {
            // Like DELETE: a token no stronger than a `tokens:write` caller.
            let (id, _) = server.token(&["tokens:write"]);
            (
                format!("/tenants/acme/tokens/{id}/rotate"),
                Some(json!({"graceSeconds": 60})),
                200,
            )
        }
        ("GET", "/tenants/{slug}/tokens/self") => ("/tenants/acme/tokens/self".into(), None, 200),
        ("GET", "/tenants/{slug}/audit") => ("/tenants/acme/audit".into(), None, 200),
        ("GET" | "DELETE", "/tenants/{slug}/mcp-tools") => {
            ("/tenants/acme/mcp-tools".into(), None, 200)
        }
        ("PUT", "/tenants/{slug}/mcp-tools") => (
            "/tenants/acme/mcp-tools".into(),
            Some(json!({"mcpToolsUrl": "https://tools.example.com/mcp", "mcpToolsMaxTools": 3})),
            200,
        ),
        ("POST", "/chat/{slug}/submissions") => (
            "/chat/acme/submissions".into(),
            Some(json!({"sessionId": "matrix", "toolId": form(), "values": {"email": "a@b.io"}})),
            201,
        ),
        ("OPTIONS", "/chat/{slug}/submissions") => ("/chat/acme/submissions".into(), None, 204),
        ("GET", "/tenants/{slug}/submissions") => ("/tenants/acme/submissions".into(), None, 200),
        ("GET", "/tenants/{slug}/submissions/export") => {
            ("/tenants/acme/submissions/export".into(), None, 200)
        }
        ("GET", "/tenants/{slug}/submissions/{id}") => {
            let tool = form();
            let r = server.request(
                "POST",
                "/chat/acme/submissions",
                &[],
                Some(
                    &json!({"sessionId": "m", "toolId": tool, "values": {"email": "a@b.io"}})
                        .to_string(),
                ),
            );
            assert_eq!(r.status, 201, "{}", r.text);
            let id = r.json()["id"].as_str().unwrap().to_string();
            (format!("/tenants/acme/submissions/{id}"), None, 200)
        }
        ("POST", "/tenants/{slug}/webhook-secret/rotate") => {
            ("/tenants/acme/webhook-secret/rotate".into(), None, 201)
        }
        _ => return None,
    };
    Some(out)
}

/// The text sent for a fixture body: JSON, except a JSON string, which is sent as it is
/// (the CSV import's body).
fn raw(body: &Value) -> String {
    match body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A name no earlier call returned, for resources whose slug must be unique.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix} {}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    server.request(method, path, headers, body)
}

/// Flips one character of the random part so only the checksum can tell.
fn corrupt_checksum(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_route_against_every_scope_and_credential() {
    let server = Server::start();
    let single_scopes: Vec<Scope> = Scope::EVERY
        .into_iter()
        .filter(|s| *s != Scope::All)
        .collect();
    let scoped: Vec<(Scope, String)> = single_scopes
        .iter()
        .map(|s| (*s, server.token(&[s.as_str()]).1))
        .collect();

    let (revoked_id, revoked) = server.token(&["*"]);
    assert_eq!(
        server
            .delete(&format!("/tenants/acme/tokens/{revoked_id}"), &server.admin)
            .status,
        200
    );

    let expires = Timestamp::now().plus_secs(2).to_rfc3339();
    let expired = server
        .post(
            "/tenants/acme/tokens",
            &server.admin,
            &json!({"name": "soon", "scopes": ["*"], "expiresAt": expires}),
        )
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let expiry = Timestamp::parse_rfc3339(&expires).unwrap();
    while Timestamp::now() <= expiry {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let routes = animam::api::routes();
    assert!(routes.len() >= 12);
    for route in &routes {
        let method = route.method.as_str();
        let (path, body, ok_status) = concrete(&server, method, route.path)
            .unwrap_or_else(|| panic!("no test fixture for {method} {}", route.path));
        let body_text = body.as_ref().map(raw);
        let label = format!("{method} {}", route.path);

        if route.scope.is_none() && route.authenticated {
            // Any credential of the tenant, whatever its scopes.
            for token in std::iter::once(&server.admin).chain(scoped.iter().map(|(_, t)| t)) {
                let auth = format!("Bearer {token}");
                let r = send(
                    &server,
                    method,
                    &path,
                    &[("authorization", &auth)],
                    body_text.as_deref(),
                );
                assert_eq!(r.status, ok_status, "{label} with any scope: {}", r.text);
            }
            let r = send(
                &server,
                method,
                &path,
                &[("x-api-key", &server.legacy)],
                body_text.as_deref(),
            );
            assert_eq!(r.status, ok_status, "{label} with legacy key: {}", r.text);
        }
        if !route.authenticated {
            let r = send(&server, method, &path, &[], body_text.as_deref());
            assert_eq!(
                r.status, ok_status,
                "{label} needs no credential: {}",
                r.text
            );
            continue;
        }

        if let Some(required) = route.scope {
            // Holders of the scope, of `*`, and of the legacy key get through.
            for token in [
                &server.admin,
                // `*` is its own holder: no single scope grants it.
                scoped
                    .iter()
                    .find(|(s, _)| *s == required)
                    .map_or(&server.admin, |(_, token)| token),
            ] {
                let (path, body, _) = concrete(&server, method, route.path).unwrap();
                let auth = format!("Bearer {token}");
                let body = body.as_ref().map(raw);
                let r = send(
                    &server,
                    method,
                    &path,
                    &[("authorization", &auth)],
                    body.as_deref(),
                );
                assert_eq!(r.status, ok_status, "{label} with its scope: {}", r.text);
            }
            let (path_l, body_l, _) = concrete(&server, method, route.path).unwrap();
            let body_l = body_l.as_ref().map(raw);
            let r = send(
                &server,
                method,
                &path_l,
                &[("x-api-key", &server.legacy)],
                body_l.as_deref(),
            );
            assert_eq!(r.status, ok_status, "{label} with legacy key: {}", r.text);

            // Every other single scope: 403 naming the missing scope, before the body is read
            // (the body sent here is not even JSON).
            let broken_body = body.as_ref().map(|_| "{not json");
            for (scope, token) in scoped.iter().filter(|(s, _)| *s != required) {
                let auth = format!("Bearer {token}");
                let r = send(
                    &server,
                    method,
                    &path,
                    &[("authorization", &auth)],
                    broken_body,
                );
                assert_eq!(
                    (r.status, r.json()),
                    (
                        403,
                        json!({"error": format!("Missing required scope: {required}"), "code": "insufficient_scope"})
                    ),
                    "{label} with {scope}"
                );
            }
        }

        // (case, header name, header value, status, error, code)
        let bearer = |t: &str| format!("Bearer {t}");
        let unauthorized = (401, "Unauthorized");
        let cases = [
            ("no credential", None, unauthorized, "missing_credentials"),
            (
                "malformed",
                Some(("authorization", bearer("ak_nope"))),
                unauthorized,
                "invalid_token",
            ),
            (
                "bad checksum",
                Some(("authorization", bearer(&corrupt_checksum(&server.admin)))),
                unauthorized,
                "invalid_token",
            ),
            (
                "unknown legacy key",
                Some(("x-api-key", corrupt_checksum(&server.legacy))),
                unauthorized,
                "invalid_token",
            ),
            (
                "revoked",
                Some(("authorization", bearer(&revoked))),
                unauthorized,
                "invalid_token",
            ),
            (
                "expired",
                Some(("authorization", bearer(&expired))),
                (403, "Token expired"),
                "token_expired",
            ),
            (
                "cookie only",
                Some(("cookie", format!("animam_session={}", server.admin))),
                unauthorized,
                "missing_credentials",
            ),
            (
                "other tenant",
                Some(("authorization", bearer(&server.other_admin))),
                (404, "Tenant not found"),
                "tenant_not_found",
            ),
            (
                "other tenant legacy key",
                Some(("x-api-key", server.other_legacy.clone())),
                (404, "Tenant not found"),
                "tenant_not_found",
            ),
        ];
        // Routes without a tenant in the path act on the credential's own tenant: another
        // tenant's credential is not refused there, it acts on its own (tests/tenants.rs
        // checks that it sees only its own children).
        let own_tenant_route = !route.path.contains("{slug}");
        for (case, header, (status, error), code) in cases {
            if own_tenant_route && case.starts_with("other tenant") {
                continue;
            }
            let headers: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = send(&server, method, &path, &headers, body_text.as_deref());
            assert_eq!(
                (r.status, r.json()),
                (status, json!({"error": error, "code": code})),
                "{label} / {case}"
            );
            if status == 401 {
                assert_eq!(
                    r.header("www-authenticate"),
                    Some("Bearer"),
                    "{label} / {case}"
                );
            }
        }

        // Tokens in the query string are never accepted.
        for param in ["token", "access_token", "api_key"] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = send(
                &server,
                method,
                &format!("{path}{sep}{param}={}", server.admin),
                &[],
                body_text.as_deref(),
            );
            r.assert_error(401, "Unauthorized", "missing_credentials");
        }

        // A tenant that does not exist looks exactly like another tenant's.
        if own_tenant_route {
            continue;
        }
        let missing = path.replacen("/acme", "/nosuch", 1);
        server
            .call(method, &missing, &server.admin, body.as_ref())
            .assert_error(404, "Tenant not found", "tenant_not_found");
    }
}

/// Dashboard pages take the session cookie only: API credentials (a `*` token, the legacy
/// key) on any page that needs a session lead to the sign-in form, never to the page.
#[test]
fn dashboard_pages_refuse_api_credentials() {
    use crate::support::dashboard::send;
    use animam::web::Access;
    let server = Server::start();
    let entry = server.corpus(&json!({"title": "Matrix", "content": "Matrix entry"}));
    let (token_id, _) = server.token(&["tokens:write"]);
    let segment = server
        .get("/tenants/acme/segments/general", &server.admin)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {}", server.admin);
    for route in animam::web::routes() {
        if route.access == Access::Public {
            continue;
        }
        let path = route
            .path
            .replace("{slug}", "acme")
            .replace("/tokens/{id}", &format!("/tokens/{token_id}"))
            .replace("/corpus/{id}", &format!("/corpus/{entry}"))
            .replace("/segments/{id}", &format!("/segments/{segment}"))
            .replace("/conversations/{id}", "/conversations/conv_none");
        let method = route.method.as_str();
        let form: Option<&[(&str, &str)]> = (method == "POST").then_some(&[]);
        for header in [
            ("authorization", bearer.as_str()),
            ("x-api-key", server.legacy.as_str()),
        ] {
            let r = send(&server, method, &path, &[header], form);
            assert_eq!(
                (r.status, r.header("location")),
                (303, Some("/dashboard")),
                "{method} {} with {}",
                route.path,
                header.0
            );
        }
    }
}
