//! API keys: `/v1/api-keys`.

use std::time::Duration;

use latchkey_api_types::{
    ApiKeyView, CreateApiKey, CreateApiKeys, ImportedKeys, Paged, RotateApiKey, TransferApiKey, UpdateApiKey,
    UsageDayView,
};

use crate::{Client, Error, KeyListQuery, cause, seg};

/// How long an import (up to 10,000 keys, each checked) may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long an export (every key of the organization) may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The lines of `GET /v1/api-keys/export` as they arrive
/// ([`Client::export_keys`]).
#[derive(Debug)]
pub struct KeyExport {
    resp: reqwest::Response,
    base: String,
}

impl KeyExport {
    /// The next chunk of JSON lines (whole lines), or `None` at the end.
    /// An export cut short by the server is an error, never a short
    /// export.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let next =
            self.resp.chunk().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })?;
        Ok(next.map(|b| b.to_vec()))
    }
}

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

    /// `POST /v1/api-keys/import`: the keys of `lines` (JSON lines, one
    /// `ImportApiKey` per line, as a file holds them), all or none.
    pub async fn import_keys(&self, lines: Vec<u8>) -> Result<ImportedKeys, Error> {
        let req = self
            .post_empty("/v1/api-keys/import")
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(lines)
            .timeout(IMPORT_TIMEOUT);
        self.data(req).await
    }

    /// `GET /v1/api-keys/export?encoding=`: every key's metadata and hash,
    /// as JSON lines, read chunk by chunk ([`KeyExport::chunk`]).
    pub async fn export_keys(&self, encoding: Option<&str>) -> Result<KeyExport, Error> {
        let req = self.get("/v1/api-keys/export").query(&[("encoding", encoding)]).timeout(EXPORT_TIMEOUT);
        Ok(KeyExport { resp: self.send(req).await?, base: self.base.clone() })
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
