//! Secrets: `/v1/secrets`.

use latchkey_api_types::Paged;
use latchkey_api_types::secrets::{OwnerScope, PutSecret, ResolvedSecrets, RevealedSecret, SecretView};
use reqwest::Method;

use crate::{Client, Error, SecretListQuery, seg};

impl Client {
    /// `PUT /v1/secrets/{name}`: creates or replaces (a new version).
    pub async fn put_secret(&self, name: &str, body: &PutSecret) -> Result<SecretView, Error> {
        self.data(self.request(Method::PUT, &format!("/v1/secrets/{}", seg(name))).json(body)).await
    }

    /// `GET /v1/secrets`: metadata only.
    pub async fn secrets(&self, query: &SecretListQuery) -> Result<Paged<SecretView>, Error> {
        self.call(self.get("/v1/secrets").query(query)).await
    }

    /// `GET /v1/secrets/{name}?scope=`: metadata; without `scope`, the
    /// caller's own secret, else the organization's.
    pub async fn secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<SecretView, Error> {
        self.data(self.get(&format!("/v1/secrets/{}", seg(name))).query(&[("scope", scope)])).await
    }

    /// `POST /v1/secrets/{name}/reveal?scope=`: the value (audited).
    pub async fn reveal_secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<RevealedSecret, Error> {
        self.data(self.post_empty(&format!("/v1/secrets/{}/reveal", seg(name))).query(&[("scope", scope)])).await
    }

    /// `DELETE /v1/secrets/{name}?scope=`
    pub async fn delete_secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/secrets/{}", seg(name))).query(&[("scope", scope)])).await
    }

    /// `GET /v1/secrets/resolve?names=&user=`: each name's value, the
    /// member's own shadowing the organization's.
    pub async fn resolve_secrets(&self, names: &[&str], user: Option<&str>) -> Result<ResolvedSecrets, Error> {
        let names = names.join(",");
        self.data(self.get("/v1/secrets/resolve").query(&[("names", Some(names.as_str())), ("user", user)])).await
    }
}
