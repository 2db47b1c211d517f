//! Workspaces over HTTP (issue 24): records (`records.rs`), mount decisions
//! and their grants (`mounts.rs`), presigned URLs and listings against a
//! real S3 server (`files.rs`, SeaweedFS from `crate::s3`).

mod files;
mod mounts;
mod records;

use serde_json::{Value, json};

use crate::common::{Api, Person, Resp, TestServer, join_org};

/// A server with its first organization's admin and two members.
pub struct Org {
    pub server: TestServer,
    /// The first admin's `*` key.
    pub admin: Api,
    pub member: Api,
    pub member_person: Person,
    pub other_member: Api,
    /// Holds `latchkey.toml` when the server has one.
    _config: Option<tempfile::TempDir>,
}

impl Org {
    /// A server without an object store.
    pub async fn start() -> Self {
        Self::with_server(TestServer::start().await, None).await
    }

    /// A server whose `[workspaces.storage]` is `weed`.
    pub async fn with_store(weed: &crate::s3::Weed) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latchkey.toml");
        std::fs::write(&file, weed.toml()).unwrap();
        let server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
        Self::with_server(server, Some(dir)).await
    }

    async fn with_server(server: TestServer, config: Option<tempfile::TempDir>) -> Self {
        let admin = server.admin();
        let org = server.admin.org_id.clone();
        let member_person = join_org(&server, &admin, &org, "wsp-member@example.com", "member").await;
        let other = join_org(&server, &admin, &org, "wsp-other@example.com", "member").await;
        let member = server.with_session_in_org(&member_person.token, &org);
        let other_member = server.with_session_in_org(&other.token, &org);
        Self { server, admin, member, member_person, other_member, _config: config }
    }

    /// A key of the admin holding `scopes` (and bound to `project`).
    pub async fn admin_key(&self, scopes: &[&str], project: Option<&str>) -> Api {
        let mut body = json!({"name": format!("wsp {scopes:?}"), "scopes": scopes});
        if let Some(p) = project {
            body["projectId"] = json!(p);
        }
        let (_, key) = TestServer::create_key(&self.admin, body).await;
        self.server.with_key(&key)
    }

    /// A key of the member holding `scopes`.
    pub async fn member_key(&self, scopes: &[&str]) -> Api {
        let (_, key) = TestServer::create_key(&self.member, json!({"name": "wsp member", "scopes": scopes})).await;
        self.server.with_key(&key)
    }

    /// A project of the organization.
    pub async fn project(&self, name: &str) -> String {
        let r = self.admin.post("/v1/projects", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// The organization's audit events of `action` on `target`, newest first.
    pub async fn events(&self, action: &str, target: &str) -> Vec<Value> {
        let r = self.admin.get(&format!("/v1/audit-events?action={action}&targetId={target}&limit=100")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["data"].as_array().unwrap().clone()
    }
}

/// Creates a workspace as `api`, asserting 201; its view.
pub async fn create(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/workspaces", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"].clone()
}

/// The id of a workspace view.
pub fn id(w: &Value) -> String {
    w["id"].as_str().unwrap().to_owned()
}

/// Asserts an error's status and code.
#[track_caller]
pub fn refused(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.error_code()), (status, code), "{}", r.text);
}
