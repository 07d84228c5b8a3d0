//! What one visitor can make the server hold: a conversation has a message cap, its
//! transcript is read in pages, the CSV export is streamed, and LLM calls have their own
//! bounded threads so a hanging upstream cannot stall the API.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::fake_llm::{FakeBehaviour, spawn_fake_llm};

fn chat(server: &Server, message: &str, session: &str) -> crate::support::Resp {
    let body = json!({"message": message, "sessionId": session, "stream": false});
    server.request("POST", "/chat/acme", &[], Some(&body.to_string()))
}

#[test]
fn a_full_conversation_asks_for_a_new_one() {
    let server = Server::start_with(&[("ANIMAM_CHAT_MAX_MESSAGES_PER_CONVERSATION", "4")]);
    for _ in 0..2 {
        assert_eq!(chat(&server, "hello there", "long").status, 200);
    }
    chat(&server, "and now?", "long").assert_error(
        409,
        "This conversation has reached its limit of 4 messages; start a new conversation (a new sessionId)",
        "conversation_full",
    );
    assert_eq!(chat(&server, "hello there", "fresh").status, 200);
    let list = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    let counts: Vec<u64> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["messageCount"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![2, 4], "nothing stored beyond the cap");
}

#[test]
fn transcripts_are_paged_and_the_export_streams_every_message() {
    let server = Server::start_with(&[("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "0")]);
    // 12 messages in one conversation, then enough conversations for several export chunks.
    for i in 0..6 {
        assert_eq!(chat(&server, &format!("question {i}"), "paged").status, 200);
    }
    let id = server
        .get("/tenants/acme/conversations", &server.admin)
        .json()["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = |query: &str| {
        let r = server.get(
            &format!("/tenants/acme/conversations/{id}{query}"),
            &server.admin,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    };
    let whole = page("");
    assert_eq!(whole["messages"].as_array().unwrap().len(), 12);
    assert_eq!(
        whole["pagination"],
        json!({"page": 1, "limit": 100, "total": 12, "pages": 1})
    );
    let second = page("?page=2&limit=5");
    let texts: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 5);
    assert_eq!(
        texts[1], "question 3",
        "messages 6 to 10, in order: {texts:?}"
    );
    assert_eq!(second["pagination"]["pages"], 3);
    assert_eq!(page("?page=4&limit=5")["messages"], json!([]));
    server
        .get(
            &format!("/tenants/acme/conversations/{id}?limit=5000"),
            &server.admin,
        )
        .assert_error(
            400,
            "limit: must be a whole number from 1 to 1000",
            "validation_failed",
        );

    // 300 more conversations, with text a CSV must quote.
    std::thread::scope(|scope| {
        for t in 0..6 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..50 {
                    let text = format!("line one, \"quoted\"\nline two {t}-{i}");
                    assert_eq!(chat(server, &text, &format!("s{t}-{i}")).status, 200);
                }
            });
        }
    });
    let export = server.get("/tenants/acme/conversations/export", &server.admin);
    assert_eq!(export.status, 200);
    assert_eq!(
        export.header("content-length"),
        None,
        "streamed, not built whole"
    );
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 12 + 300 * 2, "every message once");
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| &r[6]).collect();
    assert_eq!(ids.len(), rows.len(), "no message twice");
    assert!(
        rows.iter()
            .any(|r| &r[8] == "line one, \"quoted\"\nline two 3-7"),
        "quoted text round-trips"
    );
    // The oldest conversation comes last, its messages in order.
    let last: Vec<&str> = rows[rows.len() - 12..].iter().map(|r| &r[8]).collect();
    assert_eq!(last[0], "question 0");
    assert_eq!(last[10], "question 5");
}

#[test]
fn llm_calls_are_capped_and_never_stall_the_api() {
    let fake = spawn_fake_llm(FakeBehaviour::Hang);
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "m"),
        ("ANIMAM_CHAT_LLM_TIMEOUT_SECS", "8"),
        ("ANIMAM_CHAT_LLM_MAX_CONCURRENT", "1"),
    ]);
    server.corpus(&json!({
        "title": "Refund policy",
        "content": "Refunds are issued within 30 days of purchase, to the original payment method."
    }));
    std::thread::scope(|scope| {
        let hanging = scope.spawn(|| chat(&server, "How long do refunds take?", "first"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while fake.request_count() == 0 {
            assert!(
                Instant::now() < deadline,
                "the first chat never reached the LLM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The only LLM slot is taken: the next chat is answered from retrieval at once.
        let started = Instant::now();
        let second = chat(&server, "How long do refunds take?", "second");
        assert_eq!(second.status, 200, "{}", second.text);
        let v: Value = second.json();
        assert_eq!(v["llmSource"], "retrieval");
        assert!(v["message"].as_str().unwrap().contains("30 days"), "{v}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            fake.request_count(),
            1,
            "the second chat never called the LLM"
        );
        assert!(server.log_shows("LLM calls already running"));
        // And the API is as fast as ever.
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(
                server.get("/tenants/acme/corpus", &server.admin).status,
                200
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let first = hanging.join().unwrap().json();
        assert_eq!(first["llmSource"], "retrieval", "timed out: {first}");
    });
}

/// Sends a chat on a raw connection and reads until `until` shows up (or 300 ms for "").
fn raw_chat(server: &Server, body: &Value, until: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(
        stream,
        "POST /chat/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !until.is_empty() && !String::from_utf8_lossy(&seen).contains(until) {
        assert!(Instant::now() < deadline, "never saw {until:?}");
        if let Ok(n) = stream.read(&mut buf) {
            assert!(n > 0, "closed early");
            seen.extend_from_slice(&buf[..n]);
        }
    }
    if until.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
    }
    stream
}

#[test]
fn a_visitor_leaving_stops_the_generation() {
    let fake = spawn_fake_llm(FakeBehaviour::Drip(Duration::from_millis(50)));
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_LLM_BASE_URL", &fake.base_url),
        ("ANIMAM_CHAT_LLM_MODEL", "m"),
        ("ANIMAM_CHAT_LLM_TIMEOUT_SECS", "120"),
    ]);
    server.corpus(&json!({
        "title": "Refund policy",
        "content": "Refunds are issued within 30 days of purchase, to the original payment method."
    }));
    let question = "How long do refunds take?";
    for (stream, until) in [(true, "word"), (false, "")] {
        let before = fake.hangups.load(std::sync::atomic::Ordering::SeqCst);
        let body =
            json!({"message": question, "sessionId": format!("gone-{stream}"), "stream": stream});
        drop(raw_chat(&server, &body, until));
        // The LLM would drip for a minute: the server hangs up on it within moments.
        let deadline = Instant::now() + Duration::from_secs(5);
        while fake.hangups.load(std::sync::atomic::Ordering::SeqCst) == before {
            assert!(
                Instant::now() < deadline,
                "generation went on after the visitor left (stream: {stream})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
