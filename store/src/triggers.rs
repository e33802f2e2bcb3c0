//! Triggers: what deferred task instances wait for, who runs them, and how they end.
//!
//! Claiming is atomic: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, on SQLite inside the single
//! writer transaction. A trigger may be claimed when it is unassigned or its triggerer has not
//! heartbeated within the health timeout. Resuming is exactly-once: an event only acts on task
//! instances still deferred on that trigger, in the same transaction that clears the link.

use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::sql::{NullableF64, Sql};
use crate::{Db, DbError, WriteTx, from_micros, to_micros};

/// A trigger handed to a triggerer.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTrigger {
    /// Trigger id.
    pub id: i64,
    /// Class path.
    pub classpath: String,
    /// Arguments as stored (possibly encrypted).
    pub stored_kwargs: String,
    /// When the task gives up waiting.
    pub timeout_at: Option<DateTime<Utc>>,
    /// The waiting task instance.
    pub ti_id: Uuid,
    /// Its DAG.
    pub dag_id: String,
    /// Its run.
    pub run_id: String,
    /// Its task.
    pub task_id: String,
    /// Its map index.
    pub map_index: i64,
    /// Its try.
    pub try_number: i64,
}

/// Records that `triggerer` is alive (registering it on first call).
pub async fn heartbeat_triggerer(
    db: &Db,
    triggerer: &str,
    hostname: Option<&str>,
    capacity: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO triggerer (id, hostname, capacity, started_at, latest_heartbeat) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (id) DO UPDATE SET hostname = COALESCE(excluded.hostname, triggerer.hostname), \
         capacity = COALESCE(excluded.capacity, triggerer.capacity), latest_heartbeat = excluded.latest_heartbeat, \
         end_date = NULL",
    )
    .bind(triggerer)
    .bind(hostname)
    .bind(capacity)
    .bind(to_micros(now))
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks `triggerer` stopped: its triggers become claimable at once.
pub async fn retire_triggerer(db: &Db, triggerer: &str, now: DateTime<Utc>) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE triggerer SET end_date = $2 WHERE id = $1")
        .bind(triggerer)
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE triggers SET triggerer_id = NULL WHERE triggerer_id = $1")
        .bind(triggerer)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes triggers no task instance waits for any more (cleared, timed out, finished).
async fn delete_orphans(tx: &mut WriteTx) -> Result<u64, DbError> {
    Ok(sqlx::query(
        "DELETE FROM triggers WHERE id IN (SELECT t.id FROM triggers t WHERE NOT EXISTS \
         (SELECT 1 FROM task_instance ti WHERE ti.trigger_id = t.id) LIMIT 1000)",
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Claims up to `limit` triggers for `triggerer` and returns them with what the triggerer
/// needs; triggers of triggerers silent for longer than `health_timeout` are taken over.
pub async fn claim_triggers(
    db: &Db,
    triggerer: &str,
    limit: i64,
    health_timeout: TimeDelta,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ClaimedTrigger>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let lock = match db.backend() {
        crate::Backend::Postgres => " FOR UPDATE OF t SKIP LOCKED",
        crate::Backend::Sqlite => "",
    };
    let awaited = "EXISTS (SELECT 1 FROM task_instance ti WHERE ti.trigger_id = t.id AND ti.state = 'deferred')";
    // Unassigned triggers first (an index walk on (triggerer_id, id)), then those of triggerers
    // that stopped heartbeating: neither query scans what live triggerers hold.
    let unassigned = format!(
        "SELECT t.id FROM triggers t WHERE t.triggerer_id IS NULL AND {awaited} \
         ORDER BY t.id LIMIT $1{lock}"
    );
    let mut ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(unassigned))
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
    let room = limit - ids.len() as i64;
    if room > 0 {
        let orphaned = format!(
            "SELECT t.id FROM triggers t JOIN triggerer r ON r.id = t.triggerer_id \
             WHERE (r.latest_heartbeat <= $1 OR r.end_date IS NOT NULL) AND {awaited} \
             ORDER BY t.id LIMIT $2{lock}"
        );
        ids.extend(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(orphaned))
                .bind(to_micros(now - health_timeout))
                .bind(room)
                .fetch_all(tx.conn())
                .await?,
        );
    }
    if ids.is_empty() {
        // Nothing to hand out: a good moment to drop triggers no task waits on any more.
        delete_orphans(&mut tx).await?;
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let mut q = Sql::new("UPDATE triggers SET triggerer_id = ");
    q.bind(triggerer.to_owned())
        .push(", claimed_at = ")
        .bind(to_micros(now))
        .push(" WHERE id IN ")
        .bind_list(ids.iter().copied());
    let (sql, args) = q.build();
    sqlx::query_with(sql, args).execute(tx.conn()).await?;
    let mut q = Sql::new(
        "SELECT t.id, t.classpath, t.kwargs, ti.trigger_timeout, ti.id AS ti_id, ti.dag_id, ti.run_id, \
         ti.task_id, ti.map_index, ti.try_number FROM triggers t JOIN task_instance ti ON ti.trigger_id = t.id \
         WHERE t.id IN ",
    );
    q.bind_list(ids.iter().copied()).push(" ORDER BY t.id");
    let (sql, args) = q.build();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        classpath: String,
        kwargs: String,
        trigger_timeout: Option<i64>,
        ti_id: String,
        dag_id: String,
        run_id: String,
        task_id: String,
        map_index: i64,
        try_number: i64,
    }
    let rows: Vec<Row> = sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(ClaimedTrigger {
                id: r.id,
                classpath: r.classpath,
                stored_kwargs: r.kwargs,
                timeout_at: r.trigger_timeout.map(from_micros),
                ti_id: r.ti_id.parse().map_err(|_| DbError::Corrupt {
                    table: "task_instance",
                    detail: r.ti_id.clone(),
                })?,
                dag_id: r.dag_id,
                run_id: r.run_id,
                task_id: r.task_id,
                map_index: r.map_index,
                try_number: r.try_number,
            })
        })
        .collect()
}

