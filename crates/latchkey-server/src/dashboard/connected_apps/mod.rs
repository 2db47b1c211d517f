//! Credentials › Connected apps: the viewer's connections to the operator's
//! OAuth providers and the organization's shared ones over `GET
//! /v1/oauth/connections` (admins may add every member's, `?all=true`),
//! connecting (`POST /v1/oauth/connect`, then the browser goes on to
//! latchkey's authorization page and the provider), reconnecting one that
//! needs it, choosing the default and disconnecting; and, for admins, the
//! organization's own client credentials at each provider (`PUT` and
//! `DELETE /v1/oauth/providers/{id}`; the secret is sent, never shown).
//!
//! A connect started here leaves a short-lived cookie naming its request
//! ([`RETURN_COOKIE`]); the one callback (`crate::routes::oauth::callback`)
//! sends the browser back to this page when it finishes that request
//! ([`returned`]) instead of showing its "close this window" page.
//! `?connect=PROVIDER` (the `connectUrl` of the API's errors) points out
//! that provider's connect form; connecting always takes a click.
//!
//! The page's forms lead, through redirects, to the providers' authorization
//! pages: its `Content-Security-Policy` lets forms go there
//! ([`form_targets`]), as browsers check `form-action` on every redirect of
//! a form's submission.

mod forms;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_api_types::oauth::{ConnectionState, OAuthConnectionView, OAuthProviderView};
use latchkey_store::Page;
use serde::Deserialize;

use super::page::{CSP, Chrome, Problem, Reasons, denial, render, short_time};
use super::session::{Viewer, clear_cookie, cookie};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::oauth::{connect as start, connections, providers};
use crate::state::AppState;

/// The page.
pub(crate) const PATH: &str = "/dashboard/connected-apps";

/// The cookie naming the connect request this browser started from the
/// page (its id, no secret): the callback that finishes it comes back here.
pub(crate) const RETURN_COOKIE: &str = "latchkey_connect";

/// What `?done=` may announce (`connected` names its connection, which the
/// page looks up: nothing of the query string is echoed).
const NOTICES: [(&str, &str); 5] = [
    ("connected", "Account connected."),
    ("default", "Default connection set."),
    ("disconnected", "Disconnected."),
    ("client-saved", "Client credentials saved."),
    ("client-removed", "The organization's client credentials were removed."),
];

/// The Connected apps pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list))
        .route("/dashboard/connected-apps/connect", post(forms::connect))
        .route("/dashboard/connected-apps/connections/{id}/default", post(forms::set_default))
        .route("/dashboard/connected-apps/connections/{id}/delete", post(forms::delete))
        .route("/dashboard/connected-apps/clients/{provider}", post(forms::put_client))
        .route("/dashboard/connected-apps/clients/{provider}/delete", post(forms::delete_client))
}

/// The callback's answer to a browser that started the connect `request`
/// from this page ([`RETURN_COOKIE`]): back to the page, announcing the
/// connection; `None` for a connect started elsewhere (the CLI, the API).
pub(crate) fn returned(headers: &HeaderMap, request: &str, connection: &str) -> Option<Response> {
    if cookie(headers, RETURN_COOKIE) != Some(request) {
        return None;
    }
    let mut res = Redirect::to(&format!("{PATH}?done=connected&connection={connection}")).into_response();
    res.headers_mut().append(SET_COOKIE, clear_cookie(RETURN_COOKIE));
    Some(res)
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    /// Every member's connections too (admins).
    #[serde(default)]
    all: bool,
    /// The provider whose connect form to point out (`connectUrl`).
    connect: Option<String>,
    /// The change just made (its notice).
    done: Option<String>,
    /// The connection `done=connected` made.
    connection: Option<String>,
}

/// `GET /dashboard/connected-apps`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let place = Place { all: p.all, connect: p.connect };
    let listed = Listed { done: p.done, connection: p.connection };
    show(&state, &viewer, place, Outcome::Listed(listed)).await
}

/// Which view of the page: every member's connections or not, and the
/// provider pointed out.
#[derive(Debug, Default, Clone)]
struct Place {
    all: bool,
    connect: Option<String>,
}

/// What the page shows after a change.
#[derive(Debug, Default)]
struct Listed {
    done: Option<String>,
    connection: Option<String>,
}

