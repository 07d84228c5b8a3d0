//! Which browser origins may use a tenant's chat (CORS). Patterns come from the tenant's
//! `allowedDomains`:
//!
//! - `example.com` matches that host and `www.example.com`, on any port;
//! - `app.example.com` matches exactly that host, on any port;
//! - `*.example.com` matches every subdomain (not `example.com` itself), on any port;
//! - `localhost:3000` (with a port) matches that host on that port only.
//!
//! An empty list allows every origin.

/// `example.com`, `app.example.com`, `*.example.com`, `localhost:3000`, `127.0.0.1:8080`.
pub fn is_host_pattern(pattern: &str) -> bool {
    let host_port = pattern.strip_prefix("*.").unwrap_or(pattern);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && labels_ok
}

/// The host and port of an `Origin` header value (`https://shop.example.com:8443`).
pub fn parse_origin(origin: &str) -> Option<(String, Option<u16>)> {
    let (scheme, rest) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.contains('/') {
        return None;
    }
    // An IPv6 literal ("[::1]") has colons of its own; only digits after the last one are a port.
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, Some(p.parse().ok()?))
        }
        _ => (rest, None),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

/// Whether a browser at `origin` may call the chat of a tenant with `allowed` patterns.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some((host, port)) = parse_origin(origin) else {
        return false;
    };
    allowed
        .iter()
        .any(|pattern| pattern_matches(pattern, &host, port))
}

fn pattern_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()),
        None => (pattern, None),
    };
    if pattern_port.is_some() && pattern_port != port {
        return false;
    }
    if let Some(parent) = pattern_host.strip_prefix("*.") {
        return host.len() > parent.len() + 1
            && host.ends_with(parent)
            && host.as_bytes()[host.len() - parent.len() - 1] == b'.';
    }
    host == pattern_host
        || (pattern_port.is_none() && host.strip_prefix("www.") == Some(pattern_host))
}

/// Local development origins, which may use a deactivated tenant's chat.
pub fn is_localhost(origin: &str) -> bool {
    parse_origin(origin)
        .is_some_and(|(host, _)| matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        for ok in [
            "example.com",
            "app.example.com",
            "*.example.com",
            "localhost:3000",
            "127.0.0.1:8080",
            "localhost",
        ] {
            assert!(is_host_pattern(ok), "{ok}");
        }
        for bad in [
            "",
            "https://example.com",
            "example.com/path",
            "*.",
            "exa mple.com",
            "example.com:0",
            "example.com:99999",
            "-x.com",
            "*",
        ] {
            assert!(!is_host_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn origins_against_patterns() {
        let allowed: Vec<String> = [
            "example.com",
            "app.other.com",
            "*.wild.com",
            "localhost:3000",
        ]
        .map(String::from)
        .to_vec();
        for ok in [
            "https://example.com",
            "https://www.example.com",
            "http://example.com:8080",
            "https://app.other.com",
            "https://a.wild.com",
            "https://a.b.wild.com",
            "http://localhost:3000",
        ] {
            assert!(origin_allowed(&allowed, ok), "{ok}");
        }
        for bad in [
            "https://evil.com",
            "https://shop.example.com",
            "https://other.com",
            "https://wild.com",
            "https://notwild.com",
            "http://localhost:3001",
            "http://localhost",
            "null",
            "example.com",
            "https://example.com.evil.com",
        ] {
            assert!(!origin_allowed(&allowed, bad), "{bad}");
        }
        assert!(
            origin_allowed(&[], "https://anything.io"),
            "empty list allows all"
        );
    }

    #[test]
    fn localhost_origins() {
        assert!(is_localhost("http://localhost:3000"));
        assert!(is_localhost("http://127.0.0.1"));
        assert!(!is_localhost("https://example.com"));
    }
}
