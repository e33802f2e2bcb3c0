//! Pools: named budgets of slots that tasks of any DAG share. Admission (in the scheduler) is
//! what enforces them; this module keeps their definitions and reports their use.

use airlock_protocol::api::PoolEntry;
use airlock_protocol::dag::DEFAULT_POOL;

use crate::Db;
use crate::error::{StoreError, StoreResult};

/// Most slots a pool may have.
pub const MAX_SLOTS: i64 = 1_000_000;

/// Every pool with the slots its queued and running task instances take, by name.
pub async fn list_pools(db: &Db) -> StoreResult<Vec<PoolEntry>> {
    let rows: Vec<(String, i64, Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.name, p.slots, p.description, \
         CAST(COALESCE((SELECT SUM(ti.pool_slots) FROM task_instance ti \
           WHERE ti.pool = p.name AND ti.state = 'running'), 0) AS BIGINT), \
         CAST(COALESCE((SELECT SUM(ti.pool_slots) FROM task_instance ti \
           WHERE ti.pool = p.name AND ti.state = 'queued'), 0) AS BIGINT), \
         CAST(COALESCE((SELECT SUM(ti.pool_slots) FROM task_instance ti \
           WHERE ti.pool = p.name AND ti.state = 'scheduled'), 0) AS BIGINT) \
         FROM pool p ORDER BY p.name",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, slots, description, running, queued, scheduled)| PoolEntry {
                name,
                slots,
                description,
                running_slots: running,
                queued_slots: queued,
                scheduled_slots: scheduled,
                open_slots: slots.saturating_sub(running).saturating_sub(queued),
            },
        )
        .collect())
}

/// Creates or resizes a pool. Returns whether it is new.
pub async fn put_pool(
    db: &Db,
    name: &str,
    slots: i64,
    description: Option<&str>,
) -> StoreResult<bool> {
    if !(0..=MAX_SLOTS).contains(&slots) {
        return Err(StoreError::invalid(
            "invalid_slots",
            format!("a pool has 0 to {MAX_SLOTS} slots, not {slots}"),
        ));
    }
    let mut tx = db.begin_write().await?;
    let existed: Option<String> = sqlx::query_scalar("SELECT name FROM pool WHERE name = $1")
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO pool (name, slots, description) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, \
         description = excluded.description",
    )
    .bind(name)
    .bind(slots)
    .bind(description)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(existed.is_none())
}

/// Deletes a pool: never `default_pool`, nor one that queued or running task instances hold
/// slots of (409); 404 when there is none.
pub async fn delete_pool(db: &Db, name: &str) -> StoreResult<()> {
    if name == DEFAULT_POOL {
        return Err(StoreError::invalid(
            "default_pool",
            format!("{DEFAULT_POOL} cannot be deleted (tasks that name no pool use it)"),
        ));
    }
    let mut tx = db.begin_write().await?;
    let holding: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_instance WHERE pool = $1 AND state IN ('queued', 'running')",
    )
    .bind(name)
    .fetch_one(tx.conn())
    .await?;
    if holding > 0 {
        return Err(StoreError::conflict(
            "pool_in_use",
            format!("{holding} queued or running task instances hold slots of pool {name:?}"),
        ));
    }
    let n = sqlx::query("DELETE FROM pool WHERE name = $1")
        .bind(name)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found(format!("pool {name:?} not found")));
    }
    tx.commit().await?;
    Ok(())
}
