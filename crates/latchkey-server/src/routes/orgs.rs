//! `/v1/orgs`, `/v1/me/org`, `/v1/members`, `/v1/invitations`,
//! `/v1/audit-events`: organizations and who belongs to them.
//!
//! Every lookup is scoped: an organization the caller does not belong to,
//! and a member, invitation or event of another organization, is 404.
//! Admin-only actions answer a member 403 `forbidden`. The last admin of an
//! organization can be neither demoted nor removed (409 `last_admin`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::{
    AcceptInvitation, AuditEventView, CreateInvitation, CreateOrg, Data, ErrorEnvelope, InvitationView, MemberView,
    OrgView, Paged, RefView, Shown, SwitchOrg, UpdateMember, UpdateOrg,
};
use latchkey_core::id::{IdKind, InvitationId, OrgId, UserId, is_valid, slugify};
use latchkey_core::time_fmt::{Millis, now_ms, parse_rfc3339, to_rfc3339};
use latchkey_core::{KeyPrefix, PlainKey, Role};
use latchkey_store::{AcceptError, AuditFilter, Invitation, LeakAction, Member, NewOrg, OrgPatch, Session};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Credential};
use crate::authz::{AuthCheck, ORG_MEMBERS, ORG_READ, ORG_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_email, check_name, paginate};
use crate::lookup::{self, INVITATION_PREFIX, invitation_hash};
use crate::routes::oauth;
use crate::state::AppState;
use crate::views::{org_view, stored_leak_action};

/// Managing the members: changing roles, removing them, inviting.
const MANAGE_MEMBERS: AuthCheck = AuthCheck::any().admin().scope(ORG_MEMBERS);
/// A member leaving (removing themself): their session, or a key of theirs
/// holding `org:members` (a narrow key cannot take its owner out).
pub(crate) const LEAVE: AuthCheck = AuthCheck::any().key_scope(ORG_MEMBERS);

/// Invitations are valid this long.
const INVITATION_TTL_MS: Millis = 7 * 86_400_000;

fn member_view(m: &Member) -> MemberView {
    MemberView {
        user_id: m.user.id.to_string(),
        email: m.user.email.clone(),
        display_name: m.user.display_name.clone(),
        role: m.role.as_str().to_owned(),
        joined_at: to_rfc3339(m.joined_at),
    }
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    role.parse().map_err(|_| ApiError::bad_request("role must be `admin` or `member`"))
}