/// Ids of the triggers currently assigned to `triggerer` (still awaited by a task).
pub async fn assigned_triggers(db: &Db, triggerer: &str) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT t.id FROM triggers t WHERE t.triggerer_id = $1 AND EXISTS \
         (SELECT 1 FROM task_instance ti WHERE ti.trigger_id = t.id AND ti.state = 'deferred') ORDER BY t.id",
    )
    .bind(triggerer)
    .fetch_all(db.pool())
    .await?)
}

/// How a trigger ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerOutcome {
    /// An event: resume the task at `next_method` with the payload under `event`.
    Event(Value),
    /// End the task as successful without resuming it (`end_from_trigger`).
    TaskSuccess,
    /// End the task as failed (retried if it has retries left) without resuming it.
    TaskFailed,
    /// End the task as skipped without resuming it.
    TaskSkipped,
    /// The trigger failed or timed out: resume at `__fail__` with this error.
    Failure {
        /// `Trigger failure` or `Trigger timeout`.
        error: String,
        /// Traceback lines, if any.
        traceback: Option<Vec<String>>,
    },
}

impl TriggerOutcome {
    fn kind(&self) -> &'static str {
        match self {
            Self::Event(_) => "event",
            Self::TaskSuccess => "task_success",
            Self::TaskFailed => "task_failed",
            Self::TaskSkipped => "task_skipped",
            Self::Failure { error, .. } if error.contains("timeout") => "timeout",
            Self::Failure { .. } => "failure",
        }
    }
}

/// Applies how trigger `trigger_id` ended to the task instances waiting on it, then deletes the
/// trigger. Returns how many task instances it acted on: 0 when that already happened (a
/// second submission, or a second triggerer after a takeover), which makes submission
/// idempotent.
pub async fn submit_trigger_outcome(
    db: &Db,
    trigger_id: i64,
    outcome: &TriggerOutcome,
    triggerer: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = apply_trigger_outcome(db, &mut tx, trigger_id, outcome, triggerer, now).await?;
    tx.commit().await?;
    Ok(n)
}

