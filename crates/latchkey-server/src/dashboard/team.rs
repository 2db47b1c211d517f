//! Organization › Team: the members and their roles (`GET /v1/members`),
//! the pending invitations (`GET /v1/invitations`), and what admins do
//! there — change a role, remove a member, invite someone (the invitation
//! link shown once) and revoke an invitation — each through the API's own
//! handler, so its checks, its audit events and its errors (the last
//! admin's `last_admin`) are the API's. Members see those controls
//! disabled, with the API's reason.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_api_types::{CreateInvitation, InvitationView, MemberView, UpdateMember};
use latchkey_core::id::{InvitationId, UserId};
use serde::Deserialize;

use super::login::Empty;
use super::page::{Chrome, Problem, Reasons, done, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query};
use crate::routes::orgs;
use crate::state::AppState;

/// The Team page.
pub const TEAM: &str = "/dashboard/team";

/// Where an invitation link leads (`join.rs`).
pub const JOIN: &str = "/dashboard/join";

/// The id of the `Invite member` dialog.
const INVITE_DIALOG: &str = "invite";

/// Members listed per page.
const PAGE_SIZE: u32 = 100;

/// The Team page and its actions.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(TEAM, get(show))
        .route("/dashboard/team/members/{user_id}/role", post(change_role))
        .route("/dashboard/team/members/{user_id}/remove", post(remove))
        .route("/dashboard/team/invitations", post(invite))
        .route("/dashboard/team/invitations/{id}/revoke", post(revoke))
}

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
struct TeamParams {
    /// What was just done (a notice).
    done: Option<String>,
    /// The members' page after this cursor.
    cursor: Option<String>,
}

/// The notices after a change (`?done=…`).
const DONE: [(&str, &str); 3] =
    [("role", "Role changed."), ("removed", "Member removed."), ("revoked", "Invitation revoked.")];

/// A member as a row shows them.
struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: String,
    joined: String,
    /// The viewer themself (who may leave: the API lets members remove
    /// themselves).
    you: bool,
    /// The id of the reason the viewer may not remove this member (`None`:
    /// they may).
    remove_why: Option<String>,
    /// Its removal dialog is shown open (with the page's problem).
    open: bool,
}

impl MemberRow {
    fn new(m: MemberView, viewer: &Viewer, reasons: &mut Reasons) -> Self {
        let you = viewer.caller.user_id.as_deref() == Some(m.user_id.as_str());
        Self {
            remove_why: reasons.cite(if you { &orgs::LEAVE } else { &orgs::REMOVE_MEMBER }, viewer),
            you,
            open: false,
            joined: short_time(&m.joined_at),
            id: m.user_id,
            name: m.display_name,
            email: m.email,
            role: m.role,
        }
    }
}

/// A pending invitation as a row shows it (never its token: the API does
/// not list it).
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    created: String,
    expires: String,
}

impl From<InvitationView> for InvitationRow {
    fn from(i: InvitationView) -> Self {
        Self {
            created: short_time(&i.created_at),
            expires: short_time(&i.expires_at),
            id: i.id,
            email: i.email,
            role: i.role,
        }
    }
}

/// The invitation just made: its link, shown this once.
struct Invited {
    email: String,
    role: String,
    link: String,
}

/// The `Invite member` form's fields, as typed (shown again after a
/// refusal).
#[derive(Debug, Default, Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "dashboard/team.html")]
struct TeamPage {
    chrome: Chrome,
    members: Vec<MemberRow>,
    /// The next page of members.
    next: Option<String>,
    /// The pending invitations; `None` when the viewer may not see them.
    invitations: Option<Vec<InvitationRow>>,
    /// More pending invitations than are shown.
    more_invitations: bool,
    /// Why the viewer's controls are disabled.
    reasons: Reasons,
    /// The id of the reason the viewer may not manage members (invite,
    /// change roles; `None`: they may).
    manage_why: Option<String>,
    notice: Option<&'static str>,
    /// A refusal, shown in the dialog open or, without one, above the lists.
    problem: Option<Problem>,
    /// A dialog (the invitation's, or a member's removal) is shown open,
    /// with `problem`.
    dialog_open: bool,
    /// The invitation dialog is shown open, with `problem`.
    invite_open: bool,
    form: InviteForm,
    invited: Option<Invited>,
}

