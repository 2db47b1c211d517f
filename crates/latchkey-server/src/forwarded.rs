//! The client's address behind reverse proxies.
//!
//! `X-Forwarded-For` is a list each proxy appends its peer to: the client
//! can write anything at its left end. So it is read only when the TCP peer
//! is a proxy the operator trusts (`trusted_proxies` in `latchkey.toml`),
//! from the right, skipping trusted proxies: the first entry that is not one
//! is the client. An entry that is not an IP address stops the walk, and
//! the last trusted hop is taken instead. A trusted proxy that sends no
//! `X-Forwarded-For` may name the client in `X-Real-IP` (nginx's
//! `proxy_set_header X-Real-IP $remote_addr`), read the same way. With no
//! trusted proxies (the default) the headers are ignored and the client is
//! the TCP peer.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The longest `X-Forwarded-For` entry that is parsed (an IPv6 address with
/// an IPv4 tail is at most 45 characters).
const MAX_ENTRY: usize = 64;

/// Addresses and networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `entries`: addresses (`127.0.0.1`, `::1`) or networks
    /// (`10.0.0.0/8`); the first one that is neither is returned as the
    /// error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                IpNet::from_str(e).or_else(|_| IpAddr::from_str(e).map(IpNet::from)).map_err(|_| e.to_owned())
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client of a request from `peer` with `headers`: `peer` itself unless
/// it is a trusted proxy, else the right-most `X-Forwarded-For` entry that
/// is not one (see the module documentation).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(client) {
        return client;
    }
    let mut forwarded = headers.get_all("x-forwarded-for").iter().peekable();
    if forwarded.peek().is_none() {
        return match headers.get("x-real-ip").and_then(|v| v.to_str().ok()).map(str::trim) {
            Some(entry) if entry.len() <= MAX_ENTRY => IpAddr::from_str(entry).map_or(client, |ip| ip.to_canonical()),
            _ => client,
        };
    }
    for line in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(line) = line.to_str() else { return client };
        for entry in line.rsplit(',') {
            let entry = entry.trim();
            let Some(ip) = (entry.len() <= MAX_ENTRY).then(|| IpAddr::from_str(entry).ok()).flatten() else {
                return client;
            };
            client = ip.to_canonical();
            if !trusted.contains(client) {
                return client;
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let t = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]).unwrap();
        for yes in ["127.0.0.1", "10.1.2.3", "::1", "fd12::1"] {
            assert!(t.contains(ip(yes)), "{yes}");
        }
        for no in ["127.0.0.2", "11.0.0.1", "::2"] {
            assert!(!t.contains(ip(no)), "{no}");
        }
        assert_eq!(TrustedProxies::parse(&["10.0.0.0/8", "nginx"]), Err("nginx".to_owned()));
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_entry_behind_a_trusted_peer() {
        let none = TrustedProxies::default();
        let lo = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let long = "9".repeat(20_000);
        for (peer, trusted, xff, client) in [
            // An untrusted peer's header is ignored.
            ("203.0.113.9", &none, &["1.1.1.1"][..], "203.0.113.9"),
            ("203.0.113.9", &lo, &["1.1.1.1"][..], "203.0.113.9"),
            ("127.0.0.1", &none, &["1.1.1.1"][..], "127.0.0.1"),
            // Behind trusted proxies: the right-most untrusted entry.
            ("127.0.0.1", &lo, &["1.1.1.1"][..], "1.1.1.1"),
            ("127.0.0.1", &lo, &["6.6.6.6, 1.1.1.1"][..], "1.1.1.1"),
            ("127.0.0.1", &lo, &["6.6.6.6, 1.1.1.1, 10.0.0.7"][..], "1.1.1.1"),
            ("127.0.0.1", &lo, &["6.6.6.6", "1.1.1.1, 10.0.0.7"][..], "1.1.1.1"),
            ("127.0.0.1", &lo, &["6.6.6.6", " 2001:db8::1 "][..], "2001:db8::1"),
            // No header, only trusted hops, or garbage: the last trusted hop.
            ("127.0.0.1", &lo, &[][..], "127.0.0.1"),
            ("127.0.0.1", &lo, &["10.0.0.7"][..], "10.0.0.7"),
            ("127.0.0.1", &lo, &["1.1.1.1, unknown"][..], "127.0.0.1"),
            ("127.0.0.1", &lo, &["1.1.1.1, 10.0.0.7, "][..], "127.0.0.1"),
            ("127.0.0.1", &lo, &[long.as_str()][..], "127.0.0.1"),
            ("::ffff:127.0.0.1", &lo, &["1.1.1.1"][..], "1.1.1.1"),
        ] {
            assert_eq!(client_address(ip(peer), &headers(xff), trusted), ip(client), "{peer} {xff:?}");
        }
    }

    #[test]
    fn x_real_ip_counts_only_from_a_trusted_peer_without_x_forwarded_for() {
        let lo = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        let real = |xff: &[&str], real: &str| {
            let mut h = headers(xff);
            h.insert("x-real-ip", HeaderValue::from_str(real).unwrap());
            h
        };
        assert_eq!(client_address(ip("127.0.0.1"), &real(&[], "1.1.1.1"), &lo), ip("1.1.1.1"));
        assert_eq!(client_address(ip("127.0.0.1"), &real(&[], "::ffff:1.1.1.1"), &lo), ip("1.1.1.1"));
        assert_eq!(client_address(ip("127.0.0.1"), &real(&[], "garbage"), &lo), ip("127.0.0.1"));
        assert_eq!(client_address(ip("127.0.0.1"), &real(&["2.2.2.2"], "1.1.1.1"), &lo), ip("2.2.2.2"));
        assert_eq!(client_address(ip("203.0.113.9"), &real(&[], "1.1.1.1"), &lo), ip("203.0.113.9"));
    }
}
