//! The scheduler's pass over the database: everything that moves task instances and DAG runs
//! forward without a task asking. Database-centred and restart-safe: a pass reads the state,
//! decides, and writes it back in one transaction, so a scheduler killed at any point loses
//! nothing and the next pass picks up where it stopped. Passes are serialised (an advisory lock
//! on PostgreSQL, the write lock on SQLite), so several schedulers can run at once.

use airlock_store::sql::Sql;
use airlock_store::{Db, StoreResult, WriteTx};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use airlock_protocol::state::DagRunState;

use crate::{admission, creation, due, runs, timed};

/// Most ids bound in one statement.
pub(crate) const CHUNK: usize = 500;

/// The scheduler's defaults, declared once (the api-server's flags and [`SchedulerSettings`]'s
/// `Default` both use them).
pub mod defaults {
    use std::time::Duration;

    /// See [`SchedulerSettings::heartbeat_timeout`](super::SchedulerSettings::heartbeat_timeout).
    pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(300);
    /// See [`SchedulerSettings::executor_timeout`](super::SchedulerSettings::executor_timeout).
    pub const EXECUTOR_TIMEOUT: Duration = Duration::from_secs(60);
    /// See [`SchedulerSettings::queued_timeout`](super::SchedulerSettings::queued_timeout).
    pub const QUEUED_TIMEOUT: Duration = Duration::from_secs(600);
    /// See [`SchedulerSettings::idle_interval`](super::SchedulerSettings::idle_interval).
    pub const IDLE_INTERVAL: Duration = Duration::from_secs(5);
}

/// How the scheduler judges time.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// A running task instance without a heartbeat for this long is a zombie.
    pub heartbeat_timeout: Duration,
    /// An executor silent for this long is dead; what it claimed and did not start is handed
    /// back.
    pub executor_timeout: Duration,
    /// A task instance claimed this long ago and still not started is handed back.
    pub queued_timeout: Duration,
    /// Longest time between passes when nothing changes and nothing comes due (a bound on how
    /// late a change the scheduler was not told about is noticed).
    pub idle_interval: Duration,
    /// Most task instances one mapped task may expand into.
    pub max_map_length: usize,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout: defaults::HEARTBEAT_TIMEOUT,
            executor_timeout: defaults::EXECUTOR_TIMEOUT,
            queued_timeout: defaults::QUEUED_TIMEOUT,
            idle_interval: defaults::IDLE_INTERVAL,
            max_map_length: airlock_store::xcoms::DEFAULT_MAX_MAP_LENGTH as usize,
        }
    }
}

/// `d` as a signed span, bounded by the longest duration Airlock accepts (100 years), so that
/// subtracting it from any stored time stays in range.
pub(crate) fn span(d: Duration) -> TimeDelta {
    let max = airlock_protocol::time::MAX_DURATION_SECS;
    TimeDelta::from_std(d)
        .unwrap_or(TimeDelta::MAX)
        .min(TimeDelta::seconds(max))
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Scheduled runs created.
    pub runs_created: u64,
    /// Runs that started.
    pub runs_started: u64,
    /// Runs failed for taking longer than their `dagrun_timeout`.
    pub runs_timed_out: u64,
    /// Runs that finished.
    pub runs_finished: u64,
    /// Task instances made ready to run.
    pub scheduled: u64,
    /// Task instances skipped or failed upstream.
    pub not_run: u64,
    /// Mapped task instances created.
    pub expanded: u64,
    /// Retries made ready.
    pub retried: u64,
    /// Zombies found.
    pub zombies: u64,
    /// Cleared task instances made ready again.
    pub rescheduled: u64,
    /// Task instances admitted (`scheduled` → `queued`, claimable by any executor).
    pub admitted: u64,
    /// Claimed task instances handed back to every executor (dead executor, queued timeout).
    pub requeued: u64,
    /// Deferred task instances whose trigger timed out.
    pub trigger_timeouts: u64,
    /// Notifications recorded for delivery.
    pub notifications: u64,
    /// Callbacks made ready to run.
    pub callbacks: u64,
    /// The earliest moment at which something comes due with time (a retry delay, a reschedule
    /// date, a heartbeat or trigger deadline, a queued timeout); now when a bound left work
    /// for the next pass.
    pub next_due: Option<DateTime<Utc>>,
}

impl PassReport {
    pub(crate) fn due_at(&mut self, at: DateTime<Utc>) {
        self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
    }

    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.runs_created
            + self.runs_started
            + self.runs_timed_out
            + self.runs_finished
            + self.scheduled
            + self.not_run
            + self.expanded
            + self.retried
            + self.zombies
            + self.rescheduled
            + self.admitted
            + self.requeued
            + self.trigger_timeouts
            + self.notifications
            + self.callbacks
            > 0
    }
}

