//! The dashboard's Connected apps page (issue 23, point 7) over HTTP, as a
//! browser signed in to the dashboard uses it: connecting through the page
//! (back on it after the callback, with a notice), the default moved and a
//! connection disconnected with its forms; shared connections shown to
//! members without their controls, whose forged forms the API refuses;
//! admins' client credentials (the secret never shown back, used by the
//! next connect); a grant revoked at the provider offering Reconnect from
//! the `connectUrl` a tool was given; another organization's connections
//! and a form without its CSRF token refused, nothing changed.

use std::time::Duration;

use serde_json::json;

use super::token::{own_client, service, sleep_past, token};
use super::{OAuth, Session, callback_of, connections, find, page, to_callback};
use crate::canary::remember_secret;
use crate::common::ms;
use crate::idp::{idp, unique_sub};

/// The page.
const PAGE: &str = "/dashboard/connected-apps";

/// `PAGE` with `query`, in `s`'s browser: (status, HTML, headers).
async fn open(o: &OAuth, s: &Session, query: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = s.browser.client().get(format!("{}{PAGE}{query}", o.server.url)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.text().await.unwrap(), headers)
}

/// The text of `html` with askama's escapes undone (for messages with
/// apostrophes).
fn text(html: &str) -> String {
    html.replace("&#39;", "'").replace("&quot;", "\"").replace("&amp;", "&")
}

/// The CSRF token of the page's forms.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with its csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Posts one of the page's forms (`path`, `fields`) in `s`'s browser, with
/// the page's CSRF token: (status, `Location`, HTML, headers).
async fn submit(
    o: &OAuth,
    s: &Session,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, String, reqwest::header::HeaderMap) {
    let (_, html, _) = open(o, s, "").await;
    let token = csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    post(o, s, path, &form).await
}

/// Posts `form` as it is (no token added).
async fn post(
    o: &OAuth,
    s: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Option<String>, String, reqwest::header::HeaderMap) {
    let r = s.browser.client().post(format!("{}{path}", o.server.url)).form(form).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let location = headers.get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, location, r.text().await.unwrap(), headers)
}

/// Connects through the page's form (`fields` besides the token): the
/// browser goes to latchkey's authorization page, the IdP and the callback,
/// which sends it back to the page announcing the connection. Returns the
/// connection's id.
async fn connect_here(o: &OAuth, s: &Session, fields: &[(&str, &str)]) -> String {
    let (status, to, html, headers) = submit(o, s, "/dashboard/connected-apps/connect", fields).await;
    assert_eq!(status, 303, "{html}");
    let to = to.unwrap();
    assert!(to.starts_with(&format!("{}/v1/oauth/connect/ocr_", o.server.url)), "{to}");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("latchkey_connect=ocr_") && cookie.contains("HttpOnly"), "{cookie}");
    let callback = to_callback(&s.browser, &to).await;
    let (status, html, back) = page(&s.browser, callback.as_str()).await;
    assert_eq!(status, 303, "{html}");
    let back = back.unwrap();
    let id =
        back.strip_prefix("/dashboard/connected-apps?done=connected&connection=").unwrap_or_else(|| panic!("{back}"));
    assert!(id.starts_with("ocn_"), "{back}");
    id.to_owned()
}

