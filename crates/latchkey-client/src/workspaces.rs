//! Workspaces: `/v1/workspaces`, their mount decisions, the keys that sign
//! mount grants, presigned URLs for their objects and their listings.
//!
//! A refusal reaches the caller as [`Error::Api`] with the server's code:
//! `personal_workspace_not_mountable`, `insufficient_scope`,
//! `invalid_mount_path` for a mount; `storage_not_configured` (501) for
//! presign and files on a server without an object store;
//! `workspace_not_empty` (409) for deleting a workspace that still holds
//! objects.

use latchkey_api_types::Paged;
use latchkey_api_types::workspaces::{
    CreateWorkspace, FileView, GrantKeys, MountDecision, MountRequest, PresignRequest, PresignedUrl, UpdateWorkspace,
    WorkspaceView,
};

use crate::{Client, Error, WorkspaceFileQuery, WorkspaceListQuery, seg};

impl Client {
    /// `POST /v1/workspaces`
    pub async fn create_workspace(&self, body: &CreateWorkspace) -> Result<WorkspaceView, Error> {
        self.data(self.post("/v1/workspaces", body)).await
    }

    /// `GET /v1/workspaces`: the organization's workspaces and the caller's
    /// personal ones (every member's with `all_org`, admins).
    pub async fn workspaces(&self, query: &WorkspaceListQuery) -> Result<Paged<WorkspaceView>, Error> {
        self.call(self.get("/v1/workspaces").query(query)).await
    }

    /// `GET /v1/workspaces/{id}`
    pub async fn workspace(&self, id: &str) -> Result<WorkspaceView, Error> {
        self.data(self.get(&format!("/v1/workspaces/{}", seg(id)))).await
    }

    /// `PATCH /v1/workspaces/{id}`
    pub async fn update_workspace(&self, id: &str, body: &UpdateWorkspace) -> Result<WorkspaceView, Error> {
        self.data(self.patch(&format!("/v1/workspaces/{}", seg(id)), body)).await
    }

    /// `DELETE /v1/workspaces/{id}`
    pub async fn delete_workspace(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/workspaces/{}", seg(id)))).await
    }

    /// `POST /v1/workspaces/{id}/mounts`: whether sandbox `sandboxId` may
    /// mount the workspace at `path`; allowed, a short-lived signed grant.
    pub async fn decide_mount(&self, id: &str, body: &MountRequest) -> Result<MountDecision, Error> {
        self.data(self.post(&format!("/v1/workspaces/{}/mounts", seg(id)), body)).await
    }

    /// `GET /v1/workspaces/grant-keys`: the public keys (a JWKS) that verify
    /// mount grants; needs no credential.
    pub async fn workspace_grant_keys(&self) -> Result<GrantKeys, Error> {
        self.call(self.get("/v1/workspaces/grant-keys")).await
    }

    /// `POST /v1/workspaces/{id}/presign`: a URL for one object of the
    /// workspace, valid `expiresIn` seconds.
    pub async fn presign_workspace_object(&self, id: &str, body: &PresignRequest) -> Result<PresignedUrl, Error> {
        self.data(self.post(&format!("/v1/workspaces/{}/presign", seg(id)), body)).await
    }

    /// `GET /v1/workspaces/{id}/files`: one page of the objects under
    /// `prefix`, by path, relative to the workspace. The wire's
    /// [`FileList`](latchkey_api_types::workspaces::FileList) is a page like
    /// any other, so [`Client::all`] follows it.
    pub async fn workspace_files(&self, id: &str, query: &WorkspaceFileQuery) -> Result<Paged<FileView>, Error> {
        self.call(self.get(&format!("/v1/workspaces/{}/files", seg(id))).query(query)).await
    }
}

#[cfg(test)]
mod tests {
    use latchkey_api_types::workspaces::WorkspaceKind;

    use crate::{Client, DEFAULT_URL, PageRequest, WorkspaceFileQuery, WorkspaceListQuery};

    fn url(req: reqwest::RequestBuilder) -> String {
        req.build().unwrap().url().to_string()
    }

    #[test]
    fn list_filters_go_in_the_query_string_and_only_when_set() {
        let c = Client::new(DEFAULT_URL).unwrap();
        let q = WorkspaceListQuery {
            all_org: true,
            kind: Some(WorkspaceKind::Personal),
            project_id: Some("prj_1".into()),
            page: PageRequest { limit: Some(5), cursor: Some("c1".into()) },
        };
        assert_eq!(
            url(c.get("/v1/workspaces").query(&q)),
            "http://127.0.0.1:7420/v1/workspaces?allOrg=true&kind=personal&projectId=prj_1&limit=5&cursor=c1"
        );
        let none = WorkspaceListQuery::default();
        assert_eq!(url(c.get("/v1/workspaces").query(&none)), "http://127.0.0.1:7420/v1/workspaces");
        let files = WorkspaceFileQuery { prefix: Some("notes/a b".into()), page: PageRequest::default() };
        assert_eq!(url(c.get("/x").query(&files)), "http://127.0.0.1:7420/x?prefix=notes%2Fa+b");
    }
}
