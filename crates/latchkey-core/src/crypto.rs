//! Envelope encryption of secrets.
//!
//! * A **master key** (32 bytes, from the operator: `LATCHKEY_MASTER_KEY`,
//!   `LATCHKEY_MASTER_KEY_FILE` or `<data-dir>/master.key`) never touches the
//!   database. Its id (`mk_` + 16 hex digits of a SHA-256 of the key) is
//!   stored next to everything it wraps, so a node can tell which key it
//!   needs, and rotation can tell what is left to re-wrap.
//! * Each organization has one random 32-byte **data key**, stored wrapped
//!   (encrypted) by the master key with the organization id as associated
//!   data: a wrapped key copied to another organization does not open.
//! * Each secret value is sealed with its organization's data key. The
//!   associated data binds the ciphertext to its row: organization id,
//!   secret id, name, owner and version ([`SecretAad`]). A ciphertext copied
//!   to another row, organization, owner or name, or an older version put
//!   back, fails to open.
//!
//! The cipher is XChaCha20-Poly1305 (random 192-bit nonces, so nonce reuse
//! is not a concern at any volume). A sealed value is `0x01 ‖ nonce (24) ‖
//! ciphertext ‖ tag (16)`; the leading byte names the format so that another
//! cipher can be added without ambiguity.
//!
//! Key material lives in [`Zeroizing`] buffers (wiped when dropped), and the
//! `Debug` of every key type prints its id, never its bytes.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of every key (master and data keys), in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// First byte of a sealed value or wrapped key: XChaCha20-Poly1305, 24-byte
/// nonce. Never reuse this value for another format.
const FORMAT_XCHACHA: u8 = 1;

/// Domain separation of the associated data.
const WRAP_CONTEXT: &[u8] = b"latchkey data key v1";
const SECRET_CONTEXT: &[u8] = b"latchkey secret v1";
const OAUTH_CONTEXT: &[u8] = b"latchkey oauth v1";
const WEBHOOK_CONTEXT: &[u8] = b"latchkey webhook secret v1";
const ID_CONTEXT: &[u8] = b"latchkey master key id v1";

/// A cryptographic failure. Messages never contain key material or values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text given as a master key is not 32 bytes in base64 or hex.
    #[error("a master key must be 32 bytes, given as base64 (44 characters) or hex (64 digits)")]
    BadMasterKey,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// The ciphertext is not in a known format.
    #[error("malformed ciphertext")]
    Malformed,
    /// Authentication failed: wrong key, or the ciphertext or its associated
    /// data (row, organization, owner, name, version) changed.
    #[error("decryption failed: wrong key, or the ciphertext does not belong to this record")]
    Decrypt,
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, CryptoError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Rng)?;
    Ok(bytes)
}

/// `0x01 ‖ nonce ‖ XChaCha20-Poly1305(key, nonce, plaintext, aad)`.
fn seal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = random_bytes::<NONCE_LEN>()?;
    let sealed =
        cipher.encrypt(&XNonce::from(*nonce), Payload { msg: plaintext, aad }).map_err(|_| CryptoError::Malformed)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_XCHACHA);
    out.extend_from_slice(nonce.as_ref());
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&format, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
    if format != FORMAT_XCHACHA || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

