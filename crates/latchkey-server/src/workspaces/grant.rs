//! Mount grants: what `POST /v1/workspaces/{id}/mounts` hands the sandbox
//! runtime when it allows a mount, verifiable offline.
//!
//! A grant is a compact JWS (RFC 7515) with the header `{"alg": "EdDSA",
//! "typ": "latchkey-mount+jwt", "kid"}` and the claims of [`MountClaims`]
//! (`aud: latchkey:mount`, 5 minutes). It is signed with Ed25519 (`ring`).
//!
//! The signing key is never stored: it is derived from the master key
//! ([`MasterKey::derive`] with [`GRANT_LABEL`]), so every node that shares
//! a database (and so a master key) signs with the same key, and the key
//! changes with a master key rotation. `GET /v1/workspaces/grant-keys`
//! publishes the public key of every master key the node holds, the current
//! one (which signs) first, so grants made just before a rotation still
//! verify. A key's `kid` is its RFC 7638 thumbprint.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use latchkey_api_types::workspaces::{GrantKey, MountMode};
use latchkey_core::crypto::MasterKey;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The label the grant signing key is derived from the master key with.
/// Never change it: every issued grant's key follows from it.
pub const GRANT_LABEL: &str = "latchkey/workspace-grant/v1";
/// The grants' audience.
pub const AUDIENCE: &str = "latchkey:mount";
/// The grants' `typ` header.
pub const GRANT_TYPE: &str = "latchkey-mount+jwt";
/// How long a grant is valid, in seconds.
pub const GRANT_TTL_SECS: i64 = 300;

/// Why a grant cannot be made or does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The derived seed is not an Ed25519 key (never for 32 bytes).
    #[error("cannot make the grant signing key")]
    Key,
    /// Not three base64url parts of JSON.
    #[error("the grant is malformed")]
    Malformed,
    /// The header is not this kind of grant (`alg`, `typ`).
    #[error("the grant's header is not an EdDSA mount grant")]
    Header,
    /// No published key has the grant's `kid`.
    #[error("no published key has the grant's kid")]
    UnknownKey,
    /// The signature does not match.
    #[error("the grant's signature does not verify")]
    Signature,
    /// Another audience.
    #[error("the grant is for another audience")]
    Audience,
    /// Past its `exp`.
    #[error("the grant has expired")]
    Expired,
}

/// A grant's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountClaims {
    /// Who issued it: the server's public URL, or `latchkey`.
    pub iss: String,
    /// [`AUDIENCE`].
    pub aud: String,
    /// The workspace (`wsp_…`).
    pub sub: String,
    /// Its organization (`org_…`).
    pub org: String,
    /// The sandbox it may be mounted into.
    pub sandbox_id: String,
    /// Where.
    pub path: String,
    /// `ro` or `rw`.
    pub mode: MountMode,
    /// The workspace's storage prefix (`orgs/{orgId}/workspaces/{wspId}/`).
    pub prefix: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// A unique id (a ULID).
    pub jti: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// A grant signing key, derived from one master key. Its `Debug` shows the
/// `kid` only.
pub struct GrantSigner {
    pair: Ed25519KeyPair,
    kid: String,
}

impl std::fmt::Debug for GrantSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl GrantSigner {
    /// The signing key of `master` (the seed is wiped after use).
    pub fn derive(master: &MasterKey) -> Result<Self, GrantError> {
        let seed = master.derive(GRANT_LABEL);
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).map_err(|_| GrantError::Key)?;
        let kid = thumbprint(&Base64UrlUnpadded::encode_string(pair.public_key().as_ref()));
        Ok(Self { pair, kid })
    }

    /// The key's id (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> GrantKey {
        GrantKey {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: Base64UrlUnpadded::encode_string(self.pair.public_key().as_ref()),
            kid: self.kid.clone(),
            alg: "EdDSA".to_owned(),
            use_: "sig".to_owned(),
        }
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &MountClaims) -> String {
        let header = Header { alg: "EdDSA".to_owned(), typ: GRANT_TYPE.to_owned(), kid: self.kid.clone() };
        let signing_input = format!("{}.{}", encode_json(&header), encode_json(claims));
        let signature = self.pair.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", Base64UrlUnpadded::encode_string(signature.as_ref()))
    }
}

/// base64url of a value's JSON (serializing these plain structs cannot
/// fail; an empty object would not verify anyway).
fn encode_json<T: Serialize>(value: &T) -> String {
    Base64UrlUnpadded::encode_string(&serde_json::to_vec(value).unwrap_or_default())
}

/// RFC 7638 thumbprint of an Ed25519 public key `x` (base64url): SHA-256
/// of its canonical JWK, base64url.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
}