/// A URL-safe slug as given: 2–64 lowercase letters, digits and `-`.
fn check_slug(slug: &str) -> Result<String, ApiError> {
    let ok = (2..=64).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok { Ok(slug.to_owned()) } else { Err(ApiError::bad_request("slug must be 2-64 of a-z, 0-9 and `-`")) }
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/orgs`: the organizations of the caller's user (a key: its own).
#[utoipa::path(
    get,
    path = "/v1/orgs",
    operation_id = "listOrgs",
    tag = "orgs",
    params(PageQuery),
    responses((status = 200, description = "The organizations of the caller's user (a key: its own)", body = Paged<OrgView>)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<OrgView>>, ApiError> {
    LIST.check(&caller)?;
    let page = q.page()?;
    match (&caller.credential, &caller.user_id) {
        (Credential::Session(_), Some(user)) => {
            let rows = state.store.user_orgs(user, &page).await?;
            let (rows, next_cursor) = paginate(rows, page.limit, |(o, _)| &o.id);
            Ok(Json(Paged { data: rows.iter().map(|(o, r)| org_view(o, *r)).collect(), next_cursor }))
        }
        _ => {
            let (org, role) = lookup::org_role(&state, &caller, &caller.org_id).await?;
            let data = if page.before.as_deref().is_some_and(|c| c <= org.id.as_str()) {
                Vec::new()
            } else {
                vec![org_view(&org, role)]
            };
            Ok(Json(Paged { data, next_cursor: None }))
        }
    }
}

/// Who may call [`create`].
const CREATE: AuthCheck = AuthCheck::session_only();

/// `POST /v1/orgs`: a new organization; its creator (a person) is its admin.
#[utoipa::path(
    post,
    path = "/v1/orgs",
    operation_id = "createOrg",
    tag = "orgs",
    request_body = CreateOrg,
    responses((status = 201, description = "The organization; its creator is its admin", body = Data<OrgView>), (status = 409, description = "`conflict`: the slug is taken", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateOrg>,
) -> Result<(StatusCode, Json<Data<OrgView>>), ApiError> {
    let session = CREATE.check_session(&caller)?;
    let name = check_name(&req.name)?;
    let slug = match &req.slug {
        Some(s) => check_slug(s)?,
        None => slugify(&name),
    };
    let org = NewOrg {
        id: OrgId::new(),
        name,
        slug,
        members_see_all_keys: false,
        leak_action: LeakAction::default(),
        created_at: now_ms(),
    };
    let event = audit.event(
        Some(&org.id),
        Actor::from(&caller),
        "org.create",
        Some(("org", &org.id)),
        &json!({"name": org.name}),
    );
    state.store.create_org(&org, &session.user_id, &event).await?;
    Ok((StatusCode::CREATED, Json(Data { data: org_view(&org, Role::Admin) })))
}

/// Who may call [`get`].
const GET: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/orgs/{id}`
#[utoipa::path(
    get,
    path = "/v1/orgs/{id}",
    operation_id = "getOrg",
    tag = "orgs",
    params(("id" = String, Path, description = "The organization (`org_…`)")),
    responses((status = 200, description = "The organization", body = Data<OrgView>), (status = 404, description = "`not_found`: no organization of the caller's with this id", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrgId>,
) -> Result<Json<Data<OrgView>>, ApiError> {
    GET.check(&caller)?;
    let (org, role) = lookup::org_role(&state, &caller, &id).await?;
    Ok(Json(Data { data: org_view(&org, role) }))
}

/// Who may call [`update`].
pub(crate) const UPDATE: AuthCheck =
    AuthCheck::any().admin_because("changing the organization needs the admin role").key_scope(ORG_WRITE);

/// `PATCH /v1/orgs/{id}` `{name?, slug?, membersSeeAllKeys?, leakAction?}`:
/// admins.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{id}",
    operation_id = "updateOrg",
    tag = "orgs",
    params(("id" = String, Path, description = "The organization (`org_…`)")),
    request_body = UpdateOrg,
    responses((status = 200, description = "The organization", body = Data<OrgView>), (status = 404, description = "`not_found`: no organization of the caller's with this id", body = ErrorEnvelope), (status = 409, description = "`conflict`: the slug is taken", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(UPDATE)))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<OrgId>,
    JsonBody(req): JsonBody<UpdateOrg>,
) -> Result<Json<Data<OrgView>>, ApiError> {
    let (_, role) = lookup::org_role(&state, &caller, &id).await?;
    UPDATE.check_as(&caller, role)?;
    let patch = OrgPatch {
        name: req.name.as_deref().map(check_name).transpose()?,
        slug: req.slug.as_deref().map(check_slug).transpose()?,
        members_see_all_keys: req.members_see_all_keys,
        leak_action: req.leak_action.map(stored_leak_action),
    };
    let details = json!({
        "name": patch.name,
        "slug": patch.slug,
        "membersSeeAllKeys": patch.members_see_all_keys,
        "leakAction": patch.leak_action.map(LeakAction::as_str),
    });
    let event = audit.event(Some(&id), Actor::from(&caller), "org.update", Some(("org", &id)), &details);
    let org = state.store.update_org(&id, &patch, &event).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(Json(Data { data: org_view(&org, role) }))
}

/// Who may call [`switch`].
const SWITCH: AuthCheck = AuthCheck::session_only();

/// `POST /v1/me/org` `{orgId}`: the organization this session acts in when
/// a request names none.
#[utoipa::path(
    post,
    path = "/v1/me/org",
    operation_id = "switchOrg",
    tag = "orgs",
    request_body = SwitchOrg,
    responses((status = 200, description = "The organization the session now acts in", body = Data<OrgView>), (status = 404, description = "`not_found`: no organization of the caller's with this id", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SWITCH)))
)]
pub async fn switch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<SwitchOrg>,
) -> Result<Json<Data<OrgView>>, ApiError> {
    let session = SWITCH.check_session(&caller)?;
    let (org, role) = lookup::org_role(&state, &caller, &OrgId::from(req.org_id)).await?;
    state.store.set_session_org(&session.id, &org.id).await?;
    Ok(Json(Data { data: org_view(&org, role) }))
}

