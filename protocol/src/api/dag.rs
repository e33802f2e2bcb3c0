use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A DAG (`GET /dags/{dag_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DagResponse {
    /// The DAG id.
    pub dag_id: String,
    /// Whether the scheduler skips it.
    pub is_paused: bool,
    /// The bundle that holds it.
    pub bundle_name: Option<String>,
    /// The bundle version.
    pub bundle_version: Option<String>,
    /// Its file, relative to the bundle root.
    pub relative_fileloc: Option<String>,
    /// Owners, comma-separated.
    pub owners: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// When the next scheduled run is due.
    #[serde(with = "crate::time::ts_opt")]
    pub next_dagrun: Option<DateTime<Utc>>,
}
