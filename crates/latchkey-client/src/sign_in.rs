//! Signing in without a password: the CLI's loopback code exchange
//! (`/v1/auth/cli/token`), the device flow (`/v1/auth/device/*`) and the
//! identity providers a server offers (`/v1/auth/oidc/providers`).

use latchkey_api_types::{CliToken, DeviceCode, DeviceCodeRequest, DeviceToken, SessionGrant};
use serde::Deserialize;

use crate::{Client, Error};

/// An identity provider people can sign in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// Its id, as in `latchkey login --sso ID`.
    pub id: String,
    /// Its name on the sign-in button.
    pub display_name: String,
}

impl Client {
    /// `POST /v1/auth/cli/token`: the session of the person who authorized
    /// this CLI, for the code its loopback address received.
    pub async fn cli_token(&self, body: &CliToken) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/cli/token", body)).await
    }

    /// `POST /v1/auth/device/code`: a device code and the user code a person
    /// approves it with.
    pub async fn device_code(&self, body: &DeviceCodeRequest) -> Result<DeviceCode, Error> {
        self.data(self.post("/v1/auth/device/code", body)).await
    }

    /// `POST /v1/auth/device/token`: one poll; the refusals while waiting are
    /// [`Error::Api`] with codes `authorization_pending`, `slow_down`,
    /// `access_denied`, `expired_token`.
    pub async fn device_token(&self, body: &DeviceToken) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/device/token", body)).await
    }

    /// `GET /v1/auth/oidc/providers`: the identity providers the server
    /// offers; none when it has no such route (404).
    pub async fn oidc_providers(&self) -> Result<Vec<Provider>, Error> {
        match self.data(self.get("/v1/auth/oidc/providers")).await {
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            other => other,
        }
    }
}
