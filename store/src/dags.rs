//! DAGs and the tasks they declare.

use airlock_protocol::api::DagResponse;
use airlock_protocol::dag::{
    DEFAULT_CALLBACK_TIMEOUT_SECS, DagDefinition, DagTiming, NotifierDefinition, TaskDefinition,
    TriggerRule,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Executor};

use crate::sql::NullableF64;
use crate::{DbError, DbResult, from_micros, to_micros};

/// A DAG as registered with the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagSpec {
    /// DAG id.
    pub dag_id: String,
    /// Bundle holding the DAG.
    #[serde(default)]
    pub bundle_name: Option<String>,
    /// Bundle version.
    #[serde(default)]
    pub bundle_version: Option<String>,
    /// Path of the DAG's file in the bundle.
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    /// Owners, comma-separated.
    #[serde(default)]
    pub owners: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Most of its task instances queued or running at once.
    #[serde(default)]
    pub max_active_tasks: Option<u32>,
    /// When it runs on its own (none: only when triggered).
    #[serde(default)]
    pub timing: Option<DagTiming>,
    /// Most runs running at once.
    #[serde(default)]
    pub max_active_runs: Option<u32>,
    /// Seconds a run may take.
    #[serde(default)]
    pub dagrun_timeout: Option<f64>,
    /// Who is told of its tasks' failures, retries and successes.
    #[serde(default)]
    pub notifiers: Vec<NotifierDefinition>,
    /// Whether the scheduler skips it (applies when the DAG is first registered; re-registering
    /// keeps the current setting).
    #[serde(default)]
    pub is_paused: bool,
    /// Its tasks.
    #[serde(default)]
    pub tasks: Vec<TaskDefinition>,
}

impl DagSpec {
    /// The record of `dag` from bundle `bundle` (version `version`).
    pub fn from_definition(dag: &DagDefinition, bundle: &str, version: Option<&str>) -> Self {
        Self {
            dag_id: dag.dag_id.clone(),
            bundle_name: Some(bundle.to_owned()),
            bundle_version: version.map(str::to_owned),
            relative_fileloc: dag.relative_fileloc.clone(),
            owners: dag.owners.clone(),
            tags: dag.tags.clone(),
            description: dag.description.clone(),
            max_active_tasks: dag.max_active_tasks,
            timing: dag.timing(),
            max_active_runs: dag.max_active_runs,
            dagrun_timeout: dag.dagrun_timeout,
            notifiers: dag.notifiers.clone(),
            is_paused: false,
            tasks: dag
                .tasks
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    // A callback that hangs is stopped like a task that does.
                    if t.callback.is_some() && t.execution_timeout.is_none() {
                        t.execution_timeout = Some(DEFAULT_CALLBACK_TIMEOUT_SECS);
                    }
                    t
                })
                .collect(),
        }
    }
}

fn to_json<T: Serialize>(table: &'static str, v: &T) -> DbResult<String> {
    serde_json::to_string(v).map_err(|e| DbError::Corrupt {
        table,
        detail: e.to_string(),
    })
}

