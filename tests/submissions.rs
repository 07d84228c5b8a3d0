//! Contact-form submissions: the public endpoint, validation, listing and CSV export, and the
//! signed webhook as a receiver in this test sees it (signature verified here with HMAC-SHA256
//! independently of the server), retried, failed for good, and resumed after a restart.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::Server;

fn form_tool(server: &Server, webhook: Option<&str>) -> (String, Option<String>) {
    let mut config = json!({"fields": [
        {"name": "name", "label": "Name", "type": "text", "required": true},
        {"name": "email", "label": "Email", "type": "email", "required": true},
        {"name": "phone", "label": "Phone", "type": "tel"},
        {"name": "topic", "label": "Topic", "type": "select", "options": ["sales", "support"]},
        {"name": "message", "label": "Message", "type": "textarea"}
    ]});
    if let Some(url) = webhook {
        config["webhookUrl"] = json!(url);
    }
    let r = server.post(
        "/tenants/acme/tools",
        &server.admin,
        &json!({"name": "Contact", "type": "SUBMIT_FORM", "config": config}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    (
        v["id"].as_str().unwrap().to_string(),
        v["webhookSecret"].as_str().map(str::to_string),
    )
}

fn submit(server: &Server, slug: &str, body: &Value) -> crate::support::Resp {
    server.request(
        "POST",
        &format!("/chat/{slug}/submissions"),
        &[],
        Some(&body.to_string()),
    )
}

fn good(tool: &str, session: &str) -> Value {
    json!({"sessionId": session, "toolId": tool,
           "values": {"name": "Ada", "email": "ada@example.com", "topic": "sales"}})
}

#[test]
fn a_submission_is_stored_linked_to_its_conversation_listed_and_exported() {
    let server = Server::start();
    let (tool, secret) = form_tool(&server, None);
    assert_eq!(secret, None, "no webhook, no secret");
    let chat = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(r#"{"message":"hello","sessionId":"s1","stream":false}"#),
    );
    assert_eq!(chat.status, 200, "{}", chat.text);
    let conversation = chat.json()["conversationId"].as_str().unwrap().to_string();

    let r = submit(
        &server,
        "acme",
        &json!({"sessionId": "s1", "toolId": tool,
                "values": {"name": "=HYPERLINK(\"http://x\")", "email": "ada@example.com",
                           "message": "Call me,\nplease"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sub_"), "{id}");
    assert_eq!(created["toolId"], tool.as_str());
    assert!(created["createdAt"].is_string());
    let second = submit(&server, "acme", &good(&tool, "no-chat-yet"));
    assert_eq!(second.status, 201, "{}", second.text);

    let list = server.get("/tenants/acme/submissions", &server.admin);
    assert_eq!(list.status, 200, "{}", list.text);
    let list = list.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["limit"], 50);
    assert_eq!(list["offset"], 0);
    let first = &list["submissions"][1];
    assert_eq!(first["id"], id.as_str(), "newest first");
    assert_eq!(first["conversationId"], conversation.as_str());
    assert_eq!(first["sessionId"], "s1");
    assert_eq!(first["values"]["message"], "Call me,\nplease");
    assert_eq!(first["webhook"]["status"], "none");
    assert_eq!(list["submissions"][0]["conversationId"], Value::Null);

    let page = server.get("/tenants/acme/submissions?limit=1&offset=1", &server.admin);
    assert_eq!(page.json()["submissions"][0]["id"], id.as_str());
    let filtered = server.get("/tenants/acme/submissions?toolId=tool_none", &server.admin);
    assert_eq!(filtered.json()["total"], 0);
    let one = server.get(&format!("/tenants/acme/submissions/{id}"), &server.admin);
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["toolName"], "Contact");
    server
        .get("/tenants/acme/submissions/sub_missing", &server.admin)
        .assert_error(404, "Submission not found", "not_found");
    // Another tenant sees none of them.
    let theirs = server.get("/tenants/globex/submissions", &server.other_admin);
    assert_eq!(theirs.json()["total"], 0);
    let r = server.get(
        &format!("/tenants/globex/submissions/{id}"),
        &server.other_admin,
    );
    assert_eq!(r.status, 404);

    let csv = server.get("/tenants/acme/submissions/export", &server.admin);
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let mut reader = ::csv::Reader::from_reader(csv.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "toolId",
            "tool",
            "createdAt",
            "conversationId",
            "visitorId",
            "webhookStatus",
            "name",
            "email",
            "phone",
            "topic",
            "message"
        ]
    );
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], id.as_str(), "oldest first");
    assert_eq!(&rows[0][4], conversation.as_str());
    assert_eq!(&rows[0][6], "none");
    assert_eq!(
        &rows[0][7], "'=HYPERLINK(\"http://x\")",
        "formulas are neutralised"
    );
    assert_eq!(&rows[0][11], "Call me,\nplease");
    assert_eq!(&rows[1][10], "sales");
}

#[test]
fn bad_values_name_their_field_and_wrong_tools_are_refused() {
    let server = Server::start();
    let (tool, _) = form_tool(&server, None);
    let field = |values: Value| {
        let r = submit(
            &server,
            "acme",
            &json!({"sessionId": "s", "toolId": tool, "values": values}),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        r.json()["error"].as_str().unwrap().to_string()
    };
    let base = || json!({"name": "Ada", "email": "ada@example.com"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    assert!(field(json!({"email": "ada@example.com"})).starts_with("values.name"));
    assert!(field(with("email", json!("nope"))).starts_with("values.email"));
    assert!(field(with("phone", json!("call me maybe"))).starts_with("values.phone"));
    assert!(field(with("topic", json!("billing"))).starts_with("values.topic"));
    assert!(field(with("extra", json!("x"))).starts_with("values.extra"));
    assert!(field(with("name", json!(42))).starts_with("values.name"));
    assert!(field(with("name", json!("x".repeat(501)))).starts_with("values.name"));
    let r = submit(&server, "acme", &json!({"toolId": tool, "values": base()}));
    assert!(r.json()["error"].as_str().unwrap().starts_with("sessionId"));
    let r = submit(&server, "acme", &json!({"sessionId": "s", "toolId": tool}));
    assert!(r.json()["error"].as_str().unwrap().starts_with("values"));
    let r = submit(
        &server,
        "acme",
        &json!({"sessionId": "s", "toolId": tool, "values": base(), "more": 1}),
    );
    assert!(r.json()["error"].as_str().unwrap().starts_with("more"));

    // Not a form, not active, not this tenant's, not a tool.
    let escalate = server
        .post(
            "/tenants/acme/tools",
            &server.admin,
            &json!({"name": "Human", "type": "ESCALATE_TO_HUMAN"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = submit(&server, "acme", &good(&escalate, "s"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().starts_with("toolId"));
    let (inactive, _) = form_tool(&server, None);
    server.patch(
        &format!("/tenants/acme/tools/{inactive}"),
        &server.admin,
        &json!({"isActive": false}),
    );
    let r = submit(&server, "acme", &good(&inactive, "s"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().starts_with("toolId"));
    let r = submit(&server, "globex", &good(&tool, "s"));
    assert_eq!(r.status, 404, "{}", r.text);
    let r = submit(&server, "acme", &good("tool_nope", "s"));
    assert_eq!(r.status, 404, "{}", r.text);
    let r = submit(&server, "nobody", &good(&tool, "s"));
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        server
            .get("/tenants/acme/submissions", &server.admin)
            .json()["total"],
        0
    );

    // Webhooks are https, or http to loopback only when the setting allows it.
    let r = server.post(
        "/tenants/acme/tools",
        &server.admin,
        &json!({"name": "Hooked", "type": "SUBMIT_FORM", "config": {
            "fields": [{"name": "email", "label": "Email", "type": "email"}],
            "webhookUrl": "http://127.0.0.1:9/hook"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("config.webhookUrl")
    );
    // Adding a webhook to an existing form creates the secret, shown in that answer only.
    let hook = |url: &str| {
        server.patch(
            &format!("/tenants/acme/tools/{tool}"),
            &server.admin,
            &json!({"config": {
                "fields": [{"name": "email", "label": "Email", "type": "email"}],
                "webhookUrl": url}}),
        )
    };
    let r = hook("https://hooks.example.com/a");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json()["webhookSecret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(
        r.json()["config"]["webhookUrl"],
        "https://hooks.example.com/a"
    );
    let r = hook("https://hooks.example.com/b");
    assert_eq!(r.json()["webhookSecret"], Value::Null, "shown once");
    let r = server.get(&format!("/tenants/acme/tools/{tool}"), &server.admin);
    assert_eq!(r.json()["webhookSecret"], Value::Null);
    assert_eq!(hook("http://hooks.example.com/c").status, 400);
}

/// What the test's webhook receiver saw of one request.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1 answering each request with the next status of `statuses` (the
/// last one repeated).
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = HashMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut seen = log.lock().unwrap();
                    seen.push(Received { headers, body });
                    seen.len()
                };
                let status = statuses[(n - 1).min(statuses.len() - 1)];
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, seen }
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

/// Checks `Animam-Signature` as a receiver would: recompute the HMAC of "<t>.<body>".
fn verify(secret: &str, received: &Received) {
    let header = &received.headers["animam-signature"];
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("malformed signature header {header}"));
    let ts: i64 = t.parse().unwrap();
    let now = animam::clock::Timestamp::now().micros() / 1_000_000;
    assert!((now - ts).abs() < 300, "timestamp {ts} not recent");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signature does not verify");
}

fn wait_for_status(server: &Server, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = server
            .get(&format!("/tenants/acme/submissions/{id}"), &server.admin)
            .json();
        if s["webhook"]["status"] == status {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "webhook never {status}: {s}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LOOPBACK: (&str, &str) = ("ANIMAM_CHAT_WEBHOOK_ALLOW_HTTP_LOOPBACK", "true");

#[test]
fn a_webhook_is_signed_retried_after_a_500_and_delivered() {
    let receiver = Receiver::start(vec![500, 200]);
    let server = Server::start_with(&[LOOPBACK, ("ANIMAM_CHAT_WEBHOOK_RETRY_BASE_MS", "50")]);
    let (tool, secret) = form_tool(&server, Some(&receiver.url));
    let secret = secret.expect("the first webhook tool shows the new secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, again) = form_tool(&server, Some(&receiver.url));
    assert_eq!(again, None, "shown once");

    let r = submit(&server, "acme", &good(&tool, "s1"));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let done = wait_for_status(&server, &id, "delivered");
    assert_eq!(done["webhook"]["attempts"], 2, "{done}");
    assert_eq!(done["webhook"]["lastError"], Value::Null);
    assert!(done["webhook"]["deliveredAt"].is_string());

    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        verify(&secret, request);
        assert_eq!(request.headers["animam-event"], "submission.created");
        assert_eq!(request.headers["content-type"], "application/json");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["event"], "submission.created");
        assert_eq!(body["tenant"], "acme");
        assert_eq!(body["submission"]["id"], id.as_str());
        assert_eq!(body["submission"]["values"]["email"], "ada@example.com");
    }
    assert_eq!(
        seen[0].headers["animam-delivery"], seen[1].headers["animam-delivery"],
        "a retry is the same delivery"
    );

    // A rotated secret signs the next deliveries; the old one no longer verifies.
    let rotated = server.post(
        "/tenants/acme/webhook-secret/rotate",
        &server.admin,
        &json!({}),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let r = submit(&server, "acme", &good(&tool, "s2"));
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_for_status(&server, &id, "delivered");
    verify(&new_secret, &receiver.seen()[2]);

    let log = server.log();
    assert!(
        !log.contains(&secret) && !log.contains(&new_secret),
        "secret in the log"
    );
    let audit = server.get("/tenants/acme/audit", &server.admin).json();
    let details: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook_secret.changed")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "rotated; the previous secret no longer signs",
            "created with the first webhook tool"
        ]
    );
    assert!(
        !audit.to_string().contains("whsec_"),
        "no secret in the audit log"
    );
}

#[test]
fn a_webhook_that_keeps_failing_is_marked_failed_after_its_attempts() {
    let receiver = Receiver::start(vec![500]);
    let server = Server::start_with(&[
        LOOPBACK,
        ("ANIMAM_CHAT_WEBHOOK_RETRY_BASE_MS", "20"),
        ("ANIMAM_CHAT_WEBHOOK_MAX_ATTEMPTS", "3"),
    ]);
    let (tool, _) = form_tool(&server, Some(&receiver.url));
    let r = submit(&server, "acme", &good(&tool, "s1"));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let failed = wait_for_status(&server, &id, "failed");
    assert_eq!(failed["webhook"]["attempts"], 3, "{failed}");
    assert_eq!(failed["webhook"]["lastError"], "HTTP 500");
    assert!(failed["webhook"]["lastAttemptAt"].is_string());
    assert_eq!(failed["webhook"]["deliveredAt"], Value::Null);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.seen().len(), 3, "no attempt after the last");
    let csv = server.get("/tenants/acme/submissions/export", &server.admin);
    assert!(csv.text.contains(",failed,"), "{}", csv.text);
}

#[test]
fn a_pending_delivery_survives_a_restart_and_the_secret_is_sealed_at_rest() {
    let receiver = Receiver::start(vec![503, 200]);
    // The retry is due 2 s after the first attempt: the server is restarted before that.
    let env = [LOOPBACK, ("ANIMAM_CHAT_WEBHOOK_RETRY_BASE_MS", "2000")];
    let mut server = Server::start_with(&env);
    let (tool, secret) = form_tool(&server, Some(&receiver.url));
    let secret = secret.unwrap();
    let r = submit(&server, "acme", &good(&tool, "s1"));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = server
            .get(&format!("/tenants/acme/submissions/{id}"), &server.admin)
            .json();
        if s["webhook"]["attempts"] == 1 {
            assert_eq!(s["webhook"]["status"], "pending");
            assert_eq!(s["webhook"]["lastError"], "HTTP 503");
            break;
        }
        assert!(Instant::now() < deadline, "no first attempt: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let db = std::fs::read(server.data_dir().join("animam.redb")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the signing secret is in clear in the database file"
    );
    server.launch(&env);
    let done = wait_for_status(&server, &id, "delivered");
    assert_eq!(done["webhook"]["attempts"], 2, "{done}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    verify(&secret, &seen[1]);
    assert!(!server.log().contains(&secret), "secret in the log");
}

#[test]
fn the_form_endpoint_follows_the_chats_allowed_origins() {
    let server = Server::start();
    let (tool, _) = form_tool(&server, None);
    server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"allowedDomains": ["*.acme.com"]}),
    );
    let body = good(&tool, "cors").to_string();
    let send = |origin: &str| {
        server.request(
            "POST",
            "/chat/acme/submissions",
            &[("origin", origin)],
            Some(&body),
        )
    };
    let r = send("https://shop.acme.com");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.acme.com")
    );
    let r = send("https://evil.example");
    r.assert_error(
        403,
        "Origin not allowed for this tenant",
        "origin_not_allowed",
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
    let pre = server.request(
        "OPTIONS",
        "/chat/acme/submissions",
        &[
            ("origin", "https://shop.acme.com"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert!(
        pre.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let pre = server.request(
        "OPTIONS",
        "/chat/acme/submissions",
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(pre.status, 403);
    assert_eq!(
        server
            .get("/tenants/acme/submissions", &server.admin)
            .json()["total"],
        1
    );
}

#[test]
fn the_form_endpoint_shares_the_chats_budget_per_ip() {
    let server = Server::start_with(&[("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "2")]);
    let (tool, _) = form_tool(&server, None);
    assert_eq!(submit(&server, "acme", &good(&tool, "a")).status, 201);
    let chat = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(r#"{"message":"hello","sessionId":"a","stream":false}"#),
    );
    assert_eq!(chat.status, 200, "{}", chat.text);
    let r = submit(&server, "acme", &good(&tool, "a"));
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        server
            .get("/tenants/acme/submissions", &server.admin)
            .json()["total"],
        1
    );
}
