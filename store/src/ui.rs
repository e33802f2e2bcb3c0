//! What the web UI reads and writes beyond the control routes the CLI uses: its users and their
//! sessions, the grid of runs × tasks, a task instance's page and the cluster's live members.
//!
//! Password hashing is the API server's (it is slow on purpose and runs off the async threads);
//! this module stores hashes and the SHA-256 of session cookies, never a usable secret.

use std::collections::{BTreeMap, HashMap};

use airlock_protocol::api::{
    Cluster, DeferredOn, ExecutorEntry, Grid, GridRun, GridTask, HeldTrigger, MappedCell,
    TaskInstancePage, TriggererEntry, TryEntry, UserEntry,
};
use airlock_protocol::state::{TaskInstanceState, UiRole};
use chrono::{DateTime, Utc};

use crate::error::{StoreError, StoreResult};
use crate::operate::{RunFilter, list_runs};
use crate::sql::Sql;
use crate::{Db, DbError, from_micros, to_micros};

/// A try from the history: number, state, start, end, host.
type TryRow = (
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);
/// A triggerer or executor: id, host, capacity, latest heartbeat, what it holds.
type MemberRow = (String, Option<String>, Option<i64>, i64, i64);
/// What a deferred try waits for: trigger class path, triggerer, timeout.
type WaitRow = (Option<String>, Option<String>, Option<i64>);
/// A held trigger: id, class path, triggerer, and its task instance's DAG, run, task, index.
type TriggerRow = (i64, String, Option<String>, String, String, String, i64);

/// Most runs one grid page shows.
pub const MAX_GRID_RUNS: u32 = 100;
/// Most held triggers the cluster page lists.
const MAX_HELD_TRIGGERS: i64 = 500;

fn corrupt(table: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Db(DbError::Corrupt {
        table,
        detail: detail.into(),
    })
}

fn role(s: &str) -> StoreResult<UiRole> {
    s.parse().map_err(|e| corrupt("ui_user", format!("{e}")))
}

fn ti_state(s: Option<String>) -> StoreResult<Option<TaskInstanceState>> {
    s.map(|s| s.parse::<TaskInstanceState>())
        .transpose()
        .map_err(|e| corrupt("task_instance", format!("{e}")))
}

/// Creates user `username` or changes its role and (when given) password hash. A new user
/// needs a password. Changing the password ends the user's sessions. Returns whether the user
/// is new.
pub async fn put_user(
    db: &Db,
    username: &str,
    role: UiRole,
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let sql = format!(
        "SELECT username FROM ui_user WHERE username = $1{}",
        db.for_update()
    );
    let exists: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(username)
        .fetch_optional(tx.conn())
        .await?;
    let at = to_micros(now);
    match (exists.is_some(), password_hash) {
        (false, None) => {
            return Err(StoreError::invalid(
                "password_required",
                format!("user {username:?} does not exist yet: give it a password"),
            ));
        }
        (false, Some(hash)) => {
            sqlx::query(
                "INSERT INTO ui_user (username, password_hash, role, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(username)
            .bind(hash)
            .bind(role.as_str())
            .bind(at)
            .execute(tx.conn())
            .await?;
        }
        (true, hash) => {
            sqlx::query(
                "UPDATE ui_user SET role = $2, password_hash = COALESCE($3, password_hash), \
                 updated_at = $4 WHERE username = $1",
            )
            .bind(username)
            .bind(role.as_str())
            .bind(hash)
            .bind(at)
            .execute(tx.conn())
            .await?;
            if hash.is_some() {
                sqlx::query("DELETE FROM ui_session WHERE username = $1")
                    .bind(username)
                    .execute(tx.conn())
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(exists.is_none())
}

/// Every user, by name.
pub async fn list_users(db: &Db) -> StoreResult<Vec<UserEntry>> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT username, role, created_at, updated_at FROM ui_user ORDER BY username",
    )
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(username, r, created, updated)| {
            Ok(UserEntry {
                username,
                role: role(&r)?,
                created_at: from_micros(created),
                updated_at: from_micros(updated),
            })
        })
        .collect()
}

/// How many users there are.
pub async fn count_users(db: &Db) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ui_user")
        .fetch_one(db.pool())
        .await?)
}

/// Deletes a user and its sessions (404 when there is no such user).
pub async fn delete_user(db: &Db, username: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM ui_session WHERE username = $1")
        .bind(username)
        .execute(tx.conn())
        .await?;
    let n = sqlx::query("DELETE FROM ui_user WHERE username = $1")
        .bind(username)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::not_found(format!(
            "user {username:?} not found"
        )));
    }
    tx.commit().await?;
    Ok(())
}

/// A user's password hash and role, to check a login.
pub async fn credentials(db: &Db, username: &str) -> StoreResult<Option<(String, UiRole)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT password_hash, role FROM ui_user WHERE username = $1")
            .bind(username)
            .fetch_optional(db.pool())
            .await?;
    row.map(|(hash, r)| Ok((hash, role(&r)?))).transpose()
}

