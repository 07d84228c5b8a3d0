//! A damaged file: `animam check` names every damaged record by table and key and exits
//! non-zero; `--quarantine` sets them aside so the server serves everything else.

use animam::store::engine::keys::encode_key;
use serde_json::json;

use crate::support::{Server, animam};

/// A table as the file keeps it: encoded key bytes -> value bytes.
fn raw_table(name: &str) -> redb::TableDefinition<'_, &'static [u8], &'static [u8]> {
    redb::TableDefinition::new(name)
}

#[test]
fn check_reports_damage_and_quarantine_lets_the_server_serve_the_rest() {
    let mut server = Server::start();
    let damaged =
        server.corpus(&json!({"title": "Refund policy", "content": "Refunds within 30 days."}));
    let intact = server.corpus(&json!({"title": "Shipping", "content": "Parcels ship in 3 days."}));
    server.stop();
    let clean = animam(server.root.path(), &["check", "--data-dir", "data"]);
    let stderr = String::from_utf8_lossy(&clean.stderr);
    assert!(clean.status.success(), "{stderr}");
    assert!(
        stderr.contains("check: corpus: 2 records, 0 problems"),
        "{stderr}"
    );
    assert!(stderr.contains(", 0 problems\n"), "{stderr}");

    {
        let db = redb::Database::create(server.data_dir().join("animam.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let key = encode_key::<(&str, &str)>(("acme", damaged.as_str()));
        txn.open_table(raw_table(animam::store::tables::CORPUS.name()))
            .unwrap()
            .insert(key.as_slice(), b"{\"title\":\"Ref\xc3".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }

    let found = animam(server.root.path(), &["check", "--data-dir", "data"]);
    let stderr = String::from_utf8_lossy(&found.stderr);
    assert_eq!(found.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "problem: table corpus, key (\"acme\", \"{damaged}\"): does not decode"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 problems found"), "{stderr}");
    assert!(stderr.contains("animam check --quarantine"), "{stderr}");

    let fixed = animam(
        server.root.path(),
        &["check", "--quarantine", "--data-dir", "data"],
    );
    let stderr = String::from_utf8_lossy(&fixed.stderr);
    assert!(fixed.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 records moved to the quarantine table"),
        "{stderr}"
    );

    server.launch(&[]);
    assert_eq!(
        server
            .get(&format!("/tenants/acme/corpus/{damaged}"), &server.admin)
            .status,
        404
    );
    assert_eq!(
        server
            .get(&format!("/tenants/acme/corpus/{intact}"), &server.admin)
            .status,
        200
    );
    assert_eq!(server.search_ids("parcels"), vec![intact.clone()]);
    assert!(server.search_ids("refunds").is_empty());
}

#[test]
fn a_damaged_record_that_stops_start_up_is_named_and_can_be_set_aside() {
    let mut server = Server::start();
    let (token_id, _) = server.token(&["corpus:read"]);
    server.stop();
    {
        let db = redb::Database::create(server.data_dir().join("animam.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let key = encode_key::<&str>(token_id.as_str());
        txn.open_table(raw_table(animam::store::tables::TOKENS.name()))
            .unwrap()
            .insert(key.as_slice(), b"{\"id\": 7".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let serve = animam(
        server.root.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
    );
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success());
    assert!(
        stderr.contains(&format!("table tokens, key \"{token_id}\"")),
        "{stderr}"
    );
    let fixed = animam(
        server.root.path(),
        &["check", "--quarantine", "--data-dir", "data"],
    );
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    server.launch(&[]);
    assert_eq!(
        server.get("/tenants/acme/tokens", &server.admin).status,
        200
    );
}
