//! One DAG run at a time: expand mapped tasks, apply trigger rules, finish the run.

use std::collections::{BTreeMap, HashMap};

use airlock_protocol::dag::{CallbackEvent, NotifierDefinition, TaskDefinition};
use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use airlock_store::dag_runs::{NewTaskInstance, insert_task_instances};
use airlock_store::dags::dag_tasks;
use airlock_store::sql::Sql;
use airlock_store::xcoms::parse_value;
use airlock_store::{StoreResult, WriteTx, to_micros};

use crate::pass::{CHUNK, PassReport, SchedulerSettings, update_ids};
use crate::rules::{Decision, UpstreamCounts, evaluate};

/// The plans of the DAGs a pass has needed so far (each loaded at most once per pass, and only
/// for runs with something to decide).
#[derive(Default)]
pub(crate) struct Plans(HashMap<String, DagPlan>, HashMap<String, Hooks>);

/// What a DAG wants to hear of its runs: its notifiers, and whether it has callbacks.
#[derive(Default)]
struct Hooks {
    notifiers: Vec<NotifierDefinition>,
    callbacks: bool,
}

/// The hooks of a DAG that has none.
static NO_HOOKS: std::sync::LazyLock<Hooks> = std::sync::LazyLock::new(Hooks::default);

impl Plans {
    /// Reads which DAGs have notifiers or callbacks: two queries a pass, rather than two per
    /// DAG with a running run.
    pub(crate) async fn load_hooks(&mut self, db: &airlock_store::Db) -> StoreResult<()> {
        let notifiers: Vec<(String, String)> =
            sqlx::query_as("SELECT dag_id, notifiers FROM dag WHERE notifiers IS NOT NULL")
                .fetch_all(db.pool())
                .await?;
        for (dag_id, text) in notifiers {
            // Registration validated them; a row that does not parse notifies no one.
            let notifiers = serde_json::from_str(&text).unwrap_or_default();
            self.1.entry(dag_id).or_default().notifiers = notifiers;
        }
        let with_callbacks: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT dag_id FROM dag_task WHERE callback IS NOT NULL")
                .fetch_all(db.pool())
                .await?;
        for dag_id in with_callbacks {
            self.1.entry(dag_id).or_default().callbacks = true;
        }
        Ok(())
    }

    /// Whether `dag_id` has notifiers or callbacks (see [`Plans::load_hooks`]).
    pub(crate) fn has_hooks(&self, dag_id: &str) -> bool {
        self.1.contains_key(dag_id)
    }

    fn hooks(&self, dag_id: &str) -> &Hooks {
        self.1.get(dag_id).unwrap_or(&NO_HOOKS)
    }

    async fn get(&mut self, tx: &mut WriteTx, dag_id: &str) -> StoreResult<&DagPlan> {
        if !self.0.contains_key(dag_id) {
            let plan = DagPlan::load(tx, dag_id).await?;
            self.0.insert(dag_id.to_owned(), plan);
        }
        Ok(&self.0[dag_id])
    }
}

/// A DAG's tasks, in topological order, with what the pass needs to know of each.
pub(crate) struct DagPlan {
    tasks: Vec<TaskDefinition>,
    index: HashMap<String, usize>,
    has_downstream: Vec<bool>,
}

