//! Rows as stored, and their conversion into checked domain values.

use airlock_protocol::api::{DagRun, JsonObject};
use airlock_protocol::state::{DagRunState, DagRunType, TaskInstanceState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DbError, from_micros};

/// The columns of `task_instance`, in [`TaskInstanceRow`] order.
pub const TI_COLUMNS: &str = "id, dag_id, run_id, task_id, map_index, try_number, max_tries, state, \
    hostname, unixname, pid, start_date, end_date, duration, last_heartbeat_at, queue, pool, \
    priority_weight, operator, dag_version_id, rendered_map_index, next_method, next_kwargs, \
    trigger_id, trigger_timeout, scheduled_dttm, queued_dttm, retry_delay_override, retry_reason";

/// A `task_instance` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskInstanceRow {
    id: String,
    dag_id: String,
    run_id: String,
    task_id: String,
    map_index: i64,
    try_number: i64,
    max_tries: i64,
    state: Option<String>,
    hostname: Option<String>,
    unixname: Option<String>,
    pid: Option<i64>,
    start_date: Option<i64>,
    end_date: Option<i64>,
    duration: Option<f64>,
    last_heartbeat_at: Option<i64>,
    queue: String,
    pool: String,
    priority_weight: i64,
    operator: Option<String>,
    dag_version_id: String,
    rendered_map_index: Option<String>,
    next_method: Option<String>,
    next_kwargs: Option<String>,
    trigger_id: Option<i64>,
    trigger_timeout: Option<i64>,
    scheduled_dttm: Option<i64>,
    queued_dttm: Option<i64>,
    retry_delay_override: Option<f64>,
    retry_reason: Option<String>,
}

/// A task instance: one task of one DAG run (one map index), at its current try.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstance {
    /// Id of the current try (a retry gets a new one).
    pub id: Uuid,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index (−1 when not mapped).
    pub map_index: i64,
    /// Try number (1 for the first try).
    pub try_number: i64,
    /// Retries allowed.
    pub max_tries: i64,
    /// State (`None` before the scheduler looks at it).
    pub state: Option<TaskInstanceState>,
    /// Host of the supervisor running it.
    pub hostname: Option<String>,
    /// Unix user of that supervisor.
    pub unixname: Option<String>,
    /// Pid of the task process.
    pub pid: Option<i64>,
    /// Start of the try.
    pub start_date: Option<DateTime<Utc>>,
    /// End of the try.
    pub end_date: Option<DateTime<Utc>>,
    /// Run time in seconds.
    pub duration: Option<f64>,
    /// Last heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Executor queue.
    pub queue: String,
    /// Pool.
    pub pool: String,
    /// Priority.
    pub priority_weight: i64,
    /// Operator class name.
    pub operator: Option<String>,
    /// Version of the DAG it runs.
    pub dag_version_id: Uuid,
    /// Rendered map index.
    pub rendered_map_index: Option<String>,
    /// Method to resume in.
    pub next_method: Option<String>,
    /// Arguments for `next_method`.
    pub next_kwargs: Option<serde_json::Value>,
    /// Trigger it waits for.
    pub trigger_id: Option<i64>,
    /// Deadline of that trigger.
    pub trigger_timeout: Option<DateTime<Utc>>,
    /// When it was scheduled.
    pub scheduled_dttm: Option<DateTime<Utc>>,
    /// When it was queued.
    pub queued_dttm: Option<DateTime<Utc>>,
    /// Retry delay requested by the last try.
    pub retry_delay_override: Option<f64>,
    /// Why the last try asked to be retried.
    pub retry_reason: Option<String>,
}

/// A stored task-instance state, as the enum (a value Airlock never writes is a corrupt row).
pub fn ti_state(text: Option<&str>) -> Result<Option<TaskInstanceState>, DbError> {
    text.map(|s| {
        s.parse()
            .map_err(|e| corrupt("task_instance", format!("{e}")))
    })
    .transpose()
}

fn corrupt(table: &'static str, detail: impl Into<String>) -> DbError {
    DbError::Corrupt {
        table,
        detail: detail.into(),
    }
}

fn parse_json(
    table: &'static str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, DbError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(table, format!("bad JSON: {e}"))))
        .transpose()
}

impl TryFrom<TaskInstanceRow> for TaskInstance {
    type Error = DbError;

