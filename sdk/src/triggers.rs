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

/// Airflow's `DateTimeTrigger` (also what its `TimeDeltaTrigger` becomes).
pub const DATE_TIME_TRIGGER: &str = "airflow.providers.standard.triggers.temporal.DateTimeTrigger";
/// Airflow's `FileTrigger`.
pub const FILE_TRIGGER: &str = "airflow.providers.standard.triggers.file.FileTrigger";

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

/// Airlock's HTTP poll trigger (the triggerer's `airlock.triggers.http.HttpPollTrigger`).
pub const HTTP_POLL_TRIGGER: &str = "airlock.triggers.http.HttpPollTrigger";

/// A condition on an HTTP response: a status among `status_codes` (any 2xx if none are given
/// for success) and, if `json_pointer` is set, the value it points at among `values`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseCondition {
    /// Accepted statuses.
    pub status_codes: Option<Vec<u16>>,
    /// A JSON pointer into the response body (`/status`).
    pub json_pointer: Option<String>,
    /// Values the pointer may point at.
    pub values: Vec<Value>,
}

impl ResponseCondition {
    /// The body's value at `pointer` is one of `values`.
    pub fn json(pointer: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Self {
        Self {
            status_codes: None,
            json_pointer: Some(pointer.into()),
            values: values.into_iter().collect(),
        }
    }

    /// The status is one of `codes`.
    pub fn status(codes: impl IntoIterator<Item = u16>) -> Self {
        Self {
            status_codes: Some(codes.into_iter().collect()),
            json_pointer: None,
            values: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"status_codes": self.status_codes, "json_pointer": self.json_pointer, "values": self.values})
    }
}

/// Polls a status URL until the job behind it is done (the "external job tracker").
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPoll {
    /// The status URL.
    pub url: String,
    /// HTTP method (GET).
    pub method: String,
    /// Request headers.
    pub headers: Map<String, Value>,
    /// When the job is done.
    pub done_when: ResponseCondition,
    /// When the job failed.
    pub failed_when: Option<ResponseCondition>,
    /// Time between polls.
    pub poke_interval: Duration,
}

impl HttpPoll {
    /// Polls `url` every 5 s until it answers 2xx with `done_when` met.
    pub fn new(url: impl Into<String>, done_when: ResponseCondition) -> Self {
        Self {
            url: url.into(),
            method: "GET".into(),
            headers: Map::new(),
            done_when,
            failed_when: None,
            poke_interval: Duration::from_secs(5),
        }
    }

    /// Fails the task when `cond` is met.
    pub fn failed_when(mut self, cond: ResponseCondition) -> Self {
        self.failed_when = Some(cond);
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.into(), Value::String(value.into()));
        self
    }

    /// Time between polls.
    pub fn every(mut self, interval: Duration) -> Self {
        self.poke_interval = interval;
        self
    }
}

impl From<HttpPoll> for Trigger {
    fn from(p: HttpPoll) -> Self {
        Trigger::new(
            HTTP_POLL_TRIGGER,
            json!({
                "url": p.url,
                "method": p.method,
                "headers": p.headers,
                "poke_interval": p.poke_interval.as_secs_f64(),
                "success": p.done_when.to_json(),
                "failure": p.failed_when.map(|c| c.to_json()),
            }),
        )
    }
}
