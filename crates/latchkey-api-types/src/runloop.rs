//! The Runloop profile's wire format (`reference/003_…`): snake_case, bare
//! objects, `additionalProperties: false` (unknown fields are refused).

use serde::{Deserialize, Serialize};

/// `POST /v1/apikeys` (`ApiKeyCreateParameters`); the body is optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreateParameters {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Expiry in milliseconds since the epoch; `null` or absent: never.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

/// The answer of `POST /v1/apikeys` (`ApiKeyCreatedView`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreatedView {
    /// `key_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// The `ak_…` key, shown this once.
    pub key_secret: String,
    /// Expiry, as requested.
    pub expires_at_ms: Option<i64>,
}

/// One structured scope (`ScopeEntryView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntryView {
    /// `RESOURCE_TYPE_DEVBOXES`, …, `RESOURCE_TYPE_ACCOUNT`.
    pub resource_type: String,
    /// `ACCESS_LEVEL_NONE`, `ACCESS_LEVEL_READ` or `ACCESS_LEVEL_WRITE`.
    pub access_level: String,
}

/// `POST /v1/restricted_keys` (`RestrictedKeyCreateParameters`); the body is
/// optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedKeyCreateParameters {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the key may do; absent or empty: nothing.
    #[serde(default)]
    pub scopes: Option<Vec<ScopeEntryView>>,
    /// Expiry in milliseconds since the epoch; `null` or absent: never.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

/// The answer of `POST /v1/restricted_keys` (`RestrictedKeyCreatedView`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedKeyCreatedView {
    /// `key_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// The `rk_…` key, shown this once.
    pub key_secret: String,
    /// The scopes, as requested.
    pub scopes: Vec<ScopeEntryView>,
    /// Expiry, as requested.
    pub expires_at_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additional_properties_are_refused() {
        let err = serde_json::from_str::<ApiKeyCreateParameters>(r#"{"name":"a","scopes":[]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `scopes`"), "{err}");
        let entry =
            r#"{"scopes":[{"resource_type":"RESOURCE_TYPE_DEVBOXES","access_level":"ACCESS_LEVEL_READ","x":1}]}"#;
        assert!(serde_json::from_str::<RestrictedKeyCreateParameters>(entry).is_err());
    }

    #[test]
    fn created_views_have_exactly_the_documented_properties() {
        let v = serde_json::to_value(ApiKeyCreatedView {
            id: "key_1".into(),
            name: "n".into(),
            key_secret: "ak_x".into(),
            expires_at_ms: None,
        })
        .unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["expires_at_ms", "id", "key_secret", "name"]);
    }
}
