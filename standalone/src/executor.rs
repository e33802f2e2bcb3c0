//! The local executor: a bounded pool of `supervisor run <ti>` child processes fed by the
//! control API's tick (which claims what the server's scheduler admitted). Restart-safe: the
//! server knows what it handed out, and hands out again whatever this executor does not say it
//! holds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use airlock_api_client::{ApiClient, RetryPolicy};
use airlock_protocol::api::{ExecutorEvent, ExecutorRegistration, TickRequest, Workload};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// Environment variables never passed to supervisors (they hold other components' secrets).
const WITHHELD_ENV: &[&str] = &[
    "AIRLOCK_ADMIN_TOKEN",
    "AIRLOCK_TRIGGERER_TOKEN",
    "AIRLOCK_TRIGGERER_TOKEN_FILE",
    "AIRLOCK_JWT_SECRET",
    "AIRLOCK_TRIGGER_KWARGS_KEY",
    "AIRLOCK_TOKEN_FILE",
];

/// How often a busy executor still ticks, claiming nothing, to show it is alive (well within
/// the server's executor timeout, after which what it claimed goes to others).
const LIVENESS_TICK: Duration = Duration::from_secs(5);

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Its id (stable across restarts, so that a restart picks up what it had queued).
    pub id: String,
    /// Most supervisors at once.
    pub parallelism: usize,
    /// The `supervisor` executable.
    pub supervisor: PathBuf,
    /// The Execution API URL supervisors use.
    pub api_url: String,
    /// Bundle executables.
    pub bundles_dir: PathBuf,
    /// Task logs.
    pub log_dir: PathBuf,
    /// Paths task code must not reach (the data directory); see the supervisor's `--hide`.
    pub hide: Vec<PathBuf>,
    /// How long a tick waits for work when there is none (long poll).
    pub poll_wait: Duration,
    /// How long supervisors get to stop after SIGTERM when the executor stops.
    pub stop_grace: Duration,
    /// The queues it claims from (`None`: every queue).
    pub queues: Option<Vec<String>>,
    /// Supervisors also send task logs to the API (workers whose log directory no API server
    /// reads).
    pub ship_logs: bool,
    /// Its metrics.
    pub metrics: crate::metrics::ExecutorMetrics,
}

/// Why the executor stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The server refuses this executor's token (401, 403): retrying cannot help.
    #[error(
        "the API refuses the token of executor {id:?}: {source}. A worker needs an admin token \
         or an executor token minted for this id (`api-server admin mint-token --scope executor \
         --subject {id}`)"
    )]
    Refused {
        /// The executor id.
        id: String,
        /// What the server said.
        source: airlock_api_client::ClientError,
    },
    /// The supervisors' output file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A supervisor that exited.
struct Exited {
    ti: Uuid,
    try_number: i64,
    code: Option<i32>,
    detail: String,
}

struct Child {
    pid: Option<u32>,
}

/// The default executor id on this host.
pub fn default_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("local@{host}")
}

fn host() -> Option<String> {
    hostname::get().ok().and_then(|h| h.into_string().ok())
}