/// Who may call [`members`].
const MEMBERS: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/members`
#[utoipa::path(
    get,
    path = "/v1/members",
    operation_id = "listMembers",
    tag = "orgs",
    params(PageQuery),
    responses((status = 200, description = "A page of members", body = Paged<MemberView>)),
    extensions(("x-latchkey-auth" = json!(MEMBERS)))
)]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<MemberView>>, ApiError> {
    MEMBERS.check(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_members(&caller.org_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |m| &m.user.id);
    Ok(Json(Paged { data: rows.iter().map(member_view).collect(), next_cursor }))
}

/// Evicts a member's keys from every node's verifier after their role
/// changed or they left, so the very next request sees it.
async fn invalidate_member_keys(state: &AppState, org_id: &OrgId, user_id: &UserId) -> Result<(), ApiError> {
    let hashes = state.store.owned_key_hashes(org_id, user_id).await?;
    state.invalidate_keys(&hashes).await;
    Ok(())
}

/// Who may call [`update_member`].
pub(crate) const UPDATE_MEMBER: AuthCheck = MANAGE_MEMBERS;

/// `PATCH /v1/members/{userId}` `{role}`: admins.
#[utoipa::path(
    patch,
    path = "/v1/members/{userId}",
    operation_id = "updateMember",
    tag = "orgs",
    params(("userId" = String, Path, description = "The member (`usr_…`)")),
    request_body = UpdateMember,
    responses((status = 200, description = "The member", body = Data<MemberView>), (status = 404, description = "`not_found`: no such member of the caller's organization", body = ErrorEnvelope), (status = 409, description = "`last_admin`: an organization needs an admin", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(UPDATE_MEMBER)))
)]
pub async fn update_member(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(user_id): Path<UserId>,
    JsonBody(req): JsonBody<UpdateMember>,
) -> Result<Json<Data<MemberView>>, ApiError> {
    UPDATE_MEMBER.check(&caller)?;
    let role = parse_role(&req.role)?;
    if !is_valid(IdKind::User, &user_id) {
        return Err(ApiError::not_found("member"));
    }
    let event = audit.event_by(&caller, "member.update", Some(("member", &user_id)), &json!({"role": role.as_str()}));
    let member = state
        .store
        .set_role(&caller.org_id, &user_id, role, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    invalidate_member_keys(&state, &caller.org_id, &user_id).await?;
    Ok(Json(Data { data: member_view(&member) }))
}

/// Who may call [`remove_member`].
pub(crate) const REMOVE_MEMBER: AuthCheck = MANAGE_MEMBERS;

/// `DELETE /v1/members/{userId}`: admins, or members leaving (with their
/// session, or a key holding `org:members`: a narrow key cannot take its
/// owner out of the organization). The member's own keys stop working at
/// once; organization-owned keys they created do not. Their connected apps
/// in the organization are deleted with them and revoked at the providers.
#[utoipa::path(
    delete,
    path = "/v1/members/{userId}",
    operation_id = "removeMember",
    tag = "orgs",
    params(("userId" = String, Path, description = "The member (`usr_…`)")),
    responses((status = 204, description = "Removed; their own keys stop working at once"), (status = 404, description = "`not_found`: no such member of the caller's organization", body = ErrorEnvelope), (status = 409, description = "`last_admin`: an organization needs an admin", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REMOVE_MEMBER)))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(user_id): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    let leaving = caller.user_id.as_deref() == Some(user_id.as_str());
    if leaving { LEAVE } else { REMOVE_MEMBER }.check(&caller)?;
    if !is_valid(IdKind::User, &user_id) {
        return Err(ApiError::not_found("member"));
    }
    // Their connected apps here go with them (in the removal's
    // transaction); read first, with their tokens, to revoke the grants.
    let connected = oauth::connections::of_member(&state, &caller.org_id, &user_id).await?;
    let details = json!({"left": leaving, "oauthConnectionsDeleted": connected.len()});
    let event = audit.event_by(&caller, "member.remove", Some(("member", &user_id)), &details);
    if !state.store.remove_member(&caller.org_id, &user_id, &event).await? {
        return Err(ApiError::not_found("member"));
    }
    invalidate_member_keys(&state, &caller.org_id, &user_id).await?;
    oauth::connections::revoke_departed(state, connected);
    Ok(StatusCode::NO_CONTENT)
}

fn invitation_view(i: &Invitation, token: Option<&PlainKey>) -> InvitationView {
    InvitationView {
        id: i.id.to_string(),
        token: token.map(|t| t.expose().to_owned()),
        email: i.email.clone(),
        role: i.role.as_str().to_owned(),
        expires_at: to_rfc3339(i.expires_at),
        created_at: to_rfc3339(i.created_at),
    }
}

/// Who may call [`invite`].
pub(crate) const INVITE: AuthCheck = MANAGE_MEMBERS;

/// `POST /v1/invitations` `{email, role}`: admins; the token is shown once.
#[utoipa::path(
    post,
    path = "/v1/invitations",
    operation_id = "createInvitation",
    tag = "orgs",
    request_body = CreateInvitation,
    responses((status = 201, description = "The invitation, its token shown this once", body = Shown<InvitationView>)),
    extensions(("x-latchkey-auth" = json!(INVITE)))
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateInvitation>,
) -> Result<(StatusCode, Json<Shown<InvitationView>>), ApiError> {
    INVITE.check(&caller)?;
    let email = check_email(&req.email)?;
    let role = parse_role(&req.role)?;
    let now = now_ms();
    let token = PlainKey::generate(&KeyPrefix::new(INVITATION_PREFIX).map_err(|e| ApiError::internal(&e))?);
    let invitation = Invitation {
        id: InvitationId::new(),
        org_id: caller.org_id.clone(),
        email,
        role,
        token_hash: token.hash(),
        invited_by: caller.user_id.clone(),
        created_at: now,
        expires_at: now + INVITATION_TTL_MS,
        accepted_at: None,
        revoked_at: None,
    };
    let details = json!({"email": invitation.email, "role": role.as_str()});
    let event = audit.event_by(&caller, "invitation.create", Some(("invitation", &invitation.id)), &details);
    state.store.insert_invitation(&invitation, &event).await?;
    Ok((
        StatusCode::CREATED,
        Json(Shown {
            data: invitation_view(&invitation, Some(&token)),
            message: "Send this token to the invited person; it is shown once and valid for 7 days.".to_owned(),
        }),
    ))
}

/// Who may call [`invitations`].
pub(crate) const INVITATIONS: AuthCheck = MANAGE_MEMBERS;

/// `GET /v1/invitations`: pending invitations (admins; never the tokens).
#[utoipa::path(
    get,
    path = "/v1/invitations",
    operation_id = "listInvitations",
    tag = "orgs",
    params(PageQuery),
    responses((status = 200, description = "Pending invitations (never their tokens)", body = Paged<InvitationView>)),
    extensions(("x-latchkey-auth" = json!(INVITATIONS)))
)]
pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<InvitationView>>, ApiError> {
    INVITATIONS.check(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_invitations(&caller.org_id, now_ms(), &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |i| &i.id);
    Ok(Json(Paged { data: rows.iter().map(|i| invitation_view(i, None)).collect(), next_cursor }))
}

/// Who may call [`revoke_invitation`].
const REVOKE_INVITATION: AuthCheck = MANAGE_MEMBERS;

/// `DELETE /v1/invitations/{id}`: revokes a pending invitation (admins).
#[utoipa::path(
    delete,
    path = "/v1/invitations/{id}",
    operation_id = "revokeInvitation",
    tag = "orgs",
    params(("id" = String, Path, description = "The invitation (`inv_…`)")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "`not_found`: no such pending invitation", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REVOKE_INVITATION)))
)]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<InvitationId>,
) -> Result<StatusCode, ApiError> {
    REVOKE_INVITATION.check(&caller)?;
    let event = audit.event_by(&caller, "invitation.delete", Some(("invitation", &id)), &json!({}));
    if !is_valid(IdKind::Invitation, &id)
        || !state.store.revoke_invitation(&caller.org_id, &id, now_ms(), &event).await?
    {
        return Err(ApiError::not_found("invitation"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Who may call [`accept`].
const ACCEPT: AuthCheck = AuthCheck::session_only();

/// `POST /v1/invitations/accept` `{token}`: the invited person (by email)
/// joins with their session.
#[utoipa::path(
    post,
    path = "/v1/invitations/accept",
    operation_id = "acceptInvitation",
    tag = "orgs",
    request_body = AcceptInvitation,
    responses((status = 200, description = "The organization joined", body = Data<OrgView>), (status = 403, description = "`forbidden`: the invitation is for another email address (or the credential is a key)", body = ErrorEnvelope), (status = 404, description = "`not_found`: the token is unknown, used, revoked or expired", body = ErrorEnvelope), (status = 409, description = "`conflict`: already a member", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(ACCEPT)))
)]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<AcceptInvitation>,
) -> Result<Json<Data<OrgView>>, ApiError> {
    let session = ACCEPT.check_session(&caller)?;
    accept_token(&state, session, &audit, &req.token).await
}

/// Who may call [`accept_in_path`].
const ACCEPT_IN_PATH: AuthCheck = AuthCheck::session_only();

/// `POST /v1/invitations/{token}/accept`: the older form of [`accept`],
/// kept for clients that use it (the request span logs its path with the
/// token redacted, see `app.rs`).
#[utoipa::path(
    post,
    path = "/v1/invitations/{id}/accept",
    operation_id = "acceptInvitationInPath",
    tag = "orgs",
    params(("id" = String, Path, description = "The invitation token (`lki_…`); prefer `POST /v1/invitations/accept`, which keeps it out of the path")),
    responses((status = 200, description = "The organization joined", body = Data<OrgView>), (status = 403, description = "`forbidden`: the invitation is for another email address (or the credential is a key)", body = ErrorEnvelope), (status = 404, description = "`not_found`: the token is unknown, used, revoked or expired", body = ErrorEnvelope), (status = 409, description = "`conflict`: already a member", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(ACCEPT_IN_PATH)))
)]
pub async fn accept_in_path(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(token): Path<String>,
) -> Result<Json<Data<OrgView>>, ApiError> {
    let session = ACCEPT_IN_PATH.check_session(&caller)?;
    accept_token(&state, session, &audit, &token).await
}

/// Joins the organization of the invitation `token` for the user of
/// `session`.
async fn accept_token(
    state: &AppState,
    session: &Session,
    audit: &Audit,
    token: &str,
) -> Result<Json<Data<OrgView>>, ApiError> {
    let hash = invitation_hash(token)?;
    let user = state.store.get_user(&session.user_id).await?.ok_or_else(ApiError::unauthorized)?;
    let event = |i: &Invitation| {
        let actor = Actor { kind: "user", id: Some(&user.id) };
        let details = json!({"role": i.role.as_str()});
        audit.event(Some(&i.org_id), actor, "invitation.accept", Some(("invitation", &i.id)), &details)
    };
    let invitation = match state.store.accept_invitation(&hash, &user, now_ms(), &event).await? {
        Ok(i) => i,
        Err(AcceptError::NotFound) => return Err(ApiError::not_found("invitation")),
        Err(AcceptError::WrongUser) => {
            return Err(ApiError::forbidden("this invitation is for another email address"));
        }
        Err(AcceptError::AlreadyMember) => return Err(ApiError::conflict("you are already a member")),
    };
    let org = state.store.get_org(&invitation.org_id).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(Json(Data { data: org_view(&org, invitation.role) }))
}

/// `GET /v1/audit-events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action (`api_key.create`, …).
    pub action: Option<String>,
    /// Only events by this user or key.
    pub actor_id: Option<String>,
    /// Only events on this target.
    pub target_id: Option<String>,
    /// Not before this time (RFC 3339).
    pub since: Option<String>,
    /// Not after this time (RFC 3339).
    pub until: Option<String>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Who may call [`audit_events`].
