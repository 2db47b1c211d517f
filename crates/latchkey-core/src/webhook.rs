//! Webhooks, the pure parts: the event types, the endpoints' signing
//! secrets and the Standard Webhooks signature, and which network
//! addresses a delivery may reach.
//!
//! Signing follows the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): a secret is `whsec_` followed by
//! the base64 of its random bytes; a message is signed with
//! HMAC-SHA256(secret bytes, `"{id}.{timestamp}.{body}"`), sent as
//! `webhook-signature: v1,<base64>`, several signatures separated by a
//! space (a rotated secret keeps signing alongside the new one).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64ct::{Base64, Encoding as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "api_key.deleted",
    "api_key.expiring",
    "api_key.expired",
    "api_key.leaked",
    "api_key.usage_threshold",
    "member.joined",
    "member.removed",
    "member.role_changed",
    "secret.changed",
];

/// The type of the event `POST /v1/webhooks/{id}/test` sends (to that
/// endpoint only, whatever it subscribes to).
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Whether `name` is one of [`EVENT_TYPES`].
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

/// The prefix of a signing secret's text.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_LEN: usize = 32;

/// A webhook endpoint's signing secret (its bytes). Shown once, as
/// [`SigningSecret::to_text`], when created or rotated; stored sealed. Its
/// `Debug` is redacted and its bytes are wiped when dropped.
#[derive(Clone)]
pub struct SigningSecret(Zeroizing<Vec<u8>>);

/// A secret's text that is not `whsec_` + base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a webhook signing secret (whsec_ followed by base64)")]
pub struct BadSecret;

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, crate::crypto::CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        getrandom::fill(&mut bytes).map_err(|_| crate::crypto::CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    /// A secret from its bytes (as unsealed).
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Its bytes (to seal them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `whsec_<base64>`: what the endpoint's owner is shown once.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", Base64::encode_string(&self.0)))
    }

    /// A secret from its `whsec_<base64>` text.
    pub fn from_text(text: &str) -> Result<Self, BadSecret> {
        let b64 = text.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
        let bytes = Base64::decode_vec(b64).map_err(|_| BadSecret)?;
        if bytes.is_empty() {
            return Err(BadSecret);
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// `v1,<base64 of HMAC-SHA256("{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", Base64::encode_string(&mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The `webhook-signature` header of a message: one `v1,` signature per
/// secret, space-separated (the current secret first).
pub fn signature_header(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Whether any `v1,` signature of `header` is `secret`'s of the message
/// (compared in constant time): what a receiver checks.
pub fn verify(secret: &SigningSecret, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let expected = secret.sign(id, timestamp, body);
    header.split(' ').any(|sig| sig.as_bytes().ct_eq(expected.as_bytes()).into())
}

/// Whether a delivery may connect to `ip`: a public unicast address.
/// Refused: unspecified, loopback, private (RFC 1918, shared CGNAT space,
/// IPv6 unique local), link-local (which holds the cloud metadata address
/// 169.254.169.254), multicast, broadcast, documentation, benchmarking and
/// reserved ranges, and IPv4 addresses written as IPv6 (mapped, compatible,
/// NAT64, 6to4), which are judged as the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, shared address space
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // ::a.b.c.d (deprecated IPv4-compatible), 64:ff9b::/96 (NAT64).
    if (s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified()) || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    // 2002::/16 (6to4): the IPv4 address is in segments 1 and 2.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // 100::/64, discard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signature_is_reproduced() {
        // From the Standard Webhooks reference libraries' tests.
        let secret = SigningSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(&secret, &format!("v1,bm90IGl0 {sig}"), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body));
        assert!(!verify(&secret, &sig, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_331, body), "timestamp is signed");
        assert!(!verify(&secret, &sig, "msg_other", 1_614_265_330, body), "id is signed");
        assert!(!verify(&secret, &sig, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, b"{}"), "body is signed");
    }

    #[test]
    fn secrets_round_trip_through_their_text_and_never_print() {
        let s = SigningSecret::generate().unwrap();
        let text = s.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::from_text(&text).unwrap().as_bytes(), s.as_bytes());
        assert!(!format!("{s:?}").contains(&text[6..]));
        for bad in ["", "whsec_", "sk_abc", "whsec_!!!"] {
            assert!(SigningSecret::from_text(bad).is_err(), "{bad}");
        }
        let other = SigningSecret::generate().unwrap();
        let header = signature_header(&[&s, &other], "evt_1", 5, b"x");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&s, &header, "evt_1", 5, b"x") && verify(&other, &header, "evt_1", 5, b"x"));
    }

    #[test]
    fn only_public_unicast_addresses_are_reachable() {
        let refused = [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ];
        for text in refused {
            assert!(!is_public(text.parse().unwrap()), "{text} must be refused");
        }
        for text in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::"] {
            assert!(is_public(text.parse().unwrap()), "{text} must be allowed");
        }
    }

    #[test]
    fn event_types_are_known_by_name() {
        assert!(is_event_type("api_key.revoked") && is_event_type("secret.changed"));
        assert!(!is_event_type("webhook.test") && !is_event_type("api_key.*"));
    }
}
