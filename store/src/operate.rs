//! What operators do to runs after the fact: list them, clear task instances so they run
//! again, mark states by hand, cancel. Each operation locks its run, checks everything it was
//! asked first and changes nothing when any of it is refused.

use std::collections::{BTreeMap, BTreeSet};

use airlock_protocol::api::{ClearRequest, RunListEntry, TaskInstanceChange, TaskInstanceChanges};
use airlock_protocol::dag::TaskDefinition;
use airlock_protocol::state::{DagRunState, MarkRunState, TaskInstanceState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::dags::dag_tasks;
use crate::error::{StoreError, StoreResult};
use crate::rows::ti_state;
use crate::sql::Sql;
use crate::task_instances::archive_current_try;
use crate::{Db, DbError, WriteTx, from_micros, to_micros};

/// Most runs one listing returns.
pub const MAX_RUN_LIST: u32 = 1000;
/// Ids per `IN (...)` list.
const CHUNK: usize = 500;
/// Longest note kept on a run (a cancel reason).
const MAX_NOTE_CHARS: usize = 1000;

/// Which runs `GET /airlock/control/runs` returns.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this DAG's.
    pub dag_id: Option<String>,
    /// Only runs in these states (any, when empty).
    pub states: Vec<DagRunState>,
    /// Only runs created at or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (at most [`MAX_RUN_LIST`]).
    pub limit: u32,
    /// Skip this many of the newest first.
    pub offset: u32,
}

/// Runs matching `f`, newest first.
pub async fn list_runs(db: &Db, f: &RunFilter) -> StoreResult<Vec<RunListEntry>> {
    if f.limit == 0 || f.limit > MAX_RUN_LIST {
        return Err(StoreError::invalid(
            "invalid_limit",
            format!("limit must be 1 to {MAX_RUN_LIST}, not {}", f.limit),
        ));
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        dag_id: String,
        run_id: String,
        state: String,
        run_type: String,
        logical_date: Option<i64>,
        created_at: i64,
        start_date: Option<i64>,
        end_date: Option<i64>,
        note: Option<String>,
    }
    let mut q = Sql::new(
        "SELECT dag_id, run_id, state, run_type, logical_date, created_at, start_date, end_date, \
         note FROM dag_run WHERE 1 = 1",
    );
    if let Some(dag) = &f.dag_id {
        q.push(" AND dag_id = ").bind(dag.clone());
    }
    if !f.states.is_empty() {
        q.push(" AND state IN ")
            .bind_list(f.states.iter().map(|s| s.as_str().to_owned()));
    }
    if let Some(since) = f.since {
        q.push(" AND created_at >= ").bind(to_micros(since));
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(i64::from(f.limit));
    q.push(" OFFSET ").bind(i64::from(f.offset));
    let (sql, args) = q.build();
    let rows: Vec<Row> = sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    rows.into_iter()
        .map(|r| {
            Ok(RunListEntry {
                state: r
                    .state
                    .parse()
                    .map_err(|e| corrupt("dag_run", format!("{e}")))?,
                dag_id: r.dag_id,
                run_id: r.run_id,
                run_type: r.run_type,
                logical_date: r.logical_date.map(from_micros),
                queued_at: from_micros(r.created_at),
                start_date: r.start_date.map(from_micros),
                end_date: r.end_date.map(from_micros),
                note: r.note,
            })
        })
        .collect()
}

fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Db(DbError::Corrupt { table, detail })
}

/// One task instance as the operations read it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct TiRow {
    id: String,
    task_id: String,
    map_index: i64,
    state: Option<String>,
    try_number: i64,
    start_date: Option<i64>,
}

struct Ti {
    row: TiRow,
    state: Option<TaskInstanceState>,
}

impl Ti {
    fn change(&self, try_number: i64) -> TaskInstanceChange {
        TaskInstanceChange {
            task_id: self.row.task_id.clone(),
            map_index: self.row.map_index,
            previous_state: self.state,
            try_number,
        }
    }

