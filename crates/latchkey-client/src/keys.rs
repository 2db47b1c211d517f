//! API keys: `/v1/api-keys`.

use latchkey_api_types::{
    ApiKeyView, CreateApiKey, CreateApiKeys, Paged, RotateApiKey, TransferApiKey, UpdateApiKey, UsageDayView,
};

use crate::{Client, Error, KeyListQuery, seg};

impl Client {
    /// `POST /v1/api-keys`: the answer's `key` is the plaintext, shown once.
    pub async fn create_key(&self, body: &CreateApiKey) -> Result<ApiKeyView, Error> {
        self.shown(self.post("/v1/api-keys", body)).await
    }

    /// `POST /v1/api-keys/batch`: 1–1,000 keys created together or not at
    /// all, in the order given, each answer's `key` its plaintext, shown once.
    pub async fn create_keys(&self, body: &CreateApiKeys) -> Result<Vec<ApiKeyView>, Error> {
        self.shown(self.post("/v1/api-keys/batch", body)).await
    }

    /// `GET /v1/api-keys`
    pub async fn keys(&self, query: &KeyListQuery) -> Result<Paged<ApiKeyView>, Error> {
        self.call(self.get("/v1/api-keys").query(query)).await
    }

    /// `GET /v1/api-keys/{id}`
    pub async fn key(&self, id: &str) -> Result<ApiKeyView, Error> {
        self.data(self.get(&format!("/v1/api-keys/{}", seg(id)))).await
    }

    /// `PATCH /v1/api-keys/{id}`
    pub async fn update_key(&self, id: &str, body: &UpdateApiKey) -> Result<ApiKeyView, Error> {
        self.data(self.patch(&format!("/v1/api-keys/{}", seg(id)), body)).await
    }

    /// `POST /v1/api-keys/{id}/revoke`
    pub async fn revoke_key(&self, id: &str) -> Result<ApiKeyView, Error> {
        self.data(self.post_empty(&format!("/v1/api-keys/{}/revoke", seg(id)))).await
    }

    /// `POST /v1/api-keys/{id}/rotate`: the new key, its plaintext shown once.
    pub async fn rotate_key(&self, id: &str, body: &RotateApiKey) -> Result<ApiKeyView, Error> {
        self.shown(self.post(&format!("/v1/api-keys/{}/rotate", seg(id)), body)).await
    }

    /// `DELETE /v1/api-keys/{id}`
    pub async fn delete_key(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/api-keys/{}", seg(id)))).await
    }

    /// `POST /v1/api-keys/{id}/transfer`: the organization takes the key over.
    pub async fn transfer_key_to_org(&self, id: &str) -> Result<ApiKeyView, Error> {
        let body = TransferApiKey { to: "org".to_owned() };
        self.data(self.post(&format!("/v1/api-keys/{}/transfer", seg(id)), &body)).await
    }

    /// `GET /v1/api-keys/{id}/usage?days=`: daily counts by outcome.
    pub async fn key_usage(&self, id: &str, days: Option<u32>) -> Result<Vec<UsageDayView>, Error> {
        let req = self.get(&format!("/v1/api-keys/{}/usage", seg(id))).query(&[("days", days)]);
        self.data(req).await
    }
}
