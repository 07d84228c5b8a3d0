//! Three `animam serve` replicas over one PostgreSQL database (issue 12): what one writes,
//! the others read, and their in-memory state (credentials, search index) follows through
//! the change feed within a second; a replica killed mid-write loses nothing acknowledged; a
//! replica that starts late or stalls catches up; a database outage is answered with 503s
//! and the replicas recover by themselves once it is back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, bootstrap_with, ids, postgres, within};

/// How long a replica may take to see another's write (the bound).
const WITHIN: Duration = Duration::from_secs(1);

fn env(url: &str) -> [(&str, &str); 4] {
    [
        ("ANIMAM_STORE_BACKEND", "postgres"),
        ("ANIMAM_STORE_URL", url),
        // A database that does not answer is given up on within these: a new connection
        // after 2 s; a statement already sent after 1 s and a probe of up to 2 s (or 4 s,
        // statement and connect timeouts, if the server still takes connections).
        ("ANIMAM_STORE_CONNECT_TIMEOUT_SECS", "2"),
        ("ANIMAM_STORE_STATEMENT_TIMEOUT_SECS", "2"),
    ]
}

/// Bootstraps tenant `acme` in the database at `url`; returns the directory and the `*`
/// token.
fn bootstrap(url: &str) -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let admin = bootstrap_with(root.path(), &env(url), "acme");
    (root, admin)
}

/// A replica of the database at `url`, in a data directory of its own.
fn replica(url: &str, admin: &str) -> Server {
    Server::on_root_with(tempfile::tempdir().unwrap(), admin.to_string(), &env(url))
}

/// `n` replicas of a freshly bootstrapped database.
fn replicas(url: &str, n: usize) -> Vec<Server> {
    let (root, admin) = bootstrap(url);
    let mut servers = vec![Server::on_root_with(root, admin.clone(), &env(url))];
    servers.extend((1..n).map(|_| replica(url, &admin)));
    servers
}

fn converges(what: &str, done: impl FnMut() -> bool) -> Duration {
    within(WITHIN, what, done)
}

/// Retries writing an entry on `server` until the database takes it (at most 15 s): its id,
/// and how long that took.
fn write_once_back(server: &Server, what: &str, body: &Value) -> (String, Duration) {
    let mut written = String::new();
    let took = within(Duration::from_secs(15), what, || {
        let r = server.post("/tenants/acme/corpus", &server.admin, body);
        if r.status == 201 {
            written = r.json()["id"].as_str().unwrap().to_string();
        }
        r.status == 201
    });
    (written, took)
}

fn chat_answers(server: &Server, question: &str, expected: &str) -> bool {
    let r = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(&json!({"message": question, "sessionId": "s1", "stream": false}).to_string()),
    );
    r.status == 200 && r.text.contains(expected)
}

fn entry(title: &str, content: &str) -> Value {
    json!({"title": title, "content": content})
}

