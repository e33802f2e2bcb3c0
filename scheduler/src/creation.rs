//! Scheduled runs: the runs DAGs' timetables say are due, created by the pass.
//!
//! DAGs are handled in transactions of a few hundred, each under its row lock. A scheduled run's id is
//! `scheduled__<logical date>`, and creating a run whose id exists does nothing, so a pass that
//! is repeated (a restart, a second replica that briefly also leads) never creates one twice.
//! The DAG row remembers the last interval created and caches the next one (`dags list` shows
//! it; the pass comes back when it is due).

use airlock_protocol::dag::DagTiming;
use airlock_protocol::state::{DagRunState, DagRunType};
use airlock_store::dag_runs::{NewDagRun, create_run};
use airlock_store::{Db, StoreResult, WriteTx, from_micros, to_micros};
use chrono::{DateTime, Utc};

use crate::pass::PassReport;
use crate::timetable::{Interval, Timetable};

/// `next_dagrun_create_after` of a DAG whose timetable has no more runs (9999-12-31).
pub(crate) const NEVER: i64 = 253_402_300_799_000_000;

/// Most runs one DAG gets in one pass (a long catchup continues in the next, at once).
const MAX_RUNS_PER_DAG: usize = 100;

/// DAGs whose runs are created in one transaction.
const DAGS_PER_TRANSACTION: usize = 200;

#[derive(sqlx::FromRow)]
struct DagRow {
    timetable: Option<String>,
    is_paused: i64,
    last_start: Option<i64>,
    last_end: Option<i64>,
}

/// The run id Airflow gives a scheduled run of `logical_date`.
pub fn scheduled_run_id(logical_date: DateTime<Utc>) -> String {
    format!(
        "scheduled__{}",
        logical_date.format("%Y-%m-%dT%H:%M:%S%.f+00:00")
    )
}

/// Creates the runs that are due at `now`.
pub(crate) async fn create_due_runs(
    db: &Db,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT dag_id FROM dag WHERE timetable IS NOT NULL \
         AND CAST(is_paused AS INTEGER) = 0 \
         AND (next_dagrun_create_after IS NULL OR next_dagrun_create_after <= $1) \
         ORDER BY dag_id",
    )
    .bind(to_micros(now))
    .fetch_all(db.pool())
    .await?;
    // Several DAGs per transaction: on SQLite each commit is a disk sync, which would otherwise
    // bound how many DAGs' runs a pass creates per second. A DAG's runs and its bookkeeping
    // still commit together.
    for chunk in due.chunks(DAGS_PER_TRANSACTION) {
        let mut tx = db.begin_write().await?;
        for dag_id in chunk {
            create_for_dag(&mut tx, db, dag_id, now, report).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Creates the due runs of one DAG (under its row lock) and records where it stands.
async fn create_for_dag(
    tx: &mut WriteTx,
    db: &Db,
    dag_id: &str,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let row: Option<DagRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT timetable, CAST(is_paused AS INTEGER) AS is_paused, \
         last_automated_data_interval_start AS last_start, \
         last_automated_data_interval_end AS last_end FROM dag WHERE dag_id = $1{}",
        db.for_update()
    )))
    .bind(dag_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row.filter(|r| r.is_paused == 0) else {
        return Ok(());
    };
    let Some(text) = row.timetable else {
        return Ok(());
    };
    let timetable = serde_json::from_str::<DagTiming>(&text)
        .map_err(|e| e.to_string())
        .and_then(|t| Timetable::new(dag_id, &t).map_err(|e| e.to_string()));
    let timetable = match timetable {
        Ok(t) => t,
        Err(e) => {
            // Registration checks timetables, so this is a row written by something else: the
            // DAG gets no runs until it is registered again; the others go on.
            tracing::error!(%dag_id, error = %e, "stored timetable unusable; no scheduled runs");
            return set_next(tx, dag_id, None, None).await;
        }
    };
    let mut last = row.last_start.zip(row.last_end).map(|(s, e)| Interval {
        start: from_micros(s),
        end: from_micros(e),
    });
    let mut created = 0;
    let next = loop {
        let Some(interval) = timetable.next_interval(last, now) else {
            break None;
        };
        if interval.end > now || created == MAX_RUNS_PER_DAG {
            break Some(interval);
        }
        let run = interval_run(
            dag_id,
            scheduled_run_id(interval.start),
            DagRunType::Scheduled,
            interval,
            interval.end,
            None,
        );
        if create_run(tx, &run, now).await? {
            report.runs_created += 1;
        }
        last = Some(interval);
        created += 1;
    };
    set_next(tx, dag_id, last, next).await?;
    if let Some(n) = next {
        report.due_at(n.end.max(now));
    }
    Ok(())
}

/// Records the last interval created and the next one (none: the timetable has no more).
async fn set_next(
    tx: &mut WriteTx,
    dag_id: &str,
    last: Option<Interval>,
    next: Option<Interval>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE dag SET last_automated_data_interval_start = COALESCE($2, last_automated_data_interval_start), \
         last_automated_data_interval_end = COALESCE($3, last_automated_data_interval_end), \
         next_dagrun = $4, next_dagrun_data_interval_start = $4, next_dagrun_data_interval_end = $5, \
         next_dagrun_create_after = $6 WHERE dag_id = $1",
    )
    .bind(dag_id)
    .bind(last.map(|i| to_micros(i.start)))
    .bind(last.map(|i| to_micros(i.end)))
    .bind(next.map(|i| to_micros(i.start)))
    .bind(next.map(|i| to_micros(i.end)))
    .bind(next.map_or(NEVER, |i| to_micros(i.end)))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A queued run of `dag_id` over `interval` (scheduled, or of backfill `backfill_id`).
pub(crate) fn interval_run(
    dag_id: &str,
    run_id: String,
    run_type: DagRunType,
    interval: Interval,
    run_after: DateTime<Utc>,
    backfill_id: Option<i64>,
) -> NewDagRun {
    NewDagRun {
        dag_id: dag_id.to_owned(),
        run_id,
        logical_date: Some(interval.start),
        run_after,
        run_type,
        state: DagRunState::Queued,
        conf: Some(Default::default()),
        triggering_user_name: None,
        partition_key: None,
        note: None,
        data_interval: Some((interval.start, interval.end)),
        backfill_id,
    }
}