/// Creates or replaces a DAG and its task list (the pause flag is only set on creation). A
/// changed timetable makes the scheduler compute the DAG's next run afresh; the intervals it
/// already ran are kept (a run is never created twice for one).
pub async fn upsert_dag(
    conn: &mut AnyConnection,
    spec: &DagSpec,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let timetable = spec
        .timing
        .as_ref()
        .map(|t| to_json("dag", t))
        .transpose()?;
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT timetable FROM dag WHERE dag_id = $1")
            .bind(&spec.dag_id)
            .fetch_optional(&mut *conn)
            .await?;
    if stored.is_some_and(|s| s != timetable) {
        sqlx::query(
            "UPDATE dag SET next_dagrun = NULL, next_dagrun_data_interval_start = NULL, \
             next_dagrun_data_interval_end = NULL, next_dagrun_create_after = NULL \
             WHERE dag_id = $1",
        )
        .bind(&spec.dag_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO dag (dag_id, is_paused, bundle_name, bundle_version, relative_fileloc, owners, \
         tags, description, max_active_tasks, timetable, max_active_runs, dagrun_timeout, \
         notifiers, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, $13, $14, $10, $10) \
         ON CONFLICT (dag_id) DO UPDATE SET \
         bundle_name = excluded.bundle_name, bundle_version = excluded.bundle_version, \
         relative_fileloc = excluded.relative_fileloc, owners = excluded.owners, \
         tags = excluded.tags, description = excluded.description, \
         max_active_tasks = excluded.max_active_tasks, timetable = excluded.timetable, \
         max_active_runs = excluded.max_active_runs, dagrun_timeout = excluded.dagrun_timeout, \
         notifiers = excluded.notifiers, updated_at = excluded.updated_at",
    )
    .bind(&spec.dag_id)
    .bind(spec.is_paused)
    .bind(spec.bundle_name.as_deref())
    .bind(spec.bundle_version.as_deref())
    .bind(spec.relative_fileloc.as_deref())
    .bind(spec.owners.as_deref())
    .bind(to_json("dag", &spec.tags)?)
    .bind(spec.description.as_deref())
    .bind(spec.max_active_tasks.map(i64::from))
    .bind(to_micros(now))
    .bind(timetable)
    .bind(spec.max_active_runs.map(i64::from))
    .bind(NullableF64(spec.dagrun_timeout))
    .bind(
        (!spec.notifiers.is_empty())
            .then(|| to_json("dag", &spec.notifiers))
            .transpose()?,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM dag_task WHERE dag_id = $1")
        .bind(&spec.dag_id)
        .execute(&mut *conn)
        .await?;
    for t in &spec.tasks {
        sqlx::query(
            "INSERT INTO dag_task (dag_id, task_id, task_group_id, operator, retries, \
             execution_timeout, upstream, trigger_rule, retry_delay, retry_exponential_backoff, \
             max_retry_delay, map_over, queue, priority_weight, error_task, callback, pool, \
             pool_slots, max_active_tis_per_dag, max_active_tis_per_dagrun) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20)",
        )
        .bind(&spec.dag_id)
        .bind(&t.task_id)
        .bind(t.task_group_id.as_deref())
        .bind(t.operator.as_deref())
        .bind(i64::from(t.retries))
        .bind(NullableF64(t.execution_timeout))
        .bind(to_json("dag_task", &t.upstream)?)
        .bind(t.trigger_rule.as_str())
        .bind(t.retry_delay)
        .bind(i64::from(t.retry_exponential_backoff))
        .bind(NullableF64(t.max_retry_delay))
        .bind(t.map_over.as_deref())
        .bind(&t.queue)
        .bind(t.priority_weight)
        .bind(i64::from(t.error_task))
        .bind(
            t.callback
                .as_ref()
                .map(|c| to_json("dag_task", c))
                .transpose()?,
        )
        .bind(&t.pool)
        .bind(i64::from(t.pool_slots))
        .bind(t.max_active_tis_per_dag.map(i64::from))
        .bind(t.max_active_tis_per_dagrun.map(i64::from))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DagRow {
    dag_id: String,
    is_paused: i64,
    bundle_name: Option<String>,
    bundle_version: Option<String>,
    relative_fileloc: Option<String>,
    owners: Option<String>,
    tags: String,
    next_dagrun: Option<i64>,
}

/// Reads a DAG.
pub async fn get_dag<'e, E>(e: E, dag_id: &str) -> DbResult<Option<DagResponse>>
where
    E: Executor<'e, Database = Any>,
{
    let row: Option<DagRow> = sqlx::query_as(
        // Booleans are read as integers: sqlx's Any driver cannot decode SQLite's BOOLEAN.
        "SELECT dag_id, CAST(is_paused AS INTEGER) AS is_paused, bundle_name, bundle_version, relative_fileloc, owners, tags, \
         next_dagrun FROM dag WHERE dag_id = $1",
    )
    .bind(dag_id)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(DagResponse {
            tags: serde_json::from_str(&r.tags).map_err(|e| DbError::Corrupt {
                table: "dag",
                detail: format!("tags: {e}"),
            })?,
            dag_id: r.dag_id,
            is_paused: r.is_paused != 0,
            bundle_name: r.bundle_name,
            bundle_version: r.bundle_version,
            relative_fileloc: r.relative_fileloc,
            owners: r.owners,
            next_dagrun: r.next_dagrun.map(from_micros),
        })
    })
    .transpose()
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    task_id: String,
    task_group_id: Option<String>,
    operator: Option<String>,
    retries: i64,
    execution_timeout: Option<f64>,
    upstream: String,
    trigger_rule: String,
    retry_delay: f64,
    retry_exponential_backoff: i64,
    max_retry_delay: Option<f64>,
    map_over: Option<String>,
    queue: String,
    priority_weight: i64,
    error_task: i64,
    callback: Option<String>,
    pool: String,
    pool_slots: i64,
    max_active_tis_per_dag: Option<i64>,
    max_active_tis_per_dagrun: Option<i64>,
}

impl TryFrom<TaskRow> for TaskDefinition {
    type Error = DbError;

    fn try_from(r: TaskRow) -> DbResult<Self> {
        let corrupt = |detail: String| DbError::Corrupt {
            table: "dag_task",
            detail,
        };
        Ok(TaskDefinition {
            task_id: r.task_id.clone(),
            upstream: serde_json::from_str(&r.upstream)
                .map_err(|e| corrupt(format!("upstream of {}: {e}", r.task_id)))?,
            trigger_rule: TriggerRule::parse(&r.trigger_rule).ok_or_else(|| {
                corrupt(format!(
                    "trigger rule {:?} of {}",
                    r.trigger_rule, r.task_id
                ))
            })?,
            operator: r.operator,
            retries: u32::try_from(r.retries).unwrap_or(0),
            retry_delay: r.retry_delay,
            retry_exponential_backoff: r.retry_exponential_backoff != 0,
            max_retry_delay: r.max_retry_delay,
            execution_timeout: r.execution_timeout,
            map_over: r.map_over,
            queue: r.queue,
            task_group_id: r.task_group_id,
            priority_weight: r.priority_weight,
            pool: r.pool,
            pool_slots: u32::try_from(r.pool_slots)
                .map_err(|_| corrupt(format!("pool_slots of {}", r.task_id)))?,
            max_active_tis_per_dag: r
                .max_active_tis_per_dag
                .map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt(format!("max_active_tis_per_dag of {}", r.task_id)))?,
            max_active_tis_per_dagrun: r
                .max_active_tis_per_dagrun
                .map(u32::try_from)
                .transpose()
                .map_err(|_| {
                corrupt(format!("max_active_tis_per_dagrun of {}", r.task_id))
            })?,
            error_task: r.error_task != 0,
            callback: r
                .callback
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(format!("callback of {}: {e}", r.task_id)))?,
        })
    }
}

