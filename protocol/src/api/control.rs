//! Airlock's control API (tag "Airlock Control", `admin`-scope tokens): what the `airlock` CLI
//! and executors use. These are Airlock's own routes, beside Airflow's task routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonObject;
use crate::state::{DagRunState, TaskInstanceState};

/// One run, briefly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// State.
    pub state: DagRunState,
    /// When it started running.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
}

/// One registered DAG (`GET /airlock/control/dags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DagSummary {
    /// DAG id.
    pub dag_id: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The bundle that declares it.
    #[serde(default)]
    pub bundle_name: Option<String>,
    /// Whether the scheduler leaves it alone.
    pub is_paused: bool,
    /// How many tasks it declares.
    pub task_count: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its most recent run.
    #[serde(default)]
    pub latest_run: Option<RunSummary>,
    /// Its schedule as declared (a cron expression, a preset, or `every <n>s`); none when it
    /// only runs when triggered.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The logical date of its next scheduled run, once the scheduler has computed it.
    #[serde(default)]
    pub next_dagrun: Option<chrono::DateTime<chrono::Utc>>,
    /// When that run will be created (its data interval's end).
    #[serde(default)]
    pub next_dagrun_create_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /airlock/control/dags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DagList {
    /// The DAGs, by id.
    pub dags: Vec<DagSummary>,
}

/// What registering a bundle did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct BundleRegistered {
    /// The bundle.
    pub bundle: String,
    /// DAGs registered (new or updated).
    pub dags: Vec<String>,
    /// DAGs refused (an invalid schedule, a cycle...), each with why; the others registered.
    #[serde(default)]
    pub refused: Vec<RefusedDag>,
}

/// A DAG a registration refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RefusedDag {
    /// The DAG.
    pub dag_id: String,
    /// Why, naming the field and the value.
    pub message: String,
}

/// `PATCH /airlock/control/dags/{dag_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    /// Pause (true) or unpause (false) the DAG.
    pub is_paused: bool,
}

/// `POST /airlock/control/dags/{dag_id}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerRunRequest {
    /// Run id (default: `manual__<now>`).
    #[serde(default)]
    pub run_id: Option<String>,
    /// Run configuration (`dag_run.conf`).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub conf: Option<JsonObject>,
    /// Logical date (default: now).
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// A note on the run.
    #[serde(default)]
    pub note: Option<String>,
    /// Only these tasks get task instances; their upstreams do not run (`airlock tasks test`).
    #[serde(default)]
    pub only_tasks: Option<Vec<String>>,
}

/// One task instance of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskInstanceSummary {
    /// Task-instance id (of the current try).
    pub id: Uuid,
    /// Task id.
    pub task_id: String,
    /// Map index (−1 when not mapped).
    pub map_index: i64,
    /// State (null: not scheduled yet).
    pub state: Option<TaskInstanceState>,
    /// Current (or next) try.
    pub try_number: i64,
    /// Tries allowed beyond the first.
    pub max_tries: i64,
    /// When the current try started.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds it ran.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Operator name.
    #[serde(default)]
    pub operator: Option<String>,
    /// Host it ran on.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// `GET /airlock/control/dags/{dag_id}/runs/{run_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RunDetails {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// State.
    pub state: DagRunState,
    /// Run type (`manual`, ...).
    pub run_type: String,
    /// Logical date.
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "crate::time::ts")]
    pub queued_at: DateTime<Utc>,
    /// When it started running.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Run configuration.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub conf: Option<JsonObject>,
    /// Its task instances in dependency order (each task after its upstreams, ties by task
    /// id), then by map index.
    pub task_instances: Vec<TaskInstanceSummary>,
}

/// `GET .../tasks/{task_id}/logs`: a piece of a try's log (JSON lines as the supervisor wrote
/// them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskLogChunk {
    /// The try the log belongs to.
    pub try_number: i64,
    /// Log text from the requested offset (whole lines only).
    pub content: String,
    /// Where to continue reading.
    pub next_offset: u64,
    /// True when the try is over: once `content` is empty, nothing more will come.
    pub finished: bool,
    /// Why there is no log file (yet), when there is none: the try has not started, or it
    /// failed before its supervisor could write one (with the reason recorded for the try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// `PUT /airlock/control/executors/{executor_id}`: an executor announces itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecutorRegistration {
    /// The host it runs on.
    #[serde(default)]
    pub hostname: Option<String>,
    /// How many task instances it runs at once.
    pub parallelism: u32,
}

