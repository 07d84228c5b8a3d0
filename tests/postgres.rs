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
    if animam::store::pg::BACKEND_AVAILABLE {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
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
    let out = animam_with(
        dir.path(),
        &[],
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
