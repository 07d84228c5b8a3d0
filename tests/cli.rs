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

#[test]
fn cli_refuses_plainly_while_the_server_holds_the_database() {
    let server = Server::start();
    let out = animam(
        server.root.path(),
        &["tenant", "list", "--data-dir", "data"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("stop it first"), "{}", stderr(&out));
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
