//! The PostgreSQL groundwork seen from the command line: `animam migrate` and the start-up
//! guard while the postgres engine is not in the build.

use crate::support::{animam_with, postgres};

/// The test database's URL with a password added: the throwaway cluster trusts loopback, so
/// the password is ignored by the server, but the CLI must never print it.
fn url_with_password(db: &postgres::TestDb) -> String {
    db.url().replacen(
        "postgres://postgres@",
        "postgres://postgres:Sup3rSecret@",
        1,
    )
}

#[test]
fn migrate_applies_the_schema_once_and_never_prints_the_password() {
    let db = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let url = url_with_password(&db);

    let out = animam_with(dir.path(), &[], &["migrate", "--to", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(stderr.contains("schema version 0 -> 1 applied"), "{stderr}");

    // Again, through ANIMAM_STORE_URL this time: nothing to do.
    let out = animam_with(dir.path(), &[("ANIMAM_STORE_URL", &url)], &["migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already at version 1"), "{stderr}");
    assert!(
        !stderr.contains("Sup3rSecret") && stderr.contains(":***@"),
        "{stderr}"
    );
}

#[test]
fn migrate_explains_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = animam_with(dir.path(), &[], &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--to"), "{stderr}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://u:Sup3rSecret@127.0.0.1:{port}/nowhere");
    let out = animam_with(
        dir.path(),
        &[("ANIMAM_STORE_CONNECT_TIMEOUT_SECS", "2")],
        &["migrate", "--to", &url],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(!stderr.contains("Sup3rSecret"), "{stderr}");

    let out = animam_with(
        dir.path(),
        &[],
        &["migrate", "--from", "nothing-here", "--to", &url],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn postgres_backend_is_refused_at_start_until_the_engine_exists() {
    let dir = tempfile::tempdir().unwrap();
    if !animam::store::pg::BACKEND_AVAILABLE {
        let out = animam_with(
            dir.path(),
            &[
                ("ANIMAM_STORE_BACKEND", "postgres"),
                ("ANIMAM_STORE_URL", "postgres://u:pw@127.0.0.1:1/db"),
            ],
            &["serve", "--listen", "127.0.0.1:0"],
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the postgres backend is not available in this build yet"),
            "{stderr}"
        );
    }
    let out = animam_with(
        dir.path(),
        &[("ANIMAM_STORE_BACKEND", "mysql")],
        &["tenant", "list"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ANIMAM_STORE_BACKEND"),
        "{stderr}"
    );
}

/// Rows of `table` in the database at `url`: (tenant, key bytes) in key order.
fn rows(url: &str, table: &str) -> Vec<(String, Vec<u8>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .query(&format!("SELECT tenant, k FROM {table} ORDER BY k"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    })
}

#[test]
fn migrate_from_copies_a_redb_store_and_verifies_the_counts() {
    let db = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let token = crate::support::bootstrap(dir.path(), "acme");
    assert!(!token.is_empty());
    let out = animam_with(
        dir.path(),
        &[],
        &["tenant", "create", "beta", "--data-dir", "data"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = url_with_password(&db);
    // The source is the redb directory even when the settings name the postgres backend.
    let out = animam_with(
        dir.path(),
        &[
            ("ANIMAM_STORE_BACKEND", "postgres"),
            ("ANIMAM_STORE_URL", &url),
        ],
        &["migrate", "--from", "data", "--to", &url],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("verified"), "{stderr}");
    assert!(stderr.contains("copy: tenants: 2 rows"), "{stderr}");
    assert!(!stderr.contains("Sup3rSecret"), "{stderr}");

    // Tenant rows carry their tenant; tokens are global (tenant '') and hold no secret.
    let tenants: Vec<String> = rows(db.url(), "tenants").into_iter().map(|r| r.0).collect();
    assert_eq!(tenants, vec!["acme", "beta"]);
    let tokens = rows(db.url(), "tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].0, "");
    assert_eq!(
        rows(db.url(), "meta").len(),
        2,
        "schema and analyzer versions"
    );

    // A second copy into the now non-empty database is refused, and changes nothing.
    let out = animam_with(
        dir.path(),
        &[],
        &["migrate", "--from", "data", "--to", &url],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not empty"),
        "{stderr}"
    );
    assert_eq!(rows(db.url(), "tenants").len(), 2);
}

/// A table's name and its rows (key and value bytes), in key order.
type TableRows = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every row of every store table of the redb file at `path`, raw.
fn redb_rows(path: &std::path::Path) -> Vec<TableRows> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::Database::open(path).unwrap();
    let read = db.begin_read().unwrap();
    animam::store::tables::ALL
        .iter()
        .map(|(name, _)| {
            let definition = redb::TableDefinition::<&[u8], &[u8]>::new(name);
            let rows = match read.open_table(definition) {
                Ok(table) => table
                    .iter()
                    .unwrap()
                    .map(|row| {
                        let (k, v) = row.unwrap();
                        (k.value().to_vec(), v.value().to_vec())
                    })
                    .collect(),
                Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
                Err(e) => panic!("{name}: {e}"),
            };
            (name.to_string(), rows)
        })
        .collect()
}

#[test]
fn redb_to_postgres_to_redb_gives_the_same_data() {
    use crate::support::Server;
    use serde_json::json;

    let db = postgres::database();
    let url = url_with_password(&db);
    // A store with a bit of everything: tenants, tokens, legacy keys, a segment, corpus
    // entries and their index rows, a conversation with its messages, statistics, audit.
    let mut server = Server::start();
    let entry =
        server.corpus(&json!({"title": "Refund policy", "content": "Refunds within 30 days."}));
    let chat = server.request(
        "POST",
        "/chat/acme",
        &[("content-type", "application/json")],
        Some(&json!({"message": "how do refunds work", "sessionId": "visitor-1"}).to_string()),
    );
    assert_eq!(chat.status, 200, "{}", chat.text);
    server.stop();
    let data = server.data_dir();
    let root = data.parent().unwrap().to_path_buf();

    let out = animam_with(&root, &[], &["migrate", "--from", "data", "--to", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let back = tempfile::tempdir().unwrap();
    let data2 = back.path().join("data");
    let out = animam_with(
        &root,
        &[],
        &["migrate", "--from", &url, "--to", data2.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("verified") && !stderr.contains("Sup3rSecret"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("copy: quarantine: 0 rows").count(),
        1,
        "{stderr}"
    );

    // The index snapshot's id in META belongs to a file and its data/index.snapshot: the
    // copy's own open of the source wrote a new one at its close, after the copy's read. A
    // copied store has none and rebuilds its index at start.
    let without_snapshot_id = |tables: Vec<TableRows>| {
        tables
            .into_iter()
            .map(|(t, rows)| {
                let rows: Vec<_> = rows
                    .into_iter()
                    .filter(|(k, _)| !(t == "meta" && k.starts_with(b"index_snapshot")))
                    .collect();
                (t, rows)
            })
            .collect::<Vec<_>>()
    };
    let before = without_snapshot_id(redb_rows(&data.join("animam.redb")));
    let after = without_snapshot_id(redb_rows(&data2.join("animam.redb")));
    assert!(
        before
            .iter()
            .any(|(t, rows)| t == "messages" && rows.len() >= 2)
    );
    assert!(
        before
            .iter()
            .any(|(t, rows)| t == "corpus_terms" && !rows.is_empty())
    );
    for ((table, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "table {table} differs after the round trip");
    }

    // The copied-back store serves: the same token, the same entry, the same search.
    std::fs::copy(data.join("secret.key"), data2.join("secret.key")).ok();
    let admin = server.admin.clone();
    let copy = Server::on_root(back, admin);
    let got = copy.get(&format!("/tenants/acme/corpus/{entry}"), &copy.admin);
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(copy.search_ids("refunds"), vec![entry]);

    // Into an existing data directory: refused.
    let out = animam_with(&root, &[], &["migrate", "--from", &url, "--to", "data"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("already exists"),
        "{stderr}"
    );
}

/// Waits for a change made by the CLI to reach the replica: within 1 s, the bound
/// for a change made anywhere to reach every replica. Returns the delay.
fn within_a_second(what: &str, done: impl FnMut() -> bool) -> std::time::Duration {
    crate::support::within(std::time::Duration::from_secs(1), what, done)
}

/// A CLI command's stdout, after asserting it succeeded.
fn cli_ok(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = animam_with(dir, env, args);
    assert!(
        out.status.success(),
        "animam {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cli_commands_run_against_the_database_while_a_replica_serves() {
    use crate::support::Server;
    use serde_json::json;

    let db = postgres::database();
    let env = [
        ("ANIMAM_STORE_BACKEND", "postgres"),
        ("ANIMAM_STORE_URL", db.url()),
    ];
    // The CLI runs from a directory of its own: no data directory there, no server to talk
    // to; every command goes to the database, beside the replica.
    let cli = tempfile::tempdir().unwrap();
    let admin = cli_ok(cli.path(), &env, &["bootstrap", "--tenant", "acme"])
        .trim()
        .to_string();
    assert!(admin.starts_with("ak_"), "{admin}");
    let replica = Server::on_root_with(tempfile::tempdir().unwrap(), admin.clone(), &env);

    // A tenant created by the CLI, and its bootstrap token, work on the replica.
    cli_ok(
        cli.path(),
        &env,
        &["tenant", "create", "beta", "--name", "Beta Ltd"],
    );
    let beta = cli_ok(cli.path(), &env, &["bootstrap", "--tenant", "beta"])
        .trim()
        .to_string();
    within_a_second("a tenant and token made by the CLI", || {
        replica.get("/tenants/beta/corpus", &beta).status == 200
    });
    let r = replica.post(
        "/tenants/beta/corpus",
        &beta,
        &json!({"title": "Opening hours", "content": "Open from 9 to 5."}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let tenants = cli_ok(cli.path(), &env, &["tenant", "list"]);
    assert!(
        tenants.contains("acme") && tenants.contains("Beta Ltd"),
        "{tenants}"
    );

    // A token made on the replica is listed by the CLI, and revoked by it: refused by the
    // replica within 1 s.
    let (id, secret) = replica.token(&["corpus:read"]);
    assert_eq!(replica.get("/tenants/acme/corpus", &secret).status, 200);
    let tokens = cli_ok(cli.path(), &env, &["token", "list", "--tenant", "acme"]);
    assert!(tokens.contains(&id), "{tokens}");
    cli_ok(cli.path(), &env, &["token", "revoke", &id]);
    within_a_second("a revocation by the CLI", || {
        replica.get("/tenants/acme/corpus", &secret).status == 401
    });
    assert_eq!(replica.get("/tenants/acme/corpus", &admin).status, 200);

    // A legacy key minted by the CLI opens the API on the replica.
    let key = cli_ok(cli.path(), &env, &["legacy-key", "--tenant", "acme"])
        .trim()
        .to_string();
    within_a_second("a legacy key minted by the CLI", || {
        replica
            .request("GET", "/tenants/acme/corpus", &[("x-api-key", &key)], None)
            .status
            == 200
    });

    // check reads the database through the engine: every table, no problem.
    let out = animam_with(cli.path(), &env, &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("check: tenants: 2 records, 0 problems"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check: corpus: 1 records, 0 problems"),
        "{stderr}"
    );
    let out = animam_with(cli.path(), &env, &["check", "--quarantine"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("redb"));

    // backup writes one snapshot of the database as a redb store, which serves as a data
    // directory with the redb backend (and is what `migrate --from` copies back).
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored.path().join("data")).unwrap();
    let file = restored.path().join("data").join("animam.redb");
    let out = animam_with(
        cli.path(),
        &env,
        &["backup", "--out", file.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("migrate --from"), "{stderr}");
    let tenants = cli_ok(restored.path(), &[], &["tenant", "list"]);
    assert!(
        tenants.contains("acme") && tenants.contains("Beta Ltd"),
        "{tenants}"
    );
    // The two bootstrap tokens; the revoked one is gone.
    let tokens = cli_ok(restored.path(), &[], &["token", "list"]);
    assert_eq!(tokens.lines().count(), 3, "{tokens}");
    assert!(!tokens.contains(&id), "{tokens}");
    let out = animam_with(restored.path(), &[], &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A record that no longer decodes is found by check (the replica keeps serving).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let damaged = client
            .execute(
                "UPDATE corpus SET v = '\\x7b'::bytea WHERE tenant = 'beta'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(damaged, 1);
    });
    let out = animam_with(cli.path(), &env, &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("table corpus") && stderr.contains("does not decode"),
        "{stderr}"
    );
    assert_eq!(replica.get("/health", "").status, 200);
}