    fn label(&self) -> String {
        if self.row.map_index < 0 {
            format!("{:?}", self.row.task_id)
        } else {
            format!("{:?} (map index {})", self.row.task_id, self.row.map_index)
        }
    }
}

fn is_finished(s: Option<TaskInstanceState>) -> bool {
    s.is_some_and(TaskInstanceState::is_terminal)
}

/// Somewhere between scheduled and finished: a process may hold it.
fn is_in_flight(s: Option<TaskInstanceState>) -> bool {
    use TaskInstanceState as S;
    matches!(
        s,
        Some(
            S::Scheduled
                | S::Queued
                | S::Running
                | S::Restarting
                | S::Deferred
                | S::UpForReschedule
                | S::AwaitingInput
        )
    )
}

/// Locks run `run_id` of `dag_id` in `tx`: its primary key and state.
async fn lock_run(
    db: &Db,
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
) -> StoreResult<(i64, DagRunState)> {
    let sql = format!(
        "SELECT id, state FROM dag_run WHERE dag_id = $1 AND run_id = $2{}",
        db.for_update()
    );
    let row: Option<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(dag_id)
        .bind(run_id)
        .fetch_optional(tx.conn())
        .await?;
    let (id, state) = row.ok_or_else(|| {
        StoreError::not_found(format!("DAG run {run_id:?} of DAG {dag_id:?} not found"))
    })?;
    let state = state
        .parse()
        .map_err(|e| corrupt("dag_run", format!("{e}")))?;
    Ok((id, state))
}

async fn load_tis(tx: &mut WriteTx, dag_id: &str, run_id: &str) -> StoreResult<Vec<Ti>> {
    let rows: Vec<TiRow> = sqlx::query_as(
        "SELECT id, task_id, map_index, state, try_number, start_date FROM task_instance \
         WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id, map_index",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Ti {
                state: ti_state(row.state.as_deref())?,
                row,
            })
        })
        .collect()
}

/// The DAG's tasks by id, and the named ones checked against them.
async fn named_tasks(
    tx: &mut WriteTx,
    dag_id: &str,
    names: &[String],
) -> StoreResult<BTreeMap<String, TaskDefinition>> {
    let tasks: BTreeMap<String, TaskDefinition> = dag_tasks(tx.conn(), dag_id)
        .await?
        .into_iter()
        .map(|t| (t.task_id.clone(), t))
        .collect();
    if names.is_empty() {
        return Err(StoreError::invalid(
            "no_tasks",
            "name at least one task".to_owned(),
        ));
    }
    let unknown: Vec<&String> = names.iter().filter(|n| !tasks.contains_key(*n)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = tasks.keys().map(String::as_str).collect();
        return Err(StoreError::not_found(format!(
            "DAG {dag_id:?} has no task {}; its tasks are: {}",
            unknown
                .iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        )));
    }
    Ok(tasks)
}

/// `roots` and, as asked, every task downstream and upstream of them (transitively). Going
/// downstream also takes the run's error tasks: the outcome they follow is decided again.
fn relatives(
    tasks: &BTreeMap<String, TaskDefinition>,
    roots: &[String],
    downstream: bool,
    upstream: bool,
) -> BTreeSet<String> {
    let mut chosen: BTreeSet<String> = roots.iter().cloned().collect();
    if downstream {
        let mut after: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in tasks.values() {
            for up in &t.upstream {
                after.entry(up.as_str()).or_default().push(&t.task_id);
            }
        }
        let mut stack: Vec<&str> = roots.iter().map(String::as_str).collect();
        while let Some(id) = stack.pop() {
            for &d in after.get(id).into_iter().flatten() {
                if chosen.insert(d.to_owned()) {
                    stack.push(d);
                }
            }
        }
        for t in tasks.values().filter(|t| t.error_task) {
            chosen.insert(t.task_id.clone());
        }
    }
    if upstream {
        let mut stack: Vec<String> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if let Some(t) = tasks.get(&id) {
                for up in &t.upstream {
                    if chosen.insert(up.clone()) {
                        stack.push(up.clone());
                    }
                }
            }
        }
    }
    chosen
}

