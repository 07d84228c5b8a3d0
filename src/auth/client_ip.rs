//! Who the client is, network-wise: the one answer used by every per-IP budget (API
//! failed-auth throttle, public chat, dashboard sign-in), the audit log and the access log.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::config::TrustedProxies;

/// The client's address: the connection's peer, unless the peer is a trusted proxy, in which
/// case `X-Forwarded-For` is read from the right (the hop the proxy appended) leftwards,
/// skipping further trusted proxies; the first address not trusted is the client. A value
/// that is not an address stops the walk at the last address known good. Untrusted peers'
/// `X-Forwarded-For` is ignored, so a client cannot choose the address it is counted under.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    Some(resolve(peer, req.headers(), trusted))
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if trusted.is_empty() || !trusted.trusts(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !trusted.trusts(client) {
            break;
        }
    }
    client
}

/// The key a per-IP budget counts `ip` (as [`client_ip_text`] gives it) under: the address
/// itself, or for IPv6 its /64, the network one subscriber gets and could walk through to
/// dodge a per-address budget.
pub fn budget_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            let net = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(net))
        }
        _ => ip.to_string(),
    }
}

/// The client address as text, `-` when unknown (no peer, as in in-process tests).
pub fn client_ip_text(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    client_ip(req, trusted).map_or_else(|| "-".to_string(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cidr;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in xff {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn trusting(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| Cidr::parse(n).unwrap()).collect())
    }

    #[test]
    fn forwarded_for_only_from_trusted_peers() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(resolve(peer, &h, &TrustedProxies::default()), peer);
        assert_eq!(resolve(peer, &h, &trusting(&["192.168.0.0/16"])), peer);
        let proxies = trusting(&["10.0.0.0/8"]);
        assert_eq!(resolve(peer, &h, &proxies).to_string(), "203.0.113.9");
        // A client-supplied first hop does not win over what the proxies appended.
        let h = headers(&["1.2.3.4, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(resolve(peer, &h, &proxies).to_string(), "203.0.113.9");
        let h = headers(&["1.2.3.4", "203.0.113.9"]);
        assert_eq!(resolve(peer, &h, &proxies).to_string(), "203.0.113.9");
        let h = headers(&["garbage, 10.0.0.9"]);
        assert_eq!(resolve(peer, &h, &proxies).to_string(), "10.0.0.9");
        assert_eq!(resolve(peer, &headers(&[]), &proxies), peer);
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        assert_eq!(budget_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(budget_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(budget_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(budget_key("-"), "-");
    }
}
