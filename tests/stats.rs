//! Usage statistics: counted in the write of each exchange, read per day.

use serde_json::json;

use crate::support::Server;

fn ask(server: &Server, message: &str, session: &str, headers: &[(&str, &str)]) {
    let body = json!({"message": message, "sessionId": session, "stream": false});
    let r = server.request("POST", "/chat/acme", headers, Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn stats_count_conversations_fallbacks_citations_and_unanswered_questions() {
    let mut server = Server::start();
    let refunds = server.corpus(&json!({
        "title": "Refund policy",
        "content": "Refunds are issued within 30 days of purchase."
    }));
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Sales"}),
    );
    ask(&server, "How long do refunds take?", "h1", &[]);
    ask(&server, "Do you deliver pizza?", "h1", &[]);
    ask(&server, "do you DELIVER pizza", "h2", &[]);
    ask(
        &server,
        "How long do refunds take?",
        "a1",
        &[("x-agent-model", "bot")],
    );
    let body = json!({"message": "Is there a gym nearby?", "sessionId": "s1", "stream": false, "segment": "sales"});
    server.request("POST", "/chat/acme", &[], Some(&body.to_string()));

    server.restart();
    let stats = server.get("/tenants/acme/stats", &server.admin).json();
    let totals = &stats["totals"];
    assert_eq!(totals["conversations"], 4, "{stats}");
    assert_eq!(totals["humanConversations"], 3);
    assert_eq!(totals["agentConversations"], 1);
    assert_eq!(totals["answers"], 5);
    assert_eq!(totals["messages"], 10);
    assert_eq!(totals["fallbacks"], 3);
    assert_eq!(totals["fallbackShare"], 0.6);
    assert_eq!(
        stats["topCitedEntries"],
        json!([{"id": refunds, "title": "Refund policy", "count": 2}])
    );
    assert_eq!(
        stats["unansweredQuestions"],
        json!([
            {"question": "do you deliver pizza", "count": 2},
            {"question": "is there a gym nearby", "count": 1}
        ])
    );
    let days = stats["perDay"].as_array().unwrap();
    assert_eq!(days.len(), 30, "the last 30 days by default");
    assert_eq!(days[29]["conversations"], 4);
    assert_eq!(days[0]["conversations"], 0);

    let sales = server
        .get("/tenants/acme/stats?segment=sales", &server.admin)
        .json();
    assert_eq!(sales["totals"]["conversations"], 1);
    assert_eq!(
        sales["unansweredQuestions"],
        json!([{"question": "is there a gym nearby", "count": 1}])
    );
    let past = server
        .get(
            "/tenants/acme/stats?from=2020-01-01&to=2020-01-07",
            &server.admin,
        )
        .json();
    assert_eq!(past["totals"]["conversations"], 0);
    assert_eq!(past["perDay"].as_array().unwrap().len(), 7);
    assert_eq!(past["from"], "2020-01-01T00:00:00Z");
    assert_eq!(past["to"], "2020-01-07T23:59:59Z");

    for (query, message) in [
        (
            "from=2020-02-01&to=2020-01-01",
            "from: must not be after to",
        ),
        (
            "from=2020-01-01&to=2021-06-01",
            "from: the range must be at most 366 days",
        ),
        (
            "to=soon",
            "to: must be an RFC 3339 timestamp like 2024-01-15T10:30:00Z or a date like 2024-01-15",
        ),
        (
            "day=1",
            "day: unknown query parameter; this route takes from, to, segment",
        ),
    ] {
        let r = server.get(&format!("/tenants/acme/stats?{query}"), &server.admin);
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.json()["error"], message, "{query}");
    }
}
