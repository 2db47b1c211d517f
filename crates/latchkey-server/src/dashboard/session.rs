//! The dashboard's viewer: a person's session, carried by a cookie, and the
//! CSRF token every state-changing form must send back.
//!
//! * The cookie `latchkey_session` holds an ordinary session token (`lks_…`,
//!   what `POST /v1/auth/login` grants), `HttpOnly`, `SameSite=Lax`, and
//!   `Secure` when the server is told it is behind HTTPS. It is read only
//!   here: the JSON API never accepts it, so a page elsewhere cannot make
//!   a browser call the API with it.
//! * The CSRF token of a signed-in form is an HMAC of a fixed label keyed
//!   by the session token: bound to the session, the same on every node,
//!   nothing stored, and useless without the cookie (which scripts cannot
//!   read). The sign-in form, before there is a session, uses a random
//!   double-submit cookie (`latchkey_csrf`) instead.
//! * A POST is refused (403 `csrf_failed`) without the right token, or with
//!   an `Origin` other than the server's own.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use latchkey_core::time_fmt::now_ms;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::auth::{Caller, SessionRefusal, session_caller};
use crate::error::ApiError;
use crate::extract::{MAX_BODY, local_path};
use crate::state::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "latchkey_session";

/// The sign-in form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "latchkey_csrf";

/// Where a visitor without a session is sent.
pub const LOGIN: &str = "/dashboard/login";

/// The person looking at the dashboard: their [`Caller`] (in the session's
/// current organization) and the CSRF token of their forms.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The caller, exactly as the JSON API would see this session.
    pub caller: Caller,
    /// The token every form of theirs carries in its `csrf` field.
    pub csrf: String,
    /// The request id, shown with errors.
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to(&login_for(parts)).into_response());
        };
        match session_caller(state, None, token, now_ms()).await {
            Ok(caller) => Ok(Self { caller, csrf: session_csrf(token), request_id: request_id(&parts.headers) }),
            // Signed out, expired or revoked: back to the sign-in page,
            // forgetting the cookie.
            Err(SessionRefusal::Invalid) => {
                let mut res = Redirect::to(&login_for(parts)).into_response();
                res.headers_mut().append(axum::http::header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
                Err(res)
            }
            Err(SessionRefusal::Error(e)) => Err(super::page::error_page(&e, request_id(&parts.headers).as_deref())),
        }
    }
}

/// The sign-in page for a visitor without a session at `parts`' page: with
/// `return_to` naming the page (path and query) when it is one to come back
/// to (a `GET` of a path [`local_path`] accepts), so that signing in leads
/// there.
pub fn login_for(parts: &Parts) -> String {
    let here = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    match local_path(here) {
        Some(to) if parts.method == axum::http::Method::GET => login_returning_to(to),
        _ => LOGIN.to_owned(),
    }
}

/// The sign-in page, coming back to the local path `to` after signing in.
pub fn login_returning_to(to: &str) -> String {
    format!("{LOGIN}?return_to={}", url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>())
}

/// A submitted form of a signed-in viewer, its CSRF token checked: the
/// viewer and the form's fields as `T` (which must not refuse the extra
/// `csrf` field).
#[derive(Debug)]
pub struct Submitted<T> {
    /// Who submitted it.
    pub viewer: Viewer,
    /// The fields.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Submitted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let rid = viewer.request_id.clone();
        let fail = |e: ApiError| super::page::error_page(&e, rid.as_deref());
        check_origin(&parts.headers).map_err(fail)?;
        let bytes = read_form(Request::from_parts(parts, body), state).await.map_err(fail)?;
        let sent = csrf_field(&bytes);
        if !same_token(sent.as_deref(), Some(&viewer.csrf)) {
            return Err(fail(csrf_failed()));
        }
        let form = parse_form(&bytes).map_err(fail)?;
        Ok(Self { viewer, form })
    }
}

/// The query string of a page (a `GET` form's fields: filters, a cursor)
/// as `T`, parsed like a submitted form: a repeated field into a `Vec`, an
/// empty field as `None`. Refused with the API's 400 `invalid_request`.
#[derive(Debug)]
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for PageQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        serde_html_form::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))
    }
}

/// A form sent before there is a session (sign-in): checked against the
/// double-submit cookie.
#[derive(Debug)]
pub struct AnonymousForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AnonymousForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let rid = request_id(req.headers());
        let fail = |e: ApiError| super::page::error_page(&e, rid.as_deref());
        check_origin(req.headers()).map_err(fail)?;
        let expected = cookie(req.headers(), LOGIN_CSRF_COOKIE).map(str::to_owned);
        let bytes = read_form(req, state).await.map_err(fail)?;
        let sent = csrf_field(&bytes);
        if expected.as_deref().is_none_or(str::is_empty) || !same_token(sent.as_deref(), expected.as_deref()) {
            return Err(fail(csrf_failed()));
        }
        parse_form(&bytes).map(Self).map_err(fail)
    }
}

/// 403 `csrf_failed`.
fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this form was not sent from the dashboard page that shows it (missing or wrong CSRF token); reload the page and try again",
    )
}

/// The CSRF token of the session whose token is `session_token`.
pub fn session_csrf(session_token: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(session_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(b"latchkey dashboard csrf v1");
    Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes())
}

