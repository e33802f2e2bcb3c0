//! Requests the task runner sends to its supervisor (`ToSupervisor`), with Airflow's exact field
//! names. Bodies derived from Execution API payloads refuse unknown fields, as Airflow's do; the
//! plain request bodies ignore them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::tagged::message_union;
use crate::api::{
    AssetProfile, DeferredLiteral, JsonObject, SuccessLiteral, TaskRef, UpForRescheduleLiteral,
    UpForRetryLiteral,
};
use crate::state::{TaskInstanceState, TerminalStateNonSuccess};
use crate::time::IsoDuration;

pub use crate::api::AwaitingInputLiteral;

/// The task succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SucceedTask {
    /// Always `success`.
    #[serde(default)]
    pub state: SuccessLiteral,
    /// When it ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
    /// Assets it produced.
    #[serde(default)]
    pub task_outlets: Option<Vec<AssetProfile>>,
    /// Events for those assets.
    #[serde(default)]
    pub outlet_events: Option<Vec<JsonObject>>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// The try failed and should be retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryTask {
    /// Always `up_for_retry`.
    #[serde(default)]
    pub state: UpForRetryLiteral,
    /// When it ended.
    #[serde(with = "crate::time::ts")]
    pub end_date: DateTime<Utc>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
    /// Overrides the retry delay.
    #[serde(default)]
    pub retry_delay_seconds: Option<f64>,
    /// Why.
    #[serde(default)]
    pub retry_reason: Option<String>,
}

/// Hand the wait to a trigger and resume at `next_method`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeferTask {
    /// Always `deferred`.
    #[serde(default)]
    pub state: DeferredLiteral,
    /// The trigger's class path.
    pub classpath: String,
    /// The trigger's arguments (an object, or an already encrypted string).
    #[serde(default)]
    pub trigger_kwargs: Option<Value>,
    /// How long the trigger may take.
    #[serde(default)]
    pub trigger_timeout: Option<IsoDuration>,
    /// Triggerer queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// The method to resume in.
    pub next_method: String,
    /// Arguments for `next_method`.
    #[serde(default)]
    pub next_kwargs: Option<JsonObject>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Run again at `reschedule_date` (sensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleTask {
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

/// Wait for human input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwaitInputTask {
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
    pub next_kwargs: Option<JsonObject>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Finish as failed, skipped or removed (reported when the runner exits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// The state.
    pub state: TerminalStateNonSuccess,
    /// When it ended.
    #[serde(default, with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Rendered map index.
    #[serde(default)]
    pub rendered_map_index: Option<String>,
}

/// Skip tasks of the same run (branching).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipDownstreamTasks {
    /// The tasks.
    pub tasks: Vec<TaskRef>,
}

/// Store rendered template fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRenderedFields {
    /// Field → rendered value.
    pub rendered_fields: JsonObject,
}

/// Store the rendered map index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRenderedMapIndex {
    /// The label.
    pub rendered_map_index: String,
}

/// Read an XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetXCom {
    /// Key.
    pub key: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index (sent only if ≥ 0).
    #[serde(default)]
    pub map_index: Option<i64>,
    /// Look in earlier runs too.
    #[serde(default)]
    pub include_prior_dates: bool,
}

/// Count an XCom's mapped values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetXComCount {
    /// Key.
    pub key: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
}

/// Read one mapped XCom value by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetXComSequenceItem {
    /// Key.
    pub key: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Position (negative from the end).
    pub offset: i64,
}

/// Read a slice of mapped XCom values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetXComSequenceSlice {
    /// Key.
    pub key: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Slice start.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub start: Option<i64>,
    /// Slice stop.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub stop: Option<i64>,
    /// Slice step.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub step: Option<i64>,
    /// Look in earlier runs too.
    #[serde(default)]
    pub include_prior_dates: bool,
}

/// Write an XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetXCom {
    /// Key.
    pub key: String,
    /// The JSON value.
    pub value: Value,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// Whether it is the DAG's result.
    #[serde(default)]
    pub dag_result: bool,
    /// Length of the value when downstream tasks map over it.
    #[serde(default)]
    pub mapped_length: Option<i64>,
}

/// Delete an XCom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteXCom {
    /// Key.
    pub key: String,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Map index.
    #[serde(default)]
    pub map_index: Option<i64>,
}

/// Read a Variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVariable {
    /// Key.
    pub key: String,
}

/// List Variable keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVariableKeys {
    /// Prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Page size.
    #[serde(default = "default_limit")]
    pub limit: i64,
    /// Keys to skip.
    #[serde(default)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    1000
}

