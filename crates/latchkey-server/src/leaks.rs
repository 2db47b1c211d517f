//! Leaked keys: who may report them, and what a report does.
//!
//! A secret scanner posts the tokens it found in public places to
//! `POST /v1/leaks` in the format GitHub's secret scanning partner program
//! sends to token issuers: the raw body is signed with ECDSA P-256 and
//! SHA-256, `Github-Public-Key-Identifier` names the signing key and
//! `Github-Public-Key-Signature` holds the base64 DER signature. The keys
//! that may sign are the operator's `[[leaks.signers]]` ([`LeakSigner`], in
//! [`crate::Settings::leak_signers`]); the signature is the route's only
//! authentication, decided by [`check_signature`] before the body is parsed.
//!
//! [`report`] is what a report does to one key, whoever made it (a scanner
//! through `POST /v1/leaks`, or an admin through `POST
//! /v1/api-keys/{id}/report-leak`): it sets the key's `leaked_at` (the first
//! report's time) and, unless the organization's `leakAction` is `flag`,
//! revokes it with the revocation rule every revoke uses (an earlier
//! revocation time is kept), in one transaction with its `api_key.leaked`
//! audit event (details `{url, source, action, revoked}`, never the key);
//! then the key leaves every node's verifier cache at once
//! ([`AppState::invalidate_keys`]), as after `POST /v1/api-keys/{id}/revoke`.

use base64ct::{Base64, Encoding as _};
use latchkey_core::id::{KeyId, OrgId};
use latchkey_core::time_fmt::Millis;
use latchkey_store::{ApiKeyRecord, LeakAction};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde_json::json;
use spki::der::DecodePem as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::audit::{Actor, Audit};
use crate::error::ApiError;
use crate::state::AppState;

/// The header naming the key that signed a report ([`LeakSigner::key_id`]).
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";

/// The header holding the base64 DER ECDSA signature of the raw body.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// `id-ecPublicKey` (RFC 5480).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// `secp256r1` / `prime256v1` (RFC 5480).
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Longest signer key id (GitHub's are 64 hex characters).
const MAX_KEY_ID: usize = 128;

/// Longest base64 signature read (a DER P-256 signature is at most 72
/// bytes, 96 in base64).
const MAX_SIGNATURE: usize = 256;

/// Longest `url` kept in the audit trail, in characters.
pub const MAX_URL: usize = 2048;

/// Longest `source` kept in the audit trail, in characters.
const MAX_SOURCE: usize = 64;

/// A public key that may sign leak reports: `[[leaks.signers]]`.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakSigner {
    key_id: String,
    /// The uncompressed SEC1 point, what `ring` verifies with.
    point: Vec<u8>,
}

impl std::fmt::Debug for LeakSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Why a `[[leaks.signers]]` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeakSignerError {
    /// An empty, overlong or non-printable key id.
    #[error("key_id must be 1-128 printable ASCII characters without spaces")]
    KeyId,
    /// Not a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    #[error("public_key_pem of `{0}` is not a PEM public key (-----BEGIN PUBLIC KEY-----)")]
    Pem(String),
    /// Another kind of key.
    #[error("public_key_pem of `{0}` is not an ECDSA P-256 key")]
    NotP256(String),
    /// Two entries with one key id.
    #[error("two leak signers have the key_id `{0}`")]
    Duplicate(String),
}

impl LeakSigner {
    /// The signer `key_id` with the PEM SubjectPublicKeyInfo `pem` (what
    /// `https://api.github.com/meta/public_keys/secret_scanning` lists),
    /// which must be an ECDSA P-256 key.
    ///
    /// # Errors
    /// [`LeakSignerError`] saying what is wrong.
    pub fn from_pem(key_id: &str, pem: &str) -> Result<Self, LeakSignerError> {
        if key_id.is_empty() || key_id.len() > MAX_KEY_ID || !key_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LeakSignerError::KeyId);
        }
        let spki =
            SubjectPublicKeyInfoOwned::from_pem(pem.trim()).map_err(|_| LeakSignerError::Pem(key_id.to_owned()))?;
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let point = spki.subject_public_key.as_bytes().unwrap_or_default();
        // An uncompressed point (0x04, x, y): what ring takes.
        if spki.algorithm.oid != ID_EC_PUBLIC_KEY || curve != Some(SECP256R1) || point.len() != 65 || point[0] != 4 {
            return Err(LeakSignerError::NotP256(key_id.to_owned()));
        }
        Ok(Self { key_id: key_id.to_owned(), point: point.to_vec() })
    }

    /// The key id a report names in `Github-Public-Key-Identifier`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// Checks that no two signers share a key id.
