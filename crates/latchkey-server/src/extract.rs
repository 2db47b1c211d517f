//! Request extractors that fail with the error envelope instead of axum's
//! plain-text rejections, and the checks of the fields people type (names,
//! emails) that several routes share.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;

/// Largest `POST /v1/api-keys/batch` body: 1,000 keys
/// ([`latchkey_api_types::MAX_BATCH_KEYS`]) of up to about 1 KiB each (a
/// name, a few scopes, a project, limits and credits take a few hundred
/// bytes). The route's own `DefaultBodyLimit` layer enforces it.
pub const MAX_BATCH_BODY: usize = 1024 * 1024;

/// Largest `POST /v1/api-keys/import` body: 10,000 keys
/// ([`latchkey_api_types::MAX_IMPORT_KEYS`]) of up to about 1.6 KiB each (a
/// hash, a name, a few scopes, an expiry, an owner and an external id take
/// a few hundred bytes). The route's own `DefaultBodyLimit` layer enforces
/// it.
pub const MAX_IMPORT_BODY: usize = 16 * 1024 * 1024;

/// A JSON body. Content-Type is not insisted on (curl users forget it); the
/// body must parse as `T`, whose unknown fields are refused.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state, MAX_BODY).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// A JSON body of up to [`MAX_BATCH_BODY`] (on a route with that limit),
/// otherwise as [`JsonBody`].
#[derive(Debug)]
pub struct BatchJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for BatchJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state, MAX_BATCH_BODY).await?;
        parse(&bytes).map(BatchJsonBody)
    }
}

/// The raw bytes of a body of up to [`MAX_BATCH_BODY`] (on a route with
/// that limit), for a route that checks a signature over them before
/// parsing (`POST /v1/leaks`).
#[derive(Debug)]
pub struct BatchRawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BatchRawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state, MAX_BATCH_BODY).await.map(BatchRawBody)
    }
}

/// The raw bytes of a body of up to [`MAX_IMPORT_BODY`] (on a route with
/// that limit): `POST /v1/api-keys/import`, which parses JSON lines or an
/// array itself.
#[derive(Debug)]
pub struct ImportRawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ImportRawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state, MAX_IMPORT_BODY).await.map(ImportRawBody)
    }
}

/// A JSON body that may be absent (empty body means `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state, MAX_BODY).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

/// The body, up to the route's `DefaultBodyLimit` (`limit`, for the 413's
/// message).
async fn read_body<S: Send + Sync>(req: Request, state: &S, limit: usize) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request(format!("could not read the request body: {rejection}"))
        }
    })
}

/// Parses a request body, which must be a JSON object: serde's derived
/// structs also take a JSON array of their fields in order, so `["x"]`
/// would otherwise rename a key (strings, numbers and `null` are refused
/// by the structs themselves).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON",
            _ => "invalid request body",
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })
}

/// Query parameters, failing with 400 and the envelope.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {}", e.body_text())))
    }
}

/// `?limit=&cursor=` for lists.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates into a storage page.
    pub fn page(&self) -> Result<latchkey_store::Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request("limit must be between 1 and 100"));
        }
        Ok(latchkey_store::Page { limit, before: self.cursor.clone() })
    }
}

/// Splits `limit + 1` fetched rows into a page and its next cursor.
pub fn paginate<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| id(r).to_owned());
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Validates a name people will read (a key's, a project's, an
/// organization's…): trimmed, 1–255 characters, no control characters
/// (`latchkey_core::text::check_name`).
pub fn check_name(name: &str) -> Result<String, ApiError> {
    latchkey_core::text::check_name(name).map(str::to_owned).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A plausible email, lowercased (`latchkey_core::text::check_email`).
pub fn check_email(email: &str) -> Result<String, ApiError> {
    latchkey_core::text::check_email(email).ok_or_else(|| ApiError::bad_request("email is not a valid email address"))
}

/// `to` if it is a path on this server, for the redirect after a sign-in
/// (`return_to`): it starts with one `/` (not `//` or `/\`, which browsers
/// read as another host), and holds no control character or backslash.
/// Anything else (`https://evil.example`, `//evil.example`, `javascript:`)
/// is `None`.
pub fn local_path(to: &str) -> Option<&str> {
    let ok = to.starts_with('/')
        && !to.starts_with("//")
        && to.len() <= 2048
        && !to.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(to)
}

/// The origin people reach this server at (`https://latchkey.example.com`,
/// no trailing `/`): `public_url` when configured, else the request's
/// `Host` with `https` when [`crate::Settings::behind_https`], `http`
/// otherwise. Used for the URLs latchkey hands to browsers and identity
/// providers (callbacks, device verification).
pub fn public_origin(parts: &Parts, settings: &crate::Settings) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\' && b != b'@'))
        .unwrap_or("localhost");
    let scheme = if settings.behind_https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_server_are_return_targets() {
        for ok in [
            "/dashboard",
            "/dashboard/keys?status=active",
            "/dashboard/cli/authorize?redirect_uri=http%3A%2F%2F127.0.0.1",
        ] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "dashboard",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/dash\nboard",
            "/\tx",
            " /dashboard",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
