//! Projects: `/v1/projects`.

use latchkey_api_types::{CreateProject, Paged, ProjectView, UpdateProject};

use crate::{Client, Error, PageRequest, seg};

impl Client {
    /// `POST /v1/projects`
    pub async fn create_project(&self, body: &CreateProject) -> Result<ProjectView, Error> {
        self.data(self.post("/v1/projects", body)).await
    }

    /// `GET /v1/projects`
    pub async fn projects(&self, page: &PageRequest) -> Result<Paged<ProjectView>, Error> {
        self.call(self.get("/v1/projects").query(page)).await
    }

    /// `GET /v1/projects/{id}`
    pub async fn project(&self, id: &str) -> Result<ProjectView, Error> {
        self.data(self.get(&format!("/v1/projects/{}", seg(id)))).await
    }

    /// `PATCH /v1/projects/{id}`
    pub async fn update_project(&self, id: &str, body: &UpdateProject) -> Result<ProjectView, Error> {
        self.data(self.patch(&format!("/v1/projects/{}", seg(id)), body)).await
    }

    /// `DELETE /v1/projects/{id}`
    pub async fn delete_project(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/projects/{}", seg(id)))).await
    }
}