/// Clears task instances of a run (all of them when `req.task_ids` is absent) so they run
/// again: each that ran gets a new try (the old one stays in the history) and its retries
/// again; the run is queued again if it had finished. Task instances in flight are refused:
/// cancel the run or wait for them.
pub async fn clear(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    req: &ClearRequest,
    now: DateTime<Utc>,
) -> StoreResult<TaskInstanceChanges> {
    let mut tx = db.begin_write().await?;
    let (run_pk, run_state) = lock_run(db, &mut tx, dag_id, run_id).await?;
    let tis = load_tis(&mut tx, dag_id, run_id).await?;
    let tasks = match &req.task_ids {
        Some(names) => {
            let tasks = named_tasks(&mut tx, dag_id, names).await?;
            Some((
                relatives(&tasks, names, req.downstream, req.upstream),
                tasks,
            ))
        }
        None => None,
    };
    let selected: Vec<&Ti> = tis
        .iter()
        .filter(|ti| {
            tasks
                .as_ref()
                .is_none_or(|(chosen, _)| chosen.contains(&ti.row.task_id))
        })
        .filter(|ti| {
            !req.only_failed
                || matches!(
                    ti.state,
                    Some(TaskInstanceState::Failed | TaskInstanceState::UpstreamFailed)
                )
        })
        .collect();
    let busy: Vec<&&Ti> = selected
        .iter()
        .filter(|ti| is_in_flight(ti.state))
        .collect();
    if !busy.is_empty() {
        const NAMED: usize = 10;
        let mut named: Vec<String> = busy
            .iter()
            .take(NAMED)
            .map(|ti| format!("{} is {}", ti.label(), state_name(ti.state)))
            .collect();
        if busy.len() > NAMED {
            named.push(format!("and {} more", busy.len() - NAMED));
        }
        return Err(StoreError::conflict(
            "task_in_flight",
            format!(
                "cannot clear task instances in flight ({}): wait for them to finish, or cancel \
                 the run first",
                named.join(", ")
            ),
        ));
    }
    // Nothing to do for task instances that never got a state.
    let targets: Vec<&Ti> = selected
        .into_iter()
        .filter(|ti| ti.state.is_some())
        .collect();
    let changes = TaskInstanceChanges {
        changed: targets
            .iter()
            .map(|ti| ti.change(ti.row.try_number + i64::from(needs_new_try(ti))))
            .collect(),
        dry_run: req.dry_run,
    };
    if req.dry_run || targets.is_empty() {
        return Ok(changes);
    }
    let at = to_micros(now);
    reset(&mut tx, dag_id, run_id, &targets, at).await?;
    let cleared: BTreeSet<&str> = targets.iter().map(|t| t.row.task_id.as_str()).collect();
    let all_tasks = match tasks {
        Some((_, tasks)) => tasks,
        None => dag_tasks(tx.conn(), dag_id)
            .await?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect(),
    };
    remap(
        &mut tx, dag_id, run_id, &all_tasks, &cleared, &tis, &targets,
    )
    .await?;
    if run_state.is_finished() {
        sqlx::query(
            "UPDATE dag_run SET state = 'queued', clear_number = clear_number + 1, \
             start_date = NULL, end_date = NULL WHERE id = $1",
        )
        .bind(run_pk)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(changes)
}

/// The whole run again, as a task's `POST /dag-runs/{dag_id}/{run_id}/clear` asks (its own try
/// is running): running task instances become `restarting` (their next try starts once their
/// process is gone), every other one is reset, and the run is queued again.
pub(crate) async fn clear_whole_run(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE task_instance SET state = 'restarting', updated_at = $3 \
         WHERE dag_id = $1 AND run_id = $2 AND state = 'running'",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(at)
    .execute(tx.conn())
    .await?;
    let tis = load_tis(tx, dag_id, run_id).await?;
    let targets: Vec<&Ti> = tis
        .iter()
        .filter(|ti| ti.state.is_some() && ti.state != Some(TaskInstanceState::Restarting))
        .collect();
    reset(tx, dag_id, run_id, &targets, at).await?;
    let tasks: BTreeMap<String, TaskDefinition> = dag_tasks(tx.conn(), dag_id)
        .await?
        .into_iter()
        .map(|t| (t.task_id.clone(), t))
        .collect();
    let cleared: BTreeSet<&str> = targets.iter().map(|t| t.row.task_id.as_str()).collect();
    remap(tx, dag_id, run_id, &tasks, &cleared, &tis, &targets).await?;
    sqlx::query(
        "UPDATE dag_run SET state = 'queued', clear_number = clear_number + 1, start_date = NULL, \
         end_date = NULL WHERE dag_id = $1 AND run_id = $2",
    )
    .bind(dag_id)
    .bind(run_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn state_name(s: Option<TaskInstanceState>) -> &'static str {
    s.map_or("waiting", TaskInstanceState::as_str)
}

/// A task instance whose try ran gets a new try number when cleared; one waiting for its retry
/// has had its try archived already and gets the next number too.
fn needs_new_try(ti: &Ti) -> bool {
    (ti.row.start_date.is_some() && is_finished(ti.state))
        || ti.state == Some(TaskInstanceState::UpForRetry)
}

/// Puts `targets` (finished, waiting for a retry, or without state) back to no state with
/// their retries again; a try that ran goes to the history and the next try gets the next
/// number. Their XComs go: the next try writes its own.
async fn reset(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    targets: &[&Ti],
    at: i64,
) -> StoreResult<()> {
    let mut ids: Vec<String> = Vec::with_capacity(targets.len());
    let mut next_try: Vec<String> = Vec::new();
    for ti in targets {
        let mut id = ti.row.id.clone();
        if ti.row.start_date.is_some() && is_finished(ti.state) {
            let old = Uuid::parse_str(&id).map_err(|e| corrupt("task_instance", e.to_string()))?;
            id = archive_current_try(tx, old, at).await?.to_string();
        }
        if needs_new_try(ti) {
            next_try.push(id.clone());
        }
        ids.push(id);
    }
    // XComs by (task, map index), a chunk per statement rather than one per task instance.
    for chunk in targets.chunks(CHUNK / 2) {
        let mut q = Sql::new("DELETE FROM xcom WHERE dag_id = ");
        q.bind(dag_id.to_owned())
            .push(" AND run_id = ")
            .bind(run_id.to_owned())
            .push(" AND (");
        for (i, ti) in chunk.iter().enumerate() {
            q.push(if i == 0 {
                "(task_id = "
            } else {
                " OR (task_id = "
            })
            .bind(ti.row.task_id.clone())
            .push(" AND map_index = ")
            .bind(ti.row.map_index)
            .push(")");
        }
        q.push(")");
        let (sql, args) = q.build();
        sqlx::query_with(sql, args).execute(tx.conn()).await?;
    }
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new(
            "UPDATE task_instance SET state = NULL, end_date = NULL, next_method = NULL, \
             next_kwargs = NULL, trigger_id = NULL, trigger_timeout = NULL, retry_reason = NULL, \
             updated_at = ",
        );
        q.bind(at).push(
            ", max_tries = COALESCE((SELECT try_number + t.retries FROM dag_task t \
             WHERE t.dag_id = task_instance.dag_id AND t.task_id = task_instance.task_id), \
             CASE WHEN max_tries > try_number THEN max_tries ELSE try_number END) WHERE id IN ",
        );
        q.bind_list(chunk.iter().cloned());
        let (sql, args) = q.build();
        sqlx::query_with(sql, args).execute(tx.conn()).await?;
    }
    for chunk in next_try.chunks(CHUNK) {
        let mut q = Sql::new(
            "UPDATE task_instance SET try_number = try_number + 1, start_date = NULL, \
             duration = NULL, hostname = NULL, unixname = NULL, pid = NULL, \
             last_heartbeat_at = NULL, queued_by = NULL WHERE id IN ",
        );
        q.bind_list(chunk.iter().cloned());
        let (sql, args) = q.build();
        sqlx::query_with(sql, args).execute(tx.conn()).await?;
    }
    Ok(())
}

/// A mapped task cleared together with the task it maps over is expanded again from that
/// task's next result: its instances fold back into the placeholder (their tries stay in the
/// history). One cleared alone keeps its instances and runs them again.
async fn remap(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    tasks: &BTreeMap<String, TaskDefinition>,
    cleared: &BTreeSet<&str>,
    tis: &[Ti],
    targets: &[&Ti],
) -> StoreResult<()> {
    for t in tasks.values() {
        let Some(source) = t.map_over.as_deref() else {
            continue;
        };
        let all = tis.iter().filter(|ti| ti.row.task_id == t.task_id).count();
        let reset = targets
            .iter()
            .filter(|ti| ti.row.task_id == t.task_id)
            .count();
        if !cleared.contains(source) || all == 0 || reset != all {
            continue;
        }
        sqlx::query(
            "DELETE FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
             AND map_index > 0",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(&t.task_id)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE task_instance SET map_index = -1, rendered_map_index = NULL \
             WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = 0",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(&t.task_id)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Sets task instances' state by hand (and, with `downstream`, every task downstream of
/// them). A running one's supervisor learns it from its next heartbeat and stops the task. A
/// finished run is running again, so that the scheduler decides what follows and its state.
pub async fn mark_tasks(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    req: &airlock_protocol::api::MarkTasksRequest,
    now: DateTime<Utc>,
) -> StoreResult<TaskInstanceChanges> {
    let mut tx = db.begin_write().await?;
    let (run_pk, run_state) = lock_run(db, &mut tx, dag_id, run_id).await?;
    let tasks = named_tasks(&mut tx, dag_id, &req.task_ids).await?;
    let chosen = relatives(&tasks, &req.task_ids, req.downstream, false);
    let tis = load_tis(&mut tx, dag_id, run_id).await?;
    if let Some(m) = req.map_index {
        let found = tis
            .iter()
            .any(|ti| req.task_ids.contains(&ti.row.task_id) && ti.row.map_index == m);
        if !found {
            return Err(StoreError::not_found(format!(
                "no task instance with map index {m} of {} in run {run_id:?}; {}",
                req.task_ids.join(", "),
                map_indexes(&tis, &req.task_ids)
            )));
        }
    }
    let target: TaskInstanceState = req.state.into();
    let targets: Vec<&Ti> = tis
        .iter()
        .filter(|ti| chosen.contains(&ti.row.task_id))
        .filter(|ti| {
            // The map index narrows the named tasks; their downstream is marked whole.
            req.map_index
                .is_none_or(|m| !req.task_ids.contains(&ti.row.task_id) || ti.row.map_index == m)
        })
        .filter(|ti| ti.state != Some(target))
        .collect();
    let changes = TaskInstanceChanges {
        changed: targets
            .iter()
            .map(|ti| ti.change(ti.row.try_number))
            .collect(),
        dry_run: false,
    };
    if targets.is_empty() {
        return Ok(changes);
    }
    let at = to_micros(now);
    let ids: Vec<String> = targets.iter().map(|ti| ti.row.id.clone()).collect();
    set_states(&mut tx, &ids, target, at, Some("marked by an operator")).await?;
    if run_state.is_finished() {
        sqlx::query("UPDATE dag_run SET state = 'running', end_date = NULL WHERE id = $1")
            .bind(run_pk)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await?;
    Ok(changes)
}

/// "its map indexes are 0 to 23" for mapped tasks among `names`, for messages.
fn map_indexes(tis: &[Ti], names: &[String]) -> String {
    let mut parts = Vec::new();
    for name in names {
        let idx: Vec<i64> = tis
            .iter()
            .filter(|ti| &ti.row.task_id == name)
            .map(|ti| ti.row.map_index)
            .collect();
        match (idx.iter().min(), idx.iter().max()) {
            (Some(&lo), Some(&hi)) if lo >= 0 => {
                parts.push(format!("{name:?} has map indexes {lo} to {hi}"));
            }
            _ => parts.push(format!("{name:?} is not mapped")),
        }
    }
    parts.join("; ")
}

/// Sets `state` on task instances `ids`, ending them now.
async fn set_states(
    tx: &mut WriteTx,
    ids: &[String],
    state: TaskInstanceState,
    at: i64,
    reason: Option<&str>,
) -> StoreResult<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new("UPDATE task_instance SET state = ");
        q.bind(state.as_str().to_owned())
            .push(", end_date = ")
            .bind(at)
            .push(", updated_at = ")
            .bind(at)
            .push(
                ", duration = CASE WHEN start_date IS NULL THEN NULL \
                 ELSE (end_date - start_date) / 1000000.0 END",
            );
        if let Some(r) = reason {
            q.push(", retry_reason = ").bind(r.to_owned());
        }
        q.push(" WHERE id IN ").bind_list(chunk.iter().cloned());
        let (sql, args) = q.build();
        sqlx::query_with(sql, args).execute(tx.conn()).await?;
    }
    Ok(())
}

/// How a run is ended by hand.
#[derive(Debug, Clone)]
pub enum RunEnding {
    /// `airlock runs mark`: any run, finished or not.
    Mark(MarkRunState),
    /// `airlock runs cancel`: only a run that has not finished; it fails with the note.
    Cancel {
        /// Why, for the run's note.
        note: String,
    },
}

/// Ends a run by hand. Unfinished task instances become `success` (marking success) or, when
/// it fails, running ones `failed` and the rest `skipped`; running ones' supervisors learn it
/// from their next heartbeat and stop their tasks, and queued ones never start.
pub async fn end_run(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    how: &RunEnding,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    let (run_pk, run_state) = lock_run(db, &mut tx, dag_id, run_id).await?;
    let (target, note) = match how {
        RunEnding::Mark(s) => (DagRunState::from(*s), None),
        RunEnding::Cancel { note } => {
            if run_state.is_finished() {
                return Err(StoreError::conflict(
                    "run_finished",
                    format!(
                        "run {run_id:?} of DAG {dag_id:?} has already finished ({run_state}); \
                         there is nothing to cancel"
                    ),
                ));
            }
            let note: String = note.chars().take(MAX_NOTE_CHARS).collect();
            (DagRunState::Failed, Some(note))
        }
    };
    let tis = load_tis(&mut tx, dag_id, run_id).await?;
    let at = to_micros(now);
    let unfinished = tis
        .iter()
        .filter(|ti| !is_finished(ti.state) && !is_callback(&ti.row.task_id));
    let why = match how {
        RunEnding::Mark(_) => "the run was marked by an operator",
        RunEnding::Cancel { .. } => "the run was cancelled",
    };
    if target == DagRunState::Success {
        let ids: Vec<String> = unfinished.map(|ti| ti.row.id.clone()).collect();
        set_states(&mut tx, &ids, TaskInstanceState::Success, at, Some(why)).await?;
    } else {
        let (active, waiting): (Vec<&Ti>, Vec<&Ti>) = unfinished.partition(|ti| {
            use TaskInstanceState as S;
            matches!(
                ti.state,
                Some(S::Running | S::Restarting | S::Deferred | S::UpForReschedule)
            )
        });
        let ids = |v: Vec<&Ti>| {
            v.into_iter()
                .map(|ti| ti.row.id.clone())
                .collect::<Vec<_>>()
        };
        set_states(
            &mut tx,
            &ids(active),
            TaskInstanceState::Failed,
            at,
            Some(why),
        )
        .await?;
        set_states(
            &mut tx,
            &ids(waiting),
            TaskInstanceState::Skipped,
            at,
            Some(why),
        )
        .await?;
    }
    sqlx::query(
        "UPDATE dag_run SET state = $2, end_date = $3, start_date = COALESCE(start_date, $3), \
         note = COALESCE($4, note) WHERE id = $1",
    )
    .bind(run_pk)
    .bind(target.as_str())
    .bind(at)
    .bind(note)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

fn is_callback(task_id: &str) -> bool {
    airlock_protocol::dag::parse_callback_task_id(task_id).is_some()
}
