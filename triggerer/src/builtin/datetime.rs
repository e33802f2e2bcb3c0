//! Airflow's `DateTimeTrigger` (and its `TimeDeltaTrigger`, which serialises as one).

use airlock_protocol::api::JsonObject;
use chrono::Utc;

use super::{bad, get_bool, parse_datetime, parse_duration};
use crate::trigger::{Built, TriggerError, TriggerEvent};

fn event(k: &JsonObject, moment: serde_json::Value) -> Result<TriggerEvent, TriggerError> {
    Ok(if get_bool(k, "end_from_trigger", false)? {
        TriggerEvent::TaskSuccess
    } else {
        TriggerEvent::Resume(moment)
    })
}

/// `moment` (or `target_time`), `end_from_trigger`. Fires with the moment as given.
pub fn build_date_time(k: &JsonObject) -> Result<Built, TriggerError> {
    let (name, raw) = match (k.get("moment"), k.get("target_time")) {
        (Some(m), _) => ("moment", m),
        (None, Some(t)) => ("target_time", t),
        (None, None) => return Err(bad("moment", "a datetime is required")),
    };
    let at = parse_datetime(name, raw)?;
    Ok(Built::At {
        at,
        event: event(k, raw.clone())?,
    })
}

/// `delta`, `end_from_trigger`: fires `delta` after the trigger starts.
pub fn build_time_delta(k: &JsonObject) -> Result<Built, TriggerError> {
    let delta = parse_duration(
        "delta",
        k.get("delta")
            .ok_or_else(|| bad("delta", "a duration is required"))?,
    )?;
    let at = chrono::TimeDelta::from_std(delta)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| bad("delta", "the moment it ends is out of range"))?;
    let moment = serde_json::Value::String(airlock_protocol::time::to_rfc3339(&at));
    Ok(Built::At {
        at,
        event: event(k, moment)?,
    })
}
