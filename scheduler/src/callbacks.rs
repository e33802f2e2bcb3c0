//! Callbacks: task instances the pass creates when a task's try fails, is retried or succeeds
//! (or when the run ends). They run isolated like any task (a supervisor starts the bundle),
//! their log is the task log of the callback's id, and their outcome never changes the run's.
//!
//! Exactly once: a callback's task instance is keyed by (run, callback id, map index = the
//! try it follows), created in the transaction that sees the event; the unique index on task
//! instances makes a pass repeated after a crash create nothing twice.

use airlock_protocol::dag::{CallbackEvent, TaskDefinition};
use airlock_protocol::state::TaskInstanceState;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use airlock_store::dag_runs::{NewTaskInstance, insert_task_instances};
use airlock_store::{StoreResult, WriteTx, to_micros};

/// Creates the task instances of the task callbacks of run `run_id` whose event has happened
/// since the last pass; returns how many.
pub(crate) async fn follow_tries(
    tx: &mut WriteTx,
    tasks: &[TaskDefinition],
    dag_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut created = 0;
    for cb in tasks {
        let Some(def) = &cb.callback else { continue };
        let Some(of) = def.of_task.as_deref() else {
            continue;
        };
        let tries: Vec<i64> = sqlx::query_scalar(unfollowed(def.event))
            .bind(dag_id)
            .bind(run_id)
            .bind(of)
            .bind(&cb.task_id)
            .fetch_all(tx.conn())
            .await?;
        for try_number in tries {
            create(tx, cb, dag_id, run_id, try_number, now).await?;
            created += 1;
        }
    }
    Ok(created)
}

/// Creates the run callback for `event` if the DAG has one and it has not been created yet;
/// true when it was (the run then finishes once it has run).
pub(crate) async fn follow_run(
    tx: &mut WriteTx,
    tasks: &[TaskDefinition],
    dag_id: &str,
    run_id: &str,
    event: CallbackEvent,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some(cb) = tasks.iter().find(|t| {
        t.callback
            .as_ref()
            .is_some_and(|c| c.of_task.is_none() && c.event == event)
    }) else {
        return Ok(false);
    };
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT id FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
    )
    .bind(dag_id)
    .bind(run_id)
    .bind(&cb.task_id)
    .fetch_optional(tx.conn())
    .await?;
    if exists.is_some() {
        return Ok(false);
    }
    create(tx, cb, dag_id, run_id, -1, now).await?;
    Ok(true)
}

/// Tries of task `$3` in run (`$1`, `$2`) with the event, that callback `$4` has not followed.
fn unfollowed(event: CallbackEvent) -> &'static str {
    macro_rules! unfollowed {
        ($from:literal, $state:literal) => {
            concat!(
                "SELECT t.try_number FROM ",
                $from,
                " t WHERE t.dag_id = $1 AND t.run_id = $2 AND t.task_id = $3 AND t.state = '",
                $state,
                "' AND NOT EXISTS (SELECT 1 FROM task_instance c WHERE c.dag_id = t.dag_id \
                 AND c.run_id = t.run_id AND c.task_id = $4 AND c.map_index = t.try_number)"
            )
        };
    }
    match event {
        CallbackEvent::Failure => unfollowed!("task_instance", "failed"),
        CallbackEvent::Success => unfollowed!("task_instance", "success"),
        CallbackEvent::Retry => unfollowed!("task_instance_history", "up_for_retry"),
    }
}

async fn create(
    tx: &mut WriteTx,
    cb: &TaskDefinition,
    dag_id: &str,
    run_id: &str,
    map_index: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // The run's DAG version (callbacks are part of the DAG the run runs).
    let version: Option<String> = sqlx::query_scalar(
        "SELECT dag_version_id FROM task_instance WHERE dag_id = $1 AND run_id = $2 LIMIT 1",
    )
    .bind(dag_id)
    .bind(run_id)
    .fetch_optional(tx.conn())
    .await?;
    let version = version
        .and_then(|v| Uuid::parse_str(&v).ok())
        .unwrap_or_else(Uuid::now_v7);
    let ti = NewTaskInstance {
        map_index,
        max_tries: 0,
        state: None,
        ..NewTaskInstance::of_task(cb)
    };
    let ids = insert_task_instances(tx.conn(), dag_id, run_id, &[ti], version, now).await?;
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    crate::runs::set_state(tx, TaskInstanceState::Scheduled, to_micros(now), &ids).await?;
    Ok(())
}
