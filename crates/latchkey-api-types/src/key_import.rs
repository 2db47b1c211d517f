//! `POST /v1/api-keys/import` and `GET /v1/api-keys/export`: keys issued by
//! another system brought in by their hash, and every key's metadata and
//! hash taken out, as JSON lines.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::KeyEnvironment;

/// Most keys one `POST /v1/api-keys/import` takes.
pub const MAX_IMPORT_KEYS: usize = 10_000;

/// The hash function of an imported key's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// SHA-256 of the whole key as presented (what latchkey stores, and what
    /// a home-grown table, Unkey and better-auth's API-key plugin store).
    Sha256,
}

/// How a hash is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashEncodingView {
    /// 64 hexadecimal digits, either case.
    Hex,
    /// Standard base64, with or without `=` padding (Unkey).
    Base64,
    /// URL-safe base64, with or without padding (better-auth).
    Base64url,
}

/// A key's hash: `{algorithm: "sha256", encoding, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyHashView {
    /// Only `sha256`.
    pub algorithm: HashAlgorithm,
    /// `hex`, `base64` or `base64url`.
    pub encoding: HashEncodingView,
    /// The 32-byte hash so written.
    #[schema(min_length = 43, max_length = 64)]
    pub value: String,
}

/// One key of `POST /v1/api-keys/import`: a key issued by another system,
/// by the SHA-256 of its whole plaintext.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportApiKey {
    /// SHA-256 of the whole key as clients present it.
    pub hash: KeyHashView,
    /// What identifies the key in listings (the other system's display
    /// prefix, `prod_3Zd`): at most 32 ASCII letters, digits, `_`, `-`
    /// and `.`; absent: nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32, pattern = "^[A-Za-z0-9_.-]*$")]
    pub prefix: Option<String>,
    /// Display name, 1–255 characters.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// Scopes, as `POST /v1/api-keys` takes them (empty means `["*"]`).
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339), in the future; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// The member who owns the key (it stops working when they leave);
    /// absent: the organization owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<String>,
    /// The key's id in the system it comes from (1–255 characters), kept and
    /// shown, and a filter of `GET /v1/api-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 255)]
    pub external_id: Option<String>,
    /// `live` (default) or `test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<KeyEnvironment>,
}

/// What `POST /v1/api-keys/import` stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportedKeys {
    /// How many keys were imported (every one given).
    pub imported: usize,
    /// Their ids (`key_…`), in the order given.
    pub ids: Vec<String>,
}

/// One line of `GET /v1/api-keys/export`: a key's metadata and hash, never
/// its plaintext. The fields `POST /v1/api-keys/import` takes have its
/// names and meaning; `id`, `status`, `imported`, `createdAt`, `revokedAt`
/// and `lastUsedAt` are this installation's record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedApiKey {
    /// `key_…`
    pub id: String,
    /// SHA-256 of the whole key.
    pub hash: KeyHashView,
    /// What identifies the key in listings (`lk_live_AbCd`, or an imported
    /// key's prefix).
    pub prefix: String,
    /// Display name.
    pub name: String,
    /// Canonical scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: Option<String>,
    /// Owning member (`null`: the organization).
    pub owner_user_id: Option<String>,
    /// The key's id in the system it was imported from.
    pub external_id: Option<String>,
    /// `live` or `test`.
    pub environment: KeyEnvironment,
    /// Project, if any.
    pub project_id: Option<String>,
    /// `active`, `expired`, `revoked` or `disabled`.
    pub status: String,
    /// Whether the key was imported rather than minted here.
    pub imported: bool,
    /// Creation (or import) time.
    pub created_at: String,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// Last successful use.
    pub last_used_at: Option<String>,
}
