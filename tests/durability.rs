//! Nothing acknowledged is lost, and the search index always agrees with the store: under
//! concurrent writes and chats, across a crash (SIGKILL) and a restart.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::Server;

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
