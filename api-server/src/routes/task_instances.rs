//! `/task-instances/{id}/...`: the lifecycle of one task-instance try (ti:self routes).

use airlock_protocol::REFRESHED_TOKEN_HEADER;
use airlock_protocol::api::{
    HTTPExceptionResponse, HTTPValidationError, InactiveAssetsResponse, JsonObject,
    PrevSuccessfulDagRunResponse, TIEnterRunningPayload, TIHeartbeatInfo, TIRunContext,
    TISkippedDownstreamTasksStatePayload, TIStatePayload,
};
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Scope, StartCaller, TaskCaller};
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path, RawBody, parse_json};
use crate::fence::RunningTry;
use crate::state::AppState;
use airlock_store::error::StoreError;
use airlock_store::notify::Topic;
use airlock_store::task_instances::StateChange;

/// Start a queued task instance: mark it running and return what the task needs to run.
///
/// Accepts workload tokens; their answer carries an execution token in `Refreshed-API-Token`.
#[utoipa::path(patch, path = "/task-instances/{task_instance_id}/run", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body = TIEnterRunningPayload,
    responses(
        (status = 200, description = "Running; the task's context", body = TIRunContext),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 409, description = "The TI is not in a state where it could be marked as running", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError)),
    security(("JWTBearer" = [])))]
pub async fn ti_run(
    State(s): State<AppState>,
    caller: StartCaller,
    Path(id): Path<Uuid>,
    JsonBody(p): JsonBody<TIEnterRunningPayload>,
) -> ApiResult<Response> {
    caller.require_ti(id)?;
    let ctx = store::task_instances::start_task_instance(&s.db, id, &p, store::now()).await?;
    let mut resp = Json(ctx).into_response();
    if caller.0.scope == Scope::Workload {
        let token = s.tokens.issue(id, Scope::Execution, None);
        if let Ok(v) = HeaderValue::from_str(&token) {
            resp.headers_mut().insert(REFRESHED_TOKEN_HEADER, v);
        }
    }
    Ok(resp)
}

/// Finish, retry, reschedule or defer a running task instance.
#[utoipa::path(patch, path = "/task-instances/{task_instance_id}/state", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body = TIStatePayload,
    responses(
        (status = 204, description = "State updated"),
        (status = 200, description = "The TI was already in the requested state"),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 409, description = "The TI is not in a valid state for this transition, or `up_for_retry` with no retry left (`no_retries_left`)", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload for the state transition (including scheduled, queued and restarting, which only the scheduler may set)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn ti_update_state(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
    JsonBody(p): JsonBody<TIStatePayload>,
) -> ApiResult<StatusCode> {
    caller.require_ti(id)?;
    let deferred = matches!(p, TIStatePayload::Deferred(_));
    let p = seal_trigger_kwargs(&s, p);
    Ok(
        match store::task_instances::update_task_instance_state(&s.db, id, &p, store::now()).await?
        {
            StateChange::Updated => {
                if deferred {
                    s.hub.publish(Topic::Triggers);
                }
                s.hub.publish(Topic::Changed);
                StatusCode::NO_CONTENT
            }
            StateChange::AlreadyInState => StatusCode::OK,
        },
    )
}

/// Encrypts a deferral's trigger arguments for storage (strings are already encrypted by the
/// client and are kept as they are).
fn seal_trigger_kwargs(s: &AppState, p: TIStatePayload) -> TIStatePayload {
    match p {
        TIStatePayload::Deferred(mut d) => {
            if let Some(serde_json::Value::Object(kwargs)) = &d.trigger_kwargs {
                let plain = serde_json::Value::Object(kwargs.clone()).to_string();
                d.trigger_kwargs = Some(serde_json::Value::String(s.cipher.seal(&plain)));
            }
            TIStatePayload::Deferred(d)
        }
        other => other,
    }
}

/// Skip tasks of the same DAG run that have not started (branching).
#[utoipa::path(patch, path = "/task-instances/{task_instance_id}/skip-downstream", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body = TISkippedDownstreamTasksStatePayload,
    responses(
        (status = 204, description = "Tasks skipped"),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn ti_skip_downstream(
    State(s): State<AppState>,
    caller: RunningTry,
    Path(id): Path<Uuid>,
    JsonBody(p): JsonBody<TISkippedDownstreamTasksStatePayload>,
) -> ApiResult<StatusCode> {
    caller.require_ti(id)?;
    store::task_instances::skip_downstream(&s.db, id, &p.tasks, store::now()).await?;
    s.hub.publish(Topic::Changed);
    Ok(StatusCode::NO_CONTENT)
}

/// Record that the try is alive. 404/409/410 tell the supervisor to stop the task.
#[utoipa::path(put, path = "/task-instances/{task_instance_id}/heartbeat", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body = TIHeartbeatInfo,
    responses(
        (status = 204, description = "Heartbeat recorded"),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 409, description = "The TI runs elsewhere (`running_elsewhere`) or no longer runs (`not_running`): terminate it", body = HTTPExceptionResponse),
        (status = 410, description = "The try was retried and moved to the history table", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError)),
    security(("JWTBearer" = [])))]
