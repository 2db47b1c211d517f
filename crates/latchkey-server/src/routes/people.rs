//! `/v1/auth/signup`, `/v1/auth/login`, `/v1/auth/logout`, `/v1/sessions`:
//! people and their login sessions.
//!
//! A session token (`lks_…`, 190 random bits and a checksum, like a key) is
//! shown once, in the sign-up or login answer; only its SHA-256 is stored.
//! Passwords are argon2id (hashed on the blocking pool). A wrong email and a
//! wrong password get the same answer after the same work, and failures are
//! counted per account and client address (a low limit), per account from
//! every address (a much higher one, so that an attacker cannot lock a person
//! out) and per client address: over a limit, attempts are refused with 429
//! before any password is checked. Sign-ups are counted per client address
//! (an hour's window), and a duplicate email is refused before its password
//! is hashed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use latchkey_api_types::{
    Data, ErrorEnvelope, InvitedSignUp, Login, OrgView, Paged, SessionGrant, SessionView, SignUp, UserView,
};
use latchkey_core::id::{IdKind, OrgId, SessionId, UserId, is_valid, slugify};
use latchkey_core::password::{PasswordError, check_password, hash_password, verify_password};
use latchkey_core::time_fmt::{Millis, now_ms, to_rfc3339};
use latchkey_core::{KeyPrefix, PlainKey};
use latchkey_store::{AcceptError, Conflict, NewOrg, NewUser, Page, Session, StoreError, Unique, User};
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, SESSION_PREFIX, client_subject};
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_email, check_name, paginate};
use crate::lookup::invitation_hash;
use crate::state::AppState;
use crate::views::org_view;

/// The one answer to every failed login.
const BAD_LOGIN: &str = "invalid email or password";

fn password_error(e: &PasswordError) -> ApiError {
    match e {
        PasswordError::Length => ApiError::bad_request(e.to_string()),
        PasswordError::Hash => ApiError::internal(e),
    }
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| password_error(&e))
}

pub(crate) fn user_view(u: &User) -> UserView {
    UserView { id: u.id.to_string(), email: u.email.clone(), display_name: u.display_name.clone() }
}