/// [`submit_trigger_outcome`] for many triggers in one transaction. An outcome that cannot be
/// applied (its task's resume arguments are corrupt) is refused alone, with why.
pub async fn submit_trigger_outcomes(
    db: &Db,
    outcomes: &[(i64, TriggerOutcome)],
    triggerer: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Result<u64, String>>> {
    let mut tx = db.begin_write().await?;
    let mut out = Vec::with_capacity(outcomes.len());
    for (trigger_id, outcome) in outcomes {
        match apply_trigger_outcome(db, &mut tx, *trigger_id, outcome, triggerer, now).await {
            Ok(n) => out.push(Ok(n)),
            Err(StoreError::Rejected { message, .. }) => out.push(Err(message)),
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(out)
}

async fn apply_trigger_outcome(
    db: &Db,
    tx: &mut WriteTx,
    trigger_id: i64,
    outcome: &TriggerOutcome,
    triggerer: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let sql = format!(
        "SELECT id, next_kwargs, try_number, max_tries, start_date FROM task_instance \
         WHERE trigger_id = $1 AND state = 'deferred'{}",
        db.for_update()
    );
    type Row = (String, Option<String>, i64, i64, Option<i64>);
    let waiting: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(trigger_id)
        .fetch_all(tx.conn())
        .await?;
    // Refuse before writing anything.
    let mut resume_kwargs = Vec::with_capacity(waiting.len());
    for (id, kwargs, ..) in &waiting {
        resume_kwargs.push(match kwargs.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => m,
            None | Some(Ok(_)) => serde_json::Map::new(),
            Some(Err(e)) => {
                return Err(StoreError::rejected(
                    "corrupt_next_kwargs",
                    format!("next_kwargs of task instance {id} is not JSON: {e}"),
                ));
            }
        });
    }
    let at = to_micros(now);
    for ((id, _, try_number, max_tries, start), mut kwargs) in waiting.iter().zip(resume_kwargs) {
        match outcome {
            TriggerOutcome::Event(event) => {
                kwargs.insert("event".into(), event.clone());
                resume(tx, id, None, &Value::Object(kwargs), at).await?;
            }
            TriggerOutcome::Failure { error, traceback } => {
                let kwargs = match traceback {
                    Some(tb) => json!({"error": error, "traceback": tb}),
                    None => json!({"error": error}),
                };
                resume(tx, id, Some("__fail__"), &kwargs, at).await?;
            }
            TriggerOutcome::TaskSuccess
            | TriggerOutcome::TaskSkipped
            | TriggerOutcome::TaskFailed => {
                let retry = matches!(outcome, TriggerOutcome::TaskFailed)
                    && *max_tries != 0
                    && try_number <= max_tries;
                let state = match outcome {
                    TriggerOutcome::TaskSuccess => TaskInstanceState::Success,
                    TriggerOutcome::TaskSkipped => TaskInstanceState::Skipped,
                    _ if retry => TaskInstanceState::UpForRetry,
                    _ => TaskInstanceState::Failed,
                };
                let duration = start.map(|s| (at - s) as f64 / 1e6);
                sqlx::query(
                    "UPDATE task_instance SET state = $2, end_date = $3, duration = $4, trigger_id = NULL, \
                     trigger_timeout = NULL, next_method = NULL, next_kwargs = NULL, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(at)
                .bind(NullableF64(duration))
                .execute(tx.conn())
                .await?;
                if retry {
                    let uuid = id.parse().map_err(|_| DbError::Corrupt {
                        table: "task_instance",
                        detail: id.clone(),
                    })?;
                    crate::task_instances::archive_current_try(tx, uuid, at).await?;
                }
            }
        }
        sqlx::query(
            "INSERT INTO trigger_event (trigger_id, ti_id, try_number, kind, triggerer_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(trigger_id)
        .bind(id)
        .bind(try_number)
        .bind(outcome.kind())
        .bind(triggerer)
        .bind(at)
        .execute(tx.conn())
        .await?;
    }
    sqlx::query("DELETE FROM triggers WHERE id = $1")
        .bind(trigger_id)
        .execute(tx.conn())
        .await?;
    Ok(waiting.len() as u64)
}

async fn resume(
    tx: &mut WriteTx,
    id: &str,
    next_method: Option<&str>,
    kwargs: &Value,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE task_instance SET state = 'scheduled', trigger_id = NULL, trigger_timeout = NULL, \
         next_method = COALESCE($2, next_method), next_kwargs = $3, scheduled_dttm = $4, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(next_method)
    .bind(kwargs.to_string())
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Resumes the task instances waiting on `trigger_id` with `event` (see
/// [`submit_trigger_outcome`]).
pub async fn submit_trigger_event(
    db: &Db,
    trigger_id: i64,
    event: &Value,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    submit_trigger_outcome(
        db,
        trigger_id,
        &TriggerOutcome::Event(event.clone()),
        None,
        now,
    )
    .await
}

/// Fails deferred task instances whose trigger deadline passed (what the scheduler does when no
/// triggerer did): they resume at `__fail__` with `Trigger timeout`. Returns how many.
pub async fn expire_trigger_timeouts(db: &Db, now: DateTime<Utc>) -> StoreResult<u64> {
    let ids: Vec<Option<i64>> = sqlx::query_scalar(
        "SELECT trigger_id FROM task_instance WHERE state = 'deferred' AND trigger_timeout < $1 LIMIT 1000",
    )
    .bind(to_micros(now))
    .fetch_all(db.pool())
    .await?;
    let mut n = 0;
    for trigger_id in ids.into_iter().flatten() {
        let timeout = TriggerOutcome::Failure {
            error: "Trigger timeout".into(),
            traceback: None,
        };
        n += submit_trigger_outcome(db, trigger_id, &timeout, None, now).await?;
    }
    Ok(n)
}

/// How many times the given try was resumed or finished by a trigger (exactly-once checks).
pub async fn trigger_events_for(db: &Db, ti_id: Uuid, try_number: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM trigger_event WHERE ti_id = $1 AND try_number = $2",
    )
    .bind(ti_id.to_string())
    .bind(try_number)
    .fetch_one(db.pool())
    .await?)
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
