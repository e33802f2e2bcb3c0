//! An external job: the task starts a job on another system, then defers, freeing its worker,
//! while the triggerer polls the job's status URL. It resumes when the job is done. The other
//! system is a stand-in HTTP service (`example-bundle job-server`), running on its own: a try's
//! processes all end with the try. The run's conf names its address (`{"service": "host:port"}`).

use std::time::Duration;

use airlock_sdk::{
    Context, Dag, Deferral, HttpPoll, Operator, ResponseCondition, Task, TaskError, TaskResult,
};
use serde_json::{Map, Value, json};

/// Submits a job with a bare HTTP/1.1 request (the example avoids an HTTP client dependency).
fn submit(addr: &str) -> Result<Value, TaskError> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST /jobs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| TaskError::fail("malformed answer from the job service"))?;
    Ok(serde_json::from_str(body)?)
}

/// Starts a job, then waits for it without holding a worker.
pub struct RunExternalJob;

impl Operator for RunExternalJob {
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult {
        let addr = ctx
            .conf()
            .get("service")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                TaskError::fail_no_retry(
                    "conf.service (host:port of the job service) is required: start one with \
                     `example-bundle job-server` and trigger with --conf '{\"service\": \"...\"}'",
                )
            })?;
        let job = submit(&addr)?;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let url = format!("http://{addr}/jobs/{id}");
        ctx.log().info(&format!(
            "submitted job {id} at {url}; deferring until it is done"
        ));
        let poll = HttpPoll::new(&url, ResponseCondition::json("/status", [json!("done")]))
            .failed_when(ResponseCondition::json("/status", [json!("failed")]))
            .every(Duration::from_millis(500));
        Err(Deferral::new(poll.into(), "job_done")
            .with_kwarg("job_url", url)
            .timeout(Duration::from_secs(600))
            .into())
    }

    fn resume(
        &self,
        ctx: &mut Context<'_>,
        method: &str,
        kwargs: &Map<String, Value>,
    ) -> TaskResult {
        let body = &kwargs
            .get("event")
            .and_then(|e| e.get("body"))
            .cloned()
            .unwrap_or(Value::Null);
        ctx.log()
            .info(&format!("resumed in {method}: the job answered {body}"));
        Ok(json!({"job": body["id"], "result": body["result"]}))
    }
}

/// Start an external job, wait for it while deferred, then report its result.
pub fn external_job() -> Dag {
    Dag::new("external_job")
        .description("Start a job on an external service and wait for it while deferred")
        .tags(["example", "deferral"])
        .task(Task::new("run_job", RunExternalJob))
        .task(Task::new("report", report).after(["run_job"]))
}

fn report(ctx: &mut Context<'_>) -> TaskResult {
    let outcome: Value = ctx
        .xcom_pull("run_job")?
        .ok_or_else(|| TaskError::fail("run_job returned nothing"))?;
    ctx.log()
        .info(&format!("the external job produced {outcome}"));
    Ok(outcome)
}