/// `POST /airlock/control/executors/{executor_id}/tick`: run a scheduling pass and hand out work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TickRequest {
    /// Free slots: most task instances to hand out (capped at 10 000 per tick).
    pub slots: u32,
    /// How long to wait, in milliseconds, for work when none is ready (long poll; capped at
    /// 30 000).
    #[serde(default)]
    pub wait_ms: u64,
    /// Task instances this executor has started supervisors for and not yet seen finish. Any
    /// other task instance still queued for this executor is handed out again (an answer that
    /// never arrived loses nothing).
    #[serde(default)]
    pub holding: Vec<Uuid>,
    /// Claim only task instances of these queues (absent: of every queue).
    #[serde(default)]
    pub queues: Option<Vec<String>>,
}

/// A task instance for an executor to run: `supervisor run <ti_id>` with `token` in
/// `AIRLOCK_TOKEN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Workload {
    /// Task-instance id.
    pub ti_id: Uuid,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index.
    pub map_index: i64,
    /// Try number.
    pub try_number: i64,
    /// A workload token for this task instance (only `PATCH /run` accepts it).
    pub token: String,
}

/// The answer to a tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TickResponse {
    /// Task instances to run now.
    pub workloads: Vec<Workload>,
}

/// `POST /airlock/control/executors/{executor_id}/events`: a supervisor the executor started
/// has exited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecutorEvent {
    /// The task instance it ran.
    pub ti_id: Uuid,
    /// The try it was started for.
    pub try_number: i64,
    /// Its exit code (null if it could not be started or was killed by a signal).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// What happened, for the task's history.
    pub detail: String,
}

/// What the server did with an [`ExecutorEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecutorEventAction {
    /// Nothing: the task instance had moved on (the normal case).
    Ignored,
    /// The try never started; it will be retried.
    UpForRetry,
    /// The try never started and no retries are left.
    Failed,
    /// A cleared (restarting) task instance is ready to be scheduled again.
    Rescheduled,
}

/// The answer to an [`ExecutorEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ExecutorEventResponse {
    /// What was done.
    pub action: ExecutorEventAction,
}

/// Which existing runs a backfill runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reprocess {
    /// Only intervals without a run.
    #[default]
    None,
    /// Also intervals whose run failed.
    Failed,
    /// Also intervals whose run finished (failed or succeeded).
    Completed,
}

/// `POST /airlock/control/dags/{dag_id}/backfills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// Intervals starting at or after this moment...
    pub from_date: chrono::DateTime<chrono::Utc>,
    /// ...and at or before this one.
    pub to_date: chrono::DateTime<chrono::Utc>,
    /// Which existing runs to run again.
    #[serde(default)]
    pub reprocess: Reprocess,
    /// Most of the backfill's runs running at once (default 10).
    #[serde(default)]
    pub max_active_runs: Option<u32>,
    /// Only say what would run.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a backfill does with one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackfillAction {
    /// A new run.
    Create,
    /// The existing run, cleared and run again.
    Clear,
    /// Nothing: the interval has a run that is running, or that `reprocess` leaves alone.
    Skip,
}

/// One interval of a backfill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct BackfillRun {
    /// The interval's run (existing, or to be created).
    pub run_id: String,
    /// The interval's start.
    pub logical_date: chrono::DateTime<chrono::Utc>,
    /// What is done.
    pub action: BackfillAction,
    /// The existing run's state, if there is one.
    #[serde(default)]
    pub existing_state: Option<DagRunState>,
}

/// The answer to a backfill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct BackfillResponse {
    /// The backfill's id (none for a dry run).
    #[serde(default)]
    pub backfill_id: Option<i64>,
    /// Every interval in the range, in order.
    pub runs: Vec<BackfillRun>,
}