impl DagPlan {
    async fn load(tx: &mut WriteTx, dag_id: &str) -> StoreResult<Self> {
        let mut tasks = dag_tasks(tx.conn(), dag_id).await?;
        airlock_protocol::dag::sort_by_dependencies(&mut tasks);
        let index: HashMap<String, usize> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.task_id.clone(), i))
            .collect();
        let mut has_downstream = vec![false; tasks.len()];
        for t in &tasks {
            for up in &t.upstream {
                if let Some(&i) = index.get(up) {
                    has_downstream[i] = true;
                }
            }
        }
        Ok(Self {
            tasks,
            index,
            has_downstream,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct TiRow {
    id: String,
    task_id: String,
    map_index: i64,
    state: Option<String>,
}

struct Ti {
    id: String,
    task_id: String,
    map_index: i64,
    state: Option<TaskInstanceState>,
}

/// Advances one running DAG run as far as it can go now. Only task instances still waiting for
/// a decision (no state) and their upstreams are read, so a pass over a large run in which
/// nothing waits costs two index lookups.
pub(crate) async fn advance_run(
    tx: &mut WriteTx,
    settings: &SchedulerSettings,
    plans: &mut Plans,
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let waiting: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT task_id FROM task_instance \
         WHERE dag_id = $1 AND run_id = $2 AND state IS NULL",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_all(tx.conn())
    .await?;
    if !waiting.is_empty() {
        let plan = plans.get(tx, dag_id).await?;
        decide(tx, settings, plan, &waiting, dag_id, run_id, now, report).await?;
    }
    // Before the run can finish, so that every try's event is seen while the run is running.
    let hooks = plans.hooks(dag_id);
    let callbacks = hooks.callbacks;
    if !hooks.notifiers.is_empty() {
        report.notifications +=
            airlock_store::notifications::record_events(tx, dag_id, run_id, &hooks.notifiers, now)
                .await?;
    }
    if callbacks {
        let plan = plans.get(tx, dag_id).await?;
        report.callbacks +=
            crate::callbacks::follow_tries(tx, &plan.tasks, dag_id, run_id, now).await?;
    }
    finish_if_done(tx, plans, dag_id, run_id, now, report).await
}

/// The task instances of `tasks` (all when `None`) in one run, ordered by task and map index.
async fn load_tis(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    tasks: Option<&[String]>,
) -> StoreResult<Vec<TiRow>> {
    const SELECT: &str = "SELECT id, task_id, map_index, state FROM task_instance WHERE dag_id = ";
    const ORDER: &str = " ORDER BY task_id, map_index";
    let Some(tasks) = tasks else {
        return Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT}$1 AND run_id = $2{ORDER}"
        )))
        .bind(dag_id)
        .bind(run_id)
        .fetch_all(tx.conn())
        .await?);
    };
    let mut rows = Vec::new();
    for chunk in tasks.chunks(CHUNK) {
        let mut q = Sql::new(SELECT);
        q.bind(dag_id.to_owned())
            .push(" AND run_id = ")
            .bind(run_id.to_owned())
            .push(" AND task_id IN ")
            .bind_list(chunk.iter().cloned())
            .push(ORDER);
        let (sql, args) = q.build();
        let got: Vec<TiRow> = sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
        rows.extend(got);
    }
    Ok(rows)
}

