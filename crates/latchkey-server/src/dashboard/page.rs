//! What every dashboard page shares: the header (organization switcher,
//! navigation, sign-out), rendering a template, the error page, and the
//! security headers of every dashboard response.

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use latchkey_api_types::ErrorEnvelope;
use latchkey_store::Page;
use serde::Deserialize;

use super::session::{Viewer, request_id};
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::state::AppState;

/// The dashboard's `Content-Security-Policy`: nothing inline, nothing from
/// elsewhere, never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One organization in the header's switcher.
#[derive(Debug, Clone)]
pub struct OrgChoice {
    /// `org_…`
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether the viewer acts in it now.
    pub current: bool,
}

/// The header of a signed-in page: who, in which organization, where.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The viewer's email.
    pub email: String,
    /// The viewer's role in the current organization (`admin`, `member`).
    pub role: &'static str,
    /// The current organization's name.
    pub org_name: String,
    /// The viewer's organizations (the switcher shows when there are two or more).
    pub orgs: Vec<OrgChoice>,
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The navigation entry of this page (its label).
    pub active: &'static str,
}

/// The navigation: (group, [(label, path)]).
pub const NAV: [(&str, &[(&str, &str)]); 3] = [
    (
        "Credentials",
        &[
            ("API keys", "/dashboard/keys"),
            ("Secrets", "/dashboard/secrets"),
            ("SSH keys", "/dashboard/ssh-keys"),
            ("Connected apps", "/dashboard/connected-apps"),
        ],
    ),
    (
        "Organization",
        &[
            ("Team", "/dashboard/team"),
            ("Projects", "/dashboard/projects"),
            ("Workspaces", "/dashboard/workspaces"),
            ("Audit log", "/dashboard/audit"),
            ("Settings", "/dashboard/settings"),
        ],
    ),
    ("You", &[("Sign-in methods", "/dashboard/account")]),
];

impl Chrome {
    /// The header for `viewer` on the page whose navigation label is `active`.
    pub async fn load(state: &AppState, viewer: &Viewer, active: &'static str) -> Result<Self, ApiError> {
        let caller = &viewer.caller;
        let user_id = caller.acting_user()?;
        let user = state.store.get_user(user_id).await?.ok_or_else(ApiError::unauthorized)?;
        let orgs = state.store.user_orgs(user_id, &Page { limit: 100, before: None }).await?;
        let org_name =
            orgs.iter().find(|(o, _)| o.id == caller.org_id).map(|(o, _)| o.name.clone()).unwrap_or_default();
        Ok(Self {
            email: user.email,
            role: caller.role.as_str(),
            org_name,
            orgs: orgs
                .into_iter()
                .map(|(o, _)| OrgChoice { current: o.id == caller.org_id, id: o.id.to_string(), name: o.name })
                .collect(),
            csrf: viewer.csrf.clone(),
            active,
        })
    }
}

/// Why `viewer` may not do what `check` guards, in the API's words
/// (`None`: they may). Pages show an admin-only control disabled with this
/// reason instead of hiding it.
pub fn denial(check: &AuthCheck, viewer: &Viewer) -> Option<String> {
    check.check(&viewer.caller).err().map(|e| e.message().to_owned())
}

/// The reasons a page's disabled controls give: each sentence is one
/// paragraph (`dashboard/reasons.html`) that every control it concerns
/// names with `aria-describedby`, however many rows cite it.
#[derive(Debug, Clone, Default)]
pub struct Reasons {
    /// (paragraph id, sentence), in the order first cited.
    pub list: Vec<(String, String)>,
}

impl Reasons {
    /// Why `viewer` may not do what `check` guards ([`denial`]), as the id
    /// of the paragraph that says so; `None`: they may.
    pub fn cite(&mut self, check: &AuthCheck, viewer: &Viewer) -> Option<String> {
        denial(check, viewer).map(|why| self.id_of(why))
    }

    /// The id of the paragraph saying `why`, added if new (for a reason
    /// that is not an [`AuthCheck`]'s).
    pub fn id_of(&mut self, why: String) -> String {
        if let Some((id, _)) = self.list.iter().find(|(_, w)| *w == why) {
            return id.clone();
        }
        let id = format!("why-{}", self.list.len() + 1);
        self.list.push((id.clone(), why));
        id
    }
}

