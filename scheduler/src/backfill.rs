//! Backfills: a range of a scheduled DAG's intervals, run on request.
//!
//! Every interval whose start lies in the range gets a run of type `backfill`
//! (`backfill__<logical date>`), unless it already has one: a queued or running run is left
//! alone, a finished one is cleared and run again when `reprocess` says so. The runs start
//! within the backfill's own `max_active_runs`, apart from the DAG's limit. One transaction:
//! a backfill is created whole or not at all.

use airlock_protocol::api::{
    BackfillAction, BackfillRequest, BackfillResponse, BackfillRun, Reprocess,
};
use airlock_protocol::dag::DagTiming;
use airlock_protocol::state::{DagRunState, DagRunType};
use airlock_store::dag_runs::{clear_run, create_run};
use airlock_store::{Db, StoreError, StoreResult, to_micros};
use chrono::{DateTime, Utc};

use crate::timetable::Timetable;

/// Most intervals one backfill may cover.
pub const MAX_INTERVALS: usize = 10_000;

/// A backfill's runs at once unless it says otherwise (as Airflow's backfills).
pub const DEFAULT_MAX_ACTIVE_RUNS: u32 = 10;

fn run_id(logical_date: DateTime<Utc>) -> String {
    format!(
        "backfill__{}",
        logical_date.format("%Y-%m-%dT%H:%M:%S%.f+00:00")
    )
}

/// Plans (and unless `dry_run`, creates) a backfill of `dag_id`.
pub async fn backfill(
    db: &Db,
    dag_id: &str,
    req: &BackfillRequest,
    now: DateTime<Utc>,
) -> StoreResult<BackfillResponse> {
    let (from, to) = (req.from_date, req.to_date);
    if from > to {
        return Err(StoreError::invalid(
            "reversed_range",
            format!(
                "the range is reversed: from {} is after to {}",
                airlock_protocol::time::to_rfc3339(&from),
                airlock_protocol::time::to_rfc3339(&to)
            ),
        ));
    }
    if req.max_active_runs == Some(0) {
        return Err(StoreError::invalid(
            "invalid_max_active_runs",
            "max_active_runs must be at least 1",
        ));
    }
    let mut tx = db.begin_write().await?;
    let timetable: Option<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT timetable FROM dag WHERE dag_id = $1{}",
        db.for_update()
    )))
    .bind(dag_id)
    .fetch_optional(tx.conn())
    .await?;
    let text = timetable
        .ok_or_else(|| StoreError::not_found(format!("DAG with dag_id: '{dag_id}' not found")))?
        .ok_or_else(|| {
            StoreError::invalid(
                "no_schedule",
                format!("DAG {dag_id:?} has no schedule: it has no intervals to backfill"),
            )
        })?;
    let timing: DagTiming = serde_json::from_str(&text).map_err(|e| {
        StoreError::Db(airlock_store::DbError::Corrupt {
            table: "dag",
            detail: format!("timetable of {dag_id}: {e}"),
        })
    })?;
    let timetable = Timetable::new(dag_id, &timing)
        .map_err(|e| StoreError::invalid("invalid_schedule", e.to_string()))?;
    let intervals = timetable.intervals_between(from, to, MAX_INTERVALS + 1);
    if intervals.len() > MAX_INTERVALS {
        return Err(StoreError::invalid(
            "too_many_intervals",
            format!("the range holds more than {MAX_INTERVALS} intervals; backfill it in parts"),
        ));
    }
    let mut runs = Vec::with_capacity(intervals.len());
    for interval in &intervals {
        let existing: Option<(String, String)> = sqlx::query_as(
            "SELECT run_id, state FROM dag_run WHERE dag_id = $1 AND logical_date = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(dag_id)
        .bind(to_micros(interval.start))
        .fetch_optional(tx.conn())
        .await?;
        let run = match existing {
            None => BackfillRun {
                run_id: run_id(interval.start),
                logical_date: interval.start,
                action: BackfillAction::Create,
                existing_state: None,
            },
            Some((id, state)) => {
                let state: DagRunState =
                    state
                        .parse()
                        .map_err(|e: airlock_protocol::state::UnknownState| {
                            StoreError::Db(airlock_store::DbError::Corrupt {
                                table: "dag_run",
                                detail: e.to_string(),
                            })
                        })?;
                let again = match state {
                    DagRunState::Failed => req.reprocess != Reprocess::None,
                    DagRunState::Success => req.reprocess == Reprocess::Completed,
                    _ => false,
                };
                BackfillRun {
                    run_id: id,
                    logical_date: interval.start,
                    action: if again {
                        BackfillAction::Clear
                    } else {
                        BackfillAction::Skip
                    },
                    existing_state: Some(state),
                }
            }
        };
        runs.push(run);
    }
    if req.dry_run {
        return Ok(BackfillResponse {
            backfill_id: None,
            runs,
        });
    }
    let limit = req.max_active_runs.unwrap_or(DEFAULT_MAX_ACTIVE_RUNS);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO backfill (dag_id, from_date, to_date, reprocess, max_active_runs, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(dag_id)
    .bind(to_micros(from))
    .bind(to_micros(to))
    .bind(match req.reprocess {
        Reprocess::None => "none",
        Reprocess::Failed => "failed",
        Reprocess::Completed => "completed",
    })
    .bind(i64::from(limit))
    .bind(to_micros(now))
    .fetch_one(tx.conn())
    .await?;
    for (run, interval) in runs.iter().zip(&intervals) {
        match run.action {
            BackfillAction::Skip => {}
            BackfillAction::Create => {
                let new = crate::creation::interval_run(
                    dag_id,
                    run.run_id.clone(),
                    DagRunType::Backfill,
                    *interval,
                    now,
                    Some(id),
                );
                create_run(&mut tx, &new, now).await?;
            }
            BackfillAction::Clear => {
                clear_run(&mut tx, dag_id, &run.run_id, now).await?;
                sqlx::query(
                    "UPDATE dag_run SET backfill_id = $3, run_after = $4 \
                     WHERE dag_id = $1 AND run_id = $2",
                )
                .bind(dag_id)
                .bind(&run.run_id)
                .bind(id)
                .bind(to_micros(now))
                .execute(tx.conn())
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(BackfillResponse {
        backfill_id: Some(id),
        runs,
    })
}
