//! XComs: small JSON values tasks pass to each other.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::dag_runs::get_dag_run;
use crate::error::{StoreError, StoreResult};
use crate::sql::Sql;
use crate::{Db, DbError, DbResult, to_micros};

/// Identifies the XComs of one key of one task in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XComKey {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// XCom key.
    pub key: String,
}

impl XComKey {
    fn describe(&self) -> String {
        format!(
            "task {:?} in DAG run {:?} of {:?}",
            self.task_id, self.run_id, self.dag_id
        )
    }
}

/// Default of the longest list a task may push for mapping (Airflow's `[core] max_map_length`
/// default; `--max-map-length` raises it). Expansion happens in one scheduler transaction, so
/// this stays modest until it is batched across passes.
pub const DEFAULT_MAX_MAP_LENGTH: u32 = 1024;

/// A stored JSON document (an XCom value), parsed; a document that does not parse is a corrupt row.
pub fn parse_value(text: &str) -> DbResult<Value> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt {
        table: "xcom",
        detail: e.to_string(),
    })
}

/// Starts `SELECT <cols> FROM xcom x JOIN dag_run r ...` restricted to `k`, spanning earlier runs
/// of the DAG (by logical date) when `include_prior_dates`.
fn select_values(k: &XComKey, cols: &str, include_prior_dates: bool) -> Sql {
    let mut q = Sql::new(&format!(
        "SELECT {cols} FROM xcom x JOIN dag_run r ON r.dag_id = x.dag_id AND r.run_id = x.run_id \
         WHERE x.dag_id = "
    ));
    q.bind(k.dag_id.clone())
        .push(" AND x.task_id = ")
        .bind(k.task_id.clone())
        .push(" AND x.key = ")
        .bind(k.key.clone());
    if include_prior_dates {
        // Runs without a logical date only see themselves.
        q.push(" AND (x.run_id = ")
            .bind(k.run_id.clone())
            .push(" OR r.logical_date <= (SELECT c.logical_date FROM dag_run c WHERE c.dag_id = ")
            .bind(k.dag_id.clone())
            .push(" AND c.run_id = ")
            .bind(k.run_id.clone())
            .push("))");
    } else {
        q.push(" AND x.run_id = ").bind(k.run_id.clone());
    }
    q
}

/// `GET /xcoms/...`: the value at `map_index`, or, with `offset`, the `offset`-th non-null value
/// by map index (negative offsets count from the end).
pub async fn get_xcom(
    db: &Db,
    k: &XComKey,
    map_index: i64,
    include_prior_dates: bool,
    offset: Option<i64>,
) -> StoreResult<Value> {
    let mut q = select_values(k, "x.value", include_prior_dates);
    match offset {
        None => {
            q.push(" AND x.map_index = ")
                .bind(map_index)
                .push(" ORDER BY r.logical_date DESC, x.timestamp DESC LIMIT 1");
        }
        Some(off) => {
            q.push(" AND x.value <> 'null'");
            if off >= 0 {
                q.push(" ORDER BY x.map_index ASC, r.logical_date DESC LIMIT 1 OFFSET ")
                    .bind(off);
            } else {
                q.push(" ORDER BY x.map_index DESC, r.logical_date DESC LIMIT 1 OFFSET ")
                    .bind(-1 - off);
            }
        }
    }
    let (sql, args) = q.build();
    let found: Option<String> = sqlx::query_scalar_with(sql, args)
        .fetch_optional(db.pool())
        .await?;
    match found {
        Some(text) => Ok(parse_value(&text)?),
        None => Err(StoreError::not_found(match offset {
            None => format!(
                "XCom with key={:?} map_index={map_index} not found for {}",
                k.key,
                k.describe()
            ),
            Some(off) => format!(
                "XCom with key={:?} offset={off} not found for {}",
                k.key,
                k.describe()
            ),
        })),
    }
}