/// What a render of the page adds to the lists.
#[derive(Default)]
struct Extras {
    cursor: Option<String>,
    notice: Option<&'static str>,
    problem: Option<Problem>,
    open: Option<String>,
    form: InviteForm,
    invited: Option<Invited>,
}

/// The page for `viewer`, with `extras`, answered with `status`.
async fn page(state: &AppState, viewer: &Viewer, status: StatusCode, extras: Extras) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Team").await?;
    let q = PageQuery { limit: Some(PAGE_SIZE), cursor: extras.cursor };
    let listed = orgs::members(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let mut reasons = Reasons::default();
    let manage_why = reasons.cite(&orgs::UPDATE_MEMBER, viewer);
    let mut members: Vec<MemberRow> =
        listed.data.into_iter().map(|m| MemberRow::new(m, viewer, &mut reasons)).collect();
    let (invitations, more_invitations) = if manage_why.is_some() {
        (None, false)
    } else {
        let q = PageQuery { limit: Some(100), cursor: None };
        let pending = orgs::invitations(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
        (Some(pending.data.into_iter().map(InvitationRow::from).collect()), pending.next_cursor.is_some())
    };
    // A refusal in a dialog re-opens it: the invitation's, or a removal's
    // if its member is on the page. A dialog the viewer is not offered (a
    // member's) is not there: the refusal shows above the lists.
    let invite_open = manage_why.is_none() && extras.open.as_deref() == Some(INVITE_DIALOG);
    for m in &mut members {
        let named = extras.open.as_deref().and_then(|o| o.strip_prefix("remove-")) == Some(m.id.as_str());
        m.open = named && m.remove_why.is_none();
    }
    let dialog_open = invite_open || members.iter().any(|m| m.open);
    let t = TeamPage {
        chrome,
        members,
        next: listed.next_cursor,
        invitations,
        more_invitations,
        reasons,
        manage_why,
        notice: extras.notice,
        problem: extras.problem,
        dialog_open,
        invite_open,
        form: extras.form,
        invited: extras.invited,
    };
    Ok(render(status, &t))
}

/// The page again after the API refused `e`: its code and message, in the
/// dialog `open` if there is one, with what was typed.
async fn refused(
    state: &AppState,
    viewer: &Viewer,
    e: &ApiError,
    open: Option<String>,
    form: InviteForm,
) -> Result<Response, ApiError> {
    let problem = Some(Problem::new(e, viewer.request_id.as_deref()));
    page(state, viewer, e.status(), Extras { problem, open, form, ..Extras::default() }).await
}

/// `GET /dashboard/team`
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<TeamParams>,
) -> Result<Response, ApiError> {
    let cursor = p.cursor.filter(|c| !c.is_empty());
    let extras = Extras { cursor, notice: notice(p.done.as_deref(), &DONE), ..Extras::default() };
    page(&state, &viewer, StatusCode::OK, extras).await
}

/// The role form's field.
#[derive(Debug, Deserialize)]
struct RoleForm {
    role: String,
}

/// `POST /dashboard/team/members/{userId}/role`: `PATCH /v1/members/{userId}`.
async fn change_role(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    audit: Audit,
    s: Submitted<RoleForm>,
) -> Result<Response, ApiError> {
    let body = JsonBody(UpdateMember { role: s.form.role });
    match orgs::update_member(State(state.clone()), s.viewer.caller.clone(), audit, Path(user_id), body).await {
        Ok(_) => Ok(done(TEAM, "role")),
        Err(e) => refused(&state, &s.viewer, &e, None, InviteForm::default()).await,
    }
}

