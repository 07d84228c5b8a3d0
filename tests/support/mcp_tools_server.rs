//! A tenant's own MCP tools server for the tests: `tests/clients/mcp_tools_server.py`, built on
//! the official MCP Python SDK (FastMCP, Streamable HTTP), run from the test virtualenv on a
//! free loopback port. Killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How the server answers POSTs: SSE streams (the SDK's default) or plain JSON.
#[derive(Clone, Copy)]
pub enum Answers {
    Sse,
    Json,
}

pub struct McpToolsServer {
    child: Child,
    pub url: String,
    spy: PathBuf,
    _dir: tempfile::TempDir,
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl McpToolsServer {
    /// Starts the server; `key`: the bearer key it demands (None: no check).
    pub fn start(key: Option<&str>, answers: Answers) -> McpToolsServer {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `bash .ci/run` once, or `python3 -m venv .ci/venv && \
             .ci/venv/bin/pip install -r .ci/requirements.txt`",
            python.display()
        );
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_tools_server.py");
        let dir = tempfile::tempdir().unwrap();
        let spy = dir.path().join("spy.jsonl");
        let port = free_port();
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(&spy)
            .arg(key.unwrap_or("-"))
            .arg(match answers {
                Answers::Sse => "sse",
                Answers::Json => "json",
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the MCP tools server");
        let mut server = McpToolsServer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
            spy,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(exit) = server.child.try_wait().unwrap() {
                panic!("the MCP tools server exited at start: {exit}");
            }
            assert!(
                Instant::now() < deadline,
                "the MCP tools server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every request the server received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.spy)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// How many JSON-RPC requests of this method arrived.
    pub fn count(&self, rpc: &str) -> usize {
        self.requests().iter().filter(|r| r["rpc"] == rpc).count()
    }
}

impl Drop for McpToolsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
