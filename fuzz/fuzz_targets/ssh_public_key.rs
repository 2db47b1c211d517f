//! OpenSSH public key lines as `POST /v1/ssh-keys` receives them: no panic;
//! an accepted key is an accepted algorithm, and its `authorized_keys`
//! entry parses again to the same key and fingerprint.
#![no_main]

use latchkey_core::ssh::parse_public_key;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(key) = parse_public_key(text) {
        assert!(key.fingerprint.starts_with("SHA256:"));
        assert!(key.public_key.starts_with(&key.algorithm));
        assert!(!key.public_key.contains('\n'));
        let again = parse_public_key(&key.public_key).expect("an accepted key's entry parses again");
        assert_eq!((again.fingerprint, again.bits, again.algorithm), (key.fingerprint, key.bits, key.algorithm));
    }
});
