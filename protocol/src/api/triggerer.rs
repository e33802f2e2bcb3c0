//! Airlock's triggerer routes (tag "Airlock Triggerer"): triggerers claim triggers, heartbeat
//! and report outcomes over HTTP, holding no database credentials.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonObject;

/// The body of `PUT /airlock/triggerers/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggererHeartbeat {
    /// Host the triggerer runs on.
    #[serde(default)]
    pub hostname: Option<String>,
    /// How many triggers it can hold.
    #[serde(default)]
    pub capacity: Option<i64>,
}

/// The body of `POST /airlock/triggerers/{id}/claim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Most triggers wanted (the server also caps one claim).
    pub max: i64,
    /// How long to wait, in milliseconds, for a trigger when none is claimable now (long poll;
    /// capped at 30 000).
    #[serde(default)]
    pub wait_ms: u64,
    /// Whether to list every trigger assigned to this triggerer in the answer (default true).
    /// The list grows with what the triggerer holds, so triggerers ask for it now and then
    /// rather than on every claim.
    #[serde(default = "yes")]
    pub include_assigned: bool,
}

fn yes() -> bool {
    true
}

/// A trigger to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ClaimedTriggerBody {
    /// Trigger id.
    pub id: i64,
    /// Class path (selects the implementation).
    pub classpath: String,
    /// Arguments (decrypted), or null when they cannot be decrypted (see `kwargs_error`).
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub kwargs: Option<JsonObject>,
    /// Why `kwargs` is null.
    #[serde(default)]
    pub kwargs_error: Option<String>,
    /// When the waiting task gives up.
    #[serde(default, with = "crate::time::ts_opt")]
    pub timeout_at: Option<DateTime<Utc>>,
    /// The waiting task instance.
    pub task_instance_id: Uuid,
    /// Its DAG.
    pub dag_id: String,
    /// Its run.
    pub run_id: String,
    /// Its task.
    pub task_id: String,
    /// Its map index.
    pub map_index: i64,
    /// Its try.
    pub try_number: i64,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ClaimResponse {
    /// Newly claimed triggers.
    pub triggers: Vec<ClaimedTriggerBody>,
    /// Every trigger assigned to this triggerer now (when the claim asked for it); a trigger it
    /// runs that is not listed was taken over or is no longer awaited, and must be cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned: Option<Vec<i64>>,
}

/// How a trigger ended (`POST /airlock/triggers/{id}/outcome`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerOutcomeRequest {
    /// An event: the task resumes with `payload` under `event`.
    #[cfg_attr(feature = "schema", schema(title = "TriggerEventOutcome"))]
    Event {
        /// The event payload (any JSON; triggers send objects).
        #[cfg_attr(feature = "schema", schema(value_type = Value))]
        payload: serde_json::Value,
    },
    /// End the task as successful without resuming it.
    #[cfg_attr(feature = "schema", schema(title = "TriggerTaskSuccessOutcome"))]
    TaskSuccess,
    /// End the task as failed (retried if retries are left) without resuming it.
    #[cfg_attr(feature = "schema", schema(title = "TriggerTaskFailedOutcome"))]
    TaskFailed,
    /// End the task as skipped without resuming it.
    #[cfg_attr(feature = "schema", schema(title = "TriggerTaskSkippedOutcome"))]
    TaskSkipped,
    /// The trigger failed: the task resumes at `__fail__` with `Trigger failure`.
    #[cfg_attr(feature = "schema", schema(title = "TriggerFailureOutcome"))]
    Failure {
        /// Traceback lines.
        #[serde(default)]
        traceback: Vec<String>,
    },
    /// The trigger's deadline passed: the task resumes at `__fail__` with `Trigger timeout`.
    #[cfg_attr(feature = "schema", schema(title = "TriggerTimeoutOutcome"))]
    Timeout,
}

/// The answer to an outcome: how many task instances it acted on (0 if it already happened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TriggerOutcomeResponse {
    /// Task instances resumed or finished by this call.
    pub applied: u64,
}

/// Most outcomes in one `POST /airlock/triggerers/{id}/outcomes`.
pub const MAX_OUTCOME_BATCH: usize = 1000;

/// One trigger's outcome in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerOutcomeItem {
    /// The trigger.
    pub trigger_id: i64,
    /// How it ended.
    pub outcome: TriggerOutcomeRequest,
}

/// The body of `POST /airlock/triggerers/{id}/outcomes`: outcomes of many triggers, applied in
/// one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerOutcomeBatch {
    /// At most [`MAX_OUTCOME_BATCH`] outcomes.
    pub outcomes: Vec<TriggerOutcomeItem>,
}

/// What one outcome of a batch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TriggerOutcomeResult {
    /// The trigger.
    pub trigger_id: i64,
    /// Task instances resumed or finished (0: already applied, or nothing waits any more).
    pub applied: u64,
    /// Why this outcome was refused, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to a batch of outcomes, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TriggerOutcomesResponse {
    /// One result per outcome.
    pub results: Vec<TriggerOutcomeResult>,
}
