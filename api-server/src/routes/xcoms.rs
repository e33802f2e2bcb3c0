//! `/xcoms/{dag_id}/{run_id}/{task_id}/{key}`: values tasks pass to each other.
//!
//! Keys may contain `/`, so the router captures the rest of the path and [`get_any`] tells the
//! `/item/{offset}` and `/slice` sub-resources apart (they win, as in Airflow).

use airlock_protocol::api::{HTTPExceptionResponse, HTTPValidationError, XComResponse};
use airlock_store as store;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::TaskCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query, RawBody, parse_json};
use crate::fence::RunningTry;
use crate::state::AppState;
use airlock_store::xcoms::XComKey;

/// The four path segments that name an XCom key.
#[derive(Debug, Deserialize)]
pub struct XComPath {
    dag_id: String,
    run_id: String,
    task_id: String,
    key: String,
}

fn key_of(p: XComPath) -> ApiResult<XComKey> {
    if p.key.is_empty() {
        return Err(ApiError::invalid(
            vec![json!("path"), json!("key")],
            "string_too_short",
            "XCom key must be a non-empty string",
        ));
    }
    Ok(XComKey {
        dag_id: p.dag_id,
        run_id: p.run_id,
        task_id: p.task_id,
        key: p.key,
    })
}

/// Query of `GET /xcoms/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetXComParams {
    /// Map index (−1 for unmapped tasks).
    #[serde(default = "unmapped")]
    #[param(default = -1)]
    map_index: i64,
    /// Also look at earlier runs of the DAG (latest first).
    #[serde(default)]
    include_prior_dates: bool,
    /// Instead of `map_index`: the n-th non-null value by map index (negative from the end).
    offset: Option<i64>,
}

fn unmapped() -> i64 {
    -1
}

/// Get one XCom value.
#[utoipa::path(get, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path, description = "The key; may contain '/'"), GetXComParams),
    responses(
        (status = 200, description = "The value", body = XComResponse),
        (status = 404, description = "XCom not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_xcom(s: &AppState, k: XComKey, p: GetXComParams) -> ApiResult<Json<XComResponse>> {
    let value =
        store::xcoms::get_xcom(&s.db, &k, p.map_index, p.include_prior_dates, p.offset).await?;
    Ok(Json(XComResponse { key: k.key, value }))
}

/// Get the value at a position of a mapped task's values.
#[utoipa::path(get, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}/item/{offset}", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path), ("offset" = i64, Path, description = "Position by map index; negative counts from the end")),
    responses(
        (status = 200, description = "The value (any JSON)", body = Value),
        (status = 404, description = "XCom not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_mapped_xcom_by_index(
    s: &AppState,
    k: XComKey,
    offset: i64,
) -> ApiResult<Json<Value>> {
    Ok(Json(store::xcoms::get_xcom_item(&s.db, &k, offset).await?))
}

/// Query of `GET /xcoms/.../slice`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SliceParams {
    /// Slice start.
    start: Option<i64>,
    /// Slice stop.
    stop: Option<i64>,
    /// Slice step (not 0).
    step: Option<i64>,
    /// Also look at earlier runs.
    #[serde(default)]
    include_prior_dates: bool,
}

/// Largest `start`, `stop` or `step` of a slice, either way: far beyond any list a task can
/// map over, and far from where index arithmetic overflows.
const MAX_SLICE_BOUND: i64 = 1 << 31;

impl SliceParams {
    fn check(&self) -> ApiResult<()> {
        for (name, v) in [
            ("start", self.start),
            ("stop", self.stop),
            ("step", self.step),
        ] {
            if v.is_some_and(|v| v.unsigned_abs() > MAX_SLICE_BOUND as u64) {
                return Err(ApiError::invalid(
                    vec![json!("query"), json!(name)],
                    "less_than_equal",
                    format!("{name} must be between -{MAX_SLICE_BOUND} and {MAX_SLICE_BOUND}"),
                ));
            }
        }
        Ok(())
    }
}

/// Get `values[start:stop:step]` (Python slice semantics) of a mapped task's values.
#[utoipa::path(get, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}/slice", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path), SliceParams),
    responses(
        (status = 200, description = "The values (any JSON each)", body = Vec<Value>),
        (status = 422, description = "A zero step", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_mapped_xcom_by_slice(
    s: &AppState,
    k: XComKey,
    p: SliceParams,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(
        store::xcoms::get_xcom_slice(&s.db, &k, p.start, p.stop, p.step, p.include_prior_dates)
            .await?,
    ))
}

/// Routes a GET to the value, `/item/{offset}` or `/slice`.
pub async fn get_any(State(s): State<AppState>, req: Request) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    TaskCaller::from_request_parts(&mut parts, &s).await?;
    let Path(p) = Path::<XComPath>::from_request_parts(&mut parts, &s).await?;
    if let Some(base) = p.key.strip_suffix("/slice") {
        let Query(q) = Query::<SliceParams>::from_request_parts(&mut parts, &s).await?;
        q.check()?;
        let k = key_of(XComPath {
            key: base.to_owned(),
            ..p
        })?;
        return Ok(get_mapped_xcom_by_slice(&s, k, q).await?.into_response());
    }
    if let Some((base, offset)) = p.key.rsplit_once("/item/")
        && let Ok(offset) = offset.parse::<i64>()
    {
        let k = key_of(XComPath {
            key: base.to_owned(),
            ..p
        })?;
        return Ok(get_mapped_xcom_by_index(&s, k, offset)
            .await?
            .into_response());
    }
    let Query(q) = Query::<GetXComParams>::from_request_parts(&mut parts, &s).await?;
    Ok(get_xcom(&s, key_of(p)?, q).await?.into_response())
}

/// Query of `HEAD /xcoms/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadParams {
    /// Not allowed: HEAD counts every map index.
    map_index: Option<i64>,
}

