//! Triggers a task can defer to, with the class paths and arguments Airflow's triggers use.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// What a deferred task waits for: a trigger class path and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The trigger's class path (how the triggerer finds its implementation).
    pub classpath: String,
    /// Its arguments.
    pub kwargs: Map<String, Value>,
}

pub use airlock_protocol::triggers::{
    DATE_TIME_TRIGGER, FILE_TRIGGER, HTTP_POLL_TRIGGER, HttpPollArgs, ResponseCondition,
};

/// `at` in Airflow's serde envelope for datetimes (what its `DateTimeTrigger` expects).
pub fn serde_datetime(at: DateTime<Utc>) -> Value {
    let ts = at.timestamp() as f64 + f64::from(at.timestamp_subsec_micros()) / 1e6;
    json!({
        "__classname__": "pendulum.datetime.DateTime",
        "__version__": 2,
        "__data__": {
            "timestamp": ts,
            "tz": {"__classname__": "builtins.tuple", "__version__": 1, "__data__": ["UTC", "pendulum.tz.timezone.Timezone", 1, true]}
        }
    })
}

impl Trigger {
    /// Any trigger, by class path.
    pub fn new(classpath: impl Into<String>, kwargs: Value) -> Self {
        let kwargs = match kwargs {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        Self {
            classpath: classpath.into(),
            kwargs,
        }
    }

    /// Fires at `at`; the resume method gets the moment as `event`.
    pub fn date_time(at: DateTime<Utc>) -> Self {
        Self::new(
            DATE_TIME_TRIGGER,
            json!({"moment": serde_datetime(at), "end_from_trigger": false}),
        )
    }

    /// Fires at `at` and finishes the task as successful without resuming it.
    pub fn date_time_then_succeed(at: DateTime<Utc>) -> Self {
        Self::new(
            DATE_TIME_TRIGGER,
            json!({"moment": serde_datetime(at), "end_from_trigger": true}),
        )
    }

    /// Fires `after` from now.
    pub fn time_delta(after: Duration) -> Self {
        let at = Utc::now() + chrono::TimeDelta::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
        Self::date_time(at)
    }

    /// Fires when a file matching `glob` exists, checking every `poke_interval`.
    pub fn file(glob: impl Into<String>, recursive: bool, poke_interval: Duration) -> Self {
        Self::new(
            FILE_TRIGGER,
            json!({"filepath": glob.into(), "recursive": recursive, "poke_interval": poke_interval.as_secs_f64()}),
        )
    }
}

/// Polls a status URL until the job behind it is done (the "external job tracker"); the
/// triggerer reads the same [`HttpPollArgs`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPoll(pub HttpPollArgs);

impl HttpPoll {
    /// Polls `url` every 5 s until it answers 2xx with `done_when` met.
    pub fn new(url: impl Into<String>, done_when: ResponseCondition) -> Self {
        Self(HttpPollArgs {
            url: url.into(),
            method: "GET".into(),
            headers: Default::default(),
            body: None,
            poke_interval: 5.0,
            request_timeout: 10.0,
            success: done_when,
            failure: None,
        })
    }

    /// Fails the task when `cond` is met.
    pub fn failed_when(mut self, cond: ResponseCondition) -> Self {
        self.0.failure = Some(cond);
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.headers.insert(name.into(), value.into());
        self
    }

    /// Time between polls.
    pub fn every(mut self, interval: Duration) -> Self {
        self.0.poke_interval = interval.as_secs_f64();
        self
    }
}

impl From<HttpPoll> for Trigger {
    fn from(p: HttpPoll) -> Self {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        let kwargs = serde_json::to_value(&p.0).unwrap_or_default();
        Trigger::new(HTTP_POLL_TRIGGER, kwargs)
    }
}