#[tokio::test]
async fn a_person_connects_from_the_page_moves_the_default_and_disconnects() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    let (status, html, headers) = open(&o, &ana, "").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("You have not connected an account yet"), "{html}");
    assert!(html.contains(">Connect Octo</button>") && html.contains(">Connect Plain</button>"), "{html}");
    // Every form's redirects may lead to the providers: the IdP's origin.
    let csp = headers["content-security-policy"].to_str().unwrap();
    let idp_origin = url::Url::parse(&idp().oauth_endpoints().authorize).unwrap().origin().ascii_serialization();
    assert!(csp.contains(&format!("form-action 'self' {idp_origin}")), "{csp}");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    // A member: no credentials form, and connecting for the organization disabled with the API's reason.
    assert!(!html.contains("<h2 id=\"clients\">") && !html.contains("clientSecret"), "{html}");
    assert!(text(&html).contains("the organization's shared connections are made by admins"), "{html}");
    assert!(html.contains("value=\"true\" disabled aria-describedby="), "{html}");
    // Bare has no client: nobody can connect it yet.
    assert!(html.contains("Bare cannot be connected yet"), "{html}");

    let first = o.account_at(&o.octo_client).await;
    let id = connect_here(&o, &ana, &[("provider", "octo"), ("scopes", "repo  read:user")]).await;
    let (status, html, _) = open(&o, &ana, &format!("?done=connected&connection={id}")).await;
    assert_eq!(status, 200);
    let label = format!("{first}@octo.example");
    assert!(
        html.contains(&format!("<p class=\"notice\" role=\"status\">Connected Octo account {label}.</p>")),
        "{html}"
    );
    assert!(html.contains("✓ Default") && html.contains(">Active</td>"), "{html}");
    let list = connections(&ana.api, "").await;
    let c = find(&list, &id);
    assert_eq!((c["owner"].as_str(), c["isDefault"].as_bool()), (Some("user"), Some(true)), "{c}");
    assert_eq!(c["requestedScopes"], json!(["repo", "read:user"]), "{c}");

    // A second account: listed, not the default, until made so.
    o.account_at(&o.octo_client).await;
    let second = connect_here(&o, &ana, &[("provider", "octo"), ("scopes", "")]).await;
    assert_ne!(second, id);
    let (_, html, _) = open(&o, &ana, "").await;
    assert_eq!(html.matches(">Make default</button>").count(), 1, "{html}");
    assert!(html.contains(&format!("action=\"/dashboard/connected-apps/connections/{second}/default\"")), "{html}");
    let (status, to, ..) =
        submit(&o, &ana, &format!("/dashboard/connected-apps/connections/{second}/default"), &[]).await;
    assert_eq!((status, to.as_deref()), (303, Some("/dashboard/connected-apps?done=default")));
    let list = connections(&ana.api, "").await;
    assert_eq!(
        (find(&list, &second)["isDefault"].as_bool(), find(&list, &id)["isDefault"].as_bool()),
        (Some(true), Some(false))
    );

    // Disconnecting the default (its dialog's form) promotes the other.
    let (_, html, _) = open(&o, &ana, "").await;
    assert!(html.contains(&format!("<dialog id=\"disconnect-{second}\"")), "{html}");
    let (status, to, ..) =
        submit(&o, &ana, &format!("/dashboard/connected-apps/connections/{second}/delete"), &[]).await;
    assert_eq!((status, to.as_deref()), (303, Some("/dashboard/connected-apps?done=disconnected")));
    let list = connections(&ana.api, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(find(&list, &id)["isDefault"], true);
    let (_, html, _) = open(&o, &ana, "?done=disconnected").await;
    assert!(html.contains("role=\"status\">Disconnected.</p>"), "{html}");

    // A member may not connect for the organization: the API's refusal in
    // Octo's form, with the scopes typed; nothing started.
    let (status, to, html, headers) = submit(
        &o,
        &ana,
        "/dashboard/connected-apps/connect",
        &[("provider", "octo"), ("scopes", "gist"), ("shared", "true")],
    )
    .await;
    assert_eq!((status, to), (403, None), "{html}");
    assert!(headers.get("set-cookie").is_none());
    assert!(text(&html).contains("the organization's shared connections are made by admins"), "{html}");
    assert!(html.contains("<code>forbidden</code>") && html.contains("value=\"gist\""), "{html}");
    // A malformed scope: the API's 400 in the form.
    let (status, _, html, _) =
        submit(&o, &ana, "/dashboard/connected-apps/connect", &[("provider", "plain"), ("scopes", "a,b é")]).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("<code>invalid_request</code>") && html.contains("`é` is not a scope of Plain"), "{html}");
    // An unknown provider is the error page.
    let (status, _, html, _) = submit(&o, &ana, "/dashboard/connected-apps/connect", &[("provider", "nope")]).await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("<code>not_found</code>"), "{html}");

    // A connect started through the API (the CLI's way) still ends on the
    // callback's own page in the same browser.
    let (_, url) = super::started(&ana.api, "octo", super::Ask::default()).await;
    let callback = to_callback(&ana.browser, &url).await;
    let (status, html, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("You can close this window."), "{html}");
}

