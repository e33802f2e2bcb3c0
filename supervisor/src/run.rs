//! One task try, start to finish: fetch what is needed, start the runner, `PATCH /run`, send
//! `StartupDetails`, serve requests while heartbeating and capturing logs, stop the runner when
//! it must stop, and report the final state exactly once.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_api_client::{ApiClient, ClientConfig, ClientError, RetryPolicy};
use airlock_protocol::api::{
    RunningLiteral, TIEnterRunningPayload, TIHeartbeatInfo, TIRunContext, TIStatePayload,
    TITerminalStatePayload, TaskInstanceDetails,
};
use airlock_protocol::comms::{BundleInfo, ResponseFrame, StartupDetails, TaskInstance, ToTask};
use airlock_protocol::state::TerminalStateNonSuccess;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::config::SupervisorConfig;
use crate::heartbeat::spawn_heartbeat;
use crate::logs::{Source, TaskLog, log_path};
use crate::outcome::{Outcome, StopReason, TryState, decide};
use crate::proxy::{Proxy, Reply, fenced, refused};

/// A boxed future, as the loop holds the request being answered.
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
use crate::cgroup::TryCgroup;
use crate::sandbox::Sandbox;
use crate::secrets::Redactor;
use crate::spawn::{Launch, SpawnError, make_work_dir, resolve_runner, spawn_runner, task_user};

/// Removes a try's working directory when the try is over, however it ended.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Why a try could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The task instance could not be read.
    #[error("cannot read task instance {ti}: {source}")]
    Details {
        /// The task instance.
        ti: Uuid,
        /// Why.
        source: ClientError,
    },
    /// The task instance's DAG names no bundle.
    #[error("task instance {0} belongs to a DAG without a bundle: nothing to run")]
    NoBundle(Uuid),
    /// The runner could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The task log could not be opened.
    #[error("cannot open the task log {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process already runs this try.
    #[error("task instance {0} is already running elsewhere")]
    AlreadyRunning(Uuid),
    /// The server refused to start the try.
    #[error("the server refused to start task instance {ti}: {source}")]
    StartRefused {
        /// The task instance.
        ti: Uuid,
        /// The refusal.
        source: ClientError,
    },
    /// The API client could not be configured.
    #[error(transparent)]
    Client(ClientError),
}

impl SupervisorError {
    /// The process exit code (documented in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::AlreadyRunning(_) => 5,
            Self::Client(_) => 64,
            _ => 4,
        }
    }
}

/// How a try ended.
#[derive(Debug)]
pub struct RunReport {
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// The task log.
    pub log_path: PathBuf,
}

fn identity() -> (String, String) {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::geteuid().to_string());
    (host, user)
}

fn startup_details(
    d: &TaskInstanceDetails,
    bundle: &str,
    host: &str,
    ctx: TIRunContext,
    traceparent: Option<String>,
) -> StartupDetails {
    StartupDetails {
        ti: TaskInstance {
            id: d.id,
            task_id: d.task_id.clone(),
            dag_id: d.dag_id.clone(),
            run_id: d.run_id.clone(),
            try_number: d.try_number,
            dag_version_id: d.dag_version_id,
            map_index: d.map_index,
            hostname: Some(host.to_owned()),
            context_carrier: traceparent.map(|tp| {
                airlock_protocol::api::JsonObject::from_iter([(
                    "traceparent".to_owned(),
                    serde_json::Value::String(tp),
                )])
            }),
            queue: d.queue.clone(),
        },
        dag_rel_path: d.dag_rel_path.clone().unwrap_or_default(),
        bundle_info: BundleInfo {
            name: bundle.to_owned(),
            version: d.bundle_version.clone(),
        },
        start_date: ctx.start_date.unwrap_or_else(chrono::Utc::now),
        ti_context: ctx,
        sentry_integration: String::new(),
    }
}

