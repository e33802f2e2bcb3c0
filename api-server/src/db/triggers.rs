//! Triggers: what deferred task instances wait for, and their resumption.

use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Db, Sql, to_micros};
use crate::store_error::{StoreError, StoreResult};

/// Resumes the task instances waiting on `trigger_id` with `event` (put under `event` in their
/// `next_kwargs`): they go back to `scheduled` and the trigger is deleted. Returns how many
/// task instances were resumed (0 if the event was already submitted).
pub async fn submit_trigger_event(
    db: &Db,
    trigger_id: i64,
    event: &Value,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let sql = format!(
        "SELECT id, next_kwargs FROM task_instance WHERE trigger_id = $1 AND state = 'deferred'{}",
        db.for_update()
    );
    let waiting: Vec<(String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(trigger_id)
        .fetch_all(tx.conn())
        .await?;
    for (id, kwargs) in &waiting {
        let mut kwargs = match kwargs.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => m,
            None | Some(Ok(_)) => serde_json::Map::new(),
            Some(Err(e)) => {
                return Err(StoreError::rejected(
                    "corrupt_next_kwargs",
                    format!("next_kwargs of task instance {id} is not JSON: {e}"),
                ));
            }
        };
        kwargs.insert("event".into(), event.clone());
        sqlx::query(
            "UPDATE task_instance SET state = 'scheduled', trigger_id = NULL, next_kwargs = $2, \
             scheduled_dttm = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(Value::Object(kwargs).to_string())
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
    }
    sqlx::query("DELETE FROM triggers WHERE id = $1")
        .bind(trigger_id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(waiting.len() as u64)
}

/// Hands scheduled task instances to an executor: `scheduled` → `queued`. Returns how many moved.
pub async fn queue_task_instances(db: &Db, ids: &[Uuid], now: DateTime<Utc>) -> StoreResult<u64> {
    let mut q = Sql::new("UPDATE task_instance SET state = ");
    q.bind(TaskInstanceState::Queued.as_str().to_owned())
        .push(", queued_dttm = ")
        .bind(to_micros(now))
        .push(" WHERE state = 'scheduled' AND id IN ")
        .bind_list(ids.iter().map(|i| i.to_string()));
    let (sql, args) = q.build();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query_with(sql, args)
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}
