//! Admission: which scheduled task instances may run now. `scheduled → queued` (unassigned: any
//! executor's tick may claim it), by priority then age, skipping paused DAGs, within every
//! limit: each DAG's `max_active_tasks`, each pool's slots, and each task's
//! `max_active_tis_per_dag` and `max_active_tis_per_dagrun`. Queued and running task instances
//! count against them (deferred ones hold no slot). One that a limit holds back waits for the
//! next pass; those behind it in the order may go first.
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
    run_id: String,
    task_id: String,
    priority_weight: i64,
    scheduled_dttm: Option<i64>,
    max_active_tasks: Option<i64>,
    pool: String,
    pool_slots: i64,
    max_active_tis_per_dag: Option<i64>,
    max_active_tis_per_dagrun: Option<i64>,
}

/// What is queued or running now, as far as the limits of the candidates seen so far go.
#[derive(Default)]
struct Active {
    /// Per DAG with `max_active_tasks`.
    dags: HashMap<String, i64>,
    /// Per task with `max_active_tis_per_dag`: (dag, task).
    tasks: HashMap<(String, String), i64>,
    /// Per task with `max_active_tis_per_dagrun`: (dag, run, task).
    run_tasks: HashMap<(String, String, String), i64>,
    /// Slots taken per pool, and each pool's size (absent: no such pool).
    pool_used: HashMap<String, i64>,
    pool_size: HashMap<String, i64>,
}

impl Active {
    /// Takes `c`'s share of every limit if each has room; otherwise changes nothing.
    fn admit(&mut self, c: &Candidate, unknown_pools: &mut BTreeSet<String>) -> bool {
        let Some(&size) = self.pool_size.get(&c.pool) else {
            unknown_pools.insert(c.pool.clone());
            return false;
        };
        let used = self.pool_used.get(&c.pool).copied().unwrap_or(0);
        if used.saturating_add(c.pool_slots) > size {
            return false;
        }
        let dag = c
            .max_active_tasks
            .map(|l| (l, self.dags.get(&c.dag_id).copied().unwrap_or(0)));
        let task_key = (c.dag_id.clone(), c.task_id.clone());
        let task = c
            .max_active_tis_per_dag
            .map(|l| (l, self.tasks.get(&task_key).copied().unwrap_or(0)));
        let run_key = (c.dag_id.clone(), c.run_id.clone(), c.task_id.clone());
        let run_task = c
            .max_active_tis_per_dagrun
            .map(|l| (l, self.run_tasks.get(&run_key).copied().unwrap_or(0)));
        if [dag, task, run_task]
            .into_iter()
            .flatten()
            .any(|(limit, n)| n >= limit)
        {
            return false;
        }
        *self.pool_used.entry(c.pool.clone()).or_insert(0) += c.pool_slots;
        if dag.is_some() {
            *self.dags.entry(c.dag_id.clone()).or_insert(0) += 1;
        }
        if task.is_some() {
            *self.tasks.entry(task_key).or_insert(0) += 1;
        }
        if run_task.is_some() {
            *self.run_tasks.entry(run_key).or_insert(0) += 1;
        }
        true
    }
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
    let mut active = Active::default();
    load_pools(&mut tx, &mut active).await?;
    let mut unknown_pools = BTreeSet::new();
    let mut chosen: Vec<String> = Vec::new();
    let mut after: Option<(i64, Option<i64>, String)> = None;
    loop {
        let rows = page(&mut tx, after.as_ref()).await?;
        let last_page = rows.len() < PAGE as usize;
        count_active(&mut tx, &rows, &mut active).await?;
        for r in &rows {
            if !active.admit(r, &mut unknown_pools) {
                continue;
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
    if !unknown_pools.is_empty() {
        tracing::warn!(
            pools = ?unknown_pools,
            "task instances wait for pools that do not exist (create them with `airlock pools set`)"
        );
    }
    Ok(())
}

/// Every pool's size and the slots its queued and running task instances take.
async fn load_pools(tx: &mut WriteTx, active: &mut Active) -> StoreResult<()> {
    let sizes: Vec<(String, i64)> = sqlx::query_as("SELECT name, slots FROM pool")
        .fetch_all(tx.conn())
        .await?;
    let used: Vec<(String, i64)> = sqlx::query_as(
        "SELECT pool, CAST(SUM(pool_slots) AS BIGINT) FROM task_instance \
         WHERE state IN ('queued', 'running') GROUP BY pool",
    )
    .fetch_all(tx.conn())
    .await?;
    active.pool_size.extend(sizes);
    active.pool_used.extend(used);
    Ok(())
}

/// The next page of scheduled task instances of unpaused DAGs after `after`, in admission
/// order: priority (highest first), then time scheduled, then id.
async fn page(
    tx: &mut WriteTx,
    after: Option<&(i64, Option<i64>, String)>,
) -> StoreResult<Vec<Candidate>> {
    let mut q = Sql::new(
        "SELECT ti.id, ti.dag_id, ti.run_id, ti.task_id, ti.priority_weight, ti.scheduled_dttm, \
         d.max_active_tasks, ti.pool, ti.pool_slots, t.max_active_tis_per_dag, \
         t.max_active_tis_per_dagrun \
         FROM task_instance ti LEFT JOIN dag d ON d.dag_id = ti.dag_id \
         LEFT JOIN dag_task t ON t.dag_id = ti.dag_id AND t.task_id = ti.task_id \
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

/// Adds to `active` how many task instances are queued or running for each DAG, task and
/// run's task of `rows` with a limit that has not been counted yet.
async fn count_active(
    tx: &mut WriteTx,
    rows: &[Candidate],
    active: &mut Active,
) -> StoreResult<()> {
    let dags: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.max_active_tasks.is_some() && !active.dags.contains_key(&r.dag_id))
        .map(|r| r.dag_id.clone())
        .collect();
    if !dags.is_empty() {
        let mut q = Sql::new(
            "SELECT dag_id, COUNT(*) FROM task_instance WHERE state IN ('queued', 'running') \
             AND dag_id IN ",
        );
        q.bind_list(dags.iter().cloned()).push(" GROUP BY dag_id");
        let (sql, args) = q.build();
        let counts: Vec<(String, i64)> =
            sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
        active.dags.extend(dags.into_iter().map(|d| (d, 0)));
        active.dags.extend(counts);
    }
    // Per-task limits are rare: one count per limited task (or run's task) first seen.
    for r in rows {
        let key = (r.dag_id.clone(), r.task_id.clone());
        if r.max_active_tis_per_dag.is_some() && !active.tasks.contains_key(&key) {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_instance WHERE state IN ('queued', 'running') \
                 AND dag_id = $1 AND task_id = $2",
            )
            .bind(&r.dag_id)
            .bind(&r.task_id)
            .fetch_one(tx.conn())
            .await?;
            active.tasks.insert(key, n);
        }
        let key = (r.dag_id.clone(), r.run_id.clone(), r.task_id.clone());
        if r.max_active_tis_per_dagrun.is_some() && !active.run_tasks.contains_key(&key) {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_instance WHERE state IN ('queued', 'running') \
                 AND dag_id = $1 AND run_id = $2 AND task_id = $3",
            )
            .bind(&r.dag_id)
            .bind(&r.run_id)
            .bind(&r.task_id)
            .fetch_one(tx.conn())
            .await?;
            active.run_tasks.insert(key, n);
        }
    }
    Ok(())
}