///
/// # Errors
/// [`LeakSignerError::Duplicate`] naming it.
pub fn check_signers(signers: &[LeakSigner]) -> Result<(), LeakSignerError> {
    for (i, s) in signers.iter().enumerate() {
        if signers[..i].iter().any(|t| t.key_id == s.key_id) {
            return Err(LeakSignerError::Duplicate(s.key_id.clone()));
        }
    }
    Ok(())
}

/// Why a report's signature is refused (logged; the client gets a plain
/// 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// A header is missing.
    Unsigned,
    /// No configured signer has the key id.
    UnknownSigner,
    /// The signature is not base64.
    Malformed,
    /// The signature does not match the body.
    Mismatch,
}

impl SignatureRefusal {
    /// The reason, for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::UnknownSigner => "unknown signer",
            Self::Malformed => "malformed signature",
            Self::Mismatch => "bad signature",
        }
    }
}

/// The signer of `body`, whose ECDSA P-256/SHA-256 signature `signature`
/// (base64 DER) is by the key `key_id` names among `signers`.
///
/// # Errors
/// Why the report is not taken ([`SignatureRefusal`]).
pub fn check_signature<'a>(
    signers: &'a [LeakSigner],
    key_id: Option<&[u8]>,
    signature: Option<&[u8]>,
    body: &[u8],
) -> Result<&'a LeakSigner, SignatureRefusal> {
    let (Some(key_id), Some(signature)) = (key_id, signature) else {
        return Err(SignatureRefusal::Unsigned);
    };
    let key_id = key_id.trim_ascii();
    let signer = signers.iter().find(|s| s.key_id.as_bytes() == key_id).ok_or(SignatureRefusal::UnknownSigner)?;
    let signature = signature.trim_ascii();
    if signature.len() > MAX_SIGNATURE {
        return Err(SignatureRefusal::Malformed);
    }
    let der = Base64::decode_vec(std::str::from_utf8(signature).map_err(|_| SignatureRefusal::Malformed)?)
        .map_err(|_| SignatureRefusal::Malformed)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &signer.point)
        .verify(body, &der)
        .map_err(|_| SignatureRefusal::Mismatch)?;
    Ok(signer)
}

/// What the organization `org_id` does with a leaked live key.
///
/// # Errors
/// A storage error.
pub(crate) async fn leak_action(state: &AppState, org_id: &OrgId) -> Result<LeakAction, ApiError> {
    Ok(state.store.get_org(org_id).await?.map(|o| o.leak_action).unwrap_or_default())
}

/// Where a leak was seen, as the audit trail keeps it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sighting<'a> {
    /// The public URL (may be empty).
    pub url: &'a str,
    /// `content`, `commit`, … from a scanner; `manual` from an admin.
    pub source: &'a str,
}

