//! Passwords: argon2id in PHC string form, and the rules a new password must
//! meet.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Fewest characters a password may have.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Most characters a password may have (argon2 takes any length; this only
/// bounds the work one request can ask for).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`] or longer than [`MAX_PASSWORD_LEN`].
    #[error("password must be between {MIN_PASSWORD_LEN} and {MAX_PASSWORD_LEN} characters")]
    Length,
    /// The hash could not be computed.
    #[error("password hashing failed")]
    Hash,
}

/// argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// A well-formed argon2id hash (same parameters) that no password is known
/// to match: checked when there is no real hash, to take the same time.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Bk5o9VZ5b0u8A4o1m8aPQn0m4mWm0hXh0l1vYH3mY8";

/// Checks the length rule.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) { Ok(()) } else { Err(PasswordError::Length) }
}

/// A new random password (128 bits, 22 characters of base64url), for a
/// first admin who has none yet.
pub fn generate_password() -> Result<String, PasswordError> {
    use base64ct::Encoding as _;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| PasswordError::Hash)?;
    Ok(base64ct::Base64UrlUnpadded::encode_string(&bytes))
}

/// Hashes `password` with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PasswordError::Hash)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hash)?;
    hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| PasswordError::Hash)
}

/// Whether `password` matches the PHC string `stored` (constant time in the
/// password). With no stored hash (unknown user, or a user without a
/// password) a dummy hash is checked anyway, so the answer takes as long as
/// for a real account and cannot tell the two apart.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let (hash, real) = match stored.and_then(|s| PasswordHash::new(s).ok()) {
        Some(h) => (h, true),
        None => match PasswordHash::new(DUMMY) {
            Ok(h) => (h, false),
            Err(_) => return false,
        },
    };
    let ok = hasher().verify_password(password.as_bytes(), &hash).is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("correct horse batterY", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("anything at all", Some("not a phc string")));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn dummy_hash_is_checked_like_a_real_one() {
        let dummy = PasswordHash::new(DUMMY).unwrap();
        let real = hash_password("correct horse battery").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.params, real.params, "same cost");
        assert_eq!(dummy.algorithm, real.algorithm);
    }

    #[test]
    fn length_rule() {
        assert_eq!(hash_password("short"), Err(PasswordError::Length));
        assert_eq!(check_password("elevenchars"), Err(PasswordError::Length));
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
