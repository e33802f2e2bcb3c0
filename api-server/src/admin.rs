//! Operator commands: seed DAG runs, mint tokens, set Variables and Connections. The CLI
//! (`api-server admin ...`) and the tests call these same functions.

use airlock_protocol::api::{ConnectionResponse, JsonObject};
use airlock_protocol::state::{DagRunState, DagRunType, TaskInstanceState};
use airlock_store as store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use airlock_protocol::dag::TaskDefinition;

use airlock_store::Db;
use airlock_store::dag_runs::NewDagRun;
use airlock_store::dag_runs::NewTaskInstance;
use airlock_store::dags::DagSpec;
use airlock_store::error::StoreResult;

/// A DAG run to create, with its task instances queued (the JSON of `admin create-run`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// DAG id; the DAG is registered if it is new.
    pub dag_id: String,
    /// Run id (default: `manual__<now>`).
    #[serde(default)]
    pub run_id: Option<String>,
    /// Logical date (default: now).
    #[serde(default, with = "airlock_protocol::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Run configuration.
    #[serde(default)]
    pub conf: Option<JsonObject>,
    /// Bundle holding the DAG.
    #[serde(default)]
    pub bundle_name: Option<String>,
    /// Bundle version.
    #[serde(default)]
    pub bundle_version: Option<String>,
    /// DAG file path within the bundle.
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    /// Task instances to create (queued).
    pub tasks: Vec<RunTaskSpec>,
}

/// A task instance of a [`RunSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTaskSpec {
    /// Task id.
    pub task_id: String,
    /// Map index (−1 when not mapped).
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// Retries allowed.
    #[serde(default)]
    pub retries: i64,
    /// Task group path.
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Operator class name.
    #[serde(default)]
    pub operator: Option<String>,
    /// Executor queue.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Longest a try may run, in seconds.
    #[serde(default)]
    pub execution_timeout: Option<f64>,
}

fn unmapped() -> i64 {
    -1
}

fn default_queue() -> String {
    "default".into()
}

/// What `create-run` created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedRun {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// The task instances.
    pub task_instances: Vec<CreatedTaskInstance>,
}

/// One created task instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedTaskInstance {
    /// Task id.
    pub task_id: String,
    /// Map index.
    pub map_index: i64,
    /// Task-instance id (what `supervisor run` takes).
    pub id: Uuid,
}

/// Registers the DAG (if new), creates a running DAG run and queues its task instances.
pub async fn create_run(db: &Db, spec: &RunSpec, now: DateTime<Utc>) -> StoreResult<CreatedRun> {
    let mut tx = db.begin_write().await?;
    let mut tasks: Vec<TaskDefinition> = Vec::new();
    for t in &spec.tasks {
        if !tasks.iter().any(|x| x.task_id == t.task_id) {
            tasks.push(TaskDefinition {
                task_group_id: t.task_group_id.clone(),
                operator: t.operator.clone(),
                retries: u32::try_from(t.retries).unwrap_or(0),
                execution_timeout: t.execution_timeout,
                queue: t.queue.clone(),
                ..TaskDefinition::new(t.task_id.clone())
            });
        }
    }
    let dag = DagSpec {
        dag_id: spec.dag_id.clone(),
        bundle_name: spec.bundle_name.clone(),
        bundle_version: spec.bundle_version.clone(),
        relative_fileloc: spec.relative_fileloc.clone(),
        owners: None,
        tags: Vec::new(),
        description: None,
        max_active_tasks: None,
        timing: None,
        max_active_runs: None,
        dagrun_timeout: None,
        notifiers: Vec::new(),
        is_paused: false,
        tasks,
    };
    store::dags::upsert_dag(tx.conn(), &dag, now).await?;
    let run_id = spec
        .run_id
        .clone()
        .unwrap_or_else(|| format!("manual__{}", airlock_protocol::time::to_rfc3339(&now)));
    let run = NewDagRun {
        dag_id: spec.dag_id.clone(),
        run_id: run_id.clone(),
        logical_date: Some(spec.logical_date.unwrap_or(now)),
        run_after: spec.logical_date.unwrap_or(now),
        run_type: DagRunType::Manual,
        state: DagRunState::Running,
        conf: Some(spec.conf.clone().unwrap_or_default()),
        triggering_user_name: std::env::var("USER").ok(),
        partition_key: None,
        note: None,
        data_interval: None,
        backfill_id: None,
    };
    store::dag_runs::insert_dag_run(tx.conn(), &run, now).await?;
    let new: Vec<NewTaskInstance> = spec
        .tasks
        .iter()
        .map(|t| NewTaskInstance {
            task_id: t.task_id.clone(),
            map_index: t.map_index,
            max_tries: t.retries,
            state: Some(TaskInstanceState::Queued),
            queue: t.queue.clone(),
            operator: t.operator.clone(),
            priority_weight: 1,
            pool: airlock_protocol::dag::DEFAULT_POOL.into(),
            pool_slots: 1,
        })
        .collect();
    let ids = store::dag_runs::insert_task_instances(
        tx.conn(),
        &spec.dag_id,
        &run_id,
        &new,
        Uuid::now_v7(),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedRun {
        dag_id: spec.dag_id.clone(),
        run_id,
        task_instances: spec
            .tasks
            .iter()
            .zip(ids)
            .map(|(t, id)| CreatedTaskInstance {
                task_id: t.task_id.clone(),
                map_index: t.map_index,
                id,
            })
            .collect(),
    })
}

/// Creates or replaces a Connection (its password and extra encrypted with `cipher`).
pub async fn set_connection(
    db: &Db,
    cipher: &airlock_store::cipher::SecretCipher,
    conn: &ConnectionResponse,
) -> StoreResult<()> {
    store::connections::validate(conn)?;
    store::connections::put_connection(db, cipher, conn, store::now()).await?;
    Ok(())
}

/// Creates or replaces a Variable.
pub async fn set_variable(
    db: &Db,
    key: &str,
    value: &str,
    description: Option<&str>,
) -> StoreResult<()> {
    store::variables::put_variable(db, key, Some(value), description, store::now()).await?;
    Ok(())
}
