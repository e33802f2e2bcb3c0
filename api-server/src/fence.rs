//! Fencing: a try may change anything (XComs, rendered fields, Variables, runs it triggers or
//! clears, what it skips) only while it is the current try of its task instance and running.
//! A late write from a stale try (retried, cleared, declared a zombie while its supervisor was
//! stopped) gets 410 (the try was archived) or 409 `not_running`; its supervisor then stops the
//! runner. Handlers that write take a [`RunningTry`] instead of a plain `TaskCaller`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::TaskCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// A caller holding an execution token whose try is current and running.
#[derive(Debug, Clone)]
pub struct RunningTry(pub TaskCaller);

impl RunningTry {
    /// Fails with 403 unless the token was issued for `task_instance_id` (ti:self).
    pub fn require_ti(&self, task_instance_id: uuid::Uuid) -> Result<(), ApiError> {
        self.0.require_ti(task_instance_id)
    }
}

impl FromRequestParts<AppState> for RunningTry {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let caller = TaskCaller::from_request_parts(parts, s).await?;
        let Some(ti) = caller.0.task_instance_id else {
            return Err(ApiError::Forbidden(
                "this token names no task instance".into(),
            ));
        };
        airlock_store::task_instances::require_running(&s.db, ti).await?;
        Ok(Self(caller))
    }
}
