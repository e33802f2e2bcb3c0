//! What the control API reads and writes beyond the task routes: DAG listings, bundle
//! registration, pausing, and run details.

use airlock_protocol::api::{DagSummary, RefusedDag, RunDetails, RunSummary, TaskInstanceSummary};
use airlock_protocol::dag::{BundleDefinition, DagDefinition, DagTiming, Schedule};
use airlock_protocol::state::{DagRunState, TaskInstanceState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::dag_runs::get_dag_run;
use crate::dags::{DagSpec, upsert_dag};
use crate::error::{StoreError, StoreResult};
use crate::{Db, DbError, DbResult, from_micros};

fn corrupt(table: &'static str, detail: impl Into<String>) -> DbError {
    DbError::Corrupt {
        table,
        detail: detail.into(),
    }
}

/// Every registered DAG, by id, with its latest run.
pub async fn list_dags(db: &Db) -> DbResult<Vec<DagSummary>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        dag_id: String,
        description: Option<String>,
        bundle_name: Option<String>,
        is_paused: i64,
        tags: String,
        task_count: i64,
        run_id: Option<String>,
        state: Option<String>,
        start_date: Option<i64>,
        end_date: Option<i64>,
        timetable: Option<String>,
        next_dagrun: Option<i64>,
        next_dagrun_create_after: Option<i64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.dag_id, d.description, d.bundle_name, CAST(d.is_paused AS INTEGER) AS is_paused, \
         d.tags, (SELECT COUNT(*) FROM dag_task t WHERE t.dag_id = d.dag_id) AS task_count, \
         r.run_id, r.state, r.start_date, r.end_date, d.timetable, d.next_dagrun, \
         d.next_dagrun_create_after FROM dag d \
         LEFT JOIN dag_run r ON r.id = (SELECT MAX(id) FROM dag_run x WHERE x.dag_id = d.dag_id) \
         ORDER BY d.dag_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            let latest_run = match (r.run_id, r.state) {
                (Some(run_id), Some(state)) => Some(RunSummary {
                    run_id,
                    state: state
                        .parse::<DagRunState>()
                        .map_err(|e| corrupt("dag_run", e.to_string()))?,
                    start_date: r.start_date.map(from_micros),
                    end_date: r.end_date.map(from_micros),
                }),
                _ => None,
            };
            let timing: Option<DagTiming> = r
                .timetable
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt("dag", format!("timetable: {e}")))?;
            // The create-after of a finished timetable is a far sentinel, not a moment.
            let next = r.next_dagrun.zip(r.next_dagrun_create_after);
            Ok(DagSummary {
                schedule: timing.map(|t| match t.schedule {
                    Schedule::Cron(c) => match t.timezone {
                        Some(tz) if tz != "UTC" => format!("{c} ({tz})"),
                        _ => c,
                    },
                    Schedule::Every { every } => format!("every {every}s"),
                }),
                next_dagrun: next.map(|(n, _)| from_micros(n)),
                next_dagrun_create_after: next.map(|(_, c)| from_micros(c)),
                tags: serde_json::from_str(&r.tags)
                    .map_err(|e| corrupt("dag", format!("tags: {e}")))?,
                dag_id: r.dag_id,
                description: r.description,
                bundle_name: r.bundle_name,
                is_paused: r.is_paused != 0,
                task_count: r.task_count,
                latest_run,
            })
        })
        .collect()
}

/// Pauses or unpauses a DAG.
pub async fn set_paused(db: &Db, dag_id: &str, paused: bool) -> StoreResult<()> {
    let n = sqlx::query("UPDATE dag SET is_paused = $2 WHERE dag_id = $1")
        .bind(dag_id)
        .bind(paused)
        .execute(db.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found(format!("DAG {dag_id:?} not found")));
    }
    Ok(())
}

/// Registers (creates or updates) the DAGs a bundle declares that are valid; the invalid ones
/// are refused with why, and the others still register. A DAG id another bundle already
/// registered is a conflict for the whole bundle.
pub async fn register_bundle(
    db: &Db,
    bundle: &BundleDefinition,
    now: DateTime<Utc>,
) -> StoreResult<(Vec<String>, Vec<RefusedDag>)> {
    let mut refused = Vec::new();
    let valid: Vec<&DagDefinition> = bundle
        .dags
        .iter()
        .filter(|dag| match dag.validate() {
            Ok(()) => true,
            Err(message) => {
                refused.push(RefusedDag {
                    dag_id: dag.dag_id.clone(),
                    message,
                });
                false
            }
        })
        .collect();
    let mut tx = db.begin_write().await?;
    let mut registered = Vec::with_capacity(valid.len());
    for dag in valid {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT bundle_name FROM dag WHERE dag_id = $1")
                .bind(&dag.dag_id)
                .fetch_optional(tx.conn())
                .await?;
        if let Some(Some(other)) = owner
            && other != bundle.bundle
        {
            return Err(StoreError::conflict(
                "dag_in_other_bundle",
                format!(
                    "DAG {:?} is already registered by bundle {other:?}; DAG ids must be unique \
                     across bundles",
                    dag.dag_id
                ),
            ));
        }
        let spec = DagSpec::from_definition(dag, &bundle.bundle, bundle.version.as_deref());
        upsert_dag(tx.conn(), &spec, now).await?;
        registered.push(dag.dag_id.clone());
    }
    tx.commit().await?;
    Ok((registered, refused))
}