/// Where a refused form was.
#[derive(Debug)]
enum Form {
    /// A provider's connect form (or a row's Reconnect), with the scopes typed.
    Connect { provider: String, scopes: String },
    /// A provider's client credentials form, with the client id typed (never
    /// the secret).
    Client { provider: String, client_id: String },
    /// The removal of a provider's client credentials.
    ClientRemove { provider: String },
    /// A row's form (`remove`: its disconnect dialog, else set default).
    Row { id: String, remove: bool },
}

/// What the page shows besides the lists.
enum Outcome {
    Listed(Listed),
    Refused(Form, ApiError),
}

/// A connection as a row of a table shows it (never its tokens).
struct Row {
    id: String,
    /// The provider's display name.
    provider: String,
    provider_id: String,
    account: String,
    /// `You`, `Organization`, or the member's name.
    owner: String,
    is_default: bool,
    granted: Vec<String>,
    /// The scopes asked for, when the provider granted otherwise.
    requested: Option<Vec<String>>,
    /// The scopes asked for, space-separated (a reconnect asks them again).
    requested_text: String,
    status: &'static str,
    status_class: &'static str,
    /// When the access token expires.
    expires: Option<String>,
    /// Offers `Reconnect` (the viewer's own or a shared one that needs it).
    reconnect: bool,
    shared: bool,
    /// The id of the reason the viewer may not change it.
    change_why: Option<String>,
    /// The disconnect confirmation is open (a disconnect was refused).
    open_delete: bool,
}

/// One table of connections.
struct Group {
    /// The heading's id (the table is labelled by it).
    id: &'static str,
    title: &'static str,
    hint: &'static str,
    empty: &'static str,
    /// Shows the owner column.
    owners: bool,
    rows: Vec<Row>,
}

/// A provider's connect form and (admins) its client credentials.
struct Provider {
    id: String,
    name: String,
    default_scopes: Vec<String>,
    revokes: bool,
    /// The id of the reason nobody can connect it yet.
    connect_why: Option<String>,
    /// The id of the reason the viewer may not connect it for the organization.
    shared_why: Option<String>,
    /// Pointed out (`?connect=`): a tool needs it connected.
    pointed_out: bool,
    /// The scopes typed (a refused connect).
    scopes: String,
    /// The refusal shown in its connect form.
    connect_problem: bool,
    /// The organization's own client id, if any.
    org_client_id: Option<String>,
    has_client_secret: bool,
    /// The client id in the credentials form.
    client_id: String,
    /// The refusal shown in its credentials form.
    client_problem: bool,
    /// The removal confirmation is open (a removal was refused).
    open_remove: bool,
}

#[derive(Template)]
#[template(path = "dashboard/connected_apps.html")]
struct ConnectedAppsPage {
    chrome: Chrome,
    place: Place,
    notice: Option<String>,
    reasons: Reasons,
    /// The id of the reason the viewer may not list every member's.
    all_why: Option<String>,
    providers: Vec<Provider>,
    groups: Vec<Group>,
    /// Admins: the client credentials section.
    clients: bool,
    problem: Option<Problem>,
    /// The refusal concerns no form on the page (setting a default).
    page_problem: bool,
}