/// A signed-in session as the API server checks it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub username: String,
    /// The user's role now (a role changed since sign-in applies at once).
    pub role: UiRole,
    /// What state-changing requests must echo.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Stores a new session, and drops sessions that have ended (there are few: one per sign-in,
/// found through an index).
pub async fn create_session(
    db: &Db,
    token_hash: &str,
    username: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM ui_session WHERE expires_at <= $1")
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO ui_session (token_hash, username, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(username)
    .bind(csrf_token)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The live session whose cookie hashes to `token_hash`; `None` when unknown or ended.
pub async fn session(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Session>> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT s.username, u.role, s.csrf_token, s.expires_at FROM ui_session s \
         JOIN ui_user u ON u.username = s.username WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(to_micros(now))
    .fetch_optional(db.pool())
    .await?;
    row.map(|(username, r, csrf_token, expires)| {
        Ok(Session {
            username,
            role: role(&r)?,
            csrf_token,
            expires_at: from_micros(expires),
        })
    })
    .transpose()
}

/// Ends a session (signing out); nothing happens when it does not exist.
pub async fn delete_session(db: &Db, token_hash: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM ui_session WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Which state a mapped task's cell shows: the one that most needs a look.
fn urgency(s: Option<TaskInstanceState>) -> u8 {
    use TaskInstanceState as S;
    match s {
        Some(S::Failed) => 9,
        Some(S::UpstreamFailed) => 8,
        Some(S::Running) => 7,
        Some(S::UpForRetry | S::UpForReschedule) => 6,
        Some(S::Deferred) => 5,
        Some(S::Queued | S::Scheduled | S::Restarting) => 4,
        None => 3,
        Some(S::Success) => 2,
        Some(S::Skipped | S::Removed) => 1,
        Some(_) => 4,
    }
}

/// A page of the grid of DAG `dag_id`: its tasks (callbacks left out) and `limit` runs,
/// newest first, after skipping `offset`.
pub async fn grid(db: &Db, dag_id: &str, limit: u32, offset: u32) -> StoreResult<Grid> {
    if limit == 0 || limit > MAX_GRID_RUNS {
        return Err(StoreError::invalid(
            "invalid_limit",
            format!("limit must be 1 to {MAX_GRID_RUNS}, not {limit}"),
        ));
    }
    let total_runs: Option<i64> = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM dag_run r WHERE r.dag_id = d.dag_id) FROM dag d \
         WHERE d.dag_id = $1",
    )
    .bind(dag_id)
    .fetch_optional(db.pool())
    .await?;
    let total_runs =
        total_runs.ok_or_else(|| StoreError::not_found(format!("DAG {dag_id:?} not found")))?;
    let mut defs = crate::dags::dag_tasks(db.pool(), dag_id).await?;
    defs.retain(|t| t.callback.is_none());
    airlock_protocol::dag::sort_by_dependencies(&mut defs);
    let column: HashMap<&str, usize> = defs
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    let listed = list_runs(
        db,
        &RunFilter {
            dag_id: Some(dag_id.to_owned()),
            states: Vec::new(),
            since: None,
            limit,
            offset,
        },
    )
    .await?;
    let mut runs: Vec<GridRun> = listed
        .into_iter()
        .map(|run| GridRun {
            run,
            states: vec![None; defs.len()],
            mapped: Vec::new(),
        })
        .collect();
    let row_of: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.run.run_id.clone(), i))
        .collect();
    let mut q =
        Sql::new("SELECT run_id, task_id, map_index, state FROM task_instance WHERE dag_id = ");
    q.bind(dag_id.to_owned()).push(" AND run_id IN ");
    q.bind_list(runs.iter().map(|r| r.run.run_id.clone()));
    let (sql, args) = q.build();
    let tis: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    // Per run, per mapped task: counts by state.
    let mut mapped: Vec<BTreeMap<usize, BTreeMap<String, i64>>> = vec![BTreeMap::new(); runs.len()];
    for (run_id, task_id, map_index, state) in tis {
        let (Some(&r), Some(&t)) = (row_of.get(&run_id), column.get(task_id.as_str())) else {
            continue;
        };
        let state = ti_state(state)?;
        let cell = &mut runs[r].states[t];
        if map_index < 0 || defs[t].map_over.is_none() {
            *cell = state;
            continue;
        }
        if !mapped[r].contains_key(&t) || urgency(state) > urgency(*cell) {
            *cell = state;
        }
        let name = state.map_or("none", |s| s.as_str()).to_owned();
        *mapped[r].entry(t).or_default().entry(name).or_default() += 1;
    }
    for (run, counts) in runs.iter_mut().zip(mapped) {
        run.mapped = counts
            .into_iter()
            .map(|(t, counts)| MappedCell {
                task_id: defs[t].task_id.clone(),
                counts,
            })
            .collect();
    }
    Ok(Grid {
        dag_id: dag_id.to_owned(),
        tasks: defs
            .into_iter()
            .map(|t| GridTask {
                mapped: t.map_over.is_some(),
                task_id: t.task_id,
                upstream: t.upstream,
                task_group: t.task_group_id,
                operator: t.operator,
            })
            .collect(),
        runs,
        total_runs,
    })
}

