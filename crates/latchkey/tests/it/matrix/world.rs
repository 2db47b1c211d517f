//! The matrix's world: organization A with an admin, a member and a
//! bystander member, their keys, secrets, SSH keys, connected apps and
//! connects in progress, a project, a product and its surface; another organization's admin key; a host who invites
//! the callers elsewhere. And the request each operation is made of for
//! each caller, naming the records of the person the caller acts for, with
//! a fresh target wherever the operation consumes it (delete, revoke,
//! rotate, transfer, logout, leave, accept), so that no cell spoils another.

use latchkey_core::{Role, Scope, ScopeSet};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::declaration::{Facts, Operation};
use crate::common::{Api, PASSWORD, Person, TestServer, join_org, login, signup};
use crate::ssh_keys::keygen;

mod fixtures;

/// The columns of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No credential.
    Anonymous,
    /// The `*` key of another organization's admin.
    OtherAdmin,
    /// A member's login session.
    MemberSession,
    /// A member's key holding `org:read` and `secret:read`.
    MemberKey,
    /// An admin's key holding every catalog scope but the operation's
    /// `x-latchkey-scope` (`sandbox:read` alone where it names none).
    LackingKey,
    /// The admin's `*` key.
    AdminKey,
    /// The admin's login session.
    AdminSession,
}

impl Caller {
    pub const ALL: [Self; 7] = [
        Self::Anonymous,
        Self::OtherAdmin,
        Self::MemberSession,
        Self::MemberKey,
        Self::LackingKey,
        Self::AdminKey,
        Self::AdminSession,
    ];

    /// The column heading.
    pub fn label(self) -> &'static str {
        match self {
            Self::Anonymous => "anon",
            Self::OtherAdmin => "other",
            Self::MemberSession => "m-ses",
            Self::MemberKey => "m-key",
            Self::LackingKey => "lacks",
            Self::AdminKey => "a-key",
            Self::AdminSession => "a-ses",
        }
    }

    /// A member of organization A, whose 2xx on an admin-only operation
    /// would be an escalation.
    pub fn is_member(self) -> bool {
        matches!(self, Self::MemberSession | Self::MemberKey)
    }

    /// Whose records the caller's requests name: the member's for the
    /// member's credentials, the admin's for every other caller.
    fn actor(self) -> Actor {
        if self.is_member() { Actor::Member } else { Actor::Admin }
    }
}

#[derive(Debug, Clone, Copy)]
enum Actor {
    Admin,
    Member,
}

/// A person of organization A and what they own there.
struct Own {
    person: Person,
    /// Their session, acting in A.
    session: Api,
    /// A key of theirs the read and update cells name.
    key: String,
    /// A private secret of theirs.
    secret: String,
    /// A private SSH key of theirs.
    ssh_key: String,
    /// A connection of theirs to the provider `octo`.
    connection: String,
    /// A connect of theirs in progress.
    connect_request: String,
    /// A personal workspace of theirs.
    workspace: String,
}

/// One cell's request.
pub struct Call {
    pub api: Api,
    /// The caller's facts (`None`: no credential).
    pub facts: Option<Facts>,
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    /// Extra request headers (a signed leak report's).
    pub headers: Vec<(String, String)>,
    /// The path names a record of organization A, and the caller belongs
    /// to another organization.
    pub foreign: bool,
}

pub struct World {
    pub server: TestServer,
    /// Holds `latchkey.toml` (see [`World::new`]).
    _config: tempfile::TempDir,
    /// Where `ssh-keygen` writes.
    ssh_dir: tempfile::TempDir,
    /// The secret scanner whose reports the server takes (`[[leaks.signers]]`).
    scanner: crate::leaks::Scanner,
    org: String,
    org_name: String,
    admin: Own,
    member: Own,
    bystander: Person,
    /// The admin of the organizations that invite the callers.
    host: Person,
    other_admin: Api,
    admin_key: Api,
    member_key: (Api, String, ScopeSet),
    /// Keys lacking a scope, by that scope.
    lacking: Vec<(Option<Scope>, Api, ScopeSet)>,
    /// Every `resource:action` scope of the catalog.
    catalog: Vec<Scope>,
    project: String,
    /// An organization workspace (the admin's making), which every member
    /// mounts and reads.
    workspace: String,
    /// Whether the server has an object store (SeaweedFS, `crate::s3`).
    pub object_store: bool,
    product: String,
    surface: String,
    /// A webhook endpoint of organization A and a delivery of its test event.
    webhook: (String, String),
    /// Identifiers and secret values of organization A's records: no
    /// answer to another organization's admin may carry one it was not
    /// sent (the leak check).
    pub tenant: Vec<String>,
    seq: usize,
}

