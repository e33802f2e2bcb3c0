//! An external job: the task starts a job on another system (a local HTTP service here), then
//! defers, freeing its worker, while the triggerer polls the job's status URL. It resumes when
//! the job is done.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use airlock_sdk::{
    Context, Dag, Deferral, HttpPoll, Operator, ResponseCondition, Task, TaskError, TaskResult,
};
use serde_json::{Map, Value, json};

/// Starts the job service (detached: it outlives this task) and returns its address.
fn start_job_service(work_secs: f64) -> Result<String, TaskError> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["job-server", "--work-secs", &work_secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| TaskError::fail("the job service has no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_owned)
        .ok_or_else(|| TaskError::fail(format!("the job service said {line:?}")))
}

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
        let work = ctx
            .conf()
            .get("work_secs")
            .and_then(Value::as_f64)
            .unwrap_or(2.0);
        let addr = start_job_service(work)?;
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