/// The page of `place` with `outcome`, with the status of the API's answer.
/// A refused form about something the page does not show (another
/// organization's connection, a provider not in the catalog) is the error
/// page.
async fn show(state: &AppState, viewer: &Viewer, place: Place, outcome: Outcome) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Connected apps").await?;
    let catalog = providers::list(State(state.clone()), viewer.caller.clone()).await?.0.data;
    let q = connections::ListQuery { provider: None, all_org: place.all };
    let listed = connections::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0.data;
    let mut reasons = Reasons::default();
    let all_why = reasons.cite(&connections::ALL_ORG, viewer);
    let shared_why = reasons.cite(&start::SHARED, viewer);
    let change_why = reasons.cite(&connections::SHARED, viewer);
    let names = if place.all { member_names(state, viewer).await? } else { HashMap::new() };
    let display: HashMap<&str, &str> = catalog.iter().map(|p| (p.id.as_str(), p.display_name.as_str())).collect();
    let me = viewer.caller.user_id.as_deref();
    let notice = match &outcome {
        Outcome::Listed(l) => notice_of(l, &listed, &display),
        Outcome::Refused(..) => None,
    };
    let mut groups = groups(place.all);
    for c in listed {
        let own = c.owner_user_id.is_some() && c.owner_user_id.as_deref() == me;
        let at = if c.owner_user_id.is_none() {
            1
        } else if own {
            0
        } else {
            2
        };
        let Some(group) = groups.get_mut(at) else { continue };
        let why = if c.owner_user_id.is_none() { change_why.clone() } else { None };
        group.rows.push(row(c, own, &display, &names, why));
    }
    let mut cards: Vec<Provider> =
        catalog.into_iter().map(|p| provider(p, place.connect.as_deref(), shared_why.clone(), &mut reasons)).collect();
    let clients = denial(&providers::SET, viewer).is_none();
    let mut status = StatusCode::OK;
    let mut problem = None;
    let mut page_problem = false;
    if let Outcome::Refused(form, error) = outcome {
        let found = match form {
            Form::Connect { provider, scopes } => cards.iter_mut().find(|p| p.id == provider).map(|p| {
                p.scopes = scopes;
                p.connect_problem = true;
            }),
            Form::Client { provider, client_id } => cards.iter_mut().find(|p| p.id == provider).map(|p| {
                p.client_id = client_id;
                p.client_problem = true;
            }),
            Form::ClientRemove { provider } => {
                cards.iter_mut().find(|p| p.id == provider).map(|p| p.open_remove = p.org_client_id.is_some())
            }
            Form::Row { id, remove } => {
                groups.iter_mut().flat_map(|g| g.rows.iter_mut()).find(|r| r.id == id).map(|r| {
                    // A removal the page shows disabled has no dialog open.
                    r.open_delete = remove && r.change_why.is_none();
                })
            }
        };
        if found.is_none() {
            return Err(error);
        }
        // Where the page shows no form for it (a member's forged client
        // form, a default, a removal shown disabled): above the tables.
        let in_form = cards.iter().any(|p| p.connect_problem || (clients && (p.client_problem || p.open_remove)))
            || groups.iter().flat_map(|g| &g.rows).any(|r| r.open_delete);
        page_problem = !in_form;
        status = error.status();
        problem = Some(Problem::new(&error, viewer.request_id.as_deref()));
    }
    let page = ConnectedAppsPage {
        chrome,
        place,
        notice,
        reasons,
        all_why,
        providers: cards,
        groups,
        clients,
        problem,
        page_problem,
    };
    let mut res = render(status, &page);
    if let Ok(csp) = HeaderValue::from_str(&CSP.replace("form-action 'self'", &form_targets(state))) {
        res.headers_mut().insert("content-security-policy", csp);
    }
    Ok(res)
}

/// The page's tables: the viewer's, the organization's, and (`all`) the
/// other members'.
fn groups(all: bool) -> Vec<Group> {
    let mut g = vec![
        Group {
            id: "yours",
            title: "Your connections",
            hint: "Your accounts at the providers: the platform's tools use your default one for you.",
            empty: "You have not connected an account yet: connect one below.",
            owners: false,
            rows: Vec::new(),
        },
        Group {
            id: "shared",
            title: "Organization connections",
            hint: "Shared by the organization: every member's tools may use them when the member has none of their own. Admins connect and change them.",
            empty: "The organization has no shared connections.",
            owners: false,
            rows: Vec::new(),
        },
    ];
    if all {
        g.push(Group {
            id: "members",
            title: "Members' connections",
            hint: "Every other member's connections (admins may disconnect them).",
            empty: "No other member has connected an account.",
            owners: true,
            rows: Vec::new(),
        });
    }
    g
}

/// Members' names by id (for the other members' table).
async fn member_names(state: &AppState, viewer: &Viewer) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .store
        .list_members(&viewer.caller.org_id, &Page { limit: 100, before: None })
        .await?
        .into_iter()
        .map(|m| (m.user.id.to_string(), m.user.display_name))
        .collect())
}

