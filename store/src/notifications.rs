//! The notification outbox: events a DAG's notifiers are owed, recorded by the scheduler pass in
//! the transaction that sees them, delivered by the notifier service at least once.
//!
//! An event is recorded once per (try, event, notifier): its idempotency key names all three,
//! so a pass repeated after a crash records nothing twice, and a receiver that keeps the keys
//! it has seen can drop a repeated delivery.

use std::path::Path;

use airlock_protocol::dag::NotifierDefinition;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Db, DbResult, WriteTx, from_micros, to_micros};

/// What happened to a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The task failed with no retry left.
    Failure,
    /// The try failed and the task will be retried.
    Retry,
    /// The task succeeded.
    Success,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::Retry => "retry",
            Event::Success => "success",
        }
    }

    fn wanted_by(self, n: &NotifierDefinition) -> bool {
        match self {
            Event::Failure => n.on_failure,
            Event::Retry => n.on_retry,
            Event::Success => n.on_success,
        }
    }

    /// The tries of a run with this event that have none recorded yet (`$1` DAG, `$2` run,
    /// `$3` event). Failed and succeeded tries are the task instance's current one; a retried
    /// try has been archived. Notifiers of one event are recorded together, so any row for the
    /// try and event means all of them are.
    fn unrecorded(self) -> &'static str {
        macro_rules! unrecorded {
            ($from:literal, $state:literal) => {
                concat!(
                    "SELECT task_id, map_index, try_number, state, retry_reason, start_date, \
                     end_date FROM ",
                    $from,
                    " t WHERE dag_id = $1 AND run_id = $2 AND state = '",
                    $state,
                    "' AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.dag_id = t.dag_id \
                     AND n.run_id = t.run_id AND n.task_id = t.task_id \
                     AND n.map_index = t.map_index AND n.try_number = t.try_number \
                     AND n.event = $3)"
                )
            };
        }
        match self {
            Event::Failure => unrecorded!("task_instance", "failed"),
            Event::Success => unrecorded!("task_instance", "success"),
            Event::Retry => unrecorded!("task_instance_history", "up_for_retry"),
        }
    }
}

/// The JSON document a notifier delivers.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    event: &'static str,
    idempotency_key: &'a str,
    dag_id: &'a str,
    run_id: &'a str,
    task_id: &'a str,
    map_index: i64,
    try_number: i64,
    state: Option<&'a str>,
    reason: Option<&'a str>,
    start_date: Option<String>,
    end_date: Option<String>,
    /// The try's log, relative to the log directory.
    log: String,
}

#[derive(sqlx::FromRow)]
struct Try {
    task_id: String,
    map_index: i64,
    try_number: i64,
    state: Option<String>,
    retry_reason: Option<String>,
    start_date: Option<i64>,
    end_date: Option<i64>,
}

/// Records the events of run `run_id` that `notifiers` want and that are not recorded yet;
/// returns how many notifications were recorded.
pub async fn record_events(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    notifiers: &[NotifierDefinition],
    now: DateTime<Utc>,
) -> DbResult<u64> {
    let mut recorded = 0;
    for event in [Event::Failure, Event::Retry, Event::Success] {
        let wanted: Vec<&NotifierDefinition> =
            notifiers.iter().filter(|n| event.wanted_by(n)).collect();
        if wanted.is_empty() {
            continue;
        }
        let tries: Vec<Try> = sqlx::query_as(event.unrecorded())
            .bind(dag_id)
            .bind(run_id)
            .bind(event.name())
            .fetch_all(tx.conn())
            .await?;
        for t in &tries {
            for n in &wanted {
                insert(tx, dag_id, run_id, t, event, n, now).await?;
                recorded += 1;
            }
        }
    }
    Ok(recorded)
}

