//! People and their sessions (`/v1/auth/*`, `/v1/sessions`), and who the
//! caller is (`/v1/me`, `/v1/scopes`, `/v1/me/org`).

use latchkey_api_types::{
    InvitedSignUp, Login, MeView, OrgView, Paged, ScopeView, SessionGrant, SessionView, SignUp, SwitchOrg,
};

use crate::{Client, Error, PageRequest, seg};

impl Client {
    /// `POST /v1/auth/signup`: a user, their organization and a session.
    pub async fn signup(&self, body: &SignUp) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/signup", body)).await
    }

    /// `POST /v1/invitations/signup`: an account for the invited person, a
    /// member of the inviting organization, and a session acting in it.
    pub async fn signup_invited(&self, body: &InvitedSignUp) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/invitations/signup", body)).await
    }

    /// `POST /v1/auth/login`: a new session (its token is in the answer once).
    pub async fn login(&self, body: &Login) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/login", body)).await
    }

    /// `POST /v1/auth/logout`: ends the session this client uses.
    pub async fn logout(&self) -> Result<(), Error> {
        self.empty(self.post_empty("/v1/auth/logout")).await
    }

    /// `GET /v1/sessions`: the caller's active sessions.
    pub async fn sessions(&self, page: &PageRequest) -> Result<Paged<SessionView>, Error> {
        self.call(self.get("/v1/sessions").query(page)).await
    }

    /// `DELETE /v1/sessions/{id}`
    pub async fn revoke_session(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/sessions/{}", seg(id)))).await
    }

    /// `GET /v1/me`: who the caller is.
    pub async fn me(&self) -> Result<MeView, Error> {
        self.data(self.get("/v1/me")).await
    }

    /// `GET /v1/scopes`: the scope catalog.
    pub async fn scopes(&self) -> Result<Vec<ScopeView>, Error> {
        self.data(self.get("/v1/scopes")).await
    }

    /// `POST /v1/me/org`: the organization this session acts in by default.
    pub async fn switch_org(&self, org_id: &str) -> Result<OrgView, Error> {
        self.data(self.post("/v1/me/org", &SwitchOrg { org_id: org_id.to_owned() })).await
    }
}
