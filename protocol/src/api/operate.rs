//! Control-API bodies for operating runs (tag "Airlock Control"): listing, clearing, marking
//! and cancelling, as `airlock runs|tasks` use them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{DagRunState, MarkRunState, MarkTaskState, TaskInstanceState};

/// One run in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RunListEntry {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// State.
    pub state: DagRunState,
    /// Run type (`manual`, `scheduled`, `backfill`, ...).
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
    /// Its note (why it was cancelled or timed out, or what its trigger said).
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /airlock/control/runs`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RunList {
    /// The runs, newest first.
    pub runs: Vec<RunListEntry>,
}

/// `POST .../runs/{run_id}/clear`: which task instances get a new try.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClearRequest {
    /// Tasks to clear (every map index of each); absent: the whole run.
    #[serde(default)]
    pub task_ids: Option<Vec<String>>,
    /// Also the tasks downstream of them (and the run's error tasks).
    #[serde(default)]
    pub downstream: bool,
    /// Also the tasks upstream of them.
    #[serde(default)]
    pub upstream: bool,
    /// Only task instances that failed (`failed`, `upstream_failed`).
    #[serde(default)]
    pub only_failed: bool,
    /// Say what would be cleared, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A task instance an operation changed (or, on a dry run, would change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskInstanceChange {
    /// Task id.
    pub task_id: String,
    /// Map index (−1 when not mapped).
    pub map_index: i64,
    /// Its state before the operation.
    pub previous_state: Option<TaskInstanceState>,
    /// Its try number after the operation (the next try, for a cleared one that ran).
    pub try_number: i64,
}

/// What a clear or mark did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskInstanceChanges {
    /// The task instances, by task id then map index.
    pub changed: Vec<TaskInstanceChange>,
    /// True when nothing was changed (`dry_run`).
    pub dry_run: bool,
}

/// `POST .../runs/{run_id}/tasks/mark`: set task instances' state by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkTasksRequest {
    /// Tasks to mark.
    pub task_ids: Vec<String>,
    /// Only this map index (default: every map index of each task).
    #[serde(default)]
    pub map_index: Option<i64>,
    /// The state to set.
    pub state: MarkTaskState,
    /// Also every task downstream of them.
    #[serde(default)]
    pub downstream: bool,
}

/// `PATCH .../runs/{run_id}`: set a run's state by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkRunRequest {
    /// The state to set: unfinished task instances become `success` with it, or with `failed`
    /// running ones become `failed` and the others `skipped`.
    pub state: MarkRunState,
}

/// `POST .../runs/{run_id}/cancel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelRunRequest {
    /// Why, recorded as the run's note.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A Variable as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct VariableEntry {
    /// Key.
    pub key: String,
    /// Value.
    pub value: Option<String>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// `GET /airlock/control/variables`: a page of Variables, by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct VariableList {
    /// The Variables, by key.
    pub variables: Vec<VariableEntry>,
    /// How many match, beyond this page too.
    pub total_entries: i64,
}

/// `PUT /airlock/control/variables/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariableBody {
    /// Value.
    pub value: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// A Connection as the control API shows it: never its password or extra (which may hold
/// secrets too), only whether it has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ConnectionSummary {
    /// Connection id.
    pub conn_id: String,
    /// Type (`postgres`, `http`, ...).
    pub conn_type: String,
    /// Host name.
    #[serde(default)]
    pub host: Option<String>,
    /// Schema (database name for SQL connections).
    #[serde(default)]
    pub schema: Option<String>,
    /// Login.
    #[serde(default)]
    pub login: Option<String>,
    /// Port.
    #[serde(default)]
    pub port: Option<i64>,
    /// Whether a password is set.
    pub has_password: bool,
    /// Whether extra settings are set.
    pub has_extra: bool,
}

/// `GET /airlock/control/connections`: every Connection, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ConnectionList {
    /// The Connections, by id.
    pub connections: Vec<ConnectionSummary>,
}

/// `PUT /airlock/control/connections/{conn_id}`: creates or replaces the Connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    /// Type (`postgres`, `http`, ...).
    pub conn_type: String,
    /// Host name.
    #[serde(default)]
    pub host: Option<String>,
    /// Schema (database name for SQL connections).
    #[serde(default)]
    pub schema: Option<String>,
    /// Login.
    #[serde(default)]
    pub login: Option<String>,
    /// Password (stored encrypted; never sent back).
    #[serde(default)]
    pub password: Option<String>,
    /// Port (1..=65535).
    #[serde(default)]
    pub port: Option<i64>,
    /// Extra settings as a JSON object string (stored encrypted; never sent back).
    #[serde(default)]
    pub extra: Option<String>,
}

/// `POST /airlock/control/db/clean`: delete finished runs older than a retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DbCleanRequest {
    /// Runs that finished more than this many seconds ago go (at least 1).
    pub older_than_secs: u64,
    /// Count what would go, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What `db clean` deleted (or, on a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DbCleanReport {
    /// Runs that finished before this moment.
    #[serde(with = "crate::time::ts")]
    pub cutoff: DateTime<Utc>,
    /// DAG runs.
    pub runs: u64,
    /// Task instances.
    pub task_instances: u64,
    /// Earlier tries (the history).
    pub tries: u64,
    /// XComs.
    pub xcoms: u64,
    /// Run log directories removed.
    pub log_dirs: u64,
    /// True when nothing was deleted.
    pub dry_run: bool,
}

/// One XCom of a task instance, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct XComEntry {
    /// Key (`return_value` for what the task returned).
    pub key: String,
    /// Map index (−1 when not mapped).
    pub map_index: i64,
    /// The value.
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub value: serde_json::Value,
}

/// `GET .../tasks/{task_id}/xcoms`: a task's XComs in one run, by map index then key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct XComList {
    /// The XComs.
    pub xcoms: Vec<XComEntry>,
}

/// A pool and how its slots are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PoolEntry {
    /// Name.
    pub name: String,
    /// Its size.
    pub slots: i64,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Slots taken by running task instances.
    pub running_slots: i64,
    /// Slots taken by queued task instances.
    pub queued_slots: i64,
    /// Slots scheduled task instances wait for.
    pub scheduled_slots: i64,
    /// Slots free (may be negative after a pool shrinks).
    pub open_slots: i64,
}

/// `GET /airlock/control/pools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PoolList {
    /// The pools, by name.
    pub pools: Vec<PoolEntry>,
}

/// `PUT /airlock/control/pools/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    /// Its size (0 to 1,000,000; 0 holds every task that uses it).
    pub slots: i64,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}
