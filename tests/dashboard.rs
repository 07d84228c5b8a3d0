//! The dashboard over HTTP: sign-in, the session cookie, CSRF, expiry, scope gating of every
//! page, revocation, throttling; and the widget's public config with its CORS rules.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::Server;
use crate::support::dashboard::{Session, hidden_csrf, send, set_cookie, sign_in_attempt};
use animam::domain::Scope;
use animam::web::Access;

fn location(r: &crate::support::Resp) -> &str {
    r.header("location").unwrap_or_default()
}

#[test]
fn sign_in_sets_a_strict_cookie_and_wrong_tokens_are_refused() {
    let server = Server::start();
    let r = send(&server, "GET", "/dashboard", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.text.contains(r#"action="/dashboard/-/sign-in""#));
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));

    let r = sign_in_attempt(&server, &server.admin);
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(location(&r), "/dashboard/acme");
    let cookie = set_cookie(&r).unwrap();
    assert!(cookie.starts_with("animam_session=as_"), "{cookie}");
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=604800",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "not without secure_cookies: {cookie}"
    );
    assert!(!cookie.contains(&server.admin));

    // Wrong, malformed, legacy key, revoked: 401 with the form again, no cookie, no echo.
    let (revoked_id, revoked) = server.token(&["*"]);
    server.delete(&format!("/tenants/acme/tokens/{revoked_id}"), &server.admin);
    let mut wrong = server.admin.clone();
    wrong.replace_range(5..6, if &wrong[5..6] == "a" { "b" } else { "a" });
    for bad in [wrong.as_str(), "ak_nope", "", &server.legacy, &revoked] {
        let r = sign_in_attempt(&server, bad);
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        assert!(set_cookie(&r).is_none());
        assert!(r.text.contains("not valid"), "{}", r.text);
        if !bad.is_empty() {
            assert!(!r.text.contains(bad), "the token is not echoed");
        }
    }
    assert!(
        !server.log().contains(&server.admin),
        "no secret in the log"
    );

    // Signing in again from the same browser ends the session it had.
    let first = Session::sign_in(&server, &server.admin);
    let r = send(
        &server,
        "POST",
        "/dashboard/-/sign-in",
        &[("cookie", &first.cookie())],
        Some(&[("token", &server.admin)]),
    );
    assert_eq!(r.status, 303);
    assert_eq!(location(&first.get("/dashboard/acme")), "/dashboard");

    // A live session goes straight to its tenant; the session secret is in no page.
    let session = Session::sign_in(&server, &server.admin);
    let r = session.get("/dashboard");
    assert_eq!((r.status, location(&r)), (303, "/dashboard/acme"));
    let r = session.get("/dashboard/acme");
    assert_eq!(r.status, 200);
    assert!(!r.text.contains(&session.secret));
    assert!(!server.log().contains(&session.secret));
}

#[test]
fn first_run_page_then_overview() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    let r = session.get("/dashboard/acme");
    assert!(r.text.contains("Get started"), "{}", r.text);
    assert!(r.text.contains("/dashboard/acme/corpus/import"));
    server.corpus(&json!({"title": "Hours", "content": "Open 9 to 5"}));
    let r = session.get("/dashboard/acme");
    assert!(r.text.contains("Overview") && !r.text.contains("Get started"));
    assert!(
        r.text.contains("data-tenant=&quot;acme&quot;"),
        "{}",
        r.text
    );
}

