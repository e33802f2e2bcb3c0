//! What the supervisor sends the task runner (`ToTask`): `StartupDetails` first, then one
//! response per request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::tagged::message_union;
use super::to_supervisor::{CreateHITLDetailPayload, HITLUser};
use crate::api::{
    AssetEventResponse, AssetProfile, AssetResponse, ConnectionResponse, DagResponse, DagRun,
    JsonObject, PrevSuccessfulDagRunResponse, PreviousTIResponse, TIRunContext,
    VariableKeysResponse, VariableResponse,
};
use crate::state::DagRunState;

/// The task-instance fields a runner gets (exactly Airflow's ten keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    /// Task-instance id (of this try).
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub id: Uuid,
    /// Task id.
    pub task_id: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Try number.
    pub try_number: i64,
    /// DAG version.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub dag_version_id: Uuid,
    /// Map index (−1 when not mapped).
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// Host running it.
    #[serde(default)]
    pub hostname: Option<String>,
    /// W3C trace context.
    #[serde(default)]
    pub context_carrier: Option<JsonObject>,
    /// Executor queue.
    #[serde(default = "default_queue")]
    pub queue: String,
}

fn unmapped() -> i64 {
    -1
}

fn default_queue() -> String {
    "default".into()
}

/// Which bundle holds the DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    #[serde(default)]
    pub version: Option<String>,
}

/// The first frame (id 0), sent unprompted once `PATCH /run` has succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartupDetails {
    /// The task instance.
    pub ti: TaskInstance,
    /// The DAG's file relative to the bundle root.
    pub dag_rel_path: String,
    /// The bundle.
    pub bundle_info: BundleInfo,
    /// Start of the try (the original start when resuming).
    #[serde(with = "crate::time::ts")]
    pub start_date: DateTime<Utc>,
    /// The answer of `PATCH /run`.
    pub ti_context: TIRunContext,
    /// Import path of a Sentry initialiser, or empty.
    #[serde(default)]
    pub sentry_integration: String,
}

/// Kinds of [`ErrorResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorType {
    /// No such Connection.
    ConnectionNotFound,
    /// No such Variable.
    VariableNotFound,
    /// No such XCom.
    XcomNotFound,
    /// No such asset.
    AssetNotFound,
    /// No such task state-store key.
    TaskStoreNotFound,
    /// No such asset state-store key.
    AssetStoreNotFound,
    /// The DAG run already exists.
    DagrunAlreadyExists,
    /// The API refused access (401/403).
    PermissionDenied,
    /// Anything else.
    #[default]
    GenericError,
    /// The API call failed.
    ApiServerError,
}

/// An error: in the frame's error slot (the runner raises it) or as the body (an expected
/// "not found" the runner returns as a value).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Kind.
    #[serde(default)]
    pub error: ErrorType,
    /// Details.
    #[serde(default)]
    pub detail: Option<JsonObject>,
}

impl ErrorResponse {
    /// An error of `kind` with `detail`.
    pub fn new(kind: ErrorType, detail: Value) -> Self {
        let detail = match detail {
            Value::Object(m) => Some(m.into_iter().collect()),
            Value::Null => None,
            other => Some(JsonObject::from([("detail".to_owned(), other)])),
        };
        Self {
            error: kind,
            detail,
        }
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(self.error).unwrap_or_default();
        match &self.detail {
            Some(d) => write!(
                f,
                "{}: {}",
                kind.as_str().unwrap_or("ERROR"),
                Value::from(d.clone().into_iter().collect::<serde_json::Map<_, _>>())
            ),
            None => write!(f, "{}", kind.as_str().unwrap_or("ERROR")),
        }
    }
}

/// A plain acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OKResponse {
    /// Always true.
    pub ok: bool,
}

/// File descriptors passed with `SCM_RIGHTS` (the numbers are rewritten by the receiver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentFDs {
    /// Descriptor numbers.
    pub fds: Vec<i64>,
}

/// An XCom value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComResult {
    /// Key.
    pub key: String,
    /// Value (null when there is none).
    pub value: Value,
}

/// How many mapped values an XCom has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XComCountResponse {
    /// Count.
    pub len: i64,
}

/// One mapped XCom value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComSequenceIndexResult {
    /// The value.
    pub root: Value,
}

/// A slice of mapped XCom values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComSequenceSliceResult {
    /// The values.
    pub root: Vec<Value>,
}

/// Assets of an alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetsByAliasResult {
    /// The assets.
    pub assets: Vec<AssetResponse>,
}

/// Asset events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetEventsResult {
    /// The events.
    pub asset_events: Vec<AssetEventResponse>,
}