/// The page of one task instance: where it is now, its tries, rendered fields and trigger.
pub async fn task_instance_page(
    db: &Db,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i64,
) -> StoreResult<TaskInstancePage> {
    let ti = crate::control::summaries(db, dag_id, run_id, Some((task_id, map_index)))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            StoreError::not_found(format!(
                "task {task_id:?} (map index {map_index}) of DAG run {run_id:?} of {dag_id:?} not found"
            ))
        })?;
    let reason =
        crate::control::try_reason(db, dag_id, run_id, task_id, map_index, ti.try_number).await?;
    let waits: Option<WaitRow> = sqlx::query_as(
        "SELECT t.classpath, t.triggerer_id, ti.trigger_timeout \
         FROM task_instance ti LEFT JOIN triggers t ON t.id = ti.trigger_id WHERE ti.id = $1",
    )
    .bind(ti.id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let (classpath, triggerer_id, trigger_timeout) = waits.unwrap_or_default();
    let history: Vec<TryRow> = sqlx::query_as(
        "SELECT try_number, state, start_date, end_date, hostname FROM task_instance_history \
             WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 \
             ORDER BY try_number",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .fetch_all(db.pool())
    .await?;
    let mut tries = history
        .into_iter()
        .map(|(try_number, s, start, end, hostname)| {
            Ok(TryEntry {
                try_number,
                state: ti_state(s)?,
                start_date: start.map(from_micros),
                end_date: end.map(from_micros),
                hostname,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    if ti.try_number > 0 && tries.last().is_none_or(|t| t.try_number < ti.try_number) {
        tries.push(TryEntry {
            try_number: ti.try_number,
            state: ti.state,
            start_date: ti.start_date,
            end_date: ti.end_date,
            hostname: ti.hostname.clone(),
        });
    }
    let rendered: Option<String> = sqlx::query_scalar(
        "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = $1 \
         AND run_id = $2 AND task_id = $3 AND map_index = $4",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .fetch_optional(db.pool())
    .await?;
    let rendered_fields = rendered
        .map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|e| corrupt("rendered_task_instance_fields", e.to_string()))?;
    let deferred_on = match (ti.state, classpath) {
        (Some(TaskInstanceState::Deferred), Some(classpath)) => Some(DeferredOn {
            classpath,
            triggerer_id,
            timeout: trigger_timeout.map(from_micros),
        }),
        _ => None,
    };
    Ok(TaskInstancePage {
        task_instance: ti,
        tries,
        rendered_fields,
        deferred_on,
        reason,
    })
}

/// Triggerers and executors seen within `alive_within` of `now` that have not retired, and the
/// triggers of deferred task instances.
pub async fn cluster(
    db: &Db,
    now: DateTime<Utc>,
    alive_within: chrono::TimeDelta,
) -> StoreResult<Cluster> {
    let since = to_micros(
        now.checked_sub_signed(alive_within)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    );
    let triggerers: Vec<MemberRow> = sqlx::query_as(
        "SELECT g.id, g.hostname, g.capacity, g.latest_heartbeat, \
         (SELECT COUNT(*) FROM triggers t WHERE t.triggerer_id = g.id) FROM triggerer g \
         WHERE g.end_date IS NULL AND g.latest_heartbeat >= $1 ORDER BY g.id",
    )
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let executors: Vec<MemberRow> = sqlx::query_as(
        "SELECT e.id, e.hostname, e.parallelism, e.latest_heartbeat, \
         (SELECT COUNT(*) FROM task_instance ti WHERE ti.queued_by = e.id \
          AND ti.state IN ('queued', 'running')) FROM executor e \
         WHERE e.end_date IS NULL AND e.latest_heartbeat >= $1 ORDER BY e.id",
    )
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let triggers: Vec<TriggerRow> = sqlx::query_as(
        "SELECT t.id, t.classpath, t.triggerer_id, ti.dag_id, ti.run_id, ti.task_id, \
             ti.map_index FROM triggers t JOIN task_instance ti ON ti.trigger_id = t.id \
             WHERE ti.state = 'deferred' ORDER BY t.id LIMIT $1",
    )
    .bind(MAX_HELD_TRIGGERS)
    .fetch_all(db.pool())
    .await?;
    Ok(Cluster {
        triggerers: triggerers
            .into_iter()
            .map(|(id, hostname, capacity, beat, held)| TriggererEntry {
                id,
                hostname,
                capacity,
                latest_heartbeat: from_micros(beat),
                triggers: held,
            })
            .collect(),
        executors: executors
            .into_iter()
            .map(|(id, hostname, parallelism, beat, holding)| ExecutorEntry {
                id,
                hostname,
                parallelism,
                holding,
                latest_heartbeat: from_micros(beat),
            })
            .collect(),
        triggers: triggers
            .into_iter()
            .map(
                |(id, classpath, triggerer_id, dag_id, run_id, task_id, map_index)| HeldTrigger {
                    id,
                    classpath,
                    triggerer_id,
                    dag_id,
                    run_id,
                    task_id,
                    map_index,
                },
            )
            .collect(),
    })
}