#[tokio::test]
async fn shared_connections_are_the_admins_and_client_credentials_are_set_from_the_page() {
    let o = OAuth::start().await;
    let (admin, max, eve) = (o.member("admin").await, o.member("member").await, o.outsider().await);
    o.account_at(&o.octo_client).await;
    let shared = connect_here(&o, &admin, &[("provider", "octo"), ("shared", "true")]).await;
    let mine = connect_here(&o, &max, &[("provider", "octo")]).await;

    // The member sees the shared connection without its controls, and the
    // API refuses their forged forms.
    let (_, html, _) = open(&o, &max, "").await;
    let why = "the organization&#39;s shared connections are changed by admins only";
    assert!(html.contains(why), "{html}");
    assert!(html.contains("<button type=\"button\" disabled aria-describedby=\"why-3\">Disconnect</button>"), "{html}");
    assert!(!html.contains(&format!("<dialog id=\"disconnect-{shared}\"")), "{html}");
    assert!(html.contains(&format!("<dialog id=\"disconnect-{mine}\"")), "{html}");
    for action in ["delete", "default"] {
        let (status, _, html, _) =
            submit(&o, &max, &format!("/dashboard/connected-apps/connections/{shared}/{action}"), &[]).await;
        assert_eq!(status, 403, "{action}: {html}");
        assert!(html.contains(why) && html.contains("<code>forbidden</code>"), "{action}: {html}");
    }
    // Every member's connections are the admins'.
    assert!(text(&html).contains("listing every member's connections needs the admin role"), "{html}");
    let (status, html, _) = open(&o, &max, "?all=true").await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("<code>forbidden</code>"), "{html}");
    let (_, html, _) = open(&o, &admin, "?all=true").await;
    assert!(html.contains("Members&#39; connections") && html.contains(&format!("disconnect-{mine}")), "{html}");

    // Another organization's person: 404 pages, nothing changed.
    for id in [&shared, &mine] {
        for action in ["delete", "default"] {
            let (status, _, html, _) =
                submit(&o, &eve, &format!("/dashboard/connected-apps/connections/{id}/{action}"), &[]).await;
            assert_eq!(status, 404, "{action}: {html}");
            assert!(html.contains("<code>not_found</code>"), "{html}");
        }
    }
    // A form without its token: refused, nothing changed.
    let (status, _, html, _) =
        post(&o, &admin, &format!("/dashboard/connected-apps/connections/{shared}/delete"), &[("csrf", "forged")])
            .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("csrf_failed"), "{html}");
    assert_eq!(connections(&o.server.admin(), "?allOrg=true").await.len(), 2);

    // Admins: the organization's own client for Bare, the secret never shown back.
    let (client, secret) = (unique_sub("page-app"), unique_sub("page-secret"));
    remember_secret(&secret);
    idp().register_oauth_client(&client, &secret, &[&callback_of(&o.server)], None).await;
    let (_, html, _) = open(&o, &admin, "").await;
    assert!(
        html.contains("<h2 id=\"clients\">") && html.contains("None: Bare cannot be connected until one is set."),
        "{html}"
    );
    let path = "/dashboard/connected-apps/clients/bare";
    let (status, _, html, _) = submit(&o, &admin, path, &[("clientId", "   "), ("clientSecret", &secret)]).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("clientId must be 1–256 characters") && !html.contains(&secret), "{html}");
    let (status, _, html, _) = submit(&o, &max, path, &[("clientId", "mine"), ("clientSecret", &secret)]).await;
    assert_eq!(status, 403, "{html}");
    let (status, to, ..) = submit(&o, &admin, path, &[("clientId", &client), ("clientSecret", &secret)]).await;
    assert_eq!((status, to.as_deref()), (303, Some("/dashboard/connected-apps?done=client-saved")));
    let (_, html, _) = open(&o, &admin, "?done=client-saved").await;
    assert!(html.contains(&format!("The organization's own: <code>{client}</code>, secret set.")), "{html}");
    assert!(!html.contains(&secret) && !html.contains("Bare cannot be connected yet"), "{html}");
    // The next connect uses it: the IdP's client signs the admin's account in.
    let sub = o.account_at(&client).await;
    let bare = connect_here(&o, &admin, &[("provider", "bare")]).await;
    let list = connections(&admin.api, "?provider=bare").await;
    assert_eq!(find(&list, &bare)["accountId"], sub.as_str());
    // Removed (its dialog's form): Bare cannot be connected again.
    let (status, to, ..) = submit(&o, &admin, "/dashboard/connected-apps/clients/bare/delete", &[]).await;
    assert_eq!((status, to.as_deref()), (303, Some("/dashboard/connected-apps?done=client-removed")));
    let (_, html, _) = open(&o, &admin, "").await;
    assert!(html.contains("Bare cannot be connected yet"), "{html}");
    let (status, _, html, _) = submit(&o, &admin, "/dashboard/connected-apps/clients/bare/delete", &[]).await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("<code>not_found</code>"), "{html}");
}