/// A state-store value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateStoreResult {
    /// The value.
    pub value: Value,
}

/// A DAG run's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagRunStateResult {
    /// State.
    pub state: DagRunState,
}

/// A count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountResult {
    /// The count.
    pub count: i64,
}

/// A previous task instance, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousTIResult {
    /// The instance.
    #[serde(default)]
    pub task_instance: Option<PreviousTIResponse>,
}

/// A previous DAG run, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousDagRunResult {
    /// The run.
    #[serde(default)]
    pub dag_run: Option<DagRun>,
}

/// When the first reschedule of the try started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRescheduleStartDate {
    /// The start, if the try was rescheduled.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
}

/// Finished task instances of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskBreadcrumbsResult {
    /// `{task_id, map_index, state, operator, duration}` objects.
    pub breadcrumbs: Vec<JsonObject>,
}

/// Task-instance states by run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatesResult {
    /// `{run_id: {task: state}}`.
    pub task_states: JsonObject,
}

/// Inactive assets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InactiveAssetsResult {
    /// The assets.
    #[serde(default)]
    pub inactive_assets: Option<Vec<AssetProfile>>,
}

/// The stored human-in-the-loop request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HITLDetailRequestResult {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Choices.
    pub options: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body.
    #[serde(default)]
    pub body: Option<String>,
    /// Default choices.
    #[serde(default)]
    pub defaults: Option<Vec<String>>,
    /// Whether several may be chosen.
    #[serde(default)]
    pub multiple: Option<bool>,
    /// Parameters.
    #[serde(default)]
    pub params: Option<JsonObject>,
    /// Who may answer.
    #[serde(default)]
    pub assigned_users: Option<Vec<HITLUser>>,
}

message_union! {
    /// A message to the task runner.
    pub enum ToTask {
        /// See [`AssetResponse`].
        AssetResult(AssetResponse),
        /// See [`AssetsByAliasResult`].
        AssetsByAliasResult(AssetsByAliasResult),
        /// See [`AssetEventsResult`].
        AssetEventsResult(AssetEventsResult),
        /// See [`StateStoreResult`].
        AssetStateStoreResult(StateStoreResult),
        /// See [`ConnectionResponse`].
        ConnectionResult(ConnectionResponse),
        /// See [`DagRun`].
        DagRunResult(DagRun),
        /// See [`DagRunStateResult`].
        DagRunStateResult(DagRunStateResult),
        /// A count of DAG runs.
        DRCount(CountResult),
        /// See [`DagResponse`].
        DagResult(DagResponse),
        /// See [`ErrorResponse`].
        ErrorResponse(ErrorResponse),
        /// See [`PrevSuccessfulDagRunResponse`].
        PrevSuccessfulDagRunResult(PrevSuccessfulDagRunResponse),
        /// See [`PreviousTIResult`].
        PreviousTIResult(PreviousTIResult),
        /// See [`SentFDs`].
        SentFDs(SentFDs) @ super::tagged::TypeAt::First,
        /// See [`StartupDetails`].
        StartupDetails(Box<StartupDetails>),
        /// See [`TaskRescheduleStartDate`].
        TaskRescheduleStartDate(TaskRescheduleStartDate),
        /// See [`StateStoreResult`].
        TaskStateStoreResult(StateStoreResult),
        /// A count of task instances.
        TICount(CountResult),
        /// See [`TaskBreadcrumbsResult`].
        TaskBreadcrumbsResult(TaskBreadcrumbsResult),
        /// See [`TaskStatesResult`].
        TaskStatesResult(TaskStatesResult),
        /// See [`VariableResponse`].
        VariableResult(VariableResponse),
        /// See [`VariableKeysResponse`].
        VariableKeysResult(VariableKeysResponse),
        /// See [`XComCountResponse`].
        XComCountResponse(XComCountResponse),
        /// See [`XComResult`].
        XComResult(XComResult),
        /// See [`XComSequenceIndexResult`].
        XComSequenceIndexResult(XComSequenceIndexResult),
        /// See [`XComSequenceSliceResult`].
        XComSequenceSliceResult(XComSequenceSliceResult),
        /// See [`InactiveAssetsResult`].
        InactiveAssetsResult(InactiveAssetsResult),
        /// See [`CreateHITLDetailPayload`].
        CreateHITLDetailPayload(CreateHITLDetailPayload),
        /// See [`HITLDetailRequestResult`].
        HITLDetailRequestResult(HITLDetailRequestResult),
        /// See [`OKResponse`].
        OKResponse(OKResponse),
        /// See [`PreviousDagRunResult`].
        PreviousDagRunResult(PreviousDagRunResult),
    }
}
