//! Executors: their liveness, the task instances they are handed, and what they report when a
//! supervisor they started exits.

use airlock_protocol::api::ExecutorEventAction;
use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::rows::ti_state;
use crate::sql::Sql;
use crate::task_instances::{archive_current_try, restart_cleared};
use crate::{Db, WriteTx, to_micros};

/// A task instance handed to an executor.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedWork {
    /// Task-instance id.
    pub ti_id: Uuid,
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

#[derive(sqlx::FromRow)]
struct WorkRow {
    id: String,
    dag_id: String,
    run_id: String,
    task_id: String,
    map_index: i64,
    try_number: i64,
}

impl WorkRow {
    fn into_work(self) -> Option<QueuedWork> {
        Some(QueuedWork {
            ti_id: Uuid::parse_str(&self.id).ok()?,
            dag_id: self.dag_id,
            run_id: self.run_id,
            task_id: self.task_id,
            map_index: self.map_index,
            try_number: self.try_number,
        })
    }
}

async fn touch(
    tx: &mut WriteTx,
    executor: &str,
    hostname: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO executor (id, hostname, started_at, latest_heartbeat) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET latest_heartbeat = excluded.latest_heartbeat, \
         hostname = COALESCE(excluded.hostname, executor.hostname), end_date = NULL",
    )
    .bind(executor)
    .bind(hostname)
    .bind(to_micros(now))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records that `executor` (re)started, running `parallelism` task instances at once.