/// Reports the final state (the client retries through an outage). A report the server refuses
/// for its content (4xx other than "this try is over") is replaced by `failed`, so that a try
/// never stays `running` until the heartbeat timeout; the refusal goes in the task log.
async fn report_final(
    client: &ApiClient,
    ti_id: Uuid,
    payload: &TIStatePayload,
    outcome: Outcome,
    log: &TaskLog,
) -> Outcome {
    let target = payload.target_state();
    let refusal = match client.update_state(ti_id, payload).await {
        Ok(()) => return outcome,
        Err(e) if try_is_over(&e) => {
            log.note(
                "warning",
                format!("the server no longer takes reports for this try: {e}"),
            );
            return Outcome::Stopped;
        }
        Err(e) if matches!(e.status(), Some(400..=499)) => e,
        Err(e) => {
            log.note(
                "error",
                format!("could not report the final state ({target}): {e}"),
            );
            return Outcome::Unreported;
        }
    };
    log.note(
        "error",
        format!("the server refused {target} ({refusal}); reporting failed instead"),
    );
    let failed = TIStatePayload::Terminal(TITerminalStatePayload {
        state: TerminalStateNonSuccess::Failed,
        end_date: chrono::Utc::now(),
        rendered_map_index: None,
    });
    match client.update_state(ti_id, &failed).await {
        Ok(()) => Outcome::Failed,
        Err(e) => {
            log.note("error", format!("could not report failed either: {e}"));
            Outcome::Unreported
        }
    }
}

/// Whether an answer means the try is over on the server (archived, or no longer running).
fn try_is_over(e: &ClientError) -> bool {
    matches!(e.status(), Some(404 | 410))
        || (e.status() == Some(409) && matches!(e.reason(), Some("invalid_state" | "not_running")))
}

/// Signals the runner's process group (ignoring a group that is already gone).
fn signal_group(pid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pid), sig);
}

