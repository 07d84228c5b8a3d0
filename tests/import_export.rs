//! Corpus CSV import and export, and the store rules they share with single writes.

use serde_json::json;

use crate::support::Server;

const IMPORT: &str = "/tenants/acme/corpus/import";
const EXPORT: &str = "/tenants/acme/corpus/export";

fn import(server: &Server, query: &str, csv: &str) -> crate::support::Resp {
    server.send_bytes(
        "POST",
        &format!("{IMPORT}{query}"),
        &server.admin,
        "text/csv",
        csv.as_bytes().to_vec(),
    )
}

fn total(server: &Server) -> u64 {
    server.get("/tenants/acme/corpus", &server.admin).json()["pagination"]["total"]
        .as_u64()
        .unwrap()
}

#[test]
fn import_is_all_or_nothing_unless_partial() {
    let server = Server::start();
    let csv = "\u{feff}title,content,segment,priority,tags\r\n\
               Refunds,Within 30 days.,,8,billing;money\r\n\
               ,No title here,,,\r\n\
               Hours,Open 9 to 5,nosuch,,\r\n\
               Shipping,Two days,,11,\r\n";
    let refused = import(&server, "", csv);
    assert_eq!(refused.status, 400, "{}", refused.text);
    let body = refused.json();
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            {"row": 2, "field": "title", "message": "must be 1 to 200 characters"},
            {"row": 3, "field": "segment", "message": "no segment 'nosuch'; create it under /segments first"},
            {"row": 4, "field": "priority", "message": "must be a whole number from 1 to 10"},
        ])
    );
    assert_eq!(total(&server), 0, "nothing written");

    let partial = import(&server, "?mode=partial", csv);
    assert_eq!(partial.status, 201, "{}", partial.text);
    assert_eq!(partial.json()["created"], 1);
    assert_eq!(partial.json()["failed"], 3);
    let listed = server.get("/tenants/acme/corpus", &server.admin).json();
    let entry = &listed["corpus"][0];
    assert_eq!(entry["title"], "Refunds");
    assert_eq!(entry["priority"], 8);
    assert_eq!(entry["tags"], json!(["billing", "money"]));
}

