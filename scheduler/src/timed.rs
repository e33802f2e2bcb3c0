//! Transitions that come due with time: retries, reschedules, heartbeat timeouts (zombies),
//! task instances queued for executors that died or never ran them.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use airlock_protocol::state::TaskInstanceState;
use airlock_store::rows::ti_state;
use airlock_store::sql::Sql;
use airlock_store::task_instances::{archive_current_try, restart_cleared};
use airlock_store::{StoreResult, WriteTx, from_micros, to_micros};

use crate::pass::{PassReport, SchedulerSettings, span, update_ids};
use crate::rules::retry_delay_secs;

/// Longest stored `retry_reason` (as in Airflow).
const MAX_REASON_CHARS: usize = 500;

fn parse_id(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

/// `up_for_retry` → `scheduled` (next try) once the retry delay has passed.
pub(crate) async fn due_retries(
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        try_number: i64,
        end_date: Option<i64>,
        retry_delay_override: Option<f64>,
        retry_delay: Option<f64>,
        retry_exponential_backoff: Option<i64>,
        max_retry_delay: Option<f64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT ti.id, ti.try_number, ti.end_date, ti.retry_delay_override, t.retry_delay, \
         t.retry_exponential_backoff, t.max_retry_delay FROM task_instance ti \
         LEFT JOIN dag_task t ON t.dag_id = ti.dag_id AND t.task_id = ti.task_id \
         WHERE ti.state = 'up_for_retry'",
    )
    .fetch_all(tx.conn())
    .await?;
    let mut due = Vec::new();
    for r in rows {
        let delay = retry_delay_secs(
            r.retry_delay.unwrap_or(0.0),
            r.retry_exponential_backoff.unwrap_or(0) != 0,
            r.max_retry_delay,
            r.retry_delay_override,
            r.try_number,
        );
        let ended = r.end_date.map_or(now, from_micros);
        // Checked: a stored end date near the end of time must fail its own row, never the pass.
        match ended.checked_add_signed(TimeDelta::microseconds((delay * 1e6) as i64)) {
            Some(at) if at <= now => due.push(r.id),
            Some(at) => report.due_at(at),
            None => {
                let reason = format!(
                    "cannot schedule a retry: the try's end date {ended} plus the retry delay \
                     is out of range"
                );
                fail_unschedulable(tx, &r.id, "up_for_retry", &reason, now).await?;
                report.not_run += 1;
            }
        }
    }
    report.retried += update_ids(
        tx,
        "UPDATE task_instance SET state = 'scheduled', try_number = try_number + 1, \
         start_date = NULL, end_date = NULL, duration = NULL, hostname = NULL, unixname = NULL, \
         pid = NULL, last_heartbeat_at = NULL, queued_by = NULL, queued_dttm = NULL, \
         scheduled_dttm = $1, updated_at = $1 WHERE state = 'up_for_retry' AND id IN ",
        to_micros(now),
        &due,
    )
    .await?;
    Ok(())
}

