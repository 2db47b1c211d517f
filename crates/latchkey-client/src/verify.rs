//! Verification: `POST /v1/keys/verify`, `POST /v1/keys/explain`, and
//! `GET /v1/auth/check` as a reverse proxy calls it.

use latchkey_api_types::{ExplainKey, ExplainView, VerifyKey, VerifyView};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::{Client, Error};

/// What a forward-auth check (`GET /v1/auth/check`) tells a proxy about a
/// key it let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardIdentity {
    /// `X-Latchkey-Org-Id`
    pub org_id: String,
    /// `X-Latchkey-Key-Id`
    pub key_id: String,
    /// `X-Latchkey-Project-Id` (empty when the key has no project)
    pub project_id: Option<String>,
    /// `X-Latchkey-Environment`
    pub environment: String,
}

impl Client {
    /// `POST /v1/keys/verify`: the verdict (always 200 for a caller with
    /// `keys:verify`).
    pub async fn verify(&self, body: &VerifyKey) -> Result<VerifyView, Error> {
        self.data(self.post("/v1/keys/verify", body)).await
    }

    /// `POST /v1/keys/explain`: what a key can do and why, with what verify
    /// would answer for the scopes, project and address asked about;
    /// nothing counted or spent.
    pub async fn explain_key(&self, body: &ExplainKey) -> Result<ExplainView, Error> {
        self.data(self.post("/v1/keys/explain", body)).await
    }

    /// `GET /v1/auth/check`, as a reverse proxy calls it: `key` in
    /// `X-API-Key`, the required scope in `X-Latchkey-Scope`.
    pub async fn forward_auth(&self, key: &str, scope: Option<&str>) -> Result<ForwardIdentity, Error> {
        let mut req = self.http.get(format!("{}/v1/auth/check", self.base)).header("x-api-key", key);
        if let Some(scope) = scope {
            req = req.header("x-latchkey-scope", scope);
        }
        let resp = self.send(req).await?;
        let h = resp.headers();
        let get = |name: &str| header(h, name);
        Ok(ForwardIdentity {
            org_id: get("x-latchkey-org-id").unwrap_or_default(),
            key_id: get("x-latchkey-key-id").unwrap_or_default(),
            project_id: get("x-latchkey-project-id").filter(|p| !p.is_empty()),
            environment: get("x-latchkey-environment").unwrap_or_default(),
        })
    }
}

fn header(h: &HeaderMap<HeaderValue>, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}