/// A new session for `user_id` acting in `org_id` by default, and its token.
pub(crate) fn new_session(
    state: &AppState,
    user_id: &UserId,
    org_id: Option<OrgId>,
    audit: &Audit,
    headers: &HeaderMap,
    now: Millis,
) -> Result<(PlainKey, Session), ApiError> {
    let prefix = KeyPrefix::new(SESSION_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let token = PlainKey::generate(&prefix);
    let user_agent =
        headers.get("user-agent").and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(255).collect::<String>());
    let session = Session {
        id: SessionId::new(),
        user_id: user_id.clone(),
        token_hash: token.hash(),
        current_org_id: org_id,
        ip: audit.ip.clone(),
        user_agent,
        created_at: now,
        expires_at: now + state.settings.session_ttl_ms,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((token, session))
}

/// The answer that hands a new session's token over (once).
pub(crate) fn session_grant(token: &PlainKey, session: &Session, user: &User) -> SessionGrant {
    SessionGrant {
        token: token.expose().to_owned(),
        expires_at: to_rfc3339(session.expires_at),
        session_id: session.id.to_string(),
        user: user_view(user),
        org: None,
    }
}

/// Signs `user` in: a new session acting in `org_id` (their first
/// organization when `None`), stored with its `session.create` event, whose
/// details say how they signed in (`via`: `cli`, `device`, …).
pub(crate) async fn open_session(
    state: &AppState,
    audit: &Audit,
    headers: &HeaderMap,
    user: &User,
    org_id: Option<OrgId>,
    via: &str,
) -> Result<SessionGrant, ApiError> {
    let current = match org_id {
        Some(id) => Some(id),
        None => first_org(state, &user.id).await?,
    };
    let (token, session) = new_session(state, &user.id, current.clone(), audit, headers, now_ms())?;
    let actor = Actor { kind: "user", id: Some(&user.id) };
    let event =
        audit.event(current.as_ref(), actor, "session.create", Some(("session", &session.id)), &json!({"via": via}));
    state.store.insert_session(&session, &event).await?;
    tracing::info!(user_id = %user.id, via, "signed in");
    Ok(session_grant(&token, &session, user))
}

/// The person's first organization, which a new session acts in when
/// nothing names another.
pub(crate) async fn first_org(state: &AppState, user_id: &UserId) -> Result<Option<OrgId>, ApiError> {
    let orgs = state.store.user_orgs(user_id, &Page { limit: 1, before: None }).await?;
    Ok(orgs.into_iter().next().map(|(o, _)| o.id))
}

/// The message of a duplicate sign-up (the same whether the duplicate is
/// found before hashing or by the store).
const EMAIL_TAKEN: &str = "an account with this email exists; log in";

/// The sign-up budget `parts`' client address draws on, or 429 if it is
/// spent.
fn signup_address(state: &AppState, parts: &Parts) -> Result<String, ApiError> {
    let address = format!("ip:{}", client_subject(parts, &state.settings).as_deref().unwrap_or("-"));
    if let Some(wait) = state.signups.blocked(&address, state.settings.signups_per_hour_per_ip) {
        tracing::warn!("sign-up refused: too many from this address");
        return Err(ApiError::rate_limited("too many sign-ups from this address; try again later", wait));
    }
    Ok(address)
}

/// Who may call [`signup`].
const SIGNUP: AuthCheck = AuthCheck::public();

/// `POST /v1/auth/signup`: a user, their organization and a session.
#[utoipa::path(
    post,
    path = "/v1/auth/signup",
    operation_id = "signUp",
    tag = "people",
    request_body = SignUp,
    responses((status = 201, description = "The user, their organization and a session token (shown once)", body = Data<SessionGrant>), (status = 403, description = "`signup_disabled`: sign-up is turned off on this server", body = ErrorEnvelope), (status = 409, description = "`conflict`: an account with this email exists", body = ErrorEnvelope), (status = 429, description = "`rate_limited`: too many sign-ups from this address (`Retry-After`)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SIGNUP)))
)]
pub async fn signup(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    JsonBody(req): JsonBody<SignUp>,
) -> Result<(StatusCode, Json<Data<SessionGrant>>), ApiError> {
    if !state.settings.signup {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "signup_disabled",
            "sign-up is turned off on this server; ask an admin for an invitation",
        ));
    }
    let address = signup_address(&state, &parts)?;
    let email = check_email(&req.email)?;
    let display_name = check_name(&req.display_name).map_err(|e| e.prefixed("displayName"))?;
    let org_name = check_name(&req.org_name).map_err(|e| e.prefixed("orgName"))?;
    check_password(&req.password).map_err(|e| password_error(&e))?;
    state.signups.record(&address);
    // A duplicate costs one indexed lookup, not an argon2 hash; the answer
    // is the one the store gives when two sign-ups race.
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::conflict(EMAIL_TAKEN));
    }
    let password_hash = hash_blocking(req.password).await?;
    let now = now_ms();
    let user = NewUser { id: UserId::new(), email, display_name, created_at: now };
    let org = NewOrg {
        id: OrgId::new(),
        slug: slugify(&org_name),
        name: org_name,
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
        created_at: now,
    };
    let (token, session) = new_session(&state, &user.id, Some(org.id.clone()), &audit, &parts.headers, now)?;
    let actor = Actor { kind: "user", id: Some(&user.id) };
    let events = [
        audit.event(Some(&org.id), actor, "user.signup", Some(("user", &user.id)), &json!({})),
        audit.event(Some(&org.id), actor, "org.create", Some(("org", &org.id)), &json!({"name": org.name})),
        audit.event(Some(&org.id), actor, "session.create", Some(("session", &session.id)), &json!({})),
    ];
    match state.store.sign_up(&user, &password_hash, &org, &session, &events).await {
        Ok(()) => {}
        Err(StoreError::Conflict(Conflict::Unique { what: Unique::UserEmail })) => {
            return Err(ApiError::conflict(EMAIL_TAKEN));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, org_id = %org.id, "signed up");
    let grant = SessionGrant {
        token: token.expose().to_owned(),
        expires_at: to_rfc3339(session.expires_at),
        session_id: session.id.into(),
        user: user_view(&user),
        org: Some(OrgView {
            id: org.id.into(),
            name: org.name,
            slug: org.slug,
            role: Some("admin".to_owned()),
            members_see_all_keys: Some(false),
            leak_action: Some(crate::views::leak_action_view(org.leak_action)),
            created_at: Some(to_rfc3339(org.created_at)),
        }),
    };
    Ok((StatusCode::CREATED, Json(Data { data: grant })))
}

/// The message of an invited sign-up whose email has an account.
const INVITED_EMAIL_TAKEN: &str = "an account with the invited email exists; log in with it and accept the invitation";

/// Who may call [`signup_invited`].
const SIGNUP_INVITED: AuthCheck = AuthCheck::public();

