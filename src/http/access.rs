//! Who may open a WebSocket (an `Origin` allow-list) and who the client really
//! is behind trusted reverse proxies (`X-Forwarded-For`). Both are off by
//! default, as upstream had neither.

use hyper::header::{HeaderMap, HeaderValue, ORIGIN};
use std::net::{IpAddr, SocketAddr};

/// Access rules of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Origins allowed to open a WebSocket (e.g. `https://example.org`); empty
    /// allows any, including none.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` header names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

impl AccessPolicy {
    /// `Err(reason)` when the allow-list is set and the request's `Origin` is
    /// missing or not on it.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        if self.allowed_origins.is_empty() {
            return Ok(());
        }
        let Some(origin) = headers.get(ORIGIN) else {
            return Err("missing Origin header".to_owned());
        };
        let origin_text = String::from_utf8_lossy(origin.as_bytes());
        let allowed = self.allowed_origins.iter().any(|allowed| {
            allowed
                .trim_end_matches('/')
                .eq_ignore_ascii_case(&origin_text)
        });
        if allowed {
            Ok(())
        } else {
            Err(format!("invalid Origin header: {origin_text}"))
        }
    }

    /// The client's address: the TCP peer, or, when the peer is a trusted
    /// proxy, the nearest untrusted address in `X-Forwarded-For`.
    pub fn client_addr(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusted_proxies.contains(&peer.ip()) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value: &HeaderValue| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .map_or(peer, |ip| SocketAddr::new(ip, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origins_are_checked_only_when_listed() {
        let open = AccessPolicy::default();
        assert!(open.check_origin(&headers(&[])).is_ok());
        let listed = AccessPolicy {
            allowed_origins: vec!["https://dzone.example/".to_owned()],
            ..AccessPolicy::default()
        };
        assert!(listed
            .check_origin(&headers(&[("origin", "https://DZone.example")]))
            .is_ok());
        assert_eq!(
            listed.check_origin(&headers(&[("origin", "https://evil.example")])),
            Err("invalid Origin header: https://evil.example".to_owned())
        );
        assert_eq!(
            listed.check_origin(&headers(&[])),
            Err("missing Origin header".to_owned())
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.2:5000".parse().expect("addr");
        let stranger: SocketAddr = "203.0.113.9:5000".parse().expect("addr");
        let policy = AccessPolicy {
            trusted_proxies: vec![
                "10.0.0.2".parse().expect("ip"),
                "10.0.0.3".parse().expect("ip"),
            ],
            ..AccessPolicy::default()
        };
        let forwarded = headers(&[("x-forwarded-for", "198.51.100.1, 192.0.2.7, 10.0.0.3")]);
        assert_eq!(
            policy.client_addr(proxy, &forwarded).ip().to_string(),
            "192.0.2.7"
        );
        assert_eq!(policy.client_addr(stranger, &forwarded), stranger);
        assert_eq!(
            policy.client_addr(proxy, &headers(&[("x-forwarded-for", "garbage")])),
            proxy
        );
    }
}