/// Count the (mapped) values of a key: `Content-Range: map_indexes <n>`.
#[utoipa::path(head, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path), HeadParams),
    responses(
        (status = 200, description = "The count, in the Content-Range header",
            headers(("Content-Range" = String, description = "map_indexes <count>"))),
        (status = 400, description = "map_index given", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn head_xcom(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path(p): Path<XComPath>,
    Query(q): Query<HeadParams>,
) -> ApiResult<Response> {
    if q.map_index.is_some() {
        return Err(ApiError::BadRequest {
            reason: "invalid_request",
            message: "Cannot specify map_index in a HEAD request".into(),
        });
    }
    let count = store::xcoms::count_xcoms(&s.db, &key_of(p)?).await?;
    let mut resp = Response::new(Body::empty());
    if let Ok(v) = HeaderValue::from_str(&format!("map_indexes {count}")) {
        resp.headers_mut().insert("content-range", v);
    }
    Ok(resp)
}

/// Query of `POST /xcoms/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetXComParams {
    /// Map index (−1 for unmapped tasks).
    #[serde(default = "unmapped")]
    #[param(default = -1)]
    map_index: i64,
    /// Whether this XCom is the DAG's result.
    #[serde(default)]
    dag_result: bool,
    /// Number of mapped task instances this value expands into.
    mapped_length: Option<i64>,
}

/// Set an XCom value (the body is the JSON value).
#[utoipa::path(post, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path), SetXComParams),
    request_body(content = Object, description = "Any JSON value"),
    responses(
        (status = 201, description = "Stored", body = Object),
        (status = 400, description = "mapped_length above max_map_length", body = HTTPExceptionResponse),
        (status = 404, description = "DAG run not found", body = HTTPExceptionResponse),
        (status = 422, description = "Not JSON", body = HTTPValidationError),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn set_xcom(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path(p): Path<XComPath>,
    Query(q): Query<SetXComParams>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = key_of(p)?;
    // An empty body means null, as in Airflow.
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        parse_json(&body)?
    };
    store::xcoms::set_xcom(
        &s.db,
        &k,
        q.map_index,
        &value,
        q.dag_result,
        q.mapped_length,
        s.max_map_length,
        store::now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "XCom successfully set" })),
    ))
}

/// Query of `DELETE /xcoms/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteXComParams {
    /// Map index (−1 for unmapped tasks).
    #[serde(default = "unmapped")]
    #[param(default = -1)]
    map_index: i64,
}

/// Delete an XCom value (succeeds when there is none).
#[utoipa::path(delete, path = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}", tag = "XComs",
    params(("dag_id" = String, Path), ("run_id" = String, Path), ("task_id" = String, Path), ("key" = String, Path), DeleteXComParams),
    responses((status = 200, description = "Deleted", body = Object),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_xcom(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path(p): Path<XComPath>,
    Query(q): Query<DeleteXComParams>,
) -> ApiResult<Json<Value>> {
    let k = key_of(p)?;
    store::xcoms::delete_xcom(&s.db, &k, q.map_index).await?;
    Ok(Json(
        json!({ "message": format!("XCom with key: {} successfully deleted.", k.key) }),
    ))
}