/// A run and its task instances.
pub async fn run_details(db: &Db, dag_id: &str, run_id: &str) -> StoreResult<RunDetails> {
    let record = get_dag_run(db.pool(), dag_id, run_id)
        .await?
        .ok_or_else(|| {
            StoreError::not_found(format!("DAG run {run_id:?} of DAG {dag_id:?} not found"))
        })?;
    let queued_at: i64 = sqlx::query_scalar("SELECT created_at FROM dag_run WHERE id = $1")
        .bind(record.id)
        .fetch_one(db.pool())
        .await?;
    let task_instances = summaries(db, dag_id, run_id, None).await?;
    let task_instances = in_dependency_order(db, dag_id, task_instances).await?;
    let run = record.run;
    Ok(RunDetails {
        dag_id: run.dag_id,
        run_id: run.run_id,
        state: run.state,
        run_type: run.run_type.as_str().to_owned(),
        logical_date: run.logical_date,
        queued_at: from_micros(queued_at),
        start_date: run.start_date,
        end_date: run.end_date,
        conf: run.conf,
        task_instances,
    })
}

/// The task instances of a run (or the one of `only`: a task id and map index), sorted by task
/// id and map index.
pub(crate) async fn summaries(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    only: Option<(&str, i64)>,
) -> DbResult<Vec<TaskInstanceSummary>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        task_id: String,
        map_index: i64,
        state: Option<String>,
        try_number: i64,
        max_tries: i64,
        start_date: Option<i64>,
        end_date: Option<i64>,
        duration: Option<f64>,
        operator: Option<String>,
        hostname: Option<String>,
    }
    let mut q = crate::sql::Sql::new(
        "SELECT id, task_id, map_index, state, try_number, max_tries, start_date, end_date, \
         duration, operator, hostname FROM task_instance WHERE dag_id = ",
    );
    q.bind(dag_id.to_owned())
        .push(" AND run_id = ")
        .bind(run_id.to_owned());
    if let Some((task_id, map_index)) = only {
        q.push(" AND task_id = ")
            .bind(task_id.to_owned())
            .push(" AND map_index = ")
            .bind(map_index);
    }
    q.push(" ORDER BY task_id, map_index");
    let (sql, args) = q.build();
    let rows: Vec<Row> = sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    rows.into_iter()
        .map(|r| {
            Ok(TaskInstanceSummary {
                id: Uuid::parse_str(&r.id).map_err(|e| corrupt("task_instance", e.to_string()))?,
                state: r
                    .state
                    .map(|s| s.parse::<TaskInstanceState>())
                    .transpose()
                    .map_err(|e| corrupt("task_instance", e.to_string()))?,
                task_id: r.task_id,
                map_index: r.map_index,
                try_number: r.try_number,
                max_tries: r.max_tries,
                start_date: r.start_date.map(from_micros),
                end_date: r.end_date.map(from_micros),
                duration: r.duration,
                operator: r.operator,
                hostname: r.hostname,
            })
        })
        .collect()
}

/// `tis` (sorted by task id and map index) with each task after its upstreams; tasks the DAG
/// no longer declares last.
async fn in_dependency_order(
    db: &Db,
    dag_id: &str,
    tis: Vec<TaskInstanceSummary>,
) -> DbResult<Vec<TaskInstanceSummary>> {
    let mut tasks = crate::dags::dag_tasks(db.pool(), dag_id).await?;
    airlock_protocol::dag::sort_by_dependencies(&mut tasks);
    let rank: std::collections::HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    let mut tis = tis;
    // Stable: map indexes stay in order within a task.
    tis.sort_by_key(|ti| rank.get(ti.task_id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(tis)
}

/// Why try `try_number` of a task instance ended, if a reason was recorded (its own retry or
/// failure reason: the executor's, a zombie's, the scheduler's).
pub async fn try_reason(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i64,
    try_number: i64,
) -> StoreResult<Option<String>> {
    let current: Option<Option<String>> = sqlx::query_scalar(
        "SELECT retry_reason FROM task_instance WHERE dag_id = $1 AND run_id = $2 \
         AND task_id = $3 AND map_index = $4 AND try_number = $5",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .bind(try_number)
    .fetch_optional(db.pool())
    .await?;
    if let Some(reason) = current {
        return Ok(reason);
    }
    Ok(sqlx::query_scalar(
        "SELECT retry_reason FROM task_instance_history WHERE dag_id = $1 AND run_id = $2 \
         AND task_id = $3 AND map_index = $4 AND try_number = $5",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .bind(try_number)
    .fetch_optional(db.pool())
    .await?
    .flatten())
}

/// The current try of one task instance: (dag, run, task, map index) → (try number, state).
pub async fn task_instance_try(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i64,
) -> StoreResult<(i64, Option<TaskInstanceState>)> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT try_number, state FROM task_instance WHERE dag_id = $1 AND run_id = $2 \
         AND task_id = $3 AND map_index = $4",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .fetch_optional(db.pool())
    .await?;
    let (try_number, state) = row.ok_or_else(|| {
        StoreError::not_found(format!(
            "task {task_id:?} (map index {map_index}) of DAG run {run_id:?} of {dag_id:?} not found"
        ))
    })?;
    let state = state
        .map(|s| s.parse::<TaskInstanceState>())
        .transpose()
        .map_err(|e| corrupt("task_instance", e.to_string()))?;
    Ok((try_number, state))
}
