//! The triggerer's engine: claims triggers, runs them, reports how they ended.
//!
//! One task owns every held trigger. Time-based triggers sit in a binary heap (a few dozen bytes
//! each, so a triggerer can hold a million); other triggers run as tasks that report back. A
//! claim loop feeds it (long polls, so a new trigger starts within milliseconds), a heartbeat
//! task keeps this triggerer alive in the server's eyes, and a reporter submits outcomes with
//! retries. Outcomes are idempotent on the server, so a trigger taken over by another triggerer
//! (or fired twice across a crash) still resumes its task exactly once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use airlock_api_client::{ApiClient, RetryPolicy};
use airlock_protocol::api::{
    ClaimRequest, ClaimResponse, ClaimedTriggerBody, TriggerOutcomeBatch, TriggerOutcomeItem,
    TriggerOutcomeRequest, TriggererHeartbeat,
};
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::config::TriggererConfig;

/// How often a claim also asks for every trigger assigned here (to cancel those taken over or
/// no longer awaited).
const ASSIGNED_REFRESH: Duration = Duration::from_secs(5);
use crate::registry::TriggerRegistry;
use crate::trigger::{Built, TriggerContext, TriggerError, TriggerEvent};

/// An event kept compactly until its timer fires.
enum Compact {
    Resume(Box<str>),
    Success,
    Failed,
    Skipped,
}

impl Compact {
    fn of(e: TriggerEvent) -> Self {
        match e {
            TriggerEvent::Resume(v) => Self::Resume(v.to_string().into_boxed_str()),
            TriggerEvent::TaskSuccess => Self::Success,
            TriggerEvent::TaskFailed => Self::Failed,
            TriggerEvent::TaskSkipped => Self::Skipped,
        }
    }

    fn request(&self) -> TriggerOutcomeRequest {
        match self {
            Self::Resume(text) => TriggerOutcomeRequest::Event {
                payload: serde_json::from_str(text).unwrap_or(Value::Null),
            },
            Self::Success => TriggerOutcomeRequest::TaskSuccess,
            Self::Failed => TriggerOutcomeRequest::TaskFailed,
            Self::Skipped => TriggerOutcomeRequest::TaskSkipped,
        }
    }
}

fn request_of(result: Result<TriggerEvent, TriggerError>) -> TriggerOutcomeRequest {
    match result {
        Ok(e) => Compact::of(e).request(),
        Err(e) => TriggerOutcomeRequest::Failure {
            traceback: e.lines(),
        },
    }
}

enum Held {
    Timer {
        generation: u32,
        event: Compact,
    },
    Task {
        generation: u32,
        handle: tokio::task::AbortHandle,
    },
}

impl Held {
    fn generation(&self) -> u32 {
        match self {
            Held::Timer { generation, .. } | Held::Task { generation, .. } => *generation,
        }
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    id: i64,
    generation: u32,
    timeout: bool,
}

enum Msg {
    Claimed(ClaimResponse),
    Finished {
        id: i64,
        generation: u32,
        outcome: TriggerOutcomeRequest,
    },
}

/// When `at` comes, on this process's clock; a moment beyond what the clock can represent is
/// as good as never.
fn instant_of(at: chrono::DateTime<Utc>) -> Instant {
    let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now()
        .checked_add(wait)
        .unwrap_or_else(|| Instant::now() + FAR)
}

/// Later than any trigger may wait (durations are bounded to 100 years).
const FAR: Duration = Duration::from_secs(200 * 366 * 24 * 3600);

/// Runs `trigger`; a trigger that panics fails its own task, never the triggerer.
async fn run_caught(
    trigger: Box<dyn crate::trigger::Trigger>,
    ctx: TriggerContext,
) -> Result<TriggerEvent, TriggerError> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(trigger.run(ctx))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(TriggerError::new(format!(
                "the trigger panicked: {}",
                crate::trigger::panic_message(panic.as_ref())
            )))
        })
}

/// The engine state (owned by one task).
struct Engine {
    registry: TriggerRegistry,
    held: HashMap<i64, Held>,
    due: BinaryHeap<Reverse<Due>>,
    generation: u32,
    count: Arc<AtomicUsize>,
    metrics: crate::metrics::TriggererMetrics,
    report: mpsc::UnboundedSender<(i64, TriggerOutcomeRequest)>,
    msgs: mpsc::UnboundedSender<Msg>,
    http: reqwest::Client,
}