/// `HEAD /xcoms/...`: how many (mapped) values exist for the key.
pub async fn count_xcoms(db: &Db, k: &XComKey) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4",
    )
    .bind(&k.dag_id)
    .bind(&k.run_id)
    .bind(&k.task_id)
    .bind(&k.key)
    .fetch_one(db.pool())
    .await?)
}

/// `POST /xcoms/...`: stores (replaces) a value; `mapped_length` records how many mapped task
/// instances a downstream task would expand into, refused above `max_map_length`.
#[allow(clippy::too_many_arguments)] // One per field of Airflow's request; grouping hides them.
pub async fn set_xcom(
    db: &Db,
    k: &XComKey,
    map_index: i64,
    value: &Value,
    dag_result: bool,
    mapped_length: Option<i64>,
    max_map_length: u32,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(len) = mapped_length
        && !(0..=i64::from(max_map_length)).contains(&len)
    {
        return Err(StoreError::invalid(
            "unmappable_return_value_length",
            format!(
                "pushed value is too large to map as a downstream's dependency \
                 ({len} > max_map_length {max_map_length})"
            ),
        ));
    }
    let mut tx = db.begin_write().await?;
    if get_dag_run(tx.conn(), &k.dag_id, &k.run_id)
        .await?
        .is_none()
    {
        return Err(StoreError::not_found(format!(
            "DAG run not found on DAG {:?} with ID {:?}",
            k.dag_id, k.run_id
        )));
    }
    // An XCom belongs to a task instance: none is written for one that does not exist.
    let owner: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
         AND map_index = $4",
    )
    .bind(&k.dag_id)
    .bind(&k.run_id)
    .bind(&k.task_id)
    .bind(map_index)
    .fetch_optional(tx.conn())
    .await?;
    if owner.is_none() {
        return Err(StoreError::not_found(format!(
            "Task Instance with dag_id {:?}, run_id {:?}, task_id {:?} and map_index {map_index} \
             not found",
            k.dag_id, k.run_id, k.task_id
        )));
    }
    sqlx::query(
        "INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value, dag_result, timestamp) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (dag_id, run_id, task_id, key, map_index) DO UPDATE SET \
         value = excluded.value, dag_result = excluded.dag_result, timestamp = excluded.timestamp",
    )
    .bind(&k.dag_id)
    .bind(&k.run_id)
    .bind(&k.task_id)
    .bind(map_index)
    .bind(&k.key)
    .bind(value.to_string())
    .bind(dag_result)
    .bind(to_micros(now))
    .execute(tx.conn())
    .await?;
    if let Some(len) = mapped_length {
        sqlx::query(
            "INSERT INTO task_map (dag_id, run_id, task_id, map_index, length) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, run_id, task_id, map_index) \
             DO UPDATE SET length = excluded.length",
        )
        .bind(&k.dag_id)
        .bind(&k.run_id)
        .bind(&k.task_id)
        .bind(map_index)
        .bind(len)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `DELETE /xcoms/...`: removes a value if present.
pub async fn delete_xcom(db: &Db, k: &XComKey, map_index: i64) -> DbResult<()> {
    sqlx::query(
        "DELETE FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4 \
         AND map_index = $5",
    )
    .bind(&k.dag_id)
    .bind(&k.run_id)
    .bind(&k.task_id)
    .bind(&k.key)
    .bind(map_index)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// `GET /xcoms/.../item/{offset}`: the value at position `offset` by map index (negative from
/// the end).
pub async fn get_xcom_item(db: &Db, k: &XComKey, offset: i64) -> StoreResult<Value> {
    let order = if offset >= 0 { "ASC" } else { "DESC" };
    let skip = if offset >= 0 { offset } else { -1 - offset };
    let mut q = select_values(k, "x.value", false);
    q.push(&format!(" ORDER BY x.map_index {order} LIMIT 1 OFFSET "))
        .bind(skip);
    let (sql, args) = q.build();
    let found: Option<String> = sqlx::query_scalar_with(sql, args)
        .fetch_optional(db.pool())
        .await?;
    match found {
        Some(text) => Ok(parse_value(&text)?),
        None => Err(StoreError::not_found(format!(
            "XCom with key={:?} offset={offset} not found for {}",
            k.key,
            k.describe()
        ))),
    }
}

/// `GET /xcoms/.../slice`: `values[start:stop:step]` in Python's sense, over values ordered by
/// map index.
pub async fn get_xcom_slice(
    db: &Db,
    k: &XComKey,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    include_prior_dates: bool,
) -> StoreResult<Vec<Value>> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(StoreError::rejected(
            "invalid_slice",
            "slice step cannot be zero",
        ));
    }
    let mut q = select_values(k, "x.value", include_prior_dates);
    q.push(" ORDER BY x.map_index ASC, r.logical_date ASC");
    let (sql, args) = q.build();
    let all: Vec<String> = sqlx::query_scalar_with(sql, args)
        .fetch_all(db.pool())
        .await?;
    python_slice(all.len(), start, stop, step)
        .into_iter()
        .map(|i| Ok(parse_value(&all[i])?))
        .collect()
}