/// The notice a list shows after a change (Post/Redirect/Get with
/// `?done=CODE`): the sentence of `done` among the page's `known` codes.
/// Anything else shows nothing: the query string is never echoed.
pub fn notice(done: Option<&str>, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let done = done?;
    known.iter().find(|(code, _)| *code == done).map(|(_, sentence)| *sentence)
}

/// `303 See Other` to `path` with `done=CODE` added to its query (the
/// notice, [`notice`]).
pub fn done(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{path}{sep}done={code}")).into_response()
}

/// Which page of which list: a list's query string, and the hidden fields
/// (`dashboard/place.html`) a row's form sends back so that its answer
/// shows the same list. (Each form lists the fields itself: a flattened
/// struct would read `all=true` as text, not as a boolean.)
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Place {
    /// Every member's too (admins: the API's `allOrg`).
    #[serde(default)]
    pub all: bool,
    /// The page after this cursor.
    pub cursor: Option<String>,
}

impl Place {
    /// The same place, an empty cursor (a form's empty field) read as the
    /// first page.
    pub fn cleaned(self) -> Self {
        Self { cursor: self.cursor.filter(|c| !c.is_empty()), ..self }
    }

    /// See Other to the list at `path` of this place, announcing `code`.
    pub fn done(&self, path: &str, code: &str) -> Response {
        if self.all { done(&format!("{path}?all=true"), code) } else { done(path, code) }
    }
}

/// An error as a page shows it: the API's code and message, and the
/// request id to quote.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The API's error code.
    pub code: String,
    /// Its message.
    pub message: String,
    /// The request id.
    pub request_id: String,
    /// Where to connect the app the error is about again (`connectUrl`).
    pub connect_url: Option<String>,
}

impl Problem {
    /// `e` as seen by the request `request_id`.
    pub fn new(e: &ApiError, request_id: Option<&str>) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.message().to_owned(),
            request_id: request_id.unwrap_or("-").to_owned(),
            connect_url: e.connect_url().map(str::to_owned),
        }
    }
}

/// How a list page shows the answer to a form it re-renders: `200` with
/// nothing refused, or the API's status and problem, in the refused form's
/// open dialog or, where the page shows no dialog for it, above the table.
#[derive(Debug)]
pub struct FormAnswer {
    /// The page's status: the API's, when it refused.
    pub status: StatusCode,
    /// The refusal.
    pub problem: Option<Problem>,
    /// The refusal goes above the table (no dialog of the page is open for it).
    pub above_table: bool,
}

impl Default for FormAnswer {
    fn default() -> Self {
        Self { status: StatusCode::OK, problem: None, above_table: false }
    }
}

impl FormAnswer {
    /// `e`, refused to a form whose dialog the page opens again.
    pub fn in_dialog(e: &ApiError, viewer: &Viewer) -> Self {
        Self { status: e.status(), problem: Some(Problem::new(e, viewer.request_id.as_deref())), above_table: false }
    }

    /// `e`, refused to an action on the row of `rows` that `is_row` finds:
    /// `open` opens the row's dialog for the action and says whether it
    /// did (an action without one, or one the page shows disabled, has
    /// none: the refusal goes above the table). A row not on the page
    /// (another organization's, another member's) is `Err(e)`: the error
    /// page.
    pub fn on_row<R>(
        rows: &mut [R],
        is_row: impl Fn(&R) -> bool,
        open: impl FnOnce(&mut R) -> bool,
        e: ApiError,
        viewer: &Viewer,
    ) -> Result<Self, ApiError> {
        let Some(row) = rows.iter_mut().find(|r| is_row(r)) else {
            return Err(e);
        };
        let above_table = !open(row);
        Ok(Self { above_table, ..Self::in_dialog(&e, viewer) })
    }
}

/// The page `t`, with `status`.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>internal error</p>"))
                .into_response()
        }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage<'a> {
    problem: &'a Problem,
}

