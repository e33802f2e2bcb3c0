//! The built-in triggers.

mod datetime;
mod file;
mod http_poll;
mod testing;

use std::time::Duration;

use airlock_protocol::api::JsonObject;
use chrono::{DateTime, Utc};
use serde_json::Value;

use airlock_protocol::triggers::{
    DATE_TIME_TRIGGER, FAILURE_TRIGGER, FILE_TRIGGER, HTTP_POLL_TRIGGER, SUCCESS_TRIGGER,
    TIME_DELTA_TRIGGER,
};

use crate::registry::TriggerRegistry;
use crate::trigger::TriggerError;

/// Registers every built-in trigger.
pub fn register(r: &mut TriggerRegistry) {
    r.register(DATE_TIME_TRIGGER, datetime::build_date_time);
    r.register(TIME_DELTA_TRIGGER, datetime::build_time_delta);
    r.register(FILE_TRIGGER, file::build);
    r.register(HTTP_POLL_TRIGGER, http_poll::build);
    r.register(SUCCESS_TRIGGER, testing::build_success);
    r.register(FAILURE_TRIGGER, testing::build_failure);
}

fn bad(name: &str, why: impl std::fmt::Display) -> TriggerError {
    TriggerError::new(format!("invalid trigger argument {name:?}: {why}"))
}

/// Reads Airflow's serde envelope `{"__classname__", "__version__", "__data__"}`, if `v` is one.
fn envelope(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    Some((m.get("__classname__")?.as_str()?, m.get("__data__")?))
}

/// A datetime as Airflow serialises it (serde envelope of pendulum or datetime), an RFC 3339
/// string, or Unix seconds.
pub fn parse_datetime(name: &str, v: &Value) -> Result<DateTime<Utc>, TriggerError> {
    let in_range =
        |dt: DateTime<Utc>| airlock_protocol::time::check_datetime(dt).map_err(|e| bad(name, e));
    let from_secs = |secs: f64| {
        if !secs.is_finite() {
            return Err(bad(name, "timestamp is not finite"));
        }
        DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
            .ok_or_else(|| bad(name, "timestamp out of range"))
            .and_then(in_range)
    };
    match v {
        Value::String(s) => airlock_protocol::time::parse_rfc3339(s)
            .map_err(|e| bad(name, e))
            .and_then(in_range),
        Value::Number(n) => from_secs(n.as_f64().ok_or_else(|| bad(name, "not a number"))?),
        _ => match envelope(v) {
            Some((class, data)) if class.ends_with("DateTime") || class == "datetime.datetime" => {
                match data.get("timestamp").and_then(Value::as_f64) {
                    Some(ts) => from_secs(ts),
                    None => parse_datetime(name, data),
                }
            }
            _ => Err(bad(name, format!("expected a datetime, got {v}"))),
        },
    }
}

/// A duration as Airflow serialises a timedelta (serde envelope of seconds), an ISO-8601
/// string, or seconds; at most 100 years.
pub fn parse_duration(name: &str, v: &Value) -> Result<Duration, TriggerError> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => airlock_protocol::time::IsoDuration::parse(s)
            .ok()
            .map(|d| d.as_secs_f64()),
        _ => match envelope(v) {
            Some(("datetime.timedelta", data)) => data.as_f64(),
            _ => None,
        },
    }
    .ok_or_else(|| bad(name, format!("expected a duration, got {v}")))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad(name, "must be a non-negative number of seconds"));
    }
    if secs > airlock_protocol::time::MAX_DURATION_SECS as f64 {
        return Err(bad(name, format!("{secs} s is longer than 100 years")));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn get_bool(k: &JsonObject, name: &str, default: bool) -> Result<bool, TriggerError> {
    match k.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(name, format!("expected true or false, got {other}"))),
    }
}

fn get_str<'a>(k: &'a JsonObject, name: &str) -> Result<&'a str, TriggerError> {
    k.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(name, "a string is required"))
}

fn get_interval(k: &JsonObject, name: &str, default: f64) -> Result<Duration, TriggerError> {
    match k.get(name) {
        None | Some(Value::Null) => Ok(Duration::from_secs_f64(default)),
        Some(v) => parse_duration(name, v),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_airflow_serde_datetimes_and_timedeltas() {
        let pendulum = json!({"__classname__": "pendulum.datetime.DateTime", "__version__": 2,
            "__data__": {"timestamp": 1767268800.0, "tz": {"__classname__": "builtins.tuple", "__version__": 1,
            "__data__": ["UTC", "pendulum.tz.timezone.Timezone", 1, true]}}});
        let expected = airlock_protocol::time::parse_rfc3339("2026-01-01T12:00:00Z").unwrap();
        assert_eq!(parse_datetime("moment", &pendulum).unwrap(), expected);
        assert_eq!(
            parse_datetime("moment", &json!("2026-01-01T13:00:00+01:00")).unwrap(),
            expected
        );
        assert_eq!(
            parse_datetime("moment", &json!(1767268800)).unwrap(),
            expected
        );
        assert!(parse_datetime("moment", &json!("yesterday")).is_err());
        assert!(parse_datetime("moment", &json!({"a": 1})).is_err());
        let td = json!({"__classname__": "datetime.timedelta", "__version__": 2, "__data__": 90.5});
        assert_eq!(
            parse_duration("delta", &td).unwrap(),
            Duration::from_secs_f64(90.5)
        );
        assert_eq!(
            parse_duration("delta", &json!("PT2M")).unwrap(),
            Duration::from_secs(120)
        );
        assert!(parse_duration("delta", &json!(-1)).is_err());
        for huge in [json!(1e13), json!(1e20), json!(f64::MAX)] {
            assert!(parse_duration("delta", &huge).is_err(), "{huge}");
        }
        assert!(parse_datetime("moment", &json!(1e20)).is_err());
        assert!(parse_datetime("moment", &json!("+262142-01-01T00:00:00Z")).is_err());
    }
}
