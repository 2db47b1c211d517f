//! The dashboard's stylesheet and script, compiled into the binary: nothing
//! is fetched from elsewhere, and `cargo build` needs no Node.

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The embedded files: name, content type, contents.
const FILES: [(&str, &str, &str); 2] = [
    ("dashboard.css", "text/css; charset=utf-8", include_str!("../../assets/dashboard/dashboard.css")),
    ("dashboard.js", "text/javascript; charset=utf-8", include_str!("../../assets/dashboard/dashboard.js")),
];

/// `GET /dashboard/assets/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard/assets/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, ..)| *name == file) {
        Some((_, content_type, body)) => {
            let mut res = (*body).into_response();
            res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            // Revalidated on every use: a new release's files are seen at once.
            res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            res
        }
        None => ApiError::not_found("asset").into_response(),
    }
}
