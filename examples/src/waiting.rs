//! Deferral: a task that frees its worker while it waits, and resumes when the trigger fires.

use std::time::Duration;

use airlock_sdk::{Context, Dag, Deferral, Operator, Task, TaskResult, Trigger};
use serde_json::{Map, Value, json};

/// Waits `delay` without holding a worker, then reports when it woke up.
pub struct WaitFor {
    delay: Duration,
}

impl Operator for WaitFor {
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult {
        ctx.log().info(&format!("deferring for {:?}", self.delay));
        let deferral = Deferral::new(Trigger::time_delta(self.delay), "execute_complete")
            .with_kwarg("requested_secs", self.delay.as_secs_f64())
            .timeout(Duration::from_secs(300));
        Err(deferral.into())
    }

    fn resume(
        &self,
        ctx: &mut Context<'_>,
        method: &str,
        kwargs: &Map<String, Value>,
    ) -> TaskResult {
        ctx.log().info(&format!(
            "resumed in {method} with {}",
            Value::Object(kwargs.clone())
        ));
        Ok(
            json!({"resumed_in": method, "event": kwargs.get("event"), "requested_secs": kwargs.get("requested_secs")}),
        )
    }
}

/// Defers for one second, then finishes.
pub fn wait_for_time() -> Dag {
    Dag::new("wait_for_time").tags(["example"]).task(Task::new(
        "wait",
        WaitFor {
            delay: Duration::from_secs(1),
        },
    ))
}