    fn try_from(r: TaskInstanceRow) -> Result<Self, DbError> {
        const T: &str = "task_instance";
        Ok(Self {
            id: r
                .id
                .parse()
                .map_err(|_| corrupt(T, format!("bad id {:?}", r.id)))?,
            dag_id: r.dag_id,
            run_id: r.run_id,
            task_id: r.task_id,
            map_index: r.map_index,
            try_number: r.try_number,
            max_tries: r.max_tries,
            state: r
                .state
                .map(|s| s.parse().map_err(|e| corrupt(T, format!("{e}"))))
                .transpose()?,
            hostname: r.hostname,
            unixname: r.unixname,
            pid: r.pid,
            start_date: r.start_date.map(from_micros),
            end_date: r.end_date.map(from_micros),
            duration: r.duration,
            last_heartbeat_at: r.last_heartbeat_at.map(from_micros),
            queue: r.queue,
            pool: r.pool,
            priority_weight: r.priority_weight,
            operator: r.operator,
            dag_version_id: r
                .dag_version_id
                .parse()
                .map_err(|_| corrupt(T, format!("bad dag_version_id {:?}", r.dag_version_id)))?,
            rendered_map_index: r.rendered_map_index,
            next_method: r.next_method,
            next_kwargs: parse_json(T, r.next_kwargs)?,
            trigger_id: r.trigger_id,
            trigger_timeout: r.trigger_timeout.map(from_micros),
            scheduled_dttm: r.scheduled_dttm.map(from_micros),
            queued_dttm: r.queued_dttm.map(from_micros),
            retry_delay_override: r.retry_delay_override,
            retry_reason: r.retry_reason,
        })
    }
}

/// The columns of `dag_run`, in [`DagRunRow`] order.
pub const DAG_RUN_COLUMNS: &str = "id, dag_id, run_id, logical_date, data_interval_start, \
    data_interval_end, run_after, start_date, end_date, clear_number, run_type, state, conf, \
    triggering_user_name, partition_key, partition_date, note, team_name";

/// A `dag_run` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DagRunRow {
    id: i64,
    dag_id: String,
    run_id: String,
    logical_date: Option<i64>,
    data_interval_start: Option<i64>,
    data_interval_end: Option<i64>,
    run_after: i64,
    start_date: Option<i64>,
    end_date: Option<i64>,
    clear_number: i64,
    run_type: String,
    state: String,
    conf: Option<String>,
    triggering_user_name: Option<String>,
    partition_key: Option<String>,
    partition_date: Option<i64>,
    note: Option<String>,
    team_name: Option<String>,
}

/// A DAG run with its database id.
#[derive(Debug, Clone, PartialEq)]
pub struct DagRunRecord {
    /// Database id.
    pub id: i64,
    /// The run as the API shows it (without consumed asset events).
    pub run: DagRun,
}

impl TryFrom<DagRunRow> for DagRunRecord {
    type Error = DbError;

    fn try_from(r: DagRunRow) -> Result<Self, DbError> {
        const T: &str = "dag_run";
        let conf = match parse_json(T, r.conf)? {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(m)) => Some(m.into_iter().collect::<JsonObject>()),
            Some(other) => return Err(corrupt(T, format!("conf is not an object: {other}"))),
        };
        Ok(Self {
            id: r.id,
            run: DagRun {
                dag_id: r.dag_id,
                run_id: r.run_id,
                logical_date: r.logical_date.map(from_micros),
                data_interval_start: r.data_interval_start.map(from_micros),
                data_interval_end: r.data_interval_end.map(from_micros),
                run_after: from_micros(r.run_after),
                start_date: r.start_date.map(from_micros),
                end_date: r.end_date.map(from_micros),
                clear_number: r.clear_number,
                run_type: r
                    .run_type
                    .parse::<DagRunType>()
                    .map_err(|e| corrupt(T, e.to_string()))?,
                state: r
                    .state
                    .parse::<DagRunState>()
                    .map_err(|e| corrupt(T, e.to_string()))?,
                conf,
                triggering_user_name: r.triggering_user_name,
                consumed_asset_events: Vec::new(),
                partition_key: r.partition_key,
                partition_date: r.partition_date.map(from_micros),
                note: r.note,
                team_name: r.team_name,
            },
        })
    }
}
