//! Who a verified identity signs in as: the account linked to it by
//! (issuer, subject); else, with `link_by_verified_email`, the account whose
//! email both sides verified; else, with `jit`, a new account in the
//! configured organization; else 403 `no_account`. And linking an identity
//! to the signed-in person who asked for it.

use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::id::{IdentityId, UserId};
use latchkey_core::time_fmt::now_ms;
use latchkey_store::{Conflict, Identity, NewUser, StoreError, Unique, User};
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::dashboard::{SESSION_COOKIE, cookie, signed_in};
use crate::error::ApiError;
use crate::oidc::{ProviderConfig, Verified};
use crate::routes::people::{first_org, new_session};
use crate::state::AppState;

/// The identity record for `who` at `config`, for `user_id`.
fn identity_of(config: &ProviderConfig, who: &Verified, user_id: &UserId, now: i64) -> Identity {
    Identity {
        id: IdentityId::new(),
        user_id: user_id.clone(),
        provider: config.id.clone(),
        issuer: config.issuer.clone(),
        subject: who.subject.clone(),
        email: who.email.clone(),
        created_at: now,
        last_used_at: Some(now),
    }
}

/// Links `who` to the signed-in `user_id`, who started the linking: only
/// when this browser's session is still theirs.
pub(super) async fn link(
    state: &AppState,
    audit: &Audit,
    parts: &Parts,
    config: &ProviderConfig,
    who: &Verified,
    user_id: &UserId,
    return_to: &str,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let caller = match cookie(&parts.headers, SESSION_COOKIE) {
        Some(token) => crate::auth::session_caller(state, None, token, now).await.ok(),
        None => None,
    };
    let Some(caller) = caller.filter(|c| c.user_id.as_ref() == Some(user_id)) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "link_session_mismatch",
            "the identity can be linked only while the person who asked for it is signed in here",
        ));
    };
    match state.store.identity(&config.issuer, &who.subject).await? {
        Some(existing) if existing.user_id == *user_id => {}
        Some(_) => return Err(linked_elsewhere(config)),
        None => {
            let identity = identity_of(config, who, user_id, now);
            let event = audit.event_by(
                &caller,
                "identity.link",
                Some(("identity", &identity.id)),
                &json!({"provider": config.id, "subject": who.subject}),
            );
            match state.store.link_identity(&identity, &event).await {
                Err(StoreError::Conflict(Conflict::Unique { what: Unique::Identity })) => {
                    return Err(linked_elsewhere(config));
                }
                other => other?,
            }
        }
    }
    Ok(Redirect::to(return_to).into_response())
}

fn linked_elsewhere(config: &ProviderConfig) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "identity_linked_elsewhere",
        format!("this {} identity is linked to another account", config.display_name),
    )
}

/// Signs `who` in: a linked identity, an account found by verified email
/// (when allowed), a new account (just in time), or `no_account`.
pub(super) async fn sign_in(
    state: &AppState,
    audit: &Audit,
    parts: &Parts,
    config: &ProviderConfig,
    who: &Verified,
    return_to: &str,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let known = state.store.identity(&config.issuer, &who.subject).await?;
    let identity = match known {
        Some(identity) => identity,
        None => match linkable(state, config, who).await? {
            Some(user) => {
                let identity = identity_of(config, who, &user.id, now);
                let org = first_org(state, &user.id).await?;
                let actor = Actor { kind: "user", id: Some(&user.id) };
                let details = json!({"provider": config.id, "subject": who.subject, "by": "verified_email"});
                let event =
                    audit.event(org.as_ref(), actor, "identity.link", Some(("identity", &identity.id)), &details);
                match state.store.link_identity(&identity, &event).await {
                    // Linked meanwhile by a concurrent sign-in: sign in with it.
                    Err(StoreError::Conflict(Conflict::Unique { what: Unique::Identity })) => state
                        .store
                        .identity(&config.issuer, &who.subject)
                        .await?
                        .ok_or_else(|| ApiError::conflict("the identity changed meanwhile; sign in again"))?,
                    other => {
                        other?;
                        identity
                    }
                }
            }
            None => return just_in_time(state, audit, parts, config, who, return_to).await,
        },
    };
    let org = first_org(state, &identity.user_id).await?;
    let (token, session) = new_session(state, &identity.user_id, org.clone(), audit, &parts.headers, now)?;
    let actor = Actor { kind: "user", id: Some(&identity.user_id) };
    let details = json!({"via": "oidc", "provider": config.id});
    let event = audit.event(org.as_ref(), actor, "session.create", Some(("session", &session.id)), &details);
    state.store.sign_in_with_identity(&identity.id, who.email.as_deref(), &session, &event).await?;
    tracing::info!(user_id = %identity.user_id, provider = %config.id, "signed in through an identity provider");
    Ok(signed_in(state, token.expose(), return_to))
}