/// Every id a search of `words` finds on `server`, through every page.
fn all_found(server: &Server, words: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for page in 1.. {
        let r = server.get(
            &format!("/tenants/acme/corpus?search={words}&limit=100&page={page}"),
            &server.admin,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let got = ids(&r.json()["corpus"]);
        if got.is_empty() {
            return found;
        }
        found.extend(got);
    }
    unreachable!()
}

#[test]
fn writes_through_one_replica_are_read_and_followed_by_the_others() {
    let db = postgres::database();
    let servers = replicas(db.url(), 3);
    let [a, b, c] = [&servers[0], &servers[1], &servers[2]];

    // Corpus: written through A, read through B and C.
    let refunds = a.corpus(&entry(
        "Refund policy",
        "Refunds are issued within 30 days of purchase, to the original payment method.",
    ));
    for other in [b, c] {
        let r = other.get(&format!("/tenants/acme/corpus/{refunds}"), &other.admin);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["title"], "Refund policy");
    }
    converges("an entry written on A found by search on B and C", || {
        b.search_ids("refunds").contains(&refunds) && c.search_ids("refunds").contains(&refunds)
    });

    // Tokens: made through B, listed through A and C, accepted by both.
    let (token, secret) = b.token(&["*"]);
    for other in [a, c] {
        let r = other.get("/tenants/acme/tokens", &other.admin);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains(&token), "{}", r.text);
    }
    converges("a token made on B accepted by A and C", || {
        a.get("/tenants/acme/corpus", &secret).status == 200
            && c.get("/tenants/acme/corpus", &secret).status == 200
    });

    // Tenant settings: changed through C, read through A and B.
    let r = c.patch("/tenants/acme", &c.admin, &json!({"botName": "Replicated"}));
    assert_eq!(r.status, 200, "{}", r.text);
    for other in [a, b] {
        let r = other.get("/tenants/acme", &other.admin);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["botName"], "Replicated", "{}", r.text);
    }

    // A token revoked through A is refused by B and C within a second.
    let r = a.delete(&format!("/tenants/acme/tokens/{token}"), &a.admin);
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    let revoked = converges("a revocation on A refused by B and C", || {
        b.get("/tenants/acme/corpus", &secret).status == 401
            && c.get("/tenants/acme/corpus", &secret).status == 401
    });

    // An entry created through B is answered by chat on C (and A) within a second.
    b.corpus(&entry(
        "Shipping",
        "Parcels ship from Lyon within two business days, tracked by email.",
    ));
    let visible = converges("an entry created on B answered by chat on C and A", || {
        chat_answers(c, "Where do parcels ship from?", "Lyon")
            && chat_answers(a, "Where do parcels ship from?", "Lyon")
    });
    println!("replicas (3): revocation {revoked:?}, new entry answered by chat {visible:?}");
}

