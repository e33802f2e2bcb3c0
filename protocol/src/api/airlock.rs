use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::state::TaskInstanceState;

/// Airlock extension (`GET /airlock/task-instances/{id}`): what a supervisor needs, beyond the
/// task-instance id an executor gives it, to start the try and build `StartupDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskInstanceDetails {
    /// Task-instance id (of the current try).
    pub id: Uuid,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index (−1 when not mapped).
    pub map_index: i64,
    /// Try number.
    pub try_number: i64,
    /// Current state.
    pub state: Option<TaskInstanceState>,
    /// Executor queue.
    pub queue: String,
    /// Version of the DAG it runs.
    pub dag_version_id: Uuid,
    /// Bundle holding the DAG (selects the runner executable).
    pub bundle_name: Option<String>,
    /// Bundle version.
    pub bundle_version: Option<String>,
    /// The DAG's file relative to the bundle root.
    pub dag_rel_path: Option<String>,
    /// Longest the try may run, in seconds (the supervisor enforces it).
    pub execution_timeout: Option<f64>,
}

/// `POST /airlock/task-instances/{id}/logs`: a piece of a try's log, shipped by its supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskLogPiece {
    /// Byte offset of this piece in the try's shipped log (the sum of the pieces before it).
    pub start_offset: u64,
    /// Whole log lines (JSON objects, each ending with a newline).
    pub content: String,
}