fn id_of(r: &crate::common::Resp, what: &str) -> String {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, r.text);
    let data = if r.body["data"].is_object() { &r.body["data"] } else { &r.body };
    data["id"].as_str().unwrap_or_else(|| panic!("{what}: no id in {}", r.text)).to_owned()
}

impl World {
    pub async fn new() -> Self {
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("latchkey.toml");
        // Every sign-up and every anonymous call comes from 127.0.0.1 here:
        // the per-address abuse limits (tested in hardening_authz.rs) are
        // raised so that they never answer in place of the authorization.
        // A connected-apps provider nothing is ever sent to: connects start
        // and connections exist (written to the database) without it.
        let toml = "signups_per_hour_per_ip = 1000\nfailed_auth_per_minute = 100000\n\n[[oauth.providers]]\n\
                    id = \"octo\"\ndisplay_name = \"Octo\"\nauthorize_url = \"http://127.0.0.1:9/authorize\"\n\
                    token_url = \"http://127.0.0.1:9/token\"\nscopes = [\"repo\"]\nclient_id = \"matrix\"\n";
        // Workspaces' files in SeaweedFS when it is installed (else their
        // two operations are skipped, and said so).
        let weed = crate::s3::weed().await;
        let storage = weed.map(|w| format!("\n{}", w.toml()));
        // A secret scanner: its reports are the one public operation whose
        // answer needs a signature.
        let scanner = crate::leaks::Scanner::new("matrix-scanner");
        std::fs::write(&file, format!("{toml}\n{}{}", scanner.toml(), storage.unwrap_or_default())).unwrap();
        let server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
        let other_admin = server.admin();
        let me = other_admin.get("/v1/me").await;
        assert_eq!((me.body["data"]["role"].as_str(), &me.body["data"]["scopes"]), (Some("admin"), &json!(["*"])));

        let admin = signup(&server, "matrix-admin@example.com", "Matrix A").await;
        let org = admin.org_id.clone();
        let admin_session = server.with_session_in_org(&admin.token, &org);
        let member = join_org(&server, &admin_session, &org, "matrix-member@example.com", "member").await;
        let member_session = server.with_session_in_org(&member.token, &org);
        let bystander = join_org(&server, &admin_session, &org, "matrix-bystander@example.com", "member").await;
        let host = signup(&server, "matrix-host@example.com", "Matrix host").await;

        let (admin_key_id, admin_key) =
            TestServer::create_key(&admin_session, json!({"name": "matrix admin", "scopes": ["*"]})).await;
        let narrow = ["org:read", "secret:read"];
        let (member_key_id, member_key) =
            TestServer::create_key(&member_session, json!({"name": "matrix member", "scopes": narrow})).await;
        let scopes = admin_session.get("/v1/scopes").await;
        let catalog = scopes.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"].as_str().is_some_and(|a| a != "*"))
            .map(|s| Scope::parse(s["scope"].as_str().unwrap()).unwrap())
            .collect();

        let org_name = "Matrix A".to_owned();
        let mut world = Self {
            other_admin,
            admin_key: server.with_key(&admin_key),
            member_key: (server.with_key(&member_key), member_key.clone(), ScopeSet::from_stored(&narrow)),
            _config: config,
            ssh_dir: tempfile::tempdir().unwrap(),
            scanner,
            tenant: vec![
                org.clone(),
                admin.user_id.clone(),
                member.user_id.clone(),
                bystander.user_id.clone(),
                admin.email.clone(),
                member.email.clone(),
                bystander.email.clone(),
                admin_key_id,
                member_key_id,
            ],
            admin: Own {
                person: admin,
                session: admin_session,
                key: String::new(),
                secret: String::new(),
                ssh_key: String::new(),
                connection: String::new(),
                connect_request: String::new(),
                workspace: String::new(),
            },
            member: Own {
                person: member,
                session: member_session,
                key: String::new(),
                secret: String::new(),
                ssh_key: String::new(),
                connection: String::new(),
                connect_request: String::new(),
                workspace: String::new(),
            },
            org,
            org_name,
            bystander,
            host,
            lacking: Vec::new(),
            catalog,
            project: String::new(),
            workspace: String::new(),
            object_store: false,
            product: String::new(),
            surface: String::new(),
            webhook: (String::new(), String::new()),
            seq: 0,
            server,
        };
        world.object_store = weed.is_some();
        for actor in [Actor::Admin, Actor::Member] {
            let key = world.fresh_key(actor).await;
            let secret = world.fresh_secret(actor).await;
            let ssh_key = world.fresh_ssh_key(actor).await;
            let connection = world.fresh_connection(actor).await;
            let r = world.own(actor).session.post("/v1/oauth/connect", json!({"provider": "octo"})).await;
            let connect_request = id_of(&r, "connect request");
            world.tenant.push(connect_request.clone());
            let workspace = world.fresh_workspace(actor).await;
            let own = world.own_mut(actor);
            own.workspace = workspace;
            (own.key, own.secret, own.ssh_key) = (key, secret, ssh_key);
            (own.connection, own.connect_request) = (connection, connect_request);
        }
        world.project = world.fresh_project().await;
        let body = json!({"name": "matrix shared", "kind": "org"});
        world.workspace = id_of(&world.admin.session.post("/v1/workspaces", body).await, "workspace");
        world.tenant.push(world.workspace.clone());
        let admin = world.admin.session.clone();
        world.product = id_of(&admin.post("/v1/products", json!({"name": "matrix"})).await, "product");
        let surfaces = format!("/v1/products/{}/surfaces", world.product);
        world.surface = id_of(&admin.post(&surfaces, json!({"name": "matrix"})).await, "surface");
        world.tenant.extend([world.product.clone(), world.surface.clone()]);
        let webhook = world.fresh_webhook().await;
        let r = admin.post(&format!("/v1/webhooks/{webhook}/test"), json!({})).await;
        assert_eq!(r.status, 202, "{}", r.text);
        let r = admin.get(&format!("/v1/webhooks/{webhook}/deliveries")).await;
        let delivery = r.body["data"][0]["id"].as_str().unwrap_or_else(|| panic!("no delivery: {}", r.text)).to_owned();
        world.tenant.push(delivery.clone());
        world.webhook = (webhook, delivery);
        world
    }

