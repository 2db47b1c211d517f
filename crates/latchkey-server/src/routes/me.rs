//! `GET /v1/me` and `GET /v1/scopes`.

use axum::Json;
use axum::extract::State;
use latchkey_api_types::{Data, MeView, ScopeView, UserView};

use crate::auth::{Caller, Credential};
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::org_view;

/// Who may call [`me`].
const ME: AuthCheck = AuthCheck::any();

/// `GET /v1/me`: who the caller is. Any valid credential.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    tag = "people",
    responses((status = 200, description = "The caller: user, organization, role, credential, scopes", body = Data<MeView>)),
    extensions(("x-latchkey-auth" = json!(ME)))
)]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Data<MeView>>, ApiError> {
    ME.check(&caller)?;
    let org = state.store.get_org(&caller.org_id).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    let user = match &caller.user_id {
        Some(id) => state.store.get_user(id).await?,
        None => None,
    };
    Ok(Json(Data {
        data: MeView {
            user: user.map(|u| UserView { id: u.id.into(), email: u.email, display_name: u.display_name }),
            org: org_view(&org, caller.role),
            role: Some(caller.role.as_str().to_owned()),
            auth_type: match caller.credential {
                Credential::Key(_) => "api_key",
                Credential::Session(_) => "session",
            }
            .to_owned(),
            key_id: caller.key().map(|k| k.id().to_owned()),
            scopes: caller.scopes().to_strings(),
        },
    }))
}

/// Who may call [`scopes`].
const SCOPES: AuthCheck = AuthCheck::any();

/// `GET /v1/scopes`: the catalog, with each resource's wildcard. Any valid
/// credential.
#[utoipa::path(
    get,
    path = "/v1/scopes",
    operation_id = "listScopes",
    tag = "people",
    responses((status = 200, description = "The scope catalog, with each resource's wildcard", body = Data<Vec<ScopeView>>)),
    extensions(("x-latchkey-auth" = json!(SCOPES)))
)]
pub async fn scopes(State(state): State<AppState>, caller: Caller) -> Result<Json<Data<Vec<ScopeView>>>, ApiError> {
    SCOPES.check(&caller)?;
    let mut out = vec![ScopeView {
        scope: "*".to_owned(),
        resource: None,
        action: None,
        description: "Full API key access for the organization".to_owned(),
    }];
    for (resource, res) in state.settings.catalog.resources() {
        out.push(ScopeView {
            scope: format!("{resource}:*"),
            resource: Some(resource.to_owned()),
            action: Some("*".to_owned()),
            description: res.description.clone(),
        });
        for action in &res.actions {
            out.push(ScopeView {
                scope: format!("{resource}:{action}"),
                resource: Some(resource.to_owned()),
                action: Some(action.clone()),
                description: format!("{}: {action}", res.description),
            });
        }
    }
    Ok(Json(Data { data: out }))
}
