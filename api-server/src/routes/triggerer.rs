//! Airlock's triggerer routes (tag "Airlock Triggerer"), for `triggerer`-scope tokens only.

use airlock_store as store;
use std::time::Duration;

use airlock_protocol::api::{
    ClaimRequest, ClaimResponse, ClaimedTriggerBody, HTTPExceptionResponse, HTTPValidationError,
    JsonObject, MAX_OUTCOME_BATCH, TriggerOutcomeBatch, TriggerOutcomeRequest,
    TriggerOutcomeResponse, TriggerOutcomeResult, TriggerOutcomesResponse, TriggererHeartbeat,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::TriggererCaller;
use crate::error::ApiResult;
use crate::extract::{JsonBody, Path};
use crate::state::AppState;
use airlock_store::error::StoreError;
use airlock_store::notify::Topic;
use airlock_store::triggers::ClaimedTrigger;
use airlock_store::triggers::TriggerOutcome;

/// Longest a claim may wait for a trigger.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting claim looks again without being woken (takeovers are time-based).
const RECHECK: Duration = Duration::from_millis(1000);

/// Record that a triggerer is alive.
#[utoipa::path(put, path = "/airlock/triggerers/{triggerer_id}/heartbeat", tag = "Airlock Triggerer",
    params(("triggerer_id" = String, Path, description = "Triggerer id (the token's subject)")),
    request_body = TriggererHeartbeat,
    responses((status = 204, description = "Recorded")),
    security(("JWTBearer" = [])))]
pub async fn heartbeat(
    State(s): State<AppState>,
    caller: TriggererCaller,
    Path(id): Path<String>,
    JsonBody(hb): JsonBody<TriggererHeartbeat>,
) -> ApiResult<StatusCode> {
    caller.require_self(&id)?;
    store::triggers::heartbeat_triggerer(
        &s.db,
        &id,
        hb.hostname.as_deref(),
        hb.capacity,
        store::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A triggerer stops: its triggers go to other triggerers at once.
#[utoipa::path(delete, path = "/airlock/triggerers/{triggerer_id}", tag = "Airlock Triggerer",
    params(("triggerer_id" = String, Path, description = "Triggerer id (the token's subject)")),
    responses((status = 204, description = "Retired")),
    security(("JWTBearer" = [])))]
pub async fn retire(
    State(s): State<AppState>,
    caller: TriggererCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_self(&id)?;
    store::triggers::retire_triggerer(&s.db, &id, store::now()).await?;
    s.hub.publish(Topic::Triggers);
    Ok(StatusCode::NO_CONTENT)
}

fn body(s: &AppState, c: ClaimedTrigger) -> ClaimedTriggerBody {
    let (kwargs, kwargs_error) = match s.cipher.open(&c.stored_kwargs) {
        Ok(text) => match serde_json::from_str::<JsonObject>(&text) {
            Ok(k) => (Some(k), None),
            Err(e) => (
                None,
                Some(format!("trigger arguments are not a JSON object: {e}")),
            ),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    ClaimedTriggerBody {
        id: c.id,
        classpath: c.classpath,
        kwargs,
        kwargs_error,
        timeout_at: c.timeout_at,
        task_instance_id: c.ti_id,
        dag_id: c.dag_id,
        run_id: c.run_id,
        task_id: c.task_id,
        map_index: c.map_index,
        try_number: c.try_number,
    }
}

/// Claim triggers to run: unassigned ones, and those of triggerers that stopped heartbeating.
/// Waits up to `wait_ms` for one when none is claimable (a new trigger wakes the wait at once).
#[utoipa::path(post, path = "/airlock/triggerers/{triggerer_id}/claim", tag = "Airlock Triggerer",
    params(("triggerer_id" = String, Path, description = "Triggerer id (the token's subject)")),
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "Claimed triggers, and every trigger now assigned to this triggerer", body = ClaimResponse),
        (status = 422, description = "Invalid payload", body = HTTPValidationError)),
    security(("JWTBearer" = [])))]
