//! Health and metrics: `/healthz`, `/readyz`, `/metrics`.

use crate::{Client, Error, cause};

impl Client {
    /// `GET /healthz`: the server is up.
    pub async fn healthz(&self) -> Result<(), Error> {
        self.empty(self.get("/healthz")).await
    }

    /// `GET /readyz`: the database (and Redis) answer; [`Error::Api`] with
    /// `unavailable` naming what does not.
    pub async fn readyz(&self) -> Result<serde_json::Value, Error> {
        self.call(self.get("/readyz")).await
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, Error> {
        let resp = self.send(self.get("/metrics")).await?;
        resp.text().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })
    }
}
