//! Extractors that state which tokens a route accepts.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::{Authentication, Identity, Scope};
use crate::error::ApiError;

fn identity(parts: &Parts, allowed: &[Scope]) -> Result<Identity, ApiError> {
    match parts.extensions.get::<Authentication>() {
        None | Some(Authentication::Missing) => Err(ApiError::MissingToken),
        Some(Authentication::Invalid(e)) => Err(ApiError::InvalidToken(e.to_string())),
        Some(Authentication::Valid(id)) if allowed.contains(&id.scope) => Ok(id.clone()),
        Some(Authentication::Valid(id)) => Err(ApiError::Forbidden(format!(
            "Token type '{}' not allowed for this endpoint. Allowed types: {}",
            id.scope.as_str(),
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn require_self(id: &Identity, task_instance_id: Uuid) -> Result<(), ApiError> {
    if id.task_instance_id == Some(task_instance_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Token subject does not match task instance ID".into(),
        ))
    }
}

/// A caller holding an execution token (any task instance).
#[derive(Debug, Clone)]
pub struct TaskCaller(pub Identity);

impl TaskCaller {
    /// Fails with 403 unless the token was issued for `task_instance_id` (ti:self).
    pub fn require_ti(&self, task_instance_id: Uuid) -> Result<(), ApiError> {
        require_self(&self.0, task_instance_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TaskCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts, &[Scope::Execution]).map(Self)
    }
}

/// A caller allowed to start a task instance: an execution or a workload token.
#[derive(Debug, Clone)]
pub struct StartCaller(pub Identity);

impl StartCaller {
    /// Fails with 403 unless the token was issued for `task_instance_id` (ti:self).
    pub fn require_ti(&self, task_instance_id: Uuid) -> Result<(), ApiError> {
        require_self(&self.0, task_instance_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for StartCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts, &[Scope::Execution, Scope::Workload]).map(Self)
    }
}

/// A triggerer (a `triggerer`-scope token; task tokens are refused).
#[derive(Debug, Clone)]
pub struct TriggererCaller(pub Identity);

impl TriggererCaller {
    /// The triggerer's id (the token's subject).
    pub fn id(&self) -> &str {
        &self.0.subject
    }

    /// Fails with 403 unless the token was issued for triggerer `id`.
    pub fn require_self(&self, id: &str) -> Result<(), ApiError> {
        if self.0.subject == id {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Token subject does not match the triggerer id".into(),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TriggererCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts, &[Scope::Triggerer]).map(Self)
    }
}

/// An administrator or executor (an `admin`-scope token; task and triggerer tokens are refused).
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts, &[Scope::Admin]).map(Self)
    }
}

/// An executor acting for itself: an `executor`-scope token whose subject is the executor id
/// in the path, or an `admin` token (which may act for any executor).
#[derive(Debug, Clone)]
pub struct ExecutorCaller(pub Identity);

impl ExecutorCaller {
    /// Fails with 403 unless the caller may act for executor `id`.
    pub fn require_self(&self, id: &str) -> Result<(), ApiError> {
        if self.0.scope == Scope::Admin || self.0.subject == id {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Token subject does not match the executor id".into(),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ExecutorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts, &[Scope::Admin, Scope::Executor]).map(Self)
    }
}
