//! A triggerer build with a custom trigger: `airlock.examples.Countdown` fires after `seconds`,
//! reporting how many ticks it counted. Run it like the stock `triggerer`.

use std::time::Duration;

use airlock_protocol::api::JsonObject;
use airlock_triggerer::{
    BoxFuture, Built, Trigger, TriggerContext, TriggerError, TriggerEvent, Triggerer,
};
use serde_json::json;

struct Countdown {
    seconds: u64,
}

impl Trigger for Countdown {
    fn run(self: Box<Self>, ctx: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
        Box::pin(async move {
            for tick in 1..=self.seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                tracing::debug!(trigger = ctx.trigger_id, tick, "counting down");
            }
            Ok(TriggerEvent::Resume(json!({"ticks": self.seconds})))
        })
    }
}

fn countdown(kwargs: &JsonObject) -> Result<Built, TriggerError> {
    let seconds = kwargs
        .get("seconds")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| TriggerError::new("`seconds` (a whole number) is required"))?;
    Ok(Built::Run(Box::new(Countdown { seconds })))
}

fn main() -> std::process::ExitCode {
    Triggerer::builder()
        .register("airlock.examples.Countdown", countdown)
        .main()
}
