//! `/variables`: global key/value settings. Keys may contain `/`.

use airlock_protocol::api::{
    HTTPExceptionResponse, HTTPValidationError, VariableKeysResponse, VariablePostBody,
    VariableResponse,
};
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::TaskCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, Query};
use crate::fence::RunningTry;
use crate::state::AppState;
use airlock_store::error::StoreError;

/// Query of `GET /variables/keys` (and of the control API's Variable listing).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysParams {
    /// Only keys starting with this.
    pub(super) prefix: Option<String>,
    /// Page size (1..=10000).
    #[serde(default = "default_limit")]
    #[param(default = 1000, minimum = 1, maximum = 10000)]
    pub(super) limit: i64,
    /// Keys to skip.
    #[serde(default)]
    #[param(minimum = 0)]
    pub(super) offset: i64,
}

impl KeysParams {
    /// Refuses a page size or offset out of range (422, as FastAPI would).
    pub(super) fn check(&self) -> Result<(), ApiError> {
        if !(1..=10_000).contains(&self.limit) {
            return Err(ApiError::invalid(
                vec![json!("query"), json!("limit")],
                "value_error",
                "limit must be between 1 and 10000",
            ));
        }
        if self.offset < 0 {
            return Err(ApiError::invalid(
                vec![json!("query"), json!("offset")],
                "value_error",
                "offset must be at least 0",
            ));
        }
        Ok(())
    }
}

fn default_limit() -> i64 {
    1000
}

/// List Variable keys.
#[utoipa::path(get, path = "/variables/keys", tag = "Variables",
    params(KeysParams),
    responses(
        (status = 200, description = "A page of keys", body = VariableKeysResponse),
        (status = 422, description = "limit or offset out of range", body = HTTPValidationError)),
    security(("JWTBearer" = [])))]
pub async fn get_variable_keys(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<KeysParams>,
) -> ApiResult<Json<VariableKeysResponse>> {
    p.check()?;
    Ok(Json(
        store::variables::variable_keys(&s.db, p.prefix.as_deref(), p.limit, p.offset).await?,
    ))
}

/// The `{variable_key}` path parameter (may contain '/').
#[derive(Debug, Deserialize)]
pub struct VariablePath {
    variable_key: String,
}

/// Get a Variable.
#[utoipa::path(get, path = "/variables/{variable_key}", tag = "Variables",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    responses(
        (status = 200, description = "The Variable", body = VariableResponse),
        (status = 404, description = "Variable not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_variable(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path(p): Path<VariablePath>,
) -> ApiResult<Json<VariableResponse>> {
    if let Some(value) = s.env_secrets.variable(&p.variable_key) {
        return Ok(Json(VariableResponse {
            key: p.variable_key,
            value: Some(value.to_owned()),
        }));
    }
    match store::variables::get_variable(&s.db, &p.variable_key).await? {
        Some(value) => Ok(Json(VariableResponse {
            key: p.variable_key,
            value,
        })),
        None => Err(StoreError::not_found(format!(
            "Variable with key '{}' not found",
            p.variable_key
        ))
        .into()),
    }
}

/// Create or replace a Variable.
#[utoipa::path(put, path = "/variables/{variable_key}", tag = "Variables",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    request_body = VariablePostBody,
    responses(
        (status = 201, description = "Stored", body = Object),
        (status = 422, description = "Invalid payload", body = HTTPValidationError),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn put_variable(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path(p): Path<VariablePath>,
    JsonBody(body): JsonBody<VariablePostBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    store::variables::put_variable(
        &s.db,
        &p.variable_key,
        body.val.as_deref(),
        body.description.as_deref(),
        store::now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "Variable successfully set" })),
    ))
}

/// Delete a Variable (succeeds when there is none).
#[utoipa::path(delete, path = "/variables/{variable_key}", tag = "Variables",
    params(("variable_key" = String, Path, description = "The key; may contain '/'")),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_variable(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path(p): Path<VariablePath>,
) -> ApiResult<StatusCode> {
    store::variables::delete_variable(&s.db, &p.variable_key).await?;
    Ok(StatusCode::NO_CONTENT)
}
