//! The task-instance lifecycle: start, state changes, heartbeats and the per-try side records.

use airlock_protocol::api::{
    JsonObject, TIDeferredStatePayload, TIEnterRunningPayload, TIHeartbeatInfo, TIRunContext,
    TIStatePayload, TISuccessStatePayload, TaskRef,
};
use airlock_protocol::state::TaskInstanceState;
use airlock_protocol::time::IsoDuration;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Any, AnyConnection, Executor};
use uuid::Uuid;

use crate::assets::record_outlet_events;
use crate::dag_runs::get_dag_run;
use crate::error::{StoreError, StoreResult};
use crate::rows::{TI_COLUMNS, TaskInstance, TaskInstanceRow};
use crate::sql::NullableF64;
use crate::{Db, DbResult, WriteTx, to_micros};

/// Longest `retry_reason` kept (as in Airflow).
const MAX_RETRY_REASON_CHARS: usize = 500;

/// Reads one task instance.
pub async fn get_task_instance<'e, E>(e: E, id: Uuid) -> DbResult<Option<TaskInstance>>
where
    E: Executor<'e, Database = Any>,
{
    let sql = format!("SELECT {TI_COLUMNS} FROM task_instance WHERE id = $1");
    let row: Option<TaskInstanceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(e)
        .await?;
    row.map(TaskInstance::try_from).transpose()
}

async fn lock_task_instance(db: &Db, tx: &mut WriteTx, id: Uuid) -> StoreResult<TaskInstance> {
    let sql = format!(
        "SELECT {TI_COLUMNS} FROM task_instance WHERE id = $1{}",
        db.for_update()
    );
    let row: Option<TaskInstanceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(tx.conn())
        .await?;
    match row {
        Some(row) => Ok(TaskInstance::try_from(row)?),
        None => Err(missing_ti(tx.conn(), id).await),
    }
}

/// The error for an id that is not in `task_instance`: archived (retried) or unknown.
async fn missing_ti(conn: &mut AnyConnection, id: Uuid) -> StoreError {
    match sqlx::query_scalar::<_, i64>("SELECT 1 FROM task_instance_history WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
    {
        Ok(Some(_)) => StoreError::Archived {
            message: format!(
                "Task Instance {id} is not in the live table: it was retried and moved to the \
                 task instance history"
            ),
        },
        Ok(None) => StoreError::not_found("Task Instance not found"),
        Err(e) => e.into(),
    }
}

/// Whether `id` names an archived try.
pub async fn is_archived_try<'e, E>(e: E, id: Uuid) -> DbResult<bool>
where
    E: Executor<'e, Database = Any>,
{
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM task_instance_history WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(e)
            .await?
            .is_some(),
    )
}

fn invalid_state(previous: Option<TaskInstanceState>, message: &str) -> StoreError {
    let mut extra = JsonObject::new();
    extra.insert("previous_state".into(), json!(previous.map(|s| s.as_str())));
    StoreError::Conflict {
        reason: "invalid_state",
        message: message.into(),
        extra,
    }
}