/// Write a Variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutVariable {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub value: Option<String>,
    /// Description.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub description: Option<String>,
}

/// Delete a Variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteVariable {
    /// Key.
    pub key: String,
}

/// Read a Connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetConnection {
    /// Connection id.
    pub conn_id: String,
}

/// Ask the supervisor to redact a value from the task's logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskSecret {
    /// The secret (a string, or a structure whose strings are all secrets).
    pub value: Value,
    /// A name hinting what it is.
    #[serde(default)]
    pub name: Option<String>,
}

/// Read a DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDagRun {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
}

/// Read a DAG run's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDagRunState {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
}

/// Count DAG runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetDRCount {
    /// DAG id.
    pub dag_id: String,
    /// Only these logical dates.
    #[serde(default, with = "crate::time::ts_vec_opt")]
    pub logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs.
    #[serde(default)]
    pub run_ids: Option<Vec<String>>,
    /// Only these states.
    #[serde(default)]
    pub states: Option<Vec<String>>,
}

/// Read the previous DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetPreviousDagRun {
    /// DAG id.
    pub dag_id: String,
    /// Before this logical date.
    #[serde(with = "crate::time::ts")]
    pub logical_date: DateTime<Utc>,
    /// Only in this state.
    #[serde(default)]
    pub state: Option<String>,
}

/// Trigger a DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerDagRun {
    /// Logical date.
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Earliest start.
    #[serde(default, with = "crate::time::ts_opt")]
    pub run_after: Option<DateTime<Utc>>,
    /// Configuration.
    #[serde(default)]
    pub conf: Option<JsonObject>,
    /// Clear an existing run instead of failing.
    #[serde(default)]
    pub reset_dag_run: Option<bool>,
    /// Partition key.
    #[serde(default)]
    pub partition_key: Option<String>,
    /// Note.
    #[serde(default)]
    pub note: Option<String>,
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
}

/// Read a DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetDag {
    /// DAG id.
    pub dag_id: String,
}

/// Count task instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetTICount {
    /// DAG id.
    pub dag_id: String,
    /// Only this map index.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// Only these tasks.
    #[serde(default)]
    pub task_ids: Option<Vec<String>>,
    /// Only this task group.
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Only these logical dates.
    #[serde(default, with = "crate::time::ts_vec_opt")]
    pub logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs.
    #[serde(default)]
    pub run_ids: Option<Vec<String>>,
    /// Only these states.
    #[serde(default)]
    pub states: Option<Vec<String>>,
}

/// Read task-instance states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetTaskStates {
    /// DAG id.
    pub dag_id: String,
    /// Only this map index.
    #[serde(default)]
    pub map_index: Option<i64>,
    /// Only these tasks.
    #[serde(default)]
    pub task_ids: Option<Vec<String>>,
    /// Only this task group.
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Only these logical dates.
    #[serde(default, with = "crate::time::ts_vec_opt")]
    pub logical_dates: Option<Vec<DateTime<Utc>>>,
    /// Only these runs.
    #[serde(default)]
    pub run_ids: Option<Vec<String>>,
}

/// Read a run's finished task instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskBreadcrumbs {
    /// DAG id.
    pub dag_id: String,
    /// Run id.
    pub run_id: String,
}

/// Read a task's instance in an earlier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetPreviousTI {
    /// DAG id.
    pub dag_id: String,
    /// Task id.
    pub task_id: String,
    /// Before this logical date.
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Map index.
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// Only in this state.
    #[serde(default)]
    pub state: Option<TaskInstanceState>,
}

fn unmapped() -> i64 {
    -1
}

/// Read the last successful run before this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPrevSuccessfulDagRun {
    /// Ignored: the supervisor asks about its own task instance.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
}

/// Read when the first reschedule of this try started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskRescheduleStartDate {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Try number.
    #[serde(default = "first_try")]
    pub try_number: i64,
}

fn first_try() -> i64 {
    1
}

/// List inactive assets among the task's inlets and outlets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateInletsAndOutlets {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
}

/// Read an asset by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetByName {
    /// Name.
    pub name: String,
}

/// Read an asset by URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetByUri {
    /// URI.
    pub uri: String,
}

/// Read the assets of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAssetsByAlias {
    /// Alias name.
    pub alias_name: String,
}

