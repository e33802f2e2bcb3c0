//! Airflow's testing triggers: one that fires at once, one that fails at once.

use airlock_protocol::api::JsonObject;
use serde_json::Value;

use crate::trigger::{BoxFuture, Built, Trigger, TriggerContext, TriggerError, TriggerEvent};

/// Builds the success trigger.
pub fn build_success(_: &JsonObject) -> Result<Built, TriggerError> {
    Ok(Built::At {
        at: chrono::Utc::now(),
        event: TriggerEvent::Resume(Value::Bool(true)),
    })
}

struct Fails;

impl Trigger for Fails {
    fn run(self: Box<Self>, _: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
        Box::pin(async {
            Err(TriggerError {
                message: "ValueError: FailureTrigger always fails".into(),
                traceback: vec!["raised by airflow.triggers.testing.FailureTrigger".into()],
            })
        })
    }
}

/// Builds the failure trigger.
pub fn build_failure(_: &JsonObject) -> Result<Built, TriggerError> {
    Ok(Built::Run(Box::new(Fails)))
}
