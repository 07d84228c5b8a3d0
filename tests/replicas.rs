//! Two `animam serve` replicas over one PostgreSQL database (issue 12): what one writes, the
//! other's in-memory state (credentials, search index) follows through the change feed.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Server, animam_with, postgres};

/// How long a replica may take to see the other's write.
const WITHIN: Duration = Duration::from_secs(1);

/// Polls `done` until it holds or `WITHIN` has passed; returns the delay, or panics.
fn converges(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            let delay = started.elapsed();
            println!("replicas: {what} seen on the other replica after {delay:?}");
            return delay;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what}: not seen on the other replica within {WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_replica_follows_revocations_and_corpus_writes() {
    let db = postgres::database();
    let env = [
        ("ANIMAM_STORE_BACKEND", "postgres"),
        ("ANIMAM_STORE_URL", db.url()),
    ];
    let root_a = tempfile::tempdir().unwrap();
    let out = animam_with(
        root_a.path(),
        &env,
        &["bootstrap", "--tenant", "acme", "--data-dir", "data"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let a = Server::on_root_with(root_a, admin.clone(), &env);
    let b = Server::on_root_with(tempfile::tempdir().unwrap(), admin, &env);

    // A token made on A works on B (after the feed), then is revoked on A.
    let (id, secret) = a.token(&["*"]);
    converges("a new token", || {
        b.get("/tenants/acme/corpus", &secret).status == 200
    });
    let r = a.delete(&format!("/tenants/acme/tokens/{id}"), &a.admin);
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    let revoked = converges("a revocation", || {
        b.get("/tenants/acme/corpus", &secret).status == 401
    });

    // A corpus entry written on A is found and answered on B.
    let entry = a.corpus(&json!({
        "title": "Refund policy",
        "content": "Refunds are issued within 30 days of purchase, to the original payment method."
    }));
    let found = converges("a corpus entry (search)", || {
        b.search_ids("refunds").contains(&entry)
    });
    let answered = converges("a corpus entry (chat)", || {
        let r = b.request(
            "POST",
            "/chat/acme",
            &[],
            Some(
                &json!({"message": "How are refunds issued?", "sessionId": "s1", "stream": false})
                    .to_string(),
            ),
        );
        r.status == 200 && r.text.contains("30 days")
    });
    println!(
        "replicas: revocation {revoked:?}, corpus search {found:?}, corpus chat {answered:?} \
         (after the search)"
    );
}
