use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AssetProfile, ConnectionResponse, DagRun, JsonObject, VariableResponse, literal_state,
};
use crate::state::{IntermediateTIState, TaskInstanceState, TerminalStateNonSuccess};
use crate::time::IsoDuration;

literal_state!(
    /// `"running"`.
    RunningLiteral = "running"
);
literal_state!(
    /// `"success"`.
    SuccessLiteral = "success"
);
literal_state!(
    /// `"deferred"`.
    DeferredLiteral = "deferred"
);
literal_state!(
    /// `"up_for_reschedule"`.
    UpForRescheduleLiteral = "up_for_reschedule"
);
literal_state!(
    /// `"up_for_retry"`.
    UpForRetryLiteral = "up_for_retry"
);
literal_state!(
    /// `"awaiting_input"`.
    AwaitingInputLiteral = "awaiting_input"
);

/// The body of `PATCH /task-instances/{id}/run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIEnterRunningPayload {
    /// Always `running`.
    #[serde(default)]
    pub state: RunningLiteral,
    /// Host of the supervisor.
    pub hostname: String,
    /// Unix user of the supervisor.
    pub unixname: String,
    /// Pid of the task process.
    pub pid: i64,
    /// When the try started.
    #[serde(with = "crate::time::ts")]
    pub start_date: DateTime<Utc>,
}

/// What a task needs to run: the answer to `PATCH /run`.
///
/// In JSON (the API) the resume-only fields are left out unless set, as Airflow's server does;
/// in msgpack (inside `StartupDetails`) every key is written, as Airflow's supervisor does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TIRunContext {
    /// The DAG run.
    pub dag_run: DagRun,
    /// How many times this try was rescheduled.
    #[serde(default)]
    pub task_reschedule_count: i64,
    /// Retries allowed (`retries`); tries allowed is `max_tries + 1`.
    pub max_tries: i64,
    /// Always empty (kept for compatibility).
    #[serde(default)]
    pub variables: Vec<VariableResponse>,
    /// Always empty (kept for compatibility).
    #[serde(default)]
    pub connections: Vec<ConnectionResponse>,
    /// The method to resume in, after a deferral.
    #[serde(default)]
    pub next_method: Option<String>,
    /// Arguments for `next_method` (the trigger event under `event`).
    #[serde(default)]
    pub next_kwargs: Option<serde_json::Value>,
    /// XCom keys to delete before the task runs.
    #[serde(default)]
    pub xcom_keys_to_clear: Vec<String>,
    /// Whether a failure should become `up_for_retry`.
    #[serde(default)]
    pub should_retry: bool,
    /// The original start of a resumed try.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
}

impl Serialize for TIRunContext {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Ts<'a>(&'a Option<DateTime<Utc>>);
        impl Serialize for Ts<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                crate::time::ts_opt::serialize(self.0, s)
            }
        }
        let sparse = s.is_human_readable();
        let mut st = s.serialize_struct("TIRunContext", 10)?;
        st.serialize_field("dag_run", &self.dag_run)?;
        st.serialize_field("task_reschedule_count", &self.task_reschedule_count)?;
        st.serialize_field("max_tries", &self.max_tries)?;
        st.serialize_field("variables", &self.variables)?;
        st.serialize_field("connections", &self.connections)?;
        if !sparse || self.next_method.is_some() {
            st.serialize_field("next_method", &self.next_method)?;
        }
        if !sparse || self.next_kwargs.is_some() {
            st.serialize_field("next_kwargs", &self.next_kwargs)?;
        }
        st.serialize_field("xcom_keys_to_clear", &self.xcom_keys_to_clear)?;
        st.serialize_field("should_retry", &self.should_retry)?;
        if !sparse || self.start_date.is_some() {
            st.serialize_field("start_date", &Ts(&self.start_date))?;
        }
        st.end()
    }
}

/// The body of `PUT /task-instances/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIHeartbeatInfo {
    /// Host of the supervisor.
    pub hostname: String,
    /// Pid of the task process.
    pub pid: i64,
}

/// Finish with failed, skipped, removed or upstream_failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TITerminalStatePayload {
    /// The terminal state.
    pub state: TerminalStateNonSuccess,
    /// When the try ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Finish with success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TISuccessStatePayload {
    /// Always `success`.
    #[serde(default)]
    pub state: SuccessLiteral,
    /// When the try ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
    /// Assets the task produced.
    #[serde(default)]
    pub task_outlets: Vec<AssetProfile>,
    /// Events to register for those assets.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Vec<Object>))]
    pub outlet_events: Vec<JsonObject>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Ask for an intermediate state. Valid per the schema; Airlock refuses it with 422 (Airflow
/// silently fails the task instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TITargetStatePayload {
    /// The requested state.
    pub state: IntermediateTIState,
}

/// Defer to a trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIDeferredStatePayload {
    /// Always `deferred`.
    #[serde(default)]
    pub state: DeferredLiteral,
    /// The trigger's class path.
    pub classpath: String,
    /// The trigger's arguments: an object, or a string already encrypted by the client.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub trigger_kwargs: Option<serde_json::Value>,
    /// How long the trigger may run before the task fails.
    #[serde(default)]
    pub trigger_timeout: Option<IsoDuration>,
    /// Triggerer queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// The method to resume in.
    pub next_method: String,
    /// Arguments for `next_method`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub next_kwargs: Option<JsonObject>,
    /// Rendered map index (not stored, as in Airflow).
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Ask to be run again at a later date (sensors in reschedule mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIRescheduleStatePayload {
    /// Always `up_for_reschedule`.
    #[serde(default)]
    pub state: UpForRescheduleLiteral,
    /// When to run again.
    #[serde(with = "crate::time::ts")]
    pub reschedule_date: DateTime<Utc>,
    /// When this attempt ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
}

/// Fail this try and retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIRetryStatePayload {
    /// Always `up_for_retry`.
    #[serde(default)]
    pub state: UpForRetryLiteral,
    /// When the try ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
    /// Overrides the task's retry delay.
    #[serde(default)]
    pub retry_delay_seconds: Option<f64>,
    /// Why (kept, truncated to 500 characters).
    #[serde(default)]
    pub retry_reason: Option<String>,
}