/// The notice after a change: a connect names the account it connected
/// (when the page lists it).
fn notice_of(l: &Listed, listed: &[OAuthConnectionView], display: &HashMap<&str, &str>) -> Option<String> {
    let code = l.done.as_deref()?;
    let (_, sentence) = NOTICES.iter().find(|(c, _)| *c == code)?;
    if code == "connected"
        && let Some(c) = listed.iter().find(|c| Some(&c.id) == l.connection.as_ref())
    {
        let name = display.get(c.provider.as_str()).copied().unwrap_or(&c.provider);
        return Some(format!("Connected {name} account {}.", c.account_label));
    }
    Some((*sentence).to_owned())
}

/// The row of `c` (`own`: the viewer's); `display` are the providers'
/// names, `names` members' names by id; `change_why` why the viewer may
/// not change it.
fn row(
    c: OAuthConnectionView,
    own: bool,
    display: &HashMap<&str, &str>,
    names: &HashMap<String, String>,
    change_why: Option<String>,
) -> Row {
    let shared = c.owner_user_id.is_none();
    let owner = match &c.owner_user_id {
        None => "Organization".to_owned(),
        Some(_) if own => "You".to_owned(),
        Some(id) => names.get(id).cloned().unwrap_or_else(|| id.clone()),
    };
    let (status, status_class) = match c.status {
        ConnectionState::Active => ("Active", "status-active"),
        ConnectionState::NeedsReauthorization => ("Needs reauthorization", "warn"),
        ConnectionState::Revoked => ("Revoked", "status-revoked"),
    };
    let mut granted = c.granted_scopes.clone();
    let mut requested = c.requested_scopes.clone();
    granted.sort_unstable();
    requested.sort_unstable();
    Row {
        provider: display.get(c.provider.as_str()).map_or_else(|| c.provider.clone(), |n| (*n).to_owned()),
        requested: (granted != requested).then(|| c.requested_scopes.clone()),
        requested_text: c.requested_scopes.join(" "),
        granted: c.granted_scopes,
        reconnect: c.status != ConnectionState::Active && (own || shared),
        expires: c.expires_at.as_deref().map(short_time),
        id: c.id,
        provider_id: c.provider,
        account: c.account_label,
        owner,
        is_default: c.is_default,
        status,
        status_class,
        shared,
        change_why,
        open_delete: false,
    }
}

/// The connect form (and client credentials) of the provider `p`;
/// `pointed_out` is the `?connect=` provider; `shared_why` why the viewer
/// may not connect for the organization.
fn provider(
    p: OAuthProviderView,
    pointed_out: Option<&str>,
    shared_why: Option<String>,
    reasons: &mut Reasons,
) -> Provider {
    let connect_why = (!p.configured).then(|| {
        reasons.id_of(format!(
            "{} cannot be connected yet: neither the server nor this organization has client credentials for it \
             (an admin of the organization sets them on this page)",
            p.display_name
        ))
    });
    Provider {
        pointed_out: pointed_out == Some(p.id.as_str()),
        connect_why,
        shared_why,
        scopes: String::new(),
        connect_problem: false,
        client_id: p.org_client.as_ref().map(|c| c.client_id.clone()).unwrap_or_default(),
        org_client_id: p.org_client.as_ref().map(|c| c.client_id.clone()),
        has_client_secret: p.org_client.as_ref().is_some_and(|c| c.has_client_secret),
        client_problem: false,
        open_remove: false,
        id: p.id,
        name: p.display_name,
        default_scopes: p.default_scopes,
        revokes: p.revokes_on_disconnect,
    }
}

