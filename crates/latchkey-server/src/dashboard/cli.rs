//! The CLI's authorization page (`/dashboard/cli/authorize`): the
//! browser half of `latchkey login`'s loopback sign-in (RFC 8252; the
//! exchange is `POST /v1/auth/cli/token`, `crate::routes::cli_login`).
//!
//! Its input is checked before anything else, and a bad `redirect_uri` is
//! never redirected to: the page shows the error instead. A visitor
//! without a session signs in first (through the provider the CLI named,
//! or the sign-in page) and comes back here. Authorize stores a one-time
//! code for the viewer and sends the browser to the loopback address with
//! it; Cancel sends `error=access_denied` there.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::page::{CSP, Chrome, render};
use super::session::{PageQuery, Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::routes::cli_login::{check_challenge, check_redirect_uri, check_state, issue_code};
use crate::state::AppState;

/// The authorization page.
pub const AUTHORIZE: &str = "/dashboard/cli/authorize";

/// The authorization page and its form.
pub fn routes() -> Router<AppState> {
    Router::new().route(AUTHORIZE, get(show).post(decide))
}

/// The authorization request, in the query string and again in the form.
#[derive(Debug, Clone, Default, Deserialize)]
struct AuthorizeRequest {
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    /// The identity provider to sign in with first (its configured id).
    provider: Option<String>,
    /// The form's button: `authorize` or `cancel` (none on the page).
    #[serde(default)]
    decision: String,
}

impl AuthorizeRequest {
    /// Every field checked ([`check_redirect_uri`] first).
    fn check(&self) -> Result<(), ApiError> {
        check_redirect_uri(&self.redirect_uri)?;
        check_state(&self.state)?;
        check_challenge(&self.code_challenge, &self.code_challenge_method)?;
        if self.provider.as_deref().is_some_and(|p| !is_provider_id(p)) {
            return Err(ApiError::bad_request("provider must be a configured provider's id"));
        }
        Ok(())
    }

    /// `host:port` of the loopback address, as the page shows it.
    fn loopback(&self) -> &str {
        self.redirect_uri.trim_start_matches("http://").trim_end_matches("/callback")
    }

    /// `redirect_uri` with `params` in its query (it has none of its own).
    fn redirect_with(&self, params: &[(&str, &str)]) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        format!("{}?{query}", self.redirect_uri)
    }
}

/// The answer to a visitor without a session (`refusal`: the sign-in
/// page, or an error) on a page that may name an identity provider: with
/// `provider`, its sign-in (`/v1/auth/oidc/{provider}/start`), coming back
/// to this page, keeping whatever the refusal set (a cleared cookie).
pub(super) fn through_provider(refusal: Response, provider: Option<&str>, parts: &Parts) -> Result<Response, ApiError> {
    let Some(provider) = provider.filter(|_| refusal.status().is_redirection()) else { return Ok(refusal) };
    if !is_provider_id(provider) {
        return Err(ApiError::bad_request("provider must be a configured provider's id"));
    }
    let here = parts.uri.path_and_query().map_or(AUTHORIZE, |pq| pq.as_str());
    let to = format!(
        "/v1/auth/oidc/{provider}/start?return_to={}",
        url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
    );
    let mut res = Redirect::to(&to).into_response();
    for cookie in refusal.headers().get_all(SET_COOKIE) {
        res.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    Ok(res)
}

/// Whether `id` can be a configured provider's id (what goes in its URLs).
fn is_provider_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[derive(Template)]
#[template(path = "dashboard/cli_authorize.html")]
struct AuthorizePage {
    chrome: Chrome,
    req: AuthorizeRequest,
    loopback: String,
}

/// `GET /dashboard/cli/authorize`: the question, to a signed-in viewer.
async fn show(
    State(state): State<AppState>,
    parts: Parts,
    viewer: Result<Viewer, Response>,
    PageQuery(req): PageQuery<AuthorizeRequest>,
) -> Result<Response, ApiError> {
    req.check()?;
    let viewer = match viewer {
        Ok(v) => v,
        Err(refusal) => return through_provider(refusal, req.provider.as_deref(), &parts),
    };
    let chrome = Chrome::load(&state, &viewer, "").await?;
    let loopback = req.loopback().to_owned();
    let mut res = render(StatusCode::OK, &AuthorizePage { chrome, loopback: loopback.clone(), req: req.clone() });
    // The form's answer leads to the loopback address: allowed for this
    // page only. (Chromium matches no IPv6 literal in a policy, so `[::1]`
    // gets the scheme.)
    let target =
        if req.redirect_uri.starts_with("http://[") { "http:".to_owned() } else { format!("http://{loopback}") };
    let csp = CSP.replace("form-action 'self'", &format!("form-action 'self' {target}"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert("content-security-policy", v);
    }
    Ok(res)
}

/// `POST /dashboard/cli/authorize`: Authorize (a one-time code for the
/// viewer, `cli.authorize` audited) or Cancel, then back to the CLI.
async fn decide(
    State(state): State<AppState>,
    audit: Audit,
    s: Submitted<AuthorizeRequest>,
) -> Result<Response, ApiError> {
    let req = s.form;
    req.check()?;
    let to = match req.decision.as_str() {
        "authorize" => {
            let code = issue_code(&state, &s.viewer.caller, &audit, &req.redirect_uri, &req.code_challenge).await?;
            req.redirect_with(&[("code", &code), ("state", &req.state)])
        }
        "cancel" => req.redirect_with(&[("error", "access_denied"), ("state", &req.state)]),
        _ => return Err(ApiError::bad_request("decision must be authorize or cancel")),
    };
    let mut res = StatusCode::SEE_OTHER.into_response();
    let location = HeaderValue::from_str(&to).map_err(|e| ApiError::internal(&e))?;
    res.headers_mut().insert(LOCATION, location);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::session::login_for;

    #[test]
    fn the_loopback_redirect_carries_the_code_and_state_encoded() {
        let req = AuthorizeRequest {
            redirect_uri: "http://127.0.0.1:4711/callback".to_owned(),
            state: "a&b=c".to_owned(),
            ..AuthorizeRequest::default()
        };
        assert_eq!(req.loopback(), "127.0.0.1:4711");
        assert_eq!(
            req.redirect_with(&[("code", "lkc_x"), ("state", &req.state)]),
            "http://127.0.0.1:4711/callback?code=lkc_x&state=a%26b%3Dc"
        );
        let parts = axum::http::Request::builder().uri(AUTHORIZE).body(()).unwrap().into_parts().0;
        assert!(login_for(&parts).starts_with("/dashboard/login?return_to=%2Fdashboard%2Fcli%2Fauthorize"));
    }
}
