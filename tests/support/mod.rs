//! Test harness: runs the real `animam` binary against a fresh data directory and talks HTTP
//! to it. Each server captures its log so tests can check what was (not) logged.

pub mod dashboard;
pub mod fake_llm;
pub mod mcp_tools_server;
pub mod postgres;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_animam");

/// Runs the CLI with a clean environment (no ANIMAM_* from the developer's shell) in `dir`.
pub fn animam(dir: &Path, args: &[&str]) -> Output {
    command(dir, &[]).args(args).output().expect("run animam")
}

fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env("RUST_LOG", "debug");
    for var in animam::config::ENV_VARS.iter().chain(&["ANIMAM_CONFIG"]) {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the CLI in `dir` with a clean environment plus `env`.
pub fn animam_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    command(dir, env).args(args).output().expect("run animam")
}

/// `animam bootstrap --tenant SLUG` in `dir`: returns the token printed on stdout.
pub fn bootstrap(dir: &Path, slug: &str) -> String {
    bootstrap_with(dir, &[], slug)
}

/// `bootstrap` with `env` added (a PostgreSQL store, say).
pub fn bootstrap_with(dir: &Path, env: &[(&str, &str)], slug: &str) -> String {
    let out = animam_with(
        dir,
        env,
        &["bootstrap", "--tenant", slug, "--data-dir", "data"],
    );
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout must hold the secret alone: {stdout:?}"
    );
    stdout.trim().to_string()
}

/// Polls `done` every 5 ms until it holds, for at most `limit` (then panics); returns how
/// long it took, also printed (`--nocapture` shows the delays the replica tests measure).
pub fn within(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            let delay = started.elapsed();
            println!("{what}: after {delay:?}");
            return delay;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn legacy_key(dir: &Path, slug: &str) -> String {
    let out = animam(dir, &["legacy-key", "--tenant", slug, "--data-dir", "data"]);
    assert!(
        out.status.success(),
        "legacy-key failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The `id` of each object in a JSON array, in order.
pub fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts status and the exact error body.
    pub fn assert_error(&self, status: u16, error: &str, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.json(),
            serde_json::json!({"error": error, "code": code})
        );
    }
}

/// A running `animam serve` plus the credentials made for it.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// Holds the data directory (`<root>/data`) and is the working directory.
    pub root: tempfile::TempDir,
    log: Arc<Mutex<String>>,
    /// `*` token of tenant `acme`.
    pub admin: String,
    /// `*` token of tenant `globex`, the "other tenant".
    pub other_admin: String,
    pub legacy: String,
    pub other_legacy: String,
}

