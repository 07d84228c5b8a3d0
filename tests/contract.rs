//! The contract, machine-checked: `GET /openapi.json` describes exactly the routes the router
//! answers, and schemathesis fuzzing the running server against it finds nothing.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Server;

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Walks the router with every method on every documented path: documented operations reach a
/// handler, the others get 405 with an `Allow` header naming exactly the documented methods.
#[test]
fn the_document_describes_exactly_the_routed_operations() {
    let server = Server::start();
    let r = server.get("/openapi.json", "");
    assert_eq!(r.status, 200, "{}", r.text);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{}", paths.len());
    for (path, item) in paths {
        let concrete = path.replace("{slug}", "acme").replace("{id}", "nope");
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for method in METHODS {
            let auth = format!("Bearer {}", server.admin);
            let r = server.request(method, &concrete, &[("authorization", &auth)], None);
            if documented.iter().any(|m| m == method) {
                assert_ne!(
                    r.status, 405,
                    "{method} {path} is documented but not routed"
                );
                assert!(
                    !r.text.contains("Route not found"),
                    "{method} {path} is documented but not routed: {}",
                    r.text
                );
                let op = &item[method.to_ascii_lowercase()];
                assert!(
                    op["responses"][r.status.to_string()].is_object(),
                    "{method} {path} answered {} which the document does not list",
                    r.status
                );
            } else {
                assert_eq!(
                    r.status, 405,
                    "{method} {path} is routed but not documented"
                );
                let mut allow: Vec<String> = r
                    .header("allow")
                    .unwrap_or_else(|| panic!("405 without Allow on {path}"))
                    .split(", ")
                    .filter(|m| *m != "HEAD")
                    .map(str::to_string)
                    .collect();
                allow.sort();
                let mut want = documented.clone();
                want.sort();
                assert_eq!(allow, want, "Allow of {path}");
            }
        }
        for op in item.as_object().unwrap().values() {
            match op["x-required-scope"].as_str() {
                Some(scope) => {
                    assert!(op["description"].as_str().unwrap().contains(scope));
                    for status in ["401", "403", "404", "429"] {
                        assert_eq!(
                            op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Error",
                            "{path} {status}"
                        );
                    }
                }
                // Routes open to any credential of the tenant (tokens/self) still need one.
                None if op["description"]
                    .as_str()
                    .unwrap()
                    .contains("Any credential of the tenant") =>
                {
                    assert_eq!(
                        op["security"],
                        serde_json::json!([{"bearerToken": []}, {"legacyApiKey": []}])
                    );
                }
                None => assert_eq!(op["security"], serde_json::json!([])),
            }
        }
    }
    let r = server.get("/tenants/acme/nothing-here", &server.admin);
    r.assert_error(404, "Route not found", "not_found");
}

/// The query parameters each route documents are exactly those it takes: an unknown one gets
/// a 400 listing them.
#[test]
fn documented_query_parameters_are_the_accepted_ones() {
    let server = Server::start();
    let doc = server.get("/openapi.json", "").json();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let concrete = path.replace("{slug}", "acme").replace("{id}", "nope");
            let auth = format!("Bearer {}", server.admin);
            let r = server.request(
                &method.to_ascii_uppercase(),
                &format!("{concrete}?zzz=1"),
                &[("authorization", &auth)],
                None,
            );
            if names.is_empty() {
                // A route documenting no parameter must not check for any.
                assert!(
                    !r.text.contains("unknown query parameter"),
                    "{method} {path} takes query parameters it does not document: {}",
                    r.text
                );
                continue;
            }
            r.assert_error(
                400,
                &format!(
                    "zzz: unknown query parameter; this route takes {}",
                    names.join(", ")
                ),
                "validation_failed",
            );
        }
    }
}

/// Where schemathesis is: `ANIMAM_SCHEMATHESIS`, the virtualenv `.ci/run` makes, or `PATH`.
fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ANIMAM_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/schemathesis");
    if venv.is_file() {
        return Some(venv);
    }
    Command::new("schemathesis")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| PathBuf::from("schemathesis"))
}

