use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JsonObject;

/// An asset (`GET /assets/by-name`, `/assets/by-uri`, `/assets/by-alias`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AssetResponse {
    /// Unique name.
    pub name: String,
    /// Unique URI.
    pub uri: String,
    /// Group (`asset` by default).
    pub group: String,
    /// Free-form metadata.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub extra: Option<JsonObject>,
}

/// A reference to an asset a task produces or consumes (`task_outlets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssetProfile {
    /// The asset's name, if referenced by name.
    #[serde(default)]
    pub name: Option<String>,
    /// The asset's URI, if referenced by URI.
    #[serde(default)]
    pub uri: Option<String>,
    /// `Asset`, `AssetAlias`, `AssetNameRef` or `AssetUriRef`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A DAG run an asset event created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DagRunAssetReference {
    /// Run id.
    pub run_id: String,
    /// DAG id.
    pub dag_id: String,
    /// Logical date.
    #[serde(with = "crate::time::ts_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Start.
    #[serde(with = "crate::time::ts")]
    pub start_date: DateTime<Utc>,
    /// End.
    #[serde(with = "crate::time::ts_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Run state.
    pub state: String,
    /// Data interval start.
    #[serde(with = "crate::time::ts_opt")]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// Data interval end.
    #[serde(with = "crate::time::ts_opt")]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Partition key.
    pub partition_key: Option<String>,
}

/// An asset event (`GET /asset-events/...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AssetEventResponse {
    /// Event id.
    pub id: i64,
    /// When it happened.
    #[serde(with = "crate::time::ts")]
    pub timestamp: DateTime<Utc>,
    /// Free-form metadata.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub extra: Option<JsonObject>,
    /// The asset.
    pub asset: AssetResponse,
    /// Runs it triggered.
    pub created_dagruns: Vec<DagRunAssetReference>,
    /// Producing task.
    #[serde(default)]
    pub source_task_id: Option<String>,
    /// Producing DAG.
    #[serde(default)]
    pub source_dag_id: Option<String>,
    /// Producing run.
    #[serde(default)]
    pub source_run_id: Option<String>,
    /// Producing map index.
    #[serde(default)]
    pub source_map_index: Option<i64>,
    /// Partition key.
    #[serde(default)]
    pub partition_key: Option<String>,
}

/// A list of asset events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AssetEventsResponse {
    /// The events, ordered by timestamp.
    pub asset_events: Vec<AssetEventResponse>,
}

/// The asset of an event consumed by a DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssetReferenceAssetEventDagRun {
    /// Name.
    pub name: String,
    /// URI.
    pub uri: String,
    /// Metadata.
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub extra: JsonObject,
}

/// An alias through which an event reached a DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssetAliasReferenceAssetEventDagRun {
    /// Alias name.
    pub name: String,
}

/// An asset event a DAG run consumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssetEventDagRunReference {
    /// The asset.
    pub asset: AssetReferenceAssetEventDagRun,
    /// Event metadata.
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub extra: JsonObject,
    /// Producing task.
    pub source_task_id: Option<String>,
    /// Producing DAG.
    pub source_dag_id: Option<String>,
    /// Producing run.
    pub source_run_id: Option<String>,
    /// Producing map index.
    pub source_map_index: Option<i64>,
    /// Aliases.
    pub source_aliases: Vec<AssetAliasReferenceAssetEventDagRun>,
    /// When it happened.
    #[serde(with = "crate::time::ts")]
    pub timestamp: DateTime<Utc>,
    /// Partition key.
    #[serde(default)]
    pub partition_key: Option<String>,
}