impl Server {
    /// Fresh data dir with tenants `acme` and `globex`, each with a `*` token and a legacy key.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), env)
    }

    /// Like `start_with`, in a given root (whose `data` may be prepared, a mount say).
    pub fn start_in(root: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        let admin = bootstrap(root.path(), "acme");
        let other_admin = bootstrap(root.path(), "globex");
        let legacy = legacy_key(root.path(), "acme");
        let other_legacy = legacy_key(root.path(), "globex");
        let mut server = Server {
            child: None,
            base: String::new(),
            root,
            log: Arc::default(),
            admin,
            other_admin,
            legacy,
            other_legacy,
        };
        server.launch(env);
        server
    }

    /// Serves an existing data directory (`<root>/data`) whose `*` token of acme is `admin`.
    pub fn on_root(root: tempfile::TempDir, admin: String) -> Server {
        Server::on_root_with(root, admin, &[])
    }

    /// `on_root` with `env` for the server (a PostgreSQL replica, say).
    pub fn on_root_with(root: tempfile::TempDir, admin: String, env: &[(&str, &str)]) -> Server {
        let mut server = Server {
            child: None,
            base: String::new(),
            root,
            log: Arc::default(),
            admin,
            other_admin: String::new(),
            legacy: String::new(),
            other_legacy: String::new(),
        };
        server.launch(env);
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Starts `animam serve` on the existing data dir and waits for its address.
    pub fn launch(&mut self, env: &[(&str, &str)]) {
        let mut env = env.to_vec();
        if !env
            .iter()
            .any(|(k, _)| *k == "ANIMAM_RATE_LIMIT_PER_MINUTE")
        {
            env.push(("ANIMAM_RATE_LIMIT_PER_MINUTE", "0"));
        }
        if !env
            .iter()
            .any(|(k, _)| *k == "ANIMAM_DASHBOARD_SIGN_IN_PER_IP_PER_MINUTE")
        {
            env.push(("ANIMAM_DASHBOARD_SIGN_IN_PER_IP_PER_MINUTE", "0"));
        }
        // Tests send many failing credentials from 127.0.0.1; throttling them is tested
        // where it is the point.
        if !env
            .iter()
            .any(|(k, _)| *k == "ANIMAM_FAILED_AUTH_PER_IP_PER_MINUTE")
        {
            env.push(("ANIMAM_FAILED_AUTH_PER_IP_PER_MINUTE", "0"));
        }
        let mut child = command(self.root.path(), &env)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn animam serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let addr = line[at + "listening on http://".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("server did not start; log:\n{}", self.log()));
        self.base = format!("http://{addr}");
        self.child = Some(child);
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        self.signal("-TERM");
        self.wait_for_exit();
    }

    /// Sends a signal (`-TERM`, `-INT`) to the running server.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("server running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the server to exit and asserts it exited cleanly.
    pub fn wait_for_exit(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Bounded, so a server that never stops fails the test instead of hanging CI.
            let deadline = Instant::now() + Duration::from_secs(30);
            let exit = loop {
                if let Some(exit) = child.try_wait().unwrap() {
                    break exit;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("serve did not exit within 30 s; log:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(
                exit.success(),
                "serve exited with {exit}; log:\n{}",
                self.log()
            );
        }
    }

    /// SIGKILL: a crash, with no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Reaps a server killed by a signal sent with `signal`.
    pub fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch(&[]);
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// True once the log holds `needle`, waiting up to 5 s: the log is read from the
    /// server's stderr by another thread, so a line written before a response may arrive
    /// after it.
    pub fn log_shows(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `request`, but a transport failure (the server died, say) is an `Err`.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let has_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let result = match body {
            Some(body) if !has_type => agent.run(
                builder
                    .header("content-type", "application/json")
                    .body(body.as_bytes().to_vec())
                    .unwrap(),
            ),
            Some(body) => agent.run(builder.body(body.as_bytes().to_vec()).unwrap()),
            None => agent.run(builder.body(()).unwrap()),
        };
        Self::try_read_response(result)
    }

    /// A request with a raw body (bytes that need not be UTF-8) of the given type.
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        Self::read_response(method, path, agent.run(request))
    }

    fn read_response(
        method: &str,
        path: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Resp {
        Self::try_read_response(result).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_read_response(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Resp, String> {
        let mut response = result.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Resp {
            status,
            headers,
            text,
        })
    }

    /// A request with `Authorization: Bearer <token>`.
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let body = body.map(Value::to_string);
        self.request(method, path, &[("authorization", &auth)], body.as_deref())
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("POST", path, token, Some(body))
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("PATCH", path, token, Some(body))
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        self.call("DELETE", path, token, None)
    }

    /// Creates an acme token with the given scopes; returns (id, secret).
    pub fn token(&self, scopes: &[&str]) -> (String, String) {
        let r = self.post(
            "/tenants/acme/tokens",
            &self.admin,
            &serde_json::json!({"name": "test", "scopes": scopes}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let v = r.json();
        (
            v["id"].as_str().unwrap().into(),
            v["token"].as_str().unwrap().into(),
        )
    }

    /// Ids of acme's corpus search results for `words`, best first.
    pub fn search_ids(&self, words: &str) -> Vec<String> {
        let r = self.get(
            &format!("/tenants/acme/corpus?search={words}&limit=100"),
            &self.admin,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r.json()["corpus"])
    }

    /// Creates an acme corpus entry; returns its id.
    pub fn corpus(&self, body: &Value) -> String {
        let r = self.post("/tenants/acme/corpus", &self.admin, body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
