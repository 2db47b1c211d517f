//! Secrets (`/v1/secrets`) and SSH keys (`/v1/ssh-keys`).
//!
//! Secret values appear in exactly two shapes, [`PutSecret`] (the request
//! that sets one) and [`RevealedSecret`] / [`ResolvedSecret`] (the answers
//! that show one); their `Debug` prints `"…"` instead of the value.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v1/secrets/{name}`: create or replace.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutSecret {
    /// The value (1 byte to 32 KiB of UTF-8).
    #[schema(min_length = 1)]
    pub value: String,
    /// `provider`, `tool`, … (`a-z0-9-_`, 1–64).
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub category: String,
    /// `true`: an organization-wide secret (admins only); default: the
    /// caller's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_wide: Option<bool>,
}

impl fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutSecret")
            .field("value", &"…")
            .field("category", &self.category)
            .field("org_wide", &self.org_wide)
            .finish()
    }
}

/// Whose a secret or SSH key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OwnerScope {
    /// One member's own.
    User,
    /// The whole organization's.
    Org,
}

/// A secret's metadata (never its value).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    /// `sec_…`
    pub id: String,
    /// `A-Z0-9_`.
    pub name: String,
    /// `provider`, `tool`, …
    pub category: String,
    /// `user` or `org`.
    pub scope: OwnerScope,
    /// The member it belongs to (`null` for organization-wide secrets).
    pub owner_user_id: Option<String>,
    /// 1 on creation, +1 on every replacement.
    pub version: i64,
    /// Creation time.
    pub created_at: String,
    /// Last replacement.
    pub updated_at: String,
}

/// `POST /v1/secrets/{name}/reveal`: the metadata and the value.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevealedSecret {
    /// The metadata.
    #[serde(flatten)]
    pub secret: SecretView,
    /// The value.
    pub value: String,
}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevealedSecret").field("secret", &self.secret).field("value", &"…").finish()
    }
}

/// One entry of `GET /v1/secrets/resolve`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSecret {
    /// The name asked for.
    pub name: String,
    /// `user` (the member's own, shadowing an organization secret of the
    /// same name) or `org`.
    pub scope: OwnerScope,
    /// `sec_…`
    pub id: String,
    /// Its category.
    pub category: String,
    /// Its version.
    pub version: i64,
    /// The value.
    pub value: String,
}

impl fmt::Debug for ResolvedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedSecret")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("id", &self.id)
            .field("version", &self.version)
            .field("value", &"…")
            .finish_non_exhaustive()
    }
}

/// `GET /v1/secrets/resolve` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSecrets {
    /// The names found, in the order asked.
    pub secrets: Vec<ResolvedSecret>,
    /// The names that are neither the member's nor the organization's.
    pub missing: Vec<String>,
}

/// `POST /v1/ssh-keys`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSshKey {
    /// Display name (1–255 characters, no control characters).
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// One OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// `true`: an organization-wide key (admins only), accepted for every
    /// member; default: the caller's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_wide: Option<bool>,
}

/// An SSH public key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SshKeyView {
    /// `ssh_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// `user` or `org`.
    pub scope: OwnerScope,
    /// The member it belongs to (`null` for organization-wide keys).
    pub owner_user_id: Option<String>,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    /// Key size in bits.
    pub bits: i64,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `<type> <base64>`.
    pub public_key: String,
    /// The comment that came with the key.
    pub comment: String,
    /// The owner's default key.
    pub is_default: bool,
    /// Creation time.
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let put = PutSecret { value: "sk-ant-hidden".into(), category: "provider".into(), org_wide: None };
        let view = SecretView {
            id: "sec_1".into(),
            name: "N".into(),
            category: "tool".into(),
            scope: OwnerScope::User,
            owner_user_id: None,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        };
        let revealed = RevealedSecret { secret: view, value: "sk-ant-hidden".into() };
        let resolved = ResolvedSecrets {
            secrets: vec![ResolvedSecret {
                name: "N".into(),
                scope: OwnerScope::Org,
                id: "sec_1".into(),
                category: "tool".into(),
                version: 1,
                value: "sk-ant-hidden".into(),
            }],
            missing: vec![],
        };
        let shown = format!("{put:?} {revealed:?} {resolved:?}");
        assert!(!shown.contains("sk-ant-hidden"), "{shown}");
        // The wire form does carry it, and an absent orgWide is not sent.
        let json = serde_json::to_string(&put).unwrap();
        assert_eq!(json, r#"{"value":"sk-ant-hidden","category":"provider"}"#);
        assert!(serde_json::to_string(&revealed).unwrap().contains(r#""value":"sk-ant-hidden""#));
        assert!(serde_json::from_str::<PutSecret>(r#"{"value":"v","category":"c","x":1}"#).is_err());
    }
}