impl Engine {
    fn start(&mut self, t: ClaimedTriggerBody) {
        if self.held.contains_key(&t.id) {
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let built = match &t.kwargs {
            Some(k) => self.registry.build(&t.classpath, k),
            None => Err(TriggerError::new(
                t.kwargs_error
                    .clone()
                    .unwrap_or_else(|| "no trigger arguments".into()),
            )),
        };
        let timeout = t.timeout_at.map(instant_of);
        match built {
            Err(e) => {
                tracing::warn!(trigger = t.id, classpath = %t.classpath, error = %e, "cannot run trigger");
                let _ = self.report.send((
                    t.id,
                    TriggerOutcomeRequest::Failure {
                        traceback: e.lines(),
                    },
                ));
                return;
            }
            Ok(Built::At { at, event }) => {
                let at = instant_of(at);
                self.held.insert(
                    t.id,
                    Held::Timer {
                        generation,
                        event: Compact::of(event),
                    },
                );
                match timeout {
                    Some(limit) if limit < at => self.due.push(Reverse(Due {
                        at: limit,
                        id: t.id,
                        generation,
                        timeout: true,
                    })),
                    _ => self.due.push(Reverse(Due {
                        at,
                        id: t.id,
                        generation,
                        timeout: false,
                    })),
                }
            }
            Ok(Built::Run(trigger)) => {
                let ctx = TriggerContext {
                    trigger_id: t.id,
                    task_instance_id: t.task_instance_id,
                    dag_id: t.dag_id.clone(),
                    run_id: t.run_id.clone(),
                    task_id: t.task_id.clone(),
                    map_index: t.map_index,
                    http: self.http.clone(),
                };
                let msgs = self.msgs.clone();
                let id = t.id;
                let handle = tokio::spawn(async move {
                    let fut = run_caught(trigger, ctx);
                    let outcome = match timeout {
                        Some(limit) => match tokio::time::timeout_at(limit, fut).await {
                            Ok(r) => request_of(r),
                            Err(_) => TriggerOutcomeRequest::Timeout,
                        },
                        None => request_of(fut.await),
                    };
                    let _ = msgs.send(Msg::Finished {
                        id,
                        generation,
                        outcome,
                    });
                });
                self.held.insert(
                    t.id,
                    Held::Task {
                        generation,
                        handle: handle.abort_handle(),
                    },
                );
            }
        }
        tracing::debug!(trigger = t.id, classpath = %t.classpath, ti = %t.task_instance_id, "trigger started");
    }

    fn cancel(&mut self, id: i64) {
        if let Some(Held::Task { handle, .. }) = self.held.remove(&id) {
            handle.abort();
        }
    }

    fn claimed(&mut self, resp: ClaimResponse) {
        for t in resp.triggers {
            self.start(t);
        }
        let Some(assigned) = resp.assigned else {
            self.count.store(self.held.len(), Ordering::Relaxed);
            self.metrics.held(self.held.len());
            return;
        };
        let assigned: HashSet<i64> = assigned.into_iter().collect();
        let lost: Vec<i64> = self
            .held
            .keys()
            .copied()
            .filter(|id| !assigned.contains(id))
            .collect();
        for id in lost {
            tracing::info!(
                trigger = id,
                "trigger no longer assigned here; cancelling it"
            );
            self.cancel(id);
        }
        self.count.store(self.held.len(), Ordering::Relaxed);
        self.metrics.held(self.held.len());
    }

    fn finished(&mut self, id: i64, generation: u32, outcome: TriggerOutcomeRequest) {
        if self
            .held
            .get(&id)
            .is_some_and(|h| h.generation() == generation)
        {
            self.held.remove(&id);
            let _ = self.report.send((id, outcome));
        }
        self.count.store(self.held.len(), Ordering::Relaxed);
        self.metrics.held(self.held.len());
    }

    fn fire_due(&mut self) {
        let now = Instant::now();
        while self.due.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Some(Reverse(d)) = self.due.pop() else {
                break;
            };
            let current = matches!(self.held.get(&d.id), Some(Held::Timer { generation, .. }) if *generation == d.generation);
            if !current {
                continue;
            }
            if let Some(Held::Timer { event, .. }) = self.held.remove(&d.id) {
                let outcome = if d.timeout {
                    TriggerOutcomeRequest::Timeout
                } else {
                    self.metrics.fired_late(now.saturating_duration_since(d.at));
                    event.request()
                };
                let _ = self.report.send((d.id, outcome));
            }
        }
        self.count.store(self.held.len(), Ordering::Relaxed);
        self.metrics.held(self.held.len());
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse(d)| d.at)
    }

    fn abort_all(&mut self) {
        for (_, h) in self.held.drain() {
            if let Held::Task { handle, .. } = h {
                handle.abort();
            }
        }
    }
}

/// Most outcomes reported in one request.
const REPORT_BATCH: usize = 500;