async fn insert(
    tx: &mut WriteTx,
    dag_id: &str,
    run_id: &str,
    t: &Try,
    event: Event,
    n: &NotifierDefinition,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let key = format!(
        "{}/{dag_id}/{run_id}/{}/{}/{}/{}:{}",
        event.name(),
        t.task_id,
        t.map_index,
        t.try_number,
        n.kind.as_str(),
        n.conn_id
    );
    let log = airlock_protocol::logs::log_path(
        Path::new(""),
        dag_id,
        run_id,
        &t.task_id,
        t.map_index,
        t.try_number,
    );
    let date = |us: Option<i64>| us.map(|u| airlock_protocol::time::to_rfc3339(&from_micros(u)));
    let payload = Payload {
        event: event.name(),
        idempotency_key: &key,
        dag_id,
        run_id,
        task_id: &t.task_id,
        map_index: t.map_index,
        try_number: t.try_number,
        state: t.state.as_deref(),
        reason: t.retry_reason.as_deref(),
        start_date: date(t.start_date),
        end_date: date(t.end_date),
        log: log.display().to_string(),
    };
    let payload = serde_json::to_string(&payload).map_err(|e| crate::DbError::Corrupt {
        table: "notification",
        detail: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO notification (idempotency_key, dag_id, run_id, task_id, map_index, \
         try_number, event, conn_id, payload, next_attempt_at, created_at, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&key)
    .bind(dag_id)
    .bind(run_id)
    .bind(&t.task_id)
    .bind(t.map_index)
    .bind(t.try_number)
    .bind(event.name())
    .bind(&n.conn_id)
    .bind(payload)
    .bind(to_micros(now))
    .bind(n.kind.as_str())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A notification waiting for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    /// Its idempotency key.
    pub idempotency_key: String,
    /// How it is delivered (`webhook`, `email`).
    pub kind: String,
    /// The Connection of its notifier.
    pub conn_id: String,
    /// The JSON document to deliver.
    pub payload: String,
    /// Deliveries tried so far.
    pub attempts: i64,
    /// When it became due (µs); a claim checks it has not changed.
    pub next_attempt_at: i64,
}

/// Claims up to `limit` due notifications until `lease_until`: another notifier (on another
/// replica) skips them until then, so each attempt is made by one.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> DbResult<Vec<Pending>> {
    let mut tx = db.begin_write().await?;
    let due: Vec<Pending> = sqlx::query_as(
        "SELECT idempotency_key, kind, conn_id, payload, attempts, next_attempt_at FROM notification \
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(to_micros(now))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for p in due {
        let took = sqlx::query(
            "UPDATE notification SET next_attempt_at = $3 \
             WHERE idempotency_key = $1 AND next_attempt_at = $2 AND delivered_at IS NULL",
        )
        .bind(&p.idempotency_key)
        .bind(p.next_attempt_at)
        .bind(to_micros(lease_until))
        .execute(tx.conn())
        .await?
        .rows_affected();
        if took == 1 {
            claimed.push(p);
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// When the next notification is due (µs), if any is waiting.
pub async fn next_due(db: &Db) -> DbResult<Option<DateTime<Utc>>> {
    let at: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notification \
         WHERE delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(at.map(from_micros))
}

/// How one delivery attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The endpoint accepted it.
    Delivered,
    /// It failed; try again at the given time.
    RetryAt(DateTime<Utc>, String),
    /// It failed for the last time.
    GaveUp(String),
}

/// Records how an attempt at `key` ended.
pub async fn record_attempt(
    db: &Db,
    key: &str,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let now = to_micros(now);
    let mut tx = db.begin_write().await?;
    let q = match attempt {
        Attempt::Delivered => sqlx::query(
            "UPDATE notification SET attempts = attempts + 1, delivered_at = $2, last_error = NULL \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(now),
        Attempt::RetryAt(at, error) => sqlx::query(
            "UPDATE notification SET attempts = attempts + 1, next_attempt_at = $2, \
             last_error = $3 WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(to_micros(*at))
        .bind(error.clone()),
        Attempt::GaveUp(error) => sqlx::query(
            "UPDATE notification SET attempts = attempts + 1, gave_up_at = $2, last_error = $3 \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(now)
        .bind(error.clone()),
    };
    q.execute(tx.conn()).await?;
    tx.commit().await?;
    Ok(())
}
