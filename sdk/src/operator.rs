//! What a task does.

use serde_json::{Map, Value};

use crate::context::Context;
use crate::error::{TaskError, TaskResult};

/// A task's behaviour. Closures `Fn(&mut Context) -> TaskResult` are operators too.
pub trait Operator: Send + Sync + 'static {
    /// Runs the task. The returned value (unless null) becomes the `return_value` XCom.
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult;

    /// Resumes a deferred task in `method` with `kwargs` (the trigger's event is under
    /// `kwargs["event"]`).
    fn resume(
        &self,
        ctx: &mut Context<'_>,
        method: &str,
        kwargs: &Map<String, Value>,
    ) -> TaskResult {
        let _ = (ctx, kwargs);
        Err(TaskError::fail_no_retry(format!(
            "this operator cannot resume in {method:?}: it never defers"
        )))
    }

    /// A short name for DAG listings.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("Operator")
    }
}

impl<F> Operator for F
where
    F: Fn(&mut Context<'_>) -> TaskResult + Send + Sync + 'static,
{
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult {
        self(ctx)
    }

    fn type_name(&self) -> &'static str {
        "FnOperator"
    }
}
