//! Admission: which scheduled task instances may run now. `scheduled → queued` (unassigned: any
//! executor's tick may claim it), by priority then age, within each DAG's `max_active_tasks`,
//! skipping paused DAGs.
//!
//! Admission is the only place limits are enforced, and it is serialised (an advisory lock on
//! PostgreSQL, the write lock on SQLite), so that counting what is active and admitting more is
//! one decision: executors claiming at once can never exceed a limit, because they only claim
//! what was admitted.

use std::collections::{BTreeSet, HashMap};

use airlock_store::sql::Sql;
use airlock_store::{Backend, Db, StoreResult, WriteTx, to_micros};
use chrono::{DateTime, Utc};

use crate::pass::PassReport;

/// Key of the PostgreSQL advisory lock that serialises admissions.
const ADMISSION_LOCK: i64 = 0x4149_524c_4f43_4b02;

/// Most task instances admitted in one pass; more are left to the next, which comes at once.
pub(crate) const MAX_ADMITTED: usize = 5_000;

/// Scheduled task instances read per page.
const PAGE: i64 = 500;

#[derive(sqlx::FromRow)]
struct Candidate {
    id: String,
    dag_id: String,
    priority_weight: i64,
    scheduled_dttm: Option<i64>,
    max_active_tasks: Option<i64>,
}

/// Admits what may run now, in one transaction. Pages through scheduled task instances in
/// priority order by keyset (an index walk: a DAG at its limit costs a skipped row, not a
/// rescan).
pub(crate) async fn admit(db: &Db, now: DateTime<Utc>, report: &mut PassReport) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ADMISSION_LOCK)
            .execute(tx.conn())
            .await?;
    }
    let mut active: HashMap<String, i64> = HashMap::new();
    let mut chosen: Vec<String> = Vec::new();
    let mut after: Option<(i64, Option<i64>, String)> = None;
    loop {
        let rows = page(&mut tx, after.as_ref()).await?;
        let last_page = rows.len() < PAGE as usize;
        count_active(&mut tx, &rows, &mut active).await?;
        for r in &rows {
            if let Some(limit) = r.max_active_tasks {
                let n = active.entry(r.dag_id.clone()).or_insert(0);
                if *n >= limit {
                    continue;
                }
                *n += 1;
            }
            chosen.push(r.id.clone());
            if chosen.len() == MAX_ADMITTED {
                break;
            }
        }
        if chosen.len() == MAX_ADMITTED {
            // More may wait: the next pass comes at once.
            report.due_at(now);
            break;
        }
        match rows.last() {
            Some(r) if !last_page => {
                after = Some((r.priority_weight, r.scheduled_dttm, r.id.clone()));
            }
            _ => break,
        }
    }
    let at = to_micros(now);
    for ids in chosen.chunks(crate::pass::CHUNK) {
        let mut q =
            Sql::new("UPDATE task_instance SET state = 'queued', queued_by = NULL, queued_dttm = ");
        q.bind(at)
            .push(", updated_at = ")
            .bind(at)
            .push(" WHERE state = 'scheduled' AND id IN ")
            .bind_list(ids.iter().cloned());
        let (sql, args) = q.build();
        report.admitted += sqlx::query_with(sql, args)
            .execute(tx.conn())
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(())
}

/// The next page of scheduled task instances of unpaused DAGs after `after`, in admission
/// order: priority (highest first), then time scheduled, then id.
async fn page(
    tx: &mut WriteTx,
    after: Option<&(i64, Option<i64>, String)>,
) -> StoreResult<Vec<Candidate>> {
    let mut q = Sql::new(
        "SELECT ti.id, ti.dag_id, ti.priority_weight, ti.scheduled_dttm, d.max_active_tasks \
         FROM task_instance ti LEFT JOIN dag d ON d.dag_id = ti.dag_id \
         WHERE ti.state = 'scheduled' AND COALESCE(CAST(d.is_paused AS INTEGER), 0) = 0",
    );
    if let Some((weight, scheduled, id)) = after {
        // Every writer of `scheduled` sets `scheduled_dttm`; a missing one sorts as 0.
        let scheduled = scheduled.unwrap_or(0);
        q.push(" AND (ti.priority_weight < ")
            .bind(*weight)
            .push(" OR (ti.priority_weight = ")
            .bind(*weight)
            .push(" AND (COALESCE(ti.scheduled_dttm, 0) > ")
            .bind(scheduled)
            .push(" OR (COALESCE(ti.scheduled_dttm, 0) = ")
            .bind(scheduled)
            .push(" AND ti.id > ")
            .bind(id.clone())
            .push("))))");
    }
    q.push(" ORDER BY ti.priority_weight DESC, ti.scheduled_dttm, ti.id LIMIT ")
        .bind(PAGE);
    let (sql, args) = q.build();
    Ok(sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?)
}

/// Adds to `active` how many task instances each newly seen limited DAG of `rows` has queued
/// or running.
async fn count_active(
    tx: &mut WriteTx,
    rows: &[Candidate],
    active: &mut HashMap<String, i64>,
) -> StoreResult<()> {
    let uncounted: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.max_active_tasks.is_some() && !active.contains_key(&r.dag_id))
        .map(|r| r.dag_id.clone())
        .collect();
    if uncounted.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new(
        "SELECT dag_id, COUNT(*) FROM task_instance WHERE state IN ('queued', 'running') \
         AND dag_id IN ",
    );
    q.bind_list(uncounted.iter().cloned())
        .push(" GROUP BY dag_id");
    let (sql, args) = q.build();
    let counts: Vec<(String, i64)> = sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
    active.extend(uncounted.into_iter().map(|d| (d, 0)));
    active.extend(counts);
    Ok(())
}