pub async fn ti_heartbeat(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
    JsonBody(p): JsonBody<TIHeartbeatInfo>,
) -> ApiResult<StatusCode> {
    caller.require_ti(id)?;
    store::task_instances::heartbeat(&s.db, id, &p, store::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Store the rendered template fields of the task instance.
#[utoipa::path(put, path = "/task-instances/{task_instance_id}/rtif", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body(content = Object, description = "Field name → rendered value"),
    responses(
        (status = 201, description = "Stored", body = Object),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 410, description = "The try was retried and moved to the history table", body = HTTPExceptionResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn ti_put_rtif(
    State(s): State<AppState>,
    caller: RunningTry,
    Path(id): Path<Uuid>,
    JsonBody(fields): JsonBody<JsonObject>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    caller.require_ti(id)?;
    store::task_instances::put_rendered_fields(&s.db, id, &fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "Rendered task instance fields successfully set" })),
    ))
}

/// Set the rendered map index (the label of a mapped task instance).
#[utoipa::path(patch, path = "/task-instances/{task_instance_id}/rendered-map-index", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    request_body(content = String, content_type = "application/json", description = "The rendered map index, as a JSON string"),
    responses(
        (status = 204, description = "Stored"),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 422, description = "Empty or not a string", body = HTTPExceptionResponse),
        (status = 409, description = "The caller's try is no longer running (fenced)", body = HTTPExceptionResponse),
        (status = 410, description = "The caller's try was retried and archived (fenced)", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn ti_patch_rendered_map_index(
    State(s): State<AppState>,
    caller: RunningTry,
    Path(id): Path<Uuid>,
    RawBody(body): RawBody,
) -> ApiResult<StatusCode> {
    caller.require_ti(id)?;
    let value: String = parse_json(&body)?;
    store::task_instances::set_rendered_map_index(&s.db, id, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The last successful run of this DAG before this task instance's run.
#[utoipa::path(get, path = "/task-instances/{task_instance_id}/previous-successful-dagrun", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    responses(
        (status = 200, description = "The run's dates, all null if there is none", body = PrevSuccessfulDagRunResponse),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_previous_successful_dagrun(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<PrevSuccessfulDagRunResponse>> {
    caller.require_ti(id)?;
    let ti = store::task_instances::get_task_instance(s.db.pool(), id)
        .await?
        .ok_or_else(|| StoreError::not_found("Task Instance not found"))?;
    Ok(Json(
        store::dag_runs::previous_successful_dag_run(&s.db, &ti).await?,
    ))
}

/// Assets among the task's inlets and outlets that are not active.
///
/// Airlock registers every asset a task emits, so none is ever inactive.
#[utoipa::path(get, path = "/task-instances/{task_instance_id}/validate-inlets-and-outlets", tag = "Task Instances",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    responses(
        (status = 200, description = "Inactive assets", body = InactiveAssetsResponse),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn validate_inlets_and_outlets(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<InactiveAssetsResponse>> {
    caller.require_ti(id)?;
    store::task_instances::get_task_instance(s.db.pool(), id)
        .await?
        .ok_or_else(|| StoreError::not_found("Task Instance not found"))?;
    Ok(Json(InactiveAssetsResponse::default()))
}