pub async fn register_executor(
    db: &Db,
    executor: &str,
    hostname: Option<&str>,
    parallelism: u32,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    touch(&mut tx, executor, hostname, now).await?;
    sqlx::query("UPDATE executor SET started_at = $2, parallelism = $3 WHERE id = $1")
        .bind(executor)
        .bind(to_micros(now))
        .bind(i64::from(parallelism))
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `executor` stops: what it claimed and did not start is handed back at once (still queued,
/// claimable by any executor). Returns how many were handed back.
pub async fn retire_executor(db: &Db, executor: &str, now: DateTime<Utc>) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let at = to_micros(now);
    sqlx::query("UPDATE executor SET end_date = $2, latest_heartbeat = $2 WHERE id = $1")
        .bind(executor)
        .bind(at)
        .execute(tx.conn())
        .await?;
    let n = sqlx::query(
        "UPDATE task_instance SET queued_by = NULL, queued_dttm = $2, updated_at = $2 \
         WHERE state = 'queued' AND queued_by = $1",
    )
    .bind(executor)
    .bind(at)
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// Hands `executor` up to `slots` task instances: first those it claimed and does not hold (an
/// earlier answer was lost), then admitted ones nobody claimed, by priority then age. The
/// scheduler decided what may run (admission enforces the limits), so a claim only takes: on
/// PostgreSQL rows another executor is claiming at the same moment are skipped, not waited for.
pub async fn claim_work(
    db: &Db,
    executor: &str,
    slots: u32,
    holding: &[Uuid],
    queues: Option<&[String]>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<QueuedWork>> {
    let mut tx = db.begin_write().await?;
    touch(&mut tx, executor, None, now).await?;
    let slots = i64::from(slots);
    let mut out: Vec<QueuedWork> = Vec::new();
    if slots == 0 {
        tx.commit().await?;
        return Ok(out);
    }
    // What it claimed and did not start: at most what it had slots for, so read it whole and
    // filter here (`holding` is the client's, and may be long).
    let mine: Vec<WorkRow> = sqlx::query_as(
        "SELECT id, dag_id, run_id, task_id, map_index, try_number FROM task_instance \
         WHERE state = 'queued' AND queued_by = $1 ORDER BY queued_dttm, id",
    )
    .bind(executor)
    .fetch_all(tx.conn())
    .await?;
    let held: std::collections::HashSet<String> = holding.iter().map(Uuid::to_string).collect();
    out.extend(
        mine.into_iter()
            .filter(|r| !held.contains(&r.id))
            .filter_map(WorkRow::into_work)
            .take(slots as usize),
    );
    let want = slots - out.len() as i64;
    if want > 0 {
        let mut q = Sql::new(
            "SELECT id, dag_id, run_id, task_id, map_index, try_number FROM task_instance \
             WHERE state = 'queued' AND queued_by IS NULL",
        );
        if let Some(queues) = queues {
            if queues.is_empty() {
                tx.commit().await?;
                return Ok(out);
            }
            q.push(" AND queue IN ").bind_list(queues.iter().cloned());
        }
        q.push(" ORDER BY priority_weight DESC, queued_dttm, id LIMIT ")
            .bind(want)
            .push(db.for_update_skip_locked());
        let (sql, args) = q.build();
        let claimable: Vec<WorkRow> = sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
        if !claimable.is_empty() {
            let at = to_micros(now);
            let mut q = Sql::new("UPDATE task_instance SET queued_by = ");
            q.bind(executor.to_owned())
                .push(", queued_dttm = ")
                .bind(at)
                .push(", updated_at = ")
                .bind(at)
                .push(" WHERE state = 'queued' AND queued_by IS NULL AND id IN ")
                .bind_list(claimable.iter().map(|w| w.id.clone()));
            let (sql, args) = q.build();
            sqlx::query_with(sql, args).execute(tx.conn()).await?;
            // Locked (or, on SQLite, under the write lock) since they were read: all taken.
            out.extend(claimable.into_iter().filter_map(WorkRow::into_work));
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Exit codes after which a supervisor has settled its try itself (documented in the README):
/// 0–3 reported an outcome or were told to stop, 5 found the try running elsewhere.
const SETTLED_EXITS: &[i32] = &[0, 1, 2, 3, 5];

/// A supervisor `executor` started for try `try_number` of `ti_id` exited. If the try never
/// started (still queued for this executor) it failed at the executor level; if it started and
/// its supervisor died (killed, crashed, or unable to report) it is a zombie now rather than at
/// the heartbeat timeout: either way retried if tries are left, else failed. A cleared
/// (`restarting`) task instance is ready to run again. Anything else has moved on and is left
/// alone.
pub async fn executor_event(
    db: &Db,
    executor: &str,
    ti_id: Uuid,
    try_number: i64,
    exit_code: Option<i32>,
    detail: &str,
    now: DateTime<Utc>,
) -> StoreResult<ExecutorEventAction> {
    let mut tx = db.begin_write().await?;
    let sql = format!(
        "SELECT state, queued_by, try_number, max_tries FROM task_instance WHERE id = $1{}",
        db.for_update()
    );
    let row: Option<(Option<String>, Option<String>, i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ti_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
    let Some((state, queued_by, try_now, max_tries)) = row else {
        return Ok(ExecutorEventAction::Ignored);
    };
    if try_now != try_number {
        return Ok(ExecutorEventAction::Ignored);
    }
    let at = to_micros(now);
    let ours = queued_by.as_deref() == Some(executor);
    let died = !exit_code.is_some_and(|c| SETTLED_EXITS.contains(&c));
    use TaskInstanceState as S;
    let action = match ti_state(state.as_deref())? {
        Some(s @ (S::Queued | S::Running)) if ours && (s == S::Queued || died) => {
            let retry = try_now <= max_tries;
            let why = if s == S::Queued {
                "the executor could not run the task"
            } else {
                "the task's supervisor died"
            };
            let reason: String = format!("{why}: {detail}").chars().take(500).collect();
            sqlx::query(
                "UPDATE task_instance SET state = $2, end_date = $3, retry_reason = $4, \
                 queued_by = NULL, duration = CASE WHEN start_date IS NULL THEN NULL \
                 ELSE ($3 - start_date) / 1000000.0 END, updated_at = $3 WHERE id = $1",
            )
            .bind(ti_id.to_string())
            .bind(if retry { "up_for_retry" } else { "failed" })
            .bind(at)
            .bind(reason)
            .execute(tx.conn())
            .await?;
            if retry {
                archive_current_try(&mut tx, ti_id, at).await?;
                ExecutorEventAction::UpForRetry
            } else {
                ExecutorEventAction::Failed
            }
        }
        Some(S::Restarting) => {
            restart_cleared(&mut tx, ti_id, at).await?;
            ExecutorEventAction::Rescheduled
        }
        _ => ExecutorEventAction::Ignored,
    };
    tx.commit().await?;
    Ok(action)
}
