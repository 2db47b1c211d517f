//! OpenSSH public keys: what `POST /v1/ssh-keys` accepts, and their SHA256
//! fingerprints as `ssh-keygen -l` prints them.
//!
//! Accepted: Ed25519, ECDSA (NIST P-256, P-384, P-521), their FIDO security
//! key variants (`sk-…@openssh.com`), and RSA with a modulus of at least
//! 2048 bits. Parsing uses the `ssh-key` crate without its `rsa` feature
//! (RUSTSEC-2023-0071): an RSA public key is only read, its modulus length
//! taken from the encoded integer. Private keys are recognised and refused
//! with their own error, so that nobody is told merely "malformed" after
//! pasting the wrong file.

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};

/// Smallest accepted RSA modulus.
pub const MIN_RSA_BITS: u32 = 2048;

/// A parsed public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    /// Key type as OpenSSH names it (`ssh-ed25519`, `ecdsa-sha2-nistp256`,
    /// `ssh-rsa`, …).
    pub algorithm: String,
    /// `<type> <base64>`, without the comment: one `authorized_keys` entry.
    pub public_key: String,
    /// The comment that followed the key, if any (often `user@host`).
    pub comment: String,
    /// `SHA256:<base64, unpadded>`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// Key size in bits.
    pub bits: u32,
}

/// Why a text is not an acceptable public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    /// A private key was given.
    #[error(
        "this is a private key; never upload it. Give the public key instead (the `.pub` file, e.g. ~/.ssh/id_ed25519.pub)"
    )]
    PrivateKey,
    /// Nothing was given.
    #[error("the public key is empty")]
    Empty,
    /// More than one line.
    #[error("give exactly one public key (one line of the `.pub` file)")]
    MultipleLines,
    /// `authorized_keys` options before the key type.
    #[error("authorized_keys options are not accepted; give the key as `<type> <base64> [comment]`")]
    Options,
    /// A certificate.
    #[error("SSH certificates are not accepted; give the plain public key")]
    Certificate,
    /// A key type that is not accepted.
    #[error("unsupported key type `{0}`; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (at least 2048 bits)")]
    Unsupported(String),
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    #[error("RSA keys must have at least 2048 bits; this one has {0}")]
    RsaTooShort(u32),
    /// The text does not decode as the key type it names.
    #[error("not a valid OpenSSH public key")]
    Malformed,
}

const ACCEPTED: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
];

/// Parses one OpenSSH public key line (`<type> <base64> [comment]`).
pub fn parse_public_key(text: &str) -> Result<SshPublicKey, SshKeyError> {
    if text.contains("PRIVATE KEY") || text.starts_with("PuTTY-User-Key-File") {
        return Err(SshKeyError::PrivateKey);
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines.next().ok_or(SshKeyError::Empty)?;
    if lines.next().is_some() {
        return Err(SshKeyError::MultipleLines);
    }
    let kind = line.split_ascii_whitespace().next().unwrap_or_default();
    if kind.contains("-cert-v01@openssh.com") {
        return Err(SshKeyError::Certificate);
    }
    if !ACCEPTED.contains(&kind) {
        let later = line.split_ascii_whitespace().skip(1).any(|t| ACCEPTED.contains(&t) || t.contains("-cert-v01@"));
        return Err(if later {
            SshKeyError::Options
        } else {
            SshKeyError::Unsupported(kind.chars().take(64).collect())
        });
    }
    let key = PublicKey::from_openssh(line).map_err(|_| SshKeyError::Malformed)?;
    let bits = match key.key_data() {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => 256,
        KeyData::Ecdsa(k) => match k.algorithm().as_str() {
            "ecdsa-sha2-nistp256" => 256,
            "ecdsa-sha2-nistp384" => 384,
            "ecdsa-sha2-nistp521" => 521,
            other => return Err(SshKeyError::Unsupported(other.to_owned())),
        },
        KeyData::Rsa(k) => {
            let bits = k.n.as_positive_bytes().map_or(0, bit_length);
            if bits < MIN_RSA_BITS {
                return Err(SshKeyError::RsaTooShort(bits));
            }
            bits
        }
        other => return Err(SshKeyError::Unsupported(other.algorithm().as_str().to_owned())),
    };
    let algorithm = key.algorithm().as_str().to_owned();
    let bare = PublicKey::new(key.key_data().clone(), "");
    let public_key = bare.to_openssh().map_err(|_| SshKeyError::Malformed)?.trim().to_owned();
    Ok(SshPublicKey {
        algorithm,
        public_key,
        comment: key.comment().trim().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        bits,
    })
}

/// Bits of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> u32 {
    let bytes = bytes.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    match bytes.first() {
        None => 0,
        Some(first) => u32::try_from(bytes.len() * 8).unwrap_or(u32::MAX) - first.leading_zeros(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519` output and its `ssh-keygen -l` fingerprint.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti foo@bar.com";

    #[test]
    fn ed25519_parses_with_fingerprint() {
        let k = parse_public_key(ED25519).unwrap();
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert_eq!(k.comment, "foo@bar.com");
        assert_eq!(k.bits, 256);
        assert!(k.fingerprint.starts_with("SHA256:") && !k.fingerprint.ends_with('='), "{}", k.fingerprint);
        assert_eq!(k.public_key, ED25519.rsplit_once(' ').unwrap().0);
        // Surrounding whitespace and a trailing newline are fine.
        assert_eq!(parse_public_key(&format!("\n  {ED25519}\n")).unwrap(), k);
    }

    #[test]
    fn refusals() {
        let private =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(parse_public_key(private).unwrap_err(), SshKeyError::PrivateKey);
        assert_eq!(parse_public_key("-----BEGIN RSA PRIVATE KEY-----").unwrap_err(), SshKeyError::PrivateKey);
        assert_eq!(parse_public_key("  \n").unwrap_err(), SshKeyError::Empty);
        assert_eq!(parse_public_key(&format!("{ED25519}\n{ED25519}")).unwrap_err(), SshKeyError::MultipleLines);
        assert_eq!(parse_public_key(&format!("command=\"ls\" {ED25519}")).unwrap_err(), SshKeyError::Options);
        assert!(matches!(parse_public_key("ssh-dss AAAAB3NzaC1kc3M=").unwrap_err(), SshKeyError::Unsupported(_)));
        assert_eq!(parse_public_key("ssh-ed25519-cert-v01@openssh.com AAAA").unwrap_err(), SshKeyError::Certificate);
        assert_eq!(parse_public_key("ssh-ed25519 AAAA!!!!").unwrap_err(), SshKeyError::Malformed);
        // The type in the text must match the encoded one.
        let body = ED25519.split(' ').nth(1).unwrap();
        assert_eq!(parse_public_key(&format!("ssh-rsa {body}")).unwrap_err(), SshKeyError::Malformed);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0x80]), 8);
        assert_eq!(bit_length(&[0x01, 0]), 9);
        assert_eq!(bit_length(&[0xff; 256]), 2048);
    }
}