pub async fn claim(
    State(s): State<AppState>,
    caller: TriggererCaller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ClaimRequest>,
) -> ApiResult<Json<ClaimResponse>> {
    caller.require_self(&id)?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.wait_ms).min(MAX_WAIT);
    let limit = req.max.clamp(0, s.triggers.claim_batch);
    let mut stopping = s.stopping.clone();
    store::triggers::heartbeat_triggerer(&s.db, &id, None, None, store::now()).await?;
    let mut created = s.hub.subscribe(Topic::Triggers);
    loop {
        let claimed = store::triggers::claim_triggers(
            &s.db,
            &id,
            limit,
            s.triggers.health_timeout,
            store::now(),
        )
        .await?;
        let now = tokio::time::Instant::now();
        if !claimed.is_empty() || limit == 0 || now >= deadline || *stopping.borrow() {
            let triggers = claimed.into_iter().map(|c| body(&s, c)).collect();
            let assigned = if req.include_assigned {
                Some(store::triggers::assigned_triggers(&s.db, &id).await?)
            } else {
                None
            };
            return Ok(Json(ClaimResponse { triggers, assigned }));
        }
        tokio::select! {
            () = created.changed() => {}
            () = tokio::time::sleep_until(deadline.min(now + RECHECK)) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Report how a trigger ended. Idempotent: a repeated (or late) report acts on nothing.
#[utoipa::path(post, path = "/airlock/triggers/{trigger_id}/outcome", tag = "Airlock Triggerer",
    params(("trigger_id" = i64, Path, description = "Trigger id")),
    request_body = TriggerOutcomeRequest,
    responses(
        (status = 200, description = "How many task instances it resumed or finished", body = TriggerOutcomeResponse),
        (status = 422, description = "Invalid payload", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn outcome(
    State(s): State<AppState>,
    caller: TriggererCaller,
    Path(trigger_id): Path<i64>,
    JsonBody(req): JsonBody<TriggerOutcomeRequest>,
) -> ApiResult<Json<TriggerOutcomeResponse>> {
    let outcome = to_outcome(req);
    let applied = store::triggers::submit_trigger_outcome(
        &s.db,
        trigger_id,
        &outcome,
        Some(caller.id()),
        store::now(),
    )
    .await?;
    if applied > 0 {
        s.hub.publish(Topic::Changed);
    }
    Ok(Json(TriggerOutcomeResponse { applied }))
}

fn to_outcome(req: TriggerOutcomeRequest) -> TriggerOutcome {
    match req {
        TriggerOutcomeRequest::Event { payload } => TriggerOutcome::Event(payload),
        TriggerOutcomeRequest::TaskSuccess => TriggerOutcome::TaskSuccess,
        TriggerOutcomeRequest::TaskFailed => TriggerOutcome::TaskFailed,
        TriggerOutcomeRequest::TaskSkipped => TriggerOutcome::TaskSkipped,
        TriggerOutcomeRequest::Failure { traceback } => TriggerOutcome::Failure {
            error: "Trigger failure".into(),
            traceback: Some(traceback),
        },
        TriggerOutcomeRequest::Timeout => TriggerOutcome::Failure {
            error: "Trigger timeout".into(),
            traceback: None,
        },
    }
}

/// Report how many triggers ended, in one transaction (what a busy triggerer does). Each
/// outcome is idempotent as in the single route.
#[utoipa::path(post, path = "/airlock/triggerers/{triggerer_id}/outcomes", tag = "Airlock Triggerer",
    params(("triggerer_id" = String, Path, description = "Triggerer id (the token's subject)")),
    request_body = TriggerOutcomeBatch,
    responses(
        (status = 200, description = "One result per outcome, in order", body = TriggerOutcomesResponse),
        (status = 400, description = "More outcomes than one batch may hold", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn outcomes(
    State(s): State<AppState>,
    caller: TriggererCaller,
    Path(id): Path<String>,
    JsonBody(batch): JsonBody<TriggerOutcomeBatch>,
) -> ApiResult<Json<TriggerOutcomesResponse>> {
    caller.require_self(&id)?;
    if batch.outcomes.len() > MAX_OUTCOME_BATCH {
        return Err(StoreError::invalid(
            "batch_too_large",
            format!(
                "{} outcomes in one batch; at most {MAX_OUTCOME_BATCH}",
                batch.outcomes.len()
            ),
        )
        .into());
    }
    let ids: Vec<i64> = batch.outcomes.iter().map(|o| o.trigger_id).collect();
    let items: Vec<(i64, TriggerOutcome)> = batch
        .outcomes
        .into_iter()
        .map(|o| (o.trigger_id, to_outcome(o.outcome)))
        .collect();
    let applied =
        store::triggers::submit_trigger_outcomes(&s.db, &items, Some(caller.id()), store::now())
            .await?;
    if applied.iter().any(|r| matches!(r, Ok(n) if *n > 0)) {
        s.hub.publish(Topic::Changed);
    }
    let results = ids
        .into_iter()
        .zip(applied)
        .map(|(trigger_id, r)| match r {
            Ok(applied) => TriggerOutcomeResult {
                trigger_id,
                applied,
                error: None,
            },
            Err(e) => TriggerOutcomeResult {
                trigger_id,
                applied: 0,
                error: Some(e),
            },
        })
        .collect();
    Ok(Json(TriggerOutcomesResponse { results }))
}