/// The schemathesis version `.ci/run` installs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// schemathesis generates requests from the document (valid and invalid ones, then sequences
/// of calls) against a real server with a `*` token: no 5xx, every answer within the documented
/// statuses, content types, headers and schemas, invalid input refused, 405 with `Allow` for
/// undocumented methods, and no request slower than 5 s.
#[test]
fn schemathesis_finds_no_contract_violation() {
    let Some(st) = schemathesis() else {
        panic!(
            "schemathesis is not installed. Install it with `bash .ci/run`, or by hand:\n  \
             python3 -m venv .ci/venv && .ci/venv/bin/pip install schemathesis=={SCHEMATHESIS_VERSION}\n\
             (or set ANIMAM_SCHEMATHESIS to its path)"
        );
    };
    let server = Server::start_with(&[
        ("ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE", "0"),
        ("ANIMAM_CHAT_RATE_LIMIT_PER_TENANT_PER_MINUTE", "0"),
    ]);
    // Revocation is fuzzed on a decoy: the stateful phase would otherwise find the fuzzing
    // token's own id in the listing and revoke it, leaving nothing but 401s to test.
    let (decoy, _) = server.token(&["corpus:read"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.slug\" = \"acme\"\n\n\
             [[operations]]\ninclude-path = \"/tenants/{{slug}}/tokens/{{id}}\"\n\
             include-method = \"DELETE\"\nparameters = {{ \"path.id\" = \"{decoy}\" }}\n"
        ),
    )
    .unwrap();
    let checks = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
    ];
    // A fixed seed keeps CI reproducible; ANIMAM_FUZZ_SEED / ANIMAM_FUZZ_EXAMPLES explore more.
    let seed = std::env::var("ANIMAM_FUZZ_SEED").unwrap_or_else(|_| "20261206".into());
    let examples = std::env::var("ANIMAM_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let started = Instant::now();
    let mut child = Command::new(&st)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .args(["--config-file"])
        .arg(&config)
        .args([
            "run",
            &format!("{}/openapi.json", server.base),
            "--header",
            &format!("Authorization: Bearer {}", server.admin),
            "--checks",
            &checks.join(","),
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            // One worker: hypothesis parses lambda sources with `ast`, which is not thread-safe
            // on CPython 3.11 ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--max-response-time",
            "5",
            "--no-color",
        ])
        // Files, not pipes: a full pipe would stall schemathesis until the deadline.
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let deadline = Duration::from_secs(100);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis still running after {deadline:?} (a hang?):\n{}",
                std::fs::read_to_string(dir.path().join("stdout")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = child.wait().unwrap();
    let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
    let log = server.log();
    let requests = log
        .lines()
        .filter(|l| l.contains("middleware::logger"))
        .count();
    let server_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("middleware::logger") && l.contains("\" 5"))
        .collect();
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    eprintln!(
        "schemathesis (seed {seed}): {requests} requests in {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        summary.join("\n")
    );
    assert!(
        status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    assert!(server_errors.is_empty(), "5xx answers: {server_errors:#?}");
    assert!(
        requests > 500,
        "only {requests} requests reached the server"
    );
    let tested: Value = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .into();
    let documented = server.get("/openapi.json", "").json()["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|method| *method != "options")
        .count();
    // schemathesis counts CORS preflights (OPTIONS) inconsistently (one of the two preflights
    // of the document, not both; they are tested in tests/chat.rs and tests/submissions.rs),
    // so: every operation it selected is tested, and it selected every non-OPTIONS one.
    let selected = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Selected: "))
        .and_then(|n| n.split('/').next()?.trim().parse::<u64>().ok());
    assert_eq!(
        tested,
        Value::from(selected),
        "every selected operation is tested"
    );
    assert!(
        selected.is_some_and(|n| n >= documented as u64),
        "schemathesis selected {selected:?} of {documented} documented operations"
    );
}
