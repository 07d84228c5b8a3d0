//! Abuse limits and access control: strict per-credential budgets with their headers,
//! failed-auth throttling per client IP, `trusted_proxies`, token rotation, `tokens/self`
//! and the audit log.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::dashboard::send as dash_send;
use crate::support::{Resp, Server};

const TRUST_LOCAL: (&str, &str) = ("ANIMAM_TRUSTED_PROXIES", "127.0.0.1/32");

fn get_from(server: &Server, path: &str, token: &str, ip: Option<&str>) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(ip) = ip {
        headers.push(("x-forwarded-for", ip));
    }
    server.request("GET", path, &headers, None)
}

fn num(r: &Resp, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", r.headers))
        .parse()
        .unwrap()
}

#[test]
fn a_budget_of_five_grants_exactly_five_with_headers_on_every_answer() {
    let server = Server::start_with(&[("ANIMAM_RATE_LIMIT_PER_MINUTE", "5")]);
    let (_, reader) = server.token(&["corpus:read"]);
    for i in 0..5u64 {
        // Errors of authenticated routes carry the budget too: a 404 and a 403 here.
        let r = match i {
            1 => server.get("/tenants/acme/corpus/corp_missing", &reader),
            2 => server.get("/tenants/acme/segments", &reader),
            _ => server.get("/tenants/acme/corpus", &reader),
        };
        let expected = [200, 404, 403, 200, 200][i as usize];
        assert_eq!(r.status, expected, "request {i}: {}", r.text);
        assert_eq!(num(&r, "x-ratelimit-limit"), 5);
        assert_eq!(num(&r, "x-ratelimit-remaining"), 4 - i);
        let reset = num(&r, "x-ratelimit-reset");
        assert!((1..=60).contains(&reset), "reset {reset}");
    }
    let r = server.get("/tenants/acme/corpus", &reader);
    r.assert_error(429, "Rate limit exceeded", "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(num(&r, "x-ratelimit-remaining"), 0);
    assert_eq!(num(&r, "x-ratelimit-limit"), 5);
    assert_eq!(num(&r, "x-ratelimit-reset"), retry);
    // Still refused: a refusal does not move the window, and the budget is the token's.
    assert_eq!(server.get("/tenants/acme/corpus", &reader).status, 429);
    let other = server.get("/tenants/acme/corpus", &server.admin);
    assert_eq!(other.status, 200);
    assert_eq!(
        num(&other, "x-ratelimit-remaining"),
        3,
        "it made the reader token"
    );
    // Public routes have no credential and no budget headers.
    assert!(
        server
            .request("GET", "/health", &[], None)
            .header("x-ratelimit-limit")
            .is_none()
    );
}

#[test]
fn failed_auth_from_one_address_is_throttled_and_xff_is_ignored_without_trust() {
    let server = Server::start_with(&[("ANIMAM_FAILED_AUTH_PER_IP_PER_MINUTE", "3")]);
    let (revoked_id, revoked) = server.token(&["*"]);
    server.delete(&format!("/tenants/acme/tokens/{revoked_id}"), &server.admin);
    for (i, forwarded) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        // Spoofed X-Forwarded-For from an untrusted peer: all count against 127.0.0.1.
        let r = get_from(&server, "/tenants/acme/corpus", &revoked, Some(forwarded));
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    // Even the right token waits now, whatever the header claims.
    let r = get_from(
        &server,
        "/tenants/acme/corpus",
        &server.admin,
        Some("198.51.100.7"),
    );
    r.assert_error(429, "Rate limit exceeded", "rate_limited");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    server
        .request("GET", "/tenants/acme/corpus", &[], None)
        .assert_error(429, "Rate limit exceeded", "rate_limited");
    // The dashboard's sign-in shares the budget.
    let r = dash_send(
        &server,
        "POST",
        "/dashboard/-/sign-in",
        &[],
        Some(&[("token", server.admin.as_str())]),
    );
    assert_eq!(r.status, 429, "{}", r.text);
    // Public routes are not authentication attempts.
    assert_eq!(server.request("GET", "/health", &[], None).status, 200);
    assert!(server.log_shows("127.0.0.1 \"GET /tenants/acme/corpus\" 429"));
    assert!(
        !server.log().contains("198.51.100.7"),
        "untrusted XFF never logged"
    );
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_throttled() {
    let server = Server::start_with(&[
        ("ANIMAM_FAILED_AUTH_PER_IP_PER_MINUTE", "2"),
        ("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "2"),
        TRUST_LOCAL,
    ]);
    let attacker = Some("203.0.113.66");
    for _ in 0..2 {
        let r = get_from(&server, "/tenants/acme/corpus", "ak_guess", attacker);
        assert_eq!(r.status, 401);
    }
    let r = get_from(&server, "/tenants/acme/corpus", &server.admin, attacker);
    assert_eq!(r.status, 429, "{}", r.text);
    // Other addresses behind the same proxy are unaffected.
    let r = get_from(
        &server,
        "/tenants/acme/corpus",
        &server.admin,
        Some("198.51.100.9"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // A client-written first hop does not pick the address: the proxy's last hop does.
    let r = get_from(
        &server,
        "/tenants/acme/corpus",
        &server.admin,
        Some("198.51.100.9, 203.0.113.66"),
    );
    assert_eq!(r.status, 429);
    // An IPv6 client is counted by its /64: a fresh address in it does not help.
    for ip in ["2001:db8::1", "2001:db8::2"] {
        let r = get_from(&server, "/tenants/acme/corpus", "ak_guess", Some(ip));
        assert_eq!(r.status, 401);
    }
    let r = get_from(
        &server,
        "/tenants/acme/corpus",
        &server.admin,
        Some("2001:db8::3"),
    );
    assert_eq!(r.status, 429);
    let r = get_from(
        &server,
        "/tenants/acme/corpus",
        &server.admin,
        Some("2001:db8:0:1::1"),
    );
    assert_eq!(r.status, 200);
    // Dashboard sign-in: refused for the attacker's address, open for another.
    let sign_in = |ip: &str| {
        dash_send(
            &server,
            "POST",
            "/dashboard/-/sign-in",
            &[("x-forwarded-for", ip)],
            Some(&[("token", server.admin.as_str())]),
        )
        .status
    };
    assert_eq!(sign_in("203.0.113.66"), 429);
    assert_eq!(sign_in("198.51.100.9"), 303);
    // The public chat's per-IP budget follows the same address.
    let chat = |ip: &str| {
        server
            .request(
                "POST",
                "/chat/acme",
                &[("x-forwarded-for", ip)],
                Some(&format!(
                    r#"{{"message":"hi","sessionId":"s-{ip}","stream":false}}"#
                )),
            )
            .status
    };
    assert_eq!((chat("192.0.2.1"), chat("192.0.2.1")), (200, 200));
    assert_eq!(chat("192.0.2.1"), 429);
    assert_eq!(chat("192.0.2.2"), 200);
    // The access log names the client, not the proxy.
    assert!(server.log_shows("203.0.113.66 \"GET /tenants/acme/corpus\" 429"));
}

fn rotate(server: &Server, id: &str, token: &str, body: Option<Value>) -> Resp {
    let path = format!("/tenants/acme/tokens/{id}/rotate");
    match body {
        Some(body) => server.post(&path, token, &body),
        None => server.call("POST", &path, token, None),
    }
}

#[test]
fn rotation_gives_a_new_secret_and_the_old_one_works_until_the_grace_ends() {
    let server = Server::start();
    let created = server
        .post(
            "/tenants/acme/tokens",
            &server.admin,
            &json!({"name": "ci", "scopes": ["corpus:read", "tokens:read"]}),
        )
        .json();
    let (id, old) = (
        created["id"].as_str().unwrap(),
        created["token"].as_str().unwrap(),
    );
    let r = rotate(&server, id, &server.admin, Some(json!({"graceSeconds": 2})));
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = r.json();
    let new = rotated["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["id"], id, "the token keeps its id");
    assert_eq!(rotated["name"], "ci");
    assert_eq!(rotated["scopes"], json!(["corpus:read", "tokens:read"]));
    assert_eq!(rotated["prefix"], &new[..12]);
    assert_eq!(rotated["createdAt"], created["createdAt"]);
    assert!(rotated["previousValidUntil"].as_str().is_some());
    // Both work during the grace; the listing shows one token, never a secret.
    assert_eq!(server.get("/tenants/acme/corpus", new).status, 200);
    assert_eq!(server.get("/tenants/acme/corpus", old).status, 200);
    let list = server.get("/tenants/acme/tokens", &server.admin);
    assert!(!list.text.contains(new) && !list.text.contains(old));
    let listed: Vec<Value> = list.json()["tokens"].as_array().unwrap().clone();
    let mine: Vec<&Value> = listed.iter().filter(|t| t["id"] == id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["prefix"], &new[..12]);
    // A dashboard session opened with the old secret during the grace ends with it.
    let session = crate::support::dashboard::Session::sign_in(&server, old);
    assert_eq!(session.get(&session.home).status, 200);
    std::thread::sleep(Duration::from_millis(2300));
    server
        .get("/tenants/acme/corpus", old)
        .assert_error(401, "Unauthorized", "invalid_token");
    let r = session.get(&session.home);
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/dashboard?ended=token"))
    );
    let r = crate::support::dashboard::sign_in_attempt(&server, old);
    assert_eq!(r.status, 401, "no sign-in with a secret past its grace");
    assert_eq!(server.get("/tenants/acme/corpus", new).status, 200);

    // No grace (an empty body): the old secret stops at once; after a restart too.
    let r = rotate(&server, id, &server.admin, None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["previousValidUntil"], Value::Null);
    let newest = r.json()["token"].as_str().unwrap().to_string();
    server
        .get("/tenants/acme/corpus", new)
        .assert_error(401, "Unauthorized", "invalid_token");
    let mut server = server;
    server.restart();
    assert_eq!(server.get("/tenants/acme/corpus", &newest).status, 200);
    assert_eq!(server.get("/tenants/acme/corpus", new).status, 401);

    // Revoking during a grace ends both secrets.
    let r = rotate(
        &server,
        id,
        &server.admin,
        Some(json!({"graceSeconds": 600})),
    );
    let last = r.json()["token"].as_str().unwrap().to_string();
    server.delete(&format!("/tenants/acme/tokens/{id}"), &server.admin);
    for secret in [&newest, &last] {
        assert_eq!(server.get("/tenants/acme/corpus", secret).status, 401);
    }
}

#[test]
fn rotation_is_validated_and_never_upwards() {
    let server = Server::start();
    let (id, _) = server.token(&["corpus:read"]);
    for body in [
        json!({"graceSeconds": 2_592_001}),
        json!({"graceSeconds": -1}),
    ] {
        rotate(&server, &id, &server.admin, Some(body)).assert_error(
            400,
            "graceSeconds: must be a whole number of seconds from 0 to 2592000 (30 days)",
            "validation_failed",
        );
    }
    let r = rotate(
        &server,
        &id,
        &server.admin,
        Some(json!({"graceSeconds": "soon"})),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("graceSeconds:"),
        "{}",
        r.text
    );
    let r = rotate(&server, &id, &server.admin, Some(json!({"grace": 5})));
    assert_eq!(r.status, 400);
    assert!(r.text.contains("grace"), "{}", r.text);
    assert_eq!(
        rotate(
            &server,
            &id,
            &server.admin,
            Some(json!({"graceSeconds": 2_592_000}))
        )
        .status,
        200
    );
    rotate(&server, "tok_nope", &server.admin, None).assert_error(
        404,
        "Token not found",
        "not_found",
    );
    // A tokens:write token may not rotate (nor revoke) the bootstrap `*` token.
    let (_, writer) = server.token(&["tokens:write"]);
    let admin_id = server
        .get("/tenants/acme/tokens/self", &server.admin)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    rotate(&server, &admin_id, &writer, None).assert_error(
        403,
        "Cannot rotate a token holding a scope you lack: *",
        "insufficient_scope",
    );
    server
        .delete(&format!("/tenants/acme/tokens/{admin_id}"), &writer)
        .assert_error(
            403,
            "Cannot revoke a token holding a scope you lack: *",
            "insufficient_scope",
        );
    assert_eq!(
        server.get("/tenants/acme/corpus", &server.admin).status,
        200
    );
    // An expired token is not brought back by a rotation.
    let expires = animam::clock::Timestamp::now().plus_secs(1).to_rfc3339();
    let soon = server
        .post(
            "/tenants/acme/tokens",
            &server.admin,
            &json!({"name": "soon", "scopes": ["corpus:read"], "expiresAt": expires}),
        )
        .json();
    std::thread::sleep(Duration::from_millis(1200));
    rotate(&server, soon["id"].as_str().unwrap(), &server.admin, None).assert_error(
        409,
        "Token has expired; create a new one instead of rotating it",
        "conflict",
    );
    // Another tenant's token is not found.
    let other_id = server
        .get("/tenants/globex/tokens/self", &server.other_admin)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rotate(&server, &other_id, &server.admin, None).status, 404);
}

#[test]
fn tokens_self_describes_the_caller_without_its_secret() {
    let server = Server::start();
    let created = server
        .post(
            "/tenants/acme/tokens",
            &server.admin,
            &json!({"name": "widget sync", "scopes": ["segments:read"], "expiresAt": "2099-01-01T00:00:00Z"}),
        )
        .json();
    let secret = created["token"].as_str().unwrap();
    let r = server.get("/tenants/acme/tokens/self", secret);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(secret));
    let me = r.json();
    assert_eq!(me["id"], created["id"]);
    assert_eq!(me["name"], "widget sync");
    assert_eq!(me["prefix"], created["prefix"]);
    assert_eq!(me["scopes"], json!(["segments:read"]));
    assert_eq!(me["createdAt"], created["createdAt"]);
    assert_eq!(me["expiresAt"], "2099-01-01T00:00:00Z");
    assert!(me["lastUsedAt"].as_str().is_some(), "this very call: {me}");
    assert_eq!(me.as_object().unwrap().len(), 7, "{me}");

    let r = server.request(
        "GET",
        "/tenants/acme/tokens/self",
        &[("x-api-key", &server.legacy)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let legacy = r.json();
    assert_eq!(legacy["id"], Value::Null);
    assert_eq!(legacy["name"], "Legacy API key");
    assert_eq!(legacy["scopes"], json!(["*"]));
    assert!(!r.text.contains(&server.legacy));
    // Only the other methods' 405 for the literal path; a DELETE is not a token id.
    assert_eq!(
        server
            .delete("/tenants/acme/tokens/self", &server.admin)
            .status,
        405
    );
}

/// The audit log's entries, newest first.
fn audit(server: &Server, query: &str) -> Value {
    let r = server.get(&format!("/tenants/acme/audit{query}"), &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn actions(log: &Value) -> Vec<String> {
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// Waits for denied requests (written in batches, after the answer) to show.
fn audit_until(server: &Server, query: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = audit(server, query);
        if done(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn audit_log_records_changes_and_denied_requests_newest_first() {
    let server = Server::start_with(&[TRUST_LOCAL]);
    // The CLI minted the legacy key before the server started.
    let log = audit(&server, "");
    assert_eq!(actions(&log), ["legacy_key.minted", "token.created"]);
    assert_eq!(log["entries"][0]["actor"]["kind"], "cli");

    let (id, secret) = server.token(&["corpus:read"]);
    rotate(&server, &id, &server.admin, None);
    server.delete(&format!("/tenants/acme/tokens/{id}"), &server.admin);
    server.patch("/tenants/acme", &server.admin, &json!({"botName": "Max"}));
    let r = server.send_bytes(
        "POST",
        "/tenants/acme/corpus/import",
        &server.admin,
        "text/csv",
        b"title,content,segment,priority,tags\r\nA,B,,,\r\nC,D,,,\r\n".to_vec(),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // Denied: a revoked token (401, its prefix), and a scope missing (403). They are
    // written in batches after the answer: wait for each.
    get_from(
        &server,
        "/tenants/acme/corpus?q=1",
        &secret,
        Some("203.0.113.5"),
    );
    audit_until(&server, "", |l| actions(l).len() >= 8);
    let (_, reader) = server.token(&["corpus:read"]);
    get_from(
        &server,
        "/tenants/acme/tokens",
        &reader,
        Some("203.0.113.6"),
    );
    // Another tenant's denials stay there; made-up tenants write nothing.
    get_from(&server, "/tenants/globex/corpus", "ak_nope", None);
    get_from(&server, "/tenants/nosuch/corpus", "ak_nope", None);

    let log = audit_until(&server, "", |l| actions(l).len() >= 10);
    assert_eq!(
        actions(&log),
        [
            "request.denied",
            "token.created",
            "request.denied",
            "corpus.imported",
            "settings.changed",
            "token.revoked",
            "token.rotated",
            "token.created",
            "legacy_key.minted",
            "token.created",
        ],
        "{log}"
    );
    let entries = log["entries"].as_array().unwrap();
    let forbidden = &entries[0];
    assert_eq!(forbidden["actor"]["ip"], "203.0.113.6");
    assert_eq!(forbidden["actor"]["kind"], "token");
    assert_eq!(
        forbidden["detail"],
        "403 insufficient_scope GET /tenants/acme/tokens"
    );
    let unauthorized = &entries[2];
    assert_eq!(unauthorized["actor"]["ip"], "203.0.113.5");
    assert_eq!(unauthorized["actor"]["kind"], "unknown");
    assert_eq!(unauthorized["actor"]["prefix"], &secret[..12]);
    assert_eq!(
        unauthorized["detail"],
        "401 invalid_token GET /tenants/acme/corpus"
    );
    assert_eq!(entries[3]["detail"], "2 entries");
    assert_eq!(entries[5]["target"], id.as_str());
    assert_eq!(entries[5]["actor"]["kind"], "token");
    assert_eq!(entries[5]["actor"]["ip"], "127.0.0.1");
    let text = log.to_string();
    for secret in [&secret, &server.admin, &reader, &server.legacy] {
        assert!(!text.contains(secret.as_str()), "a secret in the audit log");
    }
    let every: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = every.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(every, sorted, "newest first");

    // Paginated like other lists.
    let page = audit(&server, "?page=2&limit=3");
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "limit": 3, "total": 10, "pages": 4})
    );
    assert_eq!(page["entries"][0]["id"], entries[3]["id"]);
    let r = server.get("/tenants/acme/audit?limit=0", &server.admin);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("limit"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let other = loop {
        let other = server
            .get("/tenants/globex/audit", &server.other_admin)
            .json();
        if other["pagination"]["total"] == 3 || Instant::now() > deadline {
            break other;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(actions(&other)[0], "request.denied", "{other}");
    assert_eq!(other["pagination"]["total"], 3, "{other}");
}

#[test]
fn denied_requests_are_bounded_per_address_and_retention_prunes() {
    let mut server = Server::start_with(&[("ANIMAM_AUDIT_DENIED_PER_IP_PER_MINUTE", "2")]);
    for _ in 0..6 {
        assert_eq!(server.get("/tenants/acme/corpus", "ak_nope").status, 401);
    }
    audit_until(&server, "", |l| actions(l).len() >= 4);
    std::thread::sleep(Duration::from_millis(500));
    let log = audit(&server, "");
    assert_eq!(
        actions(&log),
        [
            "request.denied",
            "request.denied",
            "legacy_key.minted",
            "token.created"
        ]
    );
    // At most 3 entries per tenant once the writer prunes (at each bookkeeping tick and at
    // a clean stop): the newest are kept.
    server.stop();
    server.launch(&[("ANIMAM_AUDIT_MAX_ENTRIES_PER_TENANT", "3")]);
    server.stop();
    server.launch(&[]);
    let log = audit(&server, "");
    assert_eq!(
        actions(&log),
        ["request.denied", "request.denied", "legacy_key.minted"]
    );
}

#[test]
fn dashboard_changes_are_audited_with_the_session_token_and_client() {
    use crate::support::dashboard::Session;
    let server = Server::start_with(&[TRUST_LOCAL]);
    let (token_id, token) = server.token(&["*"]);
    let session = Session::sign_in(&server, &token);
    let fields = [
        ("name", "Acme"),
        ("botName", "Max"),
        ("botTitle", "Your guide"),
        ("botLore", ""),
        ("botTone", "FRIENDLY"),
        ("contentPolicy", "SFW"),
        ("primaryColor", "#112233"),
        ("secondaryColor", "#ffffff"),
        ("allowedDomains", ""),
        ("showAiBadge", "true"),
        ("isActivated", "true"),
    ];
    let r = session.post("/dashboard/acme/settings", &fields);
    assert_eq!(r.status, 303, "{}", r.text);
    let (victim, _) = server.token(&["corpus:read"]);
    let r = session.post(&format!("/dashboard/acme/tokens/{victim}/revoke"), &[]);
    assert_eq!(r.status, 303, "{}", r.text);
    let log = audit(&server, "?limit=3");
    assert_eq!(
        actions(&log),
        ["token.revoked", "token.created", "settings.changed"]
    );
    for at in [0, 2] {
        let actor = &log["entries"][at]["actor"];
        assert_eq!(actor["kind"], "dashboard", "{log}");
        assert_eq!(actor["tokenId"], token_id.as_str());
        assert_eq!(actor["ip"], "127.0.0.1");
    }
    assert_eq!(log["entries"][0]["target"], victim.as_str());
}