/// The error page for `e`, with its status (and `Retry-After`, if any).
pub fn error_page(e: &ApiError, request_id: Option<&str>) -> Response {
    render(e.status(), &ErrorPage { problem: &Problem::new(e, request_id) })
}

/// A refusal of a route a browser follows (single sign-on, connected
/// apps) as its client reads it: the error page for a browser (`Accept:
/// text/html`), with the security headers; the envelope otherwise.
pub fn refusal_answer(headers: &axum::http::HeaderMap, e: ApiError) -> Response {
    let browser =
        headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if browser { with_security_headers(error_page(&e, request_id(headers).as_deref())) } else { e.into_response() }
}

/// Largest JSON error body turned into a page.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Middleware on every dashboard route: a JSON error answer (from a page
/// handler's `?` on the API's handlers, or from an extractor) becomes the
/// error page, with its status and headers; the answers a page renders
/// itself pass unchanged.
pub async fn html_errors(req: Request, next: Next) -> Response {
    let rid = request_id(req.headers());
    let res = next.run(req).await;
    let is_json = res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(res.status().is_client_error() || res.status().is_server_error()) || !is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let problem = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
        Ok(env) => Problem {
            code: env.error.code,
            message: env.error.message,
            request_id: rid.unwrap_or_else(|| "-".to_owned()),
            connect_url: env.error.connect_url,
        },
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    let mut page = render(parts.status, &ErrorPage { problem: &problem });
    if let Some(retry) = parts.headers.get(axum::http::header::RETRY_AFTER) {
        page.headers_mut().insert(axum::http::header::RETRY_AFTER, retry.clone());
    }
    page
}

/// Adds the security headers to every dashboard response (the
/// `Content-Security-Policy` [`CSP`] unless the page set its own); HTML is
/// never cached (a page may show a key once).
pub async fn security_headers(res: Response) -> Response {
    with_security_headers(res)
}

/// [`security_headers`] for a page answered outside the dashboard's router
/// (a single sign-on refusal).
pub fn with_security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    // A page may widen it for its own needs (the CLI's authorization page
    // lets its form lead to the CLI's loopback address).
    if !h.contains_key("content-security-policy") {
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
    }
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// An RFC 3339 time as a page shows it: `2026-12-06 11:58 UTC`.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_minute_in_utc() {
        assert_eq!(short_time("2026-12-06T11:58:16.123Z"), "2026-12-06 11:58 UTC");
        assert_eq!(short_time("oops"), "oops");
    }

    #[test]
    fn a_reason_cited_twice_is_one_paragraph() {
        let mut r = Reasons::default();
        assert_eq!(r.id_of("admins only".into()), "why-1");
        assert_eq!(r.id_of("needs org:write".into()), "why-2");
        assert_eq!(r.id_of("admins only".into()), "why-1");
        assert_eq!(r.list.len(), 2);
        assert_eq!(r.list[1], ("why-2".to_owned(), "needs org:write".to_owned()));
    }

    #[test]
    fn only_a_known_done_code_shows_a_notice() {
        let known = [("created", "Project created."), ("deleted", "Project deleted.")];
        assert_eq!(notice(Some("deleted"), &known), Some("Project deleted."));
        assert_eq!(notice(Some("<script>"), &known), None);
        assert_eq!(notice(None, &known), None);
        let res = done("/dashboard/projects", "created");
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/dashboard/projects?done=created");
        assert_eq!(
            done("/dashboard/ssh-keys?all=true", "added").headers()["location"],
            "/dashboard/ssh-keys?all=true&done=added"
        );
        let every = Place { all: true, cursor: Some(String::new()) }.cleaned();
        assert_eq!(every.cursor, None);
        assert_eq!(
            every.done("/dashboard/workspaces", "deleted").headers()["location"],
            "/dashboard/workspaces?all=true&done=deleted"
        );
        assert_eq!(
            Place::default().done("/dashboard/workspaces", "deleted").headers()["location"],
            "/dashboard/workspaces?done=deleted"
        );
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_framing() {
        let script = CSP.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap();
        assert_eq!(script, "script-src 'self'");
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }
}