/// Runs one try of `ti_id`, authenticating with `token` (a workload or execution token).
pub async fn run(
    cfg: &SupervisorConfig,
    token: String,
    ti_id: Uuid,
) -> Result<RunReport, SupervisorError> {
    let client_cfg = ClientConfig {
        timeout: cfg.api_timeout,
        retry: RetryPolicy::outage(cfg.outage_budget),
        ..ClientConfig::new(cfg.api_url.clone())
    };
    let trace = crate::trace::Exporter::from_env()
        .map(|exporter| Arc::new(crate::trace::TryTrace::start(exporter)));
    let mut client = ApiClient::new(client_cfg, token).map_err(SupervisorError::Client)?;
    if let Some(t) = &trace {
        client = client.observed_by(t.clone());
    }
    let details = client
        .task_instance_details(ti_id)
        .await
        .map_err(|source| SupervisorError::Details { ti: ti_id, source })?;
    let bundle = details
        .bundle_name
        .clone()
        .ok_or(SupervisorError::NoBundle(ti_id))?;
    let exe = resolve_runner(&cfg.bundles_dir, &bundle, details.bundle_version.as_deref())?;

    let path = log_path(
        &cfg.log_dir,
        &details.dag_id,
        &details.run_id,
        &details.task_id,
        details.map_index,
        details.try_number,
    );
    let redactor = Arc::new(Mutex::new(Redactor::default()));
    let ship = cfg.ship_logs.then(|| {
        let (host, _) = identity();
        crate::ship::start(client.clone(), ti_id, format!("{host}:{}", path.display()))
    });
    let (log, writer) = TaskLog::open(&path, cfg.mirror_logs, redactor.clone(), ship)
        .await
        .map_err(|source| SupervisorError::Log {
            path: path.clone(),
            source,
        })?;

    let user = task_user(cfg.run_as_user.as_deref())?;
    let work_root = cfg.work_root.clone().unwrap_or_else(std::env::temp_dir);
    let work_dir = make_work_dir(
        &work_root,
        &format!("airlock-{ti_id}-{}", details.try_number),
        user.as_ref(),
    )?;
    let _cleanup = RemoveOnDrop(work_dir.clone());
    let sandbox = if cfg.hide.is_empty() {
        Sandbox::none("no --hide paths: the runner can reach whatever its user can")
    } else {
        Sandbox::hiding(&cfg.hide, std::slice::from_ref(&cfg.bundles_dir))
    };
    let cgroup = TryCgroup::create(&format!("airlock-{ti_id}-{}", details.try_number));
    let launch = Launch {
        user: user.as_ref(),
        work_dir: &work_dir,
        sandbox: sandbox.raw_fd(),
        cgroup_procs: cgroup.as_ref().ok().map(TryCgroup::procs_fd),
    };
    // Listening before the runner starts: a stop signal that arrives while the try is being
    // started waits here for the loop, instead of killing the supervisor by default.
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut runner = spawn_runner(&exe, cfg, &launch)?;
    let pid = runner.pid;
    for note in sandbox.into_notes() {
        log.note("info", note);
    }
    match &cgroup {
        Ok(cg) => log.note(
            "info",
            format!("the try runs in cgroup {}", cg.dir().display()),
        ),
        Err(why) => log.note(
            "warning",
            format!(
                "no cgroup for this try ({why}): processes the task starts in a new session \
                 may outlive it, and only the runner's own usage is recorded"
            ),
        ),
    }
    log.note(
        "info",
        format!(
            "task code runs as {} in {}",
            user.as_ref()
                .map_or_else(|| identity().1, |u| u.name().to_owned()),
            work_dir.display()
        ),
    );
    log.note(
        "info",
        format!(
            "started runner {} (pid {pid}) for task instance {ti_id}",
            exe.display()
        ),
    );

    let (host, user) = identity();
    let started_at = chrono::Utc::now();
    let start = TIEnterRunningPayload {
        state: RunningLiteral::Value,
        hostname: host.clone(),
        unixname: user,
        pid: i64::from(pid),
        start_date: started_at,
    };
    let ctx = match client.start(ti_id, &start).await {
        Ok(ctx) => ctx,
        Err(e) => {
            // The runner has received nothing; it must not run.
            signal_group(pid, Signal::SIGKILL);
            let _ = runner.child.wait().await;
            log.note(
                "error",
                format!("the server refused to start the task: {e}"),
            );
            drop(log);
            let _ = writer.finish().await;
            let running = e.status() == Some(409)
                && e.detail()
                    .and_then(|d| d.get("previous_state"))
                    .and_then(|s| s.as_str())
                    == Some("running");
            return Err(if running {
                SupervisorError::AlreadyRunning(ti_id)
            } else {
                SupervisorError::StartRefused {
                    ti: ti_id,
                    source: e,
                }
            });
        }
    };
    let should_retry = ctx.should_retry;

    let captures = [
        log.capture(runner.stdout, Source::Stdout),
        log.capture(runner.stderr, Source::Stderr),
        log.capture(runner.logs, Source::Structured),
    ];
    let (mut requests, responses) = crate::channel::open(runner.requests, cfg.max_frame_bytes);
    let startup = startup_details(
        &details,
        &bundle,
        &host,
        ctx,
        trace.as_ref().map(|t| t.traceparent()),
    );
    // Queued (never blocks): a runner that does not read it is stopped like any other.
    let _ = responses.send(ResponseFrame {
        id: 0,
        body: Some(ToTask::StartupDetails(Box::new(startup))),
        error: None,
    });

    let (active_tx, active_rx) = watch::channel(true);
    let mut heartbeat = spawn_heartbeat(
        client.clone(),
        ti_id,
        TIHeartbeatInfo {
            hostname: host,
            pid: i64::from(pid),
        },
        cfg.heartbeat_interval,
        cfg.outage_budget,
        active_rx,
    );
    let mut heartbeat_done = false;

    let proxy = Arc::new(Proxy::new(client.clone(), ti_id, redactor));
    let mut state = TryState::default();
    // The request being answered: handled beside the loop's other events, so that an API call
    // riding out an outage holds up neither the timeout nor signals. One at a time, as the
    // runner sends them; the next is read only when this one is answered.
    let mut answering: Option<BoxFuture<(i64, Reply, TryState)>> = None;
    let mut exit: Option<ExitStatus> = None;
    let mut channel_open = true;
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let timeout_secs = details
        .execution_timeout
        .filter(|s| s.is_finite() && *s >= 0.0);
    let timeout_at = timeout_secs.and_then(|s| {
        Duration::try_from_secs_f64(s)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))
    });
    let mut sigkill_at: Option<Instant> = None;
    let mut sigkill_sent = false;
    let mut overtime_at: Option<Instant> = None;
    let mut cleanup_at: Option<Instant> = None;

    let stop = |state: &mut TryState,
                reason: StopReason,
                sigkill_at: &mut Option<Instant>,
                exited: bool| {
        let _ = active_tx.send(false);
        if exited || sigkill_at.is_some() {
            return;
        }
        log.note("warning", format!("stopping the runner: {reason}"));
        state.stopped.get_or_insert(reason);
        signal_group(pid, Signal::SIGTERM);
        *sigkill_at = Some(Instant::now() + cfg.kill_grace);
    };

    while exit.is_none() || channel_open || answering.is_some() {
        tokio::select! {
            next = requests.next(), if channel_open && answering.is_none() => match next {
                Ok(Some(req)) => {
                    let id = req.id;
                    match req.body {
                        Ok(Some(msg)) => {
                            tracing::debug!(id, kind = msg.type_name(), "request");
                            let (proxy, mut scratch) = (proxy.clone(), state.clone());
                            answering = Some(Box::pin(async move {
                                let reply = proxy.handle(msg, &mut scratch).await;
                                (id, reply, scratch)
                            }));
                        }
                        Ok(None) => answering = Some(Box::pin(std::future::ready((id, Reply { body: None, error: Some(refused(400, "empty request body")) }, state.clone())))),
                        Err(e) => {
                            log.note("error", format!("cannot decode request {id}: {e}"));
                            let reply = Reply { body: None, error: Some(refused(400, format!("Cannot decode request: {e}"))) };
                            answering = Some(Box::pin(std::future::ready((id, reply, state.clone()))));
                        }
                    }
                }
                Ok(None) => channel_open = false,
                Err(e) => {
                    channel_open = false;
                    log.note("error", e.to_string());
                    stop(&mut state, StopReason::ProtocolViolation(e.to_string()), &mut sigkill_at, exit.is_some());
                }
            },
            (id, reply, answered) = async {
                match answering.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            }, if answering.is_some() => {
                answering = None;
                state.absorb(answered);
                if let Some(why) = fenced(&reply) {
                    stop(&mut state, StopReason::ServerSaysStop(why), &mut sigkill_at, exit.is_some());
                }
                if state.has_terminal() {
                    let _ = active_tx.send(false);
                    if overtime_at.is_none() && (state.final_state.is_some() || state.reported.is_some_and(crate::proxy::ends_the_try)) {
                        overtime_at = Some(Instant::now() + cfg.overtime);
                    }
                }
                if let Err(e) = responses.send(ResponseFrame { id, body: reply.body, error: reply.error }) {
                    log.note("error", e.to_string());
                    stop(&mut state, StopReason::ProtocolViolation(e.to_string()), &mut sigkill_at, exit.is_some());
                }
            },
            status = runner.child.wait(), if exit.is_none() => {
                let status = status.ok();
                exit = Some(status.unwrap_or_else(|| std::os::unix::process::ExitStatusExt::from_raw(0xff00)));
                cleanup_at = Some(Instant::now() + cfg.socket_cleanup_timeout);
                let _ = active_tx.send(false);
            },
            reason = &mut heartbeat, if !heartbeat_done => {
                heartbeat_done = true;
                if let Ok(Some(reason)) = reason {
                    stop(&mut state, reason, &mut sigkill_at, exit.is_some());
                }
            },
            () = tokio::time::sleep_until(timeout_at.unwrap_or(far)), if timeout_at.is_some() && exit.is_none() && sigkill_at.is_none() => {
                stop(&mut state, StopReason::Timeout(timeout_secs.unwrap_or_default()), &mut sigkill_at, false);
            },
            () = tokio::time::sleep_until(overtime_at.unwrap_or(far)), if overtime_at.is_some() && exit.is_none() && sigkill_at.is_none() => {
                stop(&mut state, StopReason::Overtime, &mut sigkill_at, false);
            },
            () = tokio::time::sleep_until(sigkill_at.unwrap_or(far)), if sigkill_at.is_some() && !sigkill_sent && exit.is_none() => {
                log.note("warning", "the runner ignored SIGTERM; sending SIGKILL");
                signal_group(pid, Signal::SIGKILL);
                sigkill_sent = true;
            },
            () = tokio::time::sleep_until(cleanup_at.unwrap_or(far)), if cleanup_at.is_some() && channel_open => {
                log.note("warning", "the runner's request socket stayed open after it exited; closing it");
                channel_open = false;
            },
            Some(()) = async { sigterm.as_mut()?.recv().await }, if exit.is_none() => {
                stop(&mut state, StopReason::Signalled(15), &mut sigkill_at, false);
            },
            Some(()) = async { sigint.as_mut()?.recv().await }, if exit.is_none() => {
                stop(&mut state, StopReason::Signalled(2), &mut sigkill_at, false);
            },
        }
    }
    heartbeat.abort();
    // Nothing the try started may outlive it: the whole cgroup when there is one (daemons that
    // left the process group included), else the process group.
    signal_group(pid, Signal::SIGKILL);
    let mut usage = serde_json::Map::new();
    if let Ok(cg) = &cgroup {
        if let Err(e) = cg.kill_all(cfg.kill_grace).await {
            log.note(
                "error",
                format!("cannot stop every process of the try: {e}"),
            );
        }
        let u = cg.usage();
        if let Some(cpu) = u.cpu_secs {
            usage.insert("try_cpu_secs".into(), serde_json::json!(cpu));
        }
        if let Some(peak) = u.peak_memory_kib {
            usage.insert("try_peak_memory_kib".into(), serde_json::json!(peak));
        }
    }

    let decision = decide(&state, exit, should_retry, chrono::Utc::now());
    let outcome = match &decision.report {
        None => decision.outcome,
        Some(payload) => report_final(&client, ti_id, payload, decision.outcome, &log).await,
    };
    // The runner's last output goes before the final note, which ends the log. Output still
    // open after the runner exited belongs to processes the task left behind:
    // stop capturing it after the cleanup timeout rather than wait for them.
    let drain_until = Instant::now() + cfg.socket_cleanup_timeout;
    for mut c in captures {
        if tokio::time::timeout_at(drain_until, &mut c).await.is_err() {
            log.note(
                "warning",
                "a process the task started still holds its output open; no longer capturing it",
            );
            c.abort();
            let _ = c.await;
        }
    }
    // The runner is the only child this process waited for: its peak memory, for the record;
    // and this process's own, which must stay small whatever the task prints.
    if let Ok(u) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        usage.insert(
            "supervisor_max_rss_kib".into(),
            serde_json::json!(u.max_rss()),
        );
    }
    if let Ok(u) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
        usage.insert("runner_max_rss_kib".into(), serde_json::json!(u.max_rss()));
        let cpu = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        usage.insert(
            "runner_cpu_secs".into(),
            serde_json::json!(cpu(u.user_time()) + cpu(u.system_time())),
        );
    }
    log.final_note(
        if matches!(outcome, Outcome::Done(_) | Outcome::Parked(_)) {
            "info"
        } else {
            "error"
        },
        format!("task finished: {outcome} ({})", decision.reason),
        usage,
    )
    .await;
    drop(log);
    if let Err(e) = writer.finish().await {
        tracing::error!(error = %e, "could not finish writing the task log");
    }
    if let Some(t) = trace {
        let d = &details;
        t.export(
            &format!("try {}.{}", d.dag_id, d.task_id),
            &[
                ("airlock.dag_id", d.dag_id.clone().into()),
                ("airlock.run_id", d.run_id.clone().into()),
                ("airlock.task_id", d.task_id.clone().into()),
                ("airlock.map_index", d.map_index.into()),
                ("airlock.try_number", d.try_number.into()),
                ("airlock.task_instance_id", ti_id.to_string().into()),
                ("airlock.outcome", outcome.to_string().into()),
                ("host.name", identity().0.into()),
            ],
            matches!(outcome, Outcome::Done(_) | Outcome::Parked(_)),
        )
        .await;
    }
    Ok(RunReport {
        outcome,
        reason: decision.reason,
        log_path: path,
    })
}
