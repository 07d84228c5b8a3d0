//! Hostile and careless input: every refusal is a 4xx in the project's own words.

use serde_json::json;

use crate::support::Server;

fn error_of(r: &crate::support::Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn only_a_json_object_is_a_body() {
    let server = Server::start();
    let auth = format!("Bearer {}", server.admin);
    let headers = [("authorization", auth.as_str())];
    for (body, expected) in [
        (
            r#"["n",["corpus:read"],null]"#,
            "Request body must be a JSON object",
        ),
        ("[]", "Request body must be a JSON object"),
        ("null", "Request body must be a JSON object"),
        (
            r#"{"name":"n","scopes":["corpus:read"]} xyz"#,
            "Request body has data after the JSON object",
        ),
        (
            r#"{"name":"n","scopes":["corpus:read"]}{"name":"m"}"#,
            "Request body has data after the JSON object",
        ),
    ] {
        let r = server.request("POST", "/tenants/acme/tokens", &headers, Some(body));
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(error_of(&r), expected, "{body}");
    }
    let tokens = server.get("/tenants/acme/tokens", &server.admin).json();
    assert_eq!(
        tokens["tokens"].as_array().unwrap().len(),
        1,
        "nothing minted"
    );

    let r = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "T", "content": "C", "priority": "high"}),
    );
    assert_eq!(r.status, 400);
    let message = error_of(&r);
    assert!(message.starts_with("priority: "), "{message}");
    assert!(!message.contains("i64"), "no Rust type names: {message}");
}

#[test]
fn control_characters_are_refused_but_line_breaks_kept() {
    let server = Server::start();
    let r = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "Evil\u{0}title", "content": "C"}),
    );
    r.assert_error(
        400,
        "title: must not contain control character U+0000",
        "validation_failed",
    );
    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"botName": "Max\u{1b}[2J"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let ok = server.post(
        "/tenants/acme/corpus",
        &server.admin,
        &json!({"title": "Fine", "content": "Line one.\r\n\tLine two."}),
    );
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[test]
fn unknown_query_parameters_are_refused() {
    let server = Server::start();
    let r = server.get("/tenants/acme/corpus?segmnet=pricing", &server.admin);
    r.assert_error(
        400,
        "segmnet: unknown query parameter; this route takes page, limit, segment, search",
        "validation_failed",
    );
    let r = server.get("/tenants/acme/conversations?visitor=human", &server.admin);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        server
            .get(
                "/tenants/acme/conversations?visitorType=human&page=1",
                &server.admin
            )
            .status,
        200
    );
}

#[test]
fn head_and_trailing_slashes_reach_the_routes() {
    let server = Server::start();
    let auth = format!("Bearer {}", server.admin);
    let r = server.request(
        "HEAD",
        "/tenants/acme/corpus",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "");
    let r = server.request("HEAD", "/health", &[], None);
    assert_eq!(r.status, 200);
    let r = server.request("HEAD", "/tenants/acme/corpus", &[], None);
    assert_eq!(r.status, 401, "HEAD is authenticated like GET");
    assert_eq!(
        server.get("/tenants/acme/corpus/", &server.admin).status,
        200
    );
    assert_eq!(server.get("/tenants/acme/", &server.admin).status, 200);
    assert_eq!(server.get("//tenants//acme", &server.admin).status, 200);
    let r = server.get("/tenants/acme/corpus/?limit=1", &server.admin);
    assert_eq!(
        r.json()["pagination"]["limit"],
        1,
        "the query survives: {}",
        r.text
    );
    assert_eq!(server.get("/", "").status, 404);
}
