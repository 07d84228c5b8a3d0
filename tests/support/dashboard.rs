//! A dashboard client: signs in like a browser (form POST), then sends the session cookie
//! and each form's CSRF token. Redirects are not followed, so tests see every 303.

use std::time::Duration;

use super::{Resp, Server};

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Sends a request without following redirects.
pub fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Resp {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let result = match form {
        Some(fields) => agent().run(
            builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encode(fields).into_bytes())
                .unwrap(),
        ),
        None => agent().run(builder.body(()).unwrap()),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
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
        .unwrap_or_default();
    Resp {
        status,
        headers,
        text,
    }
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// POSTs the sign-in form with `token`.
pub fn sign_in_attempt(server: &Server, token: &str) -> Resp {
    send(
        server,
        "POST",
        "/dashboard/-/sign-in",
        &[],
        Some(&[("token", token)]),
    )
}

/// The `Set-Cookie` header of a response, whole.
pub fn set_cookie(resp: &Resp) -> Option<&str> {
    resp.header("set-cookie")
}

/// A signed-in browser.
pub struct Session<'a> {
    pub server: &'a Server,
    /// The cookie value (`as_...`).
    pub secret: String,
    /// Where sign-in led: `/dashboard/<tenant>`.
    pub home: String,
}

impl<'a> Session<'a> {
    pub fn sign_in(server: &'a Server, token: &str) -> Session<'a> {
        let r = sign_in_attempt(server, token);
        assert_eq!(r.status, 303, "sign-in: {}", r.text);
        let cookie = set_cookie(&r).expect("a session cookie");
        let secret = cookie
            .strip_prefix("animam_session=")
            .and_then(|rest| rest.split(';').next())
            .expect("cookie value")
            .to_string();
        let home = r.header("location").unwrap_or_default().to_string();
        Session {
            server,
            secret,
            home,
        }
    }

    pub fn cookie(&self) -> String {
        format!("animam_session={}", self.secret)
    }

    pub fn get(&self, path: &str) -> Resp {
        send(
            self.server,
            "GET",
            path,
            &[("cookie", &self.cookie())],
            None,
        )
    }

    /// POSTs a form with this session's CSRF token added.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let csrf = self.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// POSTs exactly these fields (no CSRF token added).
    pub fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        send(
            self.server,
            "POST",
            path,
            &[("cookie", &self.cookie())],
            Some(fields),
        )
    }

    /// The CSRF token, read from a page's sign-out form like a browser would.
    pub fn csrf(&self) -> String {
        let r = self.get(&format!("{}/preview", self.home));
        assert_eq!(r.status, 200, "csrf page: {}", r.text);
        hidden_csrf(&r.text).expect("a csrf field")
    }
}

pub fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_string())
}
