//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::AppState;

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/health", tag = "Health",
    responses((status = 200, description = "The server is up", body = Object, example = json!({"status": "healthy"}))))]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy" }))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/health/ping", tag = "Health",
    responses(
        (status = 200, description = "Every dependency answers", body = Object),
        (status = 503, description = "A dependency does not answer", body = Object)))]
pub async fn ping(State(s): State<AppState>) -> Response {
    match s.db.ping().await {
        Ok(()) => Json(json!({ "ok": ["database"], "failing": {} })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ok": [], "failing": { "database": e.to_string() } })),
        )
            .into_response(),
    }
}