#[tokio::test]
async fn a_grant_revoked_at_the_provider_is_reconnected_from_the_connect_url_a_tool_got() {
    let o = OAuth::start().await;
    let ttl = Duration::from_secs(2);
    let (client, _) = own_client(&o, ttl).await;
    let sub = o.account_at(&client).await;
    let ana = o.member("member").await;
    let id = connect_here(&o, &ana, &[("provider", "bare"), ("scopes", "read:user")]).await;
    let svc = service(&o);
    let body = json!({"provider": "bare", "userId": ana.user_id()});
    let (status, answer) = token(&svc, &body).await;
    assert_eq!(status, 200, "{answer}");
    remember_secret(answer["data"]["accessToken"].as_str().unwrap());
    assert!(idp().revoke_grant(&sub, &client).await >= 1);
    sleep_past(ms(&answer["data"]["expiresAt"])).await;
    let (status, answer) = token(&svc, &body).await;
    assert_eq!(status, 409, "{answer}");
    let connect_url = answer["error"]["connectUrl"].as_str().unwrap();
    let query = connect_url.strip_prefix(&format!("{}{PAGE}", o.server.url)).unwrap();
    assert_eq!(query, "?connect=bare");

    // The page points Bare's form out and offers Reconnect on the row; a
    // GET starts nothing.
    let (status, html, _) = open(&o, &ana, query).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("A tool needs a connection to Bare: connect it (again) here."), "{html}");
    assert!(html.contains("class=\"primary\" autofocus>Connect Bare</button>"), "{html}");
    assert!(html.contains(">Needs reauthorization</td>") && html.contains(">Reconnect</button>"), "{html}");
    assert!(
        html.contains(
            "name=\"provider\" value=\"bare\">\n        <input type=\"hidden\" name=\"scopes\" value=\"read:user\">"
        ),
        "{html}"
    );
    let (_, other, _) = open(&o, &ana, "?connect=%3Cscript%3E").await;
    assert!(!other.contains("A tool needs") && !other.contains("<script>"), "nothing of the query is echoed");
    assert_eq!(connections(&ana.api, "").await.len(), 1);

    // Reconnect (the row's form: the same scopes) updates it in place.
    let again = connect_here(&o, &ana, &[("provider", "bare"), ("scopes", "read:user")]).await;
    assert_eq!(again, id);
    let list = connections(&ana.api, "").await;
    assert_eq!((list.len(), find(&list, &id)["status"].as_str()), (1, Some("active")), "{list:?}");
    let (status, answer) = token(&svc, &body).await;
    assert_eq!(status, 200, "{answer}");
    remember_secret(answer["data"]["accessToken"].as_str().unwrap());
}
