//! The real binary end to end: bootstrap, serve, restart, shutdown, secrets at rest and in logs.

use std::path::Path;

use serde_json::json;

use crate::support::fake_llm::{FakeBehaviour, spawn_fake_llm};
use crate::support::{Server, animam};

#[test]
fn bootstrap_then_serve_then_authenticated_request() {
    let server = Server::start();
    assert_eq!(server.get("/health", "").json(), json!({"status": "ok"}));
    let r = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "Hello", "content": "First entry"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        server
            .log()
            .contains("animam listening on http://127.0.0.1:")
    );
}

#[test]
fn restart_keeps_data_tokens_and_revocations() {
    let mut server = Server::start();
    let entry = server
        .corpus(&json!({"title": "Warranty", "content": "Two years of warranty on every device."}));
    let (_, reader) = server.token(&["corpus:read"]);
    let (revoked_id, revoked) = server.token(&["corpus:read"]);
    server.delete(&format!("/tenants/acme/tokens/{revoked_id}"), &server.admin);
    server.patch("/tenants/acme", &server.admin, &json!({"botName": "Kept"}));

    server.restart();

    let r = server.get(&format!("/tenants/acme/corpus/{entry}"), &reader);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["title"], "Warranty");
    let found = server
        .get("/tenants/acme/corpus?search=warranty", &reader)
        .json();
    assert_eq!(
        found["corpus"][0]["id"],
        entry.as_str(),
        "search index rebuilt at start-up"
    );
    server
        .get("/tenants/acme/corpus", &revoked)
        .assert_error(401, "Unauthorized", "invalid_token");
    assert_eq!(
        server.get("/tenants/acme", &server.admin).json()["botName"],
        "Kept"
    );
    assert_eq!(
        server
            .request(
                "GET",
                "/tenants/acme",
                &[("x-api-key", &server.legacy)],
                None
            )
            .status,
        200
    );
}

#[test]
fn last_used_is_kept_in_memory_and_flushed_at_shutdown() {
    let mut server = Server::start();
    let (id, token) = server.token(&["corpus:read"]);
    let last_used = |server: &Server| {
        let list = server.get("/tenants/acme/tokens", &server.admin).json();
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()["lastUsedAt"]
            .clone()
    };
    assert_eq!(last_used(&server), json!(null));
    assert_eq!(server.get("/tenants/acme/corpus", &token).status, 200);
    let seen = last_used(&server);
    assert!(seen.is_string(), "{seen}");
    server.stop();
    // Read straight from the store, without a server: the value was written at shutdown.
    let out = animam(
        server.root.path(),
        &["token", "list", "--tenant", "acme", "--data-dir", "data"],
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    let row = listing.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        row.contains(seen.as_str().unwrap()),
        "{row} should show {seen}"
    );
    server.launch(&[]);
    assert_eq!(last_used(&server), seen);
}

#[test]
fn stop_signals_let_in_flight_requests_finish() {
    for signal in ["-TERM", "-INT"] {
        // A hanging LLM keeps each chat request in flight for about a second.
        let fake = spawn_fake_llm(FakeBehaviour::Hang);
        let mut server = Server::start_with(&[
            ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
            ("ANIMAM_CHAT_LLM_MODEL", "m"),
            ("ANIMAM_CHAT_LLM_TIMEOUT_SECS", "1"),
        ]);
        // Only questions answered from the corpus go to the LLM.
        server.corpus(&json!({
            "title": "Refund policy",
            "content": "Refunds are issued within 30 days of purchase."
        }));
        let in_flight = std::thread::scope(|scope| {
            let request = scope.spawn(|| {
                let body = json!({
                    "message": "How long do refunds take?",
                    "sessionId": "slow",
                    "stream": false
                });
                server.request("POST", "/chat/acme", &[], Some(&body.to_string()))
            });
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while fake.request_count() == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{signal}: the chat request never reached the LLM"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            server.signal(signal);
            request.join().unwrap()
        });
        assert_eq!(in_flight.status, 200, "{signal}: {}", in_flight.text);
        server.wait_for_exit();
        assert!(server.log_shows("finishing in-flight requests"), "{signal}");
        server.launch(&[]);
        let stored = server
            .get("/tenants/acme/conversations", &server.admin)
            .json();
        assert_eq!(
            stored["pagination"]["total"], 1,
            "{signal}: the answered exchange was stored"
        );
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn secrets_never_stored_or_logged_in_clear() {
    let mut server = Server::start();
    let (_, scoped) = server.token(&["corpus:read"]);
    let secrets = [
        server.admin.clone(),
        server.other_admin.clone(),
        server.legacy.clone(),
        server.other_legacy.clone(),
        scoped.clone(),
    ];
    // Use every secret, successfully and not, including in a query string.
    for secret in &secrets {
        server.get("/tenants/acme/corpus", secret);
        server.request(
            "GET",
            "/tenants/acme/corpus",
            &[("x-api-key", secret)],
            None,
        );
        server.request(
            "GET",
            &format!("/tenants/acme/corpus?token={secret}"),
            &[],
            None,
        );
        server.request(
            "GET",
            "/tenants/acme",
            &[("cookie", &format!("animam_session={secret}"))],
            None,
        );
    }
    server.stop();
    let cli = animam(server.root.path(), &["token", "list", "--data-dir", "data"]);
    let mut logged = server.log();
    logged.push_str(&String::from_utf8_lossy(&cli.stdout));
    logged.push_str(&String::from_utf8_lossy(&cli.stderr));
    assert!(
        logged.contains("GET /tenants/acme/corpus"),
        "the access log is there: {logged}"
    );
    let files = files_under(&server.data_dir());
    assert!(!files.is_empty());
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "secret in log");
        assert!(!logged.contains(&secret[3..]), "secret body in log");
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            let found = bytes
                .windows(secret.len() - 3)
                .any(|w| w == &secret.as_bytes()[3..]);
            assert!(!found, "secret stored in clear in {}", file.display());
        }
    }
}