#[test]
fn forms_need_the_session_csrf_token_and_the_same_origin() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    let fields = [("name", "From the dashboard"), ("scopes", "corpus:read")];
    let r = session.post_raw("/dashboard/acme/tokens", &fields);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("Form expired"));
    let mut with_wrong = vec![("csrf", "0000")];
    with_wrong.extend_from_slice(&fields);
    assert_eq!(
        session
            .post_raw("/dashboard/acme/tokens", &with_wrong)
            .status,
        403
    );
    // Another session's token is not this one's.
    let other = Session::sign_in(&server, &server.admin);
    let other_csrf = other.csrf();
    let mut with_other = vec![("csrf", other_csrf.as_str())];
    with_other.extend_from_slice(&fields);
    assert_eq!(
        session
            .post_raw("/dashboard/acme/tokens", &with_other)
            .status,
        403
    );
    // The right token, posted from another site: refused.
    let csrf = session.csrf();
    let mut good = vec![("csrf", csrf.as_str())];
    good.extend_from_slice(&fields);
    let r = send(
        &server,
        "POST",
        "/dashboard/acme/tokens",
        &[
            ("cookie", &session.cookie()),
            ("origin", "https://evil.example"),
        ],
        Some(&good),
    );
    assert_eq!(r.status, 403);
    let r = send(
        &server,
        "POST",
        "/dashboard/acme/tokens",
        &[
            ("cookie", &session.cookie()),
            ("sec-fetch-site", "cross-site"),
        ],
        Some(&good),
    );
    assert_eq!(r.status, 403);
    // The sign-in form too (login CSRF).
    let r = send(
        &server,
        "POST",
        "/dashboard/-/sign-in",
        &[("origin", "https://evil.example")],
        Some(&[("token", &server.admin)]),
    );
    assert_eq!(r.status, 403);
    assert!(set_cookie(&r).is_none());
    let tokens = server.get("/tenants/acme/tokens", &server.admin).json();
    assert_eq!(
        tokens["tokens"].as_array().unwrap().len(),
        1,
        "nothing created"
    );
    assert_eq!(
        session.post_raw("/dashboard/acme/tokens", &good).status,
        201
    );
}

