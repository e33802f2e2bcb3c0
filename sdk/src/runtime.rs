//! Running one task try inside a bundle process: read `StartupDetails`, find the task, clear
//! stale XComs, execute (or resume), push the return value, and send exactly one terminal
//! message. A panic in user code fails the task with the panic message in the log.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::sync::Arc;

use airlock_protocol::api::{
    DeferredLiteral, SuccessLiteral, UpForRescheduleLiteral, UpForRetryLiteral,
};
use airlock_protocol::comms::*;
use airlock_protocol::state::TerminalStateNonSuccess;
use airlock_protocol::time::IsoDuration;
use airlock_task_runner::{SupervisorComms, TaskLogger};
use chrono::Utc;
use serde_json::Value;

use crate::context::{Context, RETURN_VALUE};
use crate::dag::{Dag, Task};
use crate::error::TaskError;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

fn execute(
    task: &Task,
    ctx: &mut Context<'_>,
    startup: &StartupDetails,
) -> Result<Value, TaskError> {
    let context = &startup.ti_context;
    match context.next_method.as_deref() {
        None => task.operator.execute(ctx),
        Some("__fail__") => {
            let kwargs = context.next_kwargs.as_ref().and_then(Value::as_object);
            let error = kwargs
                .and_then(|k| k.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("trigger failure");
            let trace = kwargs
                .and_then(|k| k.get("traceback"))
                .map(Value::to_string)
                .unwrap_or_default();
            Err(TaskError::fail(
                format!("deferral failed: {error} {trace}")
                    .trim_end()
                    .to_owned(),
            ))
        }
        Some(method) => {
            let kwargs = context
                .next_kwargs
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            task.operator.resume(ctx, method, &kwargs)
        }
    }
}

/// What to tell the supervisor about a finished `execute`.
fn terminal_message(result: Result<(), TaskError>, should_retry: bool) -> (ToSupervisor, String) {
    let now = Utc::now();
    let failed = |why: String| {
        if should_retry {
            let m = RetryTask {
                state: UpForRetryLiteral::Value,
                end_date: now,
                rendered_map_index: None,
                retry_delay_seconds: None,
                retry_reason: Some(why.clone()),
            };
            (
                ToSupervisor::RetryTask(m),
                format!("failed, will retry: {why}"),
            )
        } else {
            let m = TaskState {
                state: TerminalStateNonSuccess::Failed,
                end_date: Some(now),
                rendered_map_index: None,
            };
            (ToSupervisor::TaskState(m), format!("failed: {why}"))
        }
    };
    match result {
        Ok(()) => (
            ToSupervisor::SucceedTask(SucceedTask {
                state: SuccessLiteral::Value,
                end_date: now,
                task_outlets: Some(Vec::new()),
                outlet_events: Some(Vec::new()),
                rendered_map_index: None,
            }),
            "succeeded".into(),
        ),
        Err(TaskError::Failed { message }) => failed(message),
        Err(TaskError::FailedNoRetry { message }) => failed_no_retry(message),
        Err(TaskError::Skipped { reason }) => (
            ToSupervisor::TaskState(TaskState {
                state: TerminalStateNonSuccess::Skipped,
                end_date: Some(now),
                rendered_map_index: None,
            }),
            format!("skipped: {reason}"),
        ),
        Err(TaskError::Retry { reason, delay }) if should_retry => (
            ToSupervisor::RetryTask(RetryTask {
                state: UpForRetryLiteral::Value,
                end_date: now,
                rendered_map_index: None,
                retry_delay_seconds: delay.map(|d| d.as_secs_f64()),
                retry_reason: Some(reason.clone()),
            }),
            format!("will retry: {reason}"),
        ),
        Err(TaskError::Retry { reason, .. }) => {
            failed_no_retry(format!("{reason} (no retries left)"))
        }
        Err(TaskError::Reschedule { at }) => (
            ToSupervisor::RescheduleTask(RescheduleTask {
                state: UpForRescheduleLiteral::Value,
                reschedule_date: at,
                end_date: now,
            }),
            format!("rescheduled to {at}"),
        ),
        Err(TaskError::Defer(d)) => {
            let timeout = d
                .timeout
                .and_then(|t| chrono::TimeDelta::from_std(t).ok())
                .map(IsoDuration);
            let msg = DeferTask {
                state: DeferredLiteral::Value,
                classpath: d.trigger.classpath.clone(),
                trigger_kwargs: Some(Value::Object(d.trigger.kwargs)),
                trigger_timeout: timeout,
                queue: None,
                next_method: d.next_method.clone(),
                next_kwargs: Some(d.next_kwargs.into_iter().collect()),
                rendered_map_index: None,
            };
            (
                ToSupervisor::DeferTask(msg),
                format!(
                    "deferred to {} (resume in {})",
                    d.trigger.classpath, d.next_method
                ),
            )
        }
    }
}

fn failed_no_retry(why: String) -> (ToSupervisor, String) {
    let m = TaskState {
        state: TerminalStateNonSuccess::Failed,
        end_date: Some(Utc::now()),
        rendered_map_index: None,
    };
    (ToSupervisor::TaskState(m), format!("failed: {why}"))
}

/// Pushes the return value (with its length when a downstream task maps over it).
fn push_result(
    ctx: &mut Context<'_>,
    dag: &Dag,
    startup: &StartupDetails,
    value: Value,
) -> Result<(), TaskError> {
    if value.is_null() {
        return Ok(());
    }
    let ti = &startup.ti;
    let mapped_length = if dag.is_mapped_over(&ti.task_id) {
        let n = value.as_array().map(Vec::len).ok_or_else(|| {
            TaskError::fail_no_retry(
                "a downstream task maps over this task's result, which must be a list",
            )
        })?;
        Some(n as i64)
    } else {
        None
    };
    let msg = SetXCom {
        key: RETURN_VALUE.into(),
        value,
        dag_id: ti.dag_id.clone(),
        run_id: ti.run_id.clone(),
        task_id: ti.task_id.clone(),
        map_index: (ti.map_index >= 0).then_some(ti.map_index),
        dag_result: false,
        mapped_length,
    };
    ctx.request(ToSupervisor::SetXCom(msg))?;
    Ok(())
}

/// Runs the task the supervisor asks for; the exit code is 0 once a terminal message was
/// delivered.
pub fn run(dags: &[Dag]) -> ExitCode {
    let mut logger = TaskLogger::from_env();
    let mut comms = match SupervisorComms::from_stdin() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let startup = match comms.receive_startup() {
        Ok(s) => s,
        Err(e) => {
            logger.error(&format!("no StartupDetails from the supervisor: {e}"));
            return ExitCode::from(1);
        }
    };
    let ti = &startup.ti;
    for (k, v) in [
        ("ti_id", ti.id.to_string()),
        ("dag_id", ti.dag_id.clone()),
        ("task_id", ti.task_id.clone()),
        ("run_id", ti.run_id.clone()),
    ] {
        logger.bind(k, v);
    }
    logger.bind("try_number", ti.try_number);
    logger.bind("map_index", ti.map_index);
    let logger = Arc::new(logger);
    let Some((dag, task)) = dags
        .iter()
        .find(|d| d.dag_id() == ti.dag_id)
        .and_then(|d| Some((d, d.get(&ti.task_id)?)))
    else {
        let why = format!(
            "this bundle has no task {:?} in DAG {:?}",
            ti.task_id, ti.dag_id
        );
        logger.error(&why);
        let (msg, _) = failed_no_retry(why);
        return match comms.request(msg) {
            Ok(_) => ExitCode::from(1),
            Err(_) => ExitCode::from(1),
        };
    };

    {
        let hook_logger = logger.clone();
        std::panic::set_hook(Box::new(move |info| {
            hook_logger.error(&format!("task panicked: {info}"))
        }));
    }
    let should_retry = startup.ti_context.should_retry;
    let outcome = {
        let mut ctx = Context::new(&mut comms, &logger, &startup, task.def.map_over.as_deref());
        let mut clear = || -> Result<(), TaskError> {
            for key in &startup.ti_context.xcom_keys_to_clear {
                let msg = DeleteXCom {
                    key: key.clone(),
                    dag_id: ti.dag_id.clone(),
                    run_id: ti.run_id.clone(),
                    task_id: ti.task_id.clone(),
                    map_index: (ti.map_index >= 0).then_some(ti.map_index),
                };
                ctx.request(ToSupervisor::DeleteXCom(msg))?;
            }
            Ok(())
        };
        clear().and_then(|()| {
            logger.info(if startup.ti_context.next_method.is_some() {
                "resuming task"
            } else {
                "starting task"
            });
            match catch_unwind(AssertUnwindSafe(|| execute(task, &mut ctx, &startup))) {
                Ok(result) => result.and_then(|value| push_result(&mut ctx, dag, &startup, value)),
                Err(payload) => Err(TaskError::fail(format!(
                    "panic: {}",
                    panic_message(payload.as_ref())
                ))),
            }
        })
    };
    let (msg, summary) = terminal_message(outcome, should_retry);
    logger.info(&format!("task {summary}"));
    match comms.request(msg) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            logger.error(&format!("could not report the outcome: {e}"));
            ExitCode::from(1)
        }
    }
}
