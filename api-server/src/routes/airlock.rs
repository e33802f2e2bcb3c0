//! Airlock's own routes beside Airflow's (tag "Airlock"): what supervisors need because executors
//! hand them only a task-instance id.

use airlock_protocol::api::{HTTPExceptionResponse, TaskInstanceDetails, TaskLogPiece};
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::auth::{StartCaller, TaskCaller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::AppState;

/// What a supervisor needs to start a task instance: its fields, its bundle and DAG file, and its
/// execution timeout. Accepts workload tokens (ti:self).
#[utoipa::path(get, path = "/airlock/task-instances/{task_instance_id}", tag = "Airlock",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id")),
    responses(
        (status = 200, description = "The task instance's details", body = TaskInstanceDetails),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse),
        (status = 410, description = "The try was retried and moved to the history table", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_task_instance_details(
    State(s): State<AppState>,
    caller: StartCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TaskInstanceDetails>> {
    caller.require_ti(id)?;
    Ok(Json(
        store::task_instances::task_instance_details(&s.db, id).await?,
    ))
}

/// Ship a piece of a try's log (supervisors on hosts whose log directory the API servers do
/// not share). Idempotent: a piece already stored at its offset is left as it is. Accepts the
/// try's execution token, also after the try ended (its last lines arrive last).
#[utoipa::path(post, path = "/airlock/task-instances/{task_instance_id}/logs", tag = "Airlock",
    params(("task_instance_id" = Uuid, Path, description = "Task instance id (of the try)")),
    request_body = TaskLogPiece,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "The piece is empty or does not end with a whole line", body = HTTPExceptionResponse),
        (status = 404, description = "Task Instance not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn ship_task_log(
    State(s): State<AppState>,
    caller: TaskCaller,
    Path(id): Path<Uuid>,
    JsonBody(piece): JsonBody<TaskLogPiece>,
) -> ApiResult<StatusCode> {
    caller.require_ti(id)?;
    if piece.content.is_empty() || !piece.content.ends_with('\n') {
        return Err(ApiError::BadRequest {
            reason: "invalid_log_piece",
            message: "a log piece is one or more whole lines, each ending with a newline".into(),
        });
    }
    let offset = i64::try_from(piece.start_offset).map_err(|_| ApiError::BadRequest {
        reason: "invalid_log_piece",
        message: format!("start_offset {} is too large", piece.start_offset),
    })?;
    let key = store::task_logs::try_of(&s.db, id).await?;
    store::task_logs::append(&s.db, &key, offset, &piece.content).await?;
    Ok(StatusCode::NO_CONTENT)
}
