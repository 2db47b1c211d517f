//! The dashboard: server-rendered HTML pages at `/dashboard`, for people.
//!
//! Each page is a thin adapter over the JSON API's own handlers
//! (`crate::routes`): a page handler builds the handler's input from the
//! form or the query string, calls it with the viewer's [`Caller`], and
//! renders what it returns. Authorization, validation, audit events and
//! errors are therefore exactly the API's: a member sees and may do what
//! the API lets a member do, and a refused action shows the API's `code`,
//! message and the request id.
//!
//! * `session.rs` — the viewer: the session cookie, the CSRF token, and
//!   the form extractor that refuses a POST without it.
//! * `page.rs` — what every page shares: the header (organization switcher,
//!   navigation, sign-out), rendering, the error page, and the security
//!   headers of every dashboard response.
//! * `login.rs` — sign-in (coming back to the page that asked for it),
//!   sign-out and switching organizations.
//! * `cli.rs`, `device.rs` — the pages that sign the CLI in: authorizing
//!   its loopback sign-in, and approving a device's.
//! * `assets.rs` — the stylesheet and the script, embedded in the binary.
//! * `chart.rs` — the geometry of the server-drawn SVG charts.
//! * one module per page (`keys/`, `team.rs`, `settings.rs`, `audit.rs`,
//!   `connected_apps/`, `workspaces/`, …), with its templates in `templates/dashboard/`;
//!   `join.rs` is the page an invitation link opens.
//!
//! Every action is a real form or link first; `assets/dashboard/dashboard.js`
//! only opens dialogs, copies text, asks before closing an uncopied key and
//! moves an invitation link's token from the address into the join forms.

mod account;
mod assets;
mod audit;
mod chart;
mod cli;
mod connected_apps;
mod device;
mod join;
mod keys;
mod login;
mod page;
mod projects;
mod secrets;
mod session;
mod settings;
mod ssh_keys;
mod team;
mod workspaces;

use axum::Router;
use axum::middleware::{from_fn, map_response};
use axum::response::Redirect;
use axum::routing::get;

use crate::state::AppState;

// What the single sign-on and connected-apps routes (`crate::routes::sso`,
// `crate::routes::oauth`) share with the pages: the session cookie they set
// or read, the pages they show.
pub(crate) use connected_apps::returned as connect_returned;
pub(crate) use login::signed_in;
pub(crate) use page::{refusal_answer, render, with_security_headers};
pub(crate) use session::{SESSION_COOKIE, Viewer, cookie, new_login_csrf, set_cookie};

/// Every dashboard route, with the security headers on each response.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(|| async { Redirect::to(keys::HOME) }))
        .merge(assets::routes())
        .merge(account::routes())
        .merge(login::routes())
        .merge(keys::routes())
        .merge(projects::routes())
        .merge(secrets::routes())
        .merge(ssh_keys::routes())
        .merge(connected_apps::routes())
        .merge(workspaces::routes())
        .merge(team::routes())
        .merge(join::routes())
        .merge(settings::routes())
        .merge(audit::routes())
        .merge(cli::routes())
        .merge(device::routes())
        .layer(from_fn(page::html_errors))
        .layer(map_response(page::security_headers))
}