/// Wait for human input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TIAwaitingInputStatePayload {
    /// Always `awaiting_input`.
    #[serde(default)]
    pub state: AwaitingInputLiteral,
    /// How long to wait.
    #[serde(default)]
    pub timeout: Option<IsoDuration>,
    /// The method to resume in.
    pub next_method: String,
    /// Arguments for `next_method`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub next_kwargs: Option<JsonObject>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// The body of `PATCH /task-instances/{id}/state`, chosen by its `state` key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TIStatePayload {
    /// failed / skipped / removed / upstream_failed.
    Terminal(TITerminalStatePayload),
    /// success.
    Success(TISuccessStatePayload),
    /// scheduled / queued / restarting (refused by Airlock).
    Target(TITargetStatePayload),
    /// deferred.
    Deferred(TIDeferredStatePayload),
    /// up_for_reschedule.
    Reschedule(TIRescheduleStatePayload),
    /// up_for_retry.
    Retry(TIRetryStatePayload),
    /// awaiting_input.
    AwaitingInput(TIAwaitingInputStatePayload),
}

impl TIStatePayload {
    /// The state this payload asks for.
    pub fn target_state(&self) -> TaskInstanceState {
        match self {
            Self::Terminal(p) => p.state.into(),
            Self::Success(_) => TaskInstanceState::Success,
            Self::Target(p) => p
                .state
                .as_str()
                .parse()
                .unwrap_or(TaskInstanceState::Scheduled),
            Self::Deferred(_) => TaskInstanceState::Deferred,
            Self::Reschedule(_) => TaskInstanceState::UpForReschedule,
            Self::Retry(_) => TaskInstanceState::UpForRetry,
            Self::AwaitingInput(_) => TaskInstanceState::AwaitingInput,
        }
    }
}

impl<'de> Deserialize<'de> for TIStatePayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let state = match value.get("state") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(D::Error::custom("`state` must be a string")),
            None => return Err(D::Error::missing_field("state")),
        };
        // The variant is parsed from a buffered value, so the caller's path tracking cannot see
        // inside it: name the field at the start of the message instead (`end_date: ...`).
        fn parse<T: serde::de::DeserializeOwned, E: Error>(v: serde_json::Value) -> Result<T, E> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                match path.as_str() {
                    "." | "" => E::custom(e.into_inner()),
                    _ => E::custom(format!("{path}: {}", e.into_inner())),
                }
            })
        }
        Ok(match state.as_str() {
            "success" => Self::Success(parse(value)?),
            "failed" | "skipped" | "removed" | "upstream_failed" => Self::Terminal(parse(value)?),
            "deferred" => Self::Deferred(parse(value)?),
            "up_for_reschedule" => Self::Reschedule(parse(value)?),
            "up_for_retry" => Self::Retry(parse(value)?),
            "awaiting_input" => Self::AwaitingInput(parse(value)?),
            "scheduled" | "queued" | "restarting" => Self::Target(parse(value)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown state {other:?}; expected one of success, failed, skipped, removed, \
                     upstream_failed, deferred, up_for_reschedule, up_for_retry, awaiting_input"
                )));
            }
        })
    }
}

/// A task to skip: `"task_id"` or `["task_id", map_index]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TaskRef {
    /// A whole (unmapped) task: map index −1.
    Task(String),
    /// One mapped instance.
    Mapped(String, i64),
}

impl TaskRef {
    /// The task id and map index this names.
    pub fn key(&self) -> (&str, i64) {
        match self {
            Self::Task(t) => (t, -1),
            Self::Mapped(t, i) => (t, *i),
        }
    }
}

/// The body of `PATCH /task-instances/{id}/skip-downstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TISkippedDownstreamTasksStatePayload {
    /// Tasks of the same run to skip.
    pub tasks: Vec<TaskRef>,
}

/// The last successful run of this task's DAG before this one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PrevSuccessfulDagRunResponse {
    /// Data interval start.
    #[serde(default, with = "crate::time::ts_opt")]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// Data interval end.
    #[serde(default, with = "crate::time::ts_opt")]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Start.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// End.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
}

/// A previous task instance (`GET /task-instances/previous/{dag}/{task}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PreviousTIResponse {
    /// Task id.
    pub task_id: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// The run's logical date.
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Start.
    #[serde(default, with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// End.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Try number.
    pub try_number: i64,
    /// Map index.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// Duration in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
}

/// `GET /task-instances/states`: `{run_id: {task_id[_map_index]: state}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskStatesResponse {
    /// States by run and task.
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub task_states: JsonObject,
}

/// `GET /task-instances/breadcrumbs`: finished task instances of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TaskBreadcrumbsResponse {
    /// `{task_id, map_index, state, operator, duration}` objects.
    #[cfg_attr(feature = "schema", schema(value_type = Vec<Object>))]
    pub breadcrumbs: Vec<JsonObject>,
}

/// `GET /task-instances/{id}/validate-inlets-and-outlets`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct InactiveAssetsResponse {
    /// Referenced assets that are not active.
    #[serde(default)]
    pub inactive_assets: Vec<AssetProfile>,
}