/// Associated data: a context label, then each part with its length, so
/// that no two different tuples encode alike.
fn associated_data(context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(context.len() + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    for part in std::iter::once(&context).chain(parts) {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The master key: wraps the organizations' data keys. Its `Debug` shows
/// the id only.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A new random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(random_bytes::<KEY_LEN>()?))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut h = Sha256::new();
        h.update(ID_CONTEXT);
        h.update(key.as_ref());
        let digest = h.finalize();
        let mut id = String::from("mk_");
        for b in &digest[..8] {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Self { id, key }
    }

    /// Parses a key given as base64 (standard alphabet, padding optional) or
    /// as 64 hex digits; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, out) in key.iter_mut().enumerate() {
                let pair = text.get(2 * i..2 * i + 2).ok_or(CryptoError::BadMasterKey)?;
                *out = u8::from_str_radix(pair, 16).map_err(|_| CryptoError::BadMasterKey)?;
            }
            return Ok(Self::from_bytes(key));
        }
        use base64ct::Encoding as _;
        let decoded = Zeroizing::new(
            base64ct::Base64::decode_vec(text)
                .or_else(|_| base64ct::Base64Unpadded::decode_vec(text))
                .map_err(|_| CryptoError::BadMasterKey)?,
        );
        if decoded.len() != KEY_LEN {
            return Err(CryptoError::BadMasterKey);
        }
        key.copy_from_slice(&decoded);
        Ok(Self::from_bytes(key))
    }

    /// The key in base64, for writing a key file (the only way its bytes
    /// leave this type).
    pub fn to_base64(&self) -> Zeroizing<String> {
        use base64ct::Encoding as _;
        Zeroizing::new(base64ct::Base64::encode_string(self.key.as_ref()))
    }

    /// `mk_` + 16 hex digits; stored with every data key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A 32-byte key derived from this one for the purpose `label` names
    /// (HMAC-SHA256 of `label`, keyed with the master key): every node
    /// holding the same master key derives the same key, and no derived key
    /// tells anything of the master key or of another label's. For keys that
    /// must agree across nodes without being stored (the workspaces' grant
    /// signing key, `latchkey/workspace-grant/v1`). Wiped when dropped.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; KEY_LEN]> {
        use hmac::{Hmac, Mac};
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()) {
            mac.update(label.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Wraps `data_key` for organization `org_id`.
    pub fn wrap(&self, org_id: &str, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        seal(&self.key, data_key.0.as_ref(), &associated_data(WRAP_CONTEXT, &[org_id.as_bytes()]))
    }

    /// Unwraps the data key of organization `org_id`.
    pub fn unwrap(&self, org_id: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let plain = open(&self.key, wrapped, &associated_data(WRAP_CONTEXT, &[org_id.as_bytes()]))?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if plain.len() != KEY_LEN {
            return Err(CryptoError::Malformed);
        }
        key.copy_from_slice(&plain);
        Ok(DataKey(key))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// An organization's data key (unwrapped). Its `Debug` is redacted.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A new random data key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(random_bytes::<KEY_LEN>()?))
    }

    /// Seals a value for the record `aad` describes.
    pub fn seal(&self, aad: &impl Binding, value: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, value, &aad.bytes())
    }

    /// Opens a sealed value; fails unless it was sealed with this key for
    /// exactly the record `aad` describes.
    pub fn open(&self, aad: &impl Binding, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.0, sealed, &aad.bytes())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// What a sealed value is bound to (its associated data): [`SecretAad`]
/// for secrets, [`OAuthAad`] for connected apps' tokens and client secrets.
pub trait Binding {
    /// The associated data, with its own context label.
    fn bytes(&self) -> Vec<u8>;
}

/// What a sealed secret value is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretAad<'a> {
    /// The organization.
    pub org_id: &'a str,
    /// The secret's id (`sec_…`).
    pub secret_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its owner (`None`: organization-wide).
    pub owner_user_id: Option<&'a str>,
    /// Its version (each write is a new version).
    pub version: i64,
}

impl Binding for SecretAad<'_> {
    fn bytes(&self) -> Vec<u8> {
        let owner = match self.owner_user_id {
            Some(u) => [b"user:".as_slice(), u.as_bytes()].concat(),
            None => b"org".to_vec(),
        };
        associated_data(
            SECRET_CONTEXT,
            &[
                self.org_id.as_bytes(),
                self.secret_id.as_bytes(),
                self.name.as_bytes(),
                &owner,
                &self.version.to_be_bytes(),
            ],
        )
    }
}

