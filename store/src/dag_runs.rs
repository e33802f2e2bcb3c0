//! DAG runs.

use airlock_protocol::api::{
    DagRun, JsonObject, PrevSuccessfulDagRunResponse, TriggerDAGRunPayload,
};
use airlock_protocol::dag::TaskDefinition;
use airlock_protocol::state::{DagRunState, DagRunType};
use chrono::{DateTime, Utc};
use sqlx::{Any, AnyConnection, Executor};
use uuid::Uuid;

use crate::dags::{dag_tasks, get_dag};
use crate::error::{StoreError, StoreResult};
use crate::rows::{DAG_RUN_COLUMNS, DagRunRecord, DagRunRow, TaskInstance};
use crate::sql::Sql;
use crate::{Db, DbResult, WriteTx, to_micros};

/// Reads one DAG run.
pub async fn get_dag_run<'e, E>(e: E, dag_id: &str, run_id: &str) -> DbResult<Option<DagRunRecord>>
where
    E: Executor<'e, Database = Any>,
{
    let sql = format!("SELECT {DAG_RUN_COLUMNS} FROM dag_run WHERE dag_id = $1 AND run_id = $2");
    let row: Option<DagRunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(dag_id)
        .bind(run_id)
        .fetch_optional(e)
        .await?;
    row.map(DagRunRecord::try_from).transpose()
}

/// Reads one DAG run or fails with the API's "not found".
pub async fn require_dag_run(db: &Db, dag_id: &str, run_id: &str) -> StoreResult<DagRun> {
    get_dag_run(db.pool(), dag_id, run_id)
        .await?
        .map(|r| r.run)
        .ok_or_else(|| {
            StoreError::not_found(format!(
                "The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"
            ))
        })
}

/// A DAG run to create.
#[derive(Debug, Clone)]
pub struct NewDagRun {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Logical date.
    pub logical_date: Option<DateTime<Utc>>,
    /// Earliest start.
    pub run_after: DateTime<Utc>,
    /// How it came to be.
    pub run_type: DagRunType,
    /// Initial state.
    pub state: DagRunState,
    /// Configuration.
    pub conf: Option<JsonObject>,
    /// Who triggered it.
    pub triggering_user_name: Option<String>,
    /// Partition key.
    pub partition_key: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Its data interval (default: the logical date at both ends).
    pub data_interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The backfill it belongs to.
    pub backfill_id: Option<i64>,
}

fn already_exists(dag_id: &str, run_id: &str) -> StoreError {
    StoreError::conflict(
        "already_exists",
        format!("A DAG Run already exists for DAG {dag_id} with run id {run_id}"),
    )
}

/// Inserts a DAG run; a run with the same (dag_id, run_id) is a conflict. Every run is created
/// here, so this is where run ids are checked (as Airflow checks them; see
/// [`airlock_protocol::dag::validate_run_id`]).
pub async fn insert_dag_run(
    conn: &mut AnyConnection,
    run: &NewDagRun,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    airlock_protocol::dag::validate_run_id(&run.run_id)
        .map_err(|e| StoreError::invalid("invalid_run_id", e))?;
    let conf = run
        .conf
        .as_ref()
        .map(|c| serde_json::to_string(c).unwrap_or_else(|_| "{}".into()));
    let started = (run.state == DagRunState::Running).then(|| to_micros(now));
    let res = sqlx::query_scalar::<_, i64>(
        "INSERT INTO dag_run (dag_id, run_id, logical_date, data_interval_start, data_interval_end, \
         run_after, start_date, run_type, state, conf, triggering_user_name, partition_key, note, \
         created_at, backfill_id) \
         VALUES ($1, $2, $3, COALESCE($13, $3), COALESCE($14, $3), $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $15) RETURNING id",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .bind(run.logical_date.map(to_micros))
    .bind(to_micros(run.run_after))
    .bind(started)
    .bind(run.run_type.as_str())
    .bind(run.state.as_str())
    .bind(conf)
    .bind(run.triggering_user_name.as_deref())
    .bind(run.partition_key.as_deref())
    .bind(run.note.as_deref())
    .bind(to_micros(now))
    .bind(run.data_interval.map(|(s, _)| to_micros(s)))
    .bind(run.data_interval.map(|(_, e)| to_micros(e)))
    .bind(run.backfill_id)
    .fetch_one(conn)
    .await;
    match res {
        Ok(id) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(already_exists(&run.dag_id, &run.run_id))
        }
        Err(e) => Err(e.into()),
    }
}

/// A task instance to create with a run.
#[derive(Debug, Clone)]
pub struct NewTaskInstance {
    /// Task id.
    pub task_id: String,
    /// Map index.
    pub map_index: i64,
    /// Retries allowed.
    pub max_tries: i64,
    /// Initial state.
    pub state: Option<airlock_protocol::state::TaskInstanceState>,
    /// Executor queue.
    pub queue: String,
    /// Operator class name.
    pub operator: Option<String>,
    /// Higher runs first.
    pub priority_weight: i64,
    /// The pool it takes slots of.
    pub pool: String,
    /// How many.
    pub pool_slots: i64,
}

