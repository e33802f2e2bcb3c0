//! Bodies of the web UI's routes (tag "Airlock UI": login, logout, the session) and of the
//! control routes only the UI needs (users, the grid, a task instance's page, the cluster).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{TaskInstanceState, UiRole};

/// `POST /airlock/ui/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// The signed-in user, and the token state-changing requests must echo in `X-CSRF-Token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// User name.
    pub username: String,
    /// What the user may do.
    pub role: UiRole,
    /// Sent back in the `X-CSRF-Token` header of every request that changes something.
    pub csrf_token: String,
    /// When the session ends (then the user signs in again).
    #[serde(with = "crate::time::ts")]
    pub expires_at: DateTime<Utc>,
}

/// `PUT /airlock/control/users/{username}`: create a user or change one's role or password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// What the user may do.
    pub role: UiRole,
    /// The new password (at least 8 characters); absent keeps the current one (an existing
    /// user only).
    #[serde(default)]
    pub password: Option<String>,
}

/// One web-UI user (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserEntry {
    /// User name.
    pub username: String,
    /// What the user may do.
    pub role: UiRole,
    /// When the user was created.
    #[serde(with = "crate::time::ts")]
    pub created_at: DateTime<Utc>,
    /// When the role or password last changed.
    #[serde(with = "crate::time::ts")]
    pub updated_at: DateTime<Utc>,
}

/// `GET /airlock/control/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserList {
    /// The users, by name.
    pub users: Vec<UserEntry>,
}

/// One task of a DAG, as the grid and graph draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct GridTask {
    /// Task id.
    pub task_id: String,
    /// Its upstream tasks.
    pub upstream: Vec<String>,
    /// Whether it is mapped (one row folding its map indexes).
    pub mapped: bool,
    /// Its task group, if any.
    #[serde(default)]
    pub task_group: Option<String>,
    /// Operator name.
    #[serde(default)]
    pub operator: Option<String>,
}

/// A mapped task's cell: how many of its map indexes are in each state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MappedCell {
    /// Task id.
    pub task_id: String,
    /// Count of map indexes by state (`none`: not scheduled yet).
    pub counts: BTreeMap<String, i64>,
}

/// One run (a column of the grid): the run as listings show it, and its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct GridRun {
    /// The run.
    #[serde(flatten)]
    pub run: crate::api::RunListEntry,
    /// One state per task of `tasks`, in that order (null: no task instance, or not scheduled
    /// yet); a mapped task's is the most pressing state among its map indexes.
    pub states: Vec<Option<TaskInstanceState>>,
    /// The mapped tasks' cells.
    pub mapped: Vec<MappedCell>,
}

/// `GET /airlock/control/dags/{dag_id}/grid`: a page of runs × the DAG's tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Grid {
    /// DAG id.
    pub dag_id: String,
    /// The DAG's tasks, each after its upstreams.
    pub tasks: Vec<GridTask>,
    /// Runs, newest first.
    pub runs: Vec<GridRun>,
    /// How many runs the DAG has in all.
    pub total_runs: i64,
}

/// One try of a task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TryEntry {
    /// Try number.
    pub try_number: i64,
    /// How it ended (or where it is, for the current try).
    pub state: Option<TaskInstanceState>,
    /// When it started.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Host it ran on.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// What a deferred task instance waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DeferredOn {
    /// The trigger's class path.
    pub classpath: String,
    /// The triggerer running it, once one has claimed it.
    #[serde(default)]
    pub triggerer_id: Option<String>,
    /// When the task fails if the trigger has not fired.
    #[serde(default, with = "crate::time::ts_opt")]
    pub timeout: Option<DateTime<Utc>>,
}

/// `GET /airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}`: a task instance's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskInstancePage {
    /// The task instance now.
    pub task_instance: crate::api::TaskInstanceSummary,
    /// Its tries, first to current.
    pub tries: Vec<TryEntry>,
    /// Its templated fields as rendered by the current try.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub rendered_fields: Option<serde_json::Value>,
    /// What it waits for, while deferred.
    #[serde(default)]
    pub deferred_on: Option<DeferredOn>,
    /// Why its latest try ended, when a reason was recorded.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A triggerer and the triggers it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TriggererEntry {
    /// Triggerer id.
    pub id: String,
    /// Its host.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Most triggers it runs at once.
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Its latest heartbeat.
    #[serde(with = "crate::time::ts")]
    pub latest_heartbeat: DateTime<Utc>,
    /// How many triggers it holds.
    pub triggers: i64,
}

/// An executor (a worker) and its slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ExecutorEntry {
    /// Executor id.
    pub id: String,
    /// Its host.
    #[serde(default)]
    pub hostname: Option<String>,
    /// How many task instances it runs at once.
    #[serde(default)]
    pub parallelism: Option<i64>,
    /// Task instances it holds (queued for it or running).
    pub holding: i64,
    /// Its latest tick.
    #[serde(with = "crate::time::ts")]
    pub latest_heartbeat: DateTime<Utc>,
}

/// A trigger waiting in a triggerer, and for which task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HeldTrigger {
    /// Trigger id.
    pub id: i64,
    /// Class path.
    pub classpath: String,
    /// The triggerer holding it (none: not claimed yet).
    #[serde(default)]
    pub triggerer_id: Option<String>,
    /// The deferred task instance's DAG, run and task.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index.
    pub map_index: i64,
}

/// `GET /airlock/control/cluster`: live triggerers and executors, and the triggers held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Cluster {
    /// Triggerers that have not retired.
    pub triggerers: Vec<TriggererEntry>,
    /// Executors that have not retired.
    pub executors: Vec<ExecutorEntry>,
    /// Triggers of deferred task instances (at most 500, oldest first).
    pub triggers: Vec<HeldTrigger>,
}
