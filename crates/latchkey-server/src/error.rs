//! The one error policy of the HTTP edge.
//!
//! * Handlers return `Result<_, ApiError>`; every failure leaves as
//!   `{"error": {"code", "message"}}` with a fitting status.
//! * Client mistakes (400, 404, 409, 413) say what was wrong with the
//!   request, never whether another organization's record exists: another
//!   org's id is a plain 404. A conflict is a fixed sentence naming the
//!   field (`StoreError::Conflict`), never the database's message.
//! * Authentication failures all say the same thing (401 `unauthorized`);
//!   the real reason goes to the tracing span, not to the client.
//! * Storage trouble: unreachable or saturated database → 503 `unavailable`;
//!   anything unexpected → 500 `internal`, logged with its cause (the request
//!   id is in the span and in the `x-request-id` response header).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::{ErrorBody, ErrorEnvelope};
use latchkey_store::{Conflict, StoreError};

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    connect_url: Option<String>,
    index: Option<usize>,
    rule: Option<&'static str>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code (`not_found`, `last_admin`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The sentence for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the person can connect the app the error is about, if it says.
    pub fn connect_url(&self) -> Option<&str> {
        self.connect_url.as_deref()
    }

    /// The same error with its message prefixed by the field it is about
    /// (`displayName: name must not be empty`).
    #[must_use]
    pub fn prefixed(mut self, field: &str) -> Self {
        self.message = format!("{field}: {}", self.message);
        self
    }

    /// The same error about item `index` of a batch: `keys[index]: …` in
    /// the message, and `index` in the body.
    #[must_use]
    pub fn at_index(self, index: usize) -> Self {
        let mut e = self.prefixed(&format!("keys[{index}]"));
        e.index = Some(index);
        e
    }

    /// Which item of a batch the error is about, if it is.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// The same error naming where the person can connect the app it is
    /// about (`connectUrl` in the body).
    #[must_use]
    pub fn with_connect_url(mut self, url: String) -> Self {
        self.connect_url = Some(url);
        self
    }

    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, connect_url: None, index: None, rule: None }
    }

    /// 400 `policy_violation`: the key breaks a rule of its organization's
    /// key policy, named in the message and in `rule`.
    pub fn policy_violation(v: latchkey_core::policy::Violation) -> Self {
        Self { rule: Some(v.rule.as_str()), ..Self::new(StatusCode::BAD_REQUEST, "policy_violation", v.message) }
    }

    /// The key policy rule a `policy_violation` names.
    pub fn rule(&self) -> Option<&'static str> {
        self.rule
    }

    /// 401: the same answer for missing, malformed, unknown, revoked and
    /// expired credentials.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid or missing authentication")
    }

    /// 403 `forbidden`: the caller's role does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 403 `insufficient_scope`: the credential lacks a scope.
    pub fn insufficient_scope(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", message)
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400 `invalid_scopes`, naming them.
    pub fn invalid_scopes(bad: &[String]) -> Self {
        let list = bad.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
        Self::new(StatusCode::BAD_REQUEST, "invalid_scopes", format!("unknown scopes: {list}; see GET /v1/scopes"))
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {} KiB", limit / 1024),
        )
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// 500 `internal`, logging the cause.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log (x-request-id)")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The conflict's own sentence, the same on every backend; the
            // database's message was logged where it was read.
            StoreError::Conflict(c @ Conflict::LastAdmin) => {
                Self::new(StatusCode::CONFLICT, "last_admin", c.to_string())
            }
            StoreError::Conflict(c @ Conflict::LastSignInMethod) => {
                Self::new(StatusCode::CONFLICT, "last_sign_in_method", c.to_string())
            }
            StoreError::Conflict(c) => Self::conflict(c.to_string()),
            StoreError::Unavailable(ref cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            other => Self::internal(&other),
        }
    }
}

/// `{"error":{"code","message"}}` as bytes, for answers written below the
/// router (the connection limit, hyper's own parse errors).
pub fn envelope_bytes(code: &str, message: &str) -> Vec<u8> {
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: code.to_owned(),
            message: message.to_owned(),
            connect_url: None,
            index: None,
            rule: None,
        },
    };
    serde_json::to_vec(&body)
        .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
                connect_url: self.connect_url,
                index: self.index,
                rule: self.rule.map(str::to_owned),
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
