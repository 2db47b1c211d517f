//! The contract and its reader: `GET /openapi.json` (the document,
//! [`crate::openapi`]) and `GET /docs`, an API reference rendered from it
//! by Swagger UI, whose files are inside the binary (`utoipa-swagger-ui`
//! with its `vendored` feature): nothing is fetched from elsewhere, at build
//! or at run time.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::ErrorEnvelope;
use utoipa_swagger_ui::Config;

use crate::authz::AuthCheck;
use crate::error::ApiError;

/// Who may read the document and its viewer: anyone.
const OPENAPI: AuthCheck = AuthCheck::public();
/// Who may read [`docs`].
const DOCS: AuthCheck = AuthCheck::public();
/// Who may read [`docs_file`].
const DOCS_FILE: AuthCheck = AuthCheck::public();

/// The page: the viewer's styles and scripts, all under `/docs/`.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>latchkey API reference</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="/docs/swagger-ui-standalone-preset.js" charset="utf-8"></script>
    <script src="/docs/swagger-initializer.js" charset="utf-8"></script>
  </body>
</html>
"#;

/// The viewer's configuration: this server's document, and no online
/// validator (Swagger UI would otherwise send the document's address to
/// `validator.swagger.io`).
static CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::from("/openapi.json").validator_url("none").try_it_out_enabled(true)));

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "reference",
    responses((status = 200, description = "The OpenAPI 3.1 document (`docs/openapi.json`)", body = Object)),
    extensions(("x-latchkey-auth" = json!(OPENAPI)))
)]
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], crate::openapi::JSON.as_str())
        .into_response()
}

/// `GET /docs`: the API reference, rendered in the browser from
/// `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "getApiReference",
    tag = "reference",
    responses((status = 200, description = "The reference page", content_type = "text/html", body = String)),
    extensions(("x-latchkey-auth" = json!(DOCS)))
)]
pub async fn docs() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], PAGE).into_response()
}

/// `GET /docs/{file}`: one of the viewer's files (scripts, styles, icons).
#[utoipa::path(
    get,
    path = "/docs/{file}",
    operation_id = "getApiReferenceFile",
    tag = "reference",
    params(("file" = String, Path, description = "A file of the viewer (`swagger-ui-bundle.js`, …)")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"), (String = "text/css"), (String = "image/png"), (String = "application/json")
        )),
        (status = 404, description = "`not_found`: no such file", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(DOCS_FILE)))
)]
pub async fn docs_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    let served =
        if file == "index.html" { None } else { utoipa_swagger_ui::serve(&file, Arc::clone(&CONFIG)).ok().flatten() };
    let Some(found) = served else { return Err(ApiError::not_found("file")) };
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("map" | "json") => "application/json",
        _ => return Err(ApiError::not_found("file")),
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], found.bytes.into_owned()).into_response())
}