impl NewTaskInstance {
    /// The first (unscheduled) task instance of `t`; mapped tasks start as one placeholder
    /// (map index −1) that the scheduler expands.
    pub fn of_task(t: &TaskDefinition) -> Self {
        Self {
            task_id: t.task_id.clone(),
            map_index: -1,
            max_tries: i64::from(t.retries),
            state: None,
            queue: t.queue.clone(),
            operator: t.operator.clone(),
            priority_weight: t.priority_weight,
            pool: t.pool.clone(),
            pool_slots: i64::from(t.pool_slots),
        }
    }
}

/// Inserts task instances (try 1) for a DAG run and returns their ids, in input order.
pub async fn insert_task_instances(
    conn: &mut AnyConnection,
    dag_id: &str,
    run_id: &str,
    tasks: &[NewTaskInstance],
    dag_version_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(tasks.len());
    for t in tasks {
        let id = Uuid::now_v7();
        let queued = (t.state == Some(airlock_protocol::state::TaskInstanceState::Queued))
            .then(|| to_micros(now));
        sqlx::query(
            "INSERT INTO task_instance (id, dag_id, run_id, task_id, map_index, try_number, \
             max_tries, state, queue, operator, dag_version_id, queued_dttm, updated_at, \
             priority_weight, pool, pool_slots) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id.to_string())
        .bind(dag_id)
        .bind(run_id)
        .bind(&t.task_id)
        .bind(t.map_index)
        .bind(t.max_tries)
        .bind(t.state.map(|s| s.as_str()))
        .bind(&t.queue)
        .bind(t.operator.as_deref())
        .bind(dag_version_id.to_string())
        .bind(queued)
        .bind(to_micros(now))
        .bind(t.priority_weight)
        .bind(&t.pool)
        .bind(t.pool_slots)
        .execute(&mut *conn)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// `POST /dag-runs/{dag_id}/{run_id}`: creates a queued run of a registered DAG, with a task
/// instance (no state yet) per task the DAG declares.
pub async fn trigger_dag_run(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    p: &TriggerDAGRunPayload,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let run = NewDagRun {
        dag_id: dag_id.into(),
        run_id: run_id.into(),
        logical_date: p.logical_date,
        run_after: p.run_after.or(p.logical_date).unwrap_or(now),
        run_type: DagRunType::OperatorTriggered,
        state: DagRunState::Queued,
        conf: Some(p.conf.clone().unwrap_or_default()),
        triggering_user_name: None,
        partition_key: p.partition_key.clone(),
        note: p.note.clone(),
        data_interval: None,
        backfill_id: None,
    };
    create_queued_run(db, &run, None, now).await
}

/// Creates a run of a registered, unpaused DAG, with a task instance (no state yet) per task
/// (or, with `only`, for those tasks alone: their upstreams do not run, as `airlock tasks
/// test` wants); the scheduler takes it from there.
pub async fn create_queued_run(
    db: &Db,
    run: &NewDagRun,
    only: Option<&[String]>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
    let mut tx = db.begin_write().await?;
    let dag = get_dag(tx.conn(), dag_id)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("DAG with dag_id: '{dag_id}' not found")))?;
    if dag.is_paused {
        return Err(StoreError::invalid(
            "dag_paused",
            format!("DAG {dag_id} is paused; unpause it before triggering runs"),
        ));
    }
    if !create_run(&mut tx, run, now).await? {
        return Err(already_exists(dag_id, run_id));
    }
    if let Some(only) = only {
        let known: Vec<String> = dag_tasks(tx.conn(), dag_id)
            .await?
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        if only.is_empty() {
            return Err(StoreError::invalid(
                "no_tasks",
                "only_tasks names no task".to_owned(),
            ));
        }
        let unknown: Vec<&String> = only.iter().filter(|t| !known.contains(t)).collect();
        if !unknown.is_empty() {
            return Err(StoreError::not_found(format!(
                "DAG {dag_id:?} has no task {unknown:?}; its tasks are: {}",
                known.join(", ")
            )));
        }
        let mut q = crate::sql::Sql::new("DELETE FROM task_instance WHERE dag_id = ");
        q.bind(dag_id.to_owned())
            .push(" AND run_id = ")
            .bind(run_id.to_owned())
            .push(" AND task_id NOT IN ")
            .bind_list(only.iter().cloned());
        let (sql, args) = q.build();
        sqlx::query_with(sql, args).execute(tx.conn()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates `run` and a task instance (no state yet) per task of its DAG, in `tx`; false (and
/// nothing written) when a run with its id exists. The scheduler's scheduled runs and backfills
/// come through here, so a replayed creation is a no-op.
pub async fn create_run(
    tx: &mut WriteTx,
    run: &NewDagRun,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
    if get_dag_run(tx.conn(), dag_id, run_id).await?.is_some() {
        return Ok(false);
    }
    insert_dag_run(tx.conn(), run, now).await?;
    let tasks: Vec<NewTaskInstance> = dag_tasks(tx.conn(), dag_id)
        .await?
        .iter()
        // Callbacks get task instances when their event happens.
        .filter(|t| t.callback.is_none())
        .map(NewTaskInstance::of_task)
        .collect();
    insert_task_instances(tx.conn(), dag_id, run_id, &tasks, Uuid::now_v7(), now).await?;
    Ok(true)
}

/// `POST /dag-runs/{dag_id}/{run_id}/clear`: puts the run back to queued and its task
/// instances back to no state (running ones to `restarting`), granting each its retries again.
pub async fn clear_dag_run(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    let sql = format!(
        "SELECT id FROM dag_run WHERE dag_id = $1 AND run_id = $2{}",
        db.for_update()
    );
    let exists: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(dag_id)
        .bind(run_id)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        return Err(StoreError::not_found(format!(
            "DAG run with run_id: '{run_id}' not found for DAG '{dag_id}'"
        )));
    }
    clear_run(&mut tx, dag_id, run_id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Clears run `run_id` of `dag_id` in `tx` (locked by the caller): back to `queued`, its task
/// instances back to no state (running ones to `restarting`), each with its retries again.
pub async fn clear_run(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    crate::operate::clear_whole_run(tx, dag_id, run_id, to_micros(now)).await
}

/// Filters of `GET /dag-runs/count`.
#[derive(Debug, Clone, Default)]
pub struct DagRunFilter {
    /// DAG id.
    pub dag_id: String,
    /// Only runs with one of these logical dates.
    pub logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs.
    pub run_ids: Option<Vec<String>>,
    /// Only runs in one of these states.
    pub states: Option<Vec<String>>,
}

/// Counts the DAG runs matching `f`.
pub async fn count_dag_runs(db: &Db, f: &DagRunFilter) -> DbResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM dag_run WHERE dag_id = ");
    q.bind(f.dag_id.clone());
    if let Some(dates) = f.logical_dates.as_ref().filter(|d| !d.is_empty()) {
        q.push(" AND logical_date IN ")
            .bind_list(dates.iter().map(|d| to_micros(*d)));
    }
    if let Some(ids) = f.run_ids.as_ref().filter(|d| !d.is_empty()) {
        q.push(" AND run_id IN ").bind_list(ids.iter().cloned());
    }
    if let Some(states) = f.states.as_ref().filter(|d| !d.is_empty()) {
        q.push(" AND state IN ").bind_list(states.iter().cloned());
    }
    let (sql, args) = q.build();
    Ok(sqlx::query_scalar_with::<_, i64, _>(sql, args)
        .fetch_one(db.pool())
        .await?)
}

/// The latest run of `dag_id` with a logical date before `before` (optionally in `state`).
pub async fn previous_dag_run(
    db: &Db,
    dag_id: &str,
    before: DateTime<Utc>,
    state: Option<DagRunState>,
) -> DbResult<Option<DagRun>> {
    let mut q = Sql::new(&format!(
        "SELECT {DAG_RUN_COLUMNS} FROM dag_run WHERE dag_id = "
    ));
    q.bind(dag_id.to_owned())
        .push(" AND logical_date < ")
        .bind(to_micros(before));
    if let Some(state) = state {
        q.push(" AND state = ").bind(state.as_str().to_owned());
    }
    q.push(" ORDER BY logical_date DESC LIMIT 1");
    let (sql, args) = q.build();
    let row: Option<DagRunRow> = sqlx::query_as_with(sql, args)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(DagRunRecord::try_from).transpose()?.map(|r| r.run))
}

/// The last successful run before the run of `ti` (by logical date); all fields null if none.
pub async fn previous_successful_dag_run(
    db: &Db,
    ti: &TaskInstance,
) -> DbResult<PrevSuccessfulDagRunResponse> {
    let Some(run) = get_dag_run(db.pool(), &ti.dag_id, &ti.run_id).await? else {
        return Ok(PrevSuccessfulDagRunResponse::default());
    };
    let Some(logical_date) = run.run.logical_date else {
        return Ok(PrevSuccessfulDagRunResponse::default());
    };
    Ok(
        previous_dag_run(db, &ti.dag_id, logical_date, Some(DagRunState::Success))
            .await?
            .map(|r| PrevSuccessfulDagRunResponse {
                data_interval_start: r.data_interval_start,
                data_interval_end: r.data_interval_end,
                start_date: r.start_date,
                end_date: r.end_date,
            })
            .unwrap_or_default(),
    )
}