/// `POST /dashboard/team/members/{userId}/remove`: `DELETE
/// /v1/members/{userId}` (the confirmation dialog's form). Someone who
/// removed themself goes on to the organization they act in next.
async fn remove(
    State(state): State<AppState>,
    Path(user_id): Path<UserId>,
    audit: Audit,
    s: Submitted<Empty>,
) -> Result<Response, ApiError> {
    let left = s.viewer.caller.user_id.as_deref() == Some(user_id.as_str());
    let dialog = format!("remove-{user_id}");
    match orgs::remove_member(State(state.clone()), s.viewer.caller.clone(), audit, Path(user_id)).await {
        Ok(_) if left => Ok(Redirect::to(super::keys::HOME).into_response()),
        Ok(_) => Ok(done(TEAM, "removed")),
        Err(e) => refused(&state, &s.viewer, &e, Some(dialog), InviteForm::default()).await,
    }
}

/// `POST /dashboard/team/invitations`: `POST /v1/invitations`, answered
/// with the page and the invitation link in a dialog, this once (never
/// stored: the page is not cached, and a reload does not show it again).
async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    audit: Audit,
    s: Submitted<InviteForm>,
) -> Result<Response, ApiError> {
    let body = JsonBody(CreateInvitation { email: s.form.email.clone(), role: s.form.role.clone() });
    match orgs::invite(State(state.clone()), s.viewer.caller.clone(), audit, body).await {
        Ok((_, shown)) => {
            let view = shown.0.data;
            let link =
                invitation_link(&headers, state.settings.behind_https, view.token.as_deref().unwrap_or_default());
            let invited = Some(Invited { email: view.email, role: view.role, link });
            page(&state, &s.viewer, StatusCode::CREATED, Extras { invited, ..Extras::default() }).await
        }
        Err(e) => refused(&state, &s.viewer, &e, Some(INVITE_DIALOG.to_owned()), s.form).await,
    }
}

/// `POST /dashboard/team/invitations/{id}/revoke`: `DELETE /v1/invitations/{id}`.
async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<InvitationId>,
    audit: Audit,
    s: Submitted<Empty>,
) -> Result<Response, ApiError> {
    match orgs::revoke_invitation(State(state.clone()), s.viewer.caller.clone(), audit, Path(id)).await {
        Ok(_) => Ok(done(TEAM, "revoked")),
        Err(e) => refused(&state, &s.viewer, &e, None, InviteForm::default()).await,
    }
}

/// The link that lets the invited person in: the join page on the host the
/// admin reached (`Host`), with the token in the fragment, which browsers
/// never send: it reaches the server only in the join form's POST, never in
/// a logged path, a proxy's log or a `Referer`. Without a plausible `Host`,
/// the link is relative.
fn invitation_link(headers: &HeaderMap, https: bool, token: &str) -> String {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    match host {
        Some(host) => format!("{}://{host}{JOIN}#{token}", if https { "https" } else { "http" }),
        None => format!("{JOIN}#{token}"),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn host(h: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(h).unwrap());
        headers
    }

    #[test]
    fn the_invitation_link_carries_the_token_in_its_fragment_on_the_admins_host() {
        assert_eq!(
            invitation_link(&host("127.0.0.1:7420"), false, "lki_x"),
            "http://127.0.0.1:7420/dashboard/join#lki_x"
        );
        assert_eq!(
            invitation_link(&host("keys.example.com"), true, "lki_x"),
            "https://keys.example.com/dashboard/join#lki_x"
        );
        assert_eq!(invitation_link(&host("[::1]:7420"), false, "lki_x"), "http://[::1]:7420/dashboard/join#lki_x");
        for odd in ["evil.example/path?", "a b", "x\"y", "user@host"] {
            assert_eq!(invitation_link(&host(odd), false, "lki_x"), "/dashboard/join#lki_x", "{odd}");
        }
        assert_eq!(invitation_link(&HeaderMap::new(), false, "lki_x"), "/dashboard/join#lki_x");
    }
}
