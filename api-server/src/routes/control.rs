//! Airlock's control API (tag "Airlock Control", `admin`-scope tokens only): DAGs, runs and
//! logs for the `airlock` CLI, and the tick/event loop of executors.

use airlock_store as store;
use std::time::Duration;

use airlock_protocol::api::{
    BackfillRequest, BackfillResponse, BundleRegistered, DagList, DagPatch, ExecutorEvent,
    ExecutorEventResponse, ExecutorRegistration, HTTPExceptionResponse, RefusedDag, RunDetails,
    TaskLogChunk, TickRequest, TickResponse, TriggerRunRequest, Workload,
};
use airlock_protocol::dag::BundleDefinition;
use airlock_protocol::state::{DagRunState, DagRunType, TaskInstanceState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::auth::{AdminCaller, ExecutorCaller, Operator, Scope, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, Query};
use crate::state::AppState;
use airlock_store::dag_runs::NewDagRun;
use airlock_store::error::StoreError;
use airlock_store::notify::Topic;

/// Most task instances one tick hands out.
const MAX_SLOTS: u32 = 10_000;

/// Longest a tick may wait for work.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting tick looks again without a wake-up (one lost with a listener connection,
/// or work admitted by a process that cannot notify this one, such as an admin command).
const RECHECK: Duration = Duration::from_secs(2);

/// Every registered DAG with its latest run.
#[utoipa::path(get, path = "/airlock/control/dags", tag = "Airlock Control",
    responses((status = 200, description = "The DAGs, by id", body = DagList)),
    security(("JWTBearer" = [])))]
