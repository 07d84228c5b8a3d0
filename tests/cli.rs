//! The command line: help, errors an operator can act on, and the admin subcommands.

use crate::support::{Server, animam, bootstrap};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["bootstrap", "--help"],
        vec!["tenant", "create", "--help"],
        vec!["tenant", "list", "--help"],
        vec!["token", "list", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["legacy-key", "--help"],
        vec!["backup", "--help"],
        vec!["openapi", "--help"],
    ] {
        let out = animam(dir.path(), &args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("--data-dir") && text.contains("--config"),
            "{args:?}: {text}"
        );
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `animam ARGS --data-dir data` in the server's directory and expects success.
fn admin_ok(server: &Server, args: &[&str]) -> std::process::Output {
    let mut args = args.to_vec();
    args.extend(["--data-dir", "data"]);
    let out = animam(server.root.path(), &args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// While `serve` holds the database, every admin command goes through its admin socket and
/// takes effect on the running server at once.
#[test]
fn every_cli_command_works_while_serving() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mut server = Server::start();
    let socket = server.data_dir().join("admin.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "owner-only socket"
    );

    let out = admin_ok(
        &server,
        &["tenant", "create", "initech", "--name", "Initech"],
    );
    assert!(
        stderr(&out).contains("Created tenant initech"),
        "{}",
        stderr(&out)
    );
    let list = stdout(&admin_ok(&server, &["tenant", "list"]));
    assert!(list.contains("initech") && list.contains("Initech") && list.contains("acme"));
    let out = animam(
        server.root.path(),
        &["tenant", "create", "initech", "--data-dir", "data"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // bootstrap: the new token works on the running server right away.
    let out = admin_ok(&server, &["bootstrap", "--tenant", "initech"]);
    let token = stdout(&out).trim().to_string();
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "the secret alone on stdout"
    );
    assert_eq!(server.get("/tenants/initech", &token).status, 200);

    // check: the server verifies its own open database, read-only.
    let out = admin_ok(&server, &["check"]);
    let report = stderr(&out);
    assert!(
        report.contains("check: tenants:") && report.contains("0 problems"),
        "{report}"
    );
    let out = animam(
        server.root.path(),
        &["check", "--quarantine", "--data-dir", "data"],
    );
    assert!(
        !out.status.success(),
        "quarantining needs the server stopped"
    );

    // token list / revoke: the revoked token stops working at once.
    let list = stdout(&admin_ok(
        &server,
        &["token", "list", "--tenant", "initech"],
    ));
    let id = list
        .lines()
        .find(|l| l.contains("bootstrap"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(id.starts_with("tok_"), "{list}");
    admin_ok(&server, &["token", "revoke", &id]);
    assert_eq!(server.get("/tenants/initech", &token).status, 401);
    let out = animam(
        server.root.path(),
        &["token", "revoke", "tok_nope", "--data-dir", "data"],
    );
    assert!(
        stderr(&out).contains("no token with id tok_nope"),
        "{}",
        stderr(&out)
    );

    // legacy-key: the new key works, the old one no longer does.
    let key = stdout(&admin_ok(&server, &["legacy-key", "--tenant", "acme"]))
        .trim()
        .to_string();
    let with_key = |key: &str| {
        server
            .request("GET", "/tenants/acme", &[("x-api-key", key)], None)
            .status
    };
    assert_eq!(with_key(&key), 200);
    assert_eq!(with_key(&server.legacy), 401);

    // backup, while serving.
    let backup = server.root.path().join("online.redb");
    admin_ok(&server, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(backup.is_file());
    assert!(
        server.log_shows("admin socket: backup"),
        "ran in the server"
    );

    // A clean stop removes the socket; the commands then work on the file directly.
    server.stop();
    assert!(!socket.exists(), "socket removed at a clean stop");
    let list = stdout(&admin_ok(&server, &["tenant", "list"]));
    assert!(list.contains("initech"));
    let offline = server.root.path().join("offline.redb");
    admin_ok(&server, &["backup", "--out", offline.to_str().unwrap()]);
    assert!(offline.is_file());
    let out = animam(
        server.root.path(),
        &[
            "backup",
            "--out",
            offline.to_str().unwrap(),
            "--data-dir",
            "data",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

/// A server killed without a clean stop leaves its socket file behind: the CLI then works on
/// the file, and the next server replaces the socket.
#[test]
fn a_stale_admin_socket_is_harmless() {
    let mut server = Server::start();
    let socket = server.data_dir().join("admin.sock");
    server.kill();
    assert!(socket.exists(), "SIGKILL leaves the socket file");
    admin_ok(&server, &["tenant", "create", "hooli"]);
    server.launch(&[]);
    let list = stdout(&admin_ok(&server, &["tenant", "list"]));
    assert!(list.contains("hooli"), "{list}");
    assert!(
        server.log_shows("admin socket: tenant list"),
        "{}",
        server.log()
    );
}

/// `animam backup` while the server keeps serving (and writing) produces a database that,
/// put in a data directory, serves the same data.
#[test]
fn an_online_backup_serves_the_same_data() {
    use serde_json::json;
    let server = Server::start();
    let ids: Vec<String> = (0..30)
        .map(|i| {
            server.corpus(&json!({"title": format!("Entry {i}"), "content": format!("Refunds within {i} days."), "tags": ["t"]}))
        })
        .collect();
    let r = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(r#"{"message":"How long for refunds?","sessionId":"s1","stream":false}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let segment = server.post(
        "/tenants/acme/segments",
        &server.admin,
        &json!({"name": "Pricing"}),
    );
    assert_eq!(segment.status, 201, "{}", segment.text);

    // Writes keep going during the backup; it holds a consistent snapshot of one commit.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let base = server.base.clone();
        let admin = server.admin.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = agent
                    .post(format!("{base}/tenants/acme/corpus"))
                    .header("authorization", format!("Bearer {admin}"))
                    .send_json(json!({"title": "During", "content": "Written during the backup."}))
                    .unwrap();
                assert_eq!(r.status(), 201, "the server keeps serving writes");
                written += 1;
            }
            written
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let backup = server.root.path().join("backup.redb");
    admin_ok(&server, &["backup", "--out", backup.to_str().unwrap()]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 0);

    // Restore: a new data directory holding the backup as animam.redb.
    let restored_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored_root.path().join("data")).unwrap();
    std::fs::copy(&backup, restored_root.path().join("data/animam.redb")).unwrap();
    let restored = Server::on_root(restored_root, server.admin.clone());

    let listing = |s: &Server, path: &str| {
        let r = s.get(path, &s.admin);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.json()
    };
    // Every entry written before the backup is in it, identical; entries written during it
    // are there up to the snapshot's commit.
    for id in &ids {
        let path = format!("/tenants/acme/corpus/{id}");
        assert_eq!(listing(&server, &path), listing(&restored, &path), "{path}");
    }
    let total = |s: &Server| {
        listing(s, "/tenants/acme/corpus?limit=1")["pagination"]["total"]
            .as_u64()
            .unwrap()
    };
    assert!((30..=total(&server)).contains(&total(&restored)));
    for path in [
        "/tenants/acme",
        "/tenants/acme/segments",
        "/tenants/acme/conversations",
    ] {
        assert_eq!(listing(&server, path), listing(&restored, path), "{path}");
    }
    // The search index is rebuilt from the copy, and the other tenant's data is there too.
    assert_eq!(
        restored
            .get("/tenants/acme/corpus?search=refunds", &restored.admin)
            .json()["pagination"]["total"],
        30
    );
    let other = restored.get("/tenants/globex", &server.other_admin);
    assert_eq!(other.status, 200, "{}", other.text);
}

#[test]
fn tenants_tokens_and_legacy_keys_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = animam(d, &["tenant", "create", "Bad Slug", "--data-dir", "data"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid tenant slug"),
        "{}",
        stderr(&out)
    );

    assert!(
        animam(
            d,
            &[
                "tenant",
                "create",
                "initech",
                "--name",
                "Initech",
                "--data-dir",
                "data"
            ]
        )
        .status
        .success()
    );
    let out = animam(d, &["tenant", "create", "initech", "--data-dir", "data"]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let list =
        String::from_utf8(animam(d, &["tenant", "list", "--data-dir", "data"]).stdout).unwrap();
    assert!(
        list.contains("initech") && list.contains("Initech"),
        "{list}"
    );

    let token = bootstrap(d, "initech");
    let listing =
        String::from_utf8(animam(d, &["token", "list", "--data-dir", "data"]).stdout).unwrap();
    assert!(
        listing.contains(&token[..12]) && !listing.contains(&token),
        "{listing}"
    );
    let id = listing
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(id.starts_with("tok_"));

    let old_key = crate::support::legacy_key(d, "initech");
    let new_key = crate::support::legacy_key(d, "initech");
    assert_ne!(old_key, new_key);
    let out = animam(
        d,
        &["legacy-key", "--tenant", "nosuch", "--data-dir", "data"],
    );
    assert!(!out.status.success() && stderr(&out).contains("no tenant 'nosuch'"));

    let out = animam(d, &["token", "revoke", &id, "--data-dir", "data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = animam(d, &["token", "revoke", &id, "--data-dir", "data"]);
    assert!(!out.status.success());

    // The revoked token and the replaced legacy key do not work; the new key does.
    let mut server = Server::start();
    server.stop();
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(&d.join("data"), &server.data_dir());
    server.launch(&[]);
    server
        .get("/tenants/initech", &token)
        .assert_error(401, "Unauthorized", "invalid_token");
    let with_key =
        |key: &str| server.request("GET", "/tenants/initech", &[("x-api-key", key)], None);
    with_key(&old_key).assert_error(401, "Unauthorized", "invalid_token");
    assert_eq!(with_key(&new_key).status, 200);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn configuration_errors_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("animam.toml"),
        "listen = \"127.0.0.1:0\"\nrate_limit = 5\n",
    )
    .unwrap();
    let out = animam(dir.path(), &["serve"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("rate_limit"), "{}", stderr(&out));

    let out = animam(dir.path(), &["serve", "--config", "missing.toml"]);
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));

    // The file's data_dir is honoured by every subcommand.
    std::fs::write(dir.path().join("animam.toml"), "data_dir = \"elsewhere\"\n").unwrap();
    assert!(
        animam(dir.path(), &["tenant", "create", "acme"])
            .status
            .success()
    );
    assert!(dir.path().join("elsewhere/animam.redb").is_file());
}

#[test]
fn admin_commands_refuse_a_missing_data_dir_and_data_stays_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = animam(dir.path(), &["token", "list", "--data-dir", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no data directory at nowhere"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("nowhere").exists(),
        "no empty database made"
    );

    bootstrap(dir.path(), "acme");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/animam.redb")), 0o600);
}

#[test]
fn listings_escape_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let out = animam(
        dir.path(),
        &[
            "tenant",
            "create",
            "evil",
            "--name",
            "Evil\u{1b}[2J\r\nforged",
            "--data-dir",
            "data",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = animam(dir.path(), &["tenant", "list", "--data-dir", "data"]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(!listing.contains('\u{1b}'), "{listing:?}");
    assert!(
        listing.contains("Evil\\u{1b}[2J\\r\\nforged"),
        "{listing:?}"
    );
    assert_eq!(listing.lines().count(), 2, "no forged row: {listing:?}");
}
