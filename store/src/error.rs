//! Outcomes of store operations that are not successes. They describe what went wrong in domain
//! terms; `error.rs` alone decides how each becomes an HTTP answer.

use airlock_protocol::api::JsonObject;

use crate::DbError;

/// Why a store operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{message}")]
    NotFound {
        /// What is missing, for people.
        message: String,
    },
    /// The thing asked for existed but was archived (a retried try).
    #[error("{message}")]
    Archived {
        /// What happened, for people.
        message: String,
    },
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Stable reason code (`invalid_state`, `running_elsewhere`, `not_running`, ...).
        reason: &'static str,
        /// For people.
        message: String,
        /// Extra fields for clients (`previous_state`, `current_pid`, ...).
        extra: JsonObject,
    },
    /// The request is well-formed but its content is refused.
    #[error("{message}")]
    Rejected {
        /// Stable reason code.
        reason: &'static str,
        /// For people.
        message: String,
    },
    /// An argument is out of its allowed range or combination.
    #[error("{message}")]
    InvalidArgument {
        /// Stable reason code.
        reason: &'static str,
        /// For people.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sqlx(e))
    }
}

impl StoreError {
    /// A [`StoreError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }

    /// A [`StoreError::Conflict`] without extra fields.
    pub fn conflict(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            reason,
            message: message.into(),
            extra: JsonObject::new(),
        }
    }

    /// A [`StoreError::Rejected`].
    pub fn rejected(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected {
            reason,
            message: message.into(),
        }
    }

    /// A [`StoreError::InvalidArgument`].
    pub fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            reason,
            message: message.into(),
        }
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;