/// Submits outcomes in batches (whatever has piled up, up to [`REPORT_BATCH`]), retrying what
/// fails (the server is idempotent), a bounded number of batches at once.
fn spawn_reporter(
    client: ApiClient,
    triggerer: String,
    mut rx: mpsc::UnboundedReceiver<(i64, TriggerOutcomeRequest)>,
    concurrency: usize,
    metrics: crate::metrics::TriggererMetrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut inflight = tokio::task::JoinSet::new();
        while let Some(first) = rx.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            // Taken after the permit: what piles up while all batches are in flight goes out
            // together.
            let mut outcomes = vec![first];
            while outcomes.len() < REPORT_BATCH {
                match rx.try_recv() {
                    Ok(o) => outcomes.push(o),
                    Err(_) => break,
                }
            }
            let batch = TriggerOutcomeBatch {
                outcomes: outcomes
                    .into_iter()
                    .map(|(trigger_id, outcome)| TriggerOutcomeItem {
                        trigger_id,
                        outcome,
                    })
                    .collect(),
            };
            let (client, triggerer, metrics) = (client.clone(), triggerer.clone(), metrics.clone());
            inflight.spawn(async move {
                let _permit = permit;
                let mut backoff = RetryPolicy::forever().start();
                loop {
                    match client.trigger_outcomes(&triggerer, &batch).await {
                        Ok(r) => {
                            for res in &r.results {
                                match &res.error {
                                    Some(e) => tracing::error!(trigger = res.trigger_id, error = %e, "trigger outcome refused"),
                                    None => tracing::debug!(trigger = res.trigger_id, applied = res.applied, "trigger outcome reported"),
                                }
                            }
                            metrics.reported(r.results.len());
                            tracing::info!(outcomes = r.results.len(), "trigger outcomes reported");
                            return;
                        }
                        Err(e) if e.is_retryable() => {
                            tracing::warn!(outcomes = batch.outcomes.len(), error = %e, "cannot report trigger outcomes yet; retrying");
                            backoff.wait().await;
                        }
                        Err(e) => {
                            tracing::error!(outcomes = batch.outcomes.len(), error = %e, "trigger outcomes refused");
                            return;
                        }
                    }
                }
            });
            while inflight.try_join_next().is_some() {}
        }
        while inflight.join_next().await.is_some() {}
    })
}

/// The engine stopped without being asked to (a bug: triggers themselves cannot stop it).
#[derive(Debug, thiserror::Error)]
#[error("the triggerer's engine failed: {0}")]
pub struct EngineFailed(String);