pub(crate) const AUDIT_EVENTS: AuthCheck = AuthCheck::any().admin().scope(ORG_READ);

/// `GET /v1/audit-events`: the organization's trail, newest first (admins).
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    operation_id = "listAuditEvents",
    tag = "orgs",
    params(AuditQuery),
    responses((status = 200, description = "A page of the audit trail, newest first", body = Paged<AuditEventView>)),
    extensions(("x-latchkey-auth" = json!(AUDIT_EVENTS)))
)]
pub async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Paged<AuditEventView>>, ApiError> {
    AUDIT_EVENTS.check(&caller)?;
    let time = |field: &str, v: Option<&str>| {
        v.map(|t| parse_rfc3339(t).ok_or_else(|| ApiError::bad_request(format!("{field} must be an RFC 3339 time"))))
            .transpose()
    };
    let filter = AuditFilter {
        action: q.action,
        actor_id: q.actor_id,
        target_id: q.target_id,
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
    };
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let rows = state.store.list_events(&caller.org_id, &filter, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |e| &e.id);
    let data = rows
        .into_iter()
        .map(|e| AuditEventView {
            at: to_rfc3339(e.at),
            actor: RefView { kind: e.actor_type, id: e.actor_id },
            target: e.target_type.map(|kind| RefView { kind, id: e.target_id }),
            details: serde_json::from_str(&e.details).unwrap_or_else(|_| json!({})),
            id: e.id.into(),
            action: e.action,
            ip: e.ip,
            request_id: e.request_id,
        })
        .collect();
    Ok(Json(Paged { data, next_cursor }))
}