/// `PATCH /run`: marks a queued (or restarting) task instance running and returns its context.
///
/// Idempotent for the same (hostname, unixname, pid); any other start of a running instance, or a
/// start from any other state, is a conflict.
pub async fn start_task_instance(
    db: &Db,
    id: Uuid,
    p: &TIEnterRunningPayload,
    now: DateTime<Utc>,
) -> StoreResult<TIRunContext> {
    let mut tx = db.begin_write().await?;
    let ti = lock_task_instance(db, &mut tx, id).await?;
    let previous = ti.state;
    let same_process = previous == Some(TaskInstanceState::Running)
        && ti.hostname.as_deref() == Some(p.hostname.as_str())
        && ti.unixname.as_deref() == Some(p.unixname.as_str())
        && ti.pid == Some(p.pid);
    if !same_process
        && !matches!(
            previous,
            Some(TaskInstanceState::Queued | TaskInstanceState::Restarting)
        )
    {
        return Err(invalid_state(
            previous,
            "TI was not in a state where it could be marked as running",
        ));
    }
    let run = get_dag_run(tx.conn(), &ti.dag_id, &ti.run_id)
        .await?
        .ok_or_else(|| {
            StoreError::not_found(format!(
                "DagRun with dag_id={} and run_id={} not found",
                ti.dag_id, ti.run_id
            ))
        })?;
    let resuming = ti.next_method.is_some();
    if !same_process {
        // A resumed try keeps the start date of its first half.
        let start_date = if resuming {
            ti.start_date
        } else {
            Some(p.start_date)
        };
        sqlx::query(
            "UPDATE task_instance SET state = 'running', hostname = $2, unixname = $3, pid = $4, \
             start_date = $5, end_date = NULL, last_heartbeat_at = $6, retry_delay_override = NULL, \
             retry_reason = NULL, updated_at = $6 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&p.hostname)
        .bind(&p.unixname)
        .bind(p.pid)
        .bind(start_date.map(to_micros))
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
    }
    let xcom_keys_to_clear = if resuming {
        Vec::new()
    } else {
        let mut q = String::from(
            "SELECT DISTINCT key FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
        );
        if ti.map_index >= 0 {
            q.push_str(" AND map_index = $4");
        }
        q.push_str(" ORDER BY key");
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(q))
            .bind(&ti.dag_id)
            .bind(&ti.run_id)
            .bind(&ti.task_id)
            .bind(ti.map_index)
            .fetch_all(tx.conn())
            .await?
    };
    let task_reschedule_count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_reschedule WHERE ti_id = $1")
            .bind(id.to_string())
            .fetch_one(tx.conn())
            .await?;
    tx.commit().await?;
    let should_retry = previous == Some(TaskInstanceState::Restarting)
        || (ti.max_tries != 0 && ti.try_number <= ti.max_tries);
    Ok(TIRunContext {
        dag_run: run.run,
        task_reschedule_count,
        max_tries: ti.max_tries,
        variables: Vec::new(),
        connections: Vec::new(),
        next_method: ti.next_method.clone().filter(|_| resuming),
        next_kwargs: if resuming {
            Some(ti.next_kwargs.unwrap_or(json!({})))
        } else {
            None
        },
        xcom_keys_to_clear,
        should_retry,
        start_date: if resuming { ti.start_date } else { None },
    })
}

/// What `PATCH /state` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    /// The state changed.
    Updated,
    /// The instance was already in the requested state; nothing changed.
    AlreadyInState,
}

fn duration_secs(start: Option<DateTime<Utc>>, end: DateTime<Utc>) -> Option<f64> {
    start.map(|s| (end - s).num_microseconds().unwrap_or(0) as f64 / 1e6)
}

