//! Pools (tag "Airlock Control"): named slot budgets shared by tasks of any DAG; `airlock pools`
//! calls these. The scheduler's admission enforces them.

use airlock_protocol::api::{HTTPExceptionResponse, PoolBody, PoolList};
use airlock_store as store;
use airlock_store::notify::Topic;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::{AdminCaller, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::AppState;

/// Every pool with the slots running, queued and scheduled task instances take.
#[utoipa::path(get, path = "/airlock/control/pools", tag = "Airlock Control",
    responses((status = 200, description = "The pools, by name", body = PoolList)),
    security(("JWTBearer" = [])))]
pub async fn list_pools(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<PoolList>> {
    Ok(Json(PoolList {
        pools: store::pools::list_pools(&s.db).await?,
    }))
}

/// Create a pool or change its size; task instances waiting for it are admitted as slots allow.
#[utoipa::path(put, path = "/airlock/control/pools/{pool_name}", tag = "Airlock Control",
    params(("pool_name" = String, Path, description = "Pool name")),
    request_body = PoolBody,
    responses(
        (status = 201, description = "Created"),
        (status = 204, description = "Changed"),
        (status = 400, description = "An invalid name or slot count", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn put_pool(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<PoolBody>,
) -> ApiResult<StatusCode> {
    if name.is_empty() || name.len() > 250 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(ApiError::BadRequest {
            reason: "invalid_pool_name",
            message: format!(
                "a pool name has 1 to 250 characters, no '/' or control characters: {name:?}"
            ),
        });
    }
    let created =
        store::pools::put_pool(&s.db, &name, body.slots, body.description.as_deref()).await?;
    // A bigger pool may let waiting task instances in.
    s.hub.publish(Topic::Changed);
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// Delete a pool (not `default_pool`, nor one whose slots are held).
#[utoipa::path(delete, path = "/airlock/control/pools/{pool_name}", tag = "Airlock Control",
    params(("pool_name" = String, Path, description = "Pool name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "It is default_pool", body = HTTPExceptionResponse),
        (status = 404, description = "No such pool", body = HTTPExceptionResponse),
        (status = 409, description = "Queued or running task instances hold its slots", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_pool(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    store::pools::delete_pool(&s.db, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
