//! `db clean`: finished runs past a retention go, with everything kept about them. Runs are
//! taken a few hundred per transaction, so a large clean never holds one long lock.

use airlock_protocol::api::DbCleanReport;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::sql::Sql;
use crate::{Db, to_micros};

/// Runs per transaction.
const RUNS_PER_TRANSACTION: usize = 200;

/// Tables keyed by (dag_id, run_id) that hold a run's details, counted by the report where it
/// names them.
const RUN_TABLES: [&str; 6] = [
    "xcom",
    "task_log",
    "task_instance_history",
    "rendered_task_instance_fields",
    "task_map",
    "notification",
];

/// Deletes (or with `dry_run` counts) the runs that finished before `cutoff` and what belongs to
/// them; returns the report and the (DAG, run) ids deleted, whose log directories the caller
/// removes.
pub async fn clean_finished_runs(
    db: &Db,
    cutoff: DateTime<Utc>,
    dry_run: bool,
) -> StoreResult<(DbCleanReport, Vec<(String, String)>)> {
    let old: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, dag_id, run_id FROM dag_run WHERE state IN ('success', 'failed') \
         AND COALESCE(end_date, created_at) < $1 ORDER BY id",
    )
    .bind(to_micros(cutoff))
    .fetch_all(db.pool())
    .await?;
    let mut report = DbCleanReport {
        cutoff,
        dry_run,
        ..DbCleanReport::default()
    };
    let mut gone = Vec::with_capacity(old.len());
    for chunk in old.chunks(RUNS_PER_TRANSACTION) {
        let mut tx = db.begin_write().await?;
        for (id, dag_id, run_id) in chunk {
            let count = |table: &str| {
                let sql = format!("SELECT COUNT(*) FROM {table} WHERE dag_id = $1 AND run_id = $2");
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .bind(dag_id.clone())
                    .bind(run_id.clone())
            };
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            report.task_instances += n(count("task_instance").fetch_one(tx.conn()).await?);
            report.xcoms += n(count("xcom").fetch_one(tx.conn()).await?);
            report.tries += n(count("task_instance_history").fetch_one(tx.conn()).await?);
            report.runs += 1;
            gone.push((dag_id.clone(), run_id.clone()));
            if dry_run {
                continue;
            }
            let mut q = Sql::new("DELETE FROM task_reschedule WHERE ti_id IN ");
            q.push("(SELECT id FROM task_instance WHERE dag_id = ")
                .bind(dag_id.clone())
                .push(" AND run_id = ")
                .bind(run_id.clone())
                .push(")");
            let (sql, args) = q.build();
            sqlx::query_with(sql, args).execute(tx.conn()).await?;
            for table in RUN_TABLES {
                let sql = format!("DELETE FROM {table} WHERE dag_id = $1 AND run_id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(dag_id)
                    .bind(run_id)
                    .execute(tx.conn())
                    .await?;
            }
            sqlx::query("DELETE FROM task_instance WHERE dag_id = $1 AND run_id = $2")
                .bind(dag_id)
                .bind(run_id)
                .execute(tx.conn())
                .await?;
            sqlx::query("DELETE FROM dag_run WHERE id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await?;
    }
    Ok((report, gone))
}