/// Read an asset's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetAssetEventByAsset {
    /// Asset name.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub name: Option<String>,
    /// Asset URI.
    #[serde(deserialize_with = "crate::api::required_nullable")]
    pub uri: Option<String>,
    /// From.
    #[serde(default, with = "crate::time::ts_opt")]
    pub after: Option<DateTime<Utc>>,
    /// Until.
    #[serde(default, with = "crate::time::ts_opt")]
    pub before: Option<DateTime<Utc>>,
    /// At most.
    #[serde(default)]
    pub limit: Option<i64>,
    /// Oldest first.
    #[serde(default = "yes")]
    pub ascending: bool,
}

fn yes() -> bool {
    true
}

/// Read the events emitted through an alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetAssetEventByAssetAlias {
    /// Alias name.
    pub alias_name: String,
    /// From.
    #[serde(default, with = "crate::time::ts_opt")]
    pub after: Option<DateTime<Utc>>,
    /// Until.
    #[serde(default, with = "crate::time::ts_opt")]
    pub before: Option<DateTime<Utc>>,
    /// At most.
    #[serde(default)]
    pub limit: Option<i64>,
    /// Oldest first.
    #[serde(default = "yes")]
    pub ascending: bool,
}

/// Read a key of the task's state store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskStateStore {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Key.
    pub key: String,
}

/// Write a key of the task's state store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTaskStateStore {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Key.
    pub key: String,
    /// Value.
    pub value: Value,
    /// Expiry.
    #[serde(with = "crate::time::ts_opt")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Delete a key of the task's state store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTaskStateStore {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Key.
    pub key: String,
}

/// Clear the task's state store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearTaskStateStore {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
}

macro_rules! asset_store_messages {
    ($by:ident: $get:ident, $set:ident, $delete:ident, $clear:ident) => {
        /// Read a key of an asset's state store.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $get {
            /// The asset.
            pub $by: String,
            /// Key.
            pub key: String,
        }

        /// Write a key of an asset's state store.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $set {
            /// The asset.
            pub $by: String,
            /// Key.
            pub key: String,
            /// Value.
            pub value: Value,
        }

        /// Delete a key of an asset's state store.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $delete {
            /// The asset.
            pub $by: String,
            /// Key.
            pub key: String,
        }

        /// Clear an asset's state store.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $clear {
            /// The asset.
            pub $by: String,
        }
    };
}

asset_store_messages!(name: GetAssetStateStoreByName, SetAssetStateStoreByName, DeleteAssetStateStoreByName, ClearAssetStateStoreByName);
asset_store_messages!(uri: GetAssetStateStoreByUri, SetAssetStateStoreByUri, DeleteAssetStateStoreByUri, ClearAssetStateStoreByUri);

/// A user of the human-in-the-loop feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HITLUser {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Ask people to choose (human in the loop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateHITLDetailPayload {
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

/// Record people's choice (triggerer only; the task supervisor refuses it, as Airflow's does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateHITLDetail {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
    /// Chosen options.
    pub chosen_options: Vec<String>,
    /// Parameters entered.
    #[serde(default)]
    pub params_input: Option<JsonObject>,
}

/// Read people's choice (triggerer only; the task supervisor refuses it, as Airflow's does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetHITLDetailResponse {
    /// Task-instance id.
    #[serde(serialize_with = "crate::ids::uuid_str")]
    pub ti_id: Uuid,
}

/// Ask for a new log channel file descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResendLoggingFD {}

