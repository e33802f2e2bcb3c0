//! How a task ends when it does not simply succeed.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::triggers::Trigger;

/// The result of a task method: a JSON value (pushed as the `return_value` XCom unless null), or
/// how the task ends otherwise.
pub type TaskResult = Result<serde_json::Value, TaskError>;

/// A deferral: wait for `trigger` in the triggerer, then resume in `next_method`.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferral {
    /// What to wait for.
    pub trigger: Trigger,
    /// The method to resume in (passed to `Operator::resume`).
    pub next_method: String,
    /// Arguments for it (the trigger's event is added under `event`).
    pub next_kwargs: serde_json::Map<String, serde_json::Value>,
    /// How long to wait before the task fails.
    pub timeout: Option<Duration>,
}

impl Deferral {
    /// Wait for `trigger`, then resume in `next_method`.
    pub fn new(trigger: Trigger, next_method: impl Into<String>) -> Self {
        Self {
            trigger,
            next_method: next_method.into(),
            next_kwargs: serde_json::Map::new(),
            timeout: None,
        }
    }

    /// Adds an argument for the resume method.
    pub fn with_kwarg(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.next_kwargs.insert(key.to_owned(), value.into());
        self
    }

    /// Fails the task if the trigger has not fired after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Why a task did not succeed. `?` turns any error into [`TaskError::Failed`].
#[derive(Debug)]
pub enum TaskError {
    /// The task failed; it is retried if it has retries left.
    Failed {
        /// What went wrong.
        message: String,
    },
    /// The task failed and must not be retried.
    FailedNoRetry {
        /// What went wrong.
        message: String,
    },
    /// The task decided it has nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Retry this task (if it has retries left), optionally after a specific delay.
    Retry {
        /// Why.
        reason: String,
        /// Overrides the task's retry delay.
        delay: Option<Duration>,
    },
    /// Run again at `at` (a sensor waiting for something), without using a retry.
    Reschedule {
        /// When to run again.
        at: DateTime<Utc>,
    },
    /// Free the worker and wait for a trigger (see [`Deferral`]).
    Defer(Box<Deferral>),
}

impl TaskError {
    /// A failure (retried if retries are left).
    pub fn fail(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
        }
    }

    /// A failure that must not be retried.
    pub fn fail_no_retry(message: impl Into<String>) -> Self {
        Self::FailedNoRetry {
            message: message.into(),
        }
    }

    /// Skip this task.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self::Skipped {
            reason: reason.into(),
        }
    }

    /// Ask for a retry.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            delay: None,
        }
    }

    /// Ask for a retry after `delay`.
    pub fn retry_after(reason: impl Into<String>, delay: Duration) -> Self {
        Self::Retry {
            reason: reason.into(),
            delay: Some(delay),
        }
    }

    /// Run again at `at`.
    pub fn reschedule_at(at: DateTime<Utc>) -> Self {
        Self::Reschedule { at }
    }

    /// Defer to `trigger`, resuming in `next_method` (see [`Deferral`] for arguments and a
    /// timeout).
    pub fn defer(trigger: Trigger, next_method: impl Into<String>) -> Self {
        Deferral::new(trigger, next_method).into()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { message } => write!(f, "failed: {message}"),
            Self::FailedNoRetry { message } => write!(f, "failed (no retry): {message}"),
            Self::Skipped { reason } => write!(f, "skipped: {reason}"),
            Self::Retry { reason, .. } => write!(f, "retry requested: {reason}"),
            Self::Reschedule { at } => write!(f, "rescheduled to {at}"),
            Self::Defer(d) => write!(
                f,
                "deferred to {} (resume in {})",
                d.trigger.classpath, d.next_method
            ),
        }
    }
}

impl From<Deferral> for TaskError {
    fn from(d: Deferral) -> Self {
        Self::Defer(Box::new(d))
    }
}

/// Any error becomes a failure, with its chain of causes in the message.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self::Failed { message }
    }
}
