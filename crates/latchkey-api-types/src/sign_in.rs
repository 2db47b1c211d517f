//! Single sign-on: the identity providers people may sign in with, and the
//! identities linked to an account.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An identity provider people may sign in with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProviderView {
    /// Its id, in URLs: `GET /v1/auth/oidc/{id}/start`.
    pub id: String,
    /// The name on the sign-in button.
    pub display_name: String,
}

/// An identity at a provider, linked to the caller's account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    /// `idn_…`
    pub id: String,
    /// The configured provider's id.
    pub provider: String,
    /// Its display name (the id when the provider is no longer configured).
    pub provider_name: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The person's subject (`sub`) there.
    pub subject: String,
    /// The email the provider gave at the last sign-in.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: String,
    /// The last sign-in with it.
    pub last_used_at: Option<String>,
}
