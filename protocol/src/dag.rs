//! DAG definitions as bundles describe them (`<bundle> dags` prints a [`BundleDefinition`]) and
//! as the server registers them.

use serde::{Deserialize, Serialize};

/// When a task may run, given its upstream tasks' states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream failed.
    AllFailed,
    /// Every upstream finished, whatever the outcome.
    AllDone,
    /// At least one upstream succeeded.
    OneSuccess,
    /// At least one upstream failed.
    OneFailed,
    /// No upstream failed (success or skipped).
    NoneFailed,
    /// No upstream was skipped.
    NoneSkipped,
    /// Run regardless.
    Always,
}

/// A task of a DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinition {
    /// Task id (unique in the DAG).
    pub task_id: String,
    /// The operator's type name (informational).
    #[serde(default)]
    pub operator: Option<String>,
    /// Tasks that must finish first.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// When it may run, given the upstreams.
    #[serde(default)]
    pub trigger_rule: TriggerRule,
    /// Retries after a failure.
    #[serde(default)]
    pub retries: u32,
    /// Seconds between a failure and the retry.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: f64,
    /// Double the delay after each retry.
    #[serde(default)]
    pub retry_exponential_backoff: bool,
    /// Longest delay between retries, in seconds.
    #[serde(default)]
    pub max_retry_delay: Option<f64>,
    /// Longest a try may run, in seconds.
    #[serde(default)]
    pub execution_timeout: Option<f64>,
    /// Map over the list an upstream task returned: one task instance per element.
    #[serde(default)]
    pub map_over: Option<String>,
    /// Executor queue.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Task group path (`outer.inner`).
    #[serde(default)]
    pub task_group_id: Option<String>,
    /// Higher runs first.
    #[serde(default = "default_weight")]
    pub priority_weight: i64,
}

fn default_retry_delay() -> f64 {
    300.0
}

fn default_queue() -> String {
    "default".into()
}

fn default_weight() -> i64 {
    1
}

/// A DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagDefinition {
    /// DAG id.
    pub dag_id: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Owners, comma-separated.
    #[serde(default)]
    pub owners: Option<String>,
    /// Most task instances of one run active at once.
    #[serde(default)]
    pub max_active_tasks: Option<u32>,
    /// Where the DAG is defined (informational; `dag_rel_path` for the runner).
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    /// Its tasks.
    pub tasks: Vec<TaskDefinition>,
}

/// What a bundle executable declares (`<bundle> dags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleDefinition {
    /// The bundle's name (its executable's file name in the bundles directory).
    pub bundle: String,
    /// Its version, if it has one.
    #[serde(default)]
    pub version: Option<String>,
    /// Its DAGs.
    pub dags: Vec<DagDefinition>,
}
