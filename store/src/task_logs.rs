//! Task logs shipped by supervisors on other hosts: pieces of whole lines, keyed by the try
//! they belong to and their byte offset in that try's shipped log (so a piece sent twice is
//! stored once).

use uuid::Uuid;

use crate::Db;
use crate::error::{StoreError, StoreResult};

/// The try a log belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryKey {
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
}

/// The try task-instance id `ti` names: its current try, or an archived one (a retried try's
/// supervisor may still be shipping its last lines).
pub async fn try_of(db: &Db, ti: Uuid) -> StoreResult<TryKey> {
    type Row = (String, String, String, i64, i64);
    let id = ti.to_string();
    let current: Option<Row> = sqlx::query_as(
        "SELECT dag_id, run_id, task_id, map_index, try_number FROM task_instance WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(db.pool())
    .await?;
    let row = match current {
        Some(r) => Some(r),
        None => {
            sqlx::query_as(
                "SELECT dag_id, run_id, task_id, map_index, try_number \
                 FROM task_instance_history WHERE id = $1",
            )
            .bind(&id)
            .fetch_optional(db.pool())
            .await?
        }
    };
    let (dag_id, run_id, task_id, map_index, try_number) =
        row.ok_or_else(|| StoreError::not_found(format!("task instance {ti} not found")))?;
    Ok(TryKey {
        dag_id,
        run_id,
        task_id,
        map_index,
        try_number,
    })
}

/// Stores a piece of a try's log at `start_offset`; a piece already there is left as it is.
pub async fn append(db: &Db, key: &TryKey, start_offset: i64, content: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO task_log (dag_id, run_id, task_id, map_index, try_number, start_offset, \
         content) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&key.dag_id)
    .bind(&key.run_id)
    .bind(&key.task_id)
    .bind(key.map_index)
    .bind(key.try_number)
    .bind(start_offset)
    .bind(content)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The shipped log of a try from `offset`, at most about `max` bytes (whole pieces; at least
/// one), and the offset after it; `None` when nothing of the try was shipped.
pub async fn read(
    db: &Db,
    key: &TryKey,
    offset: i64,
    max: usize,
) -> StoreResult<Option<(String, i64)>> {
    let any: Option<i64> = sqlx::query_scalar(
        "SELECT start_offset FROM task_log WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
         AND map_index = $4 AND try_number = $5 LIMIT 1",
    )
    .bind(&key.dag_id)
    .bind(&key.run_id)
    .bind(&key.task_id)
    .bind(key.map_index)
    .bind(key.try_number)
    .fetch_optional(db.pool())
    .await?;
    if any.is_none() {
        return Ok(None);
    }
    // Pieces are at most a request body; a few at a time are enough for `max`.
    let pieces: Vec<(i64, String)> = sqlx::query_as(
        "SELECT start_offset, content FROM task_log WHERE dag_id = $1 AND run_id = $2 \
         AND task_id = $3 AND map_index = $4 AND try_number = $5 AND start_offset >= $6 \
         ORDER BY start_offset LIMIT 64",
    )
    .bind(&key.dag_id)
    .bind(&key.run_id)
    .bind(&key.task_id)
    .bind(key.map_index)
    .bind(key.try_number)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    let mut text = String::new();
    let mut next = offset;
    for (start, content) in pieces {
        // A gap (a piece not arrived yet) ends the read: the follower asks again from here.
        if start != next || (!text.is_empty() && text.len() + content.len() > max) {
            break;
        }
        next = start.saturating_add(i64::try_from(content.len()).unwrap_or(i64::MAX));
        text.push_str(&content);
    }
    Ok(Some((text, next)))
}
