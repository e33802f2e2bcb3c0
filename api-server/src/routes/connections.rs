//! `/connections`: credentials of external systems.

use airlock_protocol::api::{ConnectionResponse, HTTPExceptionResponse};
use airlock_store as store;
use axum::Json;
use axum::extract::State;

use crate::auth::TaskCaller;
use crate::error::ApiResult;
use crate::extract::Path;
use crate::state::AppState;
use airlock_store::error::StoreError;

/// Get a Connection.
#[utoipa::path(get, path = "/connections/{connection_id}", tag = "Connections",
    params(("connection_id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The Connection", body = ConnectionResponse),
        (status = 404, description = "Connection not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_connection(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path(conn_id): Path<String>,
) -> ApiResult<Json<ConnectionResponse>> {
    if let Some(c) = s.env_secrets.connection(&conn_id) {
        return Ok(Json(c));
    }
    store::connections::get_connection(&s.db, &s.cipher, &conn_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            StoreError::not_found(format!("Connection with ID {conn_id} not found")).into()
        })
}
