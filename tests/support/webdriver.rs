//! A small W3C WebDriver client for headless Chromium through chromedriver: just the
//! commands the browser test uses, as JSON over HTTP with ureq.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element reference.
#[derive(Clone)]
pub struct El(pub Value);

impl Browser {
    /// Starts chromedriver and a headless Chromium. Fails (never skips) when they are missing.
    pub fn start() -> Browser {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need headless Chromium and chromedriver. \
                 Install them with `apt-get install -y chromium chromium-driver` ({package}); \
                 .ci/run does this when they are missing."
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = call("GET", &format!("{base}/status"), None)
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let created = call("POST", &format!("{base}/session"), Some(&caps))
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"));
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        call(method, &url, body.as_ref())
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))["value"]
            .take()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Resizes the window (a phone: 390 x 844).
    pub fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Waits up to 20 s for an element matching `css`.
    pub fn find(&self, css: &str) -> El {
        self.wait_for(&format!("element {css}"), || {
            let found = self.cmd(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            );
            found.as_array().and_then(|a| a.first()).cloned().map(El)
        })
    }

    /// Waits up to 20 s for `script` to return an element (for shadow DOM).
    pub fn find_by_script(&self, what: &str, script: &str) -> El {
        self.wait_for(what, || {
            let value = self.execute(script, vec![]);
            value.get(ELEMENT).is_some().then_some(El(value))
        })
    }

    pub fn wait_for<T>(&self, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} at {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element_path(el: &El, rest: &str) -> String {
        format!(
            "/element/{}{rest}",
            el.0[ELEMENT].as_str().unwrap_or_default()
        )
    }

    pub fn click(&self, el: &El) {
        self.cmd("POST", &Self::element_path(el, "/click"), Some(json!({})));
    }

    pub fn type_text(&self, el: &El, text: &str) {
        self.cmd(
            "POST",
            &Self::element_path(el, "/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn property(&self, el: &El, name: &str) -> Value {
        self.cmd(
            "GET",
            &Self::element_path(el, &format!("/property/{name}")),
            None,
        )
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let data = self.cmd("GET", "/screenshot", None);
        let bytes = base64_decode(data.as_str().unwrap_or_default());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call(
            "DELETE",
            &format!("{}/session/{}", self.base, self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn call(method: &str, url: &str, body: Option<&Value>) -> Result<Value, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let result = match body {
        Some(body) => agent.run(
            request
                .header("content-type", "application/json")
                .body(body.to_string().into_bytes())
                .map_err(|e| e.to_string())?,
        ),
        None => agent.run(request.body(()).map_err(|e| e.to_string())?),
    };
    let mut response = result.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if status >= 400 {
        return Err(format!("{status}: {}", value["value"]));
    }
    Ok(value)
}

/// Standard base64 (the screenshot's encoding), without a dependency for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
