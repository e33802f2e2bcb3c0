//! Control routes for operating runs (tag "Airlock Control", `admin`-scope tokens): list runs,
//! clear task instances, mark states, cancel. `airlock runs|tasks` call them.

use airlock_protocol::api::{
    CancelRunRequest, ClearRequest, DbCleanReport, DbCleanRequest, HTTPExceptionResponse,
    MarkRunRequest, MarkTasksRequest, RunDetails, RunList, TaskInstanceChanges, XComList,
};
use airlock_protocol::state::DagRunState;
use airlock_store as store;
use airlock_store::error::StoreError;
use airlock_store::notify::Topic;
use airlock_store::operate::{RunEnding, RunFilter};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::auth::{AdminCaller, Operator, Viewer};
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path, Query};
use crate::state::AppState;

/// Query of `GET /airlock/control/runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunListParams {
    /// Only this DAG's runs.
    dag_id: Option<String>,
    /// Only runs in these states (repeat the key).
    state: Option<Vec<String>>,
    /// Only runs created at or after this moment (RFC 3339).
    since: Option<String>,
    /// At most this many (1..=1000).
    #[serde(default = "default_limit")]
    #[param(default = 50, minimum = 1, maximum = 1000)]
    limit: u32,
}

fn default_limit() -> u32 {
    50
}

