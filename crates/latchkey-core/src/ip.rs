//! IP rules: the networks a key may be used from.
//!
//! A rule list ([`IpRules`]) is at most [`MAX_CIDRS`] networks, written as
//! CIDR (`203.0.113.0/24`, `2001:db8::/32`) or as a bare address (a /32 or
//! /128). Entries are kept in their canonical form: host bits cleared, and
//! an IPv4-mapped IPv6 network (`::ffff:203.0.113.0/120`) as the IPv4
//! network it stands for. A client address is made canonical the same way
//! before it is matched ([`IpAddr::to_canonical`]), so a client that
//! reaches a dual-stack listener as `::ffff:203.0.113.7` matches
//! `203.0.113.0/24`.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

/// Most networks in one list (a key's or a policy's).
pub const MAX_CIDRS: usize = 100;

/// A list that cannot be used as rules, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpRulesError {
    /// More than [`MAX_CIDRS`] entries.
    #[error("at most {MAX_CIDRS} networks, not {0}")]
    TooMany(usize),
    /// An empty list: it would refuse every address (`null` means no rule).
    #[error("an empty list would refuse every address; use null for no rule")]
    Empty,
    /// Entries that are neither a network nor an address.
    #[error("not a network (CIDR such as 203.0.113.0/24 or 2001:db8::/32) or an address: {}", .0.join(", "))]
    Invalid(Vec<String>),
}

/// The networks a key may be used from (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpRules {
    /// The networks, canonical, in the order given.
    nets: Box<[IpNet]>,
    /// The IPv4 networks as `(network, mask)`: what [`IpRules::allows`]
    /// compares, one AND and one comparison a network (`IpNet::contains`
    /// derives the mask and the broadcast address from the prefix length
    /// on every call; verification pays this on every request).
    v4: Box<[(u32, u32)]>,
    /// The IPv6 networks, likewise.
    v6: Box<[(u128, u128)]>,
}

impl IpRules {
    /// Parses `entries` (see the [module documentation](self)); duplicates
    /// are kept once.
    ///
    /// # Errors
    /// Too many entries (checked before any is parsed), none, or invalid ones (all named).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, IpRulesError> {
        if entries.len() > MAX_CIDRS {
            return Err(IpRulesError::TooMany(entries.len()));
        }
        if entries.is_empty() {
            return Err(IpRulesError::Empty);
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for e in entries {
            let text = e.as_ref().trim();
            match IpNet::from_str(text).or_else(|_| IpAddr::from_str(text).map(IpNet::from)) {
                Ok(net) => {
                    let net = canonical(net);
                    if !nets.contains(&net) {
                        nets.push(net);
                    }
                }
                Err(_) => bad.push(format!("`{}`", text.chars().take(64).collect::<String>())),
            }
        }
        if !bad.is_empty() {
            return Err(IpRulesError::Invalid(bad));
        }
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in &nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.netmask()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.netmask()))),
            }
        }
        Ok(Self { nets: nets.into_boxed_slice(), v4: v4.into_boxed_slice(), v6: v6.into_boxed_slice() })
    }

    /// Whether `ip` is inside one of the networks (`ip` made canonical
    /// first: an IPv4-mapped IPv6 address is its IPv4 address).
    #[inline]
    pub fn allows(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }

    /// The entries of `self` that no network of `outer` contains.
    pub fn outside(&self, outer: &Self) -> Vec<String> {
        self.nets.iter().filter(|n| !outer.nets.iter().any(|o| o.contains(*n))).map(ToString::to_string).collect()
    }

    /// The networks, canonical.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// The networks as texts (`203.0.113.0/24`), what is stored and shown.
    pub fn to_strings(&self) -> Vec<String> {
        self.nets.iter().map(ToString::to_string).collect()
    }

    /// How many networks.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// Whether there are none (never, for a parsed list).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// `net` with its host bits cleared, an IPv4-mapped IPv6 network as its
/// IPv4 network.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(mapped) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(mapped.trunc());
    }
    net.trunc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_v6_and_mapped_addresses_match_their_networks() {
        let rules = IpRules::parse(&["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]).unwrap();
        for yes in ["203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "2001:db8:ffff::9", "198.51.100.7"] {
            assert!(rules.allows(ip(yes)), "{yes}");
        }
        for no in ["203.0.114.1", "::ffff:203.0.114.1", "2001:db9::1", "198.51.100.8", "::1", "127.0.0.1"] {
            assert!(!rules.allows(ip(no)), "{no}");
        }
    }

    /// The precomputed `(network, mask)` pairs decide as `IpNet::contains`
    /// does, at every prefix length and on both sides of each boundary.
    #[test]
    fn masks_decide_as_the_networks_do() {
        let mut entries = Vec::new();
        for len in [0, 1, 7, 8, 23, 24, 31, 32] {
            entries.push(format!("203.0.113.129/{len}"));
        }
        for len in [0, 1, 31, 32, 63, 64, 127, 128] {
            entries.push(format!("2001:db8:8000::8001/{len}"));
        }
        for e in &entries {
            let rules = IpRules::parse(&[e]).unwrap();
            let net = rules.nets()[0];
            let probes = [
                net.network(),
                net.broadcast(),
                step(net.network(), -1),
                step(net.broadcast(), 1),
                ip("203.0.113.129"),
                ip("2001:db8:8000::8001"),
                ip("::ffff:203.0.113.129"),
                ip("0.0.0.0"),
                ip("::"),
            ];
            for p in probes {
                assert_eq!(rules.allows(p), net.contains(&p.to_canonical()), "{e} {p}");
            }
        }
    }

    /// `addr` moved by `by` (wrapping).
    fn step(addr: IpAddr, by: i8) -> IpAddr {
        match addr {
            IpAddr::V4(a) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(a).wrapping_add_signed(i32::from(by)))),
            IpAddr::V6(a) => IpAddr::from(std::net::Ipv6Addr::from(u128::from(a).wrapping_add_signed(i128::from(by)))),
        }
    }

    #[test]
    fn entries_are_canonical() {
        let rules =
            IpRules::parse(&["203.0.113.9/24", "::ffff:198.51.100.0/120", "10.0.0.1", "203.0.113.0/24"]).unwrap();
        assert_eq!(rules.to_strings(), ["203.0.113.0/24", "198.51.100.0/24", "10.0.0.1/32"]);
        assert!(rules.allows(ip("198.51.100.200")));
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        let many: Vec<String> = (0..=MAX_CIDRS).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(IpRules::parse(&many), Err(IpRulesError::TooMany(101)));
        assert!(IpRules::parse(&many[..MAX_CIDRS]).is_ok());
        assert_eq!(IpRules::parse::<&str>(&[]), Err(IpRulesError::Empty));
        let e = IpRules::parse(&["10.0.0.0/33", "nope", "10.0.0.0/8"]).unwrap_err();
        assert_eq!(e, IpRulesError::Invalid(vec!["`10.0.0.0/33`".into(), "`nope`".into()]));
    }

    #[test]
    fn outside_names_what_no_outer_network_holds() {
        let outer = IpRules::parse(&["10.0.0.0/8", "2001:db8::/32"]).unwrap();
        let inner = IpRules::parse(&["10.1.0.0/16", "2001:db8:1::/48", "192.0.2.0/24", "0.0.0.0/0"]).unwrap();
        assert_eq!(inner.outside(&outer), ["192.0.2.0/24", "0.0.0.0/0"]);
    }
}