/// Runs until `stop` turns true, then stops its supervisors (SIGTERM, then SIGKILL after the
/// grace period) and retires.
pub async fn run(
    client: ApiClient,
    cfg: ExecutorConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ExecutorError> {
    let parallelism = cfg.parallelism.max(1);
    std::fs::create_dir_all(&cfg.log_dir).map_err(|source| ExecutorError::Output {
        path: cfg.log_dir.clone(),
        source,
    })?;
    let out_path = cfg.log_dir.join("supervisors.log");
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out_path)
        .map_err(|source| ExecutorError::Output {
            path: out_path.clone(),
            source,
        })?;
    let poll = client.with_timeout(cfg.poll_wait + Duration::from_secs(30));
    let mut backoff = Backoff::default();
    // Register (the server learns this executor is alive again).
    loop {
        let r = ExecutorRegistration {
            hostname: host(),
            parallelism: parallelism as u32,
        };
        match client.register_executor(&cfg.id, &r).await {
            Ok(()) => break,
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                return Err(ExecutorError::Refused {
                    id: cfg.id.clone(),
                    source: e,
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot register the executor; retrying");
                if backoff.wait(&mut stop).await {
                    return Ok(());
                }
            }
        }
    }
    tracing::info!(id = %cfg.id, parallelism, "executor running");
    cfg.metrics.slots(parallelism);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Exited>();
    let mut children: HashMap<Uuid, Child> = HashMap::new();
    while !*stop.borrow() {
        while let Ok(e) = done_rx.try_recv() {
            cfg.metrics.exited(e.code);
            finished(&client, &cfg.id, &mut children, e).await;
        }
        cfg.metrics.in_use(children.len());
        let free = parallelism.saturating_sub(children.len());
        if free == 0 {
            tokio::select! {
                Some(e) = done_rx.recv() => {
                    cfg.metrics.exited(e.code);
                    finished(&client, &cfg.id, &mut children, e).await
                }
                _ = stop.changed() => {}
                // Every slot is busy: still tick now and then (zero slots), to show this
                // executor is alive.
                () = tokio::time::sleep(LIVENESS_TICK) => {
                    let req = TickRequest { slots: 0, wait_ms: 0, holding: children.keys().copied().collect(), queues: cfg.queues.clone() };
                    if let Err(e) = poll.tick(&cfg.id, &req).await {
                        tracing::warn!(error = %e, "tick failed");
                    }
                }
            }
            continue;
        }
        let req = TickRequest {
            slots: free as u32,
            wait_ms: cfg.poll_wait.as_millis() as u64,
            holding: children.keys().copied().collect(),
            queues: cfg.queues.clone(),
        };
        // A tick in flight is never abandoned: its answer may hold work queued for us.
        match poll.tick(&cfg.id, &req).await {
            Ok(resp) => {
                backoff.reset();
                for w in resp.workloads {
                    if children.contains_key(&w.ti_id) {
                        continue;
                    }
                    match spawn(&cfg, &w, &output, done_tx.clone()) {
                        Ok(pid) => {
                            children.insert(w.ti_id, Child { pid });
                            cfg.metrics.in_use(children.len());
                        }
                        Err(e) => {
                            let detail = format!("cannot start {}: {e}", cfg.supervisor.display());
                            tracing::error!(ti = %w.ti_id, "{detail}");
                            report(&client, &cfg.id, w.ti_id, w.try_number, None, detail).await;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "tick failed; retrying");
                if backoff.wait(&mut stop).await {
                    break;
                }
            }
        }
    }
    shutdown(&client, &cfg, &mut children, &mut done_rx).await;
    Ok(())
}

fn spawn(
    cfg: &ExecutorConfig,
    w: &Workload,
    output: &std::fs::File,
    done: mpsc::UnboundedSender<Exited>,
) -> std::io::Result<Option<u32>> {
    let mut cmd = tokio::process::Command::new(&cfg.supervisor);
    cmd.arg("run")
        .arg(w.ti_id.to_string())
        .env("AIRLOCK_TOKEN", &w.token)
        .env("AIRLOCK_API_URL", &cfg.api_url)
        .env("AIRLOCK_BUNDLES_DIR", &cfg.bundles_dir)
        .env("AIRLOCK_LOG_DIR", &cfg.log_dir)
        .env(
            "AIRLOCK_SHIP_LOGS",
            if cfg.ship_logs { "true" } else { "false" },
        )
        .env(
            "AIRLOCK_HIDE_PATHS",
            std::env::join_paths(&cfg.hide).unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.try_clone()?))
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C meant for the executor is not delivered to tasks;
        // the executor stops them in order instead.
        .process_group(0);
    for name in WITHHELD_ENV {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    // Its log goes on to supervisors.log; its last error is the reason given for a try it
    // could not run (a log directory it cannot write, a bundle it cannot start, ...).
    let last_error = child
        .stderr
        .take()
        .map(|stderr| tokio::spawn(copy_stderr(stderr, output.try_clone())));
    let (ti, try_number) = (w.ti_id, w.try_number);
    let what = format!(
        "{}.{}[{}] try {}",
        w.dag_id, w.task_id, w.map_index, w.try_number
    );
    tracing::debug!(%ti, pid, "started supervisor for {what}");
    tokio::spawn(async move {
        let status = child.wait().await;
        let last_error = match last_error {
            Some(reader) => reader.await.ok().flatten(),
            None => None,
        };
        let because = last_error.map_or_else(String::new, |e| format!(": {e}"));
        let (code, detail) = match status {
            Ok(s) => (
                s.code(),
                match s.code() {
                    Some(c) => format!("supervisor for {what} exited with code {c}{because}"),
                    None => format!("supervisor for {what} was killed ({s}){because}"),
                },
            ),
            Err(e) => (
                None,
                format!("cannot wait for the supervisor of {what}: {e}"),
            ),
        };
        let _ = done.send(Exited {
            ti,
            try_number,
            code,
            detail,
        });
    });
    Ok(pid)
}

/// Copies a supervisor's stderr into `output` line by line; returns its last error message.
async fn copy_stderr(
    stderr: tokio::process::ChildStderr,
    output: std::io::Result<std::fs::File>,
) -> Option<String> {
    use std::io::Write;
    use tokio::io::AsyncBufReadExt;
    let mut output = output.ok();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut last_error = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(out) = output.as_mut() {
            let _ = writeln!(out, "{line}");
        }
        if let Some((_, message)) = line.split_once(" ERROR ") {
            last_error = Some(message.trim().to_owned());
        }
    }
    last_error
}

async fn finished(client: &ApiClient, id: &str, children: &mut HashMap<Uuid, Child>, e: Exited) {
    if e.code != Some(0) {
        tracing::debug!(ti = %e.ti, "{}", e.detail);
        report(client, id, e.ti, e.try_number, e.code, e.detail).await;
    }
    // Only now: until the server has heard of the exit, this executor still holds the task.
    children.remove(&e.ti);
}

async fn report(
    client: &ApiClient,
    id: &str,
    ti: Uuid,
    try_number: i64,
    exit_code: Option<i32>,
    detail: String,
) {
    let event = ExecutorEvent {
        ti_id: ti,
        try_number,
        exit_code,
        detail,
    };
    match client.executor_event(id, &event).await {
        Ok(r) => tracing::debug!(%ti, action = ?r.action, "reported a supervisor exit"),
        Err(e) => tracing::warn!(%ti, error = %e, "cannot report a supervisor exit"),
    }
}

async fn shutdown(
    client: &ApiClient,
    cfg: &ExecutorConfig,
    children: &mut HashMap<Uuid, Child>,
    done_rx: &mut mpsc::UnboundedReceiver<Exited>,
) {
    if !children.is_empty() {
        tracing::info!(
            running = children.len(),
            "stopping: asking running tasks to stop"
        );
    }
    for c in children.values() {
        if let Some(pid) = c.pid {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = tokio::time::Instant::now() + cfg.stop_grace;
    while !children.is_empty() {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(e)) => finished(client, &cfg.id, children, e).await,
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    left = children.len(),
                    "tasks did not stop in time; killing them"
                );
                for c in children.values() {
                    if let Some(pid) = c.pid {
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                }
                let last = tokio::time::Instant::now() + Duration::from_secs(5);
                while !children.is_empty() {
                    match tokio::time::timeout_at(last, done_rx.recv()).await {
                        Ok(Some(e)) => finished(client, &cfg.id, children, e).await,
                        _ => break,
                    }
                }
                break;
            }
        }
    }
    if let Err(e) = client.retire_executor(&cfg.id).await {
        tracing::warn!(error = %e, "cannot retire the executor");
    }
}

/// Backoff between failed calls that must go on until the executor stops.
struct Backoff(airlock_api_client::Backoff);

impl Default for Backoff {
    fn default() -> Self {
        Self(RetryPolicy::forever().start())
    }
}

impl Backoff {
    fn reset(&mut self) {
        self.0.reset();
    }

    /// Sleeps; true if `stop` turned true meanwhile.
    async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = self.0.wait() => *stop.borrow(),
            _ = stop.changed() => true,
        }
    }
}