/// Runs `sql` (which ends in `id IN `, with `$1` bound to `at`) over `ids`, in chunks.
pub(crate) async fn update_ids(
    tx: &mut WriteTx,
    sql: &str,
    at: i64,
    ids: &[String],
) -> StoreResult<u64> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new("");
        // `$1` is the first bound argument.
        q.bind_first(at).push(sql).bind_list(chunk.iter().cloned());
        let (sql, args) = q.build();
        n += sqlx::query_with(sql, args)
            .execute(tx.conn())
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// One scheduling pass at `now`: timed transitions in one transaction, then each running run
/// in its own (so a large run never holds the others, nor the API's writers, for a whole pass),
/// then admission, then expired trigger timeouts. Each step is complete on its own: a pass that
/// stops between them (a lost connection, a killed process) leaves consistent state that the
/// next pass, here or on another replica, carries on from.
pub async fn schedule(
    db: &Db,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> StoreResult<PassReport> {
    let mut report = PassReport::default();
    creation::create_due_runs(db, now, &mut report).await?;
    let mut tx = db.begin_write().await?;
    timed::run_timeouts(&mut tx, now, &mut report).await?;
    // Zombies first: one retried without delay is scheduled by this same pass.
    timed::zombies(&mut tx, settings, now, &mut report).await?;
    timed::stale_queued(&mut tx, settings, now, &mut report).await?;
    timed::due_retries(&mut tx, now, &mut report).await?;
    timed::due_reschedules(&mut tx, now, &mut report).await?;
    tx.commit().await?;
    // Before the runs: a task instance a timeout resumes is scheduled, then admitted, in this
    // same pass.
    report.trigger_timeouts = airlock_store::triggers::expire_trigger_timeouts(db, now).await?;

    let mut plans = runs::Plans::default();
    plans.load_hooks(db).await?;
    // Twice when a run finished: a run waiting for a `max_active_runs` slot takes it (and its
    // first tasks are scheduled) in the pass that freed it.
    for _ in 0..2 {
        let finished_before = report.runs_finished;
        let mut tx = db.begin_write().await?;
        runs::start_queued_runs(&mut tx, now, &mut report).await?;
        tx.commit().await?;
        advance_running_runs(db, settings, &mut plans, now, &mut report).await?;
        if report.runs_finished == finished_before {
            break;
        }
    }
    admission::admit(db, now, &mut report).await?;
    due::next_due(db, settings, now, &mut report).await?;
    Ok(report)
}

/// Advances every running run, a chunk of runs per transaction.
async fn advance_running_runs(
    db: &Db,
    settings: &SchedulerSettings,
    plans: &mut runs::Plans,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    // Only runs where a pass can do something: a task instance waits for a decision, every
    // one has finished (the run can end), or the DAG has notifiers or callbacks (their events
    // are looked for). The rest are only waiting for their tasks: one statement skips them,
    // instead of a transaction each.
    let candidates: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT r.dag_id, r.run_id, CASE WHEN EXISTS (SELECT 1 FROM task_instance t \
             WHERE t.dag_id = r.dag_id AND t.run_id = r.run_id AND t.state IS NULL) \
           OR NOT EXISTS (SELECT 1 FROM task_instance t \
             WHERE t.dag_id = r.dag_id AND t.run_id = r.run_id \
             AND t.state NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed')) \
           THEN 1 ELSE 0 END AS actionable \
         FROM dag_run r WHERE r.state = 'running' ORDER BY r.id",
    )
    .fetch_all(db.pool())
    .await?;
    let running: Vec<(String, String)> = candidates
        .into_iter()
        .filter(|(dag_id, _, actionable)| *actionable == 1 || plans.has_hooks(dag_id))
        .map(|(dag_id, run_id, _)| (dag_id, run_id))
        .collect();
    // Several runs per transaction, each under its row lock: on SQLite a commit is a disk
    // sync, which would otherwise bound a pass over many runs.
    for chunk in running.chunks(RUNS_PER_TRANSACTION) {
        let mut tx = db.begin_write().await?;
        for (dag_id, run_id) in chunk {
            // Locked, and still running: another pass (a replica that has just lost the
            // lead) or a clear may have moved it on since it was listed.
            let state: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT state FROM dag_run WHERE dag_id = $1 AND run_id = $2{}",
                db.for_update()
            )))
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(tx.conn())
            .await?;
            if state.as_deref() != Some(DagRunState::Running.as_str()) {
                continue;
            }
            runs::advance_run(&mut tx, settings, plans, dag_id, run_id, now, report).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Running runs advanced in one transaction.
const RUNS_PER_TRANSACTION: usize = 100;