/// The key `key_id` of `org_id` reported leaked at `now` by `actor`:
/// flagged, and revoked unless `action` is [`LeakAction::Flag`] (see the
/// module documentation). `already_revoked` says whether the key was revoked
/// before (for the event's `revoked`). `None` if there is no such key.
///
/// # Errors
/// A storage error; nothing is changed then.
#[expect(clippy::too_many_arguments, reason = "one report's facts, each from its own place")]
pub(crate) async fn report(
    state: &AppState,
    audit: &Audit,
    actor: Actor<'_>,
    org_id: &OrgId,
    key_id: &KeyId,
    seen: Sighting<'_>,
    action: LeakAction,
    already_revoked: bool,
    now: Millis,
) -> Result<Option<ApiKeyRecord>, ApiError> {
    let revoke = action == LeakAction::Revoke;
    let details = json!({
        "url": latchkey_core::text::clip(seen.url, MAX_URL),
        "source": latchkey_core::text::clip(seen.source, MAX_SOURCE),
        "action": action.as_str(),
        "revoked": revoke || already_revoked,
    });
    let event = audit.event(Some(org_id), actor, "api_key.leaked", Some(("api_key", key_id)), &details);
    let Some(key) = state.store.report_leak(org_id, key_id, now, revoke, &event).await? else {
        return Ok(None);
    };
    if revoke {
        state.invalidate_keys(&[key.hash]).await;
    }
    tracing::info!(key_id = %key.id, action = action.as_str(), reporter = actor.kind, "api key reported leaked");
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

    use super::*;

    /// A fresh P-256 pair and its public key as a PEM SubjectPublicKeyInfo.
    fn key_pair() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        // The fixed DER head of a P-256 SubjectPublicKeyInfo, then the point.
        let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        der.extend_from_slice(pair.public_key().as_ref());
        let body = Base64::encode_string(&der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        (pair, format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n")))
    }

    fn sign(pair: &EcdsaKeyPair, body: &[u8]) -> String {
        Base64::encode_string(pair.sign(&SystemRandom::new(), body).unwrap().as_ref())
    }

    #[test]
    fn a_signed_body_is_taken_and_anything_else_refused() {
        let (pair, pem) = key_pair();
        let (other, other_pem) = key_pair();
        let signers = [LeakSigner::from_pem("k1", &pem).unwrap(), LeakSigner::from_pem("k2", &other_pem).unwrap()];
        let body = br#"[{"token":"x","type":"t","url":"","source":"content"}]"#;
        let sig = sign(&pair, body);
        let check = |id: Option<&str>, sig: Option<&str>, body: &[u8]| {
            check_signature(&signers, id.map(str::as_bytes), sig.map(str::as_bytes), body).map(LeakSigner::key_id)
        };
        assert_eq!(check(Some("k1"), Some(&sig), body), Ok("k1"));
        assert_eq!(check(Some(" k1 "), Some(&format!(" {sig}\n")), body), Ok("k1"), "header whitespace");
        assert_eq!(check(Some("k2"), Some(&sig), body), Err(SignatureRefusal::Mismatch), "another signer's key");
        assert_eq!(check(Some("k1"), Some(&sign(&other, body)), body), Err(SignatureRefusal::Mismatch));
        let mut tampered = body.to_vec();
        tampered[12] ^= 1;
        assert_eq!(check(Some("k1"), Some(&sig), &tampered), Err(SignatureRefusal::Mismatch));
        assert_eq!(check(Some("k3"), Some(&sig), body), Err(SignatureRefusal::UnknownSigner));
        assert_eq!(check(None, Some(&sig), body), Err(SignatureRefusal::Unsigned));
        assert_eq!(check(Some("k1"), None, body), Err(SignatureRefusal::Unsigned));
        assert_eq!(check(Some("k1"), Some("not base64!"), body), Err(SignatureRefusal::Malformed));
        assert_eq!(check(Some("k1"), Some(&"A".repeat(300)), body), Err(SignatureRefusal::Malformed));
        assert_eq!(check(Some("k1"), Some(""), body), Err(SignatureRefusal::Mismatch));
    }

    #[test]
    fn only_p256_public_keys_sign() {
        let (_, pem) = key_pair();
        assert!(LeakSigner::from_pem("ok", &pem).is_ok());
        assert_eq!(LeakSigner::from_pem("", &pem), Err(LeakSignerError::KeyId));
        assert_eq!(LeakSigner::from_pem("a b", &pem), Err(LeakSignerError::KeyId));
        assert_eq!(LeakSigner::from_pem("k", "not a pem"), Err(LeakSignerError::Pem("k".into())));
        let private = pem.replace("PUBLIC KEY", "PRIVATE KEY");
        assert_eq!(LeakSigner::from_pem("k", &private), Err(LeakSignerError::Pem("k".into())), "wrong label");
        // An Ed25519 SubjectPublicKeyInfo.
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(LeakSigner::from_pem("k", ed), Err(LeakSignerError::NotP256("k".into())));
        let one = LeakSigner::from_pem("same", &pem).unwrap();
        assert_eq!(check_signers(&[one.clone(), one]), Err(LeakSignerError::Duplicate("same".into())));
        assert!(!format!("{:?}", LeakSigner::from_pem("shown", &pem).unwrap()).contains("point"));
    }

    #[test]
    fn audit_texts_are_shortened_on_character_boundaries() {
        assert_eq!(latchkey_core::text::clip("abc", 5), "abc");
        assert_eq!(latchkey_core::text::clip("ééé", 2), "éé");
        assert_eq!(latchkey_core::text::clip("", 0), "");
    }
}
