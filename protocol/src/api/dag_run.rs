use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AssetEventDagRunReference, JsonObject};
use crate::state::{DagRunState, DagRunType};

/// A DAG run as tasks see it. Every key is always written: Airflow's client forbids extras and
/// requires each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DagRun {
    /// DAG id.
    pub dag_id: String,
    /// Run id (unique per DAG).
    pub run_id: String,
    /// Logical date, if the run has one.
    #[serde(with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Data interval start.
    #[serde(with = "crate::time::ts_opt")]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// Data interval end.
    #[serde(with = "crate::time::ts_opt")]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Earliest time the run may start.
    #[serde(with = "crate::time::ts")]
    pub run_after: DateTime<Utc>,
    /// When the run started.
    #[serde(with = "crate::time::ts_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When the run finished.
    #[serde(with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// How often the run was cleared.
    #[serde(default)]
    pub clear_number: i64,
    /// How the run came to be.
    pub run_type: DagRunType,
    /// Run state.
    pub state: DagRunState,
    /// Run configuration (`--conf`).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub conf: Option<JsonObject>,
    /// Who triggered it.
    #[serde(default)]
    pub triggering_user_name: Option<String>,
    /// Asset events that triggered it.
    pub consumed_asset_events: Vec<AssetEventDagRunReference>,
    /// Partition key.
    #[cfg_attr(feature = "schema", schema(required = true))]
    #[serde(deserialize_with = "super::required_nullable")]
    pub partition_key: Option<String>,
    /// Partition date.
    #[serde(default, with = "crate::time::ts_opt")]
    pub partition_date: Option<DateTime<Utc>>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
    /// Team (multi-team deployments).
    #[serde(default)]
    pub team_name: Option<String>,
}

/// `GET /dag-runs/{dag_id}/{run_id}/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DagRunStateResponse {
    /// Run state.
    pub state: DagRunState,
}

/// The body of `POST /dag-runs/{dag_id}/{run_id}` (trigger a run from a task).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerDAGRunPayload {
    /// Logical date of the new run.
    #[serde(default, with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Earliest start.
    #[serde(default, with = "crate::time::ts_opt")]
    pub run_after: Option<DateTime<Utc>>,
    /// Run configuration.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub conf: Option<JsonObject>,
    /// Clear an existing run with this id instead of failing with 409.
    #[serde(default)]
    pub reset_dag_run: bool,
    /// Partition key.
    #[serde(default)]
    pub partition_key: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}
