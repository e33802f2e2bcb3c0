//! Control routes for Variables and Connections (tag "Airlock Control", `admin`-scope tokens),
//! for `airlock vars|conns`. A Connection's password and extra never leave the server here:
//! only tasks read them, through `GET /connections/{id}`.

use airlock_protocol::api::{
    ConnectionBody, ConnectionList, ConnectionResponse, ConnectionSummary, HTTPExceptionResponse,
    HTTPValidationError, VariableBody, VariableEntry, VariableList,
};
use airlock_store as store;
use airlock_store::error::StoreError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::auth::AdminCaller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path, Query};
use crate::state::AppState;

use super::variables::KeysParams;

/// The path extractor bounds ids already; a body field (the type) and an empty wildcard key
/// are checked here, against the same limit.
fn check_id(what: &str, id: &str) -> Result<(), StoreError> {
    use airlock_protocol::dag::MAX_ID_LEN;
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "invalid_id",
            format!(
                "a {what} must be 1 to {MAX_ID_LEN} bytes without control characters, not {id:?}"
            ),
        ));
    }
    Ok(())
}

/// Variables with their values, by key.
#[utoipa::path(get, path = "/airlock/control/variables", tag = "Airlock Control",
    params(KeysParams),
    responses(
        (status = 200, description = "A page of Variables", body = VariableList),
        (status = 422, description = "limit or offset out of range", body = HTTPValidationError)),
    security(("JWTBearer" = [])))]
pub async fn list_variables(
    State(s): State<AppState>,
    _: AdminCaller,
    Query(p): Query<KeysParams>,
) -> ApiResult<Json<VariableList>> {
    p.check()?;
    Ok(Json(
        store::variables::list_variables(&s.db, p.prefix.as_deref(), p.limit, p.offset).await?,
    ))
}

/// The `{*variable_key}` path parameter (may contain '/').
#[derive(Debug, Deserialize)]
pub struct VariablePath {
    variable_key: String,
}

/// A Variable with its description.
#[utoipa::path(get, path = "/airlock/control/variables/{variable_key}", tag = "Airlock Control",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    responses(
        (status = 200, description = "The Variable", body = VariableEntry),
        (status = 404, description = "No such Variable", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_variable(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(p): Path<VariablePath>,
) -> ApiResult<Json<VariableEntry>> {
    store::variables::get_variable_entry(&s.db, &p.variable_key)
        .await?
        .map(Json)
        .ok_or_else(|| {
            StoreError::not_found(format!("no Variable with key {:?}", p.variable_key)).into()
        })
}

/// Create or replace a Variable.
#[utoipa::path(put, path = "/airlock/control/variables/{variable_key}", tag = "Airlock Control",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    request_body = VariableBody,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "An empty or too long key", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn put_variable(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(p): Path<VariablePath>,
    JsonBody(body): JsonBody<VariableBody>,
) -> ApiResult<StatusCode> {
    check_id("Variable key", &p.variable_key)?;
    store::variables::put_variable(
        &s.db,
        &p.variable_key,
        Some(&body.value),
        body.description.as_deref(),
        store::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a Variable.
#[utoipa::path(delete, path = "/airlock/control/variables/{variable_key}", tag = "Airlock Control",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such Variable", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_variable(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(p): Path<VariablePath>,
) -> ApiResult<StatusCode> {
    if !store::variables::delete_variable(&s.db, &p.variable_key).await? {
        return Err(
            StoreError::not_found(format!("no Variable with key {:?}", p.variable_key)).into(),
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every Connection, without passwords or extras.
#[utoipa::path(get, path = "/airlock/control/connections", tag = "Airlock Control",
    responses((status = 200, description = "The Connections, by id", body = ConnectionList)),
    security(("JWTBearer" = [])))]
pub async fn list_connections(
    State(s): State<AppState>,
    _: AdminCaller,
) -> ApiResult<Json<ConnectionList>> {
    Ok(Json(ConnectionList {
        connections: store::connections::list_connections(&s.db, None).await?,
    }))
}

/// A Connection, without its password or extra.
#[utoipa::path(get, path = "/airlock/control/connections/{connection_id}", tag = "Airlock Control",
    params(("connection_id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The Connection", body = ConnectionSummary),
        (status = 404, description = "No such Connection", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_connection(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(conn_id): Path<String>,
) -> ApiResult<Json<ConnectionSummary>> {
    store::connections::list_connections(&s.db, Some(&conn_id))
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| StoreError::not_found(format!("no Connection with id {conn_id:?}")).into())
}

/// Create or replace a Connection; its password and extra are stored encrypted.
#[utoipa::path(put, path = "/airlock/control/connections/{connection_id}", tag = "Airlock Control",
    params(("connection_id" = String, Path, description = "Connection id")),
    request_body = ConnectionBody,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "A bad id, type, port or extra (not a JSON object)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn put_connection(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(conn_id): Path<String>,
    JsonBody(b): JsonBody<ConnectionBody>,
) -> ApiResult<StatusCode> {
    check_id("Connection id", &conn_id)?;
    let conn = ConnectionResponse {
        conn_id,
        conn_type: b.conn_type,
        host: b.host,
        schema: b.schema,
        login: b.login,
        password: b.password,
        port: b.port,
        extra: b.extra,
    };
    store::connections::validate(&conn)?;
    store::connections::put_connection(&s.db, &s.cipher, &conn, store::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a Connection.
#[utoipa::path(delete, path = "/airlock/control/connections/{connection_id}", tag = "Airlock Control",
    params(("connection_id" = String, Path, description = "Connection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such Connection", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_connection(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(conn_id): Path<String>,
) -> ApiResult<StatusCode> {
    if !store::connections::delete_connection(&s.db, &conn_id).await? {
        return Err(StoreError::not_found(format!("no Connection with id {conn_id:?}")).into());
    }
    Ok(StatusCode::NO_CONTENT)
}