/// `POST /v1/invitations/signup` `{token, password, displayName}`: an
/// account for the invited person (the invitation's email), a member of the
/// inviting organization with the invited role, and a session acting in it.
/// Open when sign-up is turned off: an invitation is how people join then.
/// Counted with sign-ups per client address; an invalid token is refused
/// before the password is hashed.
#[utoipa::path(
    post,
    path = "/v1/invitations/signup",
    operation_id = "signUpInvited",
    tag = "people",
    request_body = InvitedSignUp,
    responses((status = 201, description = "The new user, the organization joined and a session token (shown once)", body = Data<SessionGrant>), (status = 404, description = "`not_found`: the token is unknown, used, revoked or expired", body = ErrorEnvelope), (status = 409, description = "`conflict`: an account with the invited email exists (log in and accept the invitation)", body = ErrorEnvelope), (status = 429, description = "`rate_limited`: too many sign-ups from this address (`Retry-After`)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SIGNUP_INVITED)))
)]
pub async fn signup_invited(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    JsonBody(req): JsonBody<InvitedSignUp>,
) -> Result<(StatusCode, Json<Data<SessionGrant>>), ApiError> {
    let address = signup_address(&state, &parts)?;
    let display_name = check_name(&req.display_name).map_err(|e| e.prefixed("displayName"))?;
    check_password(&req.password).map_err(|e| password_error(&e))?;
    let hash = invitation_hash(&req.token)?;
    state.signups.record(&address);
    let invitation =
        state.store.pending_invitation(&hash, now_ms()).await?.ok_or_else(|| ApiError::not_found("invitation"))?;
    if state.store.user_by_email(&invitation.email).await?.is_some() {
        return Err(ApiError::conflict(INVITED_EMAIL_TAKEN));
    }
    let password_hash = hash_blocking(req.password).await?;
    let now = now_ms();
    let user = NewUser { id: UserId::new(), email: invitation.email.clone(), display_name, created_at: now };
    let org_id = invitation.org_id.clone();
    let (token, session) = new_session(&state, &user.id, Some(org_id.clone()), &audit, &parts.headers, now)?;
    let actor = Actor { kind: "user", id: Some(&user.id) };
    let role = json!({"role": invitation.role.as_str()});
    let events = [
        audit.event(
            Some(&org_id),
            actor,
            "user.signup",
            Some(("user", &user.id)),
            &json!({"invitation": invitation.id}),
        ),
        audit.event(Some(&org_id), actor, "invitation.accept", Some(("invitation", &invitation.id)), &role),
        audit.event(Some(&org_id), actor, "session.create", Some(("session", &session.id)), &json!({})),
    ];
    match state.store.sign_up_invited(&hash, &user, &password_hash, &session, now, &events).await {
        Ok(Ok(_)) => {}
        // Used, revoked or expired since it was read.
        Ok(Err(AcceptError::NotFound | AcceptError::WrongUser)) => return Err(ApiError::not_found("invitation")),
        Ok(Err(AcceptError::AlreadyMember))
        | Err(StoreError::Conflict(Conflict::Unique { what: Unique::UserEmail })) => {
            return Err(ApiError::conflict(INVITED_EMAIL_TAKEN));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, org_id = %org_id, "signed up by invitation");
    let org = state.store.get_org(&org_id).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    let grant = SessionGrant {
        token: token.expose().to_owned(),
        expires_at: to_rfc3339(session.expires_at),
        session_id: session.id.into(),
        user: user_view(&user),
        org: Some(org_view(&org, invitation.role)),
    };
    Ok((StatusCode::CREATED, Json(Data { data: grant })))
}

/// Who may call [`login`].
const LOGIN: AuthCheck = AuthCheck::public();

/// `POST /v1/auth/login`: a session for a correct email and password.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "logIn",
    tag = "people",
    request_body = Login,
    responses((status = 200, description = "A session token (shown once)", body = Data<SessionGrant>), (status = 401, description = "`unauthorized`: wrong email or password (the same answer for both)", body = ErrorEnvelope), (status = 429, description = "`rate_limited`: too many failed logins for this account or from this address (`Retry-After`)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LOGIN)))
)]
pub async fn login(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    JsonBody(req): JsonBody<Login>,
) -> Result<Json<Data<SessionGrant>>, ApiError> {
    let ip = client_subject(&parts, &state.settings).unwrap_or_else(|| "-".to_owned());
    let email = req.email.trim().to_lowercase();
    // Counted as given, at most as long as an email can be (254).
    let counted: String = email.chars().take(254).collect();
    let account = format!("account:{counted}");
    let account_here = format!("account:{counted} ip:{ip}");
    let address = format!("ip:{ip}");
    let (limits, failures) = (&state.settings, &state.login_failures);
    if let Some(wait) = failures
        .blocked(&account_here, limits.login_failures_per_account_and_ip)
        .or_else(|| failures.blocked(&account, limits.login_failures_per_account))
        .or_else(|| failures.blocked(&address, limits.login_failures_per_ip))
    {
        tracing::warn!("login refused: too many failures");
        return Err(ApiError::rate_limited("too many failed logins; try again later", wait));
    }
    let found = state.store.user_by_email(&email).await?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let orgs = match &found {
        Some((u, _)) => state.store.user_orgs(&u.id, &Page { limit: 100, before: None }).await?,
        None => Vec::new(),
    };
    let Some((user, _)) = found.filter(|_| ok) else {
        for subject in [&account_here, &account, &address] {
            failures.record(subject);
        }
        let actor = Actor { kind: "anonymous", id: None };
        // Only an address is kept: anything else (up to the body limit)
        // may be a password typed into the wrong field.
        let details = json!({"email": latchkey_core::text::check_email(&email)});
        for (org, _) in &orgs {
            audit.record(&state, Some(&org.id), actor, "auth.login_failed", None, details.clone()).await;
        }
        if orgs.is_empty() {
            audit.record(&state, None, actor, "auth.login_failed", None, details).await;
        }
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", BAD_LOGIN));
    };
    let now = now_ms();
    let current = orgs.first().map(|(o, _)| o.id.clone());
    let (token, session) = new_session(&state, &user.id, current.clone(), &audit, &parts.headers, now)?;
    let actor = Actor { kind: "user", id: Some(&user.id) };
    let event = audit.event(current.as_ref(), actor, "session.create", Some(("session", &session.id)), &json!({}));
    state.store.insert_session(&session, &event).await?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(Json(Data { data: session_grant(&token, &session, &user) }))
}

/// Who may call [`logout`].
const LOGOUT: AuthCheck = AuthCheck::session_only();

/// `POST /v1/auth/logout`: ends the session used for this request.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logOut",
    tag = "people",
    responses((status = 204, description = "The session is ended")),
    extensions(("x-latchkey-auth" = json!(LOGOUT)))
)]
pub async fn logout(State(state): State<AppState>, caller: Caller, audit: Audit) -> Result<StatusCode, ApiError> {
    let session = LOGOUT.check_session(&caller)?;
    let event = audit.event_by(&caller, "session.revoke", Some(("session", &session.id)), &json!({"reason": "logout"}));
    state.store.revoke_session(&session.user_id, &session.id, now_ms(), &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn session_view(s: &Session, current: &str) -> SessionView {
    SessionView {
        id: s.id.to_string(),
        created_at: to_rfc3339(s.created_at),
        expires_at: to_rfc3339(s.expires_at),
        last_used_at: s.last_used_at.map(to_rfc3339),
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        current: s.id == current,
    }
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::session_only();

/// `GET /v1/sessions`: the caller's active sessions.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    operation_id = "listSessions",
    tag = "people",
    params(PageQuery),
    responses((status = 200, description = "The caller's active sessions, newest first", body = Paged<SessionView>)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<SessionView>>, ApiError> {
    let me = LIST.check_session(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_sessions(&me.user_id, now_ms(), &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |s| &s.id);
    Ok(Json(Paged { data: rows.iter().map(|s| session_view(s, &me.id)).collect(), next_cursor }))
}

/// Who may call [`revoke`].
const REVOKE: AuthCheck = AuthCheck::session_only();

/// `DELETE /v1/sessions/{id}`: revokes one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    operation_id = "revokeSession",
    tag = "people",
    params(("id" = String, Path, description = "The session (`ses_…`)")),
    responses((status = 204, description = "The session is revoked"), (status = 404, description = "`not_found`: no such session of the caller's", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REVOKE)))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<SessionId>,
) -> Result<StatusCode, ApiError> {
    let me = REVOKE.check_session(&caller)?;
    let event = audit.event_by(&caller, "session.revoke", Some(("session", &id)), &json!({}));
    if !is_valid(IdKind::Session, &id) || !state.store.revoke_session(&me.user_id, &id, now_ms(), &event).await? {
        return Err(ApiError::not_found("session"));
    }
    Ok(StatusCode::NO_CONTENT)
}
