//! Nothing acknowledged is lost, and the search index always agrees with the store: under
//! concurrent writes and chats, across a crash (SIGKILL) and a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Server, animam};

#[test]
fn concurrent_writes_chats_then_a_crash_lose_nothing() {
    let mut server = Server::start();
    // What each writer was told, per entry id: Some(word it must be found by) or None (deleted).
    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let server = &server;
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..15 {
                        let word = format!("marker{w}x{i}");
                        let id = server.corpus(&json!({"title": format!("Entry {word}"), "content": format!("The {word} answer lives here.")}));
                        let state = match i % 3 {
                            0 => {
                                let r = server.delete(&format!("/tenants/acme/corpus/{id}"), &server.admin);
                                assert_eq!(r.status, 200);
                                None
                            }
                            1 => {
                                let new_word = format!("patched{w}x{i}");
                                let r = server.patch(&format!("/tenants/acme/corpus/{id}"), &server.admin, &json!({"title": format!("Entry {new_word}"), "content": format!("Now about {new_word}.")}));
                                assert_eq!(r.status, 200);
                                Some(new_word)
                            }
                            _ => Some(word),
                        };
                        seen.push((id, state));
                    }
                    seen
                })
            })
            .collect();
        let chatter = scope.spawn(|| {
            for i in 0..30 {
                let body = json!({"message": format!("tell me about marker0x{}", i % 15), "sessionId": format!("c{i}"), "stream": false});
                let r = server.request("POST", "/chat/acme", &[], Some(&body.to_string()));
                assert_eq!(r.status, 200, "{}", r.text);
            }
        });
        for writer in writers {
            expected.extend(writer.join().unwrap());
        }
        chatter.join().unwrap();
    });

    let check = |server: &Server, when: &str| {
        for (id, state) in &expected {
            let r = server.get(&format!("/tenants/acme/corpus/{id}"), &server.admin);
            match state {
                Some(word) => {
                    assert_eq!(r.status, 200, "{when}: {id} lost");
                    assert_eq!(
                        server.search_ids(word),
                        vec![id.clone()],
                        "{when}: search for {word}"
                    );
                }
                None => assert_eq!(r.status, 404, "{when}: deleted {id} came back"),
            }
        }
        // Old words of patched entries and words of deleted entries find nothing.
        for w in 0..4 {
            for i in (0..15).filter(|i| i % 3 != 2) {
                assert!(
                    server.search_ids(&format!("marker{w}x{i}")).is_empty(),
                    "{when}: marker{w}x{i}"
                );
            }
        }
        let total = server.get("/tenants/acme/corpus", &server.admin).json()["pagination"]["total"]
            .as_u64()
            .unwrap();
        assert_eq!(
            total as usize,
            expected.values().filter(|s| s.is_some()).count(),
            "{when}"
        );
    };
    check(&server, "live");
    server.kill();
    server.launch(&[]);
    check(&server, "after SIGKILL and restart");
    let chats = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    assert_eq!(
        chats["pagination"]["total"], 30,
        "every answered chat was stored"
    );
}

#[test]
fn unknown_routes_and_methods_are_json() {
    let server = Server::start();
    server
        .get("/nope", &server.admin)
        .assert_error(404, "Route not found", "not_found");
    server
        .get("/tenants/acme/nope", &server.admin)
        .assert_error(404, "Route not found", "not_found");
    server.delete("/tenants/acme", &server.admin).assert_error(
        405,
        "Method not allowed on this route",
        "method_not_allowed",
    );
}

/// Writes acknowledged to a client before a crash.
#[derive(Default)]
struct Acknowledged {
    /// corpus id -> its unique word.
    corpus: BTreeMap<String, String>,
    /// session -> exchanges answered.
    chats: BTreeMap<String, u64>,
    /// token secrets returned.
    tokens: Vec<String>,
}