/// A fresh random token for the sign-in form's double-submit cookie.
pub fn new_login_csrf() -> Result<String, ApiError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(Base64UrlUnpadded::encode_string(&bytes))
}

/// Whether `sent` is `expected`, in constant time (the length aside).
fn same_token(sent: Option<&str>, expected: Option<&str>) -> bool {
    match (sent, expected) {
        (Some(s), Some(e)) if !e.is_empty() => s.as_bytes().ct_eq(e.as_bytes()).into(),
        _ => false,
    }
}

/// A cross-site POST carries its page's `Origin`: refused unless it is
/// this server's (`Host`). Browsers send `Origin` on every POST; a request
/// without one (not a browser) still needs the token.
fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else { return Ok(()) };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) { Ok(()) } else { Err(csrf_failed()) }
}

async fn read_form(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_BODY)
        } else {
            ApiError::bad_request(format!("could not read the form: {rejection}"))
        }
    })
}

/// The `csrf` field of a form body.
fn csrf_field(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Csrf {
        csrf: Option<String>,
    }
    serde_html_form::from_bytes::<Csrf>(bytes).ok().and_then(|c| c.csrf)
}

/// The form's fields as `T`.
fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_html_form::from_bytes(bytes).map_err(|e| ApiError::bad_request(format!("the form is not valid: {e}")))
}

/// The request id the server gave this request.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The value of the cookie `name`, if the request carries it once.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim());
    let first = found.next();
    // Two cookies of one name (one planted on a parent domain, say): neither is trusted.
    if found.next().is_some() { None } else { first }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure`
/// when `secure`; `max_age` in seconds, or a session cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that removes the cookie `name`.
pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_session_and_reveals_nothing_of_it() {
        let a = session_csrf("lks_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let b = session_csrf("lks_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_ne!(a, b);
        assert_eq!(a, session_csrf("lks_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!a.contains("aaaa"));
        assert_eq!(a.len(), 43, "256 bits, base64url");
    }

    #[test]
    fn tokens_compare_only_when_both_are_present_and_equal() {
        assert!(same_token(Some("abc"), Some("abc")));
        assert!(!same_token(Some("abd"), Some("abc")));
        assert!(!same_token(None, Some("abc")));
        assert!(!same_token(Some(""), Some("")));
        assert!(!same_token(Some("abc"), None));
    }

    #[test]
    fn a_cross_site_origin_is_refused_and_the_own_origin_passes() {
        assert!(check_origin(&headers(&[("host", "127.0.0.1:7420"), ("origin", "http://127.0.0.1:7420")])).is_ok());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:7420")])).is_ok());
        for bad in ["http://evil.example", "null", "http://127.0.0.1:7421", "http://127.0.0.1:7420.evil.example"] {
            assert!(check_origin(&headers(&[("host", "127.0.0.1:7420"), ("origin", bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_a_doubled_cookie_is_refused() {
        let h = headers(&[("cookie", "a=1; latchkey_session=lks_x; latchkey_session_b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("lks_x"));
        assert_eq!(cookie(&h, "missing"), None);
        let twice = headers(&[("cookie", "latchkey_session=lks_x"), ("cookie", "latchkey_session=lks_y")]);
        assert_eq!(cookie(&twice, SESSION_COOKIE), None);
    }

    #[test]
    fn the_csrf_field_is_read_among_others() {
        assert_eq!(csrf_field(b"name=x&csrf=tok&scopes=a&scopes=b").as_deref(), Some("tok"));
        assert_eq!(csrf_field(b"name=x"), None);
    }

    #[test]
    fn a_page_query_reads_empty_fields_as_none_and_repeated_ones_as_a_list() {
        #[derive(Deserialize)]
        struct Q {
            status: Option<latchkey_api_types::KeyStatus>,
            search: Option<String>,
            #[serde(default)]
            scopes: Vec<String>,
        }
        let q: Q = serde_html_form::from_str("status=&search=&scopes=a&scopes=b").unwrap();
        assert_eq!((q.status, q.search, q.scopes), (None, None, vec!["a".to_owned(), "b".to_owned()]));
        let q: Q = serde_html_form::from_str("status=revoked&search=a+b%26c").unwrap();
        assert_eq!((q.status, q.search.as_deref()), (Some(latchkey_api_types::KeyStatus::Revoked), Some("a b&c")));
        assert!(serde_html_form::from_str::<Q>("status=rotating").is_err());
    }

    #[test]
    fn a_page_opened_without_a_session_is_returned_to_after_signing_in() {
        let parts = |method: &str, uri: &str| {
            axum::http::Request::builder().method(method).uri(uri).body(()).unwrap().into_parts().0
        };
        assert_eq!(
            login_for(&parts("GET", "/dashboard/keys?status=active&search=a")),
            "/dashboard/login?return_to=%2Fdashboard%2Fkeys%3Fstatus%3Dactive%26search%3Da"
        );
        assert_eq!(login_for(&parts("POST", "/dashboard/keys")), LOGIN);
        assert_eq!(login_for(&parts("GET", "//evil.example/x")), LOGIN);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_on_request() {
        let c = set_cookie(SESSION_COOKIE, "v", Some(60), false);
        assert_eq!(c, "latchkey_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60");
        assert!(set_cookie(SESSION_COOKIE, "v", None, true).to_str().unwrap().ends_with("; Secure"));
    }
}
