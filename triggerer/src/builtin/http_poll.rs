//! Airlock's HTTP poll trigger: the "external job tracker". A task starts a job somewhere else
//! and defers; this trigger polls the job's status URL until a success or failure condition.
//!
//! Arguments:
//! ```json
//! {"url": "http://jobs.internal/jobs/42", "method": "GET", "headers": {"Authorization": "..."},
//!  "body": null, "poke_interval": 5.0, "request_timeout": 10.0,
//!  "success": {"status_codes": [200], "json_pointer": "/status", "values": ["done"]},
//!  "failure": {"status_codes": [410], "json_pointer": "/status", "values": ["failed"]}}
//! ```
//! Success needs a success status (any 2xx when `status_codes` is absent) and, if a pointer is
//! given, the pointed value among `values`. Failure is a failure status, or the failure
//! pointer's value among its `values`. Anything else (including connection errors) polls on.
//! The event is `{"status": <code>, "body": <JSON or text>}`.

use std::time::Duration;

use airlock_protocol::api::JsonObject;
use airlock_protocol::triggers::{HttpPollArgs, ResponseCondition};
use reqwest::Method;
use serde_json::{Value, json};

use super::bad;
use crate::trigger::{BoxFuture, Built, Trigger, TriggerContext, TriggerError, TriggerEvent};

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() && v > 0.0 {
        v.min(86_400.0)
    } else {
        1.0
    })
}

/// The trigger: its arguments, as the SDK wrote them.
struct HttpPoll(HttpPollArgs);

/// Whether a response meets a condition; `default_ok` decides when no codes are listed.
fn met(c: &ResponseCondition, status: u16, body: &Value, default_ok: impl Fn(u16) -> bool) -> bool {
    let status_ok = match &c.status_codes {
        Some(codes) => codes.contains(&status),
        None => default_ok(status),
    };
    let value_ok = match &c.json_pointer {
        Some(ptr) => body.pointer(ptr).is_some_and(|v| c.values.contains(v)),
        None => true,
    };
    status_ok && value_ok
}

enum Poll {
    Done(Value),
    Failed(String),
    Again(String),
}

impl HttpPoll {
    async fn poll_once(&self, http: &reqwest::Client) -> Poll {
        let args = &self.0;
        let method =
            Method::from_bytes(args.method.to_ascii_uppercase().as_bytes()).unwrap_or(Method::GET);
        let mut req = http
            .request(method, &args.url)
            .timeout(secs(args.request_timeout));
        for (k, v) in &args.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &args.body {
            req = req.json(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Poll::Again(format!("request failed: {e}")),
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        let seen = json!({"status": status, "body": body});
        if let Some(f) = &args.failure {
            let failed_status = f.status_codes.as_ref().is_some_and(|c| c.contains(&status));
            let failed_value = f
                .json_pointer
                .as_ref()
                .is_some_and(|p| body.pointer(p).is_some_and(|v| f.values.contains(v)));
            if failed_status || failed_value {
                return Poll::Failed(format!("the job failed: HTTP {status}: {body}"));
            }
        }
        if met(&args.success, status, &body, |s| (200..300).contains(&s)) {
            Poll::Done(seen)
        } else {
            Poll::Again(format!("not done yet: HTTP {status}"))
        }
    }
}

impl Trigger for HttpPoll {
    fn run(self: Box<Self>, ctx: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
        Box::pin(async move {
            loop {
                match self.poll_once(&ctx.http).await {
                    Poll::Done(event) => return Ok(TriggerEvent::Resume(event)),
                    Poll::Failed(why) => return Err(TriggerError::new(why)),
                    Poll::Again(why) => {
                        tracing::debug!(trigger = ctx.trigger_id, url = %self.0.url, "{why}");
                        tokio::time::sleep(secs(self.0.poke_interval)).await;
                    }
                }
            }
        })
    }
}

/// Builds the trigger (see the module docs for the arguments).
pub fn build(k: &JsonObject) -> Result<Built, TriggerError> {
    let args: HttpPollArgs = serde_json::from_value(Value::Object(k.clone().into_iter().collect()))
        .map_err(|e| bad("kwargs", e))?;
    reqwest::Url::parse(&args.url).map_err(|e| bad("url", e))?;
    Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| bad("method", e))?;
    Ok(Built::Run(Box::new(HttpPoll(args))))
}
