//! `/task-instances/{count,states,previous,breadcrumbs}` and `/task-reschedules`: questions
//! tasks ask about other task instances.

use airlock_protocol::api::{
    HTTPExceptionResponse, PreviousTIResponse, TaskBreadcrumbsResponse, TaskStatesResponse,
};
use airlock_protocol::state::TaskInstanceState;
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::TaskCaller;
use crate::error::ApiResult;
use crate::extract::{Path, Query};
use crate::state::AppState;
use airlock_store::task_instance_queries::TiFilter;

/// Filters of `/task-instances/count` and `/task-instances/states`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TiCountParams {
    /// DAG id.
    dag_id: String,
    /// Only this map index.
    map_index: Option<i64>,
    /// Only these tasks (repeat the key).
    task_ids: Option<Vec<String>>,
    /// Only tasks of this task group.
    task_group_id: Option<String>,
    /// Only runs with these logical dates (repeat the key).
    logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs (repeat the key).
    run_ids: Option<Vec<String>>,
    /// Only these states; `null` matches instances with no state (repeat the key).
    states: Option<Vec<String>>,
}

impl From<TiCountParams> for TiFilter {
    fn from(p: TiCountParams) -> Self {
        TiFilter {
            dag_id: p.dag_id,
            map_index: p.map_index,
            task_ids: p.task_ids,
            task_group_id: p.task_group_id,
            logical_dates: p.logical_dates,
            run_ids: p.run_ids,
            states: p.states,
        }
    }
}

/// Count task instances matching the filters.
#[utoipa::path(get, path = "/task-instances/count", tag = "Task Instances",
    params(TiCountParams),
    responses(
        (status = 200, description = "The count", body = i64, content_type = "application/json"),
        (status = 404, description = "Task group not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_task_instance_count(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<TiCountParams>,
) -> ApiResult<Json<i64>> {
    Ok(Json(
        store::task_instance_queries::count_task_instances(&s.db, &p.into()).await?,
    ))
}

/// States of task instances matching the filters, by run and task.
#[utoipa::path(get, path = "/task-instances/states", tag = "Task Instances",
    params(TiCountParams),
    responses(
        (status = 200, description = "`{run_id: {task_id or task_id_<map_index>: state}}`", body = TaskStatesResponse),
        (status = 404, description = "Task group not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_task_instance_states(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<TiCountParams>,
) -> ApiResult<Json<TaskStatesResponse>> {
    let task_states = store::task_instance_queries::task_instance_states(&s.db, &p.into()).await?;
    Ok(Json(TaskStatesResponse { task_states }))
}

/// Filters of `/task-instances/previous/{dag_id}/{task_id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviousTiParams {
    /// Only runs strictly before this logical date.
    #[serde(default, with = "airlock_protocol::time::ts_opt")]
    logical_date: Option<DateTime<Utc>>,
    /// Map index (−1 for unmapped tasks).
    #[serde(default = "unmapped")]
    #[param(default = -1)]
    map_index: i64,
    /// Only instances in this state.
    state: Option<TaskInstanceState>,
}

fn unmapped() -> i64 {
    -1
}

/// The task's instance in the latest earlier run.
#[utoipa::path(get, path = "/task-instances/previous/{dag_id}/{task_id}", tag = "Task Instances",
    params(("dag_id" = String, Path, description = "DAG id"), ("task_id" = String, Path, description = "Task id"), PreviousTiParams),
    responses((status = 200, description = "The previous instance, or null", body = Option<PreviousTIResponse>)),
    security(("JWTBearer" = [])))]
pub async fn get_previous_task_instance(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Path((dag_id, task_id)): Path<(String, String)>,
    Query(p): Query<PreviousTiParams>,
) -> ApiResult<Json<Option<PreviousTIResponse>>> {
    Ok(Json(
        store::task_instance_queries::previous_task_instance(
            &s.db,
            &dag_id,
            &task_id,
            p.logical_date,
            p.map_index,
            p.state,
        )
        .await?,
    ))
}

/// Filters of `/task-instances/breadcrumbs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreadcrumbParams {
    /// DAG id.
    dag_id: String,
    /// Run id.
    run_id: String,
}

/// Finished task instances of a run.
#[utoipa::path(get, path = "/task-instances/breadcrumbs", tag = "Task Instances",
    params(BreadcrumbParams),
    responses((status = 200, description = "`{task_id, map_index, state, operator, duration}` per finished instance", body = TaskBreadcrumbsResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_task_instance_breadcrumbs(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(p): Query<BreadcrumbParams>,
) -> ApiResult<Json<TaskBreadcrumbsResponse>> {
    Ok(Json(TaskBreadcrumbsResponse {
        breadcrumbs: store::task_instance_queries::breadcrumbs(&s.db, &p.dag_id, &p.run_id).await?,
    }))
}

/// Parameters of `/task-reschedules/{id}/start_date`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RescheduleParams {
    /// Accepted for compatibility; the answer is about the current try.
    #[allow(dead_code)]
    try_number: Option<i64>,
}

/// When the first reschedule of this try started (sensors measure their timeout from it).
#[utoipa::path(get, path = "/task-reschedules/{task_instance_id}/start_date", tag = "Task Reschedules",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id"), RescheduleParams),
    responses(
        (status = 200, description = "The start date, or null if the try was never rescheduled", body = Option<DateTime<Utc>>)),
    security(("JWTBearer" = [])))]
pub async fn get_reschedule_start_date(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
    Query(_p): Query<RescheduleParams>,
) -> ApiResult<Json<Option<String>>> {
    caller.require_ti(id)?;
    let start = store::task_instance_queries::first_reschedule_start(&s.db, id).await?;
    Ok(Json(start.as_ref().map(airlock_protocol::time::to_rfc3339)))
}
