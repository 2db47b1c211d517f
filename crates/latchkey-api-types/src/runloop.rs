//! The Runloop profile's wire format (`reference/003_…`): snake_case, bare
//! objects, `additionalProperties: false` (unknown fields are refused).
//!
//! The schemas are the reference's own, property for property: its names,
//! no `required` lists, `expires_at_ms` a nullable int64, `resource_type` and
//! `access_level` its enums ([`ApiResourceType`], [`ApiAccessLevel`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/apikeys` (`ApiKeyCreateParameters`); the body is optional.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreateParameters {
    /// Display name.
    #[serde(default)]
    #[schema(required = false, nullable = false)]
    pub name: Option<String>,
    /// Expiry in milliseconds since the epoch; `null` or absent: never.
    #[serde(default)]
    #[schema(required = false)]
    pub expires_at_ms: Option<i64>,
}

/// The answer of `POST /v1/apikeys` (`ApiKeyCreatedView`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreatedView {
    /// `key_…`
    #[schema(required = false)]
    pub id: String,
    /// Display name.
    #[schema(required = false)]
    pub name: String,
    /// The `ak_…` key, shown this once.
    #[schema(required = false)]
    pub key_secret: String,
    /// Expiry, as requested.
    #[schema(required = false)]
    pub expires_at_ms: Option<i64>,
}

/// One structured scope (`ScopeEntryView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntryView {
    /// `RESOURCE_TYPE_DEVBOXES`, …, `RESOURCE_TYPE_ACCOUNT` (any text is
    /// read, and an unknown type answers 400 `invalid_scopes`).
    #[schema(value_type = ApiResourceType, required = false)]
    pub resource_type: String,
    /// `ACCESS_LEVEL_NONE`, `ACCESS_LEVEL_READ` or `ACCESS_LEVEL_WRITE`.
    #[schema(value_type = ApiAccessLevel, required = false)]
    pub access_level: String,
}

/// The resource types of a structured scope (`ApiResourceType`): the
/// document's enum for [`ScopeEntryView::resource_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ApiResourceType {
    /// Devboxes.
    #[serde(rename = "RESOURCE_TYPE_DEVBOXES")]
    Devboxes,
    /// Blueprints.
    #[serde(rename = "RESOURCE_TYPE_BLUEPRINTS")]
    Blueprints,
    /// Snapshots.
    #[serde(rename = "RESOURCE_TYPE_SNAPSHOTS")]
    Snapshots,
    /// Benchmarks.
    #[serde(rename = "RESOURCE_TYPE_BENCHMARKS")]
    Benchmarks,
    /// Scenarios.
    #[serde(rename = "RESOURCE_TYPE_SCENARIOS")]
    Scenarios,
    /// Repository connections.
    #[serde(rename = "RESOURCE_TYPE_REPO_CONNECTIONS")]
    RepoConnections,
    /// Agents.
    #[serde(rename = "RESOURCE_TYPE_AGENTS")]
    Agents,
    /// Objects.
    #[serde(rename = "RESOURCE_TYPE_OBJECTS")]
    Objects,
    /// The account (`org` in the catalog).
    #[serde(rename = "RESOURCE_TYPE_ACCOUNT")]
    Account,
}

/// The access levels of a structured scope (`ApiAccessLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ApiAccessLevel {
    /// Nothing.
    #[serde(rename = "ACCESS_LEVEL_NONE")]
    None,
    /// Read.
    #[serde(rename = "ACCESS_LEVEL_READ")]
    Read,
    /// Read and write.
    #[serde(rename = "ACCESS_LEVEL_WRITE")]
    Write,
}

impl ApiResourceType {
    /// Every resource type, in the reference's order.
    pub const ALL: [Self; 9] = [
        Self::Devboxes,
        Self::Blueprints,
        Self::Snapshots,
        Self::Benchmarks,
        Self::Scenarios,
        Self::RepoConnections,
        Self::Agents,
        Self::Objects,
        Self::Account,
    ];
}

/// `POST /v1/restricted_keys` (`RestrictedKeyCreateParameters`); the body is
/// optional.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictedKeyCreateParameters {
    /// Display name.
    #[serde(default)]
    #[schema(required = false, nullable = false)]
    pub name: Option<String>,
    /// What the key may do; absent or empty: nothing.
    #[serde(default)]
    #[schema(required = false, nullable = false)]
    pub scopes: Option<Vec<ScopeEntryView>>,
    /// Expiry in milliseconds since the epoch; `null` or absent: never.
    #[serde(default)]
    #[schema(required = false)]
    pub expires_at_ms: Option<i64>,
}

/// The answer of `POST /v1/restricted_keys` (`RestrictedKeyCreatedView`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictedKeyCreatedView {
    /// `key_…`
    #[schema(required = false)]
    pub id: String,
    /// Display name.
    #[schema(required = false)]
    pub name: String,
    /// The `rk_…` key, shown this once.
    #[schema(required = false)]
    pub key_secret: String,
    /// The scopes, as requested.
    #[schema(required = false)]
    pub scopes: Vec<ScopeEntryView>,
    /// Expiry, as requested.
    #[schema(required = false)]
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