message_union! {
    /// A request from the task runner.
    pub enum ToSupervisor {
        /// See [`AwaitInputTask`].
        AwaitInputTask(AwaitInputTask),
        /// See [`ClearAssetStateStoreByName`].
        ClearAssetStateStoreByName(ClearAssetStateStoreByName),
        /// See [`ClearAssetStateStoreByUri`].
        ClearAssetStateStoreByUri(ClearAssetStateStoreByUri),
        /// See [`ClearTaskStateStore`].
        ClearTaskStateStore(ClearTaskStateStore),
        /// See [`DeferTask`].
        DeferTask(DeferTask),
        /// See [`DeleteAssetStateStoreByName`].
        DeleteAssetStateStoreByName(DeleteAssetStateStoreByName),
        /// See [`DeleteAssetStateStoreByUri`].
        DeleteAssetStateStoreByUri(DeleteAssetStateStoreByUri),
        /// See [`DeleteTaskStateStore`].
        DeleteTaskStateStore(DeleteTaskStateStore),
        /// See [`DeleteXCom`].
        DeleteXCom(DeleteXCom),
        /// See [`GetAssetByName`].
        GetAssetByName(GetAssetByName),
        /// See [`GetAssetByUri`].
        GetAssetByUri(GetAssetByUri),
        /// See [`GetAssetsByAlias`].
        GetAssetsByAlias(GetAssetsByAlias),
        /// See [`GetAssetEventByAsset`].
        GetAssetEventByAsset(GetAssetEventByAsset),
        /// See [`GetAssetEventByAssetAlias`].
        GetAssetEventByAssetAlias(GetAssetEventByAssetAlias),
        /// See [`GetAssetStateStoreByName`].
        GetAssetStateStoreByName(GetAssetStateStoreByName),
        /// See [`GetAssetStateStoreByUri`].
        GetAssetStateStoreByUri(GetAssetStateStoreByUri),
        /// See [`GetConnection`].
        GetConnection(GetConnection),
        /// See [`GetDagRun`].
        GetDagRun(GetDagRun),
        /// See [`GetDagRunState`].
        GetDagRunState(GetDagRunState),
        /// See [`GetDRCount`].
        GetDRCount(GetDRCount),
        /// See [`GetDag`].
        GetDag(GetDag),
        /// See [`GetPrevSuccessfulDagRun`].
        GetPrevSuccessfulDagRun(GetPrevSuccessfulDagRun),
        /// See [`GetPreviousDagRun`].
        GetPreviousDagRun(GetPreviousDagRun),
        /// See [`GetPreviousTI`].
        GetPreviousTI(GetPreviousTI),
        /// See [`GetTaskRescheduleStartDate`].
        GetTaskRescheduleStartDate(GetTaskRescheduleStartDate),
        /// See [`GetTaskStateStore`].
        GetTaskStateStore(GetTaskStateStore),
        /// See [`GetTICount`].
        GetTICount(GetTICount),
        /// See [`GetTaskBreadcrumbs`].
        GetTaskBreadcrumbs(GetTaskBreadcrumbs),
        /// See [`GetTaskStates`].
        GetTaskStates(GetTaskStates),
        /// See [`GetVariable`].
        GetVariable(GetVariable),
        /// See [`GetVariableKeys`].
        GetVariableKeys(GetVariableKeys),
        /// See [`GetXCom`].
        GetXCom(GetXCom),
        /// See [`GetXComCount`].
        GetXComCount(GetXComCount),
        /// See [`GetXComSequenceItem`].
        GetXComSequenceItem(GetXComSequenceItem),
        /// See [`GetXComSequenceSlice`].
        GetXComSequenceSlice(GetXComSequenceSlice),
        /// See [`PutVariable`].
        PutVariable(PutVariable),
        /// See [`RescheduleTask`].
        RescheduleTask(RescheduleTask),
        /// See [`RetryTask`].
        RetryTask(RetryTask),
        /// See [`SetAssetStateStoreByName`].
        SetAssetStateStoreByName(SetAssetStateStoreByName),
        /// See [`SetAssetStateStoreByUri`].
        SetAssetStateStoreByUri(SetAssetStateStoreByUri),
        /// See [`SetRenderedFields`].
        SetRenderedFields(SetRenderedFields),
        /// See [`SetRenderedMapIndex`].
        SetRenderedMapIndex(SetRenderedMapIndex),
        /// See [`SetTaskStateStore`].
        SetTaskStateStore(SetTaskStateStore),
        /// See [`SetXCom`].
        SetXCom(SetXCom),
        /// See [`SkipDownstreamTasks`].
        SkipDownstreamTasks(SkipDownstreamTasks),
        /// See [`SucceedTask`].
        SucceedTask(SucceedTask),
        /// See [`ValidateInletsAndOutlets`].
        ValidateInletsAndOutlets(ValidateInletsAndOutlets),
        /// See [`TaskState`].
        TaskState(TaskState) @ super::tagged::TypeAt::After("end_date"),
        /// See [`TriggerDagRun`].
        TriggerDagRun(TriggerDagRun),
        /// See [`DeleteVariable`].
        DeleteVariable(DeleteVariable),
        /// See [`ResendLoggingFD`].
        ResendLoggingFD(ResendLoggingFD),
        /// See [`CreateHITLDetailPayload`].
        CreateHITLDetailPayload(CreateHITLDetailPayload),
        /// See [`UpdateHITLDetail`].
        UpdateHITLDetail(UpdateHITLDetail),
        /// See [`GetHITLDetailResponse`].
        GetHITLDetailResponse(GetHITLDetailResponse),
        /// See [`MaskSecret`].
        MaskSecret(MaskSecret),
    }
}
