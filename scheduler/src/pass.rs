//! The scheduler's pass over the database: everything that moves task instances and DAG runs
//! forward without a task asking. Database-centred and restart-safe: a pass reads the state,
//! decides, and writes it back in one transaction, so a scheduler killed at any point loses
//! nothing and the next pass picks up where it stopped. Passes are serialised (an advisory lock
//! on PostgreSQL, the write lock on SQLite), so several schedulers can run at once.

use airlock_store::sql::Sql;
use airlock_store::{Backend, Db, StoreResult, WriteTx, to_micros};
use chrono::{DateTime, TimeDelta, Utc};

use crate::{runs, timed};

/// Key of the PostgreSQL advisory lock that serialises passes.
const PASS_LOCK: i64 = 0x4149_524c_4f43_4b01;

/// Most ids bound in one statement.
pub(crate) const CHUNK: usize = 500;

/// How the scheduler judges time.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// A running task instance without a heartbeat for this long is a zombie.
    pub heartbeat_timeout: TimeDelta,
    /// An executor silent for this long is dead; what it had queued is scheduled again.
    pub executor_timeout: TimeDelta,
    /// A task instance queued for this long without starting is scheduled again.
    pub queued_timeout: TimeDelta,
    /// Most task instances one mapped task may expand into.
    pub max_map_length: usize,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout: TimeDelta::seconds(300),
            executor_timeout: TimeDelta::seconds(60),
            queued_timeout: TimeDelta::seconds(600),
            max_map_length: airlock_store::xcoms::MAX_MAP_LENGTH as usize,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Runs that started.
    pub runs_started: u64,
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
    /// Queued task instances handed back (dead executor, queued timeout).
    pub requeued: u64,
    /// Deferred task instances whose trigger timed out.
    pub trigger_timeouts: u64,
    /// The earliest future moment at which a retry or reschedule comes due.
    pub next_due: Option<DateTime<Utc>>,
}

impl PassReport {
    pub(crate) fn due_at(&mut self, at: DateTime<Utc>) {
        self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
    }

    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.runs_started
            + self.runs_finished
            + self.scheduled
            + self.not_run
            + self.expanded
            + self.retried
            + self.zombies
            + self.rescheduled
            + self.requeued
            + self.trigger_timeouts
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

/// One scheduling pass at `now`.
pub async fn schedule(
    db: &Db,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> StoreResult<PassReport> {
    let mut report = PassReport::default();
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PASS_LOCK)
            .execute(tx.conn())
            .await?;
    }
    let at = to_micros(now);
    report.runs_started = sqlx::query(
        "UPDATE dag_run SET state = 'running', start_date = COALESCE(start_date, $1) \
         WHERE state = 'queued' AND run_after <= $1 AND dag_id NOT IN \
         (SELECT dag_id FROM dag WHERE CAST(is_paused AS INTEGER) <> 0)",
    )
    .bind(at)
    .execute(tx.conn())
    .await?
    .rows_affected();
    timed::due_retries(&mut tx, now, &mut report).await?;
    timed::due_reschedules(&mut tx, now, &mut report).await?;
    timed::zombies(&mut tx, settings, now, &mut report).await?;
    timed::stale_queued(&mut tx, settings, now, &mut report).await?;

    let running: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT dag_id, run_id FROM dag_run WHERE state = 'running' ORDER BY id{}",
        db.for_update()
    )))
    .fetch_all(tx.conn())
    .await?;
    let mut plans = runs::Plans::default();
    for (dag_id, run_id) in &running {
        runs::advance_run(
            &mut tx,
            settings,
            &mut plans,
            dag_id,
            run_id,
            now,
            &mut report,
        )
        .await?;
    }
    tx.commit().await?;
    report.trigger_timeouts = airlock_store::triggers::expire_trigger_timeouts(db, now).await?;
    Ok(report)
}