pub async fn list_dags(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<DagList>> {
    Ok(Json(DagList {
        dags: store::control::list_dags(&s.db).await?,
    }))
}

/// Register (create or update) the DAGs a bundle declares (what `<bundle> dags` prints). A DAG
/// that is invalid (a bad schedule, a cycle...) is refused with why; the others register.
#[utoipa::path(put, path = "/airlock/control/bundles/{bundle}", tag = "Airlock Control",
    params(("bundle" = String, Path, description = "Bundle name (its executable's file name)")),
    request_body = BundleDefinition,
    responses(
        (status = 200, description = "Registered (`refused` lists the DAGs that were not)", body = BundleRegistered),
        (status = 409, description = "A DAG id belongs to another bundle", body = HTTPExceptionResponse),
        (status = 400, description = "The body names another bundle", body = HTTPExceptionResponse),
        (status = 422, description = "Every DAG of the bundle is invalid (unknown upstream, cycle, bad schedule...)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn register_bundle(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(bundle): Path<String>,
    JsonBody(mut def): JsonBody<BundleDefinition>,
) -> ApiResult<Json<BundleRegistered>> {
    if def.bundle != bundle {
        return Err(StoreError::invalid(
            "bundle_mismatch",
            format!(
                "the body describes bundle {:?}, the path names {bundle:?}",
                def.bundle
            ),
        )
        .into());
    }
    // Timetables are checked here, where the scheduler's parser is; the store checks the rest.
    let mut refused = Vec::new();
    def.dags.retain(|dag| {
        let Some(timing) = dag.timing() else {
            return true;
        };
        match airlock_scheduler::timetable::Timetable::new(&dag.dag_id, &timing) {
            Ok(_) => true,
            Err(e) => {
                refused.push(RefusedDag {
                    dag_id: dag.dag_id.clone(),
                    message: e.to_string(),
                });
                false
            }
        }
    });
    let (dags, more) = store::control::register_bundle(&s.db, &def, store::now()).await?;
    refused.extend(more);
    if dags.is_empty() && !refused.is_empty() {
        let messages: Vec<&str> = refused.iter().map(|r| r.message.as_str()).collect();
        return Err(StoreError::rejected("invalid_dag", messages.join("; ")).into());
    }
    s.hub.publish(Topic::Changed);
    Ok(Json(BundleRegistered {
        bundle,
        dags,
        refused,
    }))
}

/// Pause or unpause a DAG.
#[utoipa::path(patch, path = "/airlock/control/dags/{dag_id}", tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id")),
    request_body = DagPatch,
    responses(
        (status = 204, description = "Done"),
        (status = 404, description = "No such DAG", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn patch_dag(
    State(s): State<AppState>,
    _: Operator,
    Path(dag_id): Path<String>,
    JsonBody(p): JsonBody<DagPatch>,
) -> ApiResult<StatusCode> {
    store::control::set_paused(&s.db, &dag_id, p.is_paused).await?;
    s.hub.publish(Topic::Changed);
    Ok(StatusCode::NO_CONTENT)
}

/// Trigger a run of a DAG; the scheduler runs it.
#[utoipa::path(post, path = "/airlock/control/dags/{dag_id}/runs", tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id")),
    request_body = TriggerRunRequest,
    responses(
        (status = 201, description = "The new run", body = RunDetails),
        (status = 404, description = "No such DAG, or `only_tasks` names a task it does not have", body = HTTPExceptionResponse),
        (status = 400, description = "The DAG is paused, or the run id is invalid", body = HTTPExceptionResponse),
        (status = 409, description = "The run id is taken", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn trigger_run(
    State(s): State<AppState>,
    caller: Operator,
    Path(dag_id): Path<String>,
    JsonBody(p): JsonBody<TriggerRunRequest>,
) -> ApiResult<(StatusCode, Json<RunDetails>)> {
    let now = store::now();
    let run_id = p
        .run_id
        .unwrap_or_else(|| format!("manual__{}", airlock_protocol::time::to_rfc3339(&now)));
    let logical_date = p.logical_date.unwrap_or(now);
    let run = NewDagRun {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        logical_date: Some(logical_date),
        run_after: now,
        run_type: DagRunType::Manual,
        state: DagRunState::Queued,
        conf: Some(p.conf.unwrap_or_default()),
        triggering_user_name: Some(caller.0.subject.clone()),
        partition_key: None,
        note: p.note,
        data_interval: None,
        backfill_id: None,
    };
    store::dag_runs::create_queued_run(&s.db, &run, p.only_tasks.as_deref(), now).await?;
    s.hub.publish(Topic::Changed);
    let details = store::control::run_details(&s.db, &dag_id, &run_id).await?;
    Ok((StatusCode::CREATED, Json(details)))
}

/// Backfill a scheduled DAG: a run for every interval that starts in `[from_date, to_date]`
/// (existing runs cleared or left alone as `reprocess` says), or with `dry_run`, only the plan.
#[utoipa::path(post, path = "/airlock/control/dags/{dag_id}/backfills", tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id")),
    request_body = BackfillRequest,
    responses(
        (status = 200, description = "What the backfill does with each interval", body = BackfillResponse),
        (status = 404, description = "No such DAG", body = HTTPExceptionResponse),
        (status = 400, description = "A reversed range, a DAG without a schedule, too many intervals", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn backfill(
    State(s): State<AppState>,
    _: Operator,
    Path(dag_id): Path<String>,
    JsonBody(req): JsonBody<BackfillRequest>,
) -> ApiResult<Json<BackfillResponse>> {
    let answer = airlock_scheduler::backfill::backfill(&s.db, &dag_id, &req, store::now()).await?;
    if answer.backfill_id.is_some() {
        s.hub.publish(Topic::Changed);
    }
    Ok(Json(answer))
}

/// A run and its task instances.
#[utoipa::path(get, path = "/airlock/control/dags/{dag_id}/runs/{run_id}", tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunDetails),
        (status = 404, description = "No such run", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_run(
    State(s): State<AppState>,
    _: Viewer,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> ApiResult<Json<RunDetails>> {
    Ok(Json(
        store::control::run_details(&s.db, &dag_id, &run_id).await?,
    ))
}

/// Which piece of which try's log to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Map index (−1 when not mapped).
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// Try number (default: the latest try that has a log).
    #[serde(default)]
    pub try_number: Option<i64>,
    /// Byte offset to read from (the `next_offset` of the previous piece).
    #[serde(default)]
    pub offset: u64,
}

fn unmapped() -> i64 {
    -1
}

/// A piece of a task try's log, as the supervisor wrote it (JSON lines), from `offset`.
#[utoipa::path(get, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id"),
           ("task_id" = String, Path, description = "Task id"),
           LogQuery),
    responses(
        (status = 200, description = "Log text from the offset", body = TaskLogChunk),
        (status = 404, description = "No such task instance", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn task_logs(
    State(s): State<AppState>,
    _: Viewer,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<TaskLogChunk>> {
    let (current, state) =
        store::control::task_instance_try(&s.db, &dag_id, &run_id, &task_id, q.map_index).await?;
    let path_of = |try_number: i64| {
        airlock_protocol::logs::log_path(
            &s.log_dir,
            &dag_id,
            &run_id,
            &task_id,
            q.map_index,
            try_number,
        )
    };
    let key = |try_number: i64| store::task_logs::TryKey {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        task_id: task_id.clone(),
        map_index: q.map_index,
        try_number,
    };
    // A log is here (this host's log directory) or was shipped by a supervisor elsewhere.
    let shipped = |try_number: i64, offset: i64| {
        let key = key(try_number);
        let db = s.db.clone();
        async move { store::task_logs::read(&db, &key, offset, crate::task_logs::MAX_CHUNK).await }
    };
    let try_number = match q.try_number {
        Some(t) if t < 1 || t > current => {
            return Err(StoreError::not_found(format!(
                "try {t} of task {task_id:?} does not exist (tries: 1 to {current})"
            ))
            .into());
        }
        Some(t) => t,
        None if current > 1
            && !path_of(current).exists()
            && shipped(current, 0).await?.is_none() =>
        {
            current - 1
        }
        None => current,
    };
    use TaskInstanceState as S;
    let finished = try_number < current
        || matches!(
            state,
            Some(
                S::Success
                    | S::Failed
                    | S::Skipped
                    | S::UpstreamFailed
                    | S::Removed
                    | S::UpForRetry
            )
        );
    let path = path_of(try_number);
    if !path.is_file() {
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        if let Some((content, next)) = shipped(try_number, offset).await? {
            return Ok(Json(TaskLogChunk {
                try_number,
                content,
                next_offset: u64::try_from(next).unwrap_or(q.offset),
                finished,
                missing: None,
            }));
        }
    }
    let missing = if path.is_file() {
        None
    } else {
        let reason =
            store::control::try_reason(&s.db, &dag_id, &run_id, &task_id, q.map_index, try_number)
                .await?;
        Some(match (reason, finished) {
            (Some(r), _) => format!("no log was written for try {try_number}: {r}"),
            (None, true) => format!("no log was written for try {try_number}"),
            (None, false) => format!("try {try_number} has not written a log yet"),
        })
    };
    let (content, next_offset) = tokio::task::spawn_blocking(move || {
        crate::task_logs::read_chunk(&path, q.offset, crate::task_logs::MAX_CHUNK)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("log reader: {e}")))?
    .map_err(|e| ApiError::Internal(format!("cannot read the task log: {e}")))?;
    Ok(Json(TaskLogChunk {
        try_number,
        content,
        next_offset,
        finished,
        missing,
    }))
}

/// An executor (re)starts.
#[utoipa::path(put, path = "/airlock/control/executors/{executor_id}", tag = "Airlock Control",
    params(("executor_id" = String, Path, description = "Executor id (stable across restarts)")),
    request_body = ExecutorRegistration,
    responses((status = 204, description = "Registered")),
    security(("JWTBearer" = [])))]
pub async fn register_executor(
    State(s): State<AppState>,
    caller: ExecutorCaller,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<ExecutorRegistration>,
) -> ApiResult<StatusCode> {
    caller.require_self(&id)?;
    store::executors::register_executor(
        &s.db,
        &id,
        r.hostname.as_deref(),
        r.parallelism,
        store::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An executor stops: what it claimed and did not start is handed to others.
#[utoipa::path(delete, path = "/airlock/control/executors/{executor_id}", tag = "Airlock Control",
    params(("executor_id" = String, Path, description = "Executor id")),
    responses((status = 204, description = "Retired")),
    security(("JWTBearer" = [])))]
pub async fn retire_executor(
    State(s): State<AppState>,
    caller: ExecutorCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_self(&id)?;
    if store::executors::retire_executor(&s.db, &id, store::now()).await? > 0 {
        s.hub.publish(Topic::Work);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Hand the executor up to `slots` admitted task instances, each with a workload token, and
/// record that it is alive. With nothing to hand out, waits up to `wait_ms` for work (long
/// poll). A tick only claims: the scheduler service decides what may run.
#[utoipa::path(post, path = "/airlock/control/executors/{executor_id}/tick", tag = "Airlock Control",
    params(("executor_id" = String, Path, description = "Executor id")),
    request_body = TickRequest,
    responses((status = 200, description = "Work to run now", body = TickResponse)),
    security(("JWTBearer" = [])))]
pub async fn tick(
    State(s): State<AppState>,
    caller: ExecutorCaller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<TickRequest>,
) -> ApiResult<Json<TickResponse>> {
    caller.require_self(&id)?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.wait_ms).min(MAX_WAIT);
    let mut stopping = s.stopping.clone();
    let mut work_ready = s.hub.subscribe(Topic::Work);
    loop {
        let work = store::executors::claim_work(
            &s.db,
            &id,
            req.slots.min(MAX_SLOTS),
            &req.holding,
            req.queues.as_deref(),
            store::now(),
        )
        .await?;
        s.metrics.claimed(work.len());
        let now = tokio::time::Instant::now();
        if !work.is_empty() || req.slots == 0 || now >= deadline || *stopping.borrow() {
            let workloads = work
                .into_iter()
                .map(|w| Workload {
                    token: s.tokens.issue(w.ti_id, Scope::Workload, None),
                    ti_id: w.ti_id,
                    dag_id: w.dag_id,
                    run_id: w.run_id,
                    task_id: w.task_id,
                    map_index: w.map_index,
                    try_number: w.try_number,
                })
                .collect();
            return Ok(Json(TickResponse { workloads }));
        }
        tokio::select! {
            () = work_ready.changed() => {}
            _ = stopping.changed() => {}
            () = tokio::time::sleep_until(deadline.min(now + RECHECK)) => {}
        }
    }
}

/// A supervisor the executor started has exited. A try that never started is failed (or
/// retried) here; anything else is left to the task's own report.
#[utoipa::path(post, path = "/airlock/control/executors/{executor_id}/events", tag = "Airlock Control",
    params(("executor_id" = String, Path, description = "Executor id")),
    request_body = ExecutorEvent,
    responses((status = 200, description = "What was done", body = ExecutorEventResponse)),
    security(("JWTBearer" = [])))]
pub async fn executor_event(
    State(s): State<AppState>,
    caller: ExecutorCaller,
    Path(id): Path<String>,
    JsonBody(e): JsonBody<ExecutorEvent>,
) -> ApiResult<Json<ExecutorEventResponse>> {
    caller.require_self(&id)?;
    let action = store::executors::executor_event(
        &s.db,
        &id,
        e.ti_id,
        e.try_number,
        e.exit_code,
        &e.detail,
        store::now(),
    )
    .await?;
    if action != airlock_protocol::api::ExecutorEventAction::Ignored {
        s.hub.publish(Topic::Changed);
    }
    Ok(Json(ExecutorEventResponse { action }))
}