/// The page's `form-action`: itself, latchkey's authorization page (at the
/// public URL, which may not be the address the browser used) and every
/// provider's authorization endpoint, where a connect's redirects lead.
fn form_targets(state: &AppState) -> String {
    let mut targets = vec!["'self'".to_owned()];
    let urls = state
        .settings
        .oauth
        .iter()
        .map(|p| p.authorize_url.clone())
        .chain(std::iter::once(crate::oauth::redirect_uri(state)));
    for u in urls {
        let Ok(u) = url::Url::parse(&u) else { continue };
        let origin = u.origin();
        if origin.is_tuple() && !targets.contains(&origin.ascii_serialization()) {
            targets.push(origin.ascii_serialization());
        }
    }
    format!("form-action {}", targets.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_api_types::secrets::OwnerScope;

    fn connection(
        owner: Option<&str>,
        requested: &[&str],
        granted: &[&str],
        status: ConnectionState,
    ) -> OAuthConnectionView {
        OAuthConnectionView {
            id: "ocn_1".into(),
            provider: "octo".into(),
            account_id: "42".into(),
            account_label: "ana".into(),
            owner: if owner.is_some() { OwnerScope::User } else { OwnerScope::Org },
            owner_user_id: owner.map(str::to_owned),
            is_default: false,
            requested_scopes: requested.iter().map(|s| (*s).to_owned()).collect(),
            granted_scopes: granted.iter().map(|s| (*s).to_owned()).collect(),
            status,
            expires_at: Some("2026-12-06T11:58:16Z".into()),
            created_at: "2026-12-06T11:58:16Z".into(),
            updated_at: "2026-12-06T11:58:16Z".into(),
        }
    }

    #[test]
    fn a_row_shows_the_requested_scopes_only_when_the_grant_differs_and_offers_reconnect_when_needed() {
        let display = HashMap::from([("octo", "Octo")]);
        let names = HashMap::from([("usr_b".to_owned(), "Bea".to_owned())]);
        let same = row(
            connection(Some("usr_a"), &["a", "b"], &["b", "a"], ConnectionState::Active),
            true,
            &display,
            &names,
            None,
        );
        assert_eq!((same.provider.as_str(), same.owner.as_str()), ("Octo", "You"));
        assert_eq!(same.requested, None);
        assert!(!same.reconnect);
        assert_eq!(same.expires.as_deref(), Some("2026-12-06 11:58 UTC"));
        let less = row(
            connection(Some("usr_a"), &["a", "b"], &["a"], ConnectionState::NeedsReauthorization),
            true,
            &display,
            &names,
            None,
        );
        assert_eq!(less.requested, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(less.requested_text, "a b");
        assert!(less.reconnect);
        assert_eq!(less.status, "Needs reauthorization");
        // Another member's: an admin may disconnect it, not reconnect it as them.
        let theirs = row(
            connection(Some("usr_b"), &["a"], &["a"], ConnectionState::NeedsReauthorization),
            false,
            &display,
            &names,
            None,
        );
        assert_eq!(theirs.owner, "Bea");
        assert!(!theirs.reconnect);
        let shared = row(
            connection(None, &["a"], &["a"], ConnectionState::NeedsReauthorization),
            false,
            &display,
            &names,
            Some("why-1".into()),
        );
        assert!(shared.shared && shared.reconnect);
        assert_eq!((shared.owner.as_str(), shared.change_why.as_deref()), ("Organization", Some("why-1")));
    }

    #[test]
    fn a_connect_notice_names_the_account_it_finds_and_nothing_of_the_query_is_echoed() {
        let display = HashMap::from([("octo", "Octo")]);
        let listed = [connection(Some("usr_a"), &["a"], &["a"], ConnectionState::Active)];
        let l = |done: &str, connection: Option<&str>| Listed {
            done: Some(done.to_owned()),
            connection: connection.map(str::to_owned),
        };
        assert_eq!(
            notice_of(&l("connected", Some("ocn_1")), &listed, &display).as_deref(),
            Some("Connected Octo account ana.")
        );
        assert_eq!(notice_of(&l("connected", Some("<b>")), &listed, &display).as_deref(), Some("Account connected."));
        assert_eq!(notice_of(&l("<script>", None), &listed, &display), None);
        assert_eq!(notice_of(&l("disconnected", None), &listed, &display).as_deref(), Some("Disconnected."));
    }

    #[test]
    fn a_connect_started_elsewhere_is_not_sent_back_to_the_page() {
        let mut h = HeaderMap::new();
        assert!(returned(&h, "ocr_1", "ocn_1").is_none());
        h.insert("cookie", HeaderValue::from_static("latchkey_connect=ocr_2"));
        assert!(returned(&h, "ocr_1", "ocn_1").is_none());
        h.insert("cookie", HeaderValue::from_static("latchkey_connect=ocr_1"));
        let res = returned(&h, "ocr_1", "ocn_1").unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/dashboard/connected-apps?done=connected&connection=ocn_1");
        assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("latchkey_connect=; "));
    }
}