/// `lastUsedAt` of token `id` as listed through `server`.
fn last_used(server: &Server, id: &str) -> Option<String> {
    let r = server.get("/tenants/acme/tokens", &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    let tokens = r.json()["tokens"].as_array().unwrap().clone();
    let token = tokens.iter().find(|t| t["id"] == id).expect("listed");
    token["lastUsedAt"].as_str().map(str::to_string)
}

#[test]
fn a_token_used_on_one_replica_shows_its_last_use_on_another_after_the_flush() {
    let db = postgres::database();
    let mut servers = replicas(db.url(), 2);
    let (token, secret) = servers[0].token(&["corpus:read"]);
    // Used on A first, then on B, a second later (`lastUsedAt` is to the second).
    assert_eq!(servers[0].get("/tenants/acme/corpus", &secret).status, 200);
    let on_a = last_used(&servers[0], &token).expect("A knows its own use");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(servers[1].get("/tenants/acme/corpus", &secret).status, 200);
    let on_b = last_used(&servers[1], &token).expect("B knows its own use");
    assert!(on_b > on_a, "{on_b} after {on_a}");
    // B flushes its bookkeeping as it stops; A then lists B's later use, not its own.
    servers[1].stop();
    let a = &servers[0];
    converges("B's last use of a token listed through A", || {
        last_used(a, &token).as_deref() == Some(on_b.as_str())
    });
    // A's own flush, of its earlier use, does not move the stored time back: a replica
    // started afterwards (which knows only what is stored) lists B's.
    servers[0].stop();
    let c = replica(db.url(), &servers[0].admin);
    assert_eq!(last_used(&c, &token), Some(on_b));
}

#[test]
fn a_killed_replica_loses_nothing_acknowledged_and_late_or_stalled_ones_catch_up() {
    let db = postgres::database();
    let mut servers = replicas(db.url(), 2);
    let admin = servers[0].admin.clone();
    let bases = [servers[0].base.clone(), servers[1].base.clone()];

    // Four clients, two per replica, each writing entries and recording every id the
    // server acknowledged (201). A's are cut off by the SIGKILL.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let base = bases[n % 2].clone();
            let (admin, acknowledged, stop) = (admin.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let mut failures = 0;
                for i in 0..2000 {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let body = entry(
                        &format!("Durable {n}-{i}"),
                        &format!("Kept across a crash: client {n}, write {i}."),
                    );
                    let response = agent
                        .post(format!("{base}/tenants/acme/corpus"))
                        .header("authorization", format!("Bearer {admin}"))
                        .send_json(&body);
                    match response {
                        Ok(mut r) if r.status() == 201 => {
                            let v: Value = r.body_mut().read_json().unwrap();
                            let id = v["id"].as_str().unwrap().to_string();
                            acknowledged.lock().unwrap().push(id);
                        }
                        // The replica died under this request: not acknowledged.
                        Ok(_) | Err(_) => {
                            failures += 1;
                            if failures > 3 {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 60 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    servers[0].kill();
    let at_kill = acknowledged.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    println!(
        "replicas: SIGKILL after {at_kill} acknowledged writes, {} acknowledged in all",
        acknowledged.len()
    );
    assert!(
        at_kill >= 60,
        "the clients wrote too little before the kill"
    );
    let b = &servers[1];
    for id in &acknowledged {
        let r = b.get(&format!("/tenants/acme/corpus/{id}"), &b.admin);
        assert_eq!(
            r.status, 200,
            "acknowledged entry {id} is missing: {}",
            r.text
        );
    }
    let on_b = all_found(b, "durable");
    assert!(on_b.is_superset(&acknowledged));

    // A replica started after all this loads it all: the same search, from its memory.
    let (token, secret) = b.token(&["*"]);
    let c = replica(db.url(), &admin);
    assert_eq!(all_found(&c, "durable"), on_b);
    assert_eq!(c.get("/tenants/acme/corpus", &secret).status, 200);

    // A stalled replica (SIGSTOP) misses the notifications of B's writes; once it runs
    // again it catches up from its last sequence number.
    c.signal("-STOP");
    let late = b.corpus(&entry(
        "Warehouse hours",
        "The warehouse opens at seven and closes at noon on Saturdays.",
    ));
    let r = b.delete(&format!("/tenants/acme/tokens/{token}"), &b.admin);
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    std::thread::sleep(Duration::from_millis(700));
    c.signal("-CONT");
    let caught_up = converges("a stalled replica caught up after SIGCONT", || {
        c.search_ids("warehouse").contains(&late)
            && c.get("/tenants/acme/corpus", &secret).status == 401
    });
    println!("replicas: a replica stalled for 0.7 s caught up {caught_up:?} after SIGCONT");
}

#[test]
fn a_database_outage_is_answered_503_and_recovered_without_restarts() {
    let cluster = postgres::private_cluster();
    let url = cluster.url();
    let servers = replicas(&url, 3);
    let [a, b, c] = [&servers[0], &servers[1], &servers[2]];
    let refunds = a.corpus(&entry(
        "Refund policy",
        "Refunds are issued within 30 days of purchase.",
    ));
    let (_, secret) = a.token(&["corpus:read"]);
    converges("setup seen on B", || {
        b.get("/tenants/acme/corpus", &secret).status == 200
            && b.search_ids("refunds").contains(&refunds)
    });

    // Served by B once the feed had brought the entry (its row's change comes before its
    // terms' in the feed): B keeps the copy for the outage.
    assert!(b.search_ids("refunds").contains(&refunds));

    cluster.stop();
    // Writes: a JSON 503 with Retry-After, at the connect timeout at the latest.
    for server in [a, b] {
        let started = Instant::now();
        let r = server.post(
            "/tenants/acme/corpus",
            &server.admin,
            &entry("Down", "Written while the database is down."),
        );
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(r.json()["error"].is_string(), "{}", r.text);
        assert!(r.header("retry-after").is_some());
        assert!(took < Duration::from_secs(10), "a write hung for {took:?}");
        println!("replicas: a write during the outage answered 503 in {took:?}");
    }
    // Authentication is from memory: a known token is accepted, an unknown one refused, as
    // before the outage. Search ranks from the index, and its page is made of entries,
    // which B served lately and kept: it answers. C never served this one: its page needs
    // the row, so 503, as does any read that needs the database (the token listing).
    let r = b.get(&format!("/tenants/acme/corpus/{refunds}"), &secret);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = b.get("/tenants/acme/corpus", "ak_not_a_token");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(b.search_ids("refunds"), vec![refunds.clone()]);
    for (server, path) in [
        (c, "/tenants/acme/corpus?search=refunds"),
        (b, "/tenants/acme/tokens"),
    ] {
        let r = server.get(path, &server.admin);
        assert_eq!(r.status, 503, "{path}: {}", r.text);
        assert!(r.json()["error"].is_string(), "{}", r.text);
    }
    // A replica that wrote nothing knows too: its change feed lost the database.
    within(Duration::from_secs(5), "/health degraded on C", || {
        let r = c.get("/health", "");
        r.status == 503 && r.text.contains("unreachable")
    });

    cluster.start();
    let restarted = Instant::now();
    let (written, recovered) = write_once_back(
        a,
        "writes work after the restart",
        &entry("Shipping", "Parcels ship from Lyon within two days."),
    );
    let converged = converges("a write after the restart seen on B and C", || {
        b.search_ids("parcels").contains(&written) && c.search_ids("parcels").contains(&written)
    });
    // Every replica's health is back, C's feed reconnected by itself included.
    within(Duration::from_secs(5), "/health ok on all three", || {
        [a, b, c].iter().all(|s| s.get("/health", "").status == 200)
    });
    let (token, fresh) = c.token(&["*"]);
    let r = c.delete(&format!("/tenants/acme/tokens/{token}"), &c.admin);
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    converges("a revocation after the restart refused on A and B", || {
        a.get("/tenants/acme/corpus", &fresh).status == 401
            && b.get("/tenants/acme/corpus", &fresh).status == 401
    });
    println!(
        "replicas: recovery after the database restart: writes {recovered:?}, \
         then seen on the others {converged:?} ({:?} in all)",
        restarted.elapsed()
    );

    // A database that stops answering without closing anything (a hung host): the write
    // waiting on it is given up once a fresh connection finds no server either, and the
    // next ones at the connect timeout, instead of hanging.
    cluster.freeze();
    let thaw_on_panic = ThawOnDrop(&cluster);
    for attempt in 0..2 {
        let started = Instant::now();
        let r = a.post(
            "/tenants/acme/corpus",
            &a.admin,
            &entry("Hung", "Written while the database hangs."),
        );
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(r.json()["error"].is_string(), "{}", r.text);
        assert!(took < Duration::from_secs(10), "a write hung for {took:?}");
        println!("replicas: a write to a hung database answered 503 in {took:?} (try {attempt})");
        // Past the second in which writes are refused without trying.
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert_eq!(b.get("/tenants/acme/corpus", "ak_not_a_token").status, 401);
    // C, which wrote nothing, learns it from its change feed, whose catch-up gets no answer
    // either: the feed gives its connection up rather than waiting forever.
    within(
        Duration::from_secs(8),
        "/health degraded on C while the database hangs",
        || {
            let r = c.get("/health", "");
            r.status == 503 && r.text.contains("unreachable")
        },
    );
    drop(thaw_on_panic);
    cluster.thaw();
    let (written, recovered) = write_once_back(
        b,
        "writes work after the thaw",
        &entry("Opening hours", "The shop opens at nine on weekdays."),
    );
    converges("a write after the thaw seen on A and C", || {
        a.search_ids("shop").contains(&written) && c.search_ids("shop").contains(&written)
    });
    println!("replicas: recovery after a hung database came back: writes {recovered:?}");
    // Healthy again everywhere, without another write through A or C: their feeds
    // reconnected to the database that came back.
    within(
        Duration::from_secs(10),
        "/health ok on all three after the thaw",
        || {
            [&a, &b, &c]
                .iter()
                .all(|s| s.get("/health", "").status == 200)
        },
    );
}

/// Thaws a frozen cluster if the test fails while it is frozen, so the replicas' drop and
/// the cluster's own cleanup do not wait on it.
struct ThawOnDrop<'a>(&'a postgres::PrivateCluster);

impl Drop for ThawOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.thaw();
        }
    }
}