/// Decides what the task instances of the `waiting` tasks do next: run, skip or fail upstream,
/// by trigger rule in topological order; expands mapped tasks whose source succeeded.
#[allow(clippy::too_many_arguments)]
async fn decide(
    tx: &mut WriteTx,
    settings: &SchedulerSettings,
    plan: &DagPlan,
    waiting: &[String],
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    // The waiting tasks, their upstreams and their map sources: everything a decision reads.
    let mut needed: std::collections::BTreeSet<String> = waiting.iter().cloned().collect();
    for task_id in waiting {
        if let Some(&i) = plan.index.get(task_id) {
            let task = &plan.tasks[i];
            needed.extend(task.upstream.iter().cloned());
            needed.extend(task.map_over.iter().cloned());
            // A first error task waits on the outcome of every other task.
            if task.error_task && task.upstream.is_empty() {
                needed.extend(
                    plan.tasks
                        .iter()
                        .filter(|t| !t.error_task)
                        .map(|t| t.task_id.clone()),
                );
            }
        }
    }
    let needed: Vec<String> = needed.into_iter().collect();
    let all = needed.len() >= plan.tasks.len();
    let rows = load_tis(tx, dag_id, run_id, (!all).then_some(&needed[..])).await?;
    let mut tis: Vec<Ti> = Vec::with_capacity(rows.len());
    for r in rows {
        let state = match r.state.as_deref() {
            None => None,
            Some(s) => match s.parse() {
                Ok(state) => Some(state),
                Err(_) => {
                    // A state no version of Airlock writes: fail that row, schedule the rest.
                    let reason = format!("unknown task instance state {s:?} in the database");
                    crate::timed::fail_unschedulable(tx, &r.id, s, &reason, now).await?;
                    report.not_run += 1;
                    Some(TaskInstanceState::Failed)
                }
            },
        };
        tis.push(Ti {
            id: r.id,
            task_id: r.task_id,
            map_index: r.map_index,
            state,
        });
    }
    let at = to_micros(now);
    let mut by_task: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, ti) in tis.iter().enumerate() {
        by_task.entry(ti.task_id.clone()).or_default().push(i);
    }
    // Task instances of tasks the DAG no longer declares.
    let orphans: Vec<String> = tis
        .iter_mut()
        .filter(|t| t.state.is_none() && !plan.index.contains_key(&t.task_id))
        .map(|t| {
            t.state = Some(TaskInstanceState::Removed);
            t.id.clone()
        })
        .collect();
    set_state(tx, TaskInstanceState::Removed, at, &orphans).await?;

    let mut decided: HashMap<TaskInstanceState, Vec<String>> = HashMap::new();
    // Error tasks last, so that they see what this pass decided for the others.
    let ordered = plan.tasks.iter().filter(|t| !t.error_task);
    for task in ordered.chain(plan.tasks.iter().filter(|t| t.error_task)) {
        let Some(own) = by_task.get(&task.task_id).cloned() else {
            continue;
        };
        let decision = if task.callback.is_some() {
            // Created scheduled when their event happens; one waiting here was cleared with
            // its run, and its event is past.
            Decision::Skip
        } else if task.error_task && task.upstream.is_empty() {
            main_outcome(plan, &tis, &by_task)
        } else {
            let mut counts = UpstreamCounts::default();
            for up in &task.upstream {
                for &i in by_task.get(up).into_iter().flatten() {
                    counts.add(tis[i].state);
                }
            }
            evaluate(task.trigger_rule, counts)
        };
        if decision == Decision::Wait {
            continue;
        }
        for i in own {
            if tis[i].state.is_some() {
                continue;
            }
            let mut decision = decision;
            if decision == Decision::Schedule
                && tis[i].map_index < 0
                && let Some(source) = &task.map_over
            {
                // Expansion needs the source's list: without a successful source there is none.
                let source_state = by_task
                    .get(source)
                    .and_then(|v| v.first())
                    .and_then(|&j| tis[j].state);
                match source_state {
                    Some(TaskInstanceState::Success) => {
                        match expand(tx, settings, task, dag_id, run_id, &tis[i].id, now).await? {
                            Expansion::Expanded(ids) => {
                                report.expanded += ids.len() as u64;
                                tis[i].map_index = 0;
                                for (n, id) in ids.into_iter().enumerate().skip(1) {
                                    by_task
                                        .entry(task.task_id.clone())
                                        .or_default()
                                        .push(tis.len());
                                    tis.push(Ti {
                                        id,
                                        task_id: task.task_id.clone(),
                                        map_index: n as i64,
                                        state: None,
                                    });
                                }
                            }
                            Expansion::Empty => decision = Decision::Skip,
                            Expansion::Invalid => {
                                tis[i].state = Some(TaskInstanceState::Failed);
                                continue;
                            }
                        }
                    }
                    Some(TaskInstanceState::Skipped) => decision = Decision::Skip,
                    _ => decision = Decision::UpstreamFailed,
                }
            }
            let state = match decision {
                Decision::Wait => continue,
                Decision::Schedule => TaskInstanceState::Scheduled,
                Decision::Skip => TaskInstanceState::Skipped,
                Decision::UpstreamFailed => TaskInstanceState::UpstreamFailed,
            };
            tis[i].state = Some(state);
            decided.entry(state).or_default().push(tis[i].id.clone());
            // Newly expanded instances share the placeholder's fate.
            if state == TaskInstanceState::Scheduled {
                for &j in by_task.get(&task.task_id).into_iter().flatten() {
                    if tis[j].state.is_none() {
                        tis[j].state = Some(state);
                        decided.entry(state).or_default().push(tis[j].id.clone());
                    }
                }
            }
        }
    }
    for (state, ids) in &decided {
        let n = set_state(tx, *state, at, ids).await?;
        match state {
            TaskInstanceState::Scheduled => report.scheduled += n,
            _ => report.not_run += n,
        }
    }
    Ok(())
}

/// Decides task instances that had no state yet: `scheduled`, or finished without running.
pub(crate) async fn set_state(
    tx: &mut WriteTx,
    state: TaskInstanceState,
    at: i64,
    ids: &[String],
) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = if state == TaskInstanceState::Scheduled {
        "UPDATE task_instance SET state = 'scheduled', scheduled_dttm = $1, updated_at = $1 \
         WHERE state IS NULL AND id IN "
            .to_owned()
    } else {
        // The state's wire spelling, from the enum: never text from outside.
        format!(
            "UPDATE task_instance SET state = '{}', end_date = $1, updated_at = $1 \
             WHERE state IS NULL AND id IN ",
            state.as_str()
        )
    };
    update_ids(tx, &sql, at, ids).await
}

enum Expansion {
    Expanded(Vec<String>),
    Empty,
    Invalid,
}

