//! Connected apps: `/v1/oauth/providers`, `/v1/oauth/connect` and
//! `/v1/oauth/connections`.

use latchkey_api_types::oauth::{
    ConnectRequestView, ConnectStarted, OAuthConnectionView, OAuthProviderView, PutOAuthClient, StartConnect,
};
use reqwest::Method;

use crate::{Client, Error, OAuthConnectionQuery, seg};

impl Client {
    /// `GET /v1/oauth/providers`: the providers that can be connected, with
    /// the organization's own client credentials (never the secret).
    pub async fn oauth_providers(&self) -> Result<Vec<OAuthProviderView>, Error> {
        self.data(self.get("/v1/oauth/providers")).await
    }

    /// `PUT /v1/oauth/providers/{id}` (admins): the organization's own
    /// client credentials at a provider, replacing any.
    pub async fn put_oauth_client(&self, provider: &str, body: &PutOAuthClient) -> Result<OAuthProviderView, Error> {
        self.data(self.request(Method::PUT, &format!("/v1/oauth/providers/{}", seg(provider))).json(body)).await
    }

    /// `DELETE /v1/oauth/providers/{id}` (admins): removes the
    /// organization's own client credentials.
    pub async fn delete_oauth_client(&self, provider: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/oauth/providers/{}", seg(provider)))).await
    }

    /// `POST /v1/oauth/connect`: starts connecting an account; the answer's
    /// `authorizeUrl` is for the same person's browser.
    pub async fn start_oauth_connect(&self, body: &StartConnect) -> Result<ConnectStarted, Error> {
        self.data(self.post("/v1/oauth/connect", body)).await
    }

    /// `GET /v1/oauth/connect/{id}`: whether a connect completed (the
    /// requester's only).
    pub async fn oauth_connect_request(&self, id: &str) -> Result<ConnectRequestView, Error> {
        self.data(self.get(&format!("/v1/oauth/connect/{}", seg(id)))).await
    }

    /// `GET /v1/oauth/connections`: the caller's and the organization's
    /// shared connections (every member's with `all_org`, admins); never
    /// tokens.
    pub async fn oauth_connections(&self, query: &OAuthConnectionQuery) -> Result<Vec<OAuthConnectionView>, Error> {
        self.data(self.get("/v1/oauth/connections").query(query)).await
    }

    /// `DELETE /v1/oauth/connections/{id}`: disconnects (revoking the grant
    /// at the provider when it can).
    pub async fn delete_oauth_connection(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/oauth/connections/{}", seg(id)))).await
    }

    /// `POST /v1/oauth/connections/{id}/default`: makes a connection its
    /// owner's default for its provider.
    pub async fn set_default_oauth_connection(&self, id: &str) -> Result<OAuthConnectionView, Error> {
        self.data(self.post_empty(&format!("/v1/oauth/connections/{}/default", seg(id)))).await
    }
}
