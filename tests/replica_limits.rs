//! Rate limits shared by replicas over one PostgreSQL database (issue 12): each replica
//! enforces its share of every limit, the share follows replicas joining and leaving.

use std::time::Duration;

use crate::support::{Server, bootstrap_with, postgres, within};

/// Sends `GET /tenants/acme/corpus` with `token` to each server in turn, `rounds` times;
/// returns the statuses and the `X-RateLimit-Limit` headers seen.
fn alternate(servers: &[&Server], token: &str, rounds: usize) -> (Vec<u16>, Vec<String>) {
    let mut statuses = Vec::new();
    let mut limits = Vec::new();
    for _ in 0..rounds {
        for server in servers {
            let r = server.get("/tenants/acme/corpus", token);
            statuses.push(r.status);
            if let Some(limit) = r.header("x-ratelimit-limit") {
                limits.push(limit.to_string());
            }
        }
    }
    (statuses, limits)
}

#[test]
fn replicas_share_each_rate_limit_and_take_it_back_when_one_leaves() {
    let db = postgres::database();
    let env = [
        ("ANIMAM_STORE_BACKEND", "postgres"),
        ("ANIMAM_STORE_URL", db.url()),
        ("ANIMAM_RATE_LIMIT_PER_MINUTE", "10"),
    ];
    let root_a = tempfile::tempdir().unwrap();
    let admin = bootstrap_with(root_a.path(), &env, "acme");
    let a = Server::on_root_with(root_a, admin.clone(), &env);
    let mut b = Server::on_root_with(tempfile::tempdir().unwrap(), admin, &env);
    assert!(
        a.log_shows("2 replica(s) serve this database"),
        "{}",
        a.log()
    );
    assert!(
        b.log_shows("2 replica(s) serve this database"),
        "{}",
        b.log()
    );

    // Ten a minute in all: five on each replica, whichever receives the request.
    let (_, secret) = a.token(&["corpus:read"]);
    within(
        Duration::from_secs(1),
        "the new token on the other replica",
        || b.get("/tenants/acme/corpus", &secret).status != 401,
    );
    // B counted one request while the token arrived; A has its whole share.
    let (statuses, limits) = alternate(&[&a, &b], &secret, 6);
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(admitted, 9, "5 on A, 4 more on B: {statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 429),
        "{statuses:?}"
    );
    assert!(limits.iter().all(|l| l == "5"), "{limits:?}");

    // B goes away (a crash): A takes the whole limit back.
    b.kill();
    assert!(
        a.log_shows("1 replica(s) serve this database"),
        "{}",
        a.log()
    );
    let (_, fresh) = a.token(&["corpus:read"]);
    let r = a.get("/tenants/acme/corpus", &fresh);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
}