#[test]
fn export_then_import_round_trips_exactly() {
    let server = Server::start();
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Support"}),
    );
    let entries = [
        json!({"title": "Plain", "content": "Line one.\nLine \"two\", with a comma.", "tags": ["a", "b"]}),
        json!({"title": "=HYPERLINK(\"http://evil\")", "content": "+1 -2 @3", "segment": "support", "priority": 2}),
        json!({"title": "'Tis quoted", "content": "'=already guarded", "priority": 10}),
        json!({"title": "Accents é à ü", "content": "\tTabbed start"}),
        json!({"title": "Summed up", "content": "Long text.", "summary": "Short, \"quoted\".", "isActive": false}),
    ];
    for e in &entries {
        assert_eq!(
            server.post("/tenants/acme/corpus", &server.admin, e).status,
            201
        );
    }
    let exported = server.get(EXPORT, &server.admin);
    assert_eq!(exported.status, 200);
    assert!(
        exported
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    for line in exported.text.lines().skip(1) {
        let first = line.trim_start_matches('"').chars().next().unwrap();
        assert!(
            !"=+-@\t\r".contains(first),
            "formula-leading cell exported: {line:?}"
        );
    }
    assert!(exported.text.contains("'=HYPERLINK"));
    assert!(
        exported
            .text
            .starts_with("title,content,segment,priority,tags,summary,isActive\r\n"),
        "{}",
        exported.text
    );

    // Into a fresh tenant: the same entries come back.
    let other = Server::start();
    other.post(
        "/tenants/acme/segments",
        &other.admin,
        &json!({"name": "Support"}),
    );
    let imported = import(&other, "", &exported.text);
    assert_eq!(imported.status, 201, "{}", imported.text);
    assert_eq!(imported.json()["created"], 5);
    let again = other.get(EXPORT, &other.admin);
    assert_eq!(again.text, exported.text);
    let listed = other.get("/tenants/acme/corpus", &other.admin).json();
    let summed = listed["corpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["title"] == "Summed up")
        .unwrap();
    assert_eq!(summed["summary"], "Short, \"quoted\".");
    assert_eq!(summed["isActive"], false);
    let bad = import(
        &other,
        "",
        "title,content,segment,priority,tags,summary,isActive\r\nT,C,,,,,maybe\r\n",
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errors"][0]["field"], "isActive");
}

#[test]
fn hostile_csv_is_refused_with_a_reason() {
    let server = Server::start();
    let wrong_header = import(&server, "", "name,body\r\nx,y\r\n");
    assert_eq!(wrong_header.status, 400);
    assert!(
        wrong_header.json()["error"].as_str().unwrap().starts_with(
            "header: the first line must be exactly title,content,segment,priority,tags"
        ),
        "{}",
        wrong_header.text
    );
    let mut bad_utf8 = b"title,content,segment,priority,tags\r\nok,".to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, b'x']);
    bad_utf8.extend_from_slice(b",,,\r\n");
    let r = server.send_bytes("POST", IMPORT, &server.admin, "text/csv", bad_utf8);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("body: must be UTF-8")
    );

    let huge = format!(
        "title,content,segment,priority,tags\r\nBig,{},,,\r\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let r = import(&server, "", &huge);
    assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.json()["errors"][0]["field"], "content");

    let ragged = import(
        &server,
        "",
        "title,content,segment,priority,tags\r\na,b\r\n",
    );
    assert_eq!(ragged.status, 400);
    assert!(
        ragged.json()["error"]
            .as_str()
            .unwrap()
            .contains("must have 5 cells")
    );
    assert_eq!(import(&server, "?mode=some", "").status, 400);
    assert_eq!(total(&server), 0);
}

#[test]
fn ten_thousand_rows_import_in_one_request() {
    let server = Server::start();
    let mut csv = String::from("title,content,segment,priority,tags\r\n");
    for i in 0..10_000 {
        csv.push_str(&format!(
            "Entry {i},Content of entry number {i} about topic {},,,t{}\r\n",
            i % 97,
            i % 7
        ));
    }
    let r = import(&server, "", &csv);
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.json()["created"], 10_000);
    assert_eq!(total(&server), 10_000);
    let found = server.get(
        "/tenants/acme/corpus?search=entry+number+4242",
        &server.admin,
    );
    assert_eq!(found.json()["corpus"][0]["title"], "Entry 4242");
}

#[test]
fn a_segment_in_use_is_not_deleted_and_concurrent_patches_all_land() {
    let server = Server::start();
    server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Pricing"}),
    );
    let id = server
        .post(
            "/tenants/acme/corpus",
            &server.admin,
            &json!({"title": "Plans", "content": "Three plans.", "segment": "pricing"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = server.delete("/tenants/acme/segments/pricing", &server.admin);
    refused.assert_error(
        409,
        "Segment 'pricing' is used by 1 corpus entry: move them to another segment or delete them first",
        "conflict",
    );
    // The entry stays editable.
    let path = format!("/tenants/acme/corpus/{id}");
    let bodies = [
        json!({"title": "Our plans"}),
        json!({"priority": 9}),
        json!({"tags": ["plans"]}),
    ];
    std::thread::scope(|s| {
        for body in &bodies {
            let (server, path) = (&server, &path);
            s.spawn(move || assert_eq!(server.patch(path, &server.admin, body).status, 200));
        }
    });
    let entry = server.get(&path, &server.admin).json();
    assert_eq!(entry["title"], "Our plans");
    assert_eq!(entry["priority"], 9);
    assert_eq!(entry["tags"], json!(["plans"]));
    assert_eq!(entry["segment"], "pricing");
}
