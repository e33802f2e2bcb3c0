//! When the next pass is due without a change: the earliest deadline the database holds (the
//! retry and reschedule dates are found by the pass itself).

use airlock_store::{Db, StoreResult, from_micros, to_micros};
use chrono::{DateTime, TimeDelta, Utc};

use crate::pass::{PassReport, SchedulerSettings, span};

/// Adds to `report.next_due` the earliest of: a queued run's start, a running task instance's
/// heartbeat deadline, a deferred one's trigger timeout, a claimed one's queued timeout, the
/// moment an executor holding claimed work counts as dead, a running run's timeout and a
/// scheduled run's creation.
pub(crate) async fn next_due(
    db: &Db,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let at = to_micros(now);
    let (run_after, heartbeat, trigger, queued): (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT \
             (SELECT MIN(run_after) FROM dag_run WHERE state = 'queued' AND run_after > $1), \
             (SELECT MIN(COALESCE(last_heartbeat_at, updated_at)) FROM task_instance \
              WHERE state IN ('running', 'restarting')), \
             (SELECT MIN(trigger_timeout) FROM task_instance WHERE state = 'deferred'), \
             (SELECT MIN(queued_dttm) FROM task_instance \
              WHERE state = 'queued' AND queued_by IS NOT NULL)",
    )
    .bind(at)
    .fetch_one(db.pool())
    .await?;
    let (timeout, create): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT \
         (SELECT MIN(r.start_date + CAST(d.dagrun_timeout * 1000000 AS BIGINT)) FROM dag_run r \
          JOIN dag d ON d.dag_id = r.dag_id WHERE r.state = 'running' \
          AND d.dagrun_timeout IS NOT NULL AND r.start_date IS NOT NULL), \
         (SELECT MIN(next_dagrun_create_after) FROM dag WHERE timetable IS NOT NULL \
          AND CAST(is_paused AS INTEGER) = 0 AND next_dagrun_create_after < $1)",
    )
    .bind(crate::creation::NEVER)
    .fetch_one(db.pool())
    .await?;
    let executor: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(e.latest_heartbeat) FROM executor e WHERE e.end_date IS NULL AND e.id IN \
         (SELECT queued_by FROM task_instance WHERE state = 'queued' AND queued_by IS NOT NULL)",
    )
    .fetch_one(db.pool())
    .await?;
    let after = |us: Option<i64>, delay: TimeDelta| {
        us.and_then(|us| from_micros(us).checked_add_signed(delay))
    };
    // A moment just past each deadline, so that the pass then finds it expired.
    let past = TimeDelta::milliseconds(1);
    let candidates = [
        run_after.map(from_micros),
        after(heartbeat, span(settings.heartbeat_timeout) + past),
        after(trigger, past),
        after(queued, span(settings.queued_timeout) + past),
        after(executor, span(settings.executor_timeout) + past),
        after(timeout, past),
        create.map(from_micros),
    ];
    for due in candidates.into_iter().flatten() {
        report.due_at(due.max(now));
    }
    Ok(())
}
