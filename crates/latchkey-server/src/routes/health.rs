//! Liveness.

use axum::Json;
use serde_json::{Value, json};

use crate::authz::AuthCheck;

/// Who may call [`healthz`].
const HEALTHZ: AuthCheck = AuthCheck::public();

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)),
    extensions(("x-latchkey-auth" = json!(HEALTHZ)))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