/// Turns the placeholder of mapped `task` into one task instance per element of its source's
/// return value. The placeholder becomes map index 0.
async fn expand(
    tx: &mut WriteTx,
    settings: &SchedulerSettings,
    task: &TaskDefinition,
    dag_id: &str,
    run_id: &str,
    placeholder: &str,
    now: DateTime<Utc>,
) -> StoreResult<Expansion> {
    let source = task.map_over.as_deref().unwrap_or_default();
    let text: Option<String> = sqlx::query_scalar(
        "SELECT value FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
         AND map_index = -1 AND key = 'return_value'",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(source)
    .fetch_optional(tx.conn())
    .await?;
    let value = text.map(|t| parse_value(&t)).transpose()?;
    let at = to_micros(now);
    let problem = match &value {
        Some(serde_json::Value::Array(items)) if items.len() > settings.max_map_length => {
            Some(format!(
                "{source:?} returned {} items; at most {} task instances can be mapped",
                items.len(),
                settings.max_map_length
            ))
        }
        Some(serde_json::Value::Array(items)) if items.is_empty() => return Ok(Expansion::Empty),
        Some(serde_json::Value::Array(_)) => None,
        Some(other) => Some(format!(
            "{source:?} must return a list to map over, not {}",
            json_kind(other)
        )),
        None => Some(format!("{source:?} returned nothing to map over")),
    };
    if let Some(reason) = problem {
        sqlx::query(
            "UPDATE task_instance SET state = 'failed', end_date = $2, retry_reason = $3, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(placeholder)
        .bind(at)
        .bind(reason)
        .execute(tx.conn())
        .await?;
        return Ok(Expansion::Invalid);
    }
    let n = value
        .as_ref()
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len);
    let version: String =
        sqlx::query_scalar("SELECT dag_version_id FROM task_instance WHERE id = $1")
            .bind(placeholder)
            .fetch_one(tx.conn())
            .await?;
    sqlx::query("UPDATE task_instance SET map_index = 0, updated_at = $2 WHERE id = $1")
        .bind(placeholder)
        .bind(at)
        .execute(tx.conn())
        .await?;
    let more: Vec<NewTaskInstance> = (1..n as i64)
        .map(|i| NewTaskInstance {
            map_index: i,
            ..NewTaskInstance::of_task(task)
        })
        .collect();
    let version = Uuid::parse_str(&version).unwrap_or_else(|_| Uuid::now_v7());
    let ids = insert_task_instances(tx.conn(), dag_id, run_id, &more, version, now).await?;
    let mut all = vec![placeholder.to_owned()];
    all.extend(ids.into_iter().map(|u| u.to_string()));
    Ok(Expansion::Expanded(all))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// What a first error task does: wait while any other task is unfinished, run if the run has
/// failed (a leaf among the other tasks failed or could not run), else skip.
fn main_outcome(plan: &DagPlan, tis: &[Ti], by_task: &BTreeMap<String, Vec<usize>>) -> Decision {
    let mut failed = false;
    for (i, task) in plan.tasks.iter().enumerate() {
        if task.error_task || task.callback.is_some() {
            continue;
        }
        for &j in by_task.get(&task.task_id).into_iter().flatten() {
            match tis[j].state {
                Some(s) if s.is_terminal() => {
                    if !plan.has_downstream[i]
                        && matches!(
                            s,
                            TaskInstanceState::Failed | TaskInstanceState::UpstreamFailed
                        )
                    {
                        failed = true;
                    }
                }
                _ => return Decision::Wait,
            }
        }
    }
    if failed {
        Decision::Schedule
    } else {
        Decision::Skip
    }
}

/// Ends the run when every task instance has finished: failed if a leaf task failed (or could
/// not run because an upstream failed), else success.
async fn finish_if_done(
    tx: &mut WriteTx,
    plans: &mut Plans,
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    let unfinished: Option<String> = sqlx::query_scalar(
        "SELECT id FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND (state IS NULL \
         OR state NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed')) LIMIT 1",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_optional(tx.conn())
    .await?;
    if unfinished.is_some() {
        return Ok(());
    }
    let failed: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT task_id FROM task_instance WHERE dag_id = $1 AND run_id = $2 \
         AND state IN ('failed', 'upstream_failed')",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_all(tx.conn())
    .await?;
    // A run of some tasks alone (`airlock tasks test`) has leaves of its own: a failed task
    // none of whose downstream tasks is in the run.
    let present: std::collections::HashSet<String> = if failed.is_empty() {
        Default::default()
    } else {
        sqlx::query_scalar(
            "SELECT DISTINCT task_id FROM task_instance WHERE dag_id = $1 AND run_id = $2",
        )
        .bind(dag_id)
        .bind(run_id)
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .collect()
    };
    let plan = plans.get(tx, dag_id).await?;
    // Error tasks and callbacks do not decide the run's state: they follow it.
    let leaf_failed = failed.iter().any(|task_id| {
        plan.index.get(task_id).is_none_or(|&i| {
            let t = &plan.tasks[i];
            let downstream_here = plan.has_downstream[i]
                && plan
                    .tasks
                    .iter()
                    .any(|d| d.upstream.contains(task_id) && present.contains(&d.task_id));
            !downstream_here && !t.error_task && t.callback.is_none()
        })
    });
    let event = if leaf_failed {
        CallbackEvent::Failure
    } else {
        CallbackEvent::Success
    };
    if crate::callbacks::follow_run(tx, &plan.tasks, dag_id, run_id, event, now).await? {
        // The run ends once its callback has run.
        report.callbacks += 1;
        return Ok(());
    }
    let at = to_micros(now);
    let state = if leaf_failed { "failed" } else { "success" };
    report.runs_finished += sqlx::query(
        "UPDATE dag_run SET state = $3, end_date = $4 WHERE dag_id = $1 AND run_id = $2 \
         AND state = 'running'",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(state)
    .bind(at)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(())
}

/// Queued runs whose time has come start, oldest first, while fewer than `max_active_runs` of
/// their kind run: a DAG's own runs count against the DAG's limit (16 by default), a
/// backfill's against the backfill's. Runs of a paused DAG wait.
pub(crate) async fn start_queued_runs(
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> StoreResult<()> {
    #[derive(sqlx::FromRow)]
    struct Queued {
        id: i64,
        dag_id: String,
        backfill_id: Option<i64>,
        dag_limit: Option<i64>,
        backfill_limit: Option<i64>,
    }
    /// Most queued runs looked at in one pass.
    const MAX_SCAN: i64 = 10_000;
    let at = to_micros(now);
    let queued: Vec<Queued> = sqlx::query_as(
        "SELECT r.id, r.dag_id, r.backfill_id, d.max_active_runs AS dag_limit, \
         b.max_active_runs AS backfill_limit FROM dag_run r \
         LEFT JOIN dag d ON d.dag_id = r.dag_id LEFT JOIN backfill b ON b.id = r.backfill_id \
         WHERE r.state = 'queued' AND r.run_after <= $1 \
         AND COALESCE(CAST(d.is_paused AS INTEGER), 0) = 0 \
         ORDER BY r.run_after, r.id LIMIT $2",
    )
    .bind(at)
    .bind(MAX_SCAN)
    .fetch_all(tx.conn())
    .await?;
    if queued.is_empty() {
        return Ok(());
    }
    let dags: std::collections::BTreeSet<String> =
        queued.iter().map(|q| q.dag_id.clone()).collect();
    let mut q = Sql::new(
        "SELECT dag_id, backfill_id, COUNT(*) FROM dag_run WHERE state = 'running' AND dag_id IN ",
    );
    q.bind_list(dags).push(" GROUP BY dag_id, backfill_id");
    let (sql, args) = q.build();
    let counts: Vec<(String, Option<i64>, i64)> =
        sqlx::query_as_with(sql, args).fetch_all(tx.conn()).await?;
    let mut running: HashMap<(String, Option<i64>), i64> =
        counts.into_iter().map(|(d, b, n)| ((d, b), n)).collect();
    let default_limit = i64::from(airlock_protocol::dag::DEFAULT_MAX_ACTIVE_RUNS);
    let mut start = Vec::new();
    for r in queued {
        let limit = match r.backfill_id {
            Some(_) => r.backfill_limit.unwrap_or(default_limit),
            None => r.dag_limit.unwrap_or(default_limit),
        };
        let n = running.entry((r.dag_id, r.backfill_id)).or_insert(0);
        if *n < limit {
            *n += 1;
            start.push(r.id);
        }
    }
    for ids in start.chunks(CHUNK) {
        let mut q =
            Sql::new("UPDATE dag_run SET state = 'running', start_date = COALESCE(start_date, ");
        q.bind(at)
            .push(") WHERE state = 'queued' AND id IN ")
            .bind_list(ids.iter().copied());
        let (sql, args) = q.build();
        report.runs_started += sqlx::query_with(sql, args)
            .execute(tx.conn())
            .await?
            .rows_affected();
    }
    Ok(())
}
