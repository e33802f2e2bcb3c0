//! Extractors that state which tokens a route accepts.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use airlock_protocol::state::UiRole;

use super::{Authentication, Identity, Scope};
use crate::error::ApiError;

fn identity(parts: &Parts, allowed: &[Scope]) -> Result<Identity, ApiError> {
    match parts.extensions.get::<Authentication>() {
        // A web-UI session is no bearer token: these routes need one.
        None
        | Some(
            Authentication::Missing
            | Authentication::Session(_)
            | Authentication::SessionEnded
            | Authentication::CrossSite(_),
        ) => Err(ApiError::MissingToken),
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

/// Who called a control route: the holder of an `admin` token, or a signed-in web-UI user whose
/// role allows the route.
#[derive(Debug, Clone)]
pub struct ControlCaller {
    /// The token's subject, or the user's name.
    pub subject: String,
}

fn control(parts: &Parts, needed: UiRole) -> Result<ControlCaller, ApiError> {
    match parts.extensions.get::<Authentication>() {
        Some(Authentication::Session(s)) if s.role.includes(needed) => Ok(ControlCaller {
            subject: s.username.clone(),
        }),
        Some(Authentication::Session(s)) => Err(ApiError::Denied {
            reason: "role_forbidden",
            message: format!(
                "user {:?} has the {} role; this needs the {needed} role",
                s.username, s.role
            ),
        }),
        Some(Authentication::SessionEnded) => Err(ApiError::Unauthenticated {
            reason: "session_ended",
            message: "your session has ended; sign in again".into(),
        }),
        Some(Authentication::CrossSite(why)) => Err(ApiError::Denied {
            reason: "cross_site_request",
            message: (*why).into(),
        }),
        _ => identity(parts, &[Scope::Admin]).map(|id| ControlCaller {
            subject: id.subject,
        }),
    }
}

/// A control-route caller who may read (an `admin` token, or any web-UI user).
#[derive(Debug, Clone)]
pub struct Viewer(pub ControlCaller);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        control(parts, UiRole::Viewer).map(Self)
    }
}

/// A control-route caller who may trigger, clear, mark, cancel and pause (an `admin` token, or
/// a web-UI operator or admin).
#[derive(Debug, Clone)]
pub struct Operator(pub ControlCaller);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        control(parts, UiRole::Operator).map(Self)
    }
}

/// A control-route caller who may do anything there (an `admin` token, or a web-UI admin):
/// Variables, Connections, users, bundles, database cleaning.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub ControlCaller);

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        control(parts, UiRole::Admin).map(Self)
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
