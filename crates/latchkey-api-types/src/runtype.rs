//! The Runtype profile's wire format (`reference/004_…`): camelCase, bare
//! objects for single resources, `{"data": […]}` for lists.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/products`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProduct {
    /// Display name, 1–255 characters.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
}

/// A product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    /// `prd_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// `POST /v1/products/{id}/surfaces`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSurface {
    /// Display name, 1–255 characters.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
}

/// A surface of a product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SurfaceView {
    /// `srf_…`
    pub id: String,
    /// The product.
    pub product_id: String,
    /// Display name.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// `POST /v1/products/{id}/surfaces/{surfaceId}/keys`; every field is
/// optional (the body may be `{}` or absent).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSurfaceKey {
    /// Display name, at most 255 characters.
    #[serde(default)]
    #[schema(max_length = 255, nullable = false)]
    pub name: Option<String>,
    /// `action:resource` scopes (`read:products`); absent: none.
    #[serde(default)]
    #[schema(nullable = false)]
    pub scopes: Option<Vec<String>>,
    /// Requests per minute (≥ 1).
    #[serde(default)]
    #[schema(minimum = 1, nullable = false)]
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day (≥ 1).
    #[serde(default)]
    #[schema(minimum = 1, nullable = false)]
    pub rate_limit_per_day: Option<i64>,
    /// Expiry (RFC 3339).
    #[serde(default)]
    #[schema(format = DateTime, nullable = false)]
    pub expires_at: Option<String>,
    /// `test` (default), `production`, or `live` (= `production`).
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<SurfaceEnvironment>, default = "test")]
    pub environment: Option<String>,
}

/// The environments of a surface key (the document's enum for
/// [`CreateSurfaceKey::environment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SurfaceEnvironment {
    /// `sk_test_…` keys (the default).
    Test,
    /// `sk_live_…` keys.
    Production,
    /// The same as `production`.
    Live,
}

/// The answer of the surface key create (201), exactly the documented
/// properties.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SurfaceKeyView {
    /// `key_…`
    pub id: String,
    /// The surface.
    pub surface_id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// The `sk_live_…` / `sk_test_…` key, shown this once.
    pub key: String,
    /// Prefix plus the first 4 body characters.
    pub key_prefix: String,
    /// The last 4 characters.
    pub key_hint: Option<String>,
    /// The scopes, as given.
    pub scopes: Vec<String>,
    /// Requests per minute, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day, if limited.
    pub rate_limit_per_day: Option<i64>,
    /// Expiry (RFC 3339), if any.
    pub expires_at: Option<String>,
    /// Whether the key works (not revoked, not expired).
    pub is_active: bool,
    /// `production` or `test`.
    pub environment: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_body_parses() {
        let body = r#"{"name":"Primary API Key","scopes":["read:products","write:orders"],
            "rateLimitPerMinute":100,"rateLimitPerDay":10000,"expiresAt":"2025-06-01T00:00:00Z",
            "environment":"production"}"#;
        let req: CreateSurfaceKey = serde_json::from_str(body).unwrap();
        assert_eq!(req.scopes.unwrap(), ["read:products", "write:orders"]);
        assert_eq!(req.rate_limit_per_day, Some(10_000));
        assert!(serde_json::from_str::<CreateSurfaceKey>("{}").is_ok());
        assert!(serde_json::from_str::<CreateSurfaceKey>(r#"{"isTest":true}"#).is_err());
    }
}
