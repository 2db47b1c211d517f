//! Scopes in every vocabulary: latchkey's `resource:action`, Runtype's
//! `action:resource` and Runloop's `{resource_type, access_level}` pairs.
//! No panic; a parsed scope prints back as its input and covers itself;
//! the catalog accepts only what it contains.
#![no_main]

use std::sync::LazyLock;

use latchkey_core::profiles::{default_catalog, runloop_scopes, runtype_scope};
use latchkey_core::{Catalog, Scope, ScopeSet};

static CATALOG: LazyLock<Catalog> = LazyLock::new(default_catalog);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let entries: Vec<&str> = text.split(',').collect();
    for entry in &entries {
        if let Some(scope) = Scope::parse(entry) {
            assert_eq!(scope.to_string(), *entry);
            assert!(scope.covers(&scope));
        }
        if let Some(scope) = runtype_scope(entry) {
            assert_eq!(Scope::parse(&scope.to_string()).as_ref(), Some(&scope));
        }
    }
    match CATALOG.parse_scopes(&entries) {
        Ok(set) => {
            assert!(set.iter().all(|s| CATALOG.contains(s)));
            let again = ScopeSet::from_stored(&set.to_strings());
            assert_eq!(again.to_strings(), set.to_strings());
        }
        Err(bad) => assert!(!bad.0.is_empty()),
    }
    let pairs: Vec<(&str, &str)> = entries.iter().filter_map(|e| e.split_once('/')).collect();
    if let Ok(scopes) = runloop_scopes(&pairs) {
        for scope in scopes {
            assert_eq!(Scope::parse(&scope.to_string()).as_ref(), Some(&scope));
        }
    }
});