#[test]
fn token_life_cycle_secret_shown_once() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    let page = session.get("/dashboard/acme/tokens");
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Create a token"));

    // Refusals are shown beside their fields.
    let r = session.post("/dashboard/acme/tokens", &[("name", "No scopes")]);
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="scopes-error""#), "{}", r.text);
    let r = session.post(
        "/dashboard/acme/tokens",
        &[
            ("name", "Past"),
            ("scopes", "corpus:read"),
            ("expiresAt", "2001-01-01"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="expiresAt-error""#), "{}", r.text);

    let r = session.post(
        "/dashboard/acme/tokens",
        &[
            ("name", "Importer"),
            ("scopes", "corpus:read"),
            ("scopes", "corpus:write"),
            ("expiresAt", "2099-01-01"),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text.contains("will not be shown again"));
    let at = r.text.find("value=\"ak_").unwrap() + "value=\"".len();
    let secret: String = r.text[at..].chars().take_while(|c| *c != '"').collect();
    // The secret works on the API with exactly the scopes chosen.
    assert_eq!(server.get("/tenants/acme/corpus", &secret).status, 200);
    assert_eq!(server.get("/tenants/acme/tokens", &secret).status, 403);
    let list = server.get("/tenants/acme/tokens", &server.admin).json();
    let made = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Importer")
        .unwrap()
        .clone();
    assert_eq!(made["expiresAt"], "2099-01-01T00:00:00Z");
    let id = made["id"].as_str().unwrap();

    // The list shows the prefix, never the secret again.
    let page = session.get("/dashboard/acme/tokens");
    assert!(page.text.contains("Importer"));
    assert!(!page.text.contains(&secret));
    assert!(!server.log().contains(&secret));

    // Revoke: a confirmation page, then the POST.
    let confirm = session.get(&format!("/dashboard/acme/tokens/{id}/revoke"));
    assert_eq!(confirm.status, 200);
    assert!(confirm.text.contains("cannot be undone"));
    let r = session.post(&format!("/dashboard/acme/tokens/{id}/revoke"), &[]);
    assert_eq!(r.status, 303);
    assert_eq!(location(&r), "/dashboard/acme/tokens?done=revoked");
    server
        .get("/tenants/acme/corpus", &secret)
        .assert_error(401, "Unauthorized", "invalid_token");
    // Nobody revokes upwards from the dashboard either.
    let (_, small) = server.token(&["tokens:write"]);
    let small_session = Session::sign_in(&server, &small);
    let (big_id, _) = server.token(&["*"]);
    let r = small_session.post(&format!("/dashboard/acme/tokens/{big_id}/revoke"), &[]);
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn sign_out_ends_the_session() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    assert_eq!(session.post_raw("/dashboard/-/sign-out", &[]).status, 403);
    let r = session.post("/dashboard/-/sign-out", &[]);
    assert_eq!((r.status, location(&r)), (303, "/dashboard?ended=out"));
    assert!(
        set_cookie(&r).unwrap().contains("animam_session=;"),
        "cleared"
    );
    let r = session.get("/dashboard/acme");
    assert_eq!((r.status, location(&r)), (303, "/dashboard"));
}

#[test]
fn the_api_refuses_the_cookie_and_pages_refuse_api_credentials() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    let r = server.request(
        "GET",
        "/tenants/acme/corpus",
        &[("cookie", &session.cookie())],
        None,
    );
    r.assert_error(401, "Unauthorized", "missing_credentials");
    let bearer = format!("Bearer {}", server.admin);
    for headers in [
        vec![("authorization", bearer.as_str())],
        vec![("x-api-key", server.legacy.as_str())],
    ] {
        let r = send(&server, "GET", "/dashboard/acme/tokens", &headers, None);
        assert_eq!((r.status, location(&r)), (303, "/dashboard"));
    }
}

#[test]
fn revoking_or_expiring_the_token_ends_its_sessions_at_once() {
    let server = Server::start();
    let (id, token) = server.token(&["*"]);
    let session = Session::sign_in(&server, &token);
    assert_eq!(session.get("/dashboard/acme").status, 200);
    server.delete(&format!("/tenants/acme/tokens/{id}"), &server.admin);
    // The revocation deleted the session in its own transaction.
    let r = session.get("/dashboard/acme");
    assert_eq!((r.status, location(&r)), (303, "/dashboard"));

    let expires = animam::clock::Timestamp::now().plus_secs(2).to_rfc3339();
    let soon = server
        .post(
            "/tenants/acme/tokens",
            &server.admin,
            &json!({"name": "soon", "scopes": ["*"], "expiresAt": expires}),
        )
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let session = Session::sign_in(&server, &soon);
    assert_eq!(session.get("/dashboard/acme").status, 200);
    let deadline = animam::clock::Timestamp::parse_rfc3339(&expires).unwrap();
    while animam::clock::Timestamp::now() <= deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = session.get("/dashboard/acme");
    assert_eq!((r.status, location(&r)), (303, "/dashboard?ended=token"));
}

#[test]
fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let server = Server::start_with(&[
        ("ANIMAM_DASHBOARD_SECURE_COOKIES", "true"),
        ("ANIMAM_DASHBOARD_SESSION_IDLE_SECS", "3"),
        ("ANIMAM_DASHBOARD_SESSION_MAX_SECS", "6"),
    ]);
    let r = sign_in_attempt(&server, &server.admin);
    let cookie = set_cookie(&r).unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("Max-Age=6"),
        "{cookie}"
    );

    // Idle: untouched for 3 s ends it.
    let idle = Session::sign_in(&server, &server.admin);
    std::thread::sleep(Duration::from_millis(3300));
    let r = idle.get("/dashboard/acme");
    assert_eq!((r.status, location(&r)), (303, "/dashboard?ended=expired"));

    // Absolute: used every 0.5 s it stays alive past the idle limit, until 6 s after sign-in.
    let busy = Session::sign_in(&server, &server.admin);
    let start = Instant::now();
    loop {
        let r = busy.get("/dashboard/acme");
        if r.status != 200 {
            assert_eq!((r.status, location(&r)), (303, "/dashboard?ended=expired"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never expired");
        std::thread::sleep(Duration::from_millis(500));
    }
    let lived = start.elapsed();
    assert!(
        lived >= Duration::from_millis(4500),
        "alive past the idle limit: {lived:?}"
    );
}

#[test]
fn failed_sign_ins_are_throttled_per_client() {
    let server = Server::start_with(&[("ANIMAM_DASHBOARD_SIGN_IN_PER_IP_PER_MINUTE", "3")]);
    for _ in 0..3 {
        assert_eq!(sign_in_attempt(&server, "ak_wrong").status, 401);
    }
    let r = sign_in_attempt(&server, &server.admin);
    assert_eq!(r.status, 429, "even a right token waits: {}", r.text);
    assert!(r.header("retry-after").is_some());
    assert!(set_cookie(&r).is_none());
    assert!(r.text.contains("Too many"));
}

/// A fresh segment's id.
fn segment(server: &Server) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("Gate {}", NEXT.fetch_add(1, Ordering::Relaxed));
    let r = server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({ "name": name }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_string()
}

/// A conversation's id (a chat turn with a new session).
fn conversation(server: &Server) -> String {
    let session = segment(server);
    let body = json!({"message": "hello there", "sessionId": session, "stream": false});
    let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["conversationId"].as_str().unwrap().to_string()
}

/// A concrete request for a dashboard route (ids filled with fresh records).
fn concrete(server: &Server, path: &str) -> String {
    // Holds no more than a tokens:write session, so revoking it is not "upwards".
    let token_id = || server.token(&["tokens:write"]).0;
    let entry = || server.corpus(&json!({"title": "Gate", "content": "Gate entry"}));
    match path {
        p if p.contains("/tokens/{id}") => p.replace("{id}", &token_id()),
        p if p.contains("/corpus/{id}") => p.replace("{id}", &entry()),
        p if p.contains("/segments/{id}") => p.replace("{id}", &segment(server)),
        p if p.contains("/conversations/{id}") => p.replace("{id}", &conversation(server)),
        p => p.to_string(),
    }
    .replace("{slug}", "acme")
    .replace("{file}", "dashboard.css")
}

#[test]
fn every_page_is_gated_by_its_scope() {
    let server = Server::start();
    let routes = animam::web::routes();
    assert!(routes.len() >= 15);
    let scopes: Vec<Scope> = Scope::EVERY
        .into_iter()
        .filter(|s| *s != Scope::All)
        .collect();
    let sessions: Vec<(Scope, Session)> = scopes
        .iter()
        .map(|s| {
            (
                *s,
                Session::sign_in(&server, &server.token(&[s.as_str()]).1),
            )
        })
        .collect();
    let other_tenant = Session::sign_in(&server, &server.other_admin);
    for route in &routes {
        let method = route.method.as_str();
        let label = format!("{method} {}", route.path);
        let path = concrete(&server, route.path);
        let call = |session: &Session| match method {
            "GET" => session.get(&path),
            _ => {
                // Each session's own CSRF token: refusal must come from the scope.
                let csrf = session.csrf();
                session.post_raw(&path, &[("csrf", &csrf)])
            }
        };
        match route.access {
            Access::Public => {
                let r = send(&server, method, &path, &[], Some(&[]));
                assert!(r.status < 500 && r.status != 403, "{label}: {}", r.status);
            }
            Access::Session | Access::Scope(_) => {
                let form: Option<&[(&str, &str)]> = (method == "POST").then_some(&[]);
                let r = send(&server, method, &path, &[], form);
                assert_eq!(
                    (r.status, location(&r)),
                    (303, "/dashboard"),
                    "{label} unsigned"
                );
                if route.path.contains("{slug}") {
                    let r = call(&other_tenant);
                    assert_eq!(r.status, 404, "{label} from another tenant");
                }
            }
        }
        let Access::Scope(required) = route.access else {
            continue;
        };
        for (scope, session) in &sessions {
            let path = concrete(&server, route.path);
            let r = match method {
                "GET" => session.get(&path),
                _ => {
                    let csrf = session.csrf();
                    session.post_raw(&path, &[("csrf", &csrf)])
                }
            };
            if *scope == required {
                let signed_out = r.status == 303 && location(&r).starts_with("/dashboard?");
                assert!(
                    r.status != 403
                        && r.status < 500
                        && !signed_out
                        && location(&r) != "/dashboard",
                    "{label} with {scope}: {} {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(r.status, 403, "{label} with {scope}");
                assert!(
                    r.text.contains(&format!("needs the scope {required}")),
                    "{label}"
                );
            }
        }
        // Every form also needs the CSRF token.
        if method == "POST" {
            let session = &sessions.iter().find(|(s, _)| *s == required).unwrap().1;
            let r = session.post_raw(&concrete(&server, route.path), &[]);
            assert_eq!(r.status, 403, "{label} without csrf");
            assert!(r.text.contains("Form expired"), "{label}");
        }
    }
}

#[test]
fn knowledge_base_pages_create_edit_import_and_export() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);
    // Validation beside the field, nothing written.
    let r = session.post(
        "/dashboard/acme/corpus/new",
        &[("title", "  "), ("content", "x"), ("priority", "5")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="title-error""#), "{}", r.text);
    let r = session.post(
        "/dashboard/acme/corpus/new",
        &[("title", "T"), ("content", "x"), ("priority", "11")],
    );
    assert!(r.text.contains(r#"id="priority-error""#), "{}", r.text);
    let r = session.post(
        "/dashboard/acme/corpus/new",
        &[
            ("title", "Returns"),
            ("content", "Returns are free within 30 days."),
            ("segment", "general"),
            ("priority", "7"),
            ("tags", "policy; returns"),
        ],
    );
    assert_eq!(
        (r.status, location(&r)),
        (303, "/dashboard/acme/corpus?done=saved")
    );
    let list = server.get("/tenants/acme/corpus", &server.admin).json();
    let entry = &list["corpus"][0];
    assert_eq!(entry["tags"], json!(["policy", "returns"]));
    assert_eq!(entry["priority"], 7);
    let id = entry["id"].as_str().unwrap();

    let r = session.post(
        &format!("/dashboard/acme/corpus/{id}/edit"),
        &[
            ("title", "Returns policy"),
            ("content", "Free within 30 days."),
            ("priority", "6"),
            ("segment", ""),
            ("tags", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let got = server
        .get(&format!("/tenants/acme/corpus/{id}"), &server.admin)
        .json();
    assert_eq!(
        (got["title"].as_str(), got["segment"].as_str()),
        (Some("Returns policy"), None)
    );

    // Import: preview with a per-row report; all-or-nothing refuses; partial writes.
    let csv = "title,content,segment,priority,tags\r\nShipping,Ships in 2 days,,3,ship\r\nBad,,,5,\r\n=Sum,Formula-looking title,general,,x;y\r\n";
    let r = session.post(
        "/dashboard/acme/corpus/import",
        &[("csv", csv), ("mode", "all"), ("action", "preview")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("2 of 3 rows are ready"), "{}", r.text);
    assert!(
        r.text.contains("<td>2</td><td><code>content</code></td>"),
        "{}",
        r.text
    );
    let r = session.post(
        "/dashboard/acme/corpus/import",
        &[("csv", csv), ("mode", "all"), ("action", "import")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("nothing was imported"));
    assert_eq!(
        server.get("/tenants/acme/corpus", &server.admin).json()["pagination"]["total"],
        1
    );
    let r = session.post(
        "/dashboard/acme/corpus/import",
        &[("csv", csv), ("mode", "partial"), ("action", "import")],
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.text.contains("Imported 2 entries"));
    let r = session.post(
        "/dashboard/acme/corpus/import",
        &[("csv", "name,text\r\nx,y\r\n"), ("action", "preview")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("the first line must be"), "{}", r.text);

    // List: search, segment filter, pagination links.
    let r = session.get("/dashboard/acme/corpus?search=shipping");
    assert!(
        r.text.contains("Shipping") && !r.text.contains("Returns policy"),
        "{}",
        r.text
    );
    let r = session.get("/dashboard/acme/corpus?segment=general");
    assert!(r.text.contains("=Sum") && !r.text.contains("Shipping"));
    for i in 0..21 {
        server.corpus(&json!({"title": format!("Filler {i}"), "content": "filler"}));
    }
    let r = session.get("/dashboard/acme/corpus");
    assert!(
        r.text.contains("Page 1 of 2") && r.text.contains("page=2"),
        "{}",
        r.text
    );

    // Export: the API's CSV, formula cells guarded.
    let r = session.get("/dashboard/acme/corpus/export");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text,
        server
            .get("/tenants/acme/corpus/export", &server.admin)
            .text
    );
    assert!(r.text.contains("'=Sum"));

    // Delete.
    let r = session.post(&format!("/dashboard/acme/corpus/{id}/delete"), &[]);
    assert_eq!(r.status, 303);
    assert_eq!(
        server
            .get(&format!("/tenants/acme/corpus/{id}"), &server.admin)
            .status,
        404
    );
}

#[test]
fn widget_script_and_config_follow_the_tenant_origins() {
    let server = Server::start();
    let r = server.request("GET", "/widget.js", &[], None);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(r.text.contains("window.AnimamWidget"));

    let r = server.request("GET", "/widget/config/acme", &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    let config = r.json();
    assert_eq!(config["segment"], "general");
    assert_eq!(config["primaryColor"], "#4f46e5");
    assert!(config.get("legacyKeyHash").is_none() && config.get("allowedDomains").is_none());

    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"allowedDomains": ["shop.example"], "botName": "Max"}),
    );
    let r = server.request(
        "GET",
        "/widget/config/acme",
        &[("origin", "https://www.shop.example")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://www.shop.example")
    );
    assert_eq!(r.json()["botName"], "Max");
    let r = server.request(
        "GET",
        "/widget/config/acme",
        &[("origin", "https://evil.example")],
        None,
    );
    r.assert_error(
        403,
        "Origin not allowed for this tenant",
        "origin_not_allowed",
    );
    assert!(r.header("access-control-allow-origin").is_none());

    let r = server.request("GET", "/widget/config/acme?segment=nope", &[], None);
    assert_eq!(r.status, 400);
    let r = server.request("GET", "/widget/config/nosuch", &[], None);
    assert_eq!(r.status, 404);
    let r = server.request("GET", "/widget/config/acme?colour=red", &[], None);
    assert_eq!(r.status, 400);
}

#[test]
fn csrf_tokens_differ_per_session() {
    let server = Server::start();
    let a = Session::sign_in(&server, &server.admin);
    let b = Session::sign_in(&server, &server.admin);
    let page = a.get("/dashboard/acme/tokens");
    let csrf = hidden_csrf(&page.text).unwrap();
    assert_eq!(csrf.len(), 64);
    assert_ne!(csrf, b.csrf());
    assert!(!page.text.contains(&a.secret));
}

#[test]
fn conversations_segments_and_settings_pages() {
    let server = Server::start();
    let session = Session::sign_in(&server, &server.admin);

    // Conversations: list, filters (validated by the API's rules), transcript, export.
    let id = conversation(&server);
    let r = session.get("/dashboard/acme/conversations");
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("hello there") && r.text.contains(&id),
        "{}",
        r.text
    );
    let r = session.get("/dashboard/acme/conversations?channel=widget");
    assert!(r.text.contains("0 conversations"), "{}", r.text);
    let r = session.get("/dashboard/acme/conversations?from=2001-01-01&to=2099-12-31&channel=api");
    assert!(r.text.contains("1 conversation<"), "{}", r.text);
    let r = session.get("/dashboard/acme/conversations?from=yesterday");
    assert_eq!(r.status, 400);
    assert!(r.text.contains("from"), "{}", r.text);
    let r = session.get(&format!("/dashboard/acme/conversations/{id}"));
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Visitor") && r.text.contains("hello there"));
    let r = session.get("/dashboard/acme/conversations/export?channel=api");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text,
        server
            .get(
                "/tenants/acme/conversations/export?channel=api",
                &server.admin
            )
            .text
    );

    // Segments: create (slug from the name), validation beside the field, edit, default, delete.
    let r = session.post(
        "/dashboard/acme/segments",
        &[
            ("name", "Checkout help"),
            ("welcomeMessage", "Need help paying?"),
            ("conversationStarters", "Which cards?\nIs it safe?"),
            ("isActive", "true"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let seg = server
        .get("/tenants/acme/segments/checkout-help", &server.admin)
        .json();
    assert_eq!(seg["conversationStarters"][1]["text"], "Is it safe?");
    let seg_id = seg["id"].as_str().unwrap().to_string();
    let r = session.post(
        "/dashboard/acme/segments",
        &[("name", "Bad"), ("slug", "Not A Slug")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="slug-error""#), "{}", r.text);
    let r = session.post(
        &format!("/dashboard/acme/segments/{seg_id}/edit"),
        &[
            ("name", "Checkout"),
            ("welcomeMessage", "Hi"),
            ("isActive", "true"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let r = session.post(&format!("/dashboard/acme/segments/{seg_id}/default"), &[]);
    assert_eq!(r.status, 303);
    let seg = server
        .get(&format!("/tenants/acme/segments/{seg_id}"), &server.admin)
        .json();
    assert_eq!(
        (seg["name"].as_str(), seg["isDefault"].as_bool()),
        (Some("Checkout"), Some(true))
    );
    // The default cannot be deleted: the list again with the reason.
    let r = session.post(&format!("/dashboard/acme/segments/{seg_id}/delete"), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("default segment"), "{}", r.text);
    let r = session.post("/dashboard/acme/segments/general/delete", &[]);
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        server
            .get("/tenants/acme/segments/general", &server.admin)
            .status,
        404
    );

    // Settings: validation beside the field, nothing saved; then saved.
    let page = session.get("/dashboard/acme/settings");
    assert_eq!(page.status, 200);
    assert!(page.text.contains(r#"id="widget-preview""#));
    let mut fields = vec![
        ("name", "Acme"),
        ("botName", "Max"),
        ("botTitle", "Your guide"),
        ("botLore", ""),
        ("botTone", "FRIENDLY"),
        ("contentPolicy", "SFW"),
        ("primaryColor", "#112233"),
        ("secondaryColor", "#ffffff"),
        ("allowedDomains", "shop.example\nhttps://bad.example"),
        ("showAiBadge", "true"),
        ("isActivated", "true"),
        ("answerGeneralQuestions", "true"),
    ];
    let r = session.post("/dashboard/acme/settings", &fields);
    assert_eq!(r.status, 400);
    assert!(
        r.text.contains(r#"id="allowedDomains-error""#),
        "{}",
        r.text
    );
    assert_eq!(
        server.get("/tenants/acme", &server.admin).json()["botName"],
        "Assistant"
    );
    fields[8] = ("allowedDomains", "shop.example\n*.acme.example");
    let r = session.post("/dashboard/acme/settings", &fields);
    assert_eq!(r.status, 303, "{}", r.text);
    let tenant = server.get("/tenants/acme", &server.admin).json();
    assert_eq!(tenant["botName"], "Max");
    assert_eq!(tenant["primaryColor"], "#112233");
    assert_eq!(
        tenant["allowedDomains"],
        json!(["shop.example", "*.acme.example"])
    );
    assert_eq!(tenant["allowEmojis"], false);
    assert_eq!(tenant["answerGeneralQuestions"], true);

    // Read-only settings: the form shows, disabled, without a save button.
    let (_, reader) = server.token(&["settings:read"]);
    let reader = Session::sign_in(&server, &reader);
    let r = reader.get("/dashboard/acme/settings");
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("Save settings") && r.text.contains("disabled"));
}

#[test]
fn tenants_named_like_dashboard_routes_keep_their_pages() {
    let mut server = Server::start();
    server.stop();
    let tokens: Vec<(&str, String)> = ["static", "sign-in"]
        .into_iter()
        .map(|slug| (slug, crate::support::bootstrap(server.root.path(), slug)))
        .collect();
    server.launch(&[]);
    for (slug, token) in &tokens {
        let session = Session::sign_in(&server, token);
        assert_eq!(session.home, format!("/dashboard/{slug}"));
        for page in ["", "/tokens", "/preview"] {
            let r = session.get(&format!("/dashboard/{slug}{page}"));
            assert_eq!(r.status, 200, "{slug}{page}: {}", r.text);
        }
    }
}
