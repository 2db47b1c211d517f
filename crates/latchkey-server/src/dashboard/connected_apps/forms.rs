//! The Connected apps page's forms, each a call of the API's handler with
//! the viewer's caller: connecting (then on to latchkey's authorization
//! page), setting the default, disconnecting, and an organization's client
//! credentials. A refusal shows the page again with the API's error where
//! the form was.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_api_types::Data;
use latchkey_api_types::oauth::{PutOAuthClient, StartConnect};
use serde::Deserialize;

use super::{Form, Outcome, PATH, Place, RETURN_COOKIE, show};
use crate::audit::Audit;
use crate::dashboard::page::done;
use crate::dashboard::session::{Submitted, set_cookie};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::routes::oauth::connect::{PENDING_MS, start};
use crate::routes::oauth::{connections, providers};
use crate::state::AppState;

/// The view the form was sent from (a hidden field), to come back to.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Back {
    #[serde(default)]
    all: bool,
}

impl Back {
    fn place(&self) -> Place {
        Place { all: self.all, connect: None }
    }

    /// See Other to the page of this view, announcing `code`.
    fn done(&self, code: &str) -> Response {
        done(if self.all { "/dashboard/connected-apps?all=true" } else { PATH }, code)
    }
}

/// A provider's connect form, or a row's Reconnect.
#[derive(Debug, Deserialize)]
pub(super) struct ConnectForm {
    provider: String,
    /// Scopes separated by spaces; empty: the provider's defaults.
    scopes: Option<String>,
    /// The organization's shared connection (the "Connect for the
    /// organization" button).
    #[serde(default)]
    shared: bool,
    #[serde(default)]
    all: bool,
}

/// `POST /dashboard/connected-apps/connect`: `POST /v1/oauth/connect`, then
/// See Other to its `authorizeUrl` (latchkey's page, which sends the browser
/// on to the provider), remembering in this browser to come back here.
pub(super) async fn connect(State(state): State<AppState>, s: Submitted<ConnectForm>) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let typed = form.scopes.unwrap_or_default();
    let scopes: Vec<String> = typed.split_whitespace().map(str::to_owned).collect();
    let req = StartConnect {
        provider: form.provider.clone(),
        scopes: (!scopes.is_empty()).then_some(scopes),
        shared: Some(form.shared),
    };
    match start(State(state.clone()), viewer.caller.clone(), JsonBody(req)).await {
        Ok((_, Json(Data { data }))) => {
            let mut res = Redirect::to(&data.authorize_url).into_response();
            let cookie = set_cookie(RETURN_COOKIE, &data.id, Some(PENDING_MS / 1000), state.settings.behind_https);
            res.headers_mut().append(SET_COOKIE, cookie);
            Ok(res)
        }
        Err(error) => {
            let place = Back { all: form.all }.place();
            show(
                &state,
                &viewer,
                place,
                Outcome::Refused(Form::Connect { provider: form.provider, scopes: typed }, error),
            )
            .await
        }
    }
}

/// `POST /dashboard/connected-apps/connections/{id}/default`: `POST
/// /v1/oauth/connections/{id}/default`.
pub(super) async fn set_default(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    s: Submitted<Back>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    match connections::set_default(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(form.done("default")),
        Err(error) => {
            show(&state, &viewer, form.place(), Outcome::Refused(Form::Row { id, remove: false }, error)).await
        }
    }
}

/// `POST /dashboard/connected-apps/connections/{id}/delete`: `DELETE
/// /v1/oauth/connections/{id}` (revoked at the provider when it can be).
pub(super) async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    s: Submitted<Back>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    match connections::delete(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(form.done("disconnected")),
        Err(error) => {
            show(&state, &viewer, form.place(), Outcome::Refused(Form::Row { id, remove: true }, error)).await
        }
    }
}

/// A provider's client credentials form (admins). No `Debug`: it holds the
/// secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientForm {
    client_id: String,
    /// Empty: a public client.
    client_secret: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /dashboard/connected-apps/clients/{provider}`: `PUT
/// /v1/oauth/providers/{provider}` (the handler wipes the secret once
/// sealed; a refused form comes back without it).
pub(super) async fn put_client(
    State(state): State<AppState>,
    audit: Audit,
    Path(provider): Path<String>,
    s: Submitted<ClientForm>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let ClientForm { client_id, client_secret, all } = form;
    let back = Back { all };
    let req = PutOAuthClient { client_id: client_id.clone(), client_secret: client_secret.filter(|s| !s.is_empty()) };
    match providers::put(State(state.clone()), viewer.caller.clone(), audit, Path(provider.clone()), JsonBody(req))
        .await
    {
        Ok(_) => Ok(back.done("client-saved")),
        Err(error) => {
            show(&state, &viewer, back.place(), Outcome::Refused(Form::Client { provider, client_id }, error)).await
        }
    }
}

/// `POST /dashboard/connected-apps/clients/{provider}/delete`: `DELETE
/// /v1/oauth/providers/{provider}`.
pub(super) async fn delete_client(
    State(state): State<AppState>,
    audit: Audit,
    Path(provider): Path<String>,
    s: Submitted<Back>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    match providers::delete(State(state.clone()), viewer.caller.clone(), audit, Path(provider.clone())).await {
        Ok(_) => Ok(form.done("client-removed")),
        Err(error) => {
            show(&state, &viewer, form.place(), Outcome::Refused(Form::ClientRemove { provider }, error)).await
        }
    }
}