/// The tasks of a DAG, in id order.
pub async fn dag_tasks<'e, E>(e: E, dag_id: &str) -> DbResult<Vec<TaskDefinition>>
where
    E: Executor<'e, Database = Any>,
{
    let rows: Vec<TaskRow> = sqlx::query_as(
        "SELECT task_id, task_group_id, operator, retries, execution_timeout, upstream, \
         trigger_rule, retry_delay, \
         retry_exponential_backoff, max_retry_delay, map_over, queue, priority_weight, \
         error_task, callback, pool, pool_slots, max_active_tis_per_dag, \
         max_active_tis_per_dagrun FROM dag_task WHERE dag_id = $1 ORDER BY task_id",
    )
    .bind(dag_id)
    .fetch_all(e)
    .await?;
    rows.into_iter().map(TaskDefinition::try_from).collect()
}

/// Task ids in task group `group` (or a group nested in it); `None` if the DAG has no such group.
pub async fn task_group_members<'e, E>(
    e: E,
    dag_id: &str,
    group: &str,
) -> DbResult<Option<Vec<String>>>
where
    E: Executor<'e, Database = Any>,
{
    let tasks = dag_tasks(e, dag_id).await?;
    let nested = format!("{group}.");
    let members: Vec<String> = tasks
        .into_iter()
        .filter(|t| {
            t.task_group_id
                .as_deref()
                .is_some_and(|g| g == group || g.starts_with(&nested))
        })
        .map(|t| t.task_id)
        .collect();
    Ok((!members.is_empty()).then_some(members))
}
