//! `/dag-runs` and `/dags`: runs of DAGs, and DAGs.

use airlock_protocol::api::{
    DagResponse, DagRun, DagRunStateResponse, HTTPExceptionResponse, HTTPValidationError,
    TriggerDAGRunPayload,
};
use airlock_protocol::state::DagRunState;
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::TaskCaller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path, Query};
use crate::fence::RunningTry;
use crate::state::AppState;
use airlock_store::dag_runs::DagRunFilter;
use airlock_store::error::StoreError;
use airlock_store::notify::Topic;

/// Get a DAG run.
#[utoipa::path(get, path = "/dag-runs/{dag_id}/{run_id}", tag = "Dag Runs",
    params(("dag_id" = String, Path), ("run_id" = String, Path)),
    responses(
        (status = 200, description = "The run", body = DagRun),
        (status = 404, description = "Dag run not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_dag_run(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> ApiResult<Json<DagRun>> {
    Ok(Json(
        store::dag_runs::require_dag_run(&s.db, &dag_id, &run_id).await?,
    ))
}

/// Trigger a run of a registered DAG.
#[utoipa::path(post, path = "/dag-runs/{dag_id}/{run_id}", tag = "Dag Runs",
    params(("dag_id" = String, Path), ("run_id" = String, Path)),
    request_body = TriggerDAGRunPayload,
    responses(
        (status = 204, description = "Created"),
        (status = 400, description = "The DAG is paused", body = HTTPExceptionResponse),
        (status = 404, description = "Dag not found for the given dag_id", body = HTTPExceptionResponse),
        (status = 409, description = "Dag run already exists for the given dag_id", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn trigger_dag_run(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path((dag_id, run_id)): Path<(String, String)>,
    JsonBody(p): JsonBody<TriggerDAGRunPayload>,
) -> ApiResult<StatusCode> {
    store::dag_runs::trigger_dag_run(&s.db, &dag_id, &run_id, &p, store::now()).await?;
    s.hub.publish(Topic::Changed);
    Ok(StatusCode::NO_CONTENT)
}

/// Clear a run so that it runs again.
#[utoipa::path(post, path = "/dag-runs/{dag_id}/{run_id}/clear", tag = "Dag Runs",
    params(("dag_id" = String, Path), ("run_id" = String, Path)),
    responses(
        (status = 204, description = "Cleared"),
        (status = 404, description = "Dag run not found", body = HTTPExceptionResponse),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn clear_dag_run(
    State(s): State<AppState>,
    _caller: RunningTry,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    store::dag_runs::clear_dag_run(&s.db, &dag_id, &run_id, store::now()).await?;
    s.hub.publish(Topic::Changed);
    Ok(StatusCode::NO_CONTENT)
}

/// Get the state of a DAG run.
#[utoipa::path(get, path = "/dag-runs/{dag_id}/{run_id}/state", tag = "Dag Runs",
    params(("dag_id" = String, Path), ("run_id" = String, Path)),
    responses(
        (status = 200, description = "The state", body = DagRunStateResponse),
        (status = 404, description = "Dag run not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_dagrun_state(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> ApiResult<Json<DagRunStateResponse>> {
    let run = store::dag_runs::require_dag_run(&s.db, &dag_id, &run_id).await?;
    Ok(Json(DagRunStateResponse { state: run.state }))
}

/// Query of `GET /dag-runs/count`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountParams {
    /// DAG id.
    dag_id: String,
    /// Only these logical dates (repeat the key).
    #[serde(default, with = "airlock_protocol::time::ts_vec_opt")]
    logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs (repeat the key).
    run_ids: Option<Vec<String>>,
    /// Only these states (repeat the key).
    states: Option<Vec<String>>,
}

/// Count runs of a DAG.
#[utoipa::path(get, path = "/dag-runs/count", tag = "Dag Runs",
    params(CountParams),
    responses((status = 200, description = "The count", body = i64, content_type = "application/json")),
    security(("JWTBearer" = [])))]
pub async fn get_dr_count(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<CountParams>,
) -> ApiResult<Json<i64>> {
    let f = DagRunFilter {
        dag_id: p.dag_id,
        logical_dates: p.logical_dates,
        run_ids: p.run_ids,
        states: p.states,
    };
    Ok(Json(store::dag_runs::count_dag_runs(&s.db, &f).await?))
}

/// Query of `GET /dag-runs/previous`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviousParams {
    /// DAG id.
    dag_id: String,
    /// Only runs strictly before this logical date.
    #[serde(with = "airlock_protocol::time::ts")]
    logical_date: DateTime<Utc>,
    /// Only runs in this state.
    state: Option<DagRunState>,
}

/// The latest run of a DAG before a logical date.
#[utoipa::path(get, path = "/dag-runs/previous", tag = "Dag Runs",
    params(PreviousParams),
    responses((status = 200, description = "The run, or null", body = Option<DagRun>)),
    security(("JWTBearer" = [])))]
pub async fn get_previous_dagrun(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<PreviousParams>,
) -> ApiResult<Json<Option<DagRun>>> {
    Ok(Json(
        store::dag_runs::previous_dag_run(&s.db, &p.dag_id, p.logical_date, p.state).await?,
    ))
}

/// Get a DAG.
#[utoipa::path(get, path = "/dags/{dag_id}", tag = "Dags",
    params(("dag_id" = String, Path)),
    responses(
        (status = 200, description = "The DAG", body = DagResponse),
        (status = 404, description = "DAG not found for the given dag_id", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_dag(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path(dag_id): Path<String>,
) -> ApiResult<Json<DagResponse>> {
    store::dags::get_dag(s.db.pool(), &dag_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            StoreError::not_found(format!("The Dag with ID: `{dag_id}` was not found")).into()
        })
}