/// `PATCH /state`: moves a running task instance to the state the payload names.
pub async fn update_task_instance_state(
    db: &Db,
    id: Uuid,
    payload: &TIStatePayload,
    now: DateTime<Utc>,
) -> StoreResult<StateChange> {
    if let TIStatePayload::Target(t) = payload {
        return Err(StoreError::rejected(
            "invalid_target_state",
            format!(
                "a task cannot move itself to {:?}: only the scheduler sets scheduled, queued and \
                 restarting (Airflow would silently fail the task here)",
                t.state.as_str()
            ),
        ));
    }
    let mut tx = db.begin_write().await.map_err(StoreError::from)?;
    let ti = match lock_task_instance(db, &mut tx, id).await {
        // Airflow answers 404 on this route for archived tries too; keep its status but say why.
        Err(StoreError::Archived { message }) => return Err(StoreError::NotFound { message }),
        other => other?,
    };
    let target = payload.target_state();
    if ti.state == Some(target) {
        return Ok(StateChange::AlreadyInState);
    }
    if ti.state != Some(TaskInstanceState::Running) {
        return Err(invalid_state(
            ti.state,
            &format!("TI was not in the running state so it cannot be updated to {target}"),
        ));
    }
    let id_s = id.to_string();
    let at = to_micros(now);
    match payload {
        TIStatePayload::Success(p) => {
            validate_outlet_partition_keys(p)?;
            finish(
                &mut tx,
                &id_s,
                "success",
                p.end_date,
                &ti,
                p.rendered_map_index.as_deref(),
                at,
            )
            .await?;
            record_outlet_events(tx.conn(), &ti, p, now).await?;
        }
        TIStatePayload::Terminal(p) => {
            finish(
                &mut tx,
                &id_s,
                p.state.as_str(),
                p.end_date,
                &ti,
                p.rendered_map_index.as_deref(),
                at,
            )
            .await?;
        }
        TIStatePayload::Retry(p) => {
            // A try may only ask for a retry it has: `max_tries` retries after the first try.
            if ti.try_number > ti.max_tries {
                return Err(StoreError::conflict(
                    "no_retries_left",
                    format!(
                        "try {} of {} tries allowed: no retry is left; report failed instead",
                        ti.try_number,
                        ti.max_tries.saturating_add(1)
                    ),
                ));
            }
            let reason = p
                .retry_reason
                .as_deref()
                .map(|r| r.chars().take(MAX_RETRY_REASON_CHARS).collect::<String>());
            sqlx::query(
                "UPDATE task_instance SET state = 'up_for_retry', end_date = $2, duration = $3, \
                 rendered_map_index = COALESCE($4, rendered_map_index), retry_delay_override = $5, \
                 retry_reason = $6, next_method = NULL, next_kwargs = NULL, updated_at = $7 \
                 WHERE id = $1",
            )
            .bind(&id_s)
            .bind(to_micros(p.end_date))
            .bind(NullableF64(duration_secs(ti.start_date, p.end_date)))
            .bind(p.rendered_map_index.as_deref())
            .bind(NullableF64(p.retry_delay_seconds))
            .bind(reason)
            .bind(at)
            .execute(tx.conn())
            .await?;
            archive_current_try(&mut tx, id, at).await?;
        }
        TIStatePayload::Reschedule(p) => {
            sqlx::query(
                "INSERT INTO task_reschedule (ti_id, try_number, start_date, end_date, \
                 reschedule_date, duration) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id_s)
            .bind(ti.try_number)
            .bind(ti.start_date.map(to_micros))
            .bind(to_micros(p.end_date))
            .bind(to_micros(p.reschedule_date))
            .bind(NullableF64(duration_secs(ti.start_date, p.end_date)))
            .execute(tx.conn())
            .await?;
            sqlx::query(
                "UPDATE task_instance SET state = 'up_for_reschedule', end_date = $2, duration = $3, \
                 next_method = NULL, next_kwargs = NULL, updated_at = $4 WHERE id = $1",
            )
            .bind(&id_s)
            .bind(to_micros(p.end_date))
            .bind(NullableF64(duration_secs(ti.start_date, p.end_date)))
            .bind(at)
            .execute(tx.conn())
            .await?;
        }
        TIStatePayload::Deferred(p) => defer(&mut tx, &id_s, p, now).await?,
        TIStatePayload::AwaitingInput(p) => {
            let deadline = p
                .timeout
                .map(|t| deadline_after(now, t, "timeout"))
                .transpose()?;
            let kwargs = serde_json::to_string(&p.next_kwargs.clone().unwrap_or_default())
                .map_err(|e| StoreError::rejected("invalid_next_kwargs", e.to_string()))?;
            sqlx::query(
                "UPDATE task_instance SET state = 'awaiting_input', trigger_id = NULL, \
                 next_method = $2, next_kwargs = $3, trigger_timeout = $4, \
                 rendered_map_index = COALESCE($5, rendered_map_index), updated_at = $6 WHERE id = $1",
            )
            .bind(&id_s)
            .bind(&p.next_method)
            .bind(kwargs)
            .bind(deadline)
            .bind(p.rendered_map_index.as_deref())
            .bind(at)
            .execute(tx.conn())
            .await?;
        }
        TIStatePayload::Target(_) => unreachable!("refused above"),
    }
    tx.commit().await?;
    Ok(StateChange::Updated)
}

async fn finish(
    tx: &mut WriteTx,
    id: &str,
    state: &str,
    end_date: DateTime<Utc>,
    ti: &TaskInstance,
    rendered_map_index: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE task_instance SET state = $2, end_date = $3, duration = $4, \
         rendered_map_index = COALESCE($5, rendered_map_index), next_method = NULL, \
         next_kwargs = NULL, trigger_id = NULL, trigger_timeout = NULL, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(to_micros(end_date))
    .bind(NullableF64(duration_secs(ti.start_date, end_date)))
    .bind(rendered_map_index)
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Longest partition key accepted on an outlet event.
const MAX_PARTITION_KEY_LEN: usize = 250;

fn validate_outlet_partition_keys(p: &TISuccessStatePayload) -> StoreResult<()> {
    for event in &p.outlet_events {
        if let Some(key) = event.get("partition_key").filter(|v| !v.is_null()) {
            let ok = key
                .as_str()
                .is_some_and(|k| !k.is_empty() && k.len() <= MAX_PARTITION_KEY_LEN);
            if !ok {
                return Err(StoreError::rejected(
                    "invalid_partition_key",
                    format!(
                        "an outlet event's partition_key must be a non-empty string of at most \
                         {MAX_PARTITION_KEY_LEN} characters"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A cleared task instance whose old try has stopped: archive that try, and make the next one
/// ready to be scheduled.
pub async fn restart_cleared(tx: &mut WriteTx, id: Uuid, at: i64) -> StoreResult<Uuid> {
    let new = archive_current_try(tx, id, at).await?;
    sqlx::query(
        "UPDATE task_instance SET state = NULL, try_number = try_number + 1, start_date = NULL, \
         end_date = NULL, duration = NULL, hostname = NULL, unixname = NULL, pid = NULL, \
         last_heartbeat_at = NULL, queued_by = NULL, queued_dttm = NULL, updated_at = $2 \
         WHERE id = $1",
    )
    .bind(new.to_string())
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(new)
}

/// Moves the finished try to the history table and gives the task instance a fresh id, so that
/// anything still holding the old id (a late heartbeat, a stale token) is fenced off.
pub async fn archive_current_try(tx: &mut WriteTx, old: Uuid, at: i64) -> StoreResult<Uuid> {
    let new = Uuid::now_v7();
    let (old_s, new_s) = (old.to_string(), new.to_string());
    sqlx::query(
        "INSERT INTO task_instance_history (id, task_instance_id, dag_id, run_id, task_id, \
         map_index, try_number, max_tries, state, hostname, unixname, pid, start_date, end_date, \
         duration, operator, queue, retry_reason, archived_at) \
         SELECT id, $2, dag_id, run_id, task_id, map_index, try_number, max_tries, state, hostname, \
         unixname, pid, start_date, end_date, duration, operator, queue, retry_reason, $3 \
         FROM task_instance WHERE id = $1",
    )
    .bind(&old_s)
    .bind(&new_s)
    .bind(at)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE task_instance_history SET task_instance_id = $2 WHERE task_instance_id = $1",
    )
    .bind(&old_s)
    .bind(&new_s)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE task_instance SET id = $2 WHERE id = $1")
        .bind(&old_s)
        .bind(&new_s)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM task_reschedule WHERE ti_id = $1")
        .bind(&old_s)
        .execute(tx.conn())
        .await?;
    Ok(new)
}

/// `now + d` as stored, or a refusal naming `field` (checked: durations are bounded where they
/// enter, but arithmetic on them never trusts that).
fn deadline_after(now: DateTime<Utc>, d: IsoDuration, field: &str) -> StoreResult<i64> {
    now.checked_add_signed(d.0)
        .and_then(|at| airlock_protocol::time::check_datetime(at).ok())
        .map(to_micros)
        .ok_or_else(|| {
            StoreError::rejected(
                "invalid_duration",
                format!("{field} {d} reaches beyond the year 9999"),
            )
        })
}

async fn defer(
    tx: &mut WriteTx,
    id: &str,
    p: &TIDeferredStatePayload,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let kwargs = match &p.trigger_kwargs {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(serde_json::Value::String(already_encoded)) => already_encoded.clone(),
        Some(v @ serde_json::Value::Object(_)) => v.to_string(),
        Some(_) => {
            return Err(StoreError::rejected(
                "invalid_trigger_kwargs",
                "trigger_kwargs must be an object or an encrypted string",
            ));
        }
    };
    let trigger_id: i64 = sqlx::query_scalar(
        "INSERT INTO triggers (classpath, kwargs, created_date, queue) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(&p.classpath)
    .bind(kwargs)
    .bind(to_micros(now))
    .bind(p.queue.as_deref())
    .fetch_one(tx.conn())
    .await?;
    let next_kwargs = serde_json::Value::Object(
        p.next_kwargs
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    );
    sqlx::query(
        "UPDATE task_instance SET state = 'deferred', trigger_id = $2, next_method = $3, \
         next_kwargs = $4, trigger_timeout = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(trigger_id)
    .bind(&p.next_method)
    .bind(next_kwargs.to_string())
    .bind(
        p.trigger_timeout
            .map(|t| deadline_after(now, t, "trigger_timeout"))
            .transpose()?,
    )
    .bind(to_micros(now))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// `PUT /heartbeat`: records that the try is alive, or explains why it should stop.
pub async fn heartbeat(
    db: &Db,
    id: Uuid,
    hb: &TIHeartbeatInfo,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let updated = sqlx::query(
        "UPDATE task_instance SET last_heartbeat_at = $4 WHERE id = $1 AND state = 'running' \
         AND hostname = $2 AND pid = $3",
    )
    .bind(id.to_string())
    .bind(&hb.hostname)
    .bind(hb.pid)
    .bind(to_micros(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    if updated == 1 {
        return Ok(());
    }
    let Some(ti) = get_task_instance(db.pool(), id).await? else {
        let mut conn = db.pool().acquire().await?;
        return Err(missing_ti(&mut conn, id).await);
    };
    if ti.hostname.as_deref() != Some(hb.hostname.as_str()) || ti.pid != Some(hb.pid) {
        let mut extra = JsonObject::new();
        extra.insert("current_hostname".into(), json!(ti.hostname));
        extra.insert("current_pid".into(), json!(ti.pid));
        return Err(StoreError::Conflict {
            reason: "running_elsewhere",
            message: "TI is already running elsewhere".into(),
            extra,
        });
    }
    let mut extra = JsonObject::new();
    extra.insert("current_state".into(), json!(ti.state.map(|s| s.as_str())));
    Err(StoreError::Conflict {
        reason: "not_running",
        message: "TI is no longer in the running state and task should terminate".into(),
        extra,
    })
}

/// Fencing: fails unless `id` is the current try of its task instance and is running. A retried
/// (archived) try gets [`StoreError::Archived`], any other state a `not_running` conflict.
pub async fn require_running(db: &Db, id: Uuid) -> StoreResult<()> {
    let state: Option<Option<String>> =
        sqlx::query_scalar("SELECT state FROM task_instance WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    let state = state
        .map(|s| crate::rows::ti_state(s.as_deref()))
        .transpose()?;
    match state {
        Some(Some(TaskInstanceState::Running)) => Ok(()),
        Some(state) => {
            let mut extra = JsonObject::new();
            extra.insert("current_state".into(), json!(state));
            Err(StoreError::Conflict {
                reason: "not_running",
                message: "this try is no longer running: it may change nothing any more".into(),
                extra,
            })
        }
        None => {
            let mut conn = db.pool().acquire().await?;
            Err(missing_ti(&mut conn, id).await)
        }
    }
}

/// Fails with the right error unless `id` is a live task instance.
async fn require_live(db: &Db, id: Uuid) -> StoreResult<TaskInstance> {
    match get_task_instance(db.pool(), id).await? {
        Some(ti) => Ok(ti),
        None => {
            let mut conn = db.pool().acquire().await?;
            Err(missing_ti(&mut conn, id).await)
        }
    }
}

/// `PUT /rtif`: stores the rendered template fields of a task instance.
pub async fn put_rendered_fields(db: &Db, id: Uuid, fields: &JsonObject) -> StoreResult<()> {
    let ti = require_live(db, id).await?;
    let text = serde_json::to_string(fields)
        .map_err(|e| StoreError::rejected("invalid_rtif", e.to_string()))?;
    sqlx::query(
        "INSERT INTO rendered_task_instance_fields (dag_id, run_id, task_id, map_index, \
         rendered_fields) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, run_id, task_id, map_index) \
         DO UPDATE SET rendered_fields = excluded.rendered_fields",
    )
    .bind(&ti.dag_id)
    .bind(&ti.run_id)
    .bind(&ti.task_id)
    .bind(ti.map_index)
    .bind(text)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Reads the rendered template fields stored for a task instance.
pub async fn get_rendered_fields(
    db: &Db,
    ti: &TaskInstance,
) -> DbResult<Option<serde_json::Value>> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = $1 AND \
         run_id = $2 AND task_id = $3 AND map_index = $4",
    )
    .bind(&ti.dag_id)
    .bind(&ti.run_id)
    .bind(&ti.task_id)
    .bind(ti.map_index)
    .fetch_optional(db.pool())
    .await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// `PATCH /rendered-map-index`.
pub async fn set_rendered_map_index(db: &Db, id: Uuid, value: &str) -> StoreResult<()> {
    if value.is_empty() {
        return Err(StoreError::rejected(
            "invalid_rendered_map_index",
            "rendered_map_index cannot be an empty string",
        ));
    }
    let n = sqlx::query("UPDATE task_instance SET rendered_map_index = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(value)
        .execute(db.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found("Task Instance not found"));
    }
    Ok(())
}

/// `PATCH /skip-downstream`: skips the named tasks of the caller's DAG run that have not started.
pub async fn skip_downstream(
    db: &Db,
    id: Uuid,
    tasks: &[TaskRef],
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let ti = lock_task_instance(db, &mut tx, id).await?;
    let mut skipped = 0;
    for task in tasks {
        let (task_id, map_index) = task.key();
        skipped += sqlx::query(
            "UPDATE task_instance SET state = 'skipped', start_date = $5, end_date = $5, \
             updated_at = $5 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 \
             AND (state IS NULL OR state NOT IN ('running', 'success', 'failed'))",
        )
        .bind(&ti.dag_id)
        .bind(&ti.run_id)
        .bind(task_id)
        .bind(map_index)
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(skipped)
}

/// What a supervisor needs to start `id` (the Airlock extension route).
pub async fn task_instance_details(
    db: &Db,
    id: Uuid,
) -> StoreResult<airlock_protocol::api::TaskInstanceDetails> {
    let ti = require_live(db, id).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        bundle_name: Option<String>,
        bundle_version: Option<String>,
        relative_fileloc: Option<String>,
        execution_timeout: Option<f64>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.bundle_name, d.bundle_version, d.relative_fileloc, t.execution_timeout FROM dag d \
         LEFT JOIN dag_task t ON t.dag_id = d.dag_id AND t.task_id = $2 WHERE d.dag_id = $1",
    )
    .bind(&ti.dag_id)
    .bind(&ti.task_id)
    .fetch_optional(db.pool())
    .await?;
    let row = row.unwrap_or(Row {
        bundle_name: None,
        bundle_version: None,
        relative_fileloc: None,
        execution_timeout: None,
    });
    Ok(airlock_protocol::api::TaskInstanceDetails {
        id: ti.id,
        dag_id: ti.dag_id,
        run_id: ti.run_id,
        task_id: ti.task_id,
        map_index: ti.map_index,
        try_number: ti.try_number,
        state: ti.state,
        queue: ti.queue,
        dag_version_id: ti.dag_version_id,
        bundle_name: row.bundle_name,
        bundle_version: row.bundle_version,
        dag_rel_path: row.relative_fileloc,
        execution_timeout: row.execution_timeout,
    })
}
