//! What can go wrong talking to the API.

use serde_json::Value;

/// A failed API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{method} {path} answered {status}: {detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// Path (relative to the API base).
        path: String,
        /// Status code.
        status: u16,
        /// The `detail` of the error body (or the raw body when it is not JSON).
        detail: Value,
    },
    /// The request never got an answer (connection refused, timeout, ...).
    #[error("{method} {path} failed: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// Why.
        message: String,
        /// The kind of failure (`connect`, `timeout`, `request`).
        kind: &'static str,
    },
    /// The answer could not be read as the expected type.
    #[error("{path}: unexpected response body: {message}")]
    Decode {
        /// Path.
        path: String,
        /// Why.
        message: String,
    },
    /// The client could not be configured.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The HTTP status, for server answers.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error body's `detail`, for server answers.
    pub fn detail(&self) -> Option<&Value> {
        match self {
            Self::Status { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// `detail.reason` (`not_found`, `invalid_state`, ...), when the server gave one.
    pub fn reason(&self) -> Option<&str> {
        self.detail()?.get("reason")?.as_str()
    }

    /// Whether retrying might help (transport failures and 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The class name Airflow's supervisor reports for non-HTTP failures.
    pub fn exception_type(&self) -> &'static str {
        match self {
            Self::Transport {
                kind: "connect", ..
            } => "ConnectError",
            Self::Transport {
                kind: "timeout", ..
            } => "TimeoutException",
            Self::Transport { .. } => "RequestError",
            Self::Status { .. } => "ServerResponseError",
            Self::Decode { .. } => "ValidationError",
            Self::Config(_) => "ValueError",
        }
    }
}