/// Hands back whatever the server still assigns to `id`: a triggerer that (re)starts holds
/// nothing, so those triggers belonged to an earlier incarnation, dead by definition. Retries
/// until the server answers or `stop` turns true.
async fn reclaim(client: &ApiClient, id: &str, stop: &mut watch::Receiver<bool>) {
    let mut backoff = RetryPolicy::forever().start();
    loop {
        match client.retire_triggerer(id).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reclaim this triggerer's triggers yet; retrying")
            }
        }
        tokio::select! {
            _ = backoff.wait() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Runs a triggerer until `stop` turns true, then hands its triggers back to the server. If
/// its engine fails, heartbeats stop with it (so that other triggerers take its triggers over)
/// and the error is returned.
pub async fn run(
    cfg: TriggererConfig,
    registry: TriggerRegistry,
    client: ApiClient,
    http: reqwest::Client,
    id: String,
    metrics: crate::metrics::TriggererMetrics,
    mut stop: watch::Receiver<bool>,
) -> Result<(), EngineFailed> {
    reclaim(&client, &id, &mut stop).await;
    let count = Arc::new(AtomicUsize::new(0));
    let (msgs_tx, mut msgs) = mpsc::unbounded_channel();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let reporter = spawn_reporter(
        client.clone(),
        id.clone(),
        report_rx,
        cfg.report_concurrency,
        metrics.clone(),
    );
    let hostname = std::env::var("HOSTNAME").ok().or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
    });

    let heartbeat = {
        let (client, id, mut stop) = (
            client.with_retry(RetryPolicy::once()),
            id.clone(),
            stop.clone(),
        );
        let hb = TriggererHeartbeat {
            hostname,
            capacity: Some(cfg.capacity as i64),
        };
        let every = cfg.heartbeat_interval.max(Duration::from_millis(50));
        tokio::spawn(async move {
            loop {
                if let Err(e) = client.triggerer_heartbeat(&id, &hb).await {
                    tracing::warn!(error = %e, "triggerer heartbeat failed");
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    };

    let claims = {
        let (client, id, count, msgs, mut stop) = (
            client.clone(),
            id.clone(),
            count.clone(),
            msgs_tx.clone(),
            stop.clone(),
        );
        let (capacity, batch, wait) = (cfg.capacity, cfg.batch.max(1), cfg.claim_wait);
        let long = client
            .with_timeout(wait + cfg.api_timeout)
            .with_retry(RetryPolicy::once());
        tokio::spawn(async move {
            let mut backoff = RetryPolicy::forever().start();
            let mut last_assigned: Option<Instant> = None;
            loop {
                if *stop.borrow() {
                    return;
                }
                let free = capacity.saturating_sub(count.load(Ordering::Relaxed));
                if free == 0 {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                        _ = stop.changed() => return,
                    }
                }
                // The full list of assignments costs as much as what is held: ask now and then.
                let include_assigned =
                    last_assigned.is_none_or(|at| at.elapsed() >= ASSIGNED_REFRESH);
                let req = ClaimRequest {
                    max: free.min(batch) as i64,
                    wait_ms: wait.as_millis() as u64,
                    include_assigned,
                };
                let resp = tokio::select! {
                    r = long.claim_triggers(&id, &req) => r,
                    _ = stop.changed() => return,
                };
                match resp {
                    Ok(r) => {
                        backoff.reset();
                        if include_assigned {
                            last_assigned = Some(Instant::now());
                        }
                        if !r.triggers.is_empty() {
                            tracing::info!(claimed = r.triggers.len(), "claimed triggers");
                        }
                        // Count what was just claimed before the engine catches up.
                        count.fetch_add(r.triggers.len(), Ordering::Relaxed);
                        if msgs.send(Msg::Claimed(r)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claim failed; retrying");
                        tokio::select! {
                            _ = backoff.wait() => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        })
    };

    let mut engine = Engine {
        registry,
        held: HashMap::new(),
        due: BinaryHeap::new(),
        generation: 0,
        count,
        metrics,
        report: report_tx,
        msgs: msgs_tx,
        http,
    };
    let engine = tokio::spawn(async move {
        let far = Instant::now() + FAR;
        loop {
            let next = engine.next_due().unwrap_or(far);
            tokio::select! {
                msg = msgs.recv() => match msg {
                    Some(Msg::Claimed(r)) => engine.claimed(r),
                    Some(Msg::Finished { id, generation, outcome }) => engine.finished(id, generation, outcome),
                    None => break,
                },
                () = tokio::time::sleep_until(next) => engine.fire_due(),
                _ = stop.changed() => if *stop.borrow() { break },
            }
        }
        tracing::info!(
            held = engine.held.len(),
            "triggerer stopping; handing its triggers back"
        );
        engine.abort_all();
    })
    .await;
    claims.abort();
    heartbeat.abort();
    // Let other triggerers (or this one's next incarnation) take over at once instead of after
    // the health timeout.
    if let Err(e) = client.retire_triggerer(&id).await {
        tracing::warn!(error = %e, "could not retire; other triggerers take over after the health timeout");
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), reporter).await;
    engine.map_err(|e| {
        let why = if e.is_panic() {
            crate::trigger::panic_message(e.into_panic().as_ref())
        } else {
            e.to_string()
        };
        tracing::error!(error = %why, "the triggerer's engine failed; its triggers were handed back");
        EngineFailed(why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::{BoxFuture, Trigger};

    struct Panics;

    impl Trigger for Panics {
        fn run(
            self: Box<Self>,
            _: TriggerContext,
        ) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
            Box::pin(async { panic!("boom") })
        }
    }

    #[tokio::test]
    async fn a_panicking_trigger_fails_its_task_only() {
        let ctx = TriggerContext {
            trigger_id: 1,
            task_instance_id: uuid::Uuid::nil(),
            dag_id: "d".into(),
            run_id: "r".into(),
            task_id: "t".into(),
            map_index: -1,
            http: airlock_process::http::client_builder()
                .unwrap_or_else(|e| panic!("client builder: {e}"))
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
        };
        let err = run_caught(Box::new(Panics), ctx).await.unwrap_err();
        assert_eq!(err.message, "the trigger panicked: boom");
    }

    #[test]
    fn a_panicking_factory_fails_its_trigger_only() {
        let mut r = TriggerRegistry::empty();
        r.register(
            "x.Panics",
            |_: &airlock_protocol::api::JsonObject| -> Result<Built, TriggerError> {
                panic!("bad factory")
            },
        );
        let err = r.build("x.Panics", &Default::default()).err().unwrap();
        assert!(err.message.contains("bad factory"), "{}", err.message);
    }

    #[test]
    fn far_moments_do_not_overflow_the_clock() {
        let far = chrono::DateTime::<Utc>::MAX_UTC;
        assert!(instant_of(far) > Instant::now());
    }
}