/// Corpus writes, chats and token mints from three clients until the server dies under them.
fn load_until_killed(server: &Server, round: usize, ack: &Mutex<Acknowledged>, stop: &AtomicBool) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0.. {
                let word = format!("crashword{round}x{i}");
                let body = json!({"title": format!("Entry {word}"), "content": format!("All about {word} here.")});
                let auth = format!("Bearer {}", server.admin);
                let Ok(r) = server.try_request("POST", "/tenants/acme/corpus", &[("authorization", &auth)], Some(&body.to_string())) else { break };
                if r.status != 201 { break }
                let id = r.json()["id"].as_str().unwrap().to_string();
                ack.lock().unwrap().corpus.insert(id, word);
                if stop.load(Ordering::Relaxed) { break }
            }
        });
        scope.spawn(|| {
            for i in 0.. {
                let session = format!("r{round}s{}", i % 3);
                let body = json!({"message": "hello there", "sessionId": session, "stream": false});
                let Ok(r) = server.try_request("POST", "/chat/acme", &[], Some(&body.to_string()))
                else {
                    break;
                };
                if r.status != 200 {
                    break;
                }
                *ack.lock().unwrap().chats.entry(session).or_default() += 1;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        scope.spawn(|| {
            loop {
                let body = json!({"name": "crash", "scopes": ["corpus:read"]});
                let auth = format!("Bearer {}", server.admin);
                let Ok(r) = server.try_request(
                    "POST",
                    "/tenants/acme/tokens",
                    &[("authorization", &auth)],
                    Some(&body.to_string()),
                ) else {
                    break;
                };
                if r.status != 201 {
                    break;
                }
                let secret = r.json()["token"].as_str().unwrap().to_string();
                ack.lock().unwrap().tokens.push(secret);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
    });
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    const ROUNDS: usize = 20;
    let env = [("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "0")];
    let mut server = Server::start_with(&env);
    let ack = Mutex::new(Acknowledged::default());
    let started = Instant::now();
    // A small xorshift: a different moment each round, reproducible from the printed seed.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    for round in 0..ROUNDS {
        if round > 0 {
            server.launch(&env);
        }
        let stop = Arc::new(AtomicBool::new(false));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(50 + seed % 250);
        std::thread::scope(|scope| {
            let (server, ack, stop) = (&server, &ack, &stop);
            let load = scope.spawn(move || load_until_killed(server, round, ack, stop));
            std::thread::sleep(delay);
            // SIGKILL through `kill`, keeping the Server (and its data dir) for the restart.
            server.signal("-KILL");
            stop.store(true, Ordering::Relaxed);
            load.join().unwrap();
        });
        server.reap();
    }
    server.launch(&env);
    let ack = ack.into_inner().unwrap();
    eprintln!(
        "crash test: {ROUNDS} kills, {} corpus writes, {} chat exchanges, {} tokens acknowledged, {:?}",
        ack.corpus.len(),
        ack.chats.values().sum::<u64>(),
        ack.tokens.len(),
        started.elapsed()
    );
    assert!(ack.corpus.len() >= ROUNDS && !ack.chats.is_empty() && !ack.tokens.is_empty());
    for (id, word) in &ack.corpus {
        let r = server.get(&format!("/tenants/acme/corpus/{id}"), &server.admin);
        assert_eq!(r.status, 200, "acknowledged entry {id} lost");
        assert_eq!(r.json()["content"], format!("All about {word} here."));
        assert_eq!(
            server.search_ids(word),
            vec![id.clone()],
            "{word} not searchable"
        );
    }
    let conversations = server
        .get("/tenants/acme/conversations?limit=100", &server.admin)
        .json();
    let mut found = BTreeMap::new();
    for c in conversations["conversations"].as_array().unwrap() {
        let count = c["messageCount"].as_u64().unwrap();
        assert_eq!(count % 2, 0, "half an exchange stored: {c}");
        found.insert(c["sessionId"].as_str().unwrap().to_string(), count / 2);
    }
    for (session, exchanges) in &ack.chats {
        let stored = found.get(session).copied().unwrap_or(0);
        // An exchange may commit and the server die before answering: at least, never less.
        assert!(
            stored >= *exchanges,
            "{session}: {stored} stored < {exchanges} answered"
        );
    }
    for secret in &ack.tokens {
        assert_eq!(
            server.get("/tenants/acme/corpus?limit=1", secret).status,
            200,
            "an acknowledged token does not work"
        );
    }
    server.stop();
    let check = animam(server.root.path(), &["check", "--data-dir", "data"]);
    assert!(
        check.status.success(),
        "check after the crashes: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}
