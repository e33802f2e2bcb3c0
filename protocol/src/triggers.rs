//! Triggers as both sides of a deferral see them: the class paths tasks defer to (and
//! triggerers register), and the arguments of Airlock's HTTP poll trigger. The SDK writes these
//! arguments and the triggerer reads them through the same type, so they cannot disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Airflow's `DateTimeTrigger` (also what its `TimeDeltaTrigger` becomes).
pub const DATE_TIME_TRIGGER: &str = "airflow.providers.standard.triggers.temporal.DateTimeTrigger";
/// Airflow's `TimeDeltaTrigger`.
pub const TIME_DELTA_TRIGGER: &str =
    "airflow.providers.standard.triggers.temporal.TimeDeltaTrigger";
/// Airflow's `FileTrigger`.
pub const FILE_TRIGGER: &str = "airflow.providers.standard.triggers.file.FileTrigger";
/// Airflow's testing trigger that succeeds at once.
pub const SUCCESS_TRIGGER: &str = "airflow.triggers.testing.SuccessTrigger";
/// Airflow's testing trigger that fails at once.
pub const FAILURE_TRIGGER: &str = "airflow.triggers.testing.FailureTrigger";
/// Airlock's HTTP poll trigger (the external job tracker), with [`HttpPollArgs`].
pub const HTTP_POLL_TRIGGER: &str = "airlock.triggers.http.HttpPollTrigger";

/// The arguments of [`HTTP_POLL_TRIGGER`]: poll `url` until `success` (or `failure`) holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPollArgs {
    /// The status URL.
    pub url: String,
    /// HTTP method.
    #[serde(default = "get")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Seconds between polls.
    #[serde(default = "five")]
    pub poke_interval: f64,
    /// Seconds one request may take.
    #[serde(default = "ten")]
    pub request_timeout: f64,
    /// When the job is done (any 2xx when it lists no statuses).
    #[serde(default)]
    pub success: ResponseCondition,
    /// When the job failed.
    #[serde(default)]
    pub failure: Option<ResponseCondition>,
}

/// A condition on an HTTP response: a status among `status_codes` and, if `json_pointer` is
/// set, the value it points at among `values`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCondition {
    /// Accepted statuses.
    #[serde(default)]
    pub status_codes: Option<Vec<u16>>,
    /// A JSON pointer into the response body (`/status`).
    #[serde(default)]
    pub json_pointer: Option<String>,
    /// Values the pointer may point at.
    #[serde(default)]
    pub values: Vec<Value>,
}

impl ResponseCondition {
    /// The body's value at `pointer` is one of `values`.
    pub fn json(pointer: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Self {
        Self {
            status_codes: None,
            json_pointer: Some(pointer.into()),
            values: values.into_iter().collect(),
        }
    }

    /// The status is one of `codes`.
    pub fn status(codes: impl IntoIterator<Item = u16>) -> Self {
        Self {
            status_codes: Some(codes.into_iter().collect()),
            json_pointer: None,
            values: Vec::new(),
        }
    }
}

fn get() -> String {
    "GET".into()
}

fn five() -> f64 {
    5.0
}

fn ten() -> f64 {
    10.0
}