/// What a webhook endpoint's sealed signing secret is bound to: the
/// organization, the endpoint and the secret's version (each rotation is a
/// new version), so a sealed secret moved to another row or kept from
/// before a rotation does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookAad<'a> {
    /// The organization.
    pub org_id: &'a str,
    /// The endpoint (`whk_…`).
    pub webhook_id: &'a str,
    /// The secret's version.
    pub version: i64,
}

impl Binding for WebhookAad<'_> {
    fn bytes(&self) -> Vec<u8> {
        associated_data(
            WEBHOOK_CONTEXT,
            &[self.org_id.as_bytes(), self.webhook_id.as_bytes(), &self.version.to_be_bytes()],
        )
    }
}

/// Which value of a connected app is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthField {
    /// A connection's access token.
    AccessToken,
    /// A connection's refresh token.
    RefreshToken,
    /// An organization's client secret at a provider.
    ClientSecret,
}

impl OAuthField {
    const fn label(self) -> &'static [u8] {
        match self {
            Self::AccessToken => b"access_token",
            Self::RefreshToken => b"refresh_token",
            Self::ClientSecret => b"client_secret",
        }
    }
}

/// What a connected app's sealed value is bound to: the organization, the
/// provider, the owner and the account at the provider (a connection's
/// unique key, which a reconnect keeps while its tokens change), and which
/// value it is. A client secret has no owner and no account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthAad<'a> {
    /// The organization.
    pub org_id: &'a str,
    /// The catalog provider's id.
    pub provider: &'a str,
    /// The person the connection belongs to (`None`: the organization's).
    pub owner_user_id: Option<&'a str>,
    /// The account's id at the provider (empty for a client secret).
    pub account_id: &'a str,
    /// Which value.
    pub field: OAuthField,
}

