//! What a trigger is, for the triggerer and for authors of custom triggers.

use std::future::Future;
use std::pin::Pin;

use airlock_protocol::api::JsonObject;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A boxed future, as triggers return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a trigger fired.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerEvent {
    /// Resume the task at its `next_method` with this payload under `event`.
    Resume(Value),
    /// Finish the task as successful without resuming it (`end_from_trigger`).
    TaskSuccess,
    /// Finish the task as failed (retried if it has retries left) without resuming it.
    TaskFailed,
    /// Finish the task as skipped without resuming it.
    TaskSkipped,
}

/// A trigger that cannot fire: the task resumes at `__fail__` with `Trigger failure`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TriggerError {
    /// What went wrong.
    pub message: String,
    /// Further lines (e.g. the chain of causes).
    pub traceback: Vec<String>,
}

impl TriggerError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            traceback: Vec::new(),
        }
    }

    /// The lines reported to the task: the message, then the traceback.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self.message.clone())
            .chain(self.traceback.iter().cloned())
            .collect()
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// What a running trigger knows about the task waiting for it.
#[derive(Debug, Clone)]
pub struct TriggerContext {
    /// Trigger id.
    pub trigger_id: i64,
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
    /// An HTTP client triggers may share.
    pub http: reqwest::Client,
}

/// A trigger that runs as its own task until it fires.
pub trait Trigger: Send + 'static {
    /// Waits for the condition; cancelled (dropped) when the task stops waiting.
    fn run(self: Box<Self>, ctx: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>>;
}

/// What a factory makes of a trigger's arguments.
pub enum Built {
    /// Fire at `at` with `event`. Held in one timer heap rather than as a task, so that a
    /// triggerer can hold a very large number of them.
    At {
        /// When.
        at: DateTime<Utc>,
        /// What to report then.
        event: TriggerEvent,
    },
    /// Run this trigger.
    Run(Box<dyn Trigger>),
}

/// Builds triggers of one class path from their arguments.
pub trait TriggerFactory: Send + Sync + 'static {
    /// Checks the arguments and builds the trigger.
    fn build(&self, kwargs: &JsonObject) -> Result<Built, TriggerError>;
}

impl<F> TriggerFactory for F
where
    F: Fn(&JsonObject) -> Result<Built, TriggerError> + Send + Sync + 'static,
{
    fn build(&self, kwargs: &JsonObject) -> Result<Built, TriggerError> {
        self(kwargs)
    }
}