/// The indices `range(n)[start:stop:step]` selects, as Python computes them (`step != 0`).
pub fn python_slice(n: usize, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<usize> {
    let n = n as i64;
    let (lower, upper) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let clamp = |v: i64| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lower, upper)
    };
    let start = start.map_or(if step > 0 { lower } else { upper }, clamp);
    let stop = stop.map_or(if step > 0 { upper } else { lower }, clamp);
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        // Past the end of i64 is past the end of the list.
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    out
}

/// Every XCom task `task_id` wrote in one run (of one map index, when given), by map index then
/// key; none of them is more than the API's body limit, which bounded them as they came in.
pub async fn task_xcoms(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: Option<i64>,
) -> StoreResult<Vec<airlock_protocol::api::XComEntry>> {
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 LIMIT 1",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .fetch_optional(db.pool())
    .await?;
    if exists.is_none() {
        return Err(StoreError::not_found(format!(
            "task {task_id:?} has no task instance in run {run_id:?} of DAG {dag_id:?}"
        )));
    }
    let mut q = Sql::new("SELECT key, map_index, value FROM xcom WHERE dag_id = ");
    q.bind(dag_id.to_owned())
        .push(" AND run_id = ")
        .bind(run_id.to_owned())
        .push(" AND task_id = ")
        .bind(task_id.to_owned());
    if let Some(m) = map_index {
        q.push(" AND map_index = ").bind(m);
    }
    q.push(" ORDER BY map_index, key LIMIT 10000");
    let (sql, args) = q.build();
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    Ok(rows
        .into_iter()
        .map(|(key, map_index, text)| {
            Ok(airlock_protocol::api::XComEntry {
                value: parse_value(&text)?,
                key,
                map_index,
            })
        })
        .collect::<DbResult<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_like_python() {
        let s = |start, stop, step| python_slice(5, start, stop, step);
        assert_eq!(s(None, None, 1), [0, 1, 2, 3, 4]);
        assert_eq!(s(Some(1), Some(3), 1), [1, 2]);
        assert_eq!(s(None, None, -1), [4, 3, 2, 1, 0]);
        assert_eq!(s(Some(-2), None, 1), [3, 4]);
        assert_eq!(s(None, Some(-2), 1), [0, 1, 2]);
        assert_eq!(s(None, None, 2), [0, 2, 4]);
        assert_eq!(s(Some(4), Some(0), -2), [4, 2]);
        assert_eq!(s(Some(10), None, 1), Vec::<usize>::new());
        assert_eq!(s(Some(-10), Some(2), 1), [0, 1]);
        assert_eq!(python_slice(0, None, None, -1), Vec::<usize>::new());
        assert_eq!(s(Some(4), None, i64::MAX), [4]);
        assert_eq!(s(Some(i64::MIN), Some(i64::MAX), i64::MAX), [0]);
        assert_eq!(s(Some(i64::MAX), Some(i64::MIN), i64::MIN), [4]);
    }
}
