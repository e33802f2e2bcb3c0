//! Airlock's own routes beside Airflow's (tag "Airlock"): what supervisors need because executors
//! hand them only a task-instance id.

use airlock_protocol::api::{HTTPExceptionResponse, TaskInstanceDetails};
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use crate::auth::StartCaller;
use crate::error::ApiResult;
use crate::extract::Path;
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