impl Binding for OAuthAad<'_> {
    fn bytes(&self) -> Vec<u8> {
        let owner = match self.owner_user_id {
            Some(u) => [b"user:".as_slice(), u.as_bytes()].concat(),
            None => b"org".to_vec(),
        };
        associated_data(
            OAUTH_CONTEXT,
            &[self.org_id.as_bytes(), self.provider.as_bytes(), &owner, self.account_id.as_bytes(), self.field.label()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad<'a>(org: &'a str, id: &'a str, owner: Option<&'a str>, version: i64) -> SecretAad<'a> {
        SecretAad { org_id: org, secret_id: id, name: "API_KEY", owner_user_id: owner, version }
    }

    #[test]
    fn round_trip_and_binding() {
        let mk = MasterKey::generate().unwrap();
        let dk = DataKey::generate().unwrap();
        let wrapped = mk.wrap("org_a", &dk).unwrap();
        let dk2 = mk.unwrap("org_a", &wrapped).unwrap();
        assert_eq!(mk.unwrap("org_b", &wrapped).unwrap_err(), CryptoError::Decrypt, "wrapped key moved to another org");
        let other = MasterKey::generate().unwrap();
        assert_eq!(other.unwrap("org_a", &wrapped).unwrap_err(), CryptoError::Decrypt);

        let a = aad("org_a", "sec_1", Some("usr_1"), 1);
        let sealed = dk.seal(&a, b"sk-ant-xxx").unwrap();
        assert_eq!(dk2.open(&a, &sealed).unwrap().as_slice(), b"sk-ant-xxx");
        assert!(!sealed.windows(10).any(|w| w == b"sk-ant-xxx"));
        for moved in [
            aad("org_b", "sec_1", Some("usr_1"), 1),
            aad("org_a", "sec_2", Some("usr_1"), 1),
            aad("org_a", "sec_1", Some("usr_2"), 1),
            aad("org_a", "sec_1", None, 1),
            aad("org_a", "sec_1", Some("usr_1"), 2),
            SecretAad { name: "OTHER", ..a },
        ] {
            assert_eq!(dk.open(&moved, &sealed).unwrap_err(), CryptoError::Decrypt, "{moved:?}");
        }
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(dk.open(&a, &tampered).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(dk.open(&a, &sealed[..10]).unwrap_err(), CryptoError::Malformed);
        assert_eq!(dk.open(&a, &[]).unwrap_err(), CryptoError::Malformed);
        // Two seals of the same value differ (random nonces).
        assert_ne!(dk.seal(&a, b"v").unwrap(), dk.seal(&a, b"v").unwrap());
    }

    #[test]
    fn oauth_values_are_bound_to_their_connection_and_field() {
        let dk = DataKey::generate().unwrap();
        let a = OAuthAad {
            org_id: "org_a",
            provider: "github",
            owner_user_id: Some("usr_1"),
            account_id: "42",
            field: OAuthField::AccessToken,
        };
        let sealed = dk.seal(&a, b"gho_token").unwrap();
        assert_eq!(dk.open(&a, &sealed).unwrap().as_slice(), b"gho_token");
        for moved in [
            OAuthAad { org_id: "org_b", ..a },
            OAuthAad { provider: "gitlab", ..a },
            OAuthAad { owner_user_id: Some("usr_2"), ..a },
            OAuthAad { owner_user_id: None, ..a },
            OAuthAad { account_id: "43", ..a },
            OAuthAad { field: OAuthField::RefreshToken, ..a },
        ] {
            assert_eq!(dk.open(&moved, &sealed).unwrap_err(), CryptoError::Decrypt, "{moved:?}");
        }
        // A secret's binding never opens a connected app's value, even with
        // the same texts.
        let secret =
            SecretAad { org_id: "org_a", secret_id: "github", name: "42", owner_user_id: Some("usr_1"), version: 1 };
        assert_eq!(dk.open(&secret, &sealed).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn master_keys_parse_from_base64_or_hex() {
        let mk = MasterKey::generate().unwrap();
        let b64 = mk.to_base64();
        let again = MasterKey::parse(&format!("  {}\n", b64.as_str())).unwrap();
        assert_eq!(again.id(), mk.id());
        let unpadded = MasterKey::parse(b64.trim_end_matches('=')).unwrap();
        assert_eq!(unpadded.id(), mk.id());
        let hex = "00".repeat(31) + "ff";
        let h = MasterKey::parse(&hex).unwrap();
        assert!(h.id().starts_with("mk_") && h.id().len() == 19, "{}", h.id());
        for bad in ["", "short", &"00".repeat(31), &"zz".repeat(32), "AAAA"] {
            assert_eq!(MasterKey::parse(bad).unwrap_err(), CryptoError::BadMasterKey, "{bad}");
        }
    }

    #[test]
    fn derived_keys_depend_on_the_master_key_and_the_label() {
        let mk = MasterKey::parse(&"ab".repeat(32)).unwrap();
        let again = MasterKey::parse(&"ab".repeat(32)).unwrap();
        let other = MasterKey::parse(&"cd".repeat(32)).unwrap();
        let label = "latchkey/workspace-grant/v1";
        assert_eq!(*mk.derive(label), *again.derive(label), "the same on every node");
        assert_ne!(*mk.derive(label), *other.derive(label));
        assert_ne!(*mk.derive(label), *mk.derive("latchkey/other/v1"));
        assert_ne!(mk.derive(label).as_ref(), mk.to_base64().as_bytes().get(..KEY_LEN).unwrap());
        // HMAC-SHA256 (RFC 2104) of the label under the key: a known answer.
        let zero = MasterKey::from_bytes(Zeroizing::new([0u8; KEY_LEN]));
        let hex: String = zero.derive("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351");
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let mk = MasterKey::parse(&"ab".repeat(32)).unwrap();
        let shown = format!("{mk:?} {:?}", DataKey(Zeroizing::new([0xab; KEY_LEN])));
        assert!(shown.contains(mk.id()), "{shown}");
        assert!(!shown.to_lowercase().contains("ab, ") && !shown.contains("171"), "{shown}");
        assert!(!shown.contains(mk.to_base64().as_str()), "{shown}");
        assert!(!shown.contains("abab"), "{shown}");
    }
}
