//! Signing the CLI in without a password: the one-time code of the
//! loopback redirect (RFC 8252, `/v1/auth/cli/token`) and the device
//! authorization (RFC 8628, `/v1/auth/device/*`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/cli/token`: the code the dashboard's authorization page
/// sent to the CLI's loopback address, with the PKCE verifier it was made
/// for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CliToken {
    /// The `code` the loopback redirect carried (single use, 2 minutes).
    #[schema(max_length = 96)]
    pub code: String,
    /// The PKCE code verifier whose S256 challenge the authorization page
    /// was given (43–128 characters of `[A-Za-z0-9-._~]`).
    #[schema(min_length = 43, max_length = 128)]
    pub code_verifier: String,
    /// The loopback redirect URI the authorization page was given, exactly.
    #[schema(max_length = 2048)]
    pub redirect_uri: String,
}

/// `POST /v1/auth/device/code`: a device asks to be signed in.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceCodeRequest {
    /// What the person approving sees as the device's name (`latchkey CLI
    /// on build-01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub client_name: Option<String>,
}

/// The answer to `POST /v1/auth/device/code` (RFC 8628 §3.2, in camelCase).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCode {
    /// The device's secret: what it polls `/v1/auth/device/token` with.
    pub device_code: String,
    /// What the person types on the verification page (`BCDF-GHJK`).
    pub user_code: String,
    /// The dashboard page where the person enters the user code.
    pub verification_uri: String,
    /// The same page with the user code filled in.
    pub verification_uri_complete: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// `POST /v1/auth/device/token`: a device's poll.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceToken {
    /// The `deviceCode` of `POST /v1/auth/device/code`.
    #[schema(max_length = 96)]
    pub device_code: String,
}