    /// A webhook endpoint of organization A (its URL is never reached).
    async fn fresh_webhook(&mut self) -> String {
        let body = json!({"url": "https://hooks.example.com/matrix", "events": ["api_key.expired"]});
        let id = id_of(&self.admin.session.post("/v1/webhooks", body).await, "webhook");
        self.tenant.push(id.clone());
        id
    }

    fn own(&self, actor: Actor) -> &Own {
        match actor {
            Actor::Admin => &self.admin,
            Actor::Member => &self.member,
        }
    }

    fn own_mut(&mut self, actor: Actor) -> &mut Own {
        match actor {
            Actor::Admin => &mut self.admin,
            Actor::Member => &mut self.member,
        }
    }

    /// A name no other cell uses.
    fn fresh(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{what}{}", self.seq)
    }

    fn fresh_email(&mut self) -> String {
        format!("{}@example.com", self.fresh("matrix-"))
    }

    async fn fresh_key(&mut self, actor: Actor) -> String {
        let name = self.fresh("target ");
        let body = json!({"name": name, "scopes": ["sandbox:read"]});
        let (id, _) = TestServer::create_key(&self.own(actor).session, body).await;
        self.tenant.push(id.clone());
        id
    }

    async fn fresh_secret(&mut self, actor: Actor) -> String {
        let name = self.fresh("MATRIX_SECRET_");
        let value = format!("matrix-value-{name}");
        let r = self
            .own(actor)
            .session
            .send(Method::PUT, &format!("/v1/secrets/{name}"), Some(secret_body(&value).to_string().into()))
            .await;
        self.tenant.extend([id_of(&r, "secret"), value]);
        name
    }

    fn fresh_public_key(&mut self) -> String {
        let name = self.fresh("ssh");
        keygen(self.ssh_dir.path(), &name, "ed25519", None).public
    }

    async fn fresh_ssh_key(&mut self, actor: Actor) -> String {
        let public_key = self.fresh_public_key();
        let body = json!({"name": "matrix", "publicKey": public_key});
        let id = id_of(&self.own(actor).session.post("/v1/ssh-keys", body).await, "SSH key");
        self.tenant.push(id.clone());
        id
    }

