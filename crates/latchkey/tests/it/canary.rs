//! The log canary: every secret the tests handle is remembered, and every
//! test server's log is searched for them (and for anything that parses as
//! a credential) when the server stops. The test command runs the SQLite
//! pass with the servers at `trace` (`LATCHKEY_TEST_LOG`).

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use serde_json::Value;

/// Every secret the suite has sent or been given over [`crate::common::Api`]: keys,
/// session and invitation tokens, passwords, secret values.
static SECRETS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// JSON fields that carry a secret, in requests and responses.
const SECRET_FIELDS: [&str; 10] = [
    "key",
    "token",
    "key_secret",
    "password",
    "newPassword",
    "value",
    "accessToken",
    "refreshToken",
    "clientSecret",
    "secret",
];

/// Shorter strings are not remembered: they are too likely to appear in a
/// log by chance (and no secret the suite makes is that short).
const MIN_SECRET_LEN: usize = 8;

/// Remembers `secret` for the log canary.
pub fn remember_secret(secret: &str) {
    if secret.len() >= MIN_SECRET_LEN {
        SECRETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(secret.to_owned());
    }
}

/// Remembers the secrets in a request or response body ([`SECRET_FIELDS`],
/// at any depth).
pub fn remember_secrets_in(v: &Value) {
    match v {
        Value::Object(map) => {
            for (field, value) in map {
                match value {
                    Value::String(s) if SECRET_FIELDS.contains(&field.as_str()) => remember_secret(s),
                    other => remember_secrets_in(other),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(remember_secrets_in),
        _ => {}
    }
}

/// The remembered secrets as one automaton, with how many it holds: built
/// again only when a secret was added since ([`SECRETS`] only grows).
static MATCHER: std::sync::Mutex<Option<(usize, std::sync::Arc<AhoCorasick>)>> = std::sync::Mutex::new(None);

/// The automaton over every remembered secret (one pass over a log finds
/// any of them, however many the suite has handled: thousands after the
/// batch and key-cache tests).
fn matcher() -> (Vec<String>, std::sync::Arc<AhoCorasick>) {
    let secrets: Vec<String> =
        SECRETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
    let mut cached = MATCHER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*cached {
        Some((n, ac)) if *n == secrets.len() => (secrets, ac.clone()),
        _ => {
            // A noncontiguous NFA: built in time linear in the secrets' total
            // length. The DFA `AhoCorasick::new` picks for a few thousand
            // patterns took minutes to build in this unoptimized test binary
            // once the import tests had added thousands of hashes (and a
            // 70 KiB key), and every later server stop waited on it.
            let ac = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                .build(&secrets)
                .expect("an automaton of the secrets");
            let ac = std::sync::Arc::new(ac);
            *cached = Some((secrets.len(), ac.clone()));
            (secrets, ac)
        }
    }
}

/// The canary: fails if `log` (a server's whole log, at whatever level the
/// suite runs it) holds any secret the suite has handled, or anything that
/// parses as a credential with a valid checksum (a key, session token or
/// invitation token, however it got there: CLI and client tests included).
pub fn assert_no_secrets_logged(log: &str, source: &str) {
    let (secrets, ac) = matcher();
    let leaked: std::collections::BTreeSet<&str> =
        ac.find_iter(log).map(|m| secrets[m.pattern().as_usize()].as_str()).collect();
    assert!(
        leaked.is_empty(),
        "{source} logged {} secret(s) the tests handled, e.g. {:?}",
        leaked.len(),
        leaked.first()
    );
    assert!(!log.contains("whsec_"), "{source} logged a webhook signing secret");
    for run in log.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let shortest = latchkey_core::key::BODY_LEN + latchkey_core::key::CHECK_LEN + 2;
        for start in 0..run.len().saturating_sub(shortest - 1) {
            if let Ok(key) = latchkey_core::PlainKey::parse(&run[start..]) {
                panic!("{source} logged a credential: {}…", key.display_prefix());
            }
        }
    }
}