/// The account an unknown identity may be linked to by email: only with
/// `link_by_verified_email`, and when the provider and latchkey both
/// verified that email.
async fn linkable(state: &AppState, config: &ProviderConfig, who: &Verified) -> Result<Option<User>, ApiError> {
    if !config.link_by_verified_email || !who.email_verified {
        return Ok(None);
    }
    let Some(email) = who.email.as_deref() else { return Ok(None) };
    Ok(state.store.verified_user_by_email(email).await?)
}

/// 403 `no_account`, saying what the person can do.
fn no_account(config: &ProviderConfig, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "no_account",
        format!(
            "no latchkey account is linked to this {} identity{why}; ask an admin for an invitation, or sign in \
             with your password and link {} in Settings",
            config.display_name, config.display_name
        ),
    )
}

/// Creates the person in the `jit` organization, when configured and their
/// email allows it.
async fn just_in_time(
    state: &AppState,
    audit: &Audit,
    parts: &Parts,
    config: &ProviderConfig,
    who: &Verified,
    return_to: &str,
) -> Result<Response, ApiError> {
    let Some(jit) = &config.jit else { return Err(no_account(config, "")) };
    let Some(email) = who.email.as_deref().and_then(latchkey_core::text::check_email) else {
        return Err(no_account(config, " (the provider shared no email address)"));
    };
    if !config.email_allowed(&email) {
        return Err(no_account(config, " (this email's domain may not sign up)"));
    }
    let Some(org) = state.store.org_by_id_or_slug(&jit.org).await? else {
        tracing::error!(provider = %config.id, org = %jit.org, "auth.oidc jit names an organization that does not exist");
        return Err(no_account(config, " (the organization for new people is missing)"));
    };
    let now = now_ms();
    let fallback = email.split('@').next().unwrap_or(&email).to_owned();
    let display_name =
        who.name.as_deref().and_then(|n| latchkey_core::text::check_name(n).ok()).map_or(fallback, str::to_owned);
    let user = NewUser { id: UserId::new(), email: email.to_owned(), display_name, created_at: now };
    let identity = identity_of(config, who, &user.id, now);
    let (token, session) = new_session(state, &user.id, Some(org.id.clone()), audit, &parts.headers, now)?;
    let actor = Actor { kind: "user", id: Some(&user.id) };
    let events = [
        audit.event(
            Some(&org.id),
            actor,
            "user.jit_create",
            Some(("user", &user.id)),
            &json!({"provider": config.id, "role": jit.role.as_str(), "identity": identity.id}),
        ),
        audit.event(
            Some(&org.id),
            actor,
            "session.create",
            Some(("session", &session.id)),
            &json!({"via": "oidc", "provider": config.id}),
        ),
    ];
    let created = state
        .store
        .sign_up_with_identity(&user, who.email_verified, &org.id, jit.role, &identity, &session, &events)
        .await;
    match created {
        Ok(()) => {}
        Err(StoreError::Conflict(Conflict::Unique { what: Unique::UserEmail })) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "account_exists",
                format!(
                    "an account with {email} exists but is not linked to {0}; sign in with its password and link {0} \
                     in Settings",
                    config.display_name
                ),
            ));
        }
        Err(StoreError::Conflict(Conflict::Unique { what: Unique::Identity })) => {
            return Err(ApiError::conflict("this identity was linked meanwhile; sign in again"));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, org_id = %org.id, provider = %config.id, "account created at first sign-in");
    Ok(signed_in(state, token.expose(), return_to))
}
