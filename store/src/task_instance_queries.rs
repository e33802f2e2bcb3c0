//! Read-only questions about task instances (counts, states, history).

use airlock_protocol::api::{JsonObject, PreviousTIResponse};
use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::dags::task_group_members;
use crate::error::{StoreError, StoreResult};
use crate::sql::Sql;
use crate::{Db, DbResult, from_micros, to_micros};

/// Filters shared by `GET /task-instances/count` and `/states`.
#[derive(Debug, Clone, Default)]
pub struct TiFilter {
    /// DAG id.
    pub dag_id: String,
    /// Only this map index.
    pub map_index: Option<i64>,
    /// Only these tasks.
    pub task_ids: Option<Vec<String>>,
    /// Only tasks of this task group.
    pub task_group_id: Option<String>,
    /// Only runs with these logical dates.
    pub logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs.
    pub run_ids: Option<Vec<String>>,
    /// Only these states (`"null"` matches no state).
    pub states: Option<Vec<String>>,
}

async fn filtered(db: &Db, cols: &str, f: &TiFilter) -> StoreResult<Sql> {
    let mut q = Sql::new(&format!(
        "SELECT {cols} FROM task_instance ti JOIN dag_run r ON r.dag_id = ti.dag_id AND \
         r.run_id = ti.run_id WHERE ti.dag_id = "
    ));
    q.bind(f.dag_id.clone());
    if let Some(tasks) = f.task_ids.as_ref().filter(|t| !t.is_empty()) {
        q.push(" AND ti.task_id IN ")
            .bind_list(tasks.iter().cloned());
    }
    if let Some(group) = &f.task_group_id {
        let members = task_group_members(db.pool(), &f.dag_id, group)
            .await?
            .ok_or_else(|| {
                StoreError::not_found(format!("Task group {group} not found in DAG {}", f.dag_id))
            })?;
        q.push(" AND ti.task_id IN ").bind_list(members);
    }
    if let Some(mi) = f.map_index {
        q.push(" AND ti.map_index = ").bind(mi);
    }
    if let Some(dates) = f.logical_dates.as_ref().filter(|d| !d.is_empty()) {
        q.push(" AND r.logical_date IN ")
            .bind_list(dates.iter().map(|d| to_micros(*d)));
    }
    if let Some(runs) = f.run_ids.as_ref().filter(|r| !r.is_empty()) {
        q.push(" AND ti.run_id IN ").bind_list(runs.iter().cloned());
    }
    if let Some(states) = f.states.as_ref().filter(|s| !s.is_empty()) {
        let named: Vec<String> = states.iter().filter(|s| *s != "null").cloned().collect();
        let with_null = named.len() != states.len();
        q.push(" AND (");
        if !named.is_empty() {
            q.push("ti.state IN ").bind_list(named);
            if with_null {
                q.push(" OR ");
            }
        }
        if with_null {
            q.push("ti.state IS NULL");
        }
        q.push(")");
    }
    Ok(q)
}

/// `GET /task-instances/count`.
pub async fn count_task_instances(db: &Db, f: &TiFilter) -> StoreResult<i64> {
    let (sql, args) = filtered(db, "COUNT(*)", f).await?.build();
    Ok(sqlx::query_scalar_with(sql, args)
        .fetch_one(db.pool())
        .await?)
}

/// `GET /task-instances/states`: `{run_id: {task_id or task_id_<map_index>: state}}`.
pub async fn task_instance_states(db: &Db, f: &TiFilter) -> StoreResult<JsonObject> {
    let f = TiFilter {
        states: None,
        ..f.clone()
    };
    let (sql, args) = filtered(db, "ti.run_id, ti.task_id, ti.map_index, ti.state", &f)
        .await?
        .build();
    let rows: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    let mut out = JsonObject::new();
    for (run_id, task_id, map_index, state) in rows {
        let key = if map_index < 0 {
            task_id
        } else {
            format!("{task_id}_{map_index}")
        };
        let entry = out.entry(run_id).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            m.insert(key, json!(state));
        }
    }
    Ok(out)
}

/// `GET /task-instances/previous/{dag_id}/{task_id}`: the task's instance in the latest earlier
/// run.
pub async fn previous_task_instance(
    db: &Db,
    dag_id: &str,
    task_id: &str,
    logical_date: Option<DateTime<Utc>>,
    map_index: i64,
    state: Option<TaskInstanceState>,
) -> DbResult<Option<PreviousTIResponse>> {
    let mut q = Sql::new(
        "SELECT ti.task_id, ti.dag_id, ti.run_id, r.logical_date, ti.start_date, ti.end_date, \
         ti.state, ti.try_number, ti.map_index, ti.duration FROM task_instance ti JOIN dag_run r \
         ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id WHERE ti.dag_id = ",
    );
    q.bind(dag_id.to_owned())
        .push(" AND ti.task_id = ")
        .bind(task_id.to_owned())
        .push(" AND ti.map_index = ")
        .bind(map_index);
    if let Some(before) = logical_date {
        q.push(" AND r.logical_date < ").bind(to_micros(before));
    }
    if let Some(state) = state {
        q.push(" AND ti.state = ").bind(state.as_str().to_owned());
    }
    q.push(" ORDER BY r.logical_date DESC LIMIT 1");
    #[derive(sqlx::FromRow)]
    struct Row {
        task_id: String,
        dag_id: String,
        run_id: String,
        logical_date: Option<i64>,
        start_date: Option<i64>,
        end_date: Option<i64>,
        state: Option<String>,
        try_number: i64,
        map_index: i64,
        duration: Option<f64>,
    }
    let (sql, args) = q.build();
    let row: Option<Row> = sqlx::query_as_with(sql, args)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| PreviousTIResponse {
        task_id: r.task_id,
        dag_id: r.dag_id,
        run_id: r.run_id,
        logical_date: r.logical_date.map(from_micros),
        start_date: r.start_date.map(from_micros),
        end_date: r.end_date.map(from_micros),
        state: r.state,
        try_number: r.try_number,
        map_index: Some(r.map_index),
        duration: r.duration,
    }))
}

/// `GET /task-instances/breadcrumbs`: finished task instances of a run.
pub async fn breadcrumbs(db: &Db, dag_id: &str, run_id: &str) -> DbResult<Vec<JsonObject>> {
    type Row = (String, i64, Option<String>, Option<String>, Option<f64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT task_id, map_index, state, operator, duration FROM task_instance \
         WHERE dag_id = $1 AND run_id = $2 AND state IN \
         ('success', 'failed', 'skipped', 'upstream_failed', 'removed') ORDER BY task_id, map_index",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(task_id, map_index, state, operator, duration)| {
            let mut m = JsonObject::new();
            m.insert("task_id".into(), json!(task_id));
            m.insert("map_index".into(), json!(map_index));
            m.insert("state".into(), json!(state));
            m.insert("operator".into(), json!(operator));
            m.insert("duration".into(), json!(duration));
            m
        })
        .collect())
}

/// `GET /task-reschedules/{id}/start_date`: the start of the first reschedule of this try.
pub async fn first_reschedule_start(db: &Db, id: Uuid) -> DbResult<Option<DateTime<Utc>>> {
    let start: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT start_date FROM task_reschedule WHERE ti_id = $1 ORDER BY id ASC LIMIT 1",
    )
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(start.flatten().map(from_micros))
}