/// Fails a task instance (still in `state`) that the pass cannot decide about because of a value
/// stored for it, with `reason`, so that it stops blocking its run and every other row is still
/// scheduled.
pub(crate) async fn fail_unschedulable(
    tx: &mut WriteTx,
    id: &str,
    state: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tracing::warn!(task_instance = %id, %reason, "failing a task instance the scheduler cannot schedule");
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    sqlx::query(
        "UPDATE task_instance SET state = 'failed', retry_reason = $3, end_date = $4, \
         updated_at = $4 WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(state)
    .bind(reason)
    .bind(to_micros(now))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// `up_for_reschedule` → `scheduled` (same try) at the reschedule date.
pub(crate) async fn due_reschedules(
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT ti.id, (SELECT MAX(r.reschedule_date) FROM task_reschedule r \
         WHERE r.ti_id = ti.id) AS due FROM task_instance ti WHERE ti.state = 'up_for_reschedule'",
    )
    .fetch_all(tx.conn())
    .await?;
    let mut due = Vec::new();
    for (id, at) in rows {
        let at = at.map_or(now, from_micros);
        if at <= now {
            due.push(id);
        } else {
            report.due_at(at);
        }
    }
    report.scheduled += update_ids(
        tx,
        "UPDATE task_instance SET state = 'scheduled', queued_by = NULL, scheduled_dttm = $1, \
         updated_at = $1 WHERE state = 'up_for_reschedule' AND id IN ",
        to_micros(now),
        &due,
    )
    .await?;
    Ok(())
}

/// Running task instances whose heartbeats stopped: their supervisor is gone. Retried if tries
/// are left, else failed. Cleared (`restarting`) ones whose process is gone are ready again.
pub(crate) async fn zombies(
    tx: &mut WriteTx,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let cutoff = to_micros(now - span(settings.heartbeat_timeout));
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, state, try_number, max_tries FROM task_instance \
         WHERE state IN ('running', 'restarting') \
         AND COALESCE(last_heartbeat_at, updated_at) < $1",
    )
    .bind(cutoff)
    .fetch_all(tx.conn())
    .await?;
    let at = to_micros(now);
    let secs = settings.heartbeat_timeout.as_secs_f64();
    for (id, state, try_number, max_tries) in rows {
        let Some(uuid) = parse_id(&id) else { continue };
        if ti_state(Some(&state))? == Some(TaskInstanceState::Restarting) {
            restart_cleared(tx, uuid, at).await?;
            report.rescheduled += 1;
            continue;
        }
        let retry = try_number <= max_tries;
        let reason: String = format!(
            "no heartbeat for {secs} s: the task's supervisor is gone (zombie task instance)"
        )
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
        sqlx::query(
            "UPDATE task_instance SET state = $2, end_date = $3, retry_reason = $4, \
             duration = CASE WHEN start_date IS NULL THEN NULL \
                 ELSE ($3 - start_date) / 1000000.0 END, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(&id)
        .bind(if retry { "up_for_retry" } else { "failed" })
        .bind(at)
        .bind(&reason)
        .execute(tx.conn())
        .await?;
        if retry {
            archive_current_try(tx, uuid, at).await?;
        }
        report.zombies += 1;
    }
    Ok(())
}

/// Claimed task instances whose executor stopped heartbeating (or retired), or that have waited
/// longer than the queued timeout since they were claimed, are handed back: still `queued`,
/// claimable by any executor. Nothing runs twice: starting a try (`PATCH /run`) moves it from
/// `queued` to `running` once, so of a late supervisor and a new one only the first starts.
pub(crate) async fn stale_queued(
    tx: &mut WriteTx,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let at = to_micros(now);
    let mut q = Sql::new("UPDATE task_instance SET queued_by = NULL, queued_dttm = ");
    q.bind(at)
        .push(", updated_at = ")
        .bind(at)
        .push(
            " WHERE state = 'queued' AND queued_by IS NOT NULL AND (queued_by IN \
             (SELECT id FROM executor WHERE end_date IS NOT NULL OR latest_heartbeat < ",
        )
        .bind(to_micros(now - span(settings.executor_timeout)))
        .push(") OR queued_dttm < ")
        .bind(to_micros(now - span(settings.queued_timeout)))
        .push(")");
    let (sql, args) = q.build();
    report.requeued += sqlx::query_with(sql, args)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(())
}

/// Running runs past their DAG's `dagrun_timeout` fail: what has not finished is skipped (a
/// running task's supervisor learns it from its next heartbeat and stops the task), as Airflow
/// does.
pub(crate) async fn run_timeouts(
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let at = to_micros(now);
    let late: Vec<(i64, String, String, f64)> = sqlx::query_as(
        "SELECT r.id, r.dag_id, r.run_id, d.dagrun_timeout FROM dag_run r \
         JOIN dag d ON d.dag_id = r.dag_id WHERE r.state = 'running' \
         AND d.dagrun_timeout IS NOT NULL AND r.start_date IS NOT NULL \
         AND r.start_date + CAST(d.dagrun_timeout * 1000000 AS BIGINT) < $1",
    )
    .bind(at)
    .fetch_all(tx.conn())
    .await?;
    for (id, dag_id, run_id, timeout) in late {
        sqlx::query(
            "UPDATE task_instance SET state = 'skipped', end_date = $3, updated_at = $3 \
             WHERE dag_id = $1 AND run_id = $2 AND (state IS NULL OR state IN \
             ('scheduled', 'queued', 'running', 'deferred', 'up_for_retry', \
              'up_for_reschedule', 'restarting'))",
        )
        .bind(&dag_id)
        .bind(&run_id)
        .bind(at)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE dag_run SET state = 'failed', end_date = $2, \
             note = COALESCE(note, $3) WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .bind(at)
        .bind(format!(
            "timed out: the run took longer than its dagrun_timeout ({timeout} s)"
        ))
        .execute(tx.conn())
        .await?;
        tracing::info!(%dag_id, %run_id, timeout, "run timed out");
        report.runs_timed_out += 1;
    }
    Ok(())
}