    /// A personal workspace of `actor`.
    async fn fresh_workspace(&mut self, actor: Actor) -> String {
        let body = json!({"name": self.fresh("matrix "), "kind": "personal"});
        let id = id_of(&self.own(actor).session.post("/v1/workspaces", body).await, "workspace");
        self.tenant.push(id.clone());
        id
    }

    async fn fresh_project(&mut self) -> String {
        let name = self.fresh("project ");
        let id = id_of(&self.admin.session.post("/v1/projects", json!({"name": name})).await, "project");
        self.tenant.push(id.clone());
        id
    }

    async fn fresh_invitation(&mut self) -> String {
        let email = self.fresh_email();
        let r = self.admin.session.post("/v1/invitations", json!({"email": email, "role": "member"})).await;
        let id = id_of(&r, "invitation");
        self.tenant.push(id.clone());
        id
    }

    /// Someone who joins organization A for this cell only.
    async fn fresh_member(&mut self) -> String {
        let email = self.fresh_email();
        let person = join_org(&self.server, &self.admin.session, &self.org, &email, "member").await;
        self.tenant.push(person.user_id.clone());
        person.user_id
    }

    /// A new login session of `actor`: (token, session id).
    async fn fresh_session(&self, actor: Actor) -> (String, String) {
        let r = login(&self.server, &self.own(actor).person.email, PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let data = &r.body["data"];
        (data["token"].as_str().unwrap().to_owned(), data["sessionId"].as_str().unwrap().to_owned())
    }

    /// An invitation token for `email` to an organization of its own,
    /// made by the host.
    async fn invitation_to_elsewhere(&mut self, email: &str) -> String {
        let name = self.fresh("Matrix host ");
        let r = self.server.with_bearer(&self.host.token).post("/v1/orgs", json!({"name": name})).await;
        let org = id_of(&r, "host organization");
        let host = self.server.with_session_in_org(&self.host.token, &org);
        let r = host.post("/v1/invitations", json!({"email": email, "role": "member"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["data"]["token"].as_str().unwrap().to_owned()
    }

    /// The key of [`Caller::LackingKey`] for an operation needing `scope`.
    async fn lacking(&mut self, scope: Option<&Scope>) -> (Api, ScopeSet) {
        if let Some((_, api, held)) = self.lacking.iter().find(|(s, ..)| s.as_ref() == scope) {
            return (api.clone(), held.clone());
        }
        let held: Vec<String> = match scope {
            None => vec!["sandbox:read".to_owned()],
            Some(needed) => {
                self.catalog.iter().filter(|s| !s.covers(needed) && !s.is_reserved()).map(ToString::to_string).collect()
            }
        };
        let body = json!({"name": format!("lacking {scope:?}"), "scopes": held});
        let (id, key) = TestServer::create_key(&self.admin.session, body).await;
        self.tenant.push(id);
        let entry = (scope.cloned(), self.server.with_key(&key), ScopeSet::from_stored(&held));
        self.lacking.push(entry.clone());
        (entry.1, entry.2)
    }

    /// `caller`'s client and facts for `op`.
    async fn credential(&mut self, caller: Caller, op: &Operation) -> (Api, Option<Facts>) {
        let key = |role, scopes| Some(Facts { session: false, role, scopes });
        let session = |role| Some(Facts { session: true, role, scopes: ScopeSet::all() });
        match caller {
            Caller::Anonymous => (self.server.anonymous(), None),
            Caller::OtherAdmin => (self.other_admin.clone(), key(Role::Admin, ScopeSet::all())),
            Caller::MemberSession => (self.member.session.clone(), session(Role::Member)),
            Caller::MemberKey => (self.member_key.0.clone(), key(Role::Member, self.member_key.2.clone())),
            Caller::LackingKey => {
                let (api, held) = self.lacking(op.declaration.scope.as_ref()).await;
                (api, key(Role::Admin, held))
            }
            Caller::AdminKey => (self.admin_key.clone(), key(Role::Admin, ScopeSet::all())),
            Caller::AdminSession => (self.admin.session.clone(), session(Role::Admin)),
        }
    }

    /// The request of `op` for `caller`: `Err` names an operation this
    /// file has no request for (a new route needs one here).
    pub async fn call(&mut self, op: &Operation, caller: Caller) -> Result<Call, String> {
        let (mut api, facts) = self.credential(caller, op).await;
        let actor = caller.actor();
        let session_caller = facts.as_ref().is_some_and(|f| f.session);
        let mut headers = Vec::new();
        // (path, body, whether the path names a record of organization A)
        let (path, body, names_record): (String, Option<Value>, bool) = match op.id.as_str() {
            "getHealth" | "getReadiness" | "getMetrics" | "getOpenApiDocument" | "getApiReference" => {
                (op.path.clone(), None, false)
            }
            "getApiReferenceFile" => ("/docs/swagger-ui.css".to_owned(), None, false),
            "signUp" => {
                let email = self.fresh_email();
                let body = json!({"email": email, "password": PASSWORD, "displayName": "m", "orgName": email});
                (op.path.clone(), Some(body), false)
            }
            // An invitation elsewhere: the answer names the organization joined.
            "signUpInvited" => {
                let email = self.fresh_email();
                let token = self.invitation_to_elsewhere(&email).await;
                let body = json!({"token": token, "password": PASSWORD, "displayName": "m"});
                (op.path.clone(), Some(body), false)
            }
            // The host's: the answer names the person the body names, and
            // that must not be one of organization A's (the leak check).
            "logIn" => {
                let body = json!({"email": self.host.email, "password": PASSWORD});
                (op.path.clone(), Some(body), false)
            }
            "logOut" => {
                // The session logged out is one of its own, not the column's.
                if session_caller {
                    let (token, _) = self.fresh_session(actor).await;
                    api = self.server.with_session_in_org(&token, &self.org);
                }
                (op.path.clone(), None, false)
            }
            "revokeSession" => {
                let (_, id) = self.fresh_session(actor).await;
                (format!("/v1/sessions/{id}"), None, true)
            }
            "listSessions"
            | "listOidcProviders"
            | "listMyIdentities"
            | "getMe"
            | "listScopes"
            | "listApiKeys"
            | "exportApiKeys"
            | "listOrgs"
            | "listMembers"
            | "listInvitations"
            | "listAuditEvents"
            | "listProjects"
            | "listProducts"
            | "listSecrets"
            | "listSshKeys"
            | "getAuthorizedKeys"
            | "checkForwardedRequest"
            | "checkForwardedRequestPost"
            | "listWorkspaces"
            | "listWebhooks"
            | "getWorkspaceGrantKeys" => (op.path.clone(), None, false),
            "createWebhook" => {
                let body = json!({"url": "https://hooks.example.com/made", "events": ["api_key.expired"]});
                (op.path.clone(), Some(body), false)
            }
            "getWebhook" | "listWebhookDeliveries" | "rotateWebhookSecret" | "testWebhook" => {
                (op.path.replace("{id}", &self.webhook.0), None, true)
            }
            "updateWebhook" => (op.path.replace("{id}", &self.webhook.0), Some(json!({"description": "matrix"})), true),
            "deleteWebhook" => (op.path.replace("{id}", &self.fresh_webhook().await), None, true),
            "retryWebhookDelivery" => {
                let path = op.path.replace("{id}", &self.webhook.0).replace("{deliveryId}", &self.webhook.1);
                (path, None, true)
            }
            "createApiKey" => {
                let body = json!({"name": self.fresh("created "), "scopes": ["sandbox:read"]});
                (op.path.clone(), Some(body), false)
            }
            "createApiKeys" => {
                let item = |name: String| json!({"name": name, "scopes": ["sandbox:read"]});
                let body = json!({"keys": [item(self.fresh("batch ")), item(self.fresh("batch "))]});
                (op.path.clone(), Some(body), false)
            }
            // A key of another system, by the hash of a plaintext no cell
            // used before (a hash is one key's).
            "importApiKeys" => {
                let digest = sha2::Sha256::digest(self.fresh("matrix-imported-key-").as_bytes());
                let value: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                let hash = json!({"algorithm": "sha256", "encoding": "hex", "value": value});
                let body = json!([{"hash": hash, "name": self.fresh("imported "), "scopes": ["sandbox:read"]}]);
                (op.path.clone(), Some(body), false)
            }
            "getApiKey" | "getApiKeyUsage" => (op.path.replace("{id}", &self.own(actor).key), None, true),
            "updateApiKey" => {
                let body = json!({"name": "renamed"});
                (op.path.replace("{id}", &self.own(actor).key), Some(body), true)
            }
            // A signed report of a token that is no key: anyone may send
            // one, and it changes nothing.
            "reportLeakedTokens" => {
                let body =
                    json!([{"token": "lk_live_not_a_key", "type": "latchkey_api_key", "url": "", "source": "content"}]);
                headers = self.scanner.headers(body.to_string().as_bytes());
                (op.path.clone(), Some(body), false)
            }
            "deleteApiKey" | "revokeApiKey" | "rotateApiKey" | "transferApiKey" | "reportApiKeyLeak" => {
                let id = self.fresh_key(actor).await;
                let body = (op.id == "transferApiKey").then(|| json!({"to": "org"}));
                (op.path.replace("{id}", &id), body, true)
            }
            "createAPIKey" => (op.path.clone(), Some(json!({"name": "runloop"})), false),
            "createRestrictedKey" => {
                let scope = json!({"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_READ"});
                (op.path.clone(), Some(json!({"name": "restricted", "scopes": [scope]})), false)
            }
            // Organization A's key: another organization's caller learns
            // nothing of it (the leak check), the 200 carries a verdict.
            "verifyKey" => (op.path.clone(), Some(json!({"key": self.member_key.1})), false),
            // The same key explained: another organization's caller finds
            // no such key (404), as it would find no other record of A.
            "explainKey" => (op.path.clone(), Some(json!({"key": self.member_key.1})), true),
            "createOrg" => (op.path.clone(), Some(json!({"name": self.fresh("Matrix made ")})), false),
            "getOrg" => (op.path.replace("{id}", &self.org), None, true),
            "updateOrg" => (op.path.replace("{id}", &self.org), Some(json!({"name": self.org_name})), true),
            "getKeyPolicy" => (op.path.replace("{id}", &self.org), None, true),
            "putKeyPolicy" => (op.path.replace("{id}", &self.org), Some(json!({})), true),
            "switchOrg" => (op.path.clone(), Some(json!({"orgId": self.org})), true),
            "updateMember" => {
                let path = op.path.replace("{userId}", &self.bystander.user_id);
                (path, Some(json!({"role": "member"})), true)
            }
            "removeMember" => (op.path.replace("{userId}", &self.fresh_member().await), None, true),
            "createInvitation" => {
                let body = json!({"email": self.fresh_email(), "role": "member"});
                (op.path.clone(), Some(body), false)
            }
            "revokeInvitation" => (op.path.replace("{id}", &self.fresh_invitation().await), None, true),
            "acceptInvitation" | "acceptInvitationInPath" => {
                let email = if session_caller { self.own(actor).person.email.clone() } else { self.fresh_email() };
                let token = self.invitation_to_elsewhere(&email).await;
                if op.id == "acceptInvitation" {
                    (op.path.clone(), Some(json!({"token": token})), false)
                } else {
                    (op.path.replace("{id}", &token), None, false)
                }
            }
            "createProject" => (op.path.clone(), Some(json!({"name": self.fresh("made ")})), false),
            "getProject" => (op.path.replace("{id}", &self.project), None, true),
            "updateProject" => (op.path.replace("{id}", &self.project), Some(json!({"name": "matrix"})), true),
            "deleteProject" => (op.path.replace("{id}", &self.fresh_project().await), None, true),
            "createProduct" => (op.path.clone(), Some(json!({"name": "made"})), false),
            "getProduct" | "listSurfaces" => (op.path.replace("{id}", &self.product), None, true),
            "createSurface" => (op.path.replace("{id}", &self.product), Some(json!({"name": "made"})), true),
            "getSurface" | "createSurfaceKey" => {
                let path = op.path.replace("{id}", &self.product).replace("{surfaceId}", &self.surface);
                let body = (op.id == "createSurfaceKey")
                    .then(|| json!({"name": "made", "scopes": ["read:products"], "environment": "production"}));
                (path, body, true)
            }
            "resolveSecrets" => (format!("{}?names={}", op.path, self.own(actor).secret), None, false),
            "getSecret" | "revealSecret" => (op.path.replace("{name}", &self.own(actor).secret), None, true),
            // An upsert in the caller's own organization: it names nothing
            // of another's. A fresh name, so that what another
            // organization's admin creates answers no later cell.
            "putSecret" => {
                let path = op.path.replace("{name}", &self.fresh_secret(actor).await);
                (path, Some(secret_body(&format!("matrix-put-{}", self.fresh("")))), false)
            }
            "deleteSecret" => (op.path.replace("{name}", &self.fresh_secret(actor).await), None, true),
            "createSshKey" => {
                let body = json!({"name": "made", "publicKey": self.fresh_public_key()});
                (op.path.clone(), Some(body), false)
            }
            "deleteSshKey" => (op.path.replace("{id}", &self.fresh_ssh_key(actor).await), None, true),
            "setDefaultSshKey" => (op.path.replace("{id}", &self.own(actor).ssh_key), None, true),
            "unlinkMyIdentity" => (op.path.replace("{id}", &self.fresh_identity(actor).await), None, true),
            "startDeviceAuthorization" => (op.path.clone(), Some(json!({"clientName": "matrix"})), false),
            "pollDeviceAuthorization" => {
                let body = json!({"deviceCode": self.fresh_approved_device().await});
                (op.path.clone(), Some(body), false)
            }
            "exchangeCliCode" => {
                let redirect_uri = "http://127.0.0.1:45678/callback";
                let code = self.fresh_cli_code(redirect_uri).await;
                let body = json!({"code": code, "codeVerifier": fixtures::CLI_VERIFIER, "redirectUri": redirect_uri});
                (op.path.clone(), Some(body), false)
            }
            "listOAuthProviders" | "listOAuthConnections" => (op.path.clone(), None, false),
            // The caller's own organization's: another organization's admin
            // sets and removes its own.
            "putOAuthProviderClient" => {
                (op.path.replace("{id}", "octo"), Some(json!({"clientId": self.fresh("matrix-client-")})), false)
            }
            "deleteOAuthProviderClient" => {
                let setter = if caller == Caller::OtherAdmin { &self.other_admin } else { &self.admin.session };
                let body = json!({"clientId": "matrix-own"}).to_string();
                let r = setter.send(Method::PUT, "/v1/oauth/providers/octo", Some(body.into())).await;
                assert_eq!(r.status, 200, "{}", r.text);
                (op.path.replace("{id}", "octo"), None, false)
            }
            "startOAuthConnect" => (op.path.clone(), Some(json!({"provider": "octo"})), false),
            "getOAuthConnect" => (op.path.replace("{id}", &self.own(actor).connect_request), None, true),
            "deleteOAuthConnection" => (op.path.replace("{id}", &self.fresh_connection(actor).await), None, true),
            "setDefaultOAuthConnection" => (op.path.replace("{id}", &self.own(actor).connection), None, true),
            // Reserved (`oauth:token`): no caller of the matrix holds it.
            "issueOAuthToken" => (op.path.clone(), Some(json!({"provider": "octo"})), false),
            // A personal workspace of the caller's own: a member changes
            // only their own; the organization's are the admins'.
            "createWorkspace" => {
                (op.path.clone(), Some(json!({"name": self.fresh("made "), "kind": "personal"})), false)
            }
            "getWorkspace" => (op.path.replace("{id}", &self.own(actor).workspace), None, true),
            "updateWorkspace" => {
                (op.path.replace("{id}", &self.own(actor).workspace), Some(json!({"quotaBytes": 1000})), true)
            }
            "deleteWorkspace" => (op.path.replace("{id}", &self.fresh_workspace(actor).await), None, true),
            // The organization's workspace: every member mounts it
            // read-only and reads its files.
            "decideWorkspaceMount" => {
                let body = json!({"sandboxId": "sbx_matrix", "path": "/workspace", "mode": "ro"});
                (op.path.replace("{id}", &self.workspace), Some(body), true)
            }
            "presignWorkspaceObject" => {
                let body = json!({"path": "matrix.txt", "method": "GET"});
                (op.path.replace("{id}", &self.workspace), Some(body), true)
            }
            "listWorkspaceFiles" => (op.path.replace("{id}", &self.workspace), None, true),
            other => return Err(format!("{} {} ({other}): no request for it in matrix/world.rs", op.method, op.path)),
        };
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let foreign = names_record && caller == Caller::OtherAdmin;
        Ok(Call { api, facts, method, path, body, headers, foreign })
    }
}

fn secret_body(value: &str) -> Value {
    json!({"value": value, "category": "tool"})
}