/// Runs, newest first, filtered by DAG, state and creation time.
#[utoipa::path(get, path = "/airlock/control/runs", tag = "Airlock Control",
    params(RunListParams),
    responses(
        (status = 200, description = "The runs, newest first", body = RunList),
        (status = 400, description = "An unknown state, a `since` that is not RFC 3339, a limit out of range", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn list_runs(
    State(s): State<AppState>,
    _: Viewer,
    Query(p): Query<RunListParams>,
) -> ApiResult<Json<RunList>> {
    let states = p
        .state
        .unwrap_or_default()
        .iter()
        .map(|st| {
            st.parse::<DagRunState>().map_err(|_| {
                let known: Vec<&str> = DagRunState::ALL.iter().map(|s| s.as_str()).collect();
                StoreError::invalid(
                    "invalid_state",
                    format!(
                        "unknown run state {st:?}; run states are {}",
                        known.join(", ")
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let since = p
        .since
        .as_deref()
        .map(|t| {
            airlock_protocol::time::parse_rfc3339(t).map_err(|e| {
                StoreError::invalid(
                    "invalid_since",
                    format!("since {t:?} is not an RFC 3339 date-time: {e}"),
                )
            })
        })
        .transpose()?;
    let filter = RunFilter {
        dag_id: p.dag_id,
        states,
        since,
        limit: p.limit,
        offset: 0,
    };
    Ok(Json(RunList {
        runs: store::operate::list_runs(&s.db, &filter).await?,
    }))
}

/// Clear task instances of a run (the whole run when `task_ids` is absent) so that they run
/// again: each that ran gets a new try, its earlier tries stay in the history, and the run is
/// queued again if it had finished. With `dry_run`, only says what would be cleared.
#[utoipa::path(post, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/clear",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id")),
    request_body = ClearRequest,
    responses(
        (status = 200, description = "The task instances cleared (or, on a dry run, that would be)", body = TaskInstanceChanges),
        (status = 404, description = "No such run, or no such task in the DAG", body = HTTPExceptionResponse),
        (status = 409, description = "A task instance to clear is in flight (`task_in_flight`)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn clear(
    State(s): State<AppState>,
    _: Operator,
    Path((dag_id, run_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<ClearRequest>,
) -> ApiResult<Json<TaskInstanceChanges>> {
    let changes = store::operate::clear(&s.db, &dag_id, &run_id, &req, store::now()).await?;
    if !changes.dry_run && !changes.changed.is_empty() {
        s.hub.publish(Topic::Changed);
    }
    Ok(Json(changes))
}

/// Set the state of task instances by hand (with `downstream`, of every task after them too).
/// A running one is stopped by its supervisor at its next heartbeat; the scheduler decides
/// what follows and the run's state.
#[utoipa::path(post, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/mark",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id")),
    request_body = MarkTasksRequest,
    responses(
        (status = 200, description = "The task instances whose state changed", body = TaskInstanceChanges),
        (status = 404, description = "No such run, task or map index", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn mark_tasks(
    State(s): State<AppState>,
    _: Operator,
    Path((dag_id, run_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<MarkTasksRequest>,
) -> ApiResult<Json<TaskInstanceChanges>> {
    let changes = store::operate::mark_tasks(&s.db, &dag_id, &run_id, &req, store::now()).await?;
    if !changes.changed.is_empty() {
        s.hub.publish(Topic::Changed);
    }
    Ok(Json(changes))
}

/// Set a run's state by hand: with `success` its unfinished task instances succeed, with
/// `failed` its running ones fail (their supervisors stop them) and the rest are skipped.
#[utoipa::path(patch, path = "/airlock/control/dags/{dag_id}/runs/{run_id}",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id")),
    request_body = MarkRunRequest,
    responses(
        (status = 200, description = "The run", body = RunDetails),
        (status = 404, description = "No such run", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn mark_run(
    State(s): State<AppState>,
    _: Operator,
    Path((dag_id, run_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<MarkRunRequest>,
) -> ApiResult<Json<RunDetails>> {
    let how = RunEnding::Mark(req.state);
    store::operate::end_run(&s.db, &dag_id, &run_id, &how, store::now()).await?;
    s.hub.publish(Topic::Changed);
    Ok(Json(
        store::control::run_details(&s.db, &dag_id, &run_id).await?,
    ))
}

/// Cancel a run that has not finished: its running tasks are stopped (their supervisors learn
/// it at their next heartbeat: SIGTERM, then SIGKILL after the grace), queued ones never
/// start, and the run fails with the reason as its note.
#[utoipa::path(post, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/cancel",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id")),
    request_body = CancelRunRequest,
    responses(
        (status = 200, description = "The cancelled run", body = RunDetails),
        (status = 404, description = "No such run", body = HTTPExceptionResponse),
        (status = 409, description = "The run has already finished (`run_finished`)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn cancel_run(
    State(s): State<AppState>,
    caller: Operator,
    Path((dag_id, run_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<CancelRunRequest>,
) -> ApiResult<Json<RunDetails>> {
    let who = &caller.0.subject;
    let note = match req.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => format!("cancelled by {who}: {r}"),
        _ => format!("cancelled by {who}"),
    };
    let how = RunEnding::Cancel { note };
    store::operate::end_run(&s.db, &dag_id, &run_id, &how, store::now()).await?;
    s.hub.publish(Topic::Changed);
    Ok(Json(
        store::control::run_details(&s.db, &dag_id, &run_id).await?,
    ))
}

/// Longest retention `db clean` accepts (100 years, the longest duration anywhere).
const MAX_RETENTION_SECS: u64 = 100 * 366 * 24 * 3600;

/// Delete the runs that finished more than `older_than_secs` ago, with their task instances,
/// earlier tries, XComs, rendered fields, notifications and log files (or with `dry_run`, count
/// them). Runs that have not finished are never touched.
#[utoipa::path(post, path = "/airlock/control/db/clean", tag = "Airlock Control",
    request_body = DbCleanRequest,
    responses(
        (status = 200, description = "What was deleted (or would be)", body = DbCleanReport),
        (status = 400, description = "A zero or out-of-range retention (`invalid_retention`)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn clean(
    State(s): State<AppState>,
    _: AdminCaller,
    JsonBody(req): JsonBody<DbCleanRequest>,
) -> ApiResult<Json<DbCleanReport>> {
    if !(1..=MAX_RETENTION_SECS).contains(&req.older_than_secs) {
        return Err(StoreError::invalid(
            "invalid_retention",
            format!(
                "older_than_secs must be 1 to {MAX_RETENTION_SECS} (100 years), not {}",
                req.older_than_secs
            ),
        )
        .into());
    }
    let age = chrono::TimeDelta::seconds(i64::try_from(req.older_than_secs).unwrap_or(i64::MAX));
    let cutoff = store::now() - age;
    let (mut report, runs) =
        store::retention::clean_finished_runs(&s.db, cutoff, req.dry_run).await?;
    let log_dir = s.log_dir.clone();
    let dry_run = req.dry_run;
    report.log_dirs = tokio::task::spawn_blocking(move || {
        let mut removed = 0;
        for (dag_id, run_id) in runs {
            let dir = airlock_protocol::logs::run_log_dir(&log_dir, &dag_id, &run_id);
            if dir.is_dir() && (dry_run || std::fs::remove_dir_all(&dir).is_ok()) {
                removed += 1;
            }
        }
        removed
    })
    .await
    .map_err(|e| crate::error::ApiError::Internal(format!("log cleaner: {e}")))?;
    Ok(Json(report))
}

/// Which map index's XComs to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct XComListParams {
    /// Only this map index (default: all of them).
    map_index: Option<i64>,
}

/// The XComs a task wrote in a run (at most 10,000), by map index then key.
#[utoipa::path(get, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/xcoms",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id"),
           ("task_id" = String, Path, description = "Task id"),
           XComListParams),
    responses(
        (status = 200, description = "The XComs", body = XComList),
        (status = 404, description = "The task has no task instance in that run", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn task_xcoms(
    State(s): State<AppState>,
    _: Viewer,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(p): Query<XComListParams>,
) -> ApiResult<Json<XComList>> {
    Ok(Json(XComList {
        xcoms: store::xcoms::task_xcoms(&s.db, &dag_id, &run_id, &task_id, p.map_index).await?,
    }))
}
