//! SSH keys: `/v1/ssh-keys` and the `authorized_keys` file.

use latchkey_api_types::Paged;
use latchkey_api_types::secrets::{CreateSshKey, SshKeyView};

use crate::{Client, Error, SshKeyListQuery, cause, seg};

impl Client {
    /// `POST /v1/ssh-keys`
    pub async fn add_ssh_key(&self, body: &CreateSshKey) -> Result<SshKeyView, Error> {
        self.data(self.post("/v1/ssh-keys", body)).await
    }

    /// `GET /v1/ssh-keys`
    pub async fn ssh_keys(&self, query: &SshKeyListQuery) -> Result<Paged<SshKeyView>, Error> {
        self.call(self.get("/v1/ssh-keys").query(query)).await
    }

    /// `DELETE /v1/ssh-keys/{id}`
    pub async fn delete_ssh_key(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/ssh-keys/{}", seg(id)))).await
    }

    /// `POST /v1/ssh-keys/{id}/default`
    pub async fn set_default_ssh_key(&self, id: &str) -> Result<SshKeyView, Error> {
        self.data(self.post_empty(&format!("/v1/ssh-keys/{}/default", seg(id)))).await
    }

    /// `GET /v1/ssh-keys/authorized-keys?user=`: an `authorized_keys` file.
    pub async fn authorized_keys(&self, user: Option<&str>) -> Result<String, Error> {
        let resp = self.send(self.get("/v1/ssh-keys/authorized-keys").query(&[("user", user)])).await?;
        resp.text().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })
    }
}