/// Verifies `grant` with the keys of a JWK Set, as the sandbox runtime
/// would: the header's `alg` and `typ`, the key of its `kid`, the
/// signature, the audience, and `exp` against `now_secs`.
pub fn verify(grant: &str, keys: &[GrantKey], now_secs: i64) -> Result<MountClaims, GrantError> {
    let mut parts = grant.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(GrantError::Malformed);
    };
    let decode = |part: &str| Base64UrlUnpadded::decode_vec(part).map_err(|_| GrantError::Malformed);
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| GrantError::Malformed)?;
    if header.alg != "EdDSA" || header.typ != GRANT_TYPE {
        return Err(GrantError::Header);
    }
    let key = keys
        .iter()
        .find(|k| k.kid == header.kid && k.kty == "OKP" && k.crv == "Ed25519")
        .ok_or(GrantError::UnknownKey)?;
    let public = Base64UrlUnpadded::decode_vec(&key.x).map_err(|_| GrantError::UnknownKey)?;
    let signing_input_len = h.len() + 1 + c.len();
    let signing_input = grant.get(..signing_input_len).ok_or(GrantError::Malformed)?;
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(signing_input.as_bytes(), &decode(s)?)
        .map_err(|_| GrantError::Signature)?;
    let claims: MountClaims = serde_json::from_slice(&decode(c)?).map_err(|_| GrantError::Malformed)?;
    if claims.aud != AUDIENCE {
        return Err(GrantError::Audience);
    }
    if claims.exp <= now_secs {
        return Err(GrantError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(byte: &str) -> MasterKey {
        MasterKey::parse(&byte.repeat(32)).unwrap()
    }

    fn claims() -> MountClaims {
        MountClaims {
            iss: "latchkey".to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: "wsp_1".to_owned(),
            org: "org_1".to_owned(),
            sandbox_id: "sbx_1".to_owned(),
            path: "/workspace".to_owned(),
            mode: MountMode::Rw,
            prefix: "orgs/org_1/workspaces/wsp_1/".to_owned(),
            iat: 1_000,
            exp: 1_300,
            jti: "01J".to_owned(),
        }
    }

    /// `grant` with its part `i` replaced by `f(part)`.
    fn with_part(grant: &str, i: usize, f: impl Fn(&str) -> String) -> String {
        let mut parts: Vec<String> = grant.split('.').map(str::to_owned).collect();
        parts[i] = f(&parts[i]);
        parts.join(".")
    }

    #[test]
    fn a_signed_grant_verifies_with_the_published_key() {
        let signer = GrantSigner::derive(&master("ab")).unwrap();
        let grant = signer.sign(&claims());
        assert_eq!(verify(&grant, &[signer.jwk()], 1_100), Ok(claims()));
        let header: serde_json::Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(grant.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "EdDSA", "typ": GRANT_TYPE, "kid": signer.kid()}));
        let jwk = signer.jwk();
        assert_eq!(
            (jwk.kty.as_str(), jwk.crv.as_str(), jwk.alg.as_str(), jwk.use_.as_str()),
            ("OKP", "Ed25519", "EdDSA", "sig")
        );
        assert_eq!(Base64UrlUnpadded::decode_vec(&jwk.x).unwrap().len(), 32);
    }

    #[test]
    fn every_node_with_the_same_master_key_signs_with_the_same_key() {
        let (a, b) = (GrantSigner::derive(&master("ab")).unwrap(), GrantSigner::derive(&master("ab")).unwrap());
        assert_eq!(a.jwk(), b.jwk());
        assert_eq!(verify(&a.sign(&claims()), &[b.jwk()], 1_100), Ok(claims()));
    }

    #[test]
    fn another_master_key_is_another_kid_and_does_not_verify() {
        let (a, other) = (GrantSigner::derive(&master("ab")).unwrap(), GrantSigner::derive(&master("cd")).unwrap());
        assert_ne!(a.kid(), other.kid());
        assert_ne!(a.jwk().x, other.jwk().x);
        let grant = other.sign(&claims());
        assert_eq!(verify(&grant, &[a.jwk()], 1_100), Err(GrantError::UnknownKey));
        // The other key's signature under this key's kid: refused.
        let forged = with_part(&grant, 0, |_| {
            encode_json(&serde_json::json!({"alg": "EdDSA", "typ": GRANT_TYPE, "kid": a.kid()}))
        });
        assert_eq!(verify(&forged, &[a.jwk()], 1_100), Err(GrantError::Signature));
        // During a rotation both keys are published: either verifies.
        assert_eq!(verify(&grant, &[a.jwk(), other.jwk()], 1_100), Ok(claims()));
    }

    #[test]
    fn a_tampered_grant_does_not_verify() {
        let signer = GrantSigner::derive(&master("ab")).unwrap();
        let keys = [signer.jwk()];
        let grant = signer.sign(&claims());
        let rw_elsewhere =
            MountClaims { sub: "wsp_2".to_owned(), prefix: "orgs/org_1/workspaces/wsp_2/".to_owned(), ..claims() };
        let payload = with_part(&grant, 1, |_| encode_json(&rw_elsewhere));
        assert_eq!(verify(&payload, &keys, 1_100), Err(GrantError::Signature));
        let signature = with_part(&grant, 2, |s| {
            let mut bytes = Base64UrlUnpadded::decode_vec(s).unwrap();
            bytes[10] ^= 1;
            Base64UrlUnpadded::encode_string(&bytes)
        });
        assert_eq!(verify(&signature, &keys, 1_100), Err(GrantError::Signature));
        let none = with_part(&grant, 0, |_| {
            encode_json(&serde_json::json!({"alg": "none", "typ": GRANT_TYPE, "kid": signer.kid()}))
        });
        assert_eq!(verify(&none, &keys, 1_100), Err(GrantError::Header));
        for bad in ["", "a.b", "a.b.c.d", &format!("{grant}.")] {
            assert_eq!(verify(bad, &keys, 1_100), Err(GrantError::Malformed), "{bad}");
        }
    }

    #[test]
    fn an_expired_grant_or_another_audience_is_refused() {
        let signer = GrantSigner::derive(&master("ab")).unwrap();
        let keys = [signer.jwk()];
        assert_eq!(verify(&signer.sign(&claims()), &keys, 1_300), Err(GrantError::Expired));
        let other = MountClaims { aud: "someone-else".to_owned(), ..claims() };
        assert_eq!(verify(&signer.sign(&other), &keys, 1_100), Err(GrantError::Audience));
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert!(!format!("{:?}", GrantSigner::derive(&master("ab")).unwrap()).contains("pair"));
    }
}
