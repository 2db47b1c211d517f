//! Organizations, members, invitations and the audit trail: `/v1/orgs`,
//! `/v1/members`, `/v1/invitations`, `/v1/audit-events`.

use latchkey_api_types::{
    AcceptInvitation, AuditEventView, CreateInvitation, CreateOrg, InvitationView, MemberView, OrgView, Paged,
    UpdateMember, UpdateOrg,
};

use crate::{AuditQuery, Client, Error, PageRequest, seg};

impl Client {
    /// `GET /v1/orgs`: the caller's organizations.
    pub async fn orgs(&self, page: &PageRequest) -> Result<Paged<OrgView>, Error> {
        self.call(self.get("/v1/orgs").query(page)).await
    }

    /// `POST /v1/orgs`: a new organization with the caller as admin.
    pub async fn create_org(&self, body: &CreateOrg) -> Result<OrgView, Error> {
        self.data(self.post("/v1/orgs", body)).await
    }

    /// `GET /v1/orgs/{id}`
    pub async fn org(&self, id: &str) -> Result<OrgView, Error> {
        self.data(self.get(&format!("/v1/orgs/{}", seg(id)))).await
    }

    /// `PATCH /v1/orgs/{id}`
    pub async fn update_org(&self, id: &str, body: &UpdateOrg) -> Result<OrgView, Error> {
        self.data(self.patch(&format!("/v1/orgs/{}", seg(id)), body)).await
    }

    /// `GET /v1/members`
    pub async fn members(&self, page: &PageRequest) -> Result<Paged<MemberView>, Error> {
        self.call(self.get("/v1/members").query(page)).await
    }

    /// `PATCH /v1/members/{userId}`: change a member's role.
    pub async fn set_member_role(&self, user_id: &str, role: &str) -> Result<MemberView, Error> {
        let body = UpdateMember { role: role.to_owned() };
        self.data(self.patch(&format!("/v1/members/{}", seg(user_id)), &body)).await
    }

    /// `DELETE /v1/members/{userId}`
    pub async fn remove_member(&self, user_id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/members/{}", seg(user_id)))).await
    }

    /// `GET /v1/invitations`: pending invitations.
    pub async fn invitations(&self, page: &PageRequest) -> Result<Paged<InvitationView>, Error> {
        self.call(self.get("/v1/invitations").query(page)).await
    }

    /// `POST /v1/invitations`: the answer carries the one-time token.
    pub async fn invite(&self, body: &CreateInvitation) -> Result<InvitationView, Error> {
        self.shown(self.post("/v1/invitations", body)).await
    }

    /// `DELETE /v1/invitations/{id}`
    pub async fn revoke_invitation(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/invitations/{}", seg(id)))).await
    }

    /// `POST /v1/invitations/accept` `{token}`: joins the organization (the
    /// token travels in the body, never in a path that could be logged).
    pub async fn accept_invitation(&self, token: &str) -> Result<OrgView, Error> {
        let body = AcceptInvitation { token: token.to_owned() };
        self.data(self.post("/v1/invitations/accept", &body)).await
    }

    /// `GET /v1/audit-events`: newest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Paged<AuditEventView>, Error> {
        self.call(self.get("/v1/audit-events").query(query)).await
    }
}
