//! DAGs and the tasks they declare.

use airlock_protocol::api::DagResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Executor};

use super::{DbError, DbResult, from_micros, to_micros};

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
    /// Whether the scheduler skips it.
    #[serde(default)]
    pub is_paused: bool,
    /// Its tasks.
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

/// A task of a [`DagSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Task id.
    pub task_id: String,
    /// Task group path (`outer.inner`), if any.
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Operator class name.
    #[serde(default)]
    pub operator: Option<String>,
    /// Retries allowed.
    #[serde(default)]
    pub retries: i64,
    /// Longest a try may run, in seconds (enforced by the supervisor).
    #[serde(default)]
    pub execution_timeout: Option<f64>,
}

/// Creates or replaces a DAG and its task list.
pub async fn upsert_dag(
    conn: &mut AnyConnection,
    spec: &DagSpec,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let tags = serde_json::to_string(&spec.tags).map_err(|e| DbError::Corrupt {
        table: "dag",
        detail: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO dag (dag_id, is_paused, bundle_name, bundle_version, relative_fileloc, owners, \
         tags, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (dag_id) DO UPDATE SET is_paused = excluded.is_paused, \
         bundle_name = excluded.bundle_name, bundle_version = excluded.bundle_version, \
         relative_fileloc = excluded.relative_fileloc, owners = excluded.owners, \
         tags = excluded.tags, updated_at = excluded.updated_at",
    )
    .bind(&spec.dag_id)
    .bind(spec.is_paused)
    .bind(spec.bundle_name.as_deref())
    .bind(spec.bundle_version.as_deref())
    .bind(spec.relative_fileloc.as_deref())
    .bind(spec.owners.as_deref())
    .bind(tags)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM dag_task WHERE dag_id = $1")
        .bind(&spec.dag_id)
        .execute(&mut *conn)
        .await?;
    for t in &spec.tasks {
        sqlx::query(
            "INSERT INTO dag_task (dag_id, task_id, task_group_id, operator, retries, \
             execution_timeout) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&spec.dag_id)
        .bind(&t.task_id)
        .bind(t.task_group_id.as_deref())
        .bind(t.operator.as_deref())
        .bind(t.retries)
        .bind(t.execution_timeout)
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

/// The tasks of a DAG, in id order.
pub async fn dag_tasks<'e, E>(e: E, dag_id: &str) -> DbResult<Vec<TaskSpec>>
where
    E: Executor<'e, Database = Any>,
{
    #[derive(sqlx::FromRow)]
    struct Row {
        task_id: String,
        task_group_id: Option<String>,
        operator: Option<String>,
        retries: i64,
        execution_timeout: Option<f64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT task_id, task_group_id, operator, retries, execution_timeout FROM dag_task \
         WHERE dag_id = $1 \
         ORDER BY task_id",
    )
    .bind(dag_id)
    .fetch_all(e)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TaskSpec {
            task_id: r.task_id,
            task_group_id: r.task_group_id,
            operator: r.operator,
            retries: r.retries,
            execution_timeout: r.execution_timeout,
        })
        .collect())
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
